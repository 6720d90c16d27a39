//! KPIs, with their latest value (the greatest `period_start`).
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use super::{Caller, PageRequest};
use crate::domain::{Direction, Frequency, Status, Thresholds};
use crate::ids::{DashboardId, KpiId, OrganizationId, UserId};

/// The unique index on `(organization_id, lower(code))`.
pub const CODE_KEY: &str = "kpi_code_key";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KpiRow {
    pub id: KpiId,
    pub dashboard_id: DashboardId,
    pub organization_id: OrganizationId,
    /// The person responsible for the KPI.
    pub owner_id: UserId,
    pub code: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub unit: Option<String>,
    pub frequency: Frequency,
    pub direction: Direction,
    pub threshold_green: Decimal,
    pub threshold_orange: Decimal,
    pub threshold_red: Option<Decimal>,
    pub is_active: bool,
    /// Listed among the direction report's strategic KPIs.
    pub is_strategic: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub latest_value: Option<Decimal>,
    pub latest_status: Option<Status>,
    pub latest_period_start: Option<NaiveDate>,
    pub latest_period_end: Option<NaiveDate>,
    /// Owner of the KPI's dashboard: who may edit it besides ADMINs.
    pub dashboard_owner_id: UserId,
}

impl KpiRow {
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            green: self.threshold_green,
            orange: self.threshold_orange,
            red: self.threshold_red,
        }
    }

    /// ADMINs and the dashboard's owner edit a KPI and delete it.
    pub fn editable_by(&self, caller: &Caller) -> bool {
        caller.is_admin() || self.dashboard_owner_id == caller.user_id
    }
}

/// `query_as!` returning [`KpiRow`]s: the KPI columns with the latest value
/// (`k` is the KPI, `d` its dashboard, `lv` its latest value, absent while
/// it has none), then `$tail`, which may name `DASHBOARD_VISIBLE`.
macro_rules! query_kpis {
    ($($tail:tt)+) => {
        shared_sql!(sqlx::query_as!(
            KpiRow,
            r#"select k.id, k.dashboard_id, k.organization_id, k.owner_id, k.code, k.name,
                k.description, k.unit, k.frequency as "frequency: Frequency",
                k.direction as "direction: Direction", k.threshold_green, k.threshold_orange,
                k.threshold_red, k.is_active, k.is_strategic, k.created_at, k.updated_at,
                lv.value as "latest_value?", lv.status as "latest_status?: Status",
                lv.period_start as "latest_period_start?", lv.period_end as "latest_period_end?",
                d.owner_id as dashboard_owner_id
              from kpi k join dashboard d on d.id = k.dashboard_id
              left join kpi_latest lv on lv.kpi_id = k.id"#
                + $($tail)+
        ))
    };
}

/// KPIs of a dashboard, in creation order.
pub async fn list_by_dashboard(
    conn: &mut PgConnection,
    caller: &Caller,
    dashboard_id: DashboardId,
    page: PageRequest<KpiId>,
) -> Result<Vec<KpiRow>, sqlx::Error> {
    query_kpis!(
        " where "
            + DASHBOARD_VISIBLE
            + " and k.dashboard_id = $4 \
         and ($5::uuid is null or k.id > $5) order by k.id limit $6",
        caller.organization_id as OrganizationId,
        caller.user_id as UserId,
        caller.is_admin(),
        dashboard_id as DashboardId,
        page.after as Option<KpiId>,
        page.limit,
    )
    .fetch_all(conn)
    .await
}

/// A KPI on a dashboard the caller can see.
pub async fn find_visible(
    conn: &mut PgConnection,
    caller: &Caller,
    id: KpiId,
) -> Result<Option<KpiRow>, sqlx::Error> {
    query_kpis!(
        " where " + DASHBOARD_VISIBLE + " and k.id = $4",
        caller.organization_id as OrganizationId,
        caller.user_id as UserId,
        caller.is_admin(),
        id as KpiId,
    )
    .fetch_optional(conn)
    .await
}

/// [`find_visible`] for entering a value: the KPI row is share-locked until
/// the transaction ends, so the value is written with the thresholds a
/// change in progress commits (it waits for it), and no change starts
/// before the value is stored. Value writes do not wait for one another.
pub async fn find_visible_for_value(
    conn: &mut PgConnection,
    caller: &Caller,
    id: KpiId,
) -> Result<Option<KpiRow>, sqlx::Error> {
    query_kpis!(
        " where " + DASHBOARD_VISIBLE + " and k.id = $4 for share of k",
        caller.organization_id as OrganizationId,
        caller.user_id as UserId,
        caller.is_admin(),
        id as KpiId,
    )
    .fetch_optional(conn)
    .await
}

