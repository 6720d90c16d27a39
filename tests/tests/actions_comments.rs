//! Action plans and comments: defaults, the status filter, PATCH semantics,
//! `is_late`, who edits and who deletes, validation, and visibility across
//! teams and organizations. In process on the router, but for the test that
//! reads the audit log line, which runs the real `kpix-api`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Days, Utc};
use kpix_tests::{
    ApiClient, RouterApp, Session, TestApp, assert_invalid_field, assert_problem,
    fixtures::{
        comment_action, comment_kpi, create_action, dashboard, get_ok, id_of, ids, kpi,
        team_dashboard,
    },
};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

fn today() -> String {
    Utc::now().date_naive().to_string()
}

fn days_from_today(days: i64) -> String {
    let today = Utc::now().date_naive();
    let date = if days >= 0 {
        today.checked_add_days(Days::new(days.unsigned_abs()))
    } else {
        today.checked_sub_days(Days::new(days.unsigned_abs()))
    };
    date.unwrap().to_string()
}

/// An admin's organization with one org-wide dashboard (owned by the admin)
/// and one KPI on it: the admin and the KPI.
async fn organization_with_kpi(app: &ApiClient) -> (Session, Uuid) {
    let admin = app.signup("Acme").await;
    let board = dashboard(app, &admin, "Plant").await;
    let kpi_id = kpi(app, &admin, board, &json!({})).await;
    (admin, kpi_id)
}

/// [`organization_with_kpi`] on the router, in process.
async fn setup() -> (RouterApp, Session, Uuid) {
    let app = RouterApp::start().await;
    let (admin, kpi_id) = organization_with_kpi(&app).await;
    (app, admin, kpi_id)
}

/// [`organization_with_kpi`] on the API process: for the tests that read its
/// log lines.
async fn setup_process() -> (TestApp, Session, Uuid) {
    let app = TestApp::spawn().await;
    let (admin, kpi_id) = organization_with_kpi(&app).await;
    (app, admin, kpi_id)
}

// -- actions: create, list ----------------------------------------------------

