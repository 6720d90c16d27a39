//! Action plans on KPIs: anyone who sees the KPI lists and creates them; the
//! action's owner, its creator, the dashboard's owner and ADMINs edit them.
use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
};
use chrono::{DateTime, NaiveDate, Utc};
use kpix_shared::{
    db::{
        self, Caller,
        action_plans::{ActionFields, ActionRow, NewAction},
    },
    domain::{ActionState, ActionStatus, next_action_state},
    ids::{ActionId, KpiId, OrganizationId, UserId},
    validate,
};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult, FieldError},
    extract::{
        ApiDate, AuthConn, AuthUser, BoundedInt, Json, OptionalText, Page, PageParams, Pagination,
        Path, Text,
    },
    patch::{double_option, merge, non_null},
    state::AppState,
};

/// An action's title and description.
type Title = Text<200>;
type Description = OptionalText<5000>;
/// How far an action is, in percent.
type Progress = BoundedInt<0, 100>;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_actions, create_action))
        .routes(routes!(get_action, update_action, delete_action))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"title": "Retrain the night shift", "description": "Two sessions per team", "due_date": "2025-03-31", "progress": 0, "status": "OPEN"}))]
#[serde(deny_unknown_fields)]
pub struct CreateActionRequest {
    pub title: Title,
    pub description: Option<Description>,
    /// Who carries the action out; defaults to the caller. An active user of
    /// the organization.
    pub owner_id: Option<UserId>,
    pub due_date: Option<ApiDate>,
    /// 0 to 100; defaults to 0, or 100 for a DONE action.
    pub progress: Option<Progress>,
    /// Defaults to OPEN.
    pub status: Option<ActionStatus>,
}

/// An absent field is unchanged; an explicit null clears `description`,
/// `owner_id` and `due_date` and is refused for the others.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"status": "IN_PROGRESS", "progress": 40, "due_date": null}))]
#[serde(deny_unknown_fields)]
pub struct UpdateActionRequest {
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub title: Option<Title>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Description>)]
    pub description: Option<Option<Description>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<UserId>)]
    pub owner_id: Option<Option<UserId>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<ApiDate>)]
    pub due_date: Option<Option<ApiDate>>,
    /// Moving to DONE without a progress sets it to 100.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub progress: Option<Progress>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub status: Option<ActionStatus>,
}

/// The `status` filter: repeated and/or comma-separated, any letter case.
fn status_filter(query: Option<&str>) -> ApiResult<Vec<ActionStatus>> {
    let mut statuses = Vec::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if key != "status" {
            continue;
        }
        for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let status = name.parse::<ActionStatus>().map_err(|_| {
                ApiError::invalid(
                    "status",
                    format!(
                        "unknown status \"{name}\"; expected OPEN, IN_PROGRESS, DONE or CANCELLED"
                    ),
                )
            })?;
            if !statuses.contains(&status) {
                statuses.push(status);
            }
        }
    }
    Ok(statuses)
}

fn title(raw: &str, errors: &mut Vec<FieldError>) -> String {
    validate::required_text(raw, Title::MAX)
        .map_err(|m| errors.push(FieldError::new("title", m)))
        .unwrap_or_default()
}

fn description(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    raw.and_then(|d| {
        validate::optional_text(d, Description::MAX)
            .map_err(|m| errors.push(FieldError::new("description", m)))
            .unwrap_or_default()
    })
}

/// 422 on `owner_id` unless the user is active in the caller's organization.
async fn check_owner(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    owner_id: UserId,
    errors: &mut Vec<FieldError>,
) -> ApiResult<()> {
    if !db::users::is_active_member(conn, organization_id, owner_id).await? {
        errors.push(FieldError::new(
            "owner_id",
            "must be an active user of the organization",
        ));
    }
    Ok(())
}

/// A row that vanished between the visibility check and the write (its KPI
/// or action deleted meanwhile) is a 404, not a 500.
pub(crate) fn gone(resource: &'static str) -> impl Fn(sqlx::Error) -> ApiError {
    move |error| match &error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23503") => {
            ApiError::NotFound(resource)
        }
        _ => error.into(),
    }
}

fn require_editor(action: &ActionRow, auth: &AuthUser) -> ApiResult<()> {
    if action.editable_by(&auth.caller) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only the action's owner, its creator, the dashboard's owner or an ADMIN may change it",
        ))
    }
}

/// Action plans of a KPI, newest first; `status` filters (repeat it or
/// separate values with commas).
#[utoipa::path(get, path = "/kpis/{id}/actions", tag = "actions",
    params(("id" = Uuid, Path, description = "KPI id"),
        ("status" = Option<Vec<ActionStatus>>, Query, explode, description = "OPEN, IN_PROGRESS, DONE or CANCELLED; repeated or comma-separated"),
        PageParams),
    responses((status = 200, body = Vec<ActionResponse>), (status = 404), (status = 422)), security(("bearer" = [])))]
