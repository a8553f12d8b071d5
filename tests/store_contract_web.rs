//! The store contract of issue 12's additions, run against SQLite (always) and ScyllaDB (when
//! `SCYLLA_URI` is set): the new fields of conversations, agents and visitors round-trip;
//! agents' pictures; conversation search by visitor name, email, message text, tag and status,
//! never across sites; the site's tags. Every function uses fresh ids, so they share a database.

mod contract_stores;

use contract_stores::scylla_store;
use std::sync::Arc;

use switchboard::clock::Millis;
use switchboard::domain::{
    Agent, AgentId, Author, ClientSummary, Conversation, ConversationId, ConversationStatus,
    Message, Role, SiteId, Visitor, VisitorId,
};
use switchboard::store::sqlite::{SqliteOptions, SqliteStore};
use switchboard::store::{Avatar, ConversationQuery, Fence, SharedStore};

const T0: Millis = 1_700_000_000_000;
const F: Fence = Fence::UNCHECKED;

fn visitor(site_id: SiteId, name: &str, email: &str) -> Visitor {
    Visitor {
        id: VisitorId::new(),
        site_id,
        user_id: None,
        name: Some(name.into()),
        email: Some(email.into()),
        created_at: T0,
        last_seen_at: T0,
        client: None,
    }
}

fn said(conversation_id: ConversationId, seq: u64, author: Author, body: &str) -> Message {
    Message {
        conversation_id,
        seq,
        client_msg_id: None,
        author,
        body: body.into(),
        at: T0 + seq as Millis,
        extra: Default::default(),
    }
}

async fn new_fields_round_trip(store: SharedStore) {
    let site = SiteId::new();
    let mut v = visitor(site, "Vera", "vera@example.com");
    v.client = Some(ClientSummary {
        browser: Some("Firefox 127".into()),
        device: Some("desktop".into()),
        location: Some("Madrid".into()),
        ..ClientSummary::default()
    });
    store.put_visitor(&v, F).await.unwrap();
    assert_eq!(store.get_visitor(v.id).await.unwrap(), Some(v.clone()));

    let mut c = Conversation::new(site, v.id, T0);
    c.lang = Some("es".into());
    store.create_conversation(&c, F).await.unwrap();
    let before = c.clone();
    c.agent_unread = 2;
    c.tags = vec!["refund".into(), "vip".into()];
    c.last_activity_at = T0 + 5;
    store.update_conversation(&before, &c, F).await.unwrap();
    assert_eq!(store.get_conversation(c.id).await.unwrap(), Some(c.clone()));
    let listed = store
        .conversations_by_status(site, ConversationStatus::Open, 10)
        .await
        .unwrap();
    assert_eq!(listed, vec![c.clone()]);
    assert_eq!(
        store.visitor_conversations(v.id, 10).await.unwrap(),
        vec![c]
    );

    let mut a = Agent {
        id: AgentId::new(),
        site_id: site,
        email: format!("{}@contract.test", uuid::Uuid::now_v7().simple()),
        name: "Ana".into(),
        password_hash: String::new(),
        role: Role::Agent,
        capacity: 3,
        active: false,
        avatar_version: 42,
    };
    store.put_agent(&a).await.unwrap();
    let got = store.get_agent(a.id).await.unwrap().unwrap();
    assert!(!got.active);
    assert_eq!(got.avatar_version, 42);
    a.active = true;
    store.put_agent(&a).await.unwrap();
    assert!(store.list_agents(site).await.unwrap()[0].active);
}

async fn avatars_put_get_delete(store: SharedStore) {
    let agent = AgentId::new();
    assert_eq!(store.get_avatar(agent).await.unwrap(), None);
    let first = Avatar {
        content_type: "image/png".into(),
        bytes: vec![0x89, b'P', b'N', b'G', 1, 2, 3],
        updated_at: T0,
    };
    store.put_avatar(agent, &first).await.unwrap();
    assert_eq!(store.get_avatar(agent).await.unwrap(), Some(first));
    let second = Avatar {
        content_type: "image/webp".into(),
        bytes: vec![9; 1000],
        updated_at: T0 + 1,
    };
    store.put_avatar(agent, &second).await.unwrap();
    assert_eq!(store.get_avatar(agent).await.unwrap(), Some(second));
    store.delete_avatar(agent).await.unwrap();
    store.delete_avatar(agent).await.unwrap();
    assert_eq!(store.get_avatar(agent).await.unwrap(), None);
}

