//! The handshake that opens every link: a protocol version both ends speak, proof that both
//! hold the cluster secret, and each end's node id and incarnation, before any payload flows.
//!
//! ```text
//! dialer                                        acceptor
//!   Hello {magic, protocols, app, node, incarnation, expect, nonce_d} ->
//!                                                 magic, versions, "am I `expect`?"
//!   <- Welcome {protocol, app, node, incarnation, nonce_a, proof_a}
//!   node, protocol, proof_a
//!   Proof {proof_d} ->
//!                                                 proof_d, then admit (known peer, incarnation)
//!   <- Accepted
//! ```
//! `proof_x = HMAC-SHA256(secret, role_x | protocol | dialer id, incarnation, nonce_d |
//! acceptor id, incarnation, nonce_a)`. Fresh nonces from both ends and the role in the MAC mean
//! no proof can be replayed or reflected; the acceptor proves itself first, so a node never
//! signs a dialer proof for an impostor. Either end may send `Refused {reason}` instead of its
//! next step and close: the other end learns why (logged and counted on both).

use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use super::config::ProtocolRange;
use super::wire;
use super::PeerInfo;
use crate::cluster::NodeId;

const MAGIC: &str = "switchboard-link";
const NONCE_BYTES: usize = 32;

type Link<T> = Framed<T, LengthDelimitedCodec>;

/// Why a handshake failed: sent to the other end in `Refused`, logged and counted
/// (`switchboard_cluster_link_handshake_failures_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    #[error("a handshake frame did not decode (not a switchboard link?)")]
    Malformed,
    #[error("a handshake frame was larger than allowed")]
    Oversized,
    #[error("no link protocol version both nodes speak")]
    IncompatibleProtocol,
    #[error("the other node does not hold the same cluster secret")]
    BadSecret,
    #[error("the node at that address is not the one dialed")]
    WrongNode,
    #[error("a node dialed itself (two nodes share an id?)")]
    SelfConnection,
    #[error("the dialing node is not in the acceptor's peer list")]
    UnknownNode,
    #[error("the node that should dial was dialed (the lower node id dials)")]
    WrongDirection,
    #[error("an older incarnation of the node than the one already linked")]
    StaleIncarnation,
    #[error("the handshake took too long")]
    Timeout,
    #[error("the connection closed during the handshake")]
    Closed,
    #[error("the connection failed during the handshake")]
    Io,
    /// A reason added by a newer version.
    #[serde(other)]
    #[error("refused for a reason this version does not know")]
    Other,
}

