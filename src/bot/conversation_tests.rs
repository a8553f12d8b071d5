//! Unit tests of a bot turn's rules (`conversation.rs`), on a three-article help centre.

use super::*;
use crate::bot::llm::LlmFailure;
use crate::bot::model::{Article, BotMode};
use crate::domain::SiteId;

fn kb() -> KnowledgeBase {
    let site = SiteId::new();
    let art = |title: &str, body: &str, lang| Article {
        id: ArticleId::new(),
        site_id: site,
        title: title.into(),
        body: body.into(),
        url: format!("/help/{}", title.to_lowercase().replace(' ', "-")),
        language: lang,
        updated_at: 0,
    };
    KnowledgeBase::build([
        art(
            "Shipping times",
            "We ship every Wednesday. Delivery takes two days.",
            Language::En,
        ),
        art(
            "Shipping costs",
            "Shipping costs 4 euros per order.",
            Language::En,
        ),
        art(
            "Refunds",
            "Unopened equipment can be returned within 30 days for a refund.",
            Language::En,
        ),
        art(
            "Envíos",
            "Enviamos cada miércoles. El envío tarda dos días.",
            Language::Es,
        ),
    ])
}

const ONLINE: Availability = Availability {
    agents_online: true,
    inside_hours: true,
};
const NOBODY: Availability = Availability {
    agents_online: false,
    inside_hours: true,
};

fn settings() -> BotSettings {
    BotSettings {
        mode: BotMode::BotFirst,
        ..BotSettings::default()
    }
}

fn say(bot: &mut BotConversation, kb: &KnowledgeBase, text: &str) -> BotDecision {
    match bot.on_visitor_message(text, kb, &settings(), ONLINE, false) {
        BotStep::Decided(d) => d,
        BotStep::AskLlm(_) => panic!("no LLM configured"),
    }
}

fn reason(d: &BotDecision) -> Option<HandoffReason> {
    match d {
        BotDecision::Handoff { reason, .. } => Some(*reason),
        _ => None,
    }
}

#[test]
fn a_confident_question_gets_an_excerpt_a_link_and_did_this_help() {
    let kb = kb();
    let mut bot = BotConversation::default();
    let BotDecision::Answer { reply } = say(&mut bot, &kb, "Do you ship on Wednesday?") else {
        panic!("expected an answer");
    };
    assert!(reply.text.contains("We ship every Wednesday."));
    assert!(reply.text.contains("/help/shipping-times"));
    assert_eq!(reply.citations[0].title, "Shipping times");
    assert_eq!(
        reply.actions,
        [
            QuickAction::Helpful,
            QuickAction::NotHelpful,
            QuickAction::TalkToHuman
        ]
    );
    assert!(bot.awaiting_feedback.is_some());
}

#[test]
fn asking_for_a_human_hands_off_at_once_with_reason_asked() {
    let kb = kb();
    let mut bot = BotConversation::default();
    let d = say(&mut bot, &kb, "I want to talk to a human");
    assert_eq!(reason(&d), Some(HandoffReason::Asked));
    let d = bot.on_action(QuickAction::TalkToHuman, &settings(), ONLINE);
    assert_eq!(reason(&d), Some(HandoffReason::Asked));
}

#[test]
fn the_hand_off_notice_offers_leave_a_message_when_nobody_is_available() {
    let kb = kb();
    let mut bot = BotConversation::default();
    let step = bot.on_visitor_message("agent please", &kb, &settings(), NOBODY, false);
    let BotStep::Decided(BotDecision::Handoff { notice, .. }) = step else {
        panic!("expected a hand-off");
    };
    assert_eq!(notice.actions, [QuickAction::LeaveMessage]);
    assert!(notice.text.contains("Leave your message"));
}

#[test]
fn a_question_the_help_centre_cannot_answer_hands_off_for_low_confidence() {
    let kb = kb();
    let mut bot = BotConversation::default();
    let d = say(&mut bot, &kb, "Do you sell bitcoin mining rigs?");
    assert_eq!(reason(&d), Some(HandoffReason::LowConfidence));
}

#[test]
fn a_greeting_invites_a_question_without_counting_as_dont_know() {
    let kb = kb();
    let mut bot = BotConversation::default();
    assert!(matches!(
        say(&mut bot, &kb, "hi!"),
        BotDecision::Note { .. }
    ));
    assert_eq!((bot.dont_know_streak, bot.bot_turns), (0, 0));
}

#[test]
fn two_dont_knows_in_a_row_hand_off_as_repeated_dont_know() {
    let kb = kb();
    let mut bot = BotConversation::default();
    let d = say(&mut bot, &kb, "shipping?");
    let BotDecision::Clarify { reply } = d else {
        panic!("two shipping articles fit: {d:?}");
    };
    assert_eq!(
        reply.citations.len(),
        2,
        "the candidates are offered as links"
    );
    let d = say(&mut bot, &kb, "shipping?");
    assert_eq!(reason(&d), Some(HandoffReason::RepeatedDontKnow), "{d:?}");
}

