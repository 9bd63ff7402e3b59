//! Serves the Mendix sandbox behind a thin layer that timestamps the first request for an
//! "armed" app: the benchmark arms an app, changes its MendixEnvironment's spec, and the layer
//! records how long the operator took to send Mendix the first request about it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::sandbox::mendix::MendixSandbox;

use super::BenchError;

#[derive(Clone, Default)]
pub struct ReactionProbe {
    inner: Arc<Mutex<Probe>>,
}

#[derive(Default)]
struct Probe {
    /// App id → when its spec change was sent.
    armed: HashMap<String, Instant>,
    /// App id → spec change to first Mendix request.
    seen: HashMap<String, Duration>,
}

impl ReactionProbe {
    fn lock(&self) -> std::sync::MutexGuard<'_, Probe> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Call right before sending the spec change of `app`.
    pub fn arm(&self, app: &str) {
        let mut probe = self.lock();
        probe.seen.remove(app);
        probe.armed.insert(app.to_string(), Instant::now());
    }

    /// The reaction time of `app`, once a request came.
    pub fn take(&self, app: &str) -> Option<Duration> {
        self.lock().seen.remove(app)
    }

    fn observe(&self, path: &str) {
        let mut segments = path.split('/');
        let app = segments
            .by_ref()
            .skip_while(|s| *s != "apps")
            .nth(1)
            .unwrap_or_default();
        let mut probe = self.lock();
        if let Some(sent) = probe.armed.remove(app) {
            probe.seen.insert(app.to_string(), sent.elapsed());
        }
    }
}

async fn observe(State(probe): State<ReactionProbe>, request: Request, next: Next) -> Response {
    probe.observe(request.uri().path());
    next.run(request).await
}

/// A running Mendix sandbox with the probe in front; dropped with the benchmark run.
pub struct ProbedServer {
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl ProbedServer {
    pub async fn start(sandbox: &MendixSandbox, probe: ReactionProbe) -> Result<Self, BenchError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| BenchError::io("binding the Mendix sandbox".into(), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| BenchError::io("binding the Mendix sandbox".into(), e))?;
        let app = sandbox
            .router()
            .layer(axum::middleware::from_fn_with_state(probe, observe));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, task })
    }

    pub fn cloud_v1_url(&self) -> String {
        format!("http://{}/api/1", self.addr)
    }

    pub fn private_cloud_v4_url(&self) -> String {
        format!("http://{}/api/v4", self.addr)
    }
}

impl Drop for ProbedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_request_of_an_armed_app_is_timed() {
        let probe = ReactionProbe::default();
        probe.observe("/api/1/apps/a/environments/Test");
        assert_eq!(probe.take("a"), None, "not armed");
        probe.arm("a");
        probe.observe("/api/1/apps/b/environments/Test");
        assert_eq!(probe.take("a"), None, "another app");
        probe.observe("/api/1/apps/a/environments/Test/package");
        assert!(probe.take("a").is_some());
        probe.observe("/api/1/apps/a/environments/Test");
        assert_eq!(probe.take("a"), None, "disarmed after the first request");
    }
}
