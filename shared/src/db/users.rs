//! Users of an organization.
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::PageRequest;
use crate::domain::kpi::Role;
use crate::ids::{OrganizationId, SessionId, UserId};

/// `query_as!` returning [`UserRow`]s: `$head`, the user's columns, `$tail`.
macro_rules! query_users {
    ($head:literal, $tail:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            UserRow,
            $head
                + r#"id, organization_id, email, full_name, role as "role: Role", is_active,
                  created_at, updated_at"#
                + $tail
            $(, $arg)*
        )
    };
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: UserId,
    pub organization_id: OrganizationId,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The unique index on `lower(email)`.
pub const EMAIL_KEY: &str = "app_user_email_key";

pub struct NewUser<'a> {
    pub organization_id: OrganizationId,
    pub email: &'a str,
    pub full_name: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
}

pub async fn insert(conn: &mut PgConnection, user: NewUser<'_>) -> Result<UserRow, sqlx::Error> {
    query_users!(
        "insert into app_user (id, organization_id, email, full_name, password_hash, role) \
         values ($1, $2, $3, $4, $5, $6) returning ",
        "",
        UserId::new() as UserId,
        user.organization_id as OrganizationId,
        user.email,
        user.full_name,
        user.password_hash,
        user.role as Role,
    )
    .fetch_one(conn)
    .await
}

/// The user and their password hash, for login.
pub async fn find_for_login(
    conn: &mut PgConnection,
    email: &str,
) -> Result<Option<(UserRow, String)>, sqlx::Error> {
    // before any organization is known: through the function that finds an
    // account by e-mail whatever its organization (row-level security); a
    // function's columns may be null as far as sqlx can tell: `!` says not
    let row = sqlx::query!(
        r#"select id as "id!: UserId", organization_id as "organization_id!: OrganizationId", email as "email!",
           full_name as "full_name!", role as "role!: Role", is_active as "is_active!",
           created_at as "created_at!", updated_at as "updated_at!",
           password_hash as "password_hash!"
         from kpix_user_for_login($1)"#,
        email,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| {
        let user = UserRow {
            id: r.id,
            organization_id: r.organization_id,
            email: r.email,
            full_name: r.full_name,
            role: r.role,
            is_active: r.is_active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        };
        (user, r.password_hash)
    }))
}

/// The user of a live session, whatever the organization: used to
/// authenticate an access token. The session (the login's refresh-token
/// family) ends with a logout, a password change or a reused refresh token.
pub async fn find_in_session(
    conn: &mut PgConnection,
    id: UserId,
    session_id: SessionId,
) -> Result<Option<UserRow>, sqlx::Error> {
    query_users!(
        "select ",
        " from app_user u where u.id = $1 \
         and exists (select 1 from refresh_token t where t.family_id = $2 and t.user_id = u.id) \
         and not exists (select 1 from refresh_token t where t.family_id = $2 and t.revoked_at is not null)",
        id as UserId,
        session_id as SessionId,
    )
    .fetch_optional(conn)
    .await
}

/// A user's password hash, to check it before a change.
pub async fn password_hash(conn: &mut PgConnection, id: UserId) -> Result<String, sqlx::Error> {
    sqlx::query_scalar!(
        "select password_hash from app_user where id = $1",
        id as UserId
    )
    .fetch_one(conn)
    .await
}

pub async fn set_password(
    conn: &mut PgConnection,
    id: UserId,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update app_user set password_hash = $2, updated_at = now() where id = $1",
        id as UserId,
        password_hash,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Any user by id, whatever the organization: used to authenticate a token.
pub async fn find_by_id(
    conn: &mut PgConnection,
    id: UserId,
) -> Result<Option<UserRow>, sqlx::Error> {
    query_users!("select ", " from app_user where id = $1", id as UserId)
        .fetch_optional(conn)
        .await
}

pub async fn find(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    id: UserId,
) -> Result<Option<UserRow>, sqlx::Error> {
    query_users!(
        "select ",
        " from app_user where organization_id = $1 and id = $2",
        organization_id as OrganizationId,
        id as UserId,
    )
    .fetch_optional(conn)
    .await
}

/// Users of the organization, oldest first; `active_only` for owner pickers.
pub async fn list(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    active_only: bool,
    page: PageRequest<UserId>,
) -> Result<Vec<UserRow>, sqlx::Error> {
    query_users!(
        "select ",
        " from app_user where organization_id = $1 \
         and ($2 = false or is_active) and ($3::uuid is null or id > $3) \
         order by id limit $4",
        organization_id as OrganizationId,
        active_only,
        page.after as Option<UserId>,
        page.limit,
    )
    .fetch_all(conn)
    .await
}

#[derive(Debug, Default)]
pub struct UserPatch {
    pub full_name: Option<String>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
}

pub async fn update(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    id: UserId,
    patch: &UserPatch,
) -> Result<Option<UserRow>, sqlx::Error> {
    query_users!(
        "update app_user set full_name = coalesce($3, full_name), role = coalesce($4, role), \
         is_active = coalesce($5, is_active), updated_at = now() \
         where organization_id = $1 and id = $2 returning ",
        "",
        organization_id as OrganizationId,
        id as UserId,
        patch.full_name.as_deref(),
        patch.role as Option<Role>,
        patch.is_active,
    )
    .fetch_optional(conn)
    .await
}

/// Serializes the changes of users' roles and activation in one
/// organization (until the transaction ends), so the last-ADMIN check of
/// each sees the others' result.
pub async fn lock_admin_changes(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtext($1::uuid::text)) as locked",
        organization_id as OrganizationId,
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

/// Active admins left in the organization, to refuse removing the last one.
pub async fn count_active_admins(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from app_user
         where organization_id = $1 and role = 'ADMIN' and is_active"#,
        organization_id as OrganizationId,
    )
    .fetch_one(conn)
    .await
}

/// True when the user is an active member of the organization.
pub async fn is_active_member(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    id: UserId,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from app_user where organization_id = $1 and id = $2 and is_active)
           as "exists!""#,
        organization_id as OrganizationId,
        id as UserId,
    )
    .fetch_one(conn)
    .await
}
