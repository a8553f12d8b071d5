//! The actors. One per conversation, visitor, agent and WebSocket connection, and one router
//! per site. Entity actors are found through the [`Hub`], which asks the cluster registry where
//! an id lives and starts the actor on its shard's arbiter when it is not running.

pub mod agent;
pub mod connection;
pub mod conversation;
mod hello;
pub mod janitor;
pub mod outbound;
mod rate_limit;
pub mod router;
pub mod visitor;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, Addr, Handler, MailboxError, Message as ActixMessage};
use parking_lot::Mutex;

use crate::auth::Tokens;
use crate::clock::SharedClock;
use crate::cluster::{ActorTable, Registry};
use crate::config::Config;
use crate::domain::{AgentId, Conversation, ConversationId, Site, SiteId, VisitorId};
use crate::error::{ApiError, ApiResult};
use crate::store::SharedStore;

use agent::AgentActor;
use conversation::ConversationActor;
use router::RouterActor;
use visitor::VisitorActor;

/// Everything a node's actors share: configuration, store, clock, tokens and the registry.
pub struct Hub {
    pub config: Arc<Config>,
    pub store: SharedStore,
    pub clock: SharedClock,
    pub tokens: Tokens,
    pub registry: Registry,
    conversations: ActorTable<ConversationId, ConversationActor>,
    visitors: ActorTable<VisitorId, VisitorActor>,
    agents: ActorTable<AgentId, AgentActor>,
    routers: ActorTable<SiteId, RouterActor>,
    sites: SiteCache,
    /// Whether any agent of a site is online, published by the site's router so that hello and
    /// the widget config read it without a round trip.
    agents_online: Mutex<HashMap<SiteId, bool>>,
    next_connection_id: AtomicU64,
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
        let shards = registry.shards();
        Arc::new(Hub {
            config,
            store,
            clock,
            tokens,
            registry,
            conversations: ActorTable::new("conversation", shards),
            visitors: ActorTable::new("visitor", shards),
            agents: ActorTable::new("agent", shards),
            routers: ActorTable::new("router", shards),
            sites: SiteCache::default(),
            agents_online: Mutex::new(HashMap::new()),
            next_connection_id: AtomicU64::new(1),
        })
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn next_connection_id(&self) -> u64 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn conversation(
        self: &Arc<Self>,
        id: ConversationId,
    ) -> ApiResult<Addr<ConversationActor>> {
        let shard = self.registry.local_shard(id.0)?;
        let hub = self.clone();
        Ok(self.conversations.get_or_start(shard, id, || {
            ConversationActor::start_in_arbiter(self.registry.arbiter(shard), move |_| {
                ConversationActor::new(hub, id, shard)
            })
        }))
    }

    pub fn visitor(self: &Arc<Self>, id: VisitorId, site: SiteId) -> ApiResult<Addr<VisitorActor>> {
        let shard = self.registry.local_shard(id.0)?;
        let hub = self.clone();
        Ok(self.visitors.get_or_start(shard, id, || {
            VisitorActor::start_in_arbiter(self.registry.arbiter(shard), move |_| {
                VisitorActor::new(hub, id, site, shard)
            })
        }))
    }

    pub fn agent(self: &Arc<Self>, id: AgentId) -> ApiResult<Addr<AgentActor>> {
        let shard = self.registry.local_shard(id.0)?;
        let hub = self.clone();
        Ok(self.agents.get_or_start(shard, id, || {
            AgentActor::start_in_arbiter(self.registry.arbiter(shard), move |_| {
                AgentActor::new(hub, id, shard)
            })
        }))
    }

    /// The conversation actor only if it is running (no start).
    pub fn running_conversation(&self, id: ConversationId) -> Option<Addr<ConversationActor>> {
        let shard = self.registry.local_shard(id.0).ok()?;
        self.conversations.get(shard, id)
    }

    /// The agent actor only if it is running (no start): for fan-out to agents that may be offline.
    pub fn running_agent(&self, id: AgentId) -> Option<Addr<AgentActor>> {
        let shard = self.registry.local_shard(id.0).ok()?;
        self.agents.get(shard, id)
    }

    pub fn router(self: &Arc<Self>, site: SiteId) -> ApiResult<Addr<RouterActor>> {
        let shard = self.registry.local_shard(site.0)?;
        let hub = self.clone();
        Ok(self.routers.get_or_start(shard, site, || {
            RouterActor::start_in_arbiter(self.registry.arbiter(shard), move |_| {
                RouterActor::new(hub, site)
            })
        }))
    }

    pub(crate) fn forget_conversation(
        &self,
        shard: u32,
        id: ConversationId,
        addr: &Addr<ConversationActor>,
    ) {
        self.conversations.remove(shard, id, addr)
    }
    pub(crate) fn forget_visitor(&self, shard: u32, id: VisitorId, addr: &Addr<VisitorActor>) {
        self.visitors.remove(shard, id, addr)
    }
    pub(crate) fn forget_agent(&self, shard: u32, id: AgentId, addr: &Addr<AgentActor>) {
        self.agents.remove(shard, id, addr)
    }

    /// Conversation rows are written back lazily (at most once a second while busy); where a
    /// conversation's actor is running, its memory is the truth. Overlay it on `rows`.
    pub async fn freshen(&self, rows: Vec<Conversation>) -> Vec<Conversation> {
        let mut fresh = Vec::with_capacity(rows.len());
        for row in rows {
            let live = match self
                .registry
                .local_shard(row.id.0)
                .ok()
                .and_then(|s| self.conversations.get(s, row.id))
            {
                Some(actor) => actor
                    .send(conversation::Snapshot { caller: None })
                    .await
                    .ok()
                    .and_then(Result::ok),
                None => None,
            };
            fresh.push(live.unwrap_or(row));
        }
        fresh
    }

    /// Whether any agent of `site` is online (starting its router if needed).
    pub async fn agents_online(self: &Arc<Self>, site: SiteId) -> ApiResult<bool> {
        if let Some(online) = self.agents_online.lock().get(&site) {
            return Ok(*online);
        }
        ask(|| self.router(site), router::AgentsOnline).await
    }

    /// Called by a site's router whenever its agents' presence changes.
    pub(crate) fn publish_agents_online(&self, site: SiteId, online: bool) {
        self.agents_online.lock().insert(site, online);
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

/// Send a message to an entity actor, retrying once through the registry when the address
/// closed under us (the actor passivated between lookup and send).
pub async fn ask<A, M>(lookup: impl Fn() -> ApiResult<Addr<A>>, msg: M) -> ApiResult<M::Result>
where
    A: Actor + Handler<M>,
    A::Context: actix::dev::ToEnvelope<A, M>,
    M: ActixMessage + Clone + Send + 'static,
    M::Result: Send,
{
    let mut last = None;
    for _ in 0..3 {
        match lookup()?.send(msg.clone()).await {
            Ok(result) => return Ok(result),
            Err(e @ MailboxError::Closed) => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.unwrap_or(MailboxError::Closed).into())
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
