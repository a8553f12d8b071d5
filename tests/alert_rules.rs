//! The alert rules in prometheus/ are valid, every alert carries what the on-call needs (`for:`,
//! a severity, a summary, a description), and Prometheus's own unit tests of them pass
//! (`promtool test rules prometheus/alerts_test.yml`), with a firing and a not-firing case for
//! every alert.
//!
//! Needs `promtool` (Debian's prometheus package; tests/run.sh installs it). Without it the test
//! prints a note and passes, unless SWITCHBOARD_REQUIRE_PROMETHEUS=1 (as in tests/run.sh).

use std::path::{Path, PathBuf};
use std::process::Command;

fn prometheus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("prometheus")
}

fn promtool() -> Option<&'static str> {
    ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

/// `(alert name, its block of text)` for every `- alert:` in the rules file.
fn alerts(rules: &str) -> Vec<(String, String)> {
    rules
        .split("- alert: ")
        .skip(1)
        .map(|block| {
            let name = block.lines().next().unwrap_or_default().trim().to_owned();
            (name, block.to_owned())
        })
        .collect()
}

#[test]
fn every_alert_says_how_long_how_bad_and_what_to_look_at() {
    let rules = std::fs::read_to_string(prometheus_dir().join("alerts.yml")).unwrap();
    let alerts = alerts(&rules);
    assert!(alerts.len() >= 10, "expected the full set of alerts");
    for (name, block) in &alerts {
        for needed in ["expr:", "for:", "severity:", "summary:", "description:"] {
            assert!(block.contains(needed), "alert {name} has no `{needed}`");
        }
        assert!(
            block.contains("severity: critical") || block.contains("severity: warning"),
            "alert {name}: severity is critical or warning"
        );
    }
}

#[test]
fn every_alert_has_a_firing_and_a_quiet_unit_test() {
    let rules = std::fs::read_to_string(prometheus_dir().join("alerts.yml")).unwrap();
    let tests = std::fs::read_to_string(prometheus_dir().join("alerts_test.yml")).unwrap();
    // Each `- eval_time:` block names one alert and either expects nothing or some alerts.
    let cases: Vec<(&str, bool)> = tests
        .split("- eval_time:")
        .skip(1)
        .filter_map(|case| {
            let name = case.split("alertname:").nth(1)?.lines().next()?.trim();
            Some((name, !case.contains("exp_alerts: []")))
        })
        .collect();
    for (name, _) in alerts(&rules) {
        assert!(
            cases.iter().any(|(n, fires)| *n == name && *fires),
            "no unit test where {name} fires"
        );
        assert!(
            cases.iter().any(|(n, fires)| *n == name && !*fires),
            "no unit test where {name} stays quiet"
        );
    }
}

#[test]
fn promtool_checks_and_unit_tests_the_alert_rules() {
    let Some(promtool) = promtool() else {
        assert!(
            std::env::var("SWITCHBOARD_REQUIRE_PROMETHEUS").is_err(),
            "promtool is not installed (tests/run.sh installs Debian's prometheus)"
        );
        eprintln!("note: promtool not installed (apt-get install prometheus); skipping the alert rule unit tests");
        return;
    };
    for args in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],
    ] {
        let out = Command::new(promtool)
            .args(args)
            .current_dir(prometheus_dir())
            .output()
            .expect("run promtool");
        assert!(
            out.status.success(),
            "promtool {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
