//! MendixEnvironment controller end to end, on both platforms: the operator against the
//! real control plane and the Mendix sandbox over loopback HTTP.

use kube::api::{Patch, PatchParams};
use mendix_operator::crd::{MendixEnvironment, MendixPackage};
use mendix_sandbox::{Fault, FaultKind, demo};
use mendix_testkit::resources::{cloud_env, cloud_env_deployed, pc_env, pc_env_deployed};
use mendix_testkit::*;
use serde_json::json;

async fn patch_spec(h: &Harness, name: &str, spec: serde_json::Value) {
    h.environments()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": spec})),
        )
        .await
        .expect("spec patched");
}

async fn annotate(h: &Harness, name: &str, key: &str, value: &str) {
    h.environments()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"annotations": {key: value}}})),
        )
        .await
        .expect("annotated");
}

fn deployed(e: &MendixEnvironment) -> Option<String> {
    e.status
        .as_ref()
        .and_then(|s| s.deployed_package_id.clone())
}

fn stalled_reason(e: &MendixEnvironment) -> String {
    e.status
        .as_ref()
        .and_then(|s| condition(&s.conditions, "Stalled"))
        .map(|c| c.reason.clone())
        .unwrap_or_default()
}

/// Completed transports, starts and stops as the sandbox counts them (requests Mendix refused,
/// such as a 503 while a fresh package is processed, are not in these).
fn cloud_done(h: &Harness, mode: &str, what: &str) -> u64 {
    h.cloud_env_state(mode)[what].as_u64().unwrap_or(0)
}

fn env_count(h: &Harness, env: &str, op: &str) -> u64 {
    let app = if op.starts_with("v1_") {
        demo::CLOUD_APP_ID
    } else {
        demo::PC_APP_ID
    };
    h.mendix.stats().environment_count(app, env, op)
}

#[tokio::test]
async fn mendix_cloud_first_deploy_then_upgrade_costs_one_cycle_each() {
    let h = Harness::started().await;
    h.create::<MendixPackage>(&cloud_build("calc-2-0-0", demo::GOOD_REVISION, "2.0.0"))
        .await;
    h.create::<MendixEnvironment>(&cloud_env(
        "calc-test",
        "Test",
        "calc-2-0-0",
        "  instances: 1\n  memoryPerInstance: 1024\n  constants: [{name: MyFirstModule.ApiUrl, value: 'https://v2.example.com'}]\n  scheduledEvents: [{name: MyFirstModule.Monitor_Scheduled_event, enabled: true}]\n  tags: [team-calc]\n",
    ))
    .await;
    let e = h.wait_environment("calc-test", environment_ready).await;
    let pkg = h
        .packages()
        .get("calc-2-0-0")
        .await
        .expect("package")
        .status
        .and_then(|s| s.package_id)
        .expect("package id");
    assert_eq!(deployed(&e), Some(pkg.clone()));
    let status = e.status.clone().expect("status");
    assert_eq!(status.deployed_version.as_deref(), Some("2.0.0"));
    assert_eq!(
        status.phase,
        Some(mendix_operator::crd::environment::EnvironmentPhase::Running)
    );
    assert!(status.url.is_some());
    let remote = h.cloud_env_state("Test");
    assert_eq!(remote["status"], "Running", "{remote}");
    assert_eq!(cloud_done(&h, "Test", "transports"), 1);
    assert_eq!(cloud_done(&h, "Test", "starts"), 1);
    assert_eq!(cloud_done(&h, "Test", "stops"), 0, "it was stopped already");
    assert_eq!(env_count(&h, "Test", "v1_create_tag"), 1);

    // Upgrade: a new package and a new constant cost one stop/start cycle together.
    h.create::<MendixPackage>(&cloud_build("calc-2-1-0", demo::GOOD_REVISION, "2.1.0"))
        .await;
    patch_spec(&h, "calc-test", json!({"packageRef": {"name": "calc-2-1-0"}, "constants": [{"name": "MyFirstModule.ApiUrl", "value": "https://v21.example.com"}]})).await;
    let e = h
        .wait_environment("calc-test", environment_runs("2.1.0"))
        .await;
    assert_ne!(deployed(&e), Some(pkg));
    assert_eq!(cloud_done(&h, "Test", "stops"), 1);
    assert_eq!(cloud_done(&h, "Test", "transports"), 2);
    assert_eq!(cloud_done(&h, "Test", "starts"), 2);
    let remote = h.cloud_env_state("Test");
    assert_eq!(remote["status"], "Running");
    assert!(remote.to_string().contains("https://v21.example.com"));
}

/// Mendix Cloud requests of one environment, by operation, as the sandbox counted them.
fn cloud_requests(h: &Harness, mode: &str) -> std::collections::BTreeMap<&'static str, u64> {
    [
        "v1_get_environment",
        "v1_get_environment_package",
        "v1_get_settings",
        "v1_stop_environment",
        "v1_transport",
        "v1_start_environment",
        "v1_get_start_status",
    ]
    .into_iter()
    .map(|op| (op, env_count(h, mode, op)))
    .collect()
}

type Requests = std::collections::BTreeMap<&'static str, u64>;

/// The requests of each operation between two [`cloud_requests`] counts.
fn requests_since(before: &Requests, after: &Requests) -> Requests {
    after
        .iter()
        .map(|(op, n)| (*op, n - before.get(op).copied().unwrap_or(0)))
        .collect()
}

