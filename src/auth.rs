//! Identity and access: agent passwords (argon2), signed bearer tokens for agents and visitors,
//! and the HMAC identity signatures that sites make for their logged-in users.
//!
//! Tokens are stateless, `<kind>.<base64url(json claims)>.<hex HMAC-SHA256>`, signed with a key
//! kept in the store so that every node of a cluster accepts every other node's tokens.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::clock::Millis;
use crate::domain::{AgentId, Role, SiteId, VisitorId};
use crate::error::{ApiError, ErrorCode};

type HmacSha256 = Hmac<Sha256>;

/// An argon2id PHC string for `password`.
pub fn hash_password(password: &str) -> String {
    let mut salt_bytes = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes is a valid salt length");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        // Hashing only fails for out-of-range parameters, which the defaults are not.
        .expect("argon2 default parameters are valid")
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// argon2 takes ~19 MiB and tens of milliseconds per hash, by design. Hashes run on a small
/// fixed pool of threads: on tokio's blocking pool every thread that ever hashed kept its freed
/// 19 MiB arena (glibc), and 200 logins left a node at 2-3 GB. Two threads also bound the CPU a
/// burst of logins can take from chat traffic.
struct HashPool {
    jobs: std::sync::mpsc::SyncSender<Box<dyn FnOnce() + Send>>,
}

const HASH_THREADS: usize = 2;
const HASH_QUEUE: usize = 1024;

static HASH_POOL: std::sync::LazyLock<HashPool> = std::sync::LazyLock::new(|| {
    let (jobs, queue) = std::sync::mpsc::sync_channel::<Box<dyn FnOnce() + Send>>(HASH_QUEUE);
    let queue = std::sync::Arc::new(parking_lot::Mutex::new(queue));
    for n in 0..HASH_THREADS {
        let queue = queue.clone();
        std::thread::Builder::new()
            .name(format!("password-hash-{n}"))
            .spawn(move || loop {
                let job = queue.lock().recv();
                match job {
                    Ok(job) => {
                        job();
                        release_freed_memory();
                    }
                    Err(_) => return,
                }
            })
            .expect("spawn password hashing thread");
    }
    HashPool { jobs }
});

/// Give the 19 MiB argon2 just freed back to the OS. Measured: glibc kept every hash's buffer
/// in the thread's heap (RSS grew ~19.5 MB per login, 97 MB after five), because the buffers
/// are too large to be reused in place but below the arena's trim threshold.
fn release_freed_memory() {
    crate::memory::trim();
}

/// Run `f` on the hashing pool; `unavailable` when a flood of logins fills its queue.
async fn on_hash_pool<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Box<dyn FnOnce() + Send> = Box::new(move || {
        let _ = tx.send(f());
    });
    HASH_POOL
        .jobs
        .try_send(job)
        .map_err(|_| ApiError::new(ErrorCode::Unavailable, "too many logins at once; retry"))?;
    rx.await
        .map_err(|_| ApiError::internal("password hashing failed"))
}

/// [`hash_password`] off the async threads, on the bounded hashing pool.
pub async fn hash_password_pooled(password: String) -> Result<String, ApiError> {
    on_hash_pool(move || hash_password(&password)).await
}

/// [`verify_password`] off the async threads, on the bounded hashing pool.
pub async fn verify_password_pooled(password: String, phc: String) -> Result<bool, ApiError> {
    on_hash_pool(move || verify_password(&password, &phc)).await
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length.
    HmacSha256::new_from_slice(key).expect("HMAC takes any key length")
}