/// Row lock on the KPI, so value writes and threshold changes serialize.
pub async fn lock(conn: &mut PgConnection, id: KpiId) -> Result<(), sqlx::Error> {
    // at most one row (the key): fetching it takes the lock
    sqlx::query!(
        "select 1 as locked from kpi where id = $1 for update",
        id as KpiId
    )
    .fetch_optional(conn)
    .await?;
    Ok(())
}

/// The editable columns of a KPI, complete (the caller merged any patch).
#[derive(Debug, Clone)]
pub struct KpiFields {
    pub owner_id: UserId,
    pub code: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub unit: Option<String>,
    pub frequency: Frequency,
    pub direction: Direction,
    pub thresholds: Thresholds,
    pub is_active: bool,
    pub is_strategic: bool,
}

pub async fn insert(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    dashboard_id: DashboardId,
    fields: &KpiFields,
) -> Result<KpiId, sqlx::Error> {
    sqlx::query_scalar!(
        "insert into kpi (id, organization_id, dashboard_id, owner_id, code, name, description, unit, \
         frequency, direction, threshold_green, threshold_orange, threshold_red, is_active, is_strategic) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         returning id as \"id: KpiId\"",
        KpiId::new() as KpiId,
        organization_id as OrganizationId,
        dashboard_id as DashboardId,
        fields.owner_id as UserId,
        fields.code.as_deref(),
        &fields.name,
        fields.description.as_deref(),
        fields.unit.as_deref(),
        fields.frequency as Frequency,
        fields.direction as Direction,
        fields.thresholds.green,
        fields.thresholds.orange,
        fields.thresholds.red,
        fields.is_active,
        fields.is_strategic,
    )
    .fetch_one(conn)
    .await
}

pub async fn update(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    id: KpiId,
    fields: &KpiFields,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "update kpi set owner_id = $3, code = $4, name = $5, description = $6, unit = $7, \
         frequency = $8, direction = $9, threshold_green = $10, threshold_orange = $11, \
         threshold_red = $12, is_active = $13, is_strategic = $14, updated_at = now() \
         where organization_id = $1 and id = $2",
        organization_id as OrganizationId,
        id as KpiId,
        fields.owner_id as UserId,
        fields.code.as_deref(),
        &fields.name,
        fields.description.as_deref(),
        fields.unit.as_deref(),
        fields.frequency as Frequency,
        fields.direction as Direction,
        fields.thresholds.green,
        fields.thresholds.orange,
        fields.thresholds.red,
        fields.is_active,
        fields.is_strategic,
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Deletes the KPI; its values, actions and comments go with it (cascade).
pub async fn delete(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    id: KpiId,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "delete from kpi where organization_id = $1 and id = $2",
        organization_id as OrganizationId,
        id as KpiId,
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// What an import needs to resolve a KPI reference in a file.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KpiRef {
    pub id: KpiId,
    pub code: Option<String>,
    pub name: String,
    pub frequency: Frequency,
    pub direction: Direction,
    pub threshold_green: Decimal,
    pub threshold_orange: Decimal,
    pub threshold_red: Option<Decimal>,
}

impl KpiRef {
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            green: self.threshold_green,
            orange: self.threshold_orange,
            red: self.threshold_red,
        }
    }
}

/// Every KPI the caller can see (optionally on one dashboard), for imports.
pub async fn visible_refs(
    conn: &mut PgConnection,
    caller: &Caller,
    dashboard_id: Option<DashboardId>,
) -> Result<Vec<KpiRef>, sqlx::Error> {
    shared_sql!(sqlx::query_as!(
        KpiRef,
        r#"select k.id, k.code, k.name, k.frequency as "frequency: Frequency",
             k.direction as "direction: Direction", k.threshold_green, k.threshold_orange,
             k.threshold_red
           from kpi k join dashboard d on d.id = k.dashboard_id where "#
            + DASHBOARD_VISIBLE
            + " and ($4::uuid is null or k.dashboard_id = $4)",
        caller.organization_id as OrganizationId,
        caller.user_id as UserId,
        caller.is_admin(),
        dashboard_id as Option<DashboardId>,
    ))
    .fetch_all(conn)
    .await
}
