//! KPIs of a dashboard: definition, thresholds, and their latest value.
use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, NaiveDate, Utc};
use kpix_shared::{
    db::{
        self, Caller,
        kpis::{KpiFields, KpiRow},
    },
    domain::{Direction, Frequency, Status, Thresholds},
    ids::{DashboardId, KpiId, OrganizationId, UserId},
    validate,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult, FieldError},
    extract::{
        ApiDecimal, AuthConn, AuthUser, Json, OptionalText, Page, PageParams, Pagination, Path,
        Query, Text,
    },
    patch::{double_option, merge, non_null},
    routes::dashboards::{editable_dashboard, visible_dashboard},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_kpis, create_kpi))
        .routes(routes!(get_kpi, update_kpi, delete_kpi))
}

/// A KPI's texts.
type Code = OptionalText<50>;
type Name = Text<200>;
type Description = OptionalText<5000>;
type Unit = OptionalText<50>;

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"code": "QUA-REBUT", "name": "Taux de rebut", "unit": "%", "frequency": "MONTHLY", "direction": "DOWN_IS_BETTER", "threshold_green": 2, "threshold_orange": 4, "threshold_red": 6}))]
#[serde(deny_unknown_fields)]
pub struct CreateKpiRequest {
    /// Short key unique in the organization, e.g. `LOG-OTD`, used by import files.
    pub code: Option<Code>,
    pub name: Name,
    pub description: Option<Description>,
    pub unit: Option<Unit>,
    pub frequency: Frequency,
    pub direction: Direction,
    pub threshold_green: ApiDecimal,
    pub threshold_orange: ApiDecimal,
    pub threshold_red: Option<ApiDecimal>,
    /// The responsible person; defaults to the creator.
    pub owner_id: Option<UserId>,
    pub is_active: Option<bool>,
    /// Listed among the direction report's strategic KPIs (default false).
    pub is_strategic: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"threshold_green": 1.5, "threshold_orange": 3.5, "recompute_history": true}))]
#[serde(deny_unknown_fields)]
pub struct UpdateKpiRequest {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Code>)]
    pub code: Option<Option<Code>>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub name: Option<Name>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Description>)]
    pub description: Option<Option<Description>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Unit>)]
    pub unit: Option<Option<Unit>>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub frequency: Option<Frequency>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub direction: Option<Direction>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub threshold_green: Option<ApiDecimal>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub threshold_orange: Option<ApiDecimal>,
    #[serde(default, deserialize_with = "double_option")]
    pub threshold_red: Option<Option<ApiDecimal>>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub owner_id: Option<UserId>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub is_active: Option<bool>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub is_strategic: Option<bool>,
    /// Also recompute the status of every stored value with the new rule.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub recompute_history: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UpdateKpiQuery {
    /// Same as the body field; either one turns it on.
    #[serde(default)]
    pub recompute_history: bool,
}

/// A nullable PATCH text as sent.
fn texts<T: Into<String>>(patch: Option<Option<T>>) -> Option<Option<String>> {
    patch.map(|text| text.map(Into::into))
}

/// Loads a visible KPI or answers 404.
pub async fn visible_kpi(conn: &mut PgConnection, caller: &Caller, id: KpiId) -> ApiResult<KpiRow> {
    db::kpis::find_visible(conn, caller, id)
        .await?
        .ok_or(ApiError::NotFound("kpi"))
}

/// Checks the editable fields of a KPI, all at once. The owner is checked
/// when new, so a KPI whose owner has left can still be edited.
async fn validate_fields(
    conn: &mut PgConnection,
    caller: &Caller,
    fields: KpiFields,
    previous_owner: Option<UserId>,
) -> ApiResult<KpiFields> {
    let mut errors = Vec::new();
    let code = match fields
        .code
        .as_deref()
        .map(|c| validate::optional_text(c, Code::MAX))
    {
        Some(Ok(code)) => code,
        Some(Err(m)) => {
            errors.push(FieldError::new("code", m));
            None
        }
        None => None,
    };
    let name = validate::required_text(&fields.name, Name::MAX)
        .map_err(|m| errors.push(FieldError::new("name", m)))
        .unwrap_or_default();
    let mut optional = |field: &str, value: Option<String>, max| match value
        .as_deref()
        .map(|t| validate::optional_text(t, max))
    {
        Some(Ok(text)) => text,
        Some(Err(m)) => {
            errors.push(FieldError::new(field, m));
            None
        }
        None => None,
    };
    let description = optional("description", fields.description, Description::MAX);
    let unit = optional("unit", fields.unit, Unit::MAX);
    if let Err(e) = fields.thresholds.validate(fields.direction) {
        errors.push(FieldError::new(e.field, e.message));
    }
    if previous_owner != Some(fields.owner_id)
        && !db::users::is_active_member(conn, caller.organization_id, fields.owner_id).await?
    {
        errors.push(FieldError::new(
            "owner_id",
            "must be an active user of the organization",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(KpiFields {
        code,
        name,
        description,
        unit,
        ..fields
    })
}

fn code_taken(error: sqlx::Error) -> ApiError {
    if db::is_unique_violation(&error, db::kpis::CODE_KEY) {
        ApiError::conflict(
            "kpi_code_taken",
            "another KPI of the organization has this code",
        )
    } else {
        error.into()
    }
}

/// KPIs of a dashboard, with their latest value.
#[utoipa::path(get, path = "/dashboards/{id}/kpis", tag = "kpis",
    params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Vec<KpiResponse>), (status = 404)), security(("bearer" = [])))]
