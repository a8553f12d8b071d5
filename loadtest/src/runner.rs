//! The parent process: prepares agents over HTTP, starts the worker processes, merges their
//! per-second reports into one timeline, samples the server, and writes the final report.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::conn::now_ns;
use crate::loss::{tail_loss, ConvSummary, Loss};
use crate::net::http;
use crate::report::{Report, RunData};
use crate::scenario::Scenario;
use crate::scrape::{find_listen_pid, sample, Sample};
use crate::stats::Stats;
use crate::worker::{AgentCreds, Gauges, WorkerMsg, WorkerSpec};

pub struct RunOptions {
    pub scenario: Scenario,
    pub targets: Vec<SocketAddr>,
    pub out_dir: std::path::PathBuf,
    pub workers: Option<usize>,
    pub agents: Option<usize>,
    pub server_pid: Option<u32>,
    pub admin_email: String,
    pub admin_password: String,
    pub command_line: String,
    pub quiet: bool,
}

/// Parse `http://host:port`, `ws://host:port` or `host:port`.
pub fn parse_target(s: &str) -> Result<SocketAddr, String> {
    let hostport = s
        .trim_start_matches("http://")
        .trim_start_matches("ws://")
        .trim_end_matches('/');
    let hostport = hostport.split('/').next().unwrap_or(hostport);
    hostport
        .to_socket_addrs()
        .map_err(|e| format!("target `{s}`: {e}"))?
        .next()
        .ok_or_else(|| format!("target `{s}` resolves to no address"))
}

pub fn run(opts: RunOptions) -> Result<Report, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(run_async(opts))
}

