//! Invitations of agents to a site: an emailed link whose token (stored hashed) lets its
//! holder choose a name and password once.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::{Agent, SiteId};
use crate::sites_admin::Invite;

#[async_trait]
pub trait InviteStore: Send + Sync {
    /// Insert or replace an invitation (the token hash is the key).
    async fn put_invite(&self, invite: &Invite) -> StoreResult<()>;
    async fn invite_by_hash(&self, token_hash: &str) -> StoreResult<Option<Invite>>;
    /// A site's invitations, newest first.
    async fn list_invites(&self, site: SiteId) -> StoreResult<Vec<Invite>>;
    /// Use the invitation: mark it accepted and create `agent`, both or neither. `Conflict`
    /// when it was used already or the email belongs to another agent.
    async fn accept_invite(&self, token_hash: &str, agent: &Agent, at: i64) -> StoreResult<()>;
}
