//! Reporting: overview, top risks, the direction summary and late data
//! entries, over the dashboards the caller can see (docs/reporting.md).
use chrono::Utc;
use kpix_shared::db::{
    self,
    reports::{
        ActionSummary, DashboardSummary, KpiSnapshot, KpiTrend, MissingEntry, ProcessSummary,
        ReportFilter, ReportScope, StrategicKpi,
    },
};
use kpix_shared::ids::DashboardId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult},
    extract::{AuthConn, Query},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_overview))
        .routes(routes!(get_top_risks))
        .routes(routes!(get_direction))
        .routes(routes!(get_missing))
}

/// Default and largest `limit` of the top risks and of each direction list.
const LIST_LIMIT: (i64, i64) = (10, 100);
/// Default and largest `limit` of the late entries.
const MISSING_LIMIT: (i64, i64) = (100, 1000);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Only dashboards of this process (case- and accent-insensitive).
    pub process_name: Option<String>,
    /// Only this dashboard.
    pub dashboard_id: Option<DashboardId>,
}

/// The filters of a report with lists, and their length.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitedReportQuery {
    /// Items per list, 1 to 100; 10 when absent.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// Only dashboards of this process (case- and accent-insensitive).
    pub process_name: Option<String>,
    /// Only this dashboard.
    pub dashboard_id: Option<DashboardId>,
}

/// The filters of the late entries, and how many to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MissingQuery {
    /// Items to list, 1 to 1000; 100 when absent.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Only dashboards of this process (case- and accent-insensitive).
    pub process_name: Option<String>,
    /// Only this dashboard.
    pub dashboard_id: Option<DashboardId>,
}

fn filter(process_name: Option<String>, dashboard_id: Option<DashboardId>) -> ReportFilter {
    ReportFilter {
        process_name: process_name
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty()),
        dashboard_id,
    }
}

fn limit(raw: Option<&str>, (default, max): (i64, i64)) -> ApiResult<i64> {
    match raw.map(str::parse::<i64>) {
        None => Ok(default),
        Some(Ok(n)) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid(
            "limit",
            format!("must be an integer from 1 to {max}"),
        )),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverviewResponse {
    /// Visible dashboards, by process name (nulls last), title, id.
    pub dashboards: Vec<DashboardSummary>,
    /// The same counts per process name, the dashboards without one last.
    pub processes: Vec<ProcessSummary>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopRisksResponse {
    pub items: Vec<KpiSnapshot>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DirectionResponse {
    /// Latest value RED: critical first, then farthest from green.
    pub top_red_kpis: Vec<KpiSnapshot>,
    /// Open actions whose due date has passed, the oldest due first.
    pub overdue_actions: Vec<ActionSummary>,
    /// Latest values, the most recent periods first.
    pub latest_values: Vec<KpiSnapshot>,
    /// Latest value better than the previous one, the largest relative change first.
    pub improving_kpis: Vec<KpiTrend>,
    /// Latest value worse than the previous one, the largest relative change first.
    pub worsening_kpis: Vec<KpiTrend>,
    /// Open actions due today, tomorrow or the day after.
    pub upcoming_actions_48h: Vec<ActionSummary>,
    /// Open actions due after the day after tomorrow, up to today + 7 days
    /// (never in `upcoming_actions_48h`).
    pub upcoming_actions_7d: Vec<ActionSummary>,
    /// Actions moved to DONE or CANCELLED since Monday 00:00 UTC.
    pub closed_actions_this_week: Vec<ActionSummary>,
    /// Latest value RED and no OPEN or IN_PROGRESS action.
    pub red_kpis_without_action: Vec<KpiSnapshot>,
    /// Active KPIs flagged `is_strategic`, worst status first (critical, RED,
    /// ORANGE, GREEN, then those without a value yet).
    pub strategic_kpis: Vec<StrategicKpi>,
    /// Per-process summary, as in the overview.
    pub processes: Vec<ProcessSummary>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MissingResponse {
    pub items: Vec<MissingEntry>,
    /// Late entries in all, `items` being the first `limit` of them.
    pub total: i64,
}

/// Status counts per dashboard and per process, with open and overdue actions.
#[utoipa::path(get, path = "/reporting/overview", tag = "reporting", params(ReportQuery),
    responses((status = 200, body = OverviewResponse), (status = 401), (status = 422)),
    security(("bearer" = [])))]
async fn get_overview(
    AuthConn { auth, mut conn }: AuthConn,
    Query(query): Query<ReportQuery>,
) -> ApiResult<axum::Json<OverviewResponse>> {
    let filter = filter(query.process_name, query.dashboard_id);
    let scope = ReportScope {
        caller: &auth.caller,
        filter: &filter,
        today: Utc::now().date_naive(),
    };
    let dashboards = db::reports::overview(&mut conn, scope).await?;
    let processes = db::reports::processes(&dashboards);
    Ok(axum::Json(OverviewResponse {
        dashboards,
        processes,
    }))
}

/// KPIs whose latest value is RED or ORANGE: critical first, then by relative
/// distance from the green threshold, then by name.
#[utoipa::path(get, path = "/reporting/top-risks", tag = "reporting", params(LimitedReportQuery),
    responses((status = 200, body = TopRisksResponse), (status = 401), (status = 422)),
    security(("bearer" = [])))]
