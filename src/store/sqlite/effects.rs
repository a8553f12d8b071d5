//! SQLite: writes with their effects. Each is ONE writer job: the plain method's entity
//! statements, then the events' rows (`outbox::record`), then the counter cells
//! (`analytics::add_counts_in`), in the job's savepoint after the same fence check, so one
//! transaction holds all three. Retention is the sweeper's business here, so
//! `WriteEffects::retention_days` is not used.

use async_trait::async_trait;
use rusqlite::Connection;

use super::analytics::add_counts_in;
use super::conversations::upsert_conversation;
use super::csat::upsert_csat;
use super::messages::insert_message;
use super::outbox::record;
use super::visitors::insert_visitor_event;
use super::SqliteStore;
use crate::assist::model::Csat;
use crate::domain::{Conversation, Message, VisitorEvent};
use crate::store::{timed, EffectfulWrites, Fence, StoreResult, WriteEffects};

/// The effects' rows, inside the change's job.
fn apply(conn: &Connection, effects: &WriteEffects) -> StoreResult<()> {
    record(conn, &effects.events)?;
    add_counts_in(conn, &effects.increments)
}

#[async_trait]
impl EffectfulWrites for SqliteStore {
    async fn append_message_with_effects(
        &self,
        message: &Message,
        effects: &WriteEffects,
        fence: Fence,
    ) -> StoreResult<()> {
        let (m, effects) = (message.clone(), effects.clone());
        timed(
            "append_message",
            self.write_fenced(fence, move |conn| {
                insert_message(conn, &m, fence)?;
                apply(conn, &effects)
            }),
        )
        .await
    }

    async fn create_conversation_with_effects(
        &self,
        conversation: &Conversation,
        effects: &WriteEffects,
        fence: Fence,
    ) -> StoreResult<()> {
        let (c, effects) = (conversation.clone(), effects.clone());
        timed(
            "create_conversation",
            self.write_fenced(fence, move |conn| {
                upsert_conversation(conn, &c, true)?;
                apply(conn, &effects)
            }),
        )
        .await
    }

    async fn update_conversation_with_effects(
        &self,
        _before: &Conversation,
        after: &Conversation,
        effects: &WriteEffects,
        fence: Fence,
    ) -> StoreResult<()> {
        let (c, effects) = (after.clone(), effects.clone());
        timed(
            "update_conversation",
            self.write_fenced(fence, move |conn| {
                upsert_conversation(conn, &c, false)?;
                apply(conn, &effects)
            }),
        )
        .await
    }

    async fn append_visitor_event_with_effects(
        &self,
        event: &VisitorEvent,
        effects: &WriteEffects,
        fence: Fence,
    ) -> StoreResult<()> {
        let (e, effects) = (event.clone(), effects.clone());
        timed(
            "append_visitor_event",
            self.write_fenced(fence, move |conn| {
                insert_visitor_event(conn, &e)?;
                apply(conn, &effects)
            }),
        )
        .await
    }

    async fn put_csat_with_effects(
        &self,
        csat: &Csat,
        effects: &WriteEffects,
        fence: Fence,
    ) -> StoreResult<()> {
        let (c, effects) = (csat.clone(), effects.clone());
        timed(
            "put_csat",
            self.write_fenced(fence, move |conn| {
                upsert_csat(conn, &c)?;
                apply(conn, &effects)
            }),
        )
        .await
    }
}
