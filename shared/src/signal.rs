//! The signal that stops a process: SIGTERM (what Kubernetes and compose
//! send) or Ctrl-C.
use std::future::Future;

/// Registers for SIGTERM now, so a signal during start-up is not lost; the
/// future completes on the first of SIGTERM and Ctrl-C.
pub fn shutdown() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            result = tokio::signal::ctrl_c() => {
                if let Err(e) = result {
                    tracing::error!(error = %e, "cannot listen for Ctrl-C; waiting for SIGTERM");
                    terminate.recv().await;
                }
            }
            _ = terminate.recv() => {}
        }
        tracing::info!("shutdown signal received");
    })
}
