//! Membership, placement and shard leases with several nodes in one process sharing one real
//! SQLite file: steady state, a node joining, a node freezing (its loops paused past the
//! lease, as SIGSTOP would) and waking up fenced, a graceful leave, a restart, and an observer
//! cut off from the store that must not declare anyone dead.
//! `tests/cluster_processes.rs` does the same with real processes and kill -9.
//!
//! Timings are short (`cluster_support`); every wait is a condition with a deadline.

mod cluster_support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use cluster_support::*;
use switchboard::clock::{Millis, SystemClock};
use switchboard::cluster::{
    Epoch, Fate, Fence, Heartbeat, HeartbeatOutcome, Holder, Member, MemberStatus, Membership,
    NodeId, OwnershipMap, ShardId, TakeOutcome, TakeShard,
};
use switchboard::domain::{Author, ConversationId, Message};
use switchboard::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use switchboard::store::{ClusterStore, SharedStore, StoreError, StoreResult};

async fn shared_store() -> (tempfile::TempDir, SharedStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = SqliteOptions::new(dir.path().join("cluster.db"));
    // Survives a process crash, which is all these tests need, and keeps fsyncs off the
    // loaded test machine's heartbeat path.
    opts.synchronous = Synchronous::Normal;
    let store = SqliteStore::open(opts).await.expect("open sqlite");
    (dir, Arc::new(store))
}

fn ids(nodes: &[&TestNode]) -> Vec<NodeId> {
    nodes.iter().map(|n| n.id.clone()).collect()
}

