//! The end-of-run report: built from the merged measurements, written as JSON (everything),
//! Markdown (the summary), a self-contained HTML page (inline SVG charts, no scripts) and PNG
//! copies of the charts for docs.
//!
//! This file assembles the report and writes it; each part is its own module: [`capacity`]
//! (the busiest window under the latency target), [`server`] (per-node and total CPU and RSS),
//! [`trend`] (minute by minute, drift and flatness for soaks), [`markdown`], [`html`] and
//! [`charts`] (the outputs), [`machine`] (where and when), [`generator`] (the harness's own CPU).

mod capacity;
mod charts;
mod generator;
mod html;
mod machine;
mod markdown;
mod server;
mod trend;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

pub use capacity::{Capacity, Window};
pub use generator::GeneratorUsage;
pub use machine::{utc, Machine};
use server::ServerSummary;
use trend::Trend;

use crate::loss::Loss;
use crate::runner::stop::StoppedEarly;
use crate::scenario::Scenario;
use crate::scrape::Round;
use crate::stats::{merge_hist, new_hist, Stats, Summary, LATENCIES};
use crate::worker::Gauges;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Throughput {
    /// Messages acked (durably stored), per second over the whole run.
    pub acked_per_sec_mean: f64,
    pub acked_per_sec_peak: f64,
    /// Messages received by the other party (visitor -> agent and agent -> visitor).
    pub delivered_per_sec_mean: f64,
    pub delivered_per_sec_peak: f64,
    /// Visitor sessions welcomed (connect + hello) per second.
    pub sessions_per_sec_peak: f64,
    pub sessions_total: u64,
}

/// One second of the run. Server figures are totals over every scrape node.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Point {
    pub t: u64,
    pub acked: u64,
    pub delivered: u64,
    pub sessions: u64,
    pub errors: u64,
    pub v2a_p50_ms: f64,
    pub v2a_p99_ms: f64,
    pub a2v_p50_ms: f64,
    pub a2v_p99_ms: f64,
    pub ack_p99_ms: f64,
    pub visitors: i64,
    pub agents: i64,
    pub chatting: i64,
    pub server_rss_mb: Option<f64>,
    pub server_cpu_percent: Option<f64>,
    #[serde(default)]
    pub conversation_actors: Option<f64>,
    /// The generator's processes (parent + workers), % of one core.
    #[serde(default)]
    pub generator_cpu_percent: Option<f64>,
    /// The busiest single worker, % of one core.
    #[serde(default)]
    pub generator_worker_max_percent: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PhaseInfo {
    pub name: String,
    pub start_secs: u64,
    pub end_secs: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub description: String,
    pub scenario_toml: String,
    pub command: String,
    pub started_unix: u64,
    pub started_utc: String,
    pub duration_secs: f64,
    pub machine: Machine,
    /// Where clients connected (nodes, or a balancer).
    pub targets: Vec<String>,
    /// Where agents connected, when not the same as the visitors (`--agent-target`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agent_targets: Vec<String>,
    /// Where the server was measured (each node's metrics URL).
    #[serde(default)]
    pub scrape: Vec<String>,
    pub workers: usize,
    pub agents: usize,
    pub latency: BTreeMap<String, Summary>,
    pub counters: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    pub errors_total: u64,
    pub loss: Loss,
    pub loss_total: u64,
    pub conversations_checked: usize,
    /// Conversations with a lost tail: id and merged per-side summary (seqs, ms since start).
    pub tail_lost_examples: Vec<String>,
    pub throughput: Throughput,
    pub capacity: Capacity,
    /// Set when the scenario's stop rule ended the run before its last phase did.
    #[serde(default)]
    pub stopped_early: Option<StoppedEarly>,
    pub server: ServerSummary,
    /// The load generator's own CPU (the harness's parent and worker processes).
    #[serde(default)]
    pub generator: Option<GeneratorUsage>,
    #[serde(default)]
    pub trend: Trend,
    pub phases: Vec<PhaseInfo>,
    pub timeline: Vec<Point>,
}

