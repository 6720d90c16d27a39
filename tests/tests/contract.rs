//! The published contract: what the OpenAPI document says of every
//! operation, and the rules every operation shares (docs/api.md), checked
//! against the real `kpix-api`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kpix_tests::{
    Session, TestApp, TestResponse, assert_invalid_field, assert_problem,
    fixtures::{add_value, dashboard, get_ok, id_of, kpi, number_text},
};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

async fn document(app: &TestApp) -> Value {
    let resp = app.get_anon("/openapi.json").await;
    resp.assert_status(200);
    resp.body
}

/// Every (path, method, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            all.push((path.clone(), method.clone(), operation.clone()));
        }
    }
    all
}

/// A response with its `$ref` to `components/responses` resolved.
fn resolved<'a>(doc: &'a Value, response: &'a Value) -> &'a Value {
    match response["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/responses/");
            &doc["components"]["responses"][name]
        }
        None => response,
    }
}

#[tokio::test]
async fn every_response_is_described_and_every_error_is_a_problem() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    for (path, method, operation) in operations(&doc) {
        for (status, response) in operation["responses"].as_object().unwrap() {
            let response = resolved(&doc, response);
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{method} {path} {status}: no description"
            );
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_errors_an_operation_can_answer_follow_from_what_it_is() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    for (path, method, operation) in operations(&doc) {
        let statuses: Vec<&str> = operation["responses"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let expect = |status: &str, why: &str| {
            assert!(
                statuses.contains(&status),
                "{method} {path} ({why}) does not document {status}: {statuses:?}"
            );
        };
        expect("422", "every operation refuses unknown query parameters");
        expect("503", "every operation needs the database");
        if operation["security"].is_array() {
            expect("401", "secured");
        }
        if path.contains('{') {
            expect("404", "path id");
            expect("400", "path id that is not a UUID");
        }
        if operation["requestBody"].is_object() {
            for status in ["400", "413", "415", "422"] {
                expect(status, "request body");
            }
        }
    }
    // and what only some operations answer, they declare
    let paths = &doc["paths"];
    for (path, method, status) in [
        ("/auth/login", "post", "429"),
        ("/auth/signup", "post", "429"),
        ("/auth/refresh", "post", "429"),
        ("/imports/kpi-values", "post", "429"),
        ("/auth/password", "post", "403"),
        ("/auth/signup", "post", "409"),
        ("/dashboards/{id}", "patch", "403"),
        ("/kpis/{id}", "delete", "403"),
        ("/users", "get", "403"),
    ] {
        let response = &paths[path][method]["responses"][status];
        assert!(
            response.is_object(),
            "{method} {path} does not document {status}"
        );
        if status == "429" {
            assert!(
                response["headers"]["Retry-After"].is_object(),
                "{method} {path}: 429 without Retry-After"
            );
        }
    }
}

#[tokio::test]
async fn query_parameters_are_documented_in_the_query_with_their_bounds() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    for (path, method, operation) in operations(&doc) {
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            let name = parameter["name"].as_str().unwrap();
            let placed = parameter["in"].as_str().unwrap();
            if placed == "path" {
                assert!(
                    path.contains(&format!("{{{name}}}")),
                    "{method} {path}: {name} is not in the path"
                );
            }
        }
    }
    let parameter = |path: &str, name: &str| -> Value {
        let parameters = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
        parameters
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("GET {path} has no parameter {name}"))
            .clone()
    };
    for (path, name) in [
        ("/kpis/{id}/values", "from"),
        ("/kpis/{id}/values", "to"),
        ("/kpis/{id}/series", "from"),
        ("/dashboards", "process_name"),
        ("/reporting/top-risks", "limit"),
        ("/reporting/top-risks", "process_name"),
        ("/reporting/overview", "dashboard_id"),
        ("/imports/jobs/{id}/errors", "format"),
    ] {
        let p = parameter(path, name);
        assert_eq!(p["in"], "query", "{path} {name}");
        assert_eq!(p["required"], false, "{path} {name}");
    }
    let limit = parameter("/dashboards", "limit");
    assert_eq!(
        (&limit["schema"]["minimum"], &limit["schema"]["maximum"]),
        (&json!(1), &json!(1000))
    );
    let limit = parameter("/reporting/top-risks", "limit");
    assert_eq!(limit["schema"]["maximum"], 100);
    let format = parameter("/imports/jobs/{id}/errors", "format");
    assert_eq!(format["schema"]["enum"], json!(["json", "csv"]));
    let from = parameter("/kpis/{id}/values", "from");
    assert_eq!(from["schema"]["format"], "date");
    let recompute = doc["paths"]["/kpis/{id}"]["patch"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "recompute_history")
        .unwrap()
        .clone();
    assert_eq!(recompute["in"], "query");
}

