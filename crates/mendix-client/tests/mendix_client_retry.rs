//! Retry behaviour against the Mendix sandbox's fault injection: transient errors are retried
//! and then succeed, terminal ones are not retried, unsafe requests are retried only when Mendix
//! certainly did not act, `Retry-After` is honoured, timeouts are typed, and no error shows a
//! secret.

mod mendix_client_support;

use std::time::{Duration, Instant};

use mendix_client::cloud_v1::types::BuildRequest;
use mendix_client::{AttemptOutcome, ErrorClass, MendixConfig, MendixError, RetryPolicy};
use mendix_client_support::*;
use mendix_sandbox::demo::*;
use mendix_sandbox::{Fault, MendixSandbox};

fn build_request() -> BuildRequest {
    BuildRequest {
        branch: GOOD_BRANCH.into(),
        revision: GOOD_REVISION.into(),
        version: "4.0.0".into(),
        description: "retry test".into(),
    }
}

#[tokio::test]
async fn transient_errors_are_retried_then_succeed() {
    let env = start().await;
    env.sandbox
        .add_fault(Fault::error("v1_list_apps", 503).times(2));
    env.sandbox
        .add_fault(Fault::error("list_deployment_packages", 502).times(1));
    let apps = env.mendix.cloud_deploy(&cloud()).list_apps().await.unwrap();
    assert!(!apps.is_empty());
    assert_eq!(env.sandbox.stats().count("v1_list_apps"), 3);
    let events: Vec<_> = env
        .events()
        .into_iter()
        .filter(|e| e.operation == "list_apps")
        .collect();
    let outcomes: Vec<_> = events
        .iter()
        .map(|e| (e.attempt, e.outcome, e.will_retry))
        .collect();
    assert_eq!(
        outcomes,
        [
            (1, AttemptOutcome::Status(503), true),
            (2, AttemptOutcome::Status(503), true),
            (3, AttemptOutcome::Status(200), false)
        ]
    );
    env.mendix
        .pc_build(&pat())
        .list_packages(PC_APP_ID)
        .await
        .unwrap();
    assert_eq!(env.sandbox.stats().count("list_deployment_packages"), 2);
}

#[tokio::test]
async fn retries_give_up_after_the_last_attempt() {
    let env = start().await;
    env.sandbox.add_fault(Fault::error("v1_get_app", 500));
    let err = env
        .mendix
        .cloud_deploy(&cloud())
        .get_app(CLOUD_APP_ID)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(err.status().map(|s| s.as_u16()), Some(500));
    assert_eq!(err.metric_label(), "http_500");
    assert_eq!(env.sandbox.stats().count("v1_get_app"), 4, "max_attempts");
    assert_no_secrets(&err);
}

#[tokio::test]
async fn terminal_errors_are_not_retried() {
    let env = start().await;
    env.sandbox
        .add_fault(Fault::error_code("v1_get_app", 400, "INVALID_APPID"));
    let err = env
        .mendix
        .cloud_deploy(&cloud())
        .get_app(CLOUD_APP_ID)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Terminal);
    assert_eq!(err.code(), Some("INVALID_APPID"));
    assert_eq!(err.metric_label(), "invalid_appid");
    assert_eq!(env.sandbox.stats().count("v1_get_app"), 1);
    // State conflicts go back to the caller at once, too.
    env.sandbox
        .add_fault(Fault::error_code("v1_transport", 403, "APP_IS_RUNNING"));
    let err = env
        .mendix
        .cloud_deploy(&cloud())
        .transport(CLOUD_APP_ID, "Test", CLOUD_EXISTING_PACKAGE_ID)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::StateConflict);
    assert_eq!(env.sandbox.stats().count("v1_transport"), 1);
}

