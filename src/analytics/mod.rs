//! Analytics that support teams read: new conversations, first and average response time,
//! resolution time, queue wait, missed chats, bot resolutions and hand-offs, CSAT, per site,
//! per agent, per day and per hour of the site's own calendar, inside or outside its business
//! hours.
//!
//! Counted when they happen, never by scanning history: whoever causes an event (the
//! conversation actor answering or closing, the visitor actor creating a conversation, the
//! router's assignment through the conversation) turns it into a [`Tally`], the site's
//! [`Calendar`] places it in a `(day, hour, agent, inside hours)` cell, and the resulting
//! [`Increment`]s ride on the store write that records the change itself, beside its webhook
//! events (`store::WriteEffects`, one call of `store::EffectfulWrites`). Reads are range queries over those
//! cells ([`report`]).
//!
//! Map: this file (what is counted and where it lands), [`report`] (cells into the figures the
//! API and the console show, and the CSV export), [`timings`] (the conversation's clocks: who
//! answered when, as a plain rule struct the conversation actor feeds).

pub mod report;
pub mod timings;

use chrono::{Datelike, NaiveDate, TimeZone, Timelike};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::actors::HubRef;
use crate::automation::inside_hours;
use crate::clock::Millis;
use crate::domain::{AgentId, BusinessHours, Site, SiteId, SiteSettings};
use crate::error::{ApiResult, ErrorCode};
use crate::store::WriteEffects;
use crate::webhooks::EventDraft;

/// What is counted. Every cell keeps a count and a total, so averages add up across cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// A conversation was created.
    NewConversations,
    /// The first agent answer after the visitor's first message; total in milliseconds.
    FirstResponse,
    /// Every agent answer to a waiting visitor; total in milliseconds.
    Response,
    /// Creation to close; total in milliseconds.
    Resolution,
    /// Waiting in the queue until an agent was assigned; total in milliseconds.
    QueueWait,
    /// Closed after the visitor wrote, without any agent answer (missed or abandoned).
    Missed,
    /// Closed, whatever the reason.
    Closed,
    /// Closed with the bot's answers only, the visitor satisfied (reported by the bot).
    BotResolved,
    /// The bot handed the conversation to a human.
    BotHandoff,
    /// A satisfaction rating; total is the sum of scores (1-5).
    Csat,
}

impl Metric {
    pub const ALL: [Metric; 10] = [
        Metric::NewConversations,
        Metric::FirstResponse,
        Metric::Response,
        Metric::Resolution,
        Metric::QueueWait,
        Metric::Missed,
        Metric::Closed,
        Metric::BotResolved,
        Metric::BotHandoff,
        Metric::Csat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::NewConversations => "new_conversations",
            Metric::FirstResponse => "first_response",
            Metric::Response => "response",
            Metric::Resolution => "resolution",
            Metric::QueueWait => "queue_wait",
            Metric::Missed => "missed",
            Metric::Closed => "closed",
            Metric::BotResolved => "bot_resolved",
            Metric::BotHandoff => "bot_handoff",
            Metric::Csat => "csat",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// An event worth counting, before it is placed in a site's calendar. Plain data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub metric: Metric,
    /// The agent it is credited to (the one who answered, the assignee at close).
    pub agent: Option<AgentId>,
    /// When it happened: decides the day and hour.
    pub at: Millis,
    /// Milliseconds for durations, the score for CSAT, 0 for plain counts.
    pub value: i64,
}

impl Tally {
    pub fn count(metric: Metric, agent: Option<AgentId>, at: Millis) -> Tally {
        Tally {
            metric,
            agent,
            at,
            value: 0,
        }
    }

    pub fn measure(metric: Metric, agent: Option<AgentId>, at: Millis, value: i64) -> Tally {
        Tally {
            metric,
            agent,
            at,
            value: value.max(0),
        }
    }
}

/// A counter cell and what to add to it (or, read back, what it holds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Increment {
    pub site: SiteId,
    /// The local date in the site's timezone, as days since 1970-01-01.
    pub day: i32,
    /// The local hour, 0-23.
    pub hour: u8,
    pub agent: Option<AgentId>,
    pub inside_hours: bool,
    pub metric: Metric,
    pub count: i64,
    pub total: i64,
}

/// A site's calendar: its timezone (the business hours', else UTC) and its opening hours.
#[derive(Debug, Clone)]
pub struct Calendar {
    tz: Tz,
    hours: Option<BusinessHours>,
}

impl Calendar {
    pub fn of(settings: &SiteSettings) -> Calendar {
        let tz = settings
            .business_hours
            .as_ref()
            .and_then(|h| h.timezone.parse::<Tz>().ok())
            .unwrap_or(Tz::UTC);
        Calendar {
            tz,
            hours: settings.business_hours.clone(),
        }
    }

    pub fn timezone(&self) -> &'static str {
        self.tz.name()
    }

    fn local(&self, at: Millis) -> chrono::DateTime<Tz> {
        chrono::Utc
            .timestamp_millis_opt(at)
            .single()
            .unwrap_or_default()
            .with_timezone(&self.tz)
    }

    /// The local date of `at`, as days since 1970-01-01.
    pub fn day_of(&self, at: Millis) -> i32 {
        date_to_day(self.local(at).date_naive())
    }

    /// The cell a tally lands in, with its count and total.
    pub fn place(&self, site: SiteId, tally: &Tally) -> Increment {
        let local = self.local(tally.at);
        Increment {
            site,
            day: date_to_day(local.date_naive()),
            hour: local.hour() as u8,
            agent: tally.agent,
            inside_hours: inside_hours(self.hours.as_ref(), tally.at),
            metric: tally.metric,
            count: 1,
            total: tally.value,
        }
    }
}

