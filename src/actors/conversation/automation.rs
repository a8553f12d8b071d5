//! The conversation's automation: the welcome message when it is created, and the one
//! automatic reply to its first visitor message (inside hours, outside hours, or nobody
//! online, which also tells the visitor's widget to offer leave-a-message).

use actix::prelude::*;
use tokio::sync::oneshot;

use super::{restarted, ConversationActor};
use crate::automation::FirstReply;
use crate::domain::{Author, Conversation, MessageExtra};
use crate::error::{ApiError, ApiResult};
use crate::protocol::{Party, ServerFrame};

impl ConversationActor {
    /// The one automatic reply to a conversation's first visitor message.
    pub(super) fn send_first_reply(&mut self, ctx: &mut Context<Self>) {
        let Some(conv) = self.conv.clone() else {
            return;
        };
        if self.bot.owns() {
            // The bot answers this one; its hand-off notice says what happens next.
            return;
        }
        let hub = self.hub.clone();
        ctx.spawn(
            async move {
                let site = hub.site(conv.site_id).await?;
                let online = hub.agents_online(conv.site_id).await?;
                Ok::<_, ApiError>(FirstReply::choose(&site.settings, hub.now(), online))
            }
            .into_actor(self)
            .map(|reply, act, ctx| {
                let reply = match reply {
                    Ok(reply) => reply,
                    Err(e) => {
                        return tracing::warn!(conversation = %act.id, error = %e, "no first reply")
                    }
                };
                if !reply.text().is_empty() {
                    act.post_system(reply.text().to_owned(), ctx);
                }
                if matches!(reply, FirstReply::NobodyOnline(_)) {
                    act.broadcast(
                        &ServerFrame::Availability {
                            agents_online: false,
                        },
                        Some(Party::Visitor),
                        None,
                    );
                }
            }),
        );
    }

    /// A new conversation: queue it with the router, announce it, and store the site's
    /// welcome message. `reply` gets the conversation once the welcome is stored, so its
    /// creator sees it counted.
    pub(super) fn welcome(
        &mut self,
        conv: Conversation,
        reply: oneshot::Sender<ApiResult<Conversation>>,
        ctx: &mut Context<Self>,
    ) {
        let hub = self.hub.clone();
        ctx.wait(
            async move {
                let site = hub.site(conv.site_id).await;
                let owner = super::bot::starting_owner(hub, conv.site_id).await;
                (site, owner)
            }
            .into_actor(self)
                .map(move |(site, owner), act, ctx| {
                    // No bot when its settings cannot be read: the queue, as before bots.
                    act.bot_started(owner.unwrap_or_else(|e| {
                        tracing::warn!(conversation = %conv.id, error = %e, "no bot for this conversation");
                        None
                    }), ctx);
                    if let Some(router) = act.router() {
                        // A conversation the bot answers reaches the queue at its hand-off.
                        if !act.bot.owns() {
                            router.tell(crate::actors::router::Enqueue {
                                conversation_id: conv.id,
                                since: conv.created_at,
                            });
                        }
                        router.tell(crate::actors::router::InboxChanged {
                            conversation: conv.clone(),
                            unread: 0,
                            assignee_only: false,
                        });
                    }
                    let welcome = match site {
                        Ok(site)
                            if !site.settings.welcome_message.is_empty() && conv.last_seq == 0 =>
                        {
                            site.settings.welcome_message.clone()
                        }
                        _ => return drop(reply.send(Ok(conv))),
                    };
                    let (stored_tx, stored) = oneshot::channel();
                    act.append(
                        Author::Bot,
                        None,
                        welcome,
                        MessageExtra::default(),
                        None,
                        Some(stored_tx),
                        ctx,
                    );
                    ctx.spawn(stored.into_actor(act).map(move |result, act, _| {
                        let conv = match (result, act.conv.clone()) {
                            (Ok(Ok(_)), Some(conv)) => Ok(conv),
                            (Ok(Err(e)), _) => Err(e),
                            _ => Err(restarted()),
                        };
                        let _ = reply.send(conv);
                    }));
                }),
        );
    }
}
