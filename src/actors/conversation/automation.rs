//! The conversation's automation: the welcome message when it is created (in the visitor's
//! language, followed by the proactive message the visitor answered), and the one automatic
//! reply to its first visitor message (inside hours, outside hours, or nobody online, which
//! also tells the visitor's widget to offer leave-a-message, or thanks a visitor whose email
//! is already known).

use actix::prelude::*;
use tokio::sync::oneshot;

use super::{restarted, ConversationActor};
use crate::actors::visitor;
use crate::automation::{welcome_in, Audience, FirstReply};
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
                // The visitor actor has the email even if `leave_email` came a moment ago.
                let profile = hub
                    .visitor(conv.visitor_id)
                    .ask(visitor::Profile { site: conv.site_id })
                    .await;
                let audience = Audience {
                    lang: conv.lang.clone(),
                    email_known: profile.is_ok_and(|v| v.email.is_some()),
                };
                Ok::<_, ApiError>(FirstReply::choose_for(
                    &site.settings,
                    hub.now(),
                    online,
                    &audience,
                ))
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
    /// welcome message in the visitor's language, then the text of the trigger rule the visitor
    /// answered (the server's copy: a client never supplies "bot" text). `reply` gets the
    /// conversation once both are stored, so the visitor's first message comes after them.
    pub(super) fn welcome(
        &mut self,
        conv: Conversation,
        trigger: Option<u32>,
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
                    let texts: Vec<String> = match site {
                        Ok(site) if conv.last_seq == 0 => {
                            let settings = &site.settings;
                            let proactive = trigger
                                .and_then(|i| settings.triggers.get(i as usize))
                                .map(|rule| rule.message.clone());
                            [
                                Some(welcome_in(settings, conv.lang.as_deref()).to_owned()),
                                proactive,
                            ]
                            .into_iter()
                            .flatten()
                            .filter(|text| !text.trim().is_empty())
                            .collect()
                        }
                        _ => Vec::new(),
                    };
                    let Some(last) = texts.len().checked_sub(1) else {
                        return drop(reply.send(Ok(conv)));
                    };
                    // Released in seq order: once the last is stored, all are.
                    let (stored_tx, stored) = oneshot::channel();
                    let mut stored_tx = Some(stored_tx);
                    for (i, text) in texts.into_iter().enumerate() {
                        let waiter = if i == last { stored_tx.take() } else { None };
                        act.append(
                            Author::Bot,
                            None,
                            text,
                            MessageExtra::default(),
                            None,
                            waiter,
                            ctx,
                        );
                    }
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
