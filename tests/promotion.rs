//! Promotion by reference and deployment history, against a real API server and the Mendix
//! sandbox: Test → Acceptance → Production as three manifests and one change in Git.

use std::time::Instant;

use kube::api::{Patch, PatchParams};
use serde_json::json;

use mendix_operator::crd::MendixEnvironment;
use mendix_operator::crd::environment::DeploymentTrigger;
use mendix_sandbox::demo;
use mendix_testkit::resources::{cloud_env_deployed, pc_env};
use mendix_testkit::{Harness, environment_ready, environment_runs, environment_stalled, pc_build};

fn promoted(name: &str, environment: &str, source: &str, extra: &str) -> String {
    pc_env(name, environment, "unused", extra).replace(
        "packageRef: {name: unused}",
        &format!("packageFrom: {{environmentRef: {{name: {source}}}}}"),
    )
}

fn stalled_reason(e: &MendixEnvironment) -> String {
    e.status
        .as_ref()
        .and_then(|s| mendix_operator::crd::conditions::find(&s.conditions, "Stalled"))
        .map(|c| format!("{}: {}", c.reason, c.message))
        .unwrap_or_default()
}

#[tokio::test]
async fn a_package_moves_test_to_acceptance_to_production_by_reference() {
    let h = Harness::started().await;
    h.add_environments(&[], &["calc-acc".to_string()]);
    h.create::<mendix_operator::crd::MendixPackage>(&pc_build(
        "pc-2",
        demo::GOOD_REVISION,
        "2.0.0",
    ))
    .await;
    h.create::<MendixEnvironment>(&pc_env("test", demo::PC_ENVIRONMENT_TEST, "pc-2", ""))
        .await;
    h.create::<MendixEnvironment>(&promoted("acceptance", "calc-acc", "test", ""))
        .await;
    h.create::<MendixEnvironment>(&promoted(
        "production",
        demo::PC_ENVIRONMENT_PRODUCTION,
        "acceptance",
        "  production: true\n",
    ))
    .await;
    for name in ["test", "acceptance", "production"] {
        h.wait_environment(name, environment_runs("2.0.0")).await;
    }

    // One change in Git: test moves to 3.0.0, and the chain follows, stage by stage.
    h.create::<mendix_operator::crd::MendixPackage>(&pc_build(
        "pc-3",
        demo::GOOD_REVISION,
        "3.0.0",
    ))
    .await;
    h.wait_package("pc-3", mendix_testkit::package_ready).await;
    let started = Instant::now();
    h.environments()
        .patch(
            "test",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"packageRef": {"name": "pc-3"}}})),
        )
        .await
        .expect("test moved");
    let mut stages = Vec::new();
    for name in ["test", "acceptance", "production"] {
        h.wait_environment(name, environment_runs("3.0.0")).await;
        stages.push(format!("{name} {:.1}s", started.elapsed().as_secs_f64()));
    }
    println!("promotion 2.0.0 → 3.0.0 reached: {}", stages.join(", "));

    let production = h.environments().get("production").await.expect("readable");
    let history = production.status.expect("status").history;
    assert_eq!(
        history
            .iter()
            .map(|r| (r.version.as_deref(), r.trigger, r.result.as_str()))
            .collect::<Vec<_>>(),
        [
            (Some("3.0.0"), DeploymentTrigger::Promotion, "Succeeded"),
            (Some("2.0.0"), DeploymentTrigger::Promotion, "Succeeded"),
        ],
        "{history:?}"
    );
}

#[tokio::test]
async fn cycles_and_other_apps_are_refused_and_a_stalled_source_holds_its_follower() {
    let h = Harness::started().await;
    h.create::<MendixEnvironment>(&promoted("loop-a", demo::PC_ENVIRONMENT_TEST, "loop-b", ""))
        .await;
    h.create::<MendixEnvironment>(&promoted("loop-b", demo::PC_ENVIRONMENT_TEST, "loop-a", ""))
        .await;
    let e = h.wait_environment("loop-a", environment_stalled).await;
    assert!(
        stalled_reason(&e).starts_with("PromotionCycle"),
        "{}",
        stalled_reason(&e)
    );

    // A Mendix Cloud environment cannot run a Private Cloud environment's package.
    h.create::<MendixEnvironment>(&cloud_env_deployed("cloud", "Test", ""))
        .await;
    h.environments()
        .patch(
            "cloud",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"packageId": null, "packageFrom": {"environmentRef": {"name": "loop-a"}}}})),
        )
        .await
        .expect("patched");
    let e = h
        .wait_environment("cloud", |e| {
            stalled_reason(e).starts_with("PromotionTargetMismatch")
        })
        .await;
    assert!(stalled_reason(&e).contains("another app or platform"));

    // A source that stalls (its package does not exist) holds its follower where it is.
    h.create::<MendixEnvironment>(
        &pc_env("source", demo::PC_ENVIRONMENT_TEST, "unused", "").replace(
            "packageRef: {name: unused}",
            "packageId: 00000000-0000-4000-8000-000000000000",
        ),
    )
    .await;
    h.wait_environment("source", environment_stalled).await;
    h.create::<MendixEnvironment>(&promoted(
        "follower",
        demo::PC_ENVIRONMENT_PRODUCTION,
        "source",
        "  production: true\n",
    ))
    .await;
    let updates_before = h.mendix.stats().count("update_environment_for_namespace");
    let e = h
        .wait_environment("follower", |e| {
            e.status.as_ref().is_some_and(|s| {
                mendix_operator::crd::conditions::find(&s.conditions, "Reconciling").is_some_and(
                    |c| c.reason == "WaitingForSource" && c.message.contains("is Stalled"),
                )
            })
        })
        .await;
    assert!(!environment_ready(&e));
    assert_eq!(
        h.mendix.stats().count("update_environment_for_namespace"),
        updates_before,
        "the follower changes nothing"
    );
}
