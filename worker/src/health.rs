//! The worker's own endpoints on `WORKER_METRICS_ADDR` (DESIGN §9):
//! `/metrics`, `/health/live` (the process runs) and `/health/ready` (the
//! database and the object store answer).
use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use kpix_shared::storage::Storage;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

#[derive(Clone)]
struct Probes {
    pool: PgPool,
    storage: Storage,
    metrics: PrometheusHandle,
}

pub fn router(pool: PgPool, storage: Storage, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(ready))
        .with_state(Probes {
            pool,
            storage,
            metrics,
        })
}

async fn render(State(probes): State<Probes>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        probes.metrics.render(),
    )
}

/// 503 with a short reason (the details go to the log) while a dependency
/// does not answer: the worker keeps running and reconnects meanwhile.
async fn ready(State(probes): State<Probes>) -> (StatusCode, &'static str) {
    if let Err(e) = kpix_shared::db::ping(&probes.pool).await {
        tracing::warn!(error = %e, "not ready: database unreachable");
        return (StatusCode::SERVICE_UNAVAILABLE, "database unreachable");
    }
    if let Err(e) = probes.storage.check_reachable().await {
        tracing::warn!(error = %e, "not ready: object store unreachable");
        return (StatusCode::SERVICE_UNAVAILABLE, "object store unreachable");
    }
    (StatusCode::OK, "ok")
}
