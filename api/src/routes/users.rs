//! Users of the organization: members for everyone, management for ADMINs.
use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use kpix_shared::{
    auth::password,
    db::{
        self,
        users::{UserPatch, UserRow},
    },
    domain::kpi::Role,
    ids::{OrganizationId, UserId},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult},
    extract::{
        AuthConn, AuthUser, Email, Json, Page, PageParams, Pagination, Password, Path, Text,
    },
    patch::non_null,
    routes::auth::email_taken,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_members))
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"email": "bob@example.com", "full_name": "Bob Durand", "password": "another long password", "role": "USER"}))]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub email: Email,
    pub full_name: Text<200>,
    pub password: Password,
    #[serde(default = "default_role")]
    pub role: Role,
}

fn default_role() -> Role {
    Role::User
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"full_name": "Robert Durand", "role": "ADMIN"}))]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub full_name: Option<Text<200>>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub role: Option<Role>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub is_active: Option<bool>,
}

/// Active users of the organization, for owner pickers.
#[utoipa::path(get, path = "/users/members", tag = "users", params(PageParams),
    responses((status = 200, body = Vec<UserResponse>)), security(("bearer" = [])))]
async fn list_members(
    AuthConn { auth, mut conn }: AuthConn,
    pagination: Pagination,
) -> ApiResult<Page<UserResponse>> {
    let users = db::users::list(
        &mut conn,
        auth.caller.organization_id,
        true,
        pagination.request()?,
    )
    .await?;
    Ok(pagination.respond(users, |u| u.id.to_string()))
}

/// All users of the organization (ADMIN).
#[utoipa::path(get, path = "/users", tag = "users", params(PageParams),
    responses((status = 200, body = Vec<UserResponse>), (status = 403)), security(("bearer" = [])))]
async fn list_users(
    AuthConn { auth, mut conn }: AuthConn,
    pagination: Pagination,
) -> ApiResult<Page<UserResponse>> {
    auth.require_admin()?;
    let users = db::users::list(
        &mut conn,
        auth.caller.organization_id,
        false,
        pagination.request()?,
    )
    .await?;
    Ok(pagination.respond(users, |u| u.id.to_string()))
}

/// Create a user in the organization (ADMIN).
#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUserRequest,
    responses((status = 201, body = UserResponse), (status = 403), (status = 409), (status = 422)), security(("bearer" = [])))]
async fn create_user(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<CreateUserRequest>,
) -> ApiResult<(StatusCode, axum::Json<UserResponse>)> {
    auth.require_admin()?;
    let mut errors = Vec::new();
    let email = body.email.check("email", &mut errors);
    body.password.check("password", &mut errors);
    let full_name = body.full_name.check("full_name", &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let secret = body.password.0;
    let hash = state
        .hash_blocking(move || password::hash_password(&secret))
        .await??;
    let mut conn = auth.begin(&state.pool).await?;
    let user = db::users::insert(
        &mut conn,
        db::users::NewUser {
            organization_id: auth.caller.organization_id,
            email: &email,
            full_name: &full_name,
            password_hash: &hash,
            role: body.role,
        },
    )
    .await
    .map_err(email_taken)?;
    conn.commit().await?;
    tracing::info!(audit = "user_created", actor_id = %auth.caller.user_id, user_id = %user.id, role = user.role.as_str(), "user created");
    Ok((StatusCode::CREATED, axum::Json(user.into())))
}

/// One user of the organization (ADMIN).
#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, body = UserResponse), (status = 403), (status = 404)), security(("bearer" = [])))]
async fn get_user(
    AuthConn { auth, mut conn }: AuthConn,
    Path(id): Path<UserId>,
) -> ApiResult<axum::Json<UserResponse>> {
    auth.require_admin()?;
    let user = db::users::find(&mut conn, auth.caller.organization_id, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    Ok(axum::Json(user.into()))
}

/// Rename, change the role of, deactivate or reactivate a user (ADMIN).
/// Deactivation revokes their refresh tokens; their access tokens fail at once.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = Uuid, Path)), request_body = UpdateUserRequest,
    responses((status = 200, body = UserResponse), (status = 403), (status = 404), (status = 409, description = "would leave no active ADMIN"), (status = 422)),
    security(("bearer" = [])))]
async fn update_user(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<UserId>,
    Json(body): Json<UpdateUserRequest>,
) -> ApiResult<axum::Json<UserResponse>> {
    auth.require_admin()?;
    let mut errors = Vec::new();
    let full_name = body.full_name.map(|n| n.check("full_name", &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let patch = UserPatch {
        full_name,
        role: body.role,
        is_active: body.is_active,
    };
    let mut tx = auth.begin(&state.pool).await?;
    // serialize admin changes of one organization so the last-admin check holds
    db::users::lock_admin_changes(&mut tx, auth.caller.organization_id).await?;
    let before = db::users::find(&mut tx, auth.caller.organization_id, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let user = db::users::update(&mut tx, auth.caller.organization_id, id, &patch)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    if db::users::count_active_admins(&mut tx, auth.caller.organization_id).await? == 0 {
        return Err(ApiError::conflict(
            "last_admin",
            "the organization must keep at least one active ADMIN",
        ));
    }
    if before.is_active && !user.is_active {
        db::refresh_tokens::revoke_all_of_user(&mut tx, user.id).await?;
    }
    tx.commit().await?;
    audit_user_change(auth.caller.user_id, &before, &user);
    Ok(axum::Json(user.into()))
}

/// The audit lines of a user's activation and role changes.
fn audit_user_change(actor_id: UserId, before: &UserRow, user: &UserRow) {
    if before.is_active != user.is_active {
        tracing::info!(audit = if user.is_active { "user_reactivated" } else { "user_deactivated" }, actor_id = %actor_id, user_id = %user.id, "user activation changed");
    }
    if before.role != user.role {
        tracing::info!(audit = "user_role_changed", actor_id = %actor_id, user_id = %user.id, from = before.role.as_str(), to = user.role.as_str(), "user role changed");
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = UserRow)]
pub struct UserResponse {
    pub id: UserId,
    pub organization_id: OrganizationId,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<UserRow> for UserResponse {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            organization_id: row.organization_id,
            email: row.email,
            full_name: row.full_name,
            role: row.role,
            is_active: row.is_active,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}
