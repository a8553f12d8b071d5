//! Finding conversations (issue 12): by what the visitor is called (name, email), by what was
//! written, and by tag; and the tags a site has used. SQLite answers from an FTS5 index kept by
//! triggers; ScyllaDB has no full-text index, so it looks through the newest conversations of
//! each status only ([`SCAN_PER_STATUS`], docs/operations.md says so).

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::{Conversation, ConversationStatus, SiteId};

/// ScyllaDB: how many of the newest conversations per status a search looks through.
pub const SCAN_PER_STATUS: usize = 200;

/// A conversation search; every part is optional and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationQuery {
    /// Words that must all appear (as prefixes) in one message, or a substring of the visitor's
    /// name or email.
    pub text: Option<String>,
    pub tag: Option<String>,
    /// `None`: every status.
    pub status: Option<ConversationStatus>,
    pub limit: usize,
}

#[async_trait]
pub trait SearchStore: Send + Sync {
    /// The site's conversations matching `query`, most recent activity first.
    async fn search_conversations(
        &self,
        site: SiteId,
        query: &ConversationQuery,
    ) -> StoreResult<Vec<Conversation>>;
    /// Add tags to the site's list (suggestions); known ones are kept once.
    async fn remember_tags(&self, site: SiteId, tags: &[String]) -> StoreResult<()>;
    /// Every tag the site has used, sorted.
    async fn site_tags(&self, site: SiteId) -> StoreResult<Vec<String>>;
}

/// The words of a search, lower-cased, for backends that match in memory (ScyllaDB).
pub fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_lowercase).collect()
}
