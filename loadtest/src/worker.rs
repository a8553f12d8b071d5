//! A worker process: runs its share of visitors and agents on one thread, and reports to the
//! parent over stdout in JSON lines (a `tick` per second, one `final` at the end).
//!
//! The parent starts `switchboard-loadtest worker` and writes one `WorkerSpec` line to its
//! stdin. One thread per worker keeps the generator's own CPU use predictable; more load means
//! more workers (the parent sizes them by the socket estimate and `generator.workers`). Later
//! lines on stdin: `stop` ends the phases early (the early stop, `runner/stop.rs`) and the run
//! drains as at its normal end; stdin closing means the parent is gone.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

use crate::conn::{now_ns, Control};
use crate::loss::{ConvSummary, Loss};
use crate::scenario::Scenario;
use crate::stats::{Stats, StatsWire};
use crate::targets::Cursor;
use crate::{agent, visitor};

/// An agent the parent logged in for this worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentCreds {
    pub email: String,
    pub agent_id: String,
    pub token: String,
}

/// What a worker is told to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerSpec {
    pub index: usize,
    pub workers: usize,
    pub scenario: Scenario,
    /// Where clients connect; each client starts on the next one in turn (see `targets.rs`).
    pub targets: Vec<SocketAddr>,
    /// Where agents connect instead (`--agent-target`); empty = `targets`.
    #[serde(default)]
    pub agent_targets: Vec<SocketAddr>,
    /// Wall-clock start of the run; every worker's second 0 is the same second.
    pub start_unix_ns: u64,
    pub agents: Vec<AgentCreds>,
}

/// Open connections and chats at the moment of a tick.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Gauges {
    pub visitors: i64,
    pub agents: i64,
    pub chatting: i64,
}

/// A line a worker writes to stdout.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkerMsg {
    Tick {
        worker: usize,
        /// Seconds since the run start (the interval `[t-1, t)`).
        t: u64,
        stats: StatsWire,
        gauges: Gauges,
    },
    Final {
        worker: usize,
        stats: StatsWire,
        loss: Loss,
        convs: HashMap<String, ConvSummary>,
    },
    Log {
        worker: usize,
        text: String,
    },
}

/// Mutable state shared by the tasks of one worker (single thread, so `RefCell`).
#[derive(Default)]
pub struct Shared {
    pub stats: Stats,
    pub loss: Loss,
    pub convs: HashMap<String, ConvSummary>,
    pub gauges: Gauges,
}

/// Everything a simulated client needs from its worker.
pub struct Ctx {
    pub spec: WorkerSpec,
    pub sources: Vec<IpAddr>,
    next_source: Cell<usize>,
    pub t0: Instant,
    pub control: watch::Receiver<Control>,
    pub shared: RefCell<Shared>,
    next_client: Cell<u64>,
}

impl Ctx {
    pub fn scen(&self) -> &Scenario {
        &self.spec.scenario
    }

    pub fn next_source(&self) -> Option<IpAddr> {
        if self.sources.is_empty() {
            return None;
        }
        let i = self.next_source.get();
        self.next_source.set(i.wrapping_add(1));
        Some(self.sources[i % self.sources.len()])
    }

    /// Milliseconds since the run start.
    pub fn now_ms(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }

    /// A new client's tag (for logs and message ids) and its target cursor.
    pub fn new_client(&self, kind: &str) -> (String, Cursor) {
        let n = self.next_client.get();
        self.next_client.set(n + 1);
        let cursor = Cursor::new(n, self.spec.index, self.spec.workers);
        (format!("w{}{kind}{n}", self.spec.index), cursor)
    }

    /// The target of a visitor's next connection; counted per target, so a run shows how its
    /// connections spread (`connects_target_<i>`).
    pub fn next_target(&self, cursor: &mut Cursor) -> SocketAddr {
        let (i, t) = cursor.pick(&self.spec.targets);
        if self.spec.targets.len() > 1 {
            self.incr(&format!("connects_target_{i}"));
        }
        t
    }

    /// The target of an agent's next connection: the agent targets when there are any
    /// (`connects_agent_target_<i>`), else the same as a visitor's.
    pub fn next_agent_target(&self, cursor: &mut Cursor) -> SocketAddr {
        if self.spec.agent_targets.is_empty() {
            return self.next_target(cursor);
        }
        let (i, t) = cursor.pick(&self.spec.agent_targets);
        self.incr(&format!("connects_agent_target_{i}"));
        t
    }

