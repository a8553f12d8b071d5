//! Agent logins throttled per account, per address and per (account, address), with
//! exponential backoff, decided *before* the password is hashed.
//!
//! Without it, 60 wrong passwords in a burst all got a plain 401, and a flood from one address
//! filled the two password-hashing threads every agent's login waits on. Now:
//! - an address has at most [`IP_IN_FLIGHT`] logins being checked at once, the next ones wait
//!   their turn (at most [`IP_WAITING`] of them, for at most [`IP_WAIT`]) and the rest are
//!   refused: one address can never occupy the hashing pool, and an office logging in at nine
//!   behind one NAT (or the load harness) is slowed, not refused;
//! - wrong passwords are counted per (account, address), per address and per account; past a
//!   free allowance each further failure doubles a wait (1 s, 2 s, 4 s ... up to 15 minutes)
//!   during which that key's attempts are refused at once with `rate_limited` and
//!   `Retry-After`. Unknown accounts count per (account, address) only: they cost no hashing;
//! - the per-account allowance is large ([`ACCOUNT_FREE`]): a guesser on one address locks out
//!   itself, not the account's owner logging in from elsewhere, while guessing spread over
//!   many addresses still slows down;
//! - a success clears the account's counts; counts fade after an hour without failures.
//!
//! Node-local: behind a balancer that spreads one client over N nodes, the allowances are N
//! times larger.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
pub const IP_IN_FLIGHT: usize = 2;
/// Logins of one address waiting for a slot; more are refused.
pub const IP_WAITING: usize = 64;
/// The longest a login waits for its address's slot.
pub const IP_WAIT: Duration = Duration::from_secs(10);
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
    /// Each address's slots; an entry lives while someone holds or waits for one.
    slots: HashMap<IpAddr, Slots>,
}

struct Slots {
    semaphore: Arc<Semaphore>,
    /// Logins holding or waiting for a slot.
    users: usize,
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
    /// May `account` try to log in from `ip`? Refused at once while a backoff runs; otherwise
    /// waits for one of the address's slots. The permit holds the slot until it is dropped.
    pub async fn begin(&self, account: &str, ip: IpAddr) -> Result<LoginPermit, Throttled> {
        let account = account.to_lowercase();
        let semaphore = self.admit(&account, ip)?;
        let mut permit = LoginPermit {
            tables: self.tables.clone(),
            account,
            ip,
            slot: None,
        };
        let busy = Throttled {
            retry_after: Duration::from_secs(1),
        };
        match tokio::time::timeout(IP_WAIT, semaphore.acquire_owned()).await {
            Ok(Ok(slot)) => {
                permit.slot = Some(slot);
                // The logins ahead of it in line may have started a backoff meanwhile.
                match self.backoff(&permit.account, ip) {
                    Some(retry_after) => Err(Throttled { retry_after }),
                    None => Ok(permit),
                }
            }
            // Waited too long (or the semaphore closed): the permit's drop gives the place back.
            _ => Err(busy),
        }
    }

    /// The backoff check, then a place in the address's line (its semaphore).
    /// The longest backoff running for this account, address or pair.
    fn backoff(&self, account: &str, ip: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let t = self.tables.lock();
        let pair = (account.to_owned(), ip);
        [
            t.pairs.get(&pair).and_then(|s| s.waiting(now)),
            t.ips.get(&ip).and_then(|s| s.waiting(now)),
            t.accounts.get(account).and_then(|s| s.waiting(now)),
        ]
        .into_iter()
        .flatten()
        .max()
    }

    fn admit(&self, account: &str, ip: IpAddr) -> Result<Arc<Semaphore>, Throttled> {
        if let Some(retry_after) = self.backoff(account, ip) {
            return Err(Throttled { retry_after });
        }
        let mut t = self.tables.lock();
        let slots = t.slots.entry(ip).or_insert_with(|| Slots {
            semaphore: Arc::new(Semaphore::new(IP_IN_FLIGHT)),
            users: 0,
        });
        if slots.users >= IP_IN_FLIGHT + IP_WAITING {
            return Err(Throttled {
                retry_after: Duration::from_secs(1),
            });
        }
        slots.users += 1;
        Ok(slots.semaphore.clone())
    }
}

/// One login being checked (or waiting to be).
pub struct LoginPermit {
    tables: Arc<Mutex<Tables>>,
    account: String,
    ip: IpAddr,
    slot: Option<OwnedSemaphorePermit>,
}

impl LoginPermit {
    /// The password was right: the account's counts start over.
    pub fn succeeded(self) {
        let mut t = self.tables.lock();
        t.pairs.remove(&(self.account.clone(), self.ip));
        t.accounts.remove(&self.account);
    }

    /// No such account: counted for this (account, address) only, as it cost no hashing.
    pub fn unknown_account(self) {
        let now = Instant::now();
        let mut t = self.tables.lock();
        t.sweep(now);
        let key = (self.account.clone(), self.ip);
        t.pairs
            .entry(key)
            .or_insert(Strikes::new(now))
            .fail(now, PAIR_FREE);
    }

    /// The password was wrong.
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

/// The address's slot and place are given back however the login ended (an error, a dropped
/// request).
impl Drop for LoginPermit {
    fn drop(&mut self) {
        drop(self.slot.take());
        let mut t = self.tables.lock();
        if let Some(slots) = t.slots.get_mut(&self.ip) {
            slots.users = slots.users.saturating_sub(1);
            if slots.users == 0 {
                t.slots.remove(&self.ip);
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

    #[tokio::test]
    async fn failures_past_the_allowance_back_off_doubling() {
        let throttle = LoginThrottle::default();
        for _ in 0..=PAIR_FREE {
            throttle.begin("a@x", ip(1)).await.unwrap().failed();
        }
        let first = match throttle.begin("a@x", ip(1)).await {
            Err(t) => t.retry_after,
            Ok(_) => panic!("the fourth failure backs off"),
        };
        assert!(first <= Duration::from_secs(1), "{first:?}");
        // The same account from another address, and another account from this one, go on.
        throttle.begin("a@x", ip(2)).await.unwrap().succeeded();
        throttle.begin("b@x", ip(1)).await.unwrap().failed();
    }

    #[tokio::test]
    async fn one_address_waits_for_its_own_slots_and_cannot_fill_the_pool() {
        let throttle = LoginThrottle::default();
        let mut held = Vec::new();
        for _ in 0..IP_IN_FLIGHT {
            held.push(throttle.begin("a@x", ip(1)).await.unwrap());
        }
        // A third login of that address waits; another address's does not.
        let waiting = throttle.begin("c@x", ip(1));
        tokio::pin!(waiting);
        assert!(futures_util::poll!(waiting.as_mut()).is_pending());
        assert!(throttle.begin("c@x", ip(2)).await.is_ok());
        drop(held.pop());
        assert!(waiting.await.is_ok(), "a slot came back");
    }

    #[tokio::test]
    async fn an_address_guessing_passwords_of_many_accounts_backs_off() {
        let throttle = LoginThrottle::default();
        for n in 0..=IP_FREE {
            throttle
                .begin(&format!("u{n}@x"), ip(9))
                .await
                .unwrap()
                .failed();
        }
        assert!(throttle.begin("fresh@x", ip(9)).await.is_err());
        assert!(throttle.begin("fresh@x", ip(8)).await.is_ok());
        // Unknown accounts cost no hashing: they do not count against the address.
        for n in 0..=IP_FREE {
            throttle
                .begin(&format!("n{n}@x"), ip(7))
                .await
                .unwrap()
                .unknown_account();
        }
        assert!(throttle.begin("fresh@x", ip(7)).await.is_ok());
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
