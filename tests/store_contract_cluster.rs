//! The store contract for membership, shard ownership and fencing (the cluster half of
//! `tests/store_contract.rs`): written once against `SharedStore`, run against SQLite (always,
//! one temp file per function) and ScyllaDB (when `SCYLLA_URI` is set, in a fresh keyspace).
//!
//! Every function uses its own node names, shard numbers and entity ids, so they can share one
//! database. Times are explicit wall-clock values passed to the store: nothing sleeps.
//! SQLite-only guarantees (an epoch checked for the whole shard at once, inside the
//! group-commit transaction) are at the end.

mod contract_stores;

use contract_stores::{scylla_store, sqlite_store};

use futures_util::future::join_all;
use switchboard::clock::Millis;
use switchboard::cluster::{
    Epoch, Fence, Heartbeat, HeartbeatOutcome, Holder, Member, MemberStatus, NodeId, ShardId,
    TakeKind, TakeOutcome, TakeShard,
};
use switchboard::domain::{
    Author, Conversation, ConversationId, Message, Seq, SiteId, Visitor, VisitorEvent, VisitorId,
};
use switchboard::store::{SharedStore, StoreError};

const T0: Millis = 1_700_000_000_000;
const LEASE: Millis = 6_000;

// --- fixtures ---

fn node(name: &str) -> NodeId {
    NodeId(format!("{name}-{}", uuid::Uuid::now_v7().simple()))
}

fn holder(node: &NodeId, incarnation: u64) -> Holder {
    Holder {
        node: node.clone(),
        incarnation,
    }
}

fn member(node: &NodeId, incarnation: u64) -> Member {
    Member {
        node: node.clone(),
        incarnation,
        address: format!("127.0.0.1:{}", 7000 + incarnation),
        status: MemberStatus::Joining,
        heartbeat: 0,
        updated_at: T0,
    }
}

fn beat(node: &NodeId, incarnation: u64, status: MemberStatus, heartbeat: u64) -> Heartbeat {
    Heartbeat {
        node: node.clone(),
        incarnation,
        status,
        heartbeat,
        at: T0 + heartbeat as Millis * 1000,
    }
}

/// Ask to take `shard` at `now` for one lease, expecting its current epoch to be `expected`.
async fn take(
    store: &SharedStore,
    shard: ShardId,
    taker: &Holder,
    expected: Epoch,
    now: Millis,
) -> TakeOutcome {
    store
        .take_shard(&TakeShard {
            shard,
            taker: taker.clone(),
            expected_epoch: expected,
            now,
            lease_until: now + LEASE,
        })
        .await
        .expect("take_shard")
}

fn taken(outcome: TakeOutcome) -> (Epoch, TakeKind) {
    match outcome {
        TakeOutcome::Taken { epoch, kind } => (epoch, kind),
        TakeOutcome::Refused(row) => panic!("expected a take, refused: {row:?}"),
    }
}

fn refused(outcome: TakeOutcome) {
    assert!(
        matches!(outcome, TakeOutcome::Refused(_)),
        "expected a refusal, got {outcome:?}"
    );
}

fn message(conversation_id: ConversationId, seq: Seq, body: &str) -> Message {
    Message {
        conversation_id,
        seq,
        client_msg_id: Some(format!("{body}-{seq}")),
        author: Author::Bot,
        body: format!("{body} {seq}"),
        at: T0 + seq as Millis,
        extra: Default::default(),
    }
}

fn assert_fenced<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Fenced { .. })),
        "{what}: expected Fenced, got {result:?}"
    );
}

// --- the contract ---

