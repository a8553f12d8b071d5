//! ScyllaDB: a site's bot configuration (`bot_settings`, the LLM key in its own column) and each
//! conversation's bot state (`conversation_assist`: a plain write, checked against the shard's
//! owner row just before, like visitor rows; docs/cluster.md).

use async_trait::async_trait;
use scylla::statement::prepared::PreparedStatement;

use super::{backend, corrupt, Preparer, ScyllaStore};
use crate::assist::model::{BotConfig, ConversationAssist};
use crate::domain::{ConversationId, SiteId};
use crate::store::{timed, AssistStore, Fence, StoreResult};

pub(super) struct AssistStatements {
    config_get: PreparedStatement,
    config_put: PreparedStatement,
    state_get: PreparedStatement,
    state_put: PreparedStatement,
}

impl AssistStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(AssistStatements {
            config_get: p
                .read("SELECT bot, llm, llm_api_key FROM bot_settings WHERE site_id = ?")
                .await?,
            config_put: p
                .write(
                    "INSERT INTO bot_settings (site_id, bot, llm, llm_api_key) VALUES (?, ?, ?, ?)",
                )
                .await?,
            state_get: p
                .read("SELECT state FROM conversation_assist WHERE conversation_id = ?")
                .await?,
            state_put: p
                .write("INSERT INTO conversation_assist (conversation_id, state) VALUES (?, ?)")
                .await?,
        })
    }
}

#[async_trait]
impl AssistStore for ScyllaStore {
    async fn get_bot_config(&self, site: SiteId) -> StoreResult<Option<BotConfig>> {
        timed("get_bot_config", async {
            let row = self
                .maybe_row::<(String, String, Option<String>)>(
                    &self.st.assist.config_get,
                    (site.0,),
                )
                .await?;
            let Some((bot, llm, key)) = row else {
                return Ok(None);
            };
            let mut config = BotConfig {
                bot: serde_json::from_str(&bot).map_err(corrupt("bot settings"))?,
                llm: serde_json::from_str(&llm).map_err(corrupt("llm settings"))?,
            };
            config.llm.api_key = key;
            Ok(Some(config))
        })
        .await
    }

    async fn put_bot_config(&self, site: SiteId, config: &BotConfig) -> StoreResult<()> {
        timed("put_bot_config", async {
            let bot = serde_json::to_string(&config.bot).map_err(backend("encode"))?;
            let llm = serde_json::to_string(&config.llm).map_err(backend("encode"))?;
            let values = (site.0, bot, llm, &config.llm.api_key);
            self.exec(&self.st.assist.config_put, values)
                .await
                .map(drop)
        })
        .await
    }

    async fn get_conversation_assist(
        &self,
        id: ConversationId,
    ) -> StoreResult<Option<ConversationAssist>> {
        timed("get_conversation_assist", async {
            self.maybe_row::<(String,)>(&self.st.assist.state_get, (id.0,))
                .await?
                .map(|(text,)| serde_json::from_str(&text).map_err(corrupt("assist state")))
                .transpose()
        })
        .await
    }

    async fn put_conversation_assist(
        &self,
        id: ConversationId,
        state: &ConversationAssist,
        fence: Fence,
    ) -> StoreResult<()> {
        timed("put_conversation_assist", async {
            self.check_shard(fence).await?;
            let text = serde_json::to_string(state).map_err(backend("encode"))?;
            self.exec(&self.st.assist.state_put, (id.0, text))
                .await
                .map(drop)
        })
        .await
    }
}
