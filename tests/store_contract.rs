//! The store contract: what every `Store` backend must do, written once against `SharedStore`
//! and run against SQLite (always, on a temp file) and ScyllaDB (when `SCYLLA_URI` is set, in
//! a fresh keyspace per run).
//!
//! Every contract function uses fresh ids, so they can share one database.
//! SQLite-only guarantees (conflicts that ScyllaDB could only check with LWT on the message
//! path) are at the end.

mod contract_stores;

use contract_stores::{scylla_store, sqlite_store};
use std::sync::Arc;

use futures_util::future::try_join_all;
use switchboard::clock::Millis;
use switchboard::domain::{
    Agent, AgentId, Author, Conversation, ConversationId, ConversationStatus, Message, Role, Seq,
    Site, SiteId, SiteSettings, Visitor, VisitorEvent, VisitorId,
};
use switchboard::store::sqlite::{SqliteOptions, SqliteStore};
use switchboard::store::{Fence, MessageStore, SharedStore, StoreError};

const T0: Millis = 1_700_000_000_000;

// --- fixtures ---

fn site(public_key: &str) -> Site {
    Site {
        id: SiteId::new(),
        name: format!("site {public_key}"),
        public_key: public_key.to_owned(),
        identity_secret: "identity-secret".into(),
        settings: SiteSettings {
            welcome_message: "Hello from the contract".into(),
            auto_close_after_secs: 3600,
            ..SiteSettings::default()
        },
    }
}

fn agent(site_id: SiteId, email: &str) -> Agent {
    Agent {
        id: AgentId::new(),
        site_id,
        email: email.to_owned(),
        name: "Ana".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        role: Role::Agent,
        capacity: 3,
        active: true,
        avatar_version: 0,
    }
}

fn visitor(site_id: SiteId, user_id: Option<&str>) -> Visitor {
    Visitor {
        id: VisitorId::new(),
        site_id,
        user_id: user_id.map(str::to_owned),
        name: Some("Vera".into()),
        email: None,
        created_at: T0,
        last_seen_at: T0,
        client: None,
    }
}

fn conversation(site_id: SiteId, visitor_id: VisitorId, created_at: Millis) -> Conversation {
    Conversation::new(site_id, visitor_id, created_at)
}

