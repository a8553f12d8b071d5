//! `GET /api/v1/analytics` (JSON for the console's charts) and `GET /api/v1/analytics.csv`
//! (the counter cells for a spreadsheet or a warehouse), admins only. Both read the counters
//! of a range of days in the site's timezone (`analytics`), never the conversations.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::audited::{note, ClientIp};
use super::auth::AdminAuth;
use crate::actors::HubRef;
use crate::analytics::report::{self, Filter};
use crate::analytics::{date_to_day, Calendar, Increment};
use crate::domain::{AgentId, SiteId};
use crate::error::{ApiError, ApiResult};

/// The longest range one request may read (a day is one partition on ScyllaDB).
pub const MAX_DAYS: i32 = 366;
/// The range when none is given: the last seven days, today included.
const DEFAULT_DAYS: i32 = 7;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/analytics", web::get().to(analytics))
        .route("/analytics.csv", web::get().to(analytics_csv));
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct RangeQuery {
    /// First day, `YYYY-MM-DD` in the site's timezone (default: six days before `to`).
    #[param(example = "2026-01-01")]
    from: Option<String>,
    /// Last day, included, `YYYY-MM-DD` (default: today). A range has at most 366 days.
    #[param(example = "2026-01-07")]
    to: Option<String>,
    /// Only what this agent was credited with.
    #[param(value_type = Option<String>, format = Uuid)]
    agent: Option<AgentId>,
    /// `inside` or `outside` business hours; `all` (the default) for both.
    hours: Option<String>,
}

struct Range {
    calendar: Calendar,
    from: i32,
    to: i32,
    filter: Filter,
}

fn parse_day(s: &str) -> ApiResult<i32> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(date_to_day)
        .map_err(|_| ApiError::invalid(format!("{s:?} is not a YYYY-MM-DD date")))
}

impl RangeQuery {
    async fn range(&self, hub: &HubRef, site: SiteId) -> ApiResult<Range> {
        let calendar = Calendar::of(&hub.site(site).await?.settings);
        let to = match &self.to {
            Some(d) => parse_day(d)?,
            None => calendar.day_of(hub.now()),
        };
        let from = match &self.from {
            Some(d) => parse_day(d)?,
            None => to - (DEFAULT_DAYS - 1),
        };
        if from > to || to - from >= MAX_DAYS {
            return Err(ApiError::invalid(format!(
                "from must not be after to, and a range has at most {MAX_DAYS} days"
            )));
        }
        let inside_hours = match self.hours.as_deref() {
            None | Some("") | Some("all") => None,
            Some("inside") => Some(true),
            Some("outside") => Some(false),
            Some(_) => return Err(ApiError::invalid("hours is inside, outside or all")),
        };
        Ok(Range {
            calendar,
            from,
            to,
            filter: Filter {
                agent: self.agent,
                inside_hours,
            },
        })
    }
}

async fn cells_and_names(
    hub: &HubRef,
    site: SiteId,
    range: &Range,
) -> ApiResult<(Vec<Increment>, BTreeMap<AgentId, String>)> {
    let cells = hub.store.counts(site, range.from, range.to).await?;
    let names = hub
        .store
        .list_agents(site)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    Ok((cells, names))
}

/// The range's figures: totals, inside and outside business hours, by day, hour and agent
/// (admins).
#[utoipa::path(get, path = "/api/v1/analytics", tag = "analytics", params(RangeQuery),
    responses((status = 200, body = crate::analytics::report::Report)),
    security(("agent_token" = [])))]
pub(super) async fn analytics(
    hub: web::Data<HubRef>,
    auth: AdminAuth,
    q: web::Query<RangeQuery>,
) -> ApiResult<HttpResponse> {
    let site = auth.0.site;
    let range = q.range(&hub, site).await?;
    let (cells, names) = cells_and_names(&hub, site, &range).await?;
    let report = report::build(
        range.calendar.timezone(),
        range.from,
        range.to,
        &cells,
        range.filter,
        &names,
    );
    Ok(HttpResponse::Ok().json(report))
}

/// The range's counter cells as CSV, for a spreadsheet or a warehouse (admins); the export is
/// recorded in the audit log.
#[utoipa::path(get, path = "/api/v1/analytics.csv", tag = "analytics", params(RangeQuery),
    responses((status = 200, description = "One row per counter cell", body = String,
        content_type = "text/csv",
        headers(("Content-Disposition" = String, description = "`attachment; filename=\"analytics-<from>-<to>.csv\"`")))),
    security(("agent_token" = [])))]
pub(super) async fn analytics_csv(
    hub: web::Data<HubRef>,
    auth: AdminAuth,
    ip: ClientIp,
    q: web::Query<RangeQuery>,
) -> ApiResult<HttpResponse> {
    let site = auth.0.site;
    let range = q.range(&hub, site).await?;
    let (cells, names) = cells_and_names(&hub, site, &range).await?;
    let (from, to) = (
        crate::analytics::day_to_date(range.from),
        crate::analytics::day_to_date(range.to),
    );
    let detail = json!({ "from": from.to_string(), "to": to.to_string() });
    note(&hub, &auth.0, &ip, "analytics.exported", None, detail).await;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"analytics-{from}-{to}.csv\""),
        ))
        .body(report::csv(&cells, range.filter, &names)))
}
