//! The actors. One per conversation, visitor, agent and WebSocket connection, and one router
//! per site. Entity actors are reached through [`EntityRef`]s that the [`Hub`] hands out; the
//! cluster registry turns a ref into the live actor on the node that owns its shard, starting
//! it when it is not running.
//!
//! Each entity has a folder: `messages.rs` (what it is asked and told: plain serde data) and
//! `mod.rs` (the actor); the rules of the conversation and the router live in plain structs
//! next to them. An actor names another only through a ref and that entity's messages.

pub mod active_agents;
pub mod agent;
pub mod caller;
pub mod connection;
pub mod conversation;
mod hello;
pub mod janitor;
pub mod outbound;
pub(crate) mod rate_limit;
pub mod router;
pub mod subscriptions;
pub mod visitor;
#[cfg(test)]
mod wire_tests;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::auth::Tokens;
use crate::clock::SharedClock;
use crate::cluster::node::ClusterNode;
use crate::cluster::remote::NodeMessage;
use crate::cluster::{EntityRef, Registry, Sockets, SubscriberId};
use crate::config::Config;
use crate::domain::{AgentId, Conversation, ConversationId, Site, SiteId, VisitorId};
use crate::error::{ApiError, ApiResult};
use crate::store::SharedStore;

pub use caller::Caller;
use subscriptions::Subscriptions;

use agent::AgentActor;
use conversation::ConversationActor;
use router::RouterActor;
use visitor::VisitorActor;

/// Everything a node's actors share: configuration, store, clock, tokens, the registry of
/// entity actors, the table of this node's sockets, and a few node-local caches
/// (docs/architecture.md lists each and how the cluster makes it cluster-wide).
pub struct Hub {
    pub config: Arc<Config>,
    pub store: SharedStore,
    pub clock: SharedClock,
    pub tokens: Tokens,
    pub registry: Registry,
    pub sockets: Sockets,
    /// Which sockets follow which of this node's conversations (outlives passivated actors).
    pub subscriptions: Subscriptions,
    /// Links, membership and leases, when this node is part of a cluster.
    pub cluster: OnceLock<Arc<ClusterNode>>,
    /// The bot, mail and attachment services (issue 11), set once the node has built them;
    /// unset (in unit tests) conversations simply run without a bot.
    pub assist: OnceLock<Arc<crate::assist::Assist>>,
    /// Rate buckets, login throttling, trusted proxies (node-local).
    pub guards: crate::abuse::Guards,
    /// Stores of personal data outside the store's tables, for GDPR export and erasure.
    pub personal_data: crate::compliance::gdpr::Hooks,
    /// Deactivated agents per site, for refusing their old tokens over HTTP.
    pub active_agents: active_agents::ActiveAgents,
    /// The operator's GeoIP database, if any (visitors' locations).
    pub geoip: Option<crate::visitor_client::GeoIp>,
    sites: SiteCache,
    /// Whether any agent of a site is online, published by the site's router so that hello and
    /// the widget config read it without a round trip.
    agents_online: Mutex<HashMap<SiteId, bool>>,
}

pub type HubRef = Arc<Hub>;

