//! KPI values: periods named by any date, the status rule, duplicates,
//! corrections, lists, the series, validation and who may see them. In
//! process on the router, but for the tests of concurrent writers, which run
//! the real `kpix-api`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::NaiveDate;
use kpix_tests::{
    ApiClient, RouterApp, Session, TestApp, assert_invalid_field, assert_problem,
    fixtures::{
        add_value, collect_pages, dashboard, get_ok, id_of, kpi, number_text, post_value,
        team_dashboard,
    },
    until_a_session_waits_on_a_lock,
};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

fn periods(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|v| v["period_start"].as_str().unwrap().to_owned())
        .collect()
}

/// An admin's organization with one dashboard: its admin and the dashboard.
async fn organization_with_dashboard(app: &ApiClient) -> (Session, Uuid) {
    let admin = app.signup("Acme").await;
    let board = dashboard(app, &admin, "Plant").await;
    (admin, board)
}

/// [`organization_with_dashboard`] on the router, in process.
async fn setup() -> (RouterApp, Session, Uuid) {
    let app = RouterApp::start().await;
    let (admin, board) = organization_with_dashboard(&app).await;
    (app, admin, board)
}

/// [`organization_with_dashboard`] on the API process: for clients racing
/// each other, served as the real server serves them.
async fn setup_process() -> (TestApp, Session, Uuid) {
    let app = TestApp::spawn().await;
    let (admin, board) = organization_with_dashboard(&app).await;
    (app, admin, board)
}

// -- periods ------------------------------------------------------------------

#[tokio::test]
async fn any_date_inside_a_period_names_it() {
    let (app, admin, board) = setup().await;

    for (frequency, date, start, end) in [
        ("DAILY", "2025-03-17", "2025-03-17", "2025-03-17"),
        ("WEEKLY", "2025-01-01", "2024-12-30", "2025-01-05"),
        ("WEEKLY", "2025-03-23", "2025-03-17", "2025-03-23"),
        ("MONTHLY", "2025-03-17", "2025-03-01", "2025-03-31"),
        ("MONTHLY", "2024-02-10", "2024-02-01", "2024-02-29"),
        ("QUARTERLY", "2025-05-20", "2025-04-01", "2025-06-30"),
        ("QUARTERLY", "2025-12-31", "2025-10-01", "2025-12-31"),
        ("YEARLY", "2025-07-04", "2025-01-01", "2025-12-31"),
    ] {
        let kpi_id = kpi(&app, &admin, board, &json!({"frequency": frequency})).await;

        let stored = add_value(&app, &admin, kpi_id, date, &json!(95)).await;

        assert_eq!(
            (
                stored["period_start"].as_str(),
                stored["period_end"].as_str()
            ),
            (Some(start), Some(end)),
            "{frequency} {date}"
        );
        assert_eq!(stored["kpi_id"], kpi_id.to_string());
        assert_eq!(stored["organization_id"], admin.organization_id.to_string());
        assert!(stored["created_at"].is_string() && stored["updated_at"].is_string());
    }
}

#[tokio::test]
async fn a_period_end_sent_must_be_the_last_day_of_the_period() {
    let (app, admin, board) = setup().await;
    let kpi_id = kpi(&app, &admin, board, &json!({"frequency": "MONTHLY"})).await;
    let weekly = kpi(&app, &admin, board, &json!({"frequency": "WEEKLY"})).await;
    let path = format!("/kpis/{kpi_id}/values");

    let wrong = app
        .post_json(
            &admin,
            &path,
            &json!({"period_start": "2025-03-17", "period_end": "2025-03-30", "value": 1}),
        )
        .await;
    let next_month = app
        .post_json(
            &admin,
            &path,
            &json!({"period_start": "2025-03-01", "period_end": "2025-04-30", "value": 1}),
        )
        .await;
    let right = app
        .post_json(
            &admin,
            &path,
            &json!({"period_start": "2025-03-17", "period_end": "2025-03-31", "value": 1}),
        )
        .await;
    let weekly_right = app
        .post_json(
            &admin,
            &format!("/kpis/{weekly}/values"),
            &json!({"period_start": "2025-01-01", "period_end": "2025-01-05", "value": 1}),
        )
        .await;

    assert_invalid_field(&wrong, "period_end");
    assert!(
        wrong.body["detail"]
            .as_str()
            .unwrap()
            .contains("2025-03-31"),
        "{}",
        wrong.text
    );
    assert_invalid_field(&next_month, "period_end");
    right.assert_status(201);
    assert_eq!(right.body["period_start"], "2025-03-01");
    assert_eq!(right.body["period_end"], "2025-03-31");
    weekly_right.assert_status(201);
    assert_eq!(weekly_right.body["period_start"], "2024-12-30");
}

