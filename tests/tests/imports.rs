//! Imports end to end: upload through the real `kpix-api`, a real
//! `kpix-worker` reading the stored file, values visible through the API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::NaiveDate;
use kpix_tests::{
    Session, TestApp, TestResponse, assert_invalid_field, assert_problem, poll_until,
    until_a_session_waits_on_a_lock,
};
use reqwest::{
    Method,
    multipart::{Form, Part},
};
use serde_json::{Value, json};
use uuid::Uuid;

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/imports");
const JOB_DEADLINE: Duration = Duration::from_secs(60);

/// An organization with the four KPIs the files of `fixtures/imports` expect.
struct Fixture {
    app: TestApp,
    admin: Session,
    kpis: Vec<(String, Uuid)>,
}

impl Fixture {
    async fn new() -> Fixture {
        let app = TestApp::spawn().await;
        Self::with_app(app).await
    }

    async fn with_app(app: TestApp) -> Fixture {
        let admin = app.signup("Import Org").await;
        let dashboard = app
            .post_json(
                &admin,
                "/dashboards",
                &json!({"title": "Usine", "process_name": "Production"}),
            )
            .await
            .assert_status(201)
            .id();
        let mut kpis = Vec::new();
        for (code, name, frequency, direction, green, orange) in [
            (
                "LOG-OTD",
                "Taux de service",
                "MONTHLY",
                "UP_IS_BETTER",
                95,
                90,
            ),
            ("PROD-TRS", "TRS ligne 2", "MONTHLY", "UP_IS_BETTER", 85, 75),
            ("QUA-REB", "Taux de rebut", "WEEKLY", "DOWN_IS_BETTER", 2, 3),
            ("RH-ABS", "Absentéisme", "MONTHLY", "DOWN_IS_BETTER", 4, 6),
            (
                "Q-TRIM",
                "Satisfaction trimestrielle",
                "QUARTERLY",
                "UP_IS_BETTER",
                80,
                70,
            ),
            // the large files: a day a row, within the years dates may take
            ("DAY-A", "Volume ligne A", "DAILY", "UP_IS_BETTER", 80, 70),
            ("DAY-B", "Volume ligne B", "DAILY", "UP_IS_BETTER", 80, 70),
            ("DAY-C", "Volume ligne C", "DAILY", "UP_IS_BETTER", 80, 70),
        ] {
            let body = json!({"code": code, "name": name, "unit": "%", "frequency": frequency,
                "direction": direction, "threshold_green": green, "threshold_orange": orange});
            let id = app
                .post_json(&admin, &format!("/dashboards/{dashboard}/kpis"), &body)
                .await
                .assert_status(201)
                .id();
            kpis.push((code.to_owned(), id));
        }
        Fixture { app, admin, kpis }
    }

    fn kpi(&self, code: &str) -> Uuid {
        self.kpis
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, id)| *id)
            .expect("fixture KPI")
    }

    async fn upload(
        &self,
        filename: &str,
        bytes: Vec<u8>,
        fields: &[(&str, &str)],
    ) -> TestResponse {
        upload_as(&self.app, &self.admin, filename, bytes, fields).await
    }

    /// Uploads and waits for the job to finish; returns the job.
    async fn import(&self, filename: &str, bytes: Vec<u8>, fields: &[(&str, &str)]) -> Value {
        let resp = self.upload(filename, bytes, fields).await;
        resp.assert_status(202);
        wait_job(&self.app, &self.admin, resp.id()).await
    }

    async fn values(&self, code: &str) -> Vec<Value> {
        let resp = self
            .app
            .get(
                &self.admin,
                &format!("/kpis/{}/values?limit=1000", self.kpi(code)),
            )
            .await;
        resp.assert_status(200);
        resp.body.as_array().unwrap().clone()
    }

    async fn errors(&self, job: &Value) -> Vec<Value> {
        let resp = self
            .app
            .get(
                &self.admin,
                &format!("/imports/jobs/{}/errors", job["id"].as_str().unwrap()),
            )
            .await;
        resp.assert_status(200);
        resp.body.as_array().unwrap().clone()
    }
}

async fn upload_as(
    app: &TestApp,
    session: &Session,
    filename: &str,
    bytes: Vec<u8>,
    fields: &[(&str, &str)],
) -> TestResponse {
    upload_to(app, session, "/imports/kpi-values", filename, bytes, fields).await
}

/// Uploads to `path` (the upload's path, with a query string if any).
async fn upload_to(
    app: &TestApp,
    session: &Session,
    path: &str,
    filename: &str,
    bytes: Vec<u8>,
    fields: &[(&str, &str)],
) -> TestResponse {
    let mut form = Form::new().part("file", Part::bytes(bytes).file_name(filename.to_owned()));
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    app.send(app.authed(session, Method::POST, path).multipart(form))
        .await
}

async fn wait_job(app: &TestApp, session: &Session, id: Uuid) -> Value {
    poll_until(JOB_DEADLINE, || async {
        let job = app.get(session, &format!("/imports/jobs/{id}")).await;
        job.assert_status(200);
        matches!(job.body["status"].as_str(), Some("SUCCESS" | "FAILED")).then(|| job.body.clone())
    })
    .await
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!("{SAMPLES}/{name}")).unwrap_or_else(|e| panic!("sample {name}: {e}"))
}

fn value_of(values: &[Value], period_start: &str) -> f64 {
    values
        .iter()
        .find(|v| v["period_start"] == period_start)
        .unwrap_or_else(|| panic!("no value for {period_start} in {values:?}"))["value"]
        .as_f64()
        .expect("value is a JSON number")
}

fn counts(job: &Value) -> (i64, i64, i64, i64) {
    let n = |f: &str| job[f].as_i64().unwrap();
    (
        n("rows_total"),
        n("rows_inserted"),
        n("rows_updated"),
        n("rows_rejected"),
    )
}

