//! Tests of `/reporting/*` (docs/reporting.md), in process on the router:
//! small fixtures built through the API, every expected figure worked out by
//! hand.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Datelike, Days, Months, NaiveDate, Utc};
use kpix_tests::{ApiClient, RouterApp, Session, assert_invalid_field, assert_problem};
use serde_json::{Value, json};
use uuid::Uuid;

// ---------------------------------------------------------------------------
// fixtures

async fn dashboard(
    app: &ApiClient,
    s: &Session,
    title: &str,
    process: Option<&str>,
    team: Option<Uuid>,
) -> Uuid {
    let resp = app
        .post_json(
            s,
            "/dashboards",
            &json!({"title": title, "process_name": process, "team_id": team}),
        )
        .await;
    resp.assert_status(201);
    resp.id()
}

/// A KPI: `spec` holds name, direction and thresholds; monthly unless it says.
async fn kpi(app: &ApiClient, s: &Session, dashboard: Uuid, spec: Value) -> Uuid {
    let mut body = json!({"frequency": "MONTHLY"});
    for (key, value) in spec.as_object().unwrap() {
        body[key] = value.clone();
    }
    let resp = app
        .post_json(s, &format!("/dashboards/{dashboard}/kpis"), &body)
        .await;
    resp.assert_status(201);
    resp.id()
}

fn up(name: &str, green: f64, orange: f64, red: Option<f64>) -> Value {
    json!({"name": name, "direction": "UP_IS_BETTER", "threshold_green": green, "threshold_orange": orange, "threshold_red": red})
}

fn down(name: &str, green: f64, orange: f64, red: Option<f64>) -> Value {
    json!({"name": name, "direction": "DOWN_IS_BETTER", "threshold_green": green, "threshold_orange": orange, "threshold_red": red})
}

async fn value(app: &ApiClient, s: &Session, kpi: Uuid, date: NaiveDate, value: f64) {
    app.post_json(
        s,
        &format!("/kpis/{kpi}/values"),
        &json!({"period_start": date, "value": value}),
    )
    .await
    .assert_status(201);
}

async fn deactivate(app: &ApiClient, s: &Session, kpi: Uuid) {
    app.patch_json(s, &format!("/kpis/{kpi}"), &json!({"is_active": false}))
        .await
        .assert_status(200);
}