async fn list_kpis(
    AuthConn { auth, mut conn }: AuthConn,
    Path(id): Path<DashboardId>,
    pagination: Pagination,
) -> ApiResult<Page<KpiResponse>> {
    let rows =
        db::kpis::list_by_dashboard(&mut conn, &auth.caller, id, pagination.request()?).await?;
    // the list is of visible dashboards only: an empty one may be invisible
    if rows.is_empty() {
        visible_dashboard(&mut conn, &auth.caller, id).await?;
    }
    Ok(pagination.respond(rows, |k| k.id.to_string()))
}

/// Create a KPI on a dashboard (its owner or an ADMIN).
#[utoipa::path(post, path = "/dashboards/{id}/kpis", tag = "kpis", params(("id" = Uuid, Path)), request_body = CreateKpiRequest,
    responses((status = 201, body = KpiResponse), (status = 403), (status = 404), (status = 409), (status = 422)), security(("bearer" = [])))]
async fn create_kpi(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<DashboardId>,
    Json(body): Json<CreateKpiRequest>,
) -> ApiResult<(StatusCode, axum::Json<KpiResponse>)> {
    let mut tx = auth.begin(&state.pool).await?;
    let dashboard = editable_dashboard(&mut tx, &auth.caller, id).await?;
    let fields = KpiFields {
        owner_id: body.owner_id.unwrap_or(auth.caller.user_id),
        code: body.code.map(String::from),
        name: body.name.into(),
        description: body.description.map(String::from),
        unit: body.unit.map(String::from),
        frequency: body.frequency,
        direction: body.direction,
        thresholds: Thresholds {
            green: body.threshold_green.0,
            orange: body.threshold_orange.0,
            red: body.threshold_red.map(|red| red.0),
        },
        is_active: body.is_active.unwrap_or(true),
        is_strategic: body.is_strategic.unwrap_or(false),
    };
    let fields = validate_fields(&mut tx, &auth.caller, fields, None).await?;
    let kpi_id = db::kpis::insert(&mut tx, auth.caller.organization_id, dashboard.id, &fields)
        .await
        .map_err(code_taken)?;
    let kpi = visible_kpi(&mut tx, &auth.caller, kpi_id).await?;
    tx.commit().await?;
    tracing::info!(audit = "kpi_created", actor_id = %auth.caller.user_id, kpi_id = %kpi.id, dashboard_id = %kpi.dashboard_id, "KPI created");
    Ok((StatusCode::CREATED, axum::Json(kpi.into())))
}

/// A KPI with its latest value.
#[utoipa::path(get, path = "/kpis/{id}", tag = "kpis", params(("id" = Uuid, Path)),
    responses((status = 200, body = KpiResponse), (status = 404)), security(("bearer" = [])))]
async fn get_kpi(
    AuthConn { auth, mut conn }: AuthConn,
    Path(id): Path<KpiId>,
) -> ApiResult<axum::Json<KpiResponse>> {
    Ok(axum::Json(
        visible_kpi(&mut conn, &auth.caller, id).await?.into(),
    ))
}

/// Change a KPI (dashboard owner or ADMIN). New thresholds or direction apply
/// to values written from now on; `recompute_history=true` (body or query)
/// also recomputes every stored value, in the same transaction.
#[utoipa::path(patch, path = "/kpis/{id}", tag = "kpis", params(("id" = Uuid, Path), UpdateKpiQuery), request_body = UpdateKpiRequest,
    responses((status = 200, body = KpiResponse), (status = 403),
        (status = 409, description = "Another KPI of the organization has this code, or the KPI has values and the frequency would change.")),
    security(("bearer" = [])))]
