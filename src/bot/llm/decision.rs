//! The model's structured reply `{action, text, citations}`: parsed leniently (code fences,
//! text around the object, citations as numbers or "[2]" strings, any key order), validated
//! strictly (an answer must cite at least one source that was given, and only those). Also the
//! draft reader that pulls the `text` value out of a reply that is still streaming.

use serde_json::Value;

use super::super::model::ArticleId;
use super::prompt::Source;
use super::{LlmFailure, LlmOutcome};

/// Turns the complete reply into an outcome.
pub fn decide(content: &str, sources: &[Source]) -> LlmOutcome {
    let value = match parse_object(content) {
        Ok(v) => v,
        Err(detail) => {
            return LlmOutcome::Failed {
                failure: LlmFailure::Malformed { detail },
            }
        }
    };
    let action = value
        .get("action")
        .and_then(Value::as_str)
        .map(|a| a.trim().to_ascii_lowercase());
    let text = value
        .get("text")
        .and_then(Value::as_str)
        .map(|t| t.trim().to_string())
        .unwrap_or_default();
    match action.as_deref() {
        Some("handoff") | Some("hand_off") | Some("hand-off") => LlmOutcome::Handoff {
            text: (!text.is_empty()).then_some(text),
        },
        Some("clarify") if !text.is_empty() => LlmOutcome::Clarify { text },
        Some("answer") if !text.is_empty() => match citations(&value, sources) {
            Ok(ids) => LlmOutcome::Answer {
                text,
                citations: ids,
            },
            Err(why) => LlmOutcome::InvalidAnswer { why },
        },
        Some(a @ ("answer" | "clarify")) => LlmOutcome::Failed {
            failure: LlmFailure::Malformed {
                detail: format!("{a} without text"),
            },
        },
        other => LlmOutcome::Failed {
            failure: LlmFailure::Malformed {
                detail: format!("unknown action {other:?}"),
            },
        },
    }
}

/// The JSON object in `content`, tolerating a code fence or prose around it.
fn parse_object(content: &str) -> Result<Value, String> {
    let start = content.find('{').ok_or("no JSON object")?;
    let end = content.rfind('}').ok_or("no JSON object")?;
    if end < start {
        return Err("no JSON object".into());
    }
    let value: Value =
        serde_json::from_str(&content[start..=end]).map_err(|e| format!("invalid JSON: {e}"))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err("not a JSON object".into())
    }
}

/// Source numbers to article ids; an answer citing nothing, or an unknown number, is invalid.
fn citations(value: &Value, sources: &[Source]) -> Result<Vec<ArticleId>, String> {
    let list = match value.get("citations") {
        Some(Value::Array(items)) => items.clone(),
        Some(single @ (Value::Number(_) | Value::String(_))) => vec![single.clone()],
        _ => return Err("an answer without citations".into()),
    };
    if list.is_empty() {
        return Err("an answer without citations".into());
    }
    let mut ids = Vec::new();
    for item in &list {
        let number = match item {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s
                .trim_matches(|c: char| !c.is_ascii_digit())
                .parse::<u64>()
                .ok(),
            _ => None,
        };
        let source = number.and_then(|n| sources.iter().find(|s| s.number as u64 == n));
        match source {
            Some(s) if !ids.contains(&s.article_id) => ids.push(s.article_id),
            Some(_) => {}
            None => return Err(format!("citation {item} names no given source")),
        }
    }
    Ok(ids)
}

/// What a partial reply shows so far: the action once complete, and the `text` decoded up to
/// the last complete character. Re-reads the whole buffer each time: replies are a few KB, and
/// a re-read cannot get out of step with the stream the way an incremental parser could.
pub fn partial(content: &str) -> (Option<String>, Option<String>) {
    (
        string_field(content, "action", false),
        string_field(content, "text", true),
    )
}

