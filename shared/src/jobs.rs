//! The import task: its payload and queue, shared by the API (producer) and
//! the worker (consumer).
use apalis_core::task::builder::TaskBuilder;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The queue both processes name explicitly (never apalis' default type name,
/// which would change with a refactor).
pub const IMPORT_QUEUE: &str = "kpix.import_kpi_values";

/// Attempts for infrastructure failures; a bad file fails the job at once.
pub const IMPORT_MAX_ATTEMPTS: usize = 5;

/// Tasks carry ids only; the worker reloads the job row.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportTask {
    pub job_id: Uuid,
}

/// Pushes the task on the caller's transaction, so the job row and its task
/// commit (or roll back) together.
pub async fn enqueue_import(
    conn: &mut sqlx::PgConnection,
    task: ImportTask,
) -> Result<(), apalis_postgres::Error> {
    let payload = serde_json::to_vec(&task)
        .map_err(|e| apalis_postgres::Error::Database(sqlx::Error::Encode(Box::new(e))))?;
    let task = TaskBuilder::new(payload)
        .max_attempts(IMPORT_MAX_ATTEMPTS)
        .build();
    apalis_postgres::queries::push_tasks(conn, IMPORT_QUEUE, vec![task]).await
}
