//! KPIs: definition and validation, the latest value, codes, write rights,
//! threshold changes with and without `recompute_history`, and the cascade on
//! delete (also racing value writes). In process on the router, but for the
//! tests that read the audit log lines or race writes, which run the real
//! `kpix-api`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kpix_tests::{
    RouterApp, TestApp, assert_invalid_field, assert_problem,
    fixtures::{
        add_value, collect_pages, comment_action, comment_kpi, create_action, create_kpi,
        dashboard, deactivate_user, exact_number, get_ok, id_of, ids, kpi, kpi_body, number_text,
        team_dashboard,
    },
    poll_until,
};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

/// `(status, threshold_green, threshold_orange, threshold_red)` of a stored value.
fn judged(value: &Value) -> (String, String, String, String) {
    (
        value["status"].as_str().expect("status").to_owned(),
        value["threshold_green"].to_string(),
        value["threshold_orange"].to_string(),
        value["threshold_red"].to_string(),
    )
}

fn judged_as(
    status: &str,
    green: &str,
    orange: &str,
    red: &str,
) -> (String, String, String, String) {
    (status.into(), green.into(), orange.into(), red.into())
}

// -- create, read -------------------------------------------------------------

#[tokio::test]
async fn a_kpi_is_created_with_every_field() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    let responsible = app.create_user(&admin, "USER").await;
    let board = dashboard(&app, &admin, "Quality").await;

    let created = app
        .post_json(
            &admin,
            &format!("/dashboards/{board}/kpis"),
            &json!({
                "code": "QUA-REB",
                "name": "  Scrap rate ",
                "description": "Scrapped parts over produced parts",
                "unit": "%",
                "frequency": "QUARTERLY",
                "direction": "DOWN_IS_BETTER",
                "threshold_green": exact_number("2.5"),
                "threshold_orange": exact_number("3.75"),
                "threshold_red": 10,
                "owner_id": responsible.user_id,
                "is_active": false,
            }),
        )
        .await;

    created.assert_status(201);
    let body = &created.body;
    assert_eq!(body["dashboard_id"], board.to_string());
    assert_eq!(body["organization_id"], admin.organization_id.to_string());
    assert_eq!(body["owner_id"], responsible.user_id.to_string());
    assert_eq!(body["code"], "QUA-REB");
    assert_eq!(body["name"], "Scrap rate");
    assert_eq!(body["description"], "Scrapped parts over produced parts");
    assert_eq!(body["unit"], "%");
    assert_eq!(body["frequency"], "QUARTERLY");
    assert_eq!(body["direction"], "DOWN_IS_BETTER");
    assert_eq!(number_text(&body["threshold_green"]), "2.5");
    assert_eq!(number_text(&body["threshold_orange"]), "3.75");
    assert_eq!(number_text(&body["threshold_red"]), "10");
    assert_eq!(body["is_active"], false);
    assert!(
        body["created_at"].is_string() && body["updated_at"].is_string(),
        "{body}"
    );
    for field in [
        "latest_value",
        "latest_status",
        "latest_period_start",
        "latest_period_end",
    ] {
        assert_eq!(body[field], Value::Null, "{field}: {body}");
    }
    assert_eq!(
        &get_ok(&app, &admin, &format!("/kpis/{}", created.id())).await,
        body
    );
    assert!(app.logs().contains(r#""audit":"kpi_created""#));
}

#[tokio::test]
async fn a_minimal_kpi_defaults_to_its_creator_active_and_without_code() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let owner = app.create_user(&admin, "USER").await;
    let board = dashboard(&app, &owner, "Mine").await;

    let created = app
        .post_json(
            &owner,
            &format!("/dashboards/{board}/kpis"),
            &json!({"name": "Calls", "frequency": "DAILY", "direction": "UP_IS_BETTER",
                    "threshold_green": 10, "threshold_orange": 5}),
        )
        .await;

    created.assert_status(201);
    assert_eq!(created.body["owner_id"], owner.user_id.to_string());
    assert_eq!(created.body["is_active"], true);
    assert_eq!(created.body["code"], Value::Null);
    assert_eq!(created.body["threshold_red"], Value::Null);
    assert_eq!(created.body["description"], Value::Null);
}

