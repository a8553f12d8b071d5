//! Help-centre articles, per site (the knowledge-base bot answers from them; admins edit them in
//! the console and through the REST API).

use async_trait::async_trait;

use super::StoreResult;
use crate::bot::{Article, ArticleId};
use crate::domain::SiteId;

#[async_trait]
pub trait ArticleStore: Send + Sync {
    /// Insert or replace an article (`(site_id, id)` is its key).
    async fn put_article(&self, article: &Article) -> StoreResult<()>;
    async fn get_article(&self, site: SiteId, id: ArticleId) -> StoreResult<Option<Article>>;
    /// Every article of a site, by id (a site has tens to hundreds: the bot indexes them all).
    async fn list_articles(&self, site: SiteId) -> StoreResult<Vec<Article>>;
    /// True when there was an article to delete.
    async fn delete_article(&self, site: SiteId, id: ArticleId) -> StoreResult<bool>;
}
