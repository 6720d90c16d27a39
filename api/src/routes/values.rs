//! KPI values: entered by period, status computed by the one rule in
//! `shared`, corrected and deleted; and the series for charts.
use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, NaiveDate, Utc};
use kpix_shared::{
    db::{
        self, Caller,
        kpi_values::{DateRange, NewValue, SeriesPoint, ValueRow},
    },
    domain::{Direction, Status, check_period_end},
    ids::{ImportJobId, KpiId, OrganizationId, UserId, ValueId},
    validate,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult},
    extract::{
        ApiDate, ApiDecimal, AuthConn, AuthUser, Json, OptionalText, Page, Pagination, Path,
        PeriodPageParams, Query,
    },
    patch::{double_option, merge, non_null},
    routes::kpis::visible_kpi,
    routes::wire,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_values, create_value))
        .routes(routes!(get_value, update_value, delete_value))
        .routes(routes!(get_series))
}

/// A value's comment: at most 2000 characters.
type Comment = OptionalText<2000>;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Periods ending on or after this date.
    #[param(inline)]
    pub from: Option<ApiDate>,
    /// Periods starting on or before this date.
    #[param(inline)]
    pub to: Option<ApiDate>,
}

impl RangeQuery {
    fn range(&self) -> ApiResult<DateRange> {
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            return Err(ApiError::invalid("from", "must not be after `to`"));
        }
        Ok(DateRange {
            from: self.from.map(|d| d.0),
            to: self.to.map(|d| d.0),
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"period_start": "2025-03-01", "value": 3.2, "comment": "after the new supplier"}))]
#[serde(deny_unknown_fields)]
pub struct CreateValueRequest {
    /// Any date inside the period; stored as the period's first day.
    #[serde(alias = "date")]
    pub period_start: ApiDate,
    /// Optional; when sent it must be the period's last day.
    pub period_end: Option<ApiDate>,
    pub value: ApiDecimal,
    pub comment: Option<Comment>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"value": 3.1, "comment": null}))]
#[serde(deny_unknown_fields)]
pub struct UpdateValueRequest {
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub value: Option<ApiDecimal>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Comment>)]
    pub comment: Option<Option<Comment>>,
}

fn comment_text(raw: Option<&str>) -> ApiResult<Option<String>> {
    match raw {
        None => Ok(None),
        Some(text) => {
            validate::optional_text(text, Comment::MAX).map_err(|m| ApiError::invalid("comment", m))
        }
    }
}

/// Loads a value whose KPI the caller can see, with that KPI; `to_correct`
/// share-locks the KPI as an entry does, so that the correction uses the
/// thresholds of a change in progress once it commits.
async fn visible_value(
    conn: &mut PgConnection,
    caller: &Caller,
    id: ValueId,
    to_correct: bool,
) -> ApiResult<(ValueRow, db::kpis::KpiRow)> {
    let value = db::kpi_values::find(conn, caller.organization_id, id)
        .await?
        .ok_or(ApiError::NotFound("value"))?;
    let kpi = if to_correct {
        db::kpis::find_visible_for_value(conn, caller, value.kpi_id).await?
    } else {
        db::kpis::find_visible(conn, caller, value.kpi_id).await?
    };
    let kpi = kpi.ok_or(ApiError::NotFound("value"))?;
    Ok((value, kpi))
}

/// Values of a KPI, newest period first.
#[utoipa::path(get, path = "/kpis/{id}/values", tag = "values",
    params(("id" = Uuid, Path), RangeQuery, PeriodPageParams),
    responses((status = 200, body = Vec<ValueResponse>), (status = 404)), security(("bearer" = [])))]
async fn list_values(
    AuthConn { auth, mut conn }: AuthConn,
    Path(id): Path<KpiId>,
    Query(query): Query<RangeQuery>,
    pagination: Pagination,
) -> ApiResult<Page<ValueResponse>> {
    let range = query.range()?;
    let rows =
        db::kpi_values::list(&mut conn, &auth.caller, id, range, pagination.request()?).await?;
    // the list is of visible KPIs only: an empty one may be invisible
    if rows.is_empty() {
        visible_kpi(&mut conn, &auth.caller, id).await?;
    }
    Ok(pagination.respond(rows, |v| v.period_start.to_string()))
}

