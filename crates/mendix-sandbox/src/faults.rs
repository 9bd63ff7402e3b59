//! Injected faults: per operation, an error status with a rate, latency, bursts of 429 with
//! `Retry-After`, malformed bodies and dropped connections. Set with `POST /_sim/faults` or
//! [`super::MendixSandbox::add_fault`]; cleared with `DELETE /_sim/faults` or
//! [`super::MendixSandbox::clear_faults`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One injected fault. `operation` is an operation name from the module docs, or `*` for all.
/// The fault fires with probability `rate` (0.0–1.0, default 1.0) and, when `times` is set, at
/// most that many times (then it is spent and removed).
///
/// JSON form (for `POST /_sim/faults`):
/// `{"operation": "v1_transport", "kind": {"type": "error", "status": 500}, "rate": 0.5}`,
/// `{"operation": "*", "kind": {"type": "tooManyRequests", "retryAfterSeconds": 1}, "times": 3}`,
/// `{"operation": "get_job", "kind": {"type": "latency", "millis": 200}}`,
/// `{"operation": "v1_get_package", "kind": {"type": "malformedBody"}}`,
/// `{"operation": "v1_list_apps", "kind": {"type": "dropConnection"}, "times": 1}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fault {
    pub operation: String,
    pub kind: FaultKind,
    #[serde(default = "always")]
    pub rate: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

fn always() -> f64 {
    1.0
}

/// What a fault does to a matching request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum FaultKind {
    /// Answer with this status and an error body in the API's own format. `errorCode` is the
    /// v1 `errorCode` (default `SIMULATED_FAULT`); v4 bodies carry the status as `code`.
    #[serde(rename_all = "camelCase")]
    Error {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_code: Option<String>,
    },
    /// Delay the request by this many milliseconds (scaled by the time scale), then serve it.
    Latency { millis: u64 },
    /// Answer 429 with `Retry-After: retryAfterSeconds`. Use `times` for a burst.
    #[serde(rename_all = "camelCase")]
    TooManyRequests { retry_after_seconds: u64 },
    /// Serve the request (state changes happen) but send a body that is not valid JSON.
    MalformedBody,
    /// Close the connection without an answer (the request is not served).
    DropConnection,
    /// Serve the request (state changes happen) but answer with this JSON body, e.g. a scale
    /// answer that differs from the request.
    AnswerBody { body: serde_json::Value },
}

impl Fault {
    fn new(operation: &str, kind: FaultKind) -> Self {
        Fault {
            operation: operation.to_string(),
            kind,
            rate: 1.0,
            times: None,
        }
    }

    /// Answer `status` with the API's error body for `operation` (`*` for all operations).
    pub fn error(operation: &str, status: u16) -> Self {
        Self::new(
            operation,
            FaultKind::Error {
                status,
                error_code: None,
            },
        )
    }

    /// Answer `status` with this v1 `errorCode`.
    pub fn error_code(operation: &str, status: u16, error_code: &str) -> Self {
        Self::new(
            operation,
            FaultKind::Error {
                status,
                error_code: Some(error_code.to_string()),
            },
        )
    }

    /// Delay matching requests.
    pub fn latency(operation: &str, delay: Duration) -> Self {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        Self::new(operation, FaultKind::Latency { millis })
    }

    /// A burst of `burst` answers 429 with `Retry-After: retry_after_seconds`.
    pub fn too_many_requests(operation: &str, burst: u32, retry_after_seconds: u64) -> Self {
        Self::new(
            operation,
            FaultKind::TooManyRequests {
                retry_after_seconds,
            },
        )
        .times(burst)
    }

    /// Serve the request but send a body that is not valid JSON.
    pub fn malformed_body(operation: &str) -> Self {
        Self::new(operation, FaultKind::MalformedBody)
    }

    /// Close the connection without an answer.
    pub fn drop_connection(operation: &str) -> Self {
        Self::new(operation, FaultKind::DropConnection)
    }

    /// Serve the request but answer with `body`.
    pub fn answer_body(operation: &str, body: serde_json::Value) -> Self {
        Self::new(operation, FaultKind::AnswerBody { body })
    }

    /// Fire with this probability (0.0–1.0).
    pub fn rate(mut self, rate: f64) -> Self {
        self.rate = rate;
        self
    }

    /// Fire at most `times` times.
    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }
}