/// The string value of `"key"` in a (possibly unfinished) JSON object; `allow_open` accepts a
/// value whose closing quote has not arrived yet.
fn string_field(content: &str, key: &str, allow_open: bool) -> Option<String> {
    let needle = format!("\"{key}\"");
    let mut rest = &content[content.find(&needle)? + needle.len()..];
    rest = rest.trim_start();
    rest = rest.strip_prefix(':')?.trim_start();
    let mut chars = rest.strip_prefix('"')?.chars();
    let mut out = String::new();
    loop {
        match chars.next() {
            None => return allow_open.then_some(out),
            Some('"') => return Some(out),
            Some('\\') => match chars.next() {
                None => return allow_open.then_some(out),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => {}
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    if hex.len() < 4 {
                        return allow_open.then_some(out);
                    }
                    // Surrogate pairs (emoji) come as two escapes; show nothing rather than a
                    // replacement character mid-stream, the final message has it right.
                    if let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        out.push(c);
                    }
                }
                Some(c) => out.push(c),
            },
            Some(c) => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> Vec<Source> {
        (1..=2)
            .map(|n| Source {
                number: n,
                article_id: ArticleId::new(),
                title: format!("T{n}"),
                url: format!("https://help.test/{n}"),
                text: "x".into(),
            })
            .collect()
    }

    #[test]
    fn a_cited_answer_maps_numbers_to_articles() {
        let s = sources();
        let out = decide(
            r#"{"action":"answer","text":"We ship in 2 days.","citations":[2, "[1]", 2]}"#,
            &s,
        );
        assert_eq!(
            out,
            LlmOutcome::Answer {
                text: "We ship in 2 days.".into(),
                citations: vec![s[1].article_id, s[0].article_id],
            }
        );
    }

    #[test]
    fn fences_and_prose_around_the_object_are_tolerated() {
        let out = decide(
            "Sure!\n```json\n{\"action\": \"Clarify\", \"text\": \"Which order?\"}\n```",
            &sources(),
        );
        assert_eq!(
            out,
            LlmOutcome::Clarify {
                text: "Which order?".into()
            }
        );
    }

    #[test]
    fn answers_without_valid_citations_are_invalid() {
        let s = sources();
        for bad in [
            r#"{"action":"answer","text":"t","citations":[]}"#,
            r#"{"action":"answer","text":"t"}"#,
            r#"{"action":"answer","text":"t","citations":[3]}"#,
            r#"{"action":"answer","text":"t","citations":["see above"]}"#,
        ] {
            assert!(
                matches!(decide(bad, &s), LlmOutcome::InvalidAnswer { .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn malformed_replies_fail_with_a_typed_error() {
        for bad in [
            "I think you should contact support",
            "{\"action\": \"answer\", \"text\": ",
            r#"{"action":"dance","text":"t"}"#,
            r#"{"action":"answer","text":""}"#,
            "[1, 2]",
        ] {
            assert!(
                matches!(
                    decide(bad, &sources()),
                    LlmOutcome::Failed {
                        failure: LlmFailure::Malformed { .. }
                    }
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_hand_off_needs_no_citation() {
        assert_eq!(
            decide(
                r#"{"action":"handoff","text":"","citations":[]}"#,
                &sources()
            ),
            LlmOutcome::Handoff { text: None }
        );
    }

    #[test]
    fn partial_text_is_decoded_up_to_the_last_whole_character() {
        assert_eq!(partial(r#"{"act"#), (None, None));
        assert_eq!(
            partial(r#"{"action": "answer", "text": "We ship\n in"#)
                .1
                .as_deref(),
            Some("We ship\n in")
        );
        assert_eq!(
            partial(r#"{"action":"answer","text":"caf\u00e9 \u00"#),
            (Some("answer".into()), Some("café ".into()))
        );
        assert_eq!(
            partial(r#"{"action":"answer","text":"say \"hi\"","cit"#)
                .1
                .as_deref(),
            Some("say \"hi\"")
        );
        assert_eq!(partial(r#"{"action":"ans"#).0, None);
    }
}