#[tokio::test]
async fn kpis_are_listed_per_dashboard_in_creation_order_with_pages() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Plant").await;
    let other = dashboard(&app, &admin, "Office").await;
    let mut created = Vec::new();
    for n in 0..3 {
        created.push(kpi(&app, &admin, board, &json!({"name": format!("KPI {n}")})).await);
    }
    let elsewhere = kpi(&app, &admin, other, &json!({})).await;

    let listed = get_ok(&app, &admin, &format!("/dashboards/{board}/kpis")).await;
    let (paged, pages) =
        collect_pages(&app, &admin, &format!("/dashboards/{board}/kpis?limit=2")).await;

    assert_eq!(ids(&listed), created);
    assert_eq!(ids(&Value::Array(paged)), created);
    assert_eq!(pages, 2);
    assert_eq!(
        ids(&get_ok(&app, &admin, &format!("/dashboards/{other}/kpis")).await),
        vec![elsewhere]
    );
}

#[tokio::test]
async fn the_latest_value_is_the_one_of_the_greatest_period_not_the_last_entered() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Plant").await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    add_value(&app, &admin, kpi_id, "2025-03-17", &json!(95)).await;
    add_value(&app, &admin, kpi_id, "2025-01-05", &json!(40)).await;
    add_value(&app, &admin, kpi_id, "2025-02-20", &json!(85)).await;

    let one = get_ok(&app, &admin, &format!("/kpis/{kpi_id}")).await;
    let listed = get_ok(&app, &admin, &format!("/dashboards/{board}/kpis")).await;

    for kpi in [&one, &listed[0]] {
        assert_eq!(number_text(&kpi["latest_value"]), "95", "{kpi}");
        assert_eq!(kpi["latest_status"], "GREEN");
        assert_eq!(kpi["latest_period_start"], "2025-03-01");
        assert_eq!(kpi["latest_period_end"], "2025-03-31");
    }
}

#[tokio::test]
async fn decimals_round_trip_exactly_as_json_numbers() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Finance").await;
    let created = create_kpi(
        &app,
        &admin,
        board,
        &json!({
            "threshold_green": exact_number("12.345"),
            "threshold_orange": exact_number("0.1"),
            "threshold_red": exact_number("-1234567.891"),
        }),
    )
    .await;
    let kpi_id = id_of(&created);

    let stored = add_value(&app, &admin, kpi_id, "2025-03-01", &exact_number("12.345")).await;
    // 20 digits: a float would round them
    let small = add_value(
        &app,
        &admin,
        kpi_id,
        "2025-04-01",
        &exact_number("1234567890.0123456789"),
    )
    .await;
    let fetched = get_ok(&app, &admin, &format!("/kpis/{kpi_id}")).await;
    let values = get_ok(&app, &admin, &format!("/kpis/{kpi_id}/values")).await;

    assert_eq!(number_text(&created["threshold_green"]), "12.345");
    assert_eq!(number_text(&fetched["threshold_green"]), "12.345");
    assert_eq!(number_text(&fetched["threshold_orange"]), "0.1");
    assert_eq!(number_text(&fetched["threshold_red"]), "-1234567.891");
    assert_eq!(number_text(&stored["value"]), "12.345");
    assert_eq!(stored["status"], "GREEN", "12.345 meets green 12.345");
    assert_eq!(number_text(&stored["threshold_green"]), "12.345");
    assert_eq!(number_text(&small["value"]), "1234567890.0123456789");
    assert_eq!(number_text(&values[1]["value"]), "12.345");
    assert_eq!(
        number_text(&fetched["latest_value"]),
        "1234567890.0123456789"
    );
    // and the raw text carries numbers, not strings
    let raw = app
        .get(&admin, &format!("/values/{}", id_of(&stored)))
        .await;
    assert!(raw.text.contains(r#""value":12.345"#), "{}", raw.text);
}

// -- validation ---------------------------------------------------------------

#[tokio::test]
async fn misordered_thresholds_are_422_naming_the_threshold() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Plant").await;
    let path = format!("/dashboards/{board}/kpis");
    let up = |green: i64, orange: i64, red: Value| {
        kpi_body(
            &json!({"direction": "UP_IS_BETTER", "threshold_green": green,
                         "threshold_orange": orange, "threshold_red": red}),
        )
    };
    let down = |green: i64, orange: i64, red: Value| {
        kpi_body(
            &json!({"direction": "DOWN_IS_BETTER", "threshold_green": green,
                         "threshold_orange": orange, "threshold_red": red}),
        )
    };

    for (body, field) in [
        (up(80, 90, Value::Null), "threshold_orange"),
        (up(90, 80, json!(85)), "threshold_red"),
        (down(10, 5, Value::Null), "threshold_orange"),
        (down(5, 10, json!(8)), "threshold_red"),
    ] {
        let resp = app.post_json(&admin, &path, &body).await;
        assert_eq!(resp.status, 422, "{body}: {}", resp.text);
        assert_invalid_field(&resp, field);
    }
    for body in [
        up(90, 90, Value::Null),
        up(90, 80, json!(80)),
        down(5, 5, json!(5)),
        down(5, 10, Value::Null),
    ] {
        let resp = app.post_json(&admin, &path, &body).await;
        assert_eq!(resp.status, 201, "{body}: {}", resp.text);
    }

    // a patch is checked against the merged result
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let kpi_path = format!("/kpis/{kpi_id}");
    for (patch, field) in [
        (json!({"threshold_green": 70}), "threshold_orange"),
        (json!({"threshold_red": 85}), "threshold_red"),
        (json!({"direction": "DOWN_IS_BETTER"}), "threshold_orange"),
    ] {
        let resp = app.patch_json(&admin, &kpi_path, &patch).await;
        assert_eq!(resp.status, 422, "{patch}: {}", resp.text);
        assert_invalid_field(&resp, field);
    }
    let unchanged = get_ok(&app, &admin, &kpi_path).await;
    assert_eq!(
        (
            number_text(&unchanged["threshold_green"]),
            number_text(&unchanged["threshold_orange"]),
            unchanged["direction"].as_str()
        ),
        ("90".into(), "80".into(), Some("UP_IS_BETTER"))
    );
}

