//! SQLite: conversation search. Message text through the contentless FTS5 index, which the
//! writer fills in batches and a search first catches up (search_index.rs), visitor name and email with
//! `LIKE` over the site's visitors, tags with `json_each` over the row's JSON array; one query,
//! most recent activity first.

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter};

use super::codec::*;
use super::conversations::{conversation_row, CONVERSATION_COLS};
use super::search_index;
use super::SqliteStore;
use crate::domain::{Conversation, SiteId};
use crate::store::{timed, ConversationQuery, SearchStore, StoreResult};

/// An FTS5 query where every word must appear as a prefix: `"word"*` each, quotes doubled, so
/// nothing a person types is read as FTS5 syntax.
fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split_whitespace()
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// A `LIKE` pattern matching `text` anywhere, with `%`, `_` and `\` taken literally.
fn like_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

#[async_trait]
impl SearchStore for SqliteStore {
    async fn search_conversations(
        &self,
        site: SiteId,
        query: &ConversationQuery,
    ) -> StoreResult<Vec<Conversation>> {
        let text = query
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        // Only the parts asked for are in the statement: an FTS5 MATCH is never run on nothing.
        let mut sql =
            format!("SELECT {CONVERSATION_COLS} FROM conversations c WHERE c.site_id = ?1");
        let mut values: Vec<Value> = vec![Value::Text(site.to_string())];
        if let Some(status) = query.status {
            values.push(Value::Text(status.as_str().to_owned()));
            sql += &format!(" AND c.status = ?{}", values.len());
        }
        if let Some(tag) = &query.tag {
            values.push(Value::Text(tag.clone()));
            sql += &format!(
                " AND EXISTS (SELECT 1 FROM json_each(c.tags) t WHERE t.value = ?{})",
                values.len()
            );
        }
        if let Some(text) = text {
            values.push(Value::Text(like_pattern(text)));
            let like = values.len();
            sql += &format!(
                " AND (c.visitor_id IN (SELECT v.id FROM visitors v WHERE v.site_id = ?1 \
                   AND (v.name LIKE ?{like} ESCAPE '\\' OR v.email LIKE ?{like} ESCAPE '\\'))"
            );
            match fts_query(text) {
                Some(fts) => {
                    values.push(Value::Text(fts));
                    sql += &format!(
                        " OR c.id IN (SELECT k.conversation_id FROM messages_fts f \
                           JOIN message_search_keys k ON k.id = f.rowid \
                           WHERE messages_fts MATCH ?{}))",
                        values.len()
                    );
                }
                None => sql += ")",
            }
        }
        values.push(Value::Integer(limit(query.limit)));
        sql += &format!(
            " ORDER BY c.last_activity_at DESC, c.id DESC LIMIT ?{}",
            values.len()
        );
        if text.is_some() {
            // Messages written before this search are in the index when it runs.
            timed(
                "search_index_catch_up",
                self.write(|conn| search_index::catch_up(conn).map_err(map_err)),
            )
            .await?;
        }
        timed(
            "search_conversations",
            self.read(move |conn| {
                query_all(
                    conn,
                    &sql,
                    params_from_iter(values.iter()),
                    conversation_row,
                )
            }),
        )
        .await
    }

    async fn remember_tags(&self, site: SiteId, tags: &[String]) -> StoreResult<()> {
        if tags.is_empty() {
            return Ok(());
        }
        let tags = tags.to_vec();
        timed(
            "remember_tags",
            self.write(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "INSERT INTO site_tags (site_id, tag) VALUES (?1, ?2)
                         ON CONFLICT DO NOTHING",
                    )
                    .map_err(map_err)?;
                for tag in &tags {
                    stmt.execute(params![site.to_string(), tag])
                        .map_err(map_err)?;
                }
                Ok(())
            }),
        )
        .await
    }

    async fn site_tags(&self, site: SiteId) -> StoreResult<Vec<String>> {
        timed(
            "site_tags",
            self.read(move |conn| {
                query_all(
                    conn,
                    "SELECT tag FROM site_tags WHERE site_id = ?1 ORDER BY tag",
                    [site.to_string()],
                    |row| row.get(0).map_err(map_err),
                )
            }),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_text_is_never_fts_syntax() {
        assert_eq!(fts_query("  "), None);
        assert_eq!(fts_query("late order").unwrap(), "\"late\"* \"order\"*");
        assert_eq!(fts_query("a\"b OR").unwrap(), "\"a\"\"b\"* \"OR\"*");
        assert_eq!(like_pattern("50%_\\"), "%50\\%\\_\\\\%");
    }
}
