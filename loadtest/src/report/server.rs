//! The server side of the report: one row per scrape node (CPU, RSS, sockets, live conversation
//! actors) and the totals over every node, which are what CPU per message and RSS per socket are
//! computed from. A node is sampled from `/proc` when it runs here, else from its process
//! metrics; the source is named per node.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{PhaseInfo, RunData};
use crate::scrape::{Round, Sample};
use crate::stats::Stats;
use crate::worker::Gauges;

/// One node over the whole run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodeRow {
    /// Its metrics URL.
    pub node: String,
    /// Where CPU and RSS came from: "proc", "metrics" or "" (neither).
    pub source: String,
    pub cpu_seconds: Option<f64>,
    pub cpu_percent_mean: Option<f64>,
    pub rss_start_bytes: Option<u64>,
    pub rss_peak_bytes: Option<u64>,
    pub rss_end_bytes: Option<u64>,
    /// WebSocket connections the node reports (`switchboard_connections`).
    pub sockets_peak: Option<f64>,
    pub sockets_end: Option<f64>,
    pub conversation_actors_end: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PhaseServer {
    pub name: String,
    pub end_secs: f64,
    /// All nodes together.
    pub rss_bytes: Option<u64>,
    pub visitor_sockets: i64,
    pub agent_sockets: i64,
    /// (RSS at the phase end - RSS before the first client) / open sockets.
    pub rss_per_session_bytes: Option<f64>,
}

/// Every figure but `nodes` is a total over the nodes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerSummary {
    pub source: String,
    /// Rounds in which every node had an RSS figure.
    pub samples: usize,
    pub nodes: Vec<NodeRow>,
    pub cpu_seconds: Option<f64>,
    pub cpu_percent_mean: Option<f64>,
    /// Server CPU time per acked message (all nodes' work divided by messages).
    pub cpu_us_per_message: Option<f64>,
    pub rss_start_bytes: Option<u64>,
    pub rss_peak_bytes: Option<u64>,
    pub rss_end_bytes: Option<u64>,
    pub phases: Vec<PhaseServer>,
}

/// Total RSS and CPU of a round (every node must have them).
pub fn rss(r: &Round) -> Option<u64> {
    r.total(|s| s.rss_bytes)
}

pub fn cpu(r: &Round) -> Option<f64> {
    r.total(|s| s.cpu_seconds)
}

/// The last round at or before `secs` (half a second of slack for sampling jitter) that has
/// the value `f`.
pub fn at_or_before<T>(rounds: &[Round], secs: f64, f: impl Fn(&Round) -> Option<T>) -> Option<T> {
    rounds
        .iter()
        .rev()
        .filter(|r| r.t <= secs + 0.5)
        .find_map(f)
}

fn node_row(url: &str, samples: &[&Sample]) -> NodeRow {
    let with_rss: Vec<&&Sample> = samples.iter().filter(|s| s.rss_bytes.is_some()).collect();
    let with_cpu: Vec<&&Sample> = samples.iter().filter(|s| s.cpu_seconds.is_some()).collect();
    let mut row = NodeRow {
        node: url.to_string(),
        source: with_rss
            .last()
            .map(|s| s.source.clone())
            .unwrap_or_default(),
        rss_start_bytes: with_rss.first().and_then(|s| s.rss_bytes),
        rss_peak_bytes: with_rss.iter().filter_map(|s| s.rss_bytes).max(),
        rss_end_bytes: with_rss.last().and_then(|s| s.rss_bytes),
        sockets_peak: samples
            .iter()
            .filter_map(|s| s.connections)
            .reduce(f64::max),
        sockets_end: samples.iter().rev().find_map(|s| s.connections),
        conversation_actors_end: samples.iter().rev().find_map(|s| s.conversation_actors),
        ..NodeRow::default()
    };
    if let (Some(a), Some(b)) = (with_cpu.first(), with_cpu.last()) {
        let (c0, c1) = (a.cpu_seconds.unwrap_or(0.0), b.cpu_seconds.unwrap_or(0.0));
        row.cpu_seconds = Some(c1 - c0);
        if b.t > a.t {
            row.cpu_percent_mean = Some((c1 - c0) / (b.t - a.t) * 100.0);
        }
    }
    row
}

