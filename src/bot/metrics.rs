//! The bot's Prometheus metrics, registered in the process-wide registry of `crate::metrics`
//! (so `/metrics` shows them) but declared here, next to the code that moves them.

use std::sync::LazyLock;

use prometheus::{exponential_buckets, Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts};

use super::llm::LlmOutcome;
use super::model::{BotDecision, HandoffReason};

fn register<C: prometheus::core::Collector + Clone + 'static>(c: C) -> C {
    crate::metrics::REGISTRY
        .register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

/// Every hand-off, by reason. Count it where `Ownership::hand_off` returned a record, so a hand-off
/// is counted once however many paths lead to it.
pub static BOT_HANDOFFS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let c = register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_bot_handoffs_total",
                "Conversations the bot handed to a person, by reason",
            ),
            &["reason"],
        )
        .expect("valid metric"),
    );
    // Every reason shows from the start (a zero is information on a dashboard).
    for r in HandoffReason::ALL {
        c.with_label_values(&[r.as_str()]);
    }
    c
});

/// Bot replies by kind: answer, clarify, note.
pub static BOT_REPLIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new("switchboard_bot_replies_total", "Bot replies, by kind"),
            &["kind"],
        )
        .expect("valid metric"),
    )
});

pub static LLM_FIRST_TOKEN: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "switchboard_llm_time_to_first_token_seconds",
                "From sending an LLM request to its first content token",
            )
            // 50 ms .. ~100 s: local models on CPU are slow.
            .buckets(exponential_buckets(0.05, 2.0, 12).expect("valid buckets")),
        )
        .expect("valid metric"),
    )
});

pub static LLM_TOKENS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_llm_tokens_total",
                "LLM tokens, by kind (prompt, completion); estimated when the server sends no usage",
            ),
            &["kind"],
        )
        .expect("valid metric"),
    )
});

pub static LLM_OUTCOMES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_llm_outcomes_total",
                "LLM turns by outcome (answer, clarify, handoff, invalid_citations, or the failure)",
            ),
            &["outcome"],
        )
        .expect("valid metric"),
    )
});

pub static LLM_REQUESTS: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "switchboard_llm_requests_total",
            "LLM requests sent (turns refused by the breaker or budget are not sent)",
        )
        .expect("valid metric"),
    )
});

pub fn count_handoff(reason: HandoffReason) {
    BOT_HANDOFFS.with_label_values(&[reason.as_str()]).inc();
}

/// Counts an answer or clarification the bot sent (hand-offs are counted by `count_handoff`).
pub fn count_reply(decision: &BotDecision) {
    let kind = match decision {
        BotDecision::Answer { .. } => "answer",
        BotDecision::Clarify { .. } => "clarify",
        BotDecision::Note { .. } => "note",
        BotDecision::Handoff { .. } => return,
    };
    BOT_REPLIES.with_label_values(&[kind]).inc();
}

pub fn count_outcome(outcome: &LlmOutcome) {
    LLM_OUTCOMES.with_label_values(&[outcome.label()]).inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hand_off_reason_is_exported_from_the_start_and_counts() {
        let text = |r: HandoffReason| BOT_HANDOFFS.with_label_values(&[r.as_str()]).get();
        let before = text(HandoffReason::TooManyTurns);
        count_handoff(HandoffReason::TooManyTurns);
        assert_eq!(text(HandoffReason::TooManyTurns), before + 1);
        let families = crate::metrics::REGISTRY.gather();
        let handoffs = families
            .iter()
            .find(|f| f.name() == "switchboard_bot_handoffs_total")
            .expect("registered");
        assert_eq!(handoffs.get_metric().len(), HandoffReason::ALL.len());
    }
}
