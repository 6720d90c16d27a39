//! What every route shares: health, metrics, the OpenAPI document, error
//! shapes, request ids, CORS, configuration and shutdown of the real `kpix-api`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kpix_tests::{
    Session, TestApp, admin_url, assert_problem, random_alphanumeric, run_api_to_exit,
};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

// -- health and metrics -----------------------------------------------------

#[tokio::test]
async fn liveness_and_readiness_answer_ok() {
    let app = TestApp::spawn().await;

    let live = app.get_anon("/health/live").await;
    let ready = app.get_anon("/health/ready").await;

    live.assert_status(200);
    assert_eq!(live.body["status"], "ok");
    ready.assert_status(200);
    assert_eq!(ready.body["status"], "ok");
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    app.get_anon("/health/ready").await.assert_status(200);

    let mut admin = PgConnection::connect(&admin_url()).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        r#"drop database "{}" with (force)"#,
        app.database_name
    )))
    .execute(&mut admin)
    .await
    .unwrap();

    let ready = app.get_anon("/health/ready").await;
    assert_problem(&ready, 503);
    // the process itself is still alive
    app.get_anon("/health/live").await.assert_status(200);
}

#[tokio::test]
async fn connections_the_database_dropped_give_503_then_the_api_recovers() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    // warm several pooled connections
    for _ in 0..4 {
        app.get(&admin, "/dashboards").await.assert_status(200);
    }
    // as a database restart or failover does to every session of the API
    let db = app.db().await;
    let dropped: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity \
         where datname = current_database() and pid <> pg_backend_pid()",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(!dropped.is_empty(), "the API held connections");
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let resp = app.get(&admin, "/dashboards").await;
        if resp.status != 200 {
            assert_problem(&resp, 503);
        }
        statuses.push(resp.status);
    }
    assert!(
        statuses.contains(&503),
        "a dropped connection is noticed: {statuses:?}"
    );
    assert!(
        statuses.ends_with(&[200, 200, 200]),
        "the API reconnects: {statuses:?}"
    );
}

