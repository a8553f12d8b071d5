//! Static assets from the web directory: the widget, the console, the demo page.
//!
//! The node's own HTML pages get a strict Content-Security-Policy. `widget.js` is loaded by
//! customers' pages from any origin, so it (and the widget config endpoint) are public.

use std::path::{Path, PathBuf};

use actix_files::{Files, NamedFile};
use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{guard, web, HttpRequest, HttpResponse};

pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data: blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

pub fn routes(cfg: &mut web::ServiceConfig, web_dir: &Path) {
    let dir = web_dir.to_path_buf();
    let page = |file: &'static str, dir: PathBuf| {
        move |req: HttpRequest| {
            let path = dir.join(file);
            async move { serve(&req, &path, true) }
        }
    };
    // GET and HEAD (monitors and link checkers probe with HEAD).
    let get = || web::route().guard(guard::Any(guard::Get()).or(guard::Head()));
    cfg.route(
        "/",
        get().to(|| async {
            HttpResponse::Found()
                .insert_header((header::LOCATION, "/demo"))
                .finish()
        }),
    )
    .route("/widget.js", get().to(page("widget.js", dir.clone())))
    // The widget's bot answers, drafts, attachments and rating, loaded when first needed.
    .route("/widget-x.js", get().to(page("widget-x.js", dir.clone())))
    .route(
        "/console",
        get().to(page("console/index.html", dir.clone())),
    )
    .route(
        "/console/settings",
        get().to(page("console/settings.html", dir.clone())),
    )
    .route(
        "/console/bot",
        get().to(page("console/bot.html", dir.clone())),
    )
    .route("/demo", get().to(page("demo/index.html", dir.clone())))
    .service(
        // Every asset gets the policy too: an HTML page under /assets is still our page.
        web::scope("/assets")
            .wrap(DefaultHeaders::new().add((header::CONTENT_SECURITY_POLICY, CSP)))
            .service(Files::new("", dir).prefer_utf8(true)),
    );
}

fn serve(req: &HttpRequest, path: &Path, html_csp: bool) -> HttpResponse {
    match NamedFile::open(path) {
        Ok(file) => {
            let is_html = path.extension().is_some_and(|e| e == "html");
            let mut response = file.prefer_utf8(true).into_response(req);
            if html_csp && is_html {
                response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static(CSP));
            }
            if !is_html {
                // The widget loads on customers' sites; let any origin read it.
                response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, header::HeaderValue::from_static("*"));
            }
            response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache"));
            response
        }
        Err(_) => HttpResponse::NotFound().json(serde_json::json!({
            "error": { "code": "not_found", "message": format!("{} is missing from the web directory", path.display()) }
        })),
    }
}
