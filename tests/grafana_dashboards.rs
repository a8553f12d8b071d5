//! Every metric the Grafana dashboards query must exist in a real node's `/metrics`, so a
//! renamed metric cannot silently blank a panel.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;

use switchboard::clock::SystemClock;
use switchboard::config::Config;

fn metric_names_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &expr[i..];
        if rest.starts_with("switchboard_") || rest.starts_with("process_") {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            names.push(rest[..end].to_owned());
            i += end;
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn dashboards_query_only_exported_metrics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/dashboards");
    let mut wanted = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("grafana/dashboards exists") {
        let path = entry.unwrap().path();
        let dashboard: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        for panel in dashboard["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().expect("targets") {
                wanted.extend(metric_names_in(target["expr"].as_str().expect("expr")));
            }
        }
    }
    assert!(
        wanted.len() > 10,
        "dashboards query too few metrics: {wanted:?}"
    );

    let data = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.path().to_owned(),
        ..Config::default()
    };
    let node = switchboard::server::spawn(config, std::sync::Arc::new(SystemClock)).unwrap();
    let mut stream = TcpStream::connect(node.addr).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut exposition = String::new();
    stream.read_to_string(&mut exposition).unwrap();
    let exported: BTreeSet<&str> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for name in &wanted {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .fold(name.as_str(), |n, s| n.strip_suffix(s).unwrap_or(n));
        assert!(
            exported.contains(base) || exported.contains(name.as_str()),
            "dashboard queries `{name}`, which no node exports"
        );
    }
    node.stop();
}
