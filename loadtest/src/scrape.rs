//! Server-side numbers during the run: each scrape node's `/metrics`, plus `/proc/<pid>` when the
//! node runs on this machine (found by its listening port, or given with `--server-pid`).
//!
//! `/proc` is the source of CPU and RSS when the node's registry has no process collector; both
//! are sampled when available and the report says which one it used. All nodes are sampled
//! together in a [`Round`], so totals over the nodes add values of the same moment.

use serde::{Deserialize, Serialize};

use crate::api::Api;
use crate::targets::ScrapeNode;

/// One sample of one node.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the run start.
    pub t: f64,
    pub node: String,
    pub rss_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub connections: Option<f64>,
    pub messages_persisted: Option<f64>,
    pub messages_delivered: Option<f64>,
    /// Live conversation actors (`switchboard_actors{kind="conversation"}`).
    #[serde(default)]
    pub conversation_actors: Option<f64>,
    /// Socket subscriptions to conversations (`switchboard_subscriptions`), when exported.
    #[serde(default)]
    pub subscriptions: Option<f64>,
    /// Heap bytes in live allocations (`switchboard_heap_bytes{state="in_use"}`), when exported:
    /// RSS above it is memory the allocator has not handed back.
    #[serde(default)]
    pub heap_in_use_bytes: Option<f64>,
    /// SQLite's own memory (`switchboard_sqlite_memory_bytes`), when exported.
    #[serde(default)]
    pub sqlite_bytes: Option<f64>,
    /// Where `rss_bytes`/`cpu_seconds` came from: "metrics" or "proc".
    pub source: String,
}

/// Every scrape node sampled at one moment, in `--scrape`/`--target` order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Round {
    /// Seconds since the run start (negative: the baseline before the first client).
    pub t: f64,
    pub nodes: Vec<Sample>,
    /// The load generator's own processes at the same moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<GeneratorSample>,
}

/// CPU seconds so far of the harness's processes: the parent and each worker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GeneratorSample {
    pub parent_cpu_seconds: f64,
    /// In worker order; `None` for a worker that is gone.
    pub worker_cpu_seconds: Vec<Option<f64>>,
}

impl GeneratorSample {
    /// Parent and workers together (a worker gone counts nothing).
    pub fn total(&self) -> f64 {
        self.parent_cpu_seconds + self.worker_cpu_seconds.iter().flatten().sum::<f64>()
    }
}

impl Round {
    /// The sum of `f` over every node, or None unless every node has it (a node missing from
    /// one round would otherwise show as a dip in the total).
    pub fn total<T: std::iter::Sum<T>>(&self, f: impl Fn(&Sample) -> Option<T>) -> Option<T> {
        if self.nodes.is_empty() {
            return None;
        }
        self.nodes.iter().map(f).sum()
    }

    /// Like [`total`](Self::total) but over the nodes that have the value (None when none
    /// does): for series a node may not export at all.
    pub fn total_present(&self, f: impl Fn(&Sample) -> Option<f64>) -> Option<f64> {
        let v: Vec<f64> = self.nodes.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| v.iter().sum())
    }
}

/// The values the harness reads from a Prometheus text page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub rss_bytes: Option<f64>,
    pub cpu_seconds: Option<f64>,
    pub connections: Option<f64>,
    pub messages_persisted: Option<f64>,
    pub messages_delivered: Option<f64>,
    pub conversation_actors: Option<f64>,
    pub subscriptions: Option<f64>,
    pub heap_in_use_bytes: Option<f64>,
    pub sqlite_bytes: Option<f64>,
}

/// Parse the few series we need; a family with labels is summed over its labels, except the
/// actor gauge, of which only `kind="conversation"` is read, and the heap gauge, of which only
/// `state="in_use"` is.
pub fn parse_metrics(text: &str) -> Parsed {
    let mut p = Parsed::default();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (name_labels, value) = match line.rsplit_once(' ') {
            Some(x) => x,
            None => continue,
        };
        let Ok(v) = value.trim().parse::<f64>() else {
            continue;
        };
        let name = name_labels.split('{').next().unwrap_or("").trim();
        let slot = match name {
            "switchboard_actors" if name_labels.contains("kind=\"conversation\"") => {
                &mut p.conversation_actors
            }
            "switchboard_subscriptions" => &mut p.subscriptions,
            "switchboard_heap_bytes" if name_labels.contains("state=\"in_use\"") => {
                &mut p.heap_in_use_bytes
            }
            "switchboard_sqlite_memory_bytes" => &mut p.sqlite_bytes,
            "process_resident_memory_bytes" => &mut p.rss_bytes,
            "process_cpu_seconds_total" => &mut p.cpu_seconds,
            "switchboard_connections" => &mut p.connections,
            "switchboard_messages_persisted_total" => &mut p.messages_persisted,
            "switchboard_messages_delivered_total" => &mut p.messages_delivered,
            _ => continue,
        };
        *slot = Some(slot.unwrap_or(0.0) + v);
    }
    p
}