#[tokio::test]
async fn invalid_kpi_bodies_are_422_naming_the_field() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Plant").await;
    let path = format!("/dashboards/{board}/kpis");
    let without = |field: &str| {
        let mut body = kpi_body(&json!({}));
        body.as_object_mut().unwrap().remove(field);
        body
    };

    let cases: Vec<(Value, &str)> = vec![
        (kpi_body(&json!({"frequency": "HOURLY"})), "frequency"),
        (kpi_body(&json!({"direction": "SIDEWAYS"})), "direction"),
        (without("frequency"), "frequency"),
        (without("direction"), "direction"),
        (without("name"), "name"),
        (without("threshold_green"), "threshold_green"),
        (without("threshold_orange"), "threshold_orange"),
        (kpi_body(&json!({"name": ""})), "name"),
        (kpi_body(&json!({"name": "n".repeat(201)})), "name"),
        (kpi_body(&json!({"code": "c".repeat(51)})), "code"),
        (
            kpi_body(&json!({"threshold_green": "abc"})),
            "threshold_green",
        ),
        (
            kpi_body(&json!({"threshold_orange": true})),
            "threshold_orange",
        ),
        (kpi_body(&json!({"threshold_red": "high"})), "threshold_red"),
        (kpi_body(&json!({"owner_id": "nobody"})), "owner_id"),
        (kpi_body(&json!({"is_active": "yes"})), "is_active"),
        (kpi_body(&json!({"target": 100})), "target"),
    ];
    for (body, field) in cases {
        let resp = app.post_json(&admin, &path, &body).await;
        assert_eq!(resp.status, 422, "{body}: {}", resp.text);
        assert_invalid_field(&resp, field);
    }
    assert_eq!(get_ok(&app, &admin, &path).await, json!([]));

    let kpi_path = format!("/kpis/{}", kpi(&app, &admin, board, &json!({})).await);
    for (patch, field) in [
        (json!({"frequency": "HOURLY"}), "frequency"),
        (json!({"direction": "LEFT"}), "direction"),
        (json!({"name": ""}), "name"),
        (json!({"threshold_green": "abc"}), "threshold_green"),
        (json!({"recompute_history": "yes"}), "recompute_history"),
    ] {
        let resp = app.patch_json(&admin, &kpi_path, &patch).await;
        assert_eq!(resp.status, 422, "{patch}: {}", resp.text);
        assert_invalid_field(&resp, field);
    }
}

