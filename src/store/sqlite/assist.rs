//! SQLite: a site's bot configuration (`bot_settings`, the LLM key in its own column) and each
//! conversation's bot state (`conversation_assist`, fenced like the conversation's own writes).

use async_trait::async_trait;
use rusqlite::params;

use super::codec::*;
use super::SqliteStore;
use crate::assist::model::{BotConfig, ConversationAssist};
use crate::domain::{ConversationId, SiteId};
use crate::store::{timed, AssistStore, Fence, StoreError, StoreResult};

fn decode<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

#[async_trait]
impl AssistStore for SqliteStore {
    async fn get_bot_config(&self, site: SiteId) -> StoreResult<Option<BotConfig>> {
        timed(
            "get_bot_config",
            self.read(move |conn| {
                query_one(
                    conn,
                    "SELECT bot, llm, llm_api_key FROM bot_settings WHERE site_id = ?1",
                    [site.to_string()],
                    |row| {
                        let bot: String = row.get(0).map_err(map_err)?;
                        let llm: String = row.get(1).map_err(map_err)?;
                        let key: Option<String> = row.get(2).map_err(map_err)?;
                        let mut config = BotConfig {
                            bot: decode(&bot, "bot settings")?,
                            llm: decode(&llm, "llm settings")?,
                        };
                        config.llm.api_key = key;
                        Ok(config)
                    },
                )
            }),
        )
        .await
    }

    async fn put_bot_config(&self, site: SiteId, config: &BotConfig) -> StoreResult<()> {
        let bot = to_json(&config.bot)?;
        // `LlmSettings` never serialises its key: it goes in its own column.
        let llm = to_json(&config.llm)?;
        let key = config.llm.api_key.clone();
        timed(
            "put_bot_config",
            self.write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO bot_settings (site_id, bot, llm, llm_api_key) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (site_id) DO UPDATE SET
                         bot = excluded.bot, llm = excluded.llm, llm_api_key = excluded.llm_api_key",
                )
                .and_then(|mut stmt| stmt.execute(params![site.to_string(), bot, llm, key]))
                .map(drop)
                .map_err(map_err)
            }),
        )
        .await
    }

    async fn get_conversation_assist(
        &self,
        id: ConversationId,
    ) -> StoreResult<Option<ConversationAssist>> {
        timed(
            "get_conversation_assist",
            self.read(move |conn| {
                query_one(
                    conn,
                    "SELECT state FROM conversation_assist WHERE conversation_id = ?1",
                    [id.to_string()],
                    |row| decode(&row.get::<_, String>(0).map_err(map_err)?, "assist state"),
                )
            }),
        )
        .await
    }

    async fn put_conversation_assist(
        &self,
        id: ConversationId,
        state: &ConversationAssist,
        fence: Fence,
    ) -> StoreResult<()> {
        let state = to_json(state)?;
        timed(
            "put_conversation_assist",
            self.write_fenced(fence, move |conn| {
                conn.prepare_cached(
                    "INSERT INTO conversation_assist (conversation_id, state) VALUES (?1, ?2)
                     ON CONFLICT (conversation_id) DO UPDATE SET state = excluded.state",
                )
                .and_then(|mut stmt| stmt.execute(params![id.to_string(), state]))
                .map(drop)
                .map_err(map_err)
            }),
        )
        .await
    }
}