/// An operator whose resync does not come during the test, so that every request counted is
/// part of a deploy, and MendixPackages `calc-1` (1.0.0) and `calc-2` (2.0.0) built.
async fn counting_harness() -> Harness {
    let mut h = Harness::new().await;
    let mut config = h.config();
    config.resync_period = std::time::Duration::from_secs(600);
    h.start_operator_with(config).await;
    for (name, version) in [("calc-1", "1.0.0"), ("calc-2", "2.0.0")] {
        h.create::<MendixPackage>(&cloud_build(name, demo::GOOD_REVISION, version))
            .await;
        h.wait_package(name, package_ready).await;
    }
    h
}

#[tokio::test]
async fn a_mendix_cloud_deploy_reads_each_fact_once() {
    let h = counting_harness().await;
    let deploy = requests_since;

    // First deploy to a stopped environment: read it and its package, transport, start, follow
    // the start job. The job's `Started` is the confirmation: nothing is read after it.
    let before = cloud_requests(&h, "Test");
    h.create::<MendixEnvironment>(&cloud_env("calc-test", "Test", "calc-1", ""))
        .await;
    h.wait_environment("calc-test", environment_ready).await;
    let first = deploy(&before, &cloud_requests(&h, "Test"));
    let polls = first["v1_get_start_status"];
    assert!(polls >= 1, "the start job is followed: {first:?}");
    let mut expected = std::collections::BTreeMap::from([
        ("v1_get_environment", 1),
        ("v1_get_environment_package", 1),
        ("v1_get_settings", 0),
        ("v1_stop_environment", 0),
        ("v1_transport", 1),
        ("v1_start_environment", 1),
        ("v1_get_start_status", polls),
    ]);
    assert_eq!(first, expected, "first deploy");

    // Upgrade of a running app: the operator trusts what it recorded of its own deploy (the
    // paced resync verifies it), so stop, transport, start and the start job's polls — nothing
    // read — all in one reconcile up to the start.
    let before = cloud_requests(&h, "Test");
    patch_spec(&h, "calc-test", json!({"packageRef": {"name": "calc-2"}})).await;
    h.wait_environment("calc-test", environment_runs("2.0.0"))
        .await;
    let upgrade = deploy(&before, &cloud_requests(&h, "Test"));
    let polls = upgrade["v1_get_start_status"];
    assert!(polls >= 1, "the start job is followed: {upgrade:?}");
    expected.insert("v1_get_environment", 0);
    expected.insert("v1_get_environment_package", 0);
    expected.insert("v1_stop_environment", 1);
    expected.insert("v1_get_start_status", polls);
    assert_eq!(upgrade, expected, "upgrade");

    // A reconcile a person asks for reads Mendix (and finds nothing to do).
    let before = cloud_requests(&h, "Test");
    let annotations = json!({"metadata": {"annotations": {"mendixops.io/reconcileRequestedAt": "2026-12-06T13:00:00Z"}}});
    h.environments()
        .patch(
            "calc-test",
            &PatchParams::default(),
            &Patch::Merge(&annotations),
        )
        .await
        .expect("annotation set");
    h.wait_environment(
        "calc-test",
        environment_reconciled_on_request("2026-12-06T13:00:00Z"),
    )
    .await;
    let requested = deploy(&before, &cloud_requests(&h, "Test"));
    assert_eq!(requested["v1_get_environment"], 1, "{requested:?}");
    assert_eq!(requested["v1_get_environment_package"], 1, "{requested:?}");
    assert_eq!(requested["v1_stop_environment"], 0, "{requested:?}");
}

#[tokio::test]
async fn a_promotion_waits_for_its_source_and_then_deploys_without_reading_mendix() {
    let h = counting_harness().await;
    h.create::<MendixEnvironment>(&cloud_env("calc-test", "Test", "calc-1", ""))
        .await;
    h.create::<MendixEnvironment>(&cloud_env("calc-acc", "Acceptance", "unused", "").replace(
        "packageRef: {name: unused}",
        "packageFrom: {environmentRef: {name: calc-test}}",
    ))
    .await;
    h.wait_environment("calc-acc", environment_runs("1.0.0"))
        .await;

    // Every Ready reason Acceptance shows from here on.
    let reasons = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let watch = {
        use futures::StreamExt;
        use kube::runtime::{WatchStreamExt, watcher};
        let reasons = reasons.clone();
        let config = watcher::Config::default().fields("metadata.name=calc-acc");
        let stream = watcher(h.environments(), config).applied_objects();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(Ok(e)) = stream.next().await {
                let ready = e.status.as_ref().and_then(|s| {
                    mendix_operator::crd::conditions::find(&s.conditions, "Ready")
                        .map(|c| c.reason.clone())
                });
                if let Some(reason) = ready {
                    reasons.lock().expect("not poisoned").push(reason);
                }
            }
        })
    };

    // Test moves to 2.0.0; Acceptance waits for it, then follows. What Acceptance recorded of
    // its own deploy is still current after the wait: stop, transport, start, polls.
    let before = cloud_requests(&h, "Acceptance");
    patch_spec(&h, "calc-test", json!({"packageRef": {"name": "calc-2"}})).await;
    h.wait_environment("calc-acc", environment_runs("2.0.0"))
        .await;
    watch.abort();
    let promoted = requests_since(&before, &cloud_requests(&h, "Acceptance"));
    let seen = reasons.lock().expect("not poisoned").clone();
    assert!(
        seen.iter().any(|r| r == "WaitingForSource"),
        "Acceptance waited for its source: {seen:?}"
    );
    assert_eq!(promoted["v1_get_environment"], 0, "{promoted:?}");
    assert_eq!(promoted["v1_get_environment_package"], 0, "{promoted:?}");
    assert_eq!(promoted["v1_stop_environment"], 1, "{promoted:?}");
    assert_eq!(promoted["v1_transport"], 1, "{promoted:?}");
    assert_eq!(promoted["v1_start_environment"], 1, "{promoted:?}");
}