#[tokio::test]
async fn a_wrong_json_type_for_frequency_or_direction_is_422_not_400() {
    // well-formed JSON with a value of the wrong type is invalid data (422
    // naming the field), not a malformed body (400)
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Plant").await;
    let kpi_path = format!("/kpis/{}", kpi(&app, &admin, board, &json!({})).await);

    for (field, value) in [
        ("frequency", json!(12)),
        ("frequency", json!(null)),
        ("frequency", json!(["MONTHLY"])),
        ("direction", json!(true)),
        ("direction", json!(1)),
    ] {
        let created = app
            .post_json(
                &admin,
                &format!("/dashboards/{board}/kpis"),
                &kpi_body(&json!({field: value})),
            )
            .await;
        assert_eq!(
            created.status, 422,
            "POST {field}: {value}: {}",
            created.text
        );
        assert_invalid_field(&created, field);
        if !value.is_null() {
            let patched = app
                .patch_json(&admin, &kpi_path, &json!({field: value}))
                .await;
            assert_eq!(
                patched.status, 422,
                "PATCH {field}: {value}: {}",
                patched.text
            );
            assert_invalid_field(&patched, field);
        }
    }
}

#[tokio::test]
async fn a_duplicate_code_in_the_organization_is_409_whatever_its_case() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Logistics").await;
    let other_board = dashboard(&app, &admin, "Elsewhere").await;
    kpi(&app, &admin, board, &json!({"code": "LOG-OTD"})).await;
    let second = kpi(&app, &admin, board, &json!({"code": "LOG-LT"})).await;
    let other_org = app.signup("Globex").await;
    let their_board = dashboard(&app, &other_org, "Theirs").await;

    let same = app
        .post_json(
            &admin,
            &format!("/dashboards/{other_board}/kpis"),
            &kpi_body(&json!({"code": "log-otd"})),
        )
        .await;
    let renamed = app
        .patch_json(
            &admin,
            &format!("/kpis/{second}"),
            &json!({"code": "Log-Otd"}),
        )
        .await;
    let in_other_org = app
        .post_json(
            &other_org,
            &format!("/dashboards/{their_board}/kpis"),
            &kpi_body(&json!({"code": "LOG-OTD"})),
        )
        .await;

    assert_eq!(assert_problem(&same, 409), "kpi_code_taken");
    assert_eq!(assert_problem(&renamed, 409), "kpi_code_taken");
    in_other_org.assert_status(201);
    assert_eq!(in_other_org.body["code"], "LOG-OTD");
    assert_eq!(
        get_ok(&app, &admin, &format!("/kpis/{second}")).await["code"],
        "LOG-LT"
    );
    // a freed code can be taken again; null clears a code
    app.patch_json(&admin, &format!("/kpis/{second}"), &json!({"code": null}))
        .await
        .assert_status(200);
    let cleared = get_ok(&app, &admin, &format!("/kpis/{second}")).await;
    assert_eq!(cleared["code"], Value::Null);
}

