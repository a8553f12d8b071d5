//! Configuration: defaults, then an optional TOML file, then `SWITCHBOARD_*` environment
//! variables, then command-line flags (each later source wins). docs/operations.md lists every
//! option; keep the two in step.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use serde::Deserialize;

mod assist;
mod cluster;

pub use assist::SmtpTlsArg;
pub use cluster::{Secret, MIN_CLUSTER_SECRET_BYTES};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    Sqlite,
    Scylla,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SqliteSync {
    /// fsync on every group commit: survives power loss.
    Full,
    /// fsync at checkpoints only: survives a process crash (kill -9), not power loss.
    Normal,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Serve the web assets from this directory instead of the copies built into the binary
    /// (development: edit and reload without rebuilding).
    pub web_dir: Option<PathBuf>,
    /// HTTP worker threads; 0 = one per core.
    pub workers: usize,
    /// Create the demo site and agents on first start.
    pub demo: bool,
    pub store: StoreKind,
    pub sqlite_synchronous: SqliteSync,
    pub scylla_uri: String,
    pub scylla_keyspace: String,
    pub scylla_replication_factor: u32,
    pub log_json: bool,
    pub log_level: String,
    pub heartbeat_ms: u64,
    pub idle_timeout_ms: u64,
    pub hello_timeout_ms: u64,
    pub agent_grace_ms: u64,
    pub assign_timeout_ms: u64,
    pub janitor_interval_ms: u64,
    /// An idle conversation or visitor actor stops after this long (state stays in the store).
    pub passivate_after_ms: u64,
    /// Released messages a live conversation keeps in memory for resumes.
    pub resume_window: usize,
    /// Conversations one socket may follow at once.
    pub max_subscriptions_per_socket: usize,
    pub rate_per_sec: u32,
    pub rate_burst: u32,
    pub send_queue_frames: usize,
    pub max_frame_bytes: usize,
    /// Most open connections per worker thread (actix's default of 25k is too low for us).
    pub max_connections: usize,
    pub backlog: u32,
    /// Fixed number of shards entity ids hash into.
    pub shards: u32,
    pub token_ttl_secs: u64,
    /// This node's id in the cluster; `None` = the advertised cluster address, or the HTTP
    /// listen address on a single node (see [`Config::node_id`]).
    pub node_id: Option<String>,
    /// Where node links are accepted; `None` = a single node, no links.
    pub cluster_listen: Option<SocketAddr>,
    /// The address other nodes dial; `None` = `cluster_listen`.
    pub cluster_advertise: Option<SocketAddr>,
    /// Shared by every node: authenticates node links (never sent on the wire).
    pub cluster_secret: Secret,
    /// A member whose heartbeat stood still this long is dead; shard leases last this long.
    pub cluster_lease_ms: u64,
    /// How often a member writes its heartbeat.
    pub cluster_heartbeat_ms: u64,
    /// How long a call for a shard with no owner right now (moving, or its owner died) waits.
    pub cluster_wait_ms: u64,
    /// Calls that may wait for an owner at once on this node; more are refused (`unavailable`).
    pub cluster_wait_buffer: usize,
    /// Shards moved per rebalancing round when a node joins or leaves.
    pub cluster_max_moves: usize,
    // ---- bots and agent tools (issue 11; config/assist.rs) ----
    /// Where attachments are stored; `None` = `<data_dir>/blobs`.
    pub blob_dir: Option<PathBuf>,
    /// Largest attachment accepted, in bytes.
    pub attachment_max_bytes: u64,
    /// Outgoing mail server; `None` = send no email (transcripts, reply notices).
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub smtp_tls: crate::mail::SmtpTls,
    pub smtp_username: Option<String>,
    /// Prefer the environment (`SWITCHBOARD_SMTP_PASSWORD`) or the file over the flag.
    pub smtp_password: Secret,
    /// The From header of every email.
    pub smtp_from: String,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<String>,
    /// PEM certificate chain and private key: with both, the node serves HTTPS and WSS itself.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// How often the SQLite retention sweeper runs.
    pub retention_sweep_interval_ms: u64,
    /// Send webhooks from this node (false: record events only and leave sending to the
    /// nodes allowed to reach the outside).
    pub webhook_delivery: bool,
    /// Webhook attempts in all before a delivery is dead.
    pub webhook_max_attempts: u32,
    /// Delay after a delivery's first failure (doubling, with jitter, up to an hour).
    pub webhook_retry_base_ms: u64,
    /// One webhook request's deadline.
    pub webhook_timeout_ms: u64,
    /// Webhook requests in flight at once per node.
    pub webhook_concurrency: usize,
    /// How often a node looks for due webhook deliveries (new events wake it at once).
    pub webhook_poll_ms: u64,
    /// The URL people reach this deployment at, for invitation links (the API uses the
    /// request's own host when unset).
    pub public_url: Option<String>,
    /// A MaxMind-format City database: visitors' locations from their address (else from
    /// their timezone). Never a third-party service.
    pub geoip_db: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            web_dir: None,
            workers: 0,
            demo: true,
            store: StoreKind::Sqlite,
            sqlite_synchronous: SqliteSync::Full,
            scylla_uri: "127.0.0.1:9042".into(),
            scylla_keyspace: "switchboard".into(),
            scylla_replication_factor: 1,
            log_json: false,
            log_level: "info".into(),
            heartbeat_ms: 30_000,
            idle_timeout_ms: 75_000,
            hello_timeout_ms: 10_000,
            agent_grace_ms: 30_000,
            assign_timeout_ms: 60_000,
            janitor_interval_ms: 5_000,
            passivate_after_ms: 60_000,
            resume_window: 64,
            max_subscriptions_per_socket: 1000,
            rate_per_sec: 50,
            rate_burst: 100,
            send_queue_frames: 1024,
            max_frame_bytes: 64 * 1024,
            max_connections: 200_000,
            backlog: 8192,
            shards: 256,
            token_ttl_secs: 7 * 24 * 3600,
            node_id: None,
            cluster_listen: None,
            cluster_advertise: None,
            cluster_secret: Secret::default(),
            cluster_lease_ms: 6_000,
            cluster_heartbeat_ms: 1_000,
            cluster_wait_ms: 9_000,
            cluster_wait_buffer: 10_000,
            cluster_max_moves: 4,
            blob_dir: None,
            attachment_max_bytes: 10 * 1024 * 1024,
            smtp_host: None,
            smtp_port: 587,
            smtp_tls: crate::mail::SmtpTls::StartTls,
            smtp_username: None,
            smtp_password: Secret::default(),
            smtp_from: "Switchboard <no-reply@localhost>".into(),
            trusted_proxies: Vec::new(),
            tls_cert: None,
            tls_key: None,
            retention_sweep_interval_ms: 60_000,
            webhook_delivery: true,
            webhook_max_attempts: 10,
            webhook_retry_base_ms: 5_000,
            webhook_timeout_ms: 10_000,
            webhook_concurrency: 16,
            webhook_poll_ms: 1_000,
            public_url: None,
            geoip_db: None,
        }
    }
}

