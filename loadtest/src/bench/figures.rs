//! The figures the summary table shows, taken from each run's report. Everything here is also
//! in `bench.json`, so a script can compare two benches without parsing the table.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::runs::RunDef;
use crate::report::{GeneratorUsage, Report, Window};
use crate::runner::stop::StoppedEarly;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Figures {
    pub ramp: Option<Ramp>,
    pub idle: Option<Idle>,
    pub storm: Option<Storm>,
    /// The 3-node `ramp` (visitors and agents on different nodes).
    pub cluster: Option<Ramp>,
    /// Every run of the bench, in order: loss, errors, or why it failed.
    pub runs: Vec<Outcome>,
}

/// A `ramp`: capacity and what it cost.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ramp {
    pub nodes: usize,
    pub p99_target_ms: f64,
    /// The busiest window with delivery p99 within the target.
    pub capacity: Option<Window>,
    /// The busiest window whatever its latency.
    pub busiest: Option<Window>,
    /// Server CPU per acked message over the run, all nodes summed.
    pub cpu_us_per_message: Option<f64>,
    pub stopped_early: Option<StoppedEarly>,
    /// How long the scenario's phases would have run without a stop.
    pub phases_secs: u64,
    pub workers: usize,
    /// Means over the capacity window, % of one core: the nodes together, the generator
    /// (parent + workers), and the busiest worker's highest second.
    pub node_cpu_percent: Option<f64>,
    pub generator_cpu_percent: Option<f64>,
    pub busiest_worker_percent: Option<f64>,
    /// What set the limit at the knee (the windows that stopped the run, else the capacity
    /// window): the node, the generator, or the machine's cores shared by both.
    #[serde(default)]
    pub limit: Option<Limit>,
}

/// What set the pace where the ramp turned: judged from CPU, because a node and a generator on
/// one machine slow each other down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Limit {
    /// A worker (single-threaded) near a full core: its clients waited on it, so the measured
    /// latency is partly the generator's.
    Generator { busiest_worker_percent: f64 },
    /// Node(s) and generator together near every core of the machine.
    Machine {
        node_percent: f64,
        generator_percent: f64,
        cores: usize,
    },
    /// Neither: the node reached its limit with CPU to spare around it.
    Node {
        node_percent: Option<f64>,
        generator_percent: Option<f64>,
    },
}

/// A worker at or above this share of a core is taken as the limit.
const WORKER_SATURATED_PERCENT: f64 = 90.0;
/// Node(s) + generator at or above this share of all cores: the machine was the limit.
const MACHINE_SATURATED_SHARE: f64 = 0.9;

/// The verdict from the timeline points of the knee (`cores`: the machine's).
pub fn limit(points: &[&crate::report::Point], cores: usize) -> Option<Limit> {
    if points.is_empty() {
        return None;
    }
    let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let node = mean(points.iter().filter_map(|p| p.server_cpu_percent).collect());
    let generator = mean(
        points
            .iter()
            .filter_map(|p| p.generator_cpu_percent)
            .collect(),
    );
    let busiest = points
        .iter()
        .filter_map(|p| p.generator_worker_max_percent)
        .reduce(f64::max);
    if let Some(b) = busiest.filter(|b| *b >= WORKER_SATURATED_PERCENT) {
        return Some(Limit::Generator {
            busiest_worker_percent: b,
        });
    }
    if let (Some(n), Some(g)) = (node, generator) {
        if n + g >= cores.max(1) as f64 * 100.0 * MACHINE_SATURATED_SHARE {
            return Some(Limit::Machine {
                node_percent: n,
                generator_percent: g,
                cores,
            });
        }
    }
    Some(Limit::Node {
        node_percent: node,
        generator_percent: generator,
    })
}

/// `idle`: memory and CPU per idle visitor session.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Idle {
    pub sessions: u64,
    /// Server RSS growth divided by the open sockets, at the end of the last phase.
    pub rss_per_session_bytes: Option<f64>,
    pub sessions_per_sec_best: f64,
    pub server_cpu_us_per_session: Option<f64>,
    pub generator: Option<GeneratorUsage>,
}

/// `reconnect-storm`: reconnect start -> resubscribed with the gap delivered.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Storm {
    pub resumes: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One run's verdict.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Outcome {
    pub run: String,
    pub scenario: String,
    pub nodes: usize,
    pub loss: u64,
    pub errors: u64,
    pub error_codes: BTreeMap<String, u64>,
    /// Set when the run did not complete (no report).
    pub failed: Option<String>,
    /// Wall time of the run, node start to node stop.
    pub wall_secs: f64,
}

