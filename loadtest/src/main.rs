//! `switchboard-loadtest`: simulated visitors and agents against one or more Switchboard nodes,
//! with end-to-end latency, throughput, loss checking and server resource figures.
//!
//! Modules, in the order a run uses them: [`scenario`] (what load), [`targets`] (where it goes
//! and where the server is measured), [`runner`] (the parent: [`accounts`], workers, merging,
//! the early stop, report), [`api`] (HTTP to the nodes), [`worker`] (a child process running
//! clients), [`visitor`] and [`agent`] (the simulated people), [`conn`] and [`net`]
//! (WebSockets), [`stats`] and [`loss`] (what is measured), [`scrape`] (server side),
//! [`report`] and [`chart`] (output). [`bench`] runs the benchmark set on fresh nodes of its own
//! through the same runner and prints the summary table.

mod accounts;
mod agent;
mod api;
mod bench;
mod chart;
mod conn;
mod loss;
mod net;
mod report;
mod runner;
mod scenario;
mod scrape;
mod stats;
mod targets;
mod visitor;
mod worker;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::scenario::{Scenario, BUILTIN, FIELDS_HELP};

const SCENARIOS_HELP: &str = "\
BUILT-IN SCENARIOS (loadtest/scenarios/*.toml; `show NAME` prints one)
  smoke            short chats, returns, idle sessions and a small storm; must show zero loss
  steady           18,000 idle sessions as fast as possible, then 50 chatting visitors/s for 60 s
  ramp             arrivals ramp 0 -> 60/s, long chats: finds the highest rate with p99 <= 25 ms
  spike            20 visitors/s, a 10 s spike at 300/s, back to 20/s
  reconnect-storm  drop 50% of all connections at once; measure resume and the delivered gap
  soak             30 minutes at 20 visitors/s with 5,000 idle sessions
  soak-60          the soak load for 60 minutes: per-minute RSS drift and CPU per message
  closed-subscriptions  agents never unsubscribe (thousands of closed conversations each)
  idle             18,000 idle sessions only, no agents: server RSS per idle visitor session
";

const BENCH_HELP: &str = "\
THE SET (`--only` takes these names, comma-separated)
  ramp             one node; `ramp` until p99 > 25 ms: capacity, server CPU per message
  idle             one node; `idle` with no agents: RSS per idle session, sessions/s, CPU per
                   session, the generator's own CPU
  reconnect-storm  one node; resume after dropping half the connections: p50/p99/max
  cluster-ramp     three nodes sharing one SQLite file; `ramp` with visitors on the first node and
                   agents on the other two: capacity and CPU per message summed over the nodes
Every run starts fresh node processes on a fresh temporary data directory and kills them after.
Each run's full report goes to <out>/<run>/; the table to <out>/bench.md and <out>/bench.json.
Exit status: 0, or 3 when any run saw loss or errors, 1 when a run failed.
";

#[derive(Parser)]
#[command(
    name = "switchboard-loadtest",
    version,
    about = "Load-test harness for Switchboard: simulated visitors and agents, loss checks, HDR latency reports",
    after_long_help = format!("{SCENARIOS_HELP}\n{FIELDS_HELP}")
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a scenario against a node and write the report (JSON, Markdown, HTML, PNG).
    #[command(after_long_help = format!("{SCENARIOS_HELP}\n{FIELDS_HELP}"))]
    Run(RunArgs),
    /// Run the benchmark set on fresh nodes of its own and print the summary table (with the
    /// machine, the commit and the date), as in docs/benchmarks.md.
    #[command(after_long_help = BENCH_HELP)]
    Bench(bench::BenchArgs),
    /// List the built-in scenarios.
    List,
    /// Print a built-in scenario's TOML (a starting point for your own).
    Show { name: String },
    /// Internal: a worker process started by `run` (reads its spec from stdin).
    #[command(hide = true)]
    Worker,
}

