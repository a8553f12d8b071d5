//! Metrics the integration adds next to the bot's own (`crate::bot::metrics`), and the start-up
//! that makes every bot metric show on the first scrape of `/metrics` (hand-offs by reason at
//! zero included), not only after the first bot turn.

use std::sync::LazyLock;

use prometheus::IntCounter;

/// Bot replies refused at append because the bot no longer owned the conversation (an agent
/// took over while the bot was answering). They are dropped, never shown.
pub static BOT_REPLIES_DROPPED: LazyLock<IntCounter> = LazyLock::new(|| {
    let c = IntCounter::new(
        "switchboard_bot_replies_dropped_total",
        "Bot replies dropped at append because a person owned the conversation by then",
    )
    .expect("valid metric");
    crate::metrics::REGISTRY
        .register(Box::new(c.clone()))
        .expect("metric registered once");
    c
});

/// Register every bot metric now.
pub fn init() {
    use crate::bot::metrics as bot;
    LazyLock::force(&bot::BOT_HANDOFFS);
    LazyLock::force(&bot::BOT_REPLIES);
    LazyLock::force(&bot::LLM_FIRST_TOKEN);
    LazyLock::force(&bot::LLM_TOKENS);
    LazyLock::force(&bot::LLM_OUTCOMES);
    LazyLock::force(&bot::LLM_REQUESTS);
    LazyLock::force(&BOT_REPLIES_DROPPED);
}
