//! SQLite: the agents queries (rows decoded in the column order each SELECT lists).

use async_trait::async_trait;
use rusqlite::{params, Connection, Row};

use super::codec::*;
use super::SqliteStore;
use crate::domain::{Agent, AgentId, Role, SiteId};
use crate::store::{timed, AgentStore, StoreError, StoreResult};

const AGENT_COLS: &str =
    "id, site_id, email, name, password_hash, role, capacity, active, avatar_version";

fn agent_row(row: &Row<'_>) -> StoreResult<Agent> {
    let role: String = row.get(5).map_err(map_err)?;
    Ok(Agent {
        id: AgentId(uuid_col(row, 0)?),
        site_id: SiteId(uuid_col(row, 1)?),
        email: row.get(2).map_err(map_err)?,
        name: row.get(3).map_err(map_err)?,
        password_hash: row.get(4).map_err(map_err)?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
        capacity: row.get(6).map_err(map_err)?,
        active: row.get(7).map_err(map_err)?,
        avatar_version: seq_col(row, 8)?,
    })
}

/// Insert or replace an agent inside the caller's write job (emails stored lower-cased).
pub(super) fn upsert_agent(conn: &Connection, agent: &Agent) -> StoreResult<()> {
    let email = agent.email.to_lowercase();
    let result = conn
        .prepare_cached(
            "INSERT INTO agents
                     (id, site_id, email, name, password_hash, role, capacity, active,
                      avatar_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (id) DO UPDATE SET
                     site_id = excluded.site_id, email = excluded.email,
                     name = excluded.name, password_hash = excluded.password_hash,
                     role = excluded.role, capacity = excluded.capacity,
                     active = excluded.active, avatar_version = excluded.avatar_version",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                agent.id.to_string(),
                agent.site_id.to_string(),
                email,
                agent.name,
                agent.password_hash,
                agent.role.as_str(),
                agent.capacity,
                agent.active,
                int(agent.avatar_version),
            ])
        });
    match result.map_err(map_err) {
        Ok(_) => Ok(()),
        // The id is the upsert target, so the only unique rule left is the email.
        Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!(
            "email {:?} is used by another agent",
            email
        ))),
        Err(e) => Err(e),
    }
}

#[async_trait]
impl AgentStore for SqliteStore {
    async fn put_agent(&self, agent: &Agent) -> StoreResult<()> {
        let agent = agent.clone();
        timed(
            "put_agent",
            self.write(move |conn| upsert_agent(conn, &agent)),
        )
        .await
    }

    async fn get_agent(&self, id: AgentId) -> StoreResult<Option<Agent>> {
        timed(
            "get_agent",
            self.read(move |conn| {
                let sql = format!("SELECT {AGENT_COLS} FROM agents WHERE id = ?1");
                query_one(conn, &sql, [id.to_string()], agent_row)
            }),
        )
        .await
    }

    async fn agent_by_email(&self, email: &str) -> StoreResult<Option<Agent>> {
        let email = email.to_lowercase();
        timed(
            "agent_by_email",
            self.read(move |conn| {
                // `lower(email)` is the indexed expression, so this is an index lookup.
                let sql = format!("SELECT {AGENT_COLS} FROM agents WHERE lower(email) = ?1");
                query_one(conn, &sql, [email], agent_row)
            }),
        )
        .await
    }

    async fn list_agents(&self, site: SiteId) -> StoreResult<Vec<Agent>> {
        timed(
            "list_agents",
            self.read(move |conn| {
                let sql =
                    format!("SELECT {AGENT_COLS} FROM agents WHERE site_id = ?1 ORDER BY name, id");
                query_all(conn, &sql, [site.to_string()], agent_row)
            }),
        )
        .await
    }
}
