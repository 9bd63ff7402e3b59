//! Kubernetes faults: the API server answers status writes with 409 Conflict, fails a share of
//! requests with 500, and cuts every watch stream again and again while packages are built and
//! environments deployed and restarted on both platforms. Everything must converge, no remote
//! write may be repeated because a status write was lost, and the final status must be complete
//! and consistent with Mendix.

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube_sandbox::faults::Fault;
use mendix_operator::crd::environment::{EnvironmentPhase, RunState};
use mendix_operator::crd::{MendixEnvironment, MendixPackage};
use mendix_sandbox::demo;
use mendix_testkit::*;
use serde_json::json;

fn cloud_env(name: &str, mode: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: {name}}}
spec:
  target: {{mendixCloud: {{appId: {app}, mode: {mode}}}}}
  credentialsSecretRef: {{name: {CLOUD_SECRET}}}
  packageRef: {{name: cloud-pkg}}
  instances: 1
  memoryPerInstance: 1024
  constants: [{{name: MyFirstModule.ApiUrl, value: 'https://kube-faults.example.com'}}]
",
        app = demo::CLOUD_APP_ID
    )
}

fn pc_env() -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: pc}}
spec:
  target: {{privateCloud: {{appId: {app}, namespaceId: {ns}, environmentId: {env}}}}}
  credentialsSecretRef: {{name: {PC_SECRET}}}
  packageRef: {{name: pc-pkg}}
  instances: 2
",
        app = demo::PC_APP_ID,
        ns = demo::PC_NAMESPACE_ID,
        env = demo::PC_ENVIRONMENT_TEST
    )
}

const ENVIRONMENTS: [&str; 3] = ["cloud-test", "cloud-acc", "pc"];
const BUDGET: u64 = 1_000_000;
const RESTART: &str = "2026-11-22T12:00:00Z";