#[tokio::test]
async fn an_action_is_created_open_at_zero_progress_owned_by_its_creator() {
    let (app, admin, kpi_id) = setup_process().await;
    let user = app.create_user(&admin, "USER").await;

    let created = app
        .post_json(
            &user,
            &format!("/kpis/{kpi_id}/actions"),
            &json!({"title": "  Call the carrier "}),
        )
        .await;

    created.assert_status(201);
    let body = &created.body;
    assert_eq!(body["title"], "Call the carrier");
    assert_eq!(body["status"], "OPEN");
    assert_eq!(body["progress"], 0);
    assert_eq!(body["owner_id"], user.user_id.to_string());
    assert_eq!(body["kpi_id"], kpi_id.to_string());
    assert_eq!(body["organization_id"], admin.organization_id.to_string());
    assert_eq!(body["description"], Value::Null);
    assert_eq!(body["due_date"], Value::Null);
    assert_eq!(body["is_late"], false);
    assert!(
        body["created_at"].is_string() && body["updated_at"].is_string(),
        "{body}"
    );
    assert_eq!(
        &get_ok(&app, &admin, &format!("/actions/{}", created.id())).await,
        body
    );
    assert!(app.logs().contains(r#""audit":"action_created""#));
}

#[tokio::test]
async fn an_action_is_created_with_every_field() {
    let (app, admin, kpi_id) = setup().await;
    let owner = app.create_user(&admin, "USER").await;
    let due = days_from_today(7);

    let created = app
        .post_json(
            &admin,
            &format!("/kpis/{kpi_id}/actions"),
            &json!({"title": "Second supplier", "description": "Qualify a backup",
                    "owner_id": owner.user_id, "due_date": due, "progress": 40,
                    "status": "IN_PROGRESS"}),
        )
        .await;

    created.assert_status(201);
    let body = &created.body;
    assert_eq!(body["description"], "Qualify a backup");
    assert_eq!(body["owner_id"], owner.user_id.to_string());
    assert_eq!(body["due_date"], due.as_str());
    assert_eq!(body["progress"], 40);
    assert_eq!(body["status"], "IN_PROGRESS");
    assert_eq!(body["is_late"], false);
}

#[tokio::test]
async fn actions_are_listed_newest_first_and_filtered_by_status() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Plant").await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let other_kpi = kpi(&app, &admin, board, &json!({"name": "Other"})).await;
    let open = id_of(&create_action(&app, &admin, kpi_id, &json!({"title": "Open"})).await);
    let doing = id_of(
        &create_action(
            &app,
            &admin,
            kpi_id,
            &json!({"title": "Doing", "status": "IN_PROGRESS"}),
        )
        .await,
    );
    let done = id_of(
        &create_action(
            &app,
            &admin,
            kpi_id,
            &json!({"title": "Done", "status": "DONE"}),
        )
        .await,
    );
    create_action(&app, &admin, other_kpi, &json!({"title": "Elsewhere"})).await;
    let path = format!("/kpis/{kpi_id}/actions");

    let all = get_ok(&app, &admin, &path).await;
    let only_done = get_ok(&app, &admin, &format!("{path}?status=DONE")).await;
    let still_open = get_ok(&app, &admin, &format!("{path}?status=OPEN,IN_PROGRESS")).await;
    let repeated = get_ok(&app, &admin, &format!("{path}?status=OPEN&status=DONE")).await;
    let cancelled = get_ok(&app, &admin, &format!("{path}?status=CANCELLED")).await;
    let unknown = app.get(&admin, &format!("{path}?status=LATE")).await;

    assert_eq!(ids(&all), vec![done, doing, open]);
    assert_eq!(ids(&only_done), vec![done]);
    assert_eq!(ids(&still_open), vec![doing, open]);
    assert_eq!(ids(&repeated), vec![done, open]);
    assert_eq!(cancelled, json!([]));
    assert_invalid_field(&unknown, "status");
    let page = app.get(&admin, &format!("{path}?limit=2")).await;
    page.assert_status(200);
    assert_eq!(ids(&page.body), vec![done, doing]);
    let rest = app
        .send(
            app.raw()
                .get(app.resolve_link(&page.next_link().expect("a next link")))
                .bearer_auth(&admin.token),
        )
        .await;
    assert_eq!(ids(&rest.body), vec![open]);
}

// -- actions: patch -----------------------------------------------------------

#[tokio::test]
async fn patch_leaves_absent_fields_unchanged_and_null_clears_them() {
    let (app, admin, kpi_id) = setup().await;
    let owner = app.create_user(&admin, "USER").await;
    let due = days_from_today(10);
    let created = create_action(
        &app,
        &admin,
        kpi_id,
        &json!({"title": "Audit", "description": "Full audit", "owner_id": owner.user_id,
                "due_date": due}),
    )
    .await;
    let path = format!("/actions/{}", id_of(&created));

    let progressed = app
        .patch_json(
            &admin,
            &path,
            &json!({"progress": 60, "status": "IN_PROGRESS"}),
        )
        .await;
    progressed.assert_status(200);
    assert_eq!(progressed.body["progress"], 60);
    assert_eq!(progressed.body["status"], "IN_PROGRESS");
    assert_eq!(progressed.body["title"], "Audit");
    assert_eq!(progressed.body["description"], "Full audit");
    assert_eq!(progressed.body["owner_id"], owner.user_id.to_string());
    assert_eq!(progressed.body["due_date"], due.as_str());

    let cleared = app
        .patch_json(
            &admin,
            &path,
            &json!({"due_date": null, "description": null}),
        )
        .await;
    cleared.assert_status(200);
    assert_eq!(cleared.body["due_date"], Value::Null);
    assert_eq!(cleared.body["description"], Value::Null);
    assert_eq!(cleared.body["title"], "Audit");
    assert_eq!(cleared.body["progress"], 60);
    assert_eq!(cleared.body["owner_id"], owner.user_id.to_string());
    assert_eq!(get_ok(&app, &admin, &path).await, cleared.body);
}

#[tokio::test]
async fn invalid_action_bodies_are_422_naming_the_field() {
    let (app, admin, kpi_id) = setup().await;
    let other_org = app.signup("Globex").await;
    let action = create_action(&app, &admin, kpi_id, &json!({"progress": 10})).await;
    let path = format!("/kpis/{kpi_id}/actions");
    let action_path = format!("/actions/{}", id_of(&action));

    let cases: Vec<(Method, &str, Value, &str)> = vec![
        (Method::POST, &path, json!({}), "title"),
        (Method::POST, &path, json!({"title": ""}), "title"),
        (
            Method::POST,
            &path,
            json!({"title": "t".repeat(201)}),
            "title",
        ),
        (
            Method::POST,
            &path,
            json!({"title": "T", "progress": 101}),
            "progress",
        ),
        (
            Method::POST,
            &path,
            json!({"title": "T", "progress": -1}),
            "progress",
        ),
        (
            Method::POST,
            &path,
            json!({"title": "T", "progress": 12.5}),
            "progress",
        ),
        (
            Method::POST,
            &path,
            json!({"title": "T", "status": "LATE"}),
            "status",
        ),
        (
            Method::POST,
            &path,
            json!({"title": "T", "due_date": "2025-02-30"}),
            "due_date",
        ),
        (
            Method::POST,
            &path,
            json!({"title": "T", "owner_id": other_org.user_id}),
            "owner_id",
        ),
        (
            Method::POST,
            &path,
            json!({"title": "T", "owner_id": Uuid::now_v7()}),
            "owner_id",
        ),
        (
            Method::POST,
            &path,
            json!({"title": "T", "priority": 1}),
            "priority",
        ),
        (
            Method::PATCH,
            &action_path,
            json!({"progress": 101}),
            "progress",
        ),
        (
            Method::PATCH,
            &action_path,
            json!({"progress": -5}),
            "progress",
        ),
        (Method::PATCH, &action_path, json!({"title": ""}), "title"),
        (Method::PATCH, &action_path, json!({"title": null}), "title"),
        (
            Method::PATCH,
            &action_path,
            json!({"status": "PAUSED"}),
            "status",
        ),
        (
            Method::PATCH,
            &action_path,
            json!({"status": null}),
            "status",
        ),
        (
            Method::PATCH,
            &action_path,
            json!({"due_date": "tomorrow"}),
            "due_date",
        ),
        (
            Method::PATCH,
            &action_path,
            json!({"owner_id": other_org.user_id}),
            "owner_id",
        ),
    ];
    for (method, path, body, field) in cases {
        let resp = app
            .send_json(&admin, method.clone(), path, Some(&body))
            .await;
        assert_eq!(resp.status, 422, "{method} {path} {body}: {}", resp.text);
        assert_invalid_field(&resp, field);
    }
    let now = get_ok(&app, &admin, &action_path).await;
    assert_eq!(now["progress"], 10);
    assert_eq!(now["status"], "OPEN");
    assert_eq!(
        ids(&get_ok(&app, &admin, &path).await),
        vec![id_of(&action)]
    );
}

#[tokio::test]
async fn a_wrong_json_type_for_an_action_status_is_422_not_400() {
    // well-formed JSON with a value of the wrong type is invalid data (422
    // naming the field), not a malformed body (400)
    let (app, admin, kpi_id) = setup().await;
    let action = create_action(&app, &admin, kpi_id, &json!({})).await;
    let action_path = format!("/actions/{}", id_of(&action));

    for value in [json!(1), json!(true), json!(["DONE"])] {
        let created = app
            .post_json(
                &admin,
                &format!("/kpis/{kpi_id}/actions"),
                &json!({"title": "T", "status": value}),
            )
            .await;
        let patched = app
            .patch_json(&admin, &action_path, &json!({"status": value}))
            .await;
        assert_eq!(created.status, 422, "POST status {value}: {}", created.text);
        assert_invalid_field(&created, "status");
        assert_eq!(
            patched.status, 422,
            "PATCH status {value}: {}",
            patched.text
        );
        assert_invalid_field(&patched, "status");
    }
}

// -- is_late ------------------------------------------------------------------

#[tokio::test]
async fn an_action_is_late_when_its_due_date_passed_and_it_is_not_closed() {
    let (app, admin, kpi_id) = setup().await;
    let yesterday = days_from_today(-1);
    let late = |due: Option<&str>, status: &str| json!({"title": format!("{status} {due:?}"), "due_date": due, "status": status});

    for (due, status, expected) in [
        (Some(yesterday.as_str()), "OPEN", true),
        (Some(yesterday.as_str()), "IN_PROGRESS", true),
        (Some(yesterday.as_str()), "DONE", false),
        (Some(yesterday.as_str()), "CANCELLED", false),
        (Some(today().as_str()), "OPEN", false),
        (Some(days_from_today(1).as_str()), "OPEN", false),
        (None, "OPEN", false),
    ] {
        let created = create_action(&app, &admin, kpi_id, &late(due, status)).await;
        assert_eq!(created["is_late"], expected, "created {status} due {due:?}");
        let fetched = get_ok(&app, &admin, &format!("/actions/{}", id_of(&created))).await;
        assert_eq!(fetched["is_late"], expected, "fetched {status} due {due:?}");
    }
}

#[tokio::test]
async fn is_late_follows_patches_of_status_and_due_date() {
    let (app, admin, kpi_id) = setup().await;
    let action = create_action(
        &app,
        &admin,
        kpi_id,
        &json!({"due_date": days_from_today(-3)}),
    )
    .await;
    assert_eq!(action["is_late"], true);
    let path = format!("/actions/{}", id_of(&action));

    let done = app
        .patch_json(&admin, &path, &json!({"status": "DONE"}))
        .await;
    let reopened = app
        .patch_json(&admin, &path, &json!({"status": "OPEN"}))
        .await;
    let postponed = app
        .patch_json(&admin, &path, &json!({"due_date": today()}))
        .await;
    let overdue = app
        .patch_json(&admin, &path, &json!({"due_date": days_from_today(-1)}))
        .await;
    let undated = app
        .patch_json(&admin, &path, &json!({"due_date": null}))
        .await;

    assert_eq!(done.body["is_late"], false, "{}", done.text);
    assert_eq!(reopened.body["is_late"], true, "{}", reopened.text);
    assert_eq!(postponed.body["is_late"], false, "{}", postponed.text);
    assert_eq!(overdue.body["is_late"], true, "{}", overdue.text);
    assert_eq!(undated.body["is_late"], false, "{}", undated.text);
    let listed = get_ok(&app, &admin, &format!("/kpis/{kpi_id}/actions")).await;
    assert_eq!(listed[0]["is_late"], false);
}

#[tokio::test]
async fn a_done_action_is_at_100_and_closed_actions_are_reopened_before_closing_otherwise() {
    let (app, admin, kpi_id) = setup().await;
    let actions = format!("/kpis/{kpi_id}/actions");

    // DONE means finished: 100 % by default, and not at 30 %
    let done = create_action(&app, &admin, kpi_id, &json!({"status": "DONE"})).await;
    assert_eq!(
        (&done["status"], &done["progress"]),
        (&json!("DONE"), &json!(100))
    );
    let resp = app
        .post_json(
            &admin,
            &actions,
            &json!({"title": "T", "status": "DONE", "progress": 30}),
        )
        .await;
    assert_invalid_field(&resp, "progress");
    assert_eq!(
        resp.body["errors"][0]["message"],
        "a DONE action's progress is 100"
    );
    // an open action may reach 100 before anyone calls it done
    let open = create_action(&app, &admin, kpi_id, &json!({"progress": 100})).await;
    assert_eq!(
        (&open["status"], &open["progress"]),
        (&json!("OPEN"), &json!(100))
    );

    let path = format!(
        "/actions/{}",
        id_of(&create_action(&app, &admin, kpi_id, &json!({"progress": 30})).await)
    );
    let resp = app
        .patch_json(&admin, &path, &json!({"status": "DONE", "progress": 30}))
        .await;
    assert_invalid_field(&resp, "progress");
    let done = app
        .patch_json(&admin, &path, &json!({"status": "DONE"}))
        .await;
    assert_eq!(done.body["progress"], 100, "{}", done.text);
    // a DONE action's progress changes once it is reopened
    let resp = app
        .patch_json(&admin, &path, &json!({"progress": 60}))
        .await;
    assert_eq!(assert_problem(&resp, 409), "action_state");
    // closed one way, it is reopened before being closed the other way
    let resp = app
        .patch_json(&admin, &path, &json!({"status": "CANCELLED"}))
        .await;
    assert_eq!(assert_problem(&resp, 409), "action_state");
    assert_eq!(
        resp.body["detail"],
        "a DONE action must be reopened (OPEN or IN_PROGRESS) before it is CANCELLED"
    );
    let reopened = app
        .patch_json(
            &admin,
            &path,
            &json!({"status": "IN_PROGRESS", "progress": 60}),
        )
        .await;
    reopened.assert_status(200);
    let cancelled = app
        .patch_json(&admin, &path, &json!({"status": "CANCELLED"}))
        .await;
    assert_eq!(
        cancelled.body["progress"], 60,
        "cancelling keeps the progress"
    );
    let resp = app
        .patch_json(&admin, &path, &json!({"status": "DONE"}))
        .await;
    assert_eq!(assert_problem(&resp, 409), "action_state");
    // refused changes changed nothing
    let now = get_ok(&app, &admin, &path).await;
    assert_eq!(
        (&now["status"], &now["progress"]),
        (&json!("CANCELLED"), &json!(60))
    );
    app.patch_json(&admin, &path, &json!({"status": "OPEN"}))
        .await
        .assert_status(200);
    let done = app
        .patch_json(&admin, &path, &json!({"status": "DONE"}))
        .await;
    assert_eq!(
        (&done.body["status"], &done.body["progress"]),
        (&json!("DONE"), &json!(100))
    );
}

// -- actions: who edits -------------------------------------------------------

#[tokio::test]
async fn the_admin_action_owner_creator_and_dashboard_owner_edit_an_action_others_get_403() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board_owner = app.create_user(&admin, "USER").await;
    let creator = app.create_user(&admin, "USER").await;
    let action_owner = app.create_user(&admin, "USER").await;
    let bystander = app.create_user(&admin, "USER").await;
    let board = dashboard(&app, &board_owner, "Sales").await;
    let kpi_id = kpi(&app, &board_owner, board, &json!({})).await;
    let action = create_action(
        &app,
        &creator,
        kpi_id,
        &json!({"owner_id": action_owner.user_id}),
    )
    .await;
    let path = format!("/actions/{}", id_of(&action));

    for (n, editor) in [&admin, &board_owner, &creator, &action_owner]
        .into_iter()
        .enumerate()
    {
        let resp = app
            .patch_json(editor, &path, &json!({"progress": 10 * (n + 1)}))
            .await;
        assert_eq!(resp.status, 200, "{}: {}", editor.email, resp.text);
        assert_eq!(resp.body["progress"], 10 * (n + 1));
    }

    // the bystander sees the action and may comment and open their own
    app.get(&bystander, &path).await.assert_status(200);
    let refused = app
        .patch_json(&bystander, &path, &json!({"status": "CANCELLED"}))
        .await;
    let refused_delete = app.delete(&bystander, &path).await;
    assert_eq!(assert_problem(&refused, 403), "forbidden");
    assert_eq!(assert_problem(&refused_delete, 403), "forbidden");
    let now = get_ok(&app, &admin, &path).await;
    assert_eq!(
        (now["status"].as_str(), now["progress"].as_i64()),
        (Some("OPEN"), Some(40))
    );
    comment_action(&app, &bystander, id_of(&action), "can I help?").await;
    let own = create_action(&app, &bystander, kpi_id, &json!({"title": "Mine"})).await;
    app.patch_json(
        &bystander,
        &format!("/actions/{}", id_of(&own)),
        &json!({"progress": 5}),
    )
    .await
    .assert_status(200);

    app.delete(&action_owner, &path).await.assert_status(204);
    assert_problem(&app.get(&admin, &path).await, 404);
}