fn message(conversation_id: ConversationId, seq: Seq) -> Message {
    Message {
        conversation_id,
        seq,
        client_msg_id: Some(format!("c-{seq}")),
        author: if seq.is_multiple_of(2) {
            Author::Agent {
                id: AgentId(uuid::Uuid::nil()),
                name: "Ana".into(),
            }
        } else {
            Author::Visitor {
                id: VisitorId(uuid::Uuid::nil()),
            }
        },
        body: format!("message {seq}"),
        at: T0 + seq as Millis,
        extra: Default::default(),
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

fn seqs(messages: &[Message]) -> Vec<Seq> {
    messages.iter().map(|m| m.seq).collect()
}

fn ids(conversations: &[Conversation]) -> Vec<ConversationId> {
    conversations.iter().map(|c| c.id).collect()
}

/// Append `1..=n` to a conversation, concurrently (so SQLite group-commits them).
async fn append_range(store: &SharedStore, conversation_id: ConversationId, n: Seq) {
    try_join_all((1..=n).map(|seq| {
        let store = store.clone();
        async move {
            store
                .append_message(&message(conversation_id, seq), Fence::UNCHECKED)
                .await
        }
    }))
    .await
    .expect("append");
}

// --- the contract ---

async fn secrets_first_writer_wins(store: SharedStore) {
    let name = unique("signing-key");
    assert_eq!(store.secret(&name, b"first").await.unwrap(), b"first");
    assert_eq!(store.secret(&name, b"second").await.unwrap(), b"first");

    // Nodes racing on first start all end up with one and the same secret.
    let raced = unique("raced-key");
    let answers = try_join_all((0..8u8).map(|i| {
        let (store, raced) = (store.clone(), raced.clone());
        async move { store.secret(&raced, &[i; 32]).await }
    }))
    .await
    .unwrap();
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(answers[0].len(), 32);
}

async fn sites_round_trip_and_key_conflict(store: SharedStore) {
    let key = unique("pk");
    let mut s = site(&key);
    assert_eq!(store.get_site(s.id).await.unwrap(), None);
    store.put_site(&s).await.unwrap();
    assert_eq!(store.get_site(s.id).await.unwrap(), Some(s.clone()));
    assert_eq!(
        store.site_by_public_key(&key).await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(store.site_by_public_key("no-such-key").await.unwrap(), None);

    // Replacing keeps one row; the same site may keep its own key.
    s.name = "renamed".into();
    store.put_site(&s).await.unwrap();
    assert_eq!(store.get_site(s.id).await.unwrap().unwrap().name, "renamed");

    // Another site cannot take the key.
    let thief = site(&key);
    match store.put_site(&thief).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.get_site(thief.id).await.unwrap(), None);
    assert_eq!(
        store.site_by_public_key(&key).await.unwrap().unwrap().id,
        s.id
    );

    // A site moving to a new key frees the old one.
    let new_key = unique("pk");
    s.public_key = new_key.clone();
    store.put_site(&s).await.unwrap();
    assert_eq!(store.site_by_public_key(&key).await.unwrap(), None);
    assert_eq!(
        store
            .site_by_public_key(&new_key)
            .await
            .unwrap()
            .unwrap()
            .id,
        s.id
    );
    let mut thief = thief;
    store.put_site(&thief).await.unwrap();
    thief.public_key = new_key;
    assert!(matches!(
        store.put_site(&thief).await,
        Err(StoreError::Conflict(_))
    ));

    let listed = store.list_sites().await.unwrap();
    assert!(listed.contains(&s));
    assert!(listed.iter().any(|x| x.id == thief.id));
}

async fn agents_round_trip_and_email_conflict(store: SharedStore) {
    let site_a = SiteId::new();
    let email = format!("{}@Example.COM", unique("Ana"));
    let mut a = agent(site_a, &email);
    assert_eq!(store.get_agent(a.id).await.unwrap(), None);
    store.put_agent(&a).await.unwrap();

    // Stored lower-cased, found whatever the case.
    let stored = store.get_agent(a.id).await.unwrap().unwrap();
    assert_eq!(stored.email, email.to_lowercase());
    a.email = email.to_lowercase();
    assert_eq!(stored, a);
    assert_eq!(
        store.agent_by_email(&email.to_uppercase()).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.agent_by_email("nobody@example.com").await.unwrap(),
        None
    );

    // Replacing an agent with its own email is fine.
    a.name = "Ana Maria".into();
    a.role = Role::Admin;
    store.put_agent(&a).await.unwrap();
    assert_eq!(store.get_agent(a.id).await.unwrap(), Some(a.clone()));

    // Another agent cannot take it, in any case.
    let b = agent(site_a, &email.to_uppercase());
    assert!(matches!(
        store.put_agent(&b).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_agent(b.id).await.unwrap(), None);

    // Changing one's email frees the old one.
    let new_email = format!("{}@example.com", unique("ana"));
    a.email = new_email.clone();
    store.put_agent(&a).await.unwrap();
    assert_eq!(store.agent_by_email(&email).await.unwrap(), None);
    assert_eq!(
        store.agent_by_email(&new_email).await.unwrap().unwrap().id,
        a.id
    );
    store.put_agent(&b).await.unwrap();

    let c = agent(SiteId::new(), &format!("{}@example.com", unique("other")));
    store.put_agent(&c).await.unwrap();
    let mut listed = store.list_agents(site_a).await.unwrap();
    listed.sort_by_key(|x| x.id);
    let mut expected = vec![a.id, b.id];
    expected.sort();
    assert_eq!(listed.iter().map(|x| x.id).collect::<Vec<_>>(), expected);
}

async fn visitors_round_trip_and_user_id(store: SharedStore) {
    let site_id = SiteId::new();
    let user = unique("user");
    let mut verified = visitor(site_id, Some(&user));
    let anonymous = visitor(site_id, None);
    assert_eq!(store.get_visitor(verified.id).await.unwrap(), None);
    store
        .put_visitor(&verified, Fence::UNCHECKED)
        .await
        .unwrap();
    store
        .put_visitor(&anonymous, Fence::UNCHECKED)
        .await
        .unwrap();
    assert_eq!(
        store.get_visitor(verified.id).await.unwrap(),
        Some(verified.clone())
    );
    assert_eq!(
        store.get_visitor(anonymous.id).await.unwrap(),
        Some(anonymous.clone())
    );

    assert_eq!(
        store.visitor_by_user_id(site_id, &user).await.unwrap(),
        Some(verified.clone())
    );
    // User ids are per site.
    assert_eq!(
        store
            .visitor_by_user_id(SiteId::new(), &user)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.visitor_by_user_id(site_id, "nobody").await.unwrap(),
        None
    );

    verified.last_seen_at = T0 + 60_000;
    verified.email = Some("vera@example.com".into());
    store
        .put_visitor(&verified, Fence::UNCHECKED)
        .await
        .unwrap();
    assert_eq!(
        store.visitor_by_user_id(site_id, &user).await.unwrap(),
        Some(verified)
    );
}

async fn visitor_events_newest_first(store: SharedStore) {
    let v = VisitorId::new();
    let other = VisitorId::new();
    for i in 0..5 {
        let event = VisitorEvent {
            visitor_id: v,
            at: T0 + i * 1000,
            kind: "page_view".into(),
            url: format!("https://example.com/{i}"),
            title: format!("Page {i}"),
        };
        store
            .append_visitor_event(&event, Fence::UNCHECKED)
            .await
            .unwrap();
    }
    store
        .append_visitor_event(
            &VisitorEvent {
                visitor_id: other,
                at: T0 + 10_000,
                kind: "page_view".into(),
                url: "https://example.com/other".into(),
                title: "Other".into(),
            },
            Fence::UNCHECKED,
        )
        .await
        .unwrap();

    let events = store.visitor_events(v, 3).await.unwrap();
    let times: Vec<Millis> = events.iter().map(|e| e.at).collect();
    assert_eq!(times, vec![T0 + 4000, T0 + 3000, T0 + 2000]);
    assert!(events.iter().all(|e| e.visitor_id == v));
    assert_eq!(events[0].title, "Page 4");
    assert_eq!(store.visitor_events(v, 100).await.unwrap().len(), 5);
    assert!(store
        .visitor_events(VisitorId::new(), 10)
        .await
        .unwrap()
        .is_empty());
}

async fn conversations_by_status_and_moves(store: SharedStore) {
    let site_id = SiteId::new();
    let vis = VisitorId::new();
    let mut c1 = conversation(site_id, vis, T0);
    let mut c2 = conversation(site_id, vis, T0 + 1);
    let c3 = conversation(site_id, vis, T0 + 2);
    let elsewhere = conversation(SiteId::new(), vis, T0 + 3);
    for c in [&c1, &c2, &c3, &elsewhere] {
        store
            .create_conversation(c, Fence::UNCHECKED)
            .await
            .unwrap();
    }
    assert_eq!(
        store.get_conversation(c2.id).await.unwrap(),
        Some(c2.clone())
    );
    assert_eq!(
        store.get_conversation(ConversationId::new()).await.unwrap(),
        None
    );

    let open = |limit| store.conversations_by_status(site_id, ConversationStatus::Open, limit);
    assert_eq!(ids(&open(10).await.unwrap()), vec![c3.id, c2.id, c1.id]);
    assert_eq!(ids(&open(2).await.unwrap()), vec![c3.id, c2.id]);

    // New activity on c1 moves it to the top.
    let before = c1.clone();
    c1.last_activity_at = T0 + 100;
    c1.last_seq = 1;
    c1.assignee = Some(AgentId::new());
    store
        .update_conversation(&before, &c1, Fence::UNCHECKED)
        .await
        .unwrap();
    assert_eq!(ids(&open(10).await.unwrap()), vec![c1.id, c3.id, c2.id]);
    assert_eq!(
        store.get_conversation(c1.id).await.unwrap(),
        Some(c1.clone())
    );
    // The index carries the new row, not the old one.
    assert_eq!(open(1).await.unwrap()[0], c1);

    // Snoozing c2 moves it from open to snoozed.
    let before = c2.clone();
    c2.status = ConversationStatus::Snoozed;
    c2.snoozed_until = Some(T0 + 3_600_000);
    c2.last_activity_at = T0 + 200;
    store
        .update_conversation(&before, &c2, Fence::UNCHECKED)
        .await
        .unwrap();
    assert_eq!(ids(&open(10).await.unwrap()), vec![c1.id, c3.id]);
    let snoozed = store
        .conversations_by_status(site_id, ConversationStatus::Snoozed, 10)
        .await
        .unwrap();
    assert_eq!(snoozed, vec![c2.clone()]);

    // An update that changes nothing the index is keyed on keeps the entry.
    let before = c2.clone();
    c2.agent_read_seq = 1;
    store
        .update_conversation(&before, &c2, Fence::UNCHECKED)
        .await
        .unwrap();
    let snoozed = store
        .conversations_by_status(site_id, ConversationStatus::Snoozed, 10)
        .await
        .unwrap();
    assert_eq!(snoozed, vec![c2.clone()]);

    // Closing it.
    let before = c2.clone();
    c2.status = ConversationStatus::Closed;
    c2.snoozed_until = None;
    store
        .update_conversation(&before, &c2, Fence::UNCHECKED)
        .await
        .unwrap();
    assert!(store
        .conversations_by_status(site_id, ConversationStatus::Snoozed, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .conversations_by_status(site_id, ConversationStatus::Closed, 10)
            .await
            .unwrap(),
        vec![c2.clone()]
    );
}

async fn visitor_conversations_newest_first(store: SharedStore) {
    let site_id = SiteId::new();
    let vis = VisitorId::new();
    let mut cs: Vec<Conversation> = (0..4)
        .map(|i| conversation(site_id, vis, T0 + i * 1000))
        .collect();
    // Created out of order: the order comes from created_at, not from insertion.
    for c in [&cs[2], &cs[0], &cs[3], &cs[1]] {
        store
            .create_conversation(c, Fence::UNCHECKED)
            .await
            .unwrap();
    }
    store
        .create_conversation(
            &conversation(site_id, VisitorId::new(), T0 + 5000),
            Fence::UNCHECKED,
        )
        .await
        .unwrap();

    let listed = store.visitor_conversations(vis, 10).await.unwrap();
    assert_eq!(ids(&listed), vec![cs[3].id, cs[2].id, cs[1].id, cs[0].id]);
    assert_eq!(
        ids(&store.visitor_conversations(vis, 2).await.unwrap()),
        vec![cs[3].id, cs[2].id]
    );

    // The visitor's list shows a conversation's current state.
    let before = cs[0].clone();
    cs[0].status = ConversationStatus::Closed;
    store
        .update_conversation(&before, &cs[0], Fence::UNCHECKED)
        .await
        .unwrap();
    let listed = store.visitor_conversations(vis, 10).await.unwrap();
    assert_eq!(listed[3], cs[0]);
}

async fn messages_paging_across_buckets(store: SharedStore) {
    const N: Seq = 1100; // more than one 1024-message bucket
    let conv = ConversationId::new();
    let neighbour = ConversationId::new();
    append_range(&store, conv, N).await;
    append_range(&store, neighbour, 3).await;

    // Forward, page by page, from the start.
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = store.messages_after(conv, after, 100).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 100);
        after = page.last().unwrap().seq;
        all.extend(page);
    }
    assert_eq!(seqs(&all), (1..=N).collect::<Vec<_>>());
    assert_eq!(all[41], message(conv, 42));

    // Backward, page by page, from "the latest".
    let mut back = Vec::new();
    let mut before = Seq::MAX;
    loop {
        let page = store.messages_before(conv, before, 128).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.windows(2).all(|w| w[0].seq < w[1].seq), "ascending");
        before = page[0].seq;
        back.splice(0..0, page);
    }
    assert_eq!(seqs(&back), (1..=N).collect::<Vec<_>>());

    // Pages that straddle the bucket boundary (1023 | 1024).
    assert_eq!(
        seqs(&store.messages_after(conv, 1020, 10).await.unwrap()),
        (1021..=1030).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(&store.messages_before(conv, 1030, 10).await.unwrap()),
        (1020..=1029).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(&store.messages_after(conv, 1023, 1).await.unwrap()),
        vec![1024]
    );
    assert_eq!(
        seqs(&store.messages_before(conv, 1024, 1).await.unwrap()),
        vec![1023]
    );
    assert_eq!(
        seqs(&store.messages_before(conv, Seq::MAX, 3).await.unwrap()),
        vec![N - 2, N - 1, N]
    );
    // A page bigger than a bucket.
    assert_eq!(
        seqs(&store.messages_after(conv, 0, 2000).await.unwrap()),
        (1..=N).collect::<Vec<_>>()
    );

    // Edges.
    assert!(store.messages_after(conv, N, 10).await.unwrap().is_empty());
    assert!(store.messages_before(conv, 1, 10).await.unwrap().is_empty());
    assert!(store.messages_after(conv, 0, 0).await.unwrap().is_empty());
    assert!(store
        .messages_after(ConversationId::new(), 0, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        seqs(&store.messages_after(neighbour, 0, 10).await.unwrap()),
        vec![1, 2, 3]
    );
}

async fn messages_reappend_is_a_no_op(store: SharedStore) {
    let conv = ConversationId::new();
    append_range(&store, conv, 5).await;
    // A retry after a lost ack: the same message again, even twice at once.
    let again = message(conv, 3);
    store
        .append_message(&again, Fence::UNCHECKED)
        .await
        .unwrap();
    try_join_all((0..2).map(|_| store.append_message(&again, Fence::UNCHECKED)))
        .await
        .unwrap();
    let stored = store.messages_after(conv, 0, 100).await.unwrap();
    assert_eq!(seqs(&stored), vec![1, 2, 3, 4, 5]);
    assert_eq!(stored[2], again);

    // A message without a client id round-trips too.
    let bare = Message {
        client_msg_id: None,
        author: Author::Bot,
        ..message(conv, 6)
    };
    store.append_message(&bare, Fence::UNCHECKED).await.unwrap();
    store.append_message(&bare, Fence::UNCHECKED).await.unwrap();
    assert_eq!(store.messages_after(conv, 5, 10).await.unwrap(), vec![bare]);
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        /// Every contract function, in order, against one store (used for ScyllaDB, where one
        /// session and keyspace serve the whole run).
        async fn run_all(store: SharedStore) {
            $(
                println!("contract: {}", stringify!($name));
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

/// A client id is found at its seq however old, only in its own conversation.
async fn messages_found_by_client_id(store: SharedStore) {
    let conv = ConversationId::new();
    append_range(&store, conv, 1030).await; // past a 1024-message bucket
    for seq in [1, 2, 1024, 1030] {
        let found = store
            .seq_of_client_msg(conv, &format!("c-{seq}"))
            .await
            .unwrap();
        assert_eq!(found, Some(seq));
    }
    assert_eq!(store.seq_of_client_msg(conv, "c-9999").await.unwrap(), None);
    assert_eq!(
        store
            .seq_of_client_msg(ConversationId::new(), "c-1")
            .await
            .unwrap(),
        None,
        "ids are per conversation"
    );
    // A message stored without a client id is not found by an empty one.
    let bare = Message {
        client_msg_id: None,
        ..message(conv, 1031)
    };
    store.append_message(&bare, Fence::UNCHECKED).await.unwrap();
    assert_eq!(store.seq_of_client_msg(conv, "").await.unwrap(), None);
}

contract!(
    secrets_first_writer_wins,
    sites_round_trip_and_key_conflict,
    agents_round_trip_and_email_conflict,
    visitors_round_trip_and_user_id,
    visitor_events_newest_first,
    conversations_by_status_and_moves,
    visitor_conversations_newest_first,
    messages_paging_across_buckets,
    messages_reappend_is_a_no_op,
    messages_found_by_client_id,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scylla_contract() {
    if let Some(run) = scylla_store("contract").await {
        run_all(run.store).await;
    }
}

// --- SQLite-only guarantees ---

/// A seq holding a different message, or a client id reused at another seq, is a conflict
/// (ScyllaDB cannot see either without a read or LWT on the message path).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_message_conflicts() {
    let (_dir, store) = sqlite_store().await;
    let conv = ConversationId::new();
    store
        .append_message(&message(conv, 1), Fence::UNCHECKED)
        .await
        .unwrap();

    let other_body = Message {
        body: "something else".into(),
        ..message(conv, 1)
    };
    assert!(matches!(
        store.append_message(&other_body, Fence::UNCHECKED).await,
        Err(StoreError::Conflict(_))
    ));
    let reused_client_id = Message {
        client_msg_id: Some("c-1".into()),
        ..message(conv, 2)
    };
    assert!(matches!(
        store
            .append_message(&reused_client_id, Fence::UNCHECKED)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.messages_after(conv, 0, 10).await.unwrap(),
        vec![message(conv, 1)]
    );
}

/// In one group commit, a failing write fails alone: the writes around it commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_failed_write_fails_alone_in_its_batch() {
    let (_dir, store) = sqlite_store().await;
    let conv = ConversationId::new();
    store
        .append_message(&message(conv, 1), Fence::UNCHECKED)
        .await
        .unwrap();
    let writes = (2..=40).map(|seq: Seq| {
        let store = store.clone();
        async move {
            // Every 10th write collides with seq 1's client id.
            let m = if seq.is_multiple_of(10) {
                Message {
                    client_msg_id: Some("c-1".into()),
                    ..message(conv, seq)
                }
            } else {
                message(conv, seq)
            };
            (seq, store.append_message(&m, Fence::UNCHECKED).await)
        }
    });
    for (seq, result) in futures_util::future::join_all(writes).await {
        if seq.is_multiple_of(10) {
            assert!(matches!(result, Err(StoreError::Conflict(_))), "{seq}");
        } else {
            result.unwrap();
        }
    }
    let expected: Vec<Seq> = (1..=40u64).filter(|s| !s.is_multiple_of(10)).collect();
    assert_eq!(
        seqs(&store.messages_after(conv, 0, 100).await.unwrap()),
        expected
    );
}

/// Reopening a file keeps its data and does not re-run migrations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reopen_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.db");
    let conv = ConversationId::new();
    {
        let store = SqliteStore::open(SqliteOptions::new(&path)).await.unwrap();
        store
            .append_message(&message(conv, 1), Fence::UNCHECKED)
            .await
            .unwrap();
    }
    let store = SqliteStore::open(SqliteOptions::new(&path)).await.unwrap();
    // Each migration once, in order, up to this build's version (numbers may skip: parallel
    // branches reserve theirs).
    let applied = store.applied_migrations().await.unwrap();
    assert!(applied.windows(2).all(|w| w[0] < w[1]), "{applied:?}");
    assert_eq!(applied.first(), Some(&1));
    assert_eq!(
        store.applied_migrations().await.unwrap(),
        switchboard::store::sqlite::migration_versions()
    );
    assert_eq!(
        store.messages_after(conv, 0, 10).await.unwrap(),
        vec![message(conv, 1)]
    );
}

/// A file made at an intermediate commit of parallel branches (it has 1, 2, 3 and 5, not 4)
/// gets every migration it lacks, the lower 4 included, in order, and keeps its data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_applies_each_missing_migration_below_the_highest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )
        .unwrap();
        let made: [(u32, &str); 4] = [
            (1, include_str!("../schema/sqlite/0001_init.sql")),
            (2, include_str!("../schema/sqlite/0002_cluster.sql")),
            (3, include_str!("../schema/sqlite/0003_message_epoch.sql")),
            (5, include_str!("../schema/sqlite/0005_web.sql")),
        ];
        for (version, sql) in made {
            conn.execute_batch(sql).unwrap();
            conn.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?1, 0)",
                [version],
            )
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO messages (conversation_id, seq, client_msg_id, author, body, at, epoch)
             VALUES ('00000000-0000-0000-0000-000000000001', 1, NULL, '\"visitor\"', 'kept', 1, 0)",
        )
        .unwrap();
    }
    let store = SqliteStore::open(SqliteOptions::new(&path)).await.unwrap();
    assert_eq!(
        store.applied_migrations().await.unwrap(),
        switchboard::store::sqlite::migration_versions()
    );
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    // When each version landed: 4, 6, 7 and 8 now (after 5), the others when the file was made.
    let late: Vec<u32> = conn
        .prepare("SELECT version FROM schema_version WHERE applied_at > 0 ORDER BY version")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(late, vec![4, 6, 7, 8]);
    // 4's column and tables, 6's and 7's tables, next to 5's, and the old row is still there.
    let extra: Option<String> = conn
        .query_row("SELECT extra FROM messages WHERE body = 'kept'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(extra, None);
    for table in [
        "csat",
        "mail_outbox",
        "webhook_events",
        "analytics_counters",
        "agent_avatars",
        "search_indexed",
    ] {
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "table {table}");
    }
}

/// `Synchronous::Normal` and a tiny batch limit open and write like the defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_normal_sync_and_small_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = SqliteOptions::new(dir.path().join("switchboard.db"));
    opts.synchronous = switchboard::store::sqlite::Synchronous::Normal;
    opts.max_batch = 2;
    opts.readers = 1;
    let store: SharedStore = Arc::new(SqliteStore::open(opts).await.unwrap());
    let conv = ConversationId::new();
    append_range(&store, conv, 50).await;
    assert_eq!(
        seqs(&store.messages_before(conv, Seq::MAX, 100).await.unwrap()),
        (1..=50).collect::<Vec<_>>()
    );
}
