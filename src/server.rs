//! Starting a node: open the store, load the signing key, seed the demo site on first start,
//! start the entity arbiters, the registry, the janitor and the HTTP server; with cluster
//! settings, join the cluster (membership, leases, node links) and route by its map.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Arbiter};
use actix_web::{dev::ServerHandle, App, HttpServer};

use crate::actors::janitor::JanitorActor;
use crate::actors::{Hub, HubRef};
use crate::auth::{hash_password, random_secret, Tokens};
use crate::clock::{Clock, SharedClock};
use crate::cluster::link::LinkConfig;
use crate::cluster::node::ClusterNode;
use crate::cluster::{MembershipOptions, NodeId, OwnershipMap, Registry, ShardMap};
use crate::compliance::retention::RetentionActor;
use crate::config::{Config, SqliteSync, StoreKind};
use crate::domain::{Agent, AgentId, Role, Site, SiteId, SiteSettings};
use crate::store::scylla::{ScyllaOptions, ScyllaStore};
use crate::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use crate::store::{SharedStore, StoreError};
use crate::{gateway, metrics};

pub const DEMO_SITE_KEY: &str = "pk_demo";
pub const DEMO_ADMIN_EMAIL: &str = "admin@demo.local";
pub const DEMO_AGENT_EMAIL: &str = "agent@demo.local";
pub const DEMO_PASSWORD: &str = "demo1234";
pub const DEMO_IDENTITY_SECRET: &str = "demo-identity-secret";

/// A started node.
pub struct Started {
    pub addr: SocketAddr,
    pub store: SharedStore,
    pub server: actix_web::dev::Server,
    pub arbiters: Vec<Arbiter>,
    /// Set when this start created the demo site.
    pub demo_created: bool,
    pub hub: HubRef,
    /// The runtime of the cluster loops, when the node is in a cluster.
    pub cluster_runtime: Option<tokio::runtime::Runtime>,
}

impl Started {
    /// Leave in order: stop being ready, hand every shard to the other nodes (cluster), tell
    /// every socket to reconnect (clients resume elsewhere at once), stop the HTTP server.
    pub async fn drain(&self) {
        if let Some(cluster) = self.hub.cluster.get() {
            let lease = Duration::from_millis(self.hub.config.cluster_lease_ms);
            let left = cluster.drain(lease * 2).await;
            if left > 0 {
                tracing::warn!(
                    shards = left,
                    "drain ran out of time; their leases will expire"
                );
            }
        }
        self.hub.sockets.reconnect_all();
        // The stop command is sent now; the server future (awaited by the caller) carries it
        // out. Awaiting it here would wait on a future nobody polls.
        drop(self.server.handle().stop(true));
    }

    /// Stop the cluster runtime without waiting (the process is ending).
    pub fn finish(self) {
        for arbiter in self.arbiters {
            arbiter.stop();
        }
        if let Some(runtime) = self.cluster_runtime {
            runtime.shutdown_background();
        }
    }
}

pub async fn open_store(config: &Config) -> Result<SharedStore, StoreError> {
    match config.store {
        StoreKind::Sqlite => {
            std::fs::create_dir_all(&config.data_dir).map_err(|e| {
                StoreError::Backend(format!("cannot create {}: {e}", config.data_dir.display()))
            })?;
            let mut opts = SqliteOptions::new(config.sqlite_path());
            opts.synchronous = match config.sqlite_synchronous {
                SqliteSync::Full => Synchronous::Full,
                SqliteSync::Normal => Synchronous::Normal,
            };
            Ok(Arc::new(SqliteStore::open(opts).await?))
        }
        StoreKind::Scylla => {
            let opts = ScyllaOptions {
                uri: config.scylla_uri.clone(),
                keyspace: config.scylla_keyspace.clone(),
                replication_factor: config.scylla_replication_factor,
            };
            Ok(Arc::new(ScyllaStore::connect(opts).await?))
        }
    }
}