#[tokio::test]
async fn unsafe_requests_are_retried_only_when_mendix_did_not_act() {
    let env = start().await;
    let build = env.mendix.cloud_build(&cloud());
    // A 502 may come after the build started: a retry could start a second one.
    env.sandbox
        .add_fault(Fault::error("v1_build_package", 502).times(1));
    let err = build
        .start_build(CLOUD_APP_ID, &build_request())
        .await
        .unwrap_err();
    assert_eq!(
        err.class(),
        ErrorClass::Transient,
        "the caller may still retry later"
    );
    assert!(err.outcome_unknown());
    assert_eq!(env.sandbox.stats().count("v1_build_package"), 1);
    // A 429 means the request was refused: safe to send again.
    env.sandbox
        .add_fault(Fault::too_many_requests("v1_build_package", 1, 0));
    build
        .start_build(CLOUD_APP_ID, &build_request())
        .await
        .unwrap();
    assert_eq!(env.sandbox.stats().count("v1_build_package"), 3);
    // A dropped connection is ambiguous for a POST...
    env.sandbox
        .add_fault(Fault::drop_connection("v1_build_package").times(1));
    let err = build
        .start_build(CLOUD_APP_ID, &build_request())
        .await
        .unwrap_err();
    assert!(matches!(err, MendixError::Connection { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(
        err.outcome_unknown(),
        "the build may have started: look before retrying"
    );
    assert_eq!(env.sandbox.stats().count("v1_build_package"), 4);
    // ...but not for a GET.
    env.sandbox
        .add_fault(Fault::drop_connection("v1_list_packages").times(1));
    build.list_packages(CLOUD_APP_ID).await.unwrap();
    assert_eq!(env.sandbox.stats().count("v1_list_packages"), 2);
}

#[tokio::test]
async fn malformed_bodies_are_decode_errors_retried_for_reads() {
    let env = start().await;
    env.sandbox
        .add_fault(Fault::malformed_body("v1_list_environments").times(1));
    let environments = env
        .mendix
        .cloud_deploy(&cloud())
        .list_environments(CLOUD_APP_ID)
        .await
        .unwrap();
    assert_eq!(environments.len(), 3);
    assert_eq!(env.sandbox.stats().count("v1_list_environments"), 2);
    let decode = env
        .events()
        .into_iter()
        .find(|e| e.outcome == AttemptOutcome::Decode)
        .expect("the malformed answer was observed");
    assert!(decode.will_retry);

    env.sandbox
        .add_fault(Fault::malformed_body("get_app_manifest"));
    let err = env
        .mendix
        .pc_deploy(&pat())
        .get_app(PC_APP_ID)
        .await
        .unwrap_err();
    assert!(matches!(err, MendixError::Decode { .. }), "{err}");
    assert_eq!(err.metric_label(), "decode");
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let env = start().await;
    env.sandbox
        .add_fault(Fault::too_many_requests("get_job", 1, 1));
    let deploy = env.mendix.pc_deploy(&pat());
    let started = Instant::now();
    let err = deploy
        .get_job("00000000-0000-4000-8000-000000000000")
        .await
        .unwrap_err();
    // After the 429 the retry reached the sandbox and got the real answer (404).
    assert!(err.is_not_found(), "{err}");
    assert_eq!(env.sandbox.stats().count("get_job"), 2);
    // A lower bound only: waiting at least Retry-After is the point.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // A Retry-After beyond the policy's limit is handed to the caller instead of waited for.
    env.sandbox
        .add_fault(Fault::too_many_requests("get_job", 1, 120));
    let err = deploy
        .get_job("00000000-0000-4000-8000-000000000000")
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(429));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(env.sandbox.stats().count("get_job"), 3);
}

#[tokio::test]
async fn every_request_has_a_timeout() {
    let sandbox = MendixSandbox::demo();
    // Latency faults are scaled by the time scale: keep real time here.
    sandbox.set_time_scale(1.0);
    let env = start_with(
        sandbox,
        MendixConfig {
            retry: RetryPolicy::none(),
            request_timeout: Duration::from_millis(300),
            ..MendixConfig::default()
        },
    )
    .await;
    env.sandbox
        .add_fault(Fault::latency("v1_get_app", Duration::from_secs(30)));
    let err = env
        .mendix
        .cloud_deploy(&cloud())
        .get_app(CLOUD_APP_ID)
        .await
        .unwrap_err();
    assert!(matches!(err, MendixError::Timeout { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(err.metric_label(), "timeout");
    assert_no_secrets(&err);
}

#[tokio::test]
async fn connection_refused_is_transient_and_secret_free() {
    // A port with nothing listening: bind, note the port, close.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = MendixConfig {
        retry: RetryPolicy {
            max_attempts: 2,
            ..fast_retry()
        },
        ..MendixConfig::default()
    }
    .with_urls(
        format!("http://127.0.0.1:{port}/api/1").parse().unwrap(),
        format!("http://127.0.0.1:{port}/api/v4").parse().unwrap(),
    );
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = attempts.clone();
    let mendix = mendix_client::Mendix::new(config)
        .unwrap()
        .with_observer(std::sync::Arc::new(
            move |_: &mendix_client::RequestEvent| {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            },
        ));
    let err = mendix
        .cloud_build(&cloud())
        .start_build(CLOUD_APP_ID, &build_request())
        .await
        .unwrap_err();
    assert!(
        matches!(err, MendixError::Connection { not_sent: true, .. }),
        "{err}"
    );
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_no_secrets(&err);
    // A refused connection proves Mendix never saw the build: even the POST was retried.
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 2);
    let err = mendix.pc_deploy(&pat()).list_apps().await.unwrap_err();
    assert_no_secrets(&err);
}

#[tokio::test]
async fn https_uses_rustls_and_a_failed_handshake_is_a_connection_error() {
    // The sandbox speaks plain HTTP: an https:// base URL makes the TLS handshake fail, which
    // proves the rustls stack (with ring) is set up and maps failures without panicking.
    let env = start().await;
    let https_v1 = env.server.cloud_v1_url().replacen("http://", "https://", 1);
    let config = MendixConfig {
        retry: RetryPolicy::none(),
        ..MendixConfig::default()
    }
    .with_urls(
        https_v1.parse().unwrap(),
        env.server.private_cloud_v4_url().parse().unwrap(),
    );
    let mendix = mendix_client::Mendix::new(config).unwrap();
    let err = mendix.cloud_deploy(&cloud()).list_apps().await.unwrap_err();
    assert!(matches!(err, MendixError::Connection { .. }), "{err}");
    assert_no_secrets(&err);
    assert_eq!(
        env.sandbox.stats().count("v1_list_apps"),
        0,
        "nothing reached the API"
    );
}
