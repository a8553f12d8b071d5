//! The node binary carries its web assets: started outside the repository it serves the widget,
//! console and demo exactly as built, with validators and the right policy headers, and
//! `--web-dir` serves a directory instead (development).

mod common;

use std::path::Path;

use common::procs::NodeProc;

fn repo_file(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("web").join(path)).unwrap()
}

async fn get(
    addr: std::net::SocketAddr,
    path: &str,
    if_none_match: Option<&str>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("http://{addr}{path}"));
    if let Some(tag) = if_none_match {
        req = req.header("If-None-Match", tag);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_node_started_anywhere_serves_the_built_in_assets() {
    let dir = tempfile::tempdir().unwrap();
    assert!(!dir.path().join("web").exists());
    let node = NodeProc::start(dir.path(), "anywhere", 0, &["--workers".into(), "1".into()]);

    for (path, file, mime) in [
        ("/widget.js", "widget.js", "javascript"),
        ("/console", "console/index.html", "text/html"),
        ("/demo", "demo/index.html", "text/html"),
        ("/assets/console/app.js", "console/app.js", "javascript"),
        ("/assets/favicon.svg", "favicon.svg", "image/svg+xml"),
    ] {
        let r = get(node.addr, path, None).await;
        assert_eq!(r.status(), 200, "{path}");
        let headers = r.headers().clone();
        let content_type = headers["content-type"].to_str().unwrap();
        assert!(content_type.contains(mime), "{path}: {content_type}");
        let etag = headers["etag"].to_str().unwrap().to_owned();
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
        if mime == "text/html" {
            assert!(headers.contains_key("content-security-policy"), "{path}");
        } else {
            assert_eq!(headers["access-control-allow-origin"], "*", "{path}");
        }
        assert_eq!(r.bytes().await.unwrap().to_vec(), repo_file(file), "{path}");

        // The browser's revalidation: same tag, no body.
        let again = get(node.addr, path, Some(&etag)).await;
        assert_eq!(again.status(), 304, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
        let other = get(node.addr, path, Some("\"something-else\"")).await;
        assert_eq!(other.status(), 200, "{path}");
    }

    for missing in [
        "/assets/nope.js",
        "/assets/../Cargo.toml",
        "/assets/%2e%2e/Cargo.toml",
    ] {
        let r = get(node.addr, missing, None).await;
        assert_eq!(r.status(), 404, "{missing}");
    }
    let head = reqwest::Client::new()
        .head(format!("http://{}/widget.js", node.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
}

#[tokio::test]
async fn web_dir_serves_a_directory_instead() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("my-web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("widget.js"), "/* edited */").unwrap();
    let args = ["--web-dir".into(), web.display().to_string()];
    let node = NodeProc::start(dir.path(), "dev", 0, &args);

    let r = get(node.addr, "/widget.js", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "/* edited */");
    // An edit shows on the next load, without a restart.
    std::fs::write(web.join("widget.js"), "/* edited again */").unwrap();
    let r = get(node.addr, "/widget.js", None).await;
    assert_eq!(r.text().await.unwrap(), "/* edited again */");
    // Only the directory: what it lacks is missing, not taken from the built-in copies.
    let r = get(node.addr, "/console", None).await;
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}
