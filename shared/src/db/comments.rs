//! Comments on KPIs and on action plans, with their author's name. A comment
//! is visible when its KPI is; one on an action also stores the action's KPI.
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{Caller, PageRequest};
use crate::ids::{ActionId, CommentId, KpiId, OrganizationId, UserId};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommentRow {
    pub id: CommentId,
    pub kpi_id: KpiId,
    /// Set for a comment on an action plan.
    pub action_plan_id: Option<ActionId>,
    pub organization_id: OrganizationId,
    pub author_id: UserId,
    /// The author's full name.
    pub author_name: String,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

impl CommentRow {
    /// The author and ADMINs delete a comment; nobody edits one.
    pub fn deletable_by(&self, caller: &Caller) -> bool {
        caller.is_admin() || self.author_id == caller.user_id
    }
}

/// `query_as!` returning [`CommentRow`]s: `$head` (which defines `c`, the
/// comment: a table or a CTE of written rows), the comment columns joined to
/// its author `u`, KPI `k` and dashboard `d`, then `$tail`, which may name
/// `DASHBOARD_VISIBLE`.
macro_rules! query_comments {
    ($head:literal, $($tail:tt)+) => {
        shared_sql!(sqlx::query_as!(
            CommentRow,
            $head
                + "select c.id, c.kpi_id, c.action_plan_id as \"action_plan_id: _\", c.organization_id, c.author_id, \
                   u.full_name as author_name, c.content, c.created_at \
                   from c join app_user u on u.id = c.author_id \
                   join kpi k on k.id = c.kpi_id join dashboard d on d.id = k.dashboard_id"
                + $($tail)+
        ))
    };
}

/// Comments made on the KPI itself (not on its actions), newest first.
pub async fn list_for_kpi(
    conn: &mut PgConnection,
    caller: &Caller,
    kpi_id: KpiId,
    page: PageRequest<CommentId>,
) -> Result<Vec<CommentRow>, sqlx::Error> {
    query_comments!(
        "with c as (select * from comment where kpi_id = $4 and action_plan_id is null) ",
        " where "
            + DASHBOARD_VISIBLE
            + " and ($5::uuid is null or c.id < $5) order by c.id desc limit $6",
        caller.organization_id as OrganizationId,
        caller.user_id as UserId,
        caller.is_admin(),
        kpi_id as KpiId,
        page.after as Option<CommentId>,
        page.limit,
    )
    .fetch_all(conn)
    .await
}

/// Comments on an action plan, newest first.
pub async fn list_for_action(
    conn: &mut PgConnection,
    caller: &Caller,
    action_plan_id: ActionId,
    page: PageRequest<CommentId>,
) -> Result<Vec<CommentRow>, sqlx::Error> {
    query_comments!(
        "with c as (select * from comment where action_plan_id = $4) ",
        " where "
            + DASHBOARD_VISIBLE
            + " and ($5::uuid is null or c.id < $5) order by c.id desc limit $6",
        caller.organization_id as OrganizationId,
        caller.user_id as UserId,
        caller.is_admin(),
        action_plan_id as ActionId,
        page.after as Option<CommentId>,
        page.limit,
    )
    .fetch_all(conn)
    .await
}

/// A comment whose KPI the caller can see; `None` for absent, invisible or foreign.
pub async fn find_visible(
    conn: &mut PgConnection,
    caller: &Caller,
    id: CommentId,
) -> Result<Option<CommentRow>, sqlx::Error> {
    query_comments!(
        "with c as (select * from comment where id = $4) ",
        " where " + DASHBOARD_VISIBLE,
        caller.organization_id as OrganizationId,
        caller.user_id as UserId,
        caller.is_admin(),
        id as CommentId,
    )
    .fetch_optional(conn)
    .await
}

pub struct NewComment<'a> {
    pub organization_id: OrganizationId,
    pub kpi_id: KpiId,
    /// For a comment on an action; `kpi_id` is then the action's KPI.
    pub action_plan_id: Option<ActionId>,
    pub author_id: UserId,
    pub content: &'a str,
}

pub async fn insert(
    conn: &mut PgConnection,
    new: NewComment<'_>,
) -> Result<CommentRow, sqlx::Error> {
    query_comments!(
        "with c as ( \
           insert into comment (id, organization_id, kpi_id, action_plan_id, author_id, content) \
           values ($1, $2, $3, $4, $5, $6) returning * \
         ) ",
        "",
        CommentId::new() as CommentId,
        new.organization_id as OrganizationId,
        new.kpi_id as KpiId,
        new.action_plan_id as Option<ActionId>,
        new.author_id as UserId,
        new.content,
    )
    .fetch_one(conn)
    .await
}

pub async fn delete(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    id: CommentId,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "delete from comment where organization_id = $1 and id = $2",
        organization_id as OrganizationId,
        id as CommentId,
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}
