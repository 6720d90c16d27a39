//! Reporting (DESIGN §6): overview, top risks, the direction summary and late
//! data entries, each a few set-based statements over the dashboards the
//! caller can see. Semantics are recorded in `docs/reporting.md`.
//!
//! Every statement binds the caller as `$1` (organization), `$2` (user), `$3`
//! (is admin) and the filters as `$4` (process name) and `$5` (dashboard id).
//! The latest value of a KPI is its value of the greatest `period_start`,
//! read by a LATERAL backward scan of the `(kpi_id, period_start)` unique
//! index; only active KPIs count.
//!
//! The statements are not kept prepared (`persistent(false)`): each call is
//! planned with its parameters. A cached generic plan cannot see that the
//! filters are null nor how many dashboards are visible, estimates one, and
//! picks nested loops that are several times slower at 10,000 KPIs.
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

use super::{Caller, DASHBOARD_VISIBLE, dashboards::StatusBreakdown};
use crate::domain::{ActionStatus, Direction, Frequency, Status};

/// Optional narrowing of every report.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    /// Only dashboards of this process (case-insensitive).
    pub process_name: Option<String>,
    /// Only this dashboard (an invisible or unknown one yields empty reports).
    pub dashboard_id: Option<Uuid>,
}

/// `vd`: the visible dashboards that pass the filters.
fn visible_dashboards() -> String {
    format!(
        "select d.id, d.title, d.process_name from dashboard d where {DASHBOARD_VISIBLE} \
         and ($4::text is null or lower(d.process_name) = lower($4)) and ($5::uuid is null or d.id = $5)"
    )
}

/// The latest value of KPI `k` (greatest `period_start`), kept in
/// `kpi_latest` by triggers; a plain subquery the planner turns into a join.
const LATEST_VALUE: &str = "select l.value, l.status, l.critical, l.period_start, l.period_end, \
    l.threshold_green, l.previous_value, l.previous_status, l.previous_period_start \
    from kpi_latest l where l.kpi_id = k.id";

/// How far a non-green latest value `x` is from the green threshold it was
/// assessed with, relative to it: `|value - green| / |green|`, or the absolute
/// gap when green is 0 (as `domain::distance_from_green`).
const DISTANCE: &str = "(case when x.threshold_green = 0 then abs(x.value) \
    else abs(x.value - x.threshold_green) / abs(x.threshold_green) end)";

/// Per visible dashboard: KPI counts by latest status and open / overdue
/// actions, from `vd`, `s` (active KPIs with `status`) and `ac` (open actions
/// per dashboard).
const DASHBOARD_SUMMARY: &str = "select vd.id as dashboard_id, vd.title, vd.process_name, \
    count(s.id) as total_kpis, \
    count(s.id) filter (where s.status = 'GREEN') as green, \
    count(s.id) filter (where s.status = 'ORANGE') as orange, \
    count(s.id) filter (where s.status = 'RED') as red, \
    count(s.id) filter (where s.status is null) as no_value, \
    coalesce(max(ac.open_actions), 0) as open_actions, \
    coalesce(max(ac.overdue_actions), 0) as overdue_actions \
    from vd left join s on s.dashboard_id = vd.id left join ac on ac.dashboard_id = vd.id \
    group by vd.id, vd.title, vd.process_name";

/// `ac`: open actions (OPEN, IN_PROGRESS) of the KPIs in `s`, per dashboard;
/// overdue when the due date is before `$6` (today, UTC).
const OPEN_ACTIONS: &str = "select s.dashboard_id, count(*) as open_actions, \
    count(*) filter (where a.due_date < $6::date) as overdue_actions \
    from action_plan a join s on s.id = a.kpi_id \
    where a.organization_id = $1 and a.status in ('OPEN', 'IN_PROGRESS') \
    group by s.dashboard_id";

