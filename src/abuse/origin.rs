//! The widget socket's page origin against the site's allowlist (`allowed_origins` in its
//! settings): another website copying a site's embed line gets `origin_not_allowed` at hello,
//! not a working chat under someone else's name.
//!
//! The browser sets `Origin` on every WebSocket handshake and a page cannot change it. A
//! non-browser client can send anything, so this protects sites from other *pages*, not from
//! scripts (the rate limits do that). With an allowlist, a handshake without `Origin` is
//! refused too. An empty allowlist allows every origin.

use crate::domain::Site;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// `scheme://host[:port]` (a trailing `/` forgiven), nothing else: what browsers send as
/// `Origin`.
pub fn is_origin(s: &str) -> bool {
    let Some((scheme, rest)) = s.trim_end_matches('/').split_once("://") else {
        return false;
    };
    let host_ok = |h: &str| {
        !h.is_empty()
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
    };
    matches!(scheme, "http" | "https") && host_ok(rest) && !rest.contains('/')
}

/// Origins compare without case and without a trailing slash (people paste URLs).
fn normalise(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Whether a visitor socket from `origin` may use `site`.
pub fn check(site: &Site, origin: Option<&str>) -> ApiResult<()> {
    let allowed = &site.settings.allowed_origins;
    if allowed.is_empty() {
        return Ok(());
    }
    let refused = |what: String| ApiError::new(ErrorCode::OriginNotAllowed, what);
    let origin = origin.ok_or_else(|| {
        refused("this site's chat opens only from its own pages (no Origin was sent)".into())
    })?;
    let origin = normalise(origin);
    if allowed.iter().any(|a| normalise(a) == origin) {
        Ok(())
    } else {
        Err(refused(format!(
            "this site's chat does not open on {origin}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{SiteId, SiteSettings};

    fn site(allowed: &[&str]) -> Site {
        Site {
            id: SiteId::new(),
            name: "s".into(),
            public_key: "pk".into(),
            identity_secret: "x".into(),
            settings: SiteSettings {
                allowed_origins: allowed.iter().map(|s| s.to_string()).collect(),
                ..SiteSettings::default()
            },
        }
    }

    #[test]
    fn the_allowlist_decides() {
        assert!(check(&site(&[]), None).is_ok());
        assert!(check(&site(&[]), Some("https://evil.example")).is_ok());
        let s = site(&["https://Shop.example.com/"]);
        assert!(check(&s, Some("https://shop.example.com")).is_ok());
        let e = check(&s, Some("https://evil.example")).unwrap_err();
        assert_eq!(e.code, ErrorCode::OriginNotAllowed);
        assert!(check(&s, None).is_err());
        assert!(
            check(&s, Some("http://shop.example.com")).is_err(),
            "scheme counts"
        );
    }

    #[test]
    fn origins_have_no_path() {
        assert!(is_origin("https://shop.example.com"));
        assert!(is_origin("http://localhost:8080"));
        assert!(!is_origin("https://shop.example.com/page"));
        assert!(is_origin("https://shop.example.com/"));
        assert!(!is_origin("shop.example.com"));
        assert!(!is_origin("ftp://x"));
        assert!(!is_origin("https://"));
    }
}