#[tokio::test]
async fn metrics_are_served_on_their_own_address_only() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr = format!("127.0.0.1:{port}");
    let app = TestApp::spawn_with(&[("METRICS_ADDR", &metrics_addr)]).await;
    app.get_anon("/health/live").await.assert_status(200);
    app.get_anon("/auth/me").await;

    // the public port has none: its per-route counts are not for everyone
    assert_problem(&app.get_anon("/metrics").await, 404);
    let metrics = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("/api/v1/auth/me"), "{text}");
    // histograms (they aggregate across replicas), not summaries
    assert!(
        text.contains("http_request_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(!text.contains("quantile="), "{text}");
    // the gauges sampled from the database: the first sample is taken as the
    // API starts, and may land just after the first scrape
    let sampled = [
        "kpix_db_pool_connections{state=\"in_use\"}",
        "kpix_queue_tasks{queue=\"kpix.import_kpi_values\",status=\"pending\"}",
    ];
    kpix_tests::poll_until(Duration::from_secs(15), || async {
        let text = reqwest::get(format!("http://{metrics_addr}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        sampled.iter().all(|s| text.contains(s)).then_some(())
    })
    .await;
}

/// An organization's admin, with a dashboard holding the monthly KPI `TRS`
/// that the import tests of this file upload values for.
async fn admin_with_kpi_trs(app: &TestApp) -> Session {
    let admin = app.signup("Acme").await;
    let dashboard = app
        .post_json(&admin, "/dashboards", &json!({"title": "Usine"}))
        .await
        .id();
    app.post_json(
        &admin,
        &format!("/dashboards/{dashboard}/kpis"),
        &json!({"code": "TRS", "name": "TRS", "frequency": "MONTHLY", "direction": "UP_IS_BETTER",
            "threshold_green": 85, "threshold_orange": 75}),
    )
    .await
    .assert_status(201);
    admin
}

fn free_address() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

#[tokio::test]
async fn the_worker_serves_its_metrics_and_probes() {
    let app = TestApp::spawn().await;
    let admin = admin_with_kpi_trs(&app).await;
    let address = free_address();
    let worker = app
        .spawn_worker_with(&[("WORKER_METRICS_ADDR", &address)])
        .await;
    worker
        .wait_for_log("metrics and probes listening", Duration::from_secs(30))
        .await;
    let get = |path: &str| reqwest::get(format!("http://{address}{path}"));
    assert_eq!(get("/health/live").await.unwrap().status(), 200);
    assert_eq!(get("/health/ready").await.unwrap().status(), 200);

    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(
            b"kpi_code,period,value\nTRS,2025-01,90\nTRS,2025-02,91\n".to_vec(),
        )
        .file_name("v.csv"),
    );
    let upload = app
        .send(
            app.authed(&admin, Method::POST, "/imports/kpi-values")
                .multipart(form),
        )
        .await;
    upload.assert_status(202);
    kpix_tests::poll_until(Duration::from_secs(60), || async {
        let job = app
            .get(&admin, &format!("/imports/jobs/{}", upload.id()))
            .await;
        (job.body["status"] == "SUCCESS").then_some(())
    })
    .await;
    let text = kpix_tests::poll_until(Duration::from_secs(10), || async {
        let text = get("/metrics").await.unwrap().text().await.unwrap();
        text.contains("kpix_jobs_total").then_some(text)
    })
    .await;
    for expected in [
        "kpix_jobs_total{queue=\"kpix.import_kpi_values\",outcome=\"succeeded\"} 1",
        "kpix_rows_imported_total 2",
        "kpix_job_duration_seconds_bucket{queue=\"kpix.import_kpi_values\",outcome=\"succeeded\",le=",
        "kpix_queue_tasks{queue=\"kpix.import_kpi_values\",status=\"pending\"}",
        "kpix_db_pool_connections{state=\"idle\"}",
    ] {
        assert!(text.contains(expected), "{expected} missing from\n{text}");
    }
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(&[("HEADER_READ_TIMEOUT_SECONDS", "1")]).await;
    let address = app.url("/health/live");
    let address = address
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: kpix\r\n")
        .await
        .unwrap();
    // one header byte every 200 ms: the request line came, the headers never end
    let trickle = async {
        loop {
            if stream.write_all(b"X").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut buffer = [0_u8; 256];
            let read = tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buffer));
            if let Ok(Ok(0) | Err(_)) = read.await {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), trickle)
        .await
        .expect("the server closed the connection within seconds");
}

// -- OpenAPI ----------------------------------------------------------------

async fn openapi(app: &TestApp) -> Value {
    let resp = app.get_anon("/openapi.json").await;
    resp.assert_status(200);
    assert!(
        resp.header("content-type")
            .unwrap_or_default()
            .starts_with("application/json")
    );
    assert!(resp.body.is_object(), "not JSON: {}", resp.text);
    resp.body
}

#[tokio::test]
async fn the_openapi_document_lists_the_auth_user_and_team_paths() {
    let app = TestApp::spawn().await;

    let doc = openapi(&app).await;

    assert!(
        doc["openapi"].as_str().unwrap_or_default().starts_with('3'),
        "{doc}"
    );
    let paths = doc["paths"].as_object().expect("paths object");
    let expected = [
        ("/auth/signup", "post"),
        ("/auth/login", "post"),
        ("/auth/refresh", "post"),
        ("/auth/logout", "post"),
        ("/auth/me", "get"),
        ("/users/members", "get"),
        ("/users", "get"),
        ("/users", "post"),
        ("/users/{id}", "get"),
        ("/users/{id}", "patch"),
        ("/teams", "get"),
        ("/teams", "post"),
        ("/teams/{id}", "get"),
        ("/teams/{id}", "patch"),
        ("/teams/{id}", "delete"),
        ("/teams/{id}/members", "post"),
        ("/teams/{id}/members/{user_id}", "delete"),
    ];
    for (path, method) in expected {
        let operation = &paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing; paths: {:?}", paths.keys()))[method];
        assert!(operation.is_object(), "{method} {path} missing");
    }
    assert!(
        doc["components"]["securitySchemes"]["bearer"].is_object(),
        "no bearer scheme"
    );
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    let base = doc["servers"][0]["url"]
        .as_str()
        .unwrap_or("/api/v1")
        .to_owned();
    let paths = doc["paths"].as_object().expect("paths object");
    assert!(!paths.is_empty());

    for (path, operations) in paths {
        let concrete = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    Uuid::now_v7().to_string()
                } else {
                    segment.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in operations.as_object().unwrap().keys() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue; // "parameters", "summary": not operations
            };
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            let resp = app
                .send(
                    app.request(method.clone(), &format!("{base}{concrete}"))
                        .json(&json!({})),
                )
                .await;
            assert_ne!(
                resp.status, 405,
                "documented {method} {path} is not served: {}",
                resp.text
            );
            assert!(
                !(resp.status == 404 && resp.body["code"] == "route_not_found"),
                "documented {method} {path} is not served: {}",
                resp.text
            );
            assert!(resp.status < 500, "{method} {path}: {}", resp.text);
        }
    }
}

