//! Retention per site: messages, visitor events and closed conversations older than the
//! site's `retention_days` are deleted.
//!
//! ScyllaDB does it by itself: those rows are written with the retention as TTL. On SQLite this
//! actor sweeps: every `retention_sweep_interval_ms` it runs a few bounded passes per site
//! (each pass one short write transaction of at most [`PASS_LIMIT`] rows of each kind), so a
//! large backlog is worked off over several ticks without holding the write lock for long.
//! "Now" is the node's clock, so tests drive it with a manual one. In a cluster each site is
//! swept by the node that owns its router's shard: one sweeper per site.

use std::time::Duration;

use actix::prelude::*;
use serde_json::json;

use super::audit::{self, AuditActor, Entry};
use crate::actors::router::RouterActor;
use crate::actors::HubRef;
use crate::clock::Millis;
use crate::domain::Site;
use crate::store::{StoreResult, Swept};

/// Rows of each kind one pass deletes at most.
pub const PASS_LIMIT: usize = 500;
/// Passes per site and tick; the rest waits for the next tick.
const PASSES_PER_TICK: usize = 8;

/// The oldest time a site keeps, or `None` when it keeps everything.
pub fn cutoff(site: &Site, now: Millis) -> Option<Millis> {
    match site.settings.retention_days {
        0 => None,
        days => Some(now - i64::from(days) * 86_400_000),
    }
}

/// Sweep one site: passes until one finds less than a full pass of work, at most
/// [`PASSES_PER_TICK`].
pub async fn sweep_site(hub: &HubRef, site: &Site) -> StoreResult<Swept> {
    let mut total = Swept::default();
    let Some(cutoff) = cutoff(site, hub.now()) else {
        return Ok(total);
    };
    for _ in 0..PASSES_PER_TICK {
        let pass = hub.store.sweep_expired(site.id, cutoff, PASS_LIMIT).await?;
        total.messages += pass.messages;
        total.events += pass.events;
        total.conversations += pass.conversations;
        total.webhook_events += pass.webhook_events;
        let limit = PASS_LIMIT as u64;
        let full = [
            pass.messages,
            pass.events,
            pass.conversations,
            pass.webhook_events,
        ];
        if full.iter().all(|n| *n < limit) {
            break;
        }
    }
    Ok(total)
}

pub struct RetentionActor {
    hub: HubRef,
    sweeping: bool,
}

impl RetentionActor {
    pub fn new(hub: HubRef) -> Self {
        RetentionActor {
            hub,
            sweeping: false,
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if std::mem::replace(&mut self.sweeping, true) {
            return;
        }
        let hub = self.hub.clone();
        ctx.spawn(
            async move {
                for site in hub.store.list_sites().await? {
                    let mine = hub.registry.local_shard::<RouterActor>(site.id).is_ok();
                    if !mine || site.settings.retention_days == 0 {
                        continue;
                    }
                    let swept = sweep_site(&hub, &site).await?;
                    if swept.total() > 0 {
                        tracing::info!(site = %site.id, ?swept, "retention sweep");
                        let entry = Entry {
                            site: site.id,
                            actor: AuditActor::system(),
                            action: "retention.swept",
                            target: None,
                            detail: json!({
                                "retention_days": site.settings.retention_days,
                                "messages": swept.messages,
                                "events": swept.events,
                                "conversations": swept.conversations,
                                "webhook_events": swept.webhook_events,
                            }),
                            ip: None,
                        };
                        audit::record(&hub, entry).await;
                    }
                }
                Ok::<_, crate::store::StoreError>(())
            }
            .into_actor(self)
            .map(|result, act, _| {
                act.sweeping = false;
                if let Err(e) = result {
                    tracing::warn!(error = %e, "retention sweep failed");
                }
            }),
        );
    }
}

impl Actor for RetentionActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        let every = Duration::from_millis(self.hub.config.retention_sweep_interval_ms);
        ctx.run_interval(every, |act, ctx| act.tick(ctx));
    }
}
