//! Deployment windows against a real API server and the Mendix sandbox: a change that would
//! replace a running app's pods waits for the next window and writes nothing before it; an
//! override lets one change through; an open window lets it go.

use kube::api::{Patch, PatchParams};
use serde_json::json;

use mendix_operator::crd::MendixEnvironment;
use mendix_operator::crd::environment::EnvironmentPhase;
use mendix_sandbox::demo;
use mendix_testkit::resources::pc_env_deployed;
use mendix_testkit::{Harness, environment_ready, environment_stalled};

/// A weekday name three days from now (UTC): a window on it is closed now.
fn closed_day() -> &'static str {
    let days = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .weekday()
        .to_monday_zero_offset();
    days[(usize::try_from(today).unwrap_or(0) + 3) % 7]
}

fn updates(h: &Harness) -> u64 {
    h.mendix.stats().count("update_environment_for_namespace")
}

fn waiting(e: &MendixEnvironment) -> bool {
    e.status
        .as_ref()
        .is_some_and(|s| s.phase == Some(EnvironmentPhase::WaitingForWindow))
}

async fn patch(h: &Harness, body: serde_json::Value) {
    h.environments()
        .patch("pc", &PatchParams::default(), &Patch::Merge(&body))
        .await
        .expect("patched");
}

#[tokio::test]
async fn a_change_that_replaces_the_pods_waits_for_its_window() {
    let h = Harness::started().await;
    let day = closed_day();
    h.create::<MendixEnvironment>(&pc_env_deployed(
        "pc",
        demo::PC_ENVIRONMENT_TEST,
        &format!(
            "  constants: [{{name: MyFirstModule.ApiUrl, value: 'https://windowed.example.com'}}]
  deploymentWindows: [{{days: [{day}], start: '02:00', end: '04:00', timeZone: UTC}}]
"
        ),
    ))
    .await;
    let e = h.wait_environment("pc", waiting).await;
    let message = e
        .status
        .as_ref()
        .and_then(|s| mendix_operator::crd::conditions::find(&s.conditions, "Reconciling"))
        .map(|c| c.message.clone())
        .unwrap_or_default();
    println!("held: {message}");
    assert!(
        message.contains("waiting for the next deployment window, opening"),
        "{message}"
    );
    assert!(message.contains("MyFirstModule.ApiUrl"), "{message}");
    assert_eq!(updates(&h), 0, "nothing is written before the window");
    let object = serde_json::to_value(&e).expect("JSON");
    assert_eq!(
        mendix_testkit::kstatus::kstatus(&object),
        mendix_testkit::kstatus::KStatus::InProgress,
        "a held change is in progress for Flux: {object:#}"
    );

    // The override lets this one change through.
    h.environments()
        .patch(
            "pc",
            &PatchParams::default(),
            &Patch::Merge(
                &json!({"metadata": {"annotations": {"mendixops.io/deployNow": "incident-42"}}}),
            ),
        )
        .await
        .expect("annotated");
    let e = h.wait_environment("pc", environment_ready).await;
    assert_eq!(updates(&h), 1);
    assert_eq!(
        e.status.and_then(|s| s.last_deploy_now).as_deref(),
        Some("incident-42")
    );

    // Used once: the next change waits again.
    patch(
        &h,
        json!({"spec": {"constants": [{"name": "MyFirstModule.ApiUrl", "value": "https://next.example.com"}]}}),
    )
    .await;
    h.wait_environment("pc", |e| {
        waiting(e) && e.status.as_ref().and_then(|s| s.observed_generation) == Some(2)
    })
    .await;
    assert_eq!(updates(&h), 1);

    // A window that is open now lets it go.
    patch(
        &h,
        json!({"spec": {"deploymentWindows": [
            {"days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
             "start": "00:00", "end": "12:00", "timeZone": "UTC"},
            {"days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
             "start": "12:00", "end": "00:00", "timeZone": "UTC"}
        ]}}),
    )
    .await;
    h.wait_environment("pc", |e| {
        environment_ready(e) && e.status.as_ref().and_then(|s| s.observed_generation) == Some(3)
    })
    .await;
    assert_eq!(updates(&h), 2);
}

#[tokio::test]
async fn an_unknown_time_zone_stalls_and_the_schema_refuses_empty_windows() {
    let h = Harness::started().await;
    h.create::<MendixEnvironment>(&pc_env_deployed(
        "pc",
        demo::PC_ENVIRONMENT_TEST,
        "  instances: 2
  deploymentWindows: [{days: [Monday], start: '02:00', end: '04:00', timeZone: Mars/Olympus}]
",
    ))
    .await;
    let e = h.wait_environment("pc", environment_stalled).await;
    let stalled = e
        .status
        .as_ref()
        .and_then(|s| mendix_operator::crd::conditions::find(&s.conditions, "Stalled"))
        .cloned()
        .expect("Stalled");
    assert_eq!(stalled.reason, "InvalidWindow");
    assert!(
        stalled
            .message
            .contains("spec.deploymentWindows[0].timeZone"),
        "{}",
        stalled.message
    );
    assert_eq!(updates(&h), 0);

    for (window, expected) in [
        (
            json!({"days": [], "start": "02:00", "end": "04:00", "timeZone": "UTC"}),
            "days",
        ),
        (
            json!({"days": ["Monday"], "start": "02:00", "end": "02:00", "timeZone": "UTC"}),
            "end must differ from its start",
        ),
        (
            json!({"days": ["Monday"], "start": "25:00", "end": "02:00", "timeZone": "UTC"}),
            "start",
        ),
    ] {
        let err = h
            .environments()
            .patch(
                "pc",
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"deploymentWindows": [window]}})),
            )
            .await
            .expect_err("refused by the schema");
        assert!(err.to_string().contains(expected), "{err}");
    }
}
