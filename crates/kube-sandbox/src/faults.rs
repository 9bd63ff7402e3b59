//! Kubernetes faults for tests, from a small proxy in front of the real API server: fail a
//! fraction of requests to a path with a status, add latency, answer writes with 409 Conflict,
//! and cut open watches. The proxy serves plain HTTP on loopback and forwards everything else,
//! the caller's bearer token included, to the API server over TLS, so RBAC still applies.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// What a matching request suffers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FaultAction {
    /// Answer with this HTTP status and a `Status` body instead of serving the request.
    Fail { status: u16 },
    /// Serve the request after this delay.
    Latency { millis: u64 },
    /// Answer updates and patches with 409 Conflict (as if the resourceVersion were stale).
    Conflict,
    /// Keep the request until [`Faults::release_held`] (then serve it): a client can be stopped
    /// while its write waits here.
    Hold,
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// Requests whose path contains this string are affected (`""` matches all).
    #[serde(default)]
    pub path: String,
    /// Only this HTTP method (e.g. `PUT`); all methods when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    pub action: FaultAction,
    /// Fraction of matching requests affected, 0.0–1.0 (default 1.0).
    #[serde(default = "one")]
    pub fraction: f64,
    /// Affect at most this many requests, then the fault expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

fn one() -> f64 {
    1.0
}

impl Fault {
    pub fn fail(path: &str, status: u16) -> Self {
        Fault {
            path: path.into(),
            method: None,
            action: FaultAction::Fail { status },
            fraction: 1.0,
            count: None,
        }
    }

    pub fn latency(path: &str, delay: Duration) -> Self {
        Fault {
            action: FaultAction::Latency {
                millis: delay.as_millis() as u64,
            },
            ..Fault::fail(path, 0)
        }
    }

    pub fn hold(path: &str) -> Self {
        Fault {
            action: FaultAction::Hold,
            ..Fault::fail(path, 0)
        }
    }

    pub fn conflict(path: &str) -> Self {
        Fault {
            action: FaultAction::Conflict,
            ..Fault::fail(path, 0)
        }
    }

    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    pub fn fraction(mut self, fraction: f64) -> Self {
        self.fraction = fraction;
        self
    }

    pub fn times(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }
}

/// The faults in force; a clone shares them.
#[derive(Debug, Clone)]
pub struct Faults {
    rules: Arc<Mutex<Vec<Fault>>>,
    cut: Arc<tokio::sync::watch::Sender<u64>>,
    /// Requests held now, how many releases there were, and whether the last one forwarded
    /// them.
    held: Arc<tokio::sync::watch::Sender<(usize, u64, bool)>>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            rules: Arc::default(),
            cut: Arc::new(tokio::sync::watch::channel(0).0),
            held: Arc::new(tokio::sync::watch::channel((0, 0, true)).0),
        }
    }
}

/// One held request; the count goes down when it is released or its client goes away.
struct HeldRequest<'a>(&'a Faults);

impl Drop for HeldRequest<'_> {
    fn drop(&mut self) {
        self.0
            .held
            .send_modify(|(n, _, _)| *n = n.saturating_sub(1));
    }
}

/// What the request pipeline must do for one request.
#[derive(Debug, Default)]
pub struct Verdict {
    pub delay: Duration,
    /// Keep the request until the held requests are released.
    pub hold: bool,
    /// Answer with this status (code, reason, message) instead of forwarding.
    pub error: Option<InjectedError>,
}