/// Command-line flags; each also reads `SWITCHBOARD_<NAME>` from the environment.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about = "Switchboard live-chat node")]
pub struct Cli {
    /// TOML file with any of the options below (flags and environment win over it).
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "SWITCHBOARD_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the embedded SQLite store [default: ./data].
    #[arg(long, env = "SWITCHBOARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Serve the widget, console and demo from this directory instead of the copies built into
    /// the binary (for developing them) [default: built in].
    #[arg(long, env = "SWITCHBOARD_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// HTTP worker threads, 0 = one per core [default: 0].
    #[arg(long, env = "SWITCHBOARD_WORKERS")]
    pub workers: Option<usize>,
    /// Do not create the demo site and agents.
    #[arg(long, env = "SWITCHBOARD_NO_DEMO")]
    pub no_demo: bool,
    /// Storage backend [default: sqlite].
    #[arg(long, env = "SWITCHBOARD_STORE", value_enum)]
    pub store: Option<StoreKind>,
    /// SQLite durability [default: full].
    #[arg(long, env = "SWITCHBOARD_SQLITE_SYNCHRONOUS", value_enum)]
    pub sqlite_synchronous: Option<SqliteSync>,
    /// ScyllaDB contact points, comma-separated host:port [default: 127.0.0.1:9042].
    #[arg(long, env = "SWITCHBOARD_SCYLLA_URI")]
    pub scylla_uri: Option<String>,
    /// ScyllaDB keyspace [default: switchboard].
    #[arg(long, env = "SWITCHBOARD_SCYLLA_KEYSPACE")]
    pub scylla_keyspace: Option<String>,
    /// Replication factor used when creating the keyspace [default: 1].
    #[arg(long, env = "SWITCHBOARD_SCYLLA_REPLICATION_FACTOR")]
    pub scylla_replication_factor: Option<u32>,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "SWITCHBOARD_LOG_JSON")]
    pub log_json: bool,
    /// Log filter, e.g. `info` or `switchboard=debug` [default: info].
    #[arg(long, env = "SWITCHBOARD_LOG_LEVEL")]
    pub log_level: Option<String>,
    #[arg(long, env = "SWITCHBOARD_HEARTBEAT_MS")]
    pub heartbeat_ms: Option<u64>,
    #[arg(long, env = "SWITCHBOARD_IDLE_TIMEOUT_MS")]
    pub idle_timeout_ms: Option<u64>,
    #[arg(long, env = "SWITCHBOARD_HELLO_TIMEOUT_MS")]
    pub hello_timeout_ms: Option<u64>,
    #[arg(long, env = "SWITCHBOARD_AGENT_GRACE_MS")]
    pub agent_grace_ms: Option<u64>,
    #[arg(long, env = "SWITCHBOARD_ASSIGN_TIMEOUT_MS")]
    pub assign_timeout_ms: Option<u64>,
    #[arg(long, env = "SWITCHBOARD_JANITOR_INTERVAL_MS")]
    pub janitor_interval_ms: Option<u64>,
    #[arg(long, env = "SWITCHBOARD_PASSIVATE_AFTER_MS")]
    pub passivate_after_ms: Option<u64>,
    #[arg(long, env = "SWITCHBOARD_RESUME_WINDOW")]
    pub resume_window: Option<usize>,
    #[arg(long, env = "SWITCHBOARD_MAX_SUBSCRIPTIONS_PER_SOCKET")]
    pub max_subscriptions_per_socket: Option<usize>,
    #[arg(long, env = "SWITCHBOARD_RATE_PER_SEC")]
    pub rate_per_sec: Option<u32>,
    #[arg(long, env = "SWITCHBOARD_RATE_BURST")]
    pub rate_burst: Option<u32>,
    #[arg(long, env = "SWITCHBOARD_SEND_QUEUE_FRAMES")]
    pub send_queue_frames: Option<usize>,
    #[arg(long, env = "SWITCHBOARD_MAX_FRAME_BYTES")]
    pub max_frame_bytes: Option<usize>,
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    #[arg(long, env = "SWITCHBOARD_BACKLOG")]
    pub backlog: Option<u32>,
    #[arg(long, env = "SWITCHBOARD_SHARDS")]
    pub shards: Option<u32>,
    #[arg(long, env = "SWITCHBOARD_TOKEN_TTL_SECS")]
    pub token_ttl_secs: Option<u64>,
    /// This node's id in the cluster [default: the advertised cluster address].
    #[arg(long, env = "SWITCHBOARD_NODE_ID")]
    pub node_id: Option<String>,
    /// Address to accept node links on; unset = a single node [default: none].
    #[arg(long, env = "SWITCHBOARD_CLUSTER_LISTEN")]
    pub cluster_listen: Option<SocketAddr>,
    /// Address other nodes dial [default: --cluster-listen].
    #[arg(long, env = "SWITCHBOARD_CLUSTER_ADVERTISE")]
    pub cluster_advertise: Option<SocketAddr>,
    /// Secret shared by every node (prefer the environment or the file over the flag).
    #[arg(long, env = "SWITCHBOARD_CLUSTER_SECRET", hide_env_values = true)]
    pub cluster_secret: Option<Secret>,
    #[arg(long, env = "SWITCHBOARD_CLUSTER_LEASE_MS")]
    pub cluster_lease_ms: Option<u64>,
    #[arg(long, env = "SWITCHBOARD_CLUSTER_HEARTBEAT_MS")]
    pub cluster_heartbeat_ms: Option<u64>,
    #[arg(long, env = "SWITCHBOARD_CLUSTER_WAIT_MS")]
    pub cluster_wait_ms: Option<u64>,
    #[arg(long, env = "SWITCHBOARD_CLUSTER_WAIT_BUFFER")]
    pub cluster_wait_buffer: Option<usize>,
    #[arg(long, env = "SWITCHBOARD_CLUSTER_MAX_MOVES")]
    pub cluster_max_moves: Option<usize>,
    /// Directory for attachments [default: <data-dir>/blobs].
    #[arg(long, env = "SWITCHBOARD_BLOB_DIR")]
    pub blob_dir: Option<PathBuf>,
    /// Largest attachment in bytes [default: 10485760].
    #[arg(long, env = "SWITCHBOARD_ATTACHMENT_MAX_BYTES")]
    pub attachment_max_bytes: Option<u64>,
    /// SMTP server for transcripts and reply notices; unset = no email [default: none].
    #[arg(long, env = "SWITCHBOARD_SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// [default: 587]
    #[arg(long, env = "SWITCHBOARD_SMTP_PORT")]
    pub smtp_port: Option<u16>,
    /// none, starttls or tls [default: starttls].
    #[arg(long, env = "SWITCHBOARD_SMTP_TLS")]
    pub smtp_tls: Option<SmtpTlsArg>,
    #[arg(long, env = "SWITCHBOARD_SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    /// Prefer the environment or the file over the flag.
    #[arg(long, env = "SWITCHBOARD_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<Secret>,
    /// The From header, e.g. "Acme Support <support@acme.test>".
    #[arg(long, env = "SWITCHBOARD_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// Proxies whose X-Forwarded-For is believed, comma-separated addresses or CIDR ranges.
    #[arg(
        long,
        alias = "trusted-proxy",
        env = "SWITCHBOARD_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Option<Vec<String>>,
    /// PEM certificate chain for TLS in the node (with --tls-key).
    #[arg(long, env = "SWITCHBOARD_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS in the node (with --tls-cert).
    #[arg(long, env = "SWITCHBOARD_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    #[arg(long, env = "SWITCHBOARD_RETENTION_SWEEP_INTERVAL_MS")]
    pub retention_sweep_interval_ms: Option<u64>,
    /// Record webhook events but send none from this node.
    #[arg(long, env = "SWITCHBOARD_NO_WEBHOOK_DELIVERY")]
    pub no_webhook_delivery: bool,
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_MAX_ATTEMPTS")]
    pub webhook_max_attempts: Option<u32>,
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_RETRY_BASE_MS")]
    pub webhook_retry_base_ms: Option<u64>,
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_TIMEOUT_MS")]
    pub webhook_timeout_ms: Option<u64>,
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_CONCURRENCY")]
    pub webhook_concurrency: Option<usize>,
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_POLL_MS")]
    pub webhook_poll_ms: Option<u64>,
    /// The deployment's public URL, for invitation links [default: the request's host].
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Manage sites, agents and API keys on the store instead of running a node.
    #[command(subcommand)]
    pub command: Option<crate::cli::Command>,
    /// MaxMind-format City database for visitors' locations.
    #[arg(long, env = "SWITCHBOARD_GEOIP_DB")]
    pub geoip_db: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bad config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid option: {0}")]
    Invalid(String),
}