#[tokio::test]
async fn owner_id_must_be_an_active_user_of_the_organization() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let gone = app.create_user(&admin, "USER").await;
    deactivate_user(&app, &admin, gone.user_id).await;
    let other_org = app.signup("Globex").await;
    let board = dashboard(&app, &admin, "Plant").await;
    let path = format!("/dashboards/{board}/kpis");
    let kpi_path = format!("/kpis/{}", kpi(&app, &admin, board, &json!({})).await);

    for owner in [other_org.user_id, gone.user_id, Uuid::now_v7()] {
        let created = app
            .post_json(&admin, &path, &kpi_body(&json!({"owner_id": owner})))
            .await;
        let patched = app
            .patch_json(&admin, &kpi_path, &json!({"owner_id": owner}))
            .await;
        assert_invalid_field(&created, "owner_id");
        assert_invalid_field(&patched, "owner_id");
    }
    assert_eq!(
        get_ok(&app, &admin, &path).await.as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn a_kpi_whose_owner_was_deactivated_can_still_be_edited() {
    // the responsible person left: the KPI's targets must still be editable
    // without first reassigning it (only a *new* owner must be active)
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let leaver = app.create_user(&admin, "USER").await;
    let board = dashboard(&app, &admin, "Plant").await;
    let kpi_id = kpi(&app, &admin, board, &json!({"owner_id": leaver.user_id})).await;
    deactivate_user(&app, &admin, leaver.user_id).await;

    let patched = app
        .patch_json(
            &admin,
            &format!("/kpis/{kpi_id}"),
            &json!({"threshold_green": 95}),
        )
        .await;

    patched.assert_status(200);
    assert_eq!(number_text(&patched.body["threshold_green"]), "95");
    assert_eq!(patched.body["owner_id"], leaver.user_id.to_string());
}

#[tokio::test]
async fn the_frequency_of_a_kpi_with_values_cannot_change() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Plant").await;
    let empty = kpi(&app, &admin, board, &json!({})).await;
    let with_values = kpi(&app, &admin, board, &json!({})).await;
    add_value(&app, &admin, with_values, "2025-03-01", &json!(1)).await;

    let free = app
        .patch_json(
            &admin,
            &format!("/kpis/{empty}"),
            &json!({"frequency": "WEEKLY"}),
        )
        .await;
    let refused = app
        .patch_json(
            &admin,
            &format!("/kpis/{with_values}"),
            &json!({"frequency": "WEEKLY"}),
        )
        .await;

    free.assert_status(200);
    assert_eq!(free.body["frequency"], "WEEKLY");
    // the request is valid; the KPI's values are what refuses it
    assert_eq!(assert_problem(&refused, 409), "kpi_has_values");
    let unchanged = app.get(&admin, &format!("/kpis/{with_values}")).await;
    assert_eq!(unchanged.body["frequency"], "MONTHLY");
}

// -- patch --------------------------------------------------------------------

#[tokio::test]
async fn patch_changes_only_the_fields_sent_and_null_clears() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Plant").await;
    let created = create_kpi(
        &app,
        &admin,
        board,
        &json!({"code": "PRD-1", "description": "Line 1 output", "unit": "pcs"}),
    )
    .await;
    let path = format!("/kpis/{}", id_of(&created));

    let renamed = app
        .patch_json(&admin, &path, &json!({"name": "Output"}))
        .await;
    renamed.assert_status(200);
    for field in [
        "code",
        "description",
        "unit",
        "frequency",
        "direction",
        "threshold_green",
        "threshold_orange",
        "threshold_red",
        "owner_id",
        "is_active",
        "dashboard_id",
        "created_at",
    ] {
        assert_eq!(renamed.body[field], created[field], "{field} changed");
    }
    assert_eq!(renamed.body["name"], "Output");

    let cleared = app
        .patch_json(
            &admin,
            &path,
            &json!({"description": null, "unit": null, "threshold_red": null}),
        )
        .await;
    cleared.assert_status(200);
    assert_eq!(cleared.body["description"], Value::Null);
    assert_eq!(cleared.body["unit"], Value::Null);
    assert_eq!(cleared.body["threshold_red"], Value::Null);
    assert_eq!(cleared.body["name"], "Output");
    assert_eq!(cleared.body["code"], "PRD-1");
    assert_eq!(get_ok(&app, &admin, &path).await, cleared.body);
}

#[tokio::test]
async fn new_thresholds_without_recompute_keep_past_colours() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Plant").await;
    // UP_IS_BETTER 90 / 80 / 50
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let january = add_value(&app, &admin, kpi_id, "2025-01-15", &json!(85)).await;
    let february = add_value(&app, &admin, kpi_id, "2025-02-15", &json!(95)).await;

    let patched = app
        .patch_json(
            &admin,
            &format!("/kpis/{kpi_id}"),
            &json!({"threshold_green": 80, "threshold_orange": 70, "threshold_red": 60}),
        )
        .await;
    patched.assert_status(200);
    let march = add_value(&app, &admin, kpi_id, "2025-03-15", &json!(85)).await;

    assert_eq!(number_text(&patched.body["threshold_green"]), "80");
    let january_now = get_ok(&app, &admin, &format!("/values/{}", id_of(&january))).await;
    let february_now = get_ok(&app, &admin, &format!("/values/{}", id_of(&february))).await;
    assert_eq!(judged(&january_now), judged_as("ORANGE", "90", "80", "50"));
    assert_eq!(judged(&february_now), judged_as("GREEN", "90", "80", "50"));
    assert_eq!(judged(&march), judged_as("GREEN", "80", "70", "60"));
    assert_eq!(january_now["updated_at"], january["updated_at"]);
    // the list agrees
    let listed = get_ok(&app, &admin, &format!("/kpis/{kpi_id}/values")).await;
    let statuses: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statuses, ["GREEN", "GREEN", "ORANGE"]);
}

