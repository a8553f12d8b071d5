//! ScyllaDB: conversation search without a full-text index. It looks through the newest
//! [`SCAN_PER_STATUS`] conversations of each status asked for (one partition read each), keeps
//! those with the tag, and for a text reads each candidate's visitor row and newest messages
//! (single-partition reads, [`PARALLEL`] at a time). Older conversations are not found: the
//! honest limit of this backend, documented in docs/operations.md; an external index would lift
//! it. The site's tags are one partition (`site_tags`).

use async_trait::async_trait;
use futures_util::future::join_all;

use scylla::statement::prepared::PreparedStatement;

use super::{Preparer, ScyllaStore};
use crate::domain::{Author, Conversation, ConversationStatus, Seq, SiteId};
use crate::store::search::{words, SCAN_PER_STATUS};
use crate::store::{
    timed, ConversationQuery, ConversationStore, MessageStore, SearchStore, StoreResult,
    VisitorStore,
};

/// Candidates checked at once for a text search.
const PARALLEL: usize = 16;
/// Newest messages of a candidate whose text is looked through.
const MESSAGES_PER_CANDIDATE: usize = 100;

pub(super) struct SearchStatements {
    tag_put: PreparedStatement,
    tag_list: PreparedStatement,
}

impl SearchStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(SearchStatements {
            tag_put: p
                .write("INSERT INTO site_tags (site_id, tag) VALUES (?, ?)")
                .await?,
            tag_list: p
                .read("SELECT tag FROM site_tags WHERE site_id = ?")
                .await?,
        })
    }
}

impl ScyllaStore {
    /// Whether `words` all appear in the visitor's name or email, or all in one of the
    /// conversation's newest human messages.
    async fn conversation_matches(&self, c: &Conversation, words: &[String]) -> StoreResult<bool> {
        let all_in = |text: &str| {
            let text = text.to_lowercase();
            words.iter().all(|w| text.contains(w.as_str()))
        };
        if let Some(v) = self.get_visitor(c.visitor_id).await? {
            let who = format!(
                "{} {}",
                v.name.unwrap_or_default(),
                v.email.unwrap_or_default()
            );
            if all_in(&who) {
                return Ok(true);
            }
        }
        let newest = self
            .messages_before(c.id, Seq::MAX, MESSAGES_PER_CANDIDATE)
            .await?;
        Ok(newest.iter().any(|m| {
            matches!(m.author, Author::Visitor { .. } | Author::Agent { .. }) && all_in(&m.body)
        }))
    }
}

#[async_trait]
impl SearchStore for ScyllaStore {
    async fn search_conversations(
        &self,
        site: SiteId,
        query: &ConversationQuery,
    ) -> StoreResult<Vec<Conversation>> {
        timed("search_conversations", async {
            let statuses = match query.status {
                Some(s) => vec![s],
                None => vec![
                    ConversationStatus::Open,
                    ConversationStatus::Snoozed,
                    ConversationStatus::Closed,
                ],
            };
            let mut candidates = Vec::new();
            for status in statuses {
                let newest = self
                    .conversations_by_status(site, status, SCAN_PER_STATUS)
                    .await?;
                candidates.extend(
                    newest
                        .into_iter()
                        .filter(|c| query.tag.as_ref().is_none_or(|t| c.tags.contains(t))),
                );
            }
            candidates.sort_by_key(|c| std::cmp::Reverse((c.last_activity_at, c.id)));
            let words = query.text.as_deref().map(words).unwrap_or_default();
            if words.is_empty() {
                candidates.truncate(query.limit);
                return Ok(candidates);
            }
            let mut found = Vec::new();
            for chunk in candidates.chunks(PARALLEL) {
                let checks = join_all(chunk.iter().map(|c| self.conversation_matches(c, &words)));
                for (c, matched) in chunk.iter().zip(checks.await) {
                    if matched? {
                        found.push(c.clone());
                    }
                }
                if found.len() >= query.limit {
                    break;
                }
            }
            found.truncate(query.limit);
            Ok(found)
        })
        .await
    }

    async fn remember_tags(&self, site: SiteId, tags: &[String]) -> StoreResult<()> {
        timed("remember_tags", async {
            for tag in tags {
                self.exec(&self.st.search.tag_put, (site.0, tag)).await?;
            }
            Ok(())
        })
        .await
    }

    async fn site_tags(&self, site: SiteId) -> StoreResult<Vec<String>> {
        timed("site_tags", async {
            Ok(self
                .rows::<(String,)>(&self.st.search.tag_list, (site.0,))
                .await?
                .into_iter()
                .map(|(t,)| t)
                .collect())
        })
        .await
    }
}
