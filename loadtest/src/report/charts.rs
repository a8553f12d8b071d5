//! The report's charts (latency, throughput, server), drawn by `chart.rs` as SVG for the HTML
//! page and PNG for docs.

use super::{Point, Report};
use crate::chart::{Chart, Series};

impl Report {
    pub fn charts(&self) -> Vec<(&'static str, Chart)> {
        let tl = &self.timeline;
        let pts = |f: &dyn Fn(&Point) -> f64| -> Vec<(f64, f64)> {
            tl.iter().map(|p| (p.t as f64, f(p))).collect()
        };
        let latency = Chart {
            title: format!("{}: delivery latency per second", self.scenario),
            x_label: "seconds since start".into(),
            y_label: "ms".into(),
            series: vec![
                Series {
                    name: "visitor->agent p50".into(),
                    color: (147, 197, 253),
                    points: pts(&|p| p.v2a_p50_ms),
                },
                Series {
                    name: "visitor->agent p99".into(),
                    color: (37, 99, 235),
                    points: pts(&|p| p.v2a_p99_ms),
                },
                Series {
                    name: "agent->visitor p50".into(),
                    color: (252, 165, 165),
                    points: pts(&|p| p.a2v_p50_ms),
                },
                Series {
                    name: "agent->visitor p99".into(),
                    color: (220, 38, 38),
                    points: pts(&|p| p.a2v_p99_ms),
                },
            ],
            hline: Some((
                self.capacity.p99_target_ms,
                format!("target {} ms", self.capacity.p99_target_ms),
            )),
        };
        let throughput = Chart {
            title: format!("{}: throughput per second", self.scenario),
            x_label: "seconds since start".into(),
            y_label: "per second".into(),
            series: vec![
                Series {
                    name: "messages acked".into(),
                    color: (22, 163, 74),
                    points: pts(&|p| p.acked as f64),
                },
                Series {
                    name: "messages delivered".into(),
                    color: (37, 99, 235),
                    points: pts(&|p| p.delivered as f64),
                },
                Series {
                    name: "sessions opened".into(),
                    color: (234, 88, 12),
                    points: pts(&|p| p.sessions as f64),
                },
                Series {
                    name: "errors".into(),
                    color: (220, 38, 38),
                    points: pts(&|p| p.errors as f64),
                },
            ],
            hline: None,
        };
        let server = Chart {
            title: format!("{}: server CPU and RSS", self.scenario),
            x_label: "seconds since start".into(),
            y_label: "% / MiB".into(),
            series: vec![
                Series {
                    name: "server CPU % (all nodes)".into(),
                    color: (124, 58, 237),
                    points: tl
                        .iter()
                        .filter_map(|p| p.server_cpu_percent.map(|c| (p.t as f64, c)))
                        .collect(),
                },
                Series {
                    name: "server RSS MiB (all nodes)".into(),
                    color: (13, 148, 136),
                    points: tl
                        .iter()
                        .filter_map(|p| p.server_rss_mb.map(|c| (p.t as f64, c)))
                        .collect(),
                },
                Series {
                    name: "conversation actors / 100".into(),
                    color: (202, 138, 4),
                    points: tl
                        .iter()
                        .filter_map(|p| p.conversation_actors.map(|c| (p.t as f64, c / 100.0)))
                        .collect(),
                },
                Series {
                    name: "open sockets / 100".into(),
                    color: (107, 114, 128),
                    points: pts(&|p| (p.visitors + p.agents) as f64 / 100.0),
                },
            ],
            hline: None,
        };
        vec![
            ("latency", latency),
            ("throughput", throughput),
            ("server", server),
        ]
    }
}
