//! The files in cluster/ that users run and CI cannot (images cannot be pulled on the build
//! machines) are checked offline: every YAML file parses; the compose cluster and the Kubernetes
//! manifests keep the shape docs/operations.md describes (three nodes with their own ids,
//! HAProxy, Prometheus with the rules, Grafana; a StatefulSet with stable ids, readiness on
//! /readyz, a preStop and a grace period for the drain, the secret from a Secret, a headless
//! service for node links); cluster/haproxy.cfg is what the generator prints and HAProxy accepts
//! it; Prometheus accepts its configuration with the alert rules beside it; the scripts parse.
//!
//! YAML is read by Python's PyYAML (Debian's python3-yaml; tests/run.sh installs it), HAProxy and
//! promtool are Debian's. A missing tool skips its check with a printed note, unless
//! SWITCHBOARD_REQUIRE_CLUSTER_TOOLS=1 (as in tests/run.sh).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Skip with a note, or fail when tests/run.sh promised the tool.
fn missing(tool: &str) {
    assert!(
        std::env::var("SWITCHBOARD_REQUIRE_CLUSTER_TOOLS").is_err(),
        "{tool} is not installed (tests/run.sh installs it)"
    );
    eprintln!("note: {tool} is not installed; skipping its check");
}

/// A Python with PyYAML: Debian's first, then whatever `python3` is on PATH.
fn python_with_yaml() -> Option<&'static str> {
    ["/usr/bin/python3", "python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import yaml"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Every document of a YAML file, as JSON.
fn yaml_documents(python: &str, path: &Path) -> Vec<Value> {
    let out = Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        ])
        .arg(path)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{} does not parse as YAML:\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from python")
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(path);
        }
    }
}

fn env_of(container: &Value, name: &str) -> Value {
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("the node container sets {name}"))
}

#[test]
fn the_compose_cluster_and_kubernetes_manifests_parse_and_keep_their_shape() {
    let Some(python) = python_with_yaml() else {
        return missing("python3 with PyYAML (python3-yaml)");
    };
    let mut files = Vec::new();
    for dir in ["cluster", "prometheus", "grafana/provisioning"] {
        yaml_files(&root().join(dir), &mut files);
    }
    assert!(files.len() >= 12, "found {files:?}");
    for file in &files {
        yaml_documents(python, file);
    }

    // Compose: ScyllaDB, three nodes with distinct ids and advertised addresses, the rest.
    let compose = &yaml_documents(python, &root().join("cluster/docker-compose.yml"))[0];
    let services = compose["services"].as_object().expect("services");
    for name in ["scylla", "haproxy", "prometheus", "grafana"] {
        assert!(services.contains_key(name), "compose has {name}");
    }
    let mut ids = Vec::new();
    for i in 1..=3 {
        let node = &services[&format!("switchboard-{i}")];
        let env = &node["environment"];
        assert_eq!(env["SWITCHBOARD_STORE"], "scylla");
        assert!(env["SWITCHBOARD_CLUSTER_SECRET"].is_string());
        ids.push(env["SWITCHBOARD_NODE_ID"].as_str().unwrap().to_owned());
        let advertise = env["SWITCHBOARD_CLUSTER_ADVERTISE"].as_str().unwrap();
        let ip = node["networks"]["switchboard"]["ipv4_address"]
            .as_str()
            .unwrap();
        assert_eq!(
            advertise,
            format!("{ip}:7400"),
            "node {i} advertises its own address"
        );
    }
    ids.dedup();
    assert_eq!(
        ids,
        ["n1", "n2", "n3"],
        "the ids HAProxy's servers are named by"
    );
    let prometheus = services["prometheus"]["volumes"].to_string();
    assert!(
        prometheus.contains("alerts.yml"),
        "Prometheus gets the alert rules"
    );
    let grafana = services["grafana"]["volumes"].to_string();
    assert!(
        grafana.contains("grafana/dashboards"),
        "Grafana gets the dashboards"
    );

    // Kubernetes.
    let mut docs = Vec::new();
    for file in std::fs::read_dir(root().join("cluster/k8s")).unwrap() {
        docs.extend(yaml_documents(python, &file.unwrap().path()));
    }
    let of_kind =
        |kind: &str| -> Vec<&Value> { docs.iter().filter(|d| d["kind"] == kind).collect() };
    let set = of_kind("StatefulSet")[0];
    let pod = &set["spec"]["template"]["spec"];
    let node = &pod["containers"][0];
    assert_eq!(
        env_of(node, "SWITCHBOARD_NODE_ID")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name",
        "the stable pod name is the node id"
    );
    assert!(
        env_of(node, "SWITCHBOARD_CLUSTER_SECRET")["valueFrom"]["secretKeyRef"].is_object(),
        "the secret comes from a Secret"
    );
    assert_eq!(node["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(
        node["lifecycle"]["preStop"].is_object(),
        "a preStop before the drain"
    );
    assert!(
        pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(0) >= 30,
        "time for the drain"
    );
    let services = of_kind("Service");
    let headless = services
        .iter()
        .find(|s| s["spec"]["clusterIP"] == "None")
        .expect("a headless service");
    assert_eq!(headless["metadata"]["name"], set["spec"]["serviceName"]);
    assert_eq!(headless["spec"]["ports"][0]["port"], 7400);
    assert_eq!(headless["spec"]["publishNotReadyAddresses"], true);
    assert!(!of_kind("Ingress").is_empty() && !of_kind("Secret").is_empty());
    assert!(!of_kind("PodDisruptionBudget").is_empty());
}

#[test]
fn the_compose_haproxy_config_is_the_generated_one_and_haproxy_accepts_it() {
    let generated = Command::new("bash")
        .arg(root().join("cluster/gen-haproxy-cfg.sh"))
        .arg("--compose")
        .output()
        .expect("run gen-haproxy-cfg.sh");
    assert!(generated.status.success());
    let checked_in = std::fs::read(root().join("cluster/haproxy.cfg")).unwrap();
    assert!(
        generated.stdout == checked_in,
        "cluster/haproxy.cfg differs from the generator: cluster/gen-haproxy-cfg.sh --compose > cluster/haproxy.cfg"
    );
    let haproxy = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(haproxy) = haproxy else {
        return missing("haproxy");
    };
    // The compose service names do not resolve here: HAProxy warns and still accepts the file.
    let check = Command::new(haproxy)
        .args(["-c", "-f"])
        .arg(root().join("cluster/haproxy.cfg"))
        .output()
        .expect("haproxy -c");
    assert!(
        check.status.success(),
        "haproxy -c:\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn prometheus_accepts_the_compose_config_with_the_alert_rules() {
    let Some(promtool) = ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        return missing("promtool");
    };
    // The container's layout: both files in /etc/prometheus.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join("cluster/prometheus.yml"),
        dir.path().join("prometheus.yml"),
    )
    .unwrap();
    std::fs::copy(
        root().join("prometheus/alerts.yml"),
        dir.path().join("alerts.yml"),
    )
    .unwrap();
    let out = Command::new(promtool)
        .args(["check", "config"])
        .arg(dir.path().join("prometheus.yml"))
        .output()
        .expect("promtool check config");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "promtool check config:\n{said}");
    assert!(
        said.contains("1 rule files found"),
        "the rules are loaded: {said}"
    );
}

#[test]
fn the_scripts_parse() {
    for script in [
        "cluster/run-local.sh",
        "cluster/gen-haproxy-cfg.sh",
        "tests/run.sh",
    ] {
        let out = Command::new("bash")
            .arg("-n")
            .arg(root().join(script))
            .output()
            .expect("bash -n");
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