/// Everything the runner collected.
pub struct RunData {
    pub total: Stats,
    pub ticks: BTreeMap<u64, (Stats, Gauges)>,
    /// Server samples: a baseline before the first client, then one round per interval.
    pub rounds: Vec<Round>,
    pub loss: Loss,
    pub conversations_checked: usize,
    pub tail_lost_examples: Vec<String>,
    /// The generator's exact CPU seconds: the parent's, and each worker's.
    pub generator_cpu: Option<(f64, Vec<Option<f64>>)>,
}

/// What the run was, besides its measurements.
pub struct RunInfo {
    pub command: String,
    pub started_unix: u64,
    pub duration_secs: f64,
    pub targets: Vec<String>,
    pub agent_targets: Vec<String>,
    pub scrape: Vec<String>,
    pub workers: usize,
    pub agents: usize,
    pub stopped_early: Option<StoppedEarly>,
}

fn p(h: Option<&Histogram<u64>>, q: f64) -> f64 {
    match h {
        Some(h) if !h.is_empty() => h.value_at_quantile(q) as f64 / 1e3,
        _ => 0.0,
    }
}

impl Report {
    pub fn build(scen: &Scenario, info: RunInfo, data: &RunData) -> Report {
        let mut r = Report {
            scenario: scen.name.clone(),
            description: scen.description.clone(),
            scenario_toml: scen.to_toml(),
            command: info.command,
            started_unix: info.started_unix,
            started_utc: utc(info.started_unix),
            duration_secs: info.duration_secs,
            machine: Machine::detect(),
            targets: info.targets,
            agent_targets: info.agent_targets,
            scrape: info.scrape,
            workers: info.workers,
            agents: info.agents,
            ..Report::default()
        };
        for (name, _) in LATENCIES {
            if let Some(h) = data.total.hists.get(*name) {
                r.latency.insert(name.to_string(), Summary::of(h));
            }
        }
        r.counters = data.total.counters.clone();
        r.errors = data.total.errors.clone();
        r.errors_total = data.total.error_total();
        r.loss = data.loss.clone();
        r.loss_total = data.loss.total();
        r.conversations_checked = data.conversations_checked;
        r.tail_lost_examples = data.tail_lost_examples.clone();

        // Phases as run: an early stop ends the one running and drops the rest.
        let phases_end = info
            .stopped_early
            .as_ref()
            .map_or(scen.total_secs(), |s| s.at_secs.min(scen.total_secs()));
        let mut start = 0;
        for ph in &scen.phases {
            if start >= phases_end {
                break;
            }
            r.phases.push(PhaseInfo {
                name: ph.name.clone(),
                start_secs: start,
                end_secs: (start + ph.duration_secs).min(phases_end),
            });
            start += ph.duration_secs;
        }
        r.stopped_early = info.stopped_early;
        r.timeline = timeline(data);

        let secs = info.duration_secs.max(1.0);
        let peak = |f: fn(&Point) -> u64| r.timeline.iter().map(f).max().unwrap_or(0) as f64;
        r.throughput = Throughput {
            acked_per_sec_mean: data.total.counter("acked") as f64 / secs,
            acked_per_sec_peak: peak(|p| p.acked),
            delivered_per_sec_mean: data.total.counter("delivered") as f64 / secs,
            delivered_per_sec_peak: peak(|p| p.delivered),
            sessions_per_sec_peak: peak(|p| p.sessions),
            sessions_total: data.total.counter("sessions"),
        };
        r.capacity = capacity::capacity(data, scen.report.p99_target_ms, scen.report.window_secs);
        r.server = server::server_summary(data, &r.phases, data.total.counter("acked"));
        r.trend = trend::trend(&data.rounds, &data.ticks, phases_end);
        r.generator = data.generator_cpu.as_ref().map(|(parent, workers)| {
            generator::usage(
                *parent,
                workers,
                &data.rounds,
                secs,
                r.machine.nproc,
                r.throughput.sessions_total,
                data.total.counter("acked"),
            )
        });
        r
    }

