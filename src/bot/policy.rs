//! The knowledge-base bot's answer policy: when a ranking is good enough to answer from, and
//! what the answer, the clarifying question and the hand-off notice say.
//!
//! The rule (thresholds in `BotSettings`, chosen by `tests/bot_eval.rs`, docs/bots.md):
//! answer only when the best article's normalised score clears `min_score` AND its score beats
//! the runner-up article's by `min_margin`. Clears the bar without the margin: ambiguous (ask
//! for more, show the candidates). Below the bar: nothing matched (hand off / leave a message).

use std::collections::HashSet;

use super::chunk::sentences;
use super::index::{Hit, KnowledgeBase, WeightedText};
use super::model::{BotReply, BotSettings, Citation, HandoffReason, Language, QuickAction};
use super::phrases::phrases;
use super::text::Analyzer;

/// How a ranking is judged.
#[derive(Debug, Clone, PartialEq)]
pub enum Retrieval {
    /// Answer from this hit.
    Confident(Hit),
    /// Several articles clear the bar and none by the margin (best first, at most three).
    Ambiguous(Vec<Hit>),
    /// Nothing clears the bar.
    NoMatch,
}

pub fn judge(hits: &[Hit], settings: &BotSettings) -> Retrieval {
    let Some(best) = hits.first() else {
        return Retrieval::NoMatch;
    };
    if best.normalized < settings.min_score {
        return Retrieval::NoMatch;
    }
    match hits.get(1) {
        Some(second) if best.score < second.score * (1.0 + settings.min_margin) => {
            Retrieval::Ambiguous(
                hits.iter()
                    .take(3)
                    .filter(|h| h.normalized >= settings.min_score)
                    .cloned()
                    .collect(),
            )
        }
        _ => Retrieval::Confident(best.clone()),
    }
}

