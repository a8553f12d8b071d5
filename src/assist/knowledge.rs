//! Per-site caches of what a bot turn reads: the site's bot config (settings, LLM settings and
//! key) and its knowledge base, built from the site's articles on first use. Both are node-local
//! with a short TTL, like the site cache: a change made on this node drops the entry at once,
//! a change made on another node is seen within the TTL. Building a knowledge base is
//! tokenising and counting (milliseconds for a help centre), so a miss simply rebuilds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::model::BotConfig;
use crate::bot::KnowledgeBase;
use crate::domain::SiteId;
use crate::store::{SharedStore, StoreResult};

const TTL: Duration = Duration::from_secs(5);

struct Entry<T> {
    value: Arc<T>,
    at: Instant,
}

/// A small TTL map from site to a shared value.
struct TtlMap<T> {
    entries: Mutex<HashMap<SiteId, Entry<T>>>,
}

impl<T> TtlMap<T> {
    fn new() -> Self {
        TtlMap {
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, site: SiteId) -> Option<Arc<T>> {
        let entries = self.entries.lock();
        entries
            .get(&site)
            .filter(|e| e.at.elapsed() < TTL)
            .map(|e| e.value.clone())
    }

    fn put(&self, site: SiteId, value: Arc<T>) {
        let mut entries = self.entries.lock();
        entries.retain(|_, e| e.at.elapsed() < TTL);
        entries.insert(
            site,
            Entry {
                value,
                at: Instant::now(),
            },
        );
    }

    fn remove(&self, site: SiteId) {
        self.entries.lock().remove(&site);
    }
}

pub struct Knowledge {
    store: SharedStore,
    configs: TtlMap<BotConfig>,
    bases: TtlMap<KnowledgeBase>,
}

impl Knowledge {
    pub fn new(store: SharedStore) -> Self {
        Knowledge {
            store,
            configs: TtlMap::new(),
            bases: TtlMap::new(),
        }
    }

    /// The site's bot configuration (defaults, bot off, when never saved).
    pub async fn config(&self, site: SiteId) -> StoreResult<Arc<BotConfig>> {
        if let Some(config) = self.configs.get(site) {
            return Ok(config);
        }
        let config = Arc::new(self.store.get_bot_config(site).await?.unwrap_or_default());
        self.configs.put(site, config.clone());
        Ok(config)
    }

    /// The site's knowledge base, built from its articles.
    pub async fn base(&self, site: SiteId) -> StoreResult<Arc<KnowledgeBase>> {
        if let Some(kb) = self.bases.get(site) {
            return Ok(kb);
        }
        let articles = self.store.list_articles(site).await?;
        let kb = Arc::new(KnowledgeBase::build(articles));
        self.bases.put(site, kb.clone());
        Ok(kb)
    }

    /// The site's articles changed on this node.
    pub fn articles_changed(&self, site: SiteId) {
        self.bases.remove(site);
    }

    /// The site's bot configuration changed on this node.
    pub fn config_changed(&self, site: SiteId) {
        self.configs.remove(site);
    }
}
