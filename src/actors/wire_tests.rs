//! Every entity message is plain data: it survives a serde round trip unchanged (the form it
//! will take on a node link). The list of messages is read from the `requests!`/`notices!`
//! declarations, so a new message without a round trip here fails the test.

use std::collections::BTreeSet;
use std::fmt::Debug;

use bytestring::ByteString;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::caller::Caller;
use super::{agent, conversation, router, visitor};
use crate::cluster::{NodeId, SubscriberId};
use crate::domain::{AgentId, Conversation, ConversationId, Presence, SiteId, VisitorId};

/// Round-trip `value` through JSON and through the node links' encoding (MessagePack with
/// named fields), and return its type's short name.
fn round_trip<T>(value: T) -> String
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let text = serde_json::to_string(&value).expect("serialises");
    let back: T = serde_json::from_str(&text).expect("deserialises");
    assert_eq!(back, value, "changed by a round trip through {text}");
    let bytes = crate::cluster::link::encode(&value).expect("encodes for a link");
    let back: T = crate::cluster::link::decode(&bytes).expect("decodes from a link");
    assert_eq!(back, value, "changed by a round trip over a node link");
    let name = std::any::type_name::<T>();
    name.rsplit("::").next().unwrap_or(name).to_owned()
}

fn declared() -> BTreeSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/actors");
    let mut names = BTreeSet::new();
    for entity in ["conversation", "visitor", "agent", "router"] {
        let text = std::fs::read_to_string(dir.join(entity).join("messages.rs"))
            .expect("messages.rs readable");
        let declaration = &text[text
            .find("entity_messages! {")
            .expect("messages.rs declares its messages")..];
        for block in ["requests: {", "notices: {"] {
            let Some(start) = declaration.find(block) else {
                continue;
            };
            let body = &declaration[start + block.len()..];
            let body = &body[..body.find('}').expect("block closes")];
            // `Name => Reply,` one per line (replies may hold commas), or `A, B, C`.
            let items: Vec<&str> = if block.starts_with("requests") {
                body.lines()
                    .filter_map(|line| line.split_once("=>").map(|(name, _)| name))
                    .collect()
            } else {
                body.split(',').collect()
            };
            for name in items.into_iter().map(str::trim).filter(|n| !n.is_empty()) {
                names.insert(format!("{entity}::{name}"));
            }
        }
    }
    names
}