/// The part of the hit's chunk that best matches the question: the sentence with most query
/// terms, then the sentences after it while they fit in `max_chars` (cut at a word if the first
/// sentence alone is longer).
pub fn excerpt(kb: &KnowledgeBase, hit: &Hit, query: &[WeightedText], max_chars: usize) -> String {
    let Some(chunk) = kb.chunk(hit.chunk) else {
        return String::new();
    };
    let analyzer = Analyzer::new(chunk.language);
    let wanted: HashSet<String> = query.iter().flat_map(|q| analyzer.terms(&q.text)).collect();
    let sents: Vec<&str> = chunk.text.split("\n\n").flat_map(sentences).collect();
    if sents.is_empty() {
        return String::new();
    }
    let overlap = |s: &str| {
        analyzer
            .terms(s)
            .into_iter()
            .collect::<HashSet<_>>()
            .intersection(&wanted)
            .count()
    };
    // First sentence with the most overlap (max_by_key keeps the last; we want the first).
    let mut start = 0;
    let mut best = 0;
    for (i, s) in sents.iter().enumerate() {
        let o = overlap(s);
        if o > best {
            best = o;
            start = i;
        }
    }
    let mut out = String::new();
    for s in &sents[start..] {
        let extra = if out.is_empty() { 0 } else { 1 };
        if out.chars().count() + extra + s.chars().count() > max_chars {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(s);
    }
    if out.is_empty() {
        out = cut_at_word(sents[start], max_chars);
    }
    out
}

fn cut_at_word(s: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for word in s.split_whitespace() {
        if out.chars().count() + word.chars().count() + 2 > max_chars {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.push('…');
    out
}

/// Whether a person could take the conversation now; decides between "a person will answer"
/// and "leave a message".
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Availability {
    pub agents_online: bool,
    pub inside_hours: bool,
}

impl Availability {
    pub fn human_available(self) -> bool {
        self.agents_online && self.inside_hours
    }
}

/// "Talk to a human" when someone could answer, else "Leave a message".
pub fn human_action(avail: Availability) -> QuickAction {
    if avail.human_available() {
        QuickAction::TalkToHuman
    } else {
        QuickAction::LeaveMessage
    }
}

/// Excerpt + link + "Did this help? / talk to a human".
pub fn answer_reply(
    kb: &KnowledgeBase,
    hit: &Hit,
    query: &[WeightedText],
    lang: Language,
    settings: &BotSettings,
    avail: Availability,
) -> Option<BotReply> {
    let citation = kb.citation(hit.article_id)?;
    let p = phrases(lang);
    let text = format!(
        "{}\n\n{}\n\n{}: {} ({})\n\n{}",
        p.answer_intro,
        excerpt(kb, hit, query, settings.excerpt_chars),
        p.read_more,
        citation.title,
        citation.url,
        p.did_this_help
    );
    Some(BotReply {
        text,
        citations: vec![citation],
        actions: vec![
            QuickAction::Helpful,
            QuickAction::NotHelpful,
            human_action(avail),
        ],
    })
}

/// "Could you tell me more?" with the candidate articles as links.
pub fn clarify_reply(
    kb: &KnowledgeBase,
    candidates: &[Hit],
    lang: Language,
    avail: Availability,
) -> BotReply {
    let citations: Vec<Citation> = candidates
        .iter()
        .filter_map(|h| kb.citation(h.article_id))
        .collect();
    let mut text = phrases(lang).several_matches.to_string();
    for c in &citations {
        text.push_str(&format!("\n- {} ({})", c.title, c.url));
    }
    BotReply {
        text,
        citations,
        actions: vec![human_action(avail)],
    }
}

/// A bot line with only the "human" button (greetings, "sorry", "glad it helped").
pub fn short_reply(text: &str, avail: Availability) -> BotReply {
    BotReply {
        text: text.to_string(),
        citations: Vec::new(),
        actions: vec![human_action(avail)],
    }
}

/// The hand-off notice: always appended, whoever owns the conversation next.
pub fn handoff_notice(reason: HandoffReason, lang: Language, avail: Availability) -> BotReply {
    let p = phrases(lang);
    let next = if avail.human_available() {
        p.handoff_to_human
    } else {
        p.handoff_leave_message
    };
    let text = match reason {
        HandoffReason::LowConfidence => format!("{} {}", p.not_found, next),
        _ => next.to_string(),
    };
    BotReply {
        text,
        citations: Vec::new(),
        actions: if avail.human_available() {
            Vec::new()
        } else {
            vec![QuickAction::LeaveMessage]
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::model::{Article, ArticleId};
    use crate::domain::SiteId;

    fn hit(score: f64, normalized: f64) -> Hit {
        Hit {
            article_id: ArticleId::new(),
            chunk: 0,
            score,
            normalized,
        }
    }

    fn settings() -> BotSettings {
        BotSettings {
            min_score: 0.3,
            min_margin: 0.15,
            ..BotSettings::default()
        }
    }

    #[test]
    fn the_best_hit_must_clear_the_score_and_beat_the_runner_up_by_the_margin() {
        let s = settings();
        assert_eq!(judge(&[], &s), Retrieval::NoMatch);
        assert_eq!(judge(&[hit(9.0, 0.29)], &s), Retrieval::NoMatch);
        let alone = hit(9.0, 0.3);
        assert_eq!(
            judge(std::slice::from_ref(&alone), &s),
            Retrieval::Confident(alone)
        );
        let (a, b) = (hit(11.5, 0.9), hit(10.0, 0.9));
        assert_eq!(judge(&[a.clone(), b.clone()], &s), Retrieval::Confident(a));
        let a = hit(11.4, 0.9);
        assert_eq!(
            judge(&[a.clone(), b.clone(), hit(1.0, 0.1)], &s),
            Retrieval::Ambiguous(vec![a, b]),
            "candidates below the score are not offered"
        );
    }

    fn kb_with(body: &str) -> (KnowledgeBase, Hit) {
        let article = Article {
            id: ArticleId::new(),
            site_id: SiteId::new(),
            title: "Refunds".into(),
            body: body.into(),
            url: "/help/refunds".into(),
            language: Language::En,
            updated_at: 0,
        };
        let id = article.id;
        let kb = KnowledgeBase::build([article]);
        (kb, hit_for(id))
    }

    fn hit_for(article_id: ArticleId) -> Hit {
        Hit {
            article_id,
            chunk: 0,
            score: 1.0,
            normalized: 1.0,
        }
    }

    fn q(text: &str) -> Vec<WeightedText> {
        vec![WeightedText {
            text: text.into(),
            weight: 1.0,
        }]
    }

    #[test]
    fn the_excerpt_starts_at_the_sentence_that_matches_the_question() {
        let (kb, h) = kb_with(
            "We love coffee. Opened bags cannot be returned. Refunds take five days. Thanks!",
        );
        assert_eq!(
            excerpt(&kb, &h, &q("how long do refunds take"), 60),
            "Refunds take five days. Thanks!"
        );
        assert_eq!(
            excerpt(&kb, &h, &q("can I return an opened bag"), 31),
            "Opened bags cannot be returned."
        );
    }

    #[test]
    fn a_sentence_longer_than_the_limit_is_cut_at_a_word() {
        let (kb, h) = kb_with("Refunds are paid back to the card you used within five days.");
        let e = excerpt(&kb, &h, &q("refunds"), 25);
        assert_eq!(e, "Refunds are paid back to…");
        assert!(e.chars().count() <= 25);
    }

    #[test]
    fn the_answer_has_the_excerpt_the_link_and_the_follow_up_buttons() {
        let (kb, h) = kb_with("Refunds take five days.");
        let avail = Availability {
            agents_online: false,
            inside_hours: true,
        };
        let r = answer_reply(&kb, &h, &q("refunds"), Language::En, &settings(), avail).unwrap();
        assert!(r.text.contains("Refunds take five days."));
        assert!(r.text.contains("Read more: Refunds (/help/refunds)"));
        assert_eq!(
            r.actions,
            [
                QuickAction::Helpful,
                QuickAction::NotHelpful,
                QuickAction::LeaveMessage
            ],
            "nobody online: leave a message instead of a human"
        );
    }
}
