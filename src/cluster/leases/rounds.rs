//! The steps the lease loops repeat: a balancing round (read ownership, take what placement
//! wants here, move away what it wants elsewhere), a renewal, and the watchdog's tick.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};

use super::{Held, Inner};
use crate::cluster::metrics;
use crate::cluster::model::{Epoch, MemberStatus, ShardOwner, TakeOutcome, TakeShard};
use crate::cluster::{placement, NodeId, ShardId};

/// Hand-offs at once while draining, per round.
const DRAIN_MOVES: usize = 32;
/// Takes in flight at once (a fresh cluster takes every shard in its first rounds; on ScyllaDB
/// each take is a serial read and an LWT).
const TAKES_AT_ONCE: usize = 32;

/// The watchdog's tick: `every` already fenced what was overdue before calling it.
pub(super) async fn watchdog(_inner: Arc<Inner>) {}

/// Read ownership, take the shards placement wants here and can be taken, move away (a few at
/// a time) those it wants elsewhere, publish the routing snapshot.
pub(super) async fn balance(inner: Arc<Inner>) {
    let map = match inner.store.ownership().await {
        Ok(map) => map,
        Err(e) => {
            tracing::warn!(error = %e, "ownership not read");
            return;
        }
    };
    inner.state.lock().map = map.clone();
    let me = inner.membership.holder();
    let draining = inner.draining.load(Ordering::SeqCst);
    let mut active = inner.membership.view().borrow().active_nodes();
    if draining {
        active.retain(|n| *n != me.node);
    }

    let may_take = !draining
        && inner.membership.status() == MemberStatus::Active
        && inner.membership.fate_now().is_none()
        && inner.membership.healthy();
    if may_take {
        let now = inner.clock.now_ms();
        let held = inner.held_epochs();
        let wanted: Vec<ShardOwner> = (0..inner.opts.shards)
            .filter(|s| !held.contains_key(s))
            .filter(|&s| placement::desired_owner(s, &active) == Some(&me.node))
            .map(|s| map.row(s))
            .filter(|row| row.takeable_by(&me, now).is_some())
            .collect();
        stream::iter(wanted)
            .for_each_concurrent(TAKES_AT_ONCE, |row| take(&inner, row))
            .await;
    }

    // Shards to move: placement names another active member (or, draining, anyone else).
    let limit = if draining {
        DRAIN_MOVES.max(inner.opts.max_moves)
    } else {
        inner.opts.max_moves
    };
    let moves: Vec<(ShardId, Epoch, Option<NodeId>)> = {
        let mut state = inner.state.lock();
        let mut moves = Vec::new();
        for (&shard, held) in state.held.iter_mut() {
            if moves.len() >= limit {
                break;
            }
            if held.moving {
                continue;
            }
            let desired = placement::desired_owner(shard, &active);
            let goes = match desired {
                Some(node) => *node != me.node,
                None => draining,
            };
            if goes {
                held.moving = true;
                moves.push((shard, held.epoch, desired.cloned()));
            }
        }
        moves
    };
    join_all(
        moves
            .into_iter()
            .map(|(shard, epoch, to)| hand_off(&inner, shard, epoch, to)),
    )
    .await;
    inner.publish();
}

/// Compare-and-set one shard to this node; serve it if that worked.
async fn take(inner: &Inner, row: ShardOwner) {
    let me = inner.membership.holder();
    let sent = Instant::now();
    let now = inner.clock.now_ms();
    let request = TakeShard {
        shard: row.shard,
        taker: me,
        expected_epoch: row.epoch,
        now,
        lease_until: now.saturating_add(inner.lease_ms()),
    };
    match inner.store.take_shard(&request).await {
        Ok(TakeOutcome::Taken { epoch, kind }) => {
            inner.state.lock().held.insert(
                row.shard,
                Held {
                    epoch,
                    confirmed_at: sent,
                    moving: false,
                },
            );
            metrics::TAKEOVERS.with_label_values(&[kind.as_str()]).inc();
            tracing::info!(
                shard = row.shard,
                epoch,
                kind = kind.as_str(),
                "shard taken"
            );
            inner.host.acquired(row.shard, epoch);
        }
        // Someone was faster, or the lease was renewed: the next round reads again.
        Ok(TakeOutcome::Refused(_)) => {}
        Err(e) => tracing::warn!(shard = row.shard, error = %e, "shard not taken"),
    }
}

/// Hand a shard off, then release it to `to` with its epoch raised.
async fn hand_off(inner: &Inner, shard: ShardId, epoch: Epoch, to: Option<NodeId>) {
    if tokio::time::timeout(inner.opts.hand_off_timeout, inner.host.hand_off(shard))
        .await
        .is_err()
    {
        tracing::warn!(shard, "hand-off timed out: releasing anyway");
    }
    let still_ours = inner
        .state
        .lock()
        .held
        .get(&shard)
        .is_some_and(|h| h.epoch == epoch);
    if !still_ours {
        return; // lost meanwhile (self-fenced or taken): `lost` was called
    }
    let me = inner.membership.holder();
    let reserve_until = inner.clock.now_ms().saturating_add(inner.lease_ms());
    match inner
        .store
        .release_shard(&me, shard, epoch, to.as_ref(), reserve_until)
        .await
    {
        Ok(Some(new_epoch)) => {
            inner.state.lock().held.remove(&shard);
            metrics::RELEASES.inc();
            tracing::info!(shard, epoch = new_epoch, to = ?to, "shard released");
            inner.host.released(shard, to.as_ref());
        }
        Ok(None) => inner.lose(&[shard]),
        Err(e) => {
            if let Some(h) = inner.state.lock().held.get_mut(&shard) {
                h.moving = false;
            }
            tracing::warn!(shard, error = %e, "shard not released; retrying next round");
        }
    }
}

/// Renew every held lease in one store call; lose those the store no longer gives us.
pub(super) async fn renew(inner: Arc<Inner>) {
    let shards: Vec<(ShardId, Epoch)> = inner.held_epochs().into_iter().collect();
    if shards.is_empty() {
        return;
    }
    let me = inner.membership.holder();
    let sent = Instant::now();
    let until = inner.clock.now_ms().saturating_add(inner.lease_ms());
    let renewed = match inner.store.renew_shards(&me, &shards, until).await {
        Ok(renewed) => renewed.into_iter().collect::<HashSet<ShardId>>(),
        Err(e) => {
            metrics::LEASE_RENEWALS.with_label_values(&["failed"]).inc();
            tracing::warn!(error = %e, "leases not renewed");
            return;
        }
    };
    let mut refused = Vec::new();
    {
        let mut state = inner.state.lock();
        for (shard, epoch) in shards {
            let Some(held) = state.held.get_mut(&shard).filter(|h| h.epoch == epoch) else {
                continue; // released or lost meanwhile
            };
            if renewed.contains(&shard) {
                held.confirmed_at = held.confirmed_at.max(sent);
            } else {
                refused.push(shard);
            }
        }
    }
    metrics::LEASE_RENEWALS
        .with_label_values(&["ok"])
        .inc_by(renewed.len() as u64);
    if !refused.is_empty() {
        metrics::LEASE_RENEWALS
            .with_label_values(&["refused"])
            .inc_by(refused.len() as u64);
        inner.lose(&refused);
    }
}
