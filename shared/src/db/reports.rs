//! Reporting (DESIGN §6): overview, top risks, the direction summary and late
//! data entries, each one set-based statement over the dashboards the caller
//! can see. Semantics are recorded in `docs/reporting.md`.
//!
//! Every statement binds the caller as `$1` (organization), `$2` (user), `$3`
//! (is admin) and the filters as `$4` (process name) and `$5` (dashboard id).
//! They read `kpi_latest` (migrations `..._kpi_latest.sql` and
//! `..._reporting.sql`): one row per KPI with its latest and previous value
//! (greatest `period_start`), copies of the KPI's columns and the stored
//! rankings. A list walks the partial index in its order and stops at its
//! limit; a count per dashboard reads one index. Only active KPIs count.
//!
//! The statements are not kept prepared (`persistent(false)`): each call is
//! planned with its parameters, so the planner sees the filters and how many
//! dashboards are visible. An ADMIN without filters sees every dashboard of
//! the organization: the statements then skip the visibility test (see
//! [`in_scope`]) and a list reads its index alone.
use std::{
    collections::{BTreeMap, HashMap},
    sync::OnceLock,
};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use sqlx::{
    FromRow, PgConnection, Postgres,
    postgres::{PgArguments, PgRow},
    query::QueryAs,
    types::Json,
};

use super::{Caller, DASHBOARD_VISIBLE, dashboards::StatusBreakdown};
use crate::domain::{ActionStatus, Direction, Frequency, Status};
use crate::ids::{ActionId, DashboardId, KpiId, UserId};

/// Optional narrowing of every report.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    /// Only dashboards of this process (case-insensitive).
    pub process_name: Option<String>,
    /// Only this dashboard (an invisible or unknown one yields empty reports).
    pub dashboard_id: Option<DashboardId>,
}

/// `vd`: the visible dashboards that pass the filters.
fn visible_dashboards() -> String {
    format!(
        "select d.id, d.title, d.process_name from dashboard d where {DASHBOARD_VISIBLE} \
         and ($4::text is null or kpix_fold(d.process_name) = kpix_fold($4)) and ($5::uuid is null or d.id = $5)"
    )
}

/// The `kpi_latest l` rows in scope: active KPIs of the organization, on a
/// dashboard of `vd` unless the caller sees them all. A separate text, not a
/// test on `$3`: the planner turns `in (select ...)` into a join only when it
/// stands alone, and can then start from a few visible dashboards.
fn in_scope(all_dashboards: bool) -> &'static str {
    if all_dashboards {
        "l.organization_id = $1 and l.is_active"
    } else {
        "l.organization_id = $1 and l.is_active and l.dashboard_id in (select vd.id from vd)"
    }
}

/// `c`: KPIs in scope per dashboard, by latest status (an index-only scan of
/// `kpi_latest_dashboard_idx`).
fn kpi_counts(scope: &str) -> String {
    format!(
        "select l.dashboard_id, count(*) as total_kpis, \
         count(*) filter (where l.status = 'GREEN') as green, \
         count(*) filter (where l.status = 'ORANGE') as orange, \
         count(*) filter (where l.status = 'RED') as red, \
         count(*) filter (where l.status is null) as no_value \
         from kpi_latest l where {scope} group by l.dashboard_id"
    )
}

/// `ac`: open actions (OPEN, IN_PROGRESS) of active KPIs per dashboard;
/// overdue when the due date is before `$6` (today, UTC). Each action probes
/// its KPI by key (no dashboard when inactive): a join would read every KPI.
const OPEN_ACTIONS: &str = "select x.dashboard_id, count(*) as open_actions, \
    count(*) filter (where x.due_date < $6::date) as overdue_actions \
    from (select a.due_date, (select l.dashboard_id from kpi_latest l \
            where l.kpi_id = a.kpi_id and l.is_active) as dashboard_id \
          from action_plan a where a.organization_id = $1 and a.status in ('OPEN', 'IN_PROGRESS')) x \
    group by x.dashboard_id";

