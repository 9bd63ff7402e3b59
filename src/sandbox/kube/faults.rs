//! Fault injection for tests: fail a fraction of requests to a path with a status, add
//! latency, force 409 Conflict on writes, and cut open watches. Used from Rust through
//! [`Faults`] or over HTTP at `/_sandbox/faults` (GET lists, POST adds, DELETE clears,
//! `POST /_sandbox/faults/cut-watches` ends every open watch).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::status::ApiError;

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
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            rules: Arc::default(),
            cut: Arc::new(tokio::sync::watch::channel(0).0),
        }
    }
}

/// What the request pipeline must do for one request.
#[derive(Debug, Default)]
pub struct Verdict {
    pub delay: Duration,
    pub error: Option<ApiError>,
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

    /// Ends every watch that is open now (clients see the stream close and re-watch).
    pub fn cut_watches(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    pub(crate) fn cut_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.cut.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decides the fate of one request and uses up counted faults.
    pub(crate) fn judge(&self, method: &str, path: &str) -> Verdict {
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
                FaultAction::Fail { status } if verdict.error.is_none() => {
                    verdict.error = Some(injected_failure(status));
                }
                FaultAction::Conflict if verdict.error.is_none() => {
                    verdict.error = Some(ApiError::new(
                        409,
                        "Conflict",
                        "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again (injected fault)",
                    ));
                }
                _ => {}
            }
        }
        rules.retain(|r| r.count != Some(0));
        verdict
    }
}

fn injected_failure(status: u16) -> ApiError {
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
    let mut err = ApiError::new(status, reason, format!("injected fault: HTTP {status}"));
    if status == 429 || status == 503 {
        err.details.retry_after_seconds = Some(1);
    }
    err
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
