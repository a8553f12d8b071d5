//! The summary table: plain functions from the figures to rows, and from rows to Markdown (the
//! shape of docs/benchmarks.md's summary), with what the bench ran on above it.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::figures::{Figures, Limit, Ramp};
use crate::report::Machine;

/// What, where and when: printed above the table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Header {
    /// `git rev-parse --short HEAD` (+ `-dirty`), or "unknown".
    pub commit: String,
    /// UTC date and time of the start.
    pub date: String,
    pub machine: Machine,
    pub quick: bool,
    pub runs: Vec<String>,
    pub duration_secs: f64,
    pub command: String,
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub figure: String,
    pub value: String,
    pub run: String,
}

fn row(figure: impl Into<String>, value: impl Into<String>, run: &str) -> Row {
    Row {
        figure: figure.into(),
        value: value.into(),
        run: run.into(),
    }
}

/// `1234567.8` -> `1,234,568`.
pub fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map(f).unwrap_or_else(|| "n/a".into())
}

fn pct(v: f64) -> String {
    format!("{v:.0} %")
}

/// The rows of every figure present, in the table's order; loss and errors last, one per run.
pub fn rows(f: &Figures) -> Vec<Row> {
    let mut out = Vec::new();
    if let Some(r) = &f.ramp {
        ramp_rows(
            &mut out,
            r,
            "ramp",
            "message capacity: highest acked msgs/s over a 5 s window",
        );
        out.push(row(
            "server CPU per message (node CPU s / messages acked)",
            opt(r.cpu_us_per_message, |v| format!("{v:.0} us")),
            "ramp",
        ));
    }
    if let Some(i) = &f.idle {
        out.push(row(
            "server RSS per idle visitor session (connect + hello)",
            match i.rss_per_session_bytes {
                Some(b) => format!(
                    "{:.1} KB ({} sessions)",
                    b / 1e3,
                    thousands(i.sessions as f64)
                ),
                None => "n/a".into(),
            },
            "idle",
        ));
        out.push(row(
            "new visitor sessions per second, best second",
            format!("{}/s", thousands(i.sessions_per_sec_best)),
            "idle",
        ));
        out.push(row(
            "server CPU per new session",
            opt(i.server_cpu_us_per_session, |v| format!("{v:.0} us")),
            "idle",
        ));
        out.push(row(
            "generator CPU (this harness: parent + workers, from /proc)",
            match &i.generator {
                Some(g) => format!(
                    "{} of one core over the run ({} of the machine), {} per session",
                    pct(g.cpu_percent),
                    pct(g.machine_percent),
                    opt(g.cpu_us_per_session, |v| format!("{v:.0} us"))
                ),
                None => "n/a".into(),
            },
            "idle",
        ));
    }
    if let Some(s) = &f.storm {
        out.push(row(
            "resume after a storm (reconnect -> resubscribed, gap delivered): p50 / p99 / max",
            format!(
                "{:.0} / {:.0} / {:.0} ms ({} resumes)",
                s.p50_ms,
                s.p99_ms,
                s.max_ms,
                thousands(s.resumes as f64)
            ),
            "reconnect-storm",
        ));
    }
    if let Some(c) = &f.cluster {
        let what = format!(
            "{}-node cluster capacity (visitors on n1, agents on the others): highest acked msgs/s over 5 s",
            c.nodes
        );
        ramp_rows(&mut out, c, "cluster-ramp", &what);
        out.push(row(
            format!(
                "cost of a cross-node delivery: CPU per message, {} nodes summed",
                c.nodes
            ),
            opt(c.cpu_us_per_message, |v| format!("{v:.0} us")),
            "cluster-ramp",
        ));
    }
    for o in &f.runs {
        let value = match &o.failed {
            Some(e) => format!("**run failed**: {e}"),
            None if o.errors > 0 => format!(
                "{} / {} ({})",
                o.loss,
                o.errors,
                o.error_codes
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => format!("{} / {}", o.loss, o.errors),
        };
        out.push(row("loss / errors (must be 0 / 0)", value, &o.run));
    }
    out
}

/// Capacity, how the ramp ended, and the CPU split at capacity.
fn ramp_rows(out: &mut Vec<Row>, r: &Ramp, run: &str, what: &str) {
    let target = format!("{} ms", r.p99_target_ms);
    out.push(row(
        format!("{what} with delivery p99 <= {target}"),
        match (&r.capacity, &r.busiest) {
            (Some(w), _) => format!(
                "**{} msgs/s** (p99 {:.1} ms, t = {}-{} s; {} new sessions/s)",
                thousands(w.acked_per_sec),
                w.delivery_p99_ms,
                w.start,
                w.end,
                thousands(w.sessions_per_sec)
            ),
            (None, Some(b)) => format!(
                "none within {target} (busiest {} msgs/s at p99 {:.1} ms)",
                thousands(b.acked_per_sec),
                b.delivery_p99_ms
            ),
            (None, None) => "none: nothing was delivered".into(),
        },
        run,
    ));
    out.push(row(
        "how the ramp ended",
        match &r.stopped_early {
            Some(s) => format!(
                "stopped at {} s of {}: p99 over {} ms{} in {} windows in a row ({})",
                s.at_secs,
                r.phases_secs,
                s.p99_above_ms,
                if s.had_errors() { " or errors" } else { "" },
                s.window_p99_ms.len(),
                s.windows()
            ),
            None => format!(
                "ran all {} s: p99 never stayed over the limit (the scenario's end, not the node's)",
                r.phases_secs
            ),
        },
        run,
    ));
    out.push(row(
        "CPU in the capacity window, % of one core: node(s) / generator (busiest worker)",
        match (r.node_cpu_percent, r.generator_cpu_percent) {
            (None, None) => "n/a".into(),
            (n, g) => format!(
                "{} / {} ({}; {} workers)",
                opt(n, pct),
                opt(g, pct),
                opt(r.busiest_worker_percent, pct),
                r.workers
            ),
        },
        run,
    ));
    out.push(row(
        "what set the limit at the knee",
        match &r.limit {
            None => "n/a".into(),
            Some(Limit::Generator {
                busiest_worker_percent,
            }) => format!(
                "**the generator**: a worker at {} of a core (add workers or a second machine)",
                pct(*busiest_worker_percent)
            ),
            Some(Limit::Machine {
                node_percent,
                generator_percent,
                cores,
            }) => format!(
                "the machine: node(s) {} + generator {} of {} cores",
                pct(*node_percent),
                pct(*generator_percent),
                cores
            ),
            Some(Limit::Node {
                node_percent,
                generator_percent,
            }) => format!(
                "the node (node(s) {}, generator {} of one core)",
                opt(*node_percent, pct),
                opt(*generator_percent, pct)
            ),
        },
        run,
    ));
}

/// The table as Markdown, with the header above it.
pub fn markdown(h: &Header, rows: &[Row]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Switchboard bench: {}, {}\n", h.commit, h.date);
    let m = &h.machine;
    let _ = writeln!(
        o,
        "- machine: {} cores ({}), {} RAM, Linux {}",
        m.nproc,
        if m.cpu.is_empty() {
            "unknown CPU"
        } else {
            &m.cpu
        },
        m.memory,
        m.kernel
    );
    let _ = writeln!(
        o,
        "- runs: {} ({}), {:.0} s in all",
        h.runs.join(", "),
        if h.quick { "quick" } else { "full" },
        h.duration_secs
    );
    let _ = writeln!(o, "- command: `{}`", h.command);
    if h.quick {
        let _ = writeln!(
            o,
            "\n**Quick runs** (a few seconds each): a check that the bench works, not figures to compare."
        );
    }
    let _ = writeln!(o, "\n| figure | value | run |");
    let _ = writeln!(o, "|---|---|---|");
    for r in rows {
        let _ = writeln!(o, "| {} | {} | {} |", r.figure, r.value, r.run);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::super::figures::{Idle, Outcome, Storm};
    use super::*;
    use crate::report::{GeneratorUsage, Window};
    use crate::runner::stop::StoppedEarly;

    fn window(acked: f64, p99: f64) -> Window {
        Window {
            start: 95,
            end: 100,
            acked_per_sec: acked,
            delivered_per_sec: acked,
            sessions_per_sec: 120.0,
            delivery_p99_ms: p99,
            errors: 0,
        }
    }

    fn figures() -> Figures {
        let ramp = Ramp {
            nodes: 1,
            p99_target_ms: 25.0,
            capacity: Some(window(7450.4, 21.34)),
            busiest: Some(window(8000.0, 40.0)),
            cpu_us_per_message: Some(249.2),
            stopped_early: Some(StoppedEarly {
                at_secs: 130,
                p99_above_ms: 25.0,
                window_secs: 5,
                window_p99_ms: vec![Some(30.0), Some(41.0), Some(55.0)],
                window_errors: vec![0, 0, 3],
            }),
            phases_secs: 300,
            workers: 2,
            node_cpu_percent: Some(120.0),
            generator_cpu_percent: Some(75.0),
            busiest_worker_percent: Some(44.0),
            limit: Some(Limit::Machine {
                node_percent: 120.0,
                generator_percent: 75.0,
                cores: 2,
            }),
        };
        Figures {
            cluster: Some(Ramp {
                nodes: 3,
                stopped_early: None,
                capacity: None,
                cpu_us_per_message: Some(410.0),
                limit: Some(Limit::Generator {
                    busiest_worker_percent: 98.0,
                }),
                ..ramp.clone()
            }),
            ramp: Some(ramp),
            idle: Some(Idle {
                sessions: 18_000,
                rss_per_session_bytes: Some(16_678.0),
                sessions_per_sec_best: 9077.0,
                server_cpu_us_per_session: Some(89.4),
                generator: Some(GeneratorUsage {
                    cpu_percent: 45.0,
                    machine_percent: 22.5,
                    cpu_us_per_session: Some(120.0),
                    ..GeneratorUsage::default()
                }),
            }),
            storm: Some(Storm {
                resumes: 3061,
                p50_ms: 23.2,
                p99_ms: 243.0,
                max_ms: 274.4,
            }),
            runs: vec![
                Outcome {
                    run: "ramp".into(),
                    ..Outcome::default()
                },
                Outcome {
                    run: "idle".into(),
                    errors: 2,
                    error_codes: [("connect_timeout".to_string(), 2)].into(),
                    ..Outcome::default()
                },
                Outcome {
                    run: "cluster-ramp".into(),
                    failed: Some("the cluster did not settle".into()),
                    ..Outcome::default()
                },
            ],
        }
    }

    #[test]
    fn formats_thousands() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(7450.5), "7,451");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(thousands(-1_000.0), "-1,000");
    }

    #[test]
    fn rows_cover_every_figure_in_order() {
        let rows = rows(&figures());
        let find = |figure: &str, run: &str| {
            rows.iter()
                .find(|r| r.figure.starts_with(figure) && r.run == run)
                .unwrap_or_else(|| panic!("no `{figure}` row for {run}: {rows:#?}"))
                .value
                .clone()
        };
        assert_eq!(
            find("message capacity", "ramp"),
            "**7,450 msgs/s** (p99 21.3 ms, t = 95-100 s; 120 new sessions/s)"
        );
        assert_eq!(
            find("how the ramp ended", "ramp"),
            "stopped at 130 s of 300: p99 over 25 ms or errors in 3 windows in a row (30.0 ms, 41.0 ms, 55.0 ms + 3 errors)"
        );
        assert_eq!(find("server CPU per message", "ramp"), "249 us");
        assert_eq!(
            find("what set the limit", "ramp"),
            "the machine: node(s) 120 % + generator 75 % of 2 cores"
        );
        assert!(find("what set the limit", "cluster-ramp")
            .starts_with("**the generator**: a worker at 98 %"));
        assert_eq!(
            find("CPU in the capacity window", "ramp"),
            "120 % / 75 % (44 %; 2 workers)"
        );
        assert_eq!(
            find("server RSS per idle", "idle"),
            "16.7 KB (18,000 sessions)"
        );
        assert_eq!(find("new visitor sessions", "idle"), "9,077/s");
        assert_eq!(find("server CPU per new session", "idle"), "89 us");
        assert_eq!(
            find("generator CPU", "idle"),
            "45 % of one core over the run (22 % of the machine), 120 us per session"
        );
        assert_eq!(
            find("resume after a storm", "reconnect-storm"),
            "23 / 243 / 274 ms (3,061 resumes)"
        );
        assert_eq!(
            find("3-node cluster capacity", "cluster-ramp"),
            "none within 25 ms (busiest 8,000 msgs/s at p99 40.0 ms)"
        );
        assert!(find("how the ramp ended", "cluster-ramp").starts_with("ran all 300 s"));
        assert_eq!(
            find("cost of a cross-node delivery", "cluster-ramp"),
            "410 us"
        );
        assert_eq!(find("loss / errors", "ramp"), "0 / 0");
        assert_eq!(find("loss / errors", "idle"), "0 / 2 (connect_timeout 2)");
        assert!(find("loss / errors", "cluster-ramp").contains("did not settle"));
        // Figures first, in the set's order, then the loss rows.
        let runs: Vec<&str> = rows.iter().map(|r| r.run.as_str()).collect();
        assert_eq!(runs.first(), Some(&"ramp"));
        assert!(rows.last().unwrap().figure.starts_with("loss / errors"));
    }

    #[test]
    fn absent_runs_give_no_rows() {
        let f = Figures {
            idle: None,
            storm: None,
            cluster: None,
            runs: Vec::new(),
            ..figures()
        };
        let rows = rows(&f);
        assert!(rows.iter().all(|r| r.run == "ramp"), "{rows:#?}");
        assert_eq!(rows.len(), 5);
    }

    #[test]
    fn markdown_has_the_header_and_one_line_per_row() {
        let h = Header {
            commit: "009b906-dirty".into(),
            date: "2026-12-01 04:20:00 UTC".into(),
            machine: Machine {
                nproc: 2,
                memory: "23.5 GiB".into(),
                kernel: "6.18.44".into(),
                cpu: "AMD EPYC".into(),
            },
            quick: true,
            runs: vec!["ramp".into(), "idle".into()],
            duration_secs: 61.2,
            command: "switchboard-loadtest bench --quick".into(),
        };
        let rows = vec![row("a figure", "1 / 2", "ramp"), row("b", "x", "idle")];
        let md = markdown(&h, &rows);
        assert!(md.starts_with("# Switchboard bench: 009b906-dirty, 2026-12-01 04:20:00 UTC\n"));
        assert!(md.contains("- machine: 2 cores (AMD EPYC), 23.5 GiB RAM, Linux 6.18.44\n"));
        assert!(md.contains("- runs: ramp, idle (quick), 61 s in all\n"));
        assert!(md.contains("**Quick runs**"));
        assert!(md.contains("| figure | value | run |\n|---|---|---|\n| a figure | 1 / 2 | ramp |\n| b | x | idle |\n"));
    }
}
