//! Agent logins throttled per account, per address and per (account, address), with
//! exponential backoff, decided *before* the password is hashed.
//!
//! Without it, 60 wrong passwords in a burst all got a plain 401, and a flood from one address
//! filled the two password-hashing threads every agent's login waits on. Now:
//! - an address has at most [`IP_IN_FLIGHT`] logins being checked at once: one address can
//!   never occupy the hashing pool;
//! - failures are counted per (account, address), per address and per account; past a free
//!   allowance each further failure doubles a wait (1 s, 2 s, 4 s ... up to 15 minutes) during
//!   which that key's attempts are refused at once with `rate_limited` and `Retry-After`;
//! - the per-account allowance is large ([`ACCOUNT_FREE`]): a guesser on one address locks out
//!   itself, not the account's owner logging in from elsewhere, while guessing spread over
//!   many addresses still slows down;
//! - a success clears the account's counts; counts fade after an hour without failures.
//!
//! Node-local: behind a balancer that spreads one client over N nodes, the allowances are N
//! times larger. Unknown accounts count like wrong passwords (no enumeration, no free flood).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Failures allowed before backoff, per (account, address).
const PAIR_FREE: u32 = 3;
/// ... per address, whatever the account.
const IP_FREE: u32 = 10;
/// ... per account, whatever the address.
const ACCOUNT_FREE: u32 = 50;
/// The longest wait.
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// Counts are forgotten after this long without a failure.
const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// Logins of one address being checked at once.
pub const IP_IN_FLIGHT: u32 = 2;
/// Entries above which forgotten ones are swept out.
const SWEEP_ABOVE: usize = 10_000;

/// A refused attempt: try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Strikes {
    failures: u32,
    blocked_until: Option<Instant>,
    last_failure: Instant,
}

impl Strikes {
    fn new(now: Instant) -> Self {
        Strikes {
            failures: 0,
            blocked_until: None,
            last_failure: now,
        }
    }

    fn waiting(&self, now: Instant) -> Option<Duration> {
        self.blocked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    fn fail(&mut self, now: Instant, free: u32) {
        if now.duration_since(self.last_failure) > FORGET_AFTER {
            self.failures = 0;
        }
        self.failures += 1;
        self.last_failure = now;
        if self.failures > free {
            let doublings = (self.failures - free - 1).min(20);
            let wait = Duration::from_secs(1u64 << doublings).min(MAX_BACKOFF);
            self.blocked_until = Some(now + wait);
        }
    }
}

#[derive(Default)]
struct Tables {
    pairs: HashMap<(String, IpAddr), Strikes>,
    ips: HashMap<IpAddr, Strikes>,
    accounts: HashMap<String, Strikes>,
    in_flight: HashMap<IpAddr, u32>,
}

impl Tables {
    fn sweep(&mut self, now: Instant) {
        let fresh = |s: &Strikes| now.duration_since(s.last_failure) <= FORGET_AFTER;
        if self.pairs.len() > SWEEP_ABOVE {
            self.pairs.retain(|_, s| fresh(s));
        }
        if self.ips.len() > SWEEP_ABOVE {
            self.ips.retain(|_, s| fresh(s));
        }
        if self.accounts.len() > SWEEP_ABOVE {
            self.accounts.retain(|_, s| fresh(s));
        }
    }
}

#[derive(Default)]
pub struct LoginThrottle {
    tables: Arc<Mutex<Tables>>,
}

impl LoginThrottle {
    /// May `account` try to log in from `ip` now? The permit holds the address's in-flight
    /// slot until it is told the outcome or dropped.
    pub fn begin(&self, account: &str, ip: IpAddr) -> Result<LoginPermit, Throttled> {
        let now = Instant::now();
        let account = account.to_lowercase();
        let mut t = self.tables.lock();
        let wait = [
            t.pairs
                .get(&(account.clone(), ip))
                .and_then(|s| s.waiting(now)),
            t.ips.get(&ip).and_then(|s| s.waiting(now)),
            t.accounts.get(&account).and_then(|s| s.waiting(now)),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(retry_after) = wait {
            return Err(Throttled { retry_after });
        }
        let busy = t.in_flight.entry(ip).or_default();
        if *busy >= IP_IN_FLIGHT {
            return Err(Throttled {
                retry_after: Duration::from_secs(1),
            });
        }
        *busy += 1;
        Ok(LoginPermit {
            tables: self.tables.clone(),
            account,
            ip,
        })
    }
}

/// One login being checked.
pub struct LoginPermit {
    tables: Arc<Mutex<Tables>>,
    account: String,
    ip: IpAddr,
}

impl LoginPermit {
    /// The password was right: the account's counts start over.
    pub fn succeeded(self) {
        let mut t = self.tables.lock();
        t.pairs.remove(&(self.account.clone(), self.ip));
        t.accounts.remove(&self.account);
    }