#[tokio::test]
async fn recompute_history_recolours_every_stored_value() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Plant").await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let a = add_value(&app, &admin, kpi_id, "2025-01-15", &json!(85)).await;
    let b = add_value(&app, &admin, kpi_id, "2025-02-15", &json!(95)).await;
    let c = add_value(&app, &admin, kpi_id, "2025-03-15", &json!(55)).await;
    assert_eq!(a["status"], "ORANGE");
    assert_eq!(c["critical"], false);

    let patched = app
        .patch_json(
            &admin,
            &format!("/kpis/{kpi_id}"),
            &json!({"threshold_green": 96, "threshold_orange": 90, "threshold_red": 60,
                    "recompute_history": true}),
        )
        .await;

    patched.assert_status(200);
    let now = |v: &Value| {
        let path = format!("/values/{}", id_of(v));
        let (app, admin) = (&app, &admin);
        async move { get_ok(app, admin, &path).await }
    };
    assert_eq!(judged(&now(&a).await), judged_as("RED", "96", "90", "60"));
    assert_eq!(
        judged(&now(&b).await),
        judged_as("ORANGE", "96", "90", "60")
    );
    let c_now = now(&c).await;
    assert_eq!(judged(&c_now), judged_as("RED", "96", "90", "60"));
    assert_eq!(c_now["critical"], true, "55 <= red 60");
    assert_eq!(patched.body["latest_status"], "RED");
    let series = get_ok(&app, &admin, &format!("/kpis/{kpi_id}/series")).await;
    for point in series.as_array().unwrap() {
        assert_eq!(number_text(&point["threshold_green"]), "96", "{point}");
    }
}

#[tokio::test]
async fn recompute_history_also_follows_a_direction_change_and_the_query_flag() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Plant").await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let low = add_value(&app, &admin, kpi_id, "2025-01-15", &json!(3)).await;
    assert_eq!(low["status"], "RED");

    let patched = app
        .patch_json(
            &admin,
            &format!("/kpis/{kpi_id}?recompute_history=true"),
            &json!({"direction": "DOWN_IS_BETTER", "threshold_green": 5,
                    "threshold_orange": 10, "threshold_red": 20}),
        )
        .await;

    patched.assert_status(200);
    let now = get_ok(&app, &admin, &format!("/values/{}", id_of(&low))).await;
    assert_eq!(judged(&now), judged_as("GREEN", "5", "10", "20"));
    assert_eq!(now["direction"], "DOWN_IS_BETTER");
}

// -- write rights -------------------------------------------------------------

#[tokio::test]
async fn only_the_dashboard_owner_or_an_admin_may_write_its_kpis() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let owner = app.create_user(&admin, "USER").await;
    let colleague = app.create_user(&admin, "USER").await;
    let board = dashboard(&app, &owner, "Sales").await;
    let by_owner = kpi(&app, &owner, board, &json!({"name": "By owner"})).await;
    let by_admin = kpi(&app, &admin, board, &json!({"name": "By admin"})).await;
    let path = format!("/kpis/{by_owner}");

    // the colleague sees everything…
    app.get(&colleague, &path).await.assert_status(200);
    assert_eq!(
        ids(&get_ok(&app, &colleague, &format!("/dashboards/{board}/kpis")).await),
        vec![by_owner, by_admin]
    );
    // …and changes nothing
    let create = app
        .post_json(
            &colleague,
            &format!("/dashboards/{board}/kpis"),
            &kpi_body(&json!({})),
        )
        .await;
    let patch = app
        .patch_json(&colleague, &path, &json!({"name": "Mine"}))
        .await;
    let patch_recompute = app
        .patch_json(&colleague, &path, &json!({"recompute_history": true}))
        .await;
    let delete = app.delete(&colleague, &path).await;
    for resp in [&create, &patch, &patch_recompute, &delete] {
        assert_eq!(assert_problem(resp, 403), "forbidden");
    }
    assert_eq!(get_ok(&app, &admin, &path).await["name"], "By owner");

    app.patch_json(
        &owner,
        &format!("/kpis/{by_admin}"),
        &json!({"name": "Renamed by owner"}),
    )
    .await
    .assert_status(200);
    app.patch_json(&admin, &path, &json!({"name": "Renamed by admin"}))
        .await
        .assert_status(200);
    app.delete(&owner, &format!("/kpis/{by_admin}"))
        .await
        .assert_status(204);
    app.delete(&admin, &path).await.assert_status(204);
    assert_eq!(
        get_ok(&app, &owner, &format!("/dashboards/{board}/kpis")).await,
        json!([])
    );
}

