//! The store contract for bots and agent tools (issue 11): help-centre articles, a site's bot
//! configuration (the LLM key kept apart), a conversation's bot state (fenced), canned replies,
//! CSAT ratings, attachment references, message extras and the mail outbox (the semantics of
//! `mail::MemoryOutbox`: one entry per key, one claim at a time, a lapsed claim never resent).
//! Written once against `SharedStore`, run against SQLite (always, one temp file per function)
//! and ScyllaDB (when `SCYLLA_URI` is set, in a fresh keyspace; not run where this was written).

mod contract_stores;

use contract_stores::{scylla_store, sqlite_store};

use switchboard::assist::model::{BotConfig, CannedId, CannedReply, ConversationAssist, Csat};
use switchboard::blobs::{AttachmentRef, BlobId, BlobMeta};
use switchboard::bot::{Article, ArticleId, BotMode, HandoffReason, Language, Owner, QuickAction};
use switchboard::clock::Millis;
use switchboard::cluster::{Fence, Holder, NodeId, ShardId, TakeOutcome, TakeShard};
use switchboard::domain::{
    Attachment, Author, ConversationId, ExtraFields, Message, SiteId, VisitorId,
};
use switchboard::mail::outbox::{Attempt, OutboxState};
use switchboard::mail::OutgoingEmail;
use switchboard::store::{SharedStore, StoreError};

const T0: Millis = 1_700_000_000_000;

fn article(site: SiteId, title: &str) -> Article {
    Article {
        id: ArticleId::new(),
        site_id: site,
        title: title.into(),
        body: format!("All about {title}.\n\nA second paragraph."),
        url: format!("/help/{title}"),
        language: Language::Es,
        updated_at: T0,
    }
}

async fn articles_round_trip_replace_and_delete(store: SharedStore) {
    let (site, other) = (SiteId::new(), SiteId::new());
    let a = article(site, "envios");
    let b = article(site, "pagos");
    store.put_article(&a).await.unwrap();
    store.put_article(&b).await.unwrap();
    store.put_article(&article(other, "otro")).await.unwrap();
    assert_eq!(
        store.get_article(site, a.id).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.get_article(other, a.id).await.unwrap(),
        None,
        "per site"
    );
    let mut ids: Vec<ArticleId> = vec![a.id, b.id];
    ids.sort();
    let listed: Vec<ArticleId> = store
        .list_articles(site)
        .await
        .unwrap()
        .iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(listed, ids, "a site's articles, by id");
    let edited = Article {
        title: "Envíos y plazos".into(),
        updated_at: T0 + 5,
        ..a.clone()
    };
    store.put_article(&edited).await.unwrap();
    assert_eq!(store.get_article(site, a.id).await.unwrap(), Some(edited));
    assert!(store.delete_article(site, a.id).await.unwrap());
    assert!(!store.delete_article(site, a.id).await.unwrap());
    assert_eq!(store.list_articles(site).await.unwrap(), vec![b]);
}

async fn bot_config_keeps_its_key_apart(store: SharedStore) {
    let site = SiteId::new();
    assert_eq!(store.get_bot_config(site).await.unwrap(), None);
    let mut config = BotConfig::default();
    config.bot.mode = BotMode::WhenUnavailable;
    config.bot.min_score = 0.42;
    config.llm.enabled = true;
    config.llm.model = "qwen2.5:3b".into();
    config.llm.api_key = Some("sk-contract".into());
    store.put_bot_config(site, &config).await.unwrap();
    assert_eq!(
        store.get_bot_config(site).await.unwrap(),
        Some(config.clone())
    );
    config.llm.api_key = None;
    store.put_bot_config(site, &config).await.unwrap();
    assert_eq!(store.get_bot_config(site).await.unwrap(), Some(config));
}

async fn take(store: &SharedStore, shard: ShardId, node: &str, expected: u64, now: Millis) -> u64 {
    let taker = Holder {
        node: NodeId(format!("{node}-{}", uuid::Uuid::now_v7().simple())),
        incarnation: 1,
    };
    let outcome = store
        .take_shard(&TakeShard {
            shard,
            taker,
            expected_epoch: expected,
            now,
            lease_until: now + 6_000,
        })
        .await
        .unwrap();
    match outcome {
        TakeOutcome::Taken { epoch, .. } => epoch,
        TakeOutcome::Refused(row) => panic!("take refused: {row:?}"),
    }
}