/// What a site's backend computes for a logged-in user: hex(HMAC-SHA256(identity_secret, user_id)).
pub fn sign_identity(identity_secret: &str, user_id: &str) -> String {
    let mut m = mac(identity_secret.as_bytes());
    m.update(user_id.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// Constant-time check of an identity signature.
pub fn verify_identity(identity_secret: &str, user_id: &str, signature: &str) -> bool {
    let Ok(given) = hex::decode(signature) else {
        return false;
    };
    let mut m = mac(identity_secret.as_bytes());
    m.update(user_id.as_bytes());
    m.verify_slice(&given).is_ok()
}

/// A fresh random secret, hex-encoded.
pub fn random_secret(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::Rng::fill(&mut rand::rng(), buf.as_mut_slice());
    hex::encode(buf)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentClaims {
    pub sub: AgentId,
    pub site: SiteId,
    pub role: Role,
    /// Display name at login, used as the author name of the agent's messages.
    pub name: String,
    pub exp: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitorClaims {
    pub sub: VisitorId,
    pub site: SiteId,
    /// A verified (identified) visitor's token: it never stands in for the identity signature.
    #[serde(default)]
    pub verified: bool,
}

const AGENT_PREFIX: &str = "at1";
const VISITOR_PREFIX: &str = "vt1";

/// Issues and checks tokens with the cluster's signing key.
#[derive(Clone)]
pub struct Tokens {
    key: std::sync::Arc<Vec<u8>>,
}

impl Tokens {
    pub fn new(key: Vec<u8>) -> Self {
        Tokens {
            key: std::sync::Arc::new(key),
        }
    }

    /// A key for another purpose (the API keys' hash), derived from the signing key so every
    /// node has it without another stored secret: HMAC-SHA256(signing key, `purpose`).
    pub fn derive_key(&self, purpose: &str) -> Vec<u8> {
        let mut m = mac(&self.key);
        m.update(purpose.as_bytes());
        m.finalize().into_bytes().to_vec()
    }

    fn sign<T: Serialize>(&self, prefix: &str, claims: &T) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
        let mut m = mac(&self.key);
        m.update(prefix.as_bytes());
        m.update(body.as_bytes());
        format!("{prefix}.{body}.{}", hex::encode(m.finalize().into_bytes()))
    }

    fn open<T: for<'de> Deserialize<'de>>(&self, prefix: &str, token: &str) -> Option<T> {
        let mut parts = token.splitn(3, '.');
        let (p, body, sig) = (parts.next()?, parts.next()?, parts.next()?);
        if p != prefix {
            return None;
        }
        let mut m = mac(&self.key);
        m.update(prefix.as_bytes());
        m.update(body.as_bytes());
        m.verify_slice(&hex::decode(sig).ok()?).ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()
    }

    pub fn issue_agent(&self, claims: &AgentClaims) -> String {
        self.sign(AGENT_PREFIX, claims)
    }

    pub fn verify_agent(&self, token: &str, now: Millis) -> Result<AgentClaims, ApiError> {
        match self.open::<AgentClaims>(AGENT_PREFIX, token) {
            Some(c) if c.exp > now => Ok(c),
            Some(_) => Err(ApiError::new(
                ErrorCode::Unauthorized,
                "token expired; log in again",
            )),
            None => Err(ApiError::new(ErrorCode::Unauthorized, "invalid token")),
        }
    }

    pub fn issue_visitor(&self, claims: &VisitorClaims) -> String {
        self.sign(VISITOR_PREFIX, claims)
    }

    /// The visitor a token names, if it is genuine, whatever its site (its claims name it): for
    /// the HTTP endpoints a visitor calls without a socket (attachments, its messages).
    pub fn visitor_claims(&self, token: &str) -> Option<VisitorClaims> {
        self.open::<VisitorClaims>(VISITOR_PREFIX, token)
    }

    /// The visitor a token names, if it is genuine and belongs to `site`.
    pub fn verify_visitor(&self, token: &str, site: SiteId) -> Option<VisitorClaims> {
        self.open::<VisitorClaims>(VISITOR_PREFIX, token)
            .filter(|c| c.site == site)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_signatures() {
        let sig = sign_identity("s3cret", "u-1");
        assert!(verify_identity("s3cret", "u-1", &sig));
        assert!(!verify_identity("s3cret", "u-2", &sig));
        assert!(!verify_identity("other", "u-1", &sig));
        assert!(!verify_identity("s3cret", "u-1", "zz"));
    }

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let t = Tokens::new(b"key".to_vec());
        let claims = AgentClaims {
            sub: AgentId::new(),
            site: SiteId::new(),
            role: Role::Agent,
            name: "A".into(),
            exp: 10,
        };
        let token = t.issue_agent(&claims);
        assert_eq!(t.verify_agent(&token, 5).unwrap(), claims);
        assert_eq!(
            t.verify_agent(&token, 11).unwrap_err().code,
            ErrorCode::Unauthorized
        );
        let forged = token.replace("at1.", "at1.x");
        assert!(t.verify_agent(&forged, 5).is_err());
        assert!(Tokens::new(b"other".to_vec())
            .verify_agent(&token, 5)
            .is_err());
        let site = SiteId::new();
        let v = t.issue_visitor(&VisitorClaims {
            sub: VisitorId::new(),
            site,
            verified: false,
        });
        assert!(t.verify_visitor(&v, site).is_some());
        assert!(t.verify_visitor(&v, SiteId::new()).is_none());
        assert!(t.verify_agent(&v, 0).is_err());
    }

    #[test]
    fn passwords() {
        let h = hash_password("pw");
        assert!(verify_password("pw", &h));
        assert!(!verify_password("nope", &h));
        assert!(!verify_password("pw", "garbage"));
    }
}
