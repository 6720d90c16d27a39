//! Dashboards, in process on the router: lifecycle, the status summary, who
//! sees and who changes them, validation and pagination.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kpix_tests::{
    RouterApp, assert_invalid_field, assert_problem,
    fixtures::{
        add_value, collect_pages, create_dashboard, create_kpi, dashboard, deactivate_user, get_ok,
        id_of, ids, kpi, team_dashboard,
    },
};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

fn summary(dashboard: &Value) -> (i64, Value, i64, Value) {
    (
        dashboard["total_kpis"].as_i64().expect("total_kpis"),
        dashboard["status_breakdown"].clone(),
        dashboard["no_value"].as_i64().expect("no_value"),
        dashboard["worst_status"].clone(),
    )
}

// -- lifecycle ----------------------------------------------------------------

#[tokio::test]
async fn a_created_dashboard_is_owned_by_its_creator_and_has_an_empty_summary() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let user = app.create_user(&admin, "USER").await;

    let created = app
        .post_json(
            &user,
            "/dashboards",
            &json!({"title": "  Logistics ", "description": "Deliveries and stock", "process_name": "Supply chain"}),
        )
        .await;

    created.assert_status(201);
    let body = &created.body;
    assert_eq!(body["title"], "Logistics");
    assert_eq!(body["description"], "Deliveries and stock");
    assert_eq!(body["process_name"], "Supply chain");
    assert_eq!(body["owner_id"], user.user_id.to_string());
    assert_eq!(body["organization_id"], user.organization_id.to_string());
    assert_eq!(body["team_id"], Value::Null);
    assert!(
        body["created_at"].is_string() && body["updated_at"].is_string(),
        "{body}"
    );
    assert_eq!(
        summary(body),
        (
            0,
            json!({"GREEN": 0, "ORANGE": 0, "RED": 0}),
            0,
            Value::Null
        )
    );
    let fetched = get_ok(&app, &user, &format!("/dashboards/{}", created.id())).await;
    assert_eq!(&fetched, body);
}

#[tokio::test]
async fn dashboards_are_listed_newest_first_and_filtered_by_process_name() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let first = id_of(
        &create_dashboard(
            &app,
            &admin,
            &json!({"title": "A", "process_name": "Logistics"}),
        )
        .await,
    );
    let second = id_of(
        &create_dashboard(
            &app,
            &admin,
            &json!({"title": "B", "process_name": "Quality"}),
        )
        .await,
    );
    let third = id_of(
        &create_dashboard(
            &app,
            &admin,
            &json!({"title": "C", "process_name": "Logistics"}),
        )
        .await,
    );

    let all = get_ok(&app, &admin, "/dashboards").await;
    let logistics = get_ok(&app, &admin, "/dashboards?process_name=logistics").await;
    let quality = get_ok(&app, &admin, "/dashboards?process_name=Quality").await;
    let none = get_ok(&app, &admin, "/dashboards?process_name=Finance").await;

    assert_eq!(ids(&all), vec![third, second, first]);
    assert_eq!(ids(&logistics), vec![third, first]);
    assert_eq!(ids(&quality), vec![second]);
    assert_eq!(none, json!([]));
    // list items carry the summary too
    assert_eq!(all[0]["total_kpis"], 0);
    assert_eq!(
        all[0]["status_breakdown"],
        json!({"GREEN": 0, "ORANGE": 0, "RED": 0})
    );
}