async fn conversation_assist_round_trip_and_fenced(store: SharedStore) {
    const SHARD: ShardId = 211;
    let id = ConversationId::new();
    assert_eq!(store.get_conversation_assist(id).await.unwrap(), None);
    let mut state = ConversationAssist::without_bot();
    state.ownership.owner = Owner::Bot;
    state.bot.bot_turns = 2;
    state.bot_seen = true;
    store
        .put_conversation_assist(id, &state, Fence::UNCHECKED)
        .await
        .unwrap();
    assert_eq!(
        store.get_conversation_assist(id).await.unwrap(),
        Some(state.clone())
    );

    let old = Fence::new(SHARD, take(&store, SHARD, "a", 0, T0).await);
    state.ownership.hand_off(HandoffReason::Asked, T0);
    store
        .put_conversation_assist(id, &state, old)
        .await
        .unwrap();
    let new = Fence::new(SHARD, take(&store, SHARD, "b", old.epoch, T0 + 6_000).await);
    let stale = store.put_conversation_assist(id, &state, old).await;
    assert!(matches!(stale, Err(StoreError::Fenced { .. })), "{stale:?}");
    state.reply_noticed = Some(7);
    store
        .put_conversation_assist(id, &state, new)
        .await
        .unwrap();
    let back = store.get_conversation_assist(id).await.unwrap().unwrap();
    assert_eq!(back.ownership.handoffs[0].reason, HandoffReason::Asked);
    assert_eq!(back.reply_noticed, Some(7));
}

async fn canned_replies_by_site(store: SharedStore) {
    let (site, other) = (SiteId::new(), SiteId::new());
    let reply = |site, shortcut: &str| CannedReply {
        id: CannedId::new(),
        site_id: site,
        shortcut: shortcut.into(),
        body: format!("the {shortcut} answer"),
        updated_at: T0,
    };
    let (z, a) = (reply(site, "zebra"), reply(site, "apple"));
    store.put_canned(&z).await.unwrap();
    store.put_canned(&a).await.unwrap();
    store.put_canned(&reply(other, "other")).await.unwrap();
    assert_eq!(
        store.list_canned(site).await.unwrap(),
        vec![a.clone(), z.clone()]
    );
    let edited = CannedReply {
        body: "changed".into(),
        ..z.clone()
    };
    store.put_canned(&edited).await.unwrap();
    assert!(store.delete_canned(site, a.id).await.unwrap());
    assert!(!store.delete_canned(site, a.id).await.unwrap());
    assert!(!store.delete_canned(other, z.id).await.unwrap(), "per site");
    assert_eq!(store.list_canned(site).await.unwrap(), vec![edited]);
}

async fn csat_replaces_and_lists_newest_first(store: SharedStore) {
    let site = SiteId::new();
    let rate = |conv, rating, at| Csat {
        conversation_id: conv,
        site_id: site,
        visitor_id: VisitorId::new(),
        rating,
        comment: format!("{rating} stars"),
        at,
    };
    let (c1, c2) = (ConversationId::new(), ConversationId::new());
    store
        .put_csat(&rate(c1, 2, T0), Fence::UNCHECKED)
        .await
        .unwrap();
    store
        .put_csat(&rate(c2, 5, T0 + 10), Fence::UNCHECKED)
        .await
        .unwrap();
    let again = Csat {
        rating: 4,
        at: T0 + 20,
        ..rate(c1, 4, T0 + 20)
    };
    store.put_csat(&again, Fence::UNCHECKED).await.unwrap();
    assert_eq!(store.get_csat(c1).await.unwrap().unwrap().rating, 4);
    let listed = store.site_csat(site, 10).await.unwrap();
    let order: Vec<(ConversationId, u8)> = listed
        .iter()
        .map(|c| (c.conversation_id, c.rating))
        .collect();
    assert_eq!(
        order,
        vec![(c1, 4), (c2, 5)],
        "one per conversation, newest first"
    );
    assert_eq!(store.site_csat(site, 1).await.unwrap().len(), 1);
    assert_eq!(store.get_csat(ConversationId::new()).await.unwrap(), None);
}

