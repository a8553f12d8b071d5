//! JanitorActor: the node's periodic sweep for time-based transitions of conversations whose
//! actors may be passivated: snoozed conversations that are due wake up, and open conversations
//! idle past the site's auto-close time are closed. The owning conversation actor re-checks
//! the condition, so a sweep racing with a new message changes nothing.
//!
//! Each node sweeps only the conversations whose shard it owns (by conversation id, the
//! conversation's sharding key), so in a cluster every due conversation is nudged by exactly
//! one node: its owner.

use std::time::Duration;

use actix::prelude::*;

use super::conversation::{self, ConversationActor, StatusChange};
use super::HubRef;
use crate::domain::{ConversationId, ConversationStatus};

/// Conversations looked at per site and status on each sweep.
const SWEEP_LIMIT: usize = 1000;

pub struct JanitorActor {
    hub: HubRef,
    sweeping: bool,
}

impl JanitorActor {
    pub fn new(hub: HubRef) -> Self {
        JanitorActor {
            hub,
            sweeping: false,
        }
    }

    fn sweep(&mut self, ctx: &mut Context<Self>) {
        if self.sweeping {
            return;
        }
        self.sweeping = true;
        let hub = self.hub.clone();
        ctx.spawn(
            async move {
                let now = hub.now();
                let sites = hub.store.list_sites().await?;
                for site in sites {
                    for conv in hub
                        .store
                        .conversations_by_status(site.id, ConversationStatus::Snoozed, SWEEP_LIMIT)
                        .await?
                    {
                        if conv.snoozed_until.is_some_and(|u| u <= now) {
                            nudge(&hub, conv.id, StatusChange::WakeIfDue);
                        }
                    }
                    let after = site.settings.auto_close_after_secs as i64 * 1000;
                    if after > 0 {
                        for conv in hub
                            .store
                            .conversations_by_status(site.id, ConversationStatus::Open, SWEEP_LIMIT)
                            .await?
                        {
                            if conv.last_activity_at + after <= now {
                                nudge(&hub, conv.id, StatusChange::AutoClose { idle_ms: after });
                            }
                        }
                    }
                }
                Ok::<_, crate::store::StoreError>(())
            }
            .into_actor(self)
            .map(|result, act, _| {
                act.sweeping = false;
                if let Err(e) = result {
                    tracing::warn!(error = %e, "janitor sweep failed");
                }
            }),
        );
    }
}

/// Ask the conversation's actor to apply `change` if it still holds, when this node owns it.
fn nudge(hub: &HubRef, id: ConversationId, change: StatusChange) {
    if hub.registry.local_shard::<ConversationActor>(id).is_ok() {
        hub.conversation(id)
            .tell(conversation::TimeCheck { change });
    }
}

impl Actor for JanitorActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        let every = Duration::from_millis(self.hub.config.janitor_interval_ms);
        ctx.run_interval(every, |act, ctx| act.sweep(ctx));
    }
}
