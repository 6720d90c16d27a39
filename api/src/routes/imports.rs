//! Imports of KPI values from CSV / Excel files: upload (stored through the
//! object store, job row and queue task committed together), job status and
//! the row-level error report.
use axum::{
    extract::{
        DefaultBodyLimit, FromRequest, Multipart, RawQuery, Request, State,
        multipart::MultipartError,
    },
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use kpix_shared::{
    db::{
        self, Caller,
        import_jobs::{JobRow, NewJob, RowError},
    },
    domain::{ImportMode, ImportType, JobStatus},
    ids::{DashboardId, ImportJobId, OrganizationId, UserId},
    jobs::{self, ImportTask},
    storage::{StorageError, Upload},
};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult},
    extract::{
        AuthConn, AuthUser, ClientAddr, IdempotencyKey, OrdinalPageParams, Page, PageParams,
        Pagination, Path, Query,
    },
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        // the upload counts its own bytes against MAX_UPLOAD_BYTES while streaming
        .routes(routes!(upload_kpi_values))
        .layer(DefaultBodyLimit::disable())
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(get_job_errors))
}

/// The multipart form of an upload (documentation only; it is read as a
/// stream). Another field is a 422 naming it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The CSV, XLSX, XLS or ODS file; not empty.
    #[schema(value_type = String, format = Binary, min_length = 1)]
    file: Vec<u8>,
    /// Match KPI names on this dashboard only.
    #[schema(nullable = false)]
    dashboard_id: Option<DashboardId>,
    /// `atomic` (default: any invalid row and nothing is written) or `partial`.
    #[schema(nullable = false)]
    mode: Option<ImportMode>,
    /// Validate and report only.
    #[schema(nullable = false)]
    dry_run: Option<bool>,
}

fn multipart_error(error: MultipartError) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("upload too large".into())
    } else {
        ApiError::bad_request(
            "malformed_multipart",
            format!("malformed multipart body: {}", error.body_text()),
        )
    }
}

fn storage_error(error: StorageError) -> ApiError {
    match error {
        StorageError::TooLarge { limit } => ApiError::PayloadTooLarge(format!(
            "the file is larger than the limit of {limit} bytes"
        )),
        other => ApiError::Internal(anyhow::Error::new(other).context("storing the upload")),
    }
}

/// What the form said, once read.
struct Form {
    filename: Option<String>,
    file_size: u64,
    job_type: ImportType,
    options: Options,
}

/// `dashboard_id`, `mode` and `dry_run`: form fields, or query parameters (a
/// client may send them either way; both with different values is refused).
#[derive(Debug, Default, Clone, Copy)]
struct Options {
    dashboard_id: Option<DashboardId>,
    mode: Option<ImportMode>,
    dry_run: Option<bool>,
}

impl Options {
    /// Reads the option `name` from its text; an unknown name is a 422.
    fn read(&mut self, name: &str, text: &str) -> ApiResult<()> {
        let text = text.trim();
        match name {
            "dashboard_id" => fill(
                &mut self.dashboard_id,
                name,
                text.parse().ok(),
                "must be a UUID",
            ),
            "mode" => fill(
                &mut self.mode,
                name,
                text.parse().ok(),
                "must be atomic or partial",
            ),
            "dry_run" => {
                let dry_run = match text.to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "on" => Some(true),
                    "false" | "0" | "no" | "off" => Some(false),
                    _ => None,
                };
                fill(&mut self.dry_run, name, dry_run, "must be true or false")
            }
            other => Err(ApiError::invalid(
                other.to_owned(),
                "unknown query parameter (expected dashboard_id, mode, dry_run)",
            )),
        }
    }

    /// The options of the query string.
    fn from_query(query: Option<&str>) -> ApiResult<Self> {
        let mut options = Self::default();
        for (name, text) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            // an empty parameter is absent, as an empty form field
            if !text.trim().is_empty() {
                options.read(&name, &text)?;
            }
        }
        Ok(options)
    }

    /// The options given in the form or in the query string.
    fn merge(self, query: Self) -> ApiResult<Self> {
        fn one<T: PartialEq>(
            name: &str,
            form: Option<T>,
            query: Option<T>,
        ) -> ApiResult<Option<T>> {
            match (form, query) {
                (Some(a), Some(b)) if a != b => Err(ApiError::invalid(
                    name.to_owned(),
                    "given in the form and in the query string with different values",
                )),
                (form, query) => Ok(form.or(query)),
            }
        }
        Ok(Self {
            dashboard_id: one("dashboard_id", self.dashboard_id, query.dashboard_id)?,
            mode: one("mode", self.mode, query.mode)?,
            dry_run: one("dry_run", self.dry_run, query.dry_run)?,
        })
    }
}