    /// Write `<dir>/<stem>.{json,md,html}` and `<stem>-{latency,throughput,server}.png`.
    pub fn write_all(&self, dir: &Path, stem: &str) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        let mut put = |name: String, bytes: &[u8]| -> std::io::Result<()> {
            let p = dir.join(name);
            std::fs::write(&p, bytes)?;
            written.push(p);
            Ok(())
        };
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        put(format!("{stem}.json"), json.as_bytes())?;
        put(format!("{stem}.md"), self.markdown(Some(stem)).as_bytes())?;
        put(format!("{stem}.html"), self.html().as_bytes())?;
        for (name, c) in self.charts() {
            put(format!("{stem}-{name}.png"), &c.to_png())?;
        }
        Ok(written)
    }
}

/// The server figures of one second: total RSS (MiB), CPU %, live conversation actors.
#[derive(Clone, Copy, Default)]
struct ServerSecond {
    rss_mib: Option<f64>,
    cpu_percent: Option<f64>,
    actors: Option<f64>,
}

/// Per-second points, each joined with the server round of the same second (CPU % from the
/// total CPU between consecutive rounds).
fn timeline(data: &RunData) -> Vec<Point> {
    let mut prev_cpu: Option<(f64, f64)> = None;
    let mut server_by_t: BTreeMap<u64, ServerSecond> = BTreeMap::new();
    for round in &data.rounds {
        let total_cpu = server::cpu(round);
        let cpu_pct = match (prev_cpu, total_cpu) {
            (Some((t0, c0)), Some(c1)) if round.t > t0 => Some((c1 - c0) / (round.t - t0) * 100.0),
            _ => None,
        };
        if let Some(c) = total_cpu {
            prev_cpu = Some((round.t, c));
        }
        if round.t < 0.0 {
            continue;
        }
        let second = ServerSecond {
            rss_mib: server::rss(round).map(|b| b as f64 / 1048576.0),
            cpu_percent: cpu_pct,
            actors: round.total_present(|s| s.conversation_actors),
        };
        server_by_t.insert(round.t.round() as u64, second);
    }
    let generator_by_t: BTreeMap<u64, (f64, f64)> = generator::worker_percents(&data.rounds)
        .into_iter()
        .filter(|(t, _, _)| *t >= 0.0)
        .map(|(t, all, busiest)| (t.round() as u64, (all, busiest)))
        .collect();
    let mut points = Vec::with_capacity(data.ticks.len());
    for (t, (st, g)) in &data.ticks {
        let srv = server_by_t.get(t).copied().unwrap_or_default();
        let mut ack = new_hist();
        for k in ["ack_visitor", "ack_agent"] {
            if let Some(h) = st.hists.get(k) {
                merge_hist(&mut ack, h);
            }
        }
        points.push(Point {
            t: *t,
            acked: st.counter("acked"),
            delivered: st.counter("delivered"),
            sessions: st.counter("sessions"),
            errors: st.error_total(),
            v2a_p50_ms: p(st.hists.get("v2a"), 0.5),
            v2a_p99_ms: p(st.hists.get("v2a"), 0.99),
            a2v_p50_ms: p(st.hists.get("a2v"), 0.5),
            a2v_p99_ms: p(st.hists.get("a2v"), 0.99),
            ack_p99_ms: p(Some(&ack), 0.99),
            visitors: g.visitors,
            agents: g.agents,
            chatting: g.chatting,
            server_rss_mb: srv.rss_mib,
            server_cpu_percent: srv.cpu_percent,
            conversation_actors: srv.actors,
            generator_cpu_percent: generator_by_t.get(t).map(|g| g.0),
            generator_worker_max_percent: generator_by_t.get(t).map(|g| g.1),
        });
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::Sample;

    fn data() -> RunData {
        let mut ticks = BTreeMap::new();
        let mut total = Stats::default();
        for t in 1..=10u64 {
            let mut st = Stats::default();
            st.incr("acked", 100 * t);
            st.incr("delivered", 100 * t);
            st.incr("sessions", 5);
            // Latency grows with load: 2 ms per 100 msgs/s.
            for _ in 0..100 {
                st.record_us("v2a", 2_000 * t);
            }
            total.merge(&st);
            ticks.insert(
                t,
                (
                    st,
                    Gauges {
                        visitors: 10 * t as i64,
                        agents: 2,
                        chatting: 1,
                    },
                ),
            );
        }
        let rounds = (0..=10)
            .map(|t| Round {
                t: t as f64,
                nodes: vec![Sample {
                    t: t as f64,
                    node: "n".into(),
                    rss_bytes: Some(10_000_000 + t * 100_000),
                    cpu_seconds: Some(t as f64 * 0.5),
                    source: "proc".into(),
                    ..Sample::default()
                }],
                generator: None,
            })
            .collect();
        RunData {
            total,
            ticks,
            rounds,
            loss: Loss::default(),
            conversations_checked: 3,
            tail_lost_examples: Vec::new(),
            generator_cpu: None,
        }
    }

    fn info(started_unix: u64) -> RunInfo {
        RunInfo {
            command: "cmd".into(),
            started_unix,
            duration_secs: 10.0,
            targets: vec!["t".into()],
            agent_targets: Vec::new(),
            scrape: vec!["t/metrics".into()],
            workers: 1,
            agents: 1,
            stopped_early: None,
        }
    }

    #[test]
    fn capacity_picks_busiest_window_under_target() {
        let mut scen = Scenario::parse("[[phases]]\nduration_secs = 10\n").unwrap();
        scen.report.window_secs = 2;
        scen.report.p99_target_ms = 13.0;
        let r = Report::build(&scen, info(0), &data());
        let best = r.capacity.best.clone().unwrap();
        // Ticks 5 and 6 have p99 10 and 12 ms; tick 7 (14 ms) is over the target.
        assert_eq!((best.start, best.end), (4, 6));
        assert_eq!(best.acked_per_sec, 550.0);
        assert_eq!(r.capacity.busiest.unwrap().acked_per_sec, 950.0);
        assert_eq!(r.throughput.acked_per_sec_peak, 1000.0);
        assert_eq!(r.timeline.len(), 10);
        assert_eq!(r.timeline[0].server_cpu_percent, Some(50.0));
        // 5 CPU seconds for 5,500 messages.
        assert!((r.server.cpu_us_per_message.unwrap() - 5.0 / 5500.0 * 1e6).abs() < 1e-6);
        // Phase end at 10 s: RSS grew 1 MB for 102 sockets.
        let ph = &r.server.phases[0];
        assert!((ph.rss_per_session_bytes.unwrap() - 1_000_000.0 / 102.0).abs() < 1.0);
    }

    #[test]
    fn writes_every_format_and_json_parses_back() {
        let scen = Scenario::parse("name = \"t\"\n[[phases]]\nduration_secs = 10\n").unwrap();
        let r = Report::build(&scen, info(1_700_000_000), &data());
        let dir = tempfile::tempdir().unwrap();
        let files = r.write_all(dir.path(), "t").unwrap();
        assert_eq!(files.len(), 6);
        let back: Report =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("t.json")).unwrap())
                .unwrap();
        assert_eq!(back.timeline.len(), 10);
        assert_eq!(back.server.nodes.len(), 1);
        let html = std::fs::read_to_string(dir.path().join("t.html")).unwrap();
        assert!(html.contains("<svg") && !html.contains("<script"));
        let md = std::fs::read_to_string(dir.path().join("t.md")).unwrap();
        assert!(md.contains("t-latency.png"));
        assert!(md.contains("| node |"), "per-node table: {md}");
    }
}
