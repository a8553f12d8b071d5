//! The `hello` handshake: who is on a socket. A visitor is resolved from a signed identity
//! (verified visitor), a visitor token (returning anonymous visitor) or neither (new visitor);
//! an agent from its bearer token. The answer is the `welcome` frame.

use std::sync::Arc;

use super::{agent, visitor, Caller, HubRef};
use crate::auth::{verify_identity, AgentClaims, VisitorClaims};
use crate::automation::inside_hours;
use crate::cluster::SubscriberId;
use crate::domain::{ConversationStatus, Site, SiteId, Visibility, Visitor, VisitorId};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::protocol::{ClientRole, Identity, ServerFrame, WidgetConfig, PROTOCOL_VERSION};
use crate::store::{Fence, StoreError};

/// Who is on a socket.
pub(super) enum Who {
    Pending,
    Visitor { id: VisitorId, site: Arc<Site> },
    Agent { claims: AgentClaims, name: String },
}

impl Who {
    /// The caller for commands and its site; `hello_required` before the handshake.
    pub(super) fn caller(&self) -> ApiResult<(Caller, SiteId)> {
        match self {
            Who::Pending => Err(ApiError::new(ErrorCode::HelloRequired, "send hello first")),
            Who::Visitor { id, site } => Ok((Caller::Visitor(*id), site.id)),
            Who::Agent { claims, name } => Ok((
                Caller::Agent {
                    id: claims.sub,
                    site: claims.site,
                    name: name.clone(),
                },
                claims.site,
            )),
        }
    }
}

/// The handshake writes a verified visitor's row (created on first sight, or its name and email
/// refreshed from a newly signed identity) outside any visitor actor, so no shard lease covers
/// it. It stays safe without one: creation is claimed by the unique (site, user id) and a
/// racing creator reads the winner back; the refresh writes only fields that come from the
/// signed identity, which no actor changes (leave-a-message is refused for verified visitors).
const UNOWNED_WRITE: Fence = Fence::UNCHECKED;

pub(super) type HelloResult = Result<(Who, ServerFrame), (String, ApiError)>;

pub(super) async fn visitor_hello(
    hub: &HubRef,
    id: String,
    key: &str,
    token: Option<String>,
    identity: Option<Identity>,
    origin: Option<&str>,
) -> HelloResult {
    let fail = |e: ApiError| (id.clone(), e);
    let site = hub
        .site_by_key(key)
        .await
        .map_err(fail)?
        .ok_or_else(|| fail(ApiError::not_found("site")))?;
    crate::abuse::origin::check(&site, origin).map_err(fail)?;
    let resolved = resolve_visitor(hub, &site, token, identity)
        .await
        .map_err(fail)?;
    let visitor_id = resolved.id;
    // A brand-new anonymous visitor has no history to show: no actor, no store read.
    let conversations = if resolved.new {
        Vec::new()
    } else {
        hub.visitor(visitor_id)
            .ask(visitor::Attach { site: site.id })
            .await
            .map_err(fail)?
    };
    let agents_online = hub.agents_online(site.id).await.map_err(fail)?;
    let widget = WidgetConfig {
        site_name: site.name.clone(),
        settings: site.settings.clone(),
        agents_online,
        inside_hours: inside_hours(site.settings.business_hours.as_ref(), hub.now()),
    };
    let welcome = ServerFrame::Welcome {
        id,
        v: PROTOCOL_VERSION,
        role: ClientRole::Visitor,
        visitor_id: Some(visitor_id),
        visitor_token: Some(hub.tokens.issue_visitor(&VisitorClaims {
            sub: visitor_id,
            site: site.id,
            verified: resolved.verified,
        })),
        agent_id: None,
        widget: Some(Box::new(widget)),
        conversations,
    };
    Ok((
        Who::Visitor {
            id: visitor_id,
            site,
        },
        welcome,
    ))
}