/// Enter the value of a period; 409 when that period already has one.
#[utoipa::path(post, path = "/kpis/{id}/values", tag = "values", params(("id" = Uuid, Path)), request_body = CreateValueRequest,
    responses((status = 201, body = ValueResponse), (status = 404), (status = 409), (status = 422)), security(("bearer" = [])))]
async fn create_value(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<KpiId>,
    Json(body): Json<CreateValueRequest>,
) -> ApiResult<(StatusCode, axum::Json<ValueResponse>)> {
    let comment = comment_text(body.comment.as_deref())?;
    let mut tx = auth.begin(&state.pool).await?;
    let kpi = db::kpis::find_visible_for_value(&mut tx, &auth.caller, id)
        .await?
        .ok_or(ApiError::NotFound("kpi"))?;
    let period = kpi.frequency.period_containing(body.period_start.0);
    if let Some(ApiDate(end)) = body.period_end {
        check_period_end(kpi.frequency, period, end)
            .map_err(|e| ApiError::invalid("period_end", e.to_string()))?;
    }
    let new = NewValue {
        organization_id: auth.caller.organization_id,
        kpi_id: kpi.id,
        period,
        value: body.value.0,
        comment: comment.as_deref(),
        created_by: auth.caller.user_id,
    };
    let Some(value) =
        db::kpi_values::insert(&mut tx, new, kpi.direction, &kpi.thresholds()).await?
    else {
        let existing = db::kpi_values::find_by_period(&mut tx, kpi.id, period.start).await?;
        return Err(period_taken(period.start, existing));
    };
    tx.commit().await?;
    tracing::info!(audit = "value_created", actor_id = %auth.caller.user_id, kpi_id = %kpi.id, value_id = %value.id, period_start = %value.period_start, "KPI value entered");
    Ok((StatusCode::CREATED, axum::Json(value.into())))
}

/// The 409 of an entry for a period that has a value, naming it when it is
/// visible (a concurrent deletion may have removed it since).
fn period_taken(start: NaiveDate, existing: Option<ValueRow>) -> ApiError {
    let detail = match existing {
        Some(v) => format!(
            "the period starting {start} already has a value (id {}); correct it with PATCH /values/{}",
            v.id, v.id
        ),
        None => format!("the period starting {start} already has a value"),
    };
    ApiError::conflict("duplicate_period", detail)
}

/// A value.
#[utoipa::path(get, path = "/values/{id}", tag = "values", params(("id" = Uuid, Path)),
    responses((status = 200, body = ValueResponse), (status = 404)), security(("bearer" = [])))]
async fn get_value(
    AuthConn { auth, mut conn }: AuthConn,
    Path(id): Path<ValueId>,
) -> ApiResult<axum::Json<ValueResponse>> {
    Ok(axum::Json(
        visible_value(&mut conn, &auth.caller, id, false)
            .await?
            .0
            .into(),
    ))
}

/// Correct a value or its comment; the status is recomputed with the KPI's
/// current thresholds.
#[utoipa::path(patch, path = "/values/{id}", tag = "values", params(("id" = Uuid, Path)), request_body = UpdateValueRequest,
    responses((status = 200, body = ValueResponse), (status = 404), (status = 422)), security(("bearer" = [])))]
async fn update_value(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<ValueId>,
    Json(body): Json<UpdateValueRequest>,
) -> ApiResult<axum::Json<ValueResponse>> {
    let new_comment = body
        .comment
        .map(|c| comment_text(c.as_deref()))
        .transpose()?;
    let mut tx = auth.begin(&state.pool).await?;
    let (current, kpi) = visible_value(&mut tx, &auth.caller, id, true).await?;
    let comment = merge(current.comment.clone(), new_comment);
    // a new value is judged by the KPI's current rule; a comment alone keeps the past colour
    let updated = match body.value {
        Some(ApiDecimal(value)) => {
            db::kpi_values::update(
                &mut tx,
                id,
                value,
                comment.as_deref(),
                kpi.direction,
                &kpi.thresholds(),
            )
            .await?
        }
        None => db::kpi_values::update_comment(&mut tx, id, comment.as_deref()).await?,
    };
    tx.commit().await?;
    tracing::info!(audit = "value_updated", actor_id = %auth.caller.user_id, kpi_id = %kpi.id, value_id = %id, "KPI value corrected");
    Ok(axum::Json(updated.into()))
}

