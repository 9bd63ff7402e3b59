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

/// Moves environment `app-{index}` to `package`.
async fn set_package(h: &Harness, index: usize, package: &str) {
    let spec = serde_json::json!({"spec": {"packageId": package}});
    h.environments()
        .patch(
            &format!("app-{index}"),
            &PatchParams::default(),
            &Patch::Merge(&spec),
        )
        .await
        .expect("spec patched");
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
    let mendix = MendixSandbox::from_yaml(&seed::world(APPS, 600, 0.0)).expect("seed accepted");
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
        set_package(&h, i, &seed::upgrade_package_id(i)).await;
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

/// Apps that start in their own time (0.6 to 1.8 s here): after a few rollouts each
/// environment's learned start time is close to its own app's — from above for the apps faster
/// than the first estimate, from below for the slower ones — and each start is polled about
/// once.
///
/// The estimate of an app faster than its first one is probed lower after each start seen
/// ended at its first poll, further each time (5 % to 40 %), until a start is seen still
/// running; so at any one round it may lie below the truth, and is corrected by the next
/// start. What is judged is each environment's median over the last three rounds.
#[tokio::test]
async fn starts_of_varying_length_are_learned_per_environment() {
    const START_MS: u64 = 1200;
    const SPREAD: f64 = 0.5;
    const ROUNDS: i64 = 8;
    const JUDGED: usize = 3;
    let mendix =
        MendixSandbox::from_yaml(&seed::world(APPS, START_MS, SPREAD)).expect("seed accepted");
    let mut h = Harness::with_mendix(mendix).await;
    h.start_operator().await;
    for i in 0..APPS {
        h.create::<MendixEnvironment>(&bench_env(i, &seed::new_package_id(i)))
            .await;
    }
    // Per round: start polls, and each environment's learned start time.
    let mut rounds: Vec<(u64, Vec<f64>)> = Vec::new();
    for round in 1..=ROUNDS {
        if round > 1 {
            let package = |i| {
                if round % 2 == 0 {
                    seed::upgrade_package_id(i)
                } else {
                    seed::new_package_id(i)
                }
            };
            for i in 0..APPS {
                set_package(&h, i, &package(i)).await;
            }
        }
        let before = start_polls(&h);
        let mut learned = Vec::new();
        for i in 0..APPS {
            let env = h
                .wait_environment(&format!("app-{i}"), |e| {
                    environment_ready(e) && e.metadata.generation == Some(round)
                })
                .await;
            let ms = env
                .status
                .and_then(|s| s.start_duration_ms)
                .expect("a learned start time");
            learned.push(ms as f64);
        }
        let polls = start_polls(&h) - before;
        eprintln!("round {round}: {polls} start polls for {APPS} deploys, learned {learned:?}");
        rounds.push((polls, learned));
    }
    let judged = &rounds[rounds.len() - JUDGED..];
    for i in 0..APPS {
        let truth = seed::app_start_ms(i, START_MS, SPREAD) as f64;
        let mut learned: Vec<f64> = judged.iter().map(|(_, learned)| learned[i]).collect();
        learned.sort_by(f64::total_cmp);
        let median = learned[JUDGED / 2];
        // Within the steps the last rounds polled at (a fiftieth, at least 50 ms) plus what a
        // busy machine adds to a request, or a little below after a probe.
        assert!(
            median >= truth * 0.8 && median <= truth * 1.15 + 150.0,
            "app-{i}: starts take {truth} ms, learned {learned:?} ms in the last rounds"
        );
    }
    let polls: u64 = judged.iter().map(|(polls, _)| polls).sum();
    assert!(
        polls <= 2 * (APPS * JUDGED) as u64,
        "{polls} start polls for {} deploys in the last rounds",
        APPS * JUDGED
    );
}
