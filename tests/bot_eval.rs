//! Evaluation of the knowledge-base bot on the demo help centre (src/bot/demo_help_centre.json):
//! fixed question -> expected-article cases, written as a visitor would ask, in English and
//! Spanish, some with an earlier turn as context, and some the help centre cannot answer (the
//! bot must not answer those). Prints top-1 / top-3 retrieval accuracy, the answer precision and
//! the hand-off rate, plus a threshold sweep (how the defaults in `BotSettings` were chosen), and
//! asserts floors set from the measured numbers (docs/bots.md).
//!
//! Run: `cargo test --test bot_eval -- --nocapture`

use switchboard::bot::demo;
use switchboard::bot::{
    Availability, BotConversation, BotDecision, BotSettings, BotStep, KnowledgeBase, Language,
};
use switchboard::domain::SiteId;

/// (earlier visitor turns, question, expected article slug or None = must not answer)
type Case = (&'static [&'static str], &'static str, Option<&'static str>);

const NONE: &[&str] = &[];

const CASES: &[Case] = &[
    // Shipping
    (
        NONE,
        "When do you ship my order?",
        Some("roast-and-ship-days"),
    ),
    (
        NONE,
        "What day do you roast the coffee?",
        Some("roast-and-ship-days"),
    ),
    (
        NONE,
        "If I order on Tuesday when will it be shipped?",
        Some("roast-and-ship-days"),
    ),
    (
        NONE,
        "How many days does delivery take in Spain?",
        Some("roast-and-ship-days"),
    ),
    (NONE, "How much is shipping?", Some("shipping-costs")),
    (
        NONE,
        "Is there free delivery above some amount?",
        Some("shipping-costs"),
    ),
    (
        NONE,
        "What's the minimum order for free shipping to France?",
        Some("shipping-costs"),
    ),
    (
        NONE,
        "Do you ship to the UK?",
        Some("international-shipping"),
    ),
    (
        NONE,
        "Can you send coffee to the United States?",
        Some("international-shipping"),
    ),
    (
        NONE,
        "Will I pay customs duties in Switzerland?",
        Some("international-shipping"),
    ),
    (NONE, "Where is my tracking number?", Some("track-order")),
    (NONE, "How can I track my parcel?", Some("track-order")),
    (NONE, "I never got the shipping email", Some("track-order")),
    (
        NONE,
        "My parcel is lost, tracking hasn't moved in a week",
        Some("late-or-lost-parcel"),
    ),
    (
        NONE,
        "It says delivered but I can't find the package",
        Some("late-or-lost-parcel"),
    ),
    (
        NONE,
        "Can I change the delivery address of my order?",
        Some("change-address"),
    ),
    (
        NONE,
        "I moved, how do I update the address for my subscription deliveries?",
        Some("change-address"),
    ),
    // Orders, returns
    (NONE, "How do I cancel my order?", Some("cancel-order")),
    (
        NONE,
        "Can I still cancel after you roasted it?",
        Some("cancel-order"),
    ),
    (
        NONE,
        "Can I return a bag of coffee I opened?",
        Some("returns-refunds"),
    ),
    (
        NONE,
        "How long does a refund take?",
        Some("returns-refunds"),
    ),
    (
        NONE,
        "I want to return my grinder, it's unopened",
        Some("returns-refunds"),
    ),
    (NONE, "The bag arrived torn", Some("damaged-order")),
    (NONE, "You sent me the wrong coffee", Some("damaged-order")),
    // Subscriptions
    (
        NONE,
        "How does the subscription work?",
        Some("subscription-how"),
    ),
    (
        NONE,
        "When is my card charged for the subscription?",
        Some("subscription-how"),
    ),
    (
        NONE,
        "Can I change the frequency of my subscription to every 2 weeks?",
        Some("subscription-how"),
    ),
    (
        NONE,
        "How do I pause my subscription while I'm on holiday?",
        Some("subscription-pause-skip"),
    ),
    (
        NONE,
        "Can I skip next week's delivery?",
        Some("subscription-pause-skip"),
    ),
    (
        NONE,
        "I want to cancel my subscription",
        Some("subscription-cancel"),
    ),
    (
        NONE,
        "Is there a minimum commitment or cancellation fee?",
        Some("subscription-cancel"),
    ),
    // Coffee
    (NONE, "Do you grind the beans?", Some("grind-options")),
    (
        NONE,
        "What grind should I choose for a moka pot?",
        Some("grind-options"),
    ),
    (
        NONE,
        "What ratio of coffee to water for pour over?",
        Some("brewing-guide"),
    ),
    (
        NONE,
        "How do I make espresso with your beans? Mine runs too fast",
        Some("brewing-guide"),
    ),
    (
        NONE,
        "How long should a French press steep?",
        Some("brewing-guide"),
    ),
    (
        NONE,
        "Should I keep coffee in the fridge?",
        Some("storage-freshness"),
    ),
    (
        NONE,
        "How long do the beans stay fresh after the roast date?",
        Some("storage-freshness"),
    ),
    (
        NONE,
        "Can I freeze coffee beans?",
        Some("storage-freshness"),
    ),
    (NONE, "Do you have decaf?", Some("decaf")),
    (
        NONE,
        "How is your decaffeinated coffee processed, any chemicals?",
        Some("decaf"),
    ),
    (
        NONE,
        "Which coffee is good with milk?",
        Some("roast-levels"),
    ),
    (
        NONE,
        "What's the difference between light and medium roast?",
        Some("roast-levels"),
    ),
    (NONE, "Is your coffee organic?", Some("sourcing")),
    (
        NONE,
        "Where do your beans come from? Is it fair trade?",
        Some("sourcing"),
    ),
    // Money, account
    (NONE, "Can I pay with PayPal?", Some("payment-methods")),
    (NONE, "Do you accept bitcoin?", Some("payment-methods")),
    (NONE, "Do you sell gift cards?", Some("gift-cards")),
    (
        NONE,
        "Can I give a coffee subscription as a present?",
        Some("gift-cards"),
    ),
    (
        NONE,
        "My discount code doesn't work",
        Some("discount-codes"),
    ),
    (NONE, "I forgot my password", Some("account-password")),
    (
        NONE,
        "Please delete my account and personal data",
        Some("account-password"),
    ),
    (
        NONE,
        "I need an invoice with my company VAT number",
        Some("invoices-vat"),
    ),
    // Business, equipment, café
    (
        NONE,
        "Do you supply coffee for offices or cafés?",
        Some("wholesale"),
    ),
    (
        NONE,
        "My electric grinder stopped working, is it under warranty?",
        Some("equipment-warranty"),
    ),
    (
        NONE,
        "What are the opening hours of your café in Madrid?",
        Some("visit-cafe"),
    ),
    (
        NONE,
        "Can I pick up my order at the roastery?",
        Some("visit-cafe"),
    ),
    (NONE, "Can I bring my dog to the café?", Some("visit-cafe")),
    // Spanish
    (NONE, "¿Cuánto cuesta el envío?", Some("es-envios")),
    (NONE, "¿Qué día enviáis los pedidos?", Some("es-envios")),
    (
        NONE,
        "¿Dónde está mi pedido? Quiero el número de seguimiento",
        Some("es-seguimiento"),
    ),
    (
        NONE,
        "¿Puedo devolver una bolsa de café abierta?",
        Some("es-devoluciones"),
    ),
    (NONE, "¿Cómo pauso mi suscripción?", Some("es-suscripcion")),
    (
        NONE,
        "quiero cancelar la suscripcion",
        Some("es-suscripcion"),
    ),
    (
        NONE,
        "¿Me lo podéis moler para cafetera italiana?",
        Some("es-molienda"),
    ),
    (NONE, "¿Aceptáis Bizum?", Some("es-pago")),
    // Follow-ups that need the earlier turn
    (
        &["How much is shipping?"],
        "and to Germany?",
        Some("shipping-costs"),
    ),
    (
        &["How do I pause my subscription?"],
        "what about cancelling it completely?",
        Some("subscription-cancel"),
    ),
    (
        &["Do you grind the beans?"],
        "for a French press?",
        Some("grind-options"),
    ),
    (
        &["¿Cuánto cuesta el envío?"],
        "¿y a Francia?",
        Some("es-envios"),
    ),
    // Not in the help centre: the bot must not answer these
    (NONE, "Are you hiring baristas?", None),
    (NONE, "What's the wifi password?", None),
    (
        NONE,
        "My Nespresso machine from another shop is leaking water",
        None,
    ),
    (NONE, "Can you recommend a restaurant nearby?", None),
    (NONE, "What is the meaning of life?", None),
    (NONE, "I was charged twice for the same order", None),
    (NONE, "Do you sell tea or matcha?", None),
    (
        NONE,
        "Can I book the café for a private birthday party?",
        None,
    ),
    (NONE, "Is there parking near the roastery?", None),
    (NONE, "¿Tenéis té?", None),
    (
        NONE,
        "My package was opened and somebody stole half of it, I'm furious",
        None,
    ),
    (
        NONE,
        "Do you have an affiliate programme for bloggers?",
        None,
    ),
];