#[tokio::test]
async fn mendix_cloud_settings_restart_only_a_running_app() {
    let h = Harness::started().await;
    h.create::<MendixPackage>(&cloud_build("calc-3", demo::GOOD_REVISION, "3.0.0"))
        .await;
    h.create::<MendixEnvironment>(&cloud_env("running", "Test", "calc-3", ""))
        .await;
    h.create::<MendixEnvironment>(&cloud_env(
        "stopped",
        "Acceptance",
        "calc-3",
        "  runState: Stopped\n",
    ))
    .await;
    h.wait_environment("running", environment_ready).await;
    h.wait_environment("stopped", environment_ready).await;
    let starts = cloud_done(&h, "Test", "starts");
    assert_eq!(
        cloud_done(&h, "Acceptance", "starts"),
        0,
        "a Stopped environment is not started"
    );

    for name in ["running", "stopped"] {
        patch_spec(&h, name, json!({"constants": [{"name": "MyFirstModule.ApiUrl", "value": "https://changed.example.com"}]})).await;
    }
    h.wait_environment("running", |e| {
        environment_ready(e) && e.metadata.generation == Some(2)
    })
    .await;
    h.wait_environment("stopped", |e| {
        environment_ready(e) && e.metadata.generation == Some(2)
    })
    .await;
    assert_eq!(
        cloud_done(&h, "Test", "stops"),
        1,
        "one restart of the running app"
    );
    assert_eq!(cloud_done(&h, "Test", "starts"), starts + 1);
    assert_eq!(
        cloud_done(&h, "Acceptance", "starts"),
        0,
        "the stopped app stays stopped"
    );
    assert_eq!(env_count(&h, "Acceptance", "v1_set_settings"), 1);
    assert_eq!(h.cloud_env_state("Acceptance")["status"], "Stopped");

    // Stop and start through the spec; scale.
    patch_spec(&h, "running", json!({"runState": "Stopped"})).await;
    h.wait_environment("running", |e| {
        environment_ready(e)
            && e.status.as_ref().and_then(|s| s.run_state)
                == Some(mendix_operator::crd::environment::RunState::Stopped)
    })
    .await;
    patch_spec(
        &h,
        "running",
        json!({"runState": "Running", "instances": 2, "memoryPerInstance": 2048}),
    )
    .await;
    let e = h
        .wait_environment("running", |e| {
            environment_ready(e) && e.metadata.generation == Some(4)
        })
        .await;
    assert_eq!(e.status.as_ref().and_then(|s| s.instances), Some(2));
    assert_eq!(
        env_count(&h, "Test", "v1_scale"),
        1,
        "scaled once, not on every reconcile"
    );
}

#[tokio::test]
async fn private_cloud_deploy_upgrade_scale_and_stop() {
    let h = Harness::started().await;
    h.create::<MendixPackage>(&pc_build("pc-2", demo::GOOD_REVISION, "2.0.0"))
        .await;
    h.create::<MendixEnvironment>(&pc_env(
        "pc-test",
        demo::PC_ENVIRONMENT_TEST,
        "pc-2",
        "  instances: 2\n  constants: [{name: MyFirstModule.ApiUrl, value: 'https://pc.example.com'}]\n",
    ))
    .await;
    let e = h.wait_environment("pc-test", environment_ready).await;
    let status = e.status.clone().expect("status");
    assert_eq!(status.instances, Some(2));
    assert_eq!(status.deployed_version.as_deref(), Some("2.0.0"));
    assert_eq!(
        env_count(
            &h,
            demo::PC_ENVIRONMENT_TEST,
            "update_environment_for_namespace"
        ),
        1,
        "one PUT of the whole manifest"
    );
    let state = h.mendix.state_json().to_string();
    assert!(state.contains("https://pc.example.com"));

    patch_spec(&h, "pc-test", json!({"runState": "Stopped"})).await;
    let e = h
        .wait_environment("pc-test", |e| {
            environment_ready(e) && e.metadata.generation == Some(2)
        })
        .await;
    assert_eq!(
        e.status.as_ref().and_then(|s| s.instances),
        Some(0),
        "Stopped is 0 instances"
    );
    patch_spec(&h, "pc-test", json!({"runState": "Running"})).await;
    let e = h
        .wait_environment("pc-test", |e| {
            environment_ready(e) && e.metadata.generation == Some(3)
        })
        .await;
    assert_eq!(e.status.as_ref().and_then(|s| s.instances), Some(2));
    assert_eq!(
        env_count(
            &h,
            demo::PC_ENVIRONMENT_TEST,
            "update_environment_for_namespace"
        ),
        3
    );
}

