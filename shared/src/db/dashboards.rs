//! Dashboards, with the status summary of their active KPIs' latest values.
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{Caller, PageRequest};
use crate::domain::Status;
use crate::ids::{DashboardId, OrganizationId, TeamId, UserId};

/// Counts of KPIs by the status of their latest value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusBreakdown {
    pub green: i64,
    pub orange: i64,
    pub red: i64,
}

#[derive(Debug, Clone)]
pub struct DashboardRow {
    pub id: DashboardId,
    pub organization_id: OrganizationId,
    pub owner_id: UserId,
    pub team_id: Option<TeamId>,
    /// Visible to its owner and ADMINs only: its team was deleted. Sharing it
    /// again (PATCH `team_id`, a team or null) ends it.
    pub is_private: bool,
    pub title: String,
    pub description: Option<String>,
    pub process_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Active KPIs on the dashboard.
    pub total_kpis: i64,
    pub status_breakdown: StatusBreakdown,
    /// Active KPIs without any value yet.
    pub no_value: i64,
    /// The worst status among the latest values; null when none has a value.
    pub worst_status: Option<Status>,
}

impl DashboardRow {
    /// True when the caller may edit the dashboard and its KPIs.
    pub fn editable_by(&self, caller: &Caller) -> bool {
        caller.is_admin() || self.owner_id == caller.user_id
    }
}

/// A dashboard row as the query returns it: the breakdown's counts apart.
struct DashboardRecord {
    id: DashboardId,
    organization_id: OrganizationId,
    owner_id: UserId,
    team_id: Option<TeamId>,
    is_private: bool,
    title: String,
    description: Option<String>,
    process_name: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    total_kpis: i64,
    green: i64,
    orange: i64,
    red: i64,
    no_value: i64,
    worst_status: Option<Status>,
}

impl From<DashboardRecord> for DashboardRow {
    fn from(r: DashboardRecord) -> Self {
        Self {
            id: r.id,
            organization_id: r.organization_id,
            owner_id: r.owner_id,
            team_id: r.team_id,
            is_private: r.is_private,
            title: r.title,
            description: r.description,
            process_name: r.process_name,
            created_at: r.created_at,
            updated_at: r.updated_at,
            total_kpis: r.total_kpis,
            status_breakdown: StatusBreakdown {
                green: r.green,
                orange: r.orange,
                red: r.red,
            },
            no_value: r.no_value,
            worst_status: r.worst_status,
        }
    }
}

/// `query_as!` returning [`DashboardRecord`]s: dashboard columns plus the
/// summary (`d` is the dashboard), then `$tail`, which may name
/// `DASHBOARD_VISIBLE`. The counts are never null (`!`): sqlx cannot tell.
macro_rules! query_dashboards {
    ($($tail:tt)+) => {
        shared_sql!(sqlx::query_as!(
            DashboardRecord,
            r#"select d.id, d.organization_id, d.owner_id, d.team_id as "team_id: _", d.is_private, d.title,
                d.description, d.process_name, d.created_at, d.updated_at,
                coalesce(s.total, 0) as "total_kpis!", coalesce(s.green, 0) as "green!",
                coalesce(s.orange, 0) as "orange!", coalesce(s.red, 0) as "red!",
                coalesce(s.no_value, 0) as "no_value!",
                case when s.red > 0 then 'RED' when s.orange > 0 then 'ORANGE'
                  when s.green > 0 then 'GREEN' end as "worst_status: Status"
              from dashboard d left join lateral (
                select count(*) as total,
                  count(*) filter (where lv.status = 'GREEN') as green,
                  count(*) filter (where lv.status = 'ORANGE') as orange,
                  count(*) filter (where lv.status = 'RED') as red,
                  count(*) filter (where lv.status is null) as no_value
                from kpi k left join kpi_latest lv on lv.kpi_id = k.id
                where k.dashboard_id = d.id and k.is_active
              ) s on true"#
                + $($tail)+
        ))
    };
}

#[derive(Debug, Default)]
pub struct DashboardFilter {
    pub process_name: Option<String>,
}

/// Dashboards the caller can see, newest first.
pub async fn list(
    conn: &mut PgConnection,
    caller: &Caller,
    filter: &DashboardFilter,
    page: PageRequest<DashboardId>,
) -> Result<Vec<DashboardRow>, sqlx::Error> {
    let rows = query_dashboards!(
        " where "
            + DASHBOARD_VISIBLE
            + " and ($4::text is null or kpix_fold(d.process_name) = kpix_fold($4)) \
             and ($5::uuid is null or d.id < $5) order by d.id desc limit $6",
        caller.organization_id as OrganizationId,
        caller.user_id as UserId,
        caller.is_admin(),
        filter.process_name.as_deref(),
        page.after as Option<DashboardId>,
        page.limit,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(DashboardRow::from).collect())
}

/// A dashboard the caller can see; `None` for absent, invisible or foreign.
pub async fn find_visible(
    conn: &mut PgConnection,
    caller: &Caller,
    id: DashboardId,
) -> Result<Option<DashboardRow>, sqlx::Error> {
    let row = query_dashboards!(
        " where " + DASHBOARD_VISIBLE + " and d.id = $4",
        caller.organization_id as OrganizationId,
        caller.user_id as UserId,
        caller.is_admin(),
        id as DashboardId,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(DashboardRow::from))
}

pub struct NewDashboard<'a> {
    pub organization_id: OrganizationId,
    pub owner_id: UserId,
    pub team_id: Option<TeamId>,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub process_name: Option<&'a str>,
}

pub async fn insert(
    conn: &mut PgConnection,
    new: NewDashboard<'_>,
) -> Result<DashboardId, sqlx::Error> {
    sqlx::query_scalar!(
        "insert into dashboard (id, organization_id, owner_id, team_id, title, description, process_name) \
         values ($1, $2, $3, $4, $5, $6, $7) returning id as \"id: DashboardId\"",
        DashboardId::new() as DashboardId,
        new.organization_id as OrganizationId,
        new.owner_id as UserId,
        new.team_id as Option<TeamId>,
        new.title,
        new.description,
        new.process_name,
    )
    .fetch_one(conn)
    .await
}

/// New values for the editable columns (the caller merged the patch).
pub struct DashboardUpdate<'a> {
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub process_name: Option<&'a str>,
    pub team_id: Option<TeamId>,
    pub is_private: bool,
    pub owner_id: UserId,
}

pub async fn update(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    id: DashboardId,
    update: DashboardUpdate<'_>,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "update dashboard set title = $3, description = $4, process_name = $5, team_id = $6, \
         owner_id = $7, is_private = $8, updated_at = now() where organization_id = $1 and id = $2",
        organization_id as OrganizationId,
        id as DashboardId,
        update.title,
        update.description,
        update.process_name,
        update.team_id as Option<TeamId>,
        update.owner_id as UserId,
        update.is_private,
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Deletes the dashboard with its KPIs, values, actions and comments.
pub async fn delete(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    id: DashboardId,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "delete from dashboard where organization_id = $1 and id = $2",
        organization_id as OrganizationId,
        id as DashboardId,
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}
