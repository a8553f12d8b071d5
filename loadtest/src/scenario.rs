//! Scenarios: what load to generate, read from TOML files in `loadtest/scenarios/`.
//!
//! A scenario is a list of phases run one after the other. Each phase sets the arrival rate of
//! chatting visitors (ramped linearly from `arrival_rate` to `arrival_rate_end`), may open a block
//! of idle visitor sessions, and may drop a share of all open connections at its start (a
//! reconnect storm). Visitor and agent behaviour is shared by every phase. `FIELDS_HELP` below
//! documents every field; `--help` prints it and a unit test keeps it complete.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A closed range `[min, max]` a value is drawn from uniformly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub min: u64,
    pub max: u64,
}

impl Range {
    pub fn mean(&self) -> f64 {
        (self.min + self.max) as f64 / 2.0
    }
    pub fn sample(&self, rng: &mut impl rand::Rng) -> u64 {
        if self.max <= self.min {
            self.min
        } else {
            rng.random_range(self.min..=self.max)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub site: String,
    pub generator: Generator,
    pub visitors: Visitors,
    pub agents: Agents,
    pub report: ReportCfg,
    pub phases: Vec<Phase>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Generator {
    pub workers: usize,
    pub max_sockets_per_worker: usize,
    pub source_ips: u8,
    pub connect_timeout_ms: u64,
    pub drain_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Visitors {
    pub messages_per_visit: Range,
    pub think_ms: Range,
    pub body_bytes: usize,
    pub typing: bool,
    pub read_receipts: bool,
    pub page_view: bool,
    pub reply_timeout_ms: u64,
    pub return_share: f64,
    pub return_after_ms: Range,
    pub max_visits: u32,
    pub idle_start: bool,
    pub idle_connect_concurrency: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Agents {
    pub count: usize,
    pub capacity: u32,
    pub headroom: f64,
    pub reply_delay_ms: Range,
    pub read_receipts: bool,
    pub close_on_bye: bool,
    pub close_stale: bool,
    pub unsubscribe: bool,
    pub password: String,
    pub email_prefix: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportCfg {
    pub p99_target_ms: f64,
    pub window_secs: u64,
    pub scrape_interval_ms: u64,
    /// Stop the run early once the delivery p99 was above this (ms), or clients saw errors, in
    /// `stop_after_windows` consecutive windows of `window_secs`; 0 = never. The run then drains as at its normal end.
    pub stop_when_p99_above_ms: f64,
    pub stop_after_windows: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Phase {
    pub name: String,
    pub duration_secs: u64,
    pub arrival_rate: f64,
    pub arrival_rate_end: Option<f64>,
    pub hold_idle: usize,
    pub drop_share: f64,
    pub drop_agents: bool,
    pub reconnect_delay_ms: Range,
    pub send: bool,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            name: "custom".into(),
            description: String::new(),
            site: "pk_demo".into(),
            generator: Generator::default(),
            visitors: Visitors::default(),
            agents: Agents::default(),
            report: ReportCfg::default(),
            phases: Vec::new(),
        }
    }
}

impl Default for Generator {
    fn default() -> Self {
        Generator {
            workers: 0,
            max_sockets_per_worker: 18_000,
            source_ips: 4,
            connect_timeout_ms: 10_000,
            drain_secs: 5,
        }
    }
}

impl Default for Visitors {
    fn default() -> Self {
        Visitors {
            messages_per_visit: Range { min: 3, max: 6 },
            think_ms: Range {
                min: 1_000,
                max: 3_000,
            },
            body_bytes: 80,
            typing: true,
            read_receipts: true,
            page_view: true,
            reply_timeout_ms: 10_000,
            return_share: 0.3,
            return_after_ms: Range {
                min: 2_000,
                max: 5_000,
            },
            max_visits: 2,
            idle_start: false,
            idle_connect_concurrency: 256,
        }
    }
}

impl Default for Agents {
    fn default() -> Self {
        Agents {
            count: 0,
            capacity: 25,
            headroom: 1.25,
            reply_delay_ms: Range { min: 200, max: 800 },
            read_receipts: true,
            close_on_bye: true,
            close_stale: true,
            unsubscribe: true,
            password: "loadtest-pass".into(),
            email_prefix: "loadtest-agent".into(),
        }
    }
}

impl Default for ReportCfg {
    fn default() -> Self {
        ReportCfg {
            p99_target_ms: 25.0,
            window_secs: 5,
            scrape_interval_ms: 1_000,
            stop_when_p99_above_ms: 0.0,
            stop_after_windows: 3,
        }
    }
}

impl Default for Phase {
    fn default() -> Self {
        Phase {
            name: "phase".into(),
            duration_secs: 10,
            arrival_rate: 0.0,
            arrival_rate_end: None,
            hold_idle: 0,
            drop_share: 0.0,
            drop_agents: true,
            reconnect_delay_ms: Range { min: 0, max: 1_000 },
            send: true,
        }
    }
}

/// Every scenario field, for `--help` and the README. `help_covers_every_field` checks it.
pub const FIELDS_HELP: &str = "\
SCENARIO FILE FIELDS (TOML; every field is optional and has the default shown)
  name = \"custom\"                 scenario name, used in report file names
  description = \"\"                one line shown in the report
  site = \"pk_demo\"                public key of the site visitors open the widget on

  [generator]
  workers = 0                     worker processes; 0 = enough for the socket estimate (at least 1)
  max_sockets_per_worker = 18000  sockets one worker opens at most (open files are capped at 20,000)
  source_ips = 4                  source addresses per worker in 127.0.0.0/8 (loopback targets only)
  connect_timeout_ms = 10000      TCP connect + WebSocket upgrade + hello must finish within this
  drain_secs = 5                  after the last phase: no new sends, wait for in-flight replies

  [visitors]                      chatting visitors (arrivals) and idle visitors (hold_idle)
  messages_per_visit = {min=3, max=6}   messages a visitor sends per visit (each waits for a reply)
  think_ms = {min=1000, max=3000}       pause before each message (and before leaving)
  body_bytes = 80                 message body length (a timestamp header plus padding)
  typing = true                   send `typing` before each message
  read_receipts = true            send `read` for each agent reply
  page_view = true                send one `page_view` per visit
  reply_timeout_ms = 10000        how long a visitor waits for the agent's reply to a message
  return_share = 0.3              share of visits followed by another visit that resumes the chat
  return_after_ms = {min=2000, max=5000}  time away between visits
  max_visits = 2                  visits per visitor at most (the last one says bye)
  idle_start = false              idle visitors also `start` and `subscribe` a conversation
  idle_connect_concurrency = 256  idle sessions being opened at once per worker (0 = unbounded)

  [agents]
  count = 0                       agents; 0 = enough capacity for the expected open conversations
  capacity = 25                   conversations routing gives one agent at once
  headroom = 1.25                 auto count: agent capacity / expected open conversations (<1 queues)
  reply_delay_ms = {min=200, max=800}   agent's delay before replying to a visitor message
  read_receipts = true            agents send `read` for each visitor message
  close_on_bye = true             agents close a conversation after replying to its bye message
  close_stale = true              agents close open conversations left assigned by earlier runs
  unsubscribe = true              agents unsubscribe from a conversation once it is closed or
                                  reassigned, as the console does; false keeps every subscription
  password = \"loadtest-pass\"      password of the agents the harness creates
  email_prefix = \"loadtest-agent\" agents are <email_prefix>-<n>@load.test

  [report]
  p99_target_ms = 25.0            latency target used for the capacity figure
  window_secs = 5                 window for the capacity figure (highest rate with p99 <= target)
  scrape_interval_ms = 1000       how often each node's /metrics (and /proc) is sampled
  stop_when_p99_above_ms = 0.0    stop early (then drain) once the delivery p99 was above this, or
                                  clients saw errors, in stop_after_windows consecutive windows of
                                  window_secs; 0 = never
  stop_after_windows = 3          consecutive windows over stop_when_p99_above_ms that stop the run

  [[phases]]                      run in order; the run ends after the last one plus drain_secs
  name = \"phase\"                  label in reports
  duration_secs = 10              length of the phase
  arrival_rate = 0.0              chatting visitors arriving per second at the phase start
  arrival_rate_end = (unset)      arrival rate at the phase end (linear ramp); unset = arrival_rate
  hold_idle = 0                   idle visitor sessions opened during this phase, kept to the end
  drop_share = 0.0                share of open connections dropped at the phase start (a storm)
  drop_agents = true              the storm drops agent connections too
  reconnect_delay_ms = {min=0, max=1000}  delay before a dropped client reconnects and resumes
  send = true                     chatting visitors send messages in this phase (false: they wait)
";

/// The scenarios shipped in `loadtest/scenarios/`, embedded so the binary works from anywhere.
pub const BUILTIN: &[(&str, &str)] = &[
    ("smoke", include_str!("../scenarios/smoke.toml")),
    ("steady", include_str!("../scenarios/steady.toml")),
    ("ramp", include_str!("../scenarios/ramp.toml")),
    ("spike", include_str!("../scenarios/spike.toml")),
    (
        "reconnect-storm",
        include_str!("../scenarios/reconnect-storm.toml"),
    ),
    ("soak", include_str!("../scenarios/soak.toml")),
    ("soak-60", include_str!("../scenarios/soak-60.toml")),
    (
        "closed-subscriptions",
        include_str!("../scenarios/closed-subscriptions.toml"),
    ),
    ("idle", include_str!("../scenarios/idle.toml")),
    ("profile", include_str!("../scenarios/profile.toml")),
    (
        "cluster-scale",
        include_str!("../scenarios/cluster-scale.toml"),
    ),
];

#[derive(Debug)]
pub struct ScenarioError(pub String);

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScenarioError {}

impl Scenario {
    /// A built-in name (`smoke`), or a path to a TOML file.
    pub fn load(name_or_path: &str) -> Result<Scenario, ScenarioError> {
        if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Scenario::parse(text);
        }
        let path = PathBuf::from(name_or_path);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
            ScenarioError(format!(
                "`{name_or_path}` is neither a built-in scenario ({}) nor a readable file: {e}",
                names.join(", ")
            ))
        })?;
        let mut s = Scenario::parse(&text)?;
        if s.name == "custom" {
            s.name = file_stem(&path);
        }
        Ok(s)
    }

    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let s: Scenario =
            toml::from_str(text).map_err(|e| ScenarioError(format!("bad scenario: {e}")))?;
        s.validate()?;
        Ok(s)
    }

    pub fn validate(&self) -> Result<(), ScenarioError> {
        let bad = |m: String| Err(ScenarioError(m));
        if self.phases.is_empty() {
            return bad("a scenario needs at least one [[phases]] entry".into());
        }
        for r in [
            (
                "visitors.messages_per_visit",
                self.visitors.messages_per_visit,
            ),
            ("visitors.think_ms", self.visitors.think_ms),
            ("visitors.return_after_ms", self.visitors.return_after_ms),
            ("agents.reply_delay_ms", self.agents.reply_delay_ms),
        ] {
            if r.1.min > r.1.max {
                return bad(format!("{}: min is above max", r.0));
            }
        }
        if self.visitors.body_bytes == 0 || self.visitors.body_bytes > 8 * 1024 {
            return bad("visitors.body_bytes must be 1 to 8192".into());
        }
        if !(0.0..=1.0).contains(&self.visitors.return_share) {
            return bad("visitors.return_share must be within 0..1".into());
        }
        if self.agents.capacity == 0 {
            return bad("agents.capacity must be at least 1".into());
        }
        if self.agents.headroom <= 0.0 {
            return bad("agents.headroom must be above 0".into());
        }
        if self.report.window_secs == 0 || self.report.stop_after_windows == 0 {
            return bad("report.window_secs and report.stop_after_windows must be above 0".into());
        }
        if self.report.stop_when_p99_above_ms < 0.0 {
            return bad(
                "report.stop_when_p99_above_ms must not be negative (0 = never stop)".into(),
            );
        }
        if self.generator.max_sockets_per_worker == 0 || self.generator.source_ips == 0 {
            return bad("generator.max_sockets_per_worker and source_ips must be above 0".into());
        }
        for p in &self.phases {
            if p.duration_secs == 0 {
                return bad(format!("phase `{}`: duration_secs must be above 0", p.name));
            }
            if !(0.0..=1.0).contains(&p.drop_share) {
                return bad(format!(
                    "phase `{}`: drop_share must be within 0..1",
                    p.name
                ));
            }
            if p.arrival_rate < 0.0 || p.arrival_rate_end.is_some_and(|r| r < 0.0) {
                return bad(format!(
                    "phase `{}`: arrival rates must not be negative",
                    p.name
                ));
            }
            if p.reconnect_delay_ms.min > p.reconnect_delay_ms.max {
                return bad(format!(
                    "phase `{}`: reconnect_delay_ms min above max",
                    p.name
                ));
            }
        }
        Ok(())
    }

    pub fn total_secs(&self) -> u64 {
        self.phases.iter().map(|p| p.duration_secs).sum()
    }

    /// Mean length of one chatting visit, in seconds: think + reply per message, plus leaving.
    pub fn mean_visit_secs(&self) -> f64 {
        let per_msg = self.visitors.think_ms.mean() + self.agents.reply_delay_ms.mean() + 20.0;
        (self.visitors.messages_per_visit.mean() * per_msg + self.visitors.think_ms.mean()) / 1e3
    }

    /// Chatting visitors arriving over the whole run.
    pub fn total_arrivals(&self) -> f64 {
        self.phases
            .iter()
            .map(|p| {
                (p.arrival_rate + p.arrival_rate_end.unwrap_or(p.arrival_rate)) / 2.0
                    * p.duration_secs as f64
            })
            .sum()
    }

    /// Conversations expected open at the busiest moment.
    pub fn expected_open_conversations(&self) -> f64 {
        let peak_rate = self
            .phases
            .iter()
            .map(|p| p.arrival_rate.max(p.arrival_rate_end.unwrap_or(0.0)))
            .fold(0.0, f64::max);
        let mut open = (peak_rate * self.mean_visit_secs()).min(self.total_arrivals());
        if self.visitors.idle_start {
            open += self.phases.iter().map(|p| p.hold_idle as f64).sum::<f64>();
        }
        open
    }

    /// Agents to create: the configured count, or enough capacity (times headroom).
    pub fn agent_count(&self) -> usize {
        if self.agents.count > 0 {
            return self.agents.count;
        }
        let need = self.expected_open_conversations() * self.agents.headroom;
        ((need / self.agents.capacity as f64).ceil() as usize).max(1)
    }

    /// Sockets open at the busiest moment: idle sessions, chatting visitors and agents.
    pub fn socket_estimate(&self) -> usize {
        let idle: usize = self.phases.iter().map(|p| p.hold_idle).sum();
        let peak_rate = self
            .phases
            .iter()
            .map(|p| p.arrival_rate.max(p.arrival_rate_end.unwrap_or(0.0)))
            .fold(0.0, f64::max);
        let chatting = (peak_rate * self.mean_visit_secs()).min(self.total_arrivals());
        idle + chatting.ceil() as usize + self.agent_count()
    }

    /// Worker processes to start.
    pub fn worker_count(&self) -> usize {
        let need = self
            .socket_estimate()
            .div_ceil(self.generator.max_sockets_per_worker);
        self.generator.workers.max(need).max(1)
    }

    /// The phase running at `secs` after the start, with its index and start second.
    pub fn phase_at(&self, secs: f64) -> Option<(usize, &Phase, f64)> {
        let mut start = 0.0;
        for (i, p) in self.phases.iter().enumerate() {
            let end = start + p.duration_secs as f64;
            if secs < end {
                return Some((i, p, start));
            }
            start = end;
        }
        None
    }

    /// Arrival rate (visitors per second, whole generator) at `secs` after the start.
    pub fn arrival_rate_at(&self, secs: f64) -> f64 {
        match self.phase_at(secs) {
            Some((_, p, start)) => {
                let end = p.arrival_rate_end.unwrap_or(p.arrival_rate);
                let f = ((secs - start) / p.duration_secs as f64).clamp(0.0, 1.0);
                p.arrival_rate + (end - p.arrival_rate) * f
            }
            None => 0.0,
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

fn file_stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "custom".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_validate() {
        for (name, text) in BUILTIN {
            let s = Scenario::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&s.name, name);
            assert!(!s.description.is_empty(), "{name} needs a description");
        }
    }

    #[test]
    fn rejects_unknown_fields_and_bad_values() {
        let e = Scenario::parse("[[phases]]\nduration_secs = 5\nbogus = 1\n").unwrap_err();
        assert!(e.0.contains("bogus"), "{e}");
        let e = Scenario::parse("[[phases]]\nduration_secs = 0\n").unwrap_err();
        assert!(e.0.contains("duration_secs"), "{e}");
        let e = Scenario::parse("name = \"x\"\n").unwrap_err();
        assert!(e.0.contains("phases"), "{e}");
        let e = Scenario::parse(
            "[visitors]\nthink_ms = {min = 5, max = 1}\n[[phases]]\nduration_secs = 1\n",
        )
        .unwrap_err();
        assert!(e.0.contains("think_ms"), "{e}");
    }

    #[test]
    fn ramps_arrival_rate_linearly() {
        let s = Scenario::parse(
            "[[phases]]\nduration_secs = 10\narrival_rate = 0\narrival_rate_end = 100\n\
             [[phases]]\nduration_secs = 10\narrival_rate = 7\n",
        )
        .unwrap();
        assert!((s.arrival_rate_at(5.0) - 50.0).abs() < 1e-9);
        assert!((s.arrival_rate_at(15.0) - 7.0).abs() < 1e-9);
        assert_eq!(s.arrival_rate_at(25.0), 0.0);
        assert_eq!(s.total_secs(), 20);
        assert!((s.total_arrivals() - 570.0).abs() < 1e-9);
    }

    #[test]
    fn auto_sizes_agents_and_workers() {
        let mut s = Scenario::parse(
            "[agents]\ncapacity = 10\nheadroom = 1.0\n[[phases]]\nduration_secs = 1000\narrival_rate = 10\nhold_idle = 40000\n",
        )
        .unwrap();
        let open = s.expected_open_conversations();
        assert!(open > 0.0);
        assert_eq!(s.agent_count(), (open / 10.0).ceil() as usize);
        assert!(s.worker_count() >= 3, "40k idle sockets need 3 workers");
        s.agents.count = 7;
        assert_eq!(s.agent_count(), 7);
    }

    /// Every key of a fully populated scenario appears in FIELDS_HELP.
    #[test]
    fn help_covers_every_field() {
        let mut s = Scenario::default();
        s.phases.push(Phase {
            arrival_rate_end: Some(1.0),
            ..Phase::default()
        });
        let value: toml::Value = toml::from_str(&s.to_toml()).unwrap();
        fn walk(v: &toml::Value, out: &mut Vec<String>) {
            match v {
                toml::Value::Table(t) => {
                    for (k, v) in t {
                        out.push(k.clone());
                        walk(v, out);
                    }
                }
                toml::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        let mut keys = Vec::new();
        walk(&value, &mut keys);
        for k in keys {
            if k == "min" || k == "max" {
                continue;
            }
            let needle_a = format!("  {k} =");
            let needle_b = format!("[{k}]");
            let needle_c = format!("[[{k}]]");
            assert!(
                FIELDS_HELP.contains(&needle_a)
                    || FIELDS_HELP.contains(&needle_b)
                    || FIELDS_HELP.contains(&needle_c),
                "FIELDS_HELP does not document `{k}`"
            );
        }
    }
}