#[tokio::test]
async fn restart_annotation_restarts_once_per_value_on_both_platforms() {
    let h = Harness::started().await;
    h.create::<MendixPackage>(&cloud_build("calc-4", demo::GOOD_REVISION, "4.0.0"))
        .await;
    h.create::<MendixPackage>(&pc_build("pc-4", demo::GOOD_REVISION, "4.0.0"))
        .await;
    h.create::<MendixEnvironment>(&cloud_env("cloud", "Test", "calc-4", ""))
        .await;
    h.create::<MendixEnvironment>(&pc_env(
        "pc",
        demo::PC_ENVIRONMENT_TEST,
        "pc-4",
        "  instances: 1\n",
    ))
    .await;
    h.wait_environment("cloud", environment_ready).await;
    h.wait_environment("pc", environment_ready).await;
    let (starts, puts) = (
        cloud_done(&h, "Test", "starts"),
        env_count(
            &h,
            demo::PC_ENVIRONMENT_TEST,
            "update_environment_for_namespace",
        ),
    );
    for name in ["cloud", "pc"] {
        annotate(&h, name, "mendixops.io/restartedAt", "2026-11-22T10:00:00Z").await;
    }
    for name in ["cloud", "pc"] {
        h.wait_environment(name, |e| {
            environment_ready(e)
                && e.status
                    .as_ref()
                    .and_then(|s| s.last_restarted_at.as_deref())
                    == Some("2026-11-22T10:00:00Z")
        })
        .await;
    }
    assert_eq!(
        cloud_done(&h, "Test", "starts"),
        starts + 1,
        "one stop/start"
    );
    assert_eq!(cloud_done(&h, "Test", "stops"), 1);
    assert_eq!(
        env_count(
            &h,
            demo::PC_ENVIRONMENT_TEST,
            "update_environment_for_namespace"
        ),
        puts + 2,
        "scale to 0 and back"
    );
    // Applying the same value again (as GitOps does) restarts nothing.
    for name in ["cloud", "pc"] {
        annotate(&h, name, "mendixops.io/restartedAt", "2026-11-22T10:00:00Z").await;
        annotate(&h, name, "mendixops.io/reconcileRequestedAt", "again").await;
        h.wait_environment(name, |e| {
            e.status
                .as_ref()
                .and_then(|s| s.reconcile_requested_at.as_deref())
                == Some("again")
        })
        .await;
    }
    assert_eq!(cloud_done(&h, "Test", "starts"), starts + 1);
    assert_eq!(
        env_count(
            &h,
            demo::PC_ENVIRONMENT_TEST,
            "update_environment_for_namespace"
        ),
        puts + 2
    );
}

#[tokio::test]
async fn production_environments_need_consent() {
    let h = Harness::started().await;
    h.create::<MendixPackage>(&cloud_build("calc-5", demo::GOOD_REVISION, "5.0.0"))
        .await;
    h.create::<MendixPackage>(&pc_build("pc-5", demo::GOOD_REVISION, "5.0.0"))
        .await;
    h.create::<MendixEnvironment>(&cloud_env("cloud-prod", "Production", "calc-5", ""))
        .await;
    h.create::<MendixEnvironment>(&pc_env(
        "pc-prod",
        demo::PC_ENVIRONMENT_PRODUCTION,
        "pc-5",
        "",
    ))
    .await;
    for name in ["cloud-prod", "pc-prod"] {
        let e = h.wait_environment(name, environment_stalled).await;
        assert_eq!(stalled_reason(&e), "ProductionNotAllowed", "{name}");
    }
    assert_eq!(
        cloud_done(&h, "Production", "transports") + cloud_done(&h, "Production", "stops"),
        0
    );
    assert_eq!(
        env_count(
            &h,
            demo::PC_ENVIRONMENT_PRODUCTION,
            "update_environment_for_namespace"
        ),
        0
    );
    patch_spec(&h, "cloud-prod", json!({"production": true})).await;
    h.wait_environment("cloud-prod", environment_ready).await;
    assert_eq!(cloud_done(&h, "Production", "transports"), 1);
}

#[tokio::test]
async fn environments_wait_for_their_package_and_stall_on_a_failed_one() {
    let h = Harness::started().await;
    h.create::<MendixEnvironment>(&pc_env("waits", demo::PC_ENVIRONMENT_TEST, "later", ""))
        .await;
    let e = h
        .wait_environment("waits", |e| {
            e.status
                .as_ref()
                .and_then(|s| condition(&s.conditions, "Reconciling"))
                .is_some_and(|c| c.reason == "WaitingForPackage")
        })
        .await;
    assert!(
        e.status
            .as_ref()
            .and_then(|s| condition(&s.conditions, "Ready"))
            .is_some_and(|c| c.message.contains("later"))
    );
    h.create::<MendixPackage>(&pc_build("later", demo::GOOD_REVISION, "6.0.0"))
        .await;
    h.wait_environment("waits", environment_ready).await;

    h.create::<MendixPackage>(&pc_build("broken", demo::FAILING_REVISION, "6.0.1"))
        .await;
    h.create::<MendixEnvironment>(&pc_env(
        "on-broken",
        demo::PC_ENVIRONMENT_PRODUCTION,
        "broken",
        "  production: true\n",
    ))
    .await;
    let e = h.wait_environment("on-broken", environment_stalled).await;
    assert_eq!(stalled_reason(&e), "PackageFailed");
}

