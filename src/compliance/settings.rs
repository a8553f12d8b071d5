//! The compliance settings a site admin may change (`PUT /api/v1/site/settings`), checked so
//! that a typo cannot silently turn a protection off: a retention that is not a number of days
//! a deployment can mean, or an origin the browser would never send.

use crate::domain::SiteSettings;
use crate::error::{ApiError, ApiResult};

/// Ten years: longer is "forever" (0), said plainly.
pub const MAX_RETENTION_DAYS: u32 = 3650;
/// Origins one site may list.
pub const MAX_ORIGINS: usize = 100;

pub fn validate(s: &SiteSettings) -> ApiResult<()> {
    if s.retention_days > MAX_RETENTION_DAYS {
        return Err(ApiError::invalid(format!(
            "retention_days is at most {MAX_RETENTION_DAYS} (0 keeps data forever)"
        )));
    }
    if s.allowed_origins.len() > MAX_ORIGINS {
        return Err(ApiError::invalid(format!(
            "allowed_origins lists at most {MAX_ORIGINS} origins"
        )));
    }
    for origin in &s.allowed_origins {
        if !crate::abuse::origin::is_origin(origin) {
            return Err(ApiError::invalid(format!(
                "allowed_origins holds origins like https://shop.example.com (scheme, host, optional port; no path): {origin:?}"
            )));
        }
    }
    Ok(())
}
