//! `kpix-worker` entry point: read settings, check the schema, consume import
//! tasks until SIGTERM (the current jobs finish or are handed back).
use std::{sync::Arc, time::Duration};

use apalis::prelude::*;
use apalis_postgres::{Config, PostgresStorage};
use kpix_shared::{
    config::WorkerConfig,
    db,
    jobs::{IMPORT_QUEUE, ImportTask},
    storage::Storage,
    telemetry,
};
use kpix_worker::{
    jobs::{
        self,
        import_kpi_values::{self, ImportContext},
    },
    parse::Limits,
};

/// How often the worker looks for uploaded files to delete besides the
/// look after each import.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = match WorkerConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("kpix-worker: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let _telemetry = match telemetry::init(
        config.common.log_format,
        config.common.otel_endpoint.as_deref(),
        "kpix-worker",
    ) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("kpix-worker: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "kpix-worker stopped");
            eprintln!("kpix-worker: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn handle(task: ImportTask, ctx: Data<Arc<ImportContext>>) -> Result<(), BoxDynError> {
    import_kpi_values::run(task, &ctx)
        .await
        .map_err(|e| Box::new(e) as BoxDynError)
}

async fn run(config: WorkerConfig) -> anyhow::Result<()> {
    // registered before anything else: SIGTERM during start-up is not lost
    let shutdown = kpix_shared::signal::shutdown()?;
    let metrics = kpix_shared::metrics::install_recorder()?;
    tracing::info!(config = ?config, "starting kpix-worker");
    // one connection per slot for its transaction, one for progress, and the queue's own
    if !db::schema_is_ready(&config.common.database_url).await? {
        anyhow::bail!(
            "the database schema is missing or out of date: start kpix-api once (it applies the migrations), then start the worker"
        );
    }
    let pool = db::connect(
        &config.common.database_url,
        (config.concurrency as u32) * 3 + 4,
    )
    .await?;
    let storage = Storage::from_url(&config.common.storage_url)?;
    storage.check_writable().await.map_err(|e| {
        anyhow::anyhow!(
            "the object store of STORAGE_URL cannot be written ({e}): check the bucket, the credentials and the endpoint"
        )
    })?;
    let limits = Limits {
        max_rows: config.common.max_import_rows,
        ..Limits::default()
    };
    let context = Arc::new(ImportContext {
        pool: pool.clone(),
        storage,
        limits,
        upload_retention: config.upload_retention,
    });
    kpix_shared::metrics::spawn_samplers(pool.clone());
    if let Some(addr) = config.metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!(addr = %listener.local_addr()?, "metrics and probes listening");
        let probes = kpix_worker::health::router(pool.clone(), context.storage.clone(), metrics);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, probes).await {
                tracing::error!(error = %e, "the metrics and probes listener stopped");
            }
        });
    }
    // files whose retention ends between imports, and deletions that failed
    let sweeper = context.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        loop {
            every.tick().await;
            if let Err(e) = jobs::sweep_uploads::sweep(
                &sweeper.pool,
                &sweeper.storage,
                sweeper.upload_retention,
            )
            .await
            {
                tracing::warn!(error = %e, "could not look for uploaded files to delete");
            }
        }
    });

    // a dead worker's task goes back to the queue after 3 missed heartbeats
    let queue = Config::default()
        .queue(IMPORT_QUEUE)
        .batch_size(1)
        .heartbeat_interval(config.heartbeat)
        .missed_heartbeats(3);
    let (concurrency, poll_interval) = (config.concurrency, config.poll_interval);
    tracing::info!(
        concurrency,
        queue = IMPORT_QUEUE,
        "waiting for import tasks"
    );
    Monitor::new()
        .register(move |_| {
            let backend = PostgresStorage::<ImportTask>::new(&pool)
                .with_config(queue.clone())
                .with_pubsub()
                .poll_with_interval(poll_interval);
            // never reuse a name: apalis would leave a restarted worker's tasks stuck
            let name = format!(
                "kpix-worker-{}-{}",
                std::process::id(),
                uuid::Uuid::now_v7().simple()
            );
            tracing::info!(worker = %name, "worker registered");
            WorkerBuilder::new(name)
                .backend(backend)
                .data(context.clone())
                .catch_panic()
                .concurrency(concurrency)
                .parallelize(tokio::spawn)
                .build(handle)
        })
        // a lost database (a restart, a failover, a network blip) ends a
        // worker's poll: start it again, its pool reconnecting with backoff,
        // rather than stop the process as if it were done
        .should_restart(|worker, error| {
            tracing::warn!(worker = %worker.name(), error = %error, "worker stopped on an error; restarting it");
            true
        })
        .shutdown_timeout(Duration::from_secs(60))
        .run_with_signal(async {
            shutdown.await;
            tracing::info!("finishing current jobs");
            Ok(())
        })
        .await?;
    tracing::info!("kpix-worker stopped cleanly");
    Ok(())
}
