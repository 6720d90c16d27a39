//! Action plans on KPIs: who does what by when, with `is_late` computed in
//! SQL against today's date in UTC, as reporting counts late actions (not
//! the session's time zone). An action is visible when its KPI is.
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::{Caller, PageRequest};
use crate::domain::ActionStatus;
use crate::ids::{ActionId, KpiId, OrganizationId, UserId};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActionRow {
    pub id: ActionId,
    pub kpi_id: KpiId,
    pub organization_id: OrganizationId,
    pub title: String,
    pub description: Option<String>,
    /// The person who carries the action out.
    pub owner_id: Option<UserId>,
    pub created_by: UserId,
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
    pub dashboard_owner_id: UserId,
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

/// `query_as!` returning [`ActionRow`]s: `$head` (which defines `a`, the
/// action: a table or a CTE of written rows), the action columns joined to
/// its KPI `k` and dashboard `d` for visibility and edit rights, then
/// `$tail`, which may name `DASHBOARD_VISIBLE`. DONE and CANCELLED close an
/// action: entering one stamps `closed_at`, staying keeps the stamp,
/// reopening clears it.
macro_rules! query_actions {
    ($head:literal, $($tail:tt)+) => {
        shared_sql!(sqlx::query_as!(
            ActionRow,
            $head
                + r#"select a.id, a.kpi_id, a.organization_id, a.title, a.description,
                    a.owner_id as "owner_id: _",                    a.created_by, a.due_date, a.progress, a.status as "status: ActionStatus",
                    coalesce(a.due_date < (now() at time zone 'UTC')::date
                      and a.status not in ('DONE', 'CANCELLED'),
                      false) as "is_late!",
                    a.closed_at, a.created_at, a.updated_at, d.owner_id as dashboard_owner_id
                  from a join kpi k on k.id = a.kpi_id join dashboard d on d.id = k.dashboard_id"#
                + $($tail)+
        ))
    };
}

/// Actions of a KPI, newest first, optionally only those in `statuses`.
pub async fn list(
    conn: &mut PgConnection,
    caller: &Caller,
    kpi_id: KpiId,
    statuses: &[ActionStatus],
    page: PageRequest<ActionId>,
) -> Result<Vec<ActionRow>, sqlx::Error> {
    let statuses: Vec<&str> = statuses.iter().map(ActionStatus::as_str).collect();
    query_actions!(
        "with a as (select * from action_plan where kpi_id = $4) ",
        " where "
            + DASHBOARD_VISIBLE
            + " and (cardinality($5::text[]) = 0 or a.status = any($5)) \
             and ($6::uuid is null or a.id < $6) order by a.id desc limit $7",
        caller.organization_id as OrganizationId,
        caller.user_id as UserId,
        caller.is_admin(),
        kpi_id as KpiId,
        &statuses as &[&str],
        page.after as Option<ActionId>,
        page.limit,
    )
    .fetch_all(conn)
    .await
}

/// An action whose KPI the caller can see; `None` for absent, invisible or foreign.
pub async fn find_visible(
    conn: &mut PgConnection,
    caller: &Caller,
    id: ActionId,
) -> Result<Option<ActionRow>, sqlx::Error> {
    query_actions!(
        "with a as (select * from action_plan where id = $4) ",
        " where " + DASHBOARD_VISIBLE,
        caller.organization_id as OrganizationId,
        caller.user_id as UserId,
        caller.is_admin(),
        id as ActionId,
    )
    .fetch_optional(conn)
    .await
}

/// Row lock on the action, so concurrent patches merge onto the latest row.
pub async fn lock(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    id: ActionId,
) -> Result<(), sqlx::Error> {
    // at most one row (the key): fetching it takes the lock
    sqlx::query!(
        "select 1 as locked from action_plan where organization_id = $1 and id = $2 for update",
        organization_id as OrganizationId,
        id as ActionId,
    )
    .fetch_optional(conn)
    .await?;
    Ok(())
}

/// The editable columns of an action, complete (the caller merged any patch).
#[derive(Debug, Clone)]
pub struct ActionFields {
    pub title: String,
    pub description: Option<String>,
    pub owner_id: Option<UserId>,
    pub due_date: Option<NaiveDate>,
    pub progress: i32,
    pub status: ActionStatus,
}

pub struct NewAction<'a> {
    pub organization_id: OrganizationId,
    pub kpi_id: KpiId,
    pub created_by: UserId,
    pub fields: &'a ActionFields,
}

pub async fn insert(conn: &mut PgConnection, new: NewAction<'_>) -> Result<ActionRow, sqlx::Error> {
    let fields = new.fields;
    query_actions!(
        "with a as ( \
           insert into action_plan (id, organization_id, kpi_id, title, description, owner_id, \
             created_by, due_date, progress, status, closed_at) \
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             case when $10 in ('DONE', 'CANCELLED') then now() end) \
           returning * \
         ) ",
        "",
        ActionId::new() as ActionId,
        new.organization_id as OrganizationId,
        new.kpi_id as KpiId,
        &fields.title,
        fields.description.as_deref(),
        fields.owner_id as Option<UserId>,
        new.created_by as UserId,
        fields.due_date,
        fields.progress,
        fields.status as ActionStatus,
    )
    .fetch_one(conn)
    .await
}

/// Writes every editable column; `closed_at` follows the status change.
pub async fn update(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    id: ActionId,
    fields: &ActionFields,
) -> Result<Option<ActionRow>, sqlx::Error> {
    query_actions!(
        "with a as ( \
           update action_plan set title = $3, description = $4, owner_id = $5, due_date = $6, \
             progress = $7, status = $8, \
             closed_at = case when $8 not in ('DONE', 'CANCELLED') then null \
               when status = $8 then coalesce(closed_at, now()) else now() end, \
             updated_at = now() \
           where organization_id = $1 and id = $2 returning * \
         ) ",
        "",
        organization_id as OrganizationId,
        id as ActionId,
        &fields.title,
        fields.description.as_deref(),
        fields.owner_id as Option<UserId>,
        fields.due_date,
        fields.progress,
        fields.status as ActionStatus,
    )
    .fetch_optional(conn)
    .await
}

/// Deletes the action; its comments go with it (cascade).
pub async fn delete(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    id: ActionId,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "delete from action_plan where organization_id = $1 and id = $2",
        organization_id as OrganizationId,
        id as ActionId,
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}