#[tokio::test]
async fn a_second_value_for_a_period_is_409_naming_the_existing_value() {
    let (app, admin, board) = setup().await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let first = add_value(&app, &admin, kpi_id, "2025-03-17", &json!(95)).await;

    let again = post_value(&app, &admin, kpi_id, "2025-03-02", &json!(40)).await;

    assert_eq!(assert_problem(&again, 409), "duplicate_period");
    let existing = id_of(&first).to_string();
    assert!(
        again.body["detail"].as_str().unwrap().contains(&existing),
        "the detail should name value {existing}: {}",
        again.text
    );
    let values = get_ok(&app, &admin, &format!("/kpis/{kpi_id}/values")).await;
    assert_eq!(values.as_array().unwrap().len(), 1);
    assert_eq!(number_text(&values[0]["value"]), "95");
}

// -- the status rule ----------------------------------------------------------

async fn statuses_for(
    app: &ApiClient,
    admin: &Session,
    kpi_id: Uuid,
    cases: &[(&str, &str, bool)],
) {
    for (day, (value, status, critical)) in cases.iter().enumerate() {
        let date = format!("2025-01-{:02}", day + 1);
        let stored = add_value(
            app,
            admin,
            kpi_id,
            &date,
            &kpix_tests::fixtures::exact_number(value),
        )
        .await;
        assert_eq!(
            (stored["status"].as_str(), stored["critical"].as_bool()),
            (Some(*status), Some(*critical)),
            "value {value}: {stored}"
        );
        assert_eq!(number_text(&stored["value"]), *value);
    }
}

#[tokio::test]
async fn status_follows_the_rule_when_up_is_better() {
    let (app, admin, board) = setup().await;
    let kpi_id = kpi(
        &app,
        &admin,
        board,
        &json!({"frequency": "DAILY", "direction": "UP_IS_BETTER",
                "threshold_green": 90, "threshold_orange": 80, "threshold_red": 50}),
    )
    .await;

    statuses_for(
        &app,
        &admin,
        kpi_id,
        &[
            ("100", "GREEN", false),
            ("90", "GREEN", false),
            ("89.99", "ORANGE", false),
            ("80", "ORANGE", false),
            ("79.99", "RED", false),
            ("50.01", "RED", false),
            ("50", "RED", true),
            ("-3", "RED", true),
        ],
    )
    .await;
    let one = get_ok(&app, &admin, &format!("/kpis/{kpi_id}/values?limit=1")).await;
    let stored = &one[0];
    assert_eq!(stored["direction"], "UP_IS_BETTER");
    assert_eq!(number_text(&stored["threshold_green"]), "90");
    assert_eq!(number_text(&stored["threshold_orange"]), "80");
    assert_eq!(number_text(&stored["threshold_red"]), "50");
}

#[tokio::test]
async fn status_follows_the_rule_when_down_is_better() {
    let (app, admin, board) = setup().await;
    let kpi_id = kpi(
        &app,
        &admin,
        board,
        &json!({"frequency": "DAILY", "direction": "DOWN_IS_BETTER",
                "threshold_green": 5, "threshold_orange": 10, "threshold_red": 20}),
    )
    .await;

    statuses_for(
        &app,
        &admin,
        kpi_id,
        &[
            ("0", "GREEN", false),
            ("5", "GREEN", false),
            ("5.01", "ORANGE", false),
            ("10", "ORANGE", false),
            ("10.01", "RED", false),
            ("19.99", "RED", false),
            ("20", "RED", true),
            ("1000", "RED", true),
        ],
    )
    .await;
}