impl Figures {
    /// Add one run's report (or its failure) to the figures.
    pub fn add(
        &mut self,
        def: &RunDef,
        nodes: usize,
        result: &Result<Report, String>,
        wall_secs: f64,
    ) {
        let mut outcome = Outcome {
            run: def.name.into(),
            scenario: def.scenario.into(),
            nodes,
            wall_secs,
            ..Outcome::default()
        };
        match result {
            Err(e) => outcome.failed = Some(e.clone()),
            Ok(r) => {
                outcome.scenario = r.scenario.clone();
                outcome.loss = r.loss_total;
                outcome.errors = r.errors_total;
                outcome.error_codes = r.errors.clone();
                match def.name {
                    "ramp" => self.ramp = Some(ramp(r, nodes)),
                    "cluster-ramp" => self.cluster = Some(ramp(r, nodes)),
                    "idle" => self.idle = Some(idle(r)),
                    "reconnect-storm" => self.storm = storm(r),
                    _ => {}
                }
            }
        }
        self.runs.push(outcome);
    }

    /// Whether every run completed with zero loss and zero errors.
    pub fn clean(&self) -> bool {
        self.runs
            .iter()
            .all(|o| o.failed.is_none() && o.loss == 0 && o.errors == 0)
    }
}

fn ramp(r: &Report, nodes: usize) -> Ramp {
    let mut f = Ramp {
        nodes,
        p99_target_ms: r.capacity.p99_target_ms,
        capacity: r.capacity.best.clone(),
        busiest: r.capacity.busiest.clone(),
        cpu_us_per_message: r.server.cpu_us_per_message,
        stopped_early: r.stopped_early.clone(),
        phases_secs: scenario_secs(r),
        workers: r.workers,
        ..Ramp::default()
    };
    if let Some(w) = &f.capacity {
        // Timeline point t is the second [t-1, t): the window [start, end) is start+1..=end.
        let points: Vec<_> = r
            .timeline
            .iter()
            .filter(|p| p.t > w.start && p.t <= w.end)
            .collect();
        let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        f.node_cpu_percent = mean(points.iter().filter_map(|p| p.server_cpu_percent).collect());
        f.generator_cpu_percent = mean(
            points
                .iter()
                .filter_map(|p| p.generator_cpu_percent)
                .collect(),
        );
        f.busiest_worker_percent = points
            .iter()
            .filter_map(|p| p.generator_worker_max_percent)
            .reduce(f64::max);
    }
    // The knee: the windows that stopped the run, else the capacity window.
    let knee = match (&f.stopped_early, &f.capacity) {
        (Some(s), _) => Some((
            s.at_secs
                .saturating_sub(s.window_secs * s.window_p99_ms.len() as u64),
            s.at_secs,
        )),
        (None, Some(w)) => Some((w.start, w.end)),
        (None, None) => None,
    };
    if let Some((start, end)) = knee {
        let points: Vec<_> = r
            .timeline
            .iter()
            .filter(|p| p.t > start && p.t <= end)
            .collect();
        f.limit = limit(&points, r.machine.nproc);
    }
    f
}

/// The scenario's phases in seconds, from the TOML the report carries.
fn scenario_secs(r: &Report) -> u64 {
    crate::scenario::Scenario::parse(&r.scenario_toml)
        .map(|s| s.total_secs())
        .unwrap_or(0)
}

fn idle(r: &Report) -> Idle {
    let sessions = r.throughput.sessions_total;
    Idle {
        sessions,
        rss_per_session_bytes: r
            .server
            .phases
            .iter()
            .rev()
            .find_map(|p| p.rss_per_session_bytes),
        sessions_per_sec_best: r.throughput.sessions_per_sec_peak,
        server_cpu_us_per_session: r
            .server
            .cpu_seconds
            .filter(|_| sessions > 0)
            .map(|c| c / sessions as f64 * 1e6),
        generator: r.generator.clone(),
    }
}

fn storm(r: &Report) -> Option<Storm> {
    let s = r.latency.get("resume").filter(|s| s.count > 0)?;
    Some(Storm {
        resumes: s.count,
        p50_ms: s.p50_ms,
        p99_ms: s.p99_ms,
        max_ms: s.max_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Point;

    fn point(node: f64, generator: f64, worker: f64) -> Point {
        Point {
            server_cpu_percent: Some(node),
            generator_cpu_percent: Some(generator),
            generator_worker_max_percent: Some(worker),
            ..Point::default()
        }
    }

    #[test]
    fn says_which_side_set_the_limit() {
        let judge = |ps: &[Point]| limit(&ps.iter().collect::<Vec<_>>(), 2);
        assert_eq!(judge(&[]), None);
        // A worker at a full core: the generator, whatever the node did.
        assert_eq!(
            judge(&[point(80.0, 100.0, 60.0), point(90.0, 130.0, 97.0)]),
            Some(Limit::Generator {
                busiest_worker_percent: 97.0
            })
        );
        // Both cores busy between them.
        assert_eq!(
            judge(&[point(120.0, 70.0, 40.0)]),
            Some(Limit::Machine {
                node_percent: 120.0,
                generator_percent: 70.0,
                cores: 2
            })
        );
        // CPU to spare: the node's own limit (its writer, its locks).
        assert_eq!(
            judge(&[point(60.0, 30.0, 20.0), point(80.0, 50.0, 30.0)]),
            Some(Limit::Node {
                node_percent: Some(70.0),
                generator_percent: Some(40.0)
            })
        );
    }
}