async fn action(
    app: &ApiClient,
    s: &Session,
    kpi: Uuid,
    title: &str,
    status: &str,
    due: Option<NaiveDate>,
) -> Uuid {
    let resp = app
        .post_json(
            s,
            &format!("/kpis/{kpi}/actions"),
            &json!({"title": title, "status": status, "due_date": due}),
        )
        .await;
    resp.assert_status(201);
    resp.id()
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn days(n: i64) -> NaiveDate {
    today()
        .checked_add_signed(chrono::Duration::days(n))
        .unwrap()
}

async fn report(app: &ApiClient, s: &Session, path: &str) -> Value {
    let resp = app.get(s, &format!("/reporting/{path}")).await;
    resp.assert_status(200);
    resp.body
}

fn num(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("not a JSON number: {v}"))
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| {
            item["name"]
                .as_str()
                .or(item["title"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn ids(list: &Value, field: &str) -> Vec<Uuid> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap().parse().unwrap())
        .collect()
}

/// `{GREEN, ORANGE, RED}`, `no_value`, `total_kpis`, `worst_status`, `open_actions`, `overdue_actions`.
fn counts(summary: &Value) -> (i64, [i64; 3], i64, Value, i64, i64) {
    let b = &summary["status_breakdown"];
    let n = |v: &Value| {
        v.as_i64()
            .unwrap_or_else(|| panic!("not an integer: {v} in {summary}"))
    };
    (
        n(&summary["total_kpis"]),
        [n(&b["GREEN"]), n(&b["ORANGE"]), n(&b["RED"])],
        n(&summary["no_value"]),
        summary["worst_status"].clone(),
        n(&summary["open_actions"]),
        n(&summary["overdue_actions"]),
    )
}

// ---------------------------------------------------------------------------
// overview

#[tokio::test]
async fn overview_counts_latest_statuses_and_open_actions_per_dashboard_and_process() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let atelier = dashboard(&app, &admin, "Atelier", Some("Production"), None).await;
    let entrepot = dashboard(&app, &admin, "Entrepôt", Some("production"), None).await;
    let vide = dashboard(&app, &admin, "Vide", None, None).await;

    // latest = greatest period_start, not the last entered: March (85, ORANGE) beats January (50, RED)
    let k1 = kpi(&app, &admin, atelier, up("TRS", 90.0, 80.0, Some(60.0))).await;
    value(&app, &admin, k1, date("2026-03-10"), 85.0).await;
    value(&app, &admin, k1, date("2026-01-10"), 50.0).await;
    let k2 = kpi(&app, &admin, atelier, down("Rebut", 5.0, 10.0, None)).await;
    value(&app, &admin, k2, date("2026-02-01"), 3.0).await;
    let _k3 = kpi(&app, &admin, atelier, up("Sans valeur", 1.0, 0.0, None)).await;
    // inactive: its RED value and its overdue action count nowhere
    let k4 = kpi(&app, &admin, atelier, up("Ancien", 90.0, 80.0, None)).await;
    value(&app, &admin, k4, date("2026-03-01"), 10.0).await;
    action(&app, &admin, k4, "oubliée", "OPEN", Some(days(-30))).await;
    deactivate(&app, &admin, k4).await;
    // no orange band: 99 < 100 is RED
    let k5 = kpi(&app, &admin, entrepot, up("Service", 100.0, 100.0, None)).await;
    value(&app, &admin, k5, date("2026-03-01"), 99.0).await;

    action(&app, &admin, k1, "en retard", "OPEN", Some(days(-1))).await;
    action(&app, &admin, k1, "à venir", "IN_PROGRESS", Some(days(1))).await;
    action(&app, &admin, k1, "faite", "DONE", Some(days(-40))).await;
    action(&app, &admin, k1, "annulée", "CANCELLED", Some(days(-40))).await;
    action(&app, &admin, k2, "sans échéance", "OPEN", None).await;
    action(
        &app,
        &admin,
        k2,
        "due aujourd'hui",
        "IN_PROGRESS",
        Some(today()),
    )
    .await;

    let body = report(&app, &admin, "overview").await;
    let dashboards = body["dashboards"].as_array().unwrap();
    assert_eq!(
        ids(&body["dashboards"], "dashboard_id"),
        [atelier, entrepot, vide],
        "by process, title; null process last"
    );
    assert_eq!(dashboards[0]["title"], "Atelier");
    assert_eq!(dashboards[0]["process_name"], "Production");
    // Atelier: TRS ORANGE, Rebut GREEN, one without value; open: en retard, à venir, sans échéance, due aujourd'hui
    assert_eq!(
        counts(&dashboards[0]),
        (3, [1, 1, 0], 1, json!("ORANGE"), 4, 1)
    );
    assert_eq!(
        counts(&dashboards[1]),
        (1, [0, 0, 1], 0, json!("RED"), 0, 0)
    );
    assert_eq!(counts(&dashboards[2]), (0, [0, 0, 0], 0, Value::Null, 0, 0));
    assert_eq!(dashboards[2]["process_name"], Value::Null);

    let processes = body["processes"].as_array().unwrap();
    assert_eq!(processes.len(), 2, "{body}");
    assert_eq!(
        processes[0]["process_name"], "Production",
        "grouped case-insensitively, first spelling"
    );
    assert_eq!(processes[0]["dashboards"], 2);
    assert_eq!(counts(&processes[0]), (4, [1, 1, 1], 1, json!("RED"), 4, 1));
    assert_eq!(processes[1]["process_name"], Value::Null);
    assert_eq!(counts(&processes[1]), (0, [0, 0, 0], 0, Value::Null, 0, 0));

    // filters narrow the dashboards, and the processes with them
    let body = report(&app, &admin, "overview?process_name=%20PRODUCTION%20").await;
    assert_eq!(
        ids(&body["dashboards"], "dashboard_id"),
        [atelier, entrepot]
    );
    let body = report(&app, &admin, &format!("overview?dashboard_id={entrepot}")).await;
    assert_eq!(ids(&body["dashboards"], "dashboard_id"), [entrepot]);
    assert_eq!(
        counts(&body["processes"][0]),
        (1, [0, 0, 1], 0, json!("RED"), 0, 0)
    );
    let body = report(
        &app,
        &admin,
        &format!("overview?dashboard_id={}", Uuid::now_v7()),
    )
    .await;
    assert_eq!(body, json!({"dashboards": [], "processes": []}));
    let resp = app
        .get(&admin, "/reporting/overview?dashboard_id=not-a-uuid")
        .await;
    assert_invalid_field(&resp, "dashboard_id");
}

// ---------------------------------------------------------------------------
// top risks

#[tokio::test]
async fn top_risks_rank_critical_then_relative_distance_then_name_then_id() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let d = dashboard(&app, &admin, "Risques", Some("Qualité"), None).await;
    let month = date("2026-06-15");
    // (name, spec, value) → status, critical, distance from green
    let alpha = kpi(&app, &admin, d, up("Alpha", 100.0, 80.0, Some(50.0))).await; // 40: RED critical, 0.6
    value(&app, &admin, alpha, month, 40.0).await;
    let bravo = kpi(&app, &admin, d, up("Bravo", 100.0, 80.0, None)).await; // 10: RED, 0.9
    value(&app, &admin, bravo, month, 10.0).await;
    let charlie = kpi(&app, &admin, d, down("Charlie", 10.0, 20.0, Some(40.0))).await; // 19: ORANGE, 0.9
    value(&app, &admin, charlie, month, 19.0).await;
    let delta = kpi(&app, &admin, d, up("Delta", 0.0, -5.0, Some(-20.0))).await; // -4: ORANGE, green 0 → 4
    value(&app, &admin, delta, month, -4.0).await;
    let echo = kpi(&app, &admin, d, down("Echo", 5.0, 10.0, Some(15.0))).await; // 20: RED critical, 3
    value(&app, &admin, echo, month, 20.0).await;
    let foxtrot = kpi(&app, &admin, d, up("Foxtrot", 50.0, 40.0, None)).await; // GREEN: out
    value(&app, &admin, foxtrot, month, 60.0).await;
    kpi(&app, &admin, d, up("Golf", 50.0, 40.0, None)).await; // no value: out
    let hotel = kpi(&app, &admin, d, up("Hotel", 50.0, 40.0, Some(10.0))).await; // inactive: out
    value(&app, &admin, hotel, month, 0.0).await;
    deactivate(&app, &admin, hotel).await;
    // same name and gap: ordered by id (creation order of v7 ids)
    let india1 = kpi(&app, &admin, d, up("India", 100.0, 80.0, None)).await; // 85: ORANGE, 0.15
    value(&app, &admin, india1, month, 85.0).await;
    let india2 = kpi(&app, &admin, d, up("India", 100.0, 80.0, None)).await;
    value(&app, &admin, india2, month, 85.0).await;
    // the latest value is what counts: Juliet was RED in May, GREEN in June
    let juliet = kpi(&app, &admin, d, up("Juliet", 100.0, 80.0, Some(50.0))).await;
    value(&app, &admin, juliet, date("2026-05-01"), 0.0).await;
    value(&app, &admin, juliet, month, 100.0).await;

    let body = report(&app, &admin, "top-risks").await;
    let expected = [echo, alpha, delta, bravo, charlie, india1, india2];
    assert_eq!(ids(&body["items"], "kpi_id"), expected, "{body}");
    let echo_item = &body["items"][0];
    assert_eq!(echo_item["name"], "Echo");
    assert_eq!(echo_item["dashboard_id"], d.to_string());
    assert_eq!(echo_item["dashboard_title"], "Risques");
    assert_eq!(echo_item["status"], "RED");
    assert_eq!(echo_item["critical"], true);
    assert_eq!(num(&echo_item["value"]), 20.0);
    assert_eq!(echo_item["period_start"], "2026-06-01");
    assert_eq!(echo_item["period_end"], "2026-06-30");
    let statuses: Vec<(&str, bool)> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["status"].as_str().unwrap(),
                i["critical"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("RED", true),
            ("RED", true),
            ("ORANGE", false),
            ("RED", false),
            ("ORANGE", false),
            ("ORANGE", false),
            ("ORANGE", false)
        ]
    );

    let body = report(&app, &admin, "top-risks?limit=3").await;
    assert_eq!(ids(&body["items"], "kpi_id"), expected[..3]);
    let body = report(
        &app,
        &admin,
        "top-risks?limit=100&process_name=qualit%C3%A9",
    )
    .await;
    assert_eq!(body["items"].as_array().unwrap().len(), 7);
    let body = report(&app, &admin, "top-risks?process_name=RH").await;
    assert_eq!(body, json!({"items": []}));
    for bad in ["0", "101", "-1", "abc", "1.5"] {
        let resp = app
            .get(&admin, &format!("/reporting/top-risks?limit={bad}"))
            .await;
        assert_invalid_field(&resp, "limit");
    }
}

