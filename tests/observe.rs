//! `managementPolicy: Observe` against a real API server and the Mendix sandbox: an observed
//! resource reads Mendix and reports where it differs from the spec, and never writes; setting
//! Manage hands it over.

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use mendix_operator::crd::landscape::MendixNamespace;
use mendix_operator::crd::{CONDITION_DRIFTED, MendixEnvironment, conditions};
use mendix_sandbox::demo;
use mendix_testkit::resources::{cloud_env_deployed, pc_env_deployed};
use mendix_testkit::{Harness, PC_SECRET, environment_ready, ready, wait_for};

/// Requests that change something in Mendix, of every API.
const WRITES: &[&str] = &[
    "v1_build_package",
    "v1_upload_package",
    "v1_delete_package",
    "v1_start_environment",
    "v1_stop_environment",
    "v1_transport",
    "v1_clean_environment",
    "v1_set_settings",
    "v1_scale",
    "v1_create_tag",
    "v1_delete_tag",
    "build_deployment_package",
    "upload_deployment_package",
    "delete_deployment_package",
    "create_environment",
    "update_environment_for_namespace",
    "delete_environment_for_namespace",
    "create_cluster",
    "update_cluster",
    "delete_cluster",
    "create_namespace",
    "update_namespace_manifest",
    "delete_namespace",
];

fn writes(h: &Harness) -> u64 {
    let stats = h.mendix.stats();
    WRITES.iter().map(|op| stats.count(op)).sum()
}

fn drifted(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> Option<(String, String)> {
    conditions::find(conditions, CONDITION_DRIFTED).map(|c| (c.status.clone(), c.message.clone()))
}

fn observed_env(e: &MendixEnvironment) -> bool {
    environment_ready(e)
        && e.status
            .as_ref()
            .is_some_and(|s| drifted(&s.conditions).is_some())
}

#[tokio::test]
async fn an_observed_environment_reports_drift_and_writes_nothing_until_it_is_managed() {
    let h = Harness::started().await;
    // The demo app's Test environment runs its package; the spec asks for another constant
    // value, another package and a running app (it is stopped).
    h.create::<MendixEnvironment>(&cloud_env_deployed(
        "calc-test",
        "Test",
        "  managementPolicy: Observe
  constants: [{name: MyFirstModule.ApiUrl, value: 'https://observed.example.com'}]
",
    ))
    .await;
    let e = h.wait_environment("calc-test", observed_env).await;
    let status = e.status.clone().expect("status");
    let (drift_status, message) = drifted(&status.conditions).expect("Drifted");
    assert_eq!(drift_status, "True", "{message}");
    assert!(
        message.contains("MyFirstModule.ApiUrl: differs"),
        "{message}"
    );
    assert!(
        message.contains("run state: Stopped, the spec says Running"),
        "{message}"
    );
    assert!(
        !message.contains("observed.example.com"),
        "values are not shown: {message}"
    );
    assert_eq!(writes(&h), 0, "an observer writes nothing");
    let since = h.reconciles().await;
    h.environments()
        .patch(
            "calc-test",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"annotations": {
                "mendixops.io/reconcileRequestedAt": "again",
                "mendixops.io/restartedAt": "ignored-while-observing"
            }}})),
        )
        .await
        .expect("annotated");
    h.wait_reconciles(since, 1).await;
    assert_eq!(writes(&h), 0, "not on a resync or a restart request either");

    // Manage: the operator converges it, and the Drifted condition goes.
    h.environments()
        .patch(
            "calc-test",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"managementPolicy": "Manage"}})),
        )
        .await
        .expect("handed over");
    let e = h
        .wait_environment("calc-test", |e| {
            environment_ready(e) && e.metadata.generation == Some(2)
        })
        .await;
    let status = e.status.expect("status");
    assert!(
        drifted(&status.conditions).is_none(),
        "{:?}",
        status.conditions
    );
    assert!(h.mendix.stats().count("v1_start_environment") >= 1);
    assert!(h.mendix.stats().count("v1_set_settings") >= 1);
}

#[tokio::test]
async fn observing_production_needs_no_production_flag_and_reports_in_sync() {
    let h = Harness::started().await;
    // Exactly what runs: the demo's production environment, observed without production: true.
    h.create::<MendixEnvironment>(&pc_env_deployed(
        "calc-prod",
        demo::PC_ENVIRONMENT_PRODUCTION,
        "  managementPolicy: Observe\n",
    ))
    .await;
    let e = h.wait_environment("calc-prod", observed_env).await;
    let status = e.status.expect("status");
    assert_eq!(
        drifted(&status.conditions).map(|(s, _)| s).as_deref(),
        Some("False"),
        "{:?}",
        status.conditions
    );
    assert_eq!(status.production, Some(true));
    assert_eq!(writes(&h), 0);

    // The demo namespace, observed without its installer secret.
    let namespaces: Api<MendixNamespace> = Api::namespaced(h.client.clone(), &h.ns);
    h.create::<MendixNamespace>(&format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixNamespace
metadata: {{name: mendix-apps}}
spec:
  credentialsSecretRef: {{name: {PC_SECRET}}}
  clusterId: {cluster}
  namespaceId: {namespace}
  name: mendix-apps
  installationType: Connected
  developmentMode: true
  managementPolicy: Observe
",
        cluster = demo::PC_CLUSTER_ID,
        namespace = demo::PC_NAMESPACE_ID
    ))
    .await;
    let ns = wait_for(
        "the namespace to be observed",
        || async { namespaces.get("mendix-apps").await.ok() },
        |n: &MendixNamespace| {
            ready(
                n,
                n.status
                    .as_ref()
                    .map(|s| (s.conditions.as_slice(), s.observed_generation)),
            )
        },
    )
    .await;
    let (drift_status, message) = drifted(&ns.status.expect("status").conditions).expect("Drifted");
    assert_eq!(drift_status, "True");
    assert!(message.contains("development mode"), "{message}");
    assert_eq!(writes(&h), 0);
}

#[tokio::test]
async fn the_schema_refuses_observing_a_package_that_must_be_built() {
    let h = Harness::new().await;
    let yaml = format!(
        "{}  managementPolicy: Observe\n",
        mendix_testkit::cloud_build("observed-build", demo::GOOD_REVISION, "1.2.3")
    );
    let package: mendix_operator::crd::MendixPackage =
        serde_yaml::from_str(&yaml).expect("YAML parses");
    let err = h
        .packages()
        .create(&Default::default(), &package)
        .await
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("spec.managementPolicy: Observe only adopts a package that exists"),
        "{err}"
    );
}