async fn update_kpi(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<KpiId>,
    Query(query): Query<UpdateKpiQuery>,
    Json(body): Json<UpdateKpiRequest>,
) -> ApiResult<axum::Json<KpiResponse>> {
    let mut tx = auth.begin(&state.pool).await?;
    let current = visible_kpi(&mut tx, &auth.caller, id).await?;
    if !current.editable_by(&auth.caller) {
        return Err(ApiError::forbidden(
            "only the dashboard's owner or an ADMIN may change its KPIs",
        ));
    }
    db::kpis::lock(&mut tx, id).await?;
    let recompute = body.recompute_history == Some(true) || query.recompute_history;
    let fields = merged(&current, body);
    if fields.frequency != current.frequency && db::kpi_values::any(&mut tx, id).await? {
        // a valid change in itself, refused by the state the KPI is in
        return Err(ApiError::conflict(
            "kpi_has_values",
            "cannot change the frequency of a KPI that has values (their periods would no longer fit)",
        ));
    }
    let fields = validate_fields(&mut tx, &auth.caller, fields, Some(current.owner_id)).await?;
    db::kpis::update(&mut tx, auth.caller.organization_id, id, &fields)
        .await
        .map_err(code_taken)?;
    let recomputed = if recompute {
        Some(
            db::kpi_values::recompute_history(&mut tx, id, fields.direction, &fields.thresholds)
                .await?,
        )
    } else {
        None
    };
    let kpi = visible_kpi(&mut tx, &auth.caller, id).await?;
    tx.commit().await?;
    tracing::info!(audit = "kpi_updated", actor_id = %auth.caller.user_id, kpi_id = %id, recomputed_values = ?recomputed, "KPI updated");
    Ok(axum::Json(kpi.into()))
}

/// The KPI's fields with the request's changes (checked afterwards, as a
/// new KPI's are).
fn merged(current: &KpiRow, body: UpdateKpiRequest) -> KpiFields {
    KpiFields {
        owner_id: body.owner_id.unwrap_or(current.owner_id),
        code: merge(current.code.clone(), texts(body.code)),
        name: body.name.map_or_else(|| current.name.clone(), String::from),
        description: merge(current.description.clone(), texts(body.description)),
        unit: merge(current.unit.clone(), texts(body.unit)),
        frequency: body.frequency.unwrap_or(current.frequency),
        direction: body.direction.unwrap_or(current.direction),
        thresholds: Thresholds {
            green: body
                .threshold_green
                .map_or(current.threshold_green, |t| t.0),
            orange: body
                .threshold_orange
                .map_or(current.threshold_orange, |t| t.0),
            red: merge(
                current.threshold_red,
                body.threshold_red.map(|red| red.map(|t| t.0)),
            ),
        },
        is_active: body.is_active.unwrap_or(current.is_active),
        is_strategic: body.is_strategic.unwrap_or(current.is_strategic),
    }
}

/// Delete a KPI with its values, actions and comments (dashboard owner or ADMIN).
#[utoipa::path(delete, path = "/kpis/{id}", tag = "kpis", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
async fn delete_kpi(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<KpiId>,
) -> ApiResult<StatusCode> {
    let mut tx = auth.begin(&state.pool).await?;
    let kpi = visible_kpi(&mut tx, &auth.caller, id).await?;
    if !kpi.editable_by(&auth.caller) {
        return Err(ApiError::forbidden(
            "only the dashboard's owner or an ADMIN may delete its KPIs",
        ));
    }
    db::kpis::delete(&mut tx, auth.caller.organization_id, id).await?;
    tx.commit().await?;
    tracing::info!(audit = "kpi_deleted", actor_id = %auth.caller.user_id, kpi_id = %id, dashboard_id = %kpi.dashboard_id, "KPI deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = KpiRow)]
pub struct KpiResponse {
    pub id: KpiId,
    pub dashboard_id: DashboardId,
    pub organization_id: OrganizationId,
    /// The person responsible for the KPI.
    pub owner_id: UserId,
    pub code: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub unit: Option<String>,
    pub frequency: Frequency,
    pub direction: Direction,
    #[serde(serialize_with = "crate::json_format::decimal")]
    pub threshold_green: Decimal,
    #[serde(serialize_with = "crate::json_format::decimal")]
    pub threshold_orange: Decimal,
    #[serde(serialize_with = "crate::json_format::optional_decimal")]
    pub threshold_red: Option<Decimal>,
    pub is_active: bool,
    /// Listed among the direction report's strategic KPIs.
    pub is_strategic: bool,
    #[serde(serialize_with = "crate::json_format::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::json_format::timestamp")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::json_format::optional_decimal")]
    pub latest_value: Option<Decimal>,
    pub latest_status: Option<Status>,
    #[serde(serialize_with = "crate::json_format::optional_date")]
    pub latest_period_start: Option<NaiveDate>,
    #[serde(serialize_with = "crate::json_format::optional_date")]
    pub latest_period_end: Option<NaiveDate>,
}

impl From<KpiRow> for KpiResponse {
    fn from(row: KpiRow) -> Self {
        Self {
            id: row.id,
            dashboard_id: row.dashboard_id,
            organization_id: row.organization_id,
            owner_id: row.owner_id,
            code: row.code,
            name: row.name,
            description: row.description,
            unit: row.unit,
            frequency: row.frequency,
            direction: row.direction,
            threshold_green: row.threshold_green,
            threshold_orange: row.threshold_orange,
            threshold_red: row.threshold_red,
            is_active: row.is_active,
            is_strategic: row.is_strategic,
            created_at: row.created_at,
            updated_at: row.updated_at,
            latest_value: row.latest_value,
            latest_status: row.latest_status,
            latest_period_start: row.latest_period_start,
            latest_period_end: row.latest_period_end,
        }
    }
}