/// Per visible dashboard, from `vd`, `c` and `ac`: KPI counts by latest
/// status and open / overdue actions.
const DASHBOARD_SUMMARY: &str = "select vd.id as dashboard_id, vd.title, vd.process_name, \
    coalesce(c.total_kpis, 0) as total_kpis, coalesce(c.green, 0) as green, \
    coalesce(c.orange, 0) as orange, coalesce(c.red, 0) as red, coalesce(c.no_value, 0) as no_value, \
    coalesce(ac.open_actions, 0) as open_actions, coalesce(ac.overdue_actions, 0) as overdue_actions \
    from vd left join c on c.dashboard_id = vd.id left join ac on ac.dashboard_id = vd.id";

/// Top risks' order: critical first, then the farthest from green (relative,
/// the stored `distance`), then name and id; `kpi_latest_risk_idx` has it.
const RISK_ORDER: &str = "l.critical desc, l.distance desc, l.name, l.kpi_id";

/// Strategic KPIs, worst first: critical, RED, ORANGE, GREEN, then those
/// without a value; within a status the farthest from green first.
const STRATEGIC_ORDER: &str = "l.critical desc nulls last, \
    array_position(array['RED', 'ORANGE', 'GREEN'], l.status) nulls last, \
    l.distance desc nulls last, l.name, l.kpi_id";

/// The last completed period of KPI `k` as of `t.today`, by its frequency
/// (as `Frequency::last_completed_period`; a unit test compares the two).
pub const EXPECTED_PERIOD: &str = "select (p.current_start - p.step)::date as period_start, \
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
#[derive(Debug, Clone, sqlx::FromRow)]
struct DashboardCounts {
    dashboard_id: DashboardId,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardSummary {
    pub dashboard_id: DashboardId,
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, Deserialize, sqlx::FromRow)]
pub struct KpiSnapshot {
    pub kpi_id: KpiId,
    pub dashboard_id: DashboardId,
    pub dashboard_title: String,
    pub name: String,
    pub code: Option<String>,
    pub unit: Option<String>,
    pub status: Status,
    /// RED and beyond the red level.
    pub critical: bool,
    #[serde(deserialize_with = "rust_decimal::serde::arbitrary_precision::deserialize")]
    pub value: Decimal,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
}

/// A KPI flagged strategic and its latest value, if it has one yet.
#[derive(Debug, Clone, Deserialize)]
pub struct StrategicKpi {
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
    #[serde(deserialize_with = "rust_decimal::serde::arbitrary_precision_option::deserialize")]
    pub value: Option<Decimal>,
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
}

/// A KPI's latest value against its previous stored one.
#[derive(Debug, Clone, Deserialize)]
pub struct KpiTrend {
    pub kpi_id: KpiId,
    pub dashboard_id: DashboardId,
    pub dashboard_title: String,
    pub name: String,
    pub code: Option<String>,
    pub unit: Option<String>,
    /// The KPI's direction, which tells better from worse.
    pub direction: Direction,
    #[serde(deserialize_with = "rust_decimal::serde::arbitrary_precision::deserialize")]
    pub current_value: Decimal,
    #[serde(deserialize_with = "rust_decimal::serde::arbitrary_precision::deserialize")]
    pub previous_value: Decimal,
    pub current_status: Status,
    pub previous_status: Status,
    pub current_period_start: NaiveDate,
    pub previous_period_start: NaiveDate,
    /// `current_value - previous_value`.
    #[serde(deserialize_with = "rust_decimal::serde::arbitrary_precision::deserialize")]
    pub delta: Decimal,
    /// The delta signed so that positive is better (negated for DOWN_IS_BETTER).
    #[serde(deserialize_with = "rust_decimal::serde::arbitrary_precision::deserialize")]
    pub delta_normalized: Decimal,
}

/// An action plan with its KPI and dashboard.
#[derive(Debug, Clone, Deserialize)]
pub struct ActionSummary {
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

/// A late data entry: the last completed period of an active KPI has no value.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MissingEntry {
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

impl<'a> ReportScope<'a> {
    fn process_name(&self) -> Option<&'a str> {
        self.filter.process_name.as_deref()
    }

