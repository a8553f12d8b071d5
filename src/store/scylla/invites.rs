//! ScyllaDB: invitations by token hash, listed per site through `invites_by_site`. Accepting
//! is an LWT on `accepted_at` (one agent per invitation even when two people use the link at
//! once); if the agent then cannot be stored (its email was taken meanwhile), the acceptance
//! is undone, conditional on being the one that made it.

use async_trait::async_trait;
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::{Preparer, ScyllaStore};
use crate::domain::{Agent, Role, SiteId};
use crate::sites_admin::Invite;
use crate::store::{timed, AgentStore, InviteStore, StoreError, StoreResult};

const COLS: &str = "token_hash, site_id, email, role, created_at, expires_at, accepted_at";
type InviteRow = (String, Uuid, String, String, i64, i64, Option<i64>);

pub(super) struct InviteStatements {
    put: PreparedStatement,
    get: PreparedStatement,
    site_put: PreparedStatement,
    site_list: PreparedStatement,
    accept: PreparedStatement,
    undo: PreparedStatement,
}

impl InviteStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(InviteStatements {
            put: p.write(format!("INSERT INTO invites ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)")).await?,
            get: p.read(format!("SELECT {COLS} FROM invites WHERE token_hash = ?")).await?,
            site_put: p.write("INSERT INTO invites_by_site (site_id, token_hash) VALUES (?, ?)").await?,
            site_list: p.read("SELECT token_hash FROM invites_by_site WHERE site_id = ?").await?,
            accept: p.lwt("UPDATE invites SET accepted_at = ? WHERE token_hash = ? IF accepted_at = null AND expires_at > ?").await?,
            undo: p.lwt("UPDATE invites SET accepted_at = null WHERE token_hash = ? IF accepted_at = ?").await?,
        })
    }
}

fn invite_from(r: InviteRow) -> StoreResult<Invite> {
    let (token_hash, site_id, email, role, created_at, expires_at, accepted_at) = r;
    Ok(Invite {
        token_hash,
        site_id: SiteId(site_id),
        email,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
        created_at,
        expires_at,
        accepted_at,
    })
}

impl ScyllaStore {
    async fn invite_row(&self, hash: &str) -> StoreResult<Option<Invite>> {
        self.maybe_row::<InviteRow>(&self.st.invites.get, (hash,))
            .await?
            .map(invite_from)
            .transpose()
    }
}

#[async_trait]
impl InviteStore for ScyllaStore {
    async fn put_invite(&self, i: &Invite) -> StoreResult<()> {
        timed("put_invite", async {
            let values = (
                &i.token_hash,
                i.site_id.0,
                &i.email,
                i.role.as_str(),
                i.created_at,
                i.expires_at,
                i.accepted_at,
            );
            self.exec(&self.st.invites.put, values).await?;
            self.exec(&self.st.invites.site_put, (i.site_id.0, &i.token_hash))
                .await
                .map(drop)
        })
        .await
    }

    async fn invite_by_hash(&self, token_hash: &str) -> StoreResult<Option<Invite>> {
        timed("invite_by_hash", self.invite_row(token_hash)).await
    }

    async fn list_invites(&self, site: SiteId) -> StoreResult<Vec<Invite>> {
        timed("list_invites", async {
            let mut out = Vec::new();
            for (hash,) in self
                .rows::<(String,)>(&self.st.invites.site_list, (site.0,))
                .await?
            {
                out.extend(self.invite_row(&hash).await?);
            }
            out.sort_by_key(|i| std::cmp::Reverse(i.created_at));
            Ok(out)
        })
        .await
    }

    async fn accept_invite(&self, token_hash: &str, agent: &Agent, at: i64) -> StoreResult<()> {
        timed("accept_invite", async {
            if !self
                .lwt(&self.st.invites.accept, (at, token_hash, at))
                .await?
            {
                return Err(StoreError::Conflict(
                    "the invitation was used or has expired".into(),
                ));
            }
            if let Err(e) = self.put_agent(agent).await {
                self.lwt(&self.st.invites.undo, (token_hash, at)).await?;
                return Err(e);
            }
            Ok(())
        })
        .await
    }
}