/// The test's own writes go through the same faulty API server: retry them as kubectl would.
async fn annotate_with_retries(h: &Harness, name: &str, key: &str, value: &str) {
    let patch = json!({"metadata": {"annotations": {key: value}}});
    for _ in 0..50 {
        if h.environments()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("could not annotate {name}");
}

fn restarted(e: &MendixEnvironment) -> bool {
    environment_ready(e)
        && e.status
            .as_ref()
            .and_then(|s| s.last_restarted_at.as_deref())
            == Some(RESTART)
}

/// Every field a converged resource must show, and agreement with Mendix.
fn assert_package_complete(p: &MendixPackage) {
    let s = p.status.as_ref().expect("package status");
    let name = p.metadata.name.as_deref().unwrap_or_default();
    assert_eq!(
        s.observed_generation, p.metadata.generation,
        "{name}: {s:#?}"
    );
    assert!(is(&s.conditions, "Ready"), "{name}: {s:#?}");
    assert!(!is(&s.conditions, "Reconciling"), "{name}: {s:#?}");
    assert!(!is(&s.conditions, "Stalled"), "{name}: {s:#?}");
    assert!(s.package_id.is_some(), "{name}: {s:#?}");
    assert_eq!(s.version.as_deref(), Some("5.0.0"), "{name}: {s:#?}");
    assert!(s.phase.is_some(), "{name}: {s:#?}");
    assert!(s.operation.is_none(), "{name}: {s:#?}");
}

fn assert_environment_complete(e: &MendixEnvironment, package_id: &str, instances: i32) {
    let s = e.status.as_ref().expect("environment status");
    let name = e.metadata.name.as_deref().unwrap_or_default();
    assert_eq!(
        s.observed_generation, e.metadata.generation,
        "{name}: {s:#?}"
    );
    assert!(is(&s.conditions, "Ready"), "{name}: {s:#?}");
    assert!(!is(&s.conditions, "Reconciling"), "{name}: {s:#?}");
    assert!(!is(&s.conditions, "Stalled"), "{name}: {s:#?}");
    assert_eq!(
        s.deployed_package_id.as_deref(),
        Some(package_id),
        "{name}: {s:#?}"
    );
    assert_eq!(
        s.deployed_version.as_deref(),
        Some("5.0.0"),
        "{name}: {s:#?}"
    );
    assert_eq!(s.instances, Some(instances), "{name}: {s:#?}");
    assert_eq!(s.run_state, Some(RunState::Running), "{name}: {s:#?}");
    assert_eq!(s.phase, Some(EnvironmentPhase::Running), "{name}: {s:#?}");
    assert!(s.url.is_some(), "{name}: {s:#?}");
    assert!(s.operation.is_none(), "{name}: {s:#?}");
    assert_eq!(
        s.last_restarted_at.as_deref(),
        Some(RESTART),
        "{name}: {s:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_through_conflicts_errors_and_cut_watches_without_losing_status() {
    let h = Harness::started().await;
    h.create::<MendixPackage>(&cloud_build("cloud-pkg", demo::GOOD_REVISION, "5.0.0"))
        .await;
    h.create::<MendixPackage>(&pc_build("pc-pkg", demo::GOOD_REVISION, "5.0.0"))
        .await;
    h.create::<MendixEnvironment>(&cloud_env("cloud-test", "Test"))
        .await;
    h.create::<MendixEnvironment>(&cloud_env("cloud-acc", "Acceptance"))
        .await;
    h.create::<MendixEnvironment>(&pc_env()).await;

    let faults = h.faults().clone();
    // Counted (with a count never reached) so the test can tell how many fired.
    faults.add(Fault::conflict("/status").fraction(0.4).times(BUDGET));
    faults.add(
        Fault::fail("/apis/mendixops.io/", 500)
            .fraction(0.1)
            .times(BUDGET),
    );
    faults.add(Fault::fail("/secrets", 500).fraction(0.2).times(BUDGET));
    faults.add(Fault::fail("/events", 500).fraction(0.3).times(BUDGET));
    let cutter = {
        let faults = faults.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(300)).await;
                faults.cut_watches();
            }
        })
    };

    for name in ["cloud-pkg", "pc-pkg"] {
        h.wait_package(name, package_ready).await;
    }
    for name in ENVIRONMENTS {
        h.wait_environment(name, environment_ready).await;
    }
    // A restart under the same faults: its intent and its echo must survive lost writes.
    for name in ENVIRONMENTS {
        annotate_with_retries(&h, name, "mendixops.io/restartedAt", RESTART).await;
    }
    for name in ENVIRONMENTS {
        h.wait_environment(name, restarted).await;
    }
    cutter.abort();
    let fired: Vec<(String, u64)> = faults
        .list()
        .iter()
        .map(|f| {
            (
                format!("{:?} {}", f.action, f.path),
                BUDGET - f.count.unwrap_or(BUDGET),
            )
        })
        .collect();
    faults.clear();
    println!("kubernetes faults fired: {fired:?}");
    assert!(
        fired.iter().all(|(_, n)| *n > 0),
        "every kind of fault fired: {fired:?}"
    );

    // Mendix saw every write exactly once.
    for mode in ["Test", "Acceptance"] {
        let env = h.cloud_env_state(mode);
        let done = |what: &str| env[what].as_u64().unwrap_or(0);
        assert_eq!(
            (done("transports"), done("starts"), done("stops")),
            (1, 2, 1),
            "{mode}: one deploy (transport, start) and one restart (stop, start): {env}"
        );
        assert_eq!(env["status"], "Running");
    }
    let pc = h.pc_env_state(demo::PC_ENVIRONMENT_TEST);
    assert_eq!(
        pc["updates"].as_u64(),
        Some(3),
        "one manifest PUT, then 0 and back: {pc}"
    );
    let stats = h.mendix.stats();
    assert_eq!(stats.app_count(demo::CLOUD_APP_ID, "v1_build_package"), 1);
    assert_eq!(
        stats.app_count(demo::PC_APP_ID, "build_deployment_package"),
        1
    );

    // The status is complete and agrees with Mendix.
    let cloud_pkg = h.packages().get("cloud-pkg").await.expect("package");
    let pc_pkg = h.packages().get("pc-pkg").await.expect("package");
    assert_package_complete(&cloud_pkg);
    assert_package_complete(&pc_pkg);
    let cloud_id = cloud_pkg.status.and_then(|s| s.package_id).expect("id");
    let pc_id = pc_pkg.status.and_then(|s| s.package_id).expect("id");
    for (name, mode) in [("cloud-test", "Test"), ("cloud-acc", "Acceptance")] {
        let e = h.environments().get(name).await.expect("environment");
        assert_environment_complete(&e, &cloud_id, 1);
        assert_eq!(h.cloud_env_state(mode)["packageId"], cloud_id.as_str());
    }
    let e = h.environments().get("pc").await.expect("environment");
    assert_environment_complete(&e, &pc_id, 2);
    assert_eq!(pc["environment"]["deployment"]["packageId"], pc_id.as_str());

    // Nothing was left half-recorded: a forced reconcile on a healthy API server finds nothing
    // to do and keeps the status as it is.
    let before: Vec<_> = {
        let mut v = vec![];
        for name in ENVIRONMENTS {
            v.push(h.environments().get(name).await.expect("env").status);
        }
        v
    };
    let writes_before = stats_writes(&h);
    for name in ENVIRONMENTS {
        annotate_with_retries(&h, name, "mendixops.io/reconcileRequestedAt", "after").await;
    }
    for (name, before) in ENVIRONMENTS.iter().zip(before) {
        let e = h
            .wait_environment(name, |e| {
                e.status
                    .as_ref()
                    .and_then(|s| s.reconcile_requested_at.as_deref())
                    == Some("after")
            })
            .await;
        let mut after = e.status.expect("status");
        let before = before.expect("status");
        after.reconcile_requested_at = before.reconcile_requested_at.clone();
        // A reconcile that reads Mendix (one the paced resync marked, or one after a fault)
        // learns again what a deploy cleared until the next read: the model and runtime
        // versions. That fills the status in; it changes nothing in it.
        if before.model_version.is_none() {
            after.model_version = None;
        }
        if before.mendix_version.is_none() {
            after.mendix_version = None;
        }
        for c in after.conditions.iter_mut() {
            // The reconcile itself may touch message timestamps, never the outcome.
            c.last_transition_time = before
                .conditions
                .iter()
                .find(|b| b.type_ == c.type_)
                .map(|b| b.last_transition_time.clone())
                .unwrap_or_else(|| c.last_transition_time.clone());
        }
        assert_eq!(after, before, "{name}: status changed on a no-op reconcile");
    }
    assert_eq!(
        stats_writes(&h),
        writes_before,
        "a no-op reconcile wrote to Mendix"
    );
}

