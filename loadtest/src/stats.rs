//! Measurements: HDR latency histograms (microseconds), counters and errors by code.
//!
//! Workers record into their own `Stats`, ship them to the parent as JSON with histograms in
//! HdrHistogram's V2 format (base64), and the parent merges them. Merging HDR histograms is exact:
//! the merged percentiles are those of all samples together.

use std::collections::BTreeMap;

use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency a histogram holds: one hour, in microseconds. Longer samples saturate.
const MAX_US: u64 = 3_600_000_000;

/// Names of the latency histograms, in report order, with what they measure.
pub const LATENCIES: &[(&str, &str)] = &[
    ("connect", "TCP connect + WebSocket upgrade"),
    ("hello", "hello sent -> welcome received"),
    ("start", "start sent -> ack (conversation created or found)"),
    ("subscribe", "subscribe sent -> ack"),
    ("queue_wait", "conversation started -> assigned to an agent"),
    ("v2a", "visitor message sent -> received by the agent"),
    ("a2v", "agent message sent -> received by the visitor"),
    (
        "ack_visitor",
        "visitor send -> ack (message durably stored)",
    ),
    ("ack_agent", "agent send -> ack (message durably stored)"),
    ("ack_read", "agent read receipt -> ack"),
    (
        "resume",
        "reconnect start (after the drop and the reconnect delay) -> resubscription acked (gap delivered)",
    ),
];

pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

pub fn encode_hist(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut buf)
        .expect("serialising into a Vec cannot fail");
    base64::engine::general_purpose::STANDARD.encode(buf)
}

pub fn decode_hist(s: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| format!("histogram base64: {e}"))?;
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("histogram: {e:?}"))?;
    Ok(h)
}

/// Add `src` into `dst`; a histogram with other bounds is re-recorded value by value.
pub fn merge_hist(dst: &mut Histogram<u64>, src: &Histogram<u64>) {
    if dst.add(src).is_err() {
        for v in src.iter_recorded() {
            dst.saturating_record_n(v.value_iterated_to(), v.count_at_value());
        }
    }
}

/// The delivery p99 (both directions, `v2a` and `a2v`, together) of some seconds' stats, in
/// milliseconds; `None` when nothing was delivered in them. The capacity figure and the early
/// stop both judge a window by it.
pub fn delivery_p99<'a>(seconds: impl IntoIterator<Item = &'a Stats>) -> Option<f64> {
    let mut lat = new_hist();
    for st in seconds {
        for k in ["v2a", "a2v"] {
            if let Some(h) = st.hists.get(k) {
                merge_hist(&mut lat, h);
            }
        }
    }
    (!lat.is_empty()).then(|| lat.value_at_quantile(0.99) as f64 / 1e3)
}

/// Percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    pub fn of(h: &Histogram<u64>) -> Summary {
        if h.is_empty() {
            return Summary::default();
        }
        let ms = |us: u64| us as f64 / 1e3;
        Summary {
            count: h.len(),
            mean_ms: h.mean() / 1e3,
            p50_ms: ms(h.value_at_quantile(0.5)),
            p90_ms: ms(h.value_at_quantile(0.9)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// One worker's (or the merged) measurements.
#[derive(Debug, Clone)]
pub struct Stats {
    pub hists: BTreeMap<String, Histogram<u64>>,
    pub counters: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
}

impl Default for Stats {
    fn default() -> Self {
        let hists = LATENCIES
            .iter()
            .map(|(n, _)| (n.to_string(), new_hist()))
            .collect();
        Stats {
            hists,
            counters: BTreeMap::new(),
            errors: BTreeMap::new(),
        }
    }
}

/// The wire form of `Stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StatsWire {
    pub hists: BTreeMap<String, String>,
    pub counters: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
}

impl Stats {
    pub fn record_us(&mut self, name: &str, us: u64) {
        let h = self.hists.entry(name.to_string()).or_insert_with(new_hist);
        h.saturating_record(us.max(1));
    }

    pub fn incr(&mut self, name: &str, n: u64) {
        *self.counters.entry(name.to_string()).or_insert(0) += n;
    }

    pub fn error(&mut self, code: &str) {
        *self.errors.entry(code.to_string()).or_insert(0) += 1;
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn merge(&mut self, other: &Stats) {
        for (k, h) in &other.hists {
            merge_hist(self.hists.entry(k.clone()).or_insert_with(new_hist), h);
        }
        for (k, v) in &other.counters {
            *self.counters.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_insert(0) += v;
        }
    }

    pub fn to_wire(&self) -> StatsWire {
        StatsWire {
            hists: self
                .hists
                .iter()
                .filter(|(_, h)| !h.is_empty())
                .map(|(k, h)| (k.clone(), encode_hist(h)))
                .collect(),
            counters: self.counters.clone(),
            errors: self.errors.clone(),
        }
    }

    pub fn from_wire(w: &StatsWire) -> Result<Stats, String> {
        let mut s = Stats::default();
        for (k, v) in &w.hists {
            s.hists.insert(k.clone(), decode_hist(v)?);
        }
        s.counters = w.counters.clone();
        s.errors = w.errors.clone();
        Ok(s)
    }

    /// Drain into a fresh `Stats` (interval snapshots), leaving this one empty.
    pub fn take(&mut self) -> Stats {
        std::mem::take(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_round_trips_and_merges_exactly() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        for v in 1..=1000u64 {
            a.record_us("v2a", v * 10);
        }
        for v in 1..=1000u64 {
            b.record_us("v2a", 100_000 + v);
        }
        b.incr("sent", 3);
        b.error("rate_limited");
        let b2 = Stats::from_wire(
            &serde_json::from_str(&serde_json::to_string(&b.to_wire()).unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(b2.hists["v2a"].len(), 1000);
        assert_eq!(b2.counter("sent"), 3);
        a.merge(&b2);
        let h = &a.hists["v2a"];
        assert_eq!(h.len(), 2000);
        // Half the samples are <= 10 ms, the other half about 100 ms.
        let s = Summary::of(h);
        assert!(s.p50_ms <= 10.1, "{s:?}");
        assert!(s.p90_ms > 99.0 && s.p90_ms < 102.0, "{s:?}");
        assert!((s.max_ms - 101.0).abs() < 0.2, "{s:?}");
        assert_eq!(a.errors["rate_limited"], 1);
    }

    #[test]
    fn bad_wire_histogram_is_an_error_not_a_panic() {
        assert!(decode_hist("not base64!").is_err());
        assert!(decode_hist("AAAA").is_err());
    }

    #[test]
    fn empty_summary_is_zero() {
        assert_eq!(Summary::of(&new_hist()), Summary::default());
    }
}
