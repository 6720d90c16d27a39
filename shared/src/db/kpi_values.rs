//! KPI values: one per KPI and period, stored with the status and the rule
//! (thresholds, direction) it was computed with.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use super::{Caller, PageRequest};
use crate::domain::{Direction, Period, Status, Thresholds, assess};
use crate::ids::{ImportJobId, KpiId, OrganizationId, UserId, ValueId};

/// `query_as!` returning [`ValueRow`]s: `$head`, the value's columns, then
/// `$tail`, which may name `DASHBOARD_VISIBLE`.
macro_rules! query_values {
    ($head:literal, $($tail:tt)+) => {
        shared_sql!(sqlx::query_as!(
            ValueRow,
            $head
                + r#"id, kpi_id, organization_id, period_start, period_end, value,
                  status as "status: Status", critical, threshold_green, threshold_orange,
                  threshold_red, direction as "direction: Direction", comment, created_by as "created_by: _",
                  import_job_id as "import_job_id: _", created_at, updated_at"#
                + $($tail)+
        ))
    };
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ValueRow {
    pub id: ValueId,
    pub kpi_id: KpiId,
    pub organization_id: OrganizationId,
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
    pub created_by: Option<UserId>,
    pub import_job_id: Option<ImportJobId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A point of a KPI's chart.
#[derive(Debug, Clone, sqlx::FromRow)]
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
    caller: &Caller,
    kpi_id: KpiId,
    range: DateRange,
    page: PageRequest<NaiveDate>,
) -> Result<Vec<ValueRow>, sqlx::Error> {
    // the visibility check rides along: an empty page is the only case where
    // the caller must still tell "no values" from "no such KPI"
    query_values!(
        "select ",
        " from kpi_value where kpi_id = $4 \
         and exists (select 1 from kpi k join dashboard d on d.id = k.dashboard_id \
                      where k.id = $4 and "
            + DASHBOARD_VISIBLE
            + ") \
         and ($5::date is null or period_end >= $5) and ($6::date is null or period_start <= $6) \
         and ($7::date is null or period_start < $7) order by period_start desc limit $8",
        caller.organization_id as OrganizationId,
        caller.user_id as UserId,
        caller.is_admin(),
        kpi_id as KpiId,
        range.from,
        range.to,
        page.after,
        page.limit,
    )
    .fetch_all(conn)
    .await
}

/// Whether a KPI has any value.
pub async fn any(conn: &mut PgConnection, kpi_id: KpiId) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from kpi_value where kpi_id = $1) as "exists!""#,
        kpi_id as KpiId,
    )
    .fetch_one(conn)
    .await
}

/// The chart of a KPI, oldest first.
pub async fn series(
    conn: &mut PgConnection,
    kpi_id: KpiId,
    range: DateRange,
) -> Result<Vec<SeriesPoint>, sqlx::Error> {
    sqlx::query_as!(
        SeriesPoint,
        r#"select period_start, period_end, value, status as "status: Status", threshold_green,
             threshold_orange, threshold_red
           from kpi_value where kpi_id = $1
           and ($2::date is null or period_end >= $2) and ($3::date is null or period_start <= $3)
           order by period_start"#,
        kpi_id as KpiId,
        range.from,
        range.to,
    )
    .fetch_all(conn)
    .await
}

/// A value of the caller's organization, with the KPI it belongs to.
pub async fn find(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    id: ValueId,
) -> Result<Option<ValueRow>, sqlx::Error> {
    query_values!(
        "select ",
        " from kpi_value where organization_id = $1 and id = $2",
        organization_id as OrganizationId,
        id as ValueId,
    )
    .fetch_optional(conn)
    .await
}

pub async fn find_by_period(
    conn: &mut PgConnection,
    kpi_id: KpiId,
    period_start: NaiveDate,
) -> Result<Option<ValueRow>, sqlx::Error> {
    query_values!(
        "select ",
        " from kpi_value where kpi_id = $1 and period_start = $2",
        kpi_id as KpiId,
        period_start,
    )
    .fetch_optional(conn)
    .await
}

