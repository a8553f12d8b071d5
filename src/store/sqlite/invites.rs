//! SQLite: invitations. Accepting one marks it used and inserts the agent in one writer job,
//! so an invitation makes at most one agent even when two people use the link at once.

use async_trait::async_trait;
use rusqlite::{params, Row};

use super::agents::upsert_agent;
use super::codec::*;
use super::SqliteStore;
use crate::domain::{Agent, Role, SiteId};
use crate::sites_admin::Invite;
use crate::store::{timed, InviteStore, StoreError, StoreResult};

const INVITE_COLS: &str = "token_hash, site_id, email, role, created_at, expires_at, accepted_at";

fn invite_row(row: &Row<'_>) -> StoreResult<Invite> {
    let role: String = row.get(3).map_err(map_err)?;
    Ok(Invite {
        token_hash: row.get(0).map_err(map_err)?,
        site_id: SiteId(uuid_col(row, 1)?),
        email: row.get(2).map_err(map_err)?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
        created_at: row.get(4).map_err(map_err)?,
        expires_at: row.get(5).map_err(map_err)?,
        accepted_at: row.get(6).map_err(map_err)?,
    })
}

#[async_trait]
impl InviteStore for SqliteStore {
    async fn put_invite(&self, invite: &Invite) -> StoreResult<()> {
        let i = invite.clone();
        timed(
            "put_invite",
            self.write(move |conn| {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO invites
                         (token_hash, site_id, email, role, created_at, expires_at, accepted_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        i.token_hash,
                        i.site_id.to_string(),
                        i.email,
                        i.role.as_str(),
                        i.created_at,
                        i.expires_at,
                        i.accepted_at,
                    ])
                })
                .map(drop)
                .map_err(map_err)
            }),
        )
        .await
    }

    async fn invite_by_hash(&self, token_hash: &str) -> StoreResult<Option<Invite>> {
        let hash = token_hash.to_owned();
        timed(
            "invite_by_hash",
            self.read(move |conn| {
                let sql = format!("SELECT {INVITE_COLS} FROM invites WHERE token_hash = ?1");
                query_one(conn, &sql, [hash], invite_row)
            }),
        )
        .await
    }

    async fn list_invites(&self, site: SiteId) -> StoreResult<Vec<Invite>> {
        timed(
            "list_invites",
            self.read(move |conn| {
                let sql = format!(
                    "SELECT {INVITE_COLS} FROM invites WHERE site_id = ?1 ORDER BY created_at DESC"
                );
                query_all(conn, &sql, [site.to_string()], invite_row)
            }),
        )
        .await
    }

    async fn accept_invite(&self, token_hash: &str, agent: &Agent, at: i64) -> StoreResult<()> {
        let (hash, agent) = (token_hash.to_owned(), agent.clone());
        timed(
            "accept_invite",
            self.write(move |conn| {
                let n = conn
                    .execute(
                        "UPDATE invites SET accepted_at = ?2
                         WHERE token_hash = ?1 AND accepted_at IS NULL AND expires_at > ?2",
                        params![hash, at],
                    )
                    .map_err(map_err)?;
                if n == 0 {
                    return Err(StoreError::Conflict(
                        "the invitation was used or has expired".into(),
                    ));
                }
                // In the same savepoint: an email taken meanwhile rolls the acceptance back.
                upsert_agent(conn, &agent)
            }),
        )
        .await
    }
}
