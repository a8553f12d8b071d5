//! When a failed delivery is tried again: exponential backoff with jitter, capped, and dead
//! after a number of attempts. Jitter spreads the retries of many events that failed together
//! (a receiver that was down) so they do not all return at the same instant.

use crate::clock::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; the last failure makes the delivery dead.
    pub max_attempts: u32,
    /// Delay after the first failure, before jitter.
    pub base_ms: u64,
    /// Longest delay between two attempts.
    pub max_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            base_ms: 5_000,
            max_ms: 3_600_000,
        }
    }
}

impl RetryPolicy {
    /// After `attempts` failed attempts: the delay before the next one, or `None` when that
    /// was the last. `unit` in [0, 1) picks the jitter: the delay is between half and all of
    /// `base * 2^(attempts-1)` (capped at `max_ms`).
    pub fn delay_after(&self, attempts: u32, unit: f64) -> Option<Millis> {
        if attempts >= self.max_attempts {
            return None;
        }
        let exp = attempts.saturating_sub(1).min(40);
        let full = self.base_ms.saturating_mul(1u64 << exp).min(self.max_ms);
        let unit = unit.clamp(0.0, 1.0);
        let jittered = full as f64 * (0.5 + 0.5 * unit);
        Some((jittered as Millis).max(1))
    }

    /// [`RetryPolicy::delay_after`] with a random jitter.
    pub fn next_delay(&self, attempts: u32) -> Option<Millis> {
        self.delay_after(attempts, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_their_jitter_up_to_the_cap_then_the_delivery_is_dead() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_ms: 1000,
            max_ms: 6000,
        };
        assert_eq!(p.delay_after(1, 0.0), Some(500));
        assert_eq!(p.delay_after(1, 1.0), Some(1000));
        assert_eq!(p.delay_after(2, 1.0), Some(2000));
        assert_eq!(p.delay_after(3, 1.0), Some(4000));
        assert_eq!(p.delay_after(4, 1.0), Some(6000), "capped");
        assert_eq!(
            p.delay_after(5, 1.0),
            None,
            "the fifth failure was the last"
        );
        for n in 1..5 {
            let d = p.next_delay(n).unwrap();
            assert!(d >= p.delay_after(n, 0.0).unwrap() && d <= p.delay_after(n, 1.0).unwrap());
        }
    }
}
