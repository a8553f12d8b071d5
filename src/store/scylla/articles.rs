//! ScyllaDB: help-centre articles, a site's in one partition (`articles`, clustered by id).

use async_trait::async_trait;
use uuid::Uuid;

use scylla::statement::prepared::PreparedStatement;

use super::{Preparer, ScyllaStore};
use crate::bot::{Article, ArticleId, Language};
use crate::domain::SiteId;
use crate::store::{timed, ArticleStore, StoreError, StoreResult};

const ARTICLE_COLS: &str = "site_id, id, title, body, url, language, updated_at";
type ArticleRow = (Uuid, Uuid, String, String, String, String, i64);

pub(super) struct ArticleStatements {
    put: PreparedStatement,
    get: PreparedStatement,
    list: PreparedStatement,
    delete: PreparedStatement,
}

impl ArticleStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(ArticleStatements {
            put: p
                .write(format!(
                    "INSERT INTO articles ({ARTICLE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
                ))
                .await?,
            get: p
                .read(format!(
                    "SELECT {ARTICLE_COLS} FROM articles WHERE site_id = ? AND id = ?"
                ))
                .await?,
            list: p
                .read(format!(
                    "SELECT {ARTICLE_COLS} FROM articles WHERE site_id = ?"
                ))
                .await?,
            delete: p
                .write("DELETE FROM articles WHERE site_id = ? AND id = ?")
                .await?,
        })
    }
}

fn article_from(row: ArticleRow) -> StoreResult<Article> {
    let (site_id, id, title, body, url, language, updated_at) = row;
    Ok(Article {
        id: ArticleId(id),
        site_id: SiteId(site_id),
        title,
        body,
        url,
        language: Language::parse(&language)
            .ok_or_else(|| StoreError::Corrupt(format!("article language {language:?}")))?,
        updated_at,
    })
}

#[async_trait]
impl ArticleStore for ScyllaStore {
    async fn put_article(&self, a: &Article) -> StoreResult<()> {
        timed("put_article", async {
            let values = (
                a.site_id.0,
                a.id.0,
                &a.title,
                &a.body,
                &a.url,
                a.language.as_str(),
                a.updated_at,
            );
            self.exec(&self.st.articles.put, values).await.map(drop)
        })
        .await
    }

    async fn get_article(&self, site: SiteId, id: ArticleId) -> StoreResult<Option<Article>> {
        timed("get_article", async {
            self.maybe_row::<ArticleRow>(&self.st.articles.get, (site.0, id.0))
                .await?
                .map(article_from)
                .transpose()
        })
        .await
    }

    async fn list_articles(&self, site: SiteId) -> StoreResult<Vec<Article>> {
        timed("list_articles", async {
            self.rows::<ArticleRow>(&self.st.articles.list, (site.0,))
                .await?
                .into_iter()
                .map(article_from)
                .collect()
        })
        .await
    }

    async fn delete_article(&self, site: SiteId, id: ArticleId) -> StoreResult<bool> {
        timed("delete_article", async {
            // Admin path: a read then a plain delete (no LWT needed to say whether it existed).
            let existed = self
                .maybe_row::<ArticleRow>(&self.st.articles.get, (site.0, id.0))
                .await?
                .is_some();
            self.exec(&self.st.articles.delete, (site.0, id.0)).await?;
            Ok(existed)
        })
        .await
    }
}
