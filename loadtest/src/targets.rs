//! Where the load goes and where the server is measured.
//!
//! Clients connect to the `--target`s: nodes, or a load balancer (HAProxy) in front of them.
//! Each simulated visitor or agent starts on the next target in turn and moves on to the
//! following one at every reconnect, the way a load balancer spreads new connections. The
//! server is measured at the scrape nodes: every target by default, or the `--scrape` URLs when
//! the targets are a balancer (its own `/metrics` and process are not the nodes').

use std::net::{SocketAddr, ToSocketAddrs};

/// A node whose `/metrics` is sampled (and whose process is read from `/proc` when local).
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeNode {
    /// `http://host:port/metrics`.
    pub url: String,
    pub addr: SocketAddr,
    /// The node's process, for CPU and RSS from `/proc`: given, or found by its listening port.
    pub pid: Option<u32>,
}

/// Parse `http://host:port`, `ws://host:port` or `host:port` (any path is ignored).
pub fn parse_target(s: &str) -> Result<SocketAddr, String> {
    let hostport = s
        .trim_start_matches("http://")
        .trim_start_matches("ws://")
        .trim_end_matches('/');
    let hostport = hostport.split('/').next().unwrap_or(hostport);
    hostport
        .to_socket_addrs()
        .map_err(|e| format!("target `{s}`: {e}"))?
        .next()
        .ok_or_else(|| format!("target `{s}` resolves to no address"))
}

/// A metrics URL: `http://host:port/path`, or `host:port` / `http://host:port` for
/// `/metrics` on that address.
pub fn parse_scrape(s: &str) -> Result<(String, SocketAddr), String> {
    let addr = parse_target(s).map_err(|e| format!("--scrape {e}"))?;
    let rest = s.trim_start_matches("http://");
    let path = rest
        .find('/')
        .map(|i| &rest[i..])
        .filter(|p| *p != "/")
        .unwrap_or("/metrics");
    Ok((format!("http://{addr}{path}"), addr))
}

/// The nodes to sample: the `--scrape` list when given, else every distinct target, each once
/// (two targets naming one node must not count its CPU twice). `pids[i]` (from `--server-pid`)
/// is the process of the i-th node; the others are found by `find_pid` on their port.
pub fn scrape_nodes(
    targets: &[SocketAddr],
    scrape: &[(String, SocketAddr)],
    pids: &[u32],
    find_pid: impl Fn(u16) -> Option<u32>,
) -> Vec<ScrapeNode> {
    let listed: Vec<(String, SocketAddr)> = if scrape.is_empty() {
        targets
            .iter()
            .map(|a| (format!("http://{a}/metrics"), *a))
            .collect()
    } else {
        scrape.to_vec()
    };
    let mut nodes: Vec<ScrapeNode> = Vec::new();
    for (url, addr) in listed {
        if nodes.iter().any(|n| n.url == url) {
            continue;
        }
        let pid = match pids.get(nodes.len()) {
            Some(p) => Some(*p),
            None if addr.ip().is_loopback() => find_pid(addr.port()),
            None => None,
        };
        nodes.push(ScrapeNode { url, addr, pid });
    }
    nodes
}

/// Which target one client connects to next.
#[derive(Debug, Clone)]
pub struct Cursor {
    next: usize,
}

impl Cursor {
    /// The `client`-th client of worker `worker` (of `workers`): numbering clients across all
    /// workers makes the first connections round-robin over the targets for the whole run.
    pub fn new(client: u64, worker: usize, workers: usize) -> Cursor {
        Cursor {
            next: (client as usize)
                .wrapping_mul(workers.max(1))
                .wrapping_add(worker),
        }
    }

    /// The target for this connection (its index and address); the next call (a reconnect)
    /// gets the following one.
    pub fn pick(&mut self, targets: &[SocketAddr]) -> (usize, SocketAddr) {
        let i = self.next % targets.len();
        self.next = self.next.wrapping_add(1);
        (i, targets[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_targets_and_scrape_urls() {
        assert_eq!(
            parse_target("http://127.0.0.1:8080").unwrap(),
            a("127.0.0.1:8080")
        );
        assert_eq!(parse_target("ws://127.0.0.1:9/ws").unwrap().port(), 9);
        assert!(parse_target("nonsense").is_err());
        assert_eq!(
            parse_scrape("127.0.0.1:9101").unwrap(),
            ("http://127.0.0.1:9101/metrics".into(), a("127.0.0.1:9101"))
        );
        assert_eq!(
            parse_scrape("http://127.0.0.1:9101/").unwrap().0,
            "http://127.0.0.1:9101/metrics"
        );
        assert_eq!(
            parse_scrape("http://127.0.0.1:9101/stats/prom").unwrap().0,
            "http://127.0.0.1:9101/stats/prom"
        );
    }

    #[test]
    fn scrapes_each_distinct_target_once_or_the_scrape_list() {
        let t = [a("127.0.0.1:1"), a("127.0.0.1:2"), a("127.0.0.1:1")];
        let nodes = scrape_nodes(&t, &[], &[], |port| Some(1000 + u32::from(port)));
        let urls: Vec<&str> = nodes.iter().map(|n| n.url.as_str()).collect();
        assert_eq!(
            urls,
            ["http://127.0.0.1:1/metrics", "http://127.0.0.1:2/metrics"]
        );
        assert_eq!(nodes[1].pid, Some(1002));

        // Behind a balancer: the balancer is the target, the nodes are scraped; a given pid
        // wins over the lookup.
        let scrape = [
            parse_scrape("127.0.0.1:11").unwrap(),
            parse_scrape("127.0.0.1:12").unwrap(),
        ];
        let nodes = scrape_nodes(&[a("127.0.0.1:80")], &scrape, &[7], |_| Some(9));
        assert_eq!(nodes.len(), 2);
        assert_eq!((nodes[0].pid, nodes[1].pid), (Some(7), Some(9)));
        assert_eq!(nodes[1].addr, a("127.0.0.1:12"));
    }

    #[test]
    fn clients_spread_round_robin_and_reconnects_move_on() {
        let t = [a("127.0.0.1:1"), a("127.0.0.1:2"), a("127.0.0.1:3")];
        // Two workers: client n of worker w is the (2n + w)-th client overall.
        let firsts: Vec<u16> = (0..3u64)
            .flat_map(|n| (0..2).map(move |w| (n, w)))
            .map(|(n, w)| Cursor::new(n, w, 2).pick(&t).1.port())
            .collect();
        assert_eq!(firsts, [1, 2, 3, 1, 2, 3]);
        let mut c = Cursor::new(0, 1, 2);
        let visits: Vec<u16> = (0..4).map(|_| c.pick(&t).1.port()).collect();
        assert_eq!(visits, [2, 3, 1, 2]);
    }
}
