//! The parent process: prepares agents over HTTP, starts the worker processes, merges their
//! per-second reports into one timeline, samples the server nodes (and the generator's own
//! processes, [`generator`]), stops the run early when the scenario says so ([`stop`]), and
//! writes the final report.

pub mod generator;
pub mod stop;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::api::Api;
use crate::conn::now_ns;
use crate::loss::{tail_loss, ConvSummary, Loss, GRACE_MS};
use crate::report::{Report, RunData, RunInfo};
use crate::scenario::Scenario;
use crate::scrape::{find_listen_pid, sample_all, Round};
use crate::stats::{delivery_p99, Stats};
use crate::targets::{scrape_nodes, ScrapeNode};
use crate::worker::{AgentCreds, Gauges, WorkerMsg, WorkerSpec};
use stop::{EarlyStop, StoppedEarly, WindowSeen};

pub struct RunOptions {
    pub scenario: Scenario,
    /// Where clients connect (nodes or a balancer); at least one.
    pub targets: Vec<SocketAddr>,
    /// Where agents connect (`--agent-target`); empty = `targets`, like the visitors.
    pub agent_targets: Vec<SocketAddr>,
    /// Metrics URLs of the nodes (`--scrape`); empty = every target's (and agent target's)
    /// `/metrics`.
    pub scrape: Vec<(String, SocketAddr)>,
    pub out_dir: std::path::PathBuf,
    pub workers: Option<usize>,
    pub agents: Option<usize>,
    /// `--server-pid`s, in scrape-node order.
    pub server_pids: Vec<u32>,
    pub admin_email: String,
    pub admin_password: String,
    pub command_line: String,
    /// No progress line or worker logs on stderr.
    pub quiet: bool,
    /// Print the Markdown report and the files written on stdout at the end.
    pub print_report: bool,
}

pub fn run(opts: RunOptions) -> Result<Report, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(run_async(opts))
}

fn spawn_worker(spec: &WorkerSpec) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .arg("worker")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting worker {}: {e}", spec.index))?;
    let line = serde_json::to_string(spec).map_err(|e| e.to_string())?;
    let stdin = child.stdin.as_mut().ok_or("worker stdin")?;
    writeln!(stdin, "{line}").map_err(|e| format!("worker {} stdin: {e}", spec.index))?;
    stdin.flush().map_err(|e| e.to_string())?;
    Ok(child)
}

struct Merge {
    ticks: BTreeMap<u64, (Stats, Gauges, usize)>,
    finals: Vec<(Stats, Loss, HashMap<String, ConvSummary>)>,
}

