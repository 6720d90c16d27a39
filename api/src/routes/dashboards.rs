//! Dashboards: one per business process, shared with the organization, a
//! team, or kept to their owner.
use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use kpix_shared::db::dashboards::StatusBreakdown;
use kpix_shared::db::{
    self, Caller,
    dashboards::{DashboardFilter, DashboardRow, DashboardUpdate, NewDashboard},
};
use kpix_shared::domain::Status;
use kpix_shared::ids::{DashboardId, OrganizationId, TeamId, UserId};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult},
    extract::{
        AuthConn, AuthUser, Json, OptionalText, Page, PageParams, Pagination, Path, Query, Text,
    },
    patch::{double_option, merge, non_null},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_dashboards, create_dashboard))
        .routes(routes!(get_dashboard, update_dashboard, delete_dashboard))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DashboardQuery {
    /// Only dashboards of this process (case- and accent-insensitive).
    pub process_name: Option<String>,
}

/// A dashboard's title, description and process name.
type Title = Text<200>;
type Description = OptionalText<5000>;
type ProcessName = OptionalText<200>;

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"title": "Qualité usine", "description": "Scrap and rework", "process_name": "Qualité", "team_id": null}))]
#[serde(deny_unknown_fields)]
pub struct CreateDashboardRequest {
    pub title: Title,
    pub description: Option<Description>,
    pub process_name: Option<ProcessName>,
    /// Share with this team; null or absent: the whole organization.
    pub team_id: Option<TeamId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"title": "Qualité usine 2025", "description": null}))]
#[serde(deny_unknown_fields)]
pub struct UpdateDashboardRequest {
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub title: Option<Title>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Description>)]
    pub description: Option<Option<Description>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<ProcessName>)]
    pub process_name: Option<Option<ProcessName>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<TeamId>)]
    pub team_id: Option<Option<TeamId>>,
    /// Hand the dashboard over to another active user (ADMIN or owner).
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub owner_id: Option<UserId>,
}

/// Loads a visible dashboard or answers 404.
pub async fn visible_dashboard(
    conn: &mut PgConnection,
    caller: &Caller,
    id: DashboardId,
) -> ApiResult<DashboardRow> {
    db::dashboards::find_visible(conn, caller, id)
        .await?
        .ok_or(ApiError::NotFound("dashboard"))
}

/// Loads a dashboard the caller may edit: 404 when invisible, 403 when only visible.
pub async fn editable_dashboard(
    conn: &mut PgConnection,
    caller: &Caller,
    id: DashboardId,
) -> ApiResult<DashboardRow> {
    let dashboard = visible_dashboard(conn, caller, id).await?;
    if dashboard.editable_by(caller) {
        Ok(dashboard)
    } else {
        Err(ApiError::forbidden(
            "only the dashboard's owner or an ADMIN may change it",
        ))
    }
}

/// A team the caller may share with: any team of the organization for an
/// ADMIN, a team they belong to otherwise.
async fn check_team(conn: &mut PgConnection, caller: &Caller, team_id: TeamId) -> ApiResult<()> {
    let team = db::teams::find(conn, caller.organization_id, team_id).await?;
    let Some(team) = team else {
        return Err(ApiError::invalid(
            "team_id",
            "no such team in this organization",
        ));
    };
    if !caller.is_admin()
        && !db::teams::members(conn, team.id)
            .await?
            .iter()
            .any(|m| m.user_id == caller.user_id)
    {
        return Err(ApiError::invalid(
            "team_id",
            "you can only share with a team you belong to",
        ));
    }
    Ok(())
}

/// Dashboards the caller can see, newest first, each with its status summary.
#[utoipa::path(get, path = "/dashboards", tag = "dashboards",
    params(DashboardQuery, PageParams),
    responses((status = 200, body = Vec<DashboardResponse>)), security(("bearer" = [])))]
async fn list_dashboards(
    AuthConn { auth, mut conn }: AuthConn,
    Query(query): Query<DashboardQuery>,
    pagination: Pagination,
) -> ApiResult<Page<DashboardResponse>> {
    let filter = DashboardFilter {
        process_name: query
            .process_name
            .filter(|p| !p.trim().is_empty())
            .map(|p| p.trim().to_owned()),
    };
    let rows =
        db::dashboards::list(&mut conn, &auth.caller, &filter, pagination.request()?).await?;
    Ok(pagination.respond(rows, |d| d.id.to_string()))
}

/// Create a dashboard; the caller owns it.
#[utoipa::path(post, path = "/dashboards", tag = "dashboards", request_body = CreateDashboardRequest,
    responses((status = 201, body = DashboardResponse), (status = 422)), security(("bearer" = [])))]
async fn create_dashboard(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<CreateDashboardRequest>,
) -> ApiResult<(StatusCode, axum::Json<DashboardResponse>)> {
    let mut errors = Vec::new();
    let title = body.title.check("title", &mut errors);
    let description =
        Description::check_option(body.description.as_ref(), "description", &mut errors);
    let process_name =
        ProcessName::check_option(body.process_name.as_ref(), "process_name", &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut tx = auth.begin(&state.pool).await?;
    if let Some(team_id) = body.team_id {
        check_team(&mut tx, &auth.caller, team_id).await?;
    }
    let id = db::dashboards::insert(
        &mut tx,
        NewDashboard {
            organization_id: auth.caller.organization_id,
            owner_id: auth.caller.user_id,
            team_id: body.team_id,
            title: &title,
            description: description.as_deref(),
            process_name: process_name.as_deref(),
        },
    )
    .await?;
    let dashboard = visible_dashboard(&mut tx, &auth.caller, id).await?;
    tx.commit().await?;
    tracing::info!(audit = "dashboard_created", actor_id = %auth.caller.user_id, dashboard_id = %id, team_id = ?dashboard.team_id, "dashboard created");
    Ok((StatusCode::CREATED, axum::Json(dashboard.into())))
}

/// A dashboard with its status summary.
#[utoipa::path(get, path = "/dashboards/{id}", tag = "dashboards", params(("id" = Uuid, Path)),
    responses((status = 200, body = DashboardResponse), (status = 404)), security(("bearer" = [])))]
