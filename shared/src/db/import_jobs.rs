//! Import jobs: created with their queue task by the API, claimed, advanced
//! and finished by workers. Every status change is guarded by the attempt
//! number, so a stale worker cannot overwrite a newer attempt's result.
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Caller, PageRequest};
use crate::domain::{ImportMode, ImportType, JobStatus};

const COLUMNS: &str = "id, organization_id, type, status, created_by, created_at, updated_at, error_message, \
    filename, mode, dry_run, dashboard_id, rows_total, rows_processed, rows_inserted, rows_updated, \
    rows_rejected, attempt, started_at, finished_at, storage_key, file_size";

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct JobRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub job_type: ImportType,
    pub status: JobStatus,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub error_message: Option<String>,
    pub filename: Option<String>,
    pub mode: ImportMode,
    pub dry_run: bool,
    pub dashboard_id: Option<Uuid>,
    pub rows_total: i32,
    pub rows_processed: i32,
    pub rows_inserted: i32,
    pub rows_updated: i32,
    pub rows_rejected: i32,
    /// Worker attempts so far.
    pub attempt: i32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub storage_key: Option<String>,
    #[serde(skip)]
    pub file_size: Option<i64>,
}

/// One rejected row (or file-level problem) of an import.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema, PartialEq)]
pub struct RowError {
    /// The row number as the user sees it in the file; null for the file itself.
    pub row: Option<i64>,
    pub column: Option<String>,
    pub value: Option<String>,
    pub message: String,
}

pub struct NewJob<'a> {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub created_by: Uuid,
    pub job_type: ImportType,
    pub filename: Option<&'a str>,
    pub storage_key: &'a str,
    pub file_size: i64,
    pub mode: ImportMode,
    pub dry_run: bool,
    pub dashboard_id: Option<Uuid>,
    pub idempotency_key: Option<&'a str>,
}

/// The unique index on `(organization_id, created_by, idempotency_key)`.
pub const IDEMPOTENCY_KEY: &str = "data_import_job_idempotency_key";

pub async fn insert(conn: &mut PgConnection, job: NewJob<'_>) -> Result<JobRow, sqlx::Error> {
    sqlx::query_as(sql!(
        "insert into data_import_job (id, organization_id, created_by, type, filename, storage_key, file_size, \
         mode, dry_run, dashboard_id, idempotency_key) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         returning {COLUMNS}"
    ))
    .bind(job.id)
    .bind(job.organization_id)
    .bind(job.created_by)
    .bind(job.job_type)
    .bind(job.filename)
    .bind(job.storage_key)
    .bind(job.file_size)
    .bind(job.mode)
    .bind(job.dry_run)
    .bind(job.dashboard_id)
    .bind(job.idempotency_key)
    .fetch_one(conn)
    .await
}

/// SQL condition: an ADMIN sees every job of the organization, a USER their own.
const JOB_VISIBLE: &str = "organization_id = $1 and ($3 or created_by = $2)";

pub async fn find_visible(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(sql!(
        "select {COLUMNS} from data_import_job where {JOB_VISIBLE} and id = $4"
    ))
    .bind(caller.organization_id)
    .bind(caller.user_id)
    .bind(caller.is_admin())
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn find_by_idempotency_key(
    conn: &mut PgConnection,
    caller: &Caller,
    key: &str,
) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(sql!(
        "select {COLUMNS} from data_import_job where organization_id = $1 and created_by = $2 and idempotency_key = $3"
    ))
    .bind(caller.organization_id)
    .bind(caller.user_id)
    .bind(key)
    .fetch_optional(conn)
    .await
}

/// Jobs the caller can see, newest first.
pub async fn list(
    conn: &mut PgConnection,
    caller: &Caller,
    page: PageRequest<Uuid>,
) -> Result<Vec<JobRow>, sqlx::Error> {
    sqlx::query_as(sql!(
        "select {COLUMNS} from data_import_job where {JOB_VISIBLE} and ($4::uuid is null or id < $4) \
         order by id desc limit $5"
    ))
    .bind(caller.organization_id)
    .bind(caller.user_id)
    .bind(caller.is_admin())
    .bind(page.after)
    .bind(page.limit)
    .fetch_all(conn)
    .await
}

