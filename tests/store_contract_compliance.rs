//! The store contract of issue 13's models, for both backends (ScyllaDB when `SCYLLA_URI` is
//! set, in a fresh keyspace): analytics counters and the writes that carry them with their
//! webhook events (`EffectfulWrites`), the
//! audit log's pages across months, GDPR erasure of a conversation and a visitor, and the
//! inbox listings kept in small partitions (closed conversations by day of last activity,
//! listed newest first across days; active ones overwritten in place). SQLite-only: the bounded
//! retention sweep and the audit log's append-only triggers. ScyllaDB-only: the TTLs retention
//! sets (it expires rows itself and has no sweep). Erasure covers the bots' and agent tools'
//! rows too (ratings, bot state; attachment references are listed by visitor for the
//! attachments' hook; SQLite also drops the conversation's emails).

mod contract_stores;

use contract_stores::{scylla_store, sqlite_store};

use switchboard::analytics::{Increment, Metric};
use switchboard::assist::model::{ConversationAssist, Csat};
use switchboard::blobs::{AttachmentRef, BlobId, BlobMeta};
use switchboard::clock::Millis;
use switchboard::compliance::audit::{AuditActor, AuditRecord};
use switchboard::domain::{
    AgentId, Author, Conversation, ConversationId, ConversationStatus, Message, SiteId, Visitor,
    VisitorEvent, VisitorId,
};
use switchboard::store::sqlite::{SqliteOptions, SqliteStore};
use switchboard::store::{AuditCursor, Fence, SharedStore, WriteEffects};
use switchboard::webhooks::{
    events, AttemptOutcome, AttemptRecord, EventKind, WebhookEndpoint, WebhookId,
};

const T0: Millis = 1_700_000_000_000;
const DAY: Millis = 86_400_000;

fn cell(site: SiteId, day: i32, hour: u8, metric: Metric, total: i64) -> Increment {
    Increment {
        site,
        day,
        hour,
        agent: None,
        inside_hours: true,
        metric,
        count: 1,
        total,
    }
}

fn message(conversation_id: ConversationId, seq: u64, at: Millis) -> Message {
    Message {
        conversation_id,
        seq,
        client_msg_id: Some(format!("c-{seq}")),
        author: Author::Visitor {
            id: VisitorId(uuid::Uuid::nil()),
        },
        body: format!("message {seq}"),
        at,
        extra: Default::default(),
    }
}

/// An enabled endpoint that wants every event.
fn everything_hook(site: SiteId) -> WebhookEndpoint {
    WebhookEndpoint {
        id: WebhookId::new(),
        site_id: site,
        url: "http://127.0.0.1:9/hook".into(),
        description: "contract".into(),
        events: Vec::new(),
        secret: "whsec_contract".into(),
        enabled: true,
        created_at: T0,
    }
}

fn visitor(site_id: SiteId, user_id: Option<&str>) -> Visitor {
    Visitor {
        id: VisitorId::new(),
        site_id,
        user_id: user_id.map(str::to_owned),
        name: Some("Vera".into()),
        email: Some("vera@example.com".into()),
        created_at: T0,
        last_seen_at: T0,
        client: None,
    }
}

fn ids(list: &[Conversation]) -> Vec<ConversationId> {
    list.iter().map(|c| c.id).collect()
}

/// Sum of a metric's counts and totals over cells.
fn sum(cells: &[Increment], metric: Metric) -> (i64, i64) {
    cells
        .iter()
        .filter(|c| c.metric == metric)
        .fold((0, 0), |(n, t), c| (n + c.count, t + c.total))
}

// --- the contract ---

