//! ScyllaDB: membership (`nodes`) and shard ownership (`shard_owner`), one partition per node
//! and per shard so that no two nodes' heartbeats, nor two shards' takes, contend on one Paxos
//! round. Every write is a lightweight transaction; single rows are read back at LOCAL_SERIAL
//! (which sees a Paxos round in progress), whole tables with a paged LOCAL_QUORUM scan.
//!
//! CQL conditions cannot say "released, or expired, or mine", so a take reads the row
//! (serially), judges it with `ShardOwner::takeable_by`, then writes conditionally on exactly
//! what it judged: the epoch (which every take and release changes) and the lease end (which
//! every renewal changes).

use async_trait::async_trait;

use scylla::statement::prepared::PreparedStatement;

use super::{to_i64, to_u64, Preparer, ScyllaStore};
use crate::clock::Millis;
use crate::cluster::{
    Epoch, Heartbeat, HeartbeatOutcome, Holder, Incarnation, Member, MemberStatus, NodeId,
    OwnershipMap, ShardId, ShardOwner, TakeOutcome, TakeShard,
};
use crate::store::{timed, ClusterStore, StoreError, StoreResult};

const MEMBER_COLS: &str = "node_id, incarnation, address, status, heartbeat, updated_at";
type MemberRow = (String, i64, String, String, i64, i64);
const OWNER_COLS: &str = "shard, owner, incarnation, epoch, lease_until, successor";
type OwnerRow = (
    i32,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);
/// Heartbeats and deaths apply only to a member that is not dead.
const ALIVE: &str = "status IN ('joining', 'active', 'leaving')";

pub(super) struct ClusterStatements {
    node_get: PreparedStatement,
    node_list: PreparedStatement,
    node_insert: PreparedStatement,
    node_replace: PreparedStatement,
    node_beat: PreparedStatement,
    node_kill: PreparedStatement,
    pub(super) owner_get: PreparedStatement,
    owner_list: PreparedStatement,
    owner_create: PreparedStatement,
    owner_take: PreparedStatement,
    owner_renew: PreparedStatement,
    owner_release: PreparedStatement,
}

impl ClusterStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(ClusterStatements {
            node_get: p
                .serial_read(format!("SELECT {MEMBER_COLS} FROM nodes WHERE node_id = ?"))
                .await?,
            node_list: p.read(format!("SELECT {MEMBER_COLS} FROM nodes")).await?,
            node_insert: p
                .lwt(format!(
                    "INSERT INTO nodes ({MEMBER_COLS}) VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS"
                ))
                .await?,
            node_replace: p
                .lwt(
                    "UPDATE nodes SET incarnation = ?, address = ?, status = ?, heartbeat = ?,
                         updated_at = ?
                     WHERE node_id = ? IF incarnation = ?",
                )
                .await?,
            node_beat: p
                .lwt(format!(
                    "UPDATE nodes SET status = ?, heartbeat = ?, updated_at = ?
                     WHERE node_id = ? IF incarnation = ? AND {ALIVE}"
                ))
                .await?,
            node_kill: p
                .lwt(format!(
                    "UPDATE nodes SET status = 'dead', updated_at = ?
                     WHERE node_id = ? IF incarnation = ? AND heartbeat = ? AND {ALIVE}"
                ))
                .await?,
            owner_get: p
                .serial_read(format!(
                    "SELECT {OWNER_COLS} FROM shard_owner WHERE shard = ?"
                ))
                .await?,
            owner_list: p
                .read(format!("SELECT {OWNER_COLS} FROM shard_owner"))
                .await?,
            owner_create: p
                .lwt(
                    "INSERT INTO shard_owner (shard, owner, incarnation, epoch, lease_until)
                     VALUES (?, ?, ?, 1, ?) IF NOT EXISTS",
                )
                .await?,
            owner_take: p
                .lwt(
                    "UPDATE shard_owner SET owner = ?, incarnation = ?, epoch = ?,
                         lease_until = ?, successor = null
                     WHERE shard = ? IF epoch = ? AND lease_until = ?",
                )
                .await?,
            owner_renew: p
                .lwt(
                    "UPDATE shard_owner SET lease_until = ?
                     WHERE shard = ? IF epoch = ? AND owner = ? AND incarnation = ?",
                )
                .await?,
            owner_release: p
                .lwt(
                    "UPDATE shard_owner SET owner = null, incarnation = 0, epoch = ?,
                         lease_until = ?, successor = ?
                     WHERE shard = ? IF epoch = ? AND owner = ? AND incarnation = ?",
                )
                .await?,
        })
    }
}

