//! `switchboard site|agent|api-key ...`: manage sites, their agents and API keys straight on
//! the store, without a running node (the same operations as the admin API, `sites_admin`).
//! Each command prints one JSON object on stdout, so scripts and tests can read it; secrets
//! (identity secrets, API keys, invitation links) are printed only by the command that makes
//! them.

use clap::Subcommand;
use serde_json::{json, Value};

use crate::api_keys::{self, ApiKeyId, Scope};
use crate::auth::{random_secret, Tokens};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::{Role, Site, SiteId};
use crate::error::{ApiError, ApiResult};
use crate::sites_admin;
use crate::store::SharedStore;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sites: create, list, rotate a public key or identity secret.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Agents: invite (prints a link that sets a password), deactivate, activate.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// API keys for server-to-server calls: create, list, revoke.
    #[command(subcommand, name = "api-key")]
    ApiKey(KeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Create a site; with --admin-email, also invite its first admin.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_email: Option<String>,
        /// Make the invited admin an owner (may create and manage every site).
        #[arg(long)]
        owner: bool,
    },
    /// Every site (id, name, public key).
    List,
    /// A new public key (pages embedding the old one stop loading the widget).
    RotateKey {
        /// Site id or current public key.
        site: String,
    },
    /// A new identity secret (signatures made with the old one are refused).
    RotateSecret { site: String },
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Invite someone: prints the link where they choose a name and password.
    Invite {
        #[arg(long)]
        site: String,
        #[arg(long)]
        email: String,
        /// agent, admin or owner.
        #[arg(long, default_value = "agent")]
        role: String,
    },
    /// Stop an agent from working (login, sockets, API and routing refuse them).
    Deactivate {
        #[arg(long)]
        email: String,
    },
    Activate {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// A new key (printed once): --scope may repeat (conversations:read, messages:send,
    /// conversations:write, webhooks:manage).
    Create {
        #[arg(long)]
        site: String,
        #[arg(long)]
        name: String,
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    List {
        #[arg(long)]
        site: String,
    },
    Revoke {
        #[arg(long)]
        site: String,
        id: String,
    },
}

/// Run a command to completion; the exit code says whether it worked.
pub fn run(command: Command, config: Config) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("switchboard: cannot start a runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(command, &config)) {
        Ok(out) => {
            println!("{out}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("switchboard: {}: {}", e.code.as_str(), e.message);
            std::process::ExitCode::FAILURE
        }
    }
}

fn base_url(config: &Config) -> String {
    config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen))
}

/// A site by id or public key.
async fn site(store: &SharedStore, key: &str) -> ApiResult<Site> {
    let found = match key.parse::<SiteId>() {
        Ok(id) => store.get_site(id).await?,
        Err(_) => store.site_by_public_key(key).await?,
    };
    found.ok_or_else(|| ApiError::not_found("site"))
}

fn site_json(site: &Site, with_secret: bool) -> Value {
    let mut v = json!({ "id": site.id, "name": site.name, "public_key": site.public_key });
    if with_secret {
        v["identity_secret"] = json!(site.identity_secret);
    }
    v
}

fn role(name: &str) -> ApiResult<Role> {
    Role::parse(name).ok_or_else(|| ApiError::invalid("role is agent, admin or owner"))
}

async fn execute(command: Command, config: &Config) -> ApiResult<Value> {
    let store = crate::server::open_store(config).await?;
    let now = SystemClock.now_ms();
    match command {
        Command::Site(SiteCommand::Create {
            name,
            admin_email,
            owner,
        }) => {
            let created = sites_admin::create_site(&*store, &name).await?;
            let mut out = json!({ "site": site_json(&created, true) });
            if let Some(email) = admin_email {
                let role = if owner { Role::Owner } else { Role::Admin };
                let (token, _) =
                    sites_admin::invite(&*store, created.id, &email, role, now).await?;
                out["invite_link"] = json!(sites_admin::invite_link(&base_url(config), &token));
            }
            Ok(out)
        }
        Command::Site(SiteCommand::List) => {
            let sites: Vec<Value> = store
                .list_sites()
                .await?
                .iter()
                .map(|s| site_json(s, false))
                .collect();
            Ok(json!({ "sites": sites }))
        }
        Command::Site(SiteCommand::RotateKey { site: key }) => {
            let s = site(&store, &key).await?;
            Ok(
                json!({ "site": site_json(&sites_admin::rotate_public_key(&*store, s.id).await?, false) }),
            )
        }
        Command::Site(SiteCommand::RotateSecret { site: key }) => {
            let s = site(&store, &key).await?;
            Ok(
                json!({ "site": site_json(&sites_admin::rotate_identity_secret(&*store, s.id).await?, true) }),
            )
        }
        Command::Agent(AgentCommand::Invite {
            site: key,
            email,
            role: r,
        }) => {
            let s = site(&store, &key).await?;
            let (token, invite) =
                sites_admin::invite(&*store, s.id, &email, role(&r)?, now).await?;
            Ok(
                json!({ "invite": invite, "invite_link": sites_admin::invite_link(&base_url(config), &token) }),
            )
        }
        Command::Agent(AgentCommand::Deactivate { email }) => {
            set_active(&store, &email, false).await
        }
        Command::Agent(AgentCommand::Activate { email }) => set_active(&store, &email, true).await,
        Command::ApiKey(cmd) => api_key(&store, cmd, now).await,
    }
}

async fn set_active(store: &SharedStore, email: &str, active: bool) -> ApiResult<Value> {
    let agent = store
        .agent_by_email(email)
        .await?
        .ok_or_else(|| ApiError::not_found("agent"))?;
    let agent = sites_admin::set_active(&**store, agent.site_id, agent.id, active).await?;
    Ok(json!({ "agent": agent }))
}

async fn api_key(store: &SharedStore, cmd: KeyCommand, now: i64) -> ApiResult<Value> {
    match cmd {
        KeyCommand::Create {
            site: key,
            name,
            scopes,
        } => {
            let s = site(store, &key).await?;
            let scopes = scopes
                .iter()
                .map(|n| {
                    Scope::parse(n).ok_or_else(|| ApiError::invalid(format!("unknown scope {n:?}")))
                })
                .collect::<ApiResult<Vec<_>>>()?;
            // The same signing key the nodes load, so they accept the key.
            let signing = store
                .secret("token_signing_key", random_secret(32).as_bytes())
                .await?;
            let (secret, record) =
                api_keys::generate(&Tokens::new(signing), s.id, name, scopes, now);
            store.put_api_key(&record).await?;
            Ok(json!({ "api_key": record, "secret": secret }))
        }
        KeyCommand::List { site: key } => {
            let s = site(store, &key).await?;
            Ok(json!({ "api_keys": store.list_api_keys(s.id).await? }))
        }
        KeyCommand::Revoke { site: key, id } => {
            let s = site(store, &key).await?;
            let id = id
                .parse()
                .map(ApiKeyId)
                .map_err(|_| ApiError::invalid("the key id is a uuid"))?;
            if !store.revoke_api_key(s.id, id, now).await? {
                return Err(ApiError::not_found("active API key"));
            }
            Ok(json!({ "revoked": id }))
        }
    }
}