    /// A report statement in the caller's variant, planned with its
    /// parameters (not kept prepared), with the caller and the filters bound
    /// as `$1`..`$5`.
    fn query<O>(&self, statement: &'static Statement) -> QueryAs<'a, Postgres, O, PgArguments>
    where
        O: for<'r> FromRow<'r, PgRow>,
    {
        sqlx::query_as(sqlx::AssertSqlSafe(statement.sql(self.all_dashboards())))
            .persistent(false)
            .bind(self.caller.organization_id)
            .bind(self.caller.user_id)
            .bind(self.caller.is_admin())
            .bind(self.process_name())
            .bind(self.filter.dashboard_id)
    }

    /// Every dashboard of the organization is in scope: an ADMIN without
    /// filters.
    fn all_dashboards(&self) -> bool {
        self.caller.is_admin()
            && self.filter.process_name.is_none()
            && self.filter.dashboard_id.is_none()
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

/// A report's SQL in its two variants (every dashboard of the organization
/// or a visible / filtered part), each built on first use. The only SQL of
/// `db` built at run time rather than checked by sqlx's macros: a report is
/// assembled from pieces (lists, columns, filters, orders) shared by its
/// variants and by the other reports, and the benchmark runs the same text
/// ([`statements`]).
struct Statement {
    build: fn(bool) -> String,
    built: [OnceLock<String>; 2],
}

impl Statement {
    const fn new(build: fn(bool) -> String) -> Self {
        Self {
            build,
            built: [OnceLock::new(), OnceLock::new()],
        }
    }

    fn sql(&'static self, all_dashboards: bool) -> &'static str {
        self.built[usize::from(all_dashboards)].get_or_init(|| (self.build)(all_dashboards))
    }
}

static OVERVIEW_STATEMENT: Statement = Statement::new(overview_sql);
static TOP_RISKS_STATEMENT: Statement = Statement::new(top_risks_sql);
static DIRECTION_STATEMENT: Statement = Statement::new(direction_sql);
static MISSING_STATEMENT: Statement = Statement::new(missing_sql);

// ---------------------------------------------------------------------------
// queries

/// The statement of [`overview`].
pub fn overview_sql(all_dashboards: bool) -> String {
    let (vd, c) = (visible_dashboards(), kpi_counts(in_scope(all_dashboards)));
    format!(
        "with vd as materialized ({vd}), c as ({c}), ac as ({OPEN_ACTIONS}) \
         {DASHBOARD_SUMMARY} \
         order by lower(vd.process_name) nulls last, vd.title, vd.id"
    )
}

/// Per visible dashboard: KPI counts by latest status, open and overdue
/// actions. Sorted by process name (nulls last), title, id.
pub async fn overview(
    conn: &mut PgConnection,
    scope: ReportScope<'_>,
) -> Result<Vec<DashboardSummary>, sqlx::Error> {
    let rows: Vec<DashboardCounts> = scope
        .query(&OVERVIEW_STATEMENT)
        .bind(scope.today)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(DashboardSummary::from).collect())
}

/// KPI snapshot columns of `l` (a `kpi_latest` row) but the dashboard title.
const SNAPSHOT: &str = "l.kpi_id, l.dashboard_id, l.name, l.code, l.unit, l.status, l.critical, \
    l.value, l.period_start, l.period_end";

/// The dashboard title of `l`, for the rows returned.
const DASHBOARD_TITLE: &str =
    "(select d.title from dashboard d where d.id = l.dashboard_id) as dashboard_title";

/// Trend columns of `l` (a `kpi_latest` row), the dashboard title left blank.
const TREND: &str = "l.kpi_id, l.dashboard_id, '' as dashboard_title, l.name, l.code, l.unit, \
    l.direction, l.value as current_value, l.previous_value, l.status as current_status, l.previous_status, \
    l.period_start as current_period_start, l.previous_period_start, \
    l.value - l.previous_value as delta, l.delta_normalized";

/// Action summary columns of `a` (an action) and `l` (its KPI); the
/// dashboard title left blank (see [`direction`]).
const ACTION: &str = "a.id as action_id, a.kpi_id, l.name as kpi_name, l.dashboard_id, \
    '' as dashboard_title, a.title, a.status, a.due_date, a.owner_id, a.progress, \
    coalesce(a.due_date < $6::date and a.status in ('OPEN', 'IN_PROGRESS'), false) as is_late, \
    a.closed_at, a.updated_at";

/// `columns` of the first `limit` KPIs in `scope` that pass `filter`, by
/// `order`.
fn kpis(scope: &str, columns: &str, filter: &str, order: &str, limit: &str) -> String {
    format!(
        "select {columns} from kpi_latest l where {scope} and {filter} \
         order by {order} limit {limit}"
    )
}

/// The first `$7` actions of KPIs in `scope` that pass `filter`, by `order`.
fn actions(scope: &str, filter: &str, order: &str) -> String {
    format!(
        "select {ACTION} from action_plan a join kpi_latest l on l.kpi_id = a.kpi_id \
         where a.organization_id = $1 and {scope} and {filter} order by {order} limit $7"
    )
}

/// The statement of [`top_risks`].
pub fn top_risks_sql(all_dashboards: bool) -> String {
    let vd = visible_dashboards();
    let columns = format!("{SNAPSHOT}, {DASHBOARD_TITLE}");
    let risks = kpis(
        in_scope(all_dashboards),
        &columns,
        "l.status in ('RED', 'ORANGE')",
        RISK_ORDER,
        "$6",
    );
    format!("with vd as materialized ({vd}) {risks}")
}

/// Active KPIs whose latest value is RED or ORANGE: critical first, then the
/// farthest from green (relative), then by name and id.
pub async fn top_risks(
    conn: &mut PgConnection,
    scope: ReportScope<'_>,
    limit: i64,
) -> Result<Vec<KpiSnapshot>, sqlx::Error> {
    scope
        .query(&TOP_RISKS_STATEMENT)
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
    pub strategic_kpis: Vec<StrategicKpi>,
    pub dashboards: Vec<DashboardSummary>,
}

/// The direction's row: the lists as JSON arrays (their dashboard titles
/// left blank, see [`direction`]) and the per-dashboard counts column by
/// column (cheaper to build and decode than 500 JSON objects).
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
    strategic_kpis: Json<Vec<StrategicKpi>>,
    dashboard_ids: Vec<DashboardId>,
    titles: Vec<String>,
    process_names: Vec<Option<String>>,
    total_kpis: Vec<i64>,
    green: Vec<i64>,
    orange: Vec<i64>,
    red: Vec<i64>,
    no_value: Vec<i64>,
    open_actions: Vec<i64>,
    overdue_actions_count: Vec<i64>,
}

impl DirectionRow {
    /// The `ds` rows back from their columns (all of the same length).
    fn dashboards(&self) -> Vec<DashboardCounts> {
        (0..self.dashboard_ids.len())
            .map(|i| DashboardCounts {
                dashboard_id: self.dashboard_ids[i],
                title: self.titles[i].clone(),
                process_name: self.process_names[i].clone(),
                total_kpis: self.total_kpis[i],
                green: self.green[i],
                orange: self.orange[i],
                red: self.red[i],
                no_value: self.no_value[i],
                open_actions: self.open_actions[i],
                overdue_actions: self.overdue_actions_count[i],
            })
            .collect()
    }
}

/// One list as a JSON array (`[]` when empty), its items with a blank
/// `dashboard_title`.
fn list(select: &str) -> String {
    format!("(select coalesce(json_agg(l), '[]') from ({select}) l)")
}

/// The statement of [`direction`].
pub fn direction_sql(all_dashboards: bool) -> String {
    const OPEN: &str = "a.status in ('OPEN', 'IN_PROGRESS')";
    const BY_DUE_DATE: &str = "a.due_date, a.id";
    let scope = in_scope(all_dashboards);
    let snapshot = format!("{SNAPSHOT}, '' as dashboard_title");
    let lists = [
        list(&kpis(
            scope,
            &snapshot,
            "l.status = 'RED'",
            RISK_ORDER,
            "$7",
        )),
        list(&actions(
            scope,
            &format!("{OPEN} and a.due_date < $6::date"),
            BY_DUE_DATE,
        )),
        list(&kpis(
            scope,
            &snapshot,
            "l.status is not null",
            "l.period_end desc, l.name, l.kpi_id",
            "$7",
        )),
        list(&kpis(
            scope,
            TREND,
            "l.delta_normalized > 0",
            "l.trend_rank desc, l.name, l.kpi_id",
            "$7",
        )),
        list(&kpis(
            scope,
            TREND,
            "l.delta_normalized < 0",
            "l.trend_rank, l.name, l.kpi_id",
            "$7",
        )),
        // the two windows do not overlap: today to today + 2, then to today + 7
        list(&actions(
            scope,
            &format!("{OPEN} and a.due_date between $6::date and $6::date + 2"),
            BY_DUE_DATE,
        )),
        list(&actions(
            scope,
            &format!("{OPEN} and a.due_date > $6::date + 2 and a.due_date <= $6::date + 7"),
            BY_DUE_DATE,
        )),
        list(&actions(
            scope,
            "a.status in ('DONE', 'CANCELLED') and a.closed_at >= $8::timestamptz",
            "a.closed_at desc, a.id desc",
        )),
        list(&kpis(
            scope,
            &snapshot,
            "l.status = 'RED' and not exists (select 1 from action_plan o \
             where o.kpi_id = l.kpi_id and o.status in ('OPEN', 'IN_PROGRESS'))",
            RISK_ORDER,
            "$7",
        )),
        list(&kpis(
            scope,
            &snapshot,
            "l.is_strategic",
            STRATEGIC_ORDER,
            "$7",
        )),
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
        strategic,
    ] = lists;
    let (vd, c) = (visible_dashboards(), kpi_counts(scope));
    format!(
        "with vd as materialized ({vd}), c as ({c}), ac as ({OPEN_ACTIONS}), \
         ds as ({DASHBOARD_SUMMARY}) \
         select {top_red} as top_red_kpis, {overdue} as overdue_actions, {latest} as latest_values, \
           {improving} as improving_kpis, {worsening} as worsening_kpis, \
           {due_48h} as upcoming_actions_48h, {due_7d} as upcoming_actions_7d, \
           {closed} as closed_actions_this_week, {red_alone} as red_kpis_without_action, \
           {strategic} as strategic_kpis, \
           coalesce(array_agg(ds.dashboard_id), '{{}}') as dashboard_ids, \
           coalesce(array_agg(ds.title), '{{}}') as titles, \
           coalesce(array_agg(ds.process_name), '{{}}') as process_names, \
           coalesce(array_agg(ds.total_kpis), '{{}}') as total_kpis, \
           coalesce(array_agg(ds.green), '{{}}') as green, \
           coalesce(array_agg(ds.orange), '{{}}') as orange, \
           coalesce(array_agg(ds.red), '{{}}') as red, \
           coalesce(array_agg(ds.no_value), '{{}}') as no_value, \
           coalesce(array_agg(ds.open_actions), '{{}}') as open_actions, \
           coalesce(array_agg(ds.overdue_actions), '{{}}') as overdue_actions_count \
         from ds"
    )
}

/// Everything of the direction summary in one statement: each list walks its
/// index up to its limit; the per-dashboard counts are those of the overview.
/// The lists' dashboard titles are taken from those counts (every KPI in
/// scope is on one of their dashboards) rather than looked up list by list.
pub async fn direction(
    conn: &mut PgConnection,
    scope: ReportScope<'_>,
    limit: i64,
) -> Result<DirectionReport, sqlx::Error> {
    let row: DirectionRow = scope
        .query(&DIRECTION_STATEMENT)
        .bind(scope.today)
        .bind(limit)
        .bind(scope.week_start())
        .fetch_one(conn)
        .await?;
    let dashboards: Vec<DashboardSummary> = row
        .dashboards()
        .into_iter()
        .map(DashboardSummary::from)
        .collect();
    let titles: HashMap<DashboardId, &str> = dashboards
        .iter()
        .map(|d| (d.dashboard_id, d.title.as_str()))
        .collect();
    Ok(DirectionReport {
        top_red_kpis: titled(&titles, row.top_red_kpis.0),
        overdue_actions: titled(&titles, row.overdue_actions.0),
        latest_values: titled(&titles, row.latest_values.0),
        improving_kpis: titled(&titles, row.improving_kpis.0),
        worsening_kpis: titled(&titles, row.worsening_kpis.0),
        upcoming_actions_48h: titled(&titles, row.upcoming_actions_48h.0),
        upcoming_actions_7d: titled(&titles, row.upcoming_actions_7d.0),
        closed_actions_this_week: titled(&titles, row.closed_actions_this_week.0),
        red_kpis_without_action: titled(&titles, row.red_kpis_without_action.0),
        strategic_kpis: titled(&titles, row.strategic_kpis.0),
        dashboards,
    })
}

/// A list item of the direction report, its dashboard title filled in from
/// the per-dashboard counts rather than looked up list by list.
trait OnDashboard {
    fn dashboard(&mut self) -> (DashboardId, &mut String);
}

macro_rules! on_dashboard {
    ($($item:ty),+) => {$(
        impl OnDashboard for $item {
            fn dashboard(&mut self) -> (DashboardId, &mut String) {
                (self.dashboard_id, &mut self.dashboard_title)
            }
        }
    )+};
}

on_dashboard!(KpiSnapshot, KpiTrend, StrategicKpi, ActionSummary);

fn titled<T: OnDashboard>(titles: &HashMap<DashboardId, &str>, mut list: Vec<T>) -> Vec<T> {
    for item in &mut list {
        let (dashboard_id, title) = item.dashboard();
        titles
            .get(&dashboard_id)
            .copied()
            .unwrap_or_default()
            .clone_into(title);
    }
    list
}

/// The statement of [`missing`].
pub fn missing_sql(all_dashboards: bool) -> String {
    let (vd, scope) = (visible_dashboards(), in_scope(all_dashboards));
    format!(
        "with vd as materialized ({vd}), \
         e as materialized (select k.frequency, ep.period_start, ep.period_end \
           from (values ('DAILY'), ('WEEKLY'), ('MONTHLY'), ('QUARTERLY'), ('YEARLY')) k(frequency) \
           cross join (select $6::date as today) t cross join lateral ({EXPECTED_PERIOD}) ep) \
         select x.kpi_id, x.name, x.code, x.dashboard_id, x.dashboard_title, x.frequency, \
           x.expected_period_start, x.expected_period_end, k.owner_id, x.total \
         from (select l.kpi_id, l.name, l.code, l.dashboard_id, d.title as dashboard_title, l.frequency, \
             e.period_start as expected_period_start, e.period_end as expected_period_end, \
             count(*) over () as total \
           from kpi_latest l join e on e.frequency = l.frequency join dashboard d on d.id = l.dashboard_id \
           where {scope} and ( \
             l.period_start is null or l.period_start < e.period_start \
             or (l.period_start > e.period_start \
                 and l.previous_period_start is distinct from e.period_start \
                 and not exists (select 1 from kpi_value v \
                                 where v.kpi_id = l.kpi_id and v.period_start = e.period_start))) \
           order by e.period_end, d.title, l.name, l.kpi_id \
           limit $7) x \
         join kpi k on k.id = x.kpi_id \
         order by x.expected_period_end, x.dashboard_title, x.name, x.kpi_id"
    )
}

/// Late data entries: active KPIs with no value for their last completed
/// period as of today, oldest expected period first, then by dashboard title,
/// name and id; with the total before the limit. The expected period is
/// computed once per frequency; a KPI is late when its latest period is not
/// that one and, if later, neither is its previous one nor any stored value.
pub async fn missing(
    conn: &mut PgConnection,
    scope: ReportScope<'_>,
    limit: i64,
) -> Result<(Vec<MissingEntry>, i64), sqlx::Error> {
    let rows: Vec<MissingEntry> = scope
        .query(&MISSING_STATEMENT)
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

/// Every report statement, as the API runs it for an ADMIN without filters
/// (the benchmark's caller).
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
            sql: overview_sql(true),
            params: OVERVIEW,
        },
        ReportStatement {
            name: "top-risks",
            sql: top_risks_sql(true),
            params: TOP_RISKS,
        },
        ReportStatement {
            name: "direction",
            sql: direction_sql(true),
            params: DIRECTION,
        },
        ReportStatement {
            name: "missing",
            sql: missing_sql(true),
            params: MISSING,
        },
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {

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
            dashboard_id: DashboardId::new(),
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
            user_id: UserId::new(),
            organization_id: crate::ids::OrganizationId::new(),
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
}
