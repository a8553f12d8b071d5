//! ScyllaDB: agents' pictures, one partition per agent (`agent_avatars`).

use async_trait::async_trait;
use uuid::Uuid;

use scylla::statement::prepared::PreparedStatement;

use super::{Preparer, ScyllaStore};
use crate::domain::AgentId;
use crate::store::{timed, Avatar, AvatarStore, StoreResult};

pub(super) struct AvatarStatements {
    put: PreparedStatement,
    get: PreparedStatement,
    delete: PreparedStatement,
}

impl AvatarStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(AvatarStatements {
            put: p
                .write(
                    "INSERT INTO agent_avatars (agent_id, content_type, bytes, updated_at)
                     VALUES (?, ?, ?, ?)",
                )
                .await?,
            get: p
                .read(
                    "SELECT content_type, bytes, updated_at FROM agent_avatars WHERE agent_id = ?",
                )
                .await?,
            delete: p
                .write("DELETE FROM agent_avatars WHERE agent_id = ?")
                .await?,
        })
    }
}

#[async_trait]
impl AvatarStore for ScyllaStore {
    async fn put_avatar(&self, agent: AgentId, avatar: &Avatar) -> StoreResult<()> {
        timed("put_avatar", async {
            let values = (
                agent.0,
                &avatar.content_type,
                &avatar.bytes,
                avatar.updated_at,
            );
            self.exec(&self.st.avatars.put, values).await.map(drop)
        })
        .await
    }

    async fn get_avatar(&self, agent: AgentId) -> StoreResult<Option<Avatar>> {
        timed("get_avatar", async {
            Ok(self
                .maybe_row::<(String, Vec<u8>, i64)>(&self.st.avatars.get, (agent.0,))
                .await?
                .map(|(content_type, bytes, updated_at)| Avatar {
                    content_type,
                    bytes,
                    updated_at,
                }))
        })
        .await
    }

    async fn delete_avatar(&self, agent: AgentId) -> StoreResult<()> {
        timed("delete_avatar", async {
            let id: Uuid = agent.0;
            self.exec(&self.st.avatars.delete, (id,)).await.map(drop)
        })
        .await
    }
}
