//! The Markdown summary (also the body of the HTML page): run, loss, latency, throughput,
//! capacity, the server per node and in total, and the minute-by-minute trend of long runs.

use std::fmt::Write as _;

use super::trend::{FLAT_WITHIN_PCT, WARMUP_MINUTES};
use super::Report;
use crate::stats::LATENCIES;

fn mib(b: Option<u64>) -> String {
    b.map(|b| format!("{:.1} MiB", b as f64 / 1048576.0))
        .unwrap_or("n/a".into())
}

fn num(v: Option<f64>, decimals: usize) -> String {
    v.map(|v| format!("{v:.decimals$}")).unwrap_or("n/a".into())
}

impl Report {
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
        if !self.agent_targets.is_empty() {
            let _ = writeln!(o, "- agents connect to: {}", self.agent_targets.join(", "));
        }
        if let Some(s) = &self.stopped_early {
            let _ = writeln!(o, "- **{}**, then drained", s.describe());
        }
        if !self.scrape.is_empty() {
            let _ = writeln!(o, "- server measured at: {}", self.scrape.join(", "));
        }
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
        self.server_md(&mut o);
        if let Some(g) = &self.generator {
            let _ = writeln!(
                o,
                "\n**Generator** (this harness: parent + {} workers): CPU {:.1} s, {:.0} % of one core over the run ({:.0} % of the machine); {} us per session, {} us per acked message; busiest worker in its busiest second {} % of a core.",
                g.worker_cpu_seconds.len(),
                g.cpu_seconds,
                g.cpu_percent,
                g.machine_percent,
                num(g.cpu_us_per_session, 0),
                num(g.cpu_us_per_message, 0),
                num(g.busiest_worker_percent, 0)
            );
        }
        self.trend_md(&mut o);
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

    /// Totals, one row per node, and RSS per socket at each phase end.
    fn server_md(&self, o: &mut String) {
        let s = &self.server;
        let _ = writeln!(
            o,
            "\n**Server** ({} node{}, {} samples, from {}):",
            s.nodes.len(),
            if s.nodes.len() == 1 { "" } else { "s" },
            s.samples,
            if s.source.is_empty() {
                "nowhere"
            } else {
                &s.source
            }
        );
        let _ = writeln!(
            o,
            "CPU {} s ({} % mean), {} us CPU per acked message; RSS start {}, peak {}, end {}.\n",
            num(s.cpu_seconds, 1),
            num(s.cpu_percent_mean, 0),
            num(s.cpu_us_per_message, 0),
            mib(s.rss_start_bytes),
            mib(s.rss_peak_bytes),
            mib(s.rss_end_bytes)
        );
        let _ = writeln!(
            o,
            "| node | from | CPU s | CPU % mean | RSS start | RSS peak | RSS end | sockets peak | sockets end | conversation actors |"
        );
        let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for n in &s.nodes {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                n.node,
                if n.source.is_empty() { "-" } else { &n.source },
                num(n.cpu_seconds, 1),
                num(n.cpu_percent_mean, 0),
                mib(n.rss_start_bytes),
                mib(n.rss_peak_bytes),
                mib(n.rss_end_bytes),
                num(n.sockets_peak, 0),
                num(n.sockets_end, 0),
                num(n.conversation_actors_end, 0)
            );
        }
        if s.nodes.len() > 1 {
            let _ = writeln!(
                o,
                "| **total** | | {} | {} | {} | {} | {} | | | |",
                num(s.cpu_seconds, 1),
                num(s.cpu_percent_mean, 0),
                mib(s.rss_start_bytes),
                mib(s.rss_peak_bytes),
                mib(s.rss_end_bytes)
            );
        }
        let _ = writeln!(
            o,
            "\n| phase | ends at s | server RSS | visitor sockets | agent sockets | RSS per socket |"
        );
        let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|");
        for ph in &s.phases {
            let _ = writeln!(
                o,
                "| {} | {:.0} | {} | {} | {} | {} |",
                ph.name,
                ph.end_secs,
                mib(ph.rss_bytes),
                ph.visitor_sockets,
                ph.agent_sockets,
                ph.rss_per_session_bytes
                    .map(|b| format!("{:.1} KB", b / 1000.0))
                    .unwrap_or("n/a".into())
            );
        }
    }

    /// The per-minute table of runs of two minutes or more, with drift and flatness after the
    /// warm-up when the run is long enough.
    fn trend_md(&self, o: &mut String) {
        let t = &self.trend;
        if t.minutes.len() < 2 {
            return;
        }
        let _ = writeln!(o, "\n**Minute by minute** (all nodes together):");
        match (t.rss_drift_after_5min_mib, t.rss_drift_after_5min_pct) {
            (Some(d), pct) => {
                let _ = writeln!(
                    o,
                    "RSS drift after the first {WARMUP_MINUTES} minutes: **{d:+.1} MiB** ({} %; {} -> {} MiB at minute {}).",
                    num(pct, 1),
                    num(t.rss_mib_at_warmup_end, 1),
                    num(t.rss_mib_at_end, 1),
                    t.minutes.len()
                );
            }
            _ => {
                let _ = writeln!(
                    o,
                    "RSS drift and CPU flatness need more than {WARMUP_MINUTES} full minutes."
                );
            }
        }
        if let (Some(mean), Some(spread), Some(flat)) = (
            t.cpu_us_per_msg_mean_after_5min,
            t.cpu_us_per_msg_spread_pct,
            t.cpu_flat_within_10pct,
        ) {
            let _ = writeln!(
                o,
                "CPU per acked message after minute {WARMUP_MINUTES}: mean {mean:.0} us, every minute within **{spread:.1} %** of it: {} within {FLAT_WITHIN_PCT:.0} %.",
                if flat { "flat" } else { "**not** flat" }
            );
        }
        let _ = writeln!(
            o,
            "\n| minute | RSS MiB | heap in use MiB | SQLite MiB | CPU us/msg | acked | live conversation actors | subscriptions | client sockets |"
        );
        let _ = writeln!(o, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for m in &t.minutes {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                m.minute,
                num(m.rss_mib, 1),
                num(m.heap_in_use_mib, 1),
                num(m.sqlite_mib, 1),
                num(m.cpu_us_per_msg, 0),
                m.acked,
                num(m.conversation_actors, 0),
                num(m.subscriptions, 0),
                m.sockets
            );
        }
    }
}