impl Faults {
    pub fn add(&self, fault: Fault) {
        self.lock().push(fault);
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn list(&self) -> Vec<Fault> {
        self.lock().clone()
    }

    /// Waits until at least `count` requests are held.
    pub async fn wait_held(&self, count: usize) {
        let mut held = self.held.subscribe();
        let _ = held.wait_for(|(n, _, _)| *n >= count).await;
    }

    /// Ends every hold and holds no more (the Hold rules are removed): the held requests are
    /// forwarded, or with `forward: false` answered 503 without reaching the API server (as
    /// if their client had died before they arrived).
    pub fn release_held(&self, forward: bool) {
        self.lock().retain(|r| r.action != FaultAction::Hold);
        self.held.send_modify(|(_, releases, how)| {
            *releases += 1;
            *how = forward;
        });
    }

    /// Keeps one request until the next [`Self::release_held`]; whether to forward it then.
    async fn hold(&self) -> bool {
        let mut released = self.held.subscribe();
        let release = released.borrow().1;
        self.held.send_modify(|(n, _, _)| *n += 1);
        let _held = HeldRequest(self);
        match released.wait_for(|(_, r, _)| *r != release).await {
            Ok(state) => state.2,
            Err(_) => false,
        }
    }

    /// Ends every watch that is open now (clients see the stream close and re-watch).
    pub fn cut_watches(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    fn cut_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.cut.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decides the fate of one request and uses up counted faults.
    pub fn judge(&self, method: &str, path: &str) -> Verdict {
        let mut verdict = Verdict::default();
        let mut rules = self.lock();
        let mut rng = rand::rng();
        for rule in rules.iter_mut() {
            if !path.contains(&rule.path)
                || rule
                    .method
                    .as_deref()
                    .is_some_and(|m| !m.eq_ignore_ascii_case(method))
                || rule.count == Some(0)
            {
                continue;
            }
            let is_write = matches!(method, "PUT" | "PATCH");
            if rule.action == FaultAction::Conflict && !is_write {
                continue;
            }
            if rule.fraction < 1.0 && rng.random::<f64>() >= rule.fraction {
                continue;
            }
            if let Some(n) = rule.count.as_mut() {
                *n -= 1;
            }
            match rule.action {
                FaultAction::Latency { millis } => verdict.delay += Duration::from_millis(millis),
                FaultAction::Hold => verdict.hold = true,
                FaultAction::Fail { status } if verdict.error.is_none() => {
                    verdict.error = Some(injected_failure(status));
                }
                FaultAction::Conflict if verdict.error.is_none() => {
                    verdict.error = Some(InjectedError {
                        code: 409,
                        reason: "Conflict",
                        message: "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again (injected fault)".into(),
                    });
                }
                _ => {}
            }
        }
        rules.retain(|r| r.count != Some(0));
        verdict
    }
}

/// An answer the proxy gives instead of the API server's.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectedError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
}

fn injected_failure(status: u16) -> InjectedError {
    let reason = match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        410 => "Expired",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    };
    InjectedError {
        code: status,
        reason,
        message: format!("injected fault: HTTP {status}"),
    }
}

/// The proxy: plain HTTP on a loopback port, forwarding to the API server. Stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    faults: Faults,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Upstream {
    base: String,
    http: reqwest::Client,
    faults: Faults,
}

/// Request bodies the proxy buffers (Kubernetes objects are far smaller).
const MAX_BODY: usize = 16 * 1024 * 1024;