#[tokio::test]
async fn kpis_of_a_team_dashboard_are_404_to_users_outside_the_team() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let member = app.create_user(&admin, "USER").await;
    let outsider = app.create_user(&admin, "USER").await;
    let team = app.create_team(&admin, "Quality").await;
    app.add_team_member(&admin, team, member.user_id).await;
    let board = team_dashboard(&app, &admin, "Quality", team).await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let path = format!("/kpis/{kpi_id}");

    app.get(&member, &path).await.assert_status(200);
    // a member who is not the dashboard owner sees but may not change
    assert_problem(
        &app.patch_json(&member, &path, &json!({"name": "X"})).await,
        403,
    );
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, path.clone(), None),
        (Method::PATCH, path.clone(), Some(json!({"name": "X"}))),
        (Method::DELETE, path.clone(), None),
        (Method::GET, format!("/dashboards/{board}/kpis"), None),
        (
            Method::POST,
            format!("/dashboards/{board}/kpis"),
            Some(kpi_body(&json!({}))),
        ),
    ];
    for (method, path, body) in cases {
        let resp = app
            .send_json(&outsider, method.clone(), &path, body.as_ref())
            .await;
        assert_eq!(resp.status, 404, "{method} {path}: {}", resp.text);
        assert_problem(&resp, 404);
    }
}

#[tokio::test]
async fn another_organizations_kpi_is_404_for_read_and_write() {
    let app = RouterApp::start().await;
    let admin_a = app.signup("Acme").await;
    let board = dashboard(&app, &admin_a, "Acme").await;
    let kpi_id = kpi(&app, &admin_a, board, &json!({})).await;
    let admin_b = app.signup("Globex").await;
    let path = format!("/kpis/{kpi_id}");

    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, path.clone(), None),
        (Method::PATCH, path.clone(), Some(json!({"name": "Taken"}))),
        (
            Method::PATCH,
            format!("{path}?recompute_history=true"),
            Some(json!({"recompute_history": true})),
        ),
        (Method::DELETE, path.clone(), None),
    ];
    for (method, path, body) in cases {
        let resp = app
            .send_json(&admin_b, method.clone(), &path, body.as_ref())
            .await;
        assert_eq!(resp.status, 404, "{method} {path}: {}", resp.text);
        assert_problem(&resp, 404);
    }
    let foreign = app.get(&admin_b, &path).await;
    let missing = app
        .get(&admin_b, &format!("/kpis/{}", Uuid::now_v7()))
        .await;
    assert_eq!(foreign.body, missing.body);
    assert_eq!(
        get_ok(&app, &admin_a, &path).await["name"],
        "On-time delivery"
    );
}

// -- delete -------------------------------------------------------------------