// ---------------------------------------------------------------------------
// direction

#[tokio::test]
async fn direction_lists_red_kpis_trends_latest_values_and_key_actions() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let db = app.db().await;
    let d = dashboard(&app, &admin, "Pilotage", Some("Direction"), None).await;
    let (sep, oct) = (date("2025-09-01"), date("2025-10-01"));

    // DOWN, 5.0 RED → 3.5 ORANGE: improving, delta -1.5, normalized +1.5, relative 1.5/5 = 0.3
    let absence = kpi(&app, &admin, d, down("Absence", 3.0, 4.5, Some(6.0))).await;
    value(&app, &admin, absence, sep, 5.0).await;
    value(&app, &admin, absence, oct, 3.5).await;
    // UP, 96 GREEN → 84 RED critical: worsening, relative -12/96 = -0.125; distance 11/95
    let otd = kpi(&app, &admin, d, up("OTD", 95.0, 90.0, Some(85.0))).await;
    value(&app, &admin, otd, sep, 96.0).await;
    value(&app, &admin, otd, oct, 84.0).await;
    // DOWN, August 4.0 → October 4.4 (the previous stored value, whatever the gap): worsening, -0.4/4 = -0.1; RED, distance 2.4/2 = 1.2
    let rebut = kpi(&app, &admin, d, down("Rebut", 2.0, 3.5, Some(5.0))).await;
    value(&app, &admin, rebut, date("2025-08-01"), 4.0).await;
    value(&app, &admin, rebut, oct, 4.4).await;
    // UP, 800 → 1000 GREEN: improving, 200/800 = 0.25
    let volume = kpi(&app, &admin, d, up("Volume", 1000.0, 800.0, None)).await;
    value(&app, &admin, volume, sep, 800.0).await;
    value(&app, &admin, volume, oct, 1000.0).await;
    // 7 → 7: stable, in neither trend list; ORANGE
    let stable = kpi(&app, &admin, d, up("Stable", 10.0, 5.0, None)).await;
    value(&app, &admin, stable, sep, 7.0).await;
    value(&app, &admin, stable, oct, 7.0).await;
    // a single value: no trend; GREEN
    let seul = kpi(&app, &admin, d, up("Seul", 10.0, 5.0, None)).await;
    value(&app, &admin, seul, oct, 12.0).await;
    // 0 → 3: previous 0, so relative change = normalized delta itself, 3; RED, distance 7/10
    let zero = kpi(&app, &admin, d, up("Zero", 10.0, 5.0, None)).await;
    value(&app, &admin, zero, sep, 0.0).await;
    value(&app, &admin, zero, oct, 3.0).await;
    // daily, the most recent period of all; GREEN
    let quotidien = kpi(
        &app,
        &admin,
        d,
        json!({"name": "Quotidien", "frequency": "DAILY", "direction": "UP_IS_BETTER", "threshold_green": 10, "threshold_orange": 5}),
    )
    .await;
    value(&app, &admin, quotidien, date("2025-11-03"), 11.0).await;
    // inactive, RED and worsening, with an overdue action: nowhere
    let retire = kpi(&app, &admin, d, up("Retiré", 10.0, 5.0, None)).await;
    value(&app, &admin, retire, sep, 9.0).await;
    value(&app, &admin, retire, oct, 1.0).await;
    action(&app, &admin, retire, "invisible", "OPEN", Some(days(-3))).await;
    deactivate(&app, &admin, retire).await;

    let a1 = action(&app, &admin, otd, "a1", "OPEN", Some(days(-5))).await;
    let a2 = action(&app, &admin, rebut, "a2", "IN_PROGRESS", Some(days(-1))).await;
    let a3 = action(&app, &admin, absence, "a3", "OPEN", Some(today())).await;
    let a4 = action(&app, &admin, volume, "a4", "OPEN", Some(days(2))).await;
    let a5 = action(&app, &admin, volume, "a5", "IN_PROGRESS", Some(days(3))).await;
    let a6 = action(&app, &admin, stable, "a6", "OPEN", Some(days(7))).await;
    let _a7 = action(&app, &admin, stable, "a7", "OPEN", Some(days(8))).await;
    let a8 = action(&app, &admin, seul, "a8", "DONE", Some(days(1))).await;
    let a9 = action(&app, &admin, seul, "a9", "CANCELLED", Some(days(-10))).await;
    let a10 = action(&app, &admin, zero, "a10", "DONE", Some(days(-10))).await;
    let _a11 = action(&app, &admin, stable, "a11", "OPEN", None).await;
    // a10 was closed last Sunday 23:59:59 UTC: not this week
    sqlx::query(
        "update action_plan set closed_at = (date_trunc('week', now() at time zone 'UTC') at time zone 'UTC') \
         - interval '1 second' where id = $1",
    )
    .bind(a10)
    .execute(&db)
    .await
    .unwrap();
    let body = report(&app, &admin, "direction").await;

    assert_eq!(
        ids(&body["top_red_kpis"], "kpi_id"),
        [otd, rebut, zero],
        "critical first, then 1.2 > 0.7"
    );
    let first = &body["top_red_kpis"][0];
    assert_eq!(
        (
            first["status"].as_str(),
            first["critical"].as_bool(),
            num(&first["value"]),
            first["period_end"].as_str()
        ),
        (Some("RED"), Some(true), 84.0, Some("2025-10-31"))
    );
    assert_eq!(first["dashboard_title"], "Pilotage");

    assert_eq!(
        names(&body["latest_values"]),
        [
            "Quotidien",
            "Absence",
            "OTD",
            "Rebut",
            "Seul",
            "Stable",
            "Volume",
            "Zero"
        ],
        "newest period first, then by name"
    );

    assert_eq!(
        ids(&body["improving_kpis"], "kpi_id"),
        [zero, absence, volume],
        "3 > 0.3 > 0.25"
    );
    let trend = &body["improving_kpis"][1];
    assert_eq!(trend["direction"], "DOWN_IS_BETTER");
    assert_eq!(
        (num(&trend["current_value"]), num(&trend["previous_value"])),
        (3.5, 5.0)
    );
    assert_eq!(
        (
            trend["current_status"].as_str(),
            trend["previous_status"].as_str()
        ),
        (Some("ORANGE"), Some("RED"))
    );
    assert_eq!(
        (num(&trend["delta"]), num(&trend["delta_normalized"])),
        (-1.5, 1.5)
    );
    assert_eq!(trend["dashboard_id"], d.to_string());
    assert_eq!(
        ids(&body["worsening_kpis"], "kpi_id"),
        [otd, rebut],
        "-0.125 before -0.1"
    );
    let trend = &body["worsening_kpis"][1];
    assert_eq!(
        (num(&trend["delta"]), num(&trend["delta_normalized"])),
        (0.4, -0.4)
    );
    assert_eq!(trend["previous_period_start"], "2025-08-01");

    assert_eq!(
        ids(&body["overdue_actions"], "action_id"),
        [a1, a2],
        "oldest due first"
    );
    let late = &body["overdue_actions"][0];
    assert_eq!(late["kpi_id"], otd.to_string());
    assert_eq!(late["kpi_name"], "OTD");
    assert_eq!(late["dashboard_title"], "Pilotage");
    assert_eq!(late["title"], "a1");
    assert_eq!(late["status"], "OPEN");
    assert_eq!(late["due_date"], days(-5).to_string());
    assert_eq!(late["is_late"], true);
    assert!(late["updated_at"].is_string());
    assert_eq!(ids(&body["upcoming_actions_48h"], "action_id"), [a3, a4]);
    assert_eq!(body["upcoming_actions_48h"][0]["is_late"], false);
    assert_eq!(
        ids(&body["upcoming_actions_7d"], "action_id"),
        [a5, a6],
        "after the 48 h window, up to today + 7: the lists do not overlap"
    );
    assert_eq!(
        ids(&body["closed_actions_this_week"], "action_id"),
        [a9, a8],
        "latest closed first"
    );
    assert!(body["closed_actions_this_week"][0]["closed_at"].is_string());
    assert_eq!(
        ids(&body["red_kpis_without_action"], "kpi_id"),
        [zero],
        "OTD and Rebut have open actions; a DONE one does not count"
    );

    let process = &body["processes"][0];
    assert_eq!(body["processes"].as_array().unwrap().len(), 1);
    assert_eq!(process["process_name"], "Direction");
    // GREEN: Volume, Seul, Quotidien; ORANGE: Absence, Stable; RED: OTD, Rebut, Zero;
    // open: a1..a7 and a11, overdue: a1, a2
    assert_eq!(counts(process), (8, [3, 2, 3], 0, json!("RED"), 8, 2));

    // `limit` caps every list
    let body = report(&app, &admin, "direction?limit=1").await;
    for list in [
        "top_red_kpis",
        "overdue_actions",
        "latest_values",
        "improving_kpis",
        "worsening_kpis",
        "upcoming_actions_48h",
        "upcoming_actions_7d",
        "closed_actions_this_week",
        "red_kpis_without_action",
    ] {
        assert_eq!(body[list].as_array().unwrap().len(), 1, "{list}: {body}");
    }
    assert_eq!(ids(&body["improving_kpis"], "kpi_id"), [zero]);
    assert_eq!(ids(&body["closed_actions_this_week"], "action_id"), [a9]);
    assert_invalid_field(
        &app.get(&admin, "/reporting/direction?limit=0").await,
        "limit",
    );
    assert_invalid_field(
        &app.get(&admin, "/reporting/direction?limit=101").await,
        "limit",
    );

    // reopening an action clears closed_at: it leaves the closed list and joins the open ones
    app.patch_json(
        &admin,
        &format!("/actions/{a9}"),
        &json!({"status": "OPEN"}),
    )
    .await
    .assert_status(200);
    let body = report(&app, &admin, "direction").await;
    assert_eq!(ids(&body["closed_actions_this_week"], "action_id"), [a8]);
    assert_eq!(ids(&body["overdue_actions"], "action_id"), [a9, a1, a2]);
}