#[tokio::test]
async fn patch_leaves_absent_fields_unchanged_and_null_clears_them() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let team = app.create_team(&admin, "Ops").await;
    let created = create_dashboard(
        &app,
        &admin,
        &json!({"title": "Plant", "description": "Line 2", "process_name": "Production", "team_id": team}),
    )
    .await;
    let path = format!("/dashboards/{}", id_of(&created));

    let renamed = app
        .patch_json(&admin, &path, &json!({"title": "Plant 2"}))
        .await;
    renamed.assert_status(200);
    assert_eq!(renamed.body["title"], "Plant 2");
    assert_eq!(renamed.body["description"], "Line 2");
    assert_eq!(renamed.body["process_name"], "Production");
    assert_eq!(renamed.body["team_id"], team.to_string());
    assert_eq!(renamed.body["owner_id"], admin.user_id.to_string());

    let cleared = app
        .patch_json(
            &admin,
            &path,
            &json!({"description": null, "process_name": null, "team_id": null}),
        )
        .await;
    cleared.assert_status(200);
    assert_eq!(cleared.body["title"], "Plant 2");
    assert_eq!(cleared.body["description"], Value::Null);
    assert_eq!(cleared.body["process_name"], Value::Null);
    assert_eq!(cleared.body["team_id"], Value::Null);

    let stored = get_ok(&app, &admin, &path).await;
    assert_eq!(stored, cleared.body);
    assert_eq!(stored["created_at"], created["created_at"]);
}

#[tokio::test]
async fn a_deleted_dashboard_is_gone_with_its_kpis() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Temporary").await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let path = format!("/dashboards/{board}");

    let deleted = app.delete(&admin, &path).await;

    deleted.assert_status(204);
    assert!(deleted.text.is_empty(), "{}", deleted.text);
    assert_problem(&app.get(&admin, &path).await, 404);
    assert_problem(&app.delete(&admin, &path).await, 404);
    assert_problem(
        &app.patch_json(&admin, &path, &json!({"title": "Back"}))
            .await,
        404,
    );
    assert_problem(&app.get(&admin, &format!("/kpis/{kpi_id}")).await, 404);
    assert_eq!(get_ok(&app, &admin, "/dashboards").await, json!([]));
}

// -- visibility ---------------------------------------------------------------

#[tokio::test]
async fn an_organization_wide_dashboard_is_seen_by_every_user() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let owner = app.create_user(&admin, "USER").await;
    let colleague = app.create_user(&admin, "USER").await;
    let board = dashboard(&app, &owner, "Shared").await;

    for session in [&owner, &colleague, &admin] {
        app.get(session, &format!("/dashboards/{board}"))
            .await
            .assert_status(200);
        assert_eq!(
            ids(&get_ok(&app, session, "/dashboards").await),
            vec![board]
        );
        app.get(session, &format!("/dashboards/{board}/kpis"))
            .await
            .assert_status(200);
    }
}

#[tokio::test]
async fn a_team_dashboard_is_seen_by_team_members_admins_and_its_owner_only() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let other_admin = app.create_user(&admin, "ADMIN").await;
    let owner = app.create_user(&admin, "USER").await;
    let member = app.create_user(&admin, "USER").await;
    let outsider = app.create_user(&admin, "USER").await;
    let team = app.create_team(&admin, "Quality").await;
    app.add_team_member(&admin, team, owner.user_id).await;
    app.add_team_member(&admin, team, member.user_id).await;
    let board = team_dashboard(&app, &owner, "Quality board", team).await;
    let kpi_id = kpi(&app, &owner, board, &json!({})).await;
    let shared = dashboard(&app, &admin, "Everyone").await;
    let path = format!("/dashboards/{board}");

    for session in [&owner, &member, &admin, &other_admin] {
        let one = app.get(session, &path).await;
        one.assert_status(200);
        assert_eq!(one.body["team_id"], team.to_string());
        let listed = ids(&get_ok(&app, session, "/dashboards").await);
        assert!(listed.contains(&board), "{} should list it", session.email);
        app.get(session, &format!("/kpis/{kpi_id}"))
            .await
            .assert_status(200);
    }

    let hidden = app.get(&outsider, &path).await;
    let missing = app
        .get(&outsider, &format!("/dashboards/{}", Uuid::now_v7()))
        .await;
    assert_problem(&hidden, 404);
    assert_eq!(hidden.body, missing.body, "a hidden dashboard looks absent");
    assert_eq!(
        ids(&get_ok(&app, &outsider, "/dashboards").await),
        vec![shared]
    );
    assert_problem(&app.get(&outsider, &format!("{path}/kpis")).await, 404);
    assert_problem(&app.get(&outsider, &format!("/kpis/{kpi_id}")).await, 404);
    // and writes are 404 too, not 403: the outsider must not learn it exists
    assert_problem(
        &app.patch_json(&outsider, &path, &json!({"title": "Mine"}))
            .await,
        404,
    );
    assert_problem(&app.delete(&outsider, &path).await, 404);
    assert_eq!(get_ok(&app, &admin, &path).await["title"], "Quality board");
}

