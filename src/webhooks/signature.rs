//! Webhook signatures: `X-Switchboard-Signature: t=<unix seconds>,v1=<hex>` where the hex is
//! HMAC-SHA256(endpoint secret, "<t>.<raw body>"). The timestamp is signed with the body, so a
//! receiver that refuses signatures older than its replay window (we suggest 5 minutes) cannot
//! be fed an old request again; the event id header lets it drop legitimate retries.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header names a receiver reads.
pub const SIGNATURE_HEADER: &str = "X-Switchboard-Signature";
pub const EVENT_ID_HEADER: &str = "X-Switchboard-Event-Id";
pub const EVENT_TYPE_HEADER: &str = "X-Switchboard-Event";

/// The replay window docs/api.md recommends to receivers, in seconds.
pub const SUGGESTED_TOLERANCE_SECS: i64 = 300;

fn mac(secret: &str, t: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` sent at `t` (Unix seconds).
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let tag = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(tag))
}

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Malformed,
    Expired,
    Mismatch,
}

/// Check a header as a receiver would: well-formed, `t` within `tolerance_secs` of `now`
/// (Unix seconds), and one of its `v1` tags right (compared in constant time).
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), Refused> {
    let mut t = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => tags.push(hex::decode(v).map_err(|_| Refused::Malformed)?),
            _ => {}
        }
    }
    let t = t.ok_or(Refused::Malformed)?;
    if tags.is_empty() {
        return Err(Refused::Malformed);
    }
    if (now - t).abs() > tolerance_secs {
        return Err(Refused::Expired);
    }
    let ok = tags
        .iter()
        .any(|tag| mac(secret, t, body).verify_slice(tag).is_ok());
    ok.then_some(()).ok_or(Refused::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_secret_body_and_time() {
        let header = sign("whsec_a", 1_700_000_000, b"{\"x\":1}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(
            verify("whsec_a", &header, b"{\"x\":1}", 1_700_000_100, 300),
            Ok(())
        );
        assert_eq!(
            verify("whsec_b", &header, b"{\"x\":1}", 1_700_000_100, 300),
            Err(Refused::Mismatch)
        );
        assert_eq!(
            verify("whsec_a", &header, b"{\"x\":2}", 1_700_000_100, 300),
            Err(Refused::Mismatch)
        );
        assert_eq!(
            verify("whsec_a", &header, b"{\"x\":1}", 1_700_000_301, 300),
            Err(Refused::Expired)
        );
        assert_eq!(
            verify("whsec_a", "v1=zz", b"", 0, 300),
            Err(Refused::Malformed)
        );
    }

    #[test]
    fn the_tag_is_hmac_sha256_of_time_dot_body() {
        // Computed independently: printf '123.hello' | openssl dgst -sha256 -hmac key
        assert_eq!(
            sign("key", 123, b"hello"),
            "t=123,v1=b6e30b23e36523a8f399edda0e8509298beb4110e4c9297f5aac91a7a18a260c"
        );
    }
}
