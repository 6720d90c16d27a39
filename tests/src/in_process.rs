//! In-process tests: the real router (`kpix_api::build_router`) over a
//! database of the test's own and a temporary object store, called directly
//! with `tower::ServiceExt::oneshot`: no process to start, no socket.
//!
//! For the tests of what a request answers (validation, rights, the data
//! returned). What needs the processes themselves (the worker, signals, logs,
//! ports, client addresses, a database restart) stays with [`TestApp`].
//!
//! ```no_run
//! # async fn example() {
//! use kpix_tests::{RouterApp, assert_problem};
//! let app = RouterApp::start().await;
//! let admin = app.signup("Acme").await;
//! let user = app.create_user(&admin, "USER").await;
//! let resp = app.post_json(&user, "/teams", &serde_json::json!({"name": "Ops"})).await;
//! assert_problem(&resp, 403);
//! # }
//! ```

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{HeaderValue, Request, Uri, header},
};
use kpix_shared::config::{ApiConfig, CommonConfig, LogFormat, RateLimits};
use reqwest::header::HeaderMap;
use sqlx::PgPool;
use tower::ServiceExt;

use crate::{
    ApiClient, Transport, connect_test_database,
    database::{admin_url, create_database, drop_database_blocking, with_database},
    random_alphanumeric,
};

/// The client address every in-process request comes from, as the server
/// would record it for a local client.
const PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000);

/// The router of `kpix-api` on a database of its own. The request helpers are
/// those of its [`ApiClient`], which it dereferences to. Dropping it drops the
/// database.
#[derive(Debug)]
pub struct RouterApp {
    /// URL of this test's own database.
    pub database_url: String,
    pub database_name: String,
    /// The folder behind the object store (uploaded files land here).
    pub storage_dir: PathBuf,
    /// The JWT secret, to forge or sign tokens in tests.
    pub jwt_secret: String,
    api: ApiClient,
    admin_url: String,
    _storage: tempfile::TempDir,
}

impl Drop for RouterApp {
    fn drop(&mut self) {
        drop_database_blocking(self.admin_url.clone(), self.database_name.clone());
    }
}

impl std::ops::Deref for RouterApp {
    type Target = ApiClient;

    fn deref(&self) -> &ApiClient {
        &self.api
    }
}

impl RouterApp {
    /// Builds the router with the settings a [`TestApp`](crate::TestApp)'s
    /// process gets.
    pub async fn start() -> RouterApp {
        let admin_url = admin_url();
        let database_name = create_database(&admin_url).await;
        let database_url = with_database(&admin_url, &database_name);
        let storage = tempfile::Builder::new()
            .prefix("kpix-test-storage-")
            .tempdir()
            .expect("create storage folder");
        let storage_dir = storage.path().to_path_buf();
        let jwt_secret = random_alphanumeric(48);
        let config = default_config(
            database_url.clone(),
            format!("file://{}", storage_dir.display()),
            jwt_secret.clone(),
        );
        // the same start-up as the binary's: store check, migrations (all
        // applied already: the database is a clone of the template), pool
        let state = kpix_api::build_state(config, None)
            .await
            .expect("build the API state");
        let client = reqwest::Client::builder()
            .build()
            .expect("a request builder");
        RouterApp {
            database_url,
            database_name,
            storage_dir,
            jwt_secret,
            api: ApiClient {
                base_url: "http://kpix.test".to_owned(),
                client,
                transport: Transport::Router(kpix_api::build_router(state)),
            },
            admin_url,
            _storage: storage,
        }
    }

    /// A small pool on this test's database, for arranging or checking rows
    /// directly.
    pub async fn db(&self) -> PgPool {
        connect_test_database(&self.database_url).await
    }
}

/// The settings `kpix-api` reads when only the database, the store and the
/// secret are set, as [`TestApp`](crate::TestApp) starts it: the defaults of
/// `ApiConfig::from_env`, which reads only the process's environment.
fn default_config(database_url: String, storage_url: String, jwt_secret: String) -> ApiConfig {
    ApiConfig {
        common: CommonConfig {
            database_url,
            storage_url,
            log_format: LogFormat::Json,
            otel_endpoint: None,
            max_upload_bytes: 50 * 1024 * 1024,
            max_import_rows: 2_000_000,
            // a test sends few requests at once
            database_max_connections: 5,
        },
        jwt_secret: jwt_secret.into_bytes(),
        bind_addr: SocketAddr::new(PEER.ip(), 0),
        cors_allowed_origins: Vec::new(),
        access_token_ttl: Duration::from_secs(900),
        refresh_token_ttl: Duration::from_secs(30 * 86_400),
        request_timeout: Duration::from_secs(30),
        max_json_bytes: 1024 * 1024,
        password_hash_concurrency: 2,
        trusted_proxies: Vec::new(),
        header_read_timeout: Duration::from_secs(10),
        metrics_addr: None,
        rate_limits: RateLimits {
            signups_per_hour: 20,
            logins_per_minute: 60,
            refreshes_per_minute: 300,
            uploads_per_minute: 60,
        },
    }
}

/// Calls the router with `request` as the server would hand it over: the
/// target in origin form with a `Host` header, a `Content-Length` for a body
/// of known size (as the HTTP client sends), and the client's address.
/// Returns the status, the headers and the body as text.
pub(crate) async fn call(
    router: &axum::Router,
    request: reqwest::Request,
) -> (u16, HeaderMap, String) {
    let mut request = Request::<reqwest::Body>::try_from(request).expect("an HTTP request");
    let uri = request.uri().clone();
    if let Some(authority) = uri.authority()
        && let Ok(host) = HeaderValue::from_str(authority.as_str())
    {
        request.headers_mut().entry(header::HOST).or_insert(host);
    }
    if let Some(length) = request.body().as_bytes().map(<[u8]>::len) {
        request
            .headers_mut()
            .entry(header::CONTENT_LENGTH)
            .or_insert(HeaderValue::from(length));
    }
    *request.uri_mut() = uri.path_and_query().map_or_else(
        || Uri::from_static("/"),
        |target| Uri::try_from(target.as_str()).expect("an origin-form target"),
    );
    request.extensions_mut().insert(ConnectInfo(PEER));
    let response = router
        .clone()
        .oneshot(request.map(Body::new))
        .await
        .unwrap_or_else(|never| match never {});
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("read response body");
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}
