//! Fixture builders for the core domain (dashboards, KPIs, values, actions,
//! comments): each sends the real request, asserts it succeeded and returns
//! the created body, so a test arranges its data in a few lines.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::{ApiClient, Session, TestResponse};

/// The `id` field of a JSON object as a UUID.
#[track_caller]
pub fn id_of(body: &Value) -> Uuid {
    body["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no id in {body}"))
}

/// The `id`s of a JSON array of objects, in order.
#[track_caller]
pub fn ids(body: &Value) -> Vec<Uuid> {
    body.as_array()
        .unwrap_or_else(|| panic!("expected a JSON array, got {body}"))
        .iter()
        .map(id_of)
        .collect()
}

/// A JSON number exactly as the server wrote it (`"12.345"`); panics unless
/// it is a number (the contract sends decimals as numbers, never strings).
#[track_caller]
pub fn number_text(value: &Value) -> String {
    assert!(value.is_number(), "expected a JSON number, got {value}");
    value.to_string()
}

/// `base` (a JSON object) with the keys of `overrides` put over it; a `null`
/// in `overrides` is kept as an explicit null.
pub fn merged(mut base: Value, overrides: &Value) -> Value {
    if let (Some(target), Some(extra)) = (base.as_object_mut(), overrides.as_object()) {
        for (key, value) in extra {
            target.insert(key.clone(), value.clone());
        }
    }
    base
}

/// A JSON number written exactly as `text` (e.g. `"12.345"`), without going
/// through `f64`.
pub fn exact_number(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text:?} is not a JSON number: {e}"))
}

/// `POST /dashboards` with `body`; expects 201 and returns the dashboard.
pub async fn create_dashboard(app: &ApiClient, session: &Session, body: &Value) -> Value {
    let resp = app.post_json(session, "/dashboards", body).await;
    resp.assert_status(201);
    resp.body
}

/// An organization-wide dashboard titled `title`; returns its id.
pub async fn dashboard(app: &ApiClient, session: &Session, title: &str) -> Uuid {
    id_of(&create_dashboard(app, session, &json!({"title": title})).await)
}

/// A dashboard shared with `team_id`; returns its id.
pub async fn team_dashboard(
    app: &ApiClient,
    session: &Session,
    title: &str,
    team_id: Uuid,
) -> Uuid {
    id_of(&create_dashboard(app, session, &json!({"title": title, "team_id": team_id})).await)
}

/// The body of a valid KPI: MONTHLY, UP_IS_BETTER, green 90, orange 80, red
/// 50, with `overrides` applied.
pub fn kpi_body(overrides: &Value) -> Value {
    merged(
        json!({
            "name": "On-time delivery",
            "unit": "%",
            "frequency": "MONTHLY",
            "direction": "UP_IS_BETTER",
            "threshold_green": 90,
            "threshold_orange": 80,
            "threshold_red": 50,
        }),
        overrides,
    )
}

/// `POST /dashboards/{id}/kpis` with [`kpi_body`]`(overrides)`; expects 201
/// and returns the KPI.
pub async fn create_kpi(
    app: &ApiClient,
    session: &Session,
    dashboard_id: Uuid,
    overrides: &Value,
) -> Value {
    let resp = app
        .post_json(
            session,
            &format!("/dashboards/{dashboard_id}/kpis"),
            &kpi_body(overrides),
        )
        .await;
    resp.assert_status(201);
    resp.body
}

/// A KPI with the default body and `overrides`; returns its id.
pub async fn kpi(
    app: &ApiClient,
    session: &Session,
    dashboard_id: Uuid,
    overrides: &Value,
) -> Uuid {
    id_of(&create_kpi(app, session, dashboard_id, overrides).await)
}

/// `POST /kpis/{id}/values` {period_start, value}.
pub async fn post_value(
    app: &ApiClient,
    session: &Session,
    kpi_id: Uuid,
    date: &str,
    value: &Value,
) -> TestResponse {
    app.post_json(
        session,
        &format!("/kpis/{kpi_id}/values"),
        &json!({"period_start": date, "value": value}),
    )
    .await
}

/// Enters `value` for the period containing `date`; expects 201 and returns
/// the stored value.
pub async fn add_value(
    app: &ApiClient,
    session: &Session,
    kpi_id: Uuid,
    date: &str,
    value: &Value,
) -> Value {
    let resp = post_value(app, session, kpi_id, date, value).await;
    resp.assert_status(201);
    resp.body
}

/// `GET` expecting 200; returns the body.
pub async fn get_ok(app: &ApiClient, session: &Session, path: &str) -> Value {
    let resp = app.get(session, path).await;
    resp.assert_status(200);
    resp.body
}

/// `POST /kpis/{id}/actions` with a title and `overrides`; expects 201 and
/// returns the action.
pub async fn create_action(
    app: &ApiClient,
    session: &Session,
    kpi_id: Uuid,
    overrides: &Value,
) -> Value {
    let resp = app
        .post_json(
            session,
            &format!("/kpis/{kpi_id}/actions"),
            &merged(json!({"title": "Fix the late deliveries"}), overrides),
        )
        .await;
    resp.assert_status(201);
    resp.body
}

/// `POST /kpis/{id}/comments`; expects 201 and returns the comment.
pub async fn comment_kpi(app: &ApiClient, session: &Session, kpi_id: Uuid, content: &str) -> Value {
    let resp = app
        .post_json(
            session,
            &format!("/kpis/{kpi_id}/comments"),
            &json!({"content": content}),
        )
        .await;
    resp.assert_status(201);
    resp.body
}

/// `POST /actions/{id}/comments`; expects 201 and returns the comment.
pub async fn comment_action(
    app: &ApiClient,
    session: &Session,
    action_id: Uuid,
    content: &str,
) -> Value {
    let resp = app
        .post_json(
            session,
            &format!("/actions/{action_id}/comments"),
            &json!({"content": content}),
        )
        .await;
    resp.assert_status(201);
    resp.body
}

/// Deactivates a user (`admin` is an ADMIN of their organization).
pub async fn deactivate_user(app: &ApiClient, admin: &Session, user_id: Uuid) {
    app.patch_json(
        admin,
        &format!("/users/{user_id}"),
        &json!({"is_active": false}),
    )
    .await
    .assert_status(200);
}

/// Follows `Link: rel="next"` from `first` (a path under `/api/v1`) and
/// returns every page's items, in order, and the number of pages.
pub async fn collect_pages(app: &ApiClient, session: &Session, first: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut url = app.url(first);
    let mut pages = 0;
    loop {
        let page = app
            .send(app.raw().get(&url).bearer_auth(&session.token))
            .await;
        page.assert_status(200);
        items.extend(
            page.body
                .as_array()
                .unwrap_or_else(|| panic!("a page is a JSON array: {}", page.text))
                .iter()
                .cloned(),
        );
        pages += 1;
        assert!(pages <= 50, "more than 50 pages: the next links loop");
        match page.next_link() {
            Some(next) => url = app.resolve_link(&next),
            None => return (items, pages),
        }
    }
}