#[tokio::test]
async fn actions_and_comments_are_404_outside_the_team_and_the_organization() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let outsider = app.create_user(&admin, "USER").await;
    let team = app.create_team(&admin, "Quality").await;
    let board = team_dashboard(&app, &admin, "Quality", team).await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let action = create_action(&app, &admin, kpi_id, &json!({})).await;
    let action_id = id_of(&action);
    let on_kpi = comment_kpi(&app, &admin, kpi_id, "watch this").await;
    let other_org = app.signup("Globex").await;

    for stranger in [&outsider, &other_org] {
        let cases: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, format!("/kpis/{kpi_id}/actions"), None),
            (
                Method::POST,
                format!("/kpis/{kpi_id}/actions"),
                Some(json!({"title": "Sneaky"})),
            ),
            (Method::GET, format!("/actions/{action_id}"), None),
            (
                Method::PATCH,
                format!("/actions/{action_id}"),
                Some(json!({"progress": 99})),
            ),
            (Method::DELETE, format!("/actions/{action_id}"), None),
            (Method::GET, format!("/kpis/{kpi_id}/comments"), None),
            (
                Method::POST,
                format!("/kpis/{kpi_id}/comments"),
                Some(json!({"content": "hi"})),
            ),
            (Method::GET, format!("/actions/{action_id}/comments"), None),
            (
                Method::POST,
                format!("/actions/{action_id}/comments"),
                Some(json!({"content": "hi"})),
            ),
            (
                Method::DELETE,
                format!("/comments/{}", id_of(&on_kpi)),
                None,
            ),
        ];
        for (method, path, body) in cases {
            let resp = app
                .send_json(stranger, method.clone(), &path, body.as_ref())
                .await;
            assert_eq!(
                resp.status, 404,
                "{} {method} {path}: {}",
                stranger.email, resp.text
            );
            assert_problem(&resp, 404);
        }
    }
    let foreign = app.get(&other_org, &format!("/actions/{action_id}")).await;
    let missing = app
        .get(&other_org, &format!("/actions/{}", Uuid::now_v7()))
        .await;
    assert_eq!(foreign.body, missing.body);
    // nothing changed
    assert_eq!(
        get_ok(&app, &admin, &format!("/actions/{action_id}")).await["progress"],
        0
    );
    assert_eq!(
        ids(&get_ok(&app, &admin, &format!("/kpis/{kpi_id}/actions")).await),
        vec![action_id]
    );
    assert_eq!(
        ids(&get_ok(&app, &admin, &format!("/kpis/{kpi_id}/comments")).await),
        vec![id_of(&on_kpi)]
    );
}