#[tokio::test]
async fn every_sample_file_imports_completely() {
    let fx = Fixture::new().await;
    let _worker = fx.app.spawn_worker().await;

    let job = fx
        .import(
            "valeurs_2024_excel_fr.csv",
            sample("valeurs_2024_excel_fr.csv"),
            &[],
        )
        .await;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    assert_eq!(job["type"], "CSV");
    assert_eq!(counts(&job), (36, 36, 0, 0));
    let otd = fx.values("LOG-OTD").await;
    assert_eq!(otd.len(), 12);
    assert_eq!(value_of(&otd, "2024-01-01"), 92.8);
    assert_eq!(otd[0]["period_start"], "2024-12-01", "newest period first");
    assert_eq!(otd[0]["period_end"], "2024-12-31");
    assert_eq!(
        otd.iter()
            .find(|v| v["period_start"] == "2024-08-01")
            .unwrap()["comment"],
        "Grève transporteur – 2 jours"
    );

    let job = fx
        .import(
            "rebut_hebdo_2026_utf8_bom.csv",
            sample("rebut_hebdo_2026_utf8_bom.csv"),
            &[],
        )
        .await;
    assert_eq!(counts(&job), (26, 26, 0, 0), "{job}");
    let rebut = fx.values("QUA-REB").await;
    // 2026-W01 is the ISO week starting Monday 2025-12-29
    let first_week = rebut
        .iter()
        .find(|v| v["period_start"] == "2025-12-29")
        .unwrap();
    assert_eq!(first_week["period_end"], "2026-01-04");
    assert_eq!(value_of(&rebut, "2025-12-29"), 1.87);

    let job = fx
        .import(
            "indicateurs_2023.xlsx",
            sample("indicateurs_2023.xlsx"),
            &[],
        )
        .await;
    assert_eq!(job["type"], "EXCEL");
    assert_eq!(counts(&job), (36, 36, 0, 0), "{job}");
    let trs = fx.values("PROD-TRS").await;
    assert_eq!(
        trs.iter()
            .filter(|v| v["period_start"].as_str().unwrap().starts_with("2023-"))
            .count(),
        12
    );
    // a cell Excel stores as 93.09999999999999 is the value 93.1, exactly
    let otd = fx.values("LOG-OTD").await;
    let february = otd.iter().find(|v| v["period_start"] == "2023-02-01");
    assert_eq!(february.unwrap()["value"].to_string(), "93.1");
    assert!(fx.errors(&job).await.is_empty());
}

#[tokio::test]
async fn the_generic_kpi_word_takes_codes_as_well_as_names() {
    let fx = Fixture::new().await;
    let _worker = fx.app.spawn_worker().await;
    let job = fx
        .import(
            "codes_sous_indicateur.csv",
            sample("codes_sous_indicateur.csv"),
            &[],
        )
        .await;
    assert_eq!(
        counts(&job),
        (12, 12, 0, 0),
        "{job} {:?}",
        fx.errors(&job).await
    );
    assert_eq!(value_of(&fx.values("LOG-OTD").await, "2025-01-01"), 95.0);
    assert_eq!(value_of(&fx.values("RH-ABS").await, "2025-06-01"), 2.8);
    // the same word in English, holding names and codes mixed
    let mixed = "Indicator,Month,Value\nTaux de service,2025-07,91.5\nRH-ABS,2025-07,3.1\n";
    let job = fx.import("mixed.csv", mixed.as_bytes().to_vec(), &[]).await;
    assert_eq!(counts(&job), (2, 2, 0, 0), "{job}");
    assert_eq!(value_of(&fx.values("LOG-OTD").await, "2025-07-01"), 91.5);
    assert_eq!(value_of(&fx.values("RH-ABS").await, "2025-07-01"), 3.1);
}

#[tokio::test]
async fn csv_dialects_numbers_and_period_forms_are_understood() {
    let fx = Fixture::new().await;
    let _worker = fx.app.spawn_worker().await;
    // semicolons, decimal comma, thousands with spaces and no-break spaces, percent, title row
    let semicolon = "Export du 3 mars\n\nCode;Mois;Valeur;Commentaire\nLOG-OTD;2024-01;1 234,5;début\nLOG-OTD;2024-02;1\u{a0}000,25;\nLOG-OTD;29/03/2024;95 %;\"avec ; dedans, \"\"cité\"\"\nsur deux lignes\"\n";
    let job = fx
        .import("semicolon.csv", semicolon.as_bytes().to_vec(), &[])
        .await;
    assert_eq!(
        counts(&job),
        (3, 3, 0, 0),
        "{job} {:?}",
        fx.errors(&job).await
    );
    let otd = fx.values("LOG-OTD").await;
    assert_eq!(value_of(&otd, "2024-01-01"), 1234.5);
    assert_eq!(value_of(&otd, "2024-02-01"), 1000.25);
    assert_eq!(value_of(&otd, "2024-03-01"), 95.0);
    assert_eq!(
        otd.iter()
            .find(|v| v["period_start"] == "2024-03-01")
            .unwrap()["comment"],
        "avec ; dedans, \"cité\"\nsur deux lignes"
    );
    // an empty comment cell is no comment
    assert!(
        otd.iter()
            .find(|v| v["period_start"] == "2024-02-01")
            .unwrap()["comment"]
            .is_null()
    );

    // tabs, ISO weeks and quarters
    let tabs = "kpi\tperiod\tvalue\nQUA-REB\t2025-W12\t1.5\nQ-TRIM\t2025-Q2\t81\n";
    let job = fx.import("tabs.txt", tabs.as_bytes().to_vec(), &[]).await;
    assert_eq!(counts(&job), (2, 2, 0, 0), "{job}");
    assert_eq!(value_of(&fx.values("QUA-REB").await, "2025-03-17"), 1.5);
    let quarter = fx.values("Q-TRIM").await;
    assert_eq!(quarter[0]["period_start"], "2025-04-01");
    assert_eq!(quarter[0]["period_end"], "2025-06-30");

    // Windows-1252 with an accented KPI name and header, commas
    let cp1252: Vec<u8> =
        b"Indicateur,P\xe9riode,Valeur\nAbsent\xe9isme,31/01/2025,\"4,2\"\n".to_vec();
    let job = fx.import("absences.csv", cp1252, &[]).await;
    assert_eq!(
        counts(&job),
        (1, 1, 0, 0),
        "{job} {:?}",
        fx.errors(&job).await
    );
    assert_eq!(value_of(&fx.values("RH-ABS").await, "2025-01-01"), 4.2);
}