macro_rules! overlay {
    ($config:ident, $cli:ident, $($field:ident),+ $(,)?) => {
        $( if let Some(value) = $cli.$field { $config.$field = value; } )+
    };
}

impl Config {
    /// Build the configuration from a parsed command line (which already folded in the
    /// environment) on top of the optional file on top of the defaults.
    pub fn from_cli(cli: Cli) -> Result<Config, ConfigError> {
        let mut config = match &cli.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if cli.no_demo {
            config.demo = false;
        }
        if cli.log_json {
            config.log_json = true;
        }
        if cli.no_webhook_delivery {
            config.webhook_delivery = false;
        }
        if cli.web_dir.is_some() {
            config.web_dir = cli.web_dir.clone();
        }
        overlay!(
            config,
            cli,
            listen,
            data_dir,
            workers,
            store,
            sqlite_synchronous,
            scylla_uri,
            scylla_keyspace,
            scylla_replication_factor,
            log_level,
            heartbeat_ms,
            idle_timeout_ms,
            hello_timeout_ms,
            agent_grace_ms,
            assign_timeout_ms,
            janitor_interval_ms,
            passivate_after_ms,
            resume_window,
            max_subscriptions_per_socket,
            rate_per_sec,
            rate_burst,
            send_queue_frames,
            max_frame_bytes,
            max_connections,
            backlog,
            shards,
            token_ttl_secs,
            cluster_secret,
            cluster_lease_ms,
            cluster_heartbeat_ms,
            cluster_wait_ms,
            cluster_wait_buffer,
            cluster_max_moves,
            attachment_max_bytes,
            smtp_port,
            smtp_password,
            smtp_from,
            trusted_proxies,
            retention_sweep_interval_ms,
            webhook_max_attempts,
            webhook_retry_base_ms,
            webhook_timeout_ms,
            webhook_concurrency,
            webhook_poll_ms,
        );
        config.overlay_assist(cli.blob_dir, cli.smtp_host, cli.smtp_tls, cli.smtp_username);
        if let Some(path) = cli.tls_cert {
            config.tls_cert = Some(path);
        }
        if let Some(path) = cli.tls_key {
            config.tls_key = Some(path);
        }
        if let Some(url) = cli.public_url {
            config.public_url = Some(url);
        }
        // Optional in the file too: a flag sets it, it never unsets it.
        if let Some(node_id) = cli.node_id {
            config.node_id = Some(node_id);
        }
        if let Some(addr) = cli.cluster_listen {
            config.cluster_listen = Some(addr);
        }
        if let Some(addr) = cli.cluster_advertise {
            config.cluster_advertise = Some(addr);
        }
        if let Some(path) = cli.geoip_db {
            config.geoip_db = Some(path);
        }
        config.validate()?;
        Ok(config)
    }

