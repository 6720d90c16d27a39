//! Import jobs: created with their queue task by the API, claimed, advanced
//! and finished by workers. Every status change is guarded by the attempt
//! number, so a stale worker cannot overwrite a newer attempt's result.
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{Caller, PageRequest};
use crate::domain::{ImportMode, ImportType, JobStatus};
use crate::ids::{DashboardId, ImportJobId, OrganizationId, UserId};

/// `query_as!` returning [`JobRow`]s: `$head`, the job's columns, then
/// `$tail`, which may name `JOB_VISIBLE`.
macro_rules! query_jobs {
    ($head:literal, $($tail:tt)+) => {
        shared_sql!(sqlx::query_as!(
            JobRow,
            $head
                + r#"id, organization_id, type as "job_type: ImportType", status as "status: JobStatus",
                  created_by, created_at, updated_at, error_message, filename,
                  mode as "mode: ImportMode", dry_run, dashboard_id as "dashboard_id: _", rows_total, rows_processed,
                  rows_inserted, rows_updated, rows_rejected, attempt, started_at, finished_at,
                  storage_key, file_size"#
                + $($tail)+
        ))
    };
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: ImportJobId,
    pub organization_id: OrganizationId,
    #[sqlx(rename = "type")]
    pub job_type: ImportType,
    pub status: JobStatus,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub error_message: Option<String>,
    pub filename: Option<String>,
    pub mode: ImportMode,
    pub dry_run: bool,
    pub dashboard_id: Option<DashboardId>,
    pub rows_total: i32,
    pub rows_processed: i32,
    pub rows_inserted: i32,
    pub rows_updated: i32,
    pub rows_rejected: i32,
    /// Worker attempts so far.
    pub attempt: i32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub storage_key: Option<String>,
    pub file_size: Option<i64>,
}

/// One rejected row (or file-level problem) of an import.
#[derive(Debug, Clone, sqlx::FromRow, PartialEq)]
pub struct RowError {
    /// The row number as the user sees it in the file; null for the file itself.
    pub row: Option<i64>,
    pub column: Option<String>,
    pub value: Option<String>,
    pub message: String,
}

pub struct NewJob<'a> {
    pub id: ImportJobId,
    pub organization_id: OrganizationId,
    pub created_by: UserId,
    pub job_type: ImportType,
    pub filename: Option<&'a str>,
    pub storage_key: &'a str,
    pub file_size: i64,
    pub mode: ImportMode,
    pub dry_run: bool,
    pub dashboard_id: Option<DashboardId>,
    pub idempotency_key: Option<&'a str>,
}

/// The unique index on `(organization_id, created_by, idempotency_key)`.
pub const IDEMPOTENCY_KEY: &str = "data_import_job_idempotency_key";

pub async fn insert(conn: &mut PgConnection, job: NewJob<'_>) -> Result<JobRow, sqlx::Error> {
    query_jobs!(
        "insert into data_import_job (id, organization_id, created_by, type, filename, storage_key, file_size, \
         mode, dry_run, dashboard_id, idempotency_key) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         returning ",
        "",
        job.id as ImportJobId,
        job.organization_id as OrganizationId,
        job.created_by as UserId,
        job.job_type as ImportType,
        job.filename,
        job.storage_key,
        job.file_size,
        job.mode as ImportMode,
        job.dry_run,
        job.dashboard_id as Option<DashboardId>,
        job.idempotency_key,
    )
    .fetch_one(conn)
    .await
}

pub async fn find_visible(
    conn: &mut PgConnection,
    caller: &Caller,
    id: ImportJobId,
) -> Result<Option<JobRow>, sqlx::Error> {
    query_jobs!(
        "select ",
        " from data_import_job where " + JOB_VISIBLE + " and id = $4",
        caller.organization_id as OrganizationId,
        caller.user_id as UserId,
        caller.is_admin(),
        id as ImportJobId,
    )
    .fetch_optional(conn)
    .await
}

pub async fn find_by_idempotency_key(
    conn: &mut PgConnection,
    caller: &Caller,
    key: &str,
) -> Result<Option<JobRow>, sqlx::Error> {
    query_jobs!(
        "select ",
        " from data_import_job \
         where organization_id = $1 and created_by = $2 and idempotency_key = $3",
        caller.organization_id as OrganizationId,
        caller.user_id as UserId,
        key,
    )
    .fetch_optional(conn)
    .await
}

/// Jobs the caller can see, newest first.
pub async fn list(
    conn: &mut PgConnection,
    caller: &Caller,
    page: PageRequest<ImportJobId>,
) -> Result<Vec<JobRow>, sqlx::Error> {
    query_jobs!(
        "select ",
        " from data_import_job where "
            + JOB_VISIBLE
            + " and ($4::uuid is null or id < $4) order by id desc limit $5",
        caller.organization_id as OrganizationId,
        caller.user_id as UserId,
        caller.is_admin(),
        page.after as Option<ImportJobId>,
        page.limit,
    )
    .fetch_all(conn)
    .await
}

/// The error report of a job, in file order; the cursor is the ordinal.
pub async fn errors(
    conn: &mut PgConnection,
    job_id: ImportJobId,
    page: PageRequest<i32>,
) -> Result<Vec<(i32, RowError)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select ordinal, "row", "column", value, message from import_job_error
         where job_id = $1 and ($2::int is null or ordinal > $2) order by ordinal limit $3"#,
        job_id as ImportJobId,
        page.after,
        page.limit,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let error = RowError {
                row: r.row,
                column: r.column,
                value: r.value,
                message: r.message,
            };
            (r.ordinal, error)
        })
        .collect())
}

