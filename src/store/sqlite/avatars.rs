//! SQLite: agents' pictures, one row per agent (`agent_avatars`).

use async_trait::async_trait;
use rusqlite::params;

use super::codec::*;
use super::SqliteStore;
use crate::domain::AgentId;
use crate::store::{timed, Avatar, AvatarStore, StoreResult};

#[async_trait]
impl AvatarStore for SqliteStore {
    async fn put_avatar(&self, agent: AgentId, avatar: &Avatar) -> StoreResult<()> {
        let a = avatar.clone();
        timed(
            "put_avatar",
            self.write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO agent_avatars (agent_id, content_type, bytes, updated_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (agent_id) DO UPDATE SET content_type = excluded.content_type,
                         bytes = excluded.bytes, updated_at = excluded.updated_at",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        agent.to_string(),
                        a.content_type,
                        a.bytes,
                        a.updated_at
                    ])
                })
                .map(drop)
                .map_err(map_err)
            }),
        )
        .await
    }

    async fn get_avatar(&self, agent: AgentId) -> StoreResult<Option<Avatar>> {
        timed(
            "get_avatar",
            self.read(move |conn| {
                query_one(
                    conn,
                    "SELECT content_type, bytes, updated_at FROM agent_avatars WHERE agent_id = ?1",
                    [agent.to_string()],
                    |row| {
                        Ok(Avatar {
                            content_type: row.get(0).map_err(map_err)?,
                            bytes: row.get(1).map_err(map_err)?,
                            updated_at: row.get(2).map_err(map_err)?,
                        })
                    },
                )
            }),
        )
        .await
    }

    async fn delete_avatar(&self, agent: AgentId) -> StoreResult<()> {
        timed(
            "delete_avatar",
            self.write(move |conn| {
                conn.prepare_cached("DELETE FROM agent_avatars WHERE agent_id = ?1")
                    .and_then(|mut stmt| stmt.execute([agent.to_string()]))
                    .map(drop)
                    .map_err(map_err)
            }),
        )
        .await
    }
}