impl Refusal {
    pub const ALL: [Refusal; 13] = [
        Refusal::Malformed,
        Refusal::Oversized,
        Refusal::IncompatibleProtocol,
        Refusal::BadSecret,
        Refusal::WrongNode,
        Refusal::SelfConnection,
        Refusal::UnknownNode,
        Refusal::WrongDirection,
        Refusal::StaleIncarnation,
        Refusal::Timeout,
        Refusal::Closed,
        Refusal::Io,
        Refusal::Other,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::Oversized => "oversized",
            Refusal::IncompatibleProtocol => "incompatible_protocol",
            Refusal::BadSecret => "bad_secret",
            Refusal::WrongNode => "wrong_node",
            Refusal::SelfConnection => "self_connection",
            Refusal::UnknownNode => "unknown_node",
            Refusal::WrongDirection => "wrong_direction",
            Refusal::StaleIncarnation => "stale_incarnation",
            Refusal::Timeout => "timeout",
            Refusal::Closed => "closed",
            Refusal::Io => "io",
            Refusal::Other => "other",
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Shake {
    Hello {
        magic: String,
        protocol_min: u16,
        protocol_max: u16,
        app_version: String,
        node: String,
        incarnation: u64,
        /// The node the dialer means to reach: an address reused by another node is noticed.
        expect: String,
        /// The largest frame this end reads: the other end sends nothing larger.
        max_frame: u64,
        nonce: bytes::Bytes,
    },
    Welcome {
        protocol: u16,
        app_version: String,
        node: String,
        incarnation: u64,
        max_frame: u64,
        nonce: bytes::Bytes,
        proof: bytes::Bytes,
    },
    Proof {
        proof: bytes::Bytes,
    },
    Accepted,
    Refused {
        reason: Refusal,
    },
}

/// This end of the handshake.
pub(crate) struct Local<'a> {
    pub node: &'a NodeId,
    pub incarnation: u64,
    pub protocol: ProtocolRange,
    pub app_version: &'a str,
    pub max_frame_bytes: usize,
    pub secret: &'a [u8],
}

/// Open a link as the dialer; `expect` is the node we mean to reach.
pub(crate) async fn dial<T: AsyncRead + AsyncWrite + Unpin>(
    link: &mut Link<T>,
    local: &Local<'_>,
    expect: &NodeId,
) -> Result<PeerInfo, Refusal> {
    let nonce_d: [u8; NONCE_BYTES] = rand::random();
    send(
        link,
        &Shake::Hello {
            magic: MAGIC.into(),
            protocol_min: local.protocol.min,
            protocol_max: local.protocol.max,
            app_version: local.app_version.into(),
            node: local.node.0.clone(),
            incarnation: local.incarnation,
            expect: expect.0.clone(),
            max_frame: local.max_frame_bytes as u64,
            nonce: bytes::Bytes::copy_from_slice(&nonce_d),
        },
    )
    .await?;
    let Shake::Welcome {
        protocol,
        app_version,
        node,
        incarnation,
        max_frame,
        nonce,
        proof,
    } = receive(link).await?
    else {
        return refuse(link, Refusal::Malformed).await;
    };
    if node != expect.0 {
        return refuse(link, Refusal::WrongNode).await;
    }
    if protocol < local.protocol.min || protocol > local.protocol.max {
        return refuse(link, Refusal::IncompatibleProtocol).await;
    }
    if nonce.len() != NONCE_BYTES {
        return refuse(link, Refusal::Malformed).await;
    }
    let transcript = Transcript {
        protocol,
        dialer: (&local.node.0, local.incarnation, &nonce_d),
        acceptor: (&node, incarnation, &nonce),
    };
    if !transcript.verify(local.secret, ACCEPTOR, &proof) {
        return refuse(link, Refusal::BadSecret).await;
    }
    let proof = transcript.sign(local.secret, DIALER);
    send(link, &Shake::Proof { proof }).await?;
    match receive(link).await? {
        Shake::Accepted => Ok(PeerInfo {
            node: NodeId(node),
            incarnation,
            app_version,
            protocol,
            max_frame_bytes: clamp(max_frame),
        }),
        _ => refuse(link, Refusal::Malformed).await,
    }
}

/// Answer a link as the acceptor. `admit` runs once the dialer is authenticated (so strangers
/// learn nothing about the peer list) and may still refuse it.
pub(crate) async fn accept<T, A>(
    link: &mut Link<T>,
    local: &Local<'_>,
    admit: impl FnOnce(&PeerInfo) -> Result<A, Refusal>,
) -> Result<(PeerInfo, A), Refusal>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let Shake::Hello {
        magic,
        protocol_min,
        protocol_max,
        app_version,
        node,
        incarnation,
        expect,
        max_frame,
        nonce: nonce_d,
    } = receive(link).await?
    else {
        return refuse(link, Refusal::Malformed).await;
    };
    if magic != MAGIC || nonce_d.len() != NONCE_BYTES {
        return refuse(link, Refusal::Malformed).await;
    }
    let theirs = ProtocolRange {
        min: protocol_min,
        max: protocol_max,
    };
    let Some(protocol) = local.protocol.negotiate(theirs) else {
        return refuse(link, Refusal::IncompatibleProtocol).await;
    };
    if node == local.node.0 {
        return refuse(link, Refusal::SelfConnection).await;
    }
    if expect != local.node.0 {
        return refuse(link, Refusal::WrongNode).await;
    }
    let nonce_a: [u8; NONCE_BYTES] = rand::random();
    let transcript = Transcript {
        protocol,
        dialer: (&node, incarnation, &nonce_d),
        acceptor: (&local.node.0, local.incarnation, &nonce_a),
    };
    let welcome = Shake::Welcome {
        protocol,
        app_version: local.app_version.into(),
        node: local.node.0.clone(),
        incarnation: local.incarnation,
        max_frame: local.max_frame_bytes as u64,
        nonce: bytes::Bytes::copy_from_slice(&nonce_a),
        proof: transcript.sign(local.secret, ACCEPTOR),
    };
    send(link, &welcome).await?;
    let Shake::Proof { proof } = receive(link).await? else {
        return refuse(link, Refusal::Malformed).await;
    };
    if !transcript.verify(local.secret, DIALER, &proof) {
        return refuse(link, Refusal::BadSecret).await;
    }
    let info = PeerInfo {
        node: NodeId(node.clone()),
        incarnation,
        app_version,
        protocol,
        max_frame_bytes: clamp(max_frame),
    };
    let admitted = match admit(&info) {
        Ok(admitted) => admitted,
        Err(reason) => return refuse(link, reason).await,
    };
    send(link, &Shake::Accepted).await?;
    Ok((info, admitted))
}

