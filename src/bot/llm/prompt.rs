//! Exactly what is sent to the model (docs/bots.md quotes this file): a system message with the
//! rules and the JSON shape, and one user message with the numbered sources, the visitor's
//! earlier turns and the question. Nothing else about the visitor or the site is sent: no
//! name, email, page, agent notes or other conversations.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::super::index::{Hit, KnowledgeBase};
use super::super::model::{ArticleId, Language};
use super::LlmSettings;

/// One retrieved chunk as the model sees it: `[number] title (url)` then the text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// 1-based, the number the model cites.
    pub number: u32,
    pub article_id: ArticleId,
    pub title: String,
    pub url: String,
    pub text: String,
}

impl Source {
    /// The hits' chunks, numbered from 1 in rank order.
    pub fn from_hits(kb: &KnowledgeBase, hits: &[Hit]) -> Vec<Source> {
        hits.iter()
            .filter_map(|h| {
                let chunk = kb.chunk(h.chunk)?;
                let article = kb.article(h.article_id)?;
                Some((chunk, article))
            })
            .enumerate()
            .map(|(i, (chunk, article))| Source {
                number: i as u32 + 1,
                article_id: article.id,
                title: article.title.clone(),
                url: article.url.clone(),
                text: chunk.text.clone(),
            })
            .collect()
    }
}

/// One LLM turn's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmRequest {
    pub site_name: String,
    pub language: Language,
    pub sources: Vec<Source>,
    /// The visitor's earlier messages since the last reopen, oldest first.
    pub history: Vec<String>,
    pub question: String,
}

const SYSTEM: &str = "You are the support assistant of {site}. Answer the visitor using ONLY the numbered sources in the user message. \
Never invent steps, prices, policies, links or facts that the sources do not state. \
If the sources do not answer the question, choose \"handoff\" and a person will take over. \
If the question is unclear, choose \"clarify\" and ask one short question. \
Reply in {language}. \
Respond with one JSON object and nothing else, keys in this order: \
{\"action\": \"answer\" | \"clarify\" | \"handoff\", \"text\": \"your message to the visitor, at most 120 words\", \"citations\": [numbers of the sources you used]}. \
An \"answer\" must cite at least one source.";

fn language_name(lang: Language) -> &'static str {
    match lang {
        Language::En => "English",
        Language::Es => "Spanish",
    }
}

/// The system and user messages, in order.
pub fn messages(req: &LlmRequest, redact: bool) -> Vec<(&'static str, String)> {
    let system = SYSTEM
        .replace("{site}", &req.site_name)
        .replace("{language}", language_name(req.language));
    let clean = |s: &str| {
        if redact {
            redact_personal(s)
        } else {
            s.to_string()
        }
    };
    let mut user = String::from("Sources:\n");
    for s in &req.sources {
        user.push_str(&format!(
            "\n[{}] {} ({})\n{}\n",
            s.number, s.title, s.url, s.text
        ));
    }
    if !req.history.is_empty() {
        user.push_str("\nThe visitor's earlier messages:\n");
        for h in &req.history {
            user.push_str(&format!("- {}\n", clean(h)));
        }
    }
    user.push_str(&format!(
        "\nThe visitor's question: {}\n",
        clean(&req.question)
    ));
    vec![("system", system), ("user", user)]
}

/// The `/chat/completions` request body.
pub fn request_body(req: &LlmRequest, settings: &LlmSettings) -> Value {
    let messages: Vec<Value> = messages(req, settings.redact_personal_data)
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    let mut body = json!({
        "model": settings.model,
        "messages": messages,
        "stream": true,
        // Servers that know it send a last chunk with token usage; others ignore it and we
        // estimate (see client.rs).
        "stream_options": {"include_usage": true},
        "max_tokens": settings.max_output_tokens,
        "temperature": settings.temperature,
    });
    if settings.json_mode {
        body["response_format"] = json!({"type": "json_object"});
    }
    body
}

/// A rough prompt size in tokens (4 characters a token) for the budget check before the call.
pub fn estimate_tokens(body: &Value) -> u64 {
    (body.to_string().chars().count() as u64).div_ceil(4)
}