async fn search_finds_by_visitor_text_tag_and_status(store: SharedStore) {
    let site = SiteId::new();
    let grace = visitor(site, "Grace Hopper", "grace@navy.example");
    let ada = visitor(site, "Ada", "ada@example.com");
    for v in [&grace, &ada] {
        store.put_visitor(v, F).await.unwrap();
    }
    let c1 = Conversation::new(site, grace.id, T0);
    let mut c2 = Conversation::new(site, ada.id, T0 + 10);
    store.create_conversation(&c1, F).await.unwrap();
    store.create_conversation(&c2, F).await.unwrap();
    let ada_said = Author::Visitor { id: ada.id };
    for m in [
        said(c1.id, 1, Author::Bot, "Welcome, how can we help?"),
        said(
            c1.id,
            2,
            Author::Visitor { id: grace.id },
            "Do you sell grinders?",
        ),
        said(c2.id, 1, Author::Bot, "Welcome, how can we help?"),
        said(c2.id, 2, ada_said, "Decaf envío a Canarias"),
    ] {
        store.append_message(&m, F).await.unwrap();
    }
    let before = c2.clone();
    c2.tags = vec!["shipping".into()];
    c2.status = ConversationStatus::Closed;
    store.update_conversation(&before, &c2, F).await.unwrap();
    // Another site with the same words.
    let other = SiteId::new();
    let stranger = visitor(other, "Grace Hopper", "grace@navy.example");
    store.put_visitor(&stranger, F).await.unwrap();
    let c3 = Conversation::new(other, stranger.id, T0);
    store.create_conversation(&c3, F).await.unwrap();
    store
        .append_message(
            &said(c3.id, 1, Author::Visitor { id: stranger.id }, "grinders"),
            F,
        )
        .await
        .unwrap();

    let find = |text: Option<&str>, tag: Option<&str>, status: Option<ConversationStatus>| {
        let store = store.clone();
        let query = ConversationQuery {
            text: text.map(str::to_owned),
            tag: tag.map(str::to_owned),
            status,
            limit: 10,
        };
        async move {
            store
                .search_conversations(site, &query)
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(find(Some("hopper"), None, None).await, vec![c1.id]);
    assert_eq!(find(Some("navy.example"), None, None).await, vec![c1.id]);
    assert_eq!(
        find(Some("grinder"), None, None).await,
        vec![c1.id],
        "a word's prefix"
    );
    assert_eq!(find(Some("decaf canarias"), None, None).await, vec![c2.id]);
    assert!(
        find(Some("welcome"), None, None).await.is_empty(),
        "automatic texts are not searched"
    );
    assert_eq!(find(None, Some("shipping"), None).await, vec![c2.id]);
    assert!(find(Some("decaf"), None, Some(ConversationStatus::Open))
        .await
        .is_empty());
    assert_eq!(
        find(None, None, None).await,
        vec![c2.id, c1.id],
        "newest activity first"
    );
    assert!(find(Some("nothing here"), None, None).await.is_empty());
}

async fn site_tags_are_kept_once_and_sorted(store: SharedStore) {
    let site = SiteId::new();
    assert!(store.site_tags(site).await.unwrap().is_empty());
    store
        .remember_tags(site, &["vip".into(), "refund".into()])
        .await
        .unwrap();
    store.remember_tags(site, &["refund".into()]).await.unwrap();
    assert_eq!(store.site_tags(site).await.unwrap(), vec!["refund", "vip"]);
    assert!(store.site_tags(SiteId::new()).await.unwrap().is_empty());
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
                    let dir = tempfile::tempdir().expect("temp dir");
                    let store = super::SqliteStore::open(super::SqliteOptions::new(dir.path().join("switchboard.db")))
                        .await
                        .expect("open sqlite");
                    super::$name(super::Arc::new(store)).await;
                }
            )*
        }
    };
}

