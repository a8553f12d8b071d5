//! The benchmark set: which scenario each run uses, on how many nodes, where its agents
//! connect, and the shortened version `--quick` runs.

use crate::scenario::Scenario;

/// One run of the set.
#[derive(Debug)]
pub struct RunDef {
    /// Its name in `--only`, the table and the report subdirectory.
    pub name: &'static str,
    /// The built-in scenario it runs.
    pub scenario: &'static str,
    /// Node processes: 1, or a cluster sharing one SQLite file.
    pub nodes: usize,
    /// Visitors connect to the first node and agents to the others, so every chat crosses nodes.
    pub agents_elsewhere: bool,
    /// Agents to log in, when not the scenario's own sizing.
    pub agents: Option<usize>,
    pub what: &'static str,
}

pub const SET: &[RunDef] = &[
    RunDef {
        name: "ramp",
        scenario: "ramp",
        nodes: 1,
        agents_elsewhere: false,
        agents: None,
        what: "message capacity at delivery p99 <= 25 ms, server CPU per message",
    },
    RunDef {
        name: "idle",
        scenario: "idle",
        nodes: 1,
        agents_elsewhere: false,
        // No agent logins: a login's password hash leaves allocator memory behind on the node.
        agents: Some(0),
        what: "RSS per idle visitor session, sessions/s, CPU per session, generator CPU",
    },
    RunDef {
        name: "reconnect-storm",
        scenario: "reconnect-storm",
        nodes: 1,
        agents_elsewhere: false,
        agents: None,
        what: "resume after dropping half the connections",
    },
    RunDef {
        name: "cluster-ramp",
        scenario: "ramp",
        nodes: 3,
        agents_elsewhere: true,
        agents: None,
        what:
            "3 nodes, visitors on n1 and agents on n2 and n3: capacity, CPU per cross-node message",
    },
];

/// The runs `--only` names (all of them when empty), in the set's order.
pub fn select(only: &[String]) -> Result<Vec<&'static RunDef>, String> {
    let names: Vec<&str> = only
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(bad) = names.iter().find(|n| !SET.iter().any(|r| r.name == **n)) {
        let known: Vec<&str> = SET.iter().map(|r| r.name).collect();
        return Err(format!(
            "--only: no run `{bad}` in the set ({})",
            known.join(", ")
        ));
    }
    Ok(SET
        .iter()
        .filter(|r| names.is_empty() || names.contains(&r.name))
        .collect())
}

impl RunDef {
    pub fn scenario(&self, quick: bool) -> Result<Scenario, String> {
        let s = Scenario::load(self.scenario).map_err(|e| e.to_string())?;
        Ok(if quick { quick_version(s) } else { s })
    }
}

/// A few seconds of the same shape: phases of at most 4 s, at most 200 idle sessions and 10
/// arrivals/s, two agents that can take every chat, a 3 s drain. It exercises every path of a
/// run (and the early stop stays on), but its figures are not benchmarks.
pub fn quick_version(mut s: Scenario) -> Scenario {
    for p in &mut s.phases {
        p.duration_secs = p.duration_secs.min(4);
        p.hold_idle = p.hold_idle.min(200);
        p.arrival_rate = p.arrival_rate.min(10.0);
        p.arrival_rate_end = p.arrival_rate_end.map(|r| r.min(10.0));
    }
    s.generator.drain_secs = s.generator.drain_secs.min(3);
    s.generator.workers = s.generator.workers.min(2);
    s.agents.count = 2;
    s.agents.capacity = s.agents.capacity.max(500);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_by_name_in_set_order() {
        let names = |only: &[&str]| {
            let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
            select(&only).map(|v| v.iter().map(|r| r.name).collect::<Vec<_>>())
        };
        assert_eq!(names(&[]).unwrap().len(), SET.len());
        assert_eq!(
            names(&["cluster-ramp", "ramp"]).unwrap(),
            ["ramp", "cluster-ramp"]
        );
        assert!(names(&["rampp"]).unwrap_err().contains("rampp"));
    }

    #[test]
    fn every_run_loads_and_quick_versions_are_short() {
        for r in SET {
            let full = r.scenario(false).unwrap();
            let quick = r.scenario(true).unwrap();
            quick.validate().unwrap();
            assert!(
                quick.total_secs() <= 8,
                "{}: {} s",
                r.name,
                quick.total_secs()
            );
            assert!(quick.total_secs() < full.total_secs());
        }
    }
}
