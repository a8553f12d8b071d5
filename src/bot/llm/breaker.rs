//! A circuit breaker per site's model endpoint: after `failures_to_open` consecutive failures
//! the breaker opens and turns go straight to a hand-off (no visitor waits out a deadline on a
//! dead server); after `open_for` one probe is let through (half-open): its success closes the
//! breaker, its failure opens it again. Time comes in as an argument, so tests need no sleep.

use crate::clock::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    pub failures_to_open: u32,
    pub open_for_ms: Millis,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures_to_open: 3,
            open_for_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed {
        failures: u32,
    },
    Open {
        until: Millis,
    },
    /// One probe is in flight; everyone else is refused until it ends.
    HalfOpen,
}

#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: BreakerState,
}

/// What `try_acquire` allowed; hand it back to `on_success` / `on_failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    Normal,
    Probe,
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        CircuitBreaker {
            config,
            state: BreakerState::Closed { failures: 0 },
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// May a call go out now?
    pub fn try_acquire(&mut self, now: Millis) -> Option<Permit> {
        match self.state {
            BreakerState::Closed { .. } => Some(Permit::Normal),
            BreakerState::Open { until } if now >= until => {
                self.state = BreakerState::HalfOpen;
                Some(Permit::Probe)
            }
            BreakerState::Open { .. } | BreakerState::HalfOpen => None,
        }
    }

    pub fn on_success(&mut self, _permit: Permit) {
        self.state = BreakerState::Closed { failures: 0 };
    }

    pub fn on_failure(&mut self, permit: Permit, now: Millis) {
        let failures = match (permit, self.state) {
            (Permit::Probe, _) => self.config.failures_to_open,
            (Permit::Normal, BreakerState::Closed { failures }) => failures + 1,
            // A normal call that started before the breaker opened: already open, stay so.
            (Permit::Normal, _) => return,
        };
        self.state = if failures >= self.config.failures_to_open {
            BreakerState::Open {
                until: now + self.config.open_for_ms,
            }
        } else {
            BreakerState::Closed { failures }
        };
    }

    /// The call ended in a way that says nothing about the server's health (e.g. the turn was
    /// cancelled because an agent took over): a probe gives its slot back.
    pub fn on_abandoned(&mut self, permit: Permit, now: Millis) {
        if permit == Permit::Probe && self.state == BreakerState::HalfOpen {
            self.state = BreakerState::Open { until: now };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            failures_to_open: 2,
            open_for_ms: 1_000,
        })
    }

    #[test]
    fn consecutive_failures_open_it_and_a_success_in_between_resets_the_count() {
        let mut b = breaker();
        let p = b.try_acquire(0).unwrap();
        b.on_failure(p, 0);
        let p = b.try_acquire(0).unwrap();
        b.on_success(p);
        let p = b.try_acquire(0).unwrap();
        b.on_failure(p, 0);
        assert_eq!(b.state(), BreakerState::Closed { failures: 1 });
        let p = b.try_acquire(0).unwrap();
        b.on_failure(p, 10);
        assert_eq!(b.state(), BreakerState::Open { until: 1_010 });
        assert_eq!(b.try_acquire(500), None);
    }

    #[test]
    fn after_the_wait_one_probe_goes_and_its_result_decides() {
        let mut b = breaker();
        for _ in 0..2 {
            let p = b.try_acquire(0).unwrap();
            b.on_failure(p, 0);
        }
        let probe = b.try_acquire(1_000).expect("half-open lets one probe");
        assert_eq!(probe, Permit::Probe);
        assert_eq!(b.try_acquire(1_000), None, "only one probe at a time");
        b.on_failure(probe, 1_100);
        assert_eq!(b.state(), BreakerState::Open { until: 2_100 });
        let probe = b.try_acquire(2_100).unwrap();
        b.on_success(probe);
        assert_eq!(b.state(), BreakerState::Closed { failures: 0 });
    }

    #[test]
    fn an_abandoned_probe_lets_the_next_call_probe() {
        let mut b = breaker();
        for _ in 0..2 {
            let p = b.try_acquire(0).unwrap();
            b.on_failure(p, 0);
        }
        let probe = b.try_acquire(1_000).unwrap();
        b.on_abandoned(probe, 1_001);
        assert_eq!(b.try_acquire(1_001), Some(Permit::Probe));
    }
}