impl Hub {
    pub fn new(
        config: Arc<Config>,
        store: SharedStore,
        clock: SharedClock,
        tokens: Tokens,
        registry: Registry,
    ) -> HubRef {
        let sockets = Sockets::new(registry.node().clone());
        let geoip = crate::visitor_client::GeoIp::open(config.geoip_db.as_deref());
        let subscriptions = Subscriptions::new(registry.node().clone());
        Arc::new(Hub {
            guards: crate::abuse::Guards::new(&config),
            personal_data: Default::default(),
            config,
            store,
            clock,
            tokens,
            registry,
            sockets,
            subscriptions,
            cluster: OnceLock::new(),
            assist: OnceLock::new(),
            active_agents: active_agents::ActiveAgents::default(),
            geoip,
            sites: SiteCache::default(),
            agents_online: Mutex::new(HashMap::new()),
        })
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn conversation(self: &Arc<Self>, id: ConversationId) -> EntityRef<ConversationActor> {
        EntityRef::new(self.clone(), id)
    }

    pub fn visitor(self: &Arc<Self>, id: VisitorId) -> EntityRef<VisitorActor> {
        EntityRef::new(self.clone(), id)
    }

    pub fn agent(self: &Arc<Self>, id: AgentId) -> EntityRef<AgentActor> {
        EntityRef::new(self.clone(), id)
    }

    pub fn router(self: &Arc<Self>, site: SiteId) -> EntityRef<RouterActor> {
        EntityRef::new(self.clone(), site)
    }

    /// Conversation rows are written back lazily (at most every few seconds while busy); where
    /// a conversation's actor is running, its memory is the truth. Overlay it on `rows`.
    pub async fn freshen(self: &Arc<Self>, rows: Vec<Conversation>) -> Vec<Conversation> {
        let mut fresh = Vec::with_capacity(rows.len());
        for row in rows {
            let live = self
                .conversation(row.id)
                .ask_if_running(conversation::Snapshot { caller: None })
                .await
                .and_then(Result::ok);
            fresh.push(live.unwrap_or(row));
        }
        fresh
    }

    /// Whether any agent of `site` is online (starting its router if needed).
    pub async fn agents_online(self: &Arc<Self>, site: SiteId) -> ApiResult<bool> {
        if let Some(online) = self.agents_online.lock().get(&site) {
            return Ok(*online);
        }
        self.router(site).ask(router::AgentsOnline).await
    }

    /// Called by a site's router whenever its agents' presence changes: every node caches it
    /// (hello and the widget config read it without a round trip).
    pub(crate) fn publish_agents_online(&self, site: SiteId, online: bool) {
        let changed = self.agents_online.lock().insert(site, online) != Some(online);
        if changed {
            for peer in self.peers() {
                let message = NodeMessage::AgentsOnline { site, online };
                if let Err(e) = self.send_to(&peer, &message) {
                    // That node asks the router itself on its next cache miss after a reconnect.
                    tracing::debug!(%peer, error = %e, "agents-online not sent");
                }
            }
        }
    }

    /// Another node's router published its site's agents-online flag.
    pub(crate) fn note_agents_online(&self, site: SiteId, online: bool) {
        self.agents_online.lock().insert(site, online);
    }

    /// Frames for some sockets of another node, sent once for all of them. False when that
    /// node cannot be reached (its sockets then stop following; they reconnect on their own).
    pub fn deliver_remote(
        &self,
        node: &crate::cluster::NodeId,
        conns: Vec<crate::cluster::ConnId>,
        frames: Vec<bytestring::ByteString>,
        received_at: Option<crate::clock::WallMicros>,
    ) -> bool {
        let message = NodeMessage::Deliver {
            conns,
            frames,
            received_at,
        };
        match self.send_to(node, &message) {
            Ok(()) => {
                crate::cluster::metrics::REMOTE_DELIVERIES.inc();
                true
            }
            Err(e) => {
                tracing::debug!(%node, error = %e, "frames for another node's sockets not sent");
                false
            }
        }
    }

    /// A socket stops following a conversation, wherever the conversation lives.
    pub fn unfollow(&self, conversation: ConversationId, subscriber: &SubscriberId) {
        let shard = self.registry.shard_of(conversation.0);
        match self.registry.owner(shard) {
            Some(owner) if owner != *self.registry.node() => {
                let message = NodeMessage::Unfollow {
                    conversation,
                    subscriber: subscriber.clone(),
                };
                if let Err(e) = self.send_to(&owner, &message) {
                    // The owner drops this node's followers when their link goes down, and a
                    // frame for a closed socket is dropped here.
                    tracing::debug!(%owner, error = %e, "unfollow not sent");
                }
            }
            _ => self.subscriptions.remove_follower(conversation, subscriber),
        }
    }

    /// A site by its public key, cached for a few seconds (hello is the hottest lookup).
    pub async fn site_by_key(&self, public_key: &str) -> ApiResult<Option<Arc<Site>>> {
        if let Some(site) = self.sites.get(public_key) {
            return Ok(Some(site));
        }
        let site = self
            .store
            .site_by_public_key(public_key)
            .await?
            .map(Arc::new);
        if let Some(s) = &site {
            self.sites.put(s.clone());
        }
        Ok(site)
    }

    pub async fn site(&self, id: SiteId) -> ApiResult<Arc<Site>> {
        if let Some(site) = self.sites.get_by_id(id) {
            return Ok(site);
        }
        let site = self
            .store
            .get_site(id)
            .await?
            .ok_or_else(|| ApiError::not_found("site"))?;
        let site = Arc::new(site);
        self.sites.put(site.clone());
        Ok(site)
    }

    /// Drop a cached site after its settings changed.
    pub fn invalidate_site(&self, site: &Site) {
        self.sites.remove(site);
    }
}

const SITE_CACHE_TTL: Duration = Duration::from_secs(5);

/// Sites by key and by id with a short TTL, so settings changed on another node show up soon.
#[derive(Default)]
struct SiteCache {
    entries: Mutex<Vec<(Arc<Site>, Instant)>>,
}

impl SiteCache {
    fn find(&self, pred: impl Fn(&Site) -> bool) -> Option<Arc<Site>> {
        let entries = self.entries.lock();
        entries
            .iter()
            .find(|(s, at)| pred(s) && at.elapsed() < SITE_CACHE_TTL)
            .map(|(s, _)| s.clone())
    }
    fn get(&self, key: &str) -> Option<Arc<Site>> {
        self.find(|s| s.public_key == key)
    }
    fn get_by_id(&self, id: SiteId) -> Option<Arc<Site>> {
        self.find(|s| s.id == id)
    }
    fn put(&self, site: Arc<Site>) {
        let mut entries = self.entries.lock();
        entries.retain(|(s, at)| s.id != site.id && at.elapsed() < SITE_CACHE_TTL);
        entries.push((site, Instant::now()));
    }
    fn remove(&self, site: &Site) {
        self.entries.lock().retain(|(s, _)| s.id != site.id);
    }
}