contract!(
    new_fields_round_trip,
    avatars_put_get_delete,
    search_finds_by_visitor_text_tag_and_status,
    site_tags_are_kept_once_and_sorted,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scylla_contract() {
    if let Some(run) = scylla_store("web contract").await {
        run_all(run.store).await;
    }
}

/// A fresh SQLite file holding one visitor's conversation; the path is for looking at the
/// tables directly, the guard keeps the directory alive.
struct OneConversation {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    store: SharedStore,
    site: SiteId,
    v: Visitor,
    c: Conversation,
}

async fn sqlite_with_one_conversation(name: &str, email: &str) -> OneConversation {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("switchboard.db");
    let store: SharedStore = Arc::new(SqliteStore::open(SqliteOptions::new(&path)).await.unwrap());
    let site = SiteId::new();
    let v = visitor(site, name, email);
    store.put_visitor(&v, F).await.unwrap();
    let c = Conversation::new(site, v.id, T0);
    store.create_conversation(&c, F).await.unwrap();
    OneConversation {
        _dir: dir,
        path,
        store,
        site,
        v,
        c,
    }
}

/// SQLite: a message deleted (retention, erasure) leaves the search index with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_search_index_follows_deleted_messages() {
    let OneConversation {
        _dir,
        path,
        store,
        site,
        v,
        c,
    } = sqlite_with_one_conversation("Vera", "vera@example.com").await;
    store
        .append_message(
            &said(c.id, 1, Author::Visitor { id: v.id }, "unforgettable"),
            F,
        )
        .await
        .unwrap();
    let query = ConversationQuery {
        text: Some("unforgettable".into()),
        limit: 10,
        ..ConversationQuery::default()
    };
    assert_eq!(
        store
            .search_conversations(site, &query)
            .await
            .unwrap()
            .len(),
        1
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "DELETE FROM messages WHERE conversation_id = ?1",
        [c.id.to_string()],
    )
    .unwrap();
    let left: i64 = conn
        .query_row("SELECT COUNT(*) FROM message_search_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
    assert!(store
        .search_conversations(site, &query)
        .await
        .unwrap()
        .is_empty());
}

/// SQLite: the search index is filled in steps of the writer, not in each message's commit; a
/// search catches it up first, and a message deleted before its step never reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_search_index_fills_in_steps_and_searches_catch_it_up() {
    let OneConversation {
        _dir,
        path,
        store,
        site,
        v,
        c,
    } = sqlite_with_one_conversation("Ines", "ines@example.com").await;
    let me = Author::Visitor { id: v.id };
    // One commit each: 600 waiting keys make at least two steps due along the way.
    for seq in 1..=600 {
        let text = format!("message number w{seq}");
        store
            .append_message(&said(c.id, seq, me.clone(), &text), F)
            .await
            .unwrap();
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let marks = |conn: &rusqlite::Connection| -> (i64, i64) {
        conn.query_row(
            "SELECT (SELECT upto FROM search_indexed), (SELECT MAX(id) FROM message_search_keys)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    let (upto, newest) = marks(&conn);
    assert_eq!(newest, 600);
    assert!(
        upto >= 512,
        "steps ran while the messages arrived (indexed up to {upto})"
    );

    // Appended last, deleted before any step: its key goes with it, the index never sees it.
    store
        .append_message(&said(c.id, 601, me.clone(), "ephemeral"), F)
        .await
        .unwrap();
    conn.execute(
        "DELETE FROM messages WHERE conversation_id = ?1 AND seq = 601",
        [c.id.to_string()],
    )
    .unwrap();

    let find = |text: &str| {
        let store = store.clone();
        let query = ConversationQuery {
            text: Some(text.into()),
            limit: 10,
            ..ConversationQuery::default()
        };
        async move {
            store
                .search_conversations(site, &query)
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(
        find("w600").await,
        1,
        "the newest message is searchable at once"
    );
    assert_eq!(find("w1").await, 1, "and the first");
    assert_eq!(find("ephemeral").await, 0);
    let (upto, newest) = marks(&conn);
    assert_eq!(upto, 600, "the search caught the index up");
    assert_eq!(newest, 600);
    let indexed: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH 'number'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexed, 600, "every message once");
}