/// Sets an option once: a value that does not parse is a 422 with `rule`,
/// and so is a second value.
fn fill<T>(slot: &mut Option<T>, name: &str, parsed: Option<T>, rule: &str) -> ApiResult<()> {
    let value = parsed.ok_or_else(|| ApiError::invalid(name, rule))?;
    if slot.replace(value).is_some() {
        return Err(ApiError::invalid(name, "given twice"));
    }
    Ok(())
}

/// Upload a file of KPI values; answers 202 with the job to poll.
#[utoipa::path(post, path = "/imports/kpi-values", tag = "imports",
    request_body(content((UploadForm = "multipart/form-data",
        encoding(("file" = (content_type = jobs::upload_media_types())))))),
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key returns the same job",
            nullable = false, max_length = 200, pattern = r"^[\x20-\x7E]*[\x21-\x7E][\x20-\x7E]*$"),
        ("dashboard_id" = Option<Uuid>, Query, description = "as the form field of that name"),
        ("mode" = Option<ImportMode>, Query, description = "as the form field of that name"),
        ("dry_run" = Option<bool>, Query, description = "as the form field of that name")),
    responses((status = 202, description = "The job, to poll at its Location.", body = JobResponse, headers(("Location" = String))),
        (status = 404, description = "No dashboard `dashboard_id` the caller can see."),
        (status = 429, description = "Too many uploads from this address."),
        (status = 415, description = "The body is not multipart/form-data, or the file is neither CSV nor a spreadsheet by its content, its declared media type or its name.")),
    security(("bearer" = [])))]
async fn upload_kpi_values(
    State(state): State<AppState>,
    auth: AuthUser,
    ClientAddr(client): ClientAddr,
    IdempotencyKey(idempotency_key): IdempotencyKey,
    RawQuery(query): RawQuery,
    UploadBody(mut multipart): UploadBody,
) -> ApiResult<Response> {
    state.rate_limits.upload.check(client)?;
    let query_options = Options::from_query(query.as_deref())?;
    let job_id = ImportJobId::new();
    let key = state
        .storage
        .import_key(auth.caller.organization_id, job_id);
    let limit = state.config.common.max_upload_bytes;
    let form = match read_form(&state, &mut multipart, &key, limit, query_options).await {
        Ok(form) => form,
        Err(e) => {
            discard(&state, &key).await;
            return Err(e);
        }
    };
    // a replay is answered with the first job, once it is known to be a
    // valid upload itself: an invalid request is refused whatever its key
    if let Some(job) = replayed(&state, &auth.caller, idempotency_key.as_deref()).await? {
        discard(&state, &key).await;
        return Ok(accepted(job));
    }
    let created = create_job(
        &state,
        &auth.caller,
        job_id,
        &key,
        &form,
        idempotency_key.as_deref(),
    )
    .await;
    match created {
        Ok(job) => {
            tracing::info!(audit = "import_submitted", actor_id = %auth.caller.user_id, job_id = %job.id, filename = ?job.filename, size = form.file_size, mode = job.mode.as_str(), dry_run = job.dry_run, "import submitted");
            Ok(accepted(job))
        }
        Err(e) => {
            discard(&state, &key).await;
            // a concurrent request with the same key won the race: answer with its job
            if matches!(e, ApiError::Conflict { .. })
                && let Some(job) =
                    replayed(&state, &auth.caller, idempotency_key.as_deref()).await?
            {
                return Ok(accepted(job));
            }
            Err(e)
        }
    }
}

/// The job an earlier upload with this idempotency key created, if any.
async fn replayed(
    state: &AppState,
    caller: &Caller,
    key: Option<&str>,
) -> ApiResult<Option<JobRow>> {
    let Some(key) = key else { return Ok(None) };
    let mut conn = db::begin(&state.pool, caller.organization_id).await?;
    Ok(db::import_jobs::find_by_idempotency_key(&mut conn, caller, key).await?)
}

