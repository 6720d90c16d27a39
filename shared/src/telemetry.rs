//! Structured logging: JSON lines (default) or pretty output, filtered by `RUST_LOG`.
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// Installs the global subscriber; call once at process start. An invalid
/// `RUST_LOG` is an error, not silently replaced.
pub fn init(format: LogFormat) -> Result<(), crate::config::ConfigError> {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| DEFAULT_FILTER.to_owned());
    let filter = EnvFilter::try_new(&directives).map_err(|e| crate::config::ConfigError {
        name: "RUST_LOG",
        reason: e.to_string(),
    })?;
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .init(),
        LogFormat::Pretty => registry.with(fmt::layer()).init(),
    }
    Ok(())
}
