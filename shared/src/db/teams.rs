//! Teams and their members; dashboards are shared with a team by `team_id`.
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::PageRequest;
use crate::domain::kpi::Role;
use crate::ids::{OrganizationId, TeamId, UserId};

/// The unique index on `(organization_id, lower(name))`.
pub const NAME_KEY: &str = "team_name_key";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TeamRow {
    pub id: TeamId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TeamMemberRow {
    pub user_id: UserId,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub is_active: bool,
    pub joined_at: DateTime<Utc>,
}

/// `query_as!` returning [`TeamRow`]s: `$head`, the team's columns, `$tail`.
macro_rules! query_teams {
    ($head:literal, $tail:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            TeamRow,
            $head + "id, organization_id, name, created_at, updated_at" + $tail
            $(, $arg)*
        )
    };
}

pub async fn insert(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    name: &str,
) -> Result<TeamRow, sqlx::Error> {
    query_teams!(
        "insert into team (id, organization_id, name) values ($1, $2, $3) returning ",
        "",
        TeamId::new() as TeamId,
        organization_id as OrganizationId,
        name,
    )
    .fetch_one(conn)
    .await
}

pub async fn list(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    page: PageRequest<TeamId>,
) -> Result<Vec<TeamRow>, sqlx::Error> {
    query_teams!(
        "select ",
        " from team where organization_id = $1 and ($2::uuid is null or id > $2) \
         order by id limit $3",
        organization_id as OrganizationId,
        page.after as Option<TeamId>,
        page.limit,
    )
    .fetch_all(conn)
    .await
}

pub async fn find(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    id: TeamId,
) -> Result<Option<TeamRow>, sqlx::Error> {
    query_teams!(
        "select ",
        " from team where organization_id = $1 and id = $2",
        organization_id as OrganizationId,
        id as TeamId,
    )
    .fetch_optional(conn)
    .await
}

pub async fn rename(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    id: TeamId,
    name: &str,
) -> Result<Option<TeamRow>, sqlx::Error> {
    query_teams!(
        "update team set name = $3, updated_at = now() where organization_id = $1 and id = $2 returning ",
        "",
        organization_id as OrganizationId,
        id as TeamId,
        name,
    )
    .fetch_optional(conn)
    .await
}

/// Deletes the team; its dashboards become shared with the whole organization.
pub async fn delete(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    id: TeamId,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "delete from team where organization_id = $1 and id = $2",
        organization_id as OrganizationId,
        id as TeamId,
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

pub async fn members(
    conn: &mut PgConnection,
    team_id: TeamId,
) -> Result<Vec<TeamMemberRow>, sqlx::Error> {
    sqlx::query_as!(
        TeamMemberRow,
        r#"select u.id as user_id, u.email, u.full_name, u.role as "role: Role", u.is_active,
           tm.created_at as joined_at
         from team_member tm join app_user u on u.id = tm.user_id
         where tm.team_id = $1 order by u.full_name, u.id"#,
        team_id as TeamId,
    )
    .fetch_all(conn)
    .await
}

/// Adds a member; `false` when they already were one.
pub async fn add_member(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    team_id: TeamId,
    user_id: UserId,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "insert into team_member (team_id, user_id, organization_id) values ($1, $2, $3) \
         on conflict do nothing",
        team_id as TeamId,
        user_id as UserId,
        organization_id as OrganizationId,
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

pub async fn remove_member(
    conn: &mut PgConnection,
    team_id: TeamId,
    user_id: UserId,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "delete from team_member where team_id = $1 and user_id = $2",
        team_id as TeamId,
        user_id as UserId,
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}