#[tokio::test]
async fn equal_green_and_orange_leave_no_orange_band_and_no_red_level_no_critical() {
    let (app, admin, board) = setup().await;
    let kpi_id = kpi(
        &app,
        &admin,
        board,
        &json!({"frequency": "DAILY", "threshold_green": 100, "threshold_orange": 100,
                "threshold_red": null}),
    )
    .await;

    statuses_for(
        &app,
        &admin,
        kpi_id,
        &[
            ("100", "GREEN", false),
            ("99.999", "RED", false),
            ("-1000", "RED", false),
        ],
    )
    .await;
}

// -- list, series -------------------------------------------------------------

#[tokio::test]
async fn values_are_listed_newest_period_first_and_filtered_by_from_and_to() {
    let (app, admin, board) = setup().await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    for month in ["03", "01", "06", "02", "05", "04"] {
        add_value(
            &app,
            &admin,
            kpi_id,
            &format!("2025-{month}-10"),
            &json!(90),
        )
        .await;
    }
    let path = format!("/kpis/{kpi_id}/values");

    let all = get_ok(&app, &admin, &path).await;
    let from = get_ok(&app, &admin, &format!("{path}?from=2025-03-15")).await;
    let to = get_ok(&app, &admin, &format!("{path}?to=2025-04-01")).await;
    let both = get_ok(
        &app,
        &admin,
        &format!("{path}?from=2025-03-31&to=2025-04-30"),
    )
    .await;
    let none = get_ok(&app, &admin, &format!("{path}?from=2026-01-01")).await;
    // empty parameters, as URL builders send unset fields, are absent
    let unset = get_ok(&app, &admin, &format!("{path}?from=&to=&limit=&cursor=")).await;
    assert_eq!(unset, all);

    assert_eq!(
        periods(&all),
        [
            "2025-06-01",
            "2025-05-01",
            "2025-04-01",
            "2025-03-01",
            "2025-02-01",
            "2025-01-01"
        ]
    );
    // from: periods still running on or after that date; to: periods begun by then
    assert_eq!(
        periods(&from),
        ["2025-06-01", "2025-05-01", "2025-04-01", "2025-03-01"]
    );
    assert_eq!(
        periods(&to),
        ["2025-04-01", "2025-03-01", "2025-02-01", "2025-01-01"]
    );
    assert_eq!(periods(&both), ["2025-04-01", "2025-03-01"]);
    assert_eq!(none, json!([]));

    let (paged, pages) =
        collect_pages(&app, &admin, &format!("{path}?limit=4&to=2025-05-01")).await;
    assert_eq!(
        periods(&Value::Array(paged)),
        [
            "2025-05-01",
            "2025-04-01",
            "2025-03-01",
            "2025-02-01",
            "2025-01-01"
        ]
    );
    assert_eq!(pages, 2);

    for query in ["from=2025-13-01", "from=yesterday", "to=2025-02-30"] {
        let resp = app.get(&admin, &format!("{path}?{query}")).await;
        assert_invalid_field(&resp, query.split('=').next().unwrap());
    }
    let reversed = app
        .get(&admin, &format!("{path}?from=2025-05-01&to=2025-01-01"))
        .await;
    assert_problem(&reversed, 422);
}

