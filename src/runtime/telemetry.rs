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