pub struct NewValue<'a> {
    pub organization_id: OrganizationId,
    pub kpi_id: KpiId,
    pub period: Period,
    pub value: Decimal,
    pub comment: Option<&'a str>,
    pub created_by: UserId,
}

/// Enters the value of a period, its status computed by the one status
/// rule; `None` when the period already has a value (a concurrent entry
/// waits for the other's commit first), which leaves the transaction usable.
pub async fn insert(
    conn: &mut PgConnection,
    new: NewValue<'_>,
    direction: Direction,
    thresholds: &Thresholds,
) -> Result<Option<ValueRow>, sqlx::Error> {
    let assessment = assess(new.value, direction, thresholds);
    query_values!(
        "insert into kpi_value (id, organization_id, kpi_id, period_start, period_end, value, status, critical, \
         threshold_green, threshold_orange, threshold_red, direction, comment, created_by) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         on conflict (kpi_id, period_start) do nothing returning ",
        "",
        ValueId::new() as ValueId,
        new.organization_id as OrganizationId,
        new.kpi_id as KpiId,
        new.period.start,
        new.period.end,
        new.value,
        assessment.status as Status,
        assessment.critical,
        thresholds.green,
        thresholds.orange,
        thresholds.red,
        direction as Direction,
        new.comment,
        new.created_by as UserId,
    )
    .fetch_optional(conn)
    .await
}

/// Corrects a value; its status is recomputed with the KPI's current rule.
pub async fn update(
    conn: &mut PgConnection,
    id: ValueId,
    value: Decimal,
    comment: Option<&str>,
    direction: Direction,
    thresholds: &Thresholds,
) -> Result<ValueRow, sqlx::Error> {
    let assessment = assess(value, direction, thresholds);
    query_values!(
        "update kpi_value set value = $2, comment = $3, status = $4, critical = $5, threshold_green = $6, \
         threshold_orange = $7, threshold_red = $8, direction = $9, updated_at = now() \
         where id = $1 returning ",
        "",
        id as ValueId,
        value,
        comment,
        assessment.status as Status,
        assessment.critical,
        thresholds.green,
        thresholds.orange,
        thresholds.red,
        direction as Direction,
    )
    .fetch_one(conn)
    .await
}

/// Changes only the comment of a value; its status stays as computed.
pub async fn update_comment(
    conn: &mut PgConnection,
    id: ValueId,
    comment: Option<&str>,
) -> Result<ValueRow, sqlx::Error> {
    query_values!(
        "update kpi_value set comment = $2, updated_at = now() where id = $1 returning ",
        "",
        id as ValueId,
        comment,
    )
    .fetch_one(conn)
    .await
}

