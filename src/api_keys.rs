//! API keys: per-site credentials for server-to-server calls (`Authorization: Bearer sk_...`),
//! each with scopes, revocable, stored only as a keyed hash.
//!
//! A key is `sk_` and 43 base64url characters (256 random bits): too long to guess, so a fast
//! hash suffices (a password hash such as argon2 would cost milliseconds per request). The hash
//! is HMAC-SHA256 keyed with a key derived from the node-wide token signing key, so a copy of
//! the database alone cannot even test guesses. The store finds a key by its hash.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Tokens;
use crate::clock::Millis;
use crate::domain::SiteId;

/// What the hash key is derived for (changing it invalidates every key).
const HASH_PURPOSE: &str = "switchboard api key hash v1";

crate::domain::id_type!(
    /// One API key of a site.
    ApiKeyId
);

/// What a key may do. Each API route names the scope it needs (`gateway::api_keys`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Scope {
    /// List and read conversations, their messages, the queue and visitors.
    #[serde(rename = "conversations:read")]
    ConversationsRead,
    /// Send messages into conversations (authored by the key, under its name).
    #[serde(rename = "messages:send")]
    MessagesSend,
    /// Close, snooze, wake and transfer conversations.
    #[serde(rename = "conversations:write")]
    ConversationsWrite,
    /// Create, change, test and delete webhook endpoints; read the delivery log.
    #[serde(rename = "webhooks:manage")]
    WebhooksManage,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::ConversationsRead,
        Scope::MessagesSend,
        Scope::ConversationsWrite,
        Scope::WebhooksManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ConversationsRead => "conversations:read",
            Scope::MessagesSend => "messages:send",
            Scope::ConversationsWrite => "conversations:write",
            Scope::WebhooksManage => "webhooks:manage",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A stored key: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    #[schema(value_type = String, format = Uuid)]
    pub id: ApiKeyId,
    #[schema(value_type = String, format = Uuid)]
    pub site_id: SiteId,
    /// Who uses it ("CRM sync"); messages sent with the key carry this name.
    pub name: String,
    /// The key's first characters, to tell keys apart in listings (`sk_Ab12Cd`).
    pub prefix: String,
    #[serde(skip)]
    pub hash: String,
    pub scopes: Vec<Scope>,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
}

impl ApiKey {
    pub fn allows(&self, scope: Scope) -> bool {
        self.revoked_at.is_none() && self.scopes.contains(&scope)
    }
}

/// Looks like an API key (and not an agent token), so the API knows which check to run.
pub fn is_api_key(token: &str) -> bool {
    token.starts_with("sk_")
}

/// The stored hash of `key`.
pub fn hash_key(tokens: &Tokens, key: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&tokens.derive_key(HASH_PURPOSE))
        .expect("HMAC takes keys of any length");
    mac.update(key.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A new key for `site`: the secret to show once, and the record to store.
pub fn generate(
    tokens: &Tokens,
    site_id: SiteId,
    name: String,
    scopes: Vec<Scope>,
    now: Millis,
) -> (String, ApiKey) {
    let mut raw = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut raw);
    let secret = format!("sk_{}", URL_SAFE_NO_PAD.encode(raw));
    let key = ApiKey {
        id: ApiKeyId(Uuid::now_v7()),
        site_id,
        name,
        prefix: secret.chars().take(9).collect(),
        hash: hash_key(tokens, &secret),
        scopes,
        created_at: now,
        revoked_at: None,
    };
    (secret, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_hashes_the_same_under_the_same_node_key_only() {
        let tokens = Tokens::new(b"node key".to_vec());
        let (secret, key) = generate(&tokens, SiteId::new(), "crm".into(), vec![], 1);
        assert!(is_api_key(&secret) && secret.len() == 46);
        assert_eq!(hash_key(&tokens, &secret), key.hash);
        assert_ne!(hash_key(&Tokens::new(b"other".to_vec()), &secret), key.hash);
        assert!(key.prefix.starts_with("sk_") && secret.starts_with(&key.prefix));
    }

    #[test]
    fn a_revoked_key_allows_nothing() {
        let tokens = Tokens::new(b"k".to_vec());
        let (_, mut key) = generate(
            &tokens,
            SiteId::new(),
            "x".into(),
            vec![Scope::MessagesSend],
            1,
        );
        assert!(key.allows(Scope::MessagesSend) && !key.allows(Scope::WebhooksManage));
        key.revoked_at = Some(2);
        assert!(!key.allows(Scope::MessagesSend));
        assert_eq!(Scope::parse("webhooks:manage"), Some(Scope::WebhooksManage));
    }
}