#[tokio::test]
async fn the_series_is_oldest_first_with_the_thresholds_in_force_for_each_point() {
    let (app, admin, board) = setup().await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    add_value(&app, &admin, kpi_id, "2025-02-10", &json!(85)).await;
    add_value(&app, &admin, kpi_id, "2025-01-10", &json!(95)).await;
    app.patch_json(
        &admin,
        &format!("/kpis/{kpi_id}"),
        &json!({"threshold_green": 80, "threshold_orange": 70, "threshold_red": null}),
    )
    .await
    .assert_status(200);
    add_value(&app, &admin, kpi_id, "2025-03-10", &json!(85)).await;

    let series = get_ok(&app, &admin, &format!("/kpis/{kpi_id}/series")).await;
    let ranged = get_ok(
        &app,
        &admin,
        &format!("/kpis/{kpi_id}/series?from=2025-02-01&to=2025-02-28"),
    )
    .await;

    let points: Vec<_> = series
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["period_start"].as_str().unwrap().to_owned(),
                p["period_end"].as_str().unwrap().to_owned(),
                number_text(&p["value"]),
                p["status"].as_str().unwrap().to_owned(),
                number_text(&p["threshold_green"]),
                number_text(&p["threshold_orange"]),
                p["threshold_red"].to_string(),
            )
        })
        .collect();
    let point = |start: &str, end: &str, value: &str, status: &str, g: &str, o: &str, r: &str| {
        (
            start.to_owned(),
            end.to_owned(),
            value.to_owned(),
            status.to_owned(),
            g.to_owned(),
            o.to_owned(),
            r.to_owned(),
        )
    };
    assert_eq!(
        points,
        vec![
            point("2025-01-01", "2025-01-31", "95", "GREEN", "90", "80", "50"),
            point("2025-02-01", "2025-02-28", "85", "ORANGE", "90", "80", "50"),
            point(
                "2025-03-01",
                "2025-03-31",
                "85",
                "GREEN",
                "80",
                "70",
                "null"
            ),
        ]
    );
    assert_eq!(periods(&ranged), ["2025-02-01"]);
}

// -- correct, delete ----------------------------------------------------------

#[tokio::test]
async fn correcting_a_value_recomputes_its_status_with_the_current_thresholds() {
    let (app, admin, board) = setup().await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let stored = add_value(&app, &admin, kpi_id, "2025-03-10", &json!(85)).await;
    assert_eq!(stored["status"], "ORANGE");
    app.patch_json(
        &admin,
        &format!("/kpis/{kpi_id}"),
        &json!({"threshold_green": 95, "threshold_orange": 90, "threshold_red": 70}),
    )
    .await
    .assert_status(200);
    let path = format!("/values/{}", id_of(&stored));

    let corrected = app.patch_json(&admin, &path, &json!({"value": 92})).await;
    let critical = app.patch_json(&admin, &path, &json!({"value": 70})).await;

    corrected.assert_status(200);
    assert_eq!(number_text(&corrected.body["value"]), "92");
    assert_eq!(corrected.body["status"], "ORANGE");
    assert_eq!(number_text(&corrected.body["threshold_green"]), "95");
    assert_eq!(number_text(&corrected.body["threshold_orange"]), "90");
    assert_eq!(corrected.body["period_start"], "2025-03-01");
    assert_eq!(corrected.body["id"], stored["id"]);
    critical.assert_status(200);
    assert_eq!(critical.body["status"], "RED");
    assert_eq!(critical.body["critical"], true);
    assert_eq!(get_ok(&app, &admin, &path).await, critical.body);
    let kpi_now = get_ok(&app, &admin, &format!("/kpis/{kpi_id}")).await;
    assert_eq!(number_text(&kpi_now["latest_value"]), "70");
    assert_eq!(kpi_now["latest_status"], "RED");
}