/// Emails become `[email]`, runs of 7+ digits (phones, cards, order numbers kept short) become
/// `[number]`. Word by word, so it never mangles surrounding text.
pub fn redact_personal(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut digits_run: Vec<String> = Vec::new();
    let flush = |run: &mut Vec<String>, out: &mut Vec<String>| {
        let count: usize = run
            .iter()
            .map(|w| w.chars().filter(char::is_ascii_digit).count())
            .sum();
        if count >= 7 {
            out.push("[number]".into());
        } else {
            out.append(run);
        }
        run.clear();
    };
    for word in text.split_whitespace() {
        let is_digitish = word.chars().any(|c| c.is_ascii_digit())
            && word
                .chars()
                .all(|c| c.is_ascii_digit() || "+-().,".contains(c));
        if is_digitish {
            digits_run.push(word.to_string());
            continue;
        }
        flush(&mut digits_run, &mut out);
        let at = word.find('@');
        if at.is_some_and(|i| i > 0 && word[i..].contains('.')) {
            out.push("[email]".into());
        } else {
            out.push(word.to_string());
        }
    }
    flush(&mut digits_run, &mut out);
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> LlmRequest {
        LlmRequest {
            site_name: "Bean There".into(),
            language: Language::Es,
            sources: vec![Source {
                number: 1,
                article_id: ArticleId::new(),
                title: "Envíos".into(),
                url: "https://help.test/envios".into(),
                text: "Enviamos en 48 horas.".into(),
            }],
            history: vec!["hola, soy ana@example.com".into()],
            question: "¿cuándo llega? mi teléfono es +34 600 123 456".into(),
        }
    }

    #[test]
    fn the_prompt_numbers_sources_and_names_the_language() {
        let m = messages(&req(), true);
        assert_eq!(m[0].0, "system");
        assert!(m[0].1.contains("Bean There") && m[0].1.contains("Spanish"));
        assert!(m[1]
            .1
            .contains("[1] Envíos (https://help.test/envios)\nEnviamos en 48 horas."));
        assert!(m[1].1.contains("The visitor's question: ¿cuándo llega?"));
    }

    #[test]
    fn personal_data_is_redacted_before_it_leaves() {
        let m = messages(&req(), true);
        assert!(!m[1].1.contains("ana@example.com"));
        assert!(!m[1].1.contains("600"));
        assert!(m[1].1.contains("[email]") && m[1].1.contains("[number]"));
        assert!(messages(&req(), false)[1].1.contains("ana@example.com"));
    }

    #[test]
    fn sources_are_numbered_from_one_in_rank_order_with_their_chunk() {
        use crate::bot::index::WeightedText;
        use crate::bot::model::Article;
        use crate::domain::SiteId;
        let site = SiteId::new();
        let art = |title: &str, body: &str| Article {
            id: ArticleId::new(),
            site_id: site,
            title: title.into(),
            body: body.into(),
            url: format!("/help/{title}"),
            language: Language::En,
            updated_at: 0,
        };
        let kb = KnowledgeBase::build([
            art("decaf", "Our decaf uses the Swiss Water process."),
            art(
                "shipping",
                "We ship decaf and regular coffee on Wednesdays.",
            ),
        ]);
        let q = [WeightedText {
            text: "decaf process".into(),
            weight: 1.0,
        }];
        let hits = kb.search(&q, Some(Language::En));
        let sources = Source::from_hits(&kb, &hits);
        assert_eq!(sources.iter().map(|s| s.number).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(sources[0].title, "decaf");
        assert_eq!(sources[0].article_id, hits[0].article_id);
        assert_eq!(sources[0].text, "Our decaf uses the Swiss Water process.");
    }

    #[test]
    fn short_numbers_are_kept() {
        assert_eq!(
            redact_personal("order 1234 costs 3.50"),
            "order 1234 costs 3.50"
        );
    }

    #[test]
    fn the_body_streams_and_asks_for_json_when_enabled() {
        let mut s = LlmSettings {
            model: "m".into(),
            ..LlmSettings::default()
        };
        let b = request_body(&req(), &s);
        assert_eq!(b["stream"], true);
        assert_eq!(b["response_format"]["type"], "json_object");
        s.json_mode = false;
        assert!(request_body(&req(), &s).get("response_format").is_none());
    }
}