const AGENTS_ONLINE: Availability = Availability {
    agents_online: true,
    inside_hours: true,
};

struct Scores {
    answerable: usize,
    top1: usize,
    top3: usize,
    answered: usize,
    answered_right: usize,
    out_of_scope: usize,
    out_of_scope_refused: usize,
    not_answered: usize,
}

fn evaluate(kb: &KnowledgeBase, settings: &BotSettings, verbose: bool) -> Scores {
    let mut s = Scores {
        answerable: 0,
        top1: 0,
        top3: 0,
        answered: 0,
        answered_right: 0,
        out_of_scope: 0,
        out_of_scope_refused: 0,
        not_answered: 0,
    };
    for (history, question, expected) in CASES {
        // Retrieval quality: the same query the bot builds (context included).
        let mut bot = BotConversation::default();
        for turn in history.iter() {
            bot.context.push(turn);
        }
        let query = bot.context.query(question, settings.context_turns);
        let lang = switchboard::bot::text::detect_language(question);
        let hits = kb.search(&query, lang);
        let slugs: Vec<&str> = hits
            .iter()
            .take(3)
            .map(|h| demo::slug(kb.article(h.article_id).expect("hit names an article")))
            .collect();
        // The bot's decision, exactly as the conversation actor would get it.
        let step = bot.on_visitor_message(question, kb, settings, AGENTS_ONLINE, false);
        let BotStep::Decided(decision) = step else {
            panic!("no LLM configured, yet the bot asked for one");
        };
        let answered = match &decision {
            BotDecision::Answer { reply } => Some(
                demo::slug(
                    kb.article(reply.citations[0].article_id)
                        .expect("citation names an article"),
                )
                .to_string(),
            ),
            _ => None,
        };
        match expected {
            Some(want) => {
                s.answerable += 1;
                s.top1 += usize::from(slugs.first() == Some(want));
                s.top3 += usize::from(slugs.contains(want));
            }
            None => {
                s.out_of_scope += 1;
                s.out_of_scope_refused += usize::from(answered.is_none());
            }
        }
        match &answered {
            Some(got) => {
                s.answered += 1;
                s.answered_right += usize::from(Some(got.as_str()) == *expected);
            }
            None => s.not_answered += 1,
        }
        if verbose {
            let verdict = match (&answered, expected) {
                (Some(got), Some(want)) if got == want => "ok      ",
                (Some(_), _) => "WRONG   ",
                (None, None) => "refused ",
                (None, Some(_)) => "handoff ",
            };
            let top = hits.first().map_or((0.0, 0.0), |h| (h.normalized, h.score));
            let second = hits.get(1).map_or(0.0, |h| h.score);
            println!(
                "{verdict} norm={:.2} margin={:.2} {:?} -> top3 {:?} (want {:?})",
                top.0,
                if second > 0.0 {
                    top.1 / second - 1.0
                } else {
                    9.99
                },
                question,
                slugs,
                expected
            );
        }
    }
    s
}