/// Create the demo site, admin and agent unless the demo site exists. True when created.
pub async fn seed_demo(store: &SharedStore) -> Result<bool, StoreError> {
    if store.site_by_public_key(DEMO_SITE_KEY).await?.is_some() {
        return Ok(false);
    }
    let site = Site {
        id: SiteId::new(),
        name: "Acme Coffee Roasters".into(), // the shop the demo page shows
        public_key: DEMO_SITE_KEY.into(),
        identity_secret: DEMO_IDENTITY_SECRET.into(),
        settings: SiteSettings::default(),
    };
    store.put_site(&site).await?;
    seed_demo_help_centre(store, site.id).await?;
    let password_hash = hash_password(DEMO_PASSWORD);
    for (email, name, role) in [
        (DEMO_ADMIN_EMAIL, "Demo Admin", Role::Admin),
        (DEMO_AGENT_EMAIL, "Demo Agent", Role::Agent),
    ] {
        let agent = Agent {
            id: AgentId::new(),
            site_id: site.id,
            email: email.into(),
            name: name.into(),
            password_hash: password_hash.clone(),
            role,
            capacity: 5,
            active: true,
            avatar_version: 0,
        };
        store.put_agent(&agent).await?;
    }
    Ok(true)
}

/// The demo coffee shop's help centre (the bot answers from it once a site admin turns the bot
/// on; the demo keeps it off so the demo chat reaches the agents as before). Ids come from the
/// site and the article's slug, so seeding again overwrites.
pub async fn seed_demo_help_centre(store: &SharedStore, site: SiteId) -> Result<(), StoreError> {
    let now = crate::clock::SystemClock.now_ms();
    let articles = crate::bot::demo::articles(site, now)
        .map_err(|e| StoreError::Corrupt(format!("demo help centre: {e}")))?;
    for article in &articles {
        store.put_article(article).await?;
    }
    Ok(())
}

/// Start a node inside the current actix System.
pub async fn start(config: Config, clock: SharedClock) -> std::io::Result<Started> {
    metrics::init();
    crate::memory::start_trimmer();
    let io = |e: StoreError| std::io::Error::other(e.to_string());
    let store = open_store(&config).await.map_err(io)?;
    let key = store
        .secret("token_signing_key", random_secret(32).as_bytes())
        .await
        .map_err(io)?;
    let demo_created = if config.demo {
        seed_demo(&store).await.map_err(io)?
    } else {
        false
    };

    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let workers = if config.workers == 0 {
        cores
    } else {
        config.workers
    };
    let arbiters: Vec<Arbiter> = (0..cores).map(|_| Arbiter::new()).collect();
    let node = NodeId(config.node_id());
    // A single node owns every shard; a cluster member owns none until its leases say so.
    let map = match config.cluster_listen {
        None => ShardMap::single(node, config.shards),
        Some(_) => ShardMap::from_ownership(
            node,
            config.shards,
            &OwnershipMap::default(),
            &BTreeMap::new(),
        ),
    };
    let registry = Registry::new(map, arbiters.iter().map(|a| a.handle()).collect());
    let config = Arc::new(config);
    let hub = Hub::new(
        config.clone(),
        store.clone(),
        clock.clone(),
        Tokens::new(key),
        registry,
    );
    let assist = crate::assist::Assist::new(&config, store.clone(), clock.clone())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let _ = hub.assist.set(assist.clone());
    // Attachments are personal data: GDPR export and erasure reach them through this hook.
    hub.personal_data
        .register(Arc::new(crate::assist::personal_data::AttachmentData::new(
            store.clone(),
            assist.blobs.clone(),
        )));
    crate::assist::outbox::start_sending(assist, clock.clone());
    let cluster_runtime = match join_cluster(&hub, &config, &clock).await? {
        Some((runtime, cluster)) => {
            let _ = hub.cluster.set(cluster);
            Some(runtime)
        }
        None => None,
    };
    JanitorActor::new(hub.clone()).start();
    RetentionActor::new(hub.clone()).start();
    if config.webhook_delivery {
        crate::webhooks::dispatcher::start(
            store.clone(),
            clock.clone(),
            &config.node_id(),
            crate::webhooks::dispatcher::DispatcherOptions::from_config(&config),
        );
    }
    let tls = crate::tls::server_config(&config)?;

    let app_hub = hub.clone();
    let server =
        HttpServer::new(move || App::new().configure(|cfg| gateway::routes(cfg, app_hub.clone())))
            .workers(workers)
            // Chat frames are small and latency-bound: without TCP_NODELAY, two frames written
            // back to back wait ~40 ms for the peer's delayed ACK (Nagle).
            .on_connect(|conn, _| {
                type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
                if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
                    let _ = tcp.set_nodelay(true);
                } else if let Some(tls) = conn.downcast_ref::<Tls>() {
                    let _ = tls.get_ref().0.set_nodelay(true);
                }
            })
            .max_connections(config.max_connections)
            .backlog(config.backlog)
            .shutdown_timeout(5)
            // The binary handles SIGTERM itself: a cluster node drains before it stops.
            .disable_signals();
    let server = match tls {
        Some(tls) => server.bind_rustls_0_23(config.listen, tls)?,
        None => server.bind(config.listen)?,
    };
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("bound to no address"))?;
    if let Some(cluster) = hub.cluster.get() {
        // Serving: placement may give this node shards now.
        cluster.activate();
    }
    Ok(Started {
        addr,
        store,
        server: server.run(),
        arbiters,
        demo_created,
        hub,
        cluster_runtime,
    })
}

