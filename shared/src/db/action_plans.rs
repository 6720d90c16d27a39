//! Action plans on KPIs: who does what by when, with `is_late` computed in
//! SQL so it agrees with reporting. An action is visible when its KPI is.
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Caller, DASHBOARD_VISIBLE, PageRequest};
use crate::domain::ActionStatus;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ActionRow {
    pub id: Uuid,
    pub kpi_id: Uuid,
    pub organization_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    /// The person who carries the action out.
    pub owner_id: Option<Uuid>,
    pub created_by: Uuid,
    pub due_date: Option<NaiveDate>,
    /// 0 to 100.
    pub progress: i32,
    pub status: ActionStatus,
    /// Due date passed (UTC) and neither DONE nor CANCELLED.
    pub is_late: bool,
    /// When the action was last moved to DONE or CANCELLED; null while open.
    pub closed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Owner of the KPI's dashboard, who may edit the action too.
    #[serde(skip)]
    pub dashboard_owner_id: Uuid,
}

impl ActionRow {
    /// ADMINs, the action's owner, its creator and the dashboard's owner edit
    /// and delete an action (DESIGN §3).
    pub fn editable_by(&self, caller: &Caller) -> bool {
        caller.is_admin()
            || self.owner_id == Some(caller.user_id)
            || self.created_by == caller.user_id
            || self.dashboard_owner_id == caller.user_id
    }
}

/// Action columns; `a` is the action (a table or a CTE of written rows),
/// joined to its KPI `k` and dashboard `d` for visibility and edit rights.
const SELECT: &str = "select a.id, a.kpi_id, a.organization_id, a.title, a.description, a.owner_id, \
    a.created_by, a.due_date, a.progress, a.status, \
    coalesce(a.due_date < current_date and a.status not in ('DONE', 'CANCELLED'), false) as is_late, \
    a.closed_at, a.created_at, a.updated_at, d.owner_id as dashboard_owner_id \
    from a join kpi k on k.id = a.kpi_id join dashboard d on d.id = k.dashboard_id";

/// Statuses that close an action: entering one stamps `closed_at`, staying
/// keeps the stamp, reopening clears it.
const CLOSED_STATUSES: &str = "('DONE', 'CANCELLED')";

/// Actions of a KPI, newest first, optionally only those in `statuses`.
pub async fn list(
    conn: &mut PgConnection,
    caller: &Caller,
    kpi_id: Uuid,
    statuses: &[ActionStatus],
    page: PageRequest<Uuid>,
) -> Result<Vec<ActionRow>, sqlx::Error> {
    let statuses: Vec<&str> = statuses.iter().map(ActionStatus::as_str).collect();
    sqlx::query_as(sql!(
        "with a as (select * from action_plan where kpi_id = $4) \
         {SELECT} where {DASHBOARD_VISIBLE} \
         and (cardinality($5::text[]) = 0 or a.status = any($5)) \
         and ($6::uuid is null or a.id < $6) order by a.id desc limit $7"
    ))
    .bind(caller.organization_id)
    .bind(caller.user_id)
    .bind(caller.is_admin())
    .bind(kpi_id)
    .bind(statuses)
    .bind(page.after)
    .bind(page.limit)
    .fetch_all(conn)
    .await
}

/// An action whose KPI the caller can see; `None` for absent, invisible or foreign.
pub async fn find_visible(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<Option<ActionRow>, sqlx::Error> {
    sqlx::query_as(sql!(
        "with a as (select * from action_plan where id = $4) {SELECT} where {DASHBOARD_VISIBLE}"
    ))
    .bind(caller.organization_id)
    .bind(caller.user_id)
    .bind(caller.is_admin())
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Row lock on the action, so concurrent patches merge onto the latest row.
pub async fn lock(
    conn: &mut PgConnection,
    organization_id: Uuid,
    id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("select 1 from action_plan where organization_id = $1 and id = $2 for update")
        .bind(organization_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The editable columns of an action, complete (the caller merged any patch).
#[derive(Debug, Clone)]
pub struct ActionFields {
    pub title: String,
    pub description: Option<String>,
    pub owner_id: Option<Uuid>,
    pub due_date: Option<NaiveDate>,
    pub progress: i32,
    pub status: ActionStatus,
}

pub struct NewAction<'a> {
    pub organization_id: Uuid,
    pub kpi_id: Uuid,
    pub created_by: Uuid,
    pub fields: &'a ActionFields,
}

pub async fn insert(conn: &mut PgConnection, new: NewAction<'_>) -> Result<ActionRow, sqlx::Error> {
    let fields = new.fields;
    sqlx::query_as(sql!(
        "with a as ( \
           insert into action_plan (id, organization_id, kpi_id, title, description, owner_id, \
             created_by, due_date, progress, status, closed_at) \
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             case when $10 in {CLOSED_STATUSES} then now() end) \
           returning * \
         ) {SELECT}"
    ))
    .bind(Uuid::now_v7())
    .bind(new.organization_id)
    .bind(new.kpi_id)
    .bind(&fields.title)
    .bind(fields.description.as_deref())
    .bind(fields.owner_id)
    .bind(new.created_by)
    .bind(fields.due_date)
    .bind(fields.progress)
    .bind(fields.status)
    .fetch_one(conn)
    .await
}

/// Writes every editable column; `closed_at` follows the status change.
pub async fn update(
    conn: &mut PgConnection,
    organization_id: Uuid,
    id: Uuid,
    fields: &ActionFields,
) -> Result<Option<ActionRow>, sqlx::Error> {
    sqlx::query_as(sql!(
        "with a as ( \
           update action_plan set title = $3, description = $4, owner_id = $5, due_date = $6, \
             progress = $7, status = $8, \
             closed_at = case when $8 not in {CLOSED_STATUSES} then null \
               when status = $8 then coalesce(closed_at, now()) else now() end, \
             updated_at = now() \
           where organization_id = $1 and id = $2 returning * \
         ) {SELECT}"
    ))
    .bind(organization_id)
    .bind(id)
    .bind(&fields.title)
    .bind(fields.description.as_deref())
    .bind(fields.owner_id)
    .bind(fields.due_date)
    .bind(fields.progress)
    .bind(fields.status)
    .fetch_optional(conn)
    .await
}

/// Deletes the action; its comments go with it (cascade).
pub async fn delete(
    conn: &mut PgConnection,
    organization_id: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("delete from action_plan where organization_id = $1 and id = $2")
            .bind(organization_id)
            .bind(id)
            .execute(conn)
            .await?
            .rows_affected()
            == 1,
    )
}
