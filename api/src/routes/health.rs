//! Liveness, readiness (database reachable) and Prometheus metrics.
use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
};

/// Health probes live outside `/api/v1`, as orchestrators expect.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(live))
        .routes(routes!(ready))
}

pub fn metrics_router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, body = HealthResponse)))]
async fn live() -> axum::Json<HealthResponse> {
    axum::Json(HealthResponse { status: "ok" })
}

/// The process can serve: the database and the object store answer.
#[utoipa::path(get, path = "/health/ready", tag = "health", responses((status = 200, body = HealthResponse), (status = 503)))]
async fn ready(State(state): State<AppState>) -> ApiResult<axum::Json<HealthResponse>> {
    kpix_shared::db::ping(&state.pool).await.map_err(|e| {
        // the reason goes to the log, not to whoever probes
        tracing::warn!(error = %e, "not ready: database unreachable");
        ApiError::Unavailable("database unreachable".into())
    })?;
    state.storage.check_reachable().await.map_err(|e| {
        tracing::warn!(error = %e, "not ready: object store unreachable");
        ApiError::Unavailable("object store unreachable".into())
    })?;
    Ok(axum::Json(HealthResponse { status: "ok" }))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    match &state.metrics {
        Some(handle) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => ApiError::Unavailable("metrics recorder not installed in this process".into())
            .into_response(),
    }
}
