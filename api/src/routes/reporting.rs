//! Reporting: overview, top risks, the direction summary and late data
//! entries, over the dashboards the caller can see (docs/reporting.md).
use chrono::{DateTime, NaiveDate, Utc};
use kpix_shared::db::{
    self,
    reports::{
        ActionSummary, DashboardSummary, KpiSnapshot, KpiTrend, MissingEntry, ProcessSummary,
        ReportFilter, ReportScope, StrategicKpi,
    },
};
use kpix_shared::domain::{ActionStatus, Direction, Frequency, Status};
use kpix_shared::ids::{ActionId, DashboardId, KpiId, UserId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult},
    extract::{AuthConn, Query},
    routes::dashboards::StatusBreakdownResponse,
    routes::wire,
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
    pub dashboards: Vec<DashboardSummaryResponse>,
    /// The same counts per process name, the dashboards without one last.
    pub processes: Vec<ProcessSummaryResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopRisksResponse {
    pub items: Vec<KpiSnapshotResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DirectionResponse {
    /// Latest value RED: critical first, then farthest from green.
    pub top_red_kpis: Vec<KpiSnapshotResponse>,
    /// Open actions whose due date has passed, the oldest due first.
    pub overdue_actions: Vec<ActionSummaryResponse>,
    /// Latest values, the most recent periods first.
    pub latest_values: Vec<KpiSnapshotResponse>,
    /// Latest value better than the previous one, the largest relative change first.
    pub improving_kpis: Vec<KpiTrendResponse>,
    /// Latest value worse than the previous one, the largest relative change first.
    pub worsening_kpis: Vec<KpiTrendResponse>,
    /// Open actions due today, tomorrow or the day after.
    pub upcoming_actions_48h: Vec<ActionSummaryResponse>,
    /// Open actions due after the day after tomorrow, up to today + 7 days
    /// (never in `upcoming_actions_48h`).
    pub upcoming_actions_7d: Vec<ActionSummaryResponse>,
    /// Actions moved to DONE or CANCELLED since Monday 00:00 UTC.
    pub closed_actions_this_week: Vec<ActionSummaryResponse>,
    /// Latest value RED and no OPEN or IN_PROGRESS action.
    pub red_kpis_without_action: Vec<KpiSnapshotResponse>,
    /// Active KPIs flagged `is_strategic`, worst status first (critical, RED,
    /// ORANGE, GREEN, then those without a value yet).
    pub strategic_kpis: Vec<StrategicKpiResponse>,
    /// Per-process summary, as in the overview.
    pub processes: Vec<ProcessSummaryResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MissingResponse {
    pub items: Vec<MissingEntryResponse>,
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
        dashboards: wire(dashboards),
        processes: wire(processes),
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
    Ok(axum::Json(TopRisksResponse { items: wire(items) }))
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
        processes: wire(db::reports::processes(&report.dashboards)),
        top_red_kpis: wire(report.top_red_kpis),
        overdue_actions: wire(report.overdue_actions),
        latest_values: wire(report.latest_values),
        improving_kpis: wire(report.improving_kpis),
        worsening_kpis: wire(report.worsening_kpis),
        upcoming_actions_48h: wire(report.upcoming_actions_48h),
        upcoming_actions_7d: wire(report.upcoming_actions_7d),
        closed_actions_this_week: wire(report.closed_actions_this_week),
        red_kpis_without_action: wire(report.red_kpis_without_action),
        strategic_kpis: wire(report.strategic_kpis),
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
    Ok(axum::Json(MissingResponse {
        items: wire(items),
        total,
    }))
}

/// One dashboard of the overview.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = DashboardSummary)]
pub struct DashboardSummaryResponse {
    pub dashboard_id: DashboardId,
    pub title: String,
    pub process_name: Option<String>,
    /// Active KPIs.
    pub total_kpis: i64,
    /// Active KPIs by the status of their latest value.
    pub status_breakdown: StatusBreakdownResponse,
    /// Active KPIs without any value.
    pub no_value: i64,
    /// The worst latest status; null when no KPI has a value.
    pub worst_status: Option<Status>,
    /// Actions OPEN or IN_PROGRESS on the active KPIs.
    pub open_actions: i64,
    /// Open actions whose due date has passed (UTC).
    pub overdue_actions: i64,
}

impl From<DashboardSummary> for DashboardSummaryResponse {
    fn from(row: DashboardSummary) -> Self {
        Self {
            dashboard_id: row.dashboard_id,
            title: row.title,
            process_name: row.process_name,
            total_kpis: row.total_kpis,
            status_breakdown: row.status_breakdown.into(),
            no_value: row.no_value,
            worst_status: row.worst_status,
            open_actions: row.open_actions,
            overdue_actions: row.overdue_actions,
        }
    }
}

/// The same counts summed over the dashboards of one process.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ProcessSummary)]
pub struct ProcessSummaryResponse {
    /// Null groups the dashboards without a process.
    pub process_name: Option<String>,
    /// Visible dashboards of the process.
    pub dashboards: i64,
    pub total_kpis: i64,
    pub status_breakdown: StatusBreakdownResponse,
    pub no_value: i64,
    pub worst_status: Option<Status>,
    pub open_actions: i64,
    pub overdue_actions: i64,
}

impl From<ProcessSummary> for ProcessSummaryResponse {
    fn from(row: ProcessSummary) -> Self {
        Self {
            process_name: row.process_name,
            dashboards: row.dashboards,
            total_kpis: row.total_kpis,
            status_breakdown: row.status_breakdown.into(),
            no_value: row.no_value,
            worst_status: row.worst_status,
            open_actions: row.open_actions,
            overdue_actions: row.overdue_actions,
        }
    }
}

/// A KPI and its latest value: top risks and the direction's KPI lists.
/// Decimals are JSON numbers (DESIGN §2), whatever the crate's default.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = KpiSnapshot)]
pub struct KpiSnapshotResponse {
    pub kpi_id: KpiId,
    pub dashboard_id: DashboardId,
    pub dashboard_title: String,
    pub name: String,
    pub code: Option<String>,
    pub unit: Option<String>,
    pub status: Status,
    /// RED and beyond the red level.
    pub critical: bool,
    #[serde(serialize_with = "rust_decimal::serde::arbitrary_precision::serialize")]
    pub value: Decimal,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
}

impl From<KpiSnapshot> for KpiSnapshotResponse {
    fn from(row: KpiSnapshot) -> Self {
        Self {
            kpi_id: row.kpi_id,
            dashboard_id: row.dashboard_id,
            dashboard_title: row.dashboard_title,
            name: row.name,
            code: row.code,
            unit: row.unit,
            status: row.status,
            critical: row.critical,
            value: row.value,
            period_start: row.period_start,
            period_end: row.period_end,
        }
    }
}

/// A KPI flagged strategic and its latest value, if it has one yet.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = StrategicKpi)]
pub struct StrategicKpiResponse {
    pub kpi_id: KpiId,
    pub dashboard_id: DashboardId,
    pub dashboard_title: String,
    pub name: String,
    pub code: Option<String>,
    pub unit: Option<String>,
    /// Null while the KPI has no value.
    pub status: Option<Status>,
    /// RED and beyond the red level.
    pub critical: Option<bool>,
    #[serde(serialize_with = "rust_decimal::serde::arbitrary_precision_option::serialize")]
    pub value: Option<Decimal>,
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
}

impl From<StrategicKpi> for StrategicKpiResponse {
    fn from(row: StrategicKpi) -> Self {
        Self {
            kpi_id: row.kpi_id,
            dashboard_id: row.dashboard_id,
            dashboard_title: row.dashboard_title,
            name: row.name,
            code: row.code,
            unit: row.unit,
            status: row.status,
            critical: row.critical,
            value: row.value,
            period_start: row.period_start,
            period_end: row.period_end,
        }
    }
}

/// A KPI's latest value against its previous stored one.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = KpiTrend)]
pub struct KpiTrendResponse {
    pub kpi_id: KpiId,
    pub dashboard_id: DashboardId,
    pub dashboard_title: String,
    pub name: String,
    pub code: Option<String>,
    pub unit: Option<String>,
    /// The KPI's direction, which tells better from worse.
    pub direction: Direction,
    #[serde(serialize_with = "rust_decimal::serde::arbitrary_precision::serialize")]
    pub current_value: Decimal,
    #[serde(serialize_with = "rust_decimal::serde::arbitrary_precision::serialize")]
    pub previous_value: Decimal,
    pub current_status: Status,
    pub previous_status: Status,
    pub current_period_start: NaiveDate,
    pub previous_period_start: NaiveDate,
    /// `current_value - previous_value`.
    #[serde(serialize_with = "rust_decimal::serde::arbitrary_precision::serialize")]
    pub delta: Decimal,
    /// The delta signed so that positive is better (negated for DOWN_IS_BETTER).
    #[serde(serialize_with = "rust_decimal::serde::arbitrary_precision::serialize")]
    pub delta_normalized: Decimal,
}

impl From<KpiTrend> for KpiTrendResponse {
    fn from(row: KpiTrend) -> Self {
        Self {
            kpi_id: row.kpi_id,
            dashboard_id: row.dashboard_id,
            dashboard_title: row.dashboard_title,
            name: row.name,
            code: row.code,
            unit: row.unit,
            direction: row.direction,
            current_value: row.current_value,
            previous_value: row.previous_value,
            current_status: row.current_status,
            previous_status: row.previous_status,
            current_period_start: row.current_period_start,
            previous_period_start: row.previous_period_start,
            delta: row.delta,
            delta_normalized: row.delta_normalized,
        }
    }
}

/// An action plan with its KPI and dashboard.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ActionSummary)]
pub struct ActionSummaryResponse {
    pub action_id: ActionId,
    pub kpi_id: KpiId,
    pub kpi_name: String,
    pub dashboard_id: DashboardId,
    pub dashboard_title: String,
    pub title: String,
    pub status: ActionStatus,
    pub due_date: Option<NaiveDate>,
    pub owner_id: Option<UserId>,
    pub progress: i32,
    /// Due date passed (UTC) and neither DONE nor CANCELLED.
    pub is_late: bool,
    pub closed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl From<ActionSummary> for ActionSummaryResponse {
    fn from(row: ActionSummary) -> Self {
        Self {
            action_id: row.action_id,
            kpi_id: row.kpi_id,
            kpi_name: row.kpi_name,
            dashboard_id: row.dashboard_id,
            dashboard_title: row.dashboard_title,
            title: row.title,
            status: row.status,
            due_date: row.due_date,
            owner_id: row.owner_id,
            progress: row.progress,
            is_late: row.is_late,
            closed_at: row.closed_at,
            updated_at: row.updated_at,
        }
    }
}

/// A late data entry: the last completed period of an active KPI has no value.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = MissingEntry)]
pub struct MissingEntryResponse {
    pub kpi_id: KpiId,
    pub name: String,
    pub code: Option<String>,
    pub dashboard_id: DashboardId,
    pub dashboard_title: String,
    pub frequency: Frequency,
    pub expected_period_start: NaiveDate,
    pub expected_period_end: NaiveDate,
    /// The person responsible for the KPI.
    pub owner_id: UserId,
}

impl From<MissingEntry> for MissingEntryResponse {
    fn from(row: MissingEntry) -> Self {
        Self {
            kpi_id: row.kpi_id,
            name: row.name,
            code: row.code,
            dashboard_id: row.dashboard_id,
            dashboard_title: row.dashboard_title,
            frequency: row.frequency,
            expected_period_start: row.expected_period_start,
            expected_period_end: row.expected_period_end,
            owner_id: row.owner_id,
        }
    }
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