#[derive(Args)]
struct RunArgs {
    /// Built-in scenario name or path to a scenario TOML file.
    #[arg(short, long, default_value = "smoke")]
    scenario: String,
    /// Where clients connect (http://host:port): a node, or a load balancer in front of nodes.
    /// Repeat it to spread clients over several: each visitor and agent starts on the next
    /// target in turn and moves on to the following one at every reconnect.
    #[arg(short, long, default_value = "http://127.0.0.1:8080")]
    target: Vec<String>,
    /// Where agents connect instead of the --target list (repeat it for several; each agent
    /// starts on the next in turn). Visitors keep to --target: with a cluster, every chat then
    /// crosses nodes. Agents are created and logged in through the first agent target.
    #[arg(long)]
    agent_target: Vec<String>,
    /// A node's metrics (http://host:port/metrics, or host:port); repeat for every node. When
    /// given, these are sampled instead of the targets (use it when the target is a balancer).
    #[arg(long)]
    scrape: Vec<String>,
    /// Directory for the report files (<scenario>.json/.md/.html and PNG charts).
    #[arg(short, long, default_value = "loadtest-report")]
    out: PathBuf,
    /// Worker processes (overrides generator.workers and the socket estimate).
    #[arg(long)]
    workers: Option<usize>,
    /// Agents to log in (overrides agents.count and the automatic sizing).
    #[arg(long)]
    agents: Option<usize>,
    /// Pid of a node for CPU/RSS from /proc; repeat for several, in --scrape (or --target)
    /// order (default: each local node is found by its listening port).
    #[arg(long)]
    server_pid: Vec<u32>,
    /// Admin account used to create the load-test agents.
    #[arg(long, default_value = "admin@demo.local")]
    admin_email: String,
    #[arg(long, default_value = "demo1234")]
    admin_password: String,
    /// Exit with status 3 when any loss or error was seen.
    #[arg(long)]
    check: bool,
    /// No progress line or summary on the terminal.
    #[arg(short, long)]
    quiet: bool,
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Cmd::Worker => match worker::main() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("worker: {e}");
                1
            }
        },
        Cmd::List => {
            for (name, text) in BUILTIN {
                let d = Scenario::parse(text)
                    .map(|s| s.description)
                    .unwrap_or_default();
                println!("{name:<16} {d}");
            }
            0
        }
        Cmd::Show { name } => match BUILTIN.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => {
                print!("{text}");
                0
            }
            None => {
                eprintln!("no built-in scenario `{name}`; see `list`");
                2
            }
        },
        Cmd::Run(a) => run(a),
        Cmd::Bench(a) => bench::main(a),
    };
    std::process::exit(code);
}

fn run(a: RunArgs) -> i32 {
    worker::raise_nofile_limit();
    let scenario = match Scenario::load(&a.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let agent_targets: Result<Vec<_>, String> = a
        .agent_target
        .iter()
        .map(|t| targets::parse_target(t))
        .collect();
    let agent_targets = match agent_targets {
        Ok(t) => t,
        Err(e) => {
            eprintln!("--agent-target {e}");
            return 2;
        }
    };
    let targets: Result<Vec<_>, String> =
        a.target.iter().map(|t| targets::parse_target(t)).collect();
    let scrape: Result<Vec<_>, String> =
        a.scrape.iter().map(|s| targets::parse_scrape(s)).collect();
    let (targets, scrape) = match (targets, scrape) {
        (Ok(t), Ok(s)) if !t.is_empty() => (t, s),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return 2;
        }
        _ => {
            eprintln!("at least one --target is needed");
            return 2;
        }
    };
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let opts = runner::RunOptions {
        scenario,
        targets,
        agent_targets,
        scrape,
        out_dir: a.out,
        workers: a.workers,
        agents: a.agents,
        server_pids: a.server_pid,
        admin_email: a.admin_email,
        admin_password: a.admin_password,
        command_line,
        quiet: a.quiet,
        print_report: !a.quiet,
    };
    match runner::run(opts) {
        Ok(report) => {
            if a.check && (report.loss_total > 0 || report.errors_total > 0) {
                eprintln!(
                    "check failed: loss {} errors {}",
                    report.loss_total, report.errors_total
                );
                3
            } else {
                0
            }
        }
        Err(e) => {
            eprintln!("load test failed: {e}");
            1
        }
    }
}