fn member_from(row: MemberRow) -> StoreResult<Member> {
    let (node, incarnation, address, status, heartbeat, updated_at) = row;
    Ok(Member {
        node: NodeId(node),
        incarnation: to_u64(incarnation, "incarnation")?,
        address,
        status: MemberStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("member status {status:?}")))?,
        heartbeat: to_u64(heartbeat, "heartbeat")?,
        updated_at,
    })
}

fn owner_from(row: OwnerRow) -> StoreResult<ShardOwner> {
    let (shard, owner, incarnation, epoch, lease_until, successor) = row;
    let incarnation = to_u64(incarnation.unwrap_or(0), "incarnation")?;
    Ok(ShardOwner {
        shard: ShardId::try_from(shard)
            .map_err(|_| StoreError::Corrupt(format!("shard number {shard}")))?,
        owner: owner.map(|node| Holder {
            node: NodeId(node),
            incarnation,
        }),
        epoch: to_u64(epoch.unwrap_or(0), "epoch")?,
        lease_until: lease_until.unwrap_or(0),
        successor: successor.map(NodeId),
    })
}

pub(super) fn shard_key(shard: ShardId) -> StoreResult<i32> {
    i32::try_from(shard).map_err(|_| StoreError::Backend(format!("shard {shard} exceeds int")))
}

impl ScyllaStore {
    async fn member_row(&self, node: &str) -> StoreResult<Option<Member>> {
        self.maybe_row::<MemberRow>(&self.st.cluster.node_get, (node,))
            .await?
            .map(member_from)
            .transpose()
    }

    /// A shard's row read at LOCAL_SERIAL (the never-owned row if it has none).
    pub(super) async fn owner_row(&self, shard: ShardId) -> StoreResult<ShardOwner> {
        Ok(self
            .maybe_row::<OwnerRow>(&self.st.cluster.owner_get, (shard_key(shard)?,))
            .await?
            .map(owner_from)
            .transpose()?
            .unwrap_or_else(|| ShardOwner::unowned(shard)))
    }
}

#[async_trait]
impl ClusterStore for ScyllaStore {
    async fn register_member(&self, member: &Member) -> StoreResult<()> {
        timed("register_member", async {
            let m = member;
            let (incarnation, heartbeat) = (
                to_i64(m.incarnation, "incarnation")?,
                to_i64(m.heartbeat, "heartbeat")?,
            );
            let row = (
                &m.node.0,
                incarnation,
                &m.address,
                m.status.as_str(),
                heartbeat,
                m.updated_at,
            );
            if self.lwt(&self.st.cluster.node_insert, row).await? {
                return Ok(());
            }
            // A row exists: replace it if it is an older life, compare-and-set on that life.
            for _ in 0..3 {
                let Some(stored) = self.member_row(&m.node.0).await? else {
                    if self.lwt(&self.st.cluster.node_insert, row).await? {
                        return Ok(());
                    }
                    continue;
                };
                if stored.incarnation > m.incarnation
                    || (stored.incarnation == m.incarnation && stored.status == MemberStatus::Dead)
                {
                    return Err(StoreError::Conflict(format!(
                        "node {} incarnation {} is superseded (stored: {}, {})",
                        m.node,
                        m.incarnation,
                        stored.incarnation,
                        stored.status.as_str()
                    )));
                }
                let values = (
                    incarnation,
                    &m.address,
                    m.status.as_str(),
                    heartbeat,
                    m.updated_at,
                    &m.node.0,
                    to_i64(stored.incarnation, "incarnation")?,
                );
                if self.lwt(&self.st.cluster.node_replace, values).await? {
                    return Ok(());
                }
            }
            Err(StoreError::Backend(format!(
                "node {} not registered: its row kept changing",
                m.node
            )))
        })
        .await
    }

    async fn heartbeat(&self, beat: &Heartbeat) -> StoreResult<HeartbeatOutcome> {
        timed("heartbeat", async {
            let values = (
                beat.status.as_str(),
                to_i64(beat.heartbeat, "heartbeat")?,
                beat.at,
                &beat.node.0,
                to_i64(beat.incarnation, "incarnation")?,
            );
            if self.lwt(&self.st.cluster.node_beat, values).await? {
                return Ok(HeartbeatOutcome::Alive);
            }
            Ok(match self.member_row(&beat.node.0).await? {
                Some(stored) if stored.incarnation > beat.incarnation => {
                    HeartbeatOutcome::Superseded(stored.incarnation)
                }
                _ => HeartbeatOutcome::DeclaredDead,
            })
        })
        .await
    }

