//! What agents see about a visitor's device (issue 12): browser, operating system, device type,
//! an approximate location, language, screen and the page that referred the visit. Plain data,
//! stored with the visitor (a JSON column). Built at the `/ws` upgrade and `hello` by
//! `crate::visitor_client` from the request itself: no third-party service is asked.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ClientSummary {
    /// "Chrome 126".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    /// "Windows 10", "iOS 17.5".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// "desktop", "phone", "tablet" or "other".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// "Madrid, Spain" from the optional GeoIP file, else the timezone's city ("Madrid").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// IANA timezone the browser reports, e.g. "Europe/Madrid".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The browser's preferred language, e.g. "es-ES".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// "390x844".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screen: Option<String>,
    /// `document.referrer` of the first page of the visit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
}