async fn list_actions(
    AuthConn { auth, mut conn }: AuthConn,
    Path(id): Path<KpiId>,
    RawQuery(query): RawQuery,
    pagination: Pagination,
) -> ApiResult<Page<ActionResponse>> {
    let statuses = status_filter(query.as_deref())?;
    let page = pagination.request()?;
    let kpi = db::kpis::find_visible(&mut conn, &auth.caller, id)
        .await?
        .ok_or(ApiError::NotFound("kpi"))?;
    let actions = db::action_plans::list(&mut conn, &auth.caller, kpi.id, &statuses, page).await?;
    Ok(pagination.respond(actions, |a| a.id.to_string()))
}

/// Open an action plan on a KPI (anyone who can see the KPI).
#[utoipa::path(post, path = "/kpis/{id}/actions", tag = "actions", params(("id" = Uuid, Path, description = "KPI id")),
    request_body = CreateActionRequest,
    responses((status = 201, body = ActionResponse), (status = 404), (status = 422)), security(("bearer" = [])))]
async fn create_action(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<KpiId>,
    Json(body): Json<CreateActionRequest>,
) -> ApiResult<(StatusCode, axum::Json<ActionResponse>)> {
    let mut conn = auth.begin(&state.pool).await?;
    let kpi = db::kpis::find_visible(&mut conn, &auth.caller, id)
        .await?
        .ok_or(ApiError::NotFound("kpi"))?;
    let fields = new_fields(&mut conn, &auth.caller, body).await?;
    let action = db::action_plans::insert(
        &mut conn,
        NewAction {
            organization_id: auth.caller.organization_id,
            kpi_id: kpi.id,
            created_by: auth.caller.user_id,
            fields: &fields,
        },
    )
    .await
    .map_err(gone("kpi"))?;
    conn.commit().await?;
    tracing::info!(audit = "action_created", actor_id = %auth.caller.user_id, action_id = %action.id, kpi_id = %action.kpi_id, owner_id = action.owner_id.map(tracing::field::display), status = action.status.as_str(), "action created");
    Ok((StatusCode::CREATED, axum::Json(action.into())))
}

/// The fields of a new action, all checked at once; the owner defaults to
/// the creator.
async fn new_fields(
    conn: &mut PgConnection,
    caller: &Caller,
    body: CreateActionRequest,
) -> ApiResult<ActionFields> {
    let mut errors = Vec::new();
    let title = title(&body.title, &mut errors);
    let description = description(body.description.as_deref(), &mut errors);
    let initial = next_action_state(None, body.status, body.progress.map(|p| p.0))
        .map_err(|e| errors.push(FieldError::new("progress", e.to_string())))
        .ok();
    let owner_id = body.owner_id.unwrap_or(caller.user_id);
    check_owner(conn, caller.organization_id, owner_id, &mut errors).await?;
    let (Some(initial), true) = (initial, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    Ok(ActionFields {
        title,
        description,
        owner_id: Some(owner_id),
        due_date: body.due_date.map(|d| d.0),
        progress: initial.progress,
        status: initial.status,
    })
}

/// One action plan.
#[utoipa::path(get, path = "/actions/{id}", tag = "actions", params(("id" = Uuid, Path)),
    responses((status = 200, body = ActionResponse), (status = 404)), security(("bearer" = [])))]
async fn get_action(
    AuthConn { auth, mut conn }: AuthConn,
    Path(id): Path<ActionId>,
) -> ApiResult<axum::Json<ActionResponse>> {
    let action = db::action_plans::find_visible(&mut conn, &auth.caller, id)
        .await?
        .ok_or(ApiError::NotFound("action"))?;
    Ok(axum::Json(action.into()))
}

/// Change an action plan: an absent field is unchanged, an explicit null
/// clears `description`, `owner_id` or `due_date`; `closed_at` follows the
/// status. A DONE action's progress is 100 (moving to DONE sets it; another
/// progress sent with DONE is a 422); a DONE or CANCELLED action is reopened
/// (OPEN or IN_PROGRESS) before it is closed the other way or, when DONE,
/// given another progress (else 409).
#[utoipa::path(patch, path = "/actions/{id}", tag = "actions", params(("id" = Uuid, Path)), request_body = UpdateActionRequest,
    responses((status = 200, body = ActionResponse), (status = 403),
        (status = 409, description = "The change does not follow from the action's status: a DONE or CANCELLED action must be reopened first.")),
    security(("bearer" = [])))]
