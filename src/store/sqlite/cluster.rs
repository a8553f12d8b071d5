//! SQLite: membership (`nodes`) and shard ownership (`shard_owner`). Every change runs on the
//! single writer inside its `BEGIN IMMEDIATE` transaction, which holds the file's write lock
//! across every process sharing the file: a read-decide-write here is a compare-and-set.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::codec::*;
use super::SqliteStore;
use crate::clock::Millis;
use crate::cluster::{
    Epoch, Heartbeat, HeartbeatOutcome, Holder, Incarnation, Member, MemberStatus, NodeId,
    OwnershipMap, ShardId, ShardOwner, TakeOutcome, TakeShard,
};
use crate::store::{timed, ClusterStore, StoreError, StoreResult};

const MEMBER_COLS: &str = "node_id, incarnation, address, status, heartbeat, updated_at";
const OWNER_COLS: &str = "shard, owner, incarnation, epoch, lease_until, successor";

fn u64_col(row: &Row<'_>, idx: usize, what: &str) -> StoreResult<u64> {
    let v: i64 = row.get(idx).map_err(map_err)?;
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative {what} {v}")))
}

fn status_of(text: &str) -> StoreResult<MemberStatus> {
    MemberStatus::parse(text).ok_or_else(|| StoreError::Corrupt(format!("member status {text:?}")))
}

fn member_row(row: &Row<'_>) -> StoreResult<Member> {
    let status: String = row.get(3).map_err(map_err)?;
    Ok(Member {
        node: NodeId(row.get(0).map_err(map_err)?),
        incarnation: u64_col(row, 1, "incarnation")?,
        address: row.get(2).map_err(map_err)?,
        status: status_of(&status)?,
        heartbeat: u64_col(row, 4, "heartbeat")?,
        updated_at: row.get(5).map_err(map_err)?,
    })
}

fn owner_row(row: &Row<'_>) -> StoreResult<ShardOwner> {
    let shard: i64 = row.get(0).map_err(map_err)?;
    let owner: Option<String> = row.get(1).map_err(map_err)?;
    let incarnation = u64_col(row, 2, "incarnation")?;
    Ok(ShardOwner {
        shard: ShardId::try_from(shard)
            .map_err(|_| StoreError::Corrupt(format!("shard number {shard}")))?,
        owner: owner.map(|node| Holder {
            node: NodeId(node),
            incarnation,
        }),
        epoch: u64_col(row, 3, "epoch")?,
        lease_until: row.get(4).map_err(map_err)?,
        successor: row
            .get::<_, Option<String>>(5)
            .map_err(map_err)?
            .map(NodeId),
    })
}

/// A shard's current epoch (0 if it was never taken), read by the writer's fence check.
pub(super) fn shard_epoch(conn: &Connection, shard: ShardId) -> StoreResult<Epoch> {
    let epoch: Option<i64> = conn
        .prepare_cached("SELECT epoch FROM shard_owner WHERE shard = ?1")
        .and_then(|mut stmt| stmt.query_row([shard], |row| row.get(0)).optional())
        .map_err(map_err)?;
    let epoch = epoch.unwrap_or(0);
    Epoch::try_from(epoch).map_err(|_| StoreError::Corrupt(format!("negative epoch {epoch}")))
}

fn owner_of(conn: &Connection, shard: ShardId) -> StoreResult<ShardOwner> {
    let sql = format!("SELECT {OWNER_COLS} FROM shard_owner WHERE shard = ?1");
    Ok(query_one(conn, &sql, [shard], owner_row)?.unwrap_or_else(|| ShardOwner::unowned(shard)))
}

/// The stored incarnation and status of a node, if it has a row.
fn life_of(conn: &Connection, node: &str) -> StoreResult<Option<(Incarnation, MemberStatus)>> {
    let sql = format!("SELECT {MEMBER_COLS} FROM nodes WHERE node_id = ?1");
    Ok(query_one(conn, &sql, [node], member_row)?.map(|m| (m.incarnation, m.status)))
}