pub async fn delete(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    id: ValueId,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "delete from kpi_value where organization_id = $1 and id = $2",
        organization_id as OrganizationId,
        id as ValueId,
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Recomputes every stored value of a KPI with a new rule (statuses by the
/// one status function, written back in one set-based statement).
pub async fn recompute_history(
    conn: &mut PgConnection,
    kpi_id: KpiId,
    direction: Direction,
    thresholds: &Thresholds,
) -> Result<u64, sqlx::Error> {
    let values = sqlx::query!(
        "select id, value from kpi_value where kpi_id = $1",
        kpi_id as KpiId
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut ids = Vec::with_capacity(values.len());
    let mut statuses = Vec::with_capacity(values.len());
    let mut critical = Vec::with_capacity(values.len());
    for v in values {
        let assessment = assess(v.value, direction, thresholds);
        ids.push(v.id);
        statuses.push(assessment.status.as_str());
        critical.push(assessment.critical);
    }
    Ok(sqlx::query!(
        "update kpi_value v set status = u.status, critical = u.critical, threshold_green = $4, \
         threshold_orange = $5, threshold_red = $6, direction = $7, updated_at = now() \
         from unnest($1::uuid[], $2::text[], $3::bool[]) as u(id, status, critical) where v.id = u.id",
        &ids,
        &statuses as &[&str],
        &critical,
        thresholds.green,
        thresholds.orange,
        thresholds.red,
        direction as Direction,
    )
    .execute(conn)
    .await?
    .rows_affected())
}

/// Makes the current transaction a long writer (an import): the latest-value
/// rows of the KPIs it writes are refreshed once, by [`refresh_latest`] just
/// before it commits, rather than by each of its statements, so that other
/// writers of those KPIs never wait for it to finish.
pub async fn defer_latest(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query!("select set_config('kpix.latest_deferred', 'on', true)")
        .fetch_one(conn)
        .await?;
    Ok(())
}

/// Brings the latest-value rows of `kpi_ids` up to date (see [`defer_latest`]).
pub async fn refresh_latest(conn: &mut PgConnection, kpi_ids: &[KpiId]) -> Result<(), sqlx::Error> {
    sqlx::query!("select kpi_latest_refresh_kpis($1)", kpi_ids as &[KpiId])
        .execute(conn)
        .await?;
    Ok(())
}

/// One value to write in a batch; its status is computed here.
#[derive(Debug, Clone)]
pub struct ValueWrite {
    pub kpi_id: KpiId,
    pub period: Period,
    pub value: Decimal,
    pub comment: Option<String>,
    pub direction: Direction,
    pub thresholds: Thresholds,
    /// The row of the imported file this value comes from.
    pub import_row: Option<i64>,
}

/// What a batch wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchCounts {
    pub inserted: u64,
    pub updated: u64,
    /// Rows of an import naming a KPI and period that an earlier batch of the
    /// same import already wrote, with that earlier row: not written.
    pub repeated: Vec<RepeatedRow>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepeatedRow {
    pub row: i64,
    pub first_row: i64,
    pub period_start: NaiveDate,
}

/// Whether a value is stored for a KPI of `rows` between the first and the
/// last period of that KPI in `rows` (one index range scan per KPI).
async fn any_stored(conn: &mut PgConnection, rows: &[ValueWrite]) -> Result<bool, sqlx::Error> {
    let mut ranges: HashMap<KpiId, (NaiveDate, NaiveDate)> = HashMap::new();
    for row in rows {
        let start = row.period.start;
        ranges
            .entry(row.kpi_id)
            .and_modify(|(first, last)| {
                *first = (*first).min(start);
                *last = (*last).max(start);
            })
            .or_insert((start, start));
    }
    let (mut kpi_ids, mut firsts, mut lasts) = (Vec::new(), Vec::new(), Vec::new());
    for (kpi_id, (first, last)) in ranges {
        kpi_ids.push(kpi_id);
        firsts.push(first);
        lasts.push(last);
    }
    sqlx::query_scalar!(
        r#"select exists (select 1 from unnest($1::uuid[], $2::date[], $3::date[]) as r(kpi_id, first, last)
             join kpi_value v on v.kpi_id = r.kpi_id and v.period_start between r.first and r.last)
           as "exists!""#,
        &kpi_ids as &[KpiId],
        &firsts,
        &lasts,
    )
    .fetch_one(conn)
    .await
}

/// Inserts or updates (same KPI and period) a batch in one statement. Rows of
/// one batch must name distinct KPI periods; across the batches of one import
/// the second write of a period is refused and reported in `repeated`.
pub async fn upsert_batch(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
    created_by: Option<UserId>,
    import_job_id: Option<ImportJobId>,
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
    let (mut greens, mut oranges, mut reds, mut directions, mut import_rows) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for row in rows {
        let assessment = assess(row.value, row.direction, &row.thresholds);
        ids.push(ValueId::new());
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
        import_rows.push(row.import_row);
    }
    // Inserts the batch's arrays, with the organization, creator and import
    // job as `$14`..`$16`, then `$tail`. unnest in the select list zips the
    // arrays row by row; `from unnest(a, b, …)` would first copy each array
    // into a tuplestore (a quarter of the time).
    macro_rules! insert_batch {
        ($tail:literal) => {
            sqlx::query!(
                "insert into kpi_value as v (id, organization_id, kpi_id, period_start, \
                 period_end, value, status, critical, threshold_green, threshold_orange, threshold_red, \
                 direction, comment, created_by, import_job_id, import_row) \
                 select u.id, $14, u.kpi_id, u.period_start, u.period_end, u.value, u.status, u.critical, \
                   u.threshold_green, u.threshold_orange, u.threshold_red, u.direction, u.comment, $15, $16, \
                   u.import_row \
                 from (select unnest($1::uuid[]) as id, unnest($2::uuid[]) as kpi_id, \
                   unnest($3::date[]) as period_start, unnest($4::date[]) as period_end, \
                   unnest($5::numeric[]) as value, unnest($6::text[]) as status, \
                   unnest($7::bool[]) as critical, unnest($8::numeric[]) as threshold_green, \
                   unnest($9::numeric[]) as threshold_orange, unnest($10::numeric[]) as threshold_red, \
                   unnest($11::text[]) as direction, unnest($12::text[]) as comment, \
                   unnest($13::int8[]) as import_row) u "
                    + $tail
                    + r#" returning v.import_row, (xmax = 0) as "inserted!""#,
                &ids as &[ValueId],
                &kpi_ids as &[KpiId],
                &starts,
                &ends,
                &values,
                &statuses as &[&str],
                &critical,
                &greens,
                &oranges,
                &reds as &[Option<Decimal>],
                &directions as &[&str],
                &comments as &[Option<&str>],
                &import_rows as &[Option<i64>],
                organization_id as OrganizationId,
                created_by as Option<UserId>,
                import_job_id as Option<ImportJobId>,
            )
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|w| (w.import_row, w.inserted))
            .collect()
        };
    }
    // A batch of periods with no stored value yet (a first import) skips the
    // conflict handling. A concurrent writer of one of those periods then
    // makes the insert fail (unique violation), and the import is retried.
    // Otherwise a stored period is updated, unless this import wrote it itself.
    let written: Vec<(Option<i64>, bool)> = if any_stored(&mut *conn, rows).await? {
        insert_batch!(
            "on conflict (kpi_id, period_start) do update set value = excluded.value, \
             status = excluded.status, critical = excluded.critical, \
             threshold_green = excluded.threshold_green, threshold_orange = excluded.threshold_orange, \
             threshold_red = excluded.threshold_red, direction = excluded.direction, \
             comment = excluded.comment, import_job_id = excluded.import_job_id, \
             import_row = excluded.import_row, updated_at = now() \
             where excluded.import_job_id is null \
               or v.import_job_id is distinct from excluded.import_job_id"
        )
    } else {
        insert_batch!("")
    };
    let inserted = written.iter().filter(|(_, fresh)| *fresh).count() as u64;
    let repeated = if written.len() < n {
        let kept: HashSet<Option<i64>> = written.iter().map(|(row, _)| *row).collect();
        let skipped: Vec<&ValueWrite> = rows
            .iter()
            .filter(|row| !kept.contains(&row.import_row))
            .collect();
        repeated_rows(conn, &skipped).await?
    } else {
        Vec::new()
    };
    Ok(BatchCounts {
        inserted,
        updated: written.len() as u64 - inserted,
        repeated,
    })
}

/// The rows that first wrote the periods of `skipped`.
async fn repeated_rows(
    conn: &mut PgConnection,
    skipped: &[&ValueWrite],
) -> Result<Vec<RepeatedRow>, sqlx::Error> {
    let kpi_ids: Vec<KpiId> = skipped.iter().map(|r| r.kpi_id).collect();
    let starts: Vec<NaiveDate> = skipped.iter().map(|r| r.period.start).collect();
    let rows: Vec<Option<i64>> = skipped.iter().map(|r| r.import_row).collect();
    // an import sets import_row on every row: a null here is a decode error
    let found = sqlx::query!(
        r#"select u.row as "row!", v.import_row as "first_row!", u.period_start as "period_start!"
           from unnest($1::uuid[], $2::date[], $3::int8[]) as u(kpi_id, period_start, row)
           join kpi_value v on v.kpi_id = u.kpi_id and v.period_start = u.period_start
          order by u.row"#,
        &kpi_ids as &[KpiId],
        &starts,
        &rows as &[Option<i64>],
    )
    .fetch_all(conn)
    .await?;
    Ok(found
        .into_iter()
        .map(|r| RepeatedRow {
            row: r.row,
            first_row: r.first_row,
            period_start: r.period_start,
        })
        .collect())
}
