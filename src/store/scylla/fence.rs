//! ScyllaDB fencing (docs/cluster.md). A lightweight transaction cannot span partitions, so
//! the epoch an entity write is checked against lives in the entity's own partition: an
//! `owner_epoch` static column in each message bucket partition, and an `owner_epoch` column
//! on the conversation row. A new owner raises it on activation (`fence_conversation`) and
//! every fenced write is conditional on it, so once raised, an older owner's write is refused
//! however late it arrives. Epochs only ever move up: a raise is a compare-and-set on the
//! value read, and only to a higher one.
//!
//! Writes without a per-entity epoch (visitor rows and events, conversation creation, which a
//! visitor's shard does) are checked against the shard's own row, read at LOCAL_SERIAL just
//! before the write: that refuses every stale owner except one frozen between the check and
//! the write, and those writes are idempotent profile fields and append-only events.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use uuid::Uuid;

use super::ScyllaStore;
use crate::cluster::ShardId;
use crate::store::{Fence, StoreError, StoreResult};

/// Where a partition's owner epoch stands for a writer holding a fence.
pub(super) enum Standing {
    /// The partition is at the fence's epoch: write conditional on it.
    Current,
    /// The partition is at an older epoch (or none yet): raise it, conditional on this value.
    Behind(Option<i64>),
}

fn fenced(shard: ShardId, epoch: u64, current: u64) -> StoreError {
    crate::cluster::metrics::FENCED_WRITES.inc();
    StoreError::Fenced {
        shard,
        epoch,
        current,
    }
}

/// Judge a partition's owner epoch `seen` against `fence`: a higher one refuses the write.
pub(super) fn standing(seen: Option<i64>, fence: Fence) -> StoreResult<Standing> {
    let epoch = i64::try_from(fence.epoch)
        .map_err(|_| StoreError::Backend(format!("epoch {} exceeds bigint", fence.epoch)))?;
    match seen {
        Some(current) if current > epoch => Err(fenced(
            fence.shard,
            fence.epoch,
            u64::try_from(current).unwrap_or(0),
        )),
        Some(current) if current == epoch => Ok(Standing::Current),
        other => Ok(Standing::Behind(other)),
    }
}

/// The fence's epoch as CQL bigint.
pub(super) fn epoch_of(fence: Fence) -> StoreResult<i64> {
    i64::try_from(fence.epoch)
        .map_err(|_| StoreError::Backend(format!("epoch {} exceeds bigint", fence.epoch)))
}

/// How many compare-and-set rounds a fenced write tries before giving up (each lost round
/// means another writer moved the partition meanwhile).
pub(super) const ATTEMPTS: usize = 4;

/// One lock per message partition `(conversation, bucket)` with appends in flight from this
/// node. Paxos rounds on one partition contend with each other: a conversation actor with many
/// appends in flight would make them retry and time out against each other, so they queue here
/// instead and each round finds the partition free. Entries go when nobody holds them.
#[derive(Default)]
pub(super) struct PartitionLocks {
    locks: LockMap,
}

/// A message partition: (conversation, bucket).
type Partition = (Uuid, i64);
type LockMap = Mutex<HashMap<Partition, Arc<tokio::sync::Mutex<()>>>>;

impl PartitionLocks {
    /// Run `write` alone among this node's writes to the same partition.
    pub(super) async fn one_at_a_time<T>(
        &self,
        partition: Partition,
        write: impl std::future::Future<Output = T>,
    ) -> T {
        let entry = Entry {
            lock: self.locks.lock().entry(partition).or_default().clone(),
            locks: &self.locks,
            partition,
        };
        let _turn = entry.lock.lock().await;
        write.await
    }
}

/// Our reference to a partition's lock; the last one out (a cancelled write too) removes it.
struct Entry<'a> {
    lock: Arc<tokio::sync::Mutex<()>>,
    locks: &'a LockMap,
    partition: Partition,
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        let mut locks = self.locks.lock();
        // Two references: the map's and ours. Nobody else holds or waits for it.
        if Arc::strong_count(&self.lock) == 2 {
            locks.remove(&self.partition);
        }
    }
}

impl ScyllaStore {
    /// Refuse a write whose fence is not the shard's current epoch (read at LOCAL_SERIAL).
    pub(super) async fn check_shard(&self, fence: Fence) -> StoreResult<()> {
        if fence.is_unchecked() {
            return Ok(());
        }
        let current = self.owner_row(fence.shard).await?.epoch;
        if current == fence.epoch {
            Ok(())
        } else {
            Err(fenced(fence.shard, fence.epoch, current))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn writes_to_one_partition_take_turns_and_leave_nothing_behind() {
        let locks = PartitionLocks::default();
        let (inside, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let partition = (Uuid::nil(), 0);
        let write = || async {
            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            tokio::task::yield_now().await;
            inside.fetch_sub(1, Ordering::SeqCst);
        };
        futures_util::future::join_all((0..8).map(|_| locks.one_at_a_time(partition, write())))
            .await;
        assert_eq!(most.load(Ordering::SeqCst), 1);
        assert!(locks.locks.lock().is_empty());

        // A cancelled write gives its turn back too.
        let held = locks.one_at_a_time(partition, std::future::pending::<()>());
        let _ = tokio::time::timeout(std::time::Duration::from_millis(10), held).await;
        assert!(locks.locks.lock().is_empty());
    }

    #[test]
    fn a_higher_epoch_refuses_and_a_lower_one_is_raised() {
        let fence = Fence::new(3, 5);
        assert!(matches!(standing(Some(5), fence), Ok(Standing::Current)));
        assert!(matches!(
            standing(Some(4), fence),
            Ok(Standing::Behind(Some(4)))
        ));
        assert!(matches!(standing(None, fence), Ok(Standing::Behind(None))));
        assert!(matches!(
            standing(Some(6), fence),
            Err(StoreError::Fenced {
                shard: 3,
                epoch: 5,
                current: 6
            })
        ));
    }
}