async fn members_register_beat_and_die(store: SharedStore) {
    let (a, b) = (node("a"), node("b"));
    store.register_member(&member(&a, 1)).await.unwrap();
    store.register_member(&member(&b, 1)).await.unwrap();
    let beat_a = |status, n| {
        let (store, beat) = (store.clone(), beat(&a, 1, status, n));
        async move { store.heartbeat(&beat).await }
    };
    assert_eq!(
        beat_a(MemberStatus::Active, 1).await.unwrap(),
        HeartbeatOutcome::Alive
    );
    let members = store.members().await.unwrap();
    let row = members.iter().find(|m| m.node == a).expect("a is listed");
    assert_eq!(
        (row.incarnation, row.status, row.heartbeat),
        (1, MemberStatus::Active, 1)
    );
    assert_eq!(row.address, "127.0.0.1:7001");
    assert!(members.iter().any(|m| m.node == b));

    // Death is conditional on the heartbeat the observer timed.
    assert!(!store.mark_dead(&a, 1, 0, T0).await.unwrap(), "a moved on");
    assert!(
        !store.mark_dead(&a, 2, 1, T0).await.unwrap(),
        "not that life"
    );
    assert!(store.mark_dead(&a, 1, 1, T0).await.unwrap());
    assert!(!store.mark_dead(&a, 1, 1, T0).await.unwrap(), "dead once");
    assert_eq!(
        beat_a(MemberStatus::Active, 2).await.unwrap(),
        HeartbeatOutcome::DeclaredDead
    );
    let members = store.members().await.unwrap();
    assert_eq!(
        members.iter().find(|m| m.node == a).unwrap().status,
        MemberStatus::Dead
    );

    // That life cannot come back; a new one can, and the old one is then superseded.
    assert!(matches!(
        store.register_member(&member(&a, 1)).await,
        Err(StoreError::Conflict(_))
    ));
    store.register_member(&member(&a, 2)).await.unwrap();
    assert_eq!(
        store
            .heartbeat(&beat(&a, 2, MemberStatus::Active, 1))
            .await
            .unwrap(),
        HeartbeatOutcome::Alive
    );
    assert_eq!(
        beat_a(MemberStatus::Active, 3).await.unwrap(),
        HeartbeatOutcome::Superseded(2)
    );
    assert!(matches!(
        store.register_member(&member(&b, 0)).await,
        Err(StoreError::Conflict(_))
    ));

    // A graceful exit writes its own death.
    assert_eq!(
        store
            .heartbeat(&beat(&b, 1, MemberStatus::Dead, 9))
            .await
            .unwrap(),
        HeartbeatOutcome::Alive
    );
    let members = store.members().await.unwrap();
    assert_eq!(
        members.iter().find(|m| m.node == b).unwrap().status,
        MemberStatus::Dead
    );
}

async fn take_fails_while_another_holds_a_valid_lease(store: SharedStore) {
    const SHARD: ShardId = 101;
    let (a, b) = (holder(&node("a"), 1), holder(&node("b"), 1));
    assert_eq!(
        taken(take(&store, SHARD, &a, 0, T0).await),
        (1, TakeKind::Free)
    );
    // Valid lease: refused, however it is asked.
    refused(take(&store, SHARD, &b, 1, T0 + LEASE - 1).await);
    refused(take(&store, SHARD, &b, 0, T0 + LEASE + 1).await);
    let row = store.ownership().await.unwrap().row(SHARD);
    assert_eq!(row.owner.as_ref(), Some(&a));
    assert_eq!((row.epoch, row.lease_until), (1, T0 + LEASE));
    // Expired: taken, epoch raised.
    assert_eq!(
        taken(take(&store, SHARD, &b, 1, T0 + LEASE).await),
        (2, TakeKind::Expired)
    );
    // Two takers racing on the same expired epoch: exactly one wins.
    let (c, d) = (holder(&node("c"), 1), holder(&node("d"), 1));
    let later = T0 + 3 * LEASE;
    let race = join_all([
        take(&store, SHARD, &c, 2, later),
        take(&store, SHARD, &d, 2, later),
    ])
    .await;
    let winners = race
        .iter()
        .filter(|o| matches!(o, TakeOutcome::Taken { epoch: 3, .. }))
        .count();
    assert_eq!(winners, 1, "{race:?}");
    assert_eq!(store.ownership().await.unwrap().row(SHARD).epoch, 3);
}

async fn a_newer_life_takes_its_own_shard_at_once(store: SharedStore) {
    const SHARD: ShardId = 102;
    let n = node("n");
    let (old, new) = (holder(&n, 1), holder(&n, 2));
    assert_eq!(taken(take(&store, SHARD, &old, 0, T0).await).0, 1);
    // The lease is valid, but it is its own node's older life.
    assert_eq!(
        taken(take(&store, SHARD, &new, 1, T0 + 1).await),
        (2, TakeKind::Own)
    );
    // The old life has lost it: no renewal, no release, no take back.
    let renewed = store
        .renew_shards(&old, &[(SHARD, 1)], T0 + 2 * LEASE)
        .await
        .unwrap();
    assert!(renewed.is_empty());
    assert_eq!(
        store.release_shard(&old, SHARD, 1, None, T0).await.unwrap(),
        None
    );
    refused(take(&store, SHARD, &old, 2, T0 + 2).await);
    assert_eq!(store.ownership().await.unwrap().row(SHARD).owner, Some(new));
}

