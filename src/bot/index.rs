//! A small in-memory BM25 index over one site's article chunks, one sub-index per language.
//!
//! Why our own and not tantivy: a site has tens to a few thousand chunks, the index is rebuilt
//! in milliseconds when an article changes, it lives inside the conversation's node with no
//! files, and we need per-term query weights (recent turns count less) and a normalised score
//! for the answer threshold, both of which are a few lines here (docs/decisions.md).
//!
//! Scores: classic Okapi BM25 (k1 = 1.2, b = 0.75) with the title indexed twice per chunk; it
//! ranks. `normalized` is the question's coverage: the idf-weighted share of its terms that the
//! chunk contains (0..1), so 1.0 means "every informative word of the question is here",
//! whatever the question's length or the article's. Words the help centre never uses ("wifi",
//! "hiring") weigh the most (highest idf) and keep it low: that is what the answer threshold
//! reads. A raw BM25 threshold could not do this: a title word repeated in a short article
//! scores high however much of the question it leaves out.

use std::collections::HashMap;

use super::chunk::{chunk_article, Chunk};
use super::model::{Article, ArticleId, Citation, Language};
use super::text::Analyzer;

const K1: f64 = 1.2;
const B: f64 = 0.75;
/// Title terms count this many times per chunk: a title says what the article is for.
const TITLE_REPEAT: u32 = 2;

/// One article's best chunk for a query.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Hit {
    pub article_id: ArticleId,
    /// Index of the best chunk in `KnowledgeBase::chunk`.
    pub chunk: usize,
    /// BM25: ranks hits of one query; comparable only within that query.
    pub score: f64,
    /// Coverage of the question, 0..1: what the answer threshold compares.
    pub normalized: f64,
}

/// Text with a weight: the current message counts 1.0, earlier turns less.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WeightedText {
    pub text: String,
    pub weight: f64,
}

struct LangIndex {
    analyzer: Analyzer,
    /// Chunk ids (into `KnowledgeBase::chunks`) and their lengths in terms.
    docs: Vec<(usize, u32)>,
    /// term -> (position in `docs`, term frequency)
    postings: HashMap<String, Vec<(u32, u32)>>,
    avg_len: f64,
}

impl LangIndex {
    fn new(lang: Language) -> Self {
        LangIndex {
            analyzer: Analyzer::new(lang),
            docs: Vec::new(),
            postings: HashMap::new(),
            avg_len: 0.0,
        }
    }

    fn add(&mut self, chunk_id: usize, chunk: &Chunk) {
        let mut tf: HashMap<String, u32> = HashMap::new();
        let mut len = 0u32;
        for term in self.analyzer.terms(&chunk.title) {
            *tf.entry(term).or_default() += TITLE_REPEAT;
            len += TITLE_REPEAT;
        }
        for term in self.analyzer.terms(&chunk.text) {
            *tf.entry(term).or_default() += 1;
            len += 1;
        }
        let doc = self.docs.len() as u32;
        self.docs.push((chunk_id, len));
        for (term, n) in tf {
            self.postings.entry(term).or_default().push((doc, n));
        }
    }

    fn finish(&mut self) {
        let total: u64 = self.docs.iter().map(|(_, l)| *l as u64).sum();
        self.avg_len = if self.docs.is_empty() {
            0.0
        } else {
            total as f64 / self.docs.len() as f64
        };
    }

    /// `n` is the whole help centre's chunk count, not this language's: a language with three
    /// articles would otherwise give its every word an idf near zero.
    fn idf(&self, df: usize, n: usize) -> f64 {
        let n = n as f64;
        (1.0 + (n - df as f64 + 0.5) / (df as f64 + 0.5)).ln()
    }

    /// (chunk id, score, normalized) for every chunk matching at least one term.
    fn score(&self, query: &[WeightedText], n: usize) -> Vec<(usize, f64, f64)> {
        let mut weights: HashMap<String, f64> = HashMap::new();
        for part in query {
            for term in self.analyzer.terms(&part.text) {
                let w = weights.entry(term).or_default();
                // A word repeated inside one turn does not make it more important.
                *w = w.max(part.weight);
            }
        }
        // doc -> (BM25 score, idf mass of the query terms it contains)
        let mut scores: HashMap<u32, (f64, f64)> = HashMap::new();
        let mut ideal = 0.0;
        for (term, w) in &weights {
            let postings = self.postings.get(term);
            let idf = self.idf(postings.map_or(0, Vec::len), n);
            ideal += w * idf;
            for &(doc, tf) in postings.into_iter().flatten() {
                let len = self.docs[doc as usize].1 as f64;
                let tf = tf as f64;
                let denom = tf + K1 * (1.0 - B + B * len / self.avg_len.max(1.0));
                let entry = scores.entry(doc).or_default();
                entry.0 += w * idf * tf * (K1 + 1.0) / denom;
                entry.1 += w * idf;
            }
        }
        scores
            .into_iter()
            .map(|(doc, (s, covered))| {
                let norm = if ideal > 0.0 { covered / ideal } else { 0.0 };
                (self.docs[doc as usize].0, s, norm)
            })
            .collect()
    }
}

/// One site's help centre, ready to answer from. Rebuilt (cheaply) whenever an article changes.
pub struct KnowledgeBase {
    articles: HashMap<ArticleId, Article>,
    chunks: Vec<Chunk>,
    by_lang: HashMap<Language, LangIndex>,
}

