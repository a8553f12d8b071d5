//! Managing sites over real sockets and processes: an owner creates a site whose first admin
//! accepts an invitation link and logs in; admins rotate their site's public key (the widget
//! config answers under the new key only) and identity secret, invite agents and deactivate
//! them, and cannot touch another site; the `switchboard site|agent|api-key` CLI does the same
//! on the store of a stopped node, and a node started on it accepts what the CLI made.

mod common;

use std::process::Command;

use serde_json::{json, Value};

use common::*;
use switchboard::domain::Role;

fn token_of(link: &str) -> String {
    link.split_once('#')
        .expect("the token follows #")
        .1
        .to_owned()
}

async fn accept(node: &TestNode, link: &str, name: &str, password: &str) -> Value {
    let body = json!({ "token": token_of(link), "name": name, "password": password });
    let r = node.post("/api/v1/invites/accept", None, &body).await;
    assert_eq!(r.status, 201, "accept: {}", r.text());
    r.json()
}

#[tokio::test]
async fn an_owner_creates_a_site_whose_invited_admin_runs_it_alone() {
    let node = TestNode::start();
    let demo = node.demo_site().await;
    node.seed_agent_role(demo.id, "owner@demo.local", 5, Role::Owner)
        .await;
    let (owner, _) = node.login("owner@demo.local", SEED_PASSWORD).await;
    let admin = node.admin_token().await;

    let body = json!({ "name": "Second Shop", "admin_email": "boss@second.example" });
    assert_eq!(
        node.post("/api/v1/sites", Some(&admin), &body).await.status,
        403,
        "admins do not create sites"
    );
    let r = node.post("/api/v1/sites", Some(&owner), &body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    let site_id = s(&created["site"]["id"]);
    let key = s(&created["site"]["public_key"]);
    assert!(key.starts_with("pk_") && created["site"]["identity_secret"].is_string());
    let link = s(&created["invite_link"]);
    assert!(link.contains("/console/invite#inv_"), "{link}");

    let lookup = node
        .post(
            "/api/v1/invites/lookup",
            None,
            &json!({ "token": token_of(&link) }),
        )
        .await;
    assert_eq!(lookup.json()["site_name"], "Second Shop");
    let joined = accept(&node, &link, "Boss", "second-shop-pass").await;
    assert_eq!(joined["agent"]["role"], "admin");
    let again = node
        .post(
            "/api/v1/invites/accept",
            None,
            &json!({ "token": token_of(&link), "name": "X", "password": "whatever-1" }),
        )
        .await;
    assert_eq!(
        again.status,
        404,
        "an invitation works once: {}",
        again.text()
    );
    let (boss, _) = node.login("boss@second.example", "second-shop-pass").await;

    // The new site is a site of its own: widget config by its key, its own team.
    let widget = node
        .get(&format!("/api/v1/widget/config?site={key}"), None)
        .await;
    assert_eq!(widget.json()["site_name"], "Second Shop");
    let sites = node.get("/api/v1/sites", Some(&boss)).await.json();
    assert_eq!(
        sites["sites"].as_array().unwrap().len(),
        1,
        "an admin sees its own site"
    );
    assert_eq!(
        node.get("/api/v1/sites", Some(&owner)).await.json()["sites"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let demo_rotate = node
        .post(
            &format!("/api/v1/sites/{}/rotate-key", demo.id),
            Some(&boss),
            &json!({}),
        )
        .await;
    assert_eq!(demo_rotate.status, 403, "not another site's");

    // Rotate the public key: the old key stops working at once.
    let rotated = node
        .post(
            &format!("/api/v1/sites/{site_id}/rotate-key"),
            Some(&boss),
            &json!({}),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text());
    let new_key = s(&rotated.json()["site"]["public_key"]);
    assert_ne!(new_key, key);
    assert_eq!(
        node.get(&format!("/api/v1/widget/config?site={key}"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        node.get(&format!("/api/v1/widget/config?site={new_key}"), None)
            .await
            .status,
        200
    );
    let secret = node
        .post(
            &format!("/api/v1/sites/{site_id}/rotate-secret"),
            Some(&boss),
            &json!({}),
        )
        .await;
    assert_ne!(
        secret.json()["site"]["identity_secret"],
        created["site"]["identity_secret"]
    );

    // Invite an agent, who joins; deactivate them.
    let r = node
        .post(
            &format!("/api/v1/sites/{site_id}/invites"),
            Some(&boss),
            &json!({ "email": "ana@second.example" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let ana = accept(&node, &s(&r.json()["invite_link"]), "Ana", "ana-password-1").await;
    assert_eq!(ana["agent"]["role"], "agent");
    let dup = node
        .post(
            &format!("/api/v1/sites/{site_id}/invites"),
            Some(&boss),
            &json!({ "email": "ana@second.example" }),
        )
        .await;
    assert_eq!(dup.status, 409, "already an agent");
    let owner_invite = node
        .post(
            &format!("/api/v1/sites/{site_id}/invites"),
            Some(&boss),
            &json!({ "email": "o@x.example", "role": "owner" }),
        )
        .await;
    assert_eq!(owner_invite.status, 403, "only owners invite owners");
    let ana_id = s(&ana["agent"]["id"]);
    let off = node
        .put(
            &format!("/api/v1/sites/{site_id}/agents/{ana_id}/active"),
            Some(&boss),
            &json!({ "active": false }),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.text());
    assert_eq!(off.json()["agent"]["active"], false);
    let team = node.get("/api/v1/agents", Some(&boss)).await.json();
    let listed = team["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| s(&a["id"]) == ana_id)
        .cloned()
        .unwrap();
    assert_eq!(listed["active"], false, "{team}");
    let login = node
        .post(
            "/api/v1/login",
            None,
            &json!({ "email": "ana@second.example", "password": "ana-password-1" }),
        )
        .await;
    assert_eq!(
        (login.status, login.error_code()),
        (403, "forbidden".into()),
        "a deactivated agent cannot log in: {}",
        login.text()
    );
    let invites = node
        .get(&format!("/api/v1/sites/{site_id}/invites"), Some(&boss))
        .await
        .json();
    assert!(invites["invites"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["accepted_at"].is_i64()));
}

fn cli(data_dir: &std::path::Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--no-demo")
        .args(["--public-url", "https://chat.example.com"])
        .args(args)
        .output()
        .expect("run switchboard");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

#[tokio::test]
async fn the_cli_creates_sites_keys_and_invitations_that_a_node_then_honours() {
    let dir = tempfile::tempdir().unwrap();
    let created = cli(
        dir.path(),
        &[
            "site",
            "create",
            "--name",
            "Cli Shop",
            "--admin-email",
            "cli-admin@shop.example",
        ],
    );
    let key = s(&created["site"]["public_key"]);
    let link = s(&created["invite_link"]);
    assert!(
        link.starts_with("https://chat.example.com/console/invite#inv_"),
        "{link}"
    );
    let listed = cli(dir.path(), &["site", "list"]);
    assert_eq!(listed["sites"][0]["name"], "Cli Shop");
    let rotated = cli(dir.path(), &["site", "rotate-key", &key]);
    let key = s(&rotated["site"]["public_key"]);
    let api_key = cli(
        dir.path(),
        &[
            "api-key",
            "create",
            "--site",
            &key,
            "--name",
            "etl",
            "--scope",
            "conversations:read",
        ],
    );
    let secret = s(&api_key["secret"]);
    let invite = cli(
        dir.path(),
        &[
            "agent",
            "invite",
            "--site",
            &key,
            "--email",
            "cli-agent@shop.example",
        ],
    );

    // A node on the same store: the site, the key and the invitations work.
    let data = dir.path().to_path_buf();
    let node = TestNode::start_with(move |c| {
        c.data_dir = data;
        c.demo = false;
    });
    assert_eq!(
        node.get(&format!("/api/v1/widget/config?site={key}"), None)
            .await
            .json()["site_name"],
        "Cli Shop"
    );
    assert_eq!(
        node.get("/api/v1/conversations", Some(&secret))
            .await
            .status,
        200
    );
    accept(&node, &link, "Cli Admin", "cli-admin-pass").await;
    accept(
        &node,
        &s(&invite["invite_link"]),
        "Cli Agent",
        "cli-agent-pass",
    )
    .await;
    let (admin, _) = node.login("cli-admin@shop.example", "cli-admin-pass").await;
    let team = node.get("/api/v1/agents", Some(&admin)).await.json();
    assert_eq!(team["agents"].as_array().unwrap().len(), 2, "{team}");
    drop(node);

    let off = cli(
        dir.path(),
        &["agent", "deactivate", "--email", "cli-agent@shop.example"],
    );
    assert_eq!(off["agent"]["active"], false);
    let revoked = cli(
        dir.path(),
        &[
            "api-key",
            "revoke",
            "--site",
            &key,
            &s(&api_key["api_key"]["id"]),
        ],
    );
    assert!(revoked["revoked"].is_string());
}
