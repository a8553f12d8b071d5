//! Wall-clock time behind a trait, so tests can pin "now" (business hours) without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> Millis;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as Millis)
            .unwrap_or(0)
    }
}

/// A clock that tests set by hand.
#[derive(Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(at: Millis) -> Arc<Self> {
        Arc::new(ManualClock(AtomicI64::new(at)))
    }
    pub fn set(&self, at: Millis) {
        self.0.store(at, Ordering::SeqCst)
    }
    pub fn advance(&self, by: Millis) {
        self.0.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// Microseconds since the Unix epoch, from the real clock (never the injected one).
///
/// Messages between actors carry wall-clock times, not `Instant`s, because they may cross
/// nodes; delivery latency is measured with this, and the nodes of one host share its clock.
pub type WallMicros = u64;

/// Now, as [`WallMicros`].
pub fn wall_micros() -> WallMicros {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as WallMicros)
        .unwrap_or(0)
}

/// Seconds elapsed since `since` (0 if the clock stepped back).
pub fn seconds_since(since: WallMicros) -> f64 {
    wall_micros().saturating_sub(since) as f64 / 1e6
}