#[tokio::test]
async fn a_value_entered_during_a_threshold_change_gets_the_new_thresholds() {
    let (app, admin, board) = setup_process().await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let db = app.db().await;
    // a threshold change in progress, as PATCH /kpis/{id} makes it
    let mut change = db.begin().await.unwrap();
    sqlx::query("select 1 from kpi where id = $1 for update")
        .bind(kpi_id)
        .execute(&mut *change)
        .await
        .unwrap();
    sqlx::query("update kpi set threshold_green = 200, threshold_orange = 150 where id = $1")
        .bind(kpi_id)
        .execute(&mut *change)
        .await
        .unwrap();
    let commit_once_the_value_waits = async {
        until_a_session_waits_on_a_lock(&db, Duration::from_secs(10)).await;
        change.commit().await.unwrap();
    };
    let value = json!(100);
    let (resp, ()) = tokio::join!(
        post_value(&app, &admin, kpi_id, "2025-03-10", &value),
        commit_once_the_value_waits
    );
    resp.assert_status(201);
    assert_eq!(
        number_text(&resp.body["threshold_green"]),
        "200",
        "{}",
        resp.text
    );
    assert_eq!(
        resp.body["status"], "RED",
        "100 is under the new orange level"
    );
}

#[tokio::test]
async fn many_clients_entering_values_of_one_kpi_at_once_all_succeed() {
    let (app, admin, board) = setup_process().await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let user = app.create_user(&admin, "USER").await;
    // 20 clients, 3 months each: 60 distinct periods of one KPI at once,
    // while another client corrects and deletes values of the same KPI
    let months: Vec<String> = (0..60)
        .map(|m| format!("{}-{:02}-15", 2020 + m / 12, m % 12 + 1))
        .collect();
    let doomed = add_value(&app, &admin, kpi_id, "2019-06-01", &json!(10)).await;
    let corrected = add_value(&app, &admin, kpi_id, "2019-07-01", &json!(10)).await;
    let clients = months.chunks(3).enumerate().map(|(client, dates)| {
        let (app, session) = (&app, if client % 2 == 0 { &admin } else { &user });
        async move {
            let mut answers = Vec::new();
            for date in dates {
                let resp = post_value(app, session, kpi_id, date, &json!(85)).await;
                answers.push((date.clone(), resp.status, resp.text));
            }
            answers
        }
    });
    let others = async {
        let path = format!("/values/{}", id_of(&corrected));
        let fixed = app.patch_json(&admin, &path, &json!({"value": 95})).await;
        let deleted = app
            .delete(&admin, &format!("/values/{}", id_of(&doomed)))
            .await;
        (fixed.status, deleted.status)
    };
    let (answers, others) = tokio::join!(futures::future::join_all(clients), others);
    let failed: Vec<_> = answers
        .into_iter()
        .flatten()
        .filter(|(_, status, _)| *status != 201)
        .collect();
    assert!(failed.is_empty(), "refused entries: {failed:?}");
    assert_eq!(others, (200, 204));

    let (values, _) = collect_pages(&app, &admin, &format!("/kpis/{kpi_id}/values")).await;
    assert_eq!(values.len(), 61, "60 entries and the corrected value");
    let kpi = get_ok(&app, &admin, &format!("/kpis/{kpi_id}")).await;
    assert_eq!(kpi["latest_period_start"], "2024-12-01");
    // the latest-value row holds the two newest periods, as the values say
    let db = app.db().await;
    let latest: (NaiveDate, Option<NaiveDate>) = sqlx::query_as(
        "select period_start, previous_period_start from kpi_latest where kpi_id = $1",
    )
    .bind(kpi_id)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        latest,
        (
            NaiveDate::from_ymd_opt(2024, 12, 1).unwrap(),
            NaiveDate::from_ymd_opt(2024, 11, 1)
        )
    );
}

#[tokio::test]
async fn editing_only_the_comment_keeps_the_colour_of_a_past_value() {
    // a comment is not a correction of the value: a past period keeps its
    // colour when the KPI's targets changed since (DESIGN §3)
    let (app, admin, board) = setup().await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let stored = add_value(&app, &admin, kpi_id, "2025-01-10", &json!(85)).await;
    app.patch_json(
        &admin,
        &format!("/kpis/{kpi_id}"),
        &json!({"threshold_green": 80, "threshold_orange": 70}),
    )
    .await
    .assert_status(200);

    let commented = app
        .patch_json(
            &admin,
            &format!("/values/{}", id_of(&stored)),
            &json!({"comment": "supplier strike"}),
        )
        .await;

    commented.assert_status(200);
    assert_eq!(commented.body["comment"], "supplier strike");
    assert_eq!(commented.body["status"], "ORANGE", "{}", commented.text);
    assert_eq!(number_text(&commented.body["threshold_green"]), "90");
}

