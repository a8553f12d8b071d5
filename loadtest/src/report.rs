//! The end-of-run report: built from the merged measurements, written as JSON (everything),
//! Markdown (the summary), a self-contained HTML page (inline SVG charts, no scripts) and PNG
//! copies of the charts for docs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::chart::{Chart, Series};
use crate::loss::Loss;
use crate::scrape::Sample;
use crate::stats::{merge_hist, new_hist, Stats, Summary, LATENCIES};
use crate::worker::Gauges;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    pub nproc: usize,
    pub memory: String,
    pub kernel: String,
    pub cpu: String,
}

impl Machine {
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default();
        let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string();
        Machine {
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            memory: format!("{:.1} GiB", mem_kb as f64 / 1024.0 / 1024.0),
            kernel,
            cpu,
        }
    }
}

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

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Window {
    pub start: u64,
    pub end: u64,
    pub acked_per_sec: f64,
    pub delivered_per_sec: f64,
    /// p99 of both delivery directions together in the window.
    pub delivery_p99_ms: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Capacity {
    pub p99_target_ms: f64,
    pub window_secs: u64,
    /// The busiest window whose delivery p99 met the target.
    pub best: Option<Window>,
    /// The busiest window overall, whatever its latency.
    pub busiest: Option<Window>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PhaseServer {
    pub name: String,
    pub end_secs: f64,
    pub rss_bytes: Option<u64>,
    pub visitor_sockets: i64,
    pub agent_sockets: i64,
    /// (RSS at the phase end - RSS before the first client) / open sockets.
    pub rss_per_session_bytes: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerSummary {
    pub source: String,
    pub samples: usize,
    pub cpu_seconds: Option<f64>,
    pub cpu_percent_mean: Option<f64>,
    /// Server CPU time per acked message (all server work divided by messages).
    pub cpu_us_per_message: Option<f64>,
    pub rss_start_bytes: Option<u64>,
    pub rss_peak_bytes: Option<u64>,
    pub rss_end_bytes: Option<u64>,
    pub phases: Vec<PhaseServer>,
}

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
    pub targets: Vec<String>,
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
    pub server: ServerSummary,
    pub phases: Vec<PhaseInfo>,
    pub timeline: Vec<Point>,
}

/// Everything the runner collected.
pub struct RunData {
    pub total: Stats,
    pub ticks: BTreeMap<u64, (Stats, Gauges)>,
    pub samples: Vec<Sample>,
    pub loss: Loss,
    pub conversations_checked: usize,
    pub tail_lost_examples: Vec<String>,
}

fn p(h: Option<&Histogram<u64>>, q: f64) -> f64 {
    match h {
        Some(h) if !h.is_empty() => h.value_at_quantile(q) as f64 / 1e3,
        _ => 0.0,
    }
}

/// Format unix seconds as `YYYY-MM-DD HH:MM:SS UTC` (civil-from-days, no date crate needed).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        scen: &crate::scenario::Scenario,
        command: String,
        started_unix: u64,
        duration_secs: f64,
        targets: Vec<String>,
        workers: usize,
        agents: usize,
        data: &RunData,
    ) -> Report {
        let mut r = Report {
            scenario: scen.name.clone(),
            description: scen.description.clone(),
            scenario_toml: scen.to_toml(),
            command,
            started_unix,
            started_utc: utc(started_unix),
            duration_secs,
            machine: Machine::detect(),
            targets,
            workers,
            agents,
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

        let mut start = 0;
        for ph in &scen.phases {
            r.phases.push(PhaseInfo {
                name: ph.name.clone(),
                start_secs: start,
                end_secs: start + ph.duration_secs,
            });
            start += ph.duration_secs;
        }

        // Per-second timeline, joined with the nearest server sample.
        let mut prev_cpu: Option<(f64, f64)> = None;
        let mut cpu_by_t: BTreeMap<u64, (Option<f64>, Option<f64>)> = BTreeMap::new();
        for s in &data.samples {
            let cpu_pct = match (prev_cpu, s.cpu_seconds) {
                (Some((t0, c0)), Some(c1)) if s.t > t0 => Some((c1 - c0) / (s.t - t0) * 100.0),
                _ => None,
            };
            if let Some(c) = s.cpu_seconds {
                prev_cpu = Some((s.t, c));
            }
            cpu_by_t.insert(
                s.t.round() as u64,
                (s.rss_bytes.map(|b| b as f64 / 1048576.0), cpu_pct),
            );
        }
        for (t, (st, g)) in &data.ticks {
            let (rss, cpu) = cpu_by_t.get(t).copied().unwrap_or((None, None));
            let mut ack = new_hist();
            for k in ["ack_visitor", "ack_agent"] {
                if let Some(h) = st.hists.get(k) {
                    merge_hist(&mut ack, h);
                }
            }
            r.timeline.push(Point {
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
                server_rss_mb: rss,
                server_cpu_percent: cpu,
            });
        }

        let secs = duration_secs.max(1.0);
        let peak = |f: fn(&Point) -> u64| r.timeline.iter().map(f).max().unwrap_or(0) as f64;
        r.throughput = Throughput {
            acked_per_sec_mean: data.total.counter("acked") as f64 / secs,
            acked_per_sec_peak: peak(|p| p.acked),
            delivered_per_sec_mean: data.total.counter("delivered") as f64 / secs,
            delivered_per_sec_peak: peak(|p| p.delivered),
            sessions_per_sec_peak: peak(|p| p.sessions),
            sessions_total: data.total.counter("sessions"),
        };
        r.capacity = capacity(data, scen.report.p99_target_ms, scen.report.window_secs);
        r.server = server_summary(scen, data, &r.phases, data.total.counter("acked"));
        r
    }

    pub fn markdown(&self, png_prefix: Option<&str>) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "# Load test `{}`\n", self.scenario);
        let _ = writeln!(o, "{}\n", self.description);
        let _ = writeln!(
            o,
            "- started: {}; duration {:.0} s; workers: {}; agents: {}",
            self.started_utc, self.duration_secs, self.workers, self.agents
        );
        let _ = writeln!(
            o,
            "- machine: {} cores ({}), {}, Linux {}",
            self.machine.nproc, self.machine.cpu, self.machine.memory, self.machine.kernel
        );
        let _ = writeln!(o, "- target: {}", self.targets.join(", "));
        let _ = writeln!(o, "- command: `{}`\n", self.command);
        let _ = writeln!(
            o,
            "**Loss: {}** (gaps {}, duplicates {}, out of order {}, missing echoes {}, seq mismatches {}, lost tails {}; {} conversations checked). **Errors: {}**{}.\n",
            self.loss_total,
            self.loss.gaps,
            self.loss.duplicates,
            self.loss.out_of_order,
            self.loss.echo_missing,
            self.loss.seq_mismatch,
            self.loss.tail_lost,
            self.conversations_checked,
            self.errors_total,
            if self.errors.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    self.errors
                        .iter()
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        let _ = writeln!(
            o,
            "| latency (ms) | what | count | p50 | p90 | p99 | p99.9 | max |"
        );
        let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---:|");
        for (name, what) in LATENCIES {
            if let Some(s) = self.latency.get(*name).filter(|s| s.count > 0) {
                let _ = writeln!(
                    o,
                    "| {name} | {what} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                    s.count, s.p50_ms, s.p90_ms, s.p99_ms, s.p999_ms, s.max_ms
                );
            }
        }
        let t = &self.throughput;
        let _ = writeln!(o, "\n| throughput | mean /s | peak /s (1 s) |");
        let _ = writeln!(o, "|---|---:|---:|");
        let _ = writeln!(
            o,
            "| messages acked (stored) | {:.0} | {:.0} |",
            t.acked_per_sec_mean, t.acked_per_sec_peak
        );
        let _ = writeln!(
            o,
            "| messages delivered to the other party | {:.0} | {:.0} |",
            t.delivered_per_sec_mean, t.delivered_per_sec_peak
        );
        let _ = writeln!(
            o,
            "| visitor sessions opened ({} total) | | {:.0} |",
            t.sessions_total, t.sessions_per_sec_peak
        );
        let c = &self.capacity;
        let _ = writeln!(o);
        match &c.best {
            Some(w) => {
                let _ = writeln!(
                    o,
                    "**Capacity**: {:.0} messages/s acked ({:.0}/s delivered) with delivery p99 {:.1} ms <= {} ms, in the busiest qualifying {} s window (t = {}..{} s).",
                    w.acked_per_sec, w.delivered_per_sec, w.delivery_p99_ms, c.p99_target_ms, c.window_secs, w.start, w.end
                );
            }
            None => {
                let _ = writeln!(
                    o,
                    "**Capacity**: no {} s window met delivery p99 <= {} ms.",
                    c.window_secs, c.p99_target_ms
                );
            }
        }
        if let Some(w) = &c.busiest {
            let _ = writeln!(
                o,
                "Busiest window: {:.0} messages/s acked, delivery p99 {:.1} ms (t = {}..{} s).",
                w.acked_per_sec, w.delivery_p99_ms, w.start, w.end
            );
        }
        let s = &self.server;
        let _ = writeln!(
            o,
            "\n**Server** ({} samples, from {}):",
            s.samples,
            if s.source.is_empty() {
                "nowhere"
            } else {
                &s.source
            }
        );
        let mb = |b: Option<u64>| {
            b.map(|b| format!("{:.1} MiB", b as f64 / 1048576.0))
                .unwrap_or("n/a".into())
        };
        let _ =
            writeln!(
            o,
            "CPU {} s ({} % mean), {} us CPU per acked message; RSS start {}, peak {}, end {}.\n",
            s.cpu_seconds.map(|v| format!("{v:.1}")).unwrap_or("n/a".into()),
            s.cpu_percent_mean.map(|v| format!("{v:.0}")).unwrap_or("n/a".into()),
            s.cpu_us_per_message.map(|v| format!("{v:.0}")).unwrap_or("n/a".into()),
            mb(s.rss_start_bytes),
            mb(s.rss_peak_bytes),
            mb(s.rss_end_bytes)
        );
        let _ = writeln!(
            o,
            "| phase | ends at s | server RSS | visitor sockets | agent sockets | RSS per socket |"
        );
        let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|");
        for ph in &s.phases {
            let _ = writeln!(
                o,
                "| {} | {:.0} | {} | {} | {} | {} |",
                ph.name,
                ph.end_secs,
                mb(ph.rss_bytes),
                ph.visitor_sockets,
                ph.agent_sockets,
                ph.rss_per_session_bytes
                    .map(|b| format!("{:.1} KB", b / 1000.0))
                    .unwrap_or("n/a".into())
            );
        }
        if !self.counters.is_empty() {
            let _ = writeln!(
                o,
                "\nCounters: {}",
                self.counters
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if let Some(prefix) = png_prefix {
            let _ = writeln!(o, "\n![latency]({prefix}-latency.png)\n\n![throughput]({prefix}-throughput.png)\n\n![server]({prefix}-server.png)");
        }
        o
    }

    pub fn charts(&self) -> Vec<(&'static str, Chart)> {
        let tl = &self.timeline;
        let pts = |f: &dyn Fn(&Point) -> f64| -> Vec<(f64, f64)> {
            tl.iter().map(|p| (p.t as f64, f(p))).collect()
        };
        let latency = Chart {
            title: format!("{}: delivery latency per second", self.scenario),
            x_label: "seconds since start".into(),
            y_label: "ms".into(),
            series: vec![
                Series {
                    name: "visitor->agent p50".into(),
                    color: (147, 197, 253),
                    points: pts(&|p| p.v2a_p50_ms),
                },
                Series {
                    name: "visitor->agent p99".into(),
                    color: (37, 99, 235),
                    points: pts(&|p| p.v2a_p99_ms),
                },
                Series {
                    name: "agent->visitor p50".into(),
                    color: (252, 165, 165),
                    points: pts(&|p| p.a2v_p50_ms),
                },
                Series {
                    name: "agent->visitor p99".into(),
                    color: (220, 38, 38),
                    points: pts(&|p| p.a2v_p99_ms),
                },
            ],
            hline: Some((
                self.capacity.p99_target_ms,
                format!("target {} ms", self.capacity.p99_target_ms),
            )),
        };
        let throughput = Chart {
            title: format!("{}: throughput per second", self.scenario),
            x_label: "seconds since start".into(),
            y_label: "per second".into(),
            series: vec![
                Series {
                    name: "messages acked".into(),
                    color: (22, 163, 74),
                    points: pts(&|p| p.acked as f64),
                },
                Series {
                    name: "messages delivered".into(),
                    color: (37, 99, 235),
                    points: pts(&|p| p.delivered as f64),
                },
                Series {
                    name: "sessions opened".into(),
                    color: (234, 88, 12),
                    points: pts(&|p| p.sessions as f64),
                },
                Series {
                    name: "errors".into(),
                    color: (220, 38, 38),
                    points: pts(&|p| p.errors as f64),
                },
            ],
            hline: None,
        };
        let server = Chart {
            title: format!("{}: server CPU and RSS", self.scenario),
            x_label: "seconds since start".into(),
            y_label: "% / MiB".into(),
            series: vec![
                Series {
                    name: "server CPU %".into(),
                    color: (124, 58, 237),
                    points: tl
                        .iter()
                        .filter_map(|p| p.server_cpu_percent.map(|c| (p.t as f64, c)))
                        .collect(),
                },
                Series {
                    name: "server RSS MiB".into(),
                    color: (13, 148, 136),
                    points: tl
                        .iter()
                        .filter_map(|p| p.server_rss_mb.map(|c| (p.t as f64, c)))
                        .collect(),
                },
                Series {
                    name: "open sockets / 100".into(),
                    color: (107, 114, 128),
                    points: pts(&|p| (p.visitors + p.agents) as f64 / 100.0),
                },
            ],
            hline: None,
        };
        vec![
            ("latency", latency),
            ("throughput", throughput),
            ("server", server),
        ]
    }

    pub fn html(&self) -> String {
        let mut o = String::new();
        let _ = write!(
            o,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Switchboard load test: {}</title>\
             <style>body{{font-family:sans-serif;max-width:960px;margin:2em auto;color:#111}}table{{border-collapse:collapse;margin:1em 0}}\
             td,th{{border:1px solid #ddd;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}\
             code,pre{{background:#f3f4f6;padding:2px 4px}}pre{{padding:8px;overflow:auto}}.bad{{color:#b91c1c}}.ok{{color:#15803d}}</style></head><body>",
            esc(&self.scenario)
        );
        let md = self.markdown(None);
        // A light Markdown rendering of the summary: headings, paragraphs and tables.
        let mut in_table = false;
        for line in md.lines() {
            if line.starts_with('|') {
                if line.starts_with("|---") {
                    continue;
                }
                if !in_table {
                    o.push_str("<table>");
                    in_table = true;
                }
                o.push_str("<tr>");
                for cell in line.trim_matches('|').split('|') {
                    let _ = write!(o, "<td>{}</td>", inline(cell.trim()));
                }
                o.push_str("</tr>");
                continue;
            }
            if in_table {
                o.push_str("</table>");
                in_table = false;
            }
            if let Some(h) = line.strip_prefix("# ") {
                let _ = write!(o, "<h1>{}</h1>", inline(h));
            } else if let Some(li) = line.strip_prefix("- ") {
                let _ = write!(o, "<div>&bull; {}</div>", inline(li));
            } else if !line.trim().is_empty() {
                let _ = write!(o, "<p>{}</p>", inline(line));
            }
        }
        if in_table {
            o.push_str("</table>");
        }
        let verdict = if self.loss_total == 0 && self.errors_total == 0 {
            "<p class=\"ok\">No loss, no errors.</p>"
        } else {
            "<p class=\"bad\">Loss or errors: see above.</p>"
        };
        o.push_str(verdict);
        for (_, c) in self.charts() {
            o.push_str("<div>");
            o.push_str(&c.to_svg());
            o.push_str("</div>");
        }
        let _ = write!(
            o,
            "<h2>Scenario</h2><pre>{}</pre></body></html>",
            esc(&self.scenario_toml)
        );
        o
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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `**bold**` and `` `code` `` only.
fn inline(s: &str) -> String {
    let mut out = String::new();
    let e = esc(s);
    let mut bold = false;
    let mut code = false;
    let mut chars = e.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '*' && chars.peek() == Some(&'*') {
            chars.next();
            out.push_str(if bold { "</b>" } else { "<b>" });
            bold = !bold;
        } else if c == '`' {
            out.push_str(if code { "</code>" } else { "<code>" });
            code = !code;
        } else {
            out.push(c);
        }
    }
    if bold {
        out.push_str("</b>");
    }
    if code {
        out.push_str("</code>");
    }
    out
}

fn capacity(data: &RunData, target: f64, window: u64) -> Capacity {
    let mut cap = Capacity {
        p99_target_ms: target,
        window_secs: window,
        ..Capacity::default()
    };
    let window = window.max(1);
    let last = data.ticks.keys().next_back().copied().unwrap_or(0);
    let mut start = 1;
    while start + window - 1 <= last {
        let mut lat = new_hist();
        let (mut acked, mut delivered) = (0u64, 0u64);
        for t in start..start + window {
            if let Some((st, _)) = data.ticks.get(&t) {
                acked += st.counter("acked");
                delivered += st.counter("delivered");
                for k in ["v2a", "a2v"] {
                    if let Some(h) = st.hists.get(k) {
                        merge_hist(&mut lat, h);
                    }
                }
            }
        }
        if !lat.is_empty() {
            let w = Window {
                start: start - 1,
                end: start - 1 + window,
                acked_per_sec: acked as f64 / window as f64,
                delivered_per_sec: delivered as f64 / window as f64,
                delivery_p99_ms: lat.value_at_quantile(0.99) as f64 / 1e3,
            };
            if cap
                .busiest
                .as_ref()
                .is_none_or(|b| w.acked_per_sec > b.acked_per_sec)
            {
                cap.busiest = Some(w.clone());
            }
            if w.delivery_p99_ms <= target
                && cap
                    .best
                    .as_ref()
                    .is_none_or(|b| w.acked_per_sec > b.acked_per_sec)
            {
                cap.best = Some(w);
            }
        }
        start += 1;
    }
    cap
}

fn server_summary(
    scen: &crate::scenario::Scenario,
    data: &RunData,
    phases: &[PhaseInfo],
    acked: u64,
) -> ServerSummary {
    let samples: Vec<&Sample> = data
        .samples
        .iter()
        .filter(|s| s.rss_bytes.is_some())
        .collect();
    let mut s = ServerSummary {
        samples: samples.len(),
        source: samples
            .first()
            .map(|s| s.source.clone())
            .unwrap_or_default(),
        ..ServerSummary::default()
    };
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return s;
    };
    s.rss_start_bytes = first.rss_bytes;
    s.rss_end_bytes = last.rss_bytes;
    s.rss_peak_bytes = samples.iter().filter_map(|s| s.rss_bytes).max();
    if let (Some(c0), Some(c1)) = (first.cpu_seconds, last.cpu_seconds) {
        let cpu = c1 - c0;
        s.cpu_seconds = Some(cpu);
        if last.t > first.t {
            s.cpu_percent_mean = Some(cpu / (last.t - first.t) * 100.0);
        }
        if acked > 0 {
            s.cpu_us_per_message = Some(cpu / acked as f64 * 1e6);
        }
    }
    let _ = scen;
    for ph in phases {
        // The last sample at or before the phase end, and the sockets open at that second.
        let end = ph.end_secs as f64;
        let at = samples.iter().rev().find(|x| x.t <= end + 0.5);
        let g = data
            .ticks
            .range(..=ph.end_secs)
            .next_back()
            .map(|(_, (_, g))| *g)
            .unwrap_or_default();
        let rss = at.and_then(|x| x.rss_bytes);
        let sockets = g.visitors + g.agents;
        s.phases.push(PhaseServer {
            name: ph.name.clone(),
            end_secs: end,
            rss_bytes: rss,
            visitor_sockets: g.visitors,
            agent_sockets: g.agents,
            rss_per_session_bytes: match (rss, first.rss_bytes) {
                (Some(r), Some(r0)) if sockets > 0 => Some((r as f64 - r0 as f64) / sockets as f64),
                _ => None,
            },
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

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
        let samples = (0..=10)
            .map(|t| Sample {
                t: t as f64,
                node: "n".into(),
                rss_bytes: Some(10_000_000 + t * 100_000),
                cpu_seconds: Some(t as f64 * 0.5),
                source: "proc".into(),
                ..Sample::default()
            })
            .collect();
        RunData {
            total,
            ticks,
            samples,
            loss: Loss::default(),
            conversations_checked: 3,
            tail_lost_examples: Vec::new(),
        }
    }

    #[test]
    fn capacity_picks_busiest_window_under_target() {
        let mut scen = Scenario::parse("[[phases]]\nduration_secs = 10\n").unwrap();
        scen.report.window_secs = 2;
        scen.report.p99_target_ms = 13.0;
        let r = Report::build(
            &scen,
            "cmd".into(),
            0,
            10.0,
            vec!["t".into()],
            1,
            1,
            &data(),
        );
        let best = r.capacity.best.clone().unwrap();
        // Ticks 5 and 6 have p99 10 and 12 ms; tick 7 (14 ms) is over the target.
        assert_eq!((best.start, best.end), (4, 6));
        assert_eq!(best.acked_per_sec, 550.0);
        assert_eq!(r.capacity.busiest.unwrap().acked_per_sec, 950.0);
        assert_eq!(r.throughput.acked_per_sec_peak, 1000.0);
        assert_eq!(r.timeline.len(), 10);
        // 5 CPU seconds for 5,500 messages.
        assert!((r.server.cpu_us_per_message.unwrap() - 5.0 / 5500.0 * 1e6).abs() < 1e-6);
        // Phase end at 10 s: RSS grew 1 MB for 102 sockets.
        let ph = &r.server.phases[0];
        assert!((ph.rss_per_session_bytes.unwrap() - 1_000_000.0 / 102.0).abs() < 1.0);
    }

    #[test]
    fn writes_every_format_and_json_parses_back() {
        let scen = Scenario::parse("name = \"t\"\n[[phases]]\nduration_secs = 10\n").unwrap();
        let r = Report::build(
            &scen,
            "cmd".into(),
            1_700_000_000,
            10.0,
            vec!["t".into()],
            1,
            1,
            &data(),
        );
        let dir = tempfile::tempdir().unwrap();
        let files = r.write_all(dir.path(), "t").unwrap();
        assert_eq!(files.len(), 6);
        let back: Report =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("t.json")).unwrap())
                .unwrap();
        assert_eq!(back.timeline.len(), 10);
        let html = std::fs::read_to_string(dir.path().join("t.html")).unwrap();
        assert!(html.contains("<svg") && !html.contains("<script"));
        assert!(std::fs::read_to_string(dir.path().join("t.md"))
            .unwrap()
            .contains("t-latency.png"));
    }

    #[test]
    fn formats_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