// -- errors -----------------------------------------------------------------

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;

    for path in [
        "/api/v1/nope",
        "/nope",
        "/api/v2/users",
        "/api/v1/users/members/extra",
        "/api/v1/",
    ] {
        let anonymous = app.get_anon(path).await;
        assert_problem(&anonymous, 404);
        let signed_in = app.get(&admin, path).await;
        assert_problem(&signed_in, 404);
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem() {
    let app = TestApp::spawn().await;

    for (method, path) in [
        (Method::DELETE, "/auth/me"),
        (Method::GET, "/auth/login"),
        (Method::PUT, "/auth/signup"),
        (Method::DELETE, "/users"),
        (Method::PUT, "/teams"),
        (Method::POST, "/health/live"),
        (Method::DELETE, "/openapi.json"),
    ] {
        let resp = app.send(app.request(method.clone(), path)).await;
        assert_eq!(resp.status, 405, "{method} {path}: {}", resp.text);
        assert_eq!(assert_problem(&resp, 405), "method_not_allowed");
    }
}

#[tokio::test]
async fn a_405_names_the_allowed_methods() {
    // RFC 9110 §15.5.6: a 405 response MUST carry an Allow header
    let app = TestApp::spawn().await;

    let resp = app.send(app.request(Method::DELETE, "/auth/me")).await;

    assert_problem(&resp, 405);
    let allow = resp.header("allow").unwrap_or_default();
    assert!(allow.contains("GET"), "Allow: {allow:?}");
}

// -- request ids ------------------------------------------------------------

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;

    let mut seen = Vec::new();
    for (method, path) in [
        (Method::GET, "/health/live"),
        (Method::GET, "/auth/me"),
        (Method::GET, "/nope"),
        (Method::DELETE, "/auth/me"),
        (Method::GET, "/openapi.json"),
    ] {
        let resp = app.send(app.request(method.clone(), path)).await;
        let id = resp
            .header("x-request-id")
            .unwrap_or_else(|| panic!("{method} {path}: no x-request-id"))
            .to_owned();
        assert!(!id.is_empty());
        seen.push(id);
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "request ids repeat: {seen:?}");
}

#[tokio::test]
async fn a_client_request_id_is_echoed_and_logged() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    let request_id = format!("test-{}", Uuid::now_v7());

    let resp = app
        .send(
            app.request(Method::POST, "/auth/login")
                .header("x-request-id", &request_id)
                .json(&json!({"email": admin.email, "password": admin.password})),
        )
        .await;

    resp.assert_status(200);
    assert_eq!(resp.header("x-request-id"), Some(request_id.as_str()));
    let logged = app
        .log_lines()
        .into_iter()
        .any(|line| line["audit"] == "login" && line.to_string().contains(&request_id));
    assert!(logged, "no audit line with the request id:\n{}", app.logs());
}

// -- CORS -------------------------------------------------------------------

const ALLOWED: &str = "https://app.example.com";

async fn cors_app() -> TestApp {
    TestApp::spawn_with(&[(
        "CORS_ALLOWED_ORIGINS",
        "https://app.example.com/, https://admin.example.com",
    )])
    .await
}