#[tokio::test]
async fn direction_lists_the_strategic_kpis_worst_first() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let d = dashboard(&app, &admin, "Direction générale", None, None).await;
    let strategic = |mut spec: Value| {
        spec["is_strategic"] = json!(true);
        spec
    };
    let month = date("2026-01-01");
    // RED beyond the red level: critical, first
    let marge = kpi(
        &app,
        &admin,
        d,
        strategic(up("Marge", 10.0, 5.0, Some(2.0))),
    )
    .await;
    value(&app, &admin, marge, month, 1.0).await;
    // RED, not critical (no red level)
    let delai = kpi(&app, &admin, d, down("Délai", 3.0, 5.0, None)).await;
    value(&app, &admin, delai, month, 6.0).await;
    // ORANGE, then GREEN, then a strategic KPI without a value yet
    let stock = kpi(&app, &admin, d, strategic(up("Stock", 10.0, 5.0, None))).await;
    value(&app, &admin, stock, month, 7.0).await;
    let ventes = kpi(&app, &admin, d, strategic(up("Ventes", 10.0, 5.0, None))).await;
    value(&app, &admin, ventes, month, 12.0).await;
    let nouveau = kpi(&app, &admin, d, strategic(up("Nouveau", 10.0, 5.0, None))).await;
    // RED but not strategic; strategic but inactive: neither is listed
    let ordinaire = kpi(&app, &admin, d, up("Ordinaire", 10.0, 5.0, None)).await;
    value(&app, &admin, ordinaire, month, 0.0).await;
    let ancien = kpi(&app, &admin, d, strategic(up("Ancien", 10.0, 5.0, None))).await;
    value(&app, &admin, ancien, month, 0.0).await;
    deactivate(&app, &admin, ancien).await;

    // the flag is a KPI field, set on create and by PATCH
    let resp = app.get(&admin, &format!("/kpis/{marge}")).await;
    assert_eq!(resp.body["is_strategic"], true);
    let resp = app
        .patch_json(
            &admin,
            &format!("/kpis/{delai}"),
            &json!({"is_strategic": true}),
        )
        .await;
    resp.assert_status(200);
    assert_eq!(resp.body["is_strategic"], true);
    let resp = app.get(&admin, &format!("/kpis/{ordinaire}")).await;
    assert_eq!(resp.body["is_strategic"], false, "not strategic by default");

    let body = report(&app, &admin, "direction").await;
    assert_eq!(
        ids(&body["strategic_kpis"], "kpi_id"),
        [marge, delai, stock, ventes, nouveau],
        "critical, RED, ORANGE, GREEN, no value"
    );
    let first = &body["strategic_kpis"][0];
    assert_eq!(
        (
            first["status"].as_str(),
            num(&first["value"]),
            first["period_end"].as_str(),
            first["dashboard_title"].as_str(),
        ),
        (
            Some("RED"),
            1.0,
            Some("2026-01-31"),
            Some("Direction générale")
        )
    );
    let waiting = &body["strategic_kpis"][4];
    assert!(
        waiting["status"].is_null() && waiting["value"].is_null(),
        "{waiting}"
    );

    // unflagged, it leaves the list; `limit` caps it as every list
    app.patch_json(
        &admin,
        &format!("/kpis/{stock}"),
        &json!({"is_strategic": false}),
    )
    .await
    .assert_status(200);
    let body = report(&app, &admin, "direction?limit=2").await;
    assert_eq!(ids(&body["strategic_kpis"], "kpi_id"), [marge, delai]);
    let body = report(&app, &admin, "direction").await;
    assert_eq!(
        ids(&body["strategic_kpis"], "kpi_id"),
        [marge, delai, ventes, nouveau]
    );

    // a USER sees only the strategic KPIs of the dashboards they can see
    let team = app.create_team(&admin, "Finance").await;
    let private = dashboard(&app, &admin, "Finance", None, Some(team)).await;
    let cash = kpi(
        &app,
        &admin,
        private,
        strategic(up("Trésorerie", 10.0, 5.0, None)),
    )
    .await;
    value(&app, &admin, cash, month, 0.0).await;
    let user = app.create_user(&admin, "USER").await;
    let body = report(&app, &user, "direction").await;
    assert_eq!(
        ids(&body["strategic_kpis"], "kpi_id"),
        [marge, delai, ventes, nouveau]
    );
    let body = report(&app, &admin, "direction").await;
    assert_eq!(
        ids(&body["strategic_kpis"], "kpi_id"),
        [marge, delai, cash, ventes, nouveau],
        "RED ties on distance (1.0) are by name"
    );
}