#[async_trait]
impl ClusterStore for SqliteStore {
    async fn register_member(&self, member: &Member) -> StoreResult<()> {
        let m = member.clone();
        timed(
            "register_member",
            self.write_returning(false, move |conn| {
                if let Some((incarnation, status)) = life_of(conn, &m.node.0)? {
                    if incarnation > m.incarnation
                        || (incarnation == m.incarnation && status == MemberStatus::Dead)
                    {
                        return Err(StoreError::Conflict(format!(
                            "node {} incarnation {} is superseded (stored: {incarnation}, {})",
                            m.node,
                            m.incarnation,
                            status.as_str()
                        )));
                    }
                }
                conn.prepare_cached(
                    "INSERT INTO nodes (node_id, incarnation, address, status, heartbeat, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (node_id) DO UPDATE SET
                         incarnation = excluded.incarnation, address = excluded.address,
                         status = excluded.status, heartbeat = excluded.heartbeat,
                         updated_at = excluded.updated_at",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        m.node.0,
                        int(m.incarnation),
                        m.address,
                        m.status.as_str(),
                        int(m.heartbeat),
                        m.updated_at,
                    ])
                })
                .map(drop)
                .map_err(map_err)
            }),
        )
        .await
    }

    async fn heartbeat(&self, beat: &Heartbeat) -> StoreResult<HeartbeatOutcome> {
        let b = beat.clone();
        timed(
            "heartbeat",
            self.write_returning(false, move |conn| {
                let written = conn
                    .prepare_cached(
                        "UPDATE nodes SET status = ?1, heartbeat = ?2, updated_at = ?3
                         WHERE node_id = ?4 AND incarnation = ?5 AND status != 'dead'",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            b.status.as_str(),
                            int(b.heartbeat),
                            b.at,
                            b.node.0,
                            int(b.incarnation),
                        ])
                    })
                    .map_err(map_err)?;
                if written == 1 {
                    return Ok(HeartbeatOutcome::Alive);
                }
                Ok(match life_of(conn, &b.node.0)? {
                    Some((incarnation, _)) if incarnation > b.incarnation => {
                        HeartbeatOutcome::Superseded(incarnation)
                    }
                    // Declared dead, or the row is gone: this life is over either way.
                    _ => HeartbeatOutcome::DeclaredDead,
                })
            }),
        )
        .await
    }

    async fn members(&self) -> StoreResult<Vec<Member>> {
        timed(
            "members",
            self.read(|conn| {
                let sql = format!("SELECT {MEMBER_COLS} FROM nodes ORDER BY node_id");
                query_all(conn, &sql, [], member_row)
            }),
        )
        .await
    }

    async fn mark_dead(
        &self,
        node: &NodeId,
        incarnation: Incarnation,
        seen_heartbeat: u64,
        at: Millis,
    ) -> StoreResult<bool> {
        let node = node.0.clone();
        timed(
            "mark_dead",
            self.write_returning(false, move |conn| {
                conn.prepare_cached(
                    "UPDATE nodes SET status = 'dead', updated_at = ?1
                     WHERE node_id = ?2 AND incarnation = ?3 AND heartbeat = ?4
                       AND status != 'dead'",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![at, node, int(incarnation), int(seen_heartbeat)])
                })
                .map(|n| n == 1)
                .map_err(map_err)
            }),
        )
        .await
    }

    async fn ownership(&self) -> StoreResult<OwnershipMap> {
        timed(
            "ownership",
            self.read(|conn| {
                let sql = format!("SELECT {OWNER_COLS} FROM shard_owner ORDER BY shard");
                Ok(OwnershipMap::from_rows(query_all(
                    conn,
                    &sql,
                    [],
                    owner_row,
                )?))
            }),
        )
        .await
    }

    async fn take_shard(&self, take: &TakeShard) -> StoreResult<TakeOutcome> {
        let t = take.clone();
        timed(
            "take_shard",
            self.write_returning(true, move |conn| {
                let row = owner_of(conn, t.shard)?;
                let kind = match row.takeable_by(&t.taker, t.now) {
                    Some(kind) if row.epoch == t.expected_epoch => kind,
                    _ => return Ok(TakeOutcome::Refused(row)),
                };
                let epoch = row.epoch + 1;
                conn.prepare_cached(
                    "INSERT INTO shard_owner (shard, owner, incarnation, epoch, lease_until, successor)
                     VALUES (?1, ?2, ?3, ?4, ?5, NULL)
                     ON CONFLICT (shard) DO UPDATE SET
                         owner = excluded.owner, incarnation = excluded.incarnation,
                         epoch = excluded.epoch, lease_until = excluded.lease_until,
                         successor = NULL",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        t.shard,
                        t.taker.node.0,
                        int(t.taker.incarnation),
                        int(epoch),
                        t.lease_until,
                    ])
                })
                .map_err(map_err)?;
                Ok(TakeOutcome::Taken { epoch, kind })
            }),
        )
        .await
    }

    async fn renew_shards(
        &self,
        holder: &Holder,
        shards: &[(ShardId, Epoch)],
        lease_until: Millis,
    ) -> StoreResult<Vec<ShardId>> {
        let (holder, shards) = (holder.clone(), shards.to_vec());
        timed(
            "renew_shards",
            self.write_returning(false, move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "UPDATE shard_owner SET lease_until = ?1
                         WHERE shard = ?2 AND epoch = ?3 AND owner = ?4 AND incarnation = ?5",
                    )
                    .map_err(map_err)?;
                let mut renewed = Vec::with_capacity(shards.len());
                for (shard, epoch) in shards {
                    let n = stmt
                        .execute(params![
                            lease_until,
                            shard,
                            int(epoch),
                            holder.node.0,
                            int(holder.incarnation),
                        ])
                        .map_err(map_err)?;
                    if n == 1 {
                        renewed.push(shard);
                    }
                }
                Ok(renewed)
            }),
        )
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
        let holder = holder.clone();
        let successor = successor.map(|n| n.0.clone());
        timed(
            "release_shard",
            self.write_returning(true, move |conn| {
                let n = conn
                    .prepare_cached(
                        "UPDATE shard_owner SET owner = NULL, incarnation = 0, epoch = epoch + 1,
                             lease_until = ?1, successor = ?2
                         WHERE shard = ?3 AND epoch = ?4 AND owner = ?5 AND incarnation = ?6",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            reserve_until,
                            successor,
                            shard,
                            int(epoch),
                            holder.node.0,
                            int(holder.incarnation),
                        ])
                    })
                    .map_err(map_err)?;
                Ok((n == 1).then_some(epoch + 1))
            }),
        )
        .await
    }
}