#[tokio::test]
async fn the_owner_still_sees_a_team_dashboard_after_leaving_the_team() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let owner = app.create_user(&admin, "USER").await;
    let team = app.create_team(&admin, "Ops").await;
    app.add_team_member(&admin, team, owner.user_id).await;
    let board = team_dashboard(&app, &owner, "Ops board", team).await;

    app.delete(&admin, &format!("/teams/{team}/members/{}", owner.user_id))
        .await
        .assert_status(204);

    app.get(&owner, &format!("/dashboards/{board}"))
        .await
        .assert_status(200);
    assert_eq!(ids(&get_ok(&app, &owner, "/dashboards").await), vec![board]);
    app.patch_json(
        &owner,
        &format!("/dashboards/{board}"),
        &json!({"title": "Still mine"}),
    )
    .await
    .assert_status(200);
}

#[tokio::test]
async fn a_user_shares_a_dashboard_only_with_a_team_they_belong_to() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let user = app.create_user(&admin, "USER").await;
    let mine = app.create_team(&admin, "Mine").await;
    let theirs = app.create_team(&admin, "Theirs").await;
    app.add_team_member(&admin, mine, user.user_id).await;
    let other_org = app.signup("Globex").await;
    let foreign_team = app.create_team(&other_org, "Foreign").await;

    let refused = app
        .post_json(
            &user,
            "/dashboards",
            &json!({"title": "X", "team_id": theirs}),
        )
        .await;
    let foreign = app
        .post_json(
            &admin,
            "/dashboards",
            &json!({"title": "X", "team_id": foreign_team}),
        )
        .await;
    let allowed = app
        .post_json(
            &user,
            "/dashboards",
            &json!({"title": "X", "team_id": mine}),
        )
        .await;
    let by_admin = app
        .post_json(
            &admin,
            "/dashboards",
            &json!({"title": "Y", "team_id": theirs}),
        )
        .await;

    assert_invalid_field(&refused, "team_id");
    assert_invalid_field(&foreign, "team_id");
    allowed.assert_status(201);
    by_admin.assert_status(201);
    let moved = app
        .patch_json(
            &user,
            &format!("/dashboards/{}", allowed.id()),
            &json!({"team_id": theirs}),
        )
        .await;
    assert_invalid_field(&moved, "team_id");
}

#[tokio::test]
async fn the_process_filter_ignores_case_and_accents_as_imports_do() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let quality = id_of(
        &create_dashboard(
            &app,
            &admin,
            &json!({"title": "Q", "process_name": "Qualité Usine"}),
        )
        .await,
    );
    let other = id_of(
        &create_dashboard(
            &app,
            &admin,
            &json!({"title": "S", "process_name": "Sécurité"}),
        )
        .await,
    );

    for name in [
        "Qualité Usine",
        "qualite usine",
        "QUALITÉ USINE",
        "Qualite%20Usine",
        "qualit%C3%A9%20usine",
    ] {
        let found = get_ok(&app, &admin, &format!("/dashboards?process_name={name}")).await;
        assert_eq!(ids(&found), [quality], "{name}");
        let report = get_ok(
            &app,
            &admin,
            &format!("/reporting/overview?process_name={name}"),
        )
        .await;
        assert_eq!(
            report["dashboards"][0]["dashboard_id"],
            json!(quality),
            "{name}: {report}"
        );
        assert_eq!(report["dashboards"].as_array().unwrap().len(), 1, "{name}");
    }
    let found = get_ok(&app, &admin, "/dashboards?process_name=SECURITE").await;
    assert_eq!(ids(&found), [other]);
    // still the whole name, not a part of it
    assert_eq!(
        get_ok(&app, &admin, "/dashboards?process_name=qualite").await,
        json!([])
    );
}