async fn preflight(app: &TestApp, origin: &str) -> kpix_tests::TestResponse {
    app.send(
        app.request(Method::OPTIONS, "/auth/login")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,authorization",
            ),
    )
    .await
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_allowed() {
    let app = cors_app().await;

    let resp = preflight(&app, ALLOWED).await;

    assert!(
        resp.status == 200 || resp.status == 204,
        "{}: {}",
        resp.status,
        resp.text
    );
    assert_eq!(resp.header("access-control-allow-origin"), Some(ALLOWED));
    let methods = resp
        .header("access-control-allow-methods")
        .unwrap_or_default()
        .to_uppercase();
    assert!(
        methods.contains("POST") && methods.contains("PATCH"),
        "{methods}"
    );
    let headers = resp
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );
    // the second origin of the list works too
    let admin_origin = preflight(&app, "https://admin.example.com").await;
    assert_eq!(
        admin_origin.header("access-control-allow-origin"),
        Some("https://admin.example.com")
    );
}

#[tokio::test]
async fn a_preflight_from_another_origin_gets_no_allow_origin() {
    let app = cors_app().await;

    for origin in [
        "https://evil.example.com",
        "http://app.example.com",
        "https://app.example.com.evil.io",
    ] {
        let resp = preflight(&app, origin).await;
        assert_eq!(resp.header("access-control-allow-origin"), None, "{origin}");
    }
}

#[tokio::test]
async fn an_allowed_origin_reads_responses_and_their_headers() {
    let app = cors_app().await;

    let resp = app
        .send(
            app.request(Method::GET, "/health/live")
                .header("origin", ALLOWED),
        )
        .await;
    let refused = app
        .send(
            app.request(Method::GET, "/health/live")
                .header("origin", "https://evil.example.com"),
        )
        .await;

    resp.assert_status(200);
    assert_eq!(resp.header("access-control-allow-origin"), Some(ALLOWED));
    let exposed = resp
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        exposed.contains("x-request-id") && exposed.contains("link"),
        "{exposed}"
    );
    assert_eq!(refused.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn without_cors_configuration_no_origin_is_allowed() {
    let app = TestApp::spawn().await;

    let resp = preflight(&app, ALLOWED).await;

    assert_eq!(resp.header("access-control-allow-origin"), None);
}

// -- configuration ----------------------------------------------------------

const DEADLINE: Duration = Duration::from_secs(30);

fn base_env(secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", admin_url()),
        ("JWT_SECRET", secret.to_owned()),
        ("BIND_ADDR", "127.0.0.1:0".to_owned()),
        ("LOG_FORMAT", "json".to_owned()),
    ]
}

