//! Evaluation of the knowledge-base bot on the demo help centre (src/bot/demo_help_centre.json):
//! fixed question -> expected-article cases (tests/data/bot_eval_cases.tsv), written as a
//! visitor would ask, in English and Spanish, some with an earlier turn as context, and some the
//! help centre cannot answer (the bot must not answer those). Prints top-1 / top-3 retrieval accuracy, the answer precision and
//! the hand-off rate, plus a threshold sweep (how the defaults in `BotSettings` were chosen), and
//! asserts floors set from the measured numbers (docs/bots.md).
//!
//! Run: `cargo test --test bot_eval -- --nocapture`

use switchboard::bot::demo;
use switchboard::bot::{
    Availability, BotConversation, BotDecision, BotSettings, BotStep, KnowledgeBase, Language,
};
use switchboard::domain::SiteId;

/// One evaluation case: earlier visitor turns, the question, the expected article slug (None:
/// the bot must not answer).
struct Case {
    history: Vec<String>,
    question: String,
    expected: Option<String>,
}

/// tests/data/bot_eval_cases.tsv: `expected<TAB>question[<TAB>turn | turn]`, `#` comments.
fn cases() -> Vec<Case> {
    include_str!("data/bot_eval_cases.tsv")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert!(cols.len() >= 2, "bad case line: {l:?}");
            Case {
                expected: (cols[0] != "-").then(|| cols[0].to_string()),
                question: cols[1].to_string(),
                history: cols
                    .get(2)
                    .map(|h| h.split(" | ").map(str::to_owned).collect())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

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

fn evaluate(cases: &[Case], kb: &KnowledgeBase, settings: &BotSettings, verbose: bool) -> Scores {
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
    for case in cases {
        let (question, expected) = (case.question.as_str(), case.expected.as_deref());
        // Retrieval quality: the same query the bot builds (context included).
        let mut bot = BotConversation::default();
        for turn in &case.history {
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
                s.top1 += usize::from(slugs.first() == Some(&want));
                s.top3 += usize::from(slugs.contains(&want));
            }
            None => {
                s.out_of_scope += 1;
                s.out_of_scope_refused += usize::from(answered.is_none());
            }
        }
        match &answered {
            Some(got) => {
                s.answered += 1;
                s.answered_right += usize::from(Some(got.as_str()) == expected);
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
    let cases = cases();
    assert!(cases.len() >= 60, "the brief asks for at least 60 cases");
    let site = SiteId::new();
    let kb = KnowledgeBase::build(demo::articles(site, 0).expect("demo help centre loads"));
    assert!(kb.languages().any(|l| l == Language::Es));
    let settings = BotSettings::default();
    let s = evaluate(&cases, &kb, &settings, true);

    let top1 = pct(s.top1, s.answerable);
    let top3 = pct(s.top3, s.answerable);
    let handoff_rate = pct(s.not_answered, cases.len());
    let precision = pct(s.answered_right, s.answered);
    let refused = pct(s.out_of_scope_refused, s.out_of_scope);
    println!(
        "\nbot eval: {} cases ({} answerable, {} out of scope)",
        cases.len(),
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
        cases.len()
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
            let r = evaluate(&cases, &kb, &t, false);
            row.push_str(&format!(
                "  m{min_margin:.2} {:5.1}/{:5.1}",
                pct(r.answered_right, r.answered),
                pct(r.not_answered, cases.len())
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