/// Remote writes of every kind, as counted by the Mendix sandbox.
fn stats_writes(h: &Harness) -> u64 {
    let stats = h.mendix.stats();
    [
        "v1_build_package",
        "v1_transport",
        "v1_start_environment",
        "v1_stop_environment",
        "v1_set_settings",
        "v1_scale",
        "v1_create_tag",
        "build_deployment_package",
        "update_environment_for_namespace",
    ]
    .iter()
    .map(|op| stats.count(op))
    .sum()
}

/// A status write refused with 409 is retried without reading Mendix again: a conflict is
/// about the Kubernetes object, so the retry is answered from the refused attempt's reads.
#[tokio::test]
async fn a_conflict_retry_does_not_read_mendix_again() {
    let mut h = Harness::new().await;
    let mut config = h.config();
    // No resync during the test: every read counted belongs to the deploy.
    config.resync_period = Duration::from_secs(300);
    h.start_operator_with(config).await;
    // The first status write of the environment is the start it records before sending it.
    h.faults()
        .add(Fault::conflict("/mendixenvironments/conflicted/status").times(1));
    h.create::<MendixEnvironment>(&mendix_testkit::resources::cloud_env_deployed(
        "conflicted",
        "Test",
        "",
    ))
    .await;
    h.wait_environment("conflicted", environment_ready).await;
    assert!(
        h.faults().list().iter().all(|f| f.count == Some(0)),
        "the conflict was met"
    );
    let stats = h.mendix.stats();
    let reads =
        ["v1_get_environment", "v1_get_environment_package"].map(|op| (op, stats.count(op)));
    assert_eq!(
        reads,
        [("v1_get_environment", 1), ("v1_get_environment_package", 1)],
        "each read once, though the reconcile that made them was retried"
    );
    assert_eq!(stats.count("v1_start_environment"), 1);
}
