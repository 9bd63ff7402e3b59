//! `changeApproval: Manual` against a real API server and the Mendix sandbox: the operator
//! writes the plan to status and waits, writing nothing to Mendix, until annotation
//! `mendixops.io/approvedPlan` carries the plan's hash; an approval is used once, and a spec
//! change needs a new one.

use kube::api::{Patch, PatchParams};
use serde_json::json;

use mendix_operator::crd::MendixEnvironment;
use mendix_operator::crd::environment::EnvironmentPhase;
use mendix_testkit::resources::cloud_env_deployed;
use mendix_testkit::{Harness, environment_ready};

fn writes(h: &Harness) -> u64 {
    let stats = h.mendix.stats();
    [
        "v1_start_environment",
        "v1_stop_environment",
        "v1_transport",
        "v1_set_settings",
        "v1_scale",
    ]
    .iter()
    .map(|op| stats.count(op))
    .sum()
}

fn awaiting(e: &MendixEnvironment) -> bool {
    e.status
        .as_ref()
        .is_some_and(|s| s.phase == Some(EnvironmentPhase::AwaitingApproval))
}

fn ready_message(e: &MendixEnvironment) -> String {
    e.status
        .as_ref()
        .and_then(|s| mendix_operator::crd::conditions::find(&s.conditions, "Ready"))
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

async fn annotate(h: &Harness, value: &str) {
    h.environments()
        .patch(
            "calc-test",
            &PatchParams::default(),
            &Patch::Merge(
                &json!({"metadata": {"annotations": {"mendixops.io/approvedPlan": value}}}),
            ),
        )
        .await
        .expect("annotated");
}

#[tokio::test]
async fn a_manual_change_waits_for_the_approval_of_its_plan_and_the_approval_is_used_once() {
    let h = Harness::started().await;
    h.create::<MendixEnvironment>(&cloud_env_deployed(
        "calc-test",
        "Test",
        "  changeApproval: Manual
  constants: [{name: MyFirstModule.ApiUrl, value: 'https://approved.example.com'}]
",
    ))
    .await;
    let e = h.wait_environment("calc-test", awaiting).await;
    let plan = e
        .status
        .as_ref()
        .and_then(|s| s.plan.clone())
        .expect("plan");
    println!("plan {}:\n  {}", plan.hash, plan.steps.join("\n  "));
    assert_eq!(plan.hash.len(), 12);
    assert!(
        plan.steps
            .iter()
            .any(|s| s.contains("MyFirstModule.ApiUrl")
                && s.contains("https://approved.example.com")),
        "{:?}",
        plan.steps
    );
    assert!(
        plan.steps.iter().any(|s| s.starts_with("starting")),
        "{:?}",
        plan.steps
    );
    assert!(!plan.approved);
    let reconciling = e
        .status
        .as_ref()
        .and_then(|s| mendix_operator::crd::conditions::find(&s.conditions, "Reconciling"))
        .cloned()
        .expect("Reconciling");
    assert_eq!(
        (reconciling.status.as_str(), reconciling.reason.as_str()),
        ("True", "AwaitingApproval"),
        "in progress, not degraded"
    );
    assert_eq!(writes(&h), 0, "nothing is written before the approval");
    // Flux's kstatus (the real library) reads the wait as in progress, not as failed.
    let object = serde_json::to_value(&e).expect("JSON");
    assert_eq!(
        mendix_testkit::kstatus::kstatus(&object),
        mendix_testkit::kstatus::KStatus::InProgress,
        "{object:#}"
    );

    // An approval of another plan is reported, not ignored, and approves nothing.
    annotate(&h, "000000000000").await;
    let e = h
        .wait_environment("calc-test", |e| {
            ready_message(e).contains("matches no plan")
        })
        .await;
    assert!(awaiting(&e), "{:?}", e.status);
    assert_eq!(writes(&h), 0);

    // The plan's hash approves it: the operator carries it out.
    annotate(&h, &plan.hash).await;
    let e = h.wait_environment("calc-test", environment_ready).await;
    let status = e.status.expect("status");
    assert_eq!(
        status.last_approved_plan.as_deref(),
        Some(plan.hash.as_str())
    );
    assert!(status.plan.is_none());
    assert_eq!(h.mendix.stats().count("v1_set_settings"), 1);
    assert_eq!(h.mendix.stats().count("v1_start_environment"), 1);

    // A spec change makes a new plan; the old approval does not carry over.
    let before = writes(&h);
    h.environments()
        .patch(
            "calc-test",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"constants": [
                {"name": "MyFirstModule.ApiUrl", "value": "https://again.example.com"}
            ]}})),
        )
        .await
        .expect("spec changed");
    let e = h
        .wait_environment("calc-test", |e| {
            awaiting(e) && e.status.as_ref().and_then(|s| s.observed_generation) == Some(2)
        })
        .await;
    let next = e.status.and_then(|s| s.plan).expect("a new plan");
    assert_ne!(next.hash, plan.hash);
    assert_eq!(writes(&h), before, "nothing written for the new plan yet");
}
