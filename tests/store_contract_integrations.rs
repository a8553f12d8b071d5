//! The store contract for the integrations (issue 13 §1): webhook endpoints, the outbox (an
//! event is recorded with its change, once, and only for endpoints that want it), leased
//! delivery claims, outcomes and the log, dead letters, API keys by hash, invitations and the
//! agents' active flag. Run against SQLite (always, one temp file per function) and ScyllaDB
//! (when `SCYLLA_URI` is set). SQLite-only guarantees (a fenced write records no event; two
//! processes never claim the same delivery) are at the end.

mod contract_stores;

use contract_stores::{scylla_store, sqlite_store};
use std::sync::Arc;

use switchboard::analytics::{Increment, Metric};
use switchboard::api_keys::{ApiKey, ApiKeyId, Scope};
use switchboard::assist::model::Csat;
use switchboard::clock::Millis;
use switchboard::cluster::{Fence, Holder, NodeId, TakeOutcome, TakeShard};
use switchboard::domain::{Agent, AgentId, Author, Conversation, Message, Role, SiteId, VisitorId};
use switchboard::sites_admin::Invite;
use switchboard::store::sqlite::{SqliteOptions, SqliteStore};
use switchboard::store::{SharedStore, StoreError, WriteEffects};
use switchboard::webhooks::{
    events, AttemptOutcome, AttemptRecord, Claim, DeliveryState, EventKind, WebhookEndpoint,
    WebhookId,
};

const T0: Millis = 1_700_000_000_000;
const LEASE: Millis = 10_000;

fn endpoint(site: SiteId, events: Vec<EventKind>, enabled: bool) -> WebhookEndpoint {
    WebhookEndpoint {
        id: WebhookId::new(),
        site_id: site,
        url: "http://127.0.0.1:9/hook".into(),
        description: "contract".into(),
        events,
        secret: "whsec_contract".into(),
        enabled,
        created_at: T0,
    }
}

fn message(conv: &Conversation, seq: u64) -> Message {
    Message {
        conversation_id: conv.id,
        seq,
        client_msg_id: Some(format!("c-{seq}")),
        author: Author::Visitor {
            id: conv.visitor_id,
        },
        body: format!("message {seq}"),
        at: T0 + seq as Millis,
        extra: Default::default(),
    }
}

async fn conversation(store: &SharedStore, site: SiteId) -> Conversation {
    let conv = Conversation::new(site, VisitorId::new(), T0);
    let created = [events::conversation_created(&conv)];
    store
        .create_conversation_with_effects(
            &conv,
            &WriteEffects::events(created.to_vec()),
            Fence::UNCHECKED,
        )
        .await
        .expect("create");
    conv
}

fn record(
    claim: &Claim,
    outcome: AttemptOutcome,
    at: Millis,
    next_at: Option<Millis>,
) -> AttemptRecord {
    let d = &claim.delivery;
    AttemptRecord {
        event_id: d.event_id.clone(),
        endpoint_id: d.endpoint_id,
        site_id: d.site_id,
        kind: d.kind,
        attempt: d.attempts,
        at,
        outcome,
        status: (outcome == AttemptOutcome::Delivered).then_some(200),
        error: (outcome != AttemptOutcome::Delivered).then(|| "the receiver answered 500".into()),
        duration_ms: 3,
        next_at,
    }
}

async fn webhook_endpoints_round_trip(store: SharedStore) {
    let site = SiteId::new();
    let mut a = endpoint(
        site,
        vec![EventKind::MessageCreated, EventKind::ConversationClosed],
        true,
    );
    let b = endpoint(site, vec![], false);
    store.put_webhook(&a).await.unwrap();
    store.put_webhook(&b).await.unwrap();
    assert_eq!(
        store.get_webhook(site, a.id).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.get_webhook(SiteId::new(), a.id).await.unwrap(),
        None,
        "scoped by site"
    );
    a.enabled = false;
    a.url = "https://example.com/other".into();
    store.put_webhook(&a).await.unwrap();
    let ids: Vec<_> = store
        .list_webhooks(site)
        .await
        .unwrap()
        .into_iter()
        .map(|w| (w.id, w.enabled))
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&(a.id, false)));
    assert!(store.delete_webhook(site, a.id).await.unwrap());
    assert!(!store.delete_webhook(site, a.id).await.unwrap());
    assert_eq!(store.list_webhooks(site).await.unwrap().len(), 1);
}