fn message(conversation_id: ConversationId, seq: u64) -> Message {
    Message {
        conversation_id,
        seq,
        client_msg_id: None,
        author: Author::Bot,
        body: format!("late write {seq}"),
        at: 1_700_000_000_000,
        extra: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shard_is_owned_exactly_once_at_steady_state() {
    let (_dir, store) = shared_store().await;
    let a = start_node(&store, "a", 1).await;
    let b = start_node(&store, "b", 1).await;
    let c = start_node(&store, "c", 1).await;
    let nodes = [&a, &b, &c];
    let map = steady(&store, &ids(&nodes), &nodes).await;

    let mut seen = BTreeMap::new();
    for n in nodes {
        let held = n.leases.held();
        println!("{} holds {} shards", n.id, held.len());
        // Placement spreads them: about a third each.
        assert!((50..=120).contains(&held.len()), "{}: {}", n.id, held.len());
        for (shard, epoch) in held {
            assert!(
                seen.insert(shard, n.id.clone()).is_none(),
                "shard {shard} twice"
            );
            // The lease hands out its fence; the routing snapshot (below) agrees.
            assert_eq!(n.leases.fence(shard), Some(Fence::new(shard, epoch)));
        }
    }
    assert_eq!(seen.len(), SHARDS as usize);
    assert_eq!(map.rows.len(), SHARDS as usize);
    // Each node routes the others' shards to them (from its next balancing round on).
    for n in nodes {
        eventually("the routing snapshot catches up", || async {
            let routing = n.leases.routing().borrow().clone();
            let agrees = seen
                .iter()
                .all(|(&shard, owner)| routing.owner(shard).map(|o| &o.node) == Some(owner));
            let fences = n
                .leases
                .held()
                .into_iter()
                .all(|(s, e)| routing.fence(s) == Some(Fence::new(s, e)));
            (agrees && fences && routing.version() == map.version).then_some(())
        })
        .await;
    }
    for n in nodes {
        n.leases.stop();
        n.membership.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_node_takes_about_a_quarter_with_epochs_raised() {
    let (_dir, store) = shared_store().await;
    let a = start_node(&store, "a", 1).await;
    let b = start_node(&store, "b", 1).await;
    let c = start_node(&store, "c", 1).await;
    let before = steady(&store, &ids(&[&a, &b, &c]), &[&a, &b, &c]).await;
    let marks: Vec<usize> = [&a, &b, &c]
        .iter()
        .map(|n| n.host.told.lock().len())
        .collect();

    let d = start_node(&store, "d", 1).await;
    let nodes = [&a, &b, &c, &d];
    let after = steady(&store, &ids(&nodes), &nodes).await;

    let moved: Vec<u32> = (0..SHARDS)
        .filter(|&s| before.owner(s) != after.owner(s))
        .collect();
    println!("{} of {SHARDS} shards moved to the new node", moved.len());
    assert!((30..=100).contains(&moved.len()), "{} moved", moved.len());
    for &s in &moved {
        assert_eq!(
            after.owner(s).unwrap().node,
            d.id,
            "shard {s} moved elsewhere"
        );
        // Released (epoch + 1) by its owner, then taken (epoch + 1) by the newcomer.
        assert_eq!(after.row(s).epoch, before.row(s).epoch + 2, "shard {s}");
    }
    for s in (0..SHARDS).filter(|s| !moved.contains(s)) {
        assert_eq!(
            after.row(s).epoch,
            before.row(s).epoch,
            "shard {s} did not move"
        );
    }
    // The old owners handed each shard off and named the newcomer.
    let released: Vec<_> = [&a, &b, &c]
        .iter()
        .zip(marks)
        .flat_map(|(n, mark)| n.host.released_since(mark))
        .collect();
    assert_eq!(released.len(), moved.len());
    assert!(released.iter().all(|(_, to)| to.as_ref() == Some(&d.id)));
    for n in nodes {
        n.leases.stop();
        n.membership.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_node_is_replaced_and_wakes_up_fenced() {
    let (_dir, store) = shared_store().await;
    let a = start_node(&store, "a", 1).await;
    let b = start_node(&store, "b", 1).await;
    let c = start_node(&store, "c", 1).await;
    let before = steady(&store, &ids(&[&a, &b, &c]), &[&a, &b, &c]).await;
    let frozen = owned_by(&before, &c.id);
    let (&shard, &epoch) = frozen.iter().next().expect("c holds shards");

    // Freeze c: none of its loops runs, as under SIGSTOP.
    c.membership.pause();
    let after = steady(&store, &ids(&[&a, &b]), &[&a, &b]).await;
    for (&s, &e) in &frozen {
        assert!(after.row(s).epoch > e, "shard {s} was taken over");
    }
    let members = store.members().await.unwrap();
    let row = members.iter().find(|m| m.node == c.id).unwrap();
    assert_eq!(row.status, MemberStatus::Dead, "c was declared dead");

    // Still frozen, c's actors would write with the fence they had: the store refuses it.
    let stale = Fence::new(shard, epoch);
    match store
        .append_message(&message(ConversationId::new(), 1), stale)
        .await
    {
        Err(StoreError::Fenced { current, .. }) => assert!(current > epoch),
        other => panic!("a frozen owner's write must be refused, got {other:?}"),
    }

    // c wakes: it stops serving every shard it had, and learns it was declared dead.
    c.membership.resume();
    let fate = tokio::time::timeout(PATIENCE, c.membership.fate())
        .await
        .expect("c learns its fate");
    assert_eq!(fate, Fate::DeclaredDead);
    eventually("c dropped every shard", || async {
        (c.leases.held().is_empty() && c.host.serving.lock().is_empty()).then_some(())
    })
    .await;
    assert!(frozen.keys().all(|s| c.host.lost_since(0).contains(s)));
    assert!(c.leases.routing().borrow().local_count() == 0);
    assert_eq!(c.leases.fence(shard), None);
    // Nothing it held moved back: a and b still own everything.
    steady(&store, &ids(&[&a, &b]), &[&a, &b]).await;
    for n in [&a, &b, &c] {
        n.leases.stop();
        n.membership.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaving_node_releases_everything_at_once() {
    let (_dir, store) = shared_store().await;
    let a = start_node(&store, "a", 1).await;
    let b = start_node(&store, "b", 1).await;
    let c = start_node(&store, "c", 1).await;
    let before = steady(&store, &ids(&[&a, &b, &c]), &[&a, &b, &c]).await;
    let leaving = owned_by(&before, &c.id);
    let mark = c.host.told.lock().len();

    // SIGTERM: drain, then leave the membership for good.
    let left = c.leases.drain(PATIENCE).await;
    assert_eq!(left, 0, "every shard released");
    c.membership.shutdown().await.unwrap();

    let after = steady(&store, &ids(&[&a, &b]), &[&a, &b]).await;
    for (&s, &e) in &leaving {
        // Released (+1) and taken (+1): not left to expire.
        assert_eq!(after.row(s).epoch, e + 2, "shard {s}");
    }
    let handed = c.host.released_since(mark);
    assert_eq!(handed.len(), leaving.len());
    assert!(handed
        .iter()
        .all(|(s, to)| leaving.contains_key(s) && to.is_some()));
    assert!(
        c.host.lost_since(mark).is_empty(),
        "nothing was lost on the way"
    );
    let members = store.members().await.unwrap();
    assert_eq!(
        members.iter().find(|m| m.node == c.id).unwrap().status,
        MemberStatus::Dead
    );
    for n in [&a, &b] {
        n.leases.stop();
        n.membership.stop();
    }
}

/// A restarted node (a new incarnation) takes its previous life's shards back at once,
/// without waiting for their leases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_takes_its_own_shards_at_once() {
    let (_dir, store) = shared_store().await;
    let a = start_node(&store, "a", 1).await;
    let before = steady(&store, &ids(&[&a]), &[&a]).await;
    // Crash: nothing released, the leases still run.
    a.leases.stop();
    a.membership.stop();

    let again = start_node(&store, "a", 2).await;
    let after = steady(&store, &ids(&[&again]), &[&again]).await;
    for s in 0..SHARDS {
        assert_eq!(after.row(s).epoch, before.row(s).epoch + 1, "shard {s}");
        assert_eq!(after.owner(s).unwrap().incarnation, 2);
    }
    again.leases.stop();
    again.membership.stop();
}

/// A node's view of the store whose writes can be cut (reads still work, so it keeps seeing a
/// peer's counter stand still).
struct CuttableStore {
    store: SharedStore,
    cut: AtomicBool,
}

impl CuttableStore {
    fn check(&self) -> StoreResult<()> {
        if self.cut.load(Ordering::SeqCst) {
            Err(StoreError::Backend("cut off".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl ClusterStore for CuttableStore {
    async fn register_member(&self, member: &Member) -> StoreResult<()> {
        self.check()?;
        self.store.register_member(member).await
    }
    async fn heartbeat(&self, beat: &Heartbeat) -> StoreResult<HeartbeatOutcome> {
        self.check()?;
        self.store.heartbeat(beat).await
    }
    async fn members(&self) -> StoreResult<Vec<Member>> {
        self.store.members().await
    }
    async fn mark_dead(&self, node: &NodeId, inc: u64, seen: u64, at: Millis) -> StoreResult<bool> {
        // Deliberately not cut: the rule under test is the observer's own health.
        self.store.mark_dead(node, inc, seen, at).await
    }
    async fn ownership(&self) -> StoreResult<OwnershipMap> {
        self.store.ownership().await
    }
    async fn take_shard(&self, take: &TakeShard) -> StoreResult<TakeOutcome> {
        self.check()?;
        self.store.take_shard(take).await
    }
    async fn renew_shards(
        &self,
        holder: &Holder,
        shards: &[(ShardId, Epoch)],
        until: Millis,
    ) -> StoreResult<Vec<ShardId>> {
        self.check()?;
        self.store.renew_shards(holder, shards, until).await
    }
    async fn release_shard(
        &self,
        holder: &Holder,
        shard: ShardId,
        epoch: Epoch,
        successor: Option<&NodeId>,
        until: Millis,
    ) -> StoreResult<Option<Epoch>> {
        self.check()?;
        self.store
            .release_shard(holder, shard, epoch, successor, until)
            .await
    }
}

/// An observer that cannot write its own heartbeat is not healthy, and declares nobody dead,
/// even while it sees a peer's counter stand still; once healthy again, it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_cut_off_from_the_store_declares_nobody_dead() {
    let (_dir, store) = shared_store().await;
    let clock: switchboard::clock::SharedClock = Arc::new(SystemClock);
    let view = Arc::new(CuttableStore {
        store: store.clone(),
        cut: AtomicBool::new(false),
    });
    let (a, b) = (NodeId("a".into()), NodeId("b".into()));
    let observer = Membership::start(view.clone(), membership_options(&a, 1), clock.clone())
        .await
        .unwrap();
    let peer = Membership::start(store.clone(), membership_options(&b, 1), clock)
        .await
        .unwrap();
    observer.activate();
    peer.activate();
    eventually("both active", || async {
        let members = store.members().await.ok()?;
        members
            .iter()
            .all(|m| m.status == MemberStatus::Active)
            .then_some(())
    })
    .await;

    // The observer loses the store for writes, and the peer freezes.
    view.cut.store(true, Ordering::SeqCst);
    peer.pause();
    eventually("the observer knows it is unhealthy", || async {
        (!observer.healthy()).then_some(())
    })
    .await;
    tokio::time::sleep(LEASE * 3).await; // the property is that nothing happens meanwhile
    let members = store.members().await.unwrap();
    let row = members.iter().find(|m| m.node == b).unwrap();
    assert_eq!(
        row.status,
        MemberStatus::Active,
        "no death declared while unhealthy"
    );

    // Healthy again: the peer's still counter is judged.
    view.cut.store(false, Ordering::SeqCst);
    eventually("the frozen peer declared dead", || async {
        let members = store.members().await.ok()?;
        members
            .iter()
            .any(|m| m.node == b && m.status == MemberStatus::Dead)
            .then_some(())
    })
    .await;
    peer.resume();
    let fate = tokio::time::timeout(PATIENCE, peer.fate()).await.unwrap();
    assert_eq!(fate, Fate::DeclaredDead);
    observer.stop();
}
