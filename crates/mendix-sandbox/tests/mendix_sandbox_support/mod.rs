//! Shared helpers for the Mendix sandbox tests: a running sandbox and plain reqwest calls.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use mendix_sandbox::{MendixSandbox, SandboxServer, demo};
use reqwest::{Method, RequestBuilder};
use serde_json::Value;

pub struct Sandbox {
    pub sandbox: MendixSandbox,
    pub server: SandboxServer,
    pub http: reqwest::Client,
}

/// The demo state, 100x slower than real time, so that nothing moves on its own during a
/// test; tests move the clock with `advance`.
pub async fn start() -> Sandbox {
    start_with(MendixSandbox::demo(), 100.0).await
}

pub async fn start_with(sandbox: MendixSandbox, time_scale: f64) -> Sandbox {
    let _ = rustls::crypto::ring::default_provider().install_default();
    sandbox.set_time_scale(time_scale);
    let server = sandbox
        .serve("127.0.0.1:0".parse().expect("loopback address"))
        .await
        .expect("sandbox listens");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client");
    Sandbox {
        sandbox,
        server,
        http,
    }
}

impl Sandbox {
    /// A v1 request with the demo user's credentials; `path` is below `/api/1`.
    pub fn v1(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.server.cloud_v1_url()))
            .header("Mendix-Username", demo::CLOUD_USERNAME)
            .header("Mendix-ApiKey", demo::CLOUD_API_KEY)
    }

    /// A v4 request with `pat`; `path` is below `/api/v4`.
    pub fn v4_with(&self, pat: &str, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(
                method,
                format!("{}{path}", self.server.private_cloud_v4_url()),
            )
            .header("Authorization", format!("MxToken {pat}"))
    }

    /// A v4 request with the all-scopes PAT.
    pub fn v4(&self, method: Method, path: &str) -> RequestBuilder {
        self.v4_with(demo::PC_PAT, method, path)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    /// Move the sandbox clock (real seconds at the current time scale).
    pub fn advance(&self, seconds: u64) {
        self.sandbox.advance_time(Duration::from_secs(seconds));
    }
}

/// Send and return status and JSON body (Null when the body is empty or not JSON).
pub async fn call(request: RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request reaches the sandbox");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Assert a v1 error answer: status, `errorCode`, and a non-empty `errorMessage`.
pub fn assert_v1_error(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "status of {:?}", answer.1);
    assert_eq!(answer.1["errorCode"], code, "errorCode of {:?}", answer.1);
    assert!(
        answer.1["errorMessage"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "errorMessage of {:?}",
        answer.1
    );
    let keys: Vec<&String> = answer.1.as_object().expect("object").keys().collect();
    assert_eq!(
        keys.len(),
        2,
        "only errorCode and errorMessage: {:?}",
        answer.1
    );
}

/// Assert a v4 error answer: status and `error.code`/`error.message`.
pub fn assert_v4_error(answer: &(u16, Value), status: u16) {
    assert_eq!(answer.0, status, "status of {:?}", answer.1);
    assert_eq!(
        answer.1["error"]["code"], status,
        "error.code of {:?}",
        answer.1
    );
    assert!(answer.1["error"]["message"].is_string(), "{:?}", answer.1);
}

/// Poll `check` until it returns Some; the timeout only guards against a hang.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
pub mod contract;
