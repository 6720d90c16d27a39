//! Prometheus metrics of both processes (DESIGN §9): the recorder, with
//! histogram buckets so that latencies aggregate across replicas, and the
//! samplers of the database pool and of the queue's depth.
use std::time::Duration;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;

use crate::jobs::IMPORT_QUEUE;

/// Request latencies: 1 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Job durations: 100 ms to 30 min.
const JOB_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

/// How often the pool and the queue are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// Installs the process's recorder; the handle renders `/metrics`.
pub fn install_recorder() -> Result<PrometheusHandle, BuildError> {
    PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full("kpix_job_duration_seconds".into()),
            JOB_BUCKETS,
        )?
        .install_recorder()
}

/// Samples, every few seconds for the life of the process, the pool's
/// connections in use and idle (`kpix_db_pool_connections`; the waiting ones
/// are counted as they wait, by `db::begin`) and the tasks of the queue by
/// status (`kpix_queue_tasks`), for alerts and the workers' autoscaler.
pub fn spawn_samplers(pool: PgPool) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SAMPLE_EVERY);
        loop {
            every.tick().await;
            let (size, idle) = (pool.size() as f64, pool.num_idle() as f64);
            metrics::gauge!("kpix_db_pool_connections", "state" => "in_use").set(size - idle);
            metrics::gauge!("kpix_db_pool_connections", "state" => "idle").set(idle);
            match queue_depth(&pool).await {
                Ok(counts) => {
                    for (status, count) in counts {
                        metrics::gauge!("kpix_queue_tasks", "queue" => IMPORT_QUEUE, "status" => status)
                            .set(count as f64);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not count the queue's tasks"),
            }
        }
    });
}

/// Tasks of the import queue: pending (waiting for a worker), running, failed
/// (given up or killed).
async fn queue_depth(pool: &PgPool) -> Result<[(&'static str, i64); 3], sqlx::Error> {
    let depth = sqlx::query!(
        r#"select count(*) filter (where status in ('Pending', 'Queued')) as "pending!",
             count(*) filter (where status = 'Running') as "running!",
             count(*) filter (where status in ('Failed', 'Killed')) as "failed!"
           from apalis.jobs where job_type = $1 and status <> 'Done'"#,
        IMPORT_QUEUE,
    )
    .fetch_one(pool)
    .await?;
    Ok([
        ("pending", depth.pending),
        ("running", depth.running),
        ("failed", depth.failed),
    ])
}