async fn run_async(opts: RunOptions) -> Result<Report, String> {
    let scen = opts.scenario.clone();
    let own_cpu_start = generator::own_cpu_seconds();
    let api = Api::new()?;
    let agent_targets = if opts.agent_targets.is_empty() {
        opts.targets.clone()
    } else {
        opts.agent_targets.clone()
    };
    let mut all_targets = opts.targets.clone();
    all_targets.extend(agent_targets.iter().filter(|t| !opts.targets.contains(t)));
    for t in &all_targets {
        api.wait_healthy(*t, Duration::from_secs(15)).await?;
    }
    let nodes = scrape_nodes(
        &all_targets,
        &opts.scrape,
        &opts.server_pids,
        find_listen_pid,
    );
    let n_agents = opts.agents.unwrap_or_else(|| scen.agent_count());
    let workers = opts.workers.unwrap_or_else(|| scen.worker_count()).max(1);
    let say = |s: String| {
        if !opts.quiet {
            eprintln!("{s}");
        }
    };
    let list = |a: &[SocketAddr]| {
        a.iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    say(format!(
        "scenario `{}`: {} s in {} phases, {} workers, {} agents (capacity {}), targets {}{}",
        scen.name,
        scen.total_secs(),
        scen.phases.len(),
        workers,
        n_agents,
        scen.agents.capacity,
        list(&opts.targets),
        if opts.agent_targets.is_empty() {
            String::new()
        } else {
            format!(", agents on {}", list(&agent_targets))
        }
    ));
    for n in &nodes {
        say(format!(
            "measuring {} ({})",
            n.url,
            n.pid
                .map(|p| format!("pid {p}"))
                .unwrap_or("metrics only".into())
        ));
    }
    let t_agents = Instant::now();
    let admin = (opts.admin_email.as_str(), opts.admin_password.as_str());
    let creds =
        crate::accounts::prepare(&api, agent_targets[0], admin, &scen.agents, n_agents).await?;
    say(format!(
        "{} agents ready in {:.1} s",
        creds.len(),
        t_agents.elapsed().as_secs_f64()
    ));

    let start_unix_ns = now_ns() + 700_000_000 + workers as u64 * 100_000_000;
    let started_unix = start_unix_ns / 1_000_000_000;
    let mut children = Vec::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Result<WorkerMsg, String>>();
    for index in 0..workers {
        let agents: Vec<AgentCreds> = creds
            .iter()
            .enumerate()
            .filter(|(i, _)| i % workers == index)
            .map(|(_, c)| c.clone())
            .collect();
        let spec = WorkerSpec {
            index,
            workers,
            scenario: scen.clone(),
            targets: opts.targets.clone(),
            agent_targets: opts.agent_targets.clone(),
            start_unix_ns,
            agents,
        };
        let mut child = spawn_worker(&spec)?;
        let stdout = child.stdout.take().ok_or("worker stdout")?;
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let msg = match line {
                    Ok(l) => serde_json::from_str::<WorkerMsg>(&l)
                        .map_err(|e| format!("worker {index}: bad line: {e}")),
                    Err(e) => Err(format!("worker {index}: {e}")),
                };
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        children.push(child);
    }
    drop(tx);
    let worker_pids: Vec<u32> = children.iter().map(|c| c.id()).collect();

    // Server samples: one baseline round before the first client, then every interval.
    let rounds: Arc<Mutex<Vec<Round>>> = Arc::new(Mutex::new(Vec::new()));
    let t0_wall = Duration::from_nanos(start_unix_ns);
    let rel = move || (Duration::from_nanos(now_ns()).as_secs_f64()) - t0_wall.as_secs_f64();
    let mut baseline = sample_all(&api, &nodes, rel().min(0.0)).await;
    baseline.generator = Some(generator::sample(&worker_pids));
    rounds.lock().expect("rounds").push(baseline);
    let scraper = spawn_scraper(
        &api,
        &nodes,
        &worker_pids,
        &rounds,
        &scen,
        start_unix_ns,
        rel,
    );

    let phases_secs = scen.total_secs();
    let total = phases_secs + scen.generator.drain_secs;
    let mut early_stop = EarlyStop::new(&scen.report);
    let mut stopped: Option<StoppedEarly> = None;
    let hard_deadline = Instant::now() + Duration::from_secs(total + 90);
    let mut merge = Merge {
        ticks: BTreeMap::new(),
        finals: Vec::new(),
    };
    let tty = std::io::stderr().is_terminal();
    let mut last_printed = 0;
    while merge.finals.len() < workers {
        let msg = match tokio::time::timeout_at(hard_deadline.into(), rx.recv()).await {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(_) => {
                say("workers did not finish in time; reporting what arrived".into());
                break;
            }
        };
        match msg {
            Ok(WorkerMsg::Tick {
                t, stats, gauges, ..
            }) => {
                let st = Stats::from_wire(&stats)?;
                let e = merge
                    .ticks
                    .entry(t)
                    .or_insert_with(|| (Stats::default(), Gauges::default(), 0));
                e.0.merge(&st);
                e.1.visitors += gauges.visitors;
                e.1.agents += gauges.agents;
                e.1.chatting += gauges.chatting;
                e.2 += 1;
                let complete = e.2 == workers;
                if complete && stopped.is_none() {
                    let seen = |secs: std::ops::RangeInclusive<u64>| {
                        let seconds = || merge.ticks.range(secs.clone()).map(|(_, e)| &e.0);
                        WindowSeen {
                            p99_ms: delivery_p99(seconds()),
                            errors: seconds().map(Stats::error_total).sum(),
                        }
                    };
                    stopped = early_stop
                        .as_mut()
                        .and_then(|rule| rule.after_second(t, phases_secs, seen));
                    if let Some(s) = &stopped {
                        let clear = if tty { "\r\x1b[K" } else { "" };
                        say(format!("{clear}{}; draining", s.describe()));
                        tell_workers_to_stop(&mut children);
                    }
                }
                let e = &merge.ticks[&t];
                if complete && t > last_printed && !opts.quiet {
                    last_printed = t;
                    let line = progress(&scen, t, total, &e.0, &e.1);
                    if tty {
                        eprint!("\r{line}\x1b[K");
                    } else if t % 5 == 0 {
                        eprintln!("{line}");
                    }
                }
            }
            Ok(WorkerMsg::Final {
                stats, loss, convs, ..
            }) => {
                merge.finals.push((Stats::from_wire(&stats)?, loss, convs));
            }
            Ok(WorkerMsg::Log { worker, text }) => {
                if !opts.quiet {
                    eprintln!(
                        "{}[worker {worker}] {text}",
                        if tty { "\r\x1b[K" } else { "" }
                    );
                }
            }
            Err(e) => say(e),
        }
    }
    if tty && !opts.quiet {
        eprintln!();
    }
    scraper.abort();
    let mut worker_cpu = Vec::new();
    for mut c in children {
        // Closing stdin tells a worker still running to exit.
        drop(c.stdin.take());
        worker_cpu.push(generator::reap(&mut c));
    }
    let parent_cpu = generator::own_cpu_seconds() - own_cpu_start;
    let mut total_stats = Stats::default();
    let mut ticks = BTreeMap::new();
    for (t, (st, g, _)) in merge.ticks {
        total_stats.merge(&st);
        ticks.insert(t, (st, g));
    }
    let mut loss = Loss::default();
    let mut parts = Vec::new();
    for (st, l, convs) in &merge.finals {
        total_stats.merge(st);
        loss.add(l);
        parts.push(convs.clone());
    }
    let (tail, checked, examples) = tail_loss(&parts, GRACE_MS);
    loss.tail_lost += tail;
    if merge.finals.len() < workers {
        total_stats.error("worker_lost");
    }
    let rounds = rounds.lock().expect("rounds").clone();
    let data = RunData {
        total: total_stats,
        ticks,
        rounds,
        loss,
        conversations_checked: checked,
        tail_lost_examples: examples,
        generator_cpu: Some((parent_cpu, worker_cpu)),
    };
    let duration = match &stopped {
        Some(s) => s.at_secs + scen.generator.drain_secs,
        None => total,
    };
    let info = RunInfo {
        command: opts.command_line.clone(),
        started_unix,
        duration_secs: duration as f64,
        targets: opts.targets.iter().map(|t| format!("http://{t}")).collect(),
        agent_targets: opts
            .agent_targets
            .iter()
            .map(|t| format!("http://{t}"))
            .collect(),
        scrape: nodes.iter().map(|n| n.url.clone()).collect(),
        workers,
        agents: creds.len(),
        stopped_early: stopped,
    };
    let report = Report::build(&scen, info, &data);
    let files = report
        .write_all(&opts.out_dir, &scen.name)
        .map_err(|e| format!("writing the report: {e}"))?;
    if opts.print_report {
        println!("{}", report.markdown(None));
        for f in files {
            println!("wrote {}", f.display());
        }
    }
    Ok(report)
}

/// The early stop: a `stop` line to every worker (see `worker.rs`); each drains and reports.
fn tell_workers_to_stop(children: &mut [Child]) {
    for c in children {
        if let Some(stdin) = c.stdin.as_mut() {
            let _ = writeln!(stdin, "stop").and_then(|_| stdin.flush());
        }
    }
}

/// Sample every node (and the generator's processes) once per `scrape_interval_ms` from the
/// run start until aborted.
fn spawn_scraper(
    api: &Api,
    nodes: &[ScrapeNode],
    worker_pids: &[u32],
    rounds: &Arc<Mutex<Vec<Round>>>,
    scen: &Scenario,
    start_unix_ns: u64,
    rel: impl Fn() -> f64 + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let (api, nodes, rounds) = (api.clone(), nodes.to_vec(), rounds.clone());
    let worker_pids = worker_pids.to_vec();
    let interval = Duration::from_millis(scen.report.scrape_interval_ms.max(100));
    tokio::spawn(async move {
        let wait = Duration::from_nanos(start_unix_ns.saturating_sub(now_ns()));
        tokio::time::sleep(wait).await;
        let mut tick = tokio::time::interval(interval);
        loop {
            tick.tick().await;
            let generator = generator::sample(&worker_pids);
            let mut round = sample_all(&api, &nodes, rel()).await;
            round.generator = Some(generator);
            rounds.lock().expect("rounds").push(round);
        }
    })
}

fn progress(scen: &Scenario, t: u64, total: u64, st: &Stats, g: &Gauges) -> String {
    let p99 = |k: &str| {
        st.hists
            .get(k)
            .filter(|h| !h.is_empty())
            .map(|h| format!("{:.1}", h.value_at_quantile(0.99) as f64 / 1e3))
            .unwrap_or("-".into())
    };
    let phase = scen
        .phase_at(t as f64 - 0.5)
        .map(|(_, p, _)| p.name.as_str())
        .unwrap_or("drain");
    format!(
        "[{t:>4}/{total} s] {phase:<10} visitors {:>6} agents {:>4} chatting {:>5} | acked {:>6}/s delivered {:>6}/s sessions {:>5}/s | p99 ms v2a {} a2v {} | errors {}",
        g.visitors,
        g.agents,
        g.chatting,
        st.counter("acked"),
        st.counter("delivered"),
        st.counter("sessions"),
        p99("v2a"),
        p99("a2v"),
        st.error_total()
    )
}
