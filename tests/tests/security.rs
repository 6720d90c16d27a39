//! Row-level security, the second layer under the application's filters
//! (DESIGN §8): the processes act as `kpix_app`, which sees and changes the
//! rows of its transaction's organization only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kpix_tests::TestApp;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

async fn dashboard_with_kpi(app: &TestApp, admin: &kpix_tests::Session) -> (Uuid, Uuid) {
    let dashboard = app
        .post_json(admin, "/dashboards", &json!({"title": "Usine"}))
        .await
        .id();
    let kpi = app
        .post_json(
            admin,
            &format!("/dashboards/{dashboard}/kpis"),
            &json!({"name": "TRS", "frequency": "MONTHLY", "direction": "UP_IS_BETTER",
                "threshold_green": 85, "threshold_orange": 75}),
        )
        .await
        .id();
    (dashboard, kpi)
}

#[tokio::test]
async fn a_row_of_another_organization_stays_hidden_where_a_query_forgets_it() {
    let app = TestApp::spawn().await;
    let acme = app.signup("Acme").await;
    let globex = app.signup("Globex").await;
    let (acme_dashboard, acme_kpi) = dashboard_with_kpi(&app, &acme).await;
    let (_, globex_kpi) = dashboard_with_kpi(&app, &globex).await;
    // Globex's KPI hung on Acme's dashboard (a bug, a bad migration): the
    // dashboard's KPI list checks the dashboard's organization, not each KPI's
    let db = app.db().await;
    sqlx::query("update kpi set dashboard_id = $1 where id = $2")
        .bind(acme_dashboard)
        .bind(globex_kpi)
        .execute(&db)
        .await
        .unwrap();

    let listed = app
        .get(&acme, &format!("/dashboards/{acme_dashboard}/kpis"))
        .await;
    listed.assert_status(200);
    let ids: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [acme_kpi.to_string()], "{}", listed.text);
}

/// Rows of `table` the connection sees.
async fn count(conn: &mut PgConnection, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_application_role_reaches_one_organization_per_transaction() {
    let app = TestApp::spawn().await;
    let acme = app.signup("Acme").await;
    let globex = app.signup("Globex").await;
    dashboard_with_kpi(&app, &acme).await;
    dashboard_with_kpi(&app, &globex).await;
    let url = app.database_url.clone();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    sqlx::query("set role kpix_app")
        .execute(&mut conn)
        .await
        .unwrap();

    // no organization set: nothing at all
    for table in [
        "organization",
        "app_user",
        "dashboard",
        "kpi",
        "kpi_latest",
        "refresh_token",
    ] {
        assert_eq!(count(&mut conn, table).await, 0, "{table}");
    }

    let mut tx = conn.begin().await.unwrap();
    sqlx::query("select set_config('kpix.organization_id', $1::text, true)")
        .bind(acme.organization_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(count(&mut tx, "organization").await, 1);
    assert_eq!(count(&mut tx, "kpi").await, 1);
    assert_eq!(count(&mut tx, "app_user").await, 1);
    // writing another organization's row is refused, not silently filtered
    let refused = sqlx::query(
        "insert into team (id, organization_id, name) values (gen_random_uuid(), $1, 'Intrus')",
    )
    .bind(globex.organization_id)
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert!(
        refused.to_string().contains("row-level security"),
        "{refused}"
    );
    tx.rollback().await.unwrap();

    // the setting ends with its transaction
    assert_eq!(count(&mut conn, "kpi").await, 0);
    // and the role cannot step around the policies
    sqlx::query("set row_security = off")
        .execute(&mut conn)
        .await
        .unwrap();
    let bypass = sqlx::query("select count(*) from kpi")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(
        bypass.to_string().contains("row-level security"),
        "{bypass}"
    );
}

#[tokio::test]
async fn the_processes_act_as_the_application_role() {
    let app = TestApp::spawn().await;
    let admin = app.signup("Acme").await;
    let db = app.db().await;
    // take a privilege from kpix_app alone: the API, acting as it, loses it too
    sqlx::query("revoke select on organization from kpix_app")
        .execute(&db)
        .await
        .unwrap();
    let me = app.get(&admin, "/auth/me").await;
    assert_eq!(me.status, 500, "{}", me.text);
    let logs = app.logs();
    assert!(
        logs.contains("permission denied for table organization"),
        "{logs}"
    );
    sqlx::query("grant select on organization to kpix_app")
        .execute(&db)
        .await
        .unwrap();
    let me: Value = app.get(&admin, "/auth/me").await.json();
    assert_eq!(me["organization"]["name"], "Acme");
}

/// The latest-value refresh runs as the owner (it is most of a write's time
/// under the policies): it keeps to the organization of its transaction.
#[tokio::test]
async fn the_latest_value_refresh_keeps_to_its_transactions_organization() {
    let app = TestApp::spawn().await;
    let acme = app.signup("Acme").await;
    let globex = app.signup("Globex").await;
    let (_, acme_kpi) = dashboard_with_kpi(&app, &acme).await;
    let (_, globex_kpi) = dashboard_with_kpi(&app, &globex).await;
    for (session, kpi) in [(&acme, acme_kpi), (&globex, globex_kpi)] {
        app.post_json(
            session,
            &format!("/kpis/{kpi}/values"),
            &json!({"period_start": "2026-01-01", "value": 90}),
        )
        .await
        .assert_status(201);
    }
    // both latest rows made stale, as the owner
    let db = app.db().await;
    sqlx::query("update kpi_latest set value = 1")
        .execute(&db)
        .await
        .unwrap();

    let mut conn = PgConnection::connect(&app.database_url).await.unwrap();
    sqlx::query("set role kpix_app")
        .execute(&mut conn)
        .await
        .unwrap();
    // acting for no organization, it refreshes nothing
    sqlx::query("select kpi_latest_refresh_kpis($1)")
        .bind(vec![acme_kpi, globex_kpi])
        .execute(&mut conn)
        .await
        .unwrap();
    let act_for_acme = "select set_config('kpix.organization_id', $1::text, true)";
    let mut tx = conn.begin().await.unwrap();
    sqlx::query(act_for_acme)
        .bind(acme.organization_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("select kpi_latest_refresh_kpis($1)")
        .bind(vec![acme_kpi, globex_kpi])
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // a value into Globex's KPI, with Acme's organization, is still refused
    let mut tx = conn.begin().await.unwrap();
    sqlx::query(act_for_acme)
        .bind(acme.organization_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    let refused = sqlx::query(
        "insert into kpi_value (id, organization_id, kpi_id, period_start, period_end, value, status, \
         critical, threshold_green, threshold_orange, direction) \
         values (gen_random_uuid(), $1, $2, '2026-02-01', '2026-02-28', 5, 'RED', false, 85, 75, 'UP_IS_BETTER')",
    )
    .bind(acme.organization_id)
    .bind(globex_kpi)
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("does not exist"), "{refused}");
    drop(tx);

    let latest = |kpi: Uuid| {
        sqlx::query_scalar::<_, f64>("select value::float8 from kpi_latest where kpi_id = $1")
            .bind(kpi)
            .fetch_one(&db)
    };
    assert_eq!(
        latest(acme_kpi).await.unwrap(),
        90.0,
        "Acme's row refreshed"
    );
    assert_eq!(
        latest(globex_kpi).await.unwrap(),
        1.0,
        "Globex's row untouched"
    );
}