async fn counters_add_up_per_cell_and_range(store: SharedStore) {
    let site = SiteId::new();
    let agent = AgentId::new();
    let mut with_agent = cell(site, 100, 9, Metric::Response, 30_000);
    with_agent.agent = Some(agent);
    store
        .add_counts(&[
            cell(site, 100, 9, Metric::NewConversations, 0),
            cell(site, 100, 9, Metric::NewConversations, 0),
            with_agent.clone(),
            with_agent,
            cell(site, 101, 23, Metric::Csat, 4),
            cell(site, 105, 0, Metric::Missed, 0),
            cell(SiteId::new(), 100, 9, Metric::NewConversations, 0),
        ])
        .await
        .unwrap();
    let cells = store.counts(site, 100, 101).await.unwrap();
    assert_eq!(sum(&cells, Metric::NewConversations), (2, 0));
    assert_eq!(sum(&cells, Metric::Response), (2, 60_000));
    assert_eq!(sum(&cells, Metric::Csat), (1, 4));
    assert_eq!(
        sum(&cells, Metric::Missed),
        (0, 0),
        "day 105 is outside the range"
    );
    let response = cells.iter().find(|c| c.metric == Metric::Response).unwrap();
    assert_eq!((response.agent, response.hour), (Some(agent), 9));
    assert_eq!(
        cells
            .iter()
            .filter(|c| c.metric == Metric::NewConversations)
            .count(),
        1
    );
    assert!(store
        .counts(SiteId::new(), 0, 200)
        .await
        .unwrap()
        .is_empty());
}

async fn effectful_writes_store_the_change_its_events_and_counts(store: SharedStore) {
    let site = SiteId::new();
    store.put_webhook(&everything_hook(site)).await.unwrap();
    let effects = |metric, events| WriteEffects {
        events,
        increments: vec![cell(site, 7, 1, metric, 5)],
        retention_days: 30,
    };
    let conv = Conversation::new(site, VisitorId::new(), T0);
    let created = vec![events::conversation_created(&conv)];
    store
        .create_conversation_with_effects(
            &conv,
            &effects(Metric::NewConversations, created),
            Fence::UNCHECKED,
        )
        .await
        .unwrap();
    let m = message(conv.id, 1, T0);
    let said = vec![events::message_created(site, &m)];
    store
        .append_message_with_effects(&m, &effects(Metric::Response, said), Fence::UNCHECKED)
        .await
        .unwrap();
    let mut closed = conv.clone();
    closed.status = ConversationStatus::Closed;
    closed.last_seq = 1;
    let changes = events::row_changes(&conv, &closed, T0 + 5);
    store
        .update_conversation_with_effects(
            &conv,
            &closed,
            &effects(Metric::Closed, changes),
            Fence::UNCHECKED,
        )
        .await
        .unwrap();
    let event = VisitorEvent {
        visitor_id: conv.visitor_id,
        at: T0,
        kind: "page_view".into(),
        url: "https://shop.example/".into(),
        title: "Shop".into(),
    };
    store
        .append_visitor_event_with_effects(&event, &WriteEffects::default(), Fence::UNCHECKED)
        .await
        .unwrap();
    // ScyllaDB fans committed events out in the relay; SQLite already did, in the write.
    store.relay_outbox(T0 + 120_000).await.unwrap();
    let mut kinds: Vec<_> = store
        .deliveries(site, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.kind)
        .collect();
    kinds.sort_by_key(|k| k.as_str());
    assert_eq!(
        kinds,
        vec![
            EventKind::ConversationClosed,
            EventKind::ConversationCreated,
            EventKind::MessageCreated
        ]
    );

    assert_eq!(
        store.get_conversation(conv.id).await.unwrap(),
        Some(closed.clone())
    );
    assert_eq!(store.messages_after(conv.id, 0, 10).await.unwrap(), vec![m]);
    assert_eq!(
        store.visitor_events(conv.visitor_id, 10).await.unwrap(),
        vec![event]
    );
    let closed_list = store
        .conversations_by_status(site, ConversationStatus::Closed, 10)
        .await
        .unwrap();
    assert_eq!(closed_list, vec![closed]);
    let cells = store.counts(site, 7, 7).await.unwrap();
    for metric in [Metric::NewConversations, Metric::Response, Metric::Closed] {
        assert_eq!(sum(&cells, metric), (1, 5), "{metric:?}");
    }
}