#[tokio::test]
async fn start_failures_stall_with_mendix_reason() {
    let h = Harness::started().await;
    h.create::<MendixPackage>(&cloud_build("calc-7", demo::GOOD_REVISION, "7.0.0"))
        .await;
    assert!(
        h.mendix
            .fail_next_start(demo::CLOUD_APP_ID, "Test", "DB_SYNC_FAILED")
    );
    h.create::<MendixEnvironment>(&cloud_env("db", "Test", "calc-7", ""))
        .await;
    let e = h.wait_environment("db", environment_stalled).await;
    assert_eq!(stalled_reason(&e), "DbSyncFailed");
    let message = e
        .status
        .as_ref()
        .and_then(|s| condition(&s.conditions, "Stalled"))
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains("DB_SYNC_FAILED") && message.contains("reconcileRequestedAt"),
        "{message}"
    );
    // Not retried in a loop; a reconcile request retries once, and the start now succeeds.
    let starts = cloud_done(&h, "Test", "starts");
    h.wait_reconciles(h.reconciles().await, 3).await;
    assert_eq!(cloud_done(&h, "Test", "starts"), starts);
    annotate(&h, "db", "mendixops.io/reconcileRequestedAt", "retry-1").await;
    h.wait_environment("db", environment_ready).await;
}

#[tokio::test]
async fn transport_of_a_fresh_package_waits_for_processing() {
    let h = Harness::started().await;
    h.create::<MendixPackage>(&cloud_build("calc-8", demo::GOOD_REVISION, "8.0.0"))
        .await;
    h.mendix.add_fault(Fault {
        operation: "v1_transport".into(),
        kind: FaultKind::Error {
            status: 503,
            error_code: Some("SERVICE UNAVAILABLE".into()),
        },
        rate: 1.0,
        times: Some(6),
    });
    h.create::<MendixEnvironment>(&cloud_env("fresh", "Test", "calc-8", ""))
        .await;
    h.wait_environment("fresh", environment_ready).await;
    assert_eq!(h.cloud_env_state("Test")["status"], "Running");
}

#[tokio::test]
async fn drift_in_mendix_is_corrected_with_an_event() {
    let h = Harness::started().await;
    h.create::<MendixPackage>(&pc_build("pc-9", demo::GOOD_REVISION, "9.0.0"))
        .await;
    h.create::<MendixEnvironment>(&pc_env("drifty", demo::PC_ENVIRONMENT_TEST, "pc-9", "  instances: 1\n  constants: [{name: MyFirstModule.ApiUrl, value: 'https://git.example.com'}]\n")).await;
    h.wait_environment("drifty", environment_ready).await;
    // Someone edits the constant in the portal.
    h.mendix.with_world(|world| {
        for app in &mut world.private_cloud.apps {
            for env in &mut app.environments {
                let text = env
                    .environment
                    .to_string()
                    .replace("https://git.example.com", "https://portal-edit.example.com");
                env.environment = serde_json::from_str(&text).expect("manifest parses");
            }
        }
    });
    let api = h.environments();
    wait_for(
        "drift corrected",
        || async { Some(h.mendix.state_json().to_string()) },
        |s| s.contains("https://git.example.com") && !s.contains("portal-edit"),
    )
    .await;
    h.wait_environment("drifty", environment_ready).await;
    assert!(
        h.events()
            .await
            .iter()
            .any(|e| e.reason.as_deref() == Some("DriftDetected")),
        "an Event says what drifted"
    );
    drop(api);
}

/// What the operator did not do itself is found by the paced resync, not trusted away: a
/// deploy trusts the status the operator wrote, and the resync reads Mendix.
#[tokio::test]
async fn a_mendix_cloud_app_stopped_outside_the_operator_is_found_by_the_resync() {
    let h = Harness::started().await;
    h.create::<MendixPackage>(&cloud_build("calc-21", demo::GOOD_REVISION, "21.0.0"))
        .await;
    h.create::<MendixEnvironment>(&cloud_env("trusted", "Test", "calc-21", ""))
        .await;
    h.wait_environment("trusted", environment_ready).await;
    let starts = env_count(&h, "Test", "v1_start_environment");
    // Someone stops the app in the portal.
    h.mendix.with_world(|world| {
        for app in &mut world.cloud.apps {
            for env in &mut app.environments {
                if env.mode == "Test" {
                    env.status = Some(mendix_sandbox::world::EnvironmentStatus::Stopped);
                }
            }
        }
    });
    wait_for(
        "the app started again",
        || async { Some(env_count(&h, "Test", "v1_start_environment")) },
        |n| *n > starts,
    )
    .await;
    h.wait_environment("trusted", environment_ready).await;
    let events = h.events().await;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("DriftDetected")
                && e.note.as_deref().is_some_and(|n| n.contains("starting"))),
        "an Event says what drifted: {:?}",
        events
            .iter()
            .map(|e| (&e.reason, &e.note))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn private_cloud_upgrade_and_constant_change_each_cost_one_manifest_update() {
    let h = Harness::started().await;
    h.create::<MendixPackage>(&pc_build("pc-11", demo::GOOD_REVISION, "11.0.0"))
        .await;
    h.create::<MendixEnvironment>(&pc_env(
        "pc-up",
        demo::PC_ENVIRONMENT_TEST,
        "pc-11",
        "  instances: 1\n",
    ))
    .await;
    h.wait_environment("pc-up", environment_ready).await;
    let puts = env_count(
        &h,
        demo::PC_ENVIRONMENT_TEST,
        "update_environment_for_namespace",
    );
    h.create::<MendixPackage>(&pc_build("pc-12", demo::GOOD_REVISION, "12.0.0"))
        .await;
    patch_spec(&h, "pc-up", json!({"packageRef": {"name": "pc-12"}})).await;
    let e = h
        .wait_environment("pc-up", environment_runs("12.0.0"))
        .await;
    let pkg = h
        .packages()
        .get("pc-12")
        .await
        .expect("package")
        .status
        .and_then(|s| s.package_id);
    assert_eq!(deployed(&e), pkg);
    assert_eq!(
        env_count(
            &h,
            demo::PC_ENVIRONMENT_TEST,
            "update_environment_for_namespace"
        ),
        puts + 1
    );
    patch_spec(&h, "pc-up", json!({"constants": [{"name": "MyFirstModule.ApiUrl", "value": "https://twelve.example.com"}]})).await;
    h.wait_environment("pc-up", |e| {
        environment_ready(e) && e.metadata.generation == Some(3)
    })
    .await;
    assert_eq!(
        env_count(
            &h,
            demo::PC_ENVIRONMENT_TEST,
            "update_environment_for_namespace"
        ),
        puts + 2
    );
    assert!(
        h.mendix
            .state_json()
            .to_string()
            .contains("https://twelve.example.com")
    );
}