/// A multipart/form-data body, refused at once (413) when its declared
/// length is over the upload limit; the form reader counts the bytes that
/// actually come.
struct UploadBody(Multipart);

impl FromRequest<AppState> for UploadBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.config.common.max_upload_bytes;
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        // the multipart envelope adds a little around the file itself
        if declared.is_some_and(|n| n > limit + 64 * 1024) {
            return Err(ApiError::PayloadTooLarge(format!(
                "the file is larger than the limit of {limit} bytes"
            )));
        }
        let multipart = Multipart::from_request(request, state).await.map_err(|e| {
            ApiError::UnsupportedMediaType(format!(
                "expected a multipart/form-data body: {}",
                e.body_text()
            ))
        })?;
        Ok(Self(multipart))
    }
}

fn accepted(job: JobRow) -> Response {
    let location = format!("/api/v1/imports/jobs/{}", job.id);
    let mut response = (StatusCode::ACCEPTED, axum::Json(JobResponse::from(job))).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Removes an upload that will have no job; a failure is logged, not hidden.
async fn discard(state: &AppState, key: &str) {
    if let Err(e) = state.storage.delete(key).await
        && !matches!(e, StorageError::Store(object_store::Error::NotFound { .. }))
    {
        tracing::warn!(error = %e, key, "could not delete an orphan upload");
    }
}

/// Reads the form, streaming the file into the object store.
async fn read_form(
    state: &AppState,
    multipart: &mut Multipart,
    key: &str,
    limit: u64,
    query_options: Options,
) -> ApiResult<Form> {
    let mut file: Option<(Option<String>, u64, ImportType)> = None;
    let mut options = Options::default();
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => {
                if file.is_some() {
                    return Err(ApiError::invalid("file", "send one file per upload"));
                }
                let filename = field
                    .file_name()
                    .map(|f| f.chars().take(255).collect::<String>());
                let media_type = field.content_type().map(str::to_owned);
                let mut upload: Option<(Upload, ImportType)> = None;
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    if chunk.is_empty() {
                        continue;
                    }
                    if upload.is_none() {
                        let head = &chunk[..chunk.len().min(8192)];
                        let kind =
                            jobs::upload_type(head, filename.as_deref(), media_type.as_deref())
                                .ok_or_else(|| {
                                    ApiError::UnsupportedMediaType(
                                    "the file is neither CSV nor a spreadsheet (XLSX, XLS, ODS)"
                                        .into(),
                                )
                                })?;
                        upload = Some((
                            state
                                .storage
                                .start_upload(key)
                                .await
                                .map_err(storage_error)?,
                            kind,
                        ));
                    }
                    if let Some((writer, _)) = upload.as_mut()
                        && let Err(e) = writer.write(&chunk, limit).await
                    {
                        if let Some((writer, _)) = upload.take() {
                            let _ = writer.abort().await;
                        }
                        return Err(storage_error(e));
                    }
                }
                let Some((writer, kind)) = upload else {
                    return Err(ApiError::invalid("file", "the file is empty"));
                };
                let size = writer.written();
                writer.finish().await.map_err(storage_error)?;
                file = Some((filename, size, kind));
            }
            "dashboard_id" | "mode" | "dry_run" => {
                let text = small_text(&name, &mut field).await?;
                // an empty field is absent
                if !text.trim().is_empty() {
                    options.read(&name, &text)?;
                }
            }
            other => {
                return Err(ApiError::invalid(
                    other.to_owned(),
                    "unknown form field (expected file, dashboard_id, mode, dry_run)",
                ));
            }
        }
    }
    let (filename, file_size, job_type) =
        file.ok_or_else(|| ApiError::invalid("file", "a file is required"))?;
    Ok(Form {
        filename,
        file_size,
        job_type,
        options: options.merge(query_options)?,
    })
}

/// The longest text form field read: the options are a few bytes, and a
/// field is read into memory, so it is bounded before it is buffered.
const MAX_FORM_FIELD_BYTES: usize = 4096;