/// One unlabelled series' value from a Prometheus text page (`None` when absent).
pub fn parse_metrics_value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok())?
    })
}

/// The pid of the local process listening on `port`, by matching the socket inode from
/// /proc/net/tcp{,6} against every process's open file descriptors.
pub fn find_listen_pid(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for l in text.lines().skip(1) {
            let cols: Vec<&str> = l.split_whitespace().collect();
            if cols.len() < 10 || cols[3] != "0A" {
                continue;
            }
            let local_port = cols[1]
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) {
                inodes.push(format!("socket:[{}]", cols[9]));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(link) = std::fs::read_link(fd.path()) {
                if inodes.iter().any(|i| link.as_os_str() == i.as_str()) {
                    return Some(pid);
                }
            }
        }
    }
    None
}

/// RSS (bytes) and CPU seconds (user + system) of a local process.
pub fn proc_usage(pid: u32) -> Option<(u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf is always safe to call.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((rss_kb * 1024, (utime + stime) / hz.max(1.0)))
}

/// Sample one node now.
pub async fn sample(api: &Api, node: &ScrapeNode, t: f64) -> Sample {
    let mut s = Sample {
        t,
        node: node.url.clone(),
        ..Sample::default()
    };
    if let Ok(text) = api.metrics(&node.url).await {
        let p = parse_metrics(&text);
        s.connections = p.connections;
        s.messages_persisted = p.messages_persisted;
        s.messages_delivered = p.messages_delivered;
        s.conversation_actors = p.conversation_actors;
        s.subscriptions = p.subscriptions;
        s.heap_in_use_bytes = p.heap_in_use_bytes;
        s.sqlite_bytes = p.sqlite_bytes;
        if let (Some(rss), Some(cpu)) = (p.rss_bytes, p.cpu_seconds) {
            s.rss_bytes = Some(rss as u64);
            s.cpu_seconds = Some(cpu);
            s.source = "metrics".into();
        }
    }
    if let Some((rss, cpu)) = node.pid.and_then(proc_usage) {
        // /proc is exact and sampled at the same moment; prefer it for a local node.
        s.rss_bytes = Some(rss);
        s.cpu_seconds = Some(cpu);
        s.source = "proc".into();
    }
    s
}

/// Sample every node at once.
pub async fn sample_all(api: &Api, nodes: &[ScrapeNode], t: f64) -> Round {
    let samples = futures_util::future::join_all(nodes.iter().map(|n| sample(api, n, t))).await;
    Round {
        t,
        nodes: samples,
        generator: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_sums_labelled_series() {
        let text = "# HELP x\n# TYPE switchboard_connections gauge\n\
            switchboard_connections{role=\"visitor\"} 10\n\
            switchboard_connections{role=\"agent\"} 2\n\
            switchboard_messages_persisted_total 42\n\
            process_resident_memory_bytes 1.5e6\n\
            process_cpu_seconds_total 3.25\nunrelated_total 9\nbroken line\n\
            switchboard_actors{kind=\"conversation\"} 7\n\
            switchboard_actors{kind=\"visitor\"} 100\n";
        let p = parse_metrics(text);
        assert_eq!(p.connections, Some(12.0));
        assert_eq!(p.messages_persisted, Some(42.0));
        assert_eq!(p.rss_bytes, Some(1.5e6));
        assert_eq!(p.cpu_seconds, Some(3.25));
        assert_eq!(p.messages_delivered, None);
        assert_eq!(p.conversation_actors, Some(7.0));
        assert_eq!(p.subscriptions, None);
    }

    #[test]
    fn reads_own_process_usage_and_finds_own_listener() {
        let (rss, cpu) = proc_usage(std::process::id()).expect("own /proc entry");
        assert!(rss > 0 && cpu >= 0.0);
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(find_listen_pid(port), Some(std::process::id()));
    }
}

#[cfg(test)]
mod round_tests {
    use super::*;

    #[test]
    fn totals_need_every_node_unless_asked_otherwise() {
        let node = |rss: Option<u64>, subs: Option<f64>| Sample {
            rss_bytes: rss,
            subscriptions: subs,
            ..Sample::default()
        };
        let r = Round {
            t: 1.0,
            nodes: vec![node(Some(10), Some(2.0)), node(Some(5), None)],
            generator: None,
        };
        assert_eq!(r.total(|s| s.rss_bytes), Some(15));
        assert_eq!(r.total_present(|s| s.subscriptions), Some(2.0));
        let gap = Round {
            t: 2.0,
            nodes: vec![node(Some(10), None), node(None, None)],
            generator: None,
        };
        assert_eq!(gap.total(|s| s.rss_bytes), None);
        assert_eq!(gap.total_present(|s| s.subscriptions), None);
    }
}