async fn attachments_and_message_extras_round_trip(store: SharedStore) {
    let blob = BlobId::new();
    let reference = AttachmentRef {
        blob,
        conversation_id: ConversationId::new(),
        site_id: SiteId::new(),
        visitor_id: VisitorId::new(),
    };
    let meta = BlobMeta {
        id: blob,
        content_type: "image/png".into(),
        size: 68,
        sha256: "ab".repeat(32),
        filename: "foto año.png".into(),
        created_at: T0,
    };
    store.put_attachment(&reference, &meta).await.unwrap();
    assert_eq!(
        store.get_attachment(blob).await.unwrap(),
        Some((reference.clone(), meta.clone()))
    );
    assert_eq!(store.get_attachment(BlobId::new()).await.unwrap(), None);

    let message = Message {
        conversation_id: reference.conversation_id,
        seq: 1,
        client_msg_id: Some("x-1".into()),
        author: Author::Bot,
        body: "See the photo".into(),
        at: T0,
        extra: ExtraFields {
            private: true,
            actions: vec![QuickAction::Helpful],
            handoff: Some(HandoffReason::LowConfidence),
            attachments: vec![Attachment::from(&meta)],
            ..ExtraFields::default()
        }
        .into(),
    };
    store
        .append_message(&message, Fence::UNCHECKED)
        .await
        .unwrap();
    store
        .append_message(&message, Fence::UNCHECKED)
        .await
        .unwrap();
    let back = store
        .messages_after(reference.conversation_id, 0, 10)
        .await
        .unwrap();
    assert_eq!(back, vec![message]);
}

fn email(key: &str) -> OutgoingEmail {
    OutgoingEmail {
        key: format!("{key}-{}", uuid::Uuid::now_v7().simple()),
        to: "v@example.com".into(),
        subject: "s".into(),
        text: "t".into(),
        html: "h".into(),
        created_at: T0,
    }
}

async fn outbox_sends_each_key_once(store: SharedStore) {
    // Claims take any due entry: only this function's entries are asserted on.
    let now = T0;
    let e = email("k");
    let key = e.key.clone();
    assert!(store.mail_outbox_enqueue(&e, now).await.unwrap());
    assert!(
        !store.mail_outbox_enqueue(&e, now + 1).await.unwrap(),
        "one entry per key"
    );
    let mine = |v: Vec<switchboard::mail::outbox::OutboxEntry>| -> Vec<_> {
        v.into_iter().filter(|x| x.email.key == key).collect()
    };
    let claimed = mine(store.mail_outbox_claim_due(now, 1_000, 100).await.unwrap());
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 1);
    assert!(
        mine(
            store
                .mail_outbox_claim_due(now + 10, 1_000, 100)
                .await
                .unwrap()
        )
        .is_empty(),
        "claimed once"
    );
    let retry = Attempt::RetryAt {
        next_at: now + 500,
        error: "451".into(),
    };
    store
        .mail_outbox_record(&key, &retry, now + 20)
        .await
        .unwrap();
    assert!(
        store
            .mail_outbox_record(&key, &Attempt::Sent, now + 21)
            .await
            .is_err(),
        "not claimed"
    );
    assert!(mine(
        store
            .mail_outbox_claim_due(now + 499, 1_000, 100)
            .await
            .unwrap()
    )
    .is_empty());
    let again = mine(
        store
            .mail_outbox_claim_due(now + 500, 1_000, 100)
            .await
            .unwrap(),
    );
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].last_error.as_deref(), Some("451"));
    store
        .mail_outbox_record(&key, &Attempt::Sent, now + 600)
        .await
        .unwrap();
    let entry = store.mail_outbox_get(&key).await.unwrap().unwrap();
    assert_eq!(entry.state, OutboxState::Sent { at: now + 600 });
    assert!(
        !store.mail_outbox_enqueue(&e, now + 700).await.unwrap(),
        "sent stays sent"
    );
    assert!(mine(
        store
            .mail_outbox_claim_due(now + 10_000, 1_000, 100)
            .await
            .unwrap()
    )
    .is_empty());

    // A sender that stops mid-attempt: its lease runs out and the entry is uncertain, not resent.
    let lost = email("lost");
    store.mail_outbox_enqueue(&lost, now).await.unwrap();
    let claimed = store.mail_outbox_claim_due(now, 1_000, 100).await.unwrap();
    assert!(claimed.iter().any(|x| x.email.key == lost.key));
    store
        .mail_outbox_claim_due(now + 1_000, 1_000, 100)
        .await
        .unwrap();
    let entry = store.mail_outbox_get(&lost.key).await.unwrap().unwrap();
    assert!(
        matches!(entry.state, OutboxState::Uncertain { .. }),
        "{entry:?}"
    );
    assert_eq!(store.mail_outbox_get("no such key").await.unwrap(), None);
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        async fn run_all(store: SharedStore) {
            $(
                println!("assist contract: {}", stringify!($name));
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
    articles_round_trip_replace_and_delete,
    bot_config_keeps_its_key_apart,
    conversation_assist_round_trip_and_fenced,
    canned_replies_by_site,
    csat_replaces_and_lists_newest_first,
    attachments_and_message_extras_round_trip,
    outbox_sends_each_key_once,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scylla_assist_contract() {
    if let Some(run) = scylla_store("assist contract").await {
        run_all(run.store).await;
    }
}
