//! Switchboard: a live-chat node (and, with `cluster/`, a cluster of them).
//!
//! Map of the crate, read top to bottom the way a message travels:
//! - [`config`]: flags, environment and TOML into one [`config::Config`].
//! - [`gateway`]: HTTP API (`/api/v1`), static pages and the WebSocket endpoints.
//! - [`commands`]: one module per command (checks, effect, typed result), shared by the
//!   WebSocket dispatch and the HTTP API.
//! - [`actors`]: one actor per connection, conversation, visitor, agent, and one router per site.
//! - [`cluster`]: entity references (`ask`/`tell`), the registry that maps an entity id to its
//!   shard and a shard to its node, the socket table; membership, placement and shard leases,
//!   with the store as the authority; node links.
//! - [`protocol`]: the wire frames (protocol v1) and their decoder.
//! - [`domain`]: ids, conversations, messages, sites, agents, visitors; [`message_extra`]: what a
//!   message carries besides its text (citations, attachments, the private flag of a note).
//! - [`store`]: the `Store` trait and its SQLite and ScyllaDB backends.
//! - [`auth`]: passwords, bearer and visitor tokens, identity signatures.
//! - [`automation`]: business hours and the replies that depend on them.
//! - [`bot`]: the knowledge-base bot, ownership and hand-offs, the optional LLM connector.
//! - [`mail`]: outgoing email (transcripts, "you have a reply") over SMTP, sent at most once.
//! - [`blobs`]: attachments behind a blob-store trait, with size and type limits.
//! - [`assist`]: the node's bot, mail and attachment services and the data they store.
//! - [`abuse`]: client addresses behind proxies, rate buckets per sender, login throttling,
//!   the widget's origin allowlist.
//! - [`analytics`]: per-site, per-agent, per-day and per-hour counters written with the events.
//! - [`compliance`]: the audit log, GDPR export and erasure, retention.
//! - [`webhooks`]: signed webhooks from a transactional outbox, the dispatcher that delivers
//!   them; [`api_keys`]: scoped per-site keys for server-to-server calls; [`sites_admin`]:
//!   creating sites, rotating their keys, inviting and deactivating agents (API and CLI).
//! - [`visitor_client`]: a visitor's device, browser and location from its own request.
//! - [`memory`]: returning freed heap to the OS when load drops.
//! - [`metrics`]: Prometheus metrics; [`error`]: stable error codes; [`clock`]: time.
//! - [`server`]: wires it all together and starts a node; [`tls`]: optional HTTPS/WSS in it.

pub mod abuse;
pub mod actors;
pub mod analytics;
pub mod api_keys;
pub mod assist;
pub mod auth;
pub mod automation;
pub mod blobs;
pub mod bot;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod commands;
pub mod compliance;
pub mod config;
pub mod domain;
pub mod error;
pub mod gateway;
pub mod mail;
pub mod memory;
pub mod message_extra;
pub mod metrics;
pub mod protocol;
pub mod server;
pub mod sites_admin;
pub mod store;
pub mod tls;
pub mod visitor_client;
pub mod webhooks;