// -- comments -----------------------------------------------------------------

#[tokio::test]
async fn comments_are_listed_newest_first_with_their_authors_name() {
    let (app, admin, kpi_id) = setup().await;
    let user = app.create_user(&admin, "USER").await;
    app.patch_json(
        &admin,
        &format!("/users/{}", user.user_id),
        &json!({"full_name": "Chloé Martin"}),
    )
    .await
    .assert_status(200);
    let action = create_action(&app, &admin, kpi_id, &json!({})).await;
    let action_id = id_of(&action);

    let first = comment_kpi(&app, &admin, kpi_id, "  Why red? ").await;
    let second = comment_kpi(&app, &user, kpi_id, "Supplier strike").await;
    let on_action = comment_action(&app, &user, action_id, "Carrier called").await;
    let on_action_2 = comment_action(&app, &admin, action_id, "Thanks").await;

    assert_eq!(first["content"], "Why red?");
    assert_eq!(first["author_id"], admin.user_id.to_string());
    assert_eq!(first["author_name"], "Ada Admin");
    assert_eq!(first["kpi_id"], kpi_id.to_string());
    assert_eq!(first["action_plan_id"], Value::Null);
    assert_eq!(first["organization_id"], admin.organization_id.to_string());
    assert!(first["created_at"].is_string());
    assert_eq!(second["author_name"], "Chloé Martin");
    assert_eq!(on_action["action_plan_id"], action_id.to_string());
    assert_eq!(on_action["kpi_id"], kpi_id.to_string());

    let on_kpi = get_ok(&app, &user, &format!("/kpis/{kpi_id}/comments")).await;
    let on_plan = get_ok(&app, &user, &format!("/actions/{action_id}/comments")).await;
    assert_eq!(ids(&on_kpi), vec![id_of(&second), id_of(&first)]);
    assert_eq!(on_kpi[0]["author_name"], "Chloé Martin");
    assert_eq!(on_kpi[1]["author_name"], "Ada Admin");
    assert_eq!(ids(&on_plan), vec![id_of(&on_action_2), id_of(&on_action)]);
    assert_eq!(on_plan[1]["author_name"], "Chloé Martin");
}