async fn audit_pages_newest_first_across_months(store: SharedStore) {
    let site = SiteId::new();
    let record = |n: i64| AuditRecord {
        id: uuid::Uuid::now_v7(),
        site_id: site,
        // Forty days apart: the records span several months.
        at: T0 + n * 40 * DAY,
        actor: AuditActor::agent(AgentId::new(), "Ada"),
        action: format!("test.action{n}"),
        target: Some(format!("target-{n}")),
        detail: serde_json::json!({ "n": n }),
        ip: Some("203.0.113.9".into()),
    };
    let records: Vec<AuditRecord> = (0..5).map(record).collect();
    for r in &records {
        store.append_audit(r).await.unwrap();
    }
    let mut other = record(9);
    other.site_id = SiteId::new();
    store.append_audit(&other).await.unwrap();

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store.audit_log(site, before, 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().map(|r| AuditCursor { at: r.at, id: r.id });
        seen.extend(page);
    }
    let newest_first: Vec<AuditRecord> = records.into_iter().rev().collect();
    assert_eq!(seen, newest_first);
}

async fn erasing_a_conversation_and_a_visitor_leaves_nothing(store: SharedStore) {
    let site = SiteId::new();
    let v = visitor(
        site,
        Some(&format!("user-{}", uuid::Uuid::now_v7().simple())),
    );
    store.put_visitor(&v, Fence::UNCHECKED).await.unwrap();
    let event = VisitorEvent {
        visitor_id: v.id,
        at: T0,
        kind: "page_view".into(),
        url: "https://shop.example/".into(),
        title: "Shop".into(),
    };
    store
        .append_visitor_event(&event, Fence::UNCHECKED)
        .await
        .unwrap();
    let open = Conversation::new(site, v.id, T0);
    let mut closed = Conversation::new(site, v.id, T0 + 1);
    let keep = Conversation::new(site, VisitorId::new(), T0 + 2);
    for c in [&open, &closed, &keep] {
        store
            .create_conversation(c, Fence::UNCHECKED)
            .await
            .unwrap();
        store
            .append_message(&message(c.id, 1, T0), Fence::UNCHECKED)
            .await
            .unwrap();
    }
    let before = closed.clone();
    closed.status = ConversationStatus::Closed;
    store
        .update_conversation(&before, &closed, Fence::UNCHECKED)
        .await
        .unwrap();

    // Issue 11's rows about the closed one: its rating, its bot state, an attachment.
    let rating = Csat {
        conversation_id: closed.id,
        site_id: site,
        visitor_id: v.id,
        rating: 5,
        comment: "my name is Ann".into(),
        at: T0 + 3,
    };
    store.put_csat(&rating, Fence::UNCHECKED).await.unwrap();
    store
        .put_conversation_assist(
            closed.id,
            &ConversationAssist::without_bot(),
            Fence::UNCHECKED,
        )
        .await
        .unwrap();
    let blob = BlobId::new();
    let attached = AttachmentRef {
        blob,
        conversation_id: closed.id,
        site_id: site,
        visitor_id: v.id,
    };
    let meta = BlobMeta {
        id: blob,
        content_type: "image/png".into(),
        size: 68,
        sha256: "ab".repeat(32),
        filename: "me.png".into(),
        created_at: T0,
    };
    store.put_attachment(&attached, &meta).await.unwrap();

    for c in [&open, &closed] {
        assert!(store.erase_conversation(c, Fence::UNCHECKED).await.unwrap() >= 1);
        assert_eq!(store.get_conversation(c.id).await.unwrap(), None);
        assert!(store.messages_after(c.id, 0, 10).await.unwrap().is_empty());
        // A retried send of an erased message finds nothing to point at.
        assert_eq!(store.seq_of_client_msg(c.id, "c-1").await.unwrap(), None);
    }
    assert_eq!(store.get_csat(closed.id).await.unwrap(), None);
    assert!(!store
        .site_csat(site, 10)
        .await
        .unwrap()
        .iter()
        .any(|c| c.conversation_id == closed.id));
    assert_eq!(
        store.get_conversation_assist(closed.id).await.unwrap(),
        None
    );
    // Attachment references wait for the attachments' hook (bytes first, then the reference),
    // which finds them by visitor.
    assert_eq!(
        store.visitor_attachments(v.id).await.unwrap(),
        vec![(attached, meta)]
    );
    assert!(store.delete_attachment(blob).await.unwrap());
    assert!(!store.delete_attachment(blob).await.unwrap());
    assert!(store.visitor_attachments(v.id).await.unwrap().is_empty());
    assert_eq!(store.erase_visitor(&v, Fence::UNCHECKED).await.unwrap(), 1);
    assert_eq!(store.get_visitor(v.id).await.unwrap(), None);
    let user = v.user_id.as_deref().unwrap();
    assert_eq!(store.visitor_by_user_id(site, user).await.unwrap(), None);
    assert!(store.visitor_events(v.id, 10).await.unwrap().is_empty());
    assert!(store
        .visitor_conversations(v.id, 10)
        .await
        .unwrap()
        .is_empty());
    for status in [ConversationStatus::Open, ConversationStatus::Closed] {
        let listed = store
            .conversations_by_status(site, status, 10)
            .await
            .unwrap();
        assert!(!ids(&listed).contains(&open.id) && !ids(&listed).contains(&closed.id));
    }
    // Someone else's conversation is untouched.
    assert_eq!(
        store.get_conversation(keep.id).await.unwrap(),
        Some(keep.clone())
    );
    assert_eq!(store.messages_after(keep.id, 0, 10).await.unwrap().len(), 1);
    assert_eq!(
        store.seq_of_client_msg(keep.id, "c-1").await.unwrap(),
        Some(1)
    );
}

