//! Logging: tracing with text or JSON output, filtered by RUST_LOG (default `info`).

use tracing_subscriber::EnvFilter;

use super::config::LogFormat;

/// Installs the global subscriber once; later calls (tests, the sandbox) are no-ops.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// The span of one reconcile: kind, namespace, name, generation, and the id of the remote
/// operation in flight (intent token or Mendix job id), so every log line inside names them.
pub fn reconcile_span<K: super::gauges::Observed>(obj: &K) -> tracing::Span {
    let meta = obj.meta();
    let span = tracing::info_span!(
        "reconcile",
        kind = K::KIND,
        namespace = meta.namespace.as_deref().unwrap_or_default(),
        name = meta.name.as_deref().unwrap_or_default(),
        generation = meta.generation.unwrap_or_default(),
        operation = tracing::field::Empty,
    );
    if let Some(id) = obj.operation().and_then(operation_id) {
        span.record("operation", id);
    }
    span
}

/// The id that names an operation in logs: its Mendix job id once known, else its intent token.
pub fn operation_id(op: &crate::crd::OperationStatus) -> Option<&str> {
    op.job_id.as_deref().or(op.intent.as_deref())
}

/// Records the operation a step just started in the current reconcile span and logs the start.
pub fn operation_started(op: &crate::crd::OperationStatus) {
    if let Some(id) = operation_id(op) {
        tracing::Span::current().record("operation", id);
    }
    tracing::info!(kind = ?op.kind, step = op.step.as_deref().unwrap_or_default(), "operation started");
}
