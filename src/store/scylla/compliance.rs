//! ScyllaDB: erasing a conversation or a visitor everywhere it is stored. Retention needs no
//! sweeper here: messages (and their client-id rows), visitor events and closed inbox entries
//! are written with the site's retention as TTL (`analytics.rs`, `inbox.rs`).
//!
//! An erasure deletes the copies first and the row last, so an erasure cut short leaves the
//! row in place and can simply be run again.

use async_trait::async_trait;
use scylla::statement::prepared::PreparedStatement;

use super::inbox::Writes;
use super::{Preparer, ScyllaStore};
use crate::clock::Millis;
use crate::domain::{Conversation, SiteId, Visitor};
use crate::store::{timed, ComplianceStore, CsatStore, Fence, StoreResult, Swept};

pub(super) struct ComplianceStatements {
    row_delete: PreparedStatement,
    legacy_status_delete: PreparedStatement,
    bucket_delete: PreparedStatement,
    buckets_delete: PreparedStatement,
    client_ids_delete: PreparedStatement,
    visitor_delete: PreparedStatement,
    by_user_delete: PreparedStatement,
    events_delete: PreparedStatement,
    events_list: PreparedStatement,
    history_delete: PreparedStatement,
    csat_delete: PreparedStatement,
    csat_by_site_delete: PreparedStatement,
    assist_delete: PreparedStatement,
}

impl ComplianceStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(ComplianceStatements {
            // The row is written by LWT only; its delete is one too.
            row_delete: p
                .lwt("DELETE FROM conversations WHERE id = ? IF EXISTS")
                .await?,
            // Entries written before version 7 of the schema.
            legacy_status_delete: p
                .write(
                    "DELETE FROM conversations_by_status
                     WHERE site_id = ? AND status = ? AND last_activity_at = ? AND id = ?",
                )
                .await?,
            bucket_delete: p
                .write("DELETE FROM messages WHERE conversation_id = ? AND bucket = ?")
                .await?,
            buckets_delete: p
                .write("DELETE FROM message_buckets WHERE conversation_id = ?")
                .await?,
            client_ids_delete: p
                .write("DELETE FROM message_client_ids WHERE conversation_id = ?")
                .await?,
            visitor_delete: p.write("DELETE FROM visitors WHERE id = ?").await?,
            by_user_delete: p
                .write("DELETE FROM visitors_by_user WHERE site_id = ? AND user_id = ?")
                .await?,
            events_delete: p
                .write("DELETE FROM visitor_events WHERE visitor_id = ?")
                .await?,
            events_list: p
                .read("SELECT at FROM visitor_events WHERE visitor_id = ?")
                .await?,
            history_delete: p
                .write("DELETE FROM conversations_by_visitor WHERE visitor_id = ?")
                .await?,
            csat_delete: p
                .write("DELETE FROM csat WHERE conversation_id = ?")
                .await?,
            csat_by_site_delete: p
                .write(
                    "DELETE FROM csat_by_site WHERE site_id = ? AND at = ? AND conversation_id = ?",
                )
                .await?,
            assist_delete: p
                .write("DELETE FROM conversation_assist WHERE conversation_id = ?")
                .await?,
        })
    }
}

#[async_trait]
impl ComplianceStore for ScyllaStore {
    async fn erase_conversation(&self, c: &Conversation, fence: Fence) -> StoreResult<u64> {
        timed("erase_conversation", async {
            self.check_shard(fence).await?;
            let st = &self.st.compliance;
            let last = self.last_bucket(c.id).await?;
            for bucket in 0..=last {
                self.exec(&st.bucket_delete, (c.id.0, bucket)).await?;
            }
            self.exec(&st.buckets_delete, (c.id.0,)).await?;
            self.exec(&st.client_ids_delete, (c.id.0,)).await?;
            // The bots' and agent tools' rows of it: its rating (both copies) and bot state.
            // Its emails in `mail_outbox` are keyed by email, not findable by conversation
            // here: see docs/api.md (GDPR).
            if let Some(csat) = self.get_csat(c.id).await? {
                let listed = (csat.site_id.0, csat.at, c.id.0);
                self.exec(&st.csat_by_site_delete, listed).await?;
            }
            self.exec(&st.csat_delete, (c.id.0,)).await?;
            self.exec(&st.assist_delete, (c.id.0,)).await?;
            let mut writes = Writes::default();
            self.listing_deletes(&mut writes, c);
            let legacy = (c.site_id.0, c.status.as_str(), c.last_activity_at, c.id.0);
            writes.push(&st.legacy_status_delete, legacy);
            writes.run(self).await?;
            self.lwt(&st.row_delete, (c.id.0,)).await?;
            Ok(c.last_seq)
        })
        .await
    }

    async fn erase_visitor(&self, v: &Visitor, fence: Fence) -> StoreResult<u64> {
        timed("erase_visitor", async {
            self.check_shard(fence).await?;
            let st = &self.st.compliance;
            let events = self.rows::<(i64,)>(&st.events_list, (v.id.0,)).await?.len();
            let mut writes = Writes::default();
            writes.push(&st.events_delete, (v.id.0,));
            writes.push(&st.history_delete, (v.id.0,));
            if let Some(user_id) = &v.user_id {
                writes.push(&st.by_user_delete, (v.site_id.0, user_id.clone()));
            }
            writes.push(&st.visitor_delete, (v.id.0,));
            writes.run(self).await?;
            Ok(events as u64)
        })
        .await
    }

    /// Nothing to sweep: expired rows are dropped by their TTL.
    async fn sweep_expired(
        &self,
        _site: SiteId,
        _cutoff: Millis,
        _limit: usize,
    ) -> StoreResult<Swept> {
        Ok(Swept::default())
    }
}
