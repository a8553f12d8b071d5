//! `switchboard-loadtest bench`: the benchmark set of docs/benchmarks.md as one command.
//!
//! For each run of the set ([`runs`]): start fresh node processes on a fresh data directory
//! ([`nodes`]) unless `--target` names running nodes, run the run's scenario through the same runner as `run` (its full report goes
//! to `<out>/<run>/`), kill the nodes, and keep the figures the summary needs ([`figures`]).
//! Then print the table ([`table`]) with the machine, the commit and the date
//! ([`provenance`]), and write it to `<out>/bench.md` and `<out>/bench.json`.

mod figures;
mod nodes;
mod provenance;
mod runs;
mod table;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use serde::Serialize;

use crate::report::{utc, Machine, Report};
use crate::runner::{self, RunOptions};
use figures::Figures;
use nodes::Nodes;
use runs::RunDef;
use table::{Header, Row};

#[derive(Args)]
pub struct BenchArgs {
    /// The node binary [default: `switchboard` next to this executable].
    #[arg(long)]
    node_bin: Option<PathBuf>,
    /// An extra argument for every node; repeat it (`--node-arg=--sqlite-synchronous
    /// --node-arg=normal`).
    #[arg(long, allow_hyphen_values = true)]
    node_arg: Vec<String>,
    /// Only these runs, comma-separated (ramp, idle, reconnect-storm, cluster-ramp)
    /// [default: all of them; `ramp` with --target].
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Run against this running node (repeat for several; visitors start on each in turn)
    /// instead of starting fresh nodes. The node is measured from /proc when it is local,
    /// else from its /metrics.
    #[arg(long)]
    target: Vec<String>,
    /// With --target: agents connect here instead (repeat for several), so with a cluster
    /// every chat crosses nodes: the cross-node figures of a real deployment.
    #[arg(long, requires = "target")]
    agent_target: Vec<String>,
    /// A scenario (built-in name or TOML file) in place of the run's own; needs exactly one
    /// run (`--only`). For a gentler or steeper climb than `ramp`'s on another machine.
    #[arg(long)]
    scenario: Option<String>,
    /// A few seconds per run: checks that the bench works; its figures are not benchmarks.
    #[arg(long)]
    quick: bool,
    /// Directory for bench.md, bench.json and each run's report (<out>/<run>/).
    #[arg(short, long, default_value = "bench-report")]
    out: PathBuf,
    /// Admin account of the fresh nodes, used to create the load-test agents.
    #[arg(long, default_value = "admin@demo.local")]
    admin_email: String,
    #[arg(long, default_value = "demo1234")]
    admin_password: String,
    /// No progress lines from the runs (the table is still printed).
    #[arg(short, long)]
    quiet: bool,
}

/// `bench.json`: the header, the figures and the rows of the table.
#[derive(Serialize)]
struct BenchJson<'a> {
    header: &'a Header,
    figures: &'a Figures,
    rows: &'a [Row],
}