#[tokio::test]
async fn patch_keeps_an_absent_comment_and_null_clears_it() {
    let (app, admin, board) = setup().await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let created = app
        .post_json(
            &admin,
            &format!("/kpis/{kpi_id}/values"),
            &json!({"period_start": "2025-03-01", "value": 85, "comment": "  late data "}),
        )
        .await;
    created.assert_status(201);
    assert_eq!(created.body["comment"], "late data");
    let path = format!("/values/{}", created.id());

    let value_only = app.patch_json(&admin, &path, &json!({"value": 86})).await;
    let cleared = app
        .patch_json(&admin, &path, &json!({"comment": null}))
        .await;

    value_only.assert_status(200);
    assert_eq!(value_only.body["comment"], "late data");
    cleared.assert_status(200);
    assert_eq!(cleared.body["comment"], Value::Null);
    assert_eq!(number_text(&cleared.body["value"]), "86");
    assert_eq!(get_ok(&app, &admin, &path).await["comment"], Value::Null);
}

#[tokio::test]
async fn a_deleted_value_is_gone_and_its_period_free_again() {
    let (app, admin, board) = setup().await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let older = add_value(&app, &admin, kpi_id, "2025-02-10", &json!(50)).await;
    let latest = add_value(&app, &admin, kpi_id, "2025-03-10", &json!(95)).await;
    let path = format!("/values/{}", id_of(&latest));

    let deleted = app.delete(&admin, &path).await;

    deleted.assert_status(204);
    assert_problem(&app.get(&admin, &path).await, 404);
    assert_problem(&app.delete(&admin, &path).await, 404);
    assert_problem(
        &app.patch_json(&admin, &path, &json!({"value": 1})).await,
        404,
    );
    assert_eq!(
        periods(&get_ok(&app, &admin, &format!("/kpis/{kpi_id}/values")).await),
        ["2025-02-01"]
    );
    let kpi_now = get_ok(&app, &admin, &format!("/kpis/{kpi_id}")).await;
    assert_eq!(kpi_now["latest_period_start"], "2025-02-01");
    assert_eq!(kpi_now["latest_status"], older["status"]);
    add_value(&app, &admin, kpi_id, "2025-03-31", &json!(91)).await;
}

// -- input --------------------------------------------------------------------

#[tokio::test]
async fn invalid_value_bodies_are_422_naming_the_field() {
    let (app, admin, board) = setup().await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let path = format!("/kpis/{kpi_id}/values");
    let existing = add_value(&app, &admin, kpi_id, "2025-01-01", &json!(1)).await;
    let value_path = format!("/values/{}", id_of(&existing));

    let cases: Vec<(Method, &str, Value, &str)> = vec![
        (
            Method::POST,
            &path,
            json!({"period_start": "2025-03-01", "value": "abc"}),
            "value",
        ),
        (
            Method::POST,
            &path,
            json!({"period_start": "2025-03-01", "value": "NaN"}),
            "value",
        ),
        (
            Method::POST,
            &path,
            json!({"period_start": "2025-03-01", "value": "Infinity"}),
            "value",
        ),
        (
            Method::POST,
            &path,
            json!({"period_start": "2025-03-01", "value": true}),
            "value",
        ),
        (
            Method::POST,
            &path,
            json!({"period_start": "2025-03-01", "value": null}),
            "value",
        ),
        (
            Method::POST,
            &path,
            json!({"period_start": "2025-03-01"}),
            "value",
        ),
        (Method::POST, &path, json!({"value": 1}), "period_start"),
        (
            Method::POST,
            &path,
            json!({"period_start": "2025-02-30", "value": 1}),
            "period_start",
        ),
        (
            Method::POST,
            &path,
            json!({"period_start": "March", "value": 1}),
            "period_start",
        ),
        (
            Method::POST,
            &path,
            json!({"period_start": "2025-03-01", "period_end": "soon", "value": 1}),
            "period_end",
        ),
        (
            Method::POST,
            &path,
            json!({"period_start": "2025-03-01", "value": 1, "comment": "c".repeat(2001)}),
            "comment",
        ),
        (
            Method::POST,
            &path,
            json!({"period_start": "2025-03-01", "value": 1, "status": "GREEN"}),
            "status",
        ),
        (Method::PATCH, &value_path, json!({"value": "abc"}), "value"),
        (
            Method::PATCH,
            &value_path,
            json!({"comment": "c".repeat(2001)}),
            "comment",
        ),
        (
            Method::PATCH,
            &value_path,
            json!({"period_start": "2025-04-01"}),
            "period_start",
        ),
    ];
    for (method, path, body, field) in cases {
        let resp = app
            .send_json(&admin, method.clone(), path, Some(&body))
            .await;
        assert_eq!(resp.status, 422, "{method} {path} {body}: {}", resp.text);
        assert_invalid_field(&resp, field);
    }
    assert_eq!(
        periods(&get_ok(&app, &admin, &path).await),
        ["2025-01-01"],
        "nothing was written"
    );
    assert_eq!(
        number_text(&get_ok(&app, &admin, &value_path).await["value"]),
        "1"
    );
}