#[tokio::test]
async fn comment_content_must_be_1_to_2000_characters() {
    let (app, admin, kpi_id) = setup().await;
    let action = create_action(&app, &admin, kpi_id, &json!({})).await;

    for path in [
        format!("/kpis/{kpi_id}/comments"),
        format!("/actions/{}/comments", id_of(&action)),
    ] {
        for body in [
            json!({"content": ""}),
            json!({"content": "   "}),
            json!({"content": "x".repeat(2001)}),
            json!({"content": "é".repeat(2001)}),
            json!({"content": 42}),
            json!({"content": null}),
            json!({}),
        ] {
            let resp = app.post_json(&admin, &path, &body).await;
            assert_eq!(resp.status, 422, "{path}: {}", resp.text);
            assert_invalid_field(&resp, "content");
        }
        assert_eq!(
            get_ok(&app, &admin, &path).await,
            json!([]),
            "nothing written"
        );
        for content in ["x".repeat(2000), "é".repeat(2000), "!".to_owned()] {
            let resp = app
                .post_json(&admin, &path, &json!({"content": content}))
                .await;
            assert_eq!(
                resp.status,
                201,
                "{path} {} chars: {}",
                content.chars().count(),
                resp.text
            );
            assert_eq!(resp.body["content"], content.as_str());
        }
    }
}

