//! A token bucket per socket: flood protection that answers instead of dropping.

use std::time::{Duration, Instant};

/// Window in which repeated rejections count as a flood.
const FLOOD_WINDOW: Duration = Duration::from_secs(10);

/// A token bucket per socket.
pub struct RateLimit {
    tokens: f64,
    per_sec: f64,
    burst: f64,
    last: Instant,
    rejected: u32,
    window_start: Instant,
}

impl RateLimit {
    pub fn new(per_sec: u32, burst: u32) -> Self {
        let now = Instant::now();
        RateLimit {
            tokens: burst as f64,
            per_sec: per_sec as f64,
            burst: burst as f64,
            last: now,
            rejected: 0,
            window_start: now,
        }
    }

    pub fn allow(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.per_sec)
            .min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return true;
        }
        if now.duration_since(self.window_start) > FLOOD_WINDOW {
            self.window_start = now;
            self.rejected = 0;
        }
        self.rejected += 1;
        false
    }

    /// Still flooding after a whole burst of rejections.
    pub fn flooding(&self) -> bool {
        self.rejected as f64 > self.burst
    }
}
