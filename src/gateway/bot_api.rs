//! The bot's REST API (site from the caller's token, like `/site`):
//! - `GET /articles`, `GET /articles/{id}` (agents); `POST /articles`, `PUT` and `DELETE
//!   /articles/{id}` (admins): the help centre the knowledge-base bot answers from;
//! - `GET` and `PUT /bot-settings` (admins): the bot's mode and thresholds and the LLM settings.
//!   The LLM key is write-only: `api_key` absent keeps the stored key, `""` removes it, any
//!   other value replaces it; answers only say whether one is set (`llm_key_set`).
//!
//! A change drops this node's cached copy at once; other nodes see it within seconds.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::attachments_api::assist;
use super::auth::{AdminAuth, AgentAuth};
use crate::actors::HubRef;
use crate::assist::model::BotConfig;
use crate::bot::llm::LlmSettings;
use crate::bot::{Article, ArticleId, BotSettings, Language};
use crate::error::{ApiError, ApiResult};

type Hub = web::Data<HubRef>;
type Json = ApiResult<HttpResponse>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/articles", web::get().to(list_articles))
        .route("/articles", web::post().to(create_article))
        .route("/articles/{id}", web::get().to(get_article))
        .route("/articles/{id}", web::put().to(update_article))
        .route("/articles/{id}", web::delete().to(delete_article))
        .route("/bot-settings", web::get().to(get_settings))
        .route("/bot-settings", web::put().to(put_settings));
}

#[derive(Deserialize, ToSchema)]
pub(super) struct ArticleBody {
    /// 1 to 200 characters.
    title: String,
    /// Plain text, 1 character to 100 KB; blank lines separate paragraphs.
    body: String,
    /// An http(s) address or a path starting with `/`.
    url: String,
    /// `en` or `es` (regional tags such as `es-MX` are accepted); `en` when absent.
    #[serde(default = "default_language")]
    #[schema(example = "en")]
    language: String,
}

fn default_language() -> String {
    "en".into()
}

/// The article the body describes, or why not.
fn article(
    b: ArticleBody,
    id: ArticleId,
    site: crate::domain::SiteId,
    now: i64,
) -> ApiResult<Article> {
    let title = b.title.trim().to_owned();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(ApiError::invalid(
            "an article's title has 1 to 200 characters",
        ));
    }
    if b.body.trim().is_empty() || b.body.len() > 100_000 {
        return Err(ApiError::invalid(
            "an article's body has 1 character to 100 KB",
        ));
    }
    let url = b.url.trim().to_owned();
    let linkable =
        url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/');
    if !linkable || url.len() > 2048 || url.contains(char::is_whitespace) {
        return Err(ApiError::invalid(
            "an article's url is an http(s) address or a path starting with /",
        ));
    }
    let language = Language::parse(&b.language)
        .ok_or_else(|| ApiError::invalid("an article's language is en or es"))?;
    Ok(Article {
        id,
        site_id: site,
        title,
        body: b.body,
        url,
        language,
        updated_at: now,
    })
}

/// The site's help-centre articles.
#[utoipa::path(get, path = "/api/v1/articles", tag = "bots",
    responses((status = 200, body = crate::gateway::openapi::ArticleList)),
    security(("agent_token" = [])))]
pub(super) async fn list_articles(hub: Hub, auth: AgentAuth) -> Json {
    let articles = hub.store.list_articles(auth.0.site).await?;
    Ok(HttpResponse::Ok().json(json!({ "articles": articles })))
}

/// One article.
#[utoipa::path(get, path = "/api/v1/articles/{id}", tag = "bots",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = crate::gateway::openapi::ArticleOne)),
    security(("agent_token" = [])))]
pub(super) async fn get_article(hub: Hub, auth: AgentAuth, id: web::Path<ArticleId>) -> Json {
    let found = hub.store.get_article(auth.0.site, id.into_inner()).await?;
    let article = found.ok_or_else(|| ApiError::not_found("article"))?;
    Ok(HttpResponse::Ok().json(json!({ "article": article })))
}

/// Add an article (admins); the bot answers from it at once on this node.
#[utoipa::path(post, path = "/api/v1/articles", tag = "bots", request_body = ArticleBody,
    responses((status = 201, body = crate::gateway::openapi::ArticleOne)),
    security(("agent_token" = [])))]
pub(super) async fn create_article(
    hub: Hub,
    auth: AdminAuth,
    body: web::Json<ArticleBody>,
) -> Json {
    let site = auth.0.site;
    let article = article(body.into_inner(), ArticleId::new(), site, hub.now())?;
    hub.store.put_article(&article).await?;
    assist(&hub)?.knowledge.articles_changed(site);
    Ok(HttpResponse::Created().json(json!({ "article": article })))
}

/// Replace an article (admins).
#[utoipa::path(put, path = "/api/v1/articles/{id}", tag = "bots",
    params(("id" = String, Path, format = Uuid)), request_body = ArticleBody,
    responses((status = 200, body = crate::gateway::openapi::ArticleOne)),
    security(("agent_token" = [])))]
