//! `kpix-api` entry point: read settings, migrate, serve.
use kpix_shared::{config::ApiConfig, telemetry};

// glibc's malloc spent a tenth of the API's time per request and kept the
// memory of burst allocations (argon2's 19 MiB per login) in its arenas
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = match ApiConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("kpix-api: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let _telemetry = match telemetry::init(
        config.common.log_format,
        config.common.otel_endpoint.as_deref(),
        "kpix-api",
    ) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("kpix-api: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "kpix-api stopped");
            // also where an operator looks first when a process will not start
            eprintln!("kpix-api: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: ApiConfig) -> anyhow::Result<()> {
    let mut shutdown = Box::pin(kpix_shared::signal::shutdown()?);
    let metrics = kpix_shared::metrics::install_recorder()?;
    let (bind_addr, metrics_addr) = (config.bind_addr, config.metrics_addr);
    let header_read_timeout = config.header_read_timeout;
    tracing::info!(config = ?config, "starting kpix-api");
    // SIGTERM during start-up (migrations) stops the process cleanly
    let state = tokio::select! {
        state = kpix_api::build_state(config, Some(metrics)) => state?,
        () = &mut shutdown => {
            tracing::info!("stopped during start-up");
            return Ok(());
        }
    };
    // one signal stops both listeners
    let (stop, stopped) = tokio::sync::watch::channel(());
    let when_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            // an error is the sender dropped: stopping as well
            let _ = stopped.changed().await;
        }
    };
    let metrics_server = match metrics_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            tracing::info!(addr = %listener.local_addr()?, "metrics listening");
            Some(tokio::spawn(kpix_api::serve_metrics(
                listener,
                state.clone(),
                when_stopped(),
            )))
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(bind_addr).await?;
    // the real address (port 0 picks one): tests and scripts read this line
    tracing::info!(addr = %listener.local_addr()?, "listening");
    let router = kpix_api::build_router(state);
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("draining requests");
        let _ = stop.send(());
    });
    kpix_api::serve(listener, router, header_read_timeout, when_stopped()).await?;
    if let Some(server) = metrics_server {
        server.await??;
    }
    tracing::info!("kpix-api stopped cleanly");
    Ok(())
}
