//! The rules the database keeps in SQL, against their definitions in
//! `kpix_shared::domain`: the generated columns of `kpi_latest`, where its
//! indexes rank the reports (the stored expressions, read from the catalog
//! of a migrated database, evaluated on a few thousand random cases), and
//! the expected period of the late-entries report.
use chrono::{Datelike, NaiveDate};
use kpix_shared::{
    db::reports::EXPECTED_PERIOD,
    domain::{Direction, Frequency, Thresholds, distance_from_green, normalized_delta, trend_rank},
};
use kpix_tests::TestApp;
use rand::{Rng, SeedableRng, rngs::StdRng};
use rust_decimal::Decimal;
use sqlx::{Connection, PgConnection};

const CASES: usize = 5_000;

#[derive(Debug, Clone, Copy)]
struct Case {
    direction: Direction,
    value: Decimal,
    green: Decimal,
    previous: Decimal,
}

/// A KPI figure as people enter them: up to 4 decimals, either sign, often
/// round, sometimes zero or equal to another figure (the edges of the rules).
fn figure(rng: &mut StdRng, others: &[Decimal]) -> Decimal {
    match rng.random_range(0..10) {
        0 => Decimal::ZERO,
        1 if !others.is_empty() => others[rng.random_range(0..others.len())],
        2 => Decimal::new(rng.random_range(-100..=100), 0),
        _ => Decimal::new(
            rng.random_range(-10_000_000_000..=10_000_000_000),
            rng.random_range(0..=4),
        ),
    }
}

fn cases(seed: u64) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..CASES)
        .map(|_| {
            let green = figure(&mut rng, &[]);
            let value = figure(&mut rng, &[green]);
            let previous = figure(&mut rng, &[green, value]);
            let direction = if rng.random_bool(0.5) {
                Direction::UpIsBetter
            } else {
                Direction::DownIsBetter
            };
            Case {
                direction,
                value,
                green,
                previous,
            }
        })
        .collect()
}

/// The expression of a generated column, as the database stores it.
async fn generated(conn: &mut PgConnection, column: &str) -> String {
    sqlx::query_scalar(
        "select pg_get_expr(d.adbin, d.adrelid) from pg_attrdef d \
         join pg_attribute a on a.attrelid = d.adrelid and a.attnum = d.adnum \
         where d.adrelid = 'kpi_latest'::regclass and a.attname = $1 and a.attgenerated = 's'",
    )
    .bind(column)
    .fetch_one(conn)
    .await
    .unwrap_or_else(|e| panic!("kpi_latest.{column} is a stored generated column: {e}"))
}

/// Equal up to the last digits of a division (numeric and Decimal round
/// quotients at different precisions).
fn close(sql: Decimal, rust: Decimal) -> bool {
    let tolerance = Decimal::new(1, 12) * Decimal::ONE.max(rust.abs());
    (sql - rust).abs() <= tolerance
}

#[tokio::test]
async fn the_stored_rankings_follow_the_domain_rules() {
    let app = TestApp::spawn().await;
    let mut conn = PgConnection::connect(&app.database_url)
        .await
        .expect("connect");
    let seed = std::env::var("KPIX_RULES_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let cases = cases(seed);
    let expressions = [
        generated(&mut conn, "distance").await,
        generated(&mut conn, "delta_normalized").await,
        generated(&mut conn, "trend_rank").await,
    ];
    // the stored expressions name the table's columns: the cases are given under those names
    let query = format!(
        "select ({}), ({}), ({}) from unnest($1::text[], $2::numeric[], $3::numeric[], $4::numeric[]) \
         with ordinality as c(direction, value, threshold_green, previous_value, n) order by n",
        expressions[0], expressions[1], expressions[2]
    );
    let rows: Vec<(Decimal, Decimal, Decimal)> = sqlx::query_as(sqlx::AssertSqlSafe(query))
        .bind(
            cases
                .iter()
                .map(|c| c.direction.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(cases.iter().map(|c| c.value).collect::<Vec<_>>())
        .bind(cases.iter().map(|c| c.green).collect::<Vec<_>>())
        .bind(cases.iter().map(|c| c.previous).collect::<Vec<_>>())
        .fetch_all(&mut conn)
        .await
        .expect("evaluate the stored expressions");
    assert_eq!(rows.len(), cases.len());

    let mut greens = 0;
    for (case, (distance, delta, rank)) in cases.iter().zip(rows) {
        let thresholds = Thresholds {
            green: case.green,
            orange: case.green,
            red: None,
        };
        let expected = distance_from_green(case.direction, case.value, &thresholds);
        greens += usize::from(expected.is_zero());
        let context = format!("{case:?} (KPIX_RULES_SEED={seed})");
        assert!(
            close(distance, expected),
            "distance {distance} ≠ {expected} for {context}"
        );
        let expected = normalized_delta(case.direction, case.value, case.previous);
        assert_eq!(delta, expected, "delta_normalized for {context}");
        let expected = trend_rank(case.direction, case.value, case.previous);
        assert!(
            close(rank, expected),
            "trend_rank {rank} ≠ {expected} for {context}"
        );
    }
    // both sides of the green threshold were tried
    assert!(
        greens > CASES / 10 && greens < CASES * 9 / 10,
        "{greens} of {CASES} met green"
    );
}

/// The SQL of late entries and `Frequency::last_completed_period` agree on
/// every day of three years (leap year, ISO weeks across years, quarter
/// and year ends). The statement needs no table: the admin database serves.
#[tokio::test]
async fn expected_period_sql_matches_the_domain() {
    let mut conn = PgConnection::connect(&kpix_tests::admin_url())
        .await
        .expect("connect to PostgreSQL");
    // built at run time like the statements it is part of
    let rows: Vec<(Frequency, NaiveDate, NaiveDate, NaiveDate)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select k.frequency, t.today, e.period_start, e.period_end \
             from (values ('DAILY'), ('WEEKLY'), ('MONTHLY'), ('QUARTERLY'), ('YEARLY')) k(frequency) \
             cross join (select g::date as today from generate_series(date '2023-12-25', \
               date '2026-12-31', interval '1 day') g) t \
             cross join lateral ({EXPECTED_PERIOD}) e"
        )))
    .fetch_all(&mut conn)
    .await
    .expect("run the expected-period SQL");
    assert_eq!(rows.len(), 5 * 1103);
    for (frequency, today, start, end) in rows {
        let period = frequency.last_completed_period(today);
        assert_eq!(
            (start, end),
            (period.start, period.end),
            "{frequency} as of {today}"
        );
    }
    // a few by hand, to be sure the comparison itself means something
    let spot = |f: Frequency, d: &str| {
        let p = f.last_completed_period(d.parse().expect("a date"));
        (p.start.to_string(), p.end.to_string())
    };
    assert_eq!(
        spot(Frequency::Weekly, "2026-01-01"),
        ("2025-12-22".into(), "2025-12-28".into())
    );
    assert_eq!(
        spot(Frequency::Quarterly, "2024-04-01"),
        ("2024-01-01".into(), "2024-03-31".into())
    );
    assert_eq!(spot(Frequency::Monthly, "2024-03-01").1, "2024-02-29");
    assert_eq!(
        Frequency::Daily
            .last_completed_period("2024-03-01".parse().expect("a date"))
            .start
            .day(),
        29
    );
}
