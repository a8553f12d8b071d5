//! The capacity figure: the busiest window of `window_secs` whose delivery p99 (both directions
//! together) met the scenario's target with no client errors in it, and the busiest window
//! whatever its latency.

use serde::{Deserialize, Serialize};

use super::RunData;
use crate::stats::{delivery_p99, Stats};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Window {
    pub start: u64,
    pub end: u64,
    pub acked_per_sec: f64,
    pub delivered_per_sec: f64,
    /// New visitor sessions (connect + hello) per second in the window.
    #[serde(default)]
    pub sessions_per_sec: f64,
    /// p99 of both delivery directions together in the window.
    pub delivery_p99_ms: f64,
    /// Client errors in the window (timeouts, refused connections, error frames).
    #[serde(default)]
    pub errors: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Capacity {
    pub p99_target_ms: f64,
    pub window_secs: u64,
    /// The busiest window whose delivery p99 met the target, without errors.
    pub best: Option<Window>,
    /// The busiest window overall, whatever its latency.
    pub busiest: Option<Window>,
}

pub fn capacity(data: &RunData, target: f64, window: u64) -> Capacity {
    let mut cap = Capacity {
        p99_target_ms: target,
        window_secs: window,
        ..Capacity::default()
    };
    let window = window.max(1);
    let last = data.ticks.keys().next_back().copied().unwrap_or(0);
    let mut start = 1;
    while start + window - 1 <= last {
        let (mut acked, mut delivered, mut sessions, mut errors) = (0u64, 0u64, 0u64, 0u64);
        let seconds: Vec<&Stats> = (start..start + window)
            .filter_map(|t| data.ticks.get(&t).map(|(st, _)| st))
            .collect();
        for st in &seconds {
            acked += st.counter("acked");
            delivered += st.counter("delivered");
            sessions += st.counter("sessions");
            errors += st.error_total();
        }
        if let Some(p99) = delivery_p99(seconds) {
            let w = Window {
                start: start - 1,
                end: start - 1 + window,
                acked_per_sec: acked as f64 / window as f64,
                delivered_per_sec: delivered as f64 / window as f64,
                sessions_per_sec: sessions as f64 / window as f64,
                delivery_p99_ms: p99,
                errors,
            };
            if cap
                .busiest
                .as_ref()
                .is_none_or(|b| w.acked_per_sec > b.acked_per_sec)
            {
                cap.busiest = Some(w.clone());
            }
            if w.delivery_p99_ms <= target
                && w.errors == 0
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
