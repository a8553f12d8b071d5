//! Audit records: who did what, when, from where, to which site's data. Written by the HTTP
//! handlers and commands that act (login, settings, agents, transfers, exports, erasures) and
//! read by admins (`GET /api/v1/audit`, the console's audit page).
//!
//! Sensitive actions (an export, an erasure) are recorded *before* they run and refused when
//! the record cannot be written: nobody takes personal data out unlogged. Routine ones are
//! recorded after they succeed, and a failed record is logged rather than undoing the action.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actors::{Caller, HubRef};
use crate::auth::AgentClaims;
use crate::clock::Millis;
use crate::domain::{AgentId, SiteId};
use crate::error::ApiResult;

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditActor {
    /// `agent` (agents and admins) or `system` (the node itself: retention sweeps).
    pub kind: String,
    pub id: Option<AgentId>,
    pub name: String,
}

impl AuditActor {
    pub fn agent(id: AgentId, name: &str) -> AuditActor {
        AuditActor {
            kind: "agent".into(),
            id: Some(id),
            name: name.to_owned(),
        }
    }

    pub fn claims(claims: &AgentClaims) -> AuditActor {
        AuditActor::agent(claims.sub, &claims.name)
    }

    /// The caller of a command, when it is an agent.
    pub fn caller(caller: &Caller) -> Option<AuditActor> {
        match caller {
            Caller::Agent { id, name, .. } => Some(AuditActor::agent(*id, name)),
            Caller::Visitor(_) => None,
        }
    }

    pub fn system() -> AuditActor {
        AuditActor {
            kind: "system".into(),
            id: None,
            name: "switchboard".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// A v7 uuid: unique, and the tie-break between records of the same millisecond.
    pub id: uuid::Uuid,
    pub site_id: SiteId,
    pub at: Millis,
    pub actor: AuditActor,
    /// Dotted and stable: `agent.login`, `agent.login_failed`, `site.settings`, `site.renamed`,
    /// `site.secret_rotated`, `agent.created`, `agent.updated`, `conversation.transferred`,
    /// `visitor.exported`, `visitor.erased`, `analytics.exported`, `retention.swept`.
    pub action: String,
    /// What it was done to (an agent, conversation or visitor id).
    pub target: Option<String>,
    /// Action-specific facts (changed fields, counts). Never message bodies or contact details.
    pub detail: Value,
    /// The client's address as the node saw it (after trusted proxies).
    pub ip: Option<String>,
}

/// A record about to be written.
pub struct Entry<'a> {
    pub site: SiteId,
    pub actor: AuditActor,
    pub action: &'a str,
    pub target: Option<String>,
    pub detail: Value,
    pub ip: Option<String>,
}

impl Entry<'_> {
    fn record(self, at: Millis) -> AuditRecord {
        AuditRecord {
            id: uuid::Uuid::now_v7(),
            site_id: self.site,
            at,
            actor: self.actor,
            action: self.action.to_owned(),
            target: self.target,
            detail: self.detail,
            ip: self.ip,
        }
    }
}

/// Record before acting: the action must not happen unless this succeeds.
pub async fn record_first(hub: &HubRef, entry: Entry<'_>) -> ApiResult<()> {
    let record = entry.record(hub.now());
    Ok(hub.store.append_audit(&record).await?)
}

/// Record an action that already happened; a failure is logged, not returned.
pub async fn record(hub: &HubRef, entry: Entry<'_>) {
    let record = entry.record(hub.now());
    if let Err(e) = hub.store.append_audit(&record).await {
        tracing::error!(action = %record.action, site = %record.site_id, error = %e, "audit record not written");
    }
}