/// Days since 1970-01-01 of a date.
pub fn date_to_day(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - EPOCH_DAYS_FROM_CE
}

/// The date `day` days after 1970-01-01.
pub fn day_to_date(day: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day + EPOCH_DAYS_FROM_CE).unwrap_or_default()
}

/// `NaiveDate::from_ymd(1970, 1, 1).num_days_from_ce()`.
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// What a write made by `site`'s entities carries: its webhook `events`, its tallies placed
/// in the site's calendar, and its retention (for backends that expire rows by TTL).
pub fn effects_for(site: &Site, tallies: &[Tally], events: Vec<EventDraft>) -> WriteEffects {
    let calendar = Calendar::of(&site.settings);
    WriteEffects {
        events,
        increments: tallies.iter().map(|t| calendar.place(site.id, t)).collect(),
        retention_days: site.settings.retention_days,
    }
}

/// [`effects_for`] a site known by id (through the node's site cache). A site that is not
/// stored (tools and tests write conversations without one) counts in UTC and keeps forever:
/// the write itself must not fail for it.
pub async fn effects(
    hub: &HubRef,
    site: SiteId,
    tallies: &[Tally],
    events: Vec<EventDraft>,
) -> ApiResult<WriteEffects> {
    match hub.site(site).await {
        Ok(site) => Ok(effects_for(&site, tallies, events)),
        Err(e) if e.code == ErrorCode::NotFound => {
            let calendar = Calendar::of(&SiteSettings::default());
            Ok(WriteEffects {
                events,
                increments: tallies.iter().map(|t| calendar.place(site, t)).collect(),
                retention_days: 0,
            })
        }
        Err(e) => Err(e),
    }
}

/// Count events that have no store write of their own to ride on: one counter write. (The
/// bot's hand-offs ride on their notice message, CSAT on the rating's write.)
pub async fn record(hub: &HubRef, site: SiteId, tallies: &[Tally]) -> ApiResult<()> {
    if tallies.is_empty() {
        return Ok(());
    }
    let effects = effects(hub, site, tallies, Vec::new()).await?;
    hub.store.add_counts(&effects.increments).await?;
    export(tallies);
    Ok(())
}

/// Mirrors stored tallies on this node's Prometheus metrics (first response, missed chats,
/// CSAT), so the live dashboards and the site reports count the same events. Called by each
/// writer once the write carrying `tallies` succeeded: a failed write counted nothing in the
/// store, and a tally is decided once (`timings`, `csat`), so nothing is observed twice.
pub fn export(tallies: &[Tally]) {
    for tally in tallies {
        match tally.metric {
            Metric::FirstResponse => {
                crate::metrics::FIRST_RESPONSE.observe(tally.value as f64 / 1000.0)
            }
            Metric::Missed => crate::metrics::MISSED_CONVERSATIONS.inc(),
            Metric::Csat => crate::metrics::CSAT_SCORE.observe(tally.value as f64),
            // Queue wait and bot hand-offs have their own metrics where they happen
            // (`switchboard_queue_wait_seconds`, `switchboard_bot_handoffs_total`); the rest
            // are per-site report figures only.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OpeningHours;

    #[test]
    fn days_count_from_the_epoch() {
        let date = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        assert_eq!(date_to_day(date), 0);
        let date = NaiveDate::from_ymd_opt(2025, 1, 6).unwrap();
        assert_eq!(day_to_date(date_to_day(date)), date);
    }

    #[test]
    fn a_tally_lands_on_the_sites_local_day_and_hour() {
        let settings = SiteSettings {
            business_hours: Some(BusinessHours {
                timezone: "America/New_York".into(),
                weekly: vec![OpeningHours {
                    day: 0,
                    open: "09:00".into(),
                    close: "17:00".into(),
                }],
            }),
            ..SiteSettings::default()
        };
        let calendar = Calendar::of(&settings);
        // Monday 2025-01-06 03:30 UTC is Sunday 22:30 in New York: outside hours.
        let at = 1_736_134_200_000;
        let cell = calendar.place(SiteId::new(), &Tally::count(Metric::Missed, None, at));
        assert_eq!(day_to_date(cell.day).to_string(), "2025-01-05");
        assert_eq!(cell.hour, 22);
        assert!(!cell.inside_hours);
        // Monday 15:00 UTC is 10:00 in New York: inside.
        let at = 1_736_175_600_000;
        let cell = calendar.place(
            SiteId::new(),
            &Tally::measure(Metric::Response, None, at, 5),
        );
        assert_eq!((cell.hour, cell.inside_hours, cell.total), (10, true, 5));
        assert_eq!(calendar.timezone(), "America/New_York");
    }

    #[test]
    fn a_site_without_hours_counts_in_utc_and_inside() {
        let calendar = Calendar::of(&SiteSettings::default());
        let cell = calendar.place(SiteId::new(), &Tally::count(Metric::Closed, None, 0));
        assert_eq!((cell.day, cell.hour, cell.inside_hours), (0, 0, true));
        assert_eq!(Metric::parse("queue_wait"), Some(Metric::QueueWait));
        assert_eq!(Metric::parse("nope"), None);
    }
}
