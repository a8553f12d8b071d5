//! Counter cells into what people read: totals, per day, per hour of the day, per agent,
//! inside and outside business hours (the API's JSON and the console's charts), and the cells
//! themselves as CSV for a spreadsheet or a warehouse.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::{day_to_date, Increment, Metric};
use crate::domain::AgentId;

/// A count with its mean: seconds for durations, the score for CSAT.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Mean {
    pub count: i64,
    /// `None` when nothing was counted.
    pub mean: Option<f64>,
    #[serde(skip)]
    total: i64,
}

impl Mean {
    fn add(&mut self, count: i64, total: i64, scale: f64) {
        self.count += count;
        self.total += total;
        self.mean = (self.count > 0).then(|| self.total as f64 / self.count as f64 / scale);
    }
}

/// Every figure of one slice (a day, an hour, an agent, or all of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Figures {
    pub new_conversations: i64,
    pub first_response: Mean,
    pub response: Mean,
    pub resolution: Mean,
    pub queue_wait: Mean,
    pub missed: i64,
    pub closed: i64,
    pub bot_resolved: i64,
    pub bot_handoffs: i64,
    pub csat: Mean,
}

impl Figures {
    fn add(&mut self, cell: &Increment) {
        let (n, total) = (cell.count, cell.total);
        let secs = 1000.0;
        match cell.metric {
            Metric::NewConversations => self.new_conversations += n,
            Metric::FirstResponse => self.first_response.add(n, total, secs),
            Metric::Response => self.response.add(n, total, secs),
            Metric::Resolution => self.resolution.add(n, total, secs),
            Metric::QueueWait => self.queue_wait.add(n, total, secs),
            Metric::Missed => self.missed += n,
            Metric::Closed => self.closed += n,
            Metric::BotResolved => self.bot_resolved += n,
            Metric::BotHandoff => self.bot_handoffs += n,
            Metric::Csat => self.csat.add(n, total, 1.0),
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DayFigures {
    /// `YYYY-MM-DD` in the site's timezone.
    pub date: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HourFigures {
    pub hour: u8,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentFigures {
    pub agent_id: AgentId,
    pub name: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// Which cells a report keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filter {
    pub agent: Option<AgentId>,
    /// `Some(true)`: inside business hours only; `Some(false)`: outside only.
    pub inside_hours: Option<bool>,
}

impl Filter {
    fn keeps(&self, cell: &Increment) -> bool {
        self.agent.is_none_or(|a| cell.agent == Some(a))
            && self.inside_hours.is_none_or(|i| cell.inside_hours == i)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub timezone: String,
    pub from: String,
    pub to: String,
    pub totals: Figures,
    pub inside_hours: Figures,
    pub outside_hours: Figures,
    /// Every day of the range, empty days included (charts need a continuous axis).
    pub by_day: Vec<DayFigures>,
    /// The 24 hours of the day, summed over the range (the busiest hours).
    pub by_hour: Vec<HourFigures>,
    /// Agents credited with something in the range, by name.
    pub by_agent: Vec<AgentFigures>,
}

/// Sum `cells` (of days `from..=to`) into a report; `names` gives agents their names.
pub fn build(
    timezone: &str,
    from: i32,
    to: i32,
    cells: &[Increment],
    filter: Filter,
    names: &BTreeMap<AgentId, String>,
) -> Report {
    let mut totals = Figures::default();
    let (mut inside, mut outside) = (Figures::default(), Figures::default());
    let mut days: BTreeMap<i32, Figures> = (from..=to).map(|d| (d, Figures::default())).collect();
    let mut hours = [Figures::default(); 24];
    let mut agents: BTreeMap<AgentId, Figures> = BTreeMap::new();
    for cell in cells.iter().filter(|c| filter.keeps(c)) {
        totals.add(cell);
        if cell.inside_hours {
            inside.add(cell);
        } else {
            outside.add(cell);
        }
        if let Some(day) = days.get_mut(&cell.day) {
            day.add(cell);
        }
        hours[usize::from(cell.hour.min(23))].add(cell);
        if let Some(agent) = cell.agent {
            agents.entry(agent).or_default().add(cell);
        }
    }
    let mut by_agent: Vec<AgentFigures> = agents
        .into_iter()
        .map(|(agent_id, figures)| AgentFigures {
            agent_id,
            name: names.get(&agent_id).cloned().unwrap_or_default(),
            figures,
        })
        .collect();
    by_agent.sort_by(|a, b| a.name.cmp(&b.name));
    Report {
        timezone: timezone.to_owned(),
        from: day_to_date(from).to_string(),
        to: day_to_date(to).to_string(),
        totals,
        inside_hours: inside,
        outside_hours: outside,
        by_day: days
            .into_iter()
            .map(|(day, figures)| DayFigures {
                date: day_to_date(day).to_string(),
                figures,
            })
            .collect(),
        by_hour: hours
            .into_iter()
            .enumerate()
            .map(|(hour, figures)| HourFigures {
                hour: hour as u8,
                figures,
            })
            .collect(),
        by_agent,
    }
}

/// The CSV header: the cell's key, then each metric's count and total.
const CSV_KEY: &str = "date,hour,agent_id,agent_name,inside_hours";

/// One line per `(date, hour, agent, inside hours)` cell, each metric as `<name>_count` and
/// `<name>_total` (milliseconds for durations, score sums for CSAT): sums stay exact, and a
/// spreadsheet divides.
pub fn csv(cells: &[Increment], filter: Filter, names: &BTreeMap<AgentId, String>) -> String {
    type Key = (i32, u8, Option<AgentId>, bool);
    let mut rows: BTreeMap<Key, BTreeMap<Metric, (i64, i64)>> = BTreeMap::new();
    for cell in cells.iter().filter(|c| filter.keeps(c)) {
        let key = (cell.day, cell.hour, cell.agent, cell.inside_hours);
        let slot = rows.entry(key).or_default().entry(cell.metric).or_default();
        slot.0 += cell.count;
        slot.1 += cell.total;
    }
    let mut out = String::from(CSV_KEY);
    for metric in Metric::ALL {
        let _ = write!(out, ",{0}_count,{0}_total", metric.as_str());
    }
    out.push('\n');
    for ((day, hour, agent, inside), metrics) in rows {
        let name = agent
            .and_then(|a| names.get(&a).cloned())
            .unwrap_or_default();
        let _ = write!(
            out,
            "{},{hour},{},{},{inside}",
            day_to_date(day),
            agent.map(|a| a.to_string()).unwrap_or_default(),
            csv_field(&name),
        );
        for metric in Metric::ALL {
            let (count, total) = metrics.get(&metric).copied().unwrap_or_default();
            let _ = write!(out, ",{count},{total}");
        }
        out.push('\n');
    }
    out
}

/// A field as CSV: quoted when it holds a separator, a quote or a line break; and a leading
/// `=`, `+`, `-` or `@` defused, so a spreadsheet never runs an agent's name as a formula.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SiteId;

    fn cell(day: i32, hour: u8, agent: Option<AgentId>, metric: Metric, total: i64) -> Increment {
        Increment {
            site: SiteId::default(),
            day,
            hour,
            agent,
            inside_hours: hour >= 9,
            metric,
            count: 1,
            total,
        }
    }

    #[test]
    fn figures_add_up_by_day_hour_and_agent() {
        let ann = AgentId::new();
        let cells = [
            cell(10, 8, None, Metric::NewConversations, 0),
            cell(10, 9, Some(ann), Metric::FirstResponse, 30_000),
            cell(11, 9, Some(ann), Metric::FirstResponse, 90_000),
            cell(11, 9, Some(ann), Metric::Csat, 4),
        ];
        let names = BTreeMap::from([(ann, "Ann".to_owned())]);
        let r = build("UTC", 10, 12, &cells, Filter::default(), &names);
        assert_eq!(r.by_day.len(), 3, "empty days are listed");
        assert_eq!(r.totals.new_conversations, 1);
        assert_eq!(r.totals.first_response.count, 2);
        assert_eq!(r.totals.first_response.mean, Some(60.0));
        assert_eq!(r.by_hour[9].figures.first_response.count, 2);
        assert_eq!(r.by_agent[0].name, "Ann");
        assert_eq!(r.by_agent[0].figures.csat.mean, Some(4.0));
        assert_eq!(r.outside_hours.new_conversations, 1);
        assert_eq!(r.by_day[2].figures, Figures::default());
        let inside = Filter {
            inside_hours: Some(true),
            ..Filter::default()
        };
        let r = build("UTC", 10, 12, &cells, inside, &names);
        assert_eq!(r.totals.new_conversations, 0);
    }

    #[test]
    fn csv_has_one_line_per_cell_and_defuses_formulas() {
        let ann = AgentId::new();
        let cells = [
            cell(0, 9, Some(ann), Metric::Response, 1_000),
            cell(0, 9, Some(ann), Metric::Response, 3_000),
        ];
        let names = BTreeMap::from([(ann, "=HYPERLINK(\"x\")".to_owned())]);
        let text = csv(&cells, Filter::default(), &names);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0]
            .starts_with("date,hour,agent_id,agent_name,inside_hours,new_conversations_count"));
        assert!(lines[1].starts_with("1970-01-01,9,"), "{}", lines[1]);
        assert!(
            lines[1].contains("\"'=HYPERLINK(\"\"x\"\")\""),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].contains(",2,4000,"),
            "response count and total: {}",
            lines[1]
        );
    }
}