/// The last completed period of KPI `k` as of `t.today`, by its frequency
/// (as `Frequency::last_completed_period`; a unit test compares the two).
pub(crate) const EXPECTED_PERIOD: &str = "select (p.current_start - p.step)::date as period_start, \
    (p.current_start - interval '1 day')::date as period_end \
    from (select date_trunc(case k.frequency when 'DAILY' then 'day' when 'WEEKLY' then 'week' \
      when 'MONTHLY' then 'month' when 'QUARTERLY' then 'quarter' else 'year' end, t.today::timestamp) \
      as current_start, \
      case k.frequency when 'DAILY' then interval '1 day' when 'WEEKLY' then interval '7 days' \
      when 'MONTHLY' then interval '1 month' when 'QUARTERLY' then interval '3 months' \
      else interval '1 year' end as step) p";

// ---------------------------------------------------------------------------
// rows

/// Counts of one dashboard, as the summary query returns them.
#[derive(Debug, Clone, sqlx::FromRow, Deserialize)]
struct DashboardCounts {
    dashboard_id: Uuid,
    title: String,
    process_name: Option<String>,
    total_kpis: i64,
    green: i64,
    orange: i64,
    red: i64,
    no_value: i64,
    open_actions: i64,
    overdue_actions: i64,
}

/// One dashboard of the overview.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct DashboardSummary {
    pub dashboard_id: Uuid,
    pub title: String,
    pub process_name: Option<String>,
    /// Active KPIs.
    pub total_kpis: i64,
    /// Active KPIs by the status of their latest value.
    pub status_breakdown: StatusBreakdown,
    /// Active KPIs without any value.
    pub no_value: i64,
    /// The worst latest status; null when no KPI has a value.
    pub worst_status: Option<Status>,
    /// Actions OPEN or IN_PROGRESS on the active KPIs.
    pub open_actions: i64,
    /// Open actions whose due date has passed (UTC).
    pub overdue_actions: i64,
}

impl From<DashboardCounts> for DashboardSummary {
    fn from(c: DashboardCounts) -> Self {
        let status_breakdown = StatusBreakdown {
            green: c.green,
            orange: c.orange,
            red: c.red,
        };
        Self {
            dashboard_id: c.dashboard_id,
            title: c.title,
            process_name: c.process_name,
            total_kpis: c.total_kpis,
            worst_status: worst_status(&status_breakdown),
            status_breakdown,
            no_value: c.no_value,
            open_actions: c.open_actions,
            overdue_actions: c.overdue_actions,
        }
    }
}

fn worst_status(b: &StatusBreakdown) -> Option<Status> {
    if b.red > 0 {
        Some(Status::Red)
    } else if b.orange > 0 {
        Some(Status::Orange)
    } else if b.green > 0 {
        Some(Status::Green)
    } else {
        None
    }
}

/// The same counts summed over the dashboards of one process.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct ProcessSummary {
    /// Null groups the dashboards without a process.
    pub process_name: Option<String>,
    /// Visible dashboards of the process.
    pub dashboards: i64,
    pub total_kpis: i64,
    pub status_breakdown: StatusBreakdown,
    pub no_value: i64,
    pub worst_status: Option<Status>,
    pub open_actions: i64,
    pub overdue_actions: i64,
}

/// Groups dashboards by process name (case-insensitively, spelled as on the
/// first dashboard); processes sorted by name, the null group last.
pub fn processes(dashboards: &[DashboardSummary]) -> Vec<ProcessSummary> {
    let mut groups: BTreeMap<(bool, String), ProcessSummary> = BTreeMap::new();
    for d in dashboards {
        let key = match &d.process_name {
            Some(name) => (false, name.trim().to_lowercase()),
            None => (true, String::new()),
        };
        let p = groups.entry(key).or_insert_with(|| ProcessSummary {
            process_name: d.process_name.clone(),
            dashboards: 0,
            total_kpis: 0,
            status_breakdown: StatusBreakdown::default(),
            no_value: 0,
            worst_status: None,
            open_actions: 0,
            overdue_actions: 0,
        });
        p.dashboards += 1;
        p.total_kpis += d.total_kpis;
        p.status_breakdown.green += d.status_breakdown.green;
        p.status_breakdown.orange += d.status_breakdown.orange;
        p.status_breakdown.red += d.status_breakdown.red;
        p.no_value += d.no_value;
        p.worst_status = p.worst_status.max(d.worst_status);
        p.open_actions += d.open_actions;
        p.overdue_actions += d.overdue_actions;
    }
    groups.into_values().collect()
}

