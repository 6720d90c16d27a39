//! Structured logging: JSON lines (default) or pretty output, filtered by
//! `RUST_LOG`; and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, traces
//! exported over OTLP/HTTP.
use std::collections::HashMap;

use opentelemetry::{propagation::TextMapPropagator, trace::TracerProvider as _};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, Layer, fmt, prelude::*};

use crate::config::{ConfigError, LogFormat};

const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// Keeps the trace exporter alive; dropping it flushes pending spans.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("telemetry: flushing traces failed: {e}");
        }
    }
}

/// Installs the global subscriber; call once at process start. An invalid
/// `RUST_LOG` or exporter setting is an error, not silently replaced.
pub fn init(
    format: LogFormat,
    otel_endpoint: Option<&str>,
    service: &'static str,
) -> Result<Telemetry, ConfigError> {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| DEFAULT_FILTER.to_owned());
    let filter = EnvFilter::try_new(&directives).map_err(|e| ConfigError {
        name: "RUST_LOG",
        reason: e.to_string(),
    })?;
    let output = match format {
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Pretty => fmt::layer().boxed(),
    };
    let provider = otel_endpoint
        .map(|endpoint| tracer_provider(endpoint, service))
        .transpose()?;
    let traces = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service)));
    tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .with(traces)
        .init();
    Ok(Telemetry { provider })
}

/// The exporter reads `OTEL_EXPORTER_OTLP_ENDPOINT` (and the other standard
/// `OTEL_*` variables) itself and posts to `<endpoint>/v1/traces`.
fn tracer_provider(
    endpoint: &str,
    service: &'static str,
) -> Result<SdkTracerProvider, ConfigError> {
    let invalid = |reason: String| ConfigError {
        name: "OTEL_EXPORTER_OTLP_ENDPOINT",
        reason,
    };
    url::Url::parse(endpoint).map_err(|e| invalid(format!("'{endpoint}' is not a URL: {e}")))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| invalid(e.to_string()))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service).build())
        .build())
}

/// The W3C `traceparent` of the current span, to carry a trace into a queued
/// task; `None` while traces are not exported.
pub fn current_traceparent() -> Option<String> {
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&tracing::Span::current().context(), &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` a child of the span a W3C `traceparent` names (an incoming
/// request's header, a task's stored context). A value that is not a
/// `traceparent` starts no trace of its own: the span stays a root.
pub fn continue_trace(span: &tracing::Span, traceparent: &str) {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    if let Err(e) = span.set_parent(parent) {
        // spans not exported (no OTLP endpoint) have no parent to set
        tracing::debug!(error = %e, "trace context not attached");
    }
}
