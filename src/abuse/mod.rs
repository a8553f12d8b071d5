//! Abuse: what keeps one client from spoiling the node for the others. Map:
//! - [`peer`]: the client's address, believing `X-Forwarded-For` from trusted proxies only;
//! - [`buckets`]: token buckets keyed by (site, visitor or agent, address);
//! - [`logins`]: agent logins throttled per account and per address, before argon2 runs;
//! - [`origin`]: the widget socket's page origin against the site's allowlist.
//!
//! [`Guards`] is this node's share of it (node-local state, docs/architecture.md).

pub mod buckets;
pub mod logins;
pub mod origin;
pub mod peer;

use crate::config::Config;

/// The node-local abuse state every socket and login consults.
pub struct Guards {
    pub trusted_proxies: peer::TrustedProxies,
    pub rates: buckets::RateLimits,
    pub logins: logins::LoginThrottle,
}

impl Guards {
    /// From the configuration (validated at startup: a bad `trusted_proxies` entry stops the
    /// node there, so none is left here).
    pub fn new(config: &Config) -> Guards {
        Guards {
            trusted_proxies: peer::TrustedProxies::parse(&config.trusted_proxies)
                .unwrap_or_default(),
            rates: buckets::RateLimits::new(config.rate_per_sec, config.rate_burst),
            logins: logins::LoginThrottle::default(),
        }
    }
}
