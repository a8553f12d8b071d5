//! The cluster options of [`Config`]: who this node is, where node links listen and are dialed,
//! and the shared secret that authenticates them. Unset, a node runs alone exactly as before.

use std::net::SocketAddr;

use serde::Deserialize;

use super::{Config, ConfigError};

/// A secret option: parsed like a string, never printed by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The length says "set or not" without leaking anything useful.
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

/// The shortest cluster secret accepted: HMAC keys shorter than this are guessable.
pub const MIN_CLUSTER_SECRET_BYTES: usize = 16;

impl Config {
    pub(super) fn validate_cluster(&self) -> Result<(), ConfigError> {
        if let Some(id) = &self.node_id {
            if id.is_empty()
                || id.len() > 64
                || id.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(ConfigError::Invalid(
                    "node_id must be 1-64 characters without spaces".into(),
                ));
            }
        }
        let Some(listen) = self.cluster_listen else {
            if self.cluster_advertise.is_some() {
                return Err(ConfigError::Invalid(
                    "cluster_advertise needs cluster_listen".into(),
                ));
            }
            return Ok(());
        };
        if self.cluster_secret.expose().len() < MIN_CLUSTER_SECRET_BYTES {
            return Err(ConfigError::Invalid(format!(
                "cluster_secret must be at least {MIN_CLUSTER_SECRET_BYTES} bytes when cluster_listen is set"
            )));
        }
        let advertise = self.cluster_advertise.unwrap_or(listen);
        if advertise.ip().is_unspecified() || advertise.port() == 0 {
            return Err(ConfigError::Invalid(format!(
                "cluster_advertise must be an address other nodes can dial (got {advertise}); \
                 set it when cluster_listen is {listen}"
            )));
        }
        Ok(())
    }

    /// Whether this node links to others.
    pub fn clustered(&self) -> bool {
        self.cluster_listen.is_some()
    }

    /// The address other nodes dial, when clustered.
    pub fn cluster_advertise_addr(&self) -> Option<SocketAddr> {
        self.cluster_advertise.or(self.cluster_listen)
    }

    /// This node's id: the configured one, else the advertised cluster address (unique by
    /// construction), else the HTTP listen address (a single node, as before clustering).
    pub fn node_id(&self) -> String {
        match (&self.node_id, self.cluster_advertise_addr()) {
            (Some(id), _) => id.clone(),
            (None, Some(addr)) => addr.to_string(),
            (None, None) => self.listen.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::Cli;
    use super::*;

    #[test]
    fn cluster_options_default_to_a_single_node_and_are_checked() {
        let single = Config::from_cli(Cli::parse_from(["switchboard"])).unwrap();
        assert!(!single.clustered());
        assert_eq!(single.node_id(), "127.0.0.1:8080", "as before clustering");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sb.toml");
        std::fs::write(
            &file,
            "node_id = \"n1\"\ncluster_listen = \"0.0.0.0:7400\"\n\
             cluster_advertise = \"127.0.0.2:7400\"\ncluster_secret = \"0123456789abcdef-secret\"\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let args = [
            "switchboard",
            "--config",
            path,
            "--cluster-advertise",
            "127.0.0.3:7400",
        ];
        let config = Config::from_cli(Cli::parse_from(args)).unwrap();
        assert!(config.clustered());
        assert_eq!(config.node_id(), "n1");
        assert_eq!(config.cluster_listen, Some("0.0.0.0:7400".parse().unwrap()));
        assert_eq!(
            config.cluster_advertise_addr(),
            Some("127.0.0.3:7400".parse().unwrap()),
            "the flag wins"
        );
        assert_eq!(config.cluster_secret.expose(), b"0123456789abcdef-secret");
        assert!(
            !format!("{config:?}").contains("0123456789abcdef"),
            "Debug hides the secret"
        );

        let refused = |args: &[&str], mention: &str| {
            let err = Config::from_cli(Cli::parse_from(args)).unwrap_err();
            assert!(err.to_string().contains(mention), "{err}");
        };
        let listen = ["switchboard", "--cluster-listen", "127.0.0.1:7400"];
        refused(&listen, "cluster_secret");
        let short = [&listen[..], &["--cluster-secret", "short"]].concat();
        refused(&short, "cluster_secret");
        let anywhere = [
            "switchboard",
            "--cluster-listen",
            "0.0.0.0:7400",
            "--cluster-secret",
            "0123456789abcdef",
        ];
        refused(&anywhere, "cluster_advertise");
        refused(&["switchboard", "--node-id", "two words"], "node_id");
        let ok = [&listen[..], &["--cluster-secret", "0123456789abcdef"]].concat();
        let config = Config::from_cli(Cli::parse_from(ok)).unwrap();
        assert_eq!(
            config.node_id(),
            "127.0.0.1:7400",
            "the advertised address by default"
        );
    }
}
