//! The generator's own CPU: the parent (this process, every thread of it) and each worker
//! process, so a report can say whether the harness, sharing the machine with the node, was
//! itself the limit. Sampled once a second from `/proc` for the timeline; the totals are exact:
//! a worker's from `wait4` when it is reaped, the parent's from `/proc/self` at the end.

use std::process::Child;

use crate::scrape::{proc_usage, GeneratorSample};

/// CPU seconds (user + system) of this process so far.
pub fn own_cpu_seconds() -> f64 {
    proc_usage(std::process::id())
        .map(|(_, cpu)| cpu)
        .unwrap_or(0.0)
}

/// The parent's and every worker's CPU seconds now (a worker already gone counts as `None`).
pub fn sample(workers: &[u32]) -> GeneratorSample {
    GeneratorSample {
        parent_cpu_seconds: own_cpu_seconds(),
        worker_cpu_seconds: workers
            .iter()
            .map(|pid| proc_usage(*pid).map(|(_, cpu)| cpu))
            .collect(),
    }
}

/// Wait for a worker to exit and return the CPU seconds it used in all (its rusage).
pub fn reap(child: &mut Child) -> Option<f64> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter; wait4 on our own unreaped child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if got != pid {
        let _ = child.wait();
        return None;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(secs(usage.ru_utime) + secs(usage.ru_stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaps_a_child_with_its_cpu_time() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"])
            .spawn()
            .expect("sh runs");
        let cpu = reap(&mut child).expect("reaped by wait4");
        assert!(cpu >= 0.0);
        let s = sample(&[std::process::id()]);
        assert!(s.parent_cpu_seconds > 0.0 && s.worker_cpu_seconds[0].is_some());
    }
}
