//! A visitor's device, browser and location, from its own request (issue 12): the `/ws`
//! upgrade's `User-Agent` and `Accept-Language` and the client address, plus what the widget
//! reports in `hello` (timezone, language, screen, referrer). No third-party service: the
//! User-Agent is parsed with woothee's tables, the location is the timezone's city, or, when
//! the operator gives a MaxMind-format file (`--geoip-db`), the address's city and country.
//! The address itself is used for that lookup only and never stored.

use std::net::IpAddr;
use std::path::Path;
use std::sync::LazyLock;

use crate::domain::ClientSummary;
use crate::protocol::ClientInfo;

/// woothee compiles its patterns once.
static PARSER: LazyLock<woothee::parser::Parser> = LazyLock::new(woothee::parser::Parser::new);

/// What the `/ws` upgrade request says about the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    pub user_agent: Option<String>,
    pub accept_language: Option<String>,
    /// The client's address: the peer's, or `X-Forwarded-For`'s when the peer is a trusted proxy.
    pub address: Option<IpAddr>,
}

/// An optional local GeoIP database (MaxMind's City format).
pub struct GeoIp {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl GeoIp {
    /// Open the file; a missing or unreadable one is logged and the node runs without it.
    pub fn open(path: Option<&Path>) -> Option<GeoIp> {
        let path = path?;
        match maxminddb::Reader::open_readfile(path) {
            Ok(reader) => Some(GeoIp { reader }),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "GeoIP database not loaded; locations come from timezones");
                None
            }
        }
    }

    /// "City, Country" (or the country alone) for an address in the database.
    pub fn locate(&self, address: IpAddr) -> Option<String> {
        let found = self.reader.lookup(address).ok()?;
        let city: maxminddb::geoip2::City = found.decode().ok()??;
        let place = city.city.names.english;
        let country = city.country.names.english;
        match (place, country) {
            (Some(p), Some(c)) => Some(format!("{p}, {c}")),
            (None, Some(c)) => Some(c.to_owned()),
            (Some(p), None) => Some(p.to_owned()),
            (None, None) => None,
        }
    }
}

/// Everything known about a visitor's device, from the request and its `hello`.
pub fn summarize(
    request: &RequestInfo,
    reported: Option<&ClientInfo>,
    geoip: Option<&GeoIp>,
) -> ClientSummary {
    let mut summary = ClientSummary::default();
    if let Some(ua) = request.user_agent.as_deref() {
        describe_user_agent(ua, &mut summary);
    }
    let reported = reported.cloned().unwrap_or_default();
    summary.timezone = reported.timezone.filter(|t| !t.is_empty());
    summary.language = reported
        .language
        .filter(|l| !l.is_empty())
        .or_else(|| request.accept_language.as_deref().and_then(first_language));
    summary.screen = reported.screen.filter(|s| !s.is_empty());
    summary.referrer = reported.referrer.filter(|r| r.starts_with("http"));
    summary.location = geoip
        .zip(request.address)
        .and_then(|(db, ip)| db.locate(ip))
        .or_else(|| summary.timezone.as_deref().and_then(timezone_city));
    summary
}

/// Browser, OS and device type from a User-Agent string.
fn describe_user_agent(ua: &str, summary: &mut ClientSummary) {
    let Some(r) = PARSER.parse(ua) else { return };
    let known = |s: &str| !s.is_empty() && s != woothee::woothee::VALUE_UNKNOWN;
    if known(r.name) {
        let major = r.version.split('.').next().unwrap_or("");
        summary.browser = Some(if known(major) {
            format!("{} {major}", r.name)
        } else {
            r.name.to_owned()
        });
    }
    if known(r.os) {
        // Windows' name already says its version ("Windows 10"); its os_version is "NT 10.0".
        summary.os = Some(if known(&r.os_version) && !r.os.starts_with("Windows") {
            format!("{} {}", r.os, r.os_version)
        } else {
            r.os.to_owned()
        });
    }
    let tablet = r.os == "iPad" || (r.os == "Android" && !ua.contains("Mobile"));
    summary.device = Some(
        match r.category {
            _ if tablet => "tablet",
            "pc" => "desktop",
            "smartphone" | "mobilephone" => "phone",
            "crawler" => "bot",
            _ => "other",
        }
        .to_owned(),
    );
}

/// The first language of an `Accept-Language` header ("es-ES,es;q=0.9" -> "es-ES").
fn first_language(header: &str) -> Option<String> {
    header
        .split(',')
        .next()
        .map(|l| l.split(';').next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty() && l != "*" && l.len() <= 35)
}

/// "Europe/Madrid" -> "Madrid", "America/Argentina/Buenos_Aires" -> "Buenos Aires"; only for
/// names chrono-tz knows (a made-up timezone says nothing).
fn timezone_city(tz: &str) -> Option<String> {
    tz.parse::<chrono_tz::Tz>().ok()?;
    let (_, city) = tz.rsplit_once('/')?;
    Some(city.replace('_', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
    const WINDOWS_CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
    const MAC_FIREFOX: &str =
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0";
    const ANDROID_TABLET: &str = "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36";
    const IPAD: &str = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1";

    fn from_ua(ua: &str) -> ClientSummary {
        let request = RequestInfo {
            user_agent: Some(ua.into()),
            ..RequestInfo::default()
        };
        summarize(&request, None, None)
    }

    #[test]
    fn real_user_agents() {
        let s = from_ua(WINDOWS_CHROME);
        assert_eq!(s.browser.as_deref(), Some("Chrome 126"));
        assert_eq!(s.os.as_deref(), Some("Windows 10"));
        assert_eq!(s.device.as_deref(), Some("desktop"));
        let s = from_ua(IPHONE);
        assert_eq!(s.browser.as_deref(), Some("Safari 17"));
        assert_eq!(s.os.as_deref().map(|o| o.starts_with("iPhone")), Some(true));
        assert_eq!(s.device.as_deref(), Some("phone"));
        let s = from_ua(MAC_FIREFOX);
        assert_eq!(s.browser.as_deref(), Some("Firefox 127"));
        assert_eq!(s.device.as_deref(), Some("desktop"));
        assert_eq!(from_ua(ANDROID_TABLET).device.as_deref(), Some("tablet"));
        assert_eq!(from_ua(IPAD).device.as_deref(), Some("tablet"));
        assert_eq!(from_ua("").browser, None);
    }

    #[test]
    fn language_timezone_and_referrer() {
        let request = RequestInfo {
            accept_language: Some("es-ES,es;q=0.9,en;q=0.8".into()),
            ..RequestInfo::default()
        };
        let reported = ClientInfo {
            timezone: Some("America/Argentina/Buenos_Aires".into()),
            screen: Some("390x844".into()),
            referrer: Some("javascript:alert(1)".into()),
            ..ClientInfo::default()
        };
        let s = summarize(&request, Some(&reported), None);
        assert_eq!(s.language.as_deref(), Some("es-ES"));
        assert_eq!(s.location.as_deref(), Some("Buenos Aires"));
        assert_eq!(s.screen.as_deref(), Some("390x844"));
        assert_eq!(s.referrer, None, "only web addresses are kept as referrers");
        assert_eq!(timezone_city("Mars/Olympus_Mons"), None);
    }

    #[test]
    fn a_missing_geoip_file_is_no_geoip() {
        assert!(GeoIp::open(Some(Path::new("/nonexistent/GeoLite2-City.mmdb"))).is_none());
        assert!(GeoIp::open(None).is_none());
    }
}
