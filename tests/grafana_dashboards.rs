//! Every metric the Grafana dashboards query must exist in a real node's `/metrics`, so a
//! renamed metric cannot silently blank a panel; the dashboards are well formed (unique uids,
//! every panel titled and bound to the `${datasource}` variable); and the cluster metrics the
//! dashboards use before the node defines them are listed in grafana/README.md.
//!
//! tests/dashboards_in_prometheus.rs goes further: a real Prometheus answers every panel query.

mod dashboards;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;

use dashboards::*;
use switchboard::clock::SystemClock;
use switchboard::config::Config;

fn node_exposition() -> String {
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
    node.stop();
    exposition
}

#[test]
fn dashboards_query_only_exported_metrics() {
    let mut wanted = BTreeSet::new();
    for query in panel_queries() {
        wanted.extend(metric_names_in(&query.expr));
    }
    for query in variable_queries() {
        wanted.extend(metric_names_in(&query));
    }
    assert!(
        wanted.len() > 30,
        "dashboards query too few metrics: {wanted:?}"
    );

    let exported = exported_families(&node_exposition());
    for name in &wanted {
        let family = family(name);
        let exists = exported.contains(family)
            || exported.contains(name.as_str())
            || (SERIES_ON_DEMAND.contains(&family) && defined_in_src(family));
        assert!(
            exists,
            "a dashboard queries `{name}`, which no node exports"
        );
    }
}

#[test]
fn dashboards_are_well_formed() {
    let all = dashboards();
    assert_eq!(
        all.len(),
        3,
        "cluster overview, node detail and support KPIs"
    );
    let mut uids = BTreeSet::new();
    for (path, dashboard) in &all {
        let file = path.display();
        let uid = dashboard["uid"].as_str().expect("uid");
        assert!(uids.insert(uid.to_owned()), "{file}: uid {uid} is taken");
        assert!(dashboard["title"].as_str().is_some(), "{file}: a title");
        let vars: Vec<&str> = dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["name"].as_str())
            .collect();
        assert!(
            vars.contains(&"datasource") && vars.contains(&"instance"),
            "{file}: the datasource and instance variables"
        );
        let mut ids = BTreeSet::new();
        for panel in panels(dashboard) {
            let title = panel["title"].as_str().unwrap_or_default();
            assert!(!title.is_empty(), "{file}: every panel has a title");
            assert!(
                ids.insert(panel["id"].as_u64().expect("panel id")),
                "{file}: panel ids are unique ({title})"
            );
            assert!(
                panel["gridPos"]["w"].as_u64().is_some(),
                "{file}: {title} is placed"
            );
            let targets = panel["targets"].as_array();
            if panel["type"] == "text" {
                continue;
            }
            let targets = targets.unwrap_or_else(|| panic!("{file}: {title} has no queries"));
            assert!(!targets.is_empty(), "{file}: {title} has no queries");
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{file}: {title} uses the datasource variable"
            );
            for target in targets {
                // Every metric selector follows the Node picker.
                let expr = target["expr"].as_str().unwrap_or_default();
                assert!(
                    expr.matches("instance=~\"$instance\"").count() >= metric_names_in(expr).len(),
                    "{file}: {title} filters every metric by the instance variable: {expr}"
                );
            }
        }
    }
}
