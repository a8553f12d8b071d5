//! Everything the bot says in its own words, in English and Spanish. Kept apart from the policy
//! so that wording changes never touch a rule, and a new language is one more match arm.

use super::model::Language;

pub struct Phrases {
    /// Before the excerpt of an answer.
    pub answer_intro: &'static str,
    /// After the excerpt and link.
    pub did_this_help: &'static str,
    /// Several articles fit equally well; followed by their titles.
    pub several_matches: &'static str,
    /// The question had no words the bot could search for ("hi").
    pub ask_question: &'static str,
    /// After "no, that did not help".
    pub sorry_not_helpful: &'static str,
    /// After "yes, that helped".
    pub glad: &'static str,
    /// The hand-off notice when a person is available.
    pub handoff_to_human: &'static str,
    /// The hand-off notice when nobody is (no agent online or outside business hours).
    pub handoff_leave_message: &'static str,
    /// Prefix of the notice when the hand-off happens because nothing matched.
    pub not_found: &'static str,
    pub read_more: &'static str,
}

const EN: Phrases = Phrases {
    answer_intro: "Here is what our help centre says:",
    did_this_help: "Did this help? You can also talk to a human.",
    several_matches: "I found a few articles that might fit. Could you tell me a bit more? Or talk to a human.",
    ask_question: "Ask me anything about our shop, or talk to a human.",
    sorry_not_helpful: "Sorry about that. Could you say it another way? Or talk to a human.",
    glad: "Glad I could help!",
    handoff_to_human: "I'm passing you to a person on our team. They will answer here shortly.",
    handoff_leave_message: "Nobody from our team is available right now. Leave your message and email and we'll get back to you.",
    not_found: "I couldn't find that in our help centre.",
    read_more: "Read more",
};

const ES: Phrases = Phrases {
    answer_intro: "Esto dice nuestro centro de ayuda:",
    did_this_help: "¿Te ha servido? También puedes hablar con una persona.",
    several_matches: "He encontrado varios artículos que podrían servir. ¿Puedes darme más detalles? O habla con una persona.",
    ask_question: "Pregúntame lo que quieras sobre la tienda, o habla con una persona.",
    sorry_not_helpful: "Lo siento. ¿Puedes decirlo de otra forma? O habla con una persona.",
    glad: "¡Me alegro de haber ayudado!",
    handoff_to_human: "Te paso con una persona de nuestro equipo. Te responderá aquí en breve.",
    handoff_leave_message: "Ahora mismo no hay nadie disponible. Déjanos tu mensaje y tu email y te responderemos.",
    not_found: "No he encontrado eso en nuestro centro de ayuda.",
    read_more: "Leer más",
};

pub fn phrases(lang: Language) -> &'static Phrases {
    match lang {
        Language::En => &EN,
        Language::Es => &ES,
    }
}