#[tokio::test]
async fn out_of_range_numbers_are_422_naming_the_field_never_500() {
    let (app, admin, board) = setup().await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let path = format!("/kpis/{kpi_id}/values");
    let kpis_path = format!("/dashboards/{board}/kpis");

    for raw in [
        "1e40",
        "-1e40",
        "79228162514264337593543950336",
        "1e-40",
        "0.00000000000000000000000000001",
    ] {
        let value = format!(r#"{{"period_start": "2025-03-01", "value": {raw}}}"#);
        let resp = app
            .post_raw(Some(&admin), &path, "application/json", value.clone())
            .await;
        assert_eq!(resp.status, 422, "{value}: {}", resp.text);
        assert_invalid_field(&resp, "value");

        let threshold = format!(
            r#"{{"name": "N", "frequency": "MONTHLY", "direction": "UP_IS_BETTER", "threshold_green": {raw}, "threshold_orange": 0}}"#
        );
        let resp = app
            .post_raw(
                Some(&admin),
                &kpis_path,
                "application/json",
                threshold.clone(),
            )
            .await;
        assert_eq!(resp.status, 422, "{threshold}: {}", resp.text);
        assert_invalid_field(&resp, "threshold_green");
    }
    assert_eq!(get_ok(&app, &admin, &path).await, json!([]));
}

// -- who sees values ----------------------------------------------------------

#[tokio::test]
async fn another_organizations_values_are_404() {
    let (app, admin_a, board) = setup().await;
    let kpi_id = kpi(&app, &admin_a, board, &json!({})).await;
    let value = add_value(&app, &admin_a, kpi_id, "2025-03-01", &json!(95)).await;
    let value_path = format!("/values/{}", id_of(&value));
    let admin_b = app.signup("Globex").await;

    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/kpis/{kpi_id}/values"), None),
        (
            Method::POST,
            format!("/kpis/{kpi_id}/values"),
            Some(json!({"period_start": "2025-04-01", "value": 1})),
        ),
        (Method::GET, format!("/kpis/{kpi_id}/series"), None),
        (Method::GET, value_path.clone(), None),
        (Method::PATCH, value_path.clone(), Some(json!({"value": 1}))),
        (Method::DELETE, value_path.clone(), None),
    ];
    for (method, path, body) in cases {
        let resp = app
            .send_json(&admin_b, method.clone(), &path, body.as_ref())
            .await;
        assert_eq!(resp.status, 404, "{method} {path}: {}", resp.text);
        assert_problem(&resp, 404);
    }
    let foreign = app.get(&admin_b, &value_path).await;
    let missing = app
        .get(&admin_b, &format!("/values/{}", Uuid::now_v7()))
        .await;
    assert_eq!(foreign.body, missing.body);
    let now = get_ok(&app, &admin_a, &value_path).await;
    assert_eq!(number_text(&now["value"]), "95");
    assert_eq!(
        periods(&get_ok(&app, &admin_a, &format!("/kpis/{kpi_id}/values")).await),
        ["2025-03-01"]
    );
}

