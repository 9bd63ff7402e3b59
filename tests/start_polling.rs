//! A rollout of many Mendix Cloud apps at once, none of whose start times the operator knows:
//! one start is followed closely while the others wait for what it shows, so the whole rollout
//! costs about one start poll per app (see `controller::start_times`). Counted by the Mendix
//! sandbox; no timing is asserted.

use kube::api::{Patch, PatchParams};
use mendix_operator::bench::seed;
use mendix_operator::crd::MendixEnvironment;
use mendix_sandbox::MendixSandbox;
use mendix_testkit::*;

const APPS: usize = 8;

fn bench_env(index: usize, package: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: app-{index}}}
spec:
  target: {{mendixCloud: {{appId: {app}, mode: {mode}}}}}
  credentialsSecretRef: {{name: {CLOUD_SECRET}}}
  packageId: {package}
",
        app = seed::app_id(index),
        mode = seed::MODE,
    )
}

fn start_polls(h: &Harness) -> u64 {
    h.mendix
        .stats()
        .operations
        .get("v1_get_start_status")
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_rollout_polls_each_start_about_once() {
    // Starts take 600 ms; polls begin at 50 ms and are at most 400 ms apart.
    let mendix = MendixSandbox::from_yaml(&seed::world(APPS, 600)).expect("seed accepted");
    let mut h = Harness::with_mendix(mendix).await;
    h.start_operator().await;

    for i in 0..APPS {
        h.create::<MendixEnvironment>(&bench_env(i, &seed::new_package_id(i)))
            .await;
    }
    for i in 0..APPS {
        h.wait_environment(&format!("app-{i}"), environment_ready)
            .await;
    }
    let first = start_polls(&h);
    eprintln!("first rollout: {first} start polls for {APPS} deploys");
    // The scout polls at 50 ms and every eighth of its running time after (about 10 polls
    // for 600 ms); every other start is polled once, when the scout has shown how long a
    // start takes: 17 in all. The doubling schedule (50, 100, 200, 400, 800 ms) would cost 5
    // polls per start, 40 in all. The bound leaves room for a slow machine.
    assert!(
        first <= 2 * APPS as u64 + 7,
        "{first} start polls for {APPS} first deploys"
    );

    // Each environment knows its own start time now: a second rollout polls about once each.
    for i in 0..APPS {
        let spec = serde_json::json!({"spec": {"packageId": seed::upgrade_package_id(i)}});
        h.environments()
            .patch(
                &format!("app-{i}"),
                &PatchParams::default(),
                &Patch::Merge(&spec),
            )
            .await
            .expect("spec patched");
    }
    for i in 0..APPS {
        h.wait_environment(&format!("app-{i}"), |e| {
            environment_ready(e) && e.metadata.generation == Some(2)
        })
        .await;
    }
    let second = start_polls(&h) - first;
    eprintln!("second rollout: {second} start polls for {APPS} deploys");
    assert!(
        second <= 2 * APPS as u64,
        "{second} start polls for {APPS} second deploys"
    );
}
