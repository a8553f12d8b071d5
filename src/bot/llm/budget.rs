//! A site's daily token budget: prompt + completion tokens per UTC day. A turn is refused up
//! front when its prompt estimate plus its output cap would not fit; what it really used is
//! recorded when it ends. Node-local until the store keeps a shared counter (docs/bots.md).

use crate::clock::Millis;

const DAY_MS: Millis = 86_400_000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenBudget {
    day: i64,
    used: u64,
}

impl TokenBudget {
    fn roll(&mut self, now: Millis) {
        let day = now.div_euclid(DAY_MS);
        if day != self.day {
            self.day = day;
            self.used = 0;
        }
    }

    /// Whether `tokens` more fit under `limit` today (`limit == 0` means unlimited).
    pub fn allows(&mut self, limit: u64, tokens: u64, now: Millis) -> bool {
        self.roll(now);
        limit == 0 || self.used.saturating_add(tokens) <= limit
    }

    pub fn record(&mut self, tokens: u64, now: Millis) {
        self.roll(now);
        self.used = self.used.saturating_add(tokens);
    }

    pub fn used_today(&mut self, now: Millis) -> u64 {
        self.roll(now);
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_that_would_overspend_is_refused_until_the_next_day() {
        let mut b = TokenBudget::default();
        let t = 5 * DAY_MS + 10;
        assert!(b.allows(1_000, 600, t));
        b.record(600, t);
        assert!(!b.allows(1_000, 500, t + 1));
        assert!(b.allows(1_000, 400, t + 1));
        assert!(b.allows(1_000, 1_000, 6 * DAY_MS));
        assert_eq!(b.used_today(6 * DAY_MS), 0);
    }

    #[test]
    fn zero_means_unlimited() {
        let mut b = TokenBudget::default();
        b.record(u64::MAX, 0);
        assert!(b.allows(0, 1_000_000, 0));
    }
}