// -- write rights -------------------------------------------------------------

#[tokio::test]
async fn only_the_owner_or_an_admin_may_change_or_delete_a_dashboard() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let owner = app.create_user(&admin, "USER").await;
    let colleague = app.create_user(&admin, "USER").await;
    let board = dashboard(&app, &owner, "Sales").await;
    let path = format!("/dashboards/{board}");

    let by_colleague = app
        .patch_json(&colleague, &path, &json!({"title": "Hijacked"}))
        .await;
    let delete_by_colleague = app.delete(&colleague, &path).await;
    let by_owner = app
        .patch_json(&owner, &path, &json!({"title": "Sales 2025"}))
        .await;
    let by_admin = app
        .patch_json(&admin, &path, &json!({"description": "Reviewed"}))
        .await;

    assert_eq!(assert_problem(&by_colleague, 403), "forbidden");
    assert_eq!(assert_problem(&delete_by_colleague, 403), "forbidden");
    by_owner.assert_status(200);
    by_admin.assert_status(200);
    let now = get_ok(&app, &colleague, &path).await;
    assert_eq!(now["title"], "Sales 2025");
    assert_eq!(now["description"], "Reviewed");
    assert_eq!(now["owner_id"], owner.user_id.to_string());

    app.delete(&owner, &path).await.assert_status(204);
    let by_admin_board = dashboard(&app, &owner, "Another").await;
    app.delete(&admin, &format!("/dashboards/{by_admin_board}"))
        .await
        .assert_status(204);
    assert_eq!(get_ok(&app, &admin, "/dashboards").await, json!([]));
}

#[tokio::test]
async fn the_owner_hands_a_dashboard_over_to_an_active_user() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let owner = app.create_user(&admin, "USER").await;
    let successor = app.create_user(&admin, "USER").await;
    let gone = app.create_user(&admin, "USER").await;
    deactivate_user(&app, &admin, gone.user_id).await;
    let board = dashboard(&app, &owner, "Sales").await;
    let path = format!("/dashboards/{board}");

    let to_gone = app
        .patch_json(&owner, &path, &json!({"owner_id": gone.user_id}))
        .await;
    let to_successor = app
        .patch_json(&owner, &path, &json!({"owner_id": successor.user_id}))
        .await;

    assert_invalid_field(&to_gone, "owner_id");
    to_successor.assert_status(200);
    assert_eq!(to_successor.body["owner_id"], successor.user_id.to_string());
    // the former owner is now just another user
    assert_problem(
        &app.patch_json(&owner, &path, &json!({"title": "Back"}))
            .await,
        403,
    );
    app.patch_json(&successor, &path, &json!({"title": "Mine now"}))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn another_organizations_dashboard_is_404_for_read_and_write() {
    let app = RouterApp::start().await;
    let admin_a = app.signup("Acme").await;
    let board = dashboard(&app, &admin_a, "Acme board").await;
    let kpi_id = kpi(&app, &admin_a, board, &json!({})).await;
    let admin_b = app.signup("Globex").await;
    let user_b = app.create_user(&admin_b, "USER").await;
    let path = format!("/dashboards/{board}");

    for session in [&admin_b, &user_b] {
        let cases: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, path.clone(), None),
            (Method::PATCH, path.clone(), Some(json!({"title": "Taken"}))),
            (Method::DELETE, path.clone(), None),
            (Method::GET, format!("{path}/kpis"), None),
            (
                Method::POST,
                format!("{path}/kpis"),
                Some(fixtures_kpi_body()),
            ),
        ];
        for (method, path, body) in cases {
            let resp = app
                .send_json(session, method.clone(), &path, body.as_ref())
                .await;
            assert_eq!(resp.status, 404, "{method} {path}: {}", resp.text);
            assert_problem(&resp, 404);
        }
        assert_eq!(get_ok(&app, session, "/dashboards").await, json!([]));
    }
    let foreign = app.get(&admin_b, &path).await;
    let missing = app
        .get(&admin_b, &format!("/dashboards/{}", Uuid::now_v7()))
        .await;
    assert_eq!(foreign.body, missing.body);

    // untouched
    let now = get_ok(&app, &admin_a, &path).await;
    assert_eq!(now["title"], "Acme board");
    assert_eq!(now["total_kpis"], 1);
    app.get(&admin_a, &format!("/kpis/{kpi_id}"))
        .await
        .assert_status(200);
}

