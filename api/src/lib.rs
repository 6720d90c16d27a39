//! `kpix-api`: the HTTP server. `build_router` assembles the routes of every
//! domain and the cross-cutting layers; `serve` runs it until SIGTERM.
pub mod error;
pub mod extract;
pub mod json_format;
pub mod openapi;
pub mod patch;
pub mod rate_limit;
pub mod routes;
pub mod state;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, Method, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use kpix_shared::{auth::tokens::TokenKeys, config::ApiConfig, db, storage::Storage};
use tokio::sync::Semaphore;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{error::ApiError, rate_limit::RateLimiters, state::AppState};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the state from the configuration: pool, migrations, storage.
pub async fn build_state(
    config: ApiConfig,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> anyhow::Result<AppState> {
    // the store first: a wrong bucket stops the start before any migration
    let storage = Storage::from_url(&config.common.storage_url)?;
    storage.check_writable().await.map_err(|e| {
        anyhow::anyhow!(
            "the object store of STORAGE_URL cannot be written ({e}): check the bucket, the credentials and the endpoint"
        )
    })?;
    db::migrate(&config.common.database_url).await?;
    let pool = db::connect(
        &config.common.database_url,
        config.common.database_max_connections,
    )
    .await?;
    kpix_shared::metrics::spawn_samplers(pool.clone());
    let rate_limits = Arc::new(RateLimiters::new(&config.rate_limits));
    let idle = Arc::downgrade(&rate_limits);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        while let Some(limits) = {
            every.tick().await;
            idle.upgrade()
        } {
            limits.forget_idle();
        }
    });
    Ok(AppState {
        pool,
        tokens: Arc::new(TokenKeys::new(&config.jwt_secret, config.access_token_ttl)),
        hashing: Arc::new(Semaphore::new(config.password_hash_concurrency)),
        storage,
        metrics,
        rate_limits,
        config: Arc::new(config),
    })
}

/// The OpenAPI router of everything under `/api/v1`.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(routes::auth::router())
        .merge(routes::users::router())
        .merge(routes::teams::router())
        .merge(routes::dashboards::router())
        .merge(routes::kpis::router())
        .merge(routes::values::router())
        .merge(routes::actions::router())
        .merge(routes::comments::router())
        .merge(routes::imports::router())
        .merge(routes::reporting::router())
}

pub fn build_router(state: AppState) -> Router {
    let (api, document) = api_routes().split_for_parts();
    let (health, _) = routes::health::router().split_for_parts();
    let document = openapi::finished(document);
    // the server refuses the query parameters its own document does not list
    let query_names = Arc::new(extract::query::QueryNames::of(&document, "/api/v1"));
    let document = Arc::new(document);
    let api = api
        .layer(middleware::from_fn_with_state(
            query_names,
            extract::query::refuse_unknown_parameters,
        ))
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let document = document.clone();
                async move { axum::Json(document.as_ref().clone()) }
            }),
        )
        .merge(routes::docs::router());
    let cors = cors_layer(&state.config.cors_allowed_origins);
    Router::new()
        .nest("/api/v1", api)
        .merge(health)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_json_bytes))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            timeout_and_metrics,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(cors)
        .with_state(state)
}

/// The span of a request: a child of the caller's trace when it sends a
/// W3C `traceparent`; none for the health probes, which would only fill the
/// traces with noise.
fn request_span(request: &Request) -> tracing::Span {
    let path = request.uri().path();
    if path.starts_with("/health/") {
        return tracing::Span::none();
    }
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or_default();
    // user_id is recorded once the caller is known (extract::auth)
    let span = tracing::info_span!("request", method = %request.method(), uri = %path, route, request_id, user_id = tracing::field::Empty);
    if let Some(traceparent) = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
    {
        kpix_shared::telemetry::continue_trace(&span, traceparent);
    }
    span
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            REQUEST_ID,
        ])
        .expose_headers([
            header::LINK,
            header::LOCATION,
            header::RETRY_AFTER,
            REQUEST_ID,
        ])
        .max_age(Duration::from_secs(600))
}

/// Bounds each request's time (504 problem after the configured timeout) and
/// records Prometheus metrics by matched route.
async fn timeout_and_metrics(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = match tokio::time::timeout(state.config.request_timeout, next.run(request)).await
    {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    };
    let labels = [
        ("route", route),
        ("method", method),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

async fn not_found() -> ApiError {
    ApiError::NotFound("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Serves until `shutdown` completes, then drains in-flight requests. A
/// client that has not sent its request headers within `header_read_timeout`
/// is disconnected (axum's own `serve` cannot bound it): slow-header clients
/// cannot hold connections open.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::{
        rt::{TokioExecutor, TokioIo, TokioTimer},
        server::{conn::auto, graceful::GracefulShutdown},
        service::TowerToHyperService,
    };
    use tower::ServiceExt;

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // out of file descriptors and the like: wait rather than spin
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service =
            router
                .clone()
                .map_request(move |mut request: Request<hyper::body::Incoming>| {
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    request
                });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Serves `/metrics` on its own address (`METRICS_ADDR`), away from the
/// public port, until `shutdown` completes.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, routes::health::metrics_router().with_state(state))
        .with_graceful_shutdown(shutdown)
        .await
}