#[tokio::test]
async fn paused_environments_make_no_remote_writes() {
    let h = Harness::started().await;
    h.create::<MendixPackage>(&cloud_build("calc-13", demo::GOOD_REVISION, "13.0.0"))
        .await;
    h.wait_package("calc-13", package_ready).await;
    h.create::<MendixEnvironment>(&cloud_env("held", "Test", "calc-13", "").replace(
        "metadata: {name: held}",
        "metadata: {name: held, annotations: {mendixops.io/paused: 'true'}}",
    ))
    .await;
    let e = h
        .wait_environment("held", |e| {
            e.status.as_ref().is_some_and(|s| {
                s.phase == Some(mendix_operator::crd::environment::EnvironmentPhase::Paused)
            })
        })
        .await;
    let message = e
        .status
        .as_ref()
        .and_then(|s| condition(&s.conditions, "Reconciling"))
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(message.contains("paused"), "{message}");
    assert_eq!(cloud_done(&h, "Test", "transports"), 0);
    assert_eq!(
        env_count(&h, "Test", "v1_stop_environment")
            + env_count(&h, "Test", "v1_start_environment"),
        0
    );
    h.environments()
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"annotations": {"mendixops.io/paused": null}}})),
        )
        .await
        .expect("resumed");
    h.wait_environment("held", environment_ready).await;
    assert_eq!(cloud_done(&h, "Test", "transports"), 1);
}

/// The whole flow as a user drives it: kubectl apply, kubectl wait, kubectl get.
#[tokio::test]
async fn kubectl_apply_wait_get() {
    let h = Harness::started().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let kubectl = h.kubectl();
    let manifests = dir.path().join("manifests");
    std::fs::create_dir(&manifests).expect("dir");
    std::fs::write(
        manifests.join("package.yaml"),
        cloud_build("calc-20", demo::GOOD_REVISION, "20.0.0"),
    )
    .expect("write");
    std::fs::write(
        manifests.join("environment.yaml"),
        cloud_env(
            "calc-acc",
            "Acceptance",
            "calc-20",
            "  instances: 1\n  memoryPerInstance: 1024\n",
        ),
    )
    .expect("write");
    let out = kubectl
        .ok(&["apply", "-f", &manifests.to_string_lossy()])
        .await;
    assert!(
        out.contains("mendixenvironment.mendixops.io/calc-acc created"),
        "{out}"
    );
    kubectl
        .ok(&[
            "wait",
            "--for=condition=Ready",
            "mxenv/calc-acc",
            "--timeout=90s",
        ])
        .await;
    let out = kubectl.ok(&["get", "mxenv"]).await;
    let header = out.lines().next().unwrap_or_default();
    for column in ["NAME", "READY", "STATUS", "VERSION", "INSTANCES", "AGE"] {
        assert!(header.contains(column), "{out}");
    }
    let row = out
        .lines()
        .find(|l| l.starts_with("calc-acc"))
        .unwrap_or_default();
    assert!(
        row.contains("True") && row.contains("Running") && row.contains("20.0.0"),
        "{out}"
    );
}

/// Production ran 2 x 2048 MB; a spec naming only `instances: 3` once scaled it to 3 x 1024 MB.
/// Now the API server refuses that spec (Mendix Cloud scales both in one call and reports
/// neither), and a spec naming both is applied exactly.
#[tokio::test]
async fn a_production_scale_sends_only_what_the_spec_names() {
    let h = Harness::started().await;
    h.mendix.with_world(|world| {
        let app = world
            .cloud
            .apps
            .iter_mut()
            .find(|a| a.app_id == demo::CLOUD_APP_ID)
            .expect("demo app");
        let prod = app
            .environments
            .iter_mut()
            .find(|e| e.mode == "Production")
            .expect("Production");
        prod.instances = 2;
        prod.memory_per_instance = 2048;
        prod.plan_memory = 16384;
    });
    let manifest = |extra: &str| {
        format!(
            "apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: prod}}
spec:
  target: {{mendixCloud: {{appId: {app}, mode: Production}}}}
  credentialsSecretRef: {{name: {CLOUD_SECRET}}}
  packageId: {package}
  production: true
{extra}",
            app = demo::CLOUD_APP_ID,
            package = demo::CLOUD_EXISTING_PACKAGE_ID
        )
    };
    let kubectl = h.kubectl();
    let refused = kubectl
        .run_stdin(&["apply", "-f", "-"], &manifest("  instances: 3\n"))
        .await;
    assert!(!refused.ok, "{}", refused.stdout);
    assert!(
        refused
            .stderr
            .contains("set spec.instances and spec.memoryPerInstance together"),
        "{}",
        refused.stderr
    );
    kubectl
        .ok_stdin(
            &["apply", "-f", "-"],
            &manifest("  instances: 3\n  memoryPerInstance: 2048\n"),
        )
        .await;
    let e = h.wait_environment("prod", environment_ready).await;
    let prod = h.cloud_env_state("Production");
    assert_eq!(
        (
            prod["instances"].as_u64(),
            prod["memoryPerInstance"].as_u64()
        ),
        (Some(3), Some(2048)),
        "{prod}"
    );
    let status = e.status.expect("status");
    assert_eq!(
        (status.instances, status.memory_per_instance),
        (Some(3), Some(2048))
    );
}