/// A text form field, refused with 413 as soon as it passes
/// [`MAX_FORM_FIELD_BYTES`] (a client may stream gigabytes into one).
async fn small_text(
    name: &str,
    field: &mut axum::extract::multipart::Field<'_>,
) -> ApiResult<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > MAX_FORM_FIELD_BYTES {
            return Err(ApiError::PayloadTooLarge(format!(
                "the form field {name} is longer than {MAX_FORM_FIELD_BYTES} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| ApiError::invalid(name, "must be UTF-8 text"))
}

/// The job row and its queue task, in one transaction.
async fn create_job(
    state: &AppState,
    caller: &Caller,
    job_id: ImportJobId,
    key: &str,
    form: &Form,
    idempotency_key: Option<&str>,
) -> ApiResult<JobRow> {
    let mut tx = db::begin(&state.pool, caller.organization_id).await?;
    if let Some(dashboard_id) = form.options.dashboard_id {
        db::dashboards::find_visible(&mut tx, caller, dashboard_id)
            .await?
            .ok_or(ApiError::NotFound("dashboard"))?;
    }
    let job = db::import_jobs::insert(
        &mut tx,
        NewJob {
            id: job_id,
            organization_id: caller.organization_id,
            created_by: caller.user_id,
            job_type: form.job_type,
            filename: form.filename.as_deref(),
            storage_key: key,
            file_size: form.file_size as i64,
            mode: form.options.mode.unwrap_or(ImportMode::Atomic),
            dry_run: form.options.dry_run.unwrap_or(false),
            dashboard_id: form.options.dashboard_id,
            idempotency_key,
        },
    )
    .await
    .map_err(|e| {
        if db::is_unique_violation(&e, db::import_jobs::IDEMPOTENCY_KEY) {
            ApiError::conflict(
                "idempotency_key_in_use",
                "another upload with this Idempotency-Key is in progress",
            )
        } else {
            e.into()
        }
    })?;
    let task = ImportTask {
        job_id,
        traceparent: kpix_shared::telemetry::current_traceparent(),
    };
    jobs::enqueue_import(&mut tx, &task)
        .await
        .map_err(|e| anyhow::Error::new(e).context("enqueuing the import task"))?;
    tx.commit().await?;
    Ok(job)
}

/// Import jobs, newest first: a USER's own, all of the organization for an ADMIN.
#[utoipa::path(get, path = "/imports/jobs", tag = "imports", params(PageParams),
    responses((status = 200, body = Vec<JobResponse>)), security(("bearer" = [])))]
async fn list_jobs(
    AuthConn { auth, mut conn }: AuthConn,
    pagination: Pagination,
) -> ApiResult<Page<JobResponse>> {
    let jobs = db::import_jobs::list(&mut conn, &auth.caller, pagination.request()?).await?;
    Ok(pagination.respond(jobs, |j| j.id.to_string()))
}

/// An import job: status, counts and timestamps. Poll it until SUCCESS or FAILED.
#[utoipa::path(get, path = "/imports/jobs/{id}", tag = "imports", params(("id" = Uuid, Path)),
    responses((status = 200, body = JobResponse), (status = 404)), security(("bearer" = [])))]
async fn get_job(
    AuthConn { auth, mut conn }: AuthConn,
    Path(id): Path<ImportJobId>,
) -> ApiResult<axum::Json<JobResponse>> {
    let job = db::import_jobs::find_visible(&mut conn, &auth.caller, id)
        .await?
        .ok_or(ApiError::NotFound("import job"))?;
    Ok(axum::Json(job.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ErrorsQuery {
    /// `json` (default) or `csv` for a download.
    #[param(inline)]
    pub format: Option<ErrorsFormat>,
}

/// How the error report is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ErrorsFormat {
    Json,
    Csv,
}

/// The error report of a job, in file order; `?format=csv` downloads it.
#[utoipa::path(get, path = "/imports/jobs/{id}/errors", tag = "imports", params(("id" = Uuid, Path), ErrorsQuery, OrdinalPageParams),
    responses((status = 200, description = "The rejected rows in file order: JSON, or with format=csv a CSV download.",
        content((Vec<RowErrorResponse> = "application/json"), (String = "text/csv")))),
    security(("bearer" = [])))]
