//! What the Grafana dashboards in grafana/dashboards/ query, for the tests that hold them to
//! what the node exports (tests/grafana_dashboards.rs) and to what a real Prometheus returns
//! (tests/dashboards_in_prometheus.rs): every panel's queries (panels inside rows included), the
//! metric names in them, and the cluster metrics the dashboards already use before the node
//! defines them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Labelled metrics that have no series until their first label value is seen (a peer, a kind
/// of forwarded request), so a node that never had one lists no `# TYPE` line for them. For
/// these, "exists" means defined in `src/`.
pub const SERIES_ON_DEMAND: [&str; 4] = [
    "switchboard_cluster_link_up",
    "switchboard_cluster_link_queue_depth",
    "switchboard_cluster_link_reconnects_total",
    "switchboard_cluster_forwarded_requests_total",
];

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One query of one panel.
#[derive(Debug, Clone)]
pub struct PanelQuery {
    pub dashboard: String,
    pub panel: String,
    pub expr: String,
}

/// Every dashboard file, parsed.
pub fn dashboards() -> Vec<(PathBuf, Value)> {
    let dir = root().join("grafana/dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("grafana/dashboards exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            (path, json)
        })
        .collect()
}

/// Every panel of a dashboard, those inside (collapsed) rows included; rows themselves are not.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        if panel["type"] == "row" {
            out.extend(panel["panels"].as_array().into_iter().flatten());
        } else {
            out.push(panel);
        }
    }
    out
}

/// Every panel query of every dashboard.
pub fn panel_queries() -> Vec<PanelQuery> {
    let mut out = Vec::new();
    for (_, dashboard) in dashboards() {
        let title = dashboard["title"].as_str().unwrap_or_default().to_owned();
        for panel in panels(&dashboard) {
            for target in panel["targets"].as_array().into_iter().flatten() {
                out.push(PanelQuery {
                    dashboard: title.clone(),
                    panel: panel["title"].as_str().unwrap_or_default().to_owned(),
                    expr: target["expr"]
                        .as_str()
                        .expect("a target has an expr")
                        .to_owned(),
                });
            }
        }
    }
    out
}

/// The queries of the dashboards' template variables (`label_values(metric, label)`).
pub fn variable_queries() -> Vec<String> {
    let mut out = Vec::new();
    for (_, dashboard) in dashboards() {
        for var in dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if var["type"] == "query" {
                out.push(var["query"].as_str().unwrap_or_default().to_owned());
            }
        }
    }
    out
}

/// The `switchboard_*` and `process_*` metric names in a query, as written (`_bucket` kept).
pub fn metric_names_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut i = 0;
    while i < expr.len() {
        let rest = &expr[i..];
        let starts_word = i == 0 || !expr.as_bytes()[i - 1].is_ascii_alphanumeric();
        if starts_word && (rest.starts_with("switchboard_") || rest.starts_with("process_")) {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            names.push(rest[..end].to_owned());
            i += end;
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    names
}

/// The metric family a series name belongs to (`x_bucket`, `x_sum`, `x_count` -> `x`).
pub fn family(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

/// Whether `src/` registers a metric of this name (its name appears as a string literal).
pub fn defined_in_src(name: &str) -> bool {
    fn walk(dir: &Path, needle: &str) -> bool {
        std::fs::read_dir(dir).into_iter().flatten().any(|entry| {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, needle)
            } else {
                path.extension().is_some_and(|e| e == "rs")
                    && std::fs::read_to_string(&path).is_ok_and(|t| t.contains(needle))
            }
        })
    }
    walk(&root().join("src"), &format!("\"{name}\""))
}

/// The metric families a node lists in its exposition (`# TYPE` lines).
pub fn exported_families(exposition: &str) -> std::collections::BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// A query as Grafana would send it with every node selected: `$instance` matches all,
/// `$__rate_interval` is a minute (four 15 s scrapes; the tests scrape every second), and
/// `$__range` is the dashboards' default time range, 30 minutes.
pub fn as_sent(expr: &str) -> String {
    expr.replace("$instance", ".*")
        .replace("$__rate_interval", "1m")
        .replace("$__range", "30m")
}
