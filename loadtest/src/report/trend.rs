//! The run minute by minute, for soaks: node RSS, CPU per acked message, live conversation
//! actors and subscriptions (all nodes together), and the two figures a soak is judged by:
//! - **RSS drift after the first 5 minutes**: RSS at the end of the last full minute minus RSS
//!   at the end of minute 5 (the warm-up: idle sessions opened, pools and caches filled).
//! - **CPU per message flatness**: over minutes 6 to the last, the largest distance of a
//!   minute's CPU per acked message from their mean, as a share of the mean; "flat" is within
//!   10 %.
//!
//! Only full minutes of the load count (the drain after the last phase is left out).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::server::{at_or_before, cpu, gauges_at, rss};
use crate::scrape::Round;
use crate::stats::Stats;
use crate::worker::Gauges;

/// Minutes of warm-up before drift and flatness are measured.
pub const WARMUP_MINUTES: usize = 5;
/// CPU per message is "flat" when no minute is further than this from the mean.
pub const FLAT_WITHIN_PCT: f64 = 10.0;

/// One minute: `minute` m covers seconds (60(m-1), 60m]; gauges are read at its end.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Minute {
    pub minute: u64,
    pub rss_mib: Option<f64>,
    pub cpu_seconds: Option<f64>,
    pub acked: u64,
    pub cpu_us_per_msg: Option<f64>,
    pub conversation_actors: Option<f64>,
    /// `switchboard_subscriptions`, when the nodes export it.
    pub subscriptions: Option<f64>,
    /// Heap in live allocations and SQLite's own memory (MiB, all nodes), when exported: what
    /// RSS is made of, so a drift can be told apart from allocator retention.
    #[serde(default)]
    pub heap_in_use_mib: Option<f64>,
    #[serde(default)]
    pub sqlite_mib: Option<f64>,
    /// Client sockets open (the harness's count).
    pub sockets: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub minutes: Vec<Minute>,
    pub rss_mib_at_warmup_end: Option<f64>,
    pub rss_mib_at_end: Option<f64>,
    pub rss_drift_after_5min_mib: Option<f64>,
    pub rss_drift_after_5min_pct: Option<f64>,
    pub cpu_us_per_msg_mean_after_5min: Option<f64>,
    /// max |minute - mean| / mean, in percent, over minutes 6 to the last.
    pub cpu_us_per_msg_spread_pct: Option<f64>,
    pub cpu_flat_within_10pct: Option<bool>,
}

