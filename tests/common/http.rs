//! HTTP for the tests: reqwest, built the way the load harness builds it (loadtest/src/api.rs),
//! wrapped in the few shapes tests assert on (status, headers, body as text or JSON, the API's
//! error code). One request per connection, as before: a test that kills or restarts a node must
//! never be answered by a pooled connection to the old one.

use std::net::SocketAddr;
use std::sync::LazyLock;

use serde_json::{json, Value};

use super::WAIT;

/// One client for the whole test binary. No idle pooling also makes it safe to share between
/// the per-test tokio runtimes: every request opens its connection on the caller's runtime.
static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(WAIT)
        .build()
        .expect("HTTP client builds")
});

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): status {} {}", self.status, self.text()))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The stable error code of an API error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {}", self.text()))
            .to_owned()
    }
}

/// One request to the node at `addr`. `body` is sent as-is with `Content-Type:
/// application/json` (tests send malformed JSON on purpose). Panics on a transport failure or no
/// answer within [`WAIT`]: HTTP error statuses are answers, not failures.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> HttpResponse {
    http_with(addr, method, path, token, body, &[]).await
}

/// [`http`] with extra request headers (`X-Forwarded-For` behind a trusted proxy).
pub async fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let m = reqwest::Method::from_bytes(method.as_bytes())
        .unwrap_or_else(|e| panic!("bad HTTP method {method}: {e}"));
    let mut req = CLIENT.request(m, format!("http://{addr}{path}"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(b.to_vec());
    }
    answer(req, method, path).await
}

/// Send `req` and read the whole answer; panics on a transport failure.
async fn answer(req: reqwest::RequestBuilder, method: &str, path: &str) -> HttpResponse {
    let r = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = r
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: reading the body: {e}"))
        .to_vec();
    HttpResponse {
        status,
        headers,
        body,
    }
}

/// One request with a raw body of the given content type (an uploaded picture), answered
/// like [`http`].
pub async fn http_bytes(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> HttpResponse {
    let m = reqwest::Method::from_bytes(method.as_bytes())
        .unwrap_or_else(|e| panic!("bad HTTP method {method}: {e}"));
    let mut req = CLIENT
        .request(m, format!("http://{addr}{path}"))
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    answer(req, method, path).await
}

/// `POST /api/v1/login`; panics unless it succeeds. Returns `(token, agent)`.
pub async fn login(addr: SocketAddr, email: &str, password: &str) -> (String, Value) {
    let body = json!({ "email": email, "password": password }).to_string();
    let r = http(addr, "POST", "/api/v1/login", None, Some(body.as_bytes())).await;
    assert_eq!(r.status, 200, "login {email}: {}", r.text());
    let v = r.json();
    let token = v["token"].as_str().expect("login token").to_owned();
    (token, v["agent"].clone())
}
