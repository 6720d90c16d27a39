//! KPI values: one per KPI and period, stored with the status and the rule
//! (thresholds, direction) it was computed with.
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::PageRequest;
use crate::domain::{Direction, Period, Status, Thresholds, assess};

/// The unique constraint on `(kpi_id, period_start)`.
pub const PERIOD_KEY: &str = "kpi_value_period_key";

const COLUMNS: &str = "id, kpi_id, organization_id, period_start, period_end, value, status, critical, \
    threshold_green, threshold_orange, threshold_red, direction, comment, created_by, import_job_id, \
    created_at, updated_at";

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ValueRow {
    pub id: Uuid,
    pub kpi_id: Uuid,
    pub organization_id: Uuid,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub value: Decimal,
    pub status: Status,
    /// RED and beyond the red level.
    pub critical: bool,
    pub threshold_green: Decimal,
    pub threshold_orange: Decimal,
    pub threshold_red: Option<Decimal>,
    pub direction: Direction,
    pub comment: Option<String>,
    pub created_by: Option<Uuid>,
    pub import_job_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A point of a KPI's chart.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SeriesPoint {
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub value: Decimal,
    pub status: Status,
    pub threshold_green: Decimal,
    pub threshold_orange: Decimal,
    pub threshold_red: Option<Decimal>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct DateRange {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// Values of a KPI, newest period first; `from`/`to` bound `period_start`.
pub async fn list(
    conn: &mut PgConnection,
    kpi_id: Uuid,
    range: DateRange,
    page: PageRequest<NaiveDate>,
) -> Result<Vec<ValueRow>, sqlx::Error> {
    sqlx::query_as(sql!(
        "select {COLUMNS} from kpi_value where kpi_id = $1 \
         and ($2::date is null or period_end >= $2) and ($3::date is null or period_start <= $3) \
         and ($4::date is null or period_start < $4) order by period_start desc limit $5"
    ))
    .bind(kpi_id)
    .bind(range.from)
    .bind(range.to)
    .bind(page.after)
    .bind(page.limit)
    .fetch_all(conn)
    .await
}

/// The chart of a KPI, oldest first.
pub async fn series(
    conn: &mut PgConnection,
    kpi_id: Uuid,
    range: DateRange,
) -> Result<Vec<SeriesPoint>, sqlx::Error> {
    sqlx::query_as(
        "select period_start, period_end, value, status, threshold_green, threshold_orange, threshold_red \
         from kpi_value where kpi_id = $1 \
         and ($2::date is null or period_end >= $2) and ($3::date is null or period_start <= $3) \
         order by period_start",
    )
    .bind(kpi_id)
    .bind(range.from)
    .bind(range.to)
    .fetch_all(conn)
    .await
}

/// A value of the caller's organization, with the KPI it belongs to.
pub async fn find(
    conn: &mut PgConnection,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<ValueRow>, sqlx::Error> {
    sqlx::query_as(sql!(
        "select {COLUMNS} from kpi_value where organization_id = $1 and id = $2"
    ))
    .bind(organization_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn find_by_period(
    conn: &mut PgConnection,
    kpi_id: Uuid,
    period_start: NaiveDate,
) -> Result<Option<ValueRow>, sqlx::Error> {
    sqlx::query_as(sql!(
        "select {COLUMNS} from kpi_value where kpi_id = $1 and period_start = $2"
    ))
    .bind(kpi_id)
    .bind(period_start)
    .fetch_optional(conn)
    .await
}

pub struct NewValue<'a> {
    pub organization_id: Uuid,
    pub kpi_id: Uuid,
    pub period: Period,
    pub value: Decimal,
    pub comment: Option<&'a str>,
    pub created_by: Uuid,
}

/// Inserts a value with its status computed by the one status rule.
pub async fn insert(
    conn: &mut PgConnection,
    new: NewValue<'_>,
    direction: Direction,
    thresholds: &Thresholds,
) -> Result<ValueRow, sqlx::Error> {
    let assessment = assess(new.value, direction, thresholds);
    sqlx::query_as(sql!(
        "insert into kpi_value (id, organization_id, kpi_id, period_start, period_end, value, status, critical, \
         threshold_green, threshold_orange, threshold_red, direction, comment, created_by) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) returning {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(new.organization_id)
    .bind(new.kpi_id)
    .bind(new.period.start)
    .bind(new.period.end)
    .bind(new.value)
    .bind(assessment.status)
    .bind(assessment.critical)
    .bind(thresholds.green)
    .bind(thresholds.orange)
    .bind(thresholds.red)
    .bind(direction)
    .bind(new.comment)
    .bind(new.created_by)
    .fetch_one(conn)
    .await
}

/// Corrects a value; its status is recomputed with the KPI's current rule.
pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    value: Decimal,
    comment: Option<&str>,
    direction: Direction,
    thresholds: &Thresholds,
) -> Result<ValueRow, sqlx::Error> {
    let assessment = assess(value, direction, thresholds);
    sqlx::query_as(sql!(
        "update kpi_value set value = $2, comment = $3, status = $4, critical = $5, threshold_green = $6, \
         threshold_orange = $7, threshold_red = $8, direction = $9, updated_at = now() \
         where id = $1 returning {COLUMNS}"
    ))
    .bind(id)
    .bind(value)
    .bind(comment)
    .bind(assessment.status)
    .bind(assessment.critical)
    .bind(thresholds.green)
    .bind(thresholds.orange)
    .bind(thresholds.red)
    .bind(direction)
    .fetch_one(conn)
    .await
}

/// Changes only the comment of a value; its status stays as computed.
pub async fn update_comment(
    conn: &mut PgConnection,
    id: Uuid,
    comment: Option<&str>,
) -> Result<ValueRow, sqlx::Error> {
    sqlx::query_as(sql!(
        "update kpi_value set comment = $2, updated_at = now() where id = $1 returning {COLUMNS}"
    ))
    .bind(id)
    .bind(comment)
    .fetch_one(conn)
    .await
}

pub async fn delete(
    conn: &mut PgConnection,
    organization_id: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("delete from kpi_value where organization_id = $1 and id = $2")
            .bind(organization_id)
            .bind(id)
            .execute(conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// Recomputes every stored value of a KPI with a new rule (statuses by the
/// one status function, written back in one set-based statement).
pub async fn recompute_history(
    conn: &mut PgConnection,
    kpi_id: Uuid,
    direction: Direction,
    thresholds: &Thresholds,
) -> Result<u64, sqlx::Error> {
    let values: Vec<(Uuid, Decimal)> =
        sqlx::query_as("select id, value from kpi_value where kpi_id = $1")
            .bind(kpi_id)
            .fetch_all(&mut *conn)
            .await?;
    let mut ids = Vec::with_capacity(values.len());
    let mut statuses = Vec::with_capacity(values.len());
    let mut critical = Vec::with_capacity(values.len());
    for (id, value) in values {
        let assessment = assess(value, direction, thresholds);
        ids.push(id);
        statuses.push(assessment.status.as_str());
        critical.push(assessment.critical);
    }
    Ok(sqlx::query(
        "update kpi_value v set status = u.status, critical = u.critical, threshold_green = $4, \
         threshold_orange = $5, threshold_red = $6, direction = $7, updated_at = now() \
         from unnest($1::uuid[], $2::text[], $3::bool[]) as u(id, status, critical) where v.id = u.id",
    )
    .bind(&ids)
    .bind(&statuses)
    .bind(&critical)
    .bind(thresholds.green)
    .bind(thresholds.orange)
    .bind(thresholds.red)
    .bind(direction)
    .execute(conn)
    .await?
    .rows_affected())
}

/// One value to write in a batch; its status is computed here.
#[derive(Debug, Clone)]
pub struct ValueWrite {
    pub kpi_id: Uuid,
    pub period: Period,
    pub value: Decimal,
    pub comment: Option<String>,
    pub direction: Direction,
    pub thresholds: Thresholds,
}

/// Rows written by a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchCounts {
    pub inserted: u64,
    pub updated: u64,
}

/// Inserts or updates many values in one set-based statement (UNNEST arrays,
/// one `INSERT … ON CONFLICT`). An existing value for the same KPI and period
/// is updated, so writing the same batch twice is idempotent.
pub async fn upsert_batch(
    conn: &mut PgConnection,
    organization_id: Uuid,
    created_by: Option<Uuid>,
    import_job_id: Option<Uuid>,
    rows: &[ValueWrite],
) -> Result<BatchCounts, sqlx::Error> {
    if rows.is_empty() {
        return Ok(BatchCounts::default());
    }
    let n = rows.len();
    let (mut ids, mut kpi_ids, mut starts, mut ends) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut values, mut statuses, mut critical, mut comments) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut greens, mut oranges, mut reds, mut directions) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for row in rows {
        let assessment = assess(row.value, row.direction, &row.thresholds);
        ids.push(Uuid::now_v7());
        kpi_ids.push(row.kpi_id);
        starts.push(row.period.start);
        ends.push(row.period.end);
        values.push(row.value);
        statuses.push(assessment.status.as_str());
        critical.push(assessment.critical);
        comments.push(row.comment.as_deref());
        greens.push(row.thresholds.green);
        oranges.push(row.thresholds.orange);
        reds.push(row.thresholds.red);
        directions.push(row.direction.as_str());
    }
    let inserted: Vec<bool> = sqlx::query_scalar(
        "insert into kpi_value as v (id, organization_id, kpi_id, period_start, period_end, value, status, \
           critical, threshold_green, threshold_orange, threshold_red, direction, comment, created_by, import_job_id) \
         select u.id, $13, u.kpi_id, u.period_start, u.period_end, u.value, u.status, u.critical, \
           u.threshold_green, u.threshold_orange, u.threshold_red, u.direction, u.comment, $14, $15 \
         from unnest($1::uuid[], $2::uuid[], $3::date[], $4::date[], $5::numeric[], $6::text[], $7::bool[], \
           $8::numeric[], $9::numeric[], $10::numeric[], $11::text[], $12::text[]) \
           as u(id, kpi_id, period_start, period_end, value, status, critical, threshold_green, \
                threshold_orange, threshold_red, direction, comment) \
         on conflict (kpi_id, period_start) do update set value = excluded.value, status = excluded.status, \
           critical = excluded.critical, threshold_green = excluded.threshold_green, \
           threshold_orange = excluded.threshold_orange, threshold_red = excluded.threshold_red, \
           direction = excluded.direction, comment = excluded.comment, import_job_id = excluded.import_job_id, \
           updated_at = now() \
         returning (xmax = 0)",
    )
    .bind(&ids)
    .bind(&kpi_ids)
    .bind(&starts)
    .bind(&ends)
    .bind(&values)
    .bind(&statuses)
    .bind(&critical)
    .bind(&greens)
    .bind(&oranges)
    .bind(&reds)
    .bind(&directions)
    .bind(&comments)
    .bind(organization_id)
    .bind(created_by)
    .bind(import_job_id)
    .fetch_all(conn)
    .await?;
    let fresh = inserted.iter().filter(|&&i| i).count() as u64;
    Ok(BatchCounts {
        inserted: fresh,
        updated: inserted.len() as u64 - fresh,
    })
}