/// A peer's announced frame limit, as a size this machine can hold.
fn clamp(max_frame: u64) -> usize {
    usize::try_from(max_frame).unwrap_or(usize::MAX)
}

const DIALER: &[u8] = b"dialer";
const ACCEPTOR: &[u8] = b"acceptor";

/// Everything both ends said, in a fixed order; what the proofs sign.
struct Transcript<'a> {
    protocol: u16,
    dialer: (&'a str, u64, &'a [u8]),
    acceptor: (&'a str, u64, &'a [u8]),
}

impl Transcript<'_> {
    fn mac(&self, secret: &[u8], role: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length: this cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key");
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        let mut field = |bytes: &[u8]| {
            mac.update(&(bytes.len() as u32).to_be_bytes());
            mac.update(bytes);
        };
        field(MAGIC.as_bytes());
        field(role);
        field(&self.protocol.to_be_bytes());
        for (node, incarnation, nonce) in [self.dialer, self.acceptor] {
            field(node.as_bytes());
            field(&incarnation.to_be_bytes());
            field(nonce);
        }
        mac
    }

    fn sign(&self, secret: &[u8], role: &[u8]) -> bytes::Bytes {
        bytes::Bytes::copy_from_slice(&self.mac(secret, role).finalize().into_bytes())
    }

    /// Constant-time comparison (hmac's `verify_slice`).
    fn verify(&self, secret: &[u8], role: &[u8], proof: &[u8]) -> bool {
        self.mac(secret, role).verify_slice(proof).is_ok()
    }
}

async fn send<T: AsyncRead + AsyncWrite + Unpin>(
    link: &mut Link<T>,
    shake: &Shake,
) -> Result<(), Refusal> {
    let bytes = wire::encode(shake).map_err(|_| Refusal::Malformed)?;
    link.send(bytes).await.map_err(|_| Refusal::Io)
}

async fn receive<T: AsyncRead + AsyncWrite + Unpin>(link: &mut Link<T>) -> Result<Shake, Refusal> {
    match link.next().await {
        None => Err(Refusal::Closed),
        Some(Err(e)) if wire::is_oversized(&e) => Err(Refusal::Oversized),
        Some(Err(_)) => Err(Refusal::Io),
        Some(Ok(frame)) => match wire::decode(&frame) {
            // The other end refused us: its reason is ours.
            Ok(Shake::Refused { reason }) => Err(reason),
            Ok(shake) => Ok(shake),
            Err(_) => Err(Refusal::Malformed),
        },
    }
}

/// Tell the other end why (best effort: it may be gone), then fail with that reason.
async fn refuse<T: AsyncRead + AsyncWrite + Unpin, R>(
    link: &mut Link<T>,
    reason: Refusal,
) -> Result<R, Refusal> {
    let _ = send(link, &Shake::Refused { reason }).await;
    Err(reason)
}

#[cfg(test)]
#[path = "handshake_tests.rs"]
mod tests;
