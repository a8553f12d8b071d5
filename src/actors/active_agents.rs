//! Which agents of a site are deactivated, cached per node (issue 12). Agent tokens are
//! stateless, so an HTTP request with the token of an agent deactivated after it signed in is
//! refused here: the gateway asks [`ActiveAgents::check`] for every authenticated request.
//! Entries live [`TTL`] (another node's deactivation is seen within it; this node's at once,
//! [`ActiveAgents::forget`]); a miss reads the site's team once.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::domain::{AgentId, SiteId};
use crate::error::ApiResult;
use crate::store::SharedStore;

/// How long a site's list of deactivated agents is trusted.
pub const TTL: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct ActiveAgents {
    inactive: Mutex<HashMap<SiteId, (HashSet<AgentId>, Instant)>>,
}

impl ActiveAgents {
    /// Whether `agent` of `site` may act (unknown agents count as active: the caller's token
    /// was signed by us, and the handler finds out whether the agent exists).
    pub async fn check(
        &self,
        store: &SharedStore,
        site: SiteId,
        agent: AgentId,
    ) -> ApiResult<bool> {
        if let Some((set, at)) = self.inactive.lock().get(&site) {
            if at.elapsed() < TTL {
                return Ok(!set.contains(&agent));
            }
        }
        let team = store.list_agents(site).await?;
        let set: HashSet<AgentId> = team.iter().filter(|a| !a.active).map(|a| a.id).collect();
        let active = !set.contains(&agent);
        self.inactive.lock().insert(site, (set, Instant::now()));
        Ok(active)
    }

    /// A site's team changed on this node: read it again on the next check.
    pub fn forget(&self, site: SiteId) {
        self.inactive.lock().remove(&site);
    }
}