fn fixtures_kpi_body() -> Value {
    kpix_tests::fixtures::kpi_body(&json!({}))
}

// -- status summary -----------------------------------------------------------

#[tokio::test]
async fn the_summary_counts_active_kpis_by_the_status_of_their_latest_value() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Plant").await;
    // UP_IS_BETTER, green 90, orange 80
    let green = kpi(&app, &admin, board, &json!({"name": "Green now"})).await;
    let orange = kpi(&app, &admin, board, &json!({"name": "Orange"})).await;
    let red = kpi(&app, &admin, board, &json!({"name": "Red"})).await;
    let _no_value = kpi(&app, &admin, board, &json!({"name": "Nothing yet"})).await;
    let inactive = kpi(
        &app,
        &admin,
        board,
        &json!({"name": "Retired", "is_active": false}),
    )
    .await;
    // latest by period, not by insertion: the February value is entered last
    add_value(&app, &admin, green, "2025-03-10", &json!(95)).await;
    add_value(&app, &admin, green, "2025-02-10", &json!(10)).await;
    add_value(&app, &admin, orange, "2025-03-10", &json!(85)).await;
    add_value(&app, &admin, red, "2025-03-10", &json!(40)).await;
    add_value(&app, &admin, red, "2025-01-10", &json!(99)).await;
    add_value(&app, &admin, inactive, "2025-03-10", &json!(1)).await;

    let one = get_ok(&app, &admin, &format!("/dashboards/{board}")).await;
    let listed = get_ok(&app, &admin, "/dashboards").await;

    let expected = (
        4,
        json!({"GREEN": 1, "ORANGE": 1, "RED": 1}),
        1,
        json!("RED"),
    );
    assert_eq!(summary(&one), expected);
    assert_eq!(summary(&listed[0]), expected);
}

#[tokio::test]
async fn worst_status_is_the_worst_latest_colour_or_null() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let greens = dashboard(&app, &admin, "Greens").await;
    let oranges = dashboard(&app, &admin, "Oranges").await;
    let empty = dashboard(&app, &admin, "No values").await;
    let g = kpi(&app, &admin, greens, &json!({})).await;
    let o1 = kpi(&app, &admin, oranges, &json!({})).await;
    let o2 = kpi(&app, &admin, oranges, &json!({})).await;
    kpi(&app, &admin, empty, &json!({})).await;
    add_value(&app, &admin, g, "2025-03-01", &json!(90)).await;
    add_value(&app, &admin, o1, "2025-03-01", &json!(90)).await;
    add_value(&app, &admin, o2, "2025-03-01", &json!(80)).await;

    let of = |id: Uuid| {
        let app = &app;
        let admin = &admin;
        async move { get_ok(app, admin, &format!("/dashboards/{id}")).await }
    };
    assert_eq!(
        summary(&of(greens).await),
        (
            1,
            json!({"GREEN": 1, "ORANGE": 0, "RED": 0}),
            0,
            json!("GREEN")
        )
    );
    assert_eq!(
        summary(&of(oranges).await),
        (
            2,
            json!({"GREEN": 1, "ORANGE": 1, "RED": 0}),
            0,
            json!("ORANGE")
        )
    );
    assert_eq!(
        summary(&of(empty).await),
        (
            1,
            json!({"GREEN": 0, "ORANGE": 0, "RED": 0}),
            1,
            Value::Null
        )
    );
}

