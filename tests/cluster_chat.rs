//! Three node processes sharing one SQLite file act as one service: the shards spread over
//! all three, and a visitor whose socket is on node 1 chats with an agent whose socket is on
//! node 3, whichever node owns the conversation, the visitor and the site's router; the same
//! through HAProxy in front of them.

mod common;

use common::haproxy::Haproxy;
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

/// The deployment shape of cluster/run-local.sh: HAProxy in front of three nodes. Two sockets
/// opened through the front land on different nodes (leastconn), and they chat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_haproxy_the_cluster_is_one_service() {
    let cluster = ClusterProcs::start(3, 3_000).await;
    let servers: Vec<(&str, std::net::SocketAddr)> = cluster
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.addr))
        .collect();
    let Some(proxy) = Haproxy::start(cluster.dir.path(), &servers).await else {
        return;
    };
    let mut agent = Agent::connect(proxy.front, DEMO_AGENT_EMAIL, DEMO_PASSWORD).await;
    agent.online().await;
    let mut v = Visitor::connect(proxy.front, DEMO_SITE_KEY).await;
    let mut holders = Vec::new();
    for node in &cluster.nodes {
        let on = |role: &str| format!("switchboard_connections{{role=\"{role}\"}}");
        let agents = node.metric(&on("agent")).await.unwrap_or(0.0);
        let visitors = node.metric(&on("visitor")).await.unwrap_or(0.0);
        holders.push((node.name.clone(), agents, visitors));
    }
    let agent_node = holders.iter().find(|h| h.1 > 0.0).map(|h| h.0.clone());
    let visitor_node = holders.iter().find(|h| h.2 > 0.0).map(|h| h.0.clone());
    assert!(
        agent_node.is_some() && agent_node != visitor_node,
        "the two sockets share a node: {holders:?}"
    );

    let conv = v.open_chat().await;
    agent.assigned(&conv).await;
    agent.subscribe(&conv, 0).await;
    let hi = v.say(&conv, "v-1", "hi through the front").await;
    agent.message(&conv, u(&hi["seq"])).await;
    let re = agent.say(&conv, "a-1", "hello back").await;
    v.message(&conv, u(&re["seq"])).await;
}