#[tokio::test]
async fn spreadsheets_with_date_cells_and_serials_import() {
    let fx = Fixture::new().await;
    let _worker = fx.app.spawn_worker().await;
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    let date_format = rust_xlsxwriter::Format::new().set_num_format("dd/mm/yyyy");
    sheet.write_string(0, 0, "Suivi mensuel").unwrap();
    for (col, title) in ["Code KPI", "Date", "Valeur"].iter().enumerate() {
        sheet.write_string(2, col as u16, *title).unwrap();
    }
    for (i, month) in (1..=6_u8).enumerate() {
        let row = 3 + i as u32;
        let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2025, month, 15).unwrap();
        sheet.write_string(row, 0, "PROD-TRS").unwrap();
        sheet
            .write_datetime_with_format(row, 1, &date, &date_format)
            .unwrap();
        sheet
            .write_number(row, 2, 80.0 + f64::from(month) / 10.0)
            .unwrap();
    }
    let bytes = workbook.save_to_buffer().unwrap();
    let job = fx.import("suivi.xlsx", bytes, &[]).await;
    assert_eq!(
        counts(&job),
        (6, 6, 0, 0),
        "{job} {:?}",
        fx.errors(&job).await
    );
    let trs = fx.values("PROD-TRS").await;
    assert_eq!(value_of(&trs, "2025-06-01"), 80.6);
    assert_eq!(value_of(&trs, "2025-01-01"), 80.1);
}

fn invalid_file() -> Vec<u8> {
    // row 3: unknown KPI; row 4: not a number; row 5: bad period; row 6: duplicate of row 2
    b"kpi_code,period,value\nLOG-OTD,2025-01,90\nNOPE,2025-01,91\nLOG-OTD,2025-02,abc\nLOG-OTD,2025-13,92\nLOG-OTD,2025-01-20,93\nLOG-OTD,2025-03,94\n".to_vec()
}

