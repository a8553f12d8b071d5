//! Managing sites and their people, shared by the admin API (`gateway::sites`) and the CLI
//! (`switchboard site ...`, `crate::cli`): create a site, rotate its public key or identity
//! secret, invite agents and deactivate them.
//!
//! Invitations are links with a one-time token (`inv_...`, 256 random bits) that lets its
//! holder choose a name and password; only the token's SHA-256 is stored (it is random and
//! short-lived, so no key or slow hash is needed), and the link puts it after `#` so it never
//! reaches a server log. Deactivation sets the agent's `active` flag; refusing a deactivated
//! agent at login, on sockets and on the API (and requeueing its chats) is the flag's job
//! wherever agents are checked.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::auth::random_secret;
use crate::clock::Millis;
use crate::domain::{Agent, AgentId, Role, Site, SiteId, SiteSettings};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::protocol::looks_like_email;
use crate::store::Store;

/// How long an invitation link works.
pub const INVITE_TTL_MS: Millis = 7 * 24 * 3600 * 1000;

/// An invitation to join a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Invite {
    /// SHA-256 of the token, hex: the key. Never shown.
    #[serde(skip)]
    pub token_hash: String,
    #[schema(value_type = String, format = Uuid)]
    pub site_id: SiteId,
    pub email: String,
    #[schema(value_type = String, example = "agent")]
    pub role: Role,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub accepted_at: Option<Millis>,
}

pub fn hash_invite_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The console page where an invitation is accepted; the token follows `#`.
pub fn invite_link(base_url: &str, token: &str) -> String {
    format!("{}/console/invite#{token}", base_url.trim_end_matches('/'))
}

fn new_public_key() -> String {
    format!("pk_{}", random_secret(12))
}

fn check_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("a name has 1 to 100 characters"));
    }
    Ok(name.to_owned())
}

/// Create a site with a fresh public key and identity secret.
pub async fn create_site(store: &dyn Store, name: &str) -> ApiResult<Site> {
    let site = Site {
        id: SiteId::new(),
        name: check_name(name)?,
        public_key: new_public_key(),
        identity_secret: random_secret(32),
        settings: SiteSettings::default(),
    };
    store.put_site(&site).await?;
    Ok(site)
}

async fn site(store: &dyn Store, id: SiteId) -> ApiResult<Site> {
    store
        .get_site(id)
        .await?
        .ok_or_else(|| ApiError::not_found("site"))
}

/// A new public key: pages that embed the old one stop loading the widget.
pub async fn rotate_public_key(store: &dyn Store, id: SiteId) -> ApiResult<Site> {
    let mut site = site(store, id).await?;
    site.public_key = new_public_key();
    store.put_site(&site).await?;
    Ok(site)
}

/// A new identity secret: signatures made with the old one are refused from now on.
pub async fn rotate_identity_secret(store: &dyn Store, id: SiteId) -> ApiResult<Site> {
    let mut site = site(store, id).await?;
    site.identity_secret = random_secret(32);
    store.put_site(&site).await?;
    Ok(site)
}

/// Invite `email` to `site` with `role`: returns the token (shown once, in the link) and the
/// stored invitation. An email that already belongs to an agent is a conflict.
pub async fn invite(
    store: &dyn Store,
    site_id: SiteId,
    email: &str,
    role: Role,
    now: Millis,
) -> ApiResult<(String, Invite)> {
    let email = email.trim().to_lowercase();
    if !looks_like_email(&email) {
        return Err(ApiError::invalid("need a valid email"));
    }
    site(store, site_id).await?;
    if store.agent_by_email(&email).await?.is_some() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("{email} is already an agent"),
        ));
    }
    let mut raw = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut raw);
    let token = format!("inv_{}", URL_SAFE_NO_PAD.encode(raw));
    let invite = Invite {
        token_hash: hash_invite_token(&token),
        site_id,
        email,
        role,
        created_at: now,
        expires_at: now + INVITE_TTL_MS,
        accepted_at: None,
    };
    store.put_invite(&invite).await?;
    Ok((token, invite))
}

/// What an invitation link shows before it is accepted.
pub async fn open_invite(store: &dyn Store, token: &str, now: Millis) -> ApiResult<Invite> {
    let gone = || ApiError::not_found("invitation (it may have expired or been used)");
    let invite = store
        .invite_by_hash(&hash_invite_token(token))
        .await?
        .ok_or_else(gone)?;
    if invite.accepted_at.is_some() || invite.expires_at <= now {
        return Err(gone());
    }
    Ok(invite)
}

/// Accept an invitation: the new agent, with `password_hash` (argon2, made by the caller off
/// the event loop), active, capacity 5.
pub async fn accept_invite(
    store: &dyn Store,
    token: &str,
    name: &str,
    password_hash: String,
    now: Millis,
) -> ApiResult<Agent> {
    let invite = open_invite(store, token, now).await?;
    let agent = Agent {
        id: AgentId::new(),
        site_id: invite.site_id,
        email: invite.email.clone(),
        name: check_name(name)?,
        password_hash,
        role: invite.role,
        capacity: 5,
        active: true,
        avatar_version: 0,
    };
    store.accept_invite(&invite.token_hash, &agent, now).await?;
    Ok(agent)
}

/// Deactivate (or reactivate) an agent of `site`.
pub async fn set_active(
    store: &dyn Store,
    site_id: SiteId,
    agent: AgentId,
    active: bool,
) -> ApiResult<Agent> {
    let mut agent = store
        .get_agent(agent)
        .await?
        .filter(|a| a.site_id == site_id)
        .ok_or_else(|| ApiError::not_found("agent"))?;
    agent.active = active;
    store.put_agent(&agent).await?;
    Ok(agent)
}