    /// A control receiver for one client, with the current state marked as seen: a client
    /// created after a storm must not take that storm as news.
    pub fn control(&self) -> watch::Receiver<Control> {
        let mut r = self.control.clone();
        r.borrow_and_update();
        r
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut Shared) -> R) -> R {
        f(&mut self.shared.borrow_mut())
    }

    pub fn record_us(&self, name: &str, us: u64) {
        self.with(|s| s.stats.record_us(name, us));
    }

    pub fn incr(&self, name: &str) {
        self.with(|s| s.stats.incr(name, 1));
    }

    pub fn error(&self, code: &str) {
        self.with(|s| s.stats.error(code));
    }

    pub fn log(&self, text: String) {
        emit(&WorkerMsg::Log {
            worker: self.spec.index,
            text,
        });
    }
}

fn emit(msg: &WorkerMsg) {
    let line = serde_json::to_string(msg).expect("worker messages serialise");
    let mut out = std::io::stdout().lock();
    // The parent reads every line; if it is gone there is nobody to report to.
    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
        std::process::exit(1);
    }
}

/// Entry point of `switchboard-loadtest worker`.
pub fn main() -> Result<(), String> {
    raise_nofile_limit();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("reading the worker spec: {e}"))?;
    let spec: WorkerSpec =
        serde_json::from_str(&line).map_err(|e| format!("bad worker spec: {e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, run(spec));
    Ok(())
}

/// Raise the soft open-files limit to the hard one (20,000 here).
pub fn raise_nofile_limit() {
    // SAFETY: getrlimit/setrlimit with a valid, initialised struct.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

async fn run(spec: WorkerSpec) {
    // Wait for the common start second.
    let wait_ns = spec.start_unix_ns.saturating_sub(now_ns());
    tokio::time::sleep(Duration::from_nanos(wait_ns)).await;
    let (control_tx, control_rx) = watch::channel(Control {
        sending: true,
        ..Control::default()
    });
    let every_target: Vec<SocketAddr> = spec
        .targets
        .iter()
        .chain(&spec.agent_targets)
        .copied()
        .collect();
    let sources = crate::net::source_ips(
        &every_target,
        spec.index,
        spec.scenario.generator.source_ips,
    );
    let ctx = Rc::new(Ctx {
        spec,
        sources,
        next_source: Cell::new(0),
        t0: Instant::now(),
        control: control_rx,
        shared: RefCell::new(Shared::default()),
        next_client: Cell::new(0),
    });

    // A `stop` line ends the phases early; stdin closing means the parent is gone: exit at once.
    let (stop_tx, mut stop_rx) = watch::channel(false);
    std::thread::spawn(move || {
        let mut line = String::new();
        while std::io::stdin().lock().read_line(&mut line).unwrap_or(0) > 0 {
            if line.trim() == "stop" {
                let _ = stop_tx.send(true);
            }
            line.clear();
        }
        std::process::exit(2);
    });

    let mut tasks = tokio::task::JoinSet::new();
    for creds in ctx.spec.agents.clone() {
        tasks.spawn_local(agent::run(ctx.clone(), creds));
    }
    tokio::task::spawn_local(ticker(ctx.clone()));
    // Let agents log in and go online before visitors arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let scen = ctx.scen().clone();
    let phases = run_phases(&ctx, &scen, &control_tx, &mut tasks);
    tokio::select! {
        () = phases => {}
        _ = stop_rx.wait_for(|stop| *stop) => {
            ctx.log(format!("stopped early at {:.1} s; draining", ctx.t0.elapsed().as_secs_f64()));
        }
    }
    // Drain: no new messages; in-flight replies arrive.
    control_tx.send_modify(|c| c.sending = false);
    finish(&ctx, &scen, &control_tx, tasks).await;
}

/// The phases in order: storms, idle sessions, arrivals, until the last one ends.
async fn run_phases(
    ctx: &Rc<Ctx>,
    scen: &Scenario,
    control_tx: &watch::Sender<Control>,
    tasks: &mut tokio::task::JoinSet<()>,
) {
    let mut phase_start = Duration::ZERO;
    for (i, phase) in scen.phases.iter().enumerate() {
        control_tx.send_modify(|c| {
            c.sending = phase.send;
            if phase.drop_share > 0.0 {
                c.storm_epoch += 1;
                c.storm_share = phase.drop_share;
                c.storm_agents = phase.drop_agents;
                c.reconnect_delay_ms = Some(phase.reconnect_delay_ms);
            }
        });
        if phase.drop_share > 0.0 {
            ctx.log(format!(
                "phase {i} `{}`: storm, dropping {:.0}% of connections",
                phase.name,
                phase.drop_share * 100.0
            ));
        }
        if phase.hold_idle > 0 {
            let n = share_of(phase.hold_idle, ctx.spec.index, ctx.spec.workers);
            tokio::task::spawn_local(open_idle(ctx.clone(), n));
        }
        let end = phase_start + Duration::from_secs(phase.duration_secs);
        arrivals(ctx, tasks, end).await;
        phase_start = end;
    }
}

/// The end of the run: after the drain, stop every client and report the final figures.
async fn finish(
    ctx: &Rc<Ctx>,
    scen: &Scenario,
    control_tx: &watch::Sender<Control>,
    mut tasks: tokio::task::JoinSet<()>,
) {
    tokio::time::sleep(Duration::from_secs(scen.generator.drain_secs)).await;
    control_tx.send_modify(|c| c.stop = true);
    let all_done = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(15), all_done)
        .await
        .is_err()
    {
        ctx.log("some clients did not finish within 15 s of the stop".into());
    }
    // Idle sessions run in their own tasks; give them a moment to report.
    let idle_deadline = Instant::now() + Duration::from_secs(10);
    while ctx.with(|s| s.gauges.visitors) > 0 && Instant::now() < idle_deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (stats, loss, convs) = ctx.with(|s| {
        let convs = s.convs.drain().collect::<HashMap<_, _>>();
        (s.stats.take(), s.loss.clone(), convs)
    });
    emit(&WorkerMsg::Final {
        worker: ctx.spec.index,
        stats: stats.to_wire(),
        loss,
        convs,
    });
}

/// This worker's part of `total` when split over `workers`.
pub fn share_of(total: usize, index: usize, workers: usize) -> usize {
    total / workers + usize::from(index < total % workers)
}

/// Poisson arrivals of chatting visitors until `end` (since the run start).
async fn arrivals(ctx: &Rc<Ctx>, tasks: &mut tokio::task::JoinSet<()>, end: Duration) {
    let workers = ctx.spec.workers as f64;
    loop {
        let elapsed = ctx.t0.elapsed();
        if elapsed >= end {
            return;
        }
        let rate = ctx.scen().arrival_rate_at(elapsed.as_secs_f64()) / workers;
        if rate <= 0.0 {
            tokio::time::sleep(Duration::from_millis(50).min(end - elapsed)).await;
            continue;
        }
        let u: f64 = rand::rng().random_range(f64::EPSILON..1.0);
        let gap = Duration::from_secs_f64((-u.ln() / rate).min(1.0));
        tokio::time::sleep(gap.min(end.saturating_sub(elapsed))).await;
        if ctx.t0.elapsed() < end {
            tasks.spawn_local(visitor::run(ctx.clone(), false));
        }
    }
}

/// Open `n` idle visitor sessions, at most `idle_connect_concurrency` opening at once.
async fn open_idle(ctx: Rc<Ctx>, n: usize) {
    let conc = match ctx.scen().visitors.idle_connect_concurrency {
        0 => n.max(1),
        c => c,
    };
    let gate = std::sync::Arc::new(Semaphore::new(conc));
    for _ in 0..n {
        if ctx.control.borrow().stop {
            return;
        }
        let permit = gate.clone().acquire_owned().await.expect("semaphore open");
        let c = ctx.clone();
        tokio::task::spawn_local(async move {
            visitor::run_idle(c, permit).await;
        });
    }
}

/// Every second: the interval's stats and gauges to the parent.
async fn ticker(ctx: Rc<Ctx>) {
    let mut t = 0u64;
    loop {
        t += 1;
        tokio::time::sleep_until(ctx.t0 + Duration::from_secs(t)).await;
        let (stats, gauges) = ctx.with(|s| (s.stats.take(), s.gauges));
        emit(&WorkerMsg::Tick {
            worker: ctx.spec.index,
            t,
            stats: stats.to_wire(),
            gauges,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for total in [0, 1, 7, 30_000] {
            for workers in 1..5 {
                let sum: usize = (0..workers).map(|i| share_of(total, i, workers)).sum();
                assert_eq!(sum, total);
            }
        }
    }

    #[test]
    fn worker_messages_round_trip() {
        let m = WorkerMsg::Tick {
            worker: 1,
            t: 3,
            stats: Stats::default().to_wire(),
            gauges: Gauges::default(),
        };
        let s = serde_json::to_string(&m).unwrap();
        assert!(matches!(
            serde_json::from_str::<WorkerMsg>(&s).unwrap(),
            WorkerMsg::Tick { t: 3, .. }
        ));
    }
}
