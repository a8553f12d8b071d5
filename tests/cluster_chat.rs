//! Three node processes sharing one SQLite file act as one service: the shards spread over
//! all three, and a visitor whose socket is on node 1 chats with an agent whose socket is on
//! node 3, whichever node owns the conversation, the visitor and the site's router.

mod common;

use common::procs::ClusterProcs;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_on_one_node_chats_with_an_agent_on_another() {
    let cluster = ClusterProcs::start(3, 3_000).await;
    for (name, owned) in cluster.owned().await {
        assert!(owned.unwrap_or(0.0) > 0.0, "{name} owns no shard");
    }
    let (n1, n3) = (cluster.node("n1").addr, cluster.node("n3").addr);

    let mut agent = Agent::connect(n3, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    agent.online().await;
    let mut v = Visitor::connect(n1, DEMO_SITE_KEY).await;
    let conv = v.open_chat().await;
    agent.assigned(&conv).await;
    agent.subscribe(&conv, 0).await;

    let hi = v.say(&conv, "v-1", "hello from node 1").await;
    let got = agent.message(&conv, u(&hi["seq"])).await;
    assert_eq!(got["body"], "hello from node 1");
    let reply = agent.say(&conv, "a-1", "hello from node 3").await;
    let got = v.message(&conv, u(&reply["seq"])).await;
    assert_eq!(got["body"], "hello from node 3");

    // Typing and read receipts cross nodes too.
    v.ok(serde_json::json!({"type":"typing","conversation_id":conv,"typing":true}))
        .await;
    agent.event_for("typing", &conv).await;
    agent
        .ok(serde_json::json!({"type":"read","conversation_id":conv,"seq":u(&hi["seq"])}))
        .await;
    v.event_for("read", &conv).await;

    // Every node answers for every conversation: history through the third node.
    let mut other = Agent::connect(cluster.node("n2").addr, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    let page = other.history(&conv, None, 50).await;
    let bodies: Vec<String> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| s(&m["body"]))
        .collect();
    assert!(
        bodies.contains(&"hello from node 1".to_owned()),
        "{bodies:?}"
    );
    assert!(
        bodies.contains(&"hello from node 3".to_owned()),
        "{bodies:?}"
    );
}