    async fn members(&self) -> StoreResult<Vec<Member>> {
        timed("members", async {
            let mut members = self
                .rows::<MemberRow>(&self.st.cluster.node_list, ())
                .await?
                .into_iter()
                .map(member_from)
                .collect::<StoreResult<Vec<_>>>()?;
            members.sort_by(|a, b| a.node.cmp(&b.node));
            Ok(members)
        })
        .await
    }

    async fn mark_dead(
        &self,
        node: &NodeId,
        incarnation: Incarnation,
        seen_heartbeat: u64,
        at: Millis,
    ) -> StoreResult<bool> {
        timed("mark_dead", async {
            let values = (
                at,
                &node.0,
                to_i64(incarnation, "incarnation")?,
                to_i64(seen_heartbeat, "heartbeat")?,
            );
            self.lwt(&self.st.cluster.node_kill, values).await
        })
        .await
    }

    async fn ownership(&self) -> StoreResult<OwnershipMap> {
        timed("ownership", async {
            let rows = self
                .rows::<OwnerRow>(&self.st.cluster.owner_list, ())
                .await?
                .into_iter()
                .map(owner_from)
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(OwnershipMap::from_rows(rows))
        })
        .await
    }

    async fn take_shard(&self, take: &TakeShard) -> StoreResult<TakeOutcome> {
        timed("take_shard", async {
            let row = self.owner_row(take.shard).await?;
            let Some(kind) = row
                .takeable_by(&take.taker, take.now)
                .filter(|_| row.epoch == take.expected_epoch)
            else {
                return Ok(TakeOutcome::Refused(row));
            };
            let (key, incarnation) = (
                shard_key(take.shard)?,
                to_i64(take.taker.incarnation, "incarnation")?,
            );
            let applied = if row.epoch == 0 {
                let values = (key, &take.taker.node.0, incarnation, take.lease_until);
                self.lwt(&self.st.cluster.owner_create, values).await?
            } else {
                let values = (
                    &take.taker.node.0,
                    incarnation,
                    to_i64(row.epoch + 1, "epoch")?,
                    take.lease_until,
                    key,
                    to_i64(row.epoch, "epoch")?,
                    row.lease_until,
                );
                self.lwt(&self.st.cluster.owner_take, values).await?
            };
            if applied {
                Ok(TakeOutcome::Taken {
                    epoch: row.epoch + 1,
                    kind,
                })
            } else {
                Ok(TakeOutcome::Refused(self.owner_row(take.shard).await?))
            }
        })
        .await
    }

    /// One LWT per shard, all in flight at once: shards are separate partitions, so they do
    /// not contend with each other.
    async fn renew_shards(
        &self,
        holder: &Holder,
        shards: &[(ShardId, Epoch)],
        lease_until: Millis,
    ) -> StoreResult<Vec<ShardId>> {
        timed("renew_shards", async {
            let incarnation = to_i64(holder.incarnation, "incarnation")?;
            let renewals = shards.iter().map(|&(shard, epoch)| async move {
                let values = (
                    lease_until,
                    shard_key(shard)?,
                    to_i64(epoch, "epoch")?,
                    &holder.node.0,
                    incarnation,
                );
                let renewed = self.lwt(&self.st.cluster.owner_renew, values).await?;
                Ok::<_, StoreError>(renewed.then_some(shard))
            });
            let results = futures_util::future::try_join_all(renewals).await?;
            Ok(results.into_iter().flatten().collect())
        })
        .await
    }

    async fn release_shard(
        &self,
        holder: &Holder,
        shard: ShardId,
        epoch: Epoch,
        successor: Option<&NodeId>,
        reserve_until: Millis,
    ) -> StoreResult<Option<Epoch>> {
        timed("release_shard", async {
            let values = (
                to_i64(epoch + 1, "epoch")?,
                reserve_until,
                successor.map(|n| n.0.as_str()),
                shard_key(shard)?,
                to_i64(epoch, "epoch")?,
                &holder.node.0,
                to_i64(holder.incarnation, "incarnation")?,
            );
            let released = self.lwt(&self.st.cluster.owner_release, values).await?;
            Ok(released.then_some(epoch + 1))
        })
        .await
    }
}