#[tokio::test]
async fn values_of_a_team_dashboard_are_for_its_members_only() {
    let (app, admin, _) = setup().await;
    let member = app.create_user(&admin, "USER").await;
    let outsider = app.create_user(&admin, "USER").await;
    let team = app.create_team(&admin, "Quality").await;
    app.add_team_member(&admin, team, member.user_id).await;
    let board = team_dashboard(&app, &admin, "Quality", team).await;
    let kpi_id = kpi(&app, &admin, board, &json!({})).await;
    let value = add_value(&app, &admin, kpi_id, "2025-01-01", &json!(95)).await;
    let value_path = format!("/values/{}", id_of(&value));

    // a member who does not own the dashboard enters and corrects values
    let entered = add_value(&app, &member, kpi_id, "2025-02-01", &json!(85)).await;
    assert_eq!(entered["status"], "ORANGE");
    app.patch_json(&member, &value_path, &json!({"value": 96}))
        .await
        .assert_status(200);
    app.get(&member, &format!("/kpis/{kpi_id}/series"))
        .await
        .assert_status(200);

    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/kpis/{kpi_id}/values"), None),
        (
            Method::POST,
            format!("/kpis/{kpi_id}/values"),
            Some(json!({"period_start": "2025-04-01", "value": 1})),
        ),
        (Method::GET, format!("/kpis/{kpi_id}/series"), None),
        (Method::GET, value_path.clone(), None),
        (Method::PATCH, value_path.clone(), Some(json!({"value": 1}))),
        (Method::DELETE, value_path.clone(), None),
    ];
    for (method, path, body) in cases {
        let resp = app
            .send_json(&outsider, method.clone(), &path, body.as_ref())
            .await;
        assert_eq!(resp.status, 404, "{method} {path}: {}", resp.text);
        assert_problem(&resp, 404);
    }
    assert_eq!(
        periods(&get_ok(&app, &admin, &format!("/kpis/{kpi_id}/values")).await),
        ["2025-02-01", "2025-01-01"]
    );
    assert_eq!(
        number_text(&get_ok(&app, &admin, &value_path).await["value"]),
        "96"
    );
}

#[tokio::test]
async fn only_its_author_the_dashboard_owner_or_an_admin_deletes_a_value() {
    let (app, admin, _) = setup().await;
    let owner = app.create_user(&admin, "USER").await;
    let author = app.create_user(&admin, "USER").await;
    let colleague = app.create_user(&admin, "USER").await;
    // shared with the whole organization: every USER sees it and enters values
    let board = dashboard(&app, &owner, "Shared").await;
    let kpi_id = kpi(&app, &owner, board, &json!({})).await;
    let mut values = Vec::new();
    for (session, date) in [
        (&author, "2025-01-15"),
        (&author, "2025-02-15"),
        (&colleague, "2025-03-15"),
    ] {
        values.push(id_of(
            &add_value(&app, session, kpi_id, date, &json!(85)).await,
        ));
    }
    let path = |id: &Uuid| format!("/values/{id}");

    let refused = app.delete(&colleague, &path(&values[0])).await;
    assert_problem(&refused, 403);
    app.get(&colleague, &path(&values[0]))
        .await
        .assert_status(200);

    app.delete(&author, &path(&values[0]))
        .await
        .assert_status(204);
    app.delete(&owner, &path(&values[1]))
        .await
        .assert_status(204);
    app.delete(&admin, &path(&values[2]))
        .await
        .assert_status(204);
    for id in &values {
        assert_problem(&app.get(&admin, &path(id)).await, 404);
    }
}