#[tokio::test]
async fn direction_of_an_empty_organization_is_empty_lists() {
    let app = RouterApp::start().await;
    let admin = app.signup("Vide").await;
    let body = report(&app, &admin, "direction").await;
    let expected = json!({
        "top_red_kpis": [], "overdue_actions": [], "latest_values": [], "improving_kpis": [],
        "worsening_kpis": [], "upcoming_actions_48h": [], "upcoming_actions_7d": [],
        "closed_actions_this_week": [], "red_kpis_without_action": [], "strategic_kpis": [],
        "processes": []
    });
    assert_eq!(body, expected);
    assert_eq!(
        report(&app, &admin, "top-risks").await,
        json!({"items": []})
    );
    assert_eq!(
        report(&app, &admin, "missing").await,
        json!({"items": [], "total": 0})
    );
    assert_eq!(
        report(&app, &admin, "overview").await,
        json!({"dashboards": [], "processes": []})
    );
}

// ---------------------------------------------------------------------------
// missing

/// The last completed period, worked out here independently of the server.
fn last_completed(frequency: &str, today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first_of_month = today.with_day(1).unwrap();
    match frequency {
        "DAILY" => (today - Days::new(1), today - Days::new(1)),
        "WEEKLY" => {
            let monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()));
            (monday - Days::new(7), monday - Days::new(1))
        }
        "MONTHLY" => (
            first_of_month - Months::new(1),
            first_of_month - Days::new(1),
        ),
        "QUARTERLY" => {
            let quarter_start = first_of_month - Months::new((today.month() - 1) % 3);
            (quarter_start - Months::new(3), quarter_start - Days::new(1))
        }
        "YEARLY" => (
            NaiveDate::from_ymd_opt(today.year() - 1, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(today.year() - 1, 12, 31).unwrap(),
        ),
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn missing_lists_kpis_whose_last_completed_period_has_no_value() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let d = dashboard(&app, &admin, "Saisies", None, None).await;
    let t = today();
    let spec = |name: &str, frequency: &str| json!({"name": name, "frequency": frequency, "direction": "UP_IS_BETTER", "threshold_green": 1, "threshold_orange": 0});
    let mut late = Vec::new();
    for frequency in ["DAILY", "WEEKLY", "MONTHLY", "QUARTERLY", "YEARLY"] {
        let (start, end) = last_completed(frequency, t);
        let before = start - Days::new(1);
        // never entered: late
        let never = kpi(
            &app,
            &admin,
            d,
            spec(&format!("{frequency} jamais"), frequency),
        )
        .await;
        late.push((end, format!("{frequency} jamais"), never, frequency, start));
        // entered on the last day of the expected period (any date names its period): on time
        let on_time = kpi(
            &app,
            &admin,
            d,
            spec(&format!("{frequency} à jour"), frequency),
        )
        .await;
        value(&app, &admin, on_time, end, 1.0).await;
        // only the period before: late
        let behind = kpi(
            &app,
            &admin,
            d,
            spec(&format!("{frequency} en retard"), frequency),
        )
        .await;
        value(&app, &admin, behind, before, 1.0).await;
        late.push((
            end,
            format!("{frequency} en retard"),
            behind,
            frequency,
            start,
        ));
        // only the current, unfinished period: a later value does not excuse the missing one
        let ahead = kpi(
            &app,
            &admin,
            d,
            spec(&format!("{frequency} en avance"), frequency),
        )
        .await;
        value(&app, &admin, ahead, t, 1.0).await;
        late.push((
            end,
            format!("{frequency} en avance"),
            ahead,
            frequency,
            start,
        ));
        // inactive: never late
        let inactive = kpi(
            &app,
            &admin,
            d,
            spec(&format!("{frequency} inactif"), frequency),
        )
        .await;
        deactivate(&app, &admin, inactive).await;
    }
    // oldest expected period first, then (same dashboard) by name
    late.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));

    let body = report(&app, &admin, "missing").await;
    assert_eq!(body["total"], 15);
    let items = body["items"].as_array().unwrap();
    assert_eq!(
        names(&body["items"]),
        late.iter().map(|l| l.1.clone()).collect::<Vec<_>>(),
        "{body}"
    );
    for (item, (end, _, id, frequency, start)) in items.iter().zip(&late) {
        assert_eq!(item["kpi_id"], id.to_string());
        assert_eq!(item["frequency"], *frequency);
        assert_eq!(item["expected_period_start"], start.to_string(), "{item}");
        assert_eq!(item["expected_period_end"], end.to_string(), "{item}");
        assert_eq!(item["dashboard_id"], d.to_string());
        assert_eq!(item["dashboard_title"], "Saisies");
        assert_eq!(item["owner_id"], admin.user_id.to_string());
    }

    let body = report(&app, &admin, "missing?limit=2").await;
    assert_eq!(body["total"], 15);
    assert_eq!(body["items"].as_array().unwrap().len(), 2);
    assert_invalid_field(
        &app.get(&admin, "/reporting/missing?limit=1001").await,
        "limit",
    );
    let body = report(&app, &admin, "missing?limit=1000").await;
    assert_eq!(body["items"].as_array().unwrap().len(), 15);
}