/// The visitor a hello resolved to.
struct Resolved {
    id: VisitorId,
    verified: bool,
    /// Anonymous and never seen: nothing is stored for it until it does something.
    new: bool,
}

/// Which visitor this hello is: the verified one for a signed identity (never merged with an
/// anonymous token's visitor), the token's anonymous visitor, or a new anonymous visitor.
///
/// Most visitors of a website never chat, so a new anonymous visitor costs no store write: its
/// row is created by the visitor actor on its first `start`, `page_view` or `leave_email`.
async fn resolve_visitor(
    hub: &HubRef,
    site: &Site,
    token: Option<String>,
    identity: Option<Identity>,
) -> ApiResult<Resolved> {
    if let Some(identity) = identity {
        let id = verified_visitor(hub, site, identity).await?;
        return Ok(Resolved {
            id,
            verified: true,
            new: false,
        });
    }
    if site.settings.visibility == Visibility::IdentifiedOnly {
        return Err(ApiError::forbidden(
            "this site's chat is for signed-in users",
        ));
    }
    match token.and_then(|t| hub.tokens.verify_visitor(&t, site.id)) {
        // A verified visitor is only ever resumed with its signature.
        Some(claims) if !claims.verified => Ok(Resolved {
            id: claims.sub,
            verified: false,
            new: false,
        }),
        _ => Ok(Resolved {
            id: VisitorId::new(),
            verified: false,
            new: true,
        }),
    }
}

/// The verified visitor for a correctly signed identity, created on first sight.
async fn verified_visitor(hub: &HubRef, site: &Site, identity: Identity) -> ApiResult<VisitorId> {
    if !verify_identity(
        &site.identity_secret,
        &identity.user_id,
        &identity.signature,
    ) {
        return Err(ApiError::new(
            ErrorCode::BadSignature,
            "identity signature does not match",
        ));
    }
    let now = hub.now();
    for _ in 0..2 {
        if let Some(mut v) = hub
            .store
            .visitor_by_user_id(site.id, &identity.user_id)
            .await?
        {
            if (identity.name.is_some() && identity.name != v.name)
                || (identity.email.is_some() && identity.email != v.email)
            {
                v.name = identity.name.clone().or(v.name);
                v.email = identity.email.clone().or(v.email);
                hub.store.put_visitor(&v, UNOWNED_WRITE).await?;
            }
            return Ok(v.id);
        }
        let v = Visitor {
            id: VisitorId::new(),
            site_id: site.id,
            user_id: Some(identity.user_id.clone()),
            name: identity.name.clone(),
            email: identity.email.clone(),
            created_at: now,
            last_seen_at: now,
            client: None,
        };
        match hub.store.put_visitor(&v, UNOWNED_WRITE).await {
            Ok(()) => return Ok(v.id),
            // Another socket created the same user a moment ago: read it back.
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        ErrorCode::Conflict,
        "could not create visitor; retry",
    ))
}

pub(super) async fn agent_hello(
    hub: &HubRef,
    id: String,
    token: &str,
    socket: SubscriberId,
) -> HelloResult {
    let fail = |e: ApiError| (id.clone(), e);
    let claims = hub.tokens.verify_agent(token, hub.now()).map_err(fail)?;
    let agent = hub
        .agent(claims.sub)
        .ask(agent::Attach { socket })
        .await
        .map_err(fail)?;
    let open = hub
        .store
        .conversations_by_status(claims.site, ConversationStatus::Open, 1000)
        .await
        .map_err(|e| fail(e.into()))?;
    let mine = open
        .into_iter()
        .filter(|c| c.assignee == Some(agent.id))
        .collect();
    let mine = hub.freshen(mine).await;
    let welcome = ServerFrame::Welcome {
        id,
        v: PROTOCOL_VERSION,
        role: ClientRole::Agent,
        visitor_id: None,
        visitor_token: None,
        agent_id: Some(agent.id),
        widget: None,
        conversations: mine,
    };
    Ok((
        Who::Agent {
            claims,
            name: agent.name,
        },
        welcome,
    ))
}
