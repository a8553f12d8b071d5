//! The web assets: the widget, the console, the demo page.
//!
//! They are built into the binary (`rust-embed`), so a node started anywhere serves them;
//! `--web-dir` serves a directory instead, for editing them without a rebuild. Both sources
//! answer with the same headers: a content type, a strong `ETag` (the file's SHA-256) honoured
//! by `If-None-Match`, and `Cache-Control: no-cache` so a deployed change shows on the next load.
//!
//! The node's own HTML pages get a strict Content-Security-Policy. `widget.js` is loaded by
//! customers' pages from any origin, so it (and every non-HTML asset) is readable from anywhere.

use std::path::{Component, Path, PathBuf};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{guard, web, HttpRequest, HttpResponse};
use rust_embed::{EmbeddedFile, RustEmbed};

pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data: blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

/// The `web/` directory as it was when the binary was built.
#[derive(RustEmbed)]
#[folder = "web/"]
struct Builtin;

/// Where assets come from.
#[derive(Clone)]
pub enum WebAssets {
    Builtin,
    Dir(PathBuf),
}

impl WebAssets {
    pub fn new(dir: Option<&Path>) -> Self {
        match dir {
            Some(dir) => WebAssets::Dir(dir.to_path_buf()),
            None => WebAssets::Builtin,
        }
    }

    /// The file at `path` (relative, `/`-separated), if there is one.
    fn get(&self, path: &str) -> Option<EmbeddedFile> {
        match self {
            WebAssets::Builtin => Builtin::get(path),
            WebAssets::Dir(dir) => {
                // Only plain names: no `..`, no absolute paths, nothing outside the directory.
                let relative = Path::new(path);
                if !relative
                    .components()
                    .all(|c| matches!(c, Component::Normal(_)))
                {
                    return None;
                }
                rust_embed::utils::read_file_from_fs(&dir.join(relative)).ok()
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            WebAssets::Builtin => "the built-in web assets".into(),
            WebAssets::Dir(dir) => format!("the web directory {}", dir.display()),
        }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig, assets: WebAssets) {
    let page = |file: &'static str| {
        move |req: HttpRequest, assets: web::Data<WebAssets>| async move { serve(&req, &assets, file) }
    };
    // GET and HEAD (monitors and link checkers probe with HEAD).
    let get = || web::route().guard(guard::Any(guard::Get()).or(guard::Head()));
    cfg.app_data(web::Data::new(assets))
        .route(
            "/",
            get().to(|| async {
                HttpResponse::Found()
                    .insert_header((header::LOCATION, "/demo"))
                    .finish()
            }),
        )
        .route("/widget.js", get().to(page("widget.js")))
        // The widget's bot answers, drafts, attachments and rating, loaded when first needed.
        .route("/widget-x.js", get().to(page("widget-x.js")))
        .route("/console", get().to(page("console/index.html")))
        .route("/console/settings", get().to(page("console/settings.html")))
        .route("/console/bot", get().to(page("console/bot.html")))
        .route("/console/analytics", get().to(page("console/analytics.html")))
        .route("/console/audit", get().to(page("console/audit.html")))
        .route(
            "/console/integrations",
            get().to(page("console/integrations.html")),
        )
        .route("/console/sites", get().to(page("console/sites.html")))
        .route("/console/invite", get().to(page("console/invite.html")))
        .route("/demo", get().to(page("demo/index.html")))
        .route(
            "/assets/{path:.*}",
            get().to(
                |req: HttpRequest, path: web::Path<String>, assets: web::Data<WebAssets>| async move {
                    serve(&req, &assets, &path)
                },
            ),
        );
}

fn serve(req: &HttpRequest, assets: &WebAssets, path: &str) -> HttpResponse {
    let Some(file) = assets.get(path) else {
        return HttpResponse::NotFound().json(serde_json::json!({
            "error": {
                "code": "not_found",
                "message": format!("{path} is not among {}", assets.describe()),
            }
        }));
    };
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    let mime = file.metadata.mimetype();
    let is_html = mime == "text/html";
    let unchanged = if_none_match(req, &etag);
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_TYPE, content_type(mime)));
    if is_html {
        // Every HTML page is ours (the console, the demo), wherever it sits.
        response.insert_header((header::CONTENT_SECURITY_POLICY, CSP));
    } else {
        // The widget loads on customers' sites; let any origin read it.
        response.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"));
    }
    if unchanged {
        return response.finish();
    }
    response.body(file.data.into_owned())
}

/// Text types are served as UTF-8 (the files are).
fn content_type(mime: &str) -> HeaderValue {
    let text = mime.starts_with("text/")
        || matches!(
            mime,
            "application/javascript" | "application/json" | "image/svg+xml"
        );
    let value = if text {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

/// Whether the client already holds this version (`If-None-Match` lists its tag, or `*`).
fn if_none_match(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_carries_the_widget_console_and_demo() {
        for path in [
            "widget.js",
            "console/index.html",
            "console/analytics.html",
            "console/audit.html",
            "console/vendor/uPlot.iife.min.js",
            "console/integrations.html",
            "console/sites.html",
            "console/invite.html",
            "demo/index.html",
            "favicon.svg",
        ] {
            assert!(Builtin::get(path).is_some(), "{path} is not built in");
        }
    }

    #[test]
    fn a_directory_serves_nothing_outside_itself() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.js"), "x").unwrap();
        let assets = WebAssets::Dir(dir.path().join("."));
        assert!(assets.get("a.js").is_some());
        for escape in ["../a.js", "/etc/passwd", "./a.js/../a.js", "sub/../../a.js"] {
            assert!(assets.get(escape).is_none(), "{escape} was served");
        }
    }
}