async fn events_are_recorded_once_for_the_endpoints_that_want_them(store: SharedStore) {
    let site = SiteId::new();
    let quiet = conversation(&store, site).await;
    store
        .append_message_with_effects(
            &message(&quiet, 1),
            &WriteEffects::events(vec![events::message_created(site, &message(&quiet, 1))]),
            Fence::UNCHECKED,
        )
        .await
        .unwrap();
    assert!(
        store.deliveries(site, None, 100).await.unwrap().is_empty(),
        "no endpoint, no event"
    );

    let wants_messages = endpoint(site, vec![EventKind::MessageCreated], true);
    let wants_closes = endpoint(site, vec![EventKind::ConversationClosed], true);
    let disabled = endpoint(site, vec![], false);
    for w in [&wants_messages, &wants_closes, &disabled] {
        store.put_webhook(w).await.unwrap();
    }
    let conv = conversation(&store, site).await;
    let m = message(&conv, 1);
    let drafted = WriteEffects::events(vec![events::message_created(site, &m)]);
    store
        .append_message_with_effects(&m, &drafted, Fence::UNCHECKED)
        .await
        .unwrap();
    // Writing the same message and event again records nothing new.
    store
        .append_message_with_effects(&m, &drafted, Fence::UNCHECKED)
        .await
        .unwrap();
    let mut closed = conv.clone();
    closed.status = switchboard::domain::ConversationStatus::Closed;
    let changes = WriteEffects::events(events::row_changes(&conv, &closed, T0 + 5));
    store
        .update_conversation_with_effects(&conv, &closed, &changes, Fence::UNCHECKED)
        .await
        .unwrap();
    // Relaying (a no-op where deliveries are made in the write) makes them visible everywhere.
    store.relay_outbox(T0 + 120_000).await.unwrap();

    let list = store.deliveries(site, None, 100).await.unwrap();
    assert!(list.iter().all(|d| d.state == DeliveryState::Pending));
    let mut got: Vec<_> = list.into_iter().map(|d| (d.kind, d.endpoint_id)).collect();
    got.sort();
    let mut want = vec![
        (EventKind::ConversationClosed, wants_closes.id),
        (EventKind::MessageCreated, wants_messages.id),
    ];
    want.sort();
    assert_eq!(got, want);
    // A test event goes to its one endpoint, even a disabled one.
    let test = events::test(site, disabled.id, T0);
    assert_eq!(store.record_events(&[test]).await.unwrap(), 1);
    assert_eq!(
        store
            .deliveries(site, Some(DeliveryState::Pending), 100)
            .await
            .unwrap()
            .len(),
        3
    );
}

async fn claims_are_exclusive_and_leases_expire(store: SharedStore) {
    let site = SiteId::new();
    let w = endpoint(site, vec![], true);
    store.put_webhook(&w).await.unwrap();
    store
        .record_events(&[events::test(site, w.id, T0)])
        .await
        .unwrap();
    store.relay_outbox(T0).await.unwrap();

    let first = store
        .claim_deliveries("node-a", T0, LEASE, 10)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].delivery.attempts, first[0].secret.as_str()),
        (1, "whsec_contract")
    );
    assert!(first[0].body.contains("webhook.test"));
    assert!(
        store
            .claim_deliveries("node-b", T0 + 1, LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "claimed"
    );
    // node-a froze past its lease: node-b takes the delivery, and node-a's outcome is refused.
    let second = store
        .claim_deliveries("node-b", T0 + LEASE + 1, LEASE, 10)
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].delivery.attempts, 2);
    assert!(!store
        .finish_delivery(
            &first[0],
            &record(&first[0], AttemptOutcome::Delivered, T0 + LEASE + 2, None)
        )
        .await
        .unwrap());
    assert!(store
        .finish_delivery(
            &second[0],
            &record(&second[0], AttemptOutcome::Delivered, T0 + LEASE + 3, None)
        )
        .await
        .unwrap());
    assert!(
        store
            .claim_deliveries("node-c", T0 + 10 * LEASE, LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "delivered"
    );
    let log = store.delivery_log(site, None, 10).await.unwrap();
    assert_eq!(log.len(), 1, "only the recorded outcome is logged");
    assert_eq!(
        (log[0].attempt, log[0].outcome, log[0].status),
        (2, AttemptOutcome::Delivered, Some(200))
    );
    assert_eq!(
        store
            .delivery_log(site, Some(WebhookId::new()), 10)
            .await
            .unwrap()
            .len(),
        0
    );
}