/// A start-status poll answered 404 `NO_SUCH_STARTJOB` (Mendix no longer knows the job),
/// `ALREADY_LOCKED` or `ALREADY_STARTED`: the job is forgotten, the environment read again, and
/// the deploy ends Ready with one start, instead of Stalled or polling forever.
#[tokio::test]
async fn a_start_job_mendix_forgets_or_will_not_report_is_not_followed_forever() {
    for (status, code) in [
        (404, "NO_SUCH_STARTJOB"),
        (500, "ALREADY_LOCKED"),
        (500, "ALREADY_STARTED"),
    ] {
        let h = Harness::started().await;
        h.mendix.add_fault(Fault {
            operation: "v1_get_start_status".into(),
            kind: FaultKind::Error {
                status,
                error_code: Some(code.into()),
            },
            rate: 1.0,
            // For good: the job is never reported again.
            times: None,
        });
        h.create::<MendixEnvironment>(&cloud_env_deployed("forgotten", "Test", ""))
            .await;
        h.wait_environment("forgotten", environment_ready).await;
        assert_eq!(h.cloud_env_state("Test")["status"], "Running", "{code}");
        assert_eq!(cloud_done(&h, "Test", "starts"), 1, "{code}: one start");
        assert!(
            h.mendix.stats().count("v1_get_start_status") >= 1,
            "{code}: the fault was met"
        );
    }
}

/// A resource whose name is as long as Kubernetes allows still gets its Events: the Event's
/// name is shortened to fit events.k8s.io's limit instead of being refused (and lost).
#[tokio::test]
async fn a_resource_with_the_longest_name_gets_its_events() {
    use k8s_openapi::api::events::v1::Event;
    let h = Harness::started().await;
    let name = format!("long-{}", "n".repeat(248));
    assert_eq!(name.len(), 253);
    h.create::<MendixEnvironment>(&cloud_env_deployed(&name, "Test", ""))
        .await;
    h.wait_environment(&name, environment_ready).await;
    let events: kube::Api<Event> = kube::Api::namespaced(h.client.clone(), &h.ns);
    let name_for_wait = name.clone();
    wait_for(
        "an Event about the long-named environment",
        || {
            let events = events.clone();
            let name = name_for_wait.clone();
            async move {
                let list = events.list(&Default::default()).await.ok()?;
                Some(
                    list.items
                        .into_iter()
                        .filter(|e| {
                            e.regarding.as_ref().and_then(|r| r.name.as_deref())
                                == Some(name.as_str())
                        })
                        .count(),
                )
            }
        },
        |count| *count > 0,
    )
    .await;
}

/// A rollout first reports `container.state: Unknown` (the sandbox's reading of what the docs
/// leave open): not Ready. The environment is Ready only once Mendix says `Ready`.
#[tokio::test]
async fn private_cloud_unknown_container_state_is_not_ready() {
    let h = Harness::started().await;
    // Slow enough that the Unknown half of the rollout is seen (1 s of 2 s).
    h.mendix.set_time_scale(0.4);
    h.create::<MendixEnvironment>(&pc_env_deployed(
        "pc",
        demo::PC_ENVIRONMENT_TEST,
        "  instances: 3\n",
    ))
    .await;
    h.wait_environment("pc", environment_ready).await;
    let remote = h.pc_env_state(demo::PC_ENVIRONMENT_TEST);
    assert_eq!(remote["updates"], 1, "{remote}");
    assert_eq!(remote["containerState"], "Ready", "{remote}");
}

/// A custom runtime setting changed on a running Mendix Cloud app takes effect only after a
/// restart, and Mendix reports no deployed value for custom settings to show it is pending:
/// the operator restarts the app once.
#[tokio::test]
async fn a_custom_setting_change_on_a_running_app_is_applied_by_one_restart() {
    // Also when the restart's stop fails past the client's retries: the restart is owed in
    // status, so the next reconcile (which sees the settings already equal) still does it.
    for failing_stops in [0, 4] {
        custom_setting_restart(failing_stops).await;
    }
}