    pub fn from_file(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("heartbeat_ms", self.heartbeat_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("hello_timeout_ms", self.hello_timeout_ms),
            ("janitor_interval_ms", self.janitor_interval_ms),
            ("rate_per_sec", self.rate_per_sec as u64),
            ("rate_burst", self.rate_burst as u64),
            ("send_queue_frames", self.send_queue_frames as u64),
            ("shards", self.shards as u64),
            (
                "retention_sweep_interval_ms",
                self.retention_sweep_interval_ms,
            ),
            ("webhook_max_attempts", self.webhook_max_attempts as u64),
            ("webhook_timeout_ms", self.webhook_timeout_ms),
            ("webhook_concurrency", self.webhook_concurrency as u64),
            ("webhook_poll_ms", self.webhook_poll_ms),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be greater than 0"
                )));
            }
        }
        if self.max_frame_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "max_frame_bytes must be at least 1024".into(),
            ));
        }
        crate::abuse::peer::TrustedProxies::parse(&self.trusted_proxies)
            .map_err(ConfigError::Invalid)?;
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "tls_cert and tls_key go together: set both, or neither".into(),
            ));
        }
        self.validate_cluster()?;
        self.validate_assist()
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("switchboard.db")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sb.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nagent_grace_ms = 1234\nrate_burst = 7\n",
        )
        .unwrap();
        let cli = Cli::parse_from([
            "switchboard",
            "--config",
            file.to_str().unwrap(),
            "--rate-burst",
            "9",
            "--no-demo",
        ]);
        let config = Config::from_cli(cli).unwrap();
        assert_eq!(
            config.listen,
            "127.0.0.1:9000".parse().unwrap(),
            "from the file"
        );
        assert_eq!(config.agent_grace_ms, 1234, "from the file");
        assert_eq!(config.rate_burst, 9, "the flag wins");
        assert!(!config.demo);
        assert_eq!(
            config.heartbeat_ms,
            Config::default().heartbeat_ms,
            "default kept"
        );
    }

    #[test]
    fn bad_files_and_values_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sb.toml");
        std::fs::write(&file, "no_such_option = 1\n").unwrap();
        let err = Config::from_cli(Cli::parse_from([
            "switchboard",
            "--config",
            file.to_str().unwrap(),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("no_such_option"), "{err}");
        let err = Config::from_cli(Cli::parse_from(["switchboard", "--shards", "0"])).unwrap_err();
        assert!(err.to_string().contains("shards"), "{err}");
    }
}