#[test]
fn every_entity_message_survives_a_round_trip() {
    let node = NodeId("n1".into());
    let socket = SubscriberId { node, conn: 7 };
    let visitor_id = VisitorId::new();
    let agent_id = AgentId::new();
    let site = SiteId::new();
    let conversation_id = ConversationId::new();
    let mut conv = Conversation::new(site, visitor_id, 1_000);
    conv.tags = vec!["refund".into()];
    conv.lang = Some("es".into());
    conv.agent_unread = 2;
    let agent_caller = Caller::Agent {
        id: agent_id,
        site,
        name: "Ann".into(),
    };
    let visitor_caller = Caller::Visitor(visitor_id);
    let change = conversation::StatusChange::Snooze { until: 9_000 };

    let mut tested = BTreeSet::new();
    let mut check = |entity: &str, name: String| {
        tested.insert(format!("{entity}::{name}"));
    };
    use conversation as c;
    check(
        "conversation",
        round_trip(c::Subscribe {
            caller: visitor_caller.clone(),
            subscriber: socket.clone(),
            command_id: "s1".into(),
            after_seq: 4,
        }),
    );
    check(
        "conversation",
        round_trip(c::Post {
            caller: agent_caller.clone(),
            client_msg_id: "m1".into(),
            body: "hi \u{1f44b}".into(),
            received_at: 1_700_000_000_000_000,
            private: true,
            attachments: vec![crate::blobs::BlobId::new()],
        }),
    );
    check(
        "conversation",
        round_trip(c::BotAction {
            caller: visitor_caller.clone(),
            action: crate::bot::QuickAction::TalkToHuman,
        }),
    );
    check(
        "conversation",
        round_trip(c::Rate {
            caller: visitor_caller.clone(),
            rating: 4,
            comment: "quick \u{2615}".into(),
        }),
    );
    check(
        "conversation",
        round_trip(c::Typing {
            caller: visitor_caller.clone(),
            subscriber: socket.clone(),
            typing: true,
        }),
    );
    check(
        "conversation",
        round_trip(c::MarkRead {
            caller: agent_caller.clone(),
            seq: 3,
        }),
    );
    check(
        "conversation",
        round_trip(c::History {
            caller: agent_caller.clone(),
            before: Some(10),
            limit: 50,
        }),
    );
    check("conversation", round_trip(c::Snapshot { caller: None }));
    check(
        "conversation",
        round_trip(c::ChangeStatus {
            caller: agent_caller.clone(),
            change,
        }),
    );
    check(
        "conversation",
        round_trip(c::TimeCheck {
            change: c::StatusChange::AutoClose { idle_ms: 60_000 },
        }),
    );
    check(
        "conversation",
        round_trip(c::Assign {
            agent: Some((agent_id, "Ann".into())),
            queued_since: Some(1_000),
        }),
    );
    check("conversation", round_trip(c::QueuePosition { position: 2 }));
    check("conversation", round_trip(c::Init { trigger: Some(1) }));
    check(
        "conversation",
        round_trip(c::SetTags {
            caller: agent_caller.clone(),
            tags: vec!["refund".into(), "vip".into()],
        }),
    );
    check(
        "conversation",
        round_trip(c::Availability {
            agents_online: true,
        }),
    );
    check("conversation", round_trip(c::Erase { site }));

    use router as r;
    check(
        "router",
        round_trip(r::AgentStatus {
            agent: agent_id,
            name: "Ann".into(),
            capacity: 5,
            presence: Presence::Away,
        }),
    );
    check(
        "router",
        round_trip(r::Enqueue {
            conversation_id,
            since: 5,
        }),
    );
    check(
        "router",
        round_trip(r::Answered {
            conversation_id,
            agent: agent_id,
        }),
    );
    check(
        "router",
        round_trip(r::AwaitingAnswer {
            conversation_id,
            agent: agent_id,
        }),
    );
    check("router", round_trip(r::Released { conversation_id }));
    check(
        "router",
        round_trip(r::Reopened {
            conversation_id,
            assignee: None,
            since: 5,
        }),
    );
    check(
        "router",
        round_trip(r::Take {
            conversation_id,
            agent: agent_id,
            agent_name: "Ann".into(),
            needs_answer: true,
        }),
    );
    check("router", round_trip(r::AgentsOnline));
    check("router", round_trip(r::QueueSnapshot));
    check("router", round_trip(r::PresenceSnapshot));
    check(
        "router",
        round_trip(r::InboxChanged {
            conversation: conv.clone(),
            unread: 2,
            assignee_only: false,
        }),
    );

    use agent as a;
    check(
        "agent",
        round_trip(a::Attach {
            socket: socket.clone(),
        }),
    );
    check(
        "agent",
        round_trip(a::Detach {
            socket: socket.clone(),
        }),
    );
    check(
        "agent",
        round_trip(a::SetPresence {
            status: Presence::Online,
        }),
    );
    check(
        "agent",
        round_trip(a::Push {
            frame: ByteString::from_static("{\"type\":\"presence\"}"),
        }),
    );
    check("agent", round_trip(a::Refresh));
    check("agent", round_trip(a::GetPresence));
    check(
        "agent",
        round_trip(a::Attached {
            socket: socket.clone(),
        }),
    );

    use visitor as v;
    check("visitor", round_trip(v::Attach { site }));
    check(
        "visitor",
        round_trip(v::Start {
            site,
            trigger: Some(0),
            lang: Some("es".into()),
        }),
    );
    check("visitor", round_trip(v::Profile { site }));
    check(
        "visitor",
        round_trip(v::Seen {
            site,
            client: crate::domain::ClientSummary {
                browser: Some("Firefox 127".into()),
                timezone: Some("Europe/Madrid".into()),
                ..Default::default()
            },
        }),
    );
    check(
        "visitor",
        round_trip(v::PageView {
            site,
            url: "https://shop.example/a?b=c".into(),
            title: "A".into(),
        }),
    );
    check(
        "visitor",
        round_trip(v::LeaveEmail {
            site,
            email: "a@b.example".into(),
            name: None,
        }),
    );
    check(
        "visitor",
        round_trip(v::ConversationClosed { conversation_id }),
    );
    check("visitor", round_trip(v::Erase { site }));

    assert_eq!(
        tested,
        declared(),
        "every declared message is round-tripped here"
    );
}

#[test]
fn replies_and_errors_are_plain_data_too() {
    use crate::error::{ApiError, ErrorCode};
    use crate::protocol::{HistoryResult, PostResult, StartResult};
    let conv = Conversation::new(SiteId::new(), VisitorId::new(), 1);
    round_trip(PostResult {
        seq: 3,
        duplicate: true,
    });
    round_trip(StartResult {
        conversation: conv,
        created: true,
    });
    round_trip(HistoryResult {
        messages: Vec::new(),
        has_more: false,
    });
    let result: Result<PostResult, ApiError> = Err(ApiError::new(ErrorCode::NotOwner, "moved"));
    round_trip(result);
    // A deactivated agent's sockets on another node are closed with this.
    round_trip(crate::cluster::remote::NodeMessage::Kick {
        conns: vec![3, 4],
        code: ErrorCode::Forbidden,
        message: "this account is deactivated".into(),
    });
}
