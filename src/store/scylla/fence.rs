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
