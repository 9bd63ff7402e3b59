//! The statuses the controllers write, read the way kstatus (and so Flux) reads them.

use k8s_openapi::jiff::Timestamp;
use mendix_operator::crd::MendixPackageStatus;
use mendix_operator::crd::conditions::{Outcome, apply_outcome};
use mendix_testkit::kstatus::{KStatus, kstatus};
use serde_json::{Value, json};

fn package_with(outcome: &Outcome, generation: i64, observed: i64) -> Value {
    let mut status = MendixPackageStatus {
        observed_generation: Some(observed),
        ..Default::default()
    };
    let now = Timestamp::from_second(1_763_800_000).expect("valid time");
    apply_outcome(&mut status.conditions, outcome, Some(observed), now);
    json!({"apiVersion": "mendixops.io/v1alpha1", "kind": "MendixPackage", "metadata": {"name": "p", "generation": generation}, "status": status})
}

#[test]
fn each_outcome_maps_to_the_documented_kstatus() {
    let building = Outcome::progressing("Building", "1/2: building 2.5.4");
    let ready = Outcome::ready("Succeeded", "package 2.5.4 is ready");
    let failed = Outcome::stalled(
        "BuildFailed",
        "the build failed: fix the model and create a new package",
    );
    assert_eq!(kstatus(&package_with(&building, 1, 1)), KStatus::InProgress);
    assert_eq!(kstatus(&package_with(&ready, 1, 1)), KStatus::Current);
    assert_eq!(kstatus(&package_with(&failed, 1, 1)), KStatus::Failed);
}

#[test]
fn a_new_generation_is_in_progress_until_observed() {
    let ready = Outcome::ready("Succeeded", "ok");
    assert_eq!(kstatus(&package_with(&ready, 2, 1)), KStatus::InProgress);
}

#[test]
fn deletion_is_terminating() {
    let mut obj = package_with(&Outcome::ready("Succeeded", "ok"), 1, 1);
    obj["metadata"]["deletionTimestamp"] = json!("2026-11-22T00:00:00Z");
    assert_eq!(kstatus(&obj), KStatus::Terminating);
}

#[test]
fn flux_example_checks_both_kinds() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/flux/kustomization.yaml");
    let doc: Value = serde_yaml::from_str(&std::fs::read_to_string(path).expect("example exists"))
        .expect("parses");
    assert_eq!(doc["kind"], "Kustomization");
    let kinds: Vec<&str> = doc["spec"]["healthChecks"]
        .as_array()
        .expect("healthChecks")
        .iter()
        .filter_map(|h| h["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["MendixPackage", "MendixEnvironment"]);
}