async fn custom_setting_restart(failing_stops: u32) {
    let h = Harness::started().await;
    h.create::<MendixEnvironment>(&cloud_env_deployed("custom", "Test", ""))
        .await;
    h.wait_environment("custom", environment_ready).await;
    let (starts, stops) = (
        cloud_done(&h, "Test", "starts"),
        cloud_done(&h, "Test", "stops"),
    );
    if failing_stops > 0 {
        h.mendix.add_fault(
            Fault::error_code("v1_stop_environment", 503, "SERVICE UNAVAILABLE")
                .times(failing_stops),
        );
    }
    patch_spec(
        &h,
        "custom",
        json!({"customSettings": [{"name": "Persistence.MaxIdleTime", "value": "600"}]}),
    )
    .await;
    h.wait_environment("custom", |e| {
        environment_ready(e) && e.status.as_ref().and_then(|s| s.observed_generation) == Some(2)
    })
    .await;
    let remote = h.cloud_env_state("Test");
    let setting = remote["customSettings"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["name"] == "Persistence.MaxIdleTime"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(setting["deployedValue"], "600", "{remote}");
    assert_eq!(
        (
            cloud_done(&h, "Test", "starts"),
            cloud_done(&h, "Test", "stops")
        ),
        (starts + 1, stops + 1),
        "one restart ({failing_stops} stops refused): {remote}"
    );
    assert_eq!(
        h.mendix.stats().count("v1_stop_environment"),
        u64::from(failing_stops) + 1
    );
}

/// A scale that Mendix answers with other sizes than asked is not sent again in the same
/// reconcile, nor at every later one: the environment stalls with both sizes in the message.
#[tokio::test]
async fn a_scale_answered_with_other_sizes_stalls_and_is_not_repeated() {
    let h = Harness::started().await;
    h.mendix.add_fault(Fault::answer_body(
        "v1_scale",
        json!({"Status": "Running", "Mode": "Test", "Instances": 2, "MemoryPerInstance": 1024}),
    ));
    h.create::<MendixEnvironment>(&cloud_env_deployed(
        "scaled",
        "Test",
        "  instances: 2\n  memoryPerInstance: 2048\n",
    ))
    .await;
    let e = h.wait_environment("scaled", environment_stalled).await;
    let stalled = condition(&e.status.expect("status").conditions, "Stalled")
        .cloned()
        .expect("Stalled");
    assert_eq!(stalled.reason, "ScaleNotApplied", "{}", stalled.message);
    assert!(
        stalled.message.contains("2 instance(s) of 2048 MB")
            && stalled.message.contains("2 of 1024 MB"),
        "{}",
        stalled.message
    );
    // Resyncs (3 s here) and the reconciles the status writes trigger: still one scale.
    h.wait_reconciles(h.reconciles().await, 3).await;
    assert_eq!(h.mendix.stats().count("v1_scale"), 1);
}

/// `mendixops.io/cleanRequestedAt` removes all data of a Mendix Cloud environment once: the app
/// is stopped, cleaned, then deployed and started again, and the request is echoed in status.
/// A clean Mendix refuses is reported (Warning Event), the app is brought back, and it is not sent
/// again.
#[tokio::test]
async fn a_clean_request_stops_cleans_redeploys_and_starts_once() {
    let h = Harness::started().await;
    h.create::<MendixEnvironment>(&cloud_env_deployed("clean", "Test", ""))
        .await;
    h.wait_environment("clean", environment_ready).await;
    let before = ["stops", "transports", "starts"].map(|c| cloud_done(&h, "Test", c));
    annotate(&h, "clean", "mendixops.io/cleanRequestedAt", "c1").await;
    let e = h
        .wait_environment("clean", |e| {
            environment_ready(e)
                && e.status.as_ref().and_then(|s| s.last_cleaned_at.as_deref()) == Some("c1")
        })
        .await;
    assert_eq!(
        deployed(&e).as_deref(),
        Some(demo::CLOUD_EXISTING_PACKAGE_ID),
        "the package is deployed again"
    );
    let after = ["stops", "transports", "starts"].map(|c| cloud_done(&h, "Test", c));
    assert_eq!(
        (
            after[0] - before[0],
            after[1] - before[1],
            after[2] - before[2]
        ),
        (1, 1, 1),
        "one stop, one transport, one start around the clean"
    );
    assert_eq!(h.cloud_env_state("Test")["status"], "Running");
    // The request is handled: later reconciles do not clean again.
    h.wait_reconciles(h.reconciles().await, 3).await;
    assert_eq!(h.mendix.stats().count("v1_clean_environment"), 1);

    // Mendix fails to clean: the request is handled with a Warning Event, the app is brought
    // back, and the clean is not sent again.
    h.mendix.add_fault(Fault::error_code(
        "v1_clean_environment",
        500,
        "ENVIRONMENT_CLEAN_FAILED",
    ));
    let cleans = h.mendix.stats().count("v1_clean_environment");
    annotate(&h, "clean", "mendixops.io/cleanRequestedAt", "c2").await;
    h.wait_environment("clean", |e| {
        environment_ready(e)
            && e.status.as_ref().and_then(|s| s.last_cleaned_at.as_deref()) == Some("c2")
    })
    .await;
    assert_eq!(
        h.cloud_env_state("Test")["status"],
        "Running",
        "brought back"
    );
    let events =
        kube::Api::<k8s_openapi::api::events::v1::Event>::namespaced(h.client.clone(), &h.ns)
            .list(&Default::default())
            .await
            .expect("events");
    let failed = events
        .items
        .iter()
        .find(|e| e.reason.as_deref() == Some("CleanFailed"))
        .and_then(|e| e.note.clone())
        .expect("a CleanFailed Event");
    assert!(failed.contains("ENVIRONMENT_CLEAN_FAILED"), "{failed}");
    h.wait_reconciles(h.reconciles().await, 3).await;
    assert_eq!(
        h.mendix.stats().count("v1_clean_environment"),
        cleans + 1,
        "the refused clean is not repeated"
    );
}