#[tokio::test]
async fn deactivating_or_deleting_a_kpi_updates_the_summary() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Plant").await;
    let red = create_kpi(&app, &admin, board, &json!({"name": "Red"})).await;
    let green = kpi(&app, &admin, board, &json!({"name": "Green"})).await;
    let red_id = id_of(&red);
    add_value(&app, &admin, red_id, "2025-03-01", &json!(1)).await;
    add_value(&app, &admin, green, "2025-03-01", &json!(100)).await;
    let path = format!("/dashboards/{board}");
    assert_eq!(get_ok(&app, &admin, &path).await["worst_status"], "RED");

    app.patch_json(
        &admin,
        &format!("/kpis/{red_id}"),
        &json!({"is_active": false}),
    )
    .await
    .assert_status(200);
    let after_deactivation = get_ok(&app, &admin, &path).await;
    app.delete(&admin, &format!("/kpis/{green}"))
        .await
        .assert_status(204);
    let after_delete = get_ok(&app, &admin, &path).await;

    assert_eq!(
        summary(&after_deactivation),
        (
            1,
            json!({"GREEN": 1, "ORANGE": 0, "RED": 0}),
            0,
            json!("GREEN")
        )
    );
    assert_eq!(
        summary(&after_delete),
        (
            0,
            json!({"GREEN": 0, "ORANGE": 0, "RED": 0}),
            0,
            Value::Null
        )
    );
}

// -- pagination ---------------------------------------------------------------

#[tokio::test]
async fn dashboards_are_paginated_with_a_next_link_keeping_the_filter() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let mut created = Vec::new();
    for n in 0..5 {
        created.push(id_of(
            &create_dashboard(
                &app,
                &admin,
                &json!({"title": format!("Board {n}"), "process_name": "Ops"}),
            )
            .await,
        ));
    }
    let other = dashboard(&app, &admin, "Unfiled").await;

    let first = app
        .get(&admin, "/dashboards?limit=2&process_name=Ops")
        .await;
    first.assert_status(200);
    let next = first.next_link().expect("a next link on a full page");
    assert!(
        next.starts_with("/api/v1/dashboards?") || next.starts_with(&app.url("/dashboards?")),
        "next link {next:?} does not point at /api/v1/dashboards"
    );
    let (items, pages) = collect_pages(&app, &admin, "/dashboards?limit=2&process_name=Ops").await;

    created.reverse();
    assert_eq!(
        ids(&Value::Array(items)),
        created,
        "every page, newest first, once"
    );
    assert_eq!(pages, 3);
    assert!(!created.contains(&other));
    let last = app.get(&admin, "/dashboards?limit=6").await;
    assert_eq!(last.next_link(), None, "no next link when all fit");
}