/// A KPI and its latest value: top risks and the direction's KPI lists.
/// Decimals are JSON numbers (DESIGN §2), whatever the crate's default.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct KpiSnapshot {
    pub kpi_id: Uuid,
    pub dashboard_id: Uuid,
    pub dashboard_title: String,
    pub name: String,
    pub code: Option<String>,
    pub unit: Option<String>,
    pub status: Status,
    /// RED and beyond the red level.
    pub critical: bool,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub value: Decimal,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
}

/// A KPI's latest value against its previous stored one.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KpiTrend {
    pub kpi_id: Uuid,
    pub dashboard_id: Uuid,
    pub dashboard_title: String,
    pub name: String,
    pub code: Option<String>,
    pub unit: Option<String>,
    /// The KPI's direction, which tells better from worse.
    pub direction: Direction,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub current_value: Decimal,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub previous_value: Decimal,
    pub current_status: Status,
    pub previous_status: Status,
    pub current_period_start: NaiveDate,
    pub previous_period_start: NaiveDate,
    /// `current_value - previous_value`.
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub delta: Decimal,
    /// The delta signed so that positive is better (negated for DOWN_IS_BETTER).
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub delta_normalized: Decimal,
}

/// An action plan with its KPI and dashboard.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionSummary {
    pub action_id: Uuid,
    pub kpi_id: Uuid,
    pub kpi_name: String,
    pub dashboard_id: Uuid,
    pub dashboard_title: String,
    pub title: String,
    pub status: ActionStatus,
    pub due_date: Option<NaiveDate>,
    pub owner_id: Option<Uuid>,
    pub progress: i32,
    /// Due date passed (UTC) and neither DONE nor CANCELLED.
    pub is_late: bool,
    pub closed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// A late data entry: the last completed period of an active KPI has no value.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MissingEntry {
    pub kpi_id: Uuid,
    pub name: String,
    pub code: Option<String>,
    pub dashboard_id: Uuid,
    pub dashboard_title: String,
    pub frequency: Frequency,
    pub expected_period_start: NaiveDate,
    pub expected_period_end: NaiveDate,
    /// The person responsible for the KPI.
    pub owner_id: Uuid,
    #[serde(skip)]
    total: i64,
}

/// What the caller's reports are computed for.
#[derive(Debug, Clone, Copy)]
pub struct ReportScope<'a> {
    pub caller: &'a Caller,
    pub filter: &'a ReportFilter,
    /// Today's date (UTC): overdue actions, due-soon windows, late entries.
    pub today: NaiveDate,
}

impl ReportScope<'_> {
    fn process_name(&self) -> Option<&str> {
        self.filter.process_name.as_deref()
    }

    /// Monday 00:00 UTC of the ISO week containing today.
    fn week_start(&self) -> DateTime<Utc> {
        Frequency::Weekly
            .period_containing(self.today)
            .start
            .and_time(NaiveTime::MIN)
            .and_utc()
    }
}

// ---------------------------------------------------------------------------
// queries

/// The statement of [`overview`].
pub fn overview_sql() -> String {
    let vd = visible_dashboards();
    format!(
        "with vd as materialized ({vd}), \
         s as materialized ( \
           select k.id, k.dashboard_id, lv.status from vd join kpi k on k.dashboard_id = vd.id \
           left join kpi_latest lv on lv.kpi_id = k.id \
           where k.is_active), \
         ac as ({OPEN_ACTIONS}) \
         select * from ({DASHBOARD_SUMMARY}) x \
         order by lower(x.process_name) nulls last, x.title, x.dashboard_id"
    )
}