pub fn trend(rounds: &[Round], ticks: &BTreeMap<u64, (Stats, Gauges)>, load_secs: u64) -> Trend {
    let mut t = Trend::default();
    for m in 1..=load_secs / 60 {
        let (start, end) = ((m - 1) * 60, m * 60);
        let cpu_used = match (
            at_or_before(rounds, start as f64, cpu),
            at_or_before(rounds, end as f64, cpu),
        ) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        let acked: u64 = ticks
            .range(start + 1..=end)
            .map(|(_, (st, _))| st.counter("acked"))
            .sum();
        let g = gauges_at(ticks, end);
        t.minutes.push(Minute {
            minute: m,
            rss_mib: at_or_before(rounds, end as f64, rss).map(|b| b as f64 / 1048576.0),
            cpu_seconds: cpu_used,
            acked,
            cpu_us_per_msg: cpu_used
                .filter(|_| acked > 0)
                .map(|c| c / acked as f64 * 1e6),
            conversation_actors: at_or_before(rounds, end as f64, |r| {
                r.total_present(|s| s.conversation_actors)
            }),
            subscriptions: at_or_before(rounds, end as f64, |r| {
                r.total_present(|s| s.subscriptions)
            }),
            heap_in_use_mib: at_or_before(rounds, end as f64, |r| {
                r.total_present(|s| s.heap_in_use_bytes)
            })
            .map(|b| b / 1048576.0),
            sqlite_mib: at_or_before(rounds, end as f64, |r| r.total_present(|s| s.sqlite_bytes))
                .map(|b| b / 1048576.0),
            sockets: g.visitors + g.agents,
        });
    }
    if t.minutes.len() <= WARMUP_MINUTES {
        return t;
    }
    t.rss_mib_at_warmup_end = t.minutes[WARMUP_MINUTES - 1].rss_mib;
    t.rss_mib_at_end = t.minutes.last().and_then(|m| m.rss_mib);
    if let (Some(a), Some(b)) = (t.rss_mib_at_warmup_end, t.rss_mib_at_end) {
        t.rss_drift_after_5min_mib = Some(b - a);
        t.rss_drift_after_5min_pct = (a > 0.0).then(|| (b - a) / a * 100.0);
    }
    let per_msg: Vec<f64> = t.minutes[WARMUP_MINUTES..]
        .iter()
        .filter_map(|m| m.cpu_us_per_msg)
        .collect();
    if !per_msg.is_empty() {
        let mean = per_msg.iter().sum::<f64>() / per_msg.len() as f64;
        t.cpu_us_per_msg_mean_after_5min = Some(mean);
        if mean > 0.0 {
            let spread = per_msg
                .iter()
                .map(|x| (x - mean).abs() / mean * 100.0)
                .fold(0.0, f64::max);
            t.cpu_us_per_msg_spread_pct = Some(spread);
            t.cpu_flat_within_10pct = Some(spread <= FLAT_WITHIN_PCT);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::Sample;

    /// `minutes` minutes of one node: RSS 100 MiB growing 1 MiB a minute after minute 5, CPU
    /// 0.01 s per second, 100 acked messages per second, `actors` live conversation actors.
    fn run(minutes: u64) -> (Vec<Round>, BTreeMap<u64, (Stats, Gauges)>) {
        let mib = 1048576u64;
        let rounds = (0..=minutes * 60)
            .map(|s| {
                let grown = s.saturating_sub(300) / 60;
                Round {
                    t: s as f64,
                    nodes: vec![Sample {
                        t: s as f64,
                        rss_bytes: Some((100 + grown) * mib),
                        cpu_seconds: Some(s as f64 * 0.01),
                        conversation_actors: Some(400.0),
                        ..Sample::default()
                    }],
                    generator: None,
                }
            })
            .collect();
        let ticks = (1..=minutes * 60 + 5)
            .map(|s| {
                let mut st = Stats::default();
                st.incr("acked", 100);
                (s, (st, Gauges::default()))
            })
            .collect();
        (rounds, ticks)
    }

    #[test]
    fn minutes_drift_and_flat_cpu_per_message() {
        let (rounds, ticks) = run(10);
        let t = trend(&rounds, &ticks, 600);
        assert_eq!(t.minutes.len(), 10);
        let m1 = &t.minutes[0];
        assert_eq!(m1.acked, 6_000);
        // 0.6 CPU s for 6,000 messages: 100 us each.
        assert!((m1.cpu_us_per_msg.unwrap() - 100.0).abs() < 1e-6);
        assert_eq!(m1.conversation_actors, Some(400.0));
        assert_eq!(m1.subscriptions, None);
        assert_eq!(t.rss_mib_at_warmup_end, Some(100.0));
        assert_eq!(t.rss_drift_after_5min_mib, Some(5.0));
        assert_eq!(t.rss_drift_after_5min_pct, Some(5.0));
        assert!(t.cpu_us_per_msg_spread_pct.unwrap() < 1e-6);
        assert_eq!(t.cpu_flat_within_10pct, Some(true));
    }

    #[test]
    fn a_busy_minute_breaks_flatness() {
        let (mut rounds, ticks) = run(10);
        // Minute 8 costs twice the CPU: every later sample carries the extra 0.6 s.
        for r in rounds.iter_mut().filter(|r| r.t > 420.0) {
            let extra = ((r.t - 420.0).min(60.0)) * 0.01;
            r.nodes[0].cpu_seconds = r.nodes[0].cpu_seconds.map(|c| c + extra);
        }
        let t = trend(&rounds, &ticks, 600);
        assert_eq!(t.cpu_flat_within_10pct, Some(false));
        assert!(t.cpu_us_per_msg_spread_pct.unwrap() > 50.0);
    }

    #[test]
    fn a_short_run_has_minutes_but_no_soak_figures() {
        let (rounds, ticks) = run(3);
        let t = trend(&rounds, &ticks, 200);
        assert_eq!(t.minutes.len(), 3);
        assert_eq!(t.rss_drift_after_5min_mib, None);
        assert_eq!(t.cpu_flat_within_10pct, None);
        assert!(trend(&rounds, &ticks, 30).minutes.is_empty());
    }
}