impl FaultProxy {
    /// Starts a proxy to the API server at `upstream` (https), trusting `ca_pem`.
    pub async fn start(upstream: &str, ca_pem: &str) -> std::io::Result<Self> {
        let ca =
            reqwest::Certificate::from_pem(ca_pem.as_bytes()).map_err(std::io::Error::other)?;
        let http = reqwest::Client::builder()
            .add_root_certificate(ca)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(std::io::Error::other)?;
        let faults = Faults::default();
        let state = Upstream {
            base: upstream.trim_end_matches('/').to_string(),
            http,
            faults: faults.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new().fallback(forward).with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FaultProxy { addr, faults, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// A client configuration that goes through the proxy with `config`'s credentials.
    pub fn config_through(&self, config: &kube::Config) -> kube::Config {
        let mut through = config.clone();
        if let Ok(url) = self.url().parse() {
            through.cluster_url = url;
        }
        through
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    axum::extract::State(up): axum::extract::State<Upstream>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let method = request.method().clone();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let verdict = up.faults.judge(method.as_str(), request.uri().path());
    if !verdict.delay.is_zero() {
        tokio::time::sleep(verdict.delay).await;
    }
    if verdict.hold && !up.faults.hold().await {
        return status_response(injected_failure(503));
    }
    if let Some(error) = verdict.error {
        return status_response(error);
    }
    let is_watch = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(e) => return bad_gateway(format!("reading the request body: {e}")),
    };
    let mut headers = parts.headers;
    headers.remove(axum::http::header::HOST);
    let sent = up
        .http
        .request(method, format!("{}{path_and_query}", up.base))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => return bad_gateway(e.to_string()),
    };
    let mut response = axum::http::Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != axum::http::header::TRANSFER_ENCODING && name != axum::http::header::CONNECTION {
            response = response.header(name, value);
        }
    }
    let stream = answer.bytes_stream();
    let body = if is_watch {
        let mut cut = up.faults.cut_signal();
        axum::body::Body::from_stream(stream.take_until(async move {
            let _ = cut.changed().await;
        }))
    } else {
        axum::body::Body::from_stream(stream)
    };
    response
        .body(body)
        .unwrap_or_else(|e| bad_gateway(e.to_string()))
}

/// A `Status` body, as the API server writes its own errors.
fn status_response(error: InjectedError) -> axum::response::Response {
    let mut details = serde_json::json!({});
    if matches!(error.code, 429 | 503) {
        details["retryAfterSeconds"] = 1.into();
    }
    let body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": error.message,
        "reason": error.reason,
        "details": details,
        "code": error.code,
    });
    let mut response = axum::http::Response::builder()
        .status(error.code)
        .header(axum::http::header::CONTENT_TYPE, "application/json");
    if matches!(error.code, 429 | 503) {
        response = response.header(axum::http::header::RETRY_AFTER, "1");
    }
    response
        .body(axum::body::Body::from(body.to_string()))
        .unwrap_or_else(|e| bad_gateway(e.to_string()))
}

fn bad_gateway(message: String) -> axum::response::Response {
    let mut response = axum::response::Response::new(axum::body::Body::from(message));
    *response.status_mut() = axum::http::StatusCode::BAD_GATEWAY;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_fault_expires_and_conflict_only_hits_writes() {
        let faults = Faults::default();
        faults.add(Fault::fail("/api/v1", 503).times(1));
        faults.add(Fault::conflict("/apis/"));
        assert_eq!(
            faults.judge("GET", "/api/v1/pods").error.map(|e| e.code),
            Some(503)
        );
        assert!(faults.judge("GET", "/api/v1/pods").error.is_none());
        assert!(faults.judge("GET", "/apis/x").error.is_none());
        assert_eq!(
            faults.judge("PUT", "/apis/x").error.map(|e| e.code),
            Some(409)
        );
        assert_eq!(faults.list().len(), 1);
    }

    #[test]
    fn latency_adds_up_and_method_filters() {
        let faults = Faults::default();
        faults.add(Fault::latency("/apis/", Duration::from_millis(30)).method("get"));
        faults.add(Fault::latency("", Duration::from_millis(20)));
        assert_eq!(
            faults.judge("GET", "/apis/x").delay,
            Duration::from_millis(50)
        );
        assert_eq!(
            faults.judge("PUT", "/apis/x").delay,
            Duration::from_millis(20)
        );
        assert!(faults.judge("GET", "/apis/x").error.is_none());
        // Never for a zero fraction.
        faults.clear();
        faults.add(Fault::fail("", 500).fraction(0.0));
        assert!((0..50).all(|_| faults.judge("GET", "/api").error.is_none()));
    }

    #[test]
    fn faults_parse_from_the_http_body_form() {
        let fault: Fault = serde_json::from_value(serde_json::json!({
            "path": "/apis/mendixops.io", "method": "PUT",
            "action": {"latency": {"millis": 250}}, "fraction": 0.5, "count": 3
        }))
        .unwrap();
        assert_eq!(fault.action, FaultAction::Latency { millis: 250 });
        assert_eq!(fault.count, Some(3));
        let conflict: Fault =
            serde_json::from_value(serde_json::json!({"action": "conflict"})).unwrap();
        assert_eq!(conflict.action, FaultAction::Conflict);
        assert_eq!(conflict.fraction, 1.0);
    }
}