#[test]
fn an_answer_between_two_dont_knows_resets_the_streak() {
    let kb = kb();
    let mut bot = BotConversation::default();
    let answer = |d: &BotDecision| matches!(d, BotDecision::Answer { .. });
    let clarify = |d: &BotDecision| matches!(d, BotDecision::Clarify { .. });
    assert!(answer(&say(&mut bot, &kb, "Do you ship on Wednesday?")));
    assert!(clarify(&say(&mut bot, &kb, "no")), "first don't-know");
    assert_eq!(bot.dont_know_streak, 1);
    assert!(answer(&say(&mut bot, &kb, "Can I get a refund?")));
    let d = bot.on_action(QuickAction::NotHelpful, &settings(), ONLINE);
    assert!(clarify(&d), "{d:?}");
    let d = bot.on_action(QuickAction::NotHelpful, &settings(), ONLINE);
    assert_eq!(reason(&d), Some(HandoffReason::RepeatedDontKnow));
}

#[test]
fn a_yes_after_an_answer_is_thanks_not_a_new_question() {
    let kb = kb();
    let mut bot = BotConversation::default();
    say(&mut bot, &kb, "Do you ship on Wednesday?");
    let d = say(&mut bot, &kb, "yes thanks!");
    let BotDecision::Note { reply } = d else {
        panic!("expected the glad reply");
    };
    assert!(reply.text.contains("Glad"));
    assert_eq!(bot.dont_know_streak, 0);
}

#[test]
fn the_bot_hands_off_after_too_many_turns() {
    let kb = kb();
    let mut bot = BotConversation::default();
    let s = BotSettings {
        max_bot_turns: 2,
        ..settings()
    };
    for _ in 0..2 {
        let step = bot.on_visitor_message("Do you ship on Wednesday?", &kb, &s, ONLINE, false);
        assert!(matches!(step, BotStep::Decided(BotDecision::Answer { .. })));
    }
    let step = bot.on_visitor_message("Do you ship on Wednesday?", &kb, &s, ONLINE, false);
    let BotStep::Decided(d) = step else { panic!() };
    assert_eq!(reason(&d), Some(HandoffReason::TooManyTurns));
}

#[test]
fn a_reopen_starts_the_context_and_counters_again() {
    let kb = kb();
    let mut bot = BotConversation::default();
    say(&mut bot, &kb, "Do you ship on Wednesday?");
    say(&mut bot, &kb, "no");
    bot.on_reopen();
    assert_eq!(bot, BotConversation::default());
}

#[test]
fn a_spanish_question_is_answered_from_the_spanish_article_in_spanish() {
    let kb = kb();
    let mut bot = BotConversation::default();
    let BotDecision::Answer { reply } = say(&mut bot, &kb, "¿Cuánto tarda el envío?") else {
        panic!("expected an answer");
    };
    assert_eq!(reply.citations[0].title, "Envíos");
    assert!(reply.text.contains("¿Te ha servido?"));
}

fn llm_turn(bot: &mut BotConversation, kb: &KnowledgeBase, text: &str) -> LlmTurn {
    match bot.on_visitor_message(text, kb, &settings(), ONLINE, true) {
        BotStep::AskLlm(turn) => turn,
        other => panic!("expected an LLM turn, got {other:?}"),
    }
}

#[test]
fn a_cited_llm_answer_is_sent_with_its_citations() {
    let kb = kb();
    let mut bot = BotConversation::default();
    let turn = llm_turn(&mut bot, &kb, "Do you ship on Wednesday?");
    let id = turn.hits[0].article_id;
    let outcome = LlmOutcome::Answer {
        text: "Every Wednesday.".into(),
        citations: vec![id],
    };
    let d = bot.finish_llm(outcome, turn, &kb, &settings(), ONLINE);
    let BotDecision::Answer { reply } = d else {
        panic!()
    };
    assert_eq!(reply.text, "Every Wednesday.");
    assert_eq!(reply.citations[0].article_id, id);
}

#[test]
fn an_llm_answer_with_bad_citations_falls_back_to_the_knowledge_base_answer() {
    let kb = kb();
    let mut bot = BotConversation::default();
    let turn = llm_turn(&mut bot, &kb, "Do you ship on Wednesday?");
    let outcome = LlmOutcome::InvalidAnswer { why: "x".into() };
    let d = bot.finish_llm(outcome, turn, &kb, &settings(), ONLINE);
    let BotDecision::Answer { reply } = d else {
        panic!("{d:?}")
    };
    assert!(reply.text.contains("We ship every Wednesday."));
}

#[test]
fn an_llm_answer_with_bad_citations_and_no_knowledge_base_answer_hands_off() {
    let kb = kb();
    let mut bot = BotConversation::default();
    let turn = llm_turn(&mut bot, &kb, "days");
    assert!(!matches!(turn.fallback, BotDecision::Answer { .. }));
    let d = bot.finish_llm(
        LlmOutcome::Answer {
            text: "t".into(),
            citations: vec![ArticleId::new()],
        },
        turn,
        &kb,
        &settings(),
        ONLINE,
    );
    assert_eq!(reason(&d), Some(HandoffReason::LlmError));
}

#[test]
fn llm_failures_and_llm_hand_offs_have_their_own_reasons() {
    let kb = kb();
    let mut bot = BotConversation::default();
    let turn = llm_turn(&mut bot, &kb, "Do you ship on Wednesday?");
    let failed = LlmOutcome::Failed {
        failure: LlmFailure::FirstTokenTimeout,
    };
    let d = bot.finish_llm(failed, turn.clone(), &kb, &settings(), ONLINE);
    assert_eq!(reason(&d), Some(HandoffReason::LlmError));
    let d = bot.finish_llm(
        LlmOutcome::Handoff { text: None },
        turn,
        &kb,
        &settings(),
        ONLINE,
    );
    assert_eq!(reason(&d), Some(HandoffReason::LlmHandoff));
}