/// Per visible dashboard: KPI counts by latest status, open and overdue
/// actions. Sorted by process name (nulls last), title, id.
pub async fn overview(
    conn: &mut PgConnection,
    scope: ReportScope<'_>,
) -> Result<Vec<DashboardSummary>, sqlx::Error> {
    let rows: Vec<DashboardCounts> = sqlx::query_as(sqlx::AssertSqlSafe(overview_sql()))
        .persistent(false)
        .bind(scope.caller.organization_id)
        .bind(scope.caller.user_id)
        .bind(scope.caller.is_admin())
        .bind(scope.process_name())
        .bind(scope.filter.dashboard_id)
        .bind(scope.today)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(DashboardSummary::from).collect())
}

/// The statement of [`top_risks`].
pub fn top_risks_sql() -> String {
    let vd = visible_dashboards();
    format!(
        "with vd as materialized ({vd}) \
         select k.id as kpi_id, k.dashboard_id, vd.title as dashboard_title, k.name, k.code, k.unit, \
           x.status, x.critical, x.value, x.period_start, x.period_end \
         from vd join kpi k on k.dashboard_id = vd.id \
         cross join lateral ({LATEST_VALUE}) x \
         where k.is_active and x.status in ('RED', 'ORANGE') \
         order by x.critical desc, {DISTANCE} desc, k.name, k.id \
         limit $6"
    )
}

/// Active KPIs whose latest value is RED or ORANGE: critical first, then the
/// farthest from green (relative), then by name and id.
pub async fn top_risks(
    conn: &mut PgConnection,
    scope: ReportScope<'_>,
    limit: i64,
) -> Result<Vec<KpiSnapshot>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(top_risks_sql()))
        .persistent(false)
        .bind(scope.caller.organization_id)
        .bind(scope.caller.user_id)
        .bind(scope.caller.is_admin())
        .bind(scope.process_name())
        .bind(scope.filter.dashboard_id)
        .bind(limit)
        .fetch_all(conn)
        .await
}

/// The direction summary: the lists of the wire contract plus the per-dashboard
/// counts its per-process summary is made of.
#[derive(Debug, Clone)]
pub struct DirectionReport {
    pub top_red_kpis: Vec<KpiSnapshot>,
    pub overdue_actions: Vec<ActionSummary>,
    pub latest_values: Vec<KpiSnapshot>,
    pub improving_kpis: Vec<KpiTrend>,
    pub worsening_kpis: Vec<KpiTrend>,
    pub upcoming_actions_48h: Vec<ActionSummary>,
    pub upcoming_actions_7d: Vec<ActionSummary>,
    pub closed_actions_this_week: Vec<ActionSummary>,
    pub red_kpis_without_action: Vec<KpiSnapshot>,
    pub dashboards: Vec<DashboardSummary>,
}

#[derive(sqlx::FromRow)]
struct DirectionRow {
    top_red_kpis: Json<Vec<KpiSnapshot>>,
    overdue_actions: Json<Vec<ActionSummary>>,
    latest_values: Json<Vec<KpiSnapshot>>,
    improving_kpis: Json<Vec<KpiTrend>>,
    worsening_kpis: Json<Vec<KpiTrend>>,
    upcoming_actions_48h: Json<Vec<ActionSummary>>,
    upcoming_actions_7d: Json<Vec<ActionSummary>>,
    closed_actions_this_week: Json<Vec<ActionSummary>>,
    red_kpis_without_action: Json<Vec<KpiSnapshot>>,
    dashboards: Json<Vec<DashboardCounts>>,
}

/// KPI snapshot columns of `x` (a row of `s`).
const SNAPSHOT: &str = "x.id as kpi_id, x.dashboard_id, x.dashboard_title, x.name, x.code, x.unit, \
    x.status, x.critical, x.value, x.period_start, x.period_end";