pub fn main(a: BenchArgs) -> i32 {
    crate::worker::raise_nofile_limit();
    let given = match Given::parse(&a) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let only = if a.only.is_empty() && given.is_some() {
        vec!["ramp".to_string()]
    } else {
        a.only.clone()
    };
    let set = match runs::select(&only) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    if a.scenario.is_some() && set.len() != 1 {
        eprintln!("--scenario replaces one run's scenario: name that run with --only");
        return 2;
    }
    let node_bin = match a.node_bin.clone().or_else(default_node_bin) {
        _ if given.is_some() => PathBuf::new(),
        // Absolute: each node runs in its own data directory.
        Some(p) if p.is_file() => std::fs::canonicalize(&p).unwrap_or(p),
        other => {
            eprintln!(
                "no node binary at {} (build it: cargo build --release -p switchboard, or give --node-bin)",
                other.map(|p| p.display().to_string()).unwrap_or("?".into())
            );
            return 2;
        }
    };
    let started = Instant::now();
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let commit = provenance::commit();

    let mut figures = Figures::default();
    for def in &set {
        let nodes = given.as_ref().map_or(def.nodes, Given::nodes);
        eprintln!(
            "== bench `{}`: {} ({} node{}{}) ==",
            def.name,
            def.what,
            nodes,
            if nodes == 1 { "" } else { "s" },
            if given.is_some() {
                ", given by --target"
            } else {
                ""
            }
        );
        let t = Instant::now();
        let result = run_one(&a, def, &node_bin, given.as_ref());
        if let Err(e) = &result {
            eprintln!("bench `{}` failed: {e}", def.name);
        }
        figures.add(def, nodes, &result, t.elapsed().as_secs_f64());
    }

    let header = Header {
        commit,
        date: utc(started_unix),
        machine: Machine::detect(),
        quick: a.quick,
        runs: set.iter().map(|d| d.name.to_string()).collect(),
        duration_secs: started.elapsed().as_secs_f64(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let rows = table::rows(&figures);
    let md = table::markdown(&header, &rows);
    println!("{md}");
    if let Err(e) = write_outputs(&a.out, &md, &header, &figures, &rows) {
        eprintln!("writing {}: {e}", a.out.display());
        return 1;
    }
    println!("wrote {}", a.out.join("bench.md").display());
    if figures.runs.iter().any(|o| o.failed.is_some()) {
        1
    } else if !figures.clean() {
        3
    } else {
        0
    }
}

/// Running nodes named on the command line (`--target`, `--agent-target`).
struct Given {
    targets: Vec<SocketAddr>,
    agent_targets: Vec<SocketAddr>,
}

impl Given {
    fn parse(a: &BenchArgs) -> Result<Option<Given>, String> {
        if a.target.is_empty() {
            return Ok(None);
        }
        let parse = |flag: &str, list: &[String]| -> Result<Vec<SocketAddr>, String> {
            list.iter()
                .map(|t| crate::targets::parse_target(t).map_err(|e| format!("--{flag} {e}")))
                .collect()
        };
        Ok(Some(Given {
            targets: parse("target", &a.target)?,
            agent_targets: parse("agent-target", &a.agent_target)?,
        }))
    }

    /// Distinct nodes between the visitors' and the agents' targets.
    fn nodes(&self) -> usize {
        let mut all: Vec<SocketAddr> = self.targets.clone();
        all.extend(&self.agent_targets);
        all.sort();
        all.dedup();
        all.len()
    }
}

/// One run: fresh nodes (or the given ones), the scenario through the runner, the fresh nodes
/// killed when `nodes` drops.
fn run_one(
    a: &BenchArgs,
    def: &RunDef,
    node_bin: &Path,
    given: Option<&Given>,
) -> Result<Report, String> {
    let out = a.out.join(def.name);
    let mut scenario = def.scenario(a.quick)?;
    if let Some(path) = &a.scenario {
        scenario = crate::scenario::Scenario::load(path).map_err(|e| e.to_string())?;
        if a.quick {
            scenario = runs::quick_version(scenario);
        }
    }
    let (nodes, targets, agent_targets, server_pids) = match given {
        Some(g) => (None, g.targets.clone(), g.agent_targets.clone(), Vec::new()),
        None => {
            let nodes = Nodes::start(node_bin, def.nodes, &a.node_arg, &out)?;
            for n in &nodes.nodes {
                eprintln!("{} listening on {} (pid {})", n.name, n.addr, n.pid());
            }
            let addrs = nodes.addrs();
            let (targets, agent_targets) = if def.agents_elsewhere {
                (addrs[..1].to_vec(), addrs[1..].to_vec())
            } else {
                (addrs.clone(), Vec::new())
            };
            // Every node, in order, measured from /proc by its pid.
            let pids = nodes.nodes.iter().map(|n| n.pid()).collect();
            (Some(nodes), targets, agent_targets, pids)
        }
    };
    let opts = RunOptions {
        scenario,
        targets,
        agent_targets,
        // Given nodes: from /proc when local (found by port), else their /metrics.
        scrape: Vec::new(),
        server_pids,
        out_dir: out,
        workers: None,
        agents: def.agents,
        admin_email: a.admin_email.clone(),
        admin_password: a.admin_password.clone(),
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
        quiet: a.quiet,
        print_report: false,
    };
    let report = runner::run(opts);
    drop(nodes);
    report
}

/// `switchboard` next to this executable (both are built into the same target directory).
fn default_node_bin() -> Option<PathBuf> {
    Some(std::env::current_exe().ok()?.with_file_name("switchboard"))
}

fn write_outputs(
    dir: &Path,
    md: &str,
    header: &Header,
    figures: &Figures,
    rows: &[Row],
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("bench.md"), md)?;
    let json = serde_json::to_string_pretty(&BenchJson {
        header,
        figures,
        rows,
    })
    .map_err(std::io::Error::other)?;
    std::fs::write(dir.join("bench.json"), json)
}
