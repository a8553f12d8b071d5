//! Automation that depends on the calendar: business hours in the site's IANA timezone, and the
//! one automatic reply a conversation's first visitor message gets (in the visitor's language,
//! `language.rs`).

mod language;

pub use language::{replies_in, welcome_in, Audience};

use chrono::{Datelike, NaiveTime, TimeZone, Timelike};
use chrono_tz::Tz;

use crate::clock::Millis;
use crate::domain::{BusinessHours, SiteSettings};

/// Whether `now` falls inside the weekly schedule. A site without hours is always open; an
/// unknown timezone or malformed time counts as closed, so a typo shows the away reply rather
/// than promising an agent.
pub fn inside_hours(hours: Option<&BusinessHours>, now: Millis) -> bool {
    let Some(hours) = hours else { return true };
    let Ok(tz) = hours.timezone.parse::<Tz>() else {
        return false;
    };
    let Some(utc) = chrono::Utc.timestamp_millis_opt(now).single() else {
        return false;
    };
    let local = utc.with_timezone(&tz);
    let weekday = local.weekday().num_days_from_monday() as u8;
    let minute = local.hour() * 60 + local.minute();
    hours.weekly.iter().filter(|w| w.day == weekday).any(|w| {
        match (parse_hhmm(&w.open), parse_hhmm(&w.close)) {
            (Some(open), Some(close)) => open <= minute && minute < close,
            _ => false,
        }
    })
}

fn parse_hhmm(s: &str) -> Option<u32> {
    if s == "24:00" {
        return Some(24 * 60);
    }
    NaiveTime::parse_from_str(s, "%H:%M")
        .ok()
        .map(|t| t.hour() * 60 + t.minute())
}

/// The reply to a conversation's first visitor message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstReply {
    OutsideHours(String),
    NobodyOnline(String),
    InsideHours(String),
}

impl FirstReply {
    pub fn choose(settings: &SiteSettings, now: Millis, agents_online: bool) -> FirstReply {
        Self::choose_for(settings, now, agents_online, &Audience::default())
    }

    /// The reply in the visitor's language; with nobody online and the email already known,
    /// the thanks rather than a request for it.
    pub fn choose_for(
        settings: &SiteSettings,
        now: Millis,
        agents_online: bool,
        audience: &Audience,
    ) -> FirstReply {
        let texts = replies_in(settings, audience.lang.as_deref());
        if !inside_hours(settings.business_hours.as_ref(), now) {
            FirstReply::OutsideHours(texts.reply_outside_hours)
        } else if !agents_online {
            FirstReply::NobodyOnline(if audience.email_known {
                texts.offline_reply_known_email
            } else {
                texts.offline_message
            })
        } else {
            FirstReply::InsideHours(texts.reply_inside_hours)
        }
    }

    pub fn text(&self) -> &str {
        match self {
            FirstReply::OutsideHours(t)
            | FirstReply::NobodyOnline(t)
            | FirstReply::InsideHours(t) => t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OpeningHours;

    fn weekdays_nine_to_five(tz: &str) -> BusinessHours {
        BusinessHours {
            timezone: tz.into(),
            weekly: (0..5)
                .map(|day| OpeningHours {
                    day,
                    open: "09:00".into(),
                    close: "17:00".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn respects_timezone_and_weekday() {
        // 2026-11-23 is a Monday. 09:30 in Madrid (UTC+1 in November) is 08:30 UTC.
        let monday_0830_utc = chrono::Utc
            .with_ymd_and_hms(2026, 11, 23, 8, 30, 0)
            .unwrap()
            .timestamp_millis();
        let hours = weekdays_nine_to_five("Europe/Madrid");
        assert!(inside_hours(Some(&hours), monday_0830_utc));
        assert!(!inside_hours(
            Some(&weekdays_nine_to_five("UTC")),
            monday_0830_utc
        ));
        let sunday = chrono::Utc
            .with_ymd_and_hms(2026, 11, 22, 10, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert!(!inside_hours(Some(&hours), sunday));
        assert!(inside_hours(None, sunday));
        let bad_tz = BusinessHours {
            timezone: "Mars/Base".into(),
            ..hours
        };
        assert!(!inside_hours(Some(&bad_tz), monday_0830_utc));
    }
}
