//! Shared set-up of the client tests: a Mendix sandbox on loopback, a client pointed at it,
//! and an observer that records every attempt.
#![allow(dead_code)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mendix_client::{
    CloudCredentials, Mendix, MendixConfig, MendixError, Pat, RequestEvent, RetryPolicy,
};
use mendix_sandbox::demo::*;
use mendix_sandbox::{MendixSandbox, SandboxServer};

pub struct Env {
    pub sandbox: MendixSandbox,
    pub server: SandboxServer,
    pub mendix: Mendix,
    pub events: Arc<Mutex<Vec<RequestEvent>>>,
}

/// Fast retries for tests: the schedule's shape is unit-tested, here only behaviour counts.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
    }
}

pub async fn start_with(sandbox: MendixSandbox, config: MendixConfig) -> Env {
    let server = sandbox
        .serve("127.0.0.1:0".parse().expect("loopback address"))
        .await
        .expect("sandbox starts");
    let mut config = config.with_urls(
        server.cloud_v1_url().parse().expect("v1 url"),
        server.private_cloud_v4_url().parse().expect("v4 url"),
    );
    // The sandbox's download links are on loopback.
    config.download.allow_private_addresses = true;
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let mendix = Mendix::new(config)
        .expect("client builds")
        .with_observer(Arc::new(move |event: &RequestEvent| {
            sink.lock().expect("events lock").push(event.clone());
        }));
    Env {
        sandbox,
        server,
        mendix,
        events,
    }
}

/// The demo sandbox, 1000x faster than real time, and a client with fast retries.
pub async fn start() -> Env {
    let sandbox = MendixSandbox::demo();
    sandbox.set_time_scale(0.001);
    start_with(
        sandbox,
        MendixConfig {
            retry: fast_retry(),
            ..MendixConfig::default()
        },
    )
    .await
}

impl Env {
    pub fn events(&self) -> Vec<RequestEvent> {
        self.events.lock().expect("events lock").clone()
    }

    pub fn attempts(&self, operation: &str) -> usize {
        self.events()
            .iter()
            .filter(|e| e.operation == operation)
            .count()
    }
}

pub fn cloud() -> CloudCredentials {
    CloudCredentials::new(CLOUD_USERNAME, CLOUD_API_KEY)
}

pub fn pat() -> Pat {
    Pat::new(PC_PAT)
}

/// Polls `check` until it returns `Some`; the generous limit only guards against a hang.
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
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// No secret of the demo state appears in an error's Display or Debug output.
pub fn assert_no_secrets(err: &MendixError) {
    for text in [err.to_string(), format!("{err:?}")] {
        for secret in [
            CLOUD_API_KEY,
            PC_PAT,
            PC_PAT_READ_ONLY,
            "wrong-api-key-0000",
            "wrong-pat-0000",
        ] {
            assert!(!text.contains(secret), "secret leaked in {text}");
        }
    }
}

/// The id of the package uploaded as `name`, from the package list.
pub async fn uploaded_id(build: &mendix_client::cloud_v1::CloudBuild, name: &str) -> String {
    build
        .list_packages(mendix_sandbox::demo::CLOUD_APP_ID)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name.as_deref() == Some(name))
        .map(|p| p.package_id)
        .unwrap_or_else(|| panic!("package {name} listed"))
}