/// Trend columns of `x` (a row of `t`).
const TREND: &str = "x.id as kpi_id, x.dashboard_id, x.dashboard_title, x.name, x.code, x.unit, \
    x.direction, x.value as current_value, x.previous_value, x.status as current_status, \
    x.previous_status, x.period_start as current_period_start, x.previous_period_start, \
    x.value - x.previous_value as delta, x.delta_normalized";

/// Action summary columns of `x` (a row of `a`).
const ACTION: &str = "x.id as action_id, x.kpi_id, x.kpi_name, x.dashboard_id, x.dashboard_title, \
    x.title, x.status, x.due_date, x.owner_id, x.progress, \
    coalesce(x.due_date < $6::date and x.status in ('OPEN', 'IN_PROGRESS'), false) as is_late, \
    x.closed_at, x.updated_at";

/// One list as a JSON array (`[]` when empty).
fn list(columns: &str, rest: &str) -> String {
    format!("(select coalesce(json_agg(l), '[]') from (select {columns} {rest}) l)")
}

/// The statement of [`direction`].
pub fn direction_sql() -> String {
    let red_first = format!("x.critical desc, {DISTANCE} desc, x.name, x.id");
    let lists = [
        list(
            SNAPSHOT,
            &format!("from s x where x.status = 'RED' order by {red_first} limit $7"),
        ),
        list(
            ACTION,
            "from a x where x.status in ('OPEN', 'IN_PROGRESS') and x.due_date < $6::date \
             order by x.due_date, x.id limit $7",
        ),
        list(
            SNAPSHOT,
            "from s x where x.status is not null order by x.period_end desc, x.name, x.id limit $7",
        ),
        list(
            TREND,
            "from t x where x.delta_normalized > 0 order by x.trend_rank desc, x.name, x.id limit $7",
        ),
        list(
            TREND,
            "from t x where x.delta_normalized < 0 order by x.trend_rank, x.name, x.id limit $7",
        ),
        list(
            ACTION,
            "from a x where x.status in ('OPEN', 'IN_PROGRESS') and x.due_date between $6::date and $6::date + 2 \
             order by x.due_date, x.id limit $7",
        ),
        list(
            ACTION,
            "from a x where x.status in ('OPEN', 'IN_PROGRESS') and x.due_date between $6::date and $6::date + 7 \
             order by x.due_date, x.id limit $7",
        ),
        list(
            ACTION,
            "from a x where x.status in ('DONE', 'CANCELLED') and x.closed_at >= $8::timestamptz \
             order by x.closed_at desc, x.id desc limit $7",
        ),
        list(
            SNAPSHOT,
            &format!(
                "from s x where x.status = 'RED' and not exists (select 1 from a \
                 where a.kpi_id = x.id and a.status in ('OPEN', 'IN_PROGRESS')) \
                 order by {red_first} limit $7"
            ),
        ),
        "(select coalesce(json_agg(ds), '[]') from ds)".to_owned(),
    ];
    let [
        top_red,
        overdue,
        latest,
        improving,
        worsening,
        due_48h,
        due_7d,
        closed,
        red_alone,
        dash,
    ] = lists;
    let vd = visible_dashboards();
    format!(
        "with vd as materialized ({vd}), \
         s as materialized ( \
           select k.id, k.name, k.code, k.unit, k.direction, k.dashboard_id, \
             vd.title as dashboard_title, lv.value, lv.status, lv.critical, lv.period_start, \
             lv.period_end, lv.threshold_green, lv.previous_value, lv.previous_status, \
             lv.previous_period_start \
           from vd join kpi k on k.dashboard_id = vd.id \
           left join kpi_latest lv on lv.kpi_id = k.id \
           where k.is_active), \
         t as ( \
           select y.*, case when y.previous_value = 0 then y.delta_normalized \
             else y.delta_normalized / abs(y.previous_value) end as trend_rank \
           from (select s.*, case when s.direction = 'UP_IS_BETTER' then s.value - s.previous_value \
             else s.previous_value - s.value end as delta_normalized \
             from s where s.previous_value is not null) y), \
         a as materialized ( \
           select ap.id, ap.kpi_id, ap.title, ap.status, ap.due_date, ap.owner_id, ap.progress, \
             ap.closed_at, ap.updated_at, s.name as kpi_name, s.dashboard_id, s.dashboard_title \
           from action_plan ap join s on s.id = ap.kpi_id \
           where ap.organization_id = $1 \
             and (ap.status in ('OPEN', 'IN_PROGRESS') or ap.closed_at >= $8::timestamptz)), \
         ac as (select a.dashboard_id, count(*) as open_actions, \
           count(*) filter (where a.due_date < $6::date) as overdue_actions \
           from a where a.status in ('OPEN', 'IN_PROGRESS') group by a.dashboard_id), \
         ds as ({DASHBOARD_SUMMARY}) \
         select {top_red} as top_red_kpis, {overdue} as overdue_actions, {latest} as latest_values, \
           {improving} as improving_kpis, {worsening} as worsening_kpis, \
           {due_48h} as upcoming_actions_48h, {due_7d} as upcoming_actions_7d, \
           {closed} as closed_actions_this_week, {red_alone} as red_kpis_without_action, \
           {dash} as dashboards"
    )
}

