//! Articles into chunks: the unit that retrieval scores and that an excerpt is cut from.
//! A chunk is a run of whole paragraphs of one article, about `MAX_WORDS` long, so that a long
//! article about five topics does not win every question by sheer length, and an excerpt shows
//! the paragraph that matched rather than the article's first lines.

use serde::{Deserialize, Serialize};

use super::model::{Article, ArticleId, Language};

/// Words per chunk before a new one starts (a paragraph is never split unless it alone is
/// longer, and then at sentence ends).
pub const MAX_WORDS: usize = 120;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub article_id: ArticleId,
    /// Position inside the article, from 0.
    pub ordinal: u32,
    pub language: Language,
    /// The article's title: indexed with every chunk (it says what each chunk is about).
    pub title: String,
    pub text: String,
}

/// Splits one article into chunks, in order. An article with an empty body still yields one
/// chunk (its title alone can be matched).
pub fn chunk_article(article: &Article) -> Vec<Chunk> {
    let mut pieces: Vec<String> = Vec::new();
    for paragraph in paragraphs(&article.body) {
        if word_count(&paragraph) <= MAX_WORDS {
            pieces.push(paragraph);
        } else {
            pieces.extend(split_sentences_into_runs(&paragraph));
        }
    }
    let mut texts: Vec<String> = Vec::new();
    let mut current = String::new();
    for piece in pieces {
        if !current.is_empty() && word_count(&current) + word_count(&piece) > MAX_WORDS {
            texts.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push_str("\n\n");
        }
        current.push_str(&piece);
    }
    if !current.is_empty() || texts.is_empty() {
        texts.push(current);
    }
    texts
        .into_iter()
        .enumerate()
        .map(|(i, text)| Chunk {
            article_id: article.id,
            ordinal: i as u32,
            language: article.language,
            title: article.title.clone(),
            text,
        })
        .collect()
}

fn paragraphs(body: &str) -> Vec<String> {
    body.replace("\r\n", "\n")
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect()
}

fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Sentences of `text`, keeping their final punctuation. Good enough for help-centre prose;
/// an abbreviation ("e.g.") only makes a sentence shorter, never loses text.
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes: Vec<(usize, char)> = text.char_indices().collect();
    for (i, &(pos, c)) in bytes.iter().enumerate() {
        let next_is_space = bytes.get(i + 1).is_none_or(|(_, n)| n.is_whitespace());
        if matches!(c, '.' | '!' | '?') && next_is_space {
            let end = pos + c.len_utf8();
            let s = text[start..end].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = end;
        }
    }
    let rest = text[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

fn split_sentences_into_runs(paragraph: &str) -> Vec<String> {
    let mut runs = Vec::new();
    let mut current = String::new();
    for s in sentences(paragraph) {
        if !current.is_empty() && word_count(&current) + word_count(s) > MAX_WORDS {
            runs.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(s);
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SiteId;

    fn article(body: &str) -> Article {
        Article {
            id: ArticleId::new(),
            site_id: SiteId::new(),
            title: "Title".into(),
            body: body.into(),
            url: "https://example.test/a".into(),
            language: Language::En,
            updated_at: 0,
        }
    }

    #[test]
    fn short_paragraphs_share_a_chunk() {
        let chunks = chunk_article(&article("One.\n\nTwo.\n\n\nThree."));
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].text, "One.\n\nTwo.\n\nThree.");
    }

    #[test]
    fn long_bodies_split_on_paragraphs_and_keep_every_word() {
        let para = "word ".repeat(70);
        let body = format!("{para}\n\n{para}\n\n{para}");
        let chunks = chunk_article(&article(&body));
        assert_eq!(chunks.len(), 3);
        let total: usize = chunks.iter().map(|c| word_count(&c.text)).sum();
        assert_eq!(total, 210);
        assert_eq!(
            chunks.iter().map(|c| c.ordinal).collect::<Vec<_>>(),
            [0, 1, 2]
        );
    }

    #[test]
    fn a_giant_paragraph_splits_at_sentence_ends() {
        let body = "This is a sentence of eight words here. ".repeat(40);
        let chunks = chunk_article(&article(&body));
        assert!(chunks.len() >= 2);
        assert!(chunks.iter().all(|c| word_count(&c.text) <= MAX_WORDS));
        assert!(chunks.iter().all(|c| c.text.ends_with('.')));
    }

    #[test]
    fn an_empty_body_still_has_one_chunk_for_its_title() {
        assert_eq!(chunk_article(&article("  ")).len(), 1);
    }

    #[test]
    fn sentences_keep_punctuation_and_ignore_decimal_points() {
        assert_eq!(
            sentences("It costs 3.50 euros. Really? Yes!"),
            vec!["It costs 3.50 euros.", "Really?", "Yes!"]
        );
    }
}
