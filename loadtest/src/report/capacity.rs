//! The capacity figure: the busiest window of `window_secs` whose delivery p99 (both directions
//! together) met the scenario's target, and the busiest window whatever its latency.

use serde::{Deserialize, Serialize};

use super::RunData;
use crate::stats::{merge_hist, new_hist};

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