async fn run_with(env: &[(&'static str, String)]) -> kpix_tests::Finished {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_api_to_exit(&env, DEADLINE).await
}

fn assert_refused(finished: &kpix_tests::Finished, variable: &str) {
    assert!(
        !finished.status.success(),
        "exited with success: {finished:?}"
    );
    assert!(
        finished.stderr.contains(variable),
        "stderr does not name {variable}: {finished:?}"
    );
}

#[tokio::test]
async fn the_api_refuses_to_start_without_a_jwt_secret() {
    let env: Vec<_> = base_env("")
        .into_iter()
        .filter(|(k, _)| *k != "JWT_SECRET")
        .collect();

    let finished = run_with(&env).await;

    assert_refused(&finished, "JWT_SECRET");
}

#[tokio::test]
async fn the_api_refuses_a_jwt_secret_shorter_than_32_bytes() {
    let secret = random_alphanumeric(31);

    let finished = run_with(&base_env(&secret)).await;

    assert_refused(&finished, "JWT_SECRET");
    assert!(
        !finished.stderr.contains(&secret) && !finished.stdout.contains(&secret),
        "the secret was printed"
    );
}

#[tokio::test]
async fn a_jwt_secret_of_exactly_32_bytes_is_enough() {
    let app = TestApp::spawn_with(&[("JWT_SECRET", &random_alphanumeric(32))]).await;

    let admin = app.signup("Acme").await;

    app.get(&admin, "/auth/me").await.assert_status(200);
}

#[tokio::test]
async fn the_api_refuses_to_start_without_a_database_url() {
    let env: Vec<_> = base_env(&random_alphanumeric(48))
        .into_iter()
        .filter(|(k, _)| *k != "DATABASE_URL")
        .collect();

    let finished = run_with(&env).await;

    assert_refused(&finished, "DATABASE_URL");
}

#[tokio::test]
async fn the_api_refuses_invalid_settings_naming_them() {
    for (variable, value) in [
        ("DATABASE_URL", "mysql://localhost/kpix"),
        ("BIND_ADDR", "not an address"),
        ("CORS_ALLOWED_ORIGINS", "not an origin"),
        ("LOG_FORMAT", "xml"),
        ("MAX_UPLOAD_BYTES", "lots"),
    ] {
        let mut env = base_env(&random_alphanumeric(48));
        env.retain(|(k, _)| *k != variable);
        env.push((variable, value.to_owned()));

        let finished = run_with(&env).await;

        assert_refused(&finished, variable);
    }
}

#[tokio::test]
async fn the_api_exits_with_an_error_when_the_database_is_unreachable() {
    let mut env = base_env(&random_alphanumeric(48));
    env.retain(|(k, _)| *k != "DATABASE_URL");
    env.push((
        "DATABASE_URL",
        "postgres://postgres@127.0.0.1:1/kpix".to_owned(),
    ));

    let finished = run_with(&env).await;

    assert!(!finished.status.success(), "{finished:?}");
}

// -- shutdown ---------------------------------------------------------------

#[tokio::test]
async fn sigterm_stops_the_api_cleanly() {
    let mut app = TestApp::spawn().await;
    app.get_anon("/health/live").await.assert_status(200);

    app.api_process().terminate();
    let status = app.api_process().wait(Duration::from_secs(15)).await;

    let status = status.unwrap_or_else(|| panic!("still running after SIGTERM:\n{}", app.logs()));
    assert!(status.success(), "{status:?}:\n{}", app.logs());
    assert!(
        app.logs().contains("shutdown signal received"),
        "{}",
        app.logs()
    );
}

#[tokio::test]
async fn sigterm_right_after_startup_is_still_graceful() {
    // an orchestrator may stop a replica the moment it is up: once it says
    // `listening`, SIGTERM must be handled, not kill the process
    let mut app = TestApp::spawn().await;

    app.api_process().terminate();
    let status = app.api_process().wait(Duration::from_secs(15)).await;

    let status = status.unwrap_or_else(|| panic!("still running after SIGTERM:\n{}", app.logs()));
    assert!(
        status.success(),
        "killed by SIGTERM instead of stopping gracefully: {status:?}\n{}",
        app.logs()
    );
}

#[tokio::test]
async fn refusals_and_changes_leave_log_lines() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    let user = app.create_user(&admin, "USER").await;
    app.get_anon("/api/v1/dashboards").await;
    assert_problem(
        &app.post_json(&user, "/teams", &json!({"name": "X"})).await,
        403,
    );

    let team = app.create_team(&admin, "Qualité").await;
    app.add_team_member(&admin, team, user.user_id).await;
    app.delete(&admin, &format!("/teams/{team}/members/{}", user.user_id))
        .await
        .assert_status(204);
    let dashboard = app
        .post_json(&admin, "/dashboards", &json!({"title": "D"}))
        .await
        .id();
    app.patch_json(
        &admin,
        &format!("/dashboards/{dashboard}"),
        &json!({"title": "E"}),
    )
    .await
    .assert_status(200);
    let kpi = app
        .post_json(
            &admin,
            &format!("/dashboards/{dashboard}/kpis"),
            &json!({"name": "K", "frequency": "MONTHLY", "direction": "UP_IS_BETTER",
                "threshold_green": 2, "threshold_orange": 1}),
        )
        .await
        .id();
    let comment = app
        .post_json(
            &user,
            &format!("/kpis/{kpi}/comments"),
            &json!({"content": "hello"}),
        )
        .await
        .id();
    app.delete(&admin, &format!("/comments/{comment}"))
        .await
        .assert_status(204);
    app.delete(&admin, &format!("/teams/{team}"))
        .await
        .assert_status(204);

    let lines = app.log_lines();
    let refused = |status: u16| {
        lines
            .iter()
            .find(|l| {
                l["status"] == status
                    && l["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("request refused"))
            })
            .unwrap_or_else(|| panic!("no {status} line in {lines:?}"))
    };
    let unauthenticated = refused(401);
    assert_eq!(
        unauthenticated["span"]["route"], "/api/v1/dashboards",
        "{unauthenticated}"
    );
    let forbidden = refused(403);
    assert_eq!(forbidden["span"]["route"], "/api/v1/teams", "{forbidden}");
    assert_eq!(
        forbidden["span"]["user_id"],
        user.user_id.to_string(),
        "{forbidden}"
    );
    for audit in [
        "team_created",
        "team_member_added",
        "team_member_removed",
        "dashboard_created",
        "dashboard_updated",
        "comment_deleted",
        "team_deleted",
    ] {
        let line = lines
            .iter()
            .find(|l| l["audit"] == audit)
            .unwrap_or_else(|| panic!("no {audit} line"));
        assert_eq!(line["actor_id"], admin.user_id.to_string(), "{line}");
    }
    let logs = app.logs();
    assert!(!logs.contains(&user.token) && !logs.contains(&admin.token));
}

#[tokio::test]
async fn a_binary_runs_on_a_schema_one_release_newer() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    // a newer release applied a migration this binary does not know
    let db = app.db().await;
    sqlx::query(
        "insert into _sqlx_migrations (version, description, success, checksum, execution_time) \
         values (99991231000001, 'from the next release', true, '\\x00', 1)",
    )
    .execute(&db)
    .await
    .unwrap();
    // the previous binary, rolled back to, starts on it and serves
    let mut replica = kpix_tests::clean_command(
        &kpix_tests::api_binary(),
        &[
            ("DATABASE_URL", &app.database_url),
            ("JWT_SECRET", &app.jwt_secret),
            ("STORAGE_URL", &app.storage_url),
            ("BIND_ADDR", "127.0.0.1:0"),
            ("LOG_FORMAT", "json"),
        ],
    )
    .spawn()
    .unwrap();
    let output = replica.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(output));
    let listening = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let value: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if value["message"] == "listening" {
                return value["addr"].as_str().unwrap().to_owned();
            }
        }
        panic!("the API stopped before listening");
    })
    .await
    .expect("the API listens");
    let me = app
        .raw()
        .get(format!("http://{listening}/api/v1/auth/me"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    replica.kill().await.unwrap();
}

#[tokio::test]
async fn an_object_store_that_cannot_be_written_stops_the_start() {
    let mut env = base_env(&random_alphanumeric(48));
    // a folder even root cannot create files in (sysfs)
    env.push(("STORAGE_URL", "file:///sys/kernel".to_owned()));

    let finished = run_with(&env).await;

    assert_refused(&finished, "STORAGE_URL");
    assert!(
        finished.stderr.contains("cannot be written"),
        "{finished:?}"
    );
}

#[tokio::test]
async fn readiness_fails_while_the_object_store_does() {
    let app = TestApp::spawn().await;
    app.get_anon("/health/ready").await.assert_status(200);
    // the store's folder replaced by a file: nothing can be listed or written
    let dir = app.storage_dir.clone();
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, b"not a folder").unwrap();
    let ready = app.get_anon("/health/ready").await;
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert!(!ready.text.contains("not a folder") && !ready.text.contains("os error"));
    // back as it was, marker included
    std::fs::remove_file(&dir).unwrap();
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join(".kpix-ready"), b"kpix").unwrap();
    app.get_anon("/health/ready").await.assert_status(200);
}

