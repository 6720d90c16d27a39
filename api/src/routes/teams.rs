//! Teams: everyone lists them and their members; ADMINs manage them.
use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use kpix_shared::db::{
    self,
    teams::{TeamMemberRow, TeamRow},
};
use kpix_shared::domain::Role;
use kpix_shared::ids::{OrganizationId, TeamId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult},
    extract::{AuthConn, AuthUser, Json, Page, PageParams, Pagination, Path, Text},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_teams, create_team))
        .routes(routes!(get_team, update_team, delete_team))
        .routes(routes!(add_team_member))
        .routes(routes!(remove_team_member))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Qualité"}))]
#[serde(deny_unknown_fields)]
pub struct TeamRequest {
    pub name: Text<200>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    pub user_id: UserId,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TeamResponse)]
pub struct TeamWithMembersResponse {
    #[serde(flatten)]
    pub team: TeamResponse,
    pub members: Vec<TeamMemberResponse>,
}

impl TeamWithMembersResponse {
    fn new(team: TeamRow, members: Vec<TeamMemberRow>) -> Self {
        Self {
            team: team.into(),
            members: members.into_iter().map(Into::into).collect(),
        }
    }
}

fn team_name(name: &Text<200>) -> ApiResult<String> {
    let mut errors = Vec::new();
    let name = name.check("name", &mut errors);
    if errors.is_empty() {
        Ok(name)
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn name_taken(error: sqlx::Error) -> ApiError {
    if db::is_unique_violation(&error, db::teams::NAME_KEY) {
        ApiError::conflict("team_name_taken", "a team with this name already exists")
    } else {
        error.into()
    }
}

/// Teams of the organization.
#[utoipa::path(get, path = "/teams", tag = "teams", params(PageParams),
    responses((status = 200, body = Vec<TeamResponse>)), security(("bearer" = [])))]
async fn list_teams(
    AuthConn { auth, mut conn }: AuthConn,
    pagination: Pagination,
) -> ApiResult<Page<TeamResponse>> {
    let teams = db::teams::list(
        &mut conn,
        auth.caller.organization_id,
        pagination.request()?,
    )
    .await?;
    Ok(pagination.respond(teams, |t| t.id.to_string()))
}

/// Create a team (ADMIN).
#[utoipa::path(post, path = "/teams", tag = "teams", request_body = TeamRequest,
    responses((status = 201, body = TeamWithMembersResponse), (status = 403), (status = 409), (status = 422)), security(("bearer" = [])))]
async fn create_team(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<TeamRequest>,
) -> ApiResult<(StatusCode, axum::Json<TeamWithMembersResponse>)> {
    auth.require_admin()?;
    let name = team_name(&body.name)?;
    let mut conn = auth.begin(&state.pool).await?;
    let team = db::teams::insert(&mut conn, auth.caller.organization_id, &name)
        .await
        .map_err(name_taken)?;
    conn.commit().await?;
    tracing::info!(audit = "team_created", actor_id = %auth.caller.user_id, team_id = %team.id, "team created");
    Ok((
        StatusCode::CREATED,
        axum::Json(TeamWithMembersResponse::new(team, Vec::new())),
    ))
}

/// A team with its members.
#[utoipa::path(get, path = "/teams/{id}", tag = "teams", params(("id" = Uuid, Path)),
    responses((status = 200, body = TeamWithMembersResponse), (status = 404)), security(("bearer" = [])))]
async fn get_team(
    AuthConn { auth, mut conn }: AuthConn,
    Path(id): Path<TeamId>,
) -> ApiResult<axum::Json<TeamWithMembersResponse>> {
    let team = db::teams::find(&mut conn, auth.caller.organization_id, id)
        .await?
        .ok_or(ApiError::NotFound("team"))?;
    let members = db::teams::members(&mut conn, team.id).await?;
    Ok(axum::Json(TeamWithMembersResponse::new(team, members)))
}

/// Rename a team (ADMIN).
#[utoipa::path(patch, path = "/teams/{id}", tag = "teams", params(("id" = Uuid, Path)), request_body = TeamRequest,
    responses((status = 200, body = TeamWithMembersResponse), (status = 403), (status = 404), (status = 409), (status = 422)), security(("bearer" = [])))]