#[tokio::test]
async fn dates_outside_the_years_1900_to_2199_are_row_errors() {
    let fx = Fixture::new().await;
    let _worker = fx.app.spawn_worker().await;
    let file = "kpi_code,period,value\n\
        DAY-A,31/12/9999,1\n\
        DAY-A,1899-12-31,1\n\
        LOG-OTD,0000-01,1\n\
        LOG-OTD,2200-01,1\n\
        DAY-A,1900-01-01,1\n\
        DAY-A,2199-12-31,1\n";
    let job = fx
        .import("far.csv", file.as_bytes().to_vec(), &[("mode", "partial")])
        .await;
    assert_eq!(counts(&job), (6, 2, 0, 4), "{job}");
    let errors: Vec<(i64, String)> = fx
        .errors(&job)
        .await
        .iter()
        .map(|e| {
            assert_eq!(e["column"], "period");
            (
                e["row"].as_i64().unwrap(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(errors.iter().map(|e| e.0).collect::<Vec<_>>(), [2, 3, 4, 5]);
    for (_, message) in &errors {
        assert!(
            message.contains("the year must be between 1900 and 2199"),
            "{message}"
        );
    }

    // the database holds the same bound, under the application's checks
    let db = fx.app.db().await;
    let refused = sqlx::query(
        "insert into kpi_value (id, organization_id, kpi_id, period_start, period_end, value, status, \
           threshold_green, threshold_orange, direction) \
         select gen_random_uuid(), organization_id, id, '9999-12-31', '9999-12-31', 1, 'RED', \
           threshold_green, threshold_orange, direction from kpi where id = $1",
    )
    .bind(fx.kpi("DAY-A"))
    .execute(&db)
    .await
    .unwrap_err();
    assert!(
        refused.to_string().contains("kpi_value_period_in_range"),
        "{refused}"
    );
}

#[tokio::test]
async fn atomic_import_writes_nothing_and_reports_every_error() {
    let fx = Fixture::new().await;
    let _worker = fx.app.spawn_worker().await;
    let job = fx.import("errors.csv", invalid_file(), &[]).await;
    assert_eq!(job["status"], "FAILED");
    assert_eq!(job["mode"], "atomic");
    assert_eq!(counts(&job), (6, 0, 0, 4));
    assert!(
        fx.values("LOG-OTD").await.is_empty(),
        "atomic: nothing written"
    );
    let errors = fx.errors(&job).await;
    let rows: Vec<(i64, &str)> = errors
        .iter()
        .map(|e| (e["row"].as_i64().unwrap(), e["column"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rows,
        vec![(3, "kpi_code"), (4, "value"), (5, "period"), (6, "period")]
    );
    assert_eq!(errors[0]["value"], "NOPE");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown KPI")
    );
    assert!(
        errors[3]["message"].as_str().unwrap().contains("row 2"),
        "{}",
        errors[3]
    );

    let csv = fx
        .app
        .send(fx.app.authed(
            &fx.admin,
            Method::GET,
            &format!(
                "/imports/jobs/{}/errors?format=csv",
                job["id"].as_str().unwrap()
            ),
        ))
        .await;
    csv.assert_status(200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert!(csv.text.starts_with("row,column,value,message"));
    assert_eq!(csv.text.lines().count(), 5);
}

#[tokio::test]
async fn partial_import_keeps_valid_rows_and_dry_run_keeps_nothing() {
    let fx = Fixture::new().await;
    let _worker = fx.app.spawn_worker().await;
    let dry = fx
        .import(
            "errors.csv",
            invalid_file(),
            &[("mode", "partial"), ("dry_run", "true")],
        )
        .await;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(counts(&dry), (6, 2, 0, 4), "{dry}");
    assert!(
        fx.values("LOG-OTD").await.is_empty(),
        "dry run: nothing written"
    );

    let partial = fx
        .import("errors.csv", invalid_file(), &[("mode", "partial")])
        .await;
    assert_eq!(partial["status"], "SUCCESS");
    assert_eq!(counts(&partial), (6, 2, 0, 4));
    let otd = fx.values("LOG-OTD").await;
    assert_eq!(otd.len(), 2);
    assert_eq!(
        value_of(&otd, "2025-01-01"),
        90.0,
        "the first of two rows for one period is kept"
    );
    assert_eq!(fx.errors(&partial).await.len(), 4);
}

#[tokio::test]
async fn options_may_come_in_the_query_string() {
    let fx = Fixture::new().await;
    let _worker = fx.app.spawn_worker().await;
    let upload = |path: &'static str, fields: &'static [(&'static str, &'static str)]| {
        upload_to(
            &fx.app,
            &fx.admin,
            path,
            "errors.csv",
            invalid_file(),
            fields,
        )
    };
    let resp = upload("/imports/kpi-values?mode=partial&dry_run=true", &[]).await;
    resp.assert_status(202);
    let dry = wait_job(&fx.app, &fx.admin, resp.id()).await;
    assert_eq!(
        (dry["mode"].as_str(), dry["dry_run"].as_bool()),
        (Some("partial"), Some(true)),
        "{dry}"
    );
    assert_eq!(counts(&dry), (6, 2, 0, 4), "{dry}");
    assert!(
        fx.values("LOG-OTD").await.is_empty(),
        "dry run: nothing written"
    );

    // the same option in the query and the form must agree
    let resp = upload("/imports/kpi-values?dry_run=true", &[("dry_run", "false")]).await;
    assert_problem(&resp, 422);
    assert_eq!(resp.body["errors"][0]["field"], "dry_run", "{}", resp.text);
    let resp = upload(
        "/imports/kpi-values?dry_run=true",
        &[("dry_run", "true"), ("mode", "partial")],
    )
    .await;
    resp.assert_status(202);
    // so is a form field given twice
    let resp = upload(
        "/imports/kpi-values",
        &[("mode", "partial"), ("mode", "atomic")],
    )
    .await;
    assert_problem(&resp, 422);
    assert_eq!(resp.body["errors"][0]["field"], "mode", "{}", resp.text);
    // a misspelt option is refused, not ignored
    let resp = upload("/imports/kpi-values?dryrun=true", &[]).await;
    assert_problem(&resp, 422);
    assert_eq!(resp.body["errors"][0]["field"], "dryrun", "{}", resp.text);
    let resp = upload("/imports/kpi-values?mode=sometimes", &[]).await;
    assert_problem(&resp, 422);
    assert!(
        fx.values("LOG-OTD").await.is_empty(),
        "nothing refused was written"
    );
}

#[tokio::test]
async fn reimporting_a_file_updates_and_duplicates_nothing() {
    let fx = Fixture::new().await;
    let _worker = fx.app.spawn_worker().await;
    let first = fx
        .import("v.csv", sample("valeurs_2024_excel_fr.csv"), &[])
        .await;
    assert_eq!(counts(&first), (36, 36, 0, 0));
    let second = fx
        .import("v.csv", sample("valeurs_2024_excel_fr.csv"), &[])
        .await;
    assert_eq!(counts(&second), (36, 0, 36, 0), "{second}");
    assert_eq!(fx.values("LOG-OTD").await.len(), 12);
}

#[tokio::test]
async fn another_organizations_kpi_is_unknown() {
    let fx = Fixture::new().await;
    let _worker = fx.app.spawn_worker().await;
    let other = fx.app.signup("Other Org").await;
    let dashboard = fx
        .app
        .post_json(&other, "/dashboards", &json!({"title": "x"}))
        .await
        .assert_status(201)
        .id();
    fx.app
        .post_json(&other, &format!("/dashboards/{dashboard}/kpis"), &json!({"code": "SECRET", "name": "Secret",
            "frequency": "MONTHLY", "direction": "UP_IS_BETTER", "threshold_green": 1, "threshold_orange": 0}))
        .await
        .assert_status(201);
    let job = fx
        .import(
            "x.csv",
            b"code,period,value\nSECRET,2025-01,1\n".to_vec(),
            &[],
        )
        .await;
    assert_eq!(job["status"], "FAILED");
    let errors = fx.errors(&job).await;
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown KPI 'SECRET'")
    );
    // and the other organization cannot see this job
    let resp = fx
        .app
        .get(
            &other,
            &format!("/imports/jobs/{}", job["id"].as_str().unwrap()),
        )
        .await;
    assert_problem(&resp, 404);
}

#[tokio::test]
async fn uploads_are_checked_before_a_job_is_created() {
    let app = TestApp::spawn_with(&[("MAX_UPLOAD_BYTES", "2000")]).await;
    let fx = Fixture::with_app(app).await;
    let too_big = format!("code,period,value\n{}", "LOG-OTD,2025-01,1\n".repeat(200));
    assert_problem(&fx.upload("big.csv", too_big.into_bytes(), &[]).await, 413);
    let junk: Vec<u8> = (0..1000_u32).map(|i| (i * 7 % 256) as u8).collect();
    assert_problem(&fx.upload("junk.pdf", junk.clone(), &[]).await, 415);
    assert_problem(&fx.upload("junk", junk, &[]).await, 415);
    assert_problem(&fx.upload("empty.csv", Vec::new(), &[]).await, 422);
    let resp = fx
        .upload(
            "ok.csv",
            b"code,period,value\n".to_vec(),
            &[("mode", "sometimes")],
        )
        .await;
    assert_problem(&resp, 422);
    let resp = fx
        .upload(
            "ok.csv",
            b"code,period,value\n".to_vec(),
            &[("dashboard_id", &Uuid::now_v7().to_string())],
        )
        .await;
    assert_problem(&resp, 404);
    let listed = fx.app.get(&fx.admin, "/imports/jobs").await;
    assert_eq!(
        listed.body.as_array().unwrap().len(),
        0,
        "no job for a refused upload"
    );
}

#[tokio::test]
async fn a_file_part_declared_csv_or_spreadsheet_counts_as_its_name_would() {
    let fx = Fixture::new().await;
    let junk: Vec<u8> = (0..1000_u32).map(|i| (i * 7 % 256) as u8).collect();
    let send = |media_type: &'static str| {
        let part = Part::bytes(junk.clone())
            .file_name("scan.png")
            .mime_str(media_type)
            .unwrap();
        fx.app.send(
            fx.app
                .authed(&fx.admin, Method::POST, "/imports/kpi-values")
                .multipart(Form::new().part("file", part)),
        )
    };

    // declared CSV: a job, which the worker fails as it fails junk named .csv
    let declared = send("text/csv").await;
    declared.assert_status(202);
    assert_eq!(declared.body["type"], "CSV");
    let spreadsheet = send("application/vnd.ms-excel").await;
    assert_eq!(spreadsheet.body["type"], "EXCEL", "{}", spreadsheet.text);
    // anything else stays unsupported
    assert_problem(&send("image/png").await, 415);
    // and the document lists what may be declared
    let doc = fx.app.get_anon("/openapi.json").await;
    let upload = &doc.body["paths"]["/imports/kpi-values"]["post"]["requestBody"]["content"]["multipart/form-data"];
    let declared = upload["encoding"]["file"]["contentType"].as_str().unwrap();
    assert!(declared.starts_with("text/csv, "), "{declared}");
    assert!(declared.contains("application/vnd.oasis.opendocument.spreadsheet"));
    let form = &doc.body["components"]["schemas"]["UploadForm"];
    assert_eq!(form["additionalProperties"], false);
    assert_eq!(form["properties"]["file"]["minLength"], 1);
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_job() {
    let fx = Fixture::new().await;
    let send = || {
        let form = Form::new().part(
            "file",
            Part::bytes(sample("rebut_hebdo_2026_utf8_bom.csv")).file_name("r.csv"),
        );
        fx.app.send(
            fx.app
                .authed(&fx.admin, Method::POST, "/imports/kpi-values")
                .header("Idempotency-Key", "upload-42")
                .multipart(form),
        )
    };
    let first = send().await;
    first.assert_status(202);
    assert_eq!(
        first.header("location"),
        Some(format!("/api/v1/imports/jobs/{}", first.id()).as_str())
    );
    let second = send().await;
    second.assert_status(202);
    assert_eq!(first.id(), second.id());
    // a replay is still a request: without its file it is refused
    let fileless = fx
        .app
        .send(
            fx.app
                .authed(&fx.admin, Method::POST, "/imports/kpi-values")
                .header("Idempotency-Key", "upload-42")
                .multipart(Form::new().text("mode", "atomic")),
        )
        .await;
    assert_invalid_field(&fileless, "file");
    let _worker = fx.app.spawn_worker().await;
    let job = wait_job(&fx.app, &fx.admin, first.id()).await;
    assert_eq!(counts(&job), (26, 26, 0, 0));
}

#[tokio::test]
async fn a_user_sees_their_own_jobs_and_an_admin_all() {
    let fx = Fixture::new().await;
    let user = fx.app.create_user(&fx.admin, "USER").await;
    let mine = upload_as(
        &fx.app,
        &user,
        "u.csv",
        sample("rebut_hebdo_2026_utf8_bom.csv"),
        &[],
    )
    .await;
    mine.assert_status(202);
    let admins = fx
        .upload("a.csv", sample("rebut_hebdo_2026_utf8_bom.csv"), &[])
        .await;
    admins.assert_status(202);
    let listed = fx.app.get(&user, "/imports/jobs").await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_problem(
        &fx.app
            .get(&user, &format!("/imports/jobs/{}", admins.id()))
            .await,
        404,
    );
    let all = fx.app.get(&fx.admin, "/imports/jobs").await;
    let ids: Vec<&str> = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![admins.id().to_string(), mine.id().to_string()],
        "newest first"
    );
}

/// An XLSX-looking zip whose worksheet inflates far past the limits.
fn zip_bomb() -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("xl/workbook.xml", options).unwrap();
    zip.write_all(b"<workbook/>").unwrap();
    zip.start_file("xl/worksheets/sheet1.xml", options).unwrap();
    let spaces = vec![b' '; 1024 * 1024];
    for _ in 0..300 {
        zip.write_all(&spaces).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[tokio::test]
async fn hostile_files_fail_their_job_and_the_worker_goes_on() {
    let fx = Fixture::new().await;
    let _worker = fx
        .app
        .spawn_worker_with(&[("WORKER_CONCURRENCY", "1")])
        .await;
    let bomb = fx.import("bomb.xlsx", zip_bomb(), &[]).await;
    assert_eq!(bomb["status"], "FAILED");
    assert!(!bomb["error_message"].as_str().unwrap().is_empty());

    let mut truncated = sample("indicateurs_2023.xlsx");
    truncated.truncate(truncated.len() / 2);
    let job = fx.import("truncated.xlsx", truncated, &[]).await;
    assert_eq!(job["status"], "FAILED", "{job}");

    // binary junk renamed .csv is accepted as an upload and fails its job
    let junk: Vec<u8> = (0..1000_u32).map(|i| (i * 7 % 256) as u8).collect();
    let job = fx.import("junk.csv", junk, &[]).await;
    assert_eq!(
        (job["status"].as_str(), job["type"].as_str()),
        (Some("FAILED"), Some("CSV")),
        "{job}"
    );
    assert!(
        job["error_message"]
            .as_str()
            .unwrap()
            .contains("not a CSV, XLSX, XLS or ODS"),
        "{job}"
    );

    let no_header = fx
        .import(
            "prose.csv",
            b"hello there\nthis is not a table\n".to_vec(),
            &[],
        )
        .await;
    assert_eq!(no_header["status"], "FAILED");
    assert!(
        no_header["error_message"]
            .as_str()
            .unwrap()
            .contains("header"),
        "{no_header}"
    );

    let ok = fx
        .import("ok.csv", sample("rebut_hebdo_2026_utf8_bom.csv"), &[])
        .await;
    assert_eq!(
        ok["status"], "SUCCESS",
        "the worker still processes the next job"
    );
}

/// The `n`th day of a large file (0 = 1900-01-01).
fn day(n: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Days::new(u64::from(n))
}

/// A CSV of `codes` × `days` rows for the fixture's daily KPIs.
fn big_csv(codes: &[&str], days: u32) -> Vec<u8> {
    let mut out = String::from("kpi_code,period,value\n");
    for code in codes {
        for n in 0..days {
            out.push_str(&format!("{code},{},{}.{}\n", day(n), n % 100, n % 7));
        }
    }
    out.into_bytes()
}

async fn count_values(app: &TestApp) -> i64 {
    let pool = app.db().await;
    sqlx::query_scalar("select count(*) from kpi_value")
        .fetch_one(&pool)
        .await
        .unwrap()
}

/// 6,000 daily rows (more than one write batch), then row 6002 repeating
/// row 2 (an earlier batch) and row 6003 repeating row 6001 (the same batch).
fn file_repeating_periods_across_batches() -> Vec<u8> {
    let mut file = big_csv(&["DAY-A"], 6_000);
    file.extend_from_slice(format!("DAY-A,{},77\nDAY-A,{},78\n", day(0), day(5_999)).as_bytes());
    file
}

#[tokio::test]
async fn periods_repeated_across_write_batches_are_rejected_with_the_first_row() {
    let fx = Fixture::new().await;
    let _worker = fx.app.spawn_worker().await;
    let expected = vec![
        (
            6002,
            "this KPI and period already appear on row 2".to_owned(),
        ),
        (
            6003,
            "this KPI and period already appear on row 6001".to_owned(),
        ),
    ];
    let report = |errors: Vec<Value>| -> Vec<(i64, String)> {
        errors
            .iter()
            .map(|e| {
                assert_eq!(e["column"], "period");
                (
                    e["row"].as_i64().unwrap(),
                    e["message"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };

    let atomic = fx
        .import("repeats.csv", file_repeating_periods_across_batches(), &[])
        .await;
    assert_eq!(atomic["status"], "FAILED");
    assert_eq!(counts(&atomic), (6_002, 0, 0, 2), "{atomic}");
    assert_eq!(report(fx.errors(&atomic).await), expected);
    assert_eq!(count_values(&fx.app).await, 0, "atomic: nothing written");

    let partial = fx
        .import(
            "repeats.csv",
            file_repeating_periods_across_batches(),
            &[("mode", "partial")],
        )
        .await;
    assert_eq!(partial["status"], "SUCCESS");
    assert_eq!(counts(&partial), (6_002, 6_000, 0, 2), "{partial}");
    assert_eq!(report(fx.errors(&partial).await), expected);
    assert_eq!(count_values(&fx.app).await, 6_000);
    let latest = fx.values("DAY-A").await;
    assert_eq!(
        value_of(&latest, &day(5_999).to_string()),
        99.0,
        "the first of two rows for one period is kept"
    );
    let first = fx
        .app
        .get(
            &fx.admin,
            &format!("/kpis/{}/values?to=1900-01-31", fx.kpi("DAY-A")),
        )
        .await;
    first.assert_status(200);
    assert_eq!(value_of(first.body.as_array().unwrap(), "1900-01-01"), 0.0);

    // a later import of the same file updates those periods: only a repeat
    // within one file is refused
    let again = fx
        .import(
            "repeats.csv",
            file_repeating_periods_across_batches(),
            &[("mode", "partial")],
        )
        .await;
    assert_eq!(counts(&again), (6_002, 0, 6_000, 2), "{again}");
}

#[tokio::test]
async fn a_period_written_meanwhile_by_someone_else_fails_the_attempt_and_the_retry_updates_it() {
    let fx = Fixture::new().await;
    let db = fx.app.db().await;
    // another writer holds a new value of 2025-02 uncommitted: the import
    // sees no stored period, inserts plainly, and waits on that writer
    let mut other = db.begin().await.unwrap();
    sqlx::query(
        "insert into kpi_value (id, organization_id, kpi_id, period_start, period_end, value, status, \
           threshold_green, threshold_orange, direction) \
         select gen_random_uuid(), organization_id, id, '2025-02-01', '2025-02-28', 50, 'RED', \
           threshold_green, threshold_orange, direction from kpi where id = $1",
    )
    .bind(fx.kpi("LOG-OTD"))
    .execute(&mut *other)
    .await
    .unwrap();
    let worker = fx.app.spawn_worker().await;
    let resp = fx
        .upload(
            "race.csv",
            b"kpi_code,period,value\nLOG-OTD,2025-01,90\nLOG-OTD,2025-02,91\n".to_vec(),
            &[],
        )
        .await;
    resp.assert_status(202);
    until_a_session_waits_on_a_lock(&db, JOB_DEADLINE).await;
    other.commit().await.unwrap();

    let job = wait_job(&fx.app, &fx.admin, resp.id()).await;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    assert_eq!(job["attempt"], 2, "the failed attempt was retried");
    assert_eq!(counts(&job), (2, 1, 1, 0), "{job}");
    let otd = fx.values("LOG-OTD").await;
    assert_eq!(value_of(&otd, "2025-02-01"), 91.0, "the file's value");
    assert!(worker.logs().contains("import attempt failed; will retry"));
}

#[tokio::test]
async fn an_entry_during_an_import_of_the_same_kpi_answers_at_once() {
    let fx = Fixture::new().await;
    let db = fx.app.db().await;
    // the import writes 6,000 days of DAY-A (two write batches), then waits
    // on another writer's uncommitted RH-ABS value: it stays open, mid-way
    let mut other = db.begin().await.unwrap();
    sqlx::query(
        "insert into kpi_value (id, organization_id, kpi_id, period_start, period_end, value, status, \
           threshold_green, threshold_orange, direction) \
         select gen_random_uuid(), organization_id, id, '2025-06-01', '2025-06-30', 5, 'ORANGE', \
           threshold_green, threshold_orange, direction from kpi where id = $1",
    )
    .bind(fx.kpi("RH-ABS"))
    .execute(&mut *other)
    .await
    .unwrap();
    let mut file = big_csv(&["DAY-A"], 6_000);
    file.extend_from_slice(b"RH-ABS,2025-06,3.5\n");
    let _worker = fx.app.spawn_worker().await;
    let resp = fx.upload("long.csv", file, &[]).await;
    resp.assert_status(202);
    until_a_session_waits_on_a_lock(&db, JOB_DEADLINE).await;
    let job = fx
        .app
        .get(&fx.admin, &format!("/imports/jobs/{}", resp.id()))
        .await;
    assert_eq!(job.body["status"], "RUNNING");

    // an entry and a correction of the KPI the import is writing do not
    // wait for it (the import only ends when `other` does)
    let path = format!("/kpis/{}/values", fx.kpi("DAY-A"));
    let body = json!({"period_start": "2100-01-01", "value": 90});
    let entry = tokio::time::timeout(
        Duration::from_secs(10),
        fx.app.post_json(&fx.admin, &path, &body),
    )
    .await
    .expect("the entry answered while the import runs");
    entry.assert_status(201);
    let path = format!("/values/{}", entry.id());
    let body = json!({"value": 91});
    tokio::time::timeout(
        Duration::from_secs(10),
        fx.app.patch_json(&fx.admin, &path, &body),
    )
    .await
    .expect("the correction answered while the import runs")
    .assert_status(200);

    other.rollback().await.unwrap();
    let job = wait_job(&fx.app, &fx.admin, resp.id()).await;
    assert_eq!(counts(&job), (6_001, 6_001, 0, 0), "{job}");
    // the latest value of each KPI is exact once both have committed
    let kpi = fx
        .app
        .get(&fx.admin, &format!("/kpis/{}", fx.kpi("DAY-A")))
        .await;
    assert_eq!(kpi.body["latest_period_start"], "2100-01-01");
    assert_eq!(kpi.body["latest_value"].to_string(), "91");
    let previous: Option<NaiveDate> =
        sqlx::query_scalar("select previous_period_start from kpi_latest where kpi_id = $1")
            .bind(fx.kpi("DAY-A"))
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(previous, Some(day(5_999)), "the import's last day");
    let kpi = fx
        .app
        .get(&fx.admin, &format!("/kpis/{}", fx.kpi("RH-ABS")))
        .await;
    assert_eq!(kpi.body["latest_period_start"], "2025-06-01");
}

#[tokio::test]
async fn a_worker_killed_mid_job_loses_and_duplicates_nothing() {
    let fx = Fixture::new().await;
    // large enough that the first worker is still at it when it is killed
    let rows = 3 * 30_000;
    let file = big_csv(&["DAY-A", "DAY-B", "DAY-C"], 30_000);
    let resp = fx.upload("big.csv", file, &[]).await;
    resp.assert_status(202);
    let job_id = resp.id();
    let mut first = fx
        .app
        .spawn_worker_with(&[("WORKER_HEARTBEAT_SECONDS", "1")])
        .await;
    poll_until(JOB_DEADLINE, || async {
        let job = fx
            .app
            .get(&fx.admin, &format!("/imports/jobs/{job_id}"))
            .await;
        (job.body["status"] == "RUNNING" && job.body["rows_processed"].as_i64() > Some(0))
            .then_some(())
    })
    .await;
    first.kill().await;
    let job = fx
        .app
        .get(&fx.admin, &format!("/imports/jobs/{job_id}"))
        .await;
    assert_eq!(job.body["status"], "RUNNING", "killed mid-job");
    let _second = fx
        .app
        .spawn_worker_with(&[("WORKER_HEARTBEAT_SECONDS", "1")])
        .await;
    let job = wait_job(&fx.app, &fx.admin, job_id).await;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    assert_eq!(counts(&job), (rows, rows, 0, 0));
    assert_eq!(job["attempt"], 2, "the second worker took the job over");
    assert_eq!(count_values(&fx.app).await, rows);
}

#[tokio::test]
async fn sigterm_lets_the_current_job_finish_or_hands_it_back() {
    let fx = Fixture::new().await;
    let rows = 2 * 1200;
    let resp = fx
        .upload("big.csv", big_csv(&["DAY-A", "DAY-B"], 1200), &[])
        .await;
    let job_id = resp.id();
    let mut worker = fx
        .app
        .spawn_worker_with(&[("WORKER_HEARTBEAT_SECONDS", "1")])
        .await;
    poll_until(JOB_DEADLINE, || async {
        let job = fx
            .app
            .get(&fx.admin, &format!("/imports/jobs/{job_id}"))
            .await;
        (job.body["status"] != "PENDING").then_some(())
    })
    .await;
    worker.terminate();
    let exit = worker
        .wait(Duration::from_secs(60))
        .await
        .expect("the worker stops after SIGTERM");
    assert!(
        exit.success(),
        "clean exit after SIGTERM: {exit:?}\n{}",
        worker.logs()
    );
    let job = fx
        .app
        .get(&fx.admin, &format!("/imports/jobs/{job_id}"))
        .await
        .body;
    if job["status"] != "SUCCESS" {
        // handed back: another worker finishes it
        let _next = fx
            .app
            .spawn_worker_with(&[("WORKER_HEARTBEAT_SECONDS", "1")])
            .await;
        let job = wait_job(&fx.app, &fx.admin, job_id).await;
        assert_eq!(job["status"], "SUCCESS");
    }
    assert_eq!(count_values(&fx.app).await, rows);
}

#[tokio::test]
async fn three_workers_drain_many_jobs_each_once() {
    // 200 uploads in a few seconds from one address: past the upload limit
    let app = TestApp::spawn_with(&[("RATE_LIMIT_UPLOADS_PER_MINUTE", "0")]).await;
    let fx = Fixture::with_app(app).await;
    let jobs = 200;
    let mut ids = Vec::new();
    for i in 0..jobs {
        // every job writes its own two periods
        let (year, month) = (2000 + i / 12, i % 12 + 1);
        let file = format!(
            "code,period,value\nLOG-OTD,{year}-{month:02},{i}\nRH-ABS,{year}-{month:02},{i}\n"
        );
        let resp = fx.upload("j.csv", file.into_bytes(), &[]).await;
        resp.assert_status(202);
        ids.push(resp.id());
    }
    let _workers = [
        fx.app.spawn_worker().await,
        fx.app.spawn_worker().await,
        fx.app.spawn_worker().await,
    ];
    let pool = fx.app.db().await;
    poll_until(Duration::from_secs(180), || async {
        let open: i64 = sqlx::query_scalar(
            "select count(*) from data_import_job where status in ('PENDING', 'RUNNING')",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (open == 0).then_some(())
    })
    .await;
    let done: Vec<(String, i32, i32)> =
        sqlx::query_as("select status, attempt, rows_inserted from data_import_job")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(done.len(), jobs as usize);
    assert!(
        done.iter()
            .all(|(status, attempt, inserted)| status == "SUCCESS"
                && *attempt == 1
                && *inserted == 2),
        "{done:?}"
    );
    assert_eq!(count_values(&fx.app).await, 2 * i64::from(jobs));
    assert_eq!(ids.len(), jobs as usize);
}

/// The process's peak resident memory, in MiB (`VmHWM`).
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/<pid>/status");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024
}

#[tokio::test]
async fn a_huge_text_field_is_refused_before_it_is_buffered() {
    let mut fx = Fixture::new().await;
    let pid = fx.app.api_process().pid().unwrap();
    let before = peak_rss_mib(pid);
    // a chunked multipart body (no Content-Length) with 512 MiB in `mode`
    let chunk = bytes::Bytes::from(vec![b'a'; 1024 * 1024]);
    let head = "--kpix\r\nContent-Disposition: form-data; name=\"mode\"\r\n\r\n";
    let parts = std::iter::once(bytes::Bytes::from(head))
        .chain(std::iter::repeat_n(chunk, 512))
        .map(Ok::<_, std::io::Error>);
    let body = reqwest::Body::wrap_stream(futures::stream::iter(parts));
    let request = fx
        .app
        .authed(&fx.admin, Method::POST, "/imports/kpi-values")
        .header("content-type", "multipart/form-data; boundary=kpix")
        .body(body);
    // the API answers 413 and closes the connection without reading the
    // rest: the client reads the answer, or, when it is still writing and
    // the close reaches it first, fails with a broken pipe or a reset
    match request.send().await {
        Ok(response) => {
            assert_eq!(response.status().as_u16(), 413);
            let problem: serde_json::Value = response.json().await.unwrap();
            assert_eq!(problem["code"], "payload_too_large", "{problem}");
        }
        Err(e) => {
            let cause = format!("{e:?}");
            assert!(
                cause.contains("BrokenPipe") || cause.contains("ConnectionReset"),
                "{cause}"
            );
        }
    }
    let after = peak_rss_mib(pid);
    assert!(
        after < before + 64,
        "the API's peak memory went from {before} to {after} MiB"
    );
    // refused, not crashed: the same process goes on serving
    assert!(
        fx.app.api_process().try_status().is_none(),
        "the API exited"
    );
    fx.app.get(&fx.admin, "/auth/me").await.assert_status(200);
}

/// The uploaded files left in the test's object store (not the marker the
/// processes keep to check it answers).
fn stored_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if !path.ends_with(".kpix-ready") {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&app.storage_dir, &mut found);
    found
}

#[tokio::test]
async fn uploaded_files_are_deleted_once_their_job_has_ended() {
    let fx = Fixture::new().await;
    let _worker = fx.app.spawn_worker().await;
    let ok = fx
        .import(
            "ok.csv",
            b"kpi_code,period,value\nLOG-OTD,2025-01,90\n".to_vec(),
            &[],
        )
        .await;
    assert_eq!(ok["status"], "SUCCESS");
    let bad = fx
        .import(
            "bad.csv",
            b"kpi_code,period,value\nNOPE,2025-01,90\n".to_vec(),
            &[],
        )
        .await;
    assert_eq!(bad["status"], "FAILED");
    poll_until(JOB_DEADLINE, || async {
        stored_files(&fx.app).is_empty().then_some(())
    })
    .await;
    let db = fx.app.db().await;
    let kept: i64 =
        sqlx::query_scalar("select count(*) from data_import_job where storage_key is not null")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(kept, 0);
    // the report outlives the file
    assert_eq!(fx.errors(&bad).await.len(), 1);
}

#[tokio::test]
async fn with_a_retention_files_are_kept_that_long() {
    let fx = Fixture::new().await;
    // one slot: a task's sweep is over before the next task starts
    let _worker = fx
        .app
        .spawn_worker_with(&[("UPLOAD_RETENTION_HOURS", "1"), ("WORKER_CONCURRENCY", "1")])
        .await;
    let file =
        |month: u32| format!("kpi_code,period,value\nLOG-OTD,2025-{month:02},90\n").into_bytes();
    let id = |job: &Value| job["id"].as_str().unwrap().parse::<Uuid>().unwrap();
    let first = fx.import("a.csv", file(1), &[]).await;
    // as if it had ended two hours ago
    let db = fx.app.db().await;
    sqlx::query(
        "update data_import_job set finished_at = now() - interval '2 hours' where id = $1",
    )
    .bind(id(&first))
    .execute(&db)
    .await
    .unwrap();
    let second = fx.import("b.csv", file(2), &[]).await;
    fx.import("c.csv", file(3), &[]).await;
    let stored: Vec<(Uuid, Option<String>)> =
        sqlx::query_as("select id, storage_key from data_import_job order by created_at")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(stored[0], (id(&first), None), "past its retention: deleted");
    let second_key = stored[1].1.clone().expect("within its retention: kept");
    assert_eq!(stored[1].0, id(&second));
    let files = stored_files(&fx.app);
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().ends_with(&second_key))
    );
}
