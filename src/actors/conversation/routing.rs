//! What routing tells a conversation, answered by its actor: an assignment (stored in the row,
//! with a system message in the log when the agent really changes, and the agent's picture for
//! the widget), its place in the waiting line, and whether anyone is online to take it.

use actix::prelude::*;
use tokio::sync::oneshot;

use super::handlers::{later, ready};
use super::{Assign, Availability, ConversationActor, QueuePosition};
use crate::analytics::{Metric, Tally};
use crate::domain::{
    AgentId, Author, Conversation, ConversationEvent, ConversationStatus, MessageExtra,
};
use crate::error::{ApiError, ApiResult};
use crate::protocol::{Party, ServerFrame};

impl Handler<Assign> for ConversationActor {
    type Result = ResponseFuture<ApiResult<Conversation>>;

    fn handle(&mut self, msg: Assign, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(e) = self.moving() {
            return ready(Err(e));
        }
        self.touch(ctx);
        if self.conv.is_none() {
            return ready(Err(ApiError::not_found("conversation")));
        }
        let (tx, rx) = oneshot::channel();
        let Some((agent, _)) = msg.agent.clone() else {
            self.assign(msg, None, tx, ctx);
            return later(rx);
        };
        // The picture's version is in the agent's record: read it before announcing (the
        // actor waits, so the assignment is applied in mailbox order).
        let store = self.hub.store.clone();
        ctx.wait(
            async move { store.get_agent(agent).await }
                .into_actor(self)
                .map(move |record, act, ctx| {
                    let avatar = record.ok().flatten().and_then(|a| a.avatar_url());
                    act.assign(msg, avatar, tx, ctx);
                }),
        );
        later(rx)
    }
}

impl ConversationActor {
    fn assign(
        &mut self,
        msg: Assign,
        avatar: Option<String>,
        tx: oneshot::Sender<ApiResult<Conversation>>,
        ctx: &mut Context<Self>,
    ) {
        let Some(conv) = self.conv.as_mut() else {
            let _ = tx.send(Err(ApiError::not_found("conversation")));
            return;
        };
        let before: Option<(AgentId, String)> = conv
            .assignee
            .map(|id| (id, self.assignee_name.clone().unwrap_or_default()));
        let closed = conv.status == ConversationStatus::Closed;
        conv.assignee = msg.agent.as_ref().map(|(id, _)| *id);
        self.assignee_name = msg.agent.as_ref().map(|(_, name)| name.clone());
        self.assignee_avatar = avatar.clone();
        let assignee = conv.assignee;
        // Counted in the row's write below (the assignment's own write).
        if let (Some(since), Some(agent)) = (msg.queued_since, assignee) {
            let now = self.hub.now();
            let waited = Tally::measure(Metric::QueueWait, Some(agent), now, now - since);
            self.tallies.push(waited);
        }
        if assignee.is_some() {
            self.queue_position = None;
        }
        self.bot_assigned(assignee, ctx);
        self.answering.assigned();
        let event = ConversationEvent::for_assignment(
            before.as_ref().map(|(id, name)| (*id, name.as_str())),
            msg.agent.as_ref().map(|(id, name)| (*id, name.as_str())),
        );
        if let Some(event) = event.filter(|_| !closed) {
            // In the log at its place: once, in order, for everyone, after any resume.
            let body = event.english();
            let event = Box::new(event);
            self.append(
                Author::System { event },
                None,
                body,
                MessageExtra::default(),
                None,
                None,
                ctx,
            );
        }
        self.flush_then(ctx, move |act, result, _| {
            let Some(conv) = act.conv.clone() else { return };
            if result.is_ok() {
                if let Some((agent_id, agent_name)) = msg.agent {
                    let frame = ServerFrame::Assigned {
                        conversation_id: conv.id,
                        agent_id,
                        agent_name,
                        agent_avatar: avatar,
                    };
                    act.broadcast(&frame, None, None);
                }
                act.broadcast(
                    &ServerFrame::Conversation {
                        conversation: conv.clone(),
                    },
                    None,
                    None,
                );
                if act.answering.visitor_waiting() {
                    act.tell_router_awaiting();
                }
            }
            let _ = tx.send(result.map(|_| conv));
        });
    }
}

impl Handler<QueuePosition> for ConversationActor {
    type Result = ();
    fn handle(&mut self, msg: QueuePosition, _: &mut Context<Self>) {
        self.queue_position = Some(msg.position);
        let frame = ServerFrame::Queue {
            conversation_id: self.id,
            position: msg.position,
        };
        self.broadcast(&frame, Some(Party::Visitor), None);
    }
}

impl Handler<Availability> for ConversationActor {
    type Result = ();
    fn handle(&mut self, msg: Availability, _: &mut Context<Self>) {
        if !msg.agents_online {
            // Nobody to be next for: a late subscriber is not told an old position.
            self.queue_position = None;
        }
        let frame = ServerFrame::Availability {
            agents_online: msg.agents_online,
        };
        self.broadcast(&frame, Some(Party::Visitor), None);
    }
}