/// Closed conversations live in partitions by day of last activity (ScyllaDB); a listing walks
/// the days newest first, a limit can end inside a day, and a closed conversation whose
/// activity moves to another day is listed once, under its new activity.
async fn closed_inbox_spans_days_newest_first(store: SharedStore) {
    let site = SiteId::new();
    let mut all = Vec::new();
    for n in 0..6i64 {
        // Two conversations per day, three days, the newest activity last.
        let mut c = Conversation::new(site, VisitorId::new(), T0 + n);
        c.last_activity_at = T0 + (n / 2) * DAY + n;
        store
            .create_conversation(&c, Fence::UNCHECKED)
            .await
            .unwrap();
        let before = c.clone();
        c.status = ConversationStatus::Closed;
        store
            .update_conversation(&before, &c, Fence::UNCHECKED)
            .await
            .unwrap();
        all.push(c);
    }
    let closed = |limit| store.conversations_by_status(site, ConversationStatus::Closed, limit);
    let newest_first: Vec<ConversationId> = all.iter().rev().map(|c| c.id).collect();
    assert_eq!(ids(&closed(10).await.unwrap()), newest_first);
    assert_eq!(ids(&closed(3).await.unwrap()), newest_first[..3].to_vec());

    // The oldest gets a late read receipt and activity two days later: listed once, first.
    let mut moved = all[0].clone();
    let before = moved.clone();
    moved.last_activity_at = T0 + 3 * DAY;
    moved.visitor_read_seq = 1;
    store
        .update_conversation(&before, &moved, Fence::UNCHECKED)
        .await
        .unwrap();
    let listed = closed(10).await.unwrap();
    assert_eq!(listed.len(), 6);
    assert_eq!(listed[0], moved);
    assert!(store
        .conversations_by_status(site, ConversationStatus::Open, 10)
        .await
        .unwrap()
        .is_empty());
}

