//! The early stop: a scenario that sets `report.stop_when_p99_above_ms` ends once the delivery
//! p99 (both directions) was above it, or clients saw errors (timeouts, refused connections,
//! error frames), in `stop_after_windows` consecutive windows of `window_secs`: past the knee,
//! so a ramp measures the node's limit and not the scenario's end. Loss is only known after the
//! drain (the tail check) and is in the report, not in this rule.
//!
//! The parent judges each window as soon as every worker has reported its last second, and tells
//! the workers to stop (a `stop` line on their stdin). A stopped worker ends its arrivals and
//! drains exactly as at the normal end of the last phase (no new messages, `drain_secs` for the
//! in-flight ones, then close and report), so the loss check stays exact.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::scenario::ReportCfg;

/// Why and when a run stopped before the end of its last phase (in the report's JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoppedEarly {
    /// Seconds since the run start when the stop was decided (the end of the last window judged).
    pub at_secs: u64,
    pub p99_above_ms: f64,
    pub window_secs: u64,
    /// The delivery p99 of the consecutive windows past the knee, oldest first (`None`: a
    /// window with errors and no delivery at all).
    pub window_p99_ms: Vec<Option<f64>>,
    /// Client errors in each of those windows.
    #[serde(default)]
    pub window_errors: Vec<u64>,
}

/// What the rule sees of one window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WindowSeen {
    /// Delivery p99 in ms; `None` when nothing was delivered.
    pub p99_ms: Option<f64>,
    pub errors: u64,
}

impl StoppedEarly {
    /// One line for the terminal and the report.
    pub fn describe(&self) -> String {
        format!(
            "stopped early at {} s: delivery p99 above {} ms or errors in {} consecutive {} s windows ({})",
            self.at_secs,
            self.p99_above_ms,
            self.window_p99_ms.len(),
            self.window_secs,
            self.windows()
        )
    }