// ---------------------------------------------------------------------------
// visibility and access

#[tokio::test]
async fn a_user_outside_a_team_sees_none_of_its_dashboards_in_any_report() {
    let app = RouterApp::start().await;
    let admin = app.signup("Acme").await;
    let member = app.create_user(&admin, "USER").await;
    let outsider = app.create_user(&admin, "USER").await;
    let team = app.create_team(&admin, "Logistique").await;
    app.add_team_member(&admin, team, member.user_id).await;

    let team_dash = dashboard(&app, &admin, "Équipe", Some("Logistique"), Some(team)).await;
    let org_dash = dashboard(&app, &admin, "Entreprise", Some("Qualité"), None).await;
    // a team dashboard handed over to the outsider: visible to them as its owner
    let owned = dashboard(&app, &admin, "Confié", Some("Logistique"), Some(team)).await;
    app.patch_json(
        &admin,
        &format!("/dashboards/{owned}"),
        &json!({"owner_id": outsider.user_id}),
    )
    .await
    .assert_status(200);

    let month = date("2025-10-01");
    let secret = kpi(
        &app,
        &admin,
        team_dash,
        up("Secret", 100.0, 80.0, Some(50.0)),
    )
    .await;
    value(&app, &admin, secret, date("2025-09-01"), 90.0).await;
    value(&app, &admin, secret, month, 10.0).await; // RED critical, worsening, late for this month
    action(&app, &admin, secret, "secrète", "OPEN", Some(days(-2))).await;
    action(
        &app,
        &admin,
        secret,
        "secrète bientôt",
        "OPEN",
        Some(days(1)),
    )
    .await;
    action(&app, &admin, secret, "secrète close", "DONE", None).await;
    let public = kpi(&app, &admin, org_dash, up("Public", 100.0, 80.0, None)).await;
    value(&app, &admin, public, month, 85.0).await; // ORANGE
    let confie = kpi(&app, &admin, owned, up("Confié KPI", 100.0, 80.0, None)).await;
    value(&app, &admin, confie, month, 1.0).await; // RED
    // another organization's red KPI never shows
    let other = app.signup("Globex").await;
    let other_dash = dashboard(&app, &other, "Ailleurs", None, None).await;
    let foreign = kpi(&app, &other, other_dash, up("Étranger", 100.0, 80.0, None)).await;
    value(&app, &other, foreign, month, 0.0).await;

    let visible_dashboards = |body: &Value| {
        let mut v = ids(&body["dashboards"], "dashboard_id");
        v.sort();
        v
    };
    let sorted = |mut v: Vec<Uuid>| {
        v.sort();
        v
    };

    // the outsider: the organization's dashboard and the one they own, nothing of the team's
    let body = report(&app, &outsider, "overview").await;
    assert_eq!(visible_dashboards(&body), sorted(vec![org_dash, owned]));
    let logistique = body["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["process_name"] == "Logistique")
        .unwrap();
    assert_eq!(counts(logistique), (1, [0, 0, 1], 0, json!("RED"), 0, 0));
    let body = report(&app, &outsider, "top-risks").await;
    assert_eq!(ids(&body["items"], "kpi_id"), [confie, public]);
    let body = report(&app, &outsider, "direction").await;
    let text = body.to_string();
    assert!(
        !text.contains(&secret.to_string()) && !text.contains(&team_dash.to_string()),
        "{text}"
    );
    assert_eq!(ids(&body["top_red_kpis"], "kpi_id"), [confie]);
    assert_eq!(body["overdue_actions"], json!([]));
    assert_eq!(body["upcoming_actions_48h"], json!([]));
    assert_eq!(body["closed_actions_this_week"], json!([]));
    assert_eq!(body["worsening_kpis"], json!([]));
    let body = report(&app, &outsider, "missing").await;
    assert_eq!(
        sorted(ids(&body["items"], "kpi_id")),
        sorted(vec![public, confie])
    );
    assert_eq!(body["total"], 2);
    // filtering on the team's dashboard by id reveals nothing
    let body = report(
        &app,
        &outsider,
        &format!("top-risks?dashboard_id={team_dash}"),
    )
    .await;
    assert_eq!(body, json!({"items": []}));

    // the member sees the team's dashboards too
    let body = report(&app, &member, "overview").await;
    assert_eq!(
        visible_dashboards(&body),
        sorted(vec![team_dash, org_dash, owned])
    );
    let body = report(&app, &member, "direction").await;
    assert_eq!(
        ids(&body["top_red_kpis"], "kpi_id"),
        [secret, confie],
        "critical first"
    );
    assert_eq!(names(&body["overdue_actions"]), ["secrète"]);
    assert_eq!(names(&body["upcoming_actions_48h"]), ["secrète bientôt"]);
    assert_eq!(names(&body["closed_actions_this_week"]), ["secrète close"]);
    assert_eq!(ids(&body["worsening_kpis"], "kpi_id"), [secret]);

    // the admin sees the whole organization, and only it
    let body = report(&app, &admin, "overview").await;
    assert_eq!(
        visible_dashboards(&body),
        sorted(vec![team_dash, org_dash, owned])
    );
    let body = report(&app, &admin, "top-risks").await;
    assert_eq!(ids(&body["items"], "kpi_id"), [secret, confie, public]);
    assert!(!body.to_string().contains(&foreign.to_string()));
    let body = report(&app, &other, "top-risks").await;
    assert_eq!(ids(&body["items"], "kpi_id"), [foreign]);
}

#[tokio::test]
async fn reports_need_a_token_and_are_documented() {
    let app = RouterApp::start().await;
    for path in ["overview", "top-risks", "direction", "missing"] {
        let resp = app.get_anon(&format!("/reporting/{path}")).await;
        assert_problem(&resp, 401);
    }
    let doc = app.get_anon("/openapi.json").await;
    doc.assert_status(200);
    for path in [
        "/reporting/overview",
        "/reporting/top-risks",
        "/reporting/direction",
        "/reporting/missing",
    ] {
        let get = &doc.body["paths"][path]["get"];
        assert_eq!(get["tags"], json!(["reporting"]), "{path}");
        assert_eq!(get["security"], json!([{"bearer": []}]), "{path}");
    }
    let params: Vec<&str> = doc.body["paths"]["/reporting/top-risks"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["limit", "process_name", "dashboard_id"]);
}
