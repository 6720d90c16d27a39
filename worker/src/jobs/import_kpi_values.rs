//! The import job: claim the job row, read the stored file, parse and
//! validate it on the blocking pool, write valid rows in set-based batches in
//! one transaction, and record the result with the error report in that same
//! transaction. A worker killed mid-job leaves nothing behind: the rolled
//! back transaction is retried by the next attempt.
use std::{
    collections::HashSet,
    io::{Cursor, Read},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use kpix_shared::{
    db::{
        self, Caller,
        import_jobs::{JobRow, Outcome, RowError},
        kpi_values::ValueWrite,
    },
    file_kind,
    ids::{ImportJobId, OrganizationId},
    jobs::{IMPORT_MAX_ATTEMPTS, IMPORT_QUEUE, ImportTask},
    storage::Storage,
};
use sqlx::PgPool;
use tokio::{io::AsyncReadExt, sync::mpsc};
use tokio_util::io::SyncIoBridge;
use tracing::Instrument;

use crate::{
    parse::{self, FileKind, Header, Limits, ParseError},
    resolve::{self, Column, Rejection, Resolver},
};

/// Rows per INSERT statement.
pub const BATCH_ROWS: usize = 5_000;
/// Row errors kept in a report; the count of rejected rows stays exact.
pub const MAX_REPORTED_ERRORS: usize = 10_000;
/// How often `rows_processed` is written while a job runs.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// What every import needs, shared by the worker's slots.
pub struct ImportContext {
    pub pool: PgPool,
    pub storage: Storage,
    pub limits: Limits,
    /// How long an uploaded file is kept once its job ended.
    pub upload_retention: Duration,
}

/// A failure worth retrying (database or object store unavailable), as
/// opposed to a bad file, which fails the job at once.
#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("object store: {0}")]
    Storage(#[from] kpix_shared::storage::StorageError),
    #[error("reading the stored file: {0}")]
    Read(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}

/// Runs one task, then deletes the files of ended jobs that are due (this
/// one's, without retention). `Err` asks the queue to retry (after a
/// backoff); every outcome the user should see is recorded on the job row
/// instead.
pub async fn run(task: ImportTask, ctx: &ImportContext) -> Result<(), InfraError> {
    // the job's span continues the upload's trace: one trace from upload to SUCCESS
    let span = tracing::info_span!("import_job", job_id = %task.job_id, queue = IMPORT_QUEUE);
    if let Some(traceparent) = &task.traceparent {
        kpix_shared::telemetry::continue_trace(&span, traceparent);
    }
    let result = attempt(&task, ctx).instrument(span).await;
    if result.is_err() {
        metrics::counter!("kpix_jobs_total", "queue" => IMPORT_QUEUE, "outcome" => "retried")
            .increment(1);
    }
    if let Err(e) = super::sweep_uploads::sweep(&ctx.pool, &ctx.storage, ctx.upload_retention).await
    {
        tracing::warn!(error = %e, "could not look for uploaded files to delete");
    }
    result
}

async fn attempt(task: &ImportTask, ctx: &ImportContext) -> Result<(), InfraError> {
    // the job's organization first: the claim then acts for it (row-level security)
    let mut conn = ctx.pool.acquire().await?;
    let Some(organization_id) = db::import_jobs::organization_of(&mut conn, task.job_id).await?
    else {
        tracing::warn!(job_id = %task.job_id, "the task's job no longer exists; task ignored");
        return Ok(());
    };
    let mut tx = db::begin_on(&mut conn, organization_id).await?;
    let claimed = db::import_jobs::claim(&mut tx, task.job_id).await?;
    tx.commit().await?;
    drop(conn);
    let Some(job) = claimed else {
        tracing::info!(job_id = %task.job_id, "import already finished; task ignored");
        return Ok(());
    };
    tracing::info!(job_id = %job.id, attempt = job.attempt, filename = ?job.filename, "import started");
    match import(&job, ctx).await {
        Ok(()) => Ok(()),
        Err(error) if job.attempt >= IMPORT_MAX_ATTEMPTS as i32 => {
            tracing::error!(job_id = %job.id, attempt = job.attempt, error = %error, "import failed for good");
            let outcome = Outcome {
                error_message: Some("the import could not be completed because of a server problem; please try again later".into()),
                ..Outcome::default()
            };
            let mut tx = db::begin(&ctx.pool, job.organization_id).await?;
            db::import_jobs::finish(&mut tx, job.id, job.attempt, &outcome, &[]).await?;
            tx.commit().await?;
            audit(&job, &outcome);
            Ok(())
        }
        Err(error) => {
            // the queue re-delivers at once: wait here so retries back off
            let backoff = Duration::from_secs(2_u64.pow(job.attempt.clamp(0, 5) as u32));
            tracing::warn!(job_id = %job.id, attempt = job.attempt, error = %error, backoff_secs = backoff.as_secs(), "import attempt failed; will retry");
            tokio::time::sleep(backoff).await;
            Err(error)
        }
    }
}

/// The end of a job: its audit line and its metrics.
fn audit(job: &JobRow, outcome: &Outcome) {
    let status = if outcome.succeeded {
        "succeeded"
    } else {
        "failed"
    };
    metrics::counter!("kpix_jobs_total", "queue" => IMPORT_QUEUE, "outcome" => status).increment(1);
    if let Some(started) = job.started_at {
        let seconds = (chrono::Utc::now() - started).as_seconds_f64().max(0.0);
        metrics::histogram!("kpix_job_duration_seconds", "queue" => IMPORT_QUEUE, "outcome" => status)
            .record(seconds);
    }
    if outcome.succeeded && !job.dry_run {
        let written = outcome.rows_inserted + outcome.rows_updated;
        metrics::counter!("kpix_rows_imported_total").increment(written.max(0) as u64);
    }
    tracing::info!(
        audit = "import_finished",
        job_id = %job.id,
        organization_id = %job.organization_id,
        actor_id = %job.created_by,
        status = if outcome.succeeded { "SUCCESS" } else { "FAILED" },
        dry_run = job.dry_run,
        rows_total = outcome.rows_total,
        rows_inserted = outcome.rows_inserted,
        rows_updated = outcome.rows_updated,
        rows_rejected = outcome.rows_rejected,
        error = ?outcome.error_message,
        "import finished"
    );
}

/// What the parsing thread found.
struct ParseReport {
    result: Result<Header, ParseError>,
    /// The object store failed while the file was streamed: retry, the file
    /// itself may be fine.
    read_error: Option<std::io::Error>,
    rows_total: u64,
    rows_rejected: u64,
    rejections: Vec<Rejection>,
}

/// The stored file: a CSV is streamed; a spreadsheet, whose formats need
/// random access, is read whole (an upload is at most `MAX_UPLOAD_BYTES`).
enum Input {
    Csv(Box<dyn Read + Send>),
    Whole(Vec<u8>),
}

/// Bytes read ahead to recognize the kind of file.
const SNIFF_BYTES: u64 = 64 * 1024;

async fn import(job: &JobRow, ctx: &ImportContext) -> Result<(), InfraError> {
    let mut conn = db::begin(&ctx.pool, job.organization_id).await?;
    let creator = db::users::find_by_id(&mut conn, job.created_by).await?;
    let Some(creator) = creator.filter(|u| u.is_active && u.organization_id == job.organization_id)
    else {
        return fail(
            ctx,
            job,
            "the user who uploaded the file is no longer active",
        )
        .await;
    };
    let caller = Caller {
        user_id: creator.id,
        organization_id: creator.organization_id,
        role: creator.role,
    };
    let kpis = db::kpis::visible_refs(&mut conn, &caller, job.dashboard_id).await?;
    drop(conn);
    let Some(key) = job.storage_key.clone() else {
        return fail(ctx, job, "the uploaded file is missing").await;
    };
    let mut reader = ctx.storage.reader(&key).await?;
    let mut head = Vec::new();
    (&mut reader)
        .take(SNIFF_BYTES)
        .read_to_end(&mut head)
        .await?;
    let Some(kind) = file_kind::detect(&head, job.filename.as_deref()) else {
        return fail(ctx, job, &ParseError::NotASpreadsheet.to_string()).await;
    };
    let input = if kind == FileKind::Csv {
        let rest = SyncIoBridge::new(reader);
        Input::Csv(Box::new(Read::chain(Cursor::new(head), rest)))
    } else {
        reader.read_to_end(&mut head).await?;
        Input::Whole(head)
    };

    let processed = Arc::new(AtomicU64::new(0));
    let (sender, mut receiver) = mpsc::channel::<Vec<ValueWrite>>(2);
    let limits = ctx.limits.clone();
    let parser = {
        let processed = processed.clone();
        tokio::task::spawn_blocking(move || {
            parse_and_validate(input, kind, &limits, kpis, &processed, &sender)
        })
    };

    let progress = tokio::spawn(report_progress(
        ctx.pool.clone(),
        job.id,
        job.organization_id,
        job.attempt,
        processed.clone(),
    ));
    // every valid row is written, even when an atomic import is already
    // failing: the database finds the periods a file repeats across batches
    let mut tx = db::begin(&ctx.pool, job.organization_id).await?;
    db::kpi_values::defer_latest(&mut tx).await?;
    let mut written_kpis = HashSet::new();
    let (mut inserted, mut updated, mut repeated) = (0_u64, 0_u64, 0_u64);
    // the first repeats in file order; with the parser's first rejections
    // they hold the first MAX_REPORTED_ERRORS of the report
    let mut repeats = Vec::new();
    let mut write_error = None;
    while let Some(rows) = receiver.recv().await {
        match db::kpi_values::upsert_batch(
            &mut tx,
            job.organization_id,
            Some(job.created_by),
            Some(job.id),
            &rows,
        )
        .await
        {
            Ok(written) => {
                written_kpis.extend(rows.iter().map(|row| row.kpi_id));
                inserted += written.inserted;
                updated += written.updated;
                repeated += written.repeated.len() as u64;
                let room = MAX_REPORTED_ERRORS.saturating_sub(repeats.len());
                repeats.extend(written.repeated.into_iter().take(room));
            }
            Err(e) => {
                // closing the channel stops the parser
                write_error = Some(e);
                break;
            }
        }
    }
    drop(receiver);
    progress.abort();
    let report = match parser.await {
        Ok(report) => report,
        Err(join_error) => ParseReport {
            result: Err(ParseError::Malformed(format!(
                "the file could not be read ({})",
                if join_error.is_panic() {
                    "parser failure"
                } else {
                    "cancelled"
                }
            ))),
            read_error: None,
            rows_total: 0,
            rows_rejected: 0,
            rejections: Vec::new(),
        },
    };
    if let Some(e) = write_error {
        return Err(e.into());
    }
    if let Some(e) = report.read_error {
        return Err(e.into());
    }

    let header = match report.result {
        Ok(header) => header,
        Err(error) => {
            tx.rollback().await?;
            return fail(ctx, job, &error.to_string()).await;
        }
    };
    let rows_rejected = report.rows_rejected + repeated;
    let mut rejections = report.rejections;
    rejections.extend(
        repeats
            .iter()
            .map(|r| resolve::repeated(r.row as u64, r.period_start, r.first_row as u64)),
    );
    rejections.sort_by_key(|r| r.row);
    rejections.truncate(MAX_REPORTED_ERRORS);
    let mut errors: Vec<RowError> = rejections.iter().map(|r| row_error(r, &header)).collect();
    if rows_rejected as usize > errors.len() {
        errors.push(RowError {
            row: None,
            column: None,
            value: None,
            message: format!(
                "{} more rows were rejected; only the first {MAX_REPORTED_ERRORS} are listed",
                rows_rejected as usize - errors.len()
            ),
        });
    }
    let atomic = job.mode == kpix_shared::domain::ImportMode::Atomic;
    let valid = report.rows_total - rows_rejected;
    let keep = !job.dry_run && (rows_rejected == 0 || !atomic);
    let mut outcome = Outcome {
        succeeded: rows_rejected == 0 || (!atomic && valid > 0),
        error_message: None,
        rows_total: report.rows_total as i64,
        rows_inserted: inserted as i64,
        rows_updated: updated as i64,
        rows_rejected: rows_rejected as i64,
    };
    if report.rows_total == 0 {
        outcome.succeeded = false;
        outcome.error_message = Some("the file has a header but no data rows".into());
    } else if rows_rejected > 0 && atomic {
        outcome.error_message = Some(format!(
            "{} of {} rows are invalid; nothing was imported (see the error report, or import with mode=partial)",
            rows_rejected, report.rows_total
        ));
    } else if !outcome.succeeded {
        outcome.error_message = Some("no row of the file is valid; see the error report".into());
    }
    if !keep {
        // nothing of this attempt is kept: a dry run or a failed atomic import
        tx.rollback().await?;
        if atomic && rows_rejected > 0 {
            outcome.rows_inserted = 0;
            outcome.rows_updated = 0;
        }
        tx = db::begin(&ctx.pool, job.organization_id).await?;
    } else {
        let kpi_ids: Vec<_> = written_kpis.into_iter().collect();
        db::kpi_values::refresh_latest(&mut tx, &kpi_ids).await?;
    }
    if db::import_jobs::finish(&mut tx, job.id, job.attempt, &outcome, &errors).await? {
        tx.commit().await?;
        audit(job, &outcome);
    } else {
        tx.rollback().await?;
        tracing::warn!(job_id = %job.id, attempt = job.attempt, "a newer attempt owns this job; this attempt's result is discarded");
    }
    Ok(())
}

/// Fails the job with a file-level message (no retry).
async fn fail(ctx: &ImportContext, job: &JobRow, message: &str) -> Result<(), InfraError> {
    let outcome = Outcome {
        error_message: Some(message.to_owned()),
        ..Outcome::default()
    };
    let mut tx = db::begin(&ctx.pool, job.organization_id).await?;
    let owned = db::import_jobs::finish(
        &mut tx,
        job.id,
        job.attempt,
        &outcome,
        &[RowError {
            row: None,
            column: None,
            value: None,
            message: message.to_owned(),
        }],
    )
    .await?;
    tx.commit().await?;
    if owned {
        audit(job, &outcome);
    }
    Ok(())
}

fn row_error(rejection: &Rejection, header: &Header) -> RowError {
    let column = match rejection.column {
        Column::Kpi => Some(header.kpi_header.clone()),
        Column::Period => Some(header.period_header.clone()),
        Column::Value => Some(header.value_header.clone()),
        Column::Comment => header.comment_header.clone(),
    };
    RowError {
        row: Some(rejection.row as i64),
        column,
        value: Some(rejection.value.clone()),
        message: rejection.message.clone(),
    }
}

async fn report_progress(
    pool: PgPool,
    job_id: ImportJobId,
    organization_id: OrganizationId,
    attempt: i32,
    processed: Arc<AtomicU64>,
) {
    let mut last = 0;
    loop {
        tokio::time::sleep(PROGRESS_EVERY).await;
        let now = processed.load(Ordering::Relaxed);
        if now == last {
            continue;
        }
        last = now;
        let result = async {
            let mut tx = db::begin(&pool, organization_id).await?;
            db::import_jobs::progress(&mut tx, job_id, attempt, now as i64).await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(job_id = %job_id, error = %e, "could not record import progress");
        }
    }
}

/// Runs on the blocking pool: parses, validates, and hands valid rows to the
/// writer in batches, until the end of the file or until the writer stops.
fn parse_and_validate(
    input: Input,
    kind: FileKind,
    limits: &Limits,
    kpis: Vec<kpix_shared::db::kpis::KpiRef>,
    processed: &AtomicU64,
    sender: &mpsc::Sender<Vec<ValueWrite>>,
) -> ParseReport {
    let mut resolver = Resolver::new(kpis);
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    let mut rejections = Vec::new();
    let (mut rows_total, mut rows_rejected) = (0_u64, 0_u64);
    let mut on_record = |record| {
        rows_total += 1;
        processed.store(rows_total, Ordering::Relaxed);
        match resolver.resolve(record) {
            Ok(row) => {
                batch.push(row);
                if batch.len() == BATCH_ROWS {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
                    if sender.blocking_send(full).is_err() {
                        return Err(ParseError::Aborted("the writer stopped".into()));
                    }
                    resolver.forget_seen();
                }
            }
            Err(found) => {
                rows_rejected += 1;
                let room = MAX_REPORTED_ERRORS.saturating_sub(rejections.len());
                rejections.extend(found.into_iter().take(room));
            }
        }
        Ok(())
    };
    let (result, read_error) = match input {
        Input::Csv(reader) => {
            let mut reader = ReadErrorKept::new(reader);
            let result = parse::parse_reader(&mut reader, limits, &mut on_record);
            (result, reader.error)
        }
        Input::Whole(bytes) => (
            parse::parse_file(&bytes, kind, limits, &mut on_record),
            None,
        ),
    };
    if result.is_ok() && !batch.is_empty() {
        // the writer may already be gone after a database error; it reports that itself
        let _ = sender.blocking_send(batch);
    }
    ParseReport {
        result,
        read_error,
        rows_total,
        rows_rejected,
        rejections,
    }
}

/// Keeps the first read error of a stream: the CSV parser reports any read
/// failure as a damaged file, but a failing object store is worth a retry.
struct ReadErrorKept<R> {
    inner: R,
    error: Option<std::io::Error>,
}

impl<R> ReadErrorKept<R> {
    fn new(inner: R) -> Self {
        Self { inner, error: None }
    }
}

impl<R: Read> Read for ReadErrorKept<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if self.error.is_none() {
                self.error = Some(std::io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that fails after its first bytes, as an object store can.
    struct FailingStream {
        sent: bool,
    }

    impl Read for FailingStream {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.sent {
                return Err(std::io::Error::other("connection reset by the store"));
            }
            self.sent = true;
            let head = b"kpi_code,period,value\nA,2025-01,1\n";
            buf[..head.len()].copy_from_slice(head);
            Ok(head.len())
        }
    }

    #[test]
    fn a_store_failing_mid_file_is_a_read_error_to_retry_not_a_bad_file() {
        let (sender, _receiver) = mpsc::channel(2);
        let report = parse_and_validate(
            Input::Csv(Box::new(FailingStream { sent: false })),
            FileKind::Csv,
            &Limits::default(),
            Vec::new(),
            &AtomicU64::new(0),
            &sender,
        );
        assert!(report.result.is_err());
        let error = report.read_error.expect("the read error is kept");
        assert!(error.to_string().contains("connection reset"), "{error}");
    }
}
