//! The load-test agents' accounts: log each one in, creating it first (as the admin) when it
//! does not exist yet, a few at a time. Accounts are kept between runs (same emails), so a
//! second run against the same data only logs in.
//!
//! Everything goes through one node (the first target): today every node is its own system,
//! and in a cluster any node serves the API for the whole site.

use std::net::SocketAddr;

use crate::api::Api;
use crate::scenario::Agents;
use crate::worker::AgentCreds;

/// Logins in flight at once: the node hashes passwords on two threads.
const CONCURRENCY: usize = 8;

/// Log in (creating when missing) `n` load-test agents.
pub async fn prepare(
    api: &Api,
    node: SocketAddr,
    admin: (&str, &str),
    cfg: &Agents,
    n: usize,
) -> Result<Vec<AgentCreds>, String> {
    if n == 0 {
        // Not even the admin login: its password hash would skew the server's RSS baseline.
        return Ok(Vec::new());
    }
    let (admin_token, _) = api.login(node, admin.0, admin.1).await?.ok_or_else(|| {
        format!(
            "admin login as {} failed (use --admin-email/--admin-password)",
            admin.0
        )
    })?;
    let mut out = Vec::with_capacity(n);
    let mut set = tokio::task::JoinSet::new();
    let mut next = 0;
    while out.len() < n {
        while next < n && set.len() < CONCURRENCY {
            let email = format!("{}-{next}@load.test", cfg.email_prefix);
            let (api, password, capacity) = (api.clone(), cfg.password.clone(), cfg.capacity);
            let admin = admin_token.clone();
            set.spawn(async move {
                if let Some((token, agent_id)) = api.login(node, &email, &password).await? {
                    return Ok::<_, String>(AgentCreds {
                        email,
                        agent_id,
                        token,
                    });
                }
                api.create_agent(node, &admin, &email, &password, capacity)
                    .await?;
                let (token, agent_id) = api
                    .login(node, &email, &password)
                    .await?
                    .ok_or_else(|| format!("agent {email} created but cannot log in"))?;
                Ok(AgentCreds {
                    email,
                    agent_id,
                    token,
                })
            });
            next += 1;
        }
        match set.join_next().await {
            Some(Ok(r)) => out.push(r?),
            Some(Err(e)) => return Err(e.to_string()),
            None => break,
        }
    }
    Ok(out)
}
