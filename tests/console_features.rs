//! Issue 12, the console's server side: agents' pictures (upload limits, who may change them,
//! the public cacheable URL, the widget told in `assigned`), conversation search and tags, and
//! a visitor's device, browser and location from its own request.

mod common;

use common::*;
use serde_json::{json, Value};

/// The PNG signature and a little more: the type is sniffed from these bytes.
fn png() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend_from_slice(&[0u8; 64]);
    b
}

#[tokio::test]
async fn agents_upload_pictures_served_publicly_and_named_to_the_widget() {
    let node = TestNode::start();
    let site = node.demo_site().await;
    let me = node.seed_agent(site.id, "pic@team.test", 5).await;
    let other = node.seed_agent(site.id, "other@team.test", 5).await;
    let (token, _) = node.login("pic@team.test", SEED_PASSWORD).await;
    let path = format!("/api/v1/agents/{}/avatar", me.id);

    let up = http_bytes(node.addr, "PUT", &path, Some(&token), "image/png", png()).await;
    assert_eq!(up.status, 200, "{}", up.text());
    let url = s(&up.json()["avatar_url"]);
    assert!(
        url.starts_with(&format!("/api/v1/avatars/{}?v=", me.id)),
        "{url}"
    );

    // Public, cached for good under its versioned URL, never sniffed as anything else.
    let got = node.get(&url, None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, png());
    assert_eq!(got.header("content-type"), Some("image/png"));
    assert_eq!(
        got.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(got.header("access-control-allow-origin"), Some("*"));
    assert_eq!(got.header("x-content-type-options"), Some("nosniff"));

    // The declared type is not trusted, size is limited, and a colleague may not replace it.
    let text = http_bytes(
        node.addr,
        "PUT",
        &path,
        Some(&token),
        "image/png",
        b"hello".to_vec(),
    )
    .await;
    assert_eq!(text.status, 400, "{}", text.text());
    let big = vec![0u8; 256 * 1024 + 1];
    let big = http_bytes(node.addr, "PUT", &path, Some(&token), "image/png", big).await;
    assert_eq!(big.status, 413, "{}", big.text());
    let (theirs, _) = node.login("other@team.test", SEED_PASSWORD).await;
    let r = http_bytes(node.addr, "PUT", &path, Some(&theirs), "image/png", png()).await;
    assert_eq!(r.status, 403);
    let admin = node.admin_token().await;
    let r = http_bytes(
        node.addr,
        "PUT",
        &format!("/api/v1/agents/{}/avatar", other.id),
        Some(&admin),
        "image/png",
        png(),
    )
    .await;
    assert_eq!(r.status, 200, "an admin may: {}", r.text());
    // So may an owner (admins and owners manage their site alike).
    node.seed_agent_role(
        site.id,
        "owner@team.test",
        5,
        switchboard::domain::Role::Owner,
    )
    .await;
    let (owner, _) = node.login("owner@team.test", SEED_PASSWORD).await;
    let other_path = format!("/api/v1/agents/{}/avatar", other.id);
    let r = http_bytes(
        node.addr,
        "PUT",
        &other_path,
        Some(&owner),
        "image/png",
        png(),
    )
    .await;
    assert_eq!(r.status, 200, "an owner may: {}", r.text());

    // The widget learns the picture with the assignment.
    let mut agent = Agent::with_token(node.addr, &token).await;
    agent.online().await;
    let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    let assigned = visitor_sees_assigned(&mut v, &conv, &agent.id).await;
    assert_eq!(assigned["agent_avatar"], url.as_str());

    let del = http(node.addr, "DELETE", &path, Some(&token), None).await;
    assert_eq!(del.status, 200);
    assert_eq!(node.get(&url, None).await.status, 404);
}

fn ids(r: &HttpResponse) -> Vec<String> {
    r.json()["conversations"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", r.text()))
        .iter()
        .map(|c| s(&c["id"]))
        .collect()
}

#[tokio::test]
async fn search_by_visitor_name_email_and_text_within_the_site_and_by_tag() {
    let node = TestNode::start();
    let admin = node.admin_token().await;
    let mut grace =
        Visitor::identified(node.addr, DEMO_SITE_KEY, DEMO_IDENTITY_SECRET, "u-grace").await;
    let c_grace = grace.open_chat().await;
    grace.say(&c_grace, "g-1", "Do you sell grinders?").await;
    let mut anon = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
    let c_anon = anon.open_chat().await;
    anon.say(&c_anon, "a-1", "Decaf envío, please").await;
    // Another site's conversation with the same words is never found from this one.
    let other = node.seed_site("pk_other_search", "other-secret").await;
    let mut stranger = Visitor::connect(node.addr, &other.public_key).await;
    let c_other = stranger.open_chat().await;
    stranger
        .say(&c_other, "x-1", "Do you sell grinders? Decaf?")
        .await;

    let search = |q: &str| format!("/api/v1/conversations?q={q}&status=any");
    let by = node.get(&search("u-grace%40exa"), Some(&admin)).await;
    assert_eq!(ids(&by), vec![c_grace.clone()], "{}", by.text());
    assert_eq!(
        ids(&node.get(&search("ada"), Some(&admin)).await),
        vec![c_grace.clone()]
    );
    assert_eq!(
        ids(&node.get(&search("GRIND"), Some(&admin)).await),
        vec![c_grace.clone()]
    );
    // Accents fold: "envio" finds "envío".
    assert_eq!(
        ids(&node.get(&search("decaf%20envio"), Some(&admin)).await),
        vec![c_anon.clone()]
    );
    assert!(ids(&node
        .get(&search("nothing%20like%20this"), Some(&admin))
        .await)
    .is_empty());
    // Automatic texts are not searched: the welcome is in every conversation.
    assert!(ids(&node.get(&search("today"), Some(&admin)).await).is_empty());

    // Tags: set over HTTP and over the socket, normalised, filtered on.
    let tags = node
        .put(
            &format!("/api/v1/conversations/{c_grace}/tags"),
            Some(&admin),
            &json!({"tags": ["Refund", "vip", "refund"]}),
        )
        .await;
    assert_eq!(tags.status, 200, "{}", tags.text());
    assert_eq!(
        tags.json()["conversation"]["tags"],
        json!(["refund", "vip"])
    );
    let bad = node
        .put(
            &format!("/api/v1/conversations/{c_grace}/tags"),
            Some(&admin),
            &json!({"tags": ["two words"]}),
        )
        .await;
    assert_eq!(bad.status, 400);
    let mut agent = Agent::connect(node.addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let r = agent
        .ok(json!({"type":"tags","conversation_id":c_anon,"tags":["decaf"]}))
        .await;
    assert_eq!(r["conversation"]["tags"], json!(["decaf"]));
    assert_eq!(
        grace
            .err(json!({"type":"tags","conversation_id":c_grace,"tags":[]}))
            .await,
        "forbidden"
    );
    let tagged = node
        .get("/api/v1/conversations?tag=vip&status=any", Some(&admin))
        .await;
    assert_eq!(ids(&tagged), vec![c_grace.clone()]);
    let site_tags = node.get("/api/v1/tags", Some(&admin)).await;
    assert_eq!(site_tags.json()["tags"], json!(["decaf", "refund", "vip"]));
    let listed = node
        .get("/api/v1/conversations?status=open", Some(&admin))
        .await;
    let row: Value = listed.json()["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == c_anon.as_str())
        .cloned()
        .unwrap();
    assert_eq!(row["tags"], json!(["decaf"]));
}

#[tokio::test]
async fn the_visitors_device_browser_location_and_referrer_come_from_its_request() {
    let node = TestNode::start();
    let admin = node.admin_token().await;
    let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
    let mut c = Client::connect_with(
        node.addr,
        &[("User-Agent", ua), ("Accept-Language", "es-ES,es;q=0.9")],
    )
    .await;
    let mut hello = visitor_hello(DEMO_SITE_KEY);
    hello["client"] = json!({
        "timezone": "Europe/Madrid",
        "screen": "1920x1080",
        "referrer": "https://www.google.com/"
    });
    let w = c.cmd(hello).await;
    assert_eq!(w["type"], "welcome", "{w}");
    let visitor = s(&w["visitor_id"]);
    c.ok(json!({"type":"page_view","url":"https://shop.example/","title":"Shop"}))
        .await;
    let detail = node
        .get(&format!("/api/v1/visitors/{visitor}"), Some(&admin))
        .await;
    let client = &detail.json()["visitor"]["client"];
    assert_eq!(client["browser"], "Chrome 126", "{}", detail.text());
    assert_eq!(client["os"], "Windows 10");
    assert_eq!(client["device"], "desktop");
    assert_eq!(client["location"], "Madrid");
    assert_eq!(client["timezone"], "Europe/Madrid");
    assert_eq!(client["language"], "es-ES");
    assert_eq!(client["referrer"], "https://www.google.com/");
    assert_eq!(client["screen"], "1920x1080");
    // The address is used for an optional GeoIP lookup only: it is not stored.
    assert!(!detail.text().contains("127.0.0.1"), "{}", detail.text());

    let mut long = visitor_hello(DEMO_SITE_KEY);
    long["client"] = json!({"referrer": "x".repeat(300)});
    let mut c2 = Client::connect(node.addr).await;
    let r = c2.cmd(long).await;
    assert_eq!(r["code"], "invalid_frame", "{r}");
}
