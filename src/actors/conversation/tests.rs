//! Supervision of a conversation actor, end to end through the registry and a real SQLite file.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use super::{ConversationActor, Post, Snapshot};
use crate::actors::{Caller, Hub};
use crate::auth::Tokens;
use crate::clock::{wall_micros, SystemClock};
use crate::cluster::{NodeId, Notice, Registry, ShardMap};
use crate::config::Config;
use crate::domain::{Conversation, ConversationId, SiteId, VisitorId};
use crate::metrics;
use crate::protocol::PostResult;
use crate::store::sqlite::{SqliteOptions, SqliteStore};

/// Make the actor panic inside a handler, as a bug would.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Crash;

impl actix::Message for Crash {
    type Result = ();
}

impl Notice for Crash {
    const NAME: &'static str = "Crash";
}

impl Handler<Crash> for ConversationActor {
    type Result = ();
    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("injected crash in conversation {}", self.id);
    }
}

/// A handler that panics kills the actor; the registry's next lookup starts a new one that
/// reloads its state from the store, and the restart is counted.
#[actix::test]
async fn a_crashed_conversation_restarts_with_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let store: crate::store::SharedStore = Arc::new(
        SqliteStore::open(SqliteOptions::new(dir.path().join("t.db")))
            .await
            .unwrap(),
    );
    let arbiter = actix::Arbiter::new();
    let registry = Registry::new(
        ShardMap::single(NodeId("t".into()), 4),
        vec![arbiter.handle()],
    );
    let hub = Hub::new(
        Arc::new(Config::default()),
        store.clone(),
        Arc::new(SystemClock),
        Tokens::new(vec![1]),
        registry,
    );
    let visitor = VisitorId::new();
    let conv = Conversation::new(SiteId::new(), visitor, hub.now());
    store
        .create_conversation(&conv, crate::cluster::Fence::UNCHECKED)
        .await
        .unwrap();

    let post = |n: u32| Post {
        caller: Caller::Visitor(visitor),
        client_msg_id: format!("m{n}"),
        body: format!("message {n}"),
        received_at: wall_micros(),
        private: false,
        attachments: Vec::new(),
    };
    let conversation = hub.conversation(conv.id);
    for n in 1..=3 {
        assert_eq!(conversation.ask(post(n)).await.unwrap().seq, n as u64);
    }
    let restarts = metrics::ACTOR_RESTARTS
        .with_label_values(&["conversation"])
        .get();
    conversation.tell(Crash);
    // The task is dropped once the handler panics; give it a moment.
    for _ in 0..200 {
        if !conversation.is_running() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!conversation.is_running(), "the panic ended the actor");
    // The arbiter itself survived: another actor on it still answers.
    let other = hub.conversation(ConversationId::new());
    assert!(
        other.ask(Snapshot { caller: None }).await.is_err(),
        "unknown id: not_found"
    );
    assert!(other.is_running());

    // The next ask restarts it (counted) with its state reloaded: the sequence continues and a
    // retried client id is still known.
    assert_eq!(
        conversation.ask(post(4)).await.unwrap(),
        PostResult {
            seq: 4,
            duplicate: false
        }
    );
    assert_eq!(
        metrics::ACTOR_RESTARTS
            .with_label_values(&["conversation"])
            .get(),
        restarts + 1
    );
    assert_eq!(
        conversation.ask(post(2)).await.unwrap(),
        PostResult {
            seq: 2,
            duplicate: true
        }
    );
    arbiter.stop();
}
