//! Deactivating and reactivating agents (issue 12), the rules an admin's
//! `PATCH /api/v1/agents/{id} {"active": false}` (or an owner's
//! `PUT /api/v1/sites/{id}/agents/{agent}/active`) is checked against: never oneself, never the
//! last active admin. After the change is stored, the agent's actor reloads it (closing its
//! sockets and releasing its conversations) and this node forgets its cached team.

use crate::actors::{agent, HubRef};
use crate::domain::Agent;
use crate::error::{ApiError, ApiResult};

use super::auth::AdminAuth;

/// Check a change of `target.active` to `active` by `admin`.
pub async fn check(hub: &HubRef, admin: &AdminAuth, target: &Agent, active: bool) -> ApiResult<()> {
    if active || !target.active {
        return Ok(()); // reactivating, or nothing changes
    }
    if target.id == admin.0.sub {
        return Err(ApiError::forbidden("you cannot deactivate yourself"));
    }
    if target.role.is_admin() {
        let team = hub.store.list_agents(target.site_id).await?;
        let other_admins = team
            .iter()
            .filter(|a| a.active && a.role.is_admin() && a.id != target.id)
            .count();
        if other_admins == 0 {
            return Err(ApiError::forbidden(
                "the site needs at least one active admin",
            ));
        }
    }
    Ok(())
}

/// The change is stored: apply it on this node and wherever the agent's actor lives.
pub fn applied(hub: &HubRef, target: &Agent) {
    hub.active_agents.forget(target.site_id);
    hub.agent(target.id).tell_if_running(agent::Refresh);
}
