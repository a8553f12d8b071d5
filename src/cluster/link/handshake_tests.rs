//! Handshake tests over an in-memory pipe: every refusal reaches both ends with its reason.

use std::time::Duration;

use tokio::io::{duplex, AsyncWriteExt, DuplexStream};

use super::*;

struct End {
    node: NodeId,
    incarnation: u64,
    protocol: ProtocolRange,
    secret: Vec<u8>,
}

fn end(node: &str, secret: &str) -> End {
    End {
        node: NodeId(node.into()),
        incarnation: 7,
        protocol: ProtocolRange::CURRENT,
        secret: secret.as_bytes().to_vec(),
    }
}

impl End {
    fn local(&self) -> Local<'_> {
        Local {
            node: &self.node,
            incarnation: self.incarnation,
            protocol: self.protocol,
            app_version: "test",
            max_frame_bytes: 1 << 20,
            secret: &self.secret,
        }
    }
}

fn framed(io: DuplexStream) -> Link<DuplexStream> {
    Framed::new(io, wire::codec(wire::HANDSHAKE_MAX_FRAME))
}

type Outcome = Result<PeerInfo, Refusal>;

/// Both ends of one handshake; a hang would fail the test through the timeout, not hang it.
async fn shake(
    dialer: &End,
    acceptor: &End,
    expect: &str,
    admit: Result<(), Refusal>,
) -> (Outcome, Outcome) {
    let (a, b) = duplex(64 * 1024);
    let (mut a, mut b) = (framed(a), framed(b));
    let (dl, al) = (dialer.local(), acceptor.local());
    let expect = NodeId(expect.into());
    let both = async { tokio::join!(dial(&mut a, &dl, &expect), accept(&mut b, &al, |_| admit)) };
    let (d, a) = tokio::time::timeout(Duration::from_secs(10), both)
        .await
        .expect("handshake finished");
    (d, a.map(|(info, ())| info))
}

#[tokio::test]
async fn nodes_with_the_same_secret_learn_each_other() {
    let (d, a) = (
        end("n1", "s3cret-s3cret-s3cret"),
        end("n2", "s3cret-s3cret-s3cret"),
    );
    let (dialed, accepted) = shake(&d, &a, "n2", Ok(())).await;
    let dialed = dialed.unwrap();
    assert_eq!(dialed.node, NodeId("n2".into()));
    assert_eq!((dialed.incarnation, dialed.protocol), (7, 1));
    assert_eq!(accepted.unwrap().node, NodeId("n1".into()));
}

#[tokio::test]
async fn a_wrong_secret_is_refused_on_both_ends() {
    let (d, a) = (end("n1", "one secret......"), end("n2", "another secret.."));
    let (dialed, accepted) = shake(&d, &a, "n2", Ok(())).await;
    assert_eq!(dialed.unwrap_err(), Refusal::BadSecret);
    assert_eq!(accepted.unwrap_err(), Refusal::BadSecret);
}

#[tokio::test]
async fn versions_without_overlap_are_refused() {
    let mut d = end("n1", "same secret.....");
    d.protocol = ProtocolRange { min: 2, max: 3 };
    let a = end("n2", "same secret.....");
    let (dialed, accepted) = shake(&d, &a, "n2", Ok(())).await;
    assert_eq!(dialed.unwrap_err(), Refusal::IncompatibleProtocol);
    assert_eq!(accepted.unwrap_err(), Refusal::IncompatibleProtocol);
    // Overlapping ranges agree on the highest common version.
    let mut a = end("n2", "same secret.....");
    a.protocol = ProtocolRange { min: 1, max: 2 };
    let (dialed, _) = shake(&d, &a, "n2", Ok(())).await;
    assert_eq!(dialed.unwrap().protocol, 2);
}

#[tokio::test]
async fn identity_mistakes_are_refused_with_their_reason() {
    let (d, a) = (end("n1", "same secret....."), end("n2", "same secret....."));
    let (dialed, accepted) = shake(&d, &a, "n9", Ok(())).await;
    assert_eq!(dialed.unwrap_err(), Refusal::WrongNode);
    assert_eq!(accepted.unwrap_err(), Refusal::WrongNode);

    let twin = end("n2", "same secret.....");
    let (dialed, _) = shake(&twin, &a, "n2", Ok(())).await;
    assert_eq!(dialed.unwrap_err(), Refusal::SelfConnection);

    let (dialed, accepted) = shake(&d, &a, "n2", Err(Refusal::UnknownNode)).await;
    assert_eq!(dialed.unwrap_err(), Refusal::UnknownNode);
    assert_eq!(accepted.unwrap_err(), Refusal::UnknownNode);
}

#[tokio::test]
async fn garbage_and_oversized_first_frames_are_typed_errors() {
    let a = end("n2", "same secret.....");
    let cases: [(&[u8], Refusal); 3] = [
        (b"\x00\x00\x00\x05hello", Refusal::Malformed),
        (b"\xff\xff\xff\xffGET / HTTP/1.1", Refusal::Oversized),
        (b"\x00\x00", Refusal::Io), // a truncated frame
    ];
    for (bytes, want) in cases {
        let (mut raw, b) = duplex(64 * 1024);
        let mut b = framed(b);
        raw.write_all(bytes).await.unwrap();
        raw.shutdown().await.unwrap();
        let got = accept(&mut b, &a.local(), |_| Ok(())).await.unwrap_err();
        assert_eq!(got, want, "{bytes:?}");
    }
}

#[test]
fn a_proof_signs_one_role_and_one_transcript() {
    let t = Transcript {
        protocol: 1,
        dialer: ("n1", 1, b"nonce-d"),
        acceptor: ("n2", 2, b"nonce-a"),
    };
    let proof = t.sign(b"secret", DIALER);
    assert!(t.verify(b"secret", DIALER, &proof));
    assert!(!t.verify(b"secret", ACCEPTOR, &proof), "reflected");
    assert!(!t.verify(b"other", DIALER, &proof), "another secret");
    let replayed = Transcript {
        acceptor: ("n2", 2, b"nonce-b"),
        ..t
    };
    assert!(!replayed.verify(b"secret", DIALER, &proof), "replayed");
}