#[tokio::test]
async fn deleting_a_kpi_deletes_its_values_actions_and_comments() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Plant").await;
    let doomed = kpi(&app, &admin, board, &json!({"name": "Doomed"})).await;
    let kept = kpi(&app, &admin, board, &json!({"name": "Kept"})).await;
    let value = add_value(&app, &admin, doomed, "2025-03-01", &json!(10)).await;
    let action = create_action(&app, &admin, doomed, &json!({})).await;
    comment_kpi(&app, &admin, doomed, "why so low?").await;
    let on_action = comment_action(&app, &admin, id_of(&action), "on it").await;
    let kept_value = add_value(&app, &admin, kept, "2025-03-01", &json!(10)).await;
    let kept_action = create_action(&app, &admin, kept, &json!({})).await;
    comment_kpi(&app, &admin, kept, "fine").await;

    let deleted = app.delete(&admin, &format!("/kpis/{doomed}")).await;

    deleted.assert_status(204);
    for path in [
        format!("/kpis/{doomed}"),
        format!("/kpis/{doomed}/values"),
        format!("/kpis/{doomed}/comments"),
        format!("/values/{}", id_of(&value)),
        format!("/actions/{}", id_of(&action)),
        format!("/actions/{}/comments", id_of(&action)),
    ] {
        assert_problem(&app.get(&admin, &path).await, 404);
    }
    assert_problem(
        &app.delete(&admin, &format!("/comments/{}", id_of(&on_action)))
            .await,
        404,
    );
    let db = app.db().await;
    for table in ["kpi_value", "action_plan", "comment"] {
        let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "select count(*) from {table} where kpi_id = $1"
        )))
        .bind(doomed)
        .fetch_one(&db)
        .await
        .unwrap();
        assert_eq!(left, 0, "{table} rows of the deleted KPI remain");
    }
    // the other KPI keeps everything
    app.get(&admin, &format!("/values/{}", id_of(&kept_value)))
        .await
        .assert_status(200);
    app.get(&admin, &format!("/actions/{}", id_of(&kept_action)))
        .await
        .assert_status(200);
    assert_eq!(
        get_ok(&app, &admin, &format!("/kpis/{kept}/comments"))
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_problem(&app.delete(&admin, &format!("/kpis/{doomed}")).await, 404);
    assert!(app.logs().contains(r#""audit":"kpi_deleted""#));
}

#[tokio::test]
async fn no_value_outlives_its_kpi_even_when_written_during_the_deletion() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    let board = dashboard(&app, &admin, "Plant").await;
    let doomed = kpi(&app, &admin, board, &json!({"name": "Doomed"})).await;
    let db = app.db().await;
    let org: Uuid = sqlx::query_scalar("select organization_id from kpi where id = $1")
        .bind(doomed)
        .fetch_one(&db)
        .await
        .unwrap();
    // writers insert values of the KPI, one statement each, until refused
    let writers: Vec<_> = (0..4)
        .map(|writer: i32| {
            let db = db.clone();
            tokio::spawn(async move {
                for n in 0..20_000 {
                    let result = sqlx::query(
                        "insert into kpi_value (id, organization_id, kpi_id, period_start, period_end, \
                           value, status, threshold_green, threshold_orange, direction) \
                         values (gen_random_uuid(), $1, $2, date '2000-01-01' + $3, date '2000-01-01' + $3, \
                           1, 'RED', 90, 80, 'UP_IS_BETTER')",
                    )
                    .bind(org)
                    .bind(doomed)
                    .bind(n * 4 + writer)
                    .execute(&db)
                    .await;
                    if let Err(error) = result {
                        let code = error.as_database_error().and_then(|e| e.code());
                        assert_eq!(code.as_deref(), Some("23503"), "{error}");
                        return n;
                    }
                }
                panic!("writer {writer} was never refused");
            })
        })
        .collect();
    poll_until(Duration::from_secs(10), || async {
        let written: i64 = sqlx::query_scalar("select count(*) from kpi_value where kpi_id = $1")
            .bind(doomed)
            .fetch_one(&db)
            .await
            .unwrap();
        (written >= 40).then_some(())
    })
    .await;
    app.delete(&admin, &format!("/kpis/{doomed}"))
        .await
        .assert_status(204);
    let mut written = 0;
    for writer in writers {
        written += writer.await.unwrap();
    }
    assert!(written >= 40, "the writers wrote before the deletion");
    let left: i64 = sqlx::query_scalar("select count(*) from kpi_value where kpi_id = $1")
        .bind(doomed)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(left, 0, "values of the deleted KPI remain");
    let latest: i64 = sqlx::query_scalar("select count(*) from kpi_latest where kpi_id = $1")
        .bind(doomed)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(latest, 0);
}