pub fn server_summary(data: &RunData, phases: &[PhaseInfo], acked: u64) -> ServerSummary {
    let mut by_node: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for r in &data.rounds {
        for s in &r.nodes {
            if !by_node.contains_key(s.node.as_str()) {
                order.push(&s.node);
            }
            by_node.entry(&s.node).or_default().push(s);
        }
    }
    let nodes: Vec<NodeRow> = order.iter().map(|n| node_row(n, &by_node[n])).collect();
    let mut sources: Vec<&str> = nodes.iter().map(|n| n.source.as_str()).collect();
    sources.retain(|s| !s.is_empty());
    sources.sort_unstable();
    sources.dedup();
    let with_rss: Vec<&Round> = data.rounds.iter().filter(|r| rss(r).is_some()).collect();
    let mut s = ServerSummary {
        source: sources.join("+"),
        samples: with_rss.len(),
        nodes,
        ..ServerSummary::default()
    };
    let (Some(first), Some(last)) = (with_rss.first(), with_rss.last()) else {
        return s;
    };
    s.rss_start_bytes = rss(first);
    s.rss_end_bytes = rss(last);
    s.rss_peak_bytes = with_rss.iter().filter_map(|r| rss(r)).max();
    let with_cpu: Vec<&Round> = data.rounds.iter().filter(|r| cpu(r).is_some()).collect();
    if let (Some(a), Some(b)) = (with_cpu.first(), with_cpu.last()) {
        let total = cpu(b).unwrap_or(0.0) - cpu(a).unwrap_or(0.0);
        s.cpu_seconds = Some(total);
        if b.t > a.t {
            s.cpu_percent_mean = Some(total / (b.t - a.t) * 100.0);
        }
        if acked > 0 {
            s.cpu_us_per_message = Some(total / acked as f64 * 1e6);
        }
    }
    for ph in phases {
        let end = ph.end_secs as f64;
        let g = gauges_at(&data.ticks, ph.end_secs);
        let rss_end = at_or_before(&data.rounds, end, rss);
        let sockets = g.visitors + g.agents;
        s.phases.push(PhaseServer {
            name: ph.name.clone(),
            end_secs: end,
            rss_bytes: rss_end,
            visitor_sockets: g.visitors,
            agent_sockets: g.agents,
            rss_per_session_bytes: match (rss_end, s.rss_start_bytes) {
                (Some(r), Some(r0)) if sockets > 0 => Some((r as f64 - r0 as f64) / sockets as f64),
                _ => None,
            },
        });
    }
    s
}

/// The client gauges of the last tick at or before second `t`.
pub fn gauges_at(ticks: &BTreeMap<u64, (Stats, Gauges)>, t: u64) -> Gauges {
    ticks
        .range(..=t)
        .next_back()
        .map(|(_, (_, g))| *g)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::Loss;

    fn sample(node: &str, t: f64, rss: u64, cpu: f64, conns: f64) -> Sample {
        Sample {
            t,
            node: node.into(),
            rss_bytes: Some(rss),
            cpu_seconds: Some(cpu),
            connections: Some(conns),
            source: "proc".into(),
            ..Sample::default()
        }
    }

    #[test]
    fn rows_per_node_and_totals_over_them() {
        let rounds: Vec<Round> = (0..=10)
            .map(|t| {
                let t = t as f64;
                Round {
                    t,
                    nodes: vec![
                        sample("a", t, 10_000_000, t * 0.5, 10.0 * t),
                        sample("b", t, 20_000_000 + t as u64 * 1_000, t * 0.25, 5.0),
                    ],
                    generator: None,
                }
            })
            .collect();
        let data = RunData {
            total: Stats::default(),
            ticks: BTreeMap::new(),
            rounds,
            loss: Loss::default(),
            conversations_checked: 0,
            tail_lost_examples: Vec::new(),
            generator_cpu: None,
        };
        let s = server_summary(&data, &[], 7_500);
        assert_eq!(s.nodes.len(), 2);
        assert_eq!(s.nodes[0].node, "a");
        assert_eq!(s.nodes[0].cpu_seconds, Some(5.0));
        assert_eq!(s.nodes[0].sockets_peak, Some(100.0));
        assert_eq!(s.nodes[1].rss_end_bytes, Some(20_010_000));
        // Totals: 7.5 CPU seconds over 10 s, both nodes' RSS added.
        assert_eq!(s.cpu_seconds, Some(7.5));
        assert_eq!(s.cpu_percent_mean, Some(75.0));
        assert_eq!(s.cpu_us_per_message, Some(1_000.0));
        assert_eq!(s.rss_end_bytes, Some(30_010_000));
        assert_eq!(s.source, "proc");
    }
}
