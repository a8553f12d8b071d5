//! The demo coffee shop's help centre (Acme Coffee Roasters, `/demo`): 26 English and 6 Spanish
//! articles shipped in the binary, seeded with the demo site and used by `tests/bot_eval.rs`.
//! Ids are derived from the site and the slug, so every node that seeds gets the same ids and a
//! second seed is an overwrite, not a duplicate.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::model::{Article, ArticleId, Language};
use crate::clock::Millis;
use crate::domain::SiteId;

const DATA: &str = include_str!("demo_help_centre.json");

/// Where the demo's articles live (the demo page's origin).
pub const URL_PREFIX: &str = "/demo/help/";

#[derive(Deserialize)]
struct Entry {
    slug: String,
    language: String,
    title: String,
    body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo help centre is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("demo article {slug} has unsupported language {language}")]
    Language { slug: String, language: String },
}

/// The article id for `slug` on `site`: stable across nodes and restarts.
pub fn article_id(site: SiteId, slug: &str) -> ArticleId {
    let digest = Sha256::digest(format!("{site}/{slug}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    ArticleId(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

/// The demo articles for `site`, stamped `now`.
pub fn articles(site: SiteId, now: Millis) -> Result<Vec<Article>, DemoError> {
    let entries: Vec<Entry> = serde_json::from_str(DATA)?;
    entries
        .into_iter()
        .map(|e| {
            let language = Language::parse(&e.language).ok_or_else(|| DemoError::Language {
                slug: e.slug.clone(),
                language: e.language.clone(),
            })?;
            Ok(Article {
                id: article_id(site, &e.slug),
                site_id: site,
                title: e.title,
                body: e.body,
                url: format!("{URL_PREFIX}{}", e.slug),
                language,
                updated_at: now,
            })
        })
        .collect()
}

/// The slug of a demo article's URL (the evaluation names expected articles by slug).
pub fn slug(article: &Article) -> &str {
    article.url.strip_prefix(URL_PREFIX).unwrap_or(&article.url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_help_centre_loads_with_both_languages() {
        let site = SiteId::new();
        let a = articles(site, 1).expect("demo data parses");
        assert!(a.len() >= 20);
        assert!(a.iter().any(|a| a.language == Language::Es));
        let mut slugs: Vec<&str> = a.iter().map(slug).collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), a.len(), "slugs are unique");
        assert!(a.iter().all(|a| !a.body.trim().is_empty()));
    }

    #[test]
    fn ids_are_stable_per_site_and_differ_between_sites() {
        let (s1, s2) = (SiteId::new(), SiteId::new());
        assert_eq!(article_id(s1, "decaf"), article_id(s1, "decaf"));
        assert_ne!(article_id(s1, "decaf"), article_id(s2, "decaf"));
        assert_eq!(
            article_id(s1, "decaf").0.get_version(),
            Some(uuid::Version::Random)
        );
    }
}