#[tokio::test]
async fn the_api_and_the_worker_come_back_after_a_database_restart() {
    let server = kpix_tests::PrivatePostgres::start();
    let app = TestApp::spawn_on(&server.admin_url(), &[]).await;
    let admin = admin_with_kpi_trs(&app).await;
    let mut worker = app.spawn_worker().await;
    worker
        .wait_for_log("waiting for import tasks", Duration::from_secs(30))
        .await;

    // down long enough for the worker to fail its polls, then back
    server.stop();
    worker
        .wait_for_log("Failed to poll backend", Duration::from_secs(30))
        .await;
    server.start_again();

    // the API answers again within seconds: each dead pooled connection costs
    // at most one 503 before the pool replaces it
    kpix_tests::poll_until(Duration::from_secs(10), || async {
        (app.get(&admin, "/auth/me").await.status == 200).then_some(())
    })
    .await;
    // the worker is still there, and takes an import uploaded afterwards
    assert!(worker.try_status().is_none(), "{}", worker.logs());
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"kpi_code,period,value\nTRS,2025-01,90\n".to_vec())
            .file_name("after.csv"),
    );
    let upload = app
        .send(
            app.authed(&admin, Method::POST, "/imports/kpi-values")
                .multipart(form),
        )
        .await;
    upload.assert_status(202);
    let job = kpix_tests::poll_until(Duration::from_secs(90), || async {
        let job = app
            .get(&admin, &format!("/imports/jobs/{}", upload.id()))
            .await;
        (job.body["status"] == "SUCCESS" || job.body["status"] == "FAILED").then_some(job.body)
    })
    .await;
    assert_eq!(job["status"], "SUCCESS", "{job}\n{}", worker.logs());
    assert!(worker.try_status().is_none(), "the worker stayed up");
}