async fn get_top_risks(
    AuthConn { auth, mut conn }: AuthConn,
    Query(query): Query<LimitedReportQuery>,
) -> ApiResult<axum::Json<TopRisksResponse>> {
    let limit = limit(query.limit.as_deref(), LIST_LIMIT)?;
    let filter = filter(query.process_name, query.dashboard_id);
    let scope = ReportScope {
        caller: &auth.caller,
        filter: &filter,
        today: Utc::now().date_naive(),
    };
    let items = db::reports::top_risks(&mut conn, scope, limit).await?;
    Ok(axum::Json(TopRisksResponse { items }))
}

/// The one-screen summary for leadership: red KPIs, trends, key actions and
/// the per-process summary; `limit` items per list.
#[utoipa::path(get, path = "/reporting/direction", tag = "reporting", params(LimitedReportQuery),
    responses((status = 200, body = DirectionResponse), (status = 401), (status = 422)),
    security(("bearer" = [])))]
async fn get_direction(
    AuthConn { auth, mut conn }: AuthConn,
    Query(query): Query<LimitedReportQuery>,
) -> ApiResult<axum::Json<DirectionResponse>> {
    let limit = limit(query.limit.as_deref(), LIST_LIMIT)?;
    let filter = filter(query.process_name, query.dashboard_id);
    let scope = ReportScope {
        caller: &auth.caller,
        filter: &filter,
        today: Utc::now().date_naive(),
    };
    let report = db::reports::direction(&mut conn, scope, limit).await?;
    Ok(axum::Json(DirectionResponse {
        processes: db::reports::processes(&report.dashboards),
        top_red_kpis: report.top_red_kpis,
        overdue_actions: report.overdue_actions,
        latest_values: report.latest_values,
        improving_kpis: report.improving_kpis,
        worsening_kpis: report.worsening_kpis,
        upcoming_actions_48h: report.upcoming_actions_48h,
        upcoming_actions_7d: report.upcoming_actions_7d,
        closed_actions_this_week: report.closed_actions_this_week,
        red_kpis_without_action: report.red_kpis_without_action,
        strategic_kpis: report.strategic_kpis,
    }))
}

/// Late data entries: active KPIs whose last completed period (by their
/// frequency, as of today UTC) has no value.
#[utoipa::path(get, path = "/reporting/missing", tag = "reporting", params(MissingQuery),
    responses((status = 200, body = MissingResponse), (status = 401), (status = 422)),
    security(("bearer" = [])))]
async fn get_missing(
    AuthConn { auth, mut conn }: AuthConn,
    Query(query): Query<MissingQuery>,
) -> ApiResult<axum::Json<MissingResponse>> {
    let limit = limit(query.limit.as_deref(), MISSING_LIMIT)?;
    let filter = filter(query.process_name, query.dashboard_id);
    let scope = ReportScope {
        caller: &auth.caller,
        filter: &filter,
        today: Utc::now().date_naive(),
    };
    let (items, total) = db::reports::missing(&mut conn, scope, limit).await?;
    Ok(axum::Json(MissingResponse { items, total }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_and_bound() {
        assert_eq!(limit(None, LIST_LIMIT).ok(), Some(10));
        assert_eq!(limit(Some("1"), LIST_LIMIT).ok(), Some(1));
        assert_eq!(limit(Some("100"), LIST_LIMIT).ok(), Some(100));
        assert!(limit(Some("0"), LIST_LIMIT).is_err());
        assert!(limit(Some("101"), LIST_LIMIT).is_err());
        assert!(limit(Some("ten"), LIST_LIMIT).is_err());
        assert!(limit(Some("99999999999999999999"), LIST_LIMIT).is_err());
        assert_eq!(limit(Some("1000"), MISSING_LIMIT).ok(), Some(1000));
    }

    #[test]
    fn blank_process_name_is_no_filter() {
        assert_eq!(filter(Some("  ".into()), None).process_name, None);
        assert_eq!(
            filter(Some(" Qualité ".into()), None)
                .process_name
                .as_deref(),
            Some("Qualité")
        );
    }
}