/// The active inbox is overwritten in place on new activity and stays ordered by it.
async fn active_inbox_follows_activity(store: SharedStore) {
    let site = SiteId::new();
    let mut convs = Vec::new();
    for n in 0..3 {
        let c = Conversation::new(site, VisitorId::new(), T0 + n);
        store
            .create_conversation(&c, Fence::UNCHECKED)
            .await
            .unwrap();
        convs.push(c);
    }
    for round in 1..=3i64 {
        let before = convs[0].clone();
        convs[0].last_activity_at = T0 + round * DAY;
        convs[0].last_seq = round as u64;
        store
            .update_conversation(&before, &convs[0], Fence::UNCHECKED)
            .await
            .unwrap();
    }
    let open = store
        .conversations_by_status(site, ConversationStatus::Open, 10)
        .await
        .unwrap();
    assert_eq!(ids(&open), vec![convs[0].id, convs[2].id, convs[1].id]);
    assert_eq!(open[0], convs[0], "the entry carries the latest row");
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        async fn run_all(store: SharedStore) {
            $(
                println!("contract: {}", stringify!($name));
                $name(store.clone()).await;
            )*
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
    counters_add_up_per_cell_and_range,
    effectful_writes_store_the_change_its_events_and_counts,
    audit_pages_newest_first_across_months,
    erasing_a_conversation_and_a_visitor_leaves_nothing,
    closed_inbox_spans_days_newest_first,
    active_inbox_follows_activity,
);

/// Runs only with `SCYLLA_URI` (no ScyllaDB on the build machines): the contract above, then
/// the TTLs that retention writes, read back with `TTL(...)`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scylla_contract() {
    let Some(run) = scylla_store("compliance contract").await else {
        return;
    };
    run_all(run.store.clone()).await;
    retention_sets_ttls(run.store, &run.uri, &run.keyspace).await;
}