async fn release_then_take(store: SharedStore) {
    const SHARD: ShardId = 103;
    let (a, b, c) = (
        holder(&node("a"), 1),
        holder(&node("b"), 1),
        holder(&node("c"), 1),
    );
    taken(take(&store, SHARD, &a, 0, T0).await);
    // Released to b: reserved for b until the reservation ends.
    assert_eq!(
        store
            .release_shard(&a, SHARD, 1, Some(&b.node), T0 + LEASE)
            .await
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        store.release_shard(&a, SHARD, 1, None, T0).await.unwrap(),
        None,
        "released once"
    );
    let row = store.ownership().await.unwrap().row(SHARD);
    assert_eq!((row.owner, row.epoch), (None, 2));
    assert_eq!(row.successor.as_ref(), Some(&b.node));
    refused(take(&store, SHARD, &c, 2, T0 + 1).await);
    assert_eq!(
        taken(take(&store, SHARD, &b, 2, T0 + 1).await),
        (3, TakeKind::Released)
    );
    // Released to nobody: anyone may take it at once.
    assert_eq!(
        store
            .release_shard(&b, SHARD, 3, None, T0 + 2)
            .await
            .unwrap(),
        Some(4)
    );
    assert_eq!(
        taken(take(&store, SHARD, &c, 4, T0 + 2).await),
        (5, TakeKind::Released)
    );
    // A successor that never comes: after the reservation, others may take it.
    store
        .release_shard(&c, SHARD, 5, Some(&b.node), T0 + LEASE)
        .await
        .unwrap();
    refused(take(&store, SHARD, &a, 6, T0 + LEASE - 1).await);
    assert_eq!(taken(take(&store, SHARD, &a, 6, T0 + LEASE).await).0, 7);
}

async fn renewals_extend_only_the_holders_leases(store: SharedStore) {
    let (s1, s2, s3) = (104, 105, 106);
    let (a, b) = (holder(&node("a"), 1), holder(&node("b"), 1));
    taken(take(&store, s1, &a, 0, T0).await);
    taken(take(&store, s2, &a, 0, T0).await);
    taken(take(&store, s3, &b, 0, T0).await);
    let mut renewed = store
        .renew_shards(&a, &[(s1, 1), (s2, 1), (s3, 1)], T0 + 3 * LEASE)
        .await
        .unwrap();
    renewed.sort();
    assert_eq!(renewed, vec![s1, s2], "only its own");
    // The renewed lease holds past the first one's end.
    refused(take(&store, s1, &b, 1, T0 + 2 * LEASE).await);
    assert_eq!(taken(take(&store, s3, &a, 1, T0 + LEASE).await).0, 2);
    // A wrong epoch renews nothing.
    assert!(store
        .renew_shards(&a, &[(s2, 7)], T0 + 9 * LEASE)
        .await
        .unwrap()
        .is_empty());
}

async fn epochs_never_decrease(store: SharedStore) {
    const SHARD: ShardId = 107;
    let nodes: Vec<Holder> = (0..3).map(|i| holder(&node(&format!("n{i}")), 1)).collect();
    let mut last = (0, store.ownership().await.unwrap().version);
    let mut now = T0;
    for round in 0..9 {
        let who = &nodes[round % 3];
        let row = store.ownership().await.unwrap().row(SHARD);
        if round % 2 == 0 {
            // Take it (expired or released).
            now += LEASE;
            taken(take(&store, SHARD, who, row.epoch, now).await);
        } else if let Some(owner) = &row.owner {
            store
                .release_shard(owner, SHARD, row.epoch, Some(&who.node), now)
                .await
                .unwrap()
                .expect("the owner releases");
        }
        let map = store.ownership().await.unwrap();
        let epoch = map.row(SHARD).epoch;
        assert!(
            epoch > last.0,
            "round {round}: epoch {epoch} after {}",
            last.0
        );
        assert!(
            map.version > last.1,
            "the map version grows with every change"
        );
        assert_eq!(map.version, map.rows.values().map(|r| r.epoch).sum::<u64>());
        last = (epoch, map.version);
    }
}