/// Join the cluster when `cluster_listen` is set: the cluster loops get a small runtime of
/// their own, so links and leases never wait behind socket I/O or actors.
async fn join_cluster(
    hub: &HubRef,
    config: &Config,
    clock: &SharedClock,
) -> std::io::Result<Option<(tokio::runtime::Runtime, Arc<ClusterNode>)>> {
    let Some(advertise) = config.cluster_advertise_addr() else {
        return Ok(None);
    };
    let incarnation = MembershipOptions::incarnation_now(clock);
    let link = LinkConfig::from_config(config, incarnation)
        .ok_or_else(|| std::io::Error::other("cluster_listen is set but links cannot be built"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("cluster")
        .enable_all()
        .build()?;
    let cluster =
        match ClusterNode::start(hub, link, advertise, incarnation, runtime.handle().clone()).await
        {
            Ok(cluster) => cluster,
            Err(e) => {
                // Dropping a runtime inside an async context panics; let it go in the background.
                runtime.shutdown_background();
                return Err(std::io::Error::other(format!(
                    "cannot join the cluster: {e}"
                )));
            }
        };
    tracing::info!(node = %hub.registry.node(), incarnation, %advertise, "joined the cluster");
    Ok(Some((runtime, cluster)))
}

/// A node running on its own thread, for tests and embedding.
pub struct NodeHandle {
    pub addr: SocketAddr,
    pub store: SharedStore,
    server: Option<ServerHandle>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Start a node on a new thread with its own actix System; returns once it listens.
pub fn spawn(config: Config, clock: SharedClock) -> std::io::Result<NodeHandle> {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("switchboard-node".into())
        .spawn(move || {
            let system = actix::System::new();
            system.block_on(async move {
                match start(config, clock).await {
                    Ok(mut started) => {
                        let _ = tx.send(Ok((
                            started.addr,
                            started.store.clone(),
                            started.server.handle(),
                        )));
                        let _ = (&mut started.server).await;
                        started.finish();
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        })?;
    let (addr, store, server) = rx
        .recv()
        .map_err(|_| std::io::Error::other("node thread died while starting"))??;
    Ok(NodeHandle {
        addr,
        store,
        server: Some(server),
        thread: Some(thread),
    })
}

impl NodeHandle {
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(server) = self.server.take() {
            // Callers are often inside a tokio runtime (async tests), where blocking on a
            // runtime is not allowed: stop the server from a plain thread.
            let stopper = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(server.stop(false));
                }
            });
            let _ = stopper.join();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
