//! Rate limits keyed by who is sending, not by socket nor by address alone: one token bucket
//! per (site, visitor or agent, client IP). Every socket of one visitor from one address draws
//! from one bucket (opening more tabs buys no more frames), while two visitors behind one
//! office NAT have a bucket each, so one noisy colleague never silences the others (peers key
//! by IP only: chatwoot#4740).
//!
//! Before its hello a socket has a bucket of its own (it is nobody yet). Buckets nobody holds
//! are dropped when the table grows, so the table stays the size of the live sockets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::actors::rate_limit::RateLimit;
use crate::domain::SiteId;

/// A bucket shared by the sockets of one sender.
pub type SharedBucket = Arc<Mutex<RateLimit>>;

/// Who a bucket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sender {
    pub site: SiteId,
    /// The visitor's or agent's id.
    pub who: uuid::Uuid,
    pub ip: IpAddr,
}

/// Entries above which idle buckets are swept out on the next insert.
const SWEEP_ABOVE: usize = 4096;

pub struct RateLimits {
    per_sec: u32,
    burst: u32,
    buckets: Mutex<Table>,
}

/// The buckets and the size at which the next sweep runs: twice what the last sweep left (at
/// least [`SWEEP_ABOVE`]), so a node holding many live sockets does not walk all of them at
/// every new sender. A sweep costs the entries it walks, paid for by as many inserts.
#[derive(Default)]
struct Table {
    map: HashMap<Sender, SharedBucket>,
    sweep_at: usize,
}

impl RateLimits {
    pub fn new(per_sec: u32, burst: u32) -> Self {
        RateLimits {
            per_sec,
            burst,
            buckets: Mutex::new(Table {
                map: HashMap::new(),
                sweep_at: SWEEP_ABOVE,
            }),
        }
    }

    /// A bucket for a socket that has not said who it is.
    pub fn anonymous(&self) -> SharedBucket {
        Arc::new(Mutex::new(RateLimit::new(self.per_sec, self.burst)))
    }

    /// The bucket of `sender`, shared with its other sockets on this node.
    pub fn bucket(&self, sender: Sender) -> SharedBucket {
        let mut table = self.buckets.lock();
        if let Some(bucket) = table.map.get(&sender) {
            return bucket.clone();
        }
        if table.map.len() >= table.sweep_at {
            // Only the table holds it: no socket of that sender is open any more.
            table.map.retain(|_, b| Arc::strong_count(b) > 1);
            table.sweep_at = (table.map.len() * 2).max(SWEEP_ABOVE);
        }
        let bucket = self.anonymous();
        table.map.insert(sender, bucket.clone());
        bucket
    }

    /// Buckets in the table (tests, diagnostics).
    pub fn len(&self) -> usize {
        self.buckets.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender(who: u128, ip: [u8; 4]) -> Sender {
        Sender {
            site: SiteId(uuid::Uuid::nil()),
            who: uuid::Uuid::from_u128(who),
            ip: IpAddr::from(ip),
        }
    }

    #[test]
    fn two_visitors_behind_one_address_have_a_bucket_each() {
        let limits = RateLimits::new(1, 3);
        let office = [203, 0, 113, 5];
        let (alice, bob) = (
            limits.bucket(sender(1, office)),
            limits.bucket(sender(2, office)),
        );
        for _ in 0..3 {
            assert!(alice.lock().allow());
        }
        assert!(!alice.lock().allow(), "alice spent her burst");
        assert!(bob.lock().allow(), "bob is not alice");
        // Alice's second tab draws from her bucket.
        assert!(!limits.bucket(sender(1, office)).lock().allow());
    }

    #[test]
    fn buckets_nobody_holds_are_swept_when_the_table_grows() {
        let limits = RateLimits::new(1, 1);
        let held = limits.bucket(sender(0, [10, 0, 0, 1]));
        for who in 1..=SWEEP_ABOVE as u128 {
            drop(limits.bucket(sender(who, [10, 0, 0, 1])));
        }
        assert!(limits.len() <= 2, "{} left", limits.len());
        assert!(Arc::ptr_eq(&held, &limits.bucket(sender(0, [10, 0, 0, 1]))));
    }

    /// With more live senders than the threshold, a sweep does not run at every new sender
    /// (each would walk them all) but once the table has doubled; the idle ones still go.
    #[test]
    fn many_live_senders_do_not_make_every_insert_sweep() {
        let limits = RateLimits::new(1, 1);
        let live: Vec<_> = (0..SWEEP_ABOVE as u128 + 10)
            .map(|who| limits.bucket(sender(who, [10, 0, 0, 2])))
            .collect();
        let after_first_sweep = limits.buckets.lock().sweep_at;
        assert_eq!(
            after_first_sweep,
            2 * SWEEP_ABOVE,
            "all were live at the sweep"
        );
        // Idle senders pile up until the doubled size, then go in one sweep.
        for who in 0..SWEEP_ABOVE as u128 {
            drop(limits.bucket(sender(who, [10, 0, 0, 3])));
        }
        // The sweep ran at 2 x SWEEP_ABOVE entries; only the few idle ones inserted since remain.
        assert!(limits.len() < live.len() + 100, "{} left", limits.len());
        assert!(limits.len() >= live.len());
    }
}