#[tokio::test]
async fn an_unknown_query_parameter_is_a_422_naming_it_everywhere() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    let board = app
        .post_json(&admin, "/dashboards", &json!({"title": "Plant"}))
        .await
        .id();

    for path in [
        "/dashboards?process=Qualité".to_owned(),
        "/dashboards?limit=5&sort=title".to_owned(),
        format!("/dashboards/{board}?expand=kpis"),
        format!("/dashboards/{board}/kpis?from=2025-01-01"),
        "/reporting/top-risks?dashboard=x".to_owned(),
        "/users/members?q=ana".to_owned(),
        "/auth/me?verbose=".to_owned(),
    ] {
        let resp = app.get(&admin, &path).await;
        assert_problem(&resp, 422);
        let name = path
            .rsplit(['?', '&'])
            .next()
            .unwrap()
            .split('=')
            .next()
            .unwrap();
        assert_invalid_field(&resp, name);
        assert!(
            resp.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .starts_with("unknown query parameter"),
            "{path}: {}",
            resp.text
        );
    }
    // a body-taking operation refuses them too, before reading the body
    let resp = app
        .post_json(&admin, "/dashboards?dry_run=true", &json!({"title": "X"}))
        .await;
    assert_invalid_field(&resp, "dry_run");
    let listed = app.get(&admin, "/dashboards").await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "nothing created");
    // the parameters an operation does take still work, empty ones included
    app.get(&admin, "/dashboards?limit=5&cursor=&process_name=")
        .await
        .assert_status(200);
}

/// A dashboard with one monthly KPI (UP_IS_BETTER, green 90, orange 80)
/// and one value; returns (board, kpi, value) ids.
async fn board_kpi_value(app: &TestApp, admin: &Session) -> (Uuid, Uuid, Uuid) {
    let board = dashboard(app, admin, "Plant").await;
    let kpi = kpi(app, admin, board, &json!({})).await;
    let value = id_of(&add_value(app, admin, kpi, "2025-01-01", &json!(95)).await);
    (board, kpi, value)
}