fn pct(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        100.0 * n as f64 / d as f64
    }
}

#[test]
fn the_knowledge_base_bot_answers_the_demo_help_centre_well_enough() {
    assert!(CASES.len() >= 60, "the brief asks for at least 60 cases");
    let site = SiteId::new();
    let kb = KnowledgeBase::build(demo::articles(site, 0).expect("demo help centre loads"));
    assert!(kb.languages().any(|l| l == Language::Es));
    let settings = BotSettings::default();
    let s = evaluate(&kb, &settings, true);

    let top1 = pct(s.top1, s.answerable);
    let top3 = pct(s.top3, s.answerable);
    let handoff_rate = pct(s.not_answered, CASES.len());
    let precision = pct(s.answered_right, s.answered);
    let refused = pct(s.out_of_scope_refused, s.out_of_scope);
    println!(
        "\nbot eval: {} cases ({} answerable, {} out of scope)",
        CASES.len(),
        s.answerable,
        s.out_of_scope
    );
    println!(
        "top-1 accuracy      {top1:5.1}%  ({}/{})",
        s.top1, s.answerable
    );
    println!(
        "top-3 accuracy      {top3:5.1}%  ({}/{})",
        s.top3, s.answerable
    );
    println!(
        "answer precision    {precision:5.1}%  ({}/{} answers cite the expected article)",
        s.answered_right, s.answered
    );
    println!(
        "hand-off rate       {handoff_rate:5.1}%  ({}/{} not answered)",
        s.not_answered,
        CASES.len()
    );
    println!(
        "out-of-scope held   {refused:5.1}%  ({}/{} not answered)",
        s.out_of_scope_refused, s.out_of_scope
    );

    println!("\nthreshold sweep (min_score x min_margin): precision / hand-off rate");
    for min_score in [0.3, 0.4, 0.5, 0.6, 0.7] {
        let mut row = format!("  score {min_score:.2}:");
        for min_margin in [0.0, 0.1, 0.15, 0.25, 0.4] {
            let t = BotSettings {
                min_score,
                min_margin,
                ..BotSettings::default()
            };
            let r = evaluate(&kb, &t, false);
            row.push_str(&format!(
                "  m{min_margin:.2} {:5.1}/{:5.1}",
                pct(r.answered_right, r.answered),
                pct(r.not_answered, CASES.len())
            ));
        }
        println!("{row}");
    }

    // Floors set from the numbers measured when the defaults were chosen (top-1 87.1%, top-3
    // 98.6%, precision 90.5%, out-of-scope held 75%, hand-off rate 23.2%; docs/bots.md), a few
    // points below them: one reworded article does not fail the build, a real regression does.
    assert!(top1 >= 82.0, "top-1 accuracy {top1:.1}% fell below 82%");
    assert!(top3 >= 95.0, "top-3 accuracy {top3:.1}% fell below 95%");
    assert!(
        precision >= 87.0,
        "answer precision {precision:.1}% fell below 87%"
    );
    assert!(
        refused >= 70.0,
        "only {refused:.1}% of out-of-scope questions were held back"
    );
    assert!(
        handoff_rate <= 30.0,
        "hand-off rate {handoff_rate:.1}% above 30%"
    );
}
