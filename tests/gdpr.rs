//! GDPR over real sockets: an admin exports everything about a visitor as JSON, then erases
//! the visitor while its widget is still connected and its conversation's actor is live. Every
//! row is gone from the store (attachments too: reference and bytes), the live actor forgets it, the open socket is told, and the
//! audit log keeps records of both that survive the erasure.

mod common;

use common::*;
use serde_json::{json, Value};
use switchboard::blobs::BlobId;
use switchboard::domain::{ConversationId, ConversationStatus, VisitorId};

/// A 1x1 PNG, for an attachment.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

async fn delete(node: &TestNode, path: &str, token: &str) -> HttpResponse {
    http(node.addr, "DELETE", path, Some(token), None).await
}

/// A signed-in visitor with a profile, a page view, and a conversation an agent answered.
async fn visitor_with_history(node: &TestNode, agent: &mut Agent) -> (Visitor, String) {
    let mut v = Visitor::identified(node.addr, DEMO_SITE_KEY, DEMO_IDENTITY_SECRET, "u-42").await;
    v.ok(json!({"type":"page_view","url":"https://shop.example/cart","title":"Your cart"}))
        .await;
    let conv = v.open_chat().await;
    v.say(&conv, "v-1", "my parcel is late").await;
    // A photo of the parcel: an attachment (bytes in the blob store, a reference in the store).
    let path = format!("/api/v1/conversations/{conv}/attachments?filename=parcel.png");
    let up = http(node.addr, "POST", &path, Some(&v.token), Some(PNG)).await;
    assert_eq!(up.status, 201, "{}", up.text());
    let blob = up.json()["attachment"]["blob_id"]
        .as_str()
        .unwrap()
        .to_owned();
    v.ok(json!({"type":"send","conversation_id":conv,"client_msg_id":"v-pic","body":"","attachments":[blob]}))
        .await;
    agent.assigned(&conv).await;
    agent.say(&conv, "g-1", "sorry, looking now").await;
    (v, conv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_holds_everything_and_an_erasure_leaves_nothing_but_the_audit() {
    let node = TestNode::start();
    let admin = node.admin_token().await;
    let mut agent = Agent::connect(node.addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    agent.online().await;
    let (mut v, conv) = visitor_with_history(&node, &mut agent).await;
    let visitor_id: VisitorId = v.id.parse().unwrap();
    let conv_id: ConversationId = conv.parse().unwrap();

    // The export: profile, events, conversations with every message, attachments.
    let r = node
        .get(&format!("/api/v1/visitors/{}/export", v.id), Some(&admin))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .header("content-disposition")
        .unwrap()
        .contains("attachment"));
    let export = r.json();
    assert_eq!(export["format"], "switchboard.visitor-export.v1");
    assert_eq!(export["visitor"]["user_id"], "u-42");
    assert_eq!(export["visitor"]["email"], "u-42@example.com");
    assert_eq!(export["events"][0]["url"], "https://shop.example/cart");
    assert_eq!(
        export["conversations"][0]["conversation"]["id"],
        json!(conv)
    );
    let bodies: Vec<&str> = export["conversations"][0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert!(bodies.contains(&"my parcel is late"), "{bodies:?}");
    assert!(bodies.contains(&"sorry, looking now"), "{bodies:?}");
    let attachments = export["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1, "{export}");
    assert_eq!(attachments[0]["conversation_id"], json!(conv));
    assert_eq!(attachments[0]["meta"]["filename"], "parcel.png");
    let blob = BlobId::parse(attachments[0]["blob_id"].as_str().unwrap()).unwrap();
    let blob_file = node
        .data_dir()
        .join("blobs")
        .join(&blob.to_string()[..2])
        .join(blob.to_string());
    assert!(blob_file.exists(), "{blob_file:?}");

    // Agents may not export or erase; only admins.
    let r = node
        .get(
            &format!("/api/v1/visitors/{}/export", v.id),
            Some(&agent.token),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = delete(&node, &format!("/api/v1/visitors/{}", v.id), &agent.token).await;
    assert_eq!(r.status, 403);

    // Erase while the widget is connected and the conversation's actor is running.
    let r = delete(&node, &format!("/api/v1/visitors/{}", v.id), &admin).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let erased = &r.json()["erased"];
    assert_eq!(erased["conversations"], 1, "{erased}");
    assert!(
        erased["messages"].as_u64().unwrap() >= 4,
        "welcome, two chats, a reply: {erased}"
    );
    assert_eq!(erased["events"], 1, "{erased}");
    assert_eq!(erased["attachments"], 1, "{erased}");

    // The open socket is told the conversation is over; the live actor no longer has it.
    v.status_event(&conv, "closed").await;
    let refused = v
        .err(json!({"type":"send","conversation_id":conv,"client_msg_id":"v-2","body":"hello?"}))
        .await;
    assert_eq!(refused, "not_found");
    let r = node
        .get(&format!("/api/v1/conversations/{conv}"), Some(&agent.token))
        .await;
    assert_eq!(r.status, 404, "{}", r.text());

    // Nothing is left in the store.
    let store = &node.store;
    assert_eq!(store.get_visitor(visitor_id).await.unwrap(), None);
    let site = node.demo_site().await;
    assert_eq!(
        store.visitor_by_user_id(site.id, "u-42").await.unwrap(),
        None
    );
    assert!(store
        .visitor_events(visitor_id, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .visitor_conversations(visitor_id, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.get_conversation(conv_id).await.unwrap(), None);
    assert!(store
        .messages_after(conv_id, 0, 100)
        .await
        .unwrap()
        .is_empty());
    for status in [ConversationStatus::Open, ConversationStatus::Closed] {
        let listed = store
            .conversations_by_status(site.id, status, 100)
            .await
            .unwrap();
        assert!(
            listed.iter().all(|c| c.id != conv_id),
            "{status:?} inbox still lists it"
        );
    }
    // The attachment: its reference and its bytes.
    assert_eq!(store.get_attachment(blob).await.unwrap(), None);
    assert!(!blob_file.exists(), "{blob_file:?} survived the erasure");
    let r = node
        .get(&format!("/api/v1/visitors/{}/export", v.id), Some(&admin))
        .await;
    assert_eq!(r.status, 404, "{}", r.text());

    // The audit log kept the export and the erasure, naming the visitor by id only.
    let r = node.get("/api/v1/audit", Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let records: Vec<Value> = r.json()["records"].as_array().unwrap().clone();
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for action in [
        "visitor.exported",
        "visitor.erase_requested",
        "visitor.erased",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    let done = records
        .iter()
        .find(|r| r["action"] == "visitor.erased")
        .unwrap();
    assert_eq!(done["target"], json!(v.id));
    assert_eq!(done["detail"]["conversations"], 1);
    assert_eq!(done["actor"]["name"], "Demo Admin");
    assert!(
        !text.contains("u-42@example.com"),
        "contact details in the audit log"
    );
    assert!(!text.contains("my parcel"), "message text in the audit log");

    // Erasing again finds nothing; the chat goes on for everyone else.
    let r = delete(&node, &format!("/api/v1/visitors/{}", v.id), &admin).await;
    assert_eq!(r.status, 404, "{}", r.text());
    let mut other = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let other_conv = other.open_chat().await;
    agent.assigned(&other_conv).await;
}

/// A visitor of another site is not found: an admin erases only its own site's visitors.
#[tokio::test]
async fn another_sites_visitor_is_not_found() {
    let node = TestNode::start();
    let other = node.seed_site("pk_other", "other-secret").await;
    let mut v = Visitor::connect(node.addr, &other.public_key).await;
    v.open_chat().await;
    let admin = node.admin_token().await;
    let r = delete(&node, &format!("/api/v1/visitors/{}", v.id), &admin).await;
    assert_eq!(r.status, 404, "{}", r.text());
    let r = node
        .get(&format!("/api/v1/visitors/{}/export", v.id), Some(&admin))
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    let id: VisitorId = v.id.parse().unwrap();
    assert!(node.store.get_visitor(id).await.unwrap().is_some());
}