    /// The windows past the knee: `31.0 ms, 44.2 ms + 3 errors, ...`.
    pub fn windows(&self) -> String {
        self.window_p99_ms
            .iter()
            .zip(self.window_errors.iter().chain(std::iter::repeat(&0)))
            .map(|(p, e)| {
                let p = p.map_or("no delivery".to_string(), |p| format!("{p:.1} ms"));
                match e {
                    0 => p,
                    e => format!("{p} + {e} errors"),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether errors, not only latency, marked the knee.
    pub fn had_errors(&self) -> bool {
        self.window_errors.iter().any(|e| *e > 0)
    }
}

/// The stop rule's state: how many windows in a row were over the limit.
#[derive(Debug, Clone)]
pub struct EarlyStop {
    above_ms: f64,
    windows: usize,
    window_secs: u64,
    streak: Vec<WindowSeen>,
}

impl EarlyStop {
    /// The rule of a scenario, or `None` when it never stops early.
    pub fn new(cfg: &ReportCfg) -> Option<EarlyStop> {
        (cfg.stop_when_p99_above_ms > 0.0).then(|| EarlyStop {
            above_ms: cfg.stop_when_p99_above_ms,
            windows: cfg.stop_after_windows.max(1) as usize,
            window_secs: cfg.window_secs.max(1),
            streak: Vec::new(),
        })
    }

    /// Whether second `t` (the interval `[t-1, t)`) closes a window: every `window_secs`
    /// seconds, and only while phases run (`phases_secs`), not during the final drain.
    pub fn closes_window(&self, t: u64, phases_secs: u64) -> bool {
        t > 0 && t <= phases_secs && t.is_multiple_of(self.window_secs)
    }

    /// Called once every worker has reported second `t`: when it closes a window, judge that
    /// window by what `seen` says of its seconds (`t - window_secs + 1 ..= t`).
    pub fn after_second(
        &mut self,
        t: u64,
        phases_secs: u64,
        seen: impl FnOnce(RangeInclusive<u64>) -> WindowSeen,
    ) -> Option<StoppedEarly> {
        if !self.closes_window(t, phases_secs) {
            return None;
        }
        let w = seen(t + 1 - self.window_secs..=t);
        self.observe(t, w)
    }

    /// Judge one window: past the knee when its p99 is over the limit or it had errors; within
    /// it otherwise; a window with neither deliveries nor errors neither counts nor breaks a
    /// streak. Returns the stop once enough windows in a row were past the knee.
    pub fn observe(&mut self, t: u64, w: WindowSeen) -> Option<StoppedEarly> {
        let over = w.errors > 0 || w.p99_ms.is_some_and(|p| p > self.above_ms);
        if over {
            self.streak.push(w);
        } else if w.p99_ms.is_some() {
            self.streak.clear();
        }
        (self.streak.len() >= self.windows).then(|| StoppedEarly {
            at_secs: t,
            p99_above_ms: self.above_ms,
            window_secs: self.window_secs,
            window_p99_ms: self.streak.iter().map(|w| w.p99_ms).collect(),
            window_errors: self.streak.iter().map(|w| w.errors).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(above: f64, windows: u32) -> EarlyStop {
        let cfg = ReportCfg {
            stop_when_p99_above_ms: above,
            stop_after_windows: windows,
            ..ReportCfg::default()
        };
        EarlyStop::new(&cfg).expect("enabled")
    }

    #[test]
    fn off_unless_a_limit_is_set() {
        assert!(EarlyStop::new(&ReportCfg::default()).is_none());
    }

    fn p99(ms: f64) -> WindowSeen {
        WindowSeen {
            p99_ms: Some(ms),
            errors: 0,
        }
    }

    const EMPTY: WindowSeen = WindowSeen {
        p99_ms: None,
        errors: 0,
    };

    #[test]
    fn stops_after_consecutive_windows_over_the_limit() {
        let mut s = rule(25.0, 3);
        assert_eq!(s.observe(5, p99(10.0)), None);
        assert_eq!(s.observe(10, p99(30.0)), None);
        assert_eq!(s.observe(15, p99(40.0)), None);
        // Back under the limit: the streak starts over.
        assert_eq!(s.observe(20, p99(25.0)), None);
        assert_eq!(s.observe(25, p99(26.0)), None);
        // A window with no deliveries neither counts nor breaks the streak.
        assert_eq!(s.observe(30, EMPTY), None);
        assert_eq!(s.observe(35, p99(50.0)), None);
        let stop = s.observe(40, p99(80.0)).expect("three windows over 25 ms");
        assert_eq!(stop.at_secs, 40);
        assert_eq!(stop.window_p99_ms, vec![Some(26.0), Some(50.0), Some(80.0)]);
        assert_eq!(stop.window_errors, vec![0, 0, 0]);
        assert!(!stop.had_errors());
        assert_eq!((stop.p99_above_ms, stop.window_secs), (25.0, 5));
    }

    #[test]
    fn errors_mark_the_knee_even_at_a_low_p99() {
        let mut s = rule(25.0, 2);
        let errors = |p: Option<f64>, e| WindowSeen {
            p99_ms: p,
            errors: e,
        };
        assert_eq!(s.observe(5, errors(Some(3.0), 2)), None);
        // Errors and nothing delivered: past the knee too.
        let stop = s
            .observe(10, errors(None, 7))
            .expect("two windows with errors");
        assert!(stop.had_errors());
        assert_eq!(stop.window_p99_ms, vec![Some(3.0), None]);
        assert_eq!(stop.windows(), "3.0 ms + 2 errors, no delivery + 7 errors");
        // A clean window under the limit breaks a streak of errors.
        let mut s = rule(25.0, 2);
        assert_eq!(s.observe(5, errors(Some(3.0), 1)), None);
        assert_eq!(s.observe(10, p99(3.0)), None);
        assert_eq!(s.observe(15, errors(Some(3.0), 1)), None);
    }

    #[test]
    fn one_window_is_enough_when_asked() {
        let mut s = rule(25.0, 1);
        assert!(s.observe(5, p99(25.1)).is_some());
    }

    #[test]
    fn windows_close_every_window_secs_during_the_phases_only() {
        let s = rule(25.0, 3);
        let closing: Vec<u64> = (0..=22).filter(|t| s.closes_window(*t, 20)).collect();
        assert_eq!(closing, [5, 10, 15, 20]);
    }

    #[test]
    fn judges_each_closed_window_by_its_seconds() {
        let mut s = rule(25.0, 2);
        let mut asked = Vec::new();
        for t in 1..=12 {
            let stop = s.after_second(t, 100, |secs| {
                asked.push(secs);
                p99(30.0)
            });
            assert_eq!(stop.is_some(), t == 10, "t = {t}");
        }
        assert_eq!(asked, [1..=5, 6..=10]);
        let stop = s.observe(15, p99(31.0)).unwrap();
        assert_eq!(
            stop.describe(),
            "stopped early at 15 s: delivery p99 above 25 ms or errors in 3 consecutive 5 s windows (30.0 ms, 30.0 ms, 31.0 ms)"
        );
    }
}