async fn stale_epoch_writes_are_refused(store: SharedStore) {
    const SHARD: ShardId = 108;
    let (a, b) = (holder(&node("a"), 1), holder(&node("b"), 1));
    let old = Fence::new(SHARD, taken(take(&store, SHARD, &a, 0, T0).await).0);
    let site = SiteId::new();
    let mut visitor = Visitor {
        id: VisitorId::new(),
        site_id: site,
        user_id: None,
        name: None,
        email: None,
        created_at: T0,
        last_seen_at: T0,
        client: None,
    };
    let conv = Conversation::new(site, visitor.id, T0);
    let event = |at| VisitorEvent {
        visitor_id: visitor.id,
        at,
        kind: "page_view".into(),
        url: "https://example.com/".into(),
        title: "Home".into(),
    };
    store.put_visitor(&visitor, old).await.unwrap();
    store.append_visitor_event(&event(T0), old).await.unwrap();
    store.create_conversation(&conv, old).await.unwrap();
    store.fence_conversation(conv.id, old).await.unwrap();
    store
        .append_message(&message(conv.id, 1, "a"), old)
        .await
        .unwrap();
    let mut moved = conv.clone();
    moved.last_seq = 1;
    store.update_conversation(&conv, &moved, old).await.unwrap();

    // b takes the shard over and activates the conversation.
    let new = Fence::new(
        SHARD,
        taken(take(&store, SHARD, &b, old.epoch, T0 + LEASE).await).0,
    );
    store.fence_conversation(conv.id, new).await.unwrap();
    assert_fenced(store.fence_conversation(conv.id, old).await, "fence");

    // Every entity write of the old epoch is refused...
    let mut stale = moved.clone();
    stale.last_seq = 2;
    assert_fenced(
        store.append_message(&message(conv.id, 2, "a"), old).await,
        "append",
    );
    assert_fenced(
        store.update_conversation(&moved, &stale, old).await,
        "update",
    );
    let other = Conversation::new(site, visitor.id, T0 + 1);
    assert_fenced(store.create_conversation(&other, old).await, "create");
    visitor.name = Some("stale".into());
    assert_fenced(store.put_visitor(&visitor, old).await, "put_visitor");
    assert_fenced(
        store.append_visitor_event(&event(T0 + 1), old).await,
        "append_visitor_event",
    );
    // ...and changed nothing.
    assert_eq!(
        store.get_conversation(conv.id).await.unwrap(),
        Some(moved.clone())
    );
    assert_eq!(store.get_conversation(other.id).await.unwrap(), None);
    assert_eq!(
        store.get_visitor(visitor.id).await.unwrap().unwrap().name,
        None
    );
    assert_eq!(store.visitor_events(visitor.id, 10).await.unwrap().len(), 1);
    assert_eq!(store.messages_after(conv.id, 0, 10).await.unwrap().len(), 1);

    // The new epoch writes.
    store
        .append_message(&message(conv.id, 2, "b"), new)
        .await
        .unwrap();
    store
        .update_conversation(&moved, &stale, new)
        .await
        .unwrap();
    store.put_visitor(&visitor, new).await.unwrap();
    store.create_conversation(&other, new).await.unwrap();
    store
        .append_visitor_event(&event(T0 + 1), new)
        .await
        .unwrap();
    assert_eq!(store.get_conversation(conv.id).await.unwrap(), Some(stale));
}

async fn after_a_takeover_the_old_owners_append_at_the_same_seq_is_refused(store: SharedStore) {
    const SHARD: ShardId = 109;
    let (a, b) = (holder(&node("a"), 1), holder(&node("b"), 1));
    let old = Fence::new(SHARD, taken(take(&store, SHARD, &a, 0, T0).await).0);
    let row = Conversation::new(SiteId::new(), VisitorId::new(), T0);
    let conv = row.id;
    store.create_conversation(&row, old).await.unwrap();
    store.fence_conversation(conv, old).await.unwrap();
    for seq in 1..=3 {
        store
            .append_message(&message(conv, seq, "old"), old)
            .await
            .unwrap();
    }
    // The old owner freezes with seq 4 and 5 not yet written. The new owner takes over,
    // activates the conversation, loads it and writes its own seq 4.
    let new = Fence::new(
        SHARD,
        taken(take(&store, SHARD, &b, old.epoch, T0 + LEASE).await).0,
    );
    store.fence_conversation(conv, new).await.unwrap();
    let loaded = store.messages_after(conv, 0, 100).await.unwrap();
    assert_eq!(loaded.last().unwrap().seq, 3);
    // The old owner wakes before the new one's first write: refused already.
    assert_fenced(
        store.append_message(&message(conv, 4, "old"), old).await,
        "early zombie",
    );
    store
        .append_message(&message(conv, 4, "new"), new)
        .await
        .unwrap();
    // ...and after it: refused, at the same seq and at the next one.
    assert_fenced(
        store.append_message(&message(conv, 4, "old"), old).await,
        "zombie at the same seq",
    );
    assert_fenced(
        store.append_message(&message(conv, 5, "old"), old).await,
        "zombie at the next seq",
    );
    let stored = store.messages_after(conv, 0, 100).await.unwrap();
    assert_eq!(stored.len(), 4);
    assert_eq!(stored[3], message(conv, 4, "new"));
    // The new owner's retry of its own message is still a no-op; another one there is not.
    store
        .append_message(&message(conv, 4, "new"), new)
        .await
        .unwrap();
    assert!(matches!(
        store.append_message(&message(conv, 4, "other"), new).await,
        Err(StoreError::Conflict(_))
    ));
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        /// Every contract function, in order, against one store (ScyllaDB: one keyspace).
        async fn run_all(store: SharedStore) {
            $(
                println!("cluster contract: {}", stringify!($name));
                $name(store.clone()).await;
            )*
        }

        /// One SQLite test per contract function, each on its own file.
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (_dir, store) = super::sqlite_store().await;
                    super::$name(store).await;
                }
            )*
        }
    };
}