/// Delete a value (its author, the dashboard's owner or an ADMIN).
#[utoipa::path(delete, path = "/values/{id}", tag = "values", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
async fn delete_value(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<ValueId>,
) -> ApiResult<StatusCode> {
    let mut tx = auth.begin(&state.pool).await?;
    let (value, kpi) = visible_value(&mut tx, &auth.caller, id, false).await?;
    if !(kpi.editable_by(&auth.caller) || value.created_by == Some(auth.caller.user_id)) {
        return Err(ApiError::forbidden(
            "only the value's author, the dashboard's owner or an ADMIN may delete it",
        ));
    }
    db::kpi_values::delete(&mut tx, auth.caller.organization_id, id).await?;
    tx.commit().await?;
    tracing::info!(audit = "value_deleted", actor_id = %auth.caller.user_id, kpi_id = %kpi.id, value_id = %id, "KPI value deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The chart of a KPI: points oldest first, with the thresholds each was judged by.
#[utoipa::path(get, path = "/kpis/{id}/series", tag = "values", params(("id" = Uuid, Path), RangeQuery),
    responses((status = 200, body = Vec<SeriesPointResponse>), (status = 404)), security(("bearer" = [])))]
async fn get_series(
    AuthConn { auth, mut conn }: AuthConn,
    Path(id): Path<KpiId>,
    Query(query): Query<RangeQuery>,
) -> ApiResult<axum::Json<Vec<SeriesPointResponse>>> {
    let range = query.range()?;
    let kpi = visible_kpi(&mut conn, &auth.caller, id).await?;
    Ok(axum::Json(wire(
        db::kpi_values::series(&mut conn, kpi.id, range).await?,
    )))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ValueRow)]
pub struct ValueResponse {
    pub id: ValueId,
    pub kpi_id: KpiId,
    pub organization_id: OrganizationId,
    #[serde(serialize_with = "crate::json_format::date")]
    pub period_start: NaiveDate,
    #[serde(serialize_with = "crate::json_format::date")]
    pub period_end: NaiveDate,
    #[serde(serialize_with = "crate::json_format::decimal")]
    pub value: Decimal,
    pub status: Status,
    /// RED and beyond the red level.
    pub critical: bool,
    #[serde(serialize_with = "crate::json_format::decimal")]
    pub threshold_green: Decimal,
    #[serde(serialize_with = "crate::json_format::decimal")]
    pub threshold_orange: Decimal,
    #[serde(serialize_with = "crate::json_format::optional_decimal")]
    pub threshold_red: Option<Decimal>,
    pub direction: Direction,
    pub comment: Option<String>,
    pub created_by: Option<UserId>,
    pub import_job_id: Option<ImportJobId>,
    #[serde(serialize_with = "crate::json_format::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::json_format::timestamp")]
    pub updated_at: DateTime<Utc>,
}

impl From<ValueRow> for ValueResponse {
    fn from(row: ValueRow) -> Self {
        Self {
            id: row.id,
            kpi_id: row.kpi_id,
            organization_id: row.organization_id,
            period_start: row.period_start,
            period_end: row.period_end,
            value: row.value,
            status: row.status,
            critical: row.critical,
            threshold_green: row.threshold_green,
            threshold_orange: row.threshold_orange,
            threshold_red: row.threshold_red,
            direction: row.direction,
            comment: row.comment,
            created_by: row.created_by,
            import_job_id: row.import_job_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A point of a KPI's chart.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = SeriesPoint)]
pub struct SeriesPointResponse {
    #[serde(serialize_with = "crate::json_format::date")]
    pub period_start: NaiveDate,
    #[serde(serialize_with = "crate::json_format::date")]
    pub period_end: NaiveDate,
    #[serde(serialize_with = "crate::json_format::decimal")]
    pub value: Decimal,
    pub status: Status,
    #[serde(serialize_with = "crate::json_format::decimal")]
    pub threshold_green: Decimal,
    #[serde(serialize_with = "crate::json_format::decimal")]
    pub threshold_orange: Decimal,
    #[serde(serialize_with = "crate::json_format::optional_decimal")]
    pub threshold_red: Option<Decimal>,
}

impl From<SeriesPoint> for SeriesPointResponse {
    fn from(row: SeriesPoint) -> Self {
        Self {
            period_start: row.period_start,
            period_end: row.period_end,
            value: row.value,
            status: row.status,
            threshold_green: row.threshold_green,
            threshold_orange: row.threshold_orange,
            threshold_red: row.threshold_red,
        }
    }
}