#[tokio::test]
async fn a_comment_is_deleted_by_its_author_or_an_admin_only() {
    let (app, admin, kpi_id) = setup().await;
    let author = app.create_user(&admin, "USER").await;
    let colleague = app.create_user(&admin, "USER").await;
    let kept = comment_kpi(&app, &author, kpi_id, "mine").await;
    let by_author = comment_kpi(&app, &author, kpi_id, "delete me").await;
    let by_admin = comment_kpi(&app, &author, kpi_id, "moderate me").await;

    let refused = app
        .delete(&colleague, &format!("/comments/{}", id_of(&kept)))
        .await;
    let own = app
        .delete(&author, &format!("/comments/{}", id_of(&by_author)))
        .await;
    let moderated = app
        .delete(&admin, &format!("/comments/{}", id_of(&by_admin)))
        .await;

    assert_eq!(assert_problem(&refused, 403), "forbidden");
    own.assert_status(204);
    moderated.assert_status(204);
    assert_eq!(
        ids(&get_ok(&app, &colleague, &format!("/kpis/{kpi_id}/comments")).await),
        vec![id_of(&kept)]
    );
    assert_problem(
        &app.delete(&author, &format!("/comments/{}", id_of(&by_author)))
            .await,
        404,
    );
    // the author cannot delete an admin's comment either
    let admins = comment_kpi(&app, &admin, kpi_id, "admin note").await;
    assert_problem(
        &app.delete(&author, &format!("/comments/{}", id_of(&admins)))
            .await,
        403,
    );
}

#[tokio::test]
async fn deleting_an_action_deletes_its_comments_but_not_the_kpis() {
    let (app, admin, kpi_id) = setup().await;
    let action = create_action(&app, &admin, kpi_id, &json!({})).await;
    let action_id = id_of(&action);
    let on_action = comment_action(&app, &admin, action_id, "on the action").await;
    let on_kpi = comment_kpi(&app, &admin, kpi_id, "on the KPI").await;

    app.delete(&admin, &format!("/actions/{action_id}"))
        .await
        .assert_status(204);

    assert_problem(
        &app.get(&admin, &format!("/actions/{action_id}/comments"))
            .await,
        404,
    );
    assert_problem(
        &app.delete(&admin, &format!("/comments/{}", id_of(&on_action)))
            .await,
        404,
    );
    assert_eq!(
        ids(&get_ok(&app, &admin, &format!("/kpis/{kpi_id}/comments")).await),
        vec![id_of(&on_kpi)]
    );
}