#[tokio::test]
async fn bad_limits_on_core_lists_are_422_naming_limit() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Plant").await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let action = kpix_tests::fixtures::create_action(&app, &admin, kpi_id, &json!({})).await;
    let action_id = id_of(&action);

    for path in [
        "/dashboards".to_owned(),
        format!("/dashboards/{board}/kpis"),
        format!("/kpis/{kpi_id}/values"),
        format!("/kpis/{kpi_id}/actions"),
        format!("/kpis/{kpi_id}/comments"),
        format!("/actions/{action_id}/comments"),
    ] {
        for limit in ["0", "1001", "-1", "many"] {
            let resp = app.get(&admin, &format!("{path}?limit={limit}")).await;
            assert_eq!(resp.status, 422, "{path}?limit={limit}: {}", resp.text);
            assert_invalid_field(&resp, "limit");
        }
        app.get(&admin, &format!("{path}?limit=1000"))
            .await
            .assert_status(200);
        let bad_cursor = app
            .get(&admin, &format!("{path}?cursor=not-a-cursor"))
            .await;
        assert_eq!(bad_cursor.status, 422, "{path}: {}", bad_cursor.text);
        assert_problem(&bad_cursor, 422);
    }
}

// -- input --------------------------------------------------------------------

#[tokio::test]
async fn invalid_dashboard_bodies_are_422_naming_the_field() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Plant").await;
    let path = format!("/dashboards/{board}");

    let cases: Vec<(Method, &str, Value, &str)> = vec![
        (Method::POST, "/dashboards", json!({}), "title"),
        (Method::POST, "/dashboards", json!({"title": ""}), "title"),
        (
            Method::POST,
            "/dashboards",
            json!({"title": "   "}),
            "title",
        ),
        (
            Method::POST,
            "/dashboards",
            json!({"title": "t".repeat(201)}),
            "title",
        ),
        (Method::POST, "/dashboards", json!({"title": 12}), "title"),
        (
            Method::POST,
            "/dashboards",
            json!({"title": "Ok", "process_name": "p".repeat(201)}),
            "process_name",
        ),
        (
            Method::POST,
            "/dashboards",
            json!({"title": "Ok", "team_id": "not-a-uuid"}),
            "team_id",
        ),
        (
            Method::POST,
            "/dashboards",
            json!({"title": "Ok", "team_id": Uuid::now_v7()}),
            "team_id",
        ),
        (
            Method::POST,
            "/dashboards",
            json!({"title": "Ok", "owner_id": Uuid::now_v7()}),
            "owner_id",
        ),
        (
            Method::POST,
            "/dashboards",
            json!({"title": "Ok", "colour": "blue"}),
            "colour",
        ),
        (Method::PATCH, &path, json!({"title": ""}), "title"),
        (
            Method::PATCH,
            &path,
            json!({"title": "t".repeat(201)}),
            "title",
        ),
        (
            Method::PATCH,
            &path,
            json!({"owner_id": Uuid::now_v7()}),
            "owner_id",
        ),
        (
            Method::PATCH,
            &path,
            json!({"team_id": Uuid::now_v7()}),
            "team_id",
        ),
    ];
    for (method, path, body, field) in cases {
        let resp = app
            .send_json(&admin, method.clone(), path, Some(&body))
            .await;
        assert_eq!(resp.status, 422, "{method} {path} {body}: {}", resp.text);
        assert_invalid_field(&resp, field);
    }
    // nothing was written
    assert_eq!(ids(&get_ok(&app, &admin, "/dashboards").await), vec![board]);
    assert_eq!(get_ok(&app, &admin, &path).await["title"], "Plant");
}

#[tokio::test]
async fn malformed_json_on_core_writes_is_400() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Plant").await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let value = add_value(&app, &admin, kpi_id, "2025-03-01", &json!(1)).await;
    let action = kpix_tests::fixtures::create_action(&app, &admin, kpi_id, &json!({})).await;

    for (method, path) in [
        (Method::POST, "/dashboards".to_owned()),
        (Method::PATCH, format!("/dashboards/{board}")),
        (Method::POST, format!("/dashboards/{board}/kpis")),
        (Method::PATCH, format!("/kpis/{kpi_id}")),
        (Method::POST, format!("/kpis/{kpi_id}/values")),
        (Method::PATCH, format!("/values/{}", id_of(&value))),
        (Method::POST, format!("/kpis/{kpi_id}/actions")),
        (Method::PATCH, format!("/actions/{}", id_of(&action))),
        (Method::POST, format!("/kpis/{kpi_id}/comments")),
        (
            Method::POST,
            format!("/actions/{}/comments", id_of(&action)),
        ),
    ] {
        for raw in ["{,}", "{\"", "not json", ""] {
            let resp = app
                .send(
                    app.authed(&admin, method.clone(), &path)
                        .header("content-type", "application/json")
                        .body(raw),
                )
                .await;
            assert_eq!(resp.status, 400, "{method} {path} {raw:?}: {}", resp.text);
            assert_problem(&resp, 400);
        }
    }
}