async fn retries_wait_and_dead_letters_can_be_sent_again(store: SharedStore) {
    let site = SiteId::new();
    let w = endpoint(site, vec![], true);
    store.put_webhook(&w).await.unwrap();
    let test = events::test(site, w.id, T0);
    store
        .record_events(std::slice::from_ref(&test))
        .await
        .unwrap();
    store.relay_outbox(T0).await.unwrap();
    let c = store
        .claim_deliveries("n", T0, LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    assert!(store
        .finish_delivery(
            &c,
            &record(&c, AttemptOutcome::Retry, T0 + 1, Some(T0 + 500))
        )
        .await
        .unwrap());
    assert!(
        store
            .claim_deliveries("n", T0 + 499, LEASE, 1)
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    let c = store
        .claim_deliveries("n", T0 + 500, LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(c.delivery.attempts, 2);
    assert!(store
        .finish_delivery(&c, &record(&c, AttemptOutcome::Dead, T0 + 501, None))
        .await
        .unwrap());
    let dead = store
        .deliveries(site, Some(DeliveryState::Dead), 10)
        .await
        .unwrap();
    assert_eq!((dead.len(), dead[0].last_error.is_some()), (1, true));
    assert!(store
        .claim_deliveries("n", T0 + 100 * LEASE, LEASE, 1)
        .await
        .unwrap()
        .is_empty());
    let outcomes: Vec<_> = store
        .delivery_log(site, Some(w.id), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.outcome)
        .collect();
    assert_eq!(
        outcomes,
        [AttemptOutcome::Dead, AttemptOutcome::Retry],
        "newest first"
    );

    assert!(store
        .redeliver(site, &test.id, w.id, T0 + 600)
        .await
        .unwrap());
    assert!(
        !store
            .redeliver(site, &test.id, w.id, T0 + 600)
            .await
            .unwrap(),
        "no longer dead"
    );
    let c = store
        .claim_deliveries("n", T0 + 600, LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(c.delivery.attempts, 1, "a fresh count");
}

async fn api_keys_are_found_by_hash_and_revoked_once(store: SharedStore) {
    let site = SiteId::new();
    let key = ApiKey {
        id: ApiKeyId(uuid::Uuid::now_v7()),
        site_id: site,
        name: "crm".into(),
        prefix: "sk_abcdef".into(),
        hash: format!("hash-{}", uuid::Uuid::now_v7()),
        scopes: vec![Scope::ConversationsRead, Scope::WebhooksManage],
        created_at: T0,
        revoked_at: None,
    };
    store.put_api_key(&key).await.unwrap();
    assert_eq!(
        store.api_key_by_hash(&key.hash).await.unwrap(),
        Some(key.clone())
    );
    let mut twin = key.clone();
    twin.id = ApiKeyId(uuid::Uuid::now_v7());
    assert!(
        matches!(store.put_api_key(&twin).await, Err(StoreError::Conflict(_))),
        "a hash is one key"
    );
    assert!(store.revoke_api_key(site, key.id, T0 + 1).await.unwrap());
    assert!(!store.revoke_api_key(site, key.id, T0 + 2).await.unwrap());
    assert!(!store
        .revoke_api_key(SiteId::new(), key.id, T0 + 2)
        .await
        .unwrap());
    assert_eq!(
        store
            .api_key_by_hash(&key.hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(T0 + 1)
    );
    assert_eq!(store.list_api_keys(site).await.unwrap().len(), 1);
}

fn agent(site: SiteId, email: &str) -> Agent {
    Agent {
        id: AgentId::new(),
        site_id: site,
        email: email.into(),
        name: "Invited".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        role: Role::Agent,
        capacity: 5,
        active: true,
        avatar_version: 0,
    }
}

async fn invitations_make_one_agent_and_the_active_flag_sticks(store: SharedStore) {
    let site = SiteId::new();
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let invite = |email: &str, expires_at| Invite {
        token_hash: format!("{email}-hash"),
        site_id: site,
        email: email.into(),
        role: Role::Agent,
        created_at: T0,
        expires_at,
        accepted_at: None,
    };
    let open = invite(&format!("ana-{tag}@x.example"), T0 + 1000);
    let expired = invite(&format!("old-{tag}@x.example"), T0 + 10);
    store.put_invite(&open).await.unwrap();
    store.put_invite(&expired).await.unwrap();
    assert_eq!(
        store.invite_by_hash(&open.token_hash).await.unwrap(),
        Some(open.clone())
    );
    assert_eq!(store.list_invites(site).await.unwrap().len(), 2);

    // An email taken meanwhile refuses the acceptance and leaves the invitation open.
    let taken = agent(SiteId::new(), &open.email);
    store.put_agent(&taken).await.unwrap();
    let ana = agent(site, &open.email);
    assert!(matches!(
        store.accept_invite(&open.token_hash, &ana, T0 + 5).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .invite_by_hash(&open.token_hash)
            .await
            .unwrap()
            .unwrap()
            .accepted_at,
        None
    );
    let mut moved = taken.clone();
    moved.email = format!("moved-{tag}@x.example");
    store.put_agent(&moved).await.unwrap();

    store
        .accept_invite(&open.token_hash, &ana, T0 + 6)
        .await
        .unwrap();
    assert_eq!(
        store
            .invite_by_hash(&open.token_hash)
            .await
            .unwrap()
            .unwrap()
            .accepted_at,
        Some(T0 + 6)
    );
    let again = agent(site, &format!("other-{tag}@x.example"));
    assert!(matches!(
        store.accept_invite(&open.token_hash, &again, T0 + 7).await,
        Err(StoreError::Conflict(_))
    ));
    let late = agent(site, &expired.email);
    assert!(matches!(
        store
            .accept_invite(&expired.token_hash, &late, T0 + 11)
            .await,
        Err(StoreError::Conflict(_))
    ));

    let mut stored = store
        .get_agent(ana.id)
        .await
        .unwrap()
        .expect("the invited agent");
    assert!(stored.active);
    stored.active = false;
    store.put_agent(&stored).await.unwrap();
    assert!(!store.get_agent(ana.id).await.unwrap().unwrap().active);
    assert!(!store.list_agents(site).await.unwrap()[0].active);
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        async fn run_all(store: SharedStore) {
            $( println!("contract: {}", stringify!($name)); $name(store.clone()).await; )*
        }
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
    webhook_endpoints_round_trip,
    events_are_recorded_once_for_the_endpoints_that_want_them,
    claims_are_exclusive_and_leases_expire,
    retries_wait_and_dead_letters_can_be_sent_again,
    api_keys_are_found_by_hash_and_revoked_once,
    invitations_make_one_agent_and_the_active_flag_sticks,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scylla_contract() {
    if let Some(run) = scylla_store("integrations contract").await {
        run_all(run.store).await;
    }
}

// --- SQLite-only guarantees ---

/// A write refused by its fence leaves no event and no count behind: they were in the same
/// savepoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_fenced_write_records_no_event_and_no_count() {
    let (_dir, store) = sqlite_store().await;
    let site = SiteId::new();
    store
        .put_webhook(&endpoint(site, vec![], true))
        .await
        .unwrap();
    let holder = Holder {
        node: NodeId("n1".into()),
        incarnation: 1,
    };
    let take = TakeShard {
        shard: 3,
        taker: holder,
        expected_epoch: 0,
        now: T0,
        lease_until: T0 + LEASE,
    };
    let TakeOutcome::Taken { epoch, .. } = store.take_shard(&take).await.unwrap() else {
        panic!("take")
    };
    let conv = Conversation::new(site, VisitorId::new(), T0);
    let stale = Fence::new(3, epoch + 1);
    // With a count too: the change, its event and its count are one transaction.
    let created = WriteEffects {
        events: vec![events::conversation_created(&conv)],
        increments: vec![Increment {
            site,
            day: 7,
            hour: 1,
            agent: None,
            inside_hours: true,
            metric: Metric::NewConversations,
            count: 1,
            total: 0,
        }],
        retention_days: 0,
    };
    let refused = store
        .create_conversation_with_effects(&conv, &created, stale)
        .await;
    assert!(
        matches!(refused, Err(StoreError::Fenced { .. })),
        "{refused:?}"
    );
    assert!(store.get_conversation(conv.id).await.unwrap().is_none());
    assert!(
        store.deliveries(site, None, 10).await.unwrap().is_empty(),
        "no event without its change"
    );
    assert!(
        store.counts(site, 7, 7).await.unwrap().is_empty(),
        "no count without its change"
    );
    store
        .create_conversation_with_effects(&conv, &created, Fence::new(3, epoch))
        .await
        .unwrap();
    assert_eq!(store.deliveries(site, None, 10).await.unwrap().len(), 1);
    assert_eq!(store.counts(site, 7, 7).await.unwrap().len(), 1);

    // A rating, its `csat.submitted` and its score's count are one write too.
    let csat = Csat {
        conversation_id: conv.id,
        site_id: site,
        visitor_id: conv.visitor_id,
        rating: 4,
        comment: "ok".into(),
        at: T0 + 5,
    };
    let rated = WriteEffects {
        events: vec![events::csat_submitted(&csat)],
        increments: vec![Increment {
            site,
            day: 8,
            hour: 2,
            agent: None,
            inside_hours: true,
            metric: Metric::Csat,
            count: 1,
            total: 4,
        }],
        retention_days: 0,
    };
    let refused = store.put_csat_with_effects(&csat, &rated, stale).await;
    assert!(
        matches!(refused, Err(StoreError::Fenced { .. })),
        "{refused:?}"
    );
    assert!(store.get_csat(conv.id).await.unwrap().is_none());
    assert_eq!(store.deliveries(site, None, 10).await.unwrap().len(), 1);
    assert!(store.counts(site, 8, 8).await.unwrap().is_empty());
    store
        .put_csat_with_effects(&csat, &rated, Fence::new(3, epoch))
        .await
        .unwrap();
    assert_eq!(store.get_csat(conv.id).await.unwrap(), Some(csat));
    assert_eq!(store.deliveries(site, None, 10).await.unwrap().len(), 2);
    let counted = store.counts(site, 8, 8).await.unwrap();
    assert_eq!(counted.len(), 1);
    assert_eq!((counted[0].metric, counted[0].total), (Metric::Csat, 4));
}

/// Two processes' stores on one file claim concurrently: every delivery goes to exactly one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_stores_on_one_file_never_claim_the_same_delivery() {
    let (dir, a) = sqlite_store().await;
    let b: SharedStore = Arc::new(
        SqliteStore::open(SqliteOptions::new(dir.path().join("switchboard.db")))
            .await
            .unwrap(),
    );
    let site = SiteId::new();
    let w = endpoint(site, vec![], true);
    a.put_webhook(&w).await.unwrap();
    let drafts: Vec<_> = (0..40).map(|_| events::test(site, w.id, T0)).collect();
    a.record_events(&drafts).await.unwrap();
    let claim_all = |store: SharedStore, name: &'static str| async move {
        let mut got = Vec::new();
        loop {
            let batch = store.claim_deliveries(name, T0, LEASE, 3).await.unwrap();
            if batch.is_empty() {
                return got;
            }
            got.extend(batch.into_iter().map(|c| c.delivery.event_id));
        }
    };
    let (x, y) = tokio::join!(claim_all(a.clone(), "a"), claim_all(b.clone(), "b"));
    let mut all: Vec<_> = x.iter().chain(y.iter()).cloned().collect();
    all.sort();
    all.dedup();
    assert_eq!(
        (all.len(), x.len() + y.len()),
        (40, 40),
        "each claimed once: a {} b {}",
        x.len(),
        y.len()
    );
}
