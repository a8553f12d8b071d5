//! Attachments on a `send`: the blobs were uploaded to this conversation first (HTTP, which
//! checked the size and type and stored the reference); here each id must name an attachment
//! of this very conversation, and its metadata goes into the message. The lookups block the
//! actor (`ctx.wait`), so messages keep the order they arrived in.

use actix::prelude::*;

use super::{ConversationActor, Post, Waiter};
use crate::blobs::BlobId;
use crate::domain::{Attachment, ExtraFields};
use crate::error::ApiError;
use crate::store::SharedStore;

async fn resolve(
    store: SharedStore,
    conversation: crate::domain::ConversationId,
    ids: Vec<BlobId>,
) -> Result<Vec<Attachment>, ApiError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match store.get_attachment(id).await? {
            Some((reference, meta)) if reference.conversation_id == conversation => {
                out.push(Attachment::from(&meta))
            }
            // Another conversation's blob is as unknown as a made-up id.
            _ => return Err(ApiError::not_found("attachment")),
        }
    }
    Ok(out)
}

impl ConversationActor {
    /// Resolve `msg.attachments`, then append the message (or fail its waiter).
    pub(super) fn post_with_attachments(
        &mut self,
        mut msg: Post,
        waiter: Waiter,
        ctx: &mut Context<Self>,
    ) {
        let ids = std::mem::take(&mut msg.attachments);
        let (store, id) = (self.hub.store.clone(), self.id);
        ctx.wait(
            resolve(store, id, ids).into_actor(self).map(
                move |resolved, act, ctx| match resolved {
                    Ok(attachments) => {
                        let extra = ExtraFields {
                            private: msg.private,
                            attachments,
                            ..ExtraFields::default()
                        };
                        act.post_checked(msg, extra.into(), waiter, ctx);
                    }
                    Err(e) => {
                        let _ = waiter.send(Err(e));
                    }
                },
            ),
        );
    }
}
