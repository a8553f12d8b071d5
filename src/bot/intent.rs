//! What a visitor's words ask for besides a question: a human ("talk to a person", "quiero hablar
//! con un agente"), or feedback on the last answer ("yes thanks", "no"). English and Spanish.
//! Word lists, not a model: deterministic, explainable, and it errs towards a human (asking for
//! one must always work, a false positive only brings a person sooner).

use super::text::words;

/// Words that name a human on their own: any message containing one asks for a person.
const HUMAN_ALWAYS: &[&str] = &[
    "human",
    "humans",
    "humano",
    "humana",
    "operator",
    "operador",
    "operadora",
    "representative",
    "representante",
    "asesor",
    "asesora",
];

/// Words that name a person only after a verb of contact ("talk to an agent"), because alone
/// they also appear in ordinary questions ("can a person bring a dog?").
const HUMAN_TARGETS: &[&str] = &[
    "person",
    "people",
    "agent",
    "someone",
    "somebody",
    "staff",
    "rep",
    "persona",
    "personas",
    "agente",
    "alguien",
    "empleado",
    "manager",
    "encargado",
];

const CONTACT_VERBS: &[&str] = &[
    "talk",
    "speak",
    "chat",
    "connect",
    "transfer",
    "contact",
    "reach",
    "want",
    "need",
    "get",
    "real",
    "live",
    "hablar",
    "habla",
    "hable",
    "comunicar",
    "comunicarme",
    "contactar",
    "pasar",
    "pasame",
    "pasarme",
    "quiero",
    "necesito",
    "atender",
    "atienda",
];

/// Short messages that are just a target word ("agent?", "a person please").
const SHORT_MESSAGE_WORDS: usize = 3;

/// Whether the visitor asks for a human. The widget's button sends the same request as data.
pub fn wants_human(text: &str) -> bool {
    let words = words(text);
    if words.iter().any(|w| HUMAN_ALWAYS.contains(&w.as_str())) {
        return true;
    }
    let content: Vec<&String> = words
        .iter()
        .filter(|w| {
            !matches!(
                w.as_str(),
                "a" | "an" | "the" | "please" | "un" | "una" | "por" | "favor"
            )
        })
        .collect();
    if content.len() <= SHORT_MESSAGE_WORDS
        && content.iter().any(|w| HUMAN_TARGETS.contains(&w.as_str()))
    {
        return true;
    }
    // A verb of contact up to four words before a target: "talk to a real person".
    words.iter().enumerate().any(|(i, w)| {
        HUMAN_TARGETS.contains(&w.as_str())
            && words[i.saturating_sub(4)..i]
                .iter()
                .any(|v| CONTACT_VERBS.contains(&v.as_str()))
    })
}

const YES: &[&str] = &[
    "yes", "yep", "yeah", "thanks", "thank", "thx", "great", "perfect", "helped", "si", "gracias",
    "perfecto", "genial", "vale", "ok", "okay",
];
const NO: &[&str] = &["no", "nope", "not", "didnt", "doesnt", "nada"];

/// Feedback on the last answer, for short replies only ("yes thanks" / "no, not really").
/// A longer message is a new question and is answered as one.
pub fn feedback(text: &str) -> Option<bool> {
    let words = words(text);
    if words.is_empty() || words.len() > 4 {
        return None;
    }
    let no = words.iter().any(|w| NO.contains(&w.as_str()));
    let yes = words.iter().any(|w| YES.contains(&w.as_str()));
    match (yes, no) {
        (_, true) => Some(false),
        (true, false) => Some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asking_for_a_person_is_recognised_in_english() {
        for text in [
            "human",
            "Can I talk to a human?",
            "I want to speak to a real person",
            "agent please",
            "connect me with someone from your staff",
            "Is there a representative available?",
            "Operator!",
        ] {
            assert!(wants_human(text), "{text}");
        }
    }

    #[test]
    fn asking_for_a_person_is_recognised_in_spanish() {
        for text in [
            "Quiero hablar con una persona",
            "¿Puedo hablar con un humano?",
            "agente por favor",
            "pásame con alguien",
            "necesito un asesor",
        ] {
            assert!(wants_human(text), "{text}");
        }
    }

    #[test]
    fn ordinary_questions_that_mention_people_are_not_a_request() {
        for text in [
            "Can a person bring a dog to the cafe?",
            "How much is a coffee for two people?",
            "Do you ship to Canada?",
            "¿Cuántas personas caben en la terraza?",
        ] {
            assert!(!wants_human(text), "{text}");
        }
    }

    #[test]
    fn short_replies_are_feedback_and_long_ones_are_not() {
        assert_eq!(feedback("yes thanks!"), Some(true));
        assert_eq!(feedback("Sí, gracias"), Some(true));
        assert_eq!(feedback("no"), Some(false));
        assert_eq!(feedback("not really"), Some(false));
        assert_eq!(feedback("thanks, but no"), Some(false));
        assert_eq!(feedback("what about refunds for damaged beans?"), None);
        assert_eq!(feedback("latte"), None);
    }
}
