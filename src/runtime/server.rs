//! The metrics and health endpoint: `/metrics` (OpenMetrics), `/healthz` (the process serves),
//! `/readyz` (caches synced; a standby replica is ready but not leading).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::Metrics;

/// Health flags shared between the runtime and the endpoint.
#[derive(Default)]
pub struct Health {
    leading: AtomicBool,
    caches_synced: AtomicBool,
}

impl Health {
    pub fn set_leading(&self, leading: bool) {
        self.leading.store(leading, Ordering::SeqCst);
    }
    pub fn set_caches_synced(&self, synced: bool) {
        self.caches_synced.store(synced, Ordering::SeqCst);
    }
    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }
    /// Ready when the leader's caches are synced, or when standing by.
    pub fn is_ready(&self) -> bool {
        !self.is_leading() || self.caches_synced.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct EndpointState {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

pub fn router(metrics: Arc<Metrics>, health: Arc<Health>) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(serve_ready))
        .with_state(EndpointState { metrics, health })
}

async fn serve_metrics(State(state): State<EndpointState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

async fn serve_ready(State(state): State<EndpointState>) -> impl IntoResponse {
    match (state.health.is_ready(), state.health.is_leading()) {
        (true, true) => (StatusCode::OK, "ready: leading"),
        (true, false) => (StatusCode::OK, "ready: standby"),
        (false, _) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: caches are syncing",
        ),
    }
}

/// Binds the endpoint and serves it in the background; returns the bound address.
pub async fn spawn(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(metrics, health);
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(error = %err, "metrics endpoint stopped");
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standby_is_ready_and_leader_waits_for_caches() {
        let h = Health::default();
        assert!(h.is_ready(), "a standby is ready");
        h.set_leading(true);
        assert!(!h.is_ready(), "a new leader waits for its caches");
        h.set_caches_synced(true);
        assert!(h.is_ready());
    }
}