/// Loads a job for a worker, whatever its organization.
pub async fn find(conn: &mut PgConnection, id: ImportJobId) -> Result<Option<JobRow>, sqlx::Error> {
    query_jobs!(
        "select ",
        " from data_import_job where id = $1",
        id as ImportJobId
    )
    .fetch_optional(conn)
    .await
}

/// Starts a new attempt on a job that has not finished: the job becomes
/// RUNNING with fresh counters. `None` when it already finished (a task
/// delivered twice does nothing).
pub async fn claim(
    conn: &mut PgConnection,
    id: ImportJobId,
) -> Result<Option<JobRow>, sqlx::Error> {
    query_jobs!(
        "update data_import_job set status = 'RUNNING', attempt = attempt + 1, started_at = now(), \
         rows_total = 0, rows_processed = 0, rows_inserted = 0, rows_updated = 0, rows_rejected = 0, \
         error_message = null, updated_at = now() \
         where id = $1 and status in ('PENDING', 'RUNNING') returning ",
        "",
        id as ImportJobId,
    )
    .fetch_optional(conn)
    .await
}

/// Progress of a running attempt; ignored once another attempt took over.
pub async fn progress(
    conn: &mut PgConnection,
    id: ImportJobId,
    attempt: i32,
    rows_processed: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "update data_import_job set rows_processed = $3, updated_at = now() \
         where id = $1 and attempt = $2 and status = 'RUNNING'",
        id as ImportJobId,
        attempt,
        rows_processed.min(i64::from(i32::MAX)) as i32,
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// The result of an attempt.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub succeeded: bool,
    pub error_message: Option<String>,
    pub rows_total: i64,
    pub rows_inserted: i64,
    pub rows_updated: i64,
    pub rows_rejected: i64,
}

/// Records the result of an attempt, with its error report, if that attempt
/// still owns the job. Runs in the caller's transaction, the one that wrote
/// the values, so the values and the result commit together.
pub async fn finish(
    conn: &mut PgConnection,
    id: ImportJobId,
    attempt: i32,
    outcome: &Outcome,
    errors: &[RowError],
) -> Result<bool, sqlx::Error> {
    let to_i32 = |n: i64| n.min(i64::from(i32::MAX)) as i32;
    let status = if outcome.succeeded {
        JobStatus::Success
    } else {
        JobStatus::Failed
    };
    let owned = sqlx::query!(
        "update data_import_job set status = $3, error_message = $4, rows_total = $5, rows_processed = $5, \
         rows_inserted = $6, rows_updated = $7, rows_rejected = $8, finished_at = clock_timestamp(), updated_at = clock_timestamp() \
         where id = $1 and attempt = $2 and status = 'RUNNING'",
        id as ImportJobId,
        attempt,
        status as JobStatus,
        outcome.error_message.as_deref(),
        to_i32(outcome.rows_total),
        to_i32(outcome.rows_inserted),
        to_i32(outcome.rows_updated),
        to_i32(outcome.rows_rejected),
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !owned {
        return Ok(false);
    }
    sqlx::query!(
        "delete from import_job_error where job_id = $1",
        id as ImportJobId
    )
    .execute(&mut *conn)
    .await?;
    for (chunk_index, chunk) in errors.chunks(5_000).enumerate() {
        let first = (chunk_index * 5_000) as i32;
        let ordinals: Vec<i32> = (0..chunk.len() as i32).map(|i| first + i + 1).collect();
        let rows: Vec<Option<i64>> = chunk.iter().map(|e| e.row).collect();
        let columns: Vec<Option<&str>> = chunk.iter().map(|e| e.column.as_deref()).collect();
        let values: Vec<Option<&str>> = chunk.iter().map(|e| e.value.as_deref()).collect();
        let messages: Vec<&str> = chunk.iter().map(|e| e.message.as_str()).collect();
        sqlx::query!(
            r#"insert into import_job_error (job_id, ordinal, "row", "column", value, message)
             select $1, * from unnest($2::int[], $3::bigint[], $4::text[], $5::text[], $6::text[])"#,
            id as ImportJobId,
            &ordinals,
            &rows as &[Option<i64>],
            &columns as &[Option<&str>],
            &values as &[Option<&str>],
            &messages as &[&str],
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(true)
}

/// The organization of a job, found before any organization is set
/// (row-level security): the worker then claims the job acting for it.
pub async fn organization_of(
    conn: &mut PgConnection,
    id: ImportJobId,
) -> Result<Option<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select kpix_job_organization($1) as "organization: OrganizationId""#,
        id as ImportJobId,
    )
    .fetch_one(conn)
    .await
}

/// A job whose file is due for deletion.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredFile {
    pub id: ImportJobId,
    pub organization_id: OrganizationId,
    pub storage_key: String,
}

/// The files of jobs, of every organization, that ended more than
/// `retention` ago and are still stored: up to `limit` of them, row-locked
/// until the transaction ends, so that workers sweeping at once take
/// different ones.
pub async fn ended_with_stored_file(
    conn: &mut PgConnection,
    retention: std::time::Duration,
    limit: i32,
) -> Result<Vec<StoredFile>, sqlx::Error> {
    // a function's columns may be null as far as sqlx can tell: `!` says not;
    // `as Duration` skips the macro's check, which wants PgInterval
    sqlx::query_as!(
        StoredFile,
        r#"select id as "id!", organization_id as "organization_id!", storage_key as "storage_key!"
           from kpix_ended_uploads($1, $2)"#,
        retention as std::time::Duration,
        limit,
    )
    .fetch_all(conn)
    .await
}

/// The job's file is gone from the store.
pub async fn forget_file(conn: &mut PgConnection, id: ImportJobId) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update data_import_job set storage_key = null where id = $1",
        id as ImportJobId,
    )
    .execute(conn)
    .await?;
    Ok(())
}
