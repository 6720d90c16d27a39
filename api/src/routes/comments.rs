//! Comments on KPIs and on action plans: anyone who sees the KPI reads and
//! writes them; the author or an ADMIN deletes one.
use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use kpix_shared::db::{
    self,
    comments::{CommentRow, NewComment},
};
use kpix_shared::ids::{ActionId, CommentId, KpiId, OrganizationId, UserId};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Transaction};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult},
    extract::{AuthConn, AuthUser, Json, Page, PageParams, Pagination, Path, Text},
    routes::actions::gone,
    state::AppState,
};

/// A comment's text: 1 to 2000 characters.
type Content = Text<2000>;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_kpi_comments, create_kpi_comment))
        .routes(routes!(list_action_comments, create_action_comment))
        .routes(routes!(delete_comment))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"content": "Line 2 stopped twice this week."}))]
#[serde(deny_unknown_fields)]
pub struct CommentRequest {
    pub content: Content,
}

fn content(content: &Content) -> ApiResult<String> {
    let mut errors = Vec::new();
    let content = content.check("content", &mut errors);
    if errors.is_empty() {
        Ok(content)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Comments on a KPI itself (those on its actions are listed under each
/// action), newest first.
#[utoipa::path(get, path = "/kpis/{id}/comments", tag = "comments",
    params(("id" = Uuid, Path, description = "KPI id"), PageParams),
    responses((status = 200, body = Vec<CommentResponse>), (status = 404)), security(("bearer" = [])))]
async fn list_kpi_comments(
    AuthConn { auth, mut conn }: AuthConn,
    Path(id): Path<KpiId>,
    pagination: Pagination,
) -> ApiResult<Page<CommentResponse>> {
    let page = pagination.request()?;
    let kpi = db::kpis::find_visible(&mut conn, &auth.caller, id)
        .await?
        .ok_or(ApiError::NotFound("kpi"))?;
    let comments = db::comments::list_for_kpi(&mut conn, &auth.caller, kpi.id, page).await?;
    Ok(pagination.respond(comments, |c| c.id.to_string()))
}

/// Comment on a KPI (anyone who can see it).
#[utoipa::path(post, path = "/kpis/{id}/comments", tag = "comments", params(("id" = Uuid, Path, description = "KPI id")),
    request_body = CommentRequest,
    responses((status = 201, body = CommentResponse), (status = 404), (status = 422)), security(("bearer" = [])))]
async fn create_kpi_comment(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<KpiId>,
    Json(body): Json<CommentRequest>,
) -> ApiResult<(StatusCode, axum::Json<CommentResponse>)> {
    let mut conn = auth.begin(&state.pool).await?;
    let kpi = db::kpis::find_visible(&mut conn, &auth.caller, id)
        .await?
        .ok_or(ApiError::NotFound("kpi"))?;
    let subject = Subject {
        kpi_id: kpi.id,
        action_plan_id: None,
        resource: "kpi",
    };
    add_comment(conn, &auth, subject, &body).await
}

/// What a comment is about: a KPI, or one of its action plans; `resource`
/// names it in the 404 when it is deleted meanwhile.
struct Subject {
    kpi_id: KpiId,
    action_plan_id: Option<ActionId>,
    resource: &'static str,
}

/// Stores the caller's comment on a subject they were found to see.
async fn add_comment(
    mut conn: Transaction<'static, Postgres>,
    auth: &AuthUser,
    subject: Subject,
    body: &CommentRequest,
) -> ApiResult<(StatusCode, axum::Json<CommentResponse>)> {
    let content = content(&body.content)?;
    let comment = db::comments::insert(
        &mut conn,
        NewComment {
            organization_id: auth.caller.organization_id,
            kpi_id: subject.kpi_id,
            action_plan_id: subject.action_plan_id,
            author_id: auth.caller.user_id,
            content: &content,
        },
    )
    .await
    .map_err(gone(subject.resource))?;
    conn.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(comment.into())))
}

/// Comments on an action plan, newest first.
#[utoipa::path(get, path = "/actions/{id}/comments", tag = "comments",
    params(("id" = Uuid, Path, description = "action id"), PageParams),
    responses((status = 200, body = Vec<CommentResponse>), (status = 404)), security(("bearer" = [])))]
async fn list_action_comments(
    AuthConn { auth, mut conn }: AuthConn,
    Path(id): Path<ActionId>,
    pagination: Pagination,
) -> ApiResult<Page<CommentResponse>> {
    let page = pagination.request()?;
    let action = db::action_plans::find_visible(&mut conn, &auth.caller, id)
        .await?
        .ok_or(ApiError::NotFound("action"))?;
    let comments = db::comments::list_for_action(&mut conn, &auth.caller, action.id, page).await?;
    Ok(pagination.respond(comments, |c| c.id.to_string()))
}

/// Comment on an action plan (anyone who can see its KPI).
#[utoipa::path(post, path = "/actions/{id}/comments", tag = "comments", params(("id" = Uuid, Path, description = "action id")),
    request_body = CommentRequest,
    responses((status = 201, body = CommentResponse), (status = 404), (status = 422)), security(("bearer" = [])))]
async fn create_action_comment(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<ActionId>,
    Json(body): Json<CommentRequest>,
) -> ApiResult<(StatusCode, axum::Json<CommentResponse>)> {
    let mut conn = auth.begin(&state.pool).await?;
    let action = db::action_plans::find_visible(&mut conn, &auth.caller, id)
        .await?
        .ok_or(ApiError::NotFound("action"))?;
    let subject = Subject {
        kpi_id: action.kpi_id,
        action_plan_id: Some(action.id),
        resource: "action",
    };
    add_comment(conn, &auth, subject, &body).await
}

/// Delete a comment (its author or an ADMIN).
#[utoipa::path(delete, path = "/comments/{id}", tag = "comments", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
async fn delete_comment(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<CommentId>,
) -> ApiResult<StatusCode> {
    let mut conn = auth.begin(&state.pool).await?;
    let comment = db::comments::find_visible(&mut conn, &auth.caller, id)
        .await?
        .ok_or(ApiError::NotFound("comment"))?;
    if !comment.deletable_by(&auth.caller) {
        return Err(ApiError::forbidden(
            "only the comment's author or an ADMIN may delete it",
        ));
    }
    if db::comments::delete(&mut conn, auth.caller.organization_id, comment.id).await? {
        conn.commit().await?;
        tracing::info!(audit = "comment_deleted", actor_id = %auth.caller.user_id, comment_id = %comment.id, author_id = %comment.author_id, "comment deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("comment"))
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = CommentRow)]
pub struct CommentResponse {
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

impl From<CommentRow> for CommentResponse {
    fn from(row: CommentRow) -> Self {
        Self {
            id: row.id,
            kpi_id: row.kpi_id,
            action_plan_id: row.action_plan_id,
            organization_id: row.organization_id,
            author_id: row.author_id,
            author_name: row.author_name,
            content: row.content,
            created_at: row.created_at,
        }
    }
}