async fn update_action(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<ActionId>,
    Json(body): Json<UpdateActionRequest>,
) -> ApiResult<axum::Json<ActionResponse>> {
    let org = auth.caller.organization_id;
    let mut tx = auth.begin(&state.pool).await?;
    // concurrent patches each merge onto the row the other wrote
    db::action_plans::lock(&mut tx, org, id).await?;
    let current = db::action_plans::find_visible(&mut tx, &auth.caller, id)
        .await?
        .ok_or(ApiError::NotFound("action"))?;
    require_editor(&current, &auth)?;

    let fields = changed_fields(&mut tx, org, &current, body).await?;
    let action = db::action_plans::update(&mut tx, org, id, &fields)
        .await?
        .ok_or(ApiError::NotFound("action"))?;
    tx.commit().await?;
    if action.status != current.status {
        tracing::info!(audit = "action_status_changed", actor_id = %auth.caller.user_id, action_id = %action.id, from = current.status.as_str(), to = action.status.as_str(), "action status changed");
    }
    Ok(axum::Json(action.into()))
}

/// `current` with the request's changes, checked: a 422 for invalid fields,
/// then a 409 for a status change the action's state refuses.
async fn changed_fields(
    tx: &mut PgConnection,
    org: OrganizationId,
    current: &ActionRow,
    body: UpdateActionRequest,
) -> ApiResult<ActionFields> {
    let mut errors = Vec::new();
    let mut fields = ActionFields {
        title: current.title.clone(),
        description: current.description.clone(),
        owner_id: current.owner_id,
        due_date: current.due_date,
        progress: current.progress,
        status: current.status,
    };
    if let Some(raw) = body.title {
        fields.title = title(&raw, &mut errors);
    }
    if let Some(raw) = body.description {
        fields.description = description(raw.as_deref(), &mut errors);
    }
    if let Some(owner_id) = body.owner_id {
        // re-sending the current owner is no change, even if since deactivated
        if let Some(new) = owner_id
            && owner_id != current.owner_id
        {
            check_owner(tx, org, new, &mut errors).await?;
        }
        fields.owner_id = owner_id;
    }
    fields.due_date = merge(current.due_date, body.due_date.map(|d| d.map(|d| d.0)));
    let now = ActionState {
        status: current.status,
        progress: current.progress,
    };
    let mut conflict = None;
    match next_action_state(Some(now), body.status, body.progress.map(|p| p.0)) {
        Ok(next) => {
            fields.status = next.status;
            fields.progress = next.progress;
        }
        Err(e) if e.is_invalid_request() => errors.push(FieldError::new("progress", e.to_string())),
        Err(e) => conflict = Some(e),
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    // a change that is valid in itself but not from the state the action is in
    if let Some(e) = conflict {
        return Err(ApiError::conflict("action_state", e.to_string()));
    }
    Ok(fields)
}

/// Delete an action plan and its comments.
#[utoipa::path(delete, path = "/actions/{id}", tag = "actions", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
async fn delete_action(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<ActionId>,
) -> ApiResult<StatusCode> {
    let mut conn = auth.begin(&state.pool).await?;
    let action = db::action_plans::find_visible(&mut conn, &auth.caller, id)
        .await?
        .ok_or(ApiError::NotFound("action"))?;
    require_editor(&action, &auth)?;
    if !db::action_plans::delete(&mut conn, auth.caller.organization_id, action.id).await? {
        return Err(ApiError::NotFound("action"));
    }
    conn.commit().await?;
    tracing::info!(audit = "action_deleted", actor_id = %auth.caller.user_id, action_id = %action.id, kpi_id = %action.kpi_id, "action deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ActionRow)]
pub struct ActionResponse {
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
}

impl From<ActionRow> for ActionResponse {
    fn from(row: ActionRow) -> Self {
        Self {
            id: row.id,
            kpi_id: row.kpi_id,
            organization_id: row.organization_id,
            title: row.title,
            description: row.description,
            owner_id: row.owner_id,
            created_by: row.created_by,
            due_date: row.due_date,
            progress: row.progress,
            status: row.status,
            is_late: row.is_late,
            closed_at: row.closed_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_tells_null_from_absent() {
        let body: UpdateActionRequest =
            serde_json::from_str(r#"{"description":null,"progress":40}"#).expect("valid body");
        assert_eq!(body.description, Some(None));
        assert_eq!(body.progress, Some(BoundedInt(40)));
        assert_eq!(body.owner_id, None);
        assert_eq!(body.title, None);
    }

    #[test]
    fn status_filter_accepts_repeats_and_commas() {
        assert_eq!(
            status_filter(Some(
                "status=open,DONE&status=IN_PROGRESS&limit=5&status=done"
            ))
            .expect("valid filter"),
            [
                ActionStatus::Open,
                ActionStatus::Done,
                ActionStatus::InProgress
            ]
        );
        assert!(status_filter(None).expect("no filter").is_empty());
        assert!(status_filter(Some("status=LATE")).is_err());
    }
}