pub(super) async fn update_article(
    hub: Hub,
    auth: AdminAuth,
    id: web::Path<ArticleId>,
    body: web::Json<ArticleBody>,
) -> Json {
    let (site, id) = (auth.0.site, id.into_inner());
    if hub.store.get_article(site, id).await?.is_none() {
        return Err(ApiError::not_found("article"));
    }
    let article = article(body.into_inner(), id, site, hub.now())?;
    hub.store.put_article(&article).await?;
    assist(&hub)?.knowledge.articles_changed(site);
    Ok(HttpResponse::Ok().json(json!({ "article": article })))
}

/// Delete an article (admins).
#[utoipa::path(delete, path = "/api/v1/articles/{id}", tag = "bots",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204, description = "Deleted")),
    security(("agent_token" = [])))]
pub(super) async fn delete_article(hub: Hub, auth: AdminAuth, id: web::Path<ArticleId>) -> Json {
    let site = auth.0.site;
    if !hub.store.delete_article(site, id.into_inner()).await? {
        return Err(ApiError::not_found("article"));
    }
    assist(&hub)?.knowledge.articles_changed(site);
    Ok(HttpResponse::NoContent().finish())
}

/// The settings as the API shows them: never the key, only whether there is one.
fn shown(config: &BotConfig) -> serde_json::Value {
    json!({
        "bot": config.bot,
        "llm": config.llm,
        "llm_key_set": config.llm.api_key.as_deref().is_some_and(|k| !k.is_empty()),
    })
}

/// The bot's and the LLM's settings (admins); the LLM key only as `llm_key_set`.
#[utoipa::path(get, path = "/api/v1/bot-settings", tag = "bots",
    responses((status = 200, body = crate::gateway::openapi::BotSettingsShown)),
    security(("agent_token" = [])))]
pub(super) async fn get_settings(hub: Hub, auth: AdminAuth) -> Json {
    let config = hub
        .store
        .get_bot_config(auth.0.site)
        .await?
        .unwrap_or_default();
    Ok(HttpResponse::Ok().json(shown(&config)))
}

#[derive(Deserialize, ToSchema)]
pub(super) struct SettingsBody {
    #[serde(default)]
    bot: BotSettings,
    #[serde(default)]
    #[schema(value_type = crate::gateway::openapi::LlmSettingsInput)]
    llm: LlmSettings,
}

fn validate(bot: &BotSettings, llm: &LlmSettings) -> ApiResult<()> {
    let bad = |what: &str| Err(ApiError::invalid(what.to_owned()));
    if !(0.0..=1.0).contains(&bot.min_score) || !(0.0..=5.0).contains(&bot.min_margin) {
        return bad("min_score is 0 to 1 and min_margin 0 to 5");
    }
    if bot.max_dont_know == 0 || bot.max_bot_turns == 0 || bot.context_turns > 10 {
        return bad("max_dont_know and max_bot_turns are at least 1, context_turns at most 10");
    }
    if !(80..=2000).contains(&bot.excerpt_chars) {
        return bad("excerpt_chars is 80 to 2000");
    }
    let url = llm.base_url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return bad("llm.base_url is an http(s) address ending in /v1");
    }
    if llm.enabled && llm.model.trim().is_empty() {
        return bad("name the model (llm.model) to enable the LLM");
    }
    let timeouts = [llm.first_token_timeout_ms, llm.total_timeout_ms];
    if timeouts.iter().any(|t| !(100..=600_000).contains(t)) {
        return bad("llm timeouts are 100 ms to 10 minutes");
    }
    if !(1..=16_384).contains(&llm.max_output_tokens) || !(0.0..=2.0).contains(&llm.temperature) {
        return bad("llm.max_output_tokens is 1 to 16384 and llm.temperature 0 to 2");
    }
    Ok(())
}

/// Replace the bot's and the LLM's settings (admins).
#[utoipa::path(put, path = "/api/v1/bot-settings", tag = "bots", request_body = SettingsBody,
    responses((status = 200, body = crate::gateway::openapi::BotSettingsShown)),
    security(("agent_token" = [])))]
pub(super) async fn put_settings(hub: Hub, auth: AdminAuth, body: web::Json<SettingsBody>) -> Json {
    let site = auth.0.site;
    let SettingsBody { bot, mut llm } = body.into_inner();
    validate(&bot, &llm)?;
    let stored = hub.store.get_bot_config(site).await?.unwrap_or_default();
    llm.api_key = match llm.api_key.take() {
        None => stored.llm.api_key,
        Some(key) if key.trim().is_empty() => None,
        Some(key) => Some(key.trim().to_owned()),
    };
    let config = BotConfig { bot, llm };
    hub.store.put_bot_config(site, &config).await?;
    assist(&hub)?.knowledge.config_changed(site);
    Ok(HttpResponse::Ok().json(shown(&config)))
}
