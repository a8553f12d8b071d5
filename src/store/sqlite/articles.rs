//! SQLite: help-centre articles (rows decoded in the column order each SELECT lists).

use async_trait::async_trait;
use rusqlite::{params, Row};

use super::codec::*;
use super::SqliteStore;
use crate::bot::{Article, ArticleId, Language};
use crate::domain::SiteId;
use crate::store::{timed, ArticleStore, StoreError, StoreResult};

const ARTICLE_COLS: &str = "site_id, id, title, body, url, language, updated_at";

fn article_row(row: &Row<'_>) -> StoreResult<Article> {
    let language: String = row.get(5).map_err(map_err)?;
    Ok(Article {
        site_id: SiteId(uuid_col(row, 0)?),
        id: ArticleId(uuid_col(row, 1)?),
        title: row.get(2).map_err(map_err)?,
        body: row.get(3).map_err(map_err)?,
        url: row.get(4).map_err(map_err)?,
        language: Language::parse(&language)
            .ok_or_else(|| StoreError::Corrupt(format!("article language {language:?}")))?,
        updated_at: row.get(6).map_err(map_err)?,
    })
}

#[async_trait]
impl ArticleStore for SqliteStore {
    async fn put_article(&self, article: &Article) -> StoreResult<()> {
        let a = article.clone();
        timed(
            "put_article",
            self.write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO articles (site_id, id, title, body, url, language, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (site_id, id) DO UPDATE SET
                         title = excluded.title, body = excluded.body, url = excluded.url,
                         language = excluded.language, updated_at = excluded.updated_at",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        a.site_id.to_string(),
                        a.id.to_string(),
                        a.title,
                        a.body,
                        a.url,
                        a.language.as_str(),
                        a.updated_at,
                    ])
                })
                .map(drop)
                .map_err(map_err)
            }),
        )
        .await
    }

    async fn get_article(&self, site: SiteId, id: ArticleId) -> StoreResult<Option<Article>> {
        timed(
            "get_article",
            self.read(move |conn| {
                let sql =
                    format!("SELECT {ARTICLE_COLS} FROM articles WHERE site_id = ?1 AND id = ?2");
                query_one(
                    conn,
                    &sql,
                    params![site.to_string(), id.to_string()],
                    article_row,
                )
            }),
        )
        .await
    }

    async fn list_articles(&self, site: SiteId) -> StoreResult<Vec<Article>> {
        timed(
            "list_articles",
            self.read(move |conn| {
                let sql =
                    format!("SELECT {ARTICLE_COLS} FROM articles WHERE site_id = ?1 ORDER BY id");
                query_all(conn, &sql, [site.to_string()], article_row)
            }),
        )
        .await
    }

    async fn delete_article(&self, site: SiteId, id: ArticleId) -> StoreResult<bool> {
        timed(
            "delete_article",
            self.write_returning(false, move |conn| {
                conn.prepare_cached("DELETE FROM articles WHERE site_id = ?1 AND id = ?2")
                    .and_then(|mut stmt| stmt.execute(params![site.to_string(), id.to_string()]))
                    .map(|n| n > 0)
                    .map_err(map_err)
            }),
        )
        .await
    }
}