/// The error report of a job, in file order; the cursor is the ordinal.
pub async fn errors(
    conn: &mut PgConnection,
    job_id: Uuid,
    page: PageRequest<i32>,
) -> Result<Vec<(i32, RowError)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        ordinal: i32,
        #[sqlx(flatten)]
        error: RowError,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "select ordinal, \"row\", \"column\", value, message from import_job_error \
         where job_id = $1 and ($2::int is null or ordinal > $2) order by ordinal limit $3",
    )
    .bind(job_id)
    .bind(page.after)
    .bind(page.limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.ordinal, r.error)).collect())
}

/// Loads a job for a worker, whatever its organization.
pub async fn find(conn: &mut PgConnection, id: Uuid) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(sql!("select {COLUMNS} from data_import_job where id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Starts a new attempt on a job that has not finished: the job becomes
/// RUNNING with fresh counters. `None` when it already finished (a task
/// delivered twice does nothing).
pub async fn claim(conn: &mut PgConnection, id: Uuid) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(sql!(
        "update data_import_job set status = 'RUNNING', attempt = attempt + 1, started_at = now(), \
         rows_total = 0, rows_processed = 0, rows_inserted = 0, rows_updated = 0, rows_rejected = 0, \
         error_message = null, updated_at = now() \
         where id = $1 and status in ('PENDING', 'RUNNING') returning {COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Progress of a running attempt; ignored once another attempt took over.
pub async fn progress(
    conn: &mut PgConnection,
    id: Uuid,
    attempt: i32,
    rows_processed: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "update data_import_job set rows_processed = $3, updated_at = now() \
         where id = $1 and attempt = $2 and status = 'RUNNING'",
    )
    .bind(id)
    .bind(attempt)
    .bind(rows_processed.min(i64::from(i32::MAX)) as i32)
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
    id: Uuid,
    attempt: i32,
    outcome: &Outcome,
    errors: &[RowError],
) -> Result<bool, sqlx::Error> {
    let to_i32 = |n: i64| n.min(i64::from(i32::MAX)) as i32;
    let owned = sqlx::query(
        "update data_import_job set status = $3, error_message = $4, rows_total = $5, rows_processed = $5, \
         rows_inserted = $6, rows_updated = $7, rows_rejected = $8, finished_at = clock_timestamp(), updated_at = clock_timestamp() \
         where id = $1 and attempt = $2 and status = 'RUNNING'",
    )
    .bind(id)
    .bind(attempt)
    .bind(if outcome.succeeded { JobStatus::Success } else { JobStatus::Failed })
    .bind(outcome.error_message.as_deref())
    .bind(to_i32(outcome.rows_total))
    .bind(to_i32(outcome.rows_inserted))
    .bind(to_i32(outcome.rows_updated))
    .bind(to_i32(outcome.rows_rejected))
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !owned {
        return Ok(false);
    }
    sqlx::query("delete from import_job_error where job_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for (chunk_index, chunk) in errors.chunks(5_000).enumerate() {
        let first = (chunk_index * 5_000) as i32;
        let ordinals: Vec<i32> = (0..chunk.len() as i32).map(|i| first + i + 1).collect();
        let rows: Vec<Option<i64>> = chunk.iter().map(|e| e.row).collect();
        let columns: Vec<Option<&str>> = chunk.iter().map(|e| e.column.as_deref()).collect();
        let values: Vec<Option<&str>> = chunk.iter().map(|e| e.value.as_deref()).collect();
        let messages: Vec<&str> = chunk.iter().map(|e| e.message.as_str()).collect();
        sqlx::query(
            "insert into import_job_error (job_id, ordinal, \"row\", \"column\", value, message) \
             select $1, * from unnest($2::int[], $3::bigint[], $4::text[], $5::text[], $6::text[])",
        )
        .bind(id)
        .bind(&ordinals)
        .bind(&rows)
        .bind(&columns)
        .bind(&values)
        .bind(&messages)
        .execute(&mut *conn)
        .await?;
    }
    Ok(true)
}

/// The organization of a job, found before any organization is set
/// (row-level security): the worker then claims the job acting for it.
pub async fn organization_of(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select kpix_job_organization($1)")
        .bind(id)
        .fetch_one(conn)
        .await
}

/// A job whose file is due for deletion.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredFile {
    pub id: Uuid,
    pub organization_id: Uuid,
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
    sqlx::query_as("select id, organization_id, storage_key from kpix_ended_uploads($1, $2)")
        .bind(retention)
        .bind(limit)
        .fetch_all(conn)
        .await
}

/// The job's file is gone from the store.
pub async fn forget_file(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("update data_import_job set storage_key = null where id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