/// Everything of the direction summary in one statement: the active visible
/// KPIs with their two latest values are read once (`s`), their open and
/// recently closed actions once (`a`), and each list is a bounded slice.
pub async fn direction(
    conn: &mut PgConnection,
    scope: ReportScope<'_>,
    limit: i64,
) -> Result<DirectionReport, sqlx::Error> {
    let row: DirectionRow = sqlx::query_as(sqlx::AssertSqlSafe(direction_sql()))
        .persistent(false)
        .bind(scope.caller.organization_id)
        .bind(scope.caller.user_id)
        .bind(scope.caller.is_admin())
        .bind(scope.process_name())
        .bind(scope.filter.dashboard_id)
        .bind(scope.today)
        .bind(limit)
        .bind(scope.week_start())
        .fetch_one(conn)
        .await?;
    let dashboards = row
        .dashboards
        .0
        .into_iter()
        .map(DashboardSummary::from)
        .collect();
    Ok(DirectionReport {
        top_red_kpis: row.top_red_kpis.0,
        overdue_actions: row.overdue_actions.0,
        latest_values: row.latest_values.0,
        improving_kpis: row.improving_kpis.0,
        worsening_kpis: row.worsening_kpis.0,
        upcoming_actions_48h: row.upcoming_actions_48h.0,
        upcoming_actions_7d: row.upcoming_actions_7d.0,
        closed_actions_this_week: row.closed_actions_this_week.0,
        red_kpis_without_action: row.red_kpis_without_action.0,
        dashboards,
    })
}

/// The statement of [`missing`].
pub fn missing_sql() -> String {
    let vd = visible_dashboards();
    format!(
        "with vd as materialized ({vd}) \
         select k.id as kpi_id, k.name, k.code, k.dashboard_id, vd.title as dashboard_title, \
           k.frequency, e.period_start as expected_period_start, \
           e.period_end as expected_period_end, k.owner_id, count(*) over () as total \
         from vd join kpi k on k.dashboard_id = vd.id \
         cross join (select $6::date as today) t \
         cross join lateral ({EXPECTED_PERIOD}) e \
         left join kpi_latest l on l.kpi_id = k.id \
         where k.is_active and ( \
           l.kpi_id is null or l.period_start < e.period_start \
           or (l.period_start > e.period_start \
               and l.previous_period_start is distinct from e.period_start \
               and not exists (select 1 from kpi_value v \
                               where v.kpi_id = k.id and v.period_start = e.period_start))) \
         order by e.period_end, vd.title, k.name, k.id \
         limit $7"
    )
}