/// A week's retention: a message, a page event and a closed inbox entry are written to expire
/// within a week (counted from the write, or from the last activity for the entry).
async fn retention_sets_ttls(store: SharedStore, uri: &str, keyspace: &str) {
    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_node(uri.split(',').next().unwrap())
        .build()
        .await
        .unwrap();
    let week = WriteEffects {
        retention_days: 7,
        ..WriteEffects::default()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as Millis;
    let site = SiteId::new();
    let conv = Conversation::new(site, VisitorId::new(), now);
    store
        .create_conversation(&conv, Fence::UNCHECKED)
        .await
        .unwrap();
    store
        .append_message_with_effects(&message(conv.id, 1, now), &week, Fence::UNCHECKED)
        .await
        .unwrap();
    let mut closed = conv.clone();
    closed.status = ConversationStatus::Closed;
    store
        .update_conversation_with_effects(&conv, &closed, &week, Fence::UNCHECKED)
        .await
        .unwrap();
    let event = VisitorEvent {
        visitor_id: conv.visitor_id,
        at: now,
        kind: "page_view".into(),
        url: "https://shop.example/".into(),
        title: "Shop".into(),
    };
    store
        .append_visitor_event_with_effects(&event, &week, Fence::UNCHECKED)
        .await
        .unwrap();
    let ttl = |cql: String| {
        let session = &session;
        async move {
            let rows = session
                .query_unpaged(cql, ())
                .await
                .unwrap()
                .into_rows_result()
                .unwrap();
            let (ttl,): (Option<i32>,) = rows.single_row().unwrap();
            ttl.expect("a TTL is set")
        }
    };
    let week_secs = 7 * 86_400;
    let day = (closed.last_activity_at / DAY) as i32;
    for cql in [
        format!(
            "SELECT TTL(body) FROM {keyspace}.messages WHERE conversation_id = {} AND bucket = 0 AND seq = 1",
            conv.id
        ),
        format!(
            "SELECT TTL(title) FROM {keyspace}.visitor_events WHERE visitor_id = {} AND at = {now} AND kind = 'page_view' AND url = 'https://shop.example/'",
            conv.visitor_id
        ),
        format!(
            "SELECT TTL(visitor_id) FROM {keyspace}.conversations_closed WHERE site_id = {site} AND day = {day} AND last_activity_at = {} AND id = {}",
            closed.last_activity_at, closed.id
        ),
    ] {
        let left = ttl(cql.clone()).await;
        assert!(left > 0 && left <= week_secs, "{cql}: TTL {left}");
    }
}

// --- SQLite only ---

/// The sweep deletes at most `limit` rows of each kind per pass, oldest data only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sweep_is_bounded_and_spares_newer_data() {
    let (_dir, store) = sqlite_store().await;
    let site = SiteId::new();
    let v = visitor(site, None);
    store.put_visitor(&v, Fence::UNCHECKED).await.unwrap();
    for n in 0..3 {
        let mut c = Conversation::new(site, v.id, T0 + n);
        store
            .create_conversation(&c, Fence::UNCHECKED)
            .await
            .unwrap();
        store
            .append_message(&message(c.id, 1, T0 + n), Fence::UNCHECKED)
            .await
            .unwrap();
        let before = c.clone();
        c.status = ConversationStatus::Closed;
        store
            .update_conversation(&before, &c, Fence::UNCHECKED)
            .await
            .unwrap();
    }
    // Still open since day 0, with an old message and a new one.
    let open = Conversation::new(site, v.id, T0);
    store
        .create_conversation(&open, Fence::UNCHECKED)
        .await
        .unwrap();
    for (seq, at) in [(1, T0), (2, T0 + 40 * DAY)] {
        store
            .append_message(&message(open.id, seq, at), Fence::UNCHECKED)
            .await
            .unwrap();
    }
    for at in [T0, T0 + 40 * DAY] {
        let event = VisitorEvent {
            visitor_id: v.id,
            at,
            kind: "page_view".into(),
            url: format!("https://shop.example/{at}"),
            title: String::new(),
        };
        store
            .append_visitor_event(&event, Fence::UNCHECKED)
            .await
            .unwrap();
    }
    let cutoff = T0 + 30 * DAY;
    let first = store.sweep_expired(site, cutoff, 2).await.unwrap();
    assert_eq!(first.conversations, 2, "{first:?}");
    assert_eq!(first.events, 1, "{first:?}");
    let second = store.sweep_expired(site, cutoff, 2).await.unwrap();
    assert_eq!(second.conversations, 1, "{second:?}");
    assert_eq!(
        store.sweep_expired(site, cutoff, 2).await.unwrap().total(),
        0
    );
    let left = store.messages_after(open.id, 0, 10).await.unwrap();
    assert_eq!(left.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![2]);
    assert_eq!(store.visitor_events(v.id, 10).await.unwrap().len(), 1);
    assert!(store
        .conversations_by_status(site, ConversationStatus::Closed, 10)
        .await
        .unwrap()
        .is_empty());
    // Another site's data is not this site's to sweep.
    assert_eq!(
        store
            .sweep_expired(SiteId::new(), T0 + 99 * DAY, 10)
            .await
            .unwrap()
            .total(),
        0
    );
}

/// Not even a hand-written statement can change or delete an audit record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_audit_log_is_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.db");
    let store = SqliteStore::open(SqliteOptions::new(&path)).await.unwrap();
    let record = AuditRecord {
        id: uuid::Uuid::now_v7(),
        site_id: SiteId::new(),
        at: T0,
        actor: AuditActor::system(),
        action: "test.kept".into(),
        target: None,
        detail: serde_json::json!({}),
        ip: None,
    };
    use switchboard::store::AuditStore;
    store.append_audit(&record).await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    for sql in ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"] {
        let err = conn.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(
        store.audit_log(record.site_id, None, 10).await.unwrap(),
        vec![record]
    );
}