async fn get_dashboard(
    AuthConn { auth, mut conn }: AuthConn,
    Path(id): Path<DashboardId>,
) -> ApiResult<axum::Json<DashboardResponse>> {
    Ok(axum::Json(
        visible_dashboard(&mut conn, &auth.caller, id).await?.into(),
    ))
}

/// Change a dashboard (its owner or an ADMIN). Absent fields are unchanged;
/// null clears description, process_name or team_id.
#[utoipa::path(patch, path = "/dashboards/{id}", tag = "dashboards", params(("id" = Uuid, Path)), request_body = UpdateDashboardRequest,
    responses((status = 200, body = DashboardResponse), (status = 403), (status = 404), (status = 422)), security(("bearer" = [])))]
async fn update_dashboard(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<DashboardId>,
    Json(body): Json<UpdateDashboardRequest>,
) -> ApiResult<axum::Json<DashboardResponse>> {
    let mut tx = auth.begin(&state.pool).await?;
    let current = editable_dashboard(&mut tx, &auth.caller, id).await?;
    apply_update(&mut tx, &auth.caller, &current, &body).await?;
    // the caller may have handed the dashboard to someone else: read it back as an ADMIN would
    let admin_view = Caller {
        role: kpix_shared::domain::Role::Admin,
        ..auth.caller
    };
    let dashboard = visible_dashboard(&mut tx, &admin_view, id).await?;
    tx.commit().await?;
    tracing::info!(audit = "dashboard_updated", actor_id = %auth.caller.user_id, dashboard_id = %id, owner_id = %dashboard.owner_id, team_id = ?dashboard.team_id, "dashboard updated");
    Ok(axum::Json(dashboard.into()))
}

/// Checks the request's changes against the current dashboard and writes
/// them: a 422 names the first invalid fields.
async fn apply_update(
    tx: &mut PgConnection,
    caller: &Caller,
    current: &DashboardRow,
    body: &UpdateDashboardRequest,
) -> ApiResult<()> {
    let mut errors = Vec::new();
    let title = match &body.title {
        Some(title) => title.check("title", &mut errors),
        None => current.title.clone(),
    };
    let description = match &body.description {
        Some(d) => Description::check_option(d.as_ref(), "description", &mut errors),
        None => current.description.clone(),
    };
    let process_name = match &body.process_name {
        Some(p) => ProcessName::check_option(p.as_ref(), "process_name", &mut errors),
        None => current.process_name.clone(),
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let team_id = merge(current.team_id, body.team_id);
    if let Some(team_id) = team_id.filter(|t| Some(*t) != current.team_id) {
        check_team(tx, caller, team_id).await?;
    }
    let owner_id = body.owner_id.unwrap_or(current.owner_id);
    if owner_id != current.owner_id
        && !db::users::is_active_member(tx, caller.organization_id, owner_id).await?
    {
        return Err(ApiError::invalid(
            "owner_id",
            "must be an active user of the organization",
        ));
    }
    db::dashboards::update(
        tx,
        caller.organization_id,
        current.id,
        DashboardUpdate {
            title: &title,
            description: description.as_deref(),
            process_name: process_name.as_deref(),
            team_id,
            // sharing it again, with a team or with everyone, ends its privacy
            is_private: current.is_private && body.team_id.is_none(),
            owner_id,
        },
    )
    .await?;
    Ok(())
}

/// Delete a dashboard with its KPIs, values, actions and comments (owner or ADMIN).
#[utoipa::path(delete, path = "/dashboards/{id}", tag = "dashboards", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
async fn delete_dashboard(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<DashboardId>,
) -> ApiResult<StatusCode> {
    let mut tx = auth.begin(&state.pool).await?;
    editable_dashboard(&mut tx, &auth.caller, id).await?;
    db::dashboards::delete(&mut tx, auth.caller.organization_id, id).await?;
    tx.commit().await?;
    tracing::info!(audit = "dashboard_deleted", actor_id = %auth.caller.user_id, dashboard_id = %id, "dashboard deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Counts of KPIs by the status of their latest value.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = StatusBreakdown)]
pub struct StatusBreakdownResponse {
    #[serde(rename = "GREEN")]
    pub green: i64,
    #[serde(rename = "ORANGE")]
    pub orange: i64,
    #[serde(rename = "RED")]
    pub red: i64,
}

impl From<StatusBreakdown> for StatusBreakdownResponse {
    fn from(row: StatusBreakdown) -> Self {
        Self {
            green: row.green,
            orange: row.orange,
            red: row.red,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = DashboardRow)]
pub struct DashboardResponse {
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
    pub status_breakdown: StatusBreakdownResponse,
    /// Active KPIs without any value yet.
    pub no_value: i64,
    /// The worst status among the latest values; null when none has a value.
    pub worst_status: Option<Status>,
}

impl From<DashboardRow> for DashboardResponse {
    fn from(row: DashboardRow) -> Self {
        Self {
            id: row.id,
            organization_id: row.organization_id,
            owner_id: row.owner_id,
            team_id: row.team_id,
            is_private: row.is_private,
            title: row.title,
            description: row.description,
            process_name: row.process_name,
            created_at: row.created_at,
            updated_at: row.updated_at,
            total_kpis: row.total_kpis,
            status_breakdown: row.status_breakdown.into(),
            no_value: row.no_value,
            worst_status: row.worst_status,
        }
    }
}