/// Late data entries: active KPIs with no value for their last completed
/// period as of today, oldest expected period first, then by dashboard title,
/// name and id; with the total before the limit.
pub async fn missing(
    conn: &mut PgConnection,
    scope: ReportScope<'_>,
    limit: i64,
) -> Result<(Vec<MissingEntry>, i64), sqlx::Error> {
    let rows: Vec<MissingEntry> = sqlx::query_as(sqlx::AssertSqlSafe(missing_sql()))
        .persistent(false)
        .bind(scope.caller.organization_id)
        .bind(scope.caller.user_id)
        .bind(scope.caller.is_admin())
        .bind(scope.process_name())
        .bind(scope.filter.dashboard_id)
        .bind(scope.today)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    let total = rows.first().map_or(0, |r| r.total);
    Ok((rows, total))
}

/// A report's statement and the names of its parameters `$1`, `$2`, …, for
/// running it outside the API (the benchmark compares both).
#[derive(Debug, Clone)]
pub struct ReportStatement {
    /// The endpoint's last path segment.
    pub name: &'static str,
    pub sql: String,
    pub params: &'static [&'static str],
}

/// Every report statement, as the API runs it.
pub fn statements() -> Vec<ReportStatement> {
    const OVERVIEW: &[&str] = &[
        "organization_id",
        "user_id",
        "is_admin",
        "process_name",
        "dashboard_id",
        "today",
    ];
    const TOP_RISKS: &[&str] = &[
        "organization_id",
        "user_id",
        "is_admin",
        "process_name",
        "dashboard_id",
        "limit",
    ];
    const DIRECTION: &[&str] = &[
        "organization_id",
        "user_id",
        "is_admin",
        "process_name",
        "dashboard_id",
        "today",
        "limit",
        "week_start",
    ];
    const MISSING: &[&str] = &[
        "organization_id",
        "user_id",
        "is_admin",
        "process_name",
        "dashboard_id",
        "today",
        "limit",
    ];
    vec![
        ReportStatement {
            name: "overview",
            sql: overview_sql(),
            params: OVERVIEW,
        },
        ReportStatement {
            name: "top-risks",
            sql: top_risks_sql(),
            params: TOP_RISKS,
        },
        ReportStatement {
            name: "direction",
            sql: direction_sql(),
            params: DIRECTION,
        },
        ReportStatement {
            name: "missing",
            sql: missing_sql(),
            params: MISSING,
        },
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use chrono::Datelike;
    use sqlx::Connection;

    use super::*;

    fn summary(
        process: Option<&str>,
        g: i64,
        o: i64,
        r: i64,
        none: i64,
        open: i64,
        late: i64,
    ) -> DashboardSummary {
        DashboardCounts {
            dashboard_id: Uuid::now_v7(),
            title: "d".into(),
            process_name: process.map(str::to_owned),
            total_kpis: g + o + r + none,
            green: g,
            orange: o,
            red: r,
            no_value: none,
            open_actions: open,
            overdue_actions: late,
        }
        .into()
    }

    #[test]
    fn worst_status_is_the_worst_count_present() {
        assert_eq!(
            summary(None, 1, 0, 0, 3, 0, 0).worst_status,
            Some(Status::Green)
        );
        assert_eq!(
            summary(None, 5, 1, 0, 0, 0, 0).worst_status,
            Some(Status::Orange)
        );
        assert_eq!(
            summary(None, 5, 1, 1, 0, 0, 0).worst_status,
            Some(Status::Red)
        );
        assert_eq!(summary(None, 0, 0, 0, 4, 0, 0).worst_status, None);
        assert_eq!(summary(None, 0, 0, 0, 0, 0, 0).worst_status, None);
    }

    #[test]
    fn processes_sum_dashboards_case_insensitively_null_last() {
        let dashboards = [
            summary(None, 1, 0, 0, 0, 2, 1),
            summary(Some("Qualité"), 1, 1, 0, 0, 1, 0),
            summary(Some("qualité "), 0, 0, 1, 2, 3, 2),
            summary(Some("Achats"), 0, 0, 0, 1, 0, 0),
        ];
        let p = processes(&dashboards);
        assert_eq!(
            p.iter()
                .map(|p| p.process_name.as_deref())
                .collect::<Vec<_>>(),
            [Some("Achats"), Some("Qualité"), None]
        );
        assert_eq!(p[0].worst_status, None);
        assert_eq!((p[0].dashboards, p[0].total_kpis, p[0].no_value), (1, 1, 1));
        let q = &p[1];
        assert_eq!((q.dashboards, q.total_kpis, q.no_value), (2, 5, 2));
        assert_eq!(
            q.status_breakdown,
            StatusBreakdown {
                green: 1,
                orange: 1,
                red: 1
            }
        );
        assert_eq!(q.worst_status, Some(Status::Red));
        assert_eq!((q.open_actions, q.overdue_actions), (4, 2));
        assert_eq!(p[2].worst_status, Some(Status::Green));
    }

    #[test]
    fn week_starts_on_monday_midnight_utc() {
        let caller = Caller {
            user_id: Uuid::nil(),
            organization_id: Uuid::nil(),
            role: crate::domain::Role::User,
        };
        let filter = ReportFilter::default();
        for (today, monday) in [
            ("2026-11-25", "2026-11-23"),
            ("2026-11-23", "2026-11-23"),
            ("2026-11-29", "2026-11-23"),
            ("2027-01-01", "2026-12-28"),
        ] {
            let scope = ReportScope {
                caller: &caller,
                filter: &filter,
                today: today.parse().unwrap(),
            };
            assert_eq!(
                scope.week_start().to_rfc3339(),
                format!("{monday}T00:00:00+00:00")
            );
        }
    }

    /// The SQL of late entries and `Frequency::last_completed_period` agree on
    /// every day of three years (leap year, ISO weeks across years, quarter
    /// and year ends). Needs a PostgreSQL server: `KPIX_TEST_ADMIN_URL`, by
    /// default the local one the black-box tests use.
    #[tokio::test]
    async fn expected_period_sql_matches_the_domain() {
        let url = std::env::var("KPIX_TEST_ADMIN_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let mut conn = PgConnection::connect(&url)
            .await
            .expect("connect to PostgreSQL");
        let rows: Vec<(Frequency, NaiveDate, NaiveDate, NaiveDate)> = sqlx::query_as(sql!(
            "select k.frequency, t.today, e.period_start, e.period_end \
             from (values ('DAILY'), ('WEEKLY'), ('MONTHLY'), ('QUARTERLY'), ('YEARLY')) k(frequency) \
             cross join (select g::date as today from generate_series(date '2023-12-25', \
               date '2026-12-31', interval '1 day') g) t \
             cross join lateral ({EXPECTED_PERIOD}) e"
        ))
        .fetch_all(&mut conn)
        .await
        .expect("run the expected-period SQL");
        assert_eq!(rows.len(), 5 * 1103);
        for (frequency, today, start, end) in rows {
            let period = frequency.last_completed_period(today);
            assert_eq!(
                (start, end),
                (period.start, period.end),
                "{frequency} as of {today}"
            );
        }
        // a few by hand, to be sure the comparison itself means something
        let spot = |f: Frequency, d: &str| {
            let p = f.last_completed_period(d.parse().unwrap());
            (p.start.to_string(), p.end.to_string())
        };
        assert_eq!(
            spot(Frequency::Weekly, "2026-01-01"),
            ("2025-12-22".into(), "2025-12-28".into())
        );
        assert_eq!(
            spot(Frequency::Quarterly, "2024-04-01"),
            ("2024-01-01".into(), "2024-03-31".into())
        );
        assert_eq!(spot(Frequency::Monthly, "2024-03-01").1, "2024-02-29");
        assert_eq!(
            Frequency::Daily
                .last_completed_period("2024-03-01".parse().unwrap())
                .start
                .day(),
            29
        );
    }
}