/// The message of the one error of a 422 on `field`.
#[track_caller]
fn message_on(resp: &TestResponse, field: &str) -> String {
    assert_invalid_field(resp, field);
    resp.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == field)
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn numbers_are_json_numbers_with_at_most_10_decimals_within_1e18() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    let (board, kpi, value) = board_kpi_value(&app, &admin).await;
    let values = format!("/kpis/{kpi}/values");
    let kpis = format!("/dashboards/{board}/kpis");

    let cases = [
        (
            "\"12.5\"",
            "must be a JSON number such as 12.5, not a string",
        ),
        (
            "\"NaN\"",
            "must be a JSON number such as 12.5, not a string",
        ),
        ("true", "must be a JSON number such as 12.5"),
        (
            "0.30000000000000004",
            "must be a number with at most 10 decimals",
        ),
        ("1e-11", "must be a number with at most 10 decimals"),
        ("1e19", "must be a number between -10^18 and 10^18"),
        (
            "-1000000000000000000.5",
            "must be a number between -10^18 and 10^18",
        ),
    ];
    for (raw, message) in cases {
        let body = format!(r#"{{"period_start": "2025-03-01", "value": {raw}}}"#);
        let resp = app
            .post_raw(Some(&admin), &values, "application/json", body)
            .await;
        assert_eq!(message_on(&resp, "value"), message, "POST value {raw}");

        let resp = app
            .send(
                app.authed(&admin, Method::PATCH, &format!("/values/{value}"))
                    .header("content-type", "application/json")
                    .body(format!(r#"{{"value": {raw}}}"#)),
            )
            .await;
        assert_eq!(message_on(&resp, "value"), message, "PATCH value {raw}");

        let body = format!(
            r#"{{"name": "N", "frequency": "MONTHLY", "direction": "UP_IS_BETTER", "threshold_green": 10, "threshold_orange": {raw}}}"#
        );
        let resp = app
            .post_raw(Some(&admin), &kpis, "application/json", body)
            .await;
        assert_eq!(
            message_on(&resp, "threshold_orange"),
            message,
            "threshold {raw}"
        );
    }
    // nothing of it was written
    assert_eq!(
        get_ok(&app, &admin, &values)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // the bounds themselves are numbers like any other
    for (raw, stored) in [
        ("1e18", "1000000000000000000"),
        (
            "-999999999999999999.9999999999",
            "-999999999999999999.9999999999",
        ),
        ("0.0000000001", "0.0000000001"),
        ("12.50", "12.50"),
        ("1.5e1", "15"),
    ] {
        let body = format!(r#"{{"value": {raw}}}"#);
        let resp = app
            .send(
                app.authed(&admin, Method::PATCH, &format!("/values/{value}"))
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        resp.assert_status(200);
        assert_eq!(number_text(&resp.body["value"]), stored, "{raw}");
    }
    // and the document says the same
    let doc = document(&app).await;
    let decimal = &doc["components"]["schemas"]["Decimal"];
    assert_eq!(decimal["type"], "number");
    assert_eq!(decimal["minimum"], json!(-1_000_000_000_000_000_000_i64));
    assert_eq!(decimal["maximum"], json!(1_000_000_000_000_000_000_i64));
    assert_eq!(decimal["multipleOf"], json!(1e-10));
}

#[tokio::test]
async fn dates_are_yyyy_mm_dd_between_1900_and_2199_in_bodies_and_filters() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    let (_, kpi, _) = board_kpi_value(&app, &admin).await;
    let values = format!("/kpis/{kpi}/values");
    let action = app
        .post_json(
            &admin,
            &format!("/kpis/{kpi}/actions"),
            &json!({"title": "Fix"}),
        )
        .await
        .id();
    let expected = "must be a date YYYY-MM-DD between 1900-01-01 and 2199-12-31";

    for date in [
        json!("9999-12-31"),
        json!("+20250-01-01"),
        json!("0000-01-01"),
        json!("-0001-06-01"),
        json!("1899-12-31"),
        json!("2200-01-01"),
        json!("2025-02-30"),
        json!("31/03/2025"),
        json!(20250331),
    ] {
        let resp = app
            .post_json(&admin, &values, &json!({"period_start": date, "value": 1}))
            .await;
        assert_eq!(message_on(&resp, "period_start"), expected, "{date}");
        let resp = app
            .post_json(
                &admin,
                &values,
                &json!({"period_start": "2025-03-01", "period_end": date, "value": 1}),
            )
            .await;
        assert_eq!(message_on(&resp, "period_end"), expected, "{date}");
        let resp = app
            .post_json(
                &admin,
                &format!("/kpis/{kpi}/actions"),
                &json!({"title": "Fix", "due_date": date}),
            )
            .await;
        assert_eq!(message_on(&resp, "due_date"), expected, "{date}");
        let resp = app
            .patch_json(
                &admin,
                &format!("/actions/{action}"),
                &json!({"due_date": date}),
            )
            .await;
        assert_eq!(message_on(&resp, "due_date"), expected, "{date}");
        if let Some(text) = date.as_str() {
            let text = text.replace('+', "%2B").replace('/', "%2F");
            for (path, field) in [
                (format!("{values}?from={text}"), "from"),
                (format!("/kpis/{kpi}/series?to={text}"), "to"),
            ] {
                let resp = app.get(&admin, &path).await;
                assert_eq!(message_on(&resp, field), expected, "{path}");
            }
        }
    }
    assert_eq!(
        get_ok(&app, &admin, &values)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // the first and last days are dates like any other
    for date in ["1900-01-01", "2199-12-31"] {
        app.post_json(&admin, &values, &json!({"period_start": date, "value": 1}))
            .await
            .assert_status(201);
        app.get(&admin, &format!("{values}?from={date}&to={date}"))
            .await
            .assert_status(200);
    }
    // and the document says it with a pattern generators follow
    let doc = document(&app).await;
    let date = &doc["components"]["schemas"]["Date"];
    assert_eq!(date["format"], "date");
    assert_eq!(
        date["pattern"],
        "^(19[0-9]{2}|2[01][0-9]{2})-[0-9]{2}-[0-9]{2}$"
    );
}

#[tokio::test]
async fn null_for_a_field_that_cannot_be_cleared_is_a_422_on_every_patch() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    let (board, kpi, value) = board_kpi_value(&app, &admin).await;
    let user = app.create_user(&admin, "USER").await;
    let action = app
        .post_json(
            &admin,
            &format!("/kpis/{kpi}/actions"),
            &json!({"title": "Fix"}),
        )
        .await
        .id();
    let cases: Vec<(String, &[&str])> = vec![
        (
            format!("/kpis/{kpi}"),
            &[
                "name",
                "frequency",
                "direction",
                "threshold_green",
                "threshold_orange",
                "owner_id",
                "is_active",
                "is_strategic",
                "recompute_history",
            ],
        ),
        (format!("/dashboards/{board}"), &["title", "owner_id"]),
        (format!("/values/{value}"), &["value"]),
        (
            format!("/actions/{action}"),
            &["title", "progress", "status"],
        ),
        (
            format!("/users/{}", user.user_id),
            &["full_name", "role", "is_active"],
        ),
    ];
    for (path, fields) in cases {
        let before = get_ok(&app, &admin, &path).await;
        for field in fields {
            let resp = app
                .patch_json(&admin, &path, &json!({ *field: null }))
                .await;
            assert_eq!(message_on(&resp, field), "cannot be null", "{path} {field}");
        }
        assert_eq!(
            get_ok(&app, &admin, &path).await,
            before,
            "{path} unchanged"
        );
    }
    // a nullable field's null clears it, as before
    let cleared = app
        .patch_json(&admin, &format!("/kpis/{kpi}"), &json!({"unit": null}))
        .await;
    cleared.assert_status(200);
    assert_eq!(cleared.body["unit"], Value::Null);
    // and the document tells the two kinds apart
    let doc = document(&app).await;
    let kpi_patch = &doc["components"]["schemas"]["UpdateKpiRequest"]["properties"];
    assert!(
        !kpi_patch["name"].to_string().contains("null"),
        "{}",
        kpi_patch["name"]
    );
    assert!(
        kpi_patch["unit"].to_string().contains("null"),
        "{}",
        kpi_patch["unit"]
    );
}

#[tokio::test]
async fn texts_are_bounded_as_sent_and_the_document_says_so() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    let (board, _, _) = board_kpi_value(&app, &admin).await;

    for (title, message) in [
        ("", "must not be empty"),
        (" \t\n", "must not be empty"),
        ("Plant\u{0}", "must not contain control characters"),
        ("Plant\u{b}", "must not contain control characters"),
    ] {
        let resp = app
            .post_json(&admin, "/dashboards", &json!({"title": title}))
            .await;
        assert_eq!(message_on(&resp, "title"), message, "{title:?}");
    }
    // 200 characters as sent, spaces included
    let padded = format!(" {} ", "t".repeat(199));
    let resp = app
        .patch_json(
            &admin,
            &format!("/dashboards/{board}"),
            &json!({"title": padded}),
        )
        .await;
    assert_eq!(message_on(&resp, "title"), "must be at most 200 characters");
    let resp = app
        .patch_json(
            &admin,
            &format!("/dashboards/{board}"),
            &json!({"title": format!(" {} ", "t".repeat(198))}),
        )
        .await;
    resp.assert_status(200);
    assert_eq!(resp.body["title"], "t".repeat(198), "trimmed");
    // every invalid field at once
    let resp = app
        .post_json(
            &admin,
            "/auth/signup",
            &json!({"email": "ana", "password": "short", "full_name": " ", "organization_name": "Acme"}),
        )
        .await;
    for field in ["email", "password", "full_name"] {
        assert_invalid_field(&resp, field);
    }
    let resp = app
        .post_json(
            &admin,
            "/users",
            &json!({"email": "ana@example.com", "full_name": "Ana", "password": "é".repeat(1025)}),
        )
        .await;
    assert_eq!(
        message_on(&resp, "password"),
        "must be at most 1024 characters"
    );

    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    let title = &schemas["Text200"];
    assert_eq!(
        (&title["minLength"], &title["maxLength"]),
        (&json!(1), &json!(200))
    );
    assert!(title["pattern"].is_string());
    assert_eq!(schemas["OptionalText5000"]["maxLength"], 5000);
    assert_eq!(schemas["Email"]["format"], "email");
    assert_eq!(schemas["Password"]["minLength"], 8);
    assert_eq!(
        schemas["CreateDashboardRequest"]["properties"]["title"]["$ref"],
        "#/components/schemas/Text200"
    );
    assert_eq!(
        schemas["CreateDashboardRequest"]["additionalProperties"],
        false
    );
}

#[tokio::test]
async fn what_an_operation_creates_is_linked_to_the_operations_that_use_it() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let mut by_id = std::collections::HashMap::new();
    for (path, method, operation) in operations(&doc) {
        by_id.insert(
            operation["operationId"].as_str().unwrap().to_owned(),
            (path, method),
        );
    }
    let links_of = |path: &str, method: &str, status: &str| -> Value {
        doc["paths"][path][method]["responses"][status]["links"].clone()
    };

    let kpi_links = links_of("/dashboards/{id}/kpis", "post", "201");
    for target in [
        "get_kpi",
        "update_kpi",
        "delete_kpi",
        "list_values",
        "create_value",
        "get_series",
        "list_actions",
        "create_action",
        "list_kpi_comments",
        "create_kpi_comment",
    ] {
        assert_eq!(
            kpi_links[target]["parameters"]["id"], "$response.body#/id",
            "create_kpi -> {target}: {kpi_links}"
        );
    }
    assert!(links_of("/dashboards", "post", "201")["create_kpi"].is_object());
    assert!(links_of("/kpis/{id}/values", "post", "201")["delete_value"].is_object());
    assert!(links_of("/kpis/{id}/actions", "post", "201")["create_action_comment"].is_object());
    assert!(links_of("/imports/kpi-values", "post", "202")["get_job_errors"].is_object());
    assert_eq!(
        links_of("/teams/{id}/members", "post", "201")["remove_team_member"]["parameters"],
        json!({"id": "$request.path.id", "user_id": "$request.body#/user_id"})
    );
    assert_eq!(
        links_of("/auth/login", "post", "200")["refresh"]["requestBody"],
        json!({"refresh_token": "$response.body#/refresh_token"})
    );
    // every link names an operation and fills each of its path parameters
    for (path, method, operation) in operations(&doc) {
        for (status, response) in operation["responses"].as_object().unwrap() {
            for (name, link) in response["links"].as_object().into_iter().flatten() {
                let target = link["operationId"].as_str().unwrap();
                let (target_path, _) = by_id
                    .get(target)
                    .unwrap_or_else(|| panic!("{method} {path} {status} -> {name}: no {target}"));
                for segment in target_path.split('/').filter(|s| s.starts_with('{')) {
                    let parameter = segment.trim_matches(['{', '}']);
                    assert!(
                        link["parameters"][parameter].is_string(),
                        "{method} {path} -> {target} lacks {parameter}"
                    );
                }
            }
        }
    }
}
