//! The load generator's own CPU (the harness's parent process and its workers), next to the
//! server's: on a machine the node shares with the generator, a worker near 100 % of a core
//! means the generator, not the node, set the pace.

use serde::{Deserialize, Serialize};

use crate::scrape::Round;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GeneratorUsage {
    /// Parent and workers together, over the whole run.
    pub cpu_seconds: f64,
    pub parent_cpu_seconds: f64,
    /// Each worker's total (from `wait4`); `None` when it could not be reaped.
    pub worker_cpu_seconds: Vec<Option<f64>>,
    /// `cpu_seconds` over the run's duration: % of one core.
    pub cpu_percent: f64,
    /// The same as a share of the whole machine (all cores).
    pub machine_percent: f64,
    pub cpu_us_per_session: Option<f64>,
    pub cpu_us_per_message: Option<f64>,
    /// The busiest single worker in its busiest second, % of one core (workers are
    /// single-threaded: near 100 % it was the limit).
    pub busiest_worker_percent: Option<f64>,
}

/// The usage from the exact totals (`parent`, `workers`) and the per-second samples.
pub fn usage(
    parent: f64,
    workers: &[Option<f64>],
    rounds: &[Round],
    duration_secs: f64,
    cores: usize,
    sessions: u64,
    messages: u64,
) -> GeneratorUsage {
    let cpu = parent + workers.iter().flatten().sum::<f64>();
    let per = |n: u64| (n > 0).then(|| cpu / n as f64 * 1e6);
    let cpu_percent = cpu / duration_secs.max(1e-9) * 100.0;
    GeneratorUsage {
        cpu_seconds: cpu,
        parent_cpu_seconds: parent,
        worker_cpu_seconds: workers.to_vec(),
        cpu_percent,
        machine_percent: cpu_percent / cores.max(1) as f64,
        cpu_us_per_session: per(sessions),
        cpu_us_per_message: per(messages),
        busiest_worker_percent: worker_percents(rounds)
            .into_iter()
            .map(|(_, _, w)| w)
            .reduce(f64::max),
    }
}

/// Per interval between consecutive samples: (end time, parent + workers CPU % of one core,
/// the busiest worker's CPU %).
pub fn worker_percents(rounds: &[Round]) -> Vec<(f64, f64, f64)> {
    let samples: Vec<(f64, &crate::scrape::GeneratorSample)> = rounds
        .iter()
        .filter_map(|r| r.generator.as_ref().map(|g| (r.t, g)))
        .collect();
    samples
        .windows(2)
        .filter(|w| w[1].0 > w[0].0)
        .map(|w| {
            let ((t0, a), (t1, b)) = (w[0], w[1]);
            let dt = t1 - t0;
            let busiest = a
                .worker_cpu_seconds
                .iter()
                .zip(&b.worker_cpu_seconds)
                .filter_map(|(x, y)| Some((y.as_ref()? - x.as_ref()?) / dt * 100.0))
                .fold(0.0, f64::max);
            (t1, (b.total() - a.total()) / dt * 100.0, busiest)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::GeneratorSample;

    #[test]
    fn totals_shares_and_the_busiest_worker() {
        let round = |t: f64, parent: f64, w: [f64; 2]| Round {
            t,
            generator: Some(GeneratorSample {
                parent_cpu_seconds: parent,
                worker_cpu_seconds: w.iter().map(|c| Some(*c)).collect(),
            }),
            ..Round::default()
        };
        let rounds = [
            round(0.0, 0.0, [0.0, 0.0]),
            round(1.0, 0.1, [0.5, 0.2]),
            round(2.0, 0.2, [1.4, 0.4]),
        ];
        let per = worker_percents(&rounds);
        assert_eq!(per.len(), 2);
        assert!((per[1].1 - 120.0).abs() < 1e-9, "{per:?}");
        assert!((per[1].2 - 90.0).abs() < 1e-9, "{per:?}");
        let u = usage(0.5, &[Some(3.0), Some(1.5)], &rounds, 10.0, 2, 1_000, 0);
        assert_eq!(u.cpu_seconds, 5.0);
        assert_eq!(u.cpu_percent, 50.0);
        assert_eq!(u.machine_percent, 25.0);
        assert_eq!(u.cpu_us_per_session, Some(5_000.0));
        assert_eq!(u.cpu_us_per_message, None);
        assert!((u.busiest_worker_percent.unwrap() - 90.0).abs() < 1e-9);
    }
}
