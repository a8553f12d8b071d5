//! Text into retrieval terms: lower-case, fold accents, split into words, drop stop words, stem.
//! One place so that articles and questions become terms the same way (a mismatch here is a
//! silent recall bug). Also tells English from Spanish for a question, from its stop words.

use std::collections::HashSet;
use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::UnicodeNormalization;

use super::model::Language;

/// Lower-cases and removes accents ("Envío" -> "envio"), keeping "ñ" as "n": visitors type
/// without accents as often as with them, and the Snowball stemmers expect either.
pub fn fold(text: &str) -> String {
    text.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Folded words (letters and digits), in order, stop words included.
pub fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

static EN_STOP: &[&str] = &[
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can",
    "could", "did", "do", "does", "for", "from", "get", "got", "had", "has", "have", "hello", "hi",
    "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or", "our",
    "please", "should", "so", "that", "the", "their", "them", "there", "these", "this", "to", "us",
    "was", "we", "were", "what", "when", "where", "which", "who", "why", "will", "with", "would",
    "you", "your", "thanks", "thank", "hey", "im", "ive", "dont", "s", "t", "want", "need", "know",
    "tell", "just", "some", "also", "way", "much", "many", "take", "still", "make",
];

static ES_STOP: &[&str] = &[
    "a", "al", "algo", "como", "con", "cual", "cuando", "de", "del", "donde", "el", "ella", "en",
    "es", "esta", "este", "esto", "hay", "hola", "la", "las", "le", "les", "lo", "los", "me", "mi",
    "mis", "muy", "necesito", "no", "nos", "o", "para", "pero", "por", "puedo", "que", "quiero",
    "se", "si", "sin", "sobre", "su", "sus", "tengo", "te", "tu", "un", "una", "uno", "y", "ya",
    "yo", "gracias", "favor", "saber", "puede", "pueden", "son", "ser", "estoy", "hacer", "hace",
];

static EN_STOP_SET: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| EN_STOP.iter().copied().collect());
static ES_STOP_SET: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| ES_STOP.iter().copied().collect());

/// Words that mark Spanish even in a short message (they are not English words).
static ES_MARKERS: &[&str] = &[
    "el", "los", "las", "del", "con", "para", "por", "que", "como", "donde", "cuando", "puedo",
    "quiero", "hola", "gracias", "tengo", "mi", "es", "una", "un", "hay", "pedido", "envio",
];

fn stop_set(lang: Language) -> &'static HashSet<&'static str> {
    match lang {
        Language::En => &EN_STOP_SET,
        Language::Es => &ES_STOP_SET,
    }
}

/// The language of a visitor's message, if its words say so; `None` for a tie (e.g. "latte?").
pub fn detect_language(text: &str) -> Option<Language> {
    if text.contains(['¿', '¡', 'ñ', 'Ñ']) {
        return Some(Language::Es);
    }
    let words = words(text);
    let en = words
        .iter()
        .filter(|w| EN_STOP_SET.contains(w.as_str()))
        .count();
    let es = words
        .iter()
        .filter(|w| ES_MARKERS.contains(&w.as_str()))
        .count();
    match en.cmp(&es) {
        std::cmp::Ordering::Greater => Some(Language::En),
        std::cmp::Ordering::Less => Some(Language::Es),
        std::cmp::Ordering::Equal => None,
    }
}

/// Turns text into stemmed retrieval terms in one language.
pub struct Analyzer {
    lang: Language,
    stemmer: Stemmer,
}

impl Analyzer {
    pub fn new(lang: Language) -> Self {
        let algorithm = match lang {
            Language::En => Algorithm::English,
            Language::Es => Algorithm::Spanish,
        };
        Analyzer {
            lang,
            stemmer: Stemmer::create(algorithm),
        }
    }

    pub fn language(&self) -> Language {
        self.lang
    }

    /// Stemmed terms without stop words, in text order (repeats kept: BM25 counts them).
    pub fn terms(&self, text: &str) -> Vec<String> {
        let stop = stop_set(self.lang);
        words(text)
            .into_iter()
            .filter(|w| !stop.contains(w.as_str()))
            .map(|w| self.stemmer.stem(&w).into_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_removes_accents_and_case() {
        assert_eq!(fold("Envío RÁPIDO"), "envio rapido");
        assert_eq!(fold("Año"), "ano");
    }

    #[test]
    fn english_terms_are_stemmed_and_skip_stop_words() {
        let a = Analyzer::new(Language::En);
        assert_eq!(
            a.terms("How do I cancel my orders?"),
            vec!["cancel", "order"]
        );
        assert_eq!(a.terms("Shipping shipped"), vec!["ship", "ship"]);
    }

    #[test]
    fn spanish_terms_match_with_or_without_accents() {
        let a = Analyzer::new(Language::Es);
        assert_eq!(
            a.terms("¿Cuánto tarda el envío?"),
            a.terms("cuanto tarda el envio")
        );
        assert!(a.terms("los pedidos").contains(&"ped".to_string()));
    }

    #[test]
    fn language_is_told_from_stop_words() {
        assert_eq!(
            detect_language("How long does shipping take?"),
            Some(Language::En)
        );
        assert_eq!(
            detect_language("cuanto tarda el envio a mi casa"),
            Some(Language::Es)
        );
        assert_eq!(detect_language("¿envío?"), Some(Language::Es));
        assert_eq!(detect_language("latte"), None);
    }
}