async fn wait_healthy(target: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match http(
            target,
            "GET",
            "/healthz",
            None,
            None,
            Duration::from_secs(2),
        )
        .await
        {
            Ok(r) if r.status == 200 => return Ok(()),
            other if Instant::now() > deadline => {
                return Err(format!("{target} is not healthy: {other:?}"));
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn login(
    target: SocketAddr,
    email: &str,
    password: &str,
) -> Result<Option<(String, String)>, String> {
    let body = json!({"email": email, "password": password}).to_string();
    let r = http(
        target,
        "POST",
        "/api/v1/login",
        None,
        Some(&body),
        Duration::from_secs(20),
    )
    .await?;
    if r.status == 401 || r.status == 404 {
        return Ok(None);
    }
    if r.status != 200 {
        return Err(format!("login {email}: HTTP {}: {}", r.status, r.body));
    }
    let v: serde_json::Value =
        serde_json::from_str(&r.body).map_err(|e| format!("login {email}: {e}"))?;
    let token = v["token"].as_str().ok_or("login: no token")?.to_string();
    let id = v["agent"]["id"]
        .as_str()
        .ok_or("login: no agent id")?
        .to_string();
    Ok(Some((token, id)))
}

/// Log in (creating when missing) `n` load-test agents, a few at a time.
async fn prepare_agents(opts: &RunOptions, n: usize) -> Result<Vec<AgentCreds>, String> {
    if n == 0 {
        // Not even the admin login: its password hash would skew the server's RSS baseline.
        return Ok(Vec::new());
    }
    let target = opts.targets[0];
    let (admin_token, _) = login(target, &opts.admin_email, &opts.admin_password)
        .await?
        .ok_or_else(|| {
            format!(
                "admin login as {} failed (use --admin-email/--admin-password)",
                opts.admin_email
            )
        })?;
    let a = &opts.scenario.agents;
    let mut out = Vec::with_capacity(n);
    let mut set = tokio::task::JoinSet::new();
    let mut next = 0;
    while out.len() < n {
        while next < n && set.len() < 8 {
            let email = format!("{}-{next}@load.test", a.email_prefix);
            let password = a.password.clone();
            let capacity = a.capacity;
            let admin = admin_token.clone();
            set.spawn(async move {
                if let Some((token, agent_id)) = login(target, &email, &password).await? {
                    return Ok::<_, String>(AgentCreds { email, agent_id, token });
                }
                let body = json!({"email": email, "name": format!("Load agent {email}"), "password": password, "role": "agent", "capacity": capacity}).to_string();
                let r = http(target, "POST", "/api/v1/agents", Some(&admin), Some(&body), Duration::from_secs(20)).await?;
                if r.status != 200 && r.status != 201 {
                    return Err(format!("creating agent {email}: HTTP {}: {}", r.status, r.body));
                }
                let (token, agent_id) = login(target, &email, &password)
                    .await?
                    .ok_or_else(|| format!("agent {email} created but cannot log in"))?;
                Ok(AgentCreds { email, agent_id, token })
            });
            next += 1;
        }
        match set.join_next().await {
            Some(Ok(r)) => out.push(r?),
            Some(Err(e)) => return Err(e.to_string()),
            None => break,
        }
    }
    Ok(out)
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
    let target = opts.targets[0];
    for t in &opts.targets {
        wait_healthy(*t).await?;
    }
    let n_agents = opts.agents.unwrap_or_else(|| scen.agent_count());
    let workers = opts.workers.unwrap_or_else(|| scen.worker_count()).max(1);
    let say = |s: String| {
        if !opts.quiet {
            eprintln!("{s}");
        }
    };
    say(format!(
        "scenario `{}`: {} s in {} phases, {} workers, {} agents (capacity {}), target {}",
        scen.name,
        scen.total_secs(),
        scen.phases.len(),
        workers,
        n_agents,
        scen.agents.capacity,
        target
    ));
    let t_agents = Instant::now();
    let creds = prepare_agents(&opts, n_agents).await?;
    say(format!(
        "{} agents ready in {:.1} s",
        creds.len(),
        t_agents.elapsed().as_secs_f64()
    ));

    let pids: Vec<Option<u32>> = opts
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if i == 0 && opts.server_pid.is_some() {
                opts.server_pid
            } else if t.ip().is_loopback() {
                find_listen_pid(t.port())
            } else {
                None
            }
        })
        .collect();

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
            target,
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

    // Server samples: one baseline before the first client, then every interval.
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::new(Mutex::new(Vec::new()));
    let t0_wall = Duration::from_nanos(start_unix_ns);
    let rel = move || (Duration::from_nanos(now_ns()).as_secs_f64()) - t0_wall.as_secs_f64();
    for (t, pid) in opts.targets.iter().zip(&pids) {
        let s = sample(*t, *pid, rel().min(0.0)).await;
        samples.lock().expect("samples").push(s);
    }
    let scraper = {
        let samples = samples.clone();
        let targets = opts.targets.clone();
        let interval = Duration::from_millis(scen.report.scrape_interval_ms.max(100));
        tokio::spawn(async move {
            let wait = Duration::from_nanos(start_unix_ns.saturating_sub(now_ns()));
            tokio::time::sleep(wait).await;
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                for (t, pid) in targets.iter().zip(&pids) {
                    let s = sample(*t, *pid, rel()).await;
                    samples.lock().expect("samples").push(s);
                }
            }
        })
    };

    let total = scen.total_secs() + scen.generator.drain_secs;
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
                if e.2 == workers && t > last_printed && !opts.quiet {
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
    for mut c in children {
        // Closing stdin tells a worker still running to exit.
        drop(c.stdin.take());
        let _ = c.wait();
    }
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
    let (tail, checked, examples) = tail_loss(&parts, 2_000);
    loss.tail_lost += tail;
    if merge.finals.len() < workers {
        total_stats.error("worker_lost");
    }
    let samples = samples.lock().expect("samples").clone();
    let data = RunData {
        total: total_stats,
        ticks,
        samples,
        loss,
        conversations_checked: checked,
        tail_lost_examples: examples,
    };
    let report = Report::build(
        &scen,
        opts.command_line.clone(),
        started_unix,
        total as f64,
        opts.targets.iter().map(|t| format!("http://{t}")).collect(),
        workers,
        creds.len(),
        &data,
    );
    let files = report
        .write_all(&opts.out_dir, &scen.name)
        .map_err(|e| format!("writing the report: {e}"))?;
    if !opts.quiet {
        println!("{}", report.markdown(None));
        for f in files {
            println!("wrote {}", f.display());
        }
    }
    Ok(report)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let a = parse_target("http://127.0.0.1:8080").unwrap();
        assert_eq!(a, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(parse_target("ws://127.0.0.1:9/ws").unwrap().port(), 9);
        assert!(parse_target("nonsense").is_err());
    }
}
