//! Deletes the uploaded files of ended imports once they are older than the
//! retention (DESIGN §9): after every import task, and every few minutes for
//! a retention above zero and for any deletion that failed before.
use std::time::Duration;

use kpix_shared::{
    db,
    storage::{Storage, StorageError},
};
use sqlx::PgPool;

/// Jobs looked at per transaction.
const BATCH: i32 = 100;

/// Deletes what is due; returns how many files were deleted. A file the store
/// no longer has counts as deleted; a file it fails to delete is logged and
/// kept on the job for the next sweep.
pub async fn sweep(
    pool: &PgPool,
    storage: &Storage,
    retention: Duration,
) -> Result<u64, sqlx::Error> {
    let mut deleted = 0;
    loop {
        let mut tx = pool.begin().await?;
        let due = db::import_jobs::ended_with_stored_file(&mut tx, retention, BATCH).await?;
        let mut progress = false;
        for file in &due {
            let (job_id, key) = (file.id, &file.storage_key);
            match storage.delete(key).await {
                Ok(()) | Err(StorageError::Store(object_store::Error::NotFound { .. })) => {
                    // the jobs are of every organization: act for each in turn
                    db::act_for(&mut tx, file.organization_id).await?;
                    db::import_jobs::forget_file(&mut tx, job_id).await?;
                    deleted += 1;
                    progress = true;
                }
                Err(e) => {
                    tracing::warn!(job_id = %job_id, key, error = %e, "could not delete an uploaded file; the next sweep retries");
                }
            }
        }
        tx.commit().await?;
        // a short batch was the last; a batch of failures only is retried later
        if due.len() < BATCH as usize || !progress {
            break;
        }
    }
    if deleted > 0 {
        tracing::info!(files = deleted, "uploaded files of ended imports deleted");
    }
    Ok(deleted)
}