async fn update_team(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<TeamId>,
    Json(body): Json<TeamRequest>,
) -> ApiResult<axum::Json<TeamWithMembersResponse>> {
    auth.require_admin()?;
    let name = team_name(&body.name)?;
    let mut conn = auth.begin(&state.pool).await?;
    let team = db::teams::rename(&mut conn, auth.caller.organization_id, id, &name)
        .await
        .map_err(name_taken)?
        .ok_or(ApiError::NotFound("team"))?;
    let members = db::teams::members(&mut conn, team.id).await?;
    conn.commit().await?;
    tracing::info!(audit = "team_renamed", actor_id = %auth.caller.user_id, team_id = %team.id, "team renamed");
    Ok(axum::Json(TeamWithMembersResponse::new(team, members)))
}

/// Delete a team (ADMIN); its dashboards become private to their owners
/// (and ADMINs) until shared again.
#[utoipa::path(delete, path = "/teams/{id}", tag = "teams", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
async fn delete_team(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<TeamId>,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let mut conn = auth.begin(&state.pool).await?;
    if db::teams::delete(&mut conn, auth.caller.organization_id, id).await? {
        conn.commit().await?;
        tracing::info!(audit = "team_deleted", actor_id = %auth.caller.user_id, team_id = %id, "team deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("team"))
    }
}

/// Add a user of the organization to a team (ADMIN).
#[utoipa::path(post, path = "/teams/{id}/members", tag = "teams", params(("id" = Uuid, Path)), request_body = AddMemberRequest,
    responses((status = 201, body = TeamWithMembersResponse), (status = 403), (status = 404), (status = 409)), security(("bearer" = [])))]
async fn add_team_member(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<TeamId>,
    Json(body): Json<AddMemberRequest>,
) -> ApiResult<(StatusCode, axum::Json<TeamWithMembersResponse>)> {
    auth.require_admin()?;
    let org = auth.caller.organization_id;
    let mut conn = auth.begin(&state.pool).await?;
    let team = db::teams::find(&mut conn, org, id)
        .await?
        .ok_or(ApiError::NotFound("team"))?;
    db::users::find(&mut conn, org, body.user_id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    if !db::teams::add_member(&mut conn, org, team.id, body.user_id).await? {
        return Err(ApiError::conflict(
            "already_member",
            "the user is already a member of this team",
        ));
    }
    let members = db::teams::members(&mut conn, team.id).await?;
    conn.commit().await?;
    tracing::info!(audit = "team_member_added", actor_id = %auth.caller.user_id, team_id = %team.id, user_id = %body.user_id, "team member added");
    Ok((
        StatusCode::CREATED,
        axum::Json(TeamWithMembersResponse::new(team, members)),
    ))
}

/// Remove a member from a team (ADMIN).
#[utoipa::path(delete, path = "/teams/{id}/members/{user_id}", tag = "teams", params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
async fn remove_team_member(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((id, user_id)): Path<(TeamId, UserId)>,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let mut conn = auth.begin(&state.pool).await?;
    let team = db::teams::find(&mut conn, auth.caller.organization_id, id)
        .await?
        .ok_or(ApiError::NotFound("team"))?;
    if db::teams::remove_member(&mut conn, team.id, user_id).await? {
        conn.commit().await?;
        tracing::info!(audit = "team_member_removed", actor_id = %auth.caller.user_id, team_id = %team.id, user_id = %user_id, "team member removed");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("team member"))
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = TeamRow)]
pub struct TeamResponse {
    pub id: TeamId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<TeamRow> for TeamResponse {
    fn from(row: TeamRow) -> Self {
        Self {
            id: row.id,
            organization_id: row.organization_id,
            name: row.name,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = TeamMemberRow)]
pub struct TeamMemberResponse {
    pub user_id: UserId,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub is_active: bool,
    pub joined_at: DateTime<Utc>,
}

impl From<TeamMemberRow> for TeamMemberResponse {
    fn from(row: TeamMemberRow) -> Self {
        Self {
            user_id: row.user_id,
            email: row.email,
            full_name: row.full_name,
            role: row.role,
            is_active: row.is_active,
            joined_at: row.joined_at,
        }
    }
}