impl KnowledgeBase {
    pub fn build(articles: impl IntoIterator<Item = Article>) -> Self {
        let mut kb = KnowledgeBase {
            articles: HashMap::new(),
            chunks: Vec::new(),
            by_lang: HashMap::new(),
        };
        for article in articles {
            for chunk in chunk_article(&article) {
                let id = kb.chunks.len();
                kb.by_lang
                    .entry(chunk.language)
                    .or_insert_with(|| LangIndex::new(chunk.language))
                    .add(id, &chunk);
                kb.chunks.push(chunk);
            }
            kb.articles.insert(article.id, article);
        }
        for index in kb.by_lang.values_mut() {
            index.finish();
        }
        kb
    }

    pub fn is_empty(&self) -> bool {
        self.articles.is_empty()
    }

    pub fn article(&self, id: ArticleId) -> Option<&Article> {
        self.articles.get(&id)
    }

    pub fn chunk(&self, i: usize) -> Option<&Chunk> {
        self.chunks.get(i)
    }

    pub fn languages(&self) -> impl Iterator<Item = Language> + '_ {
        self.by_lang.keys().copied()
    }

    pub fn citation(&self, id: ArticleId) -> Option<Citation> {
        self.articles.get(&id).map(|a| Citation {
            article_id: a.id,
            title: a.title.clone(),
            url: a.url.clone(),
        })
    }

    /// Articles ranked for `query` in `lang`, best first, one hit (its best chunk) per article.
    /// With `lang = None` every language is tried and the one whose best hit scores highest wins.
    pub fn search(&self, query: &[WeightedText], lang: Option<Language>) -> Vec<Hit> {
        let langs: Vec<Language> = match lang {
            Some(l) if self.by_lang.contains_key(&l) => vec![l],
            _ => self.by_lang.keys().copied().collect(),
        };
        let mut best: Vec<Hit> = Vec::new();
        for l in langs {
            let hits = self.search_one(&self.by_lang[&l], query);
            let top = |h: &[Hit]| h.first().map_or(0.0, |h| h.normalized);
            if top(&hits) > top(&best) {
                best = hits;
            }
        }
        best
    }

    fn search_one(&self, index: &LangIndex, query: &[WeightedText]) -> Vec<Hit> {
        let mut per_article: HashMap<ArticleId, Hit> = HashMap::new();
        for (chunk, score, normalized) in index.score(query, self.chunks.len()) {
            let article_id = self.chunks[chunk].article_id;
            let hit = Hit {
                article_id,
                chunk,
                score,
                normalized,
            };
            per_article
                .entry(article_id)
                .and_modify(|h| {
                    if hit.score > h.score {
                        *h = hit.clone();
                    }
                })
                .or_insert(hit);
        }
        let mut hits: Vec<Hit> = per_article.into_values().collect();
        // Ties broken by id so results never depend on hash order.
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.article_id.cmp(&b.article_id))
        });
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SiteId;

    fn art(title: &str, body: &str, lang: Language) -> Article {
        Article {
            id: ArticleId::new(),
            site_id: SiteId::new(),
            title: title.into(),
            body: body.into(),
            url: format!("https://help.test/{}", title.len()),
            language: lang,
            updated_at: 0,
        }
    }

    fn q(text: &str) -> Vec<WeightedText> {
        vec![WeightedText {
            text: text.into(),
            weight: 1.0,
        }]
    }

    fn kb() -> (KnowledgeBase, Vec<ArticleId>) {
        let a = vec![
            art(
                "Shipping times",
                "Orders ship within two days. Delivery takes 3 to 5 days.",
                Language::En,
            ),
            art(
                "Refunds",
                "You can ask for a refund within 30 days of delivery.",
                Language::En,
            ),
            art("Envíos", "Los pedidos se envían en dos días.", Language::Es),
        ];
        let ids = a.iter().map(|a| a.id).collect();
        (KnowledgeBase::build(a), ids)
    }

    #[test]
    fn the_article_about_the_question_ranks_first() {
        let (kb, ids) = kb();
        let hits = kb.search(&q("when will my order ship"), Some(Language::En));
        assert_eq!(hits[0].article_id, ids[0]);
        let hits = kb.search(&q("can I get a refund"), Some(Language::En));
        assert_eq!(hits[0].article_id, ids[1]);
    }

    #[test]
    fn an_unknown_language_searches_every_language() {
        let (kb, ids) = kb();
        let hits = kb.search(&q("envio pedidos"), None);
        assert_eq!(hits[0].article_id, ids[2]);
    }

    #[test]
    fn words_the_help_centre_never_uses_keep_the_normalised_score_low() {
        let (kb, _) = kb();
        let on_topic = kb.search(&q("refund"), Some(Language::En))[0].normalized;
        let off_topic =
            kb.search(&q("refund bitcoin crypto wallet"), Some(Language::En))[0].normalized;
        assert!((on_topic - 1.0).abs() < 1e-9, "{on_topic}");
        assert!(off_topic < on_topic / 2.0, "{off_topic}");
    }

    #[test]
    fn a_question_without_known_words_has_no_hits() {
        let (kb, _) = kb();
        assert!(kb.search(&q("the and of"), Some(Language::En)).is_empty());
        assert!(kb.search(&q("zebra"), Some(Language::En)).is_empty());
    }

    #[test]
    fn lower_weight_context_moves_ties_but_not_the_main_question() {
        let (kb, ids) = kb();
        let query = vec![
            WeightedText {
                text: "refund".into(),
                weight: 1.0,
            },
            WeightedText {
                text: "shipping delivery".into(),
                weight: 0.2,
            },
        ];
        assert_eq!(kb.search(&query, Some(Language::En))[0].article_id, ids[1]);
    }
}