async fn get_job_errors(
    AuthConn { auth, mut conn }: AuthConn,
    Path(id): Path<ImportJobId>,
    Query(query): Query<ErrorsQuery>,
    pagination: Pagination,
) -> ApiResult<Response> {
    let job = db::import_jobs::find_visible(&mut conn, &auth.caller, id)
        .await?
        .ok_or(ApiError::NotFound("import job"))?;
    match query.format.unwrap_or(ErrorsFormat::Json) {
        ErrorsFormat::Json => {
            let rows = db::import_jobs::errors(&mut conn, job.id, pagination.request()?).await?;
            let page: Page<RowErrorResponse> =
                pagination.respond(rows, |(ordinal, _)| ordinal.to_string());
            Ok(page.into_response())
        }
        ErrorsFormat::Csv => errors_download(&mut conn, job.id).await,
    }
}

/// Every rejected row of a job as a CSV attachment.
async fn errors_download(conn: &mut PgConnection, job_id: ImportJobId) -> ApiResult<Response> {
    let every_row = db::PageRequest {
        limit: i64::MAX,
        after: None,
    };
    let rows = db::import_jobs::errors(conn, job_id, every_row).await?;
    let body = errors_csv(rows.into_iter().map(|(_, e)| e))?;
    let disposition = format!("attachment; filename=\"import-{job_id}-errors.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// A rejected row with its position in the report (the page cursor).
impl From<(i32, RowError)> for RowErrorResponse {
    fn from((_, row): (i32, RowError)) -> Self {
        row.into()
    }
}

/// The error report as CSV (a header, then a line per rejected row), its
/// cells safe to open in a spreadsheet.
fn errors_csv(errors: impl Iterator<Item = RowError>) -> anyhow::Result<String> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    writer.write_record(["row", "column", "value", "message"])?;
    for e in errors {
        let row = e.row.map(|r| r.to_string()).unwrap_or_default();
        let cells = [
            e.column.unwrap_or_default(),
            e.value.unwrap_or_default(),
            e.message,
        ];
        writer.write_record(std::iter::once(row).chain(cells.map(formula_safe)))?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}

/// A cell a spreadsheet cannot run as a formula: text starting with
/// = + - @ tab or CR gets a leading apostrophe (OWASP's CSV injection rule).
fn formula_safe(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = JobRow)]
pub struct JobResponse {
    pub id: ImportJobId,
    pub organization_id: OrganizationId,
    #[serde(rename = "type")]
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
}

impl From<JobRow> for JobResponse {
    fn from(row: JobRow) -> Self {
        Self {
            id: row.id,
            organization_id: row.organization_id,
            job_type: row.job_type,
            status: row.status,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
            error_message: row.error_message,
            filename: row.filename,
            mode: row.mode,
            dry_run: row.dry_run,
            dashboard_id: row.dashboard_id,
            rows_total: row.rows_total,
            rows_processed: row.rows_processed,
            rows_inserted: row.rows_inserted,
            rows_updated: row.rows_updated,
            rows_rejected: row.rows_rejected,
            attempt: row.attempt,
            started_at: row.started_at,
            finished_at: row.finished_at,
        }
    }
}

/// One rejected row (or file-level problem) of an import.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = RowError)]
pub struct RowErrorResponse {
    /// The row number as the user sees it in the file; null for the file itself.
    pub row: Option<i64>,
    pub column: Option<String>,
    pub value: Option<String>,
    pub message: String,
}

impl From<RowError> for RowErrorResponse {
    fn from(row: RowError) -> Self {
        Self {
            row: row.row,
            column: row.column,
            value: row.value,
            message: row.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(value: &str) -> RowError {
        RowError {
            row: Some(3),
            column: Some("value".into()),
            value: Some(value.into()),
            message: "not a number".into(),
        }
    }

    #[test]
    fn error_reports_cannot_become_formulas() {
        let csv = |value: &str| errors_csv(std::iter::once(error(value))).expect("a CSV");
        assert_eq!(
            csv("=HYPERLINK(\"x\")"),
            "row,column,value,message\r\n3,value,\"'=HYPERLINK(\"\"x\"\")\",not a number\r\n"
        );
        assert_eq!(
            csv("+1"),
            "row,column,value,message\r\n3,value,'+1,not a number\r\n"
        );
        assert_eq!(
            csv("-2"),
            "row,column,value,message\r\n3,value,'-2,not a number\r\n"
        );
        assert_eq!(
            csv("@SUM(A1)"),
            "row,column,value,message\r\n3,value,'@SUM(A1),not a number\r\n"
        );
        assert_eq!(
            csv("plain, text"),
            "row,column,value,message\r\n3,value,\"plain, text\",not a number\r\n"
        );
    }
}