    /// The password was wrong (or the account unknown).
    pub fn failed(self) {
        let now = Instant::now();
        let mut t = self.tables.lock();
        t.sweep(now);
        let key = (self.account.clone(), self.ip);
        t.pairs
            .entry(key)
            .or_insert(Strikes::new(now))
            .fail(now, PAIR_FREE);
        t.ips
            .entry(self.ip)
            .or_insert(Strikes::new(now))
            .fail(now, IP_FREE);
        let account = self.account.clone();
        t.accounts
            .entry(account)
            .or_insert(Strikes::new(now))
            .fail(now, ACCOUNT_FREE);
    }
}

/// The address's slot is given back however the login ended (an error, a dropped request).
impl Drop for LoginPermit {
    fn drop(&mut self) {
        let mut t = self.tables.lock();
        if let Some(n) = t.in_flight.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                t.in_flight.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([198, 51, 100, last])
    }

    #[test]
    fn failures_past_the_allowance_back_off_doubling() {
        let throttle = LoginThrottle::default();
        for _ in 0..PAIR_FREE {
            throttle.begin("a@x", ip(1)).unwrap().failed();
        }
        throttle.begin("a@x", ip(1)).unwrap().failed();
        let first = match throttle.begin("a@x", ip(1)) {
            Err(t) => t.retry_after,
            Ok(_) => panic!("the fourth failure backs off"),
        };
        assert!(first <= Duration::from_secs(1), "{first:?}");
        // The same account from another address, and another account from this one, go on.
        throttle.begin("a@x", ip(2)).unwrap().succeeded();
        throttle.begin("b@x", ip(1)).unwrap().failed();
    }

    #[test]
    fn one_address_cannot_fill_the_hashing_pool() {
        let throttle = LoginThrottle::default();
        let held: Vec<_> = (0..IP_IN_FLIGHT)
            .map(|_| throttle.begin("a@x", ip(1)).unwrap())
            .collect();
        assert!(throttle.begin("c@x", ip(1)).is_err());
        assert!(
            throttle.begin("c@x", ip(2)).is_ok(),
            "another address is served"
        );
        drop(held);
        assert!(throttle.begin("c@x", ip(1)).is_ok(), "slots come back");
    }

    #[test]
    fn an_address_guessing_many_accounts_backs_off() {
        let throttle = LoginThrottle::default();
        for n in 0..=IP_FREE {
            throttle.begin(&format!("u{n}@x"), ip(9)).unwrap().failed();
        }
        assert!(throttle.begin("fresh@x", ip(9)).is_err());
        assert!(throttle.begin("fresh@x", ip(8)).is_ok());
    }

    #[test]
    fn strikes_double_up_to_the_cap() {
        let now = Instant::now();
        let mut s = Strikes::new(now);
        for _ in 0..40 {
            s.fail(now, 0);
        }
        assert_eq!(s.waiting(now), Some(MAX_BACKOFF));
    }
}