/// Webhook copies of a visitor's data (event bodies, deliveries, attempts) go with its
/// conversation when it is erased, and with retention once no delivery of them is still due.
/// SQLite only: ScyllaDB's copies expire by TTL (docs/api.md, "Visitor data (GDPR)").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_erasure_and_retention_cover_webhook_copies() {
    let (_dir, store) = sqlite_store().await;
    let site = SiteId::new();
    store.put_webhook(&everything_hook(site)).await.unwrap();
    let write = |conv: Conversation| {
        let store = store.clone();
        async move {
            let created = WriteEffects::events(vec![events::conversation_created(&conv)]);
            store
                .create_conversation_with_effects(&conv, &created, Fence::UNCHECKED)
                .await
                .unwrap();
            let m = message(conv.id, 1, T0);
            let said = WriteEffects::events(vec![events::message_created(site, &m)]);
            store
                .append_message_with_effects(&m, &said, Fence::UNCHECKED)
                .await
                .unwrap();
            conv
        }
    };
    let erased = write(Conversation::new(site, VisitorId::new(), T0)).await;
    let kept = write(Conversation::new(site, VisitorId::new(), T0)).await;
    assert_eq!(store.deliveries(site, None, 10).await.unwrap().len(), 4);

    store
        .erase_conversation(&erased, Fence::UNCHECKED)
        .await
        .unwrap();
    let left = store.deliveries(site, None, 10).await.unwrap();
    assert_eq!(left.len(), 2, "only the other conversation's events");
    let claims = store
        .claim_deliveries("node-a", T0, 10_000, 10)
        .await
        .unwrap();
    assert!(
        claims
            .iter()
            .all(|c| c.body.contains(&kept.id.to_string())
                && !c.body.contains(&erased.id.to_string()))
    );

    // Due (being sent): retention leaves them. Delivered: retention takes them and their log.
    let cutoff = T0 + 30 * DAY;
    assert_eq!(
        store
            .sweep_expired(site, cutoff, 10)
            .await
            .unwrap()
            .webhook_events,
        0
    );
    for claim in &claims {
        let d = &claim.delivery;
        let record = AttemptRecord {
            event_id: d.event_id.clone(),
            endpoint_id: d.endpoint_id,
            site_id: d.site_id,
            kind: d.kind,
            attempt: d.attempts,
            at: T0 + 1,
            outcome: AttemptOutcome::Delivered,
            status: Some(200),
            error: None,
            duration_ms: 3,
            next_at: None,
        };
        assert!(store.finish_delivery(claim, &record).await.unwrap());
    }
    assert_eq!(store.delivery_log(site, None, 10).await.unwrap().len(), 2);
    let swept = store.sweep_expired(site, cutoff, 10).await.unwrap();
    assert_eq!(swept.webhook_events, 2, "{swept:?}");
    assert!(store.deliveries(site, None, 10).await.unwrap().is_empty());
    assert!(store.delivery_log(site, None, 10).await.unwrap().is_empty());
}

/// SQLite: a conversation's emails (transcript, reply notices; they hold the visitor's address
/// and the text) go with it, sent or not, and another conversation's stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_erasure_drops_the_conversations_emails() {
    let (_dir, store) = sqlite_store().await;
    let site = SiteId::new();
    let erased = Conversation::new(site, VisitorId::new(), T0);
    let kept = Conversation::new(site, VisitorId::new(), T0);
    let email = |key: String| switchboard::mail::OutgoingEmail {
        key,
        to: "ann@example.com".into(),
        subject: "Your conversation".into(),
        text: "t".into(),
        html: "h".into(),
        created_at: T0,
    };
    let keys = [
        format!("transcript/{}/7", erased.id),
        format!("reply/{}/3", erased.id),
        format!("transcript/{}/2", kept.id),
    ];
    for c in [&erased, &kept] {
        store
            .create_conversation(c, Fence::UNCHECKED)
            .await
            .unwrap();
    }
    for key in &keys {
        assert!(store
            .mail_outbox_enqueue(&email(key.clone()), T0)
            .await
            .unwrap());
    }
    store
        .erase_conversation(&erased, Fence::UNCHECKED)
        .await
        .unwrap();
    assert_eq!(store.mail_outbox_get(&keys[0]).await.unwrap(), None);
    assert_eq!(store.mail_outbox_get(&keys[1]).await.unwrap(), None);
    assert!(store.mail_outbox_get(&keys[2]).await.unwrap().is_some());
}
