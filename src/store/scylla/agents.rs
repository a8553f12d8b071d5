//! ScyllaDB: agents, by id, by login email (`agents_by_email`, claimed with an LWT) and by
//! site (`agents_by_site`, written in the same logged batch as the agent row).

use async_trait::async_trait;
use uuid::Uuid;

use scylla::statement::prepared::PreparedStatement;

use super::{backend, logged_batch, Preparer, ScyllaStore};
use crate::domain::{Agent, AgentId, Role, SiteId};
use crate::store::{timed, AgentStore, StoreError, StoreResult};

const AGENT_COLS: &str =
    "id, site_id, email, name, password_hash, role, capacity, active, avatar_version";
type AgentRow = (
    Uuid,
    Uuid,
    String,
    String,
    String,
    String,
    i64,
    Option<bool>,
    Option<i64>,
);

pub(super) struct AgentStatements {
    get: PreparedStatement,
    put: PreparedStatement,
    email_get: PreparedStatement,
    email_owner: PreparedStatement,
    email_claim: PreparedStatement,
    email_release: PreparedStatement,
    by_site_put: PreparedStatement,
    by_site_delete: PreparedStatement,
    by_site_list: PreparedStatement,
}

impl AgentStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(AgentStatements {
            get: p
                .read(format!("SELECT {AGENT_COLS} FROM agents WHERE id = ?"))
                .await?,
            put: p
                .write(format!(
                    "INSERT INTO agents ({AGENT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ))
                .await?,
            email_get: p
                .read("SELECT agent_id FROM agents_by_email WHERE email = ?")
                .await?,
            email_owner: p
                .serial_read("SELECT agent_id FROM agents_by_email WHERE email = ?")
                .await?,
            email_claim: p
                .lwt("INSERT INTO agents_by_email (email, agent_id) VALUES (?, ?) IF NOT EXISTS")
                .await?,
            email_release: p
                .lwt("DELETE FROM agents_by_email WHERE email = ? IF agent_id = ?")
                .await?,
            by_site_put: p
                .write(format!(
                    "INSERT INTO agents_by_site ({AGENT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ))
                .await?,
            by_site_delete: p
                .write("DELETE FROM agents_by_site WHERE site_id = ? AND id = ?")
                .await?,
            by_site_list: p
                .read(format!(
                    "SELECT {AGENT_COLS} FROM agents_by_site WHERE site_id = ?"
                ))
                .await?,
        })
    }
}

fn agent_values(a: &Agent) -> AgentRow {
    (
        a.id.0,
        a.site_id.0,
        a.email.clone(),
        a.name.clone(),
        a.password_hash.clone(),
        a.role.as_str().to_owned(),
        i64::from(a.capacity),
        Some(a.active),
        Some(i64::try_from(a.avatar_version).unwrap_or(i64::MAX)),
    )
}

fn agent_from(row: AgentRow) -> StoreResult<Agent> {
    let (id, site_id, email, name, password_hash, role, capacity, active, avatar_version) = row;
    Ok(Agent {
        id: AgentId(id),
        site_id: SiteId(site_id),
        email,
        name,
        password_hash,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
        capacity: u32::try_from(capacity)
            .map_err(|_| StoreError::Corrupt(format!("capacity {capacity}")))?,
        // Rows from before the columns: active, no picture.
        active: active.unwrap_or(true),
        avatar_version: u64::try_from(avatar_version.unwrap_or(0)).unwrap_or(0),
    })
}

// Uninstrumented lookups shared by several trait methods (each of which is timed once).
impl ScyllaStore {
    async fn get_agent_row(&self, id: AgentId) -> StoreResult<Option<Agent>> {
        self.maybe_row::<AgentRow>(&self.st.agents.get, (id.0,))
            .await?
            .map(agent_from)
            .transpose()
    }

    /// Who holds a login email. `serial` reads through Paxos (after a lost claim: it sees the
    /// winner even mid-round); logins use a plain quorum read.
    async fn agent_owning_email(&self, email: &str, serial: bool) -> StoreResult<Option<Uuid>> {
        let st = if serial {
            &self.st.agents.email_owner
        } else {
            &self.st.agents.email_get
        };
        Ok(self
            .maybe_row::<(Uuid,)>(st, (email,))
            .await?
            .map(|(id,)| id))
    }
}

#[async_trait]
impl AgentStore for ScyllaStore {
    async fn put_agent(&self, agent: &Agent) -> StoreResult<()> {
        timed("put_agent", async {
            let mut agent = agent.clone();
            agent.email = agent.email.to_lowercase();
            let previous = self.get_agent_row(agent.id).await?;
            if !self
                .lwt(&self.st.agents.email_claim, (&agent.email, agent.id.0))
                .await?
            {
                let owner = self.agent_owning_email(&agent.email, true).await?;
                if owner != Some(agent.id.0) {
                    return Err(StoreError::Conflict(format!(
                        "email {:?} is used by another agent",
                        agent.email
                    )));
                }
            }
            // The agent row and its copy in the site's team, together.
            let values = agent_values(&agent);
            let mut batch = logged_batch();
            batch.append_statement(self.st.agents.put.clone());
            batch.append_statement(self.st.agents.by_site_put.clone());
            match previous.as_ref().filter(|p| p.site_id != agent.site_id) {
                None => {
                    self.session
                        .batch(&batch, (&values, &values))
                        .await
                        .map_err(backend("batch"))?;
                }
                Some(p) => {
                    batch.append_statement(self.st.agents.by_site_delete.clone());
                    self.session
                        .batch(&batch, (&values, &values, (p.site_id.0, p.id.0)))
                        .await
                        .map_err(backend("batch"))?;
                }
            }
            if let Some(old) = previous.filter(|p| p.email != agent.email) {
                self.lwt(&self.st.agents.email_release, (&old.email, agent.id.0))
                    .await?;
            }
            Ok(())
        })
        .await
    }

    async fn get_agent(&self, id: AgentId) -> StoreResult<Option<Agent>> {
        timed("get_agent", self.get_agent_row(id)).await
    }

    async fn agent_by_email(&self, email: &str) -> StoreResult<Option<Agent>> {
        timed("agent_by_email", async {
            let email = email.to_lowercase();
            let Some(id) = self.agent_owning_email(&email, false).await? else {
                return Ok(None);
            };
            Ok(self
                .get_agent_row(AgentId(id))
                .await?
                .filter(|agent| agent.email == email))
        })
        .await
    }

    async fn list_agents(&self, site: SiteId) -> StoreResult<Vec<Agent>> {
        timed("list_agents", async {
            self.rows::<AgentRow>(&self.st.agents.by_site_list, (site.0,))
                .await?
                .into_iter()
                .map(agent_from)
                .collect()
        })
        .await
    }
}