#[tokio::test]
async fn a_truncated_body_is_400_even_when_its_beginning_has_the_wrong_shape() {
    // a body that is not complete JSON is malformed (400) whatever the
    // deserializer met first; only well-formed JSON with bad values is 422
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Plant").await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;

    for (path, raw) in [
        ("/dashboards".to_owned(), "[1, 2"),
        ("/dashboards".to_owned(), r#"{"title": 5, "descr"#),
        (
            format!("/kpis/{kpi_id}/values"),
            r#"{"value": "abc", "period_st"#,
        ),
    ] {
        let resp = app
            .post_raw(Some(&admin), &path, "application/json", raw)
            .await;
        assert_eq!(resp.status, 400, "POST {path} {raw:?}: {}", resp.text);
        assert_problem(&resp, 400);
    }
}

#[tokio::test]
async fn core_routes_need_a_token_and_uuid_ids() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let id = Uuid::now_v7();
    let routes = [
        (Method::GET, "/dashboards".to_owned()),
        (Method::POST, "/dashboards".to_owned()),
        (Method::GET, format!("/dashboards/{id}")),
        (Method::PATCH, format!("/dashboards/{id}")),
        (Method::DELETE, format!("/dashboards/{id}")),
        (Method::GET, format!("/dashboards/{id}/kpis")),
        (Method::POST, format!("/dashboards/{id}/kpis")),
        (Method::GET, format!("/kpis/{id}")),
        (Method::PATCH, format!("/kpis/{id}")),
        (Method::DELETE, format!("/kpis/{id}")),
        (Method::GET, format!("/kpis/{id}/values")),
        (Method::POST, format!("/kpis/{id}/values")),
        (Method::GET, format!("/kpis/{id}/series")),
        (Method::GET, format!("/values/{id}")),
        (Method::PATCH, format!("/values/{id}")),
        (Method::DELETE, format!("/values/{id}")),
        (Method::GET, format!("/kpis/{id}/actions")),
        (Method::POST, format!("/kpis/{id}/actions")),
        (Method::GET, format!("/actions/{id}")),
        (Method::PATCH, format!("/actions/{id}")),
        (Method::DELETE, format!("/actions/{id}")),
        (Method::GET, format!("/kpis/{id}/comments")),
        (Method::POST, format!("/kpis/{id}/comments")),
        (Method::GET, format!("/actions/{id}/comments")),
        (Method::POST, format!("/actions/{id}/comments")),
        (Method::DELETE, format!("/comments/{id}")),
    ];
    for (method, path) in &routes {
        let resp = app
            .send(app.request(method.clone(), path).json(&json!({})))
            .await;
        assert_eq!(resp.status, 401, "{method} {path}: {}", resp.text);
        assert_problem(&resp, 401);
    }
    for (method, path) in &routes {
        if !path.contains(&id.to_string()) {
            continue;
        }
        let bad = path.replace(&id.to_string(), "not-a-uuid");
        let resp = app
            .send_json(&admin, method.clone(), &bad, Some(&json!({})))
            .await;
        assert_eq!(resp.status, 400, "{method} {bad}: {}", resp.text);
        assert_eq!(assert_problem(&resp, 400), "invalid_path_parameter");
    }
}