#[tokio::test]
async fn one_trace_runs_from_the_upload_to_the_end_of_its_job() {
    let receiver = kpix_tests::OtlpReceiver::start().await;
    let telemetry = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
        // export at once rather than every 5 s
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let app = TestApp::spawn_with(&telemetry).await;
    let _worker = app.spawn_worker_with(&telemetry).await;
    let admin = admin_with_kpi_trs(&app).await;
    // probes are not traced (their spans, if any, would be exported before the job's)
    app.get_anon("/health/ready").await.assert_status(200);
    app.get_anon("/health/live").await.assert_status(200);

    // the frontend's trace: its span is the upload request's parent
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"kpi_code,period,value\nTRS,2025-01,90\n".to_vec())
            .file_name("v.csv"),
    );
    let upload = app
        .send(
            app.authed(&admin, Method::POST, "/imports/kpi-values")
                .header("traceparent", format!("00-{trace_id}-{client_span}-01"))
                .multipart(form),
        )
        .await;
    upload.assert_status(202);
    kpix_tests::poll_until(Duration::from_secs(60), || async {
        let job = app
            .get(&admin, &format!("/imports/jobs/{}", upload.id()))
            .await;
        (job.body["status"] == "SUCCESS").then_some(())
    })
    .await;

    let (request, job) = kpix_tests::poll_until(Duration::from_secs(30), || async {
        let spans: Vec<_> = receiver
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect();
        let request = spans
            .iter()
            .find(|s| s.name == "request" && s.parent_span_id == client_span)?
            .clone();
        let job = spans.iter().find(|s| s.name == "import_job")?.clone();
        Some((request, job))
    })
    .await;
    assert!(request.service.contains("kpix-api"), "{request:?}");
    assert!(job.service.contains("kpix-worker"), "{job:?}");
    assert_eq!(
        job.parent_span_id, request.span_id,
        "the job continues the upload"
    );
    let spans = receiver.spans();
    assert!(
        spans
            .iter()
            .any(|s| s.uri.as_deref().is_some_and(|u| u.contains("/dashboards"))),
        "other requests are traced: {spans:?}"
    );
    assert!(
        !spans
            .iter()
            .any(|s| s.uri.as_deref().is_some_and(|u| u.contains("/health/"))),
        "{spans:?}"
    );
}

#[tokio::test]
async fn the_api_reference_page_is_served_with_its_script_and_a_strict_policy() {
    let app = TestApp::spawn().await;

    let page = app.get_anon("/docs").await;
    page.assert_status(200);
    assert!(
        page.header("content-type")
            .is_some_and(|v| v.starts_with("text/html"))
    );
    assert!(
        page.text.contains(r#"spec-url="openapi.json""#),
        "{}",
        page.text
    );
    // what the page loads comes from this origin only (checked in Chromium by tests/contract/docs_page.sh)
    let policy = page.header("content-security-policy").unwrap_or_default();
    assert!(
        policy.contains("default-src 'none'") && policy.contains("script-src 'self'"),
        "{policy}"
    );
    assert!(!policy.contains("http"), "{policy}");

    let script = app.get_anon("/docs/redoc.standalone.js").await;
    script.assert_status(200);
    assert!(
        script
            .header("content-type")
            .is_some_and(|v| v.starts_with("text/javascript"))
    );
    assert!(script.text.len() > 100_000, "the vendored Redoc bundle");
    // the page names the document by a relative URL that resolves to the served one
    app.get_anon(&app.resolve_link("openapi.json"))
        .await
        .assert_status(200);
}
