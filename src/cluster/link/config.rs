//! The settings of a node's links: who this node is, where it listens, the shared secret, and
//! the timings and bounds that decide how fast a dead peer is noticed and how much is queued.
//! Defaults are production values (docs/cluster.md explains each); tests shrink the timings.

use std::net::SocketAddr;
use std::time::Duration;

use crate::cluster::NodeId;
use crate::config::Config;

/// The link protocol this build speaks. Raise it when a frame changes incompatibly, and keep
/// speaking the old one (`ProtocolRange::min`) for one release so rolling upgrades work.
pub const PROTOCOL_VERSION: u16 = 1;

/// The protocol versions a node can speak; two nodes use the highest version both speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolRange {
    pub min: u16,
    pub max: u16,
}

impl ProtocolRange {
    pub const CURRENT: ProtocolRange = ProtocolRange {
        min: PROTOCOL_VERSION,
        max: PROTOCOL_VERSION,
    };

    /// The version two ranges agree on, if any.
    pub fn negotiate(self, other: ProtocolRange) -> Option<u16> {
        let version = self.max.min(other.max);
        (version >= self.min.max(other.min)).then_some(version)
    }
}

#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub node: NodeId,
    /// Distinguishes this run of the node from earlier ones (the membership table assigns it);
    /// a peer that sees a higher incarnation replaces the link it had with the older one.
    pub incarnation: u64,
    /// Where to accept links (port 0 picks one; [`super::Links::local_addr`] tells which).
    pub listen: SocketAddr,
    /// The cluster secret. Both ends prove they know it; it never travels.
    pub secret: Vec<u8>,
    /// This build's version, exchanged in the handshake and logged (rolling upgrades).
    pub app_version: String,
    pub protocol: ProtocolRange,
    /// Largest frame on an established link; larger payloads are refused at the caller.
    pub max_frame_bytes: usize,
    /// Requests and messages queued per peer before callers get `Backpressure`.
    pub queue_frames: usize,
    /// Inbound requests handled at once per link; more are answered `Failed(Overloaded)`.
    pub max_inbound_requests: usize,
    /// Both ends send a ping this often.
    pub ping_interval: Duration,
    /// A link that received nothing (not even a ping) this long, or whose writes are stuck
    /// this long, is dead: how fast a half-open connection is found.
    pub idle_timeout: Duration,
    /// Connecting plus the whole handshake must fit in this.
    pub handshake_timeout: Duration,
    /// Redial delays grow from `backoff_min`, doubling, to `backoff_max` (each jittered).
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl LinkConfig {
    /// Production defaults for a node.
    pub fn new(node: NodeId, incarnation: u64, listen: SocketAddr, secret: Vec<u8>) -> Self {
        LinkConfig {
            node,
            incarnation,
            listen,
            secret,
            app_version: env!("CARGO_PKG_VERSION").to_owned(),
            protocol: ProtocolRange::CURRENT,
            max_frame_bytes: 8 * 1024 * 1024,
            queue_frames: 4096,
            max_inbound_requests: 1024,
            ping_interval: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(4),
            handshake_timeout: Duration::from_secs(3),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }

    /// The link settings of a clustered node's configuration (`None` on a single node).
    pub fn from_config(config: &Config, incarnation: u64) -> Option<Self> {
        let listen = config.cluster_listen?;
        Some(LinkConfig::new(
            NodeId(config.node_id()),
            incarnation,
            listen,
            config.cluster_secret.expose().to_vec(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_ranges_speak_the_highest_version_both_know() {
        let r = |min, max| ProtocolRange { min, max };
        assert_eq!(r(1, 1).negotiate(r(1, 1)), Some(1));
        assert_eq!(r(1, 2).negotiate(r(1, 1)), Some(1));
        assert_eq!(r(1, 3).negotiate(r(2, 4)), Some(3));
        assert_eq!(r(2, 2).negotiate(r(1, 1)), None);
        assert_eq!(r(1, 1).negotiate(r(2, 3)), None);
    }

    #[test]
    fn a_single_node_configuration_has_no_links() {
        assert!(LinkConfig::from_config(&Config::default(), 1).is_none());
        let config = Config {
            cluster_listen: Some("127.0.0.1:7400".parse().unwrap()),
            cluster_secret: crate::config::Secret::new("0123456789abcdef"),
            ..Config::default()
        };
        let link = LinkConfig::from_config(&config, 7).unwrap();
        assert_eq!(link.node, NodeId("127.0.0.1:7400".into()));
        assert_eq!(link.incarnation, 7);
        assert_eq!(link.secret, b"0123456789abcdef");
    }
}