contract!(
    members_register_beat_and_die,
    take_fails_while_another_holds_a_valid_lease,
    a_newer_life_takes_its_own_shard_at_once,
    release_then_take,
    renewals_extend_only_the_holders_leases,
    epochs_never_decrease,
    stale_epoch_writes_are_refused,
    after_a_takeover_the_old_owners_append_at_the_same_seq_is_refused,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scylla_cluster_contract() {
    if let Some(run) = scylla_store("cluster contract").await {
        run_all(run.store).await;
    }
}

// --- SQLite-only guarantees ---

/// SQLite checks the shard's one epoch inside the writer's transaction, so a stale owner is
/// refused at once, before the new owner activated or wrote anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_refuses_a_stale_epoch_at_once() {
    let (_dir, store) = sqlite_store().await;
    let (a, b) = (holder(&node("a"), 1), holder(&node("b"), 1));
    let conv = ConversationId::new();
    let old = Fence::new(7, taken(take(&store, 7, &a, 0, T0).await).0);
    taken(take(&store, 7, &b, 1, T0 + LEASE).await);
    assert_fenced(
        store.append_message(&message(conv, 1, "old"), old).await,
        "append",
    );
    match store.append_message(&message(conv, 1, "old"), old).await {
        Err(StoreError::Fenced {
            shard,
            epoch,
            current,
        }) => assert_eq!((shard, epoch, current), (7, 1, 2)),
        other => panic!("{other:?}"),
    }
    // A fence of a shard never taken is stale too (its epoch is 0).
    assert_fenced(
        store
            .append_message(&message(conv, 1, "x"), Fence::new(8, 1))
            .await,
        "never taken",
    );
}

/// In one group commit, fenced writes fail alone, and a take inside the batch makes the
/// writes after it see the new epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_fenced_writes_fail_alone_in_their_batch() {
    let (_dir, store) = sqlite_store().await;
    let (a, b) = (holder(&node("a"), 1), holder(&node("b"), 1));
    let conv = ConversationId::new();
    let old = Fence::new(9, taken(take(&store, 9, &a, 0, T0).await).0);
    let new = Fence::new(9, old.epoch + 1);
    let store = &store;
    // join_all polls every future once before any completes: they queue in this order.
    let before = (1..=10).map(|seq| async move {
        (
            seq,
            store.append_message(&message(conv, seq, "a"), old).await,
        )
    });
    let results = join_all(before).await;
    assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
    let takeover = async move { take(store, 9, &b, 1, T0 + LEASE).await };
    let stale = (11..=20).map(|seq| async move {
        (
            seq,
            store.append_message(&message(conv, seq, "a"), old).await,
        )
    });
    let fresh = (21..=30).map(|seq| async move {
        (
            seq,
            store.append_message(&message(conv, seq, "b"), new).await,
        )
    });
    let (took, stale, fresh) = tokio::join!(takeover, join_all(stale), join_all(fresh));
    taken(took);
    for (seq, result) in stale {
        assert_fenced(result, &format!("seq {seq}"));
    }
    for (seq, result) in fresh {
        assert!(result.is_ok(), "seq {seq}: {result:?}");
    }
    let seqs: Vec<Seq> = store
        .messages_after(conv, 0, 100)
        .await
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    let expected: Vec<Seq> = (1..=10).chain(21..=30).collect();
    assert_eq!(seqs, expected);
}
