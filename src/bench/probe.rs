//! Serves the Mendix sandbox behind a thin layer that timestamps the first request for an
//! "armed" app: the benchmark arms an app, changes its MendixEnvironment's spec, and the layer
//! records how long the operator took to send Mendix the first request about it. The layer
//! also keeps a timeline of a round's requests (steps, start requests, start polls), which
//! shows where a round's time went.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use mendix_sandbox::MendixSandbox;

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
    /// Since when the timeline counts, and what came when.
    timeline_from: Option<Instant>,
    timeline: Vec<(Duration, RequestClass)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestClass {
    Step,
    Start,
    StartPoll,
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

    /// Starts a new timeline of requests.
    pub fn start_timeline(&self) {
        let mut probe = self.lock();
        probe.timeline.clear();
        probe.timeline_from = Some(Instant::now());
    }

    /// The timeline so far, in windows of `window`: "0-5 s: 960 steps, 40 starts, 3 polls; …".
    pub fn timeline(&self, window: Duration) -> String {
        let probe = self.lock();
        let mut windows: Vec<[u64; 3]> = Vec::new();
        for (at, class) in &probe.timeline {
            let index = (at.as_secs_f64() / window.as_secs_f64().max(0.001)) as usize;
            if windows.len() <= index {
                windows.resize(index + 1, [0; 3]);
            }
            windows[index][*class as usize] += 1;
        }
        let secs = window.as_secs_f64();
        windows
            .iter()
            .enumerate()
            .map(|(i, [steps, starts, polls])| {
                format!(
                    "{:.0}-{:.0} s: {steps} steps, {starts} starts, {polls} polls",
                    i as f64 * secs,
                    (i + 1) as f64 * secs
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn observe(&self, method: &axum::http::Method, path: &str) {
        let mut probe = self.lock();
        if let Some(from) = probe.timeline_from {
            let is_start = path.ends_with("/start");
            let class = if path.contains("/start/") {
                RequestClass::StartPoll
            } else if is_start && method == axum::http::Method::POST {
                RequestClass::Start
            } else {
                RequestClass::Step
            };
            probe.timeline.push((from.elapsed(), class));
        }
        drop(probe);
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
    probe.observe(request.method(), request.uri().path());
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
        probe.observe(&axum::http::Method::GET, "/api/1/apps/a/environments/Test");
        assert_eq!(probe.take("a"), None, "not armed");
        probe.arm("a");
        probe.observe(&axum::http::Method::GET, "/api/1/apps/b/environments/Test");
        assert_eq!(probe.take("a"), None, "another app");
        probe.observe(
            &axum::http::Method::GET,
            "/api/1/apps/a/environments/Test/package",
        );
        assert!(probe.take("a").is_some());
        probe.observe(&axum::http::Method::GET, "/api/1/apps/a/environments/Test");
        assert_eq!(probe.take("a"), None, "disarmed after the first request");
    }

    #[test]
    fn the_timeline_counts_steps_starts_and_polls_per_window() {
        let probe = ReactionProbe::default();
        probe.observe(&axum::http::Method::GET, "/api/1/apps/a/environments/Test");
        probe.start_timeline();
        probe.observe(&axum::http::Method::GET, "/api/1/apps/a/environments/Test");
        probe.observe(
            &axum::http::Method::POST,
            "/api/1/apps/a/environments/Test/start",
        );
        probe.observe(
            &axum::http::Method::GET,
            "/api/1/apps/a/environments/Test/start/j-1",
        );
        assert_eq!(
            probe.timeline(Duration::from_secs(5)),
            "0-5 s: 1 steps, 1 starts, 1 polls"
        );
    }
}
