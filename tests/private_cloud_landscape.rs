//! The Private Cloud landscape as code, against a real API server and the Mendix sandbox:
//! environments created from the spec and deleted by policy, the rest of the manifest
//! declarative, and MendixCluster / MendixNamespace adopted or created, converged and deleted.

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

use mendix_operator::crd::landscape::{LandscapePhase, MendixCluster, MendixNamespace};
use mendix_operator::crd::{MendixEnvironment, conditions};
use mendix_sandbox::demo;
use mendix_testkit::resources::{pc_cluster, pc_env_created, pc_namespace};
use mendix_testkit::{
    Harness, PC_SECRET, environment_ready, environment_reconciled_on_request, environment_stalled,
    ready, wait_for,
};

const NEW_CLUSTER: &str = "4a1b2c3d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
const NEW_NAMESPACE: &str = "7c6b5a49-3e2d-4c1b-9a08-f7e6d5c4b3a2";

fn count(h: &Harness, op: &str) -> u64 {
    h.mendix.stats().count(op)
}

fn env_yaml(name: &str, environment: &str, namespace: &str, extra: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: {name}}}
spec:
  target: {{privateCloud: {{appId: {app}, {namespace}, environmentId: {environment}}}}}
  credentialsSecretRef: {{name: {PC_SECRET}}}
  packageId: {package}
{extra}",
        app = demo::PC_APP_ID,
        package = demo::PC_EXISTING_PACKAGE_ID,
    )
}

async fn request_reconcile<K>(api: &Api<K>, name: &str, value: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(
            &json!({"metadata": {"annotations": {"mendixops.io/reconcileRequestedAt": value}}}),
        ),
    )
    .await
    .expect("annotated");
}

async fn wait_gone<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    wait_for(
        &format!("{name} to be gone"),
        || async { Some(api.get_opt(name).await.expect("readable").is_none()) },
        |gone| *gone,
    )
    .await;
}

fn reason(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    type_: &str,
) -> String {
    conditions::find(conditions, type_)
        .filter(|c| c.status == "True")
        .map(|c| c.reason.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_missing_environment_is_created_with_the_whole_manifest_and_deleted_by_policy() {
    let h = Harness::started().await;
    h.put_secret(
        "app-secrets",
        &[("token", "tok-9f8e7d6c5b4a"), ("admin", "Adm1n-first-4c2b")],
    )
    .await;
    let settings = format!(
        "  instances: 2
  deletionPolicy: Delete
  privateCloud:
    create:
      name: Calc new
      appUrl: https://calc-new.example.com
      purpose: Test
      clusterId: {cluster}
      namespace: mendix-apps
      services: [{{name: mendix-apps-db, plan: OnDemand, type: database}}]
    coreResources: {{requests: {{cpu: '0.5', memory: '1'}}, limits: {{cpu: '1', memory: '2'}}}}
    environmentVariables:
      - {{name: FEATURE_X, value: 'on'}}
      - {{name: API_TOKEN, valueFrom: {{secretKeyRef: {{name: app-secrets, key: token}}}}}}
    appLogLevels: [{{name: ConnectionBus, level: DEBUG}}]
    runtimeMetrics: {{mode: native}}
    deploymentStrategy: {{maxSurge: 25, maxUnavailable: 0}}
    adminPasswordSecretRef: {{name: app-secrets, key: admin}}
    annotations: [{{key: prometheus.io/port, value: '8900', type: Pod}}]
",
        cluster = demo::PC_CLUSTER_ID
    );
    h.create::<MendixEnvironment>(&env_yaml(
        "calc-new",
        "calc-new",
        &format!("namespaceId: {}", demo::PC_NAMESPACE_ID),
        &settings,
    ))
    .await;
    let e = h.wait_environment("calc-new", environment_ready).await;
    let status = e.status.clone().expect("status");
    assert_eq!(status.created, Some(true));
    assert_eq!(status.instances, Some(2));
    assert_eq!(status.url.as_deref(), Some("https://calc-new.example.com"));
    assert!(
        status
            .admin_password_version
            .as_deref()
            .is_some_and(|v| v.starts_with("app-secrets/admin/")),
        "{status:?}"
    );

    let remote = h.pc_env_state("calc-new");
    let manifest = &remote["environment"];
    assert_eq!(manifest["properties"]["name"], "Calc new");
    assert_eq!(manifest["properties"]["environmentPurpose"], "Test");
    assert_eq!(
        manifest["container"]["coreResources"]["limits"]["memory"],
        "2"
    );
    assert_eq!(
        manifest["container"]["coreResources"]["requests"]["cpu"],
        "0.5"
    );
    assert_eq!(manifest["container"]["instances"], 2);
    assert_eq!(manifest["services"][0]["name"], "mendix-apps-db");
    let vars = manifest["runtime"]["environmentVariables"].to_string();
    assert!(
        vars.contains("FEATURE_X") && vars.contains("tok-9f8e7d6c5b4a"),
        "{vars}"
    );
    assert_eq!(
        manifest["deployment"]["appLogLevels"][0],
        json!({"name": "ConnectionBus", "level": "DEBUG"})
    );
    assert_eq!(manifest["runtimeMetricsConfiguration"]["mode"], "native");
    assert_eq!(
        manifest["deploymentStrategy"],
        json!({"maxSurge": 25, "maxUnavailable": 0})
    );
    assert_eq!(
        manifest["annotations"][0],
        json!({"key": "prometheus.io/port", "value": "8900", "annotationType": "Pod"})
    );
    assert_eq!(
        count(&h, "create_environment"),
        1,
        "one POST with everything in it"
    );
    assert_eq!(
        count(&h, "update_environment_for_namespace"),
        0,
        "no PUT after the POST"
    );

    // Converged: later reconciles send nothing (the write-only password is not resent).
    let since = h.reconciles().await;
    request_reconcile(&h.environments(), "calc-new", "1").await;
    h.wait_reconciles(since, 2).await;
    assert_eq!(count(&h, "update_environment_for_namespace"), 0);

    // A new admin password in the Secret is sent once.
    h.put_secret(
        "app-secrets",
        &[
            ("token", "tok-9f8e7d6c5b4a"),
            ("admin", "Adm1n-second-8d1e"),
        ],
    )
    .await;
    request_reconcile(&h.environments(), "calc-new", "2").await;
    wait_for(
        "the new admin password to be sent",
        || async { Some(count(&h, "update_environment_for_namespace")) },
        |n| *n == 1,
    )
    .await;
    h.wait_environment("calc-new", environment_reconciled_on_request("2"))
        .await;
    assert_eq!(count(&h, "update_environment_for_namespace"), 1);

    // deletionPolicy: Delete removes the remote environment before the resource goes.
    h.environments()
        .delete("calc-new", &DeleteParams::default())
        .await
        .expect("delete accepted");
    wait_gone(&h.environments(), "calc-new").await;
    assert!(h.pc_env_state("calc-new").is_null(), "deleted in Mendix");
    assert_eq!(count(&h, "delete_environment_for_namespace"), 1);
}

#[tokio::test]
async fn a_production_environment_is_never_deleted_without_production_true() {
    let h = Harness::started().await;
    h.create::<MendixEnvironment>(&env_yaml(
        "calc-prod",
        demo::PC_ENVIRONMENT_PRODUCTION,
        &format!("namespaceId: {}", demo::PC_NAMESPACE_ID),
        "  deletionPolicy: Delete\n",
    ))
    .await;
    let e = h.wait_environment("calc-prod", environment_stalled).await;
    let status = e.status.expect("status");
    assert_eq!(
        reason(&status.conditions, "Stalled"),
        "ProductionNotAllowed"
    );
    h.environments()
        .delete("calc-prod", &DeleteParams::default())
        .await
        .expect("delete accepted");
    wait_gone(&h.environments(), "calc-prod").await;
    assert!(
        !h.pc_env_state(demo::PC_ENVIRONMENT_PRODUCTION).is_null(),
        "the production environment stays in Mendix"
    );
    assert_eq!(count(&h, "delete_environment_for_namespace"), 0);
}

#[tokio::test]
async fn a_missing_environment_without_create_stalls_and_says_how_to_create_it() {
    let h = Harness::started().await;
    h.create::<MendixEnvironment>(&env_yaml(
        "nowhere",
        "nowhere",
        &format!("namespaceId: {}", demo::PC_NAMESPACE_ID),
        "",
    ))
    .await;
    let e = h.wait_environment("nowhere", environment_stalled).await;
    let stalled = conditions::find(&e.status.expect("status").conditions, "Stalled")
        .cloned()
        .expect("Stalled");
    assert_eq!(stalled.reason, "EnvironmentNotFound");
    assert!(
        stalled.message.contains("spec.privateCloud.create"),
        "{}",
        stalled.message
    );
    assert_eq!(
        count(&h, "create_environment"),
        0,
        "nothing created unasked"
    );
}

#[tokio::test]
async fn cluster_namespace_and_environment_are_created_converged_and_deleted_in_order() {
    let h = Harness::started().await;
    h.put_secret("installer", &[("secret", "ns-installer-5b7c9d1e")])
        .await;
    let clusters: Api<MendixCluster> = Api::namespaced(h.client.clone(), &h.ns);
    let namespaces: Api<MendixNamespace> = Api::namespaced(h.client.clone(), &h.ns);

    h.create::<MendixCluster>(&pc_cluster(
        "platform",
        NEW_CLUSTER,
        "  description: Platform team cluster
  managers: [{email: lead@example.com, autoAcceptInvite: true}, {email: ops@example.com}]
",
    ))
    .await;
    let cluster = wait_for(
        "the cluster to be Ready",
        || async { Some(clusters.get("platform").await.expect("readable")) },
        |c: &MendixCluster| {
            ready(
                c,
                c.status
                    .as_ref()
                    .map(|s| (s.conditions.as_slice(), s.observed_generation)),
            )
        },
    )
    .await;
    let members = cluster.status.expect("status").members;
    assert_eq!(members.len(), 2, "{members:?}");
    assert_eq!(members[0].status.as_deref(), Some("Accepted"));
    assert_eq!(members[1].status.as_deref(), Some("Invitation_Sent"));
    assert_eq!(count(&h, "create_cluster"), 1);
    assert_eq!(
        count(&h, "update_cluster"),
        1,
        "managers are set by one update"
    );

    h.create::<MendixNamespace>(&pc_namespace(
        "team-a",
        NEW_NAMESPACE,
        "platform",
        "  developmentMode: true
  plans: [{name: team-a-db, active: true}]
  members: [{email: dev@example.com, role: Developer}]
",
    ))
    .await;
    let ns = wait_for(
        "the namespace to wait for its installation",
        || async { Some(namespaces.get("team-a").await.expect("readable")) },
        |n: &MendixNamespace| {
            n.status.as_ref().and_then(|s| s.phase) == Some(LandscapePhase::NotInstalled)
        },
    )
    .await;
    let status = ns.status.expect("status");
    let message = conditions::find(&status.conditions, "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains("mxpc-cli installer -n team-a"),
        "{message}"
    );
    assert!(
        !message.contains("ns-installer-5b7c9d1e"),
        "the secret is never shown"
    );
    assert!(
        status
            .plans
            .iter()
            .any(|p| p.name == "team-a-db" && p.active),
        "{:?}",
        status.plans
    );
    assert_eq!(status.members.len(), 1);

    // An environment in it waits for the namespace to be Ready.
    h.create::<MendixEnvironment>(&pc_env_created("team-a-test", "team-a", ""))
        .await;
    let e = h
        .wait_environment("team-a-test", |e| {
            e.status.as_ref().is_some_and(|s| {
                conditions::find(&s.conditions, "Reconciling")
                    .is_some_and(|c| c.reason == "WaitingForNamespace")
            })
        })
        .await;
    assert!(e.status.expect("status").created.is_none());
    assert_eq!(
        count(&h, "create_environment"),
        0,
        "nothing sent while it waits"
    );

    // Named by id instead, the environment is created at once, and Mendix refuses: the
    // namespace has no Mendix Operator yet. It stalls, saying so.
    h.create::<MendixEnvironment>(&env_yaml(
        "by-id",
        "by-id",
        &format!("namespaceId: {NEW_NAMESPACE}"),
        &format!(
            "  privateCloud:
    create: {{name: By id, appUrl: https://by-id.example.com, clusterId: {NEW_CLUSTER}, namespace: team-a}}
    coreResources: {{requests: {{cpu: '0.25', memory: '0.5'}}, limits: {{cpu: '1', memory: '1'}}}}
"
        ),
    ))
    .await;
    let e = h.wait_environment("by-id", environment_stalled).await;
    let stalled = conditions::find(&e.status.expect("status").conditions, "Stalled")
        .cloned()
        .expect("Stalled");
    assert_eq!(stalled.reason, "CreateFailed");
    assert!(
        stalled.message.contains("mxpc-cli installer"),
        "{}",
        stalled.message
    );
    h.environments()
        .delete("by-id", &DeleteParams::default())
        .await
        .expect("delete accepted");
    wait_gone(&h.environments(), "by-id").await;
    assert!(
        h.pc_env_state("by-id").is_null(),
        "nothing half-created is left"
    );

    // mxpc-cli installer runs (outside the operator); the namespace becomes Ready, then the
    // environment is created in it.
    assert!(h.mendix.install_namespace(NEW_NAMESPACE));
    request_reconcile(&namespaces, "team-a", "installed").await;
    wait_for(
        "the namespace to be Ready",
        || async { Some(namespaces.get("team-a").await.expect("readable")) },
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
    let e = h.wait_environment("team-a-test", environment_ready).await;
    assert_eq!(e.status.expect("status").created, Some(true));
    assert_eq!(
        h.pc_env_state("team-a-test")["environment"]["provider"],
        json!({"clusterId": NEW_CLUSTER, "namespace": "team-a", "namespaceId": NEW_NAMESPACE})
    );

    // A plan the namespace does not have stalls, naming it and the plans there are.
    namespaces
        .patch(
            "team-a",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"plans": [{"name": "team-a-nope", "active": true}]}})),
        )
        .await
        .expect("patched");
    let ns = wait_for(
        "the unknown plan to stall",
        || async { Some(namespaces.get("team-a").await.expect("readable")) },
        |n: &MendixNamespace| {
            n.status
                .as_ref()
                .is_some_and(|s| reason(&s.conditions, "Stalled") == "UnknownPlan")
        },
    )
    .await;
    let message = conditions::find(&ns.status.expect("status").conditions, "Stalled")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains("team-a-nope") && message.contains("team-a-db"),
        "{message}"
    );

    // Deleted all at once, as Argo CD deleting an app would: Mendix refuses to delete a
    // namespace with environments and a cluster with namespaces, so each refusal waits under
    // its finalizer and is tried again as soon as what was inside is gone (not a resync later).
    clusters
        .delete("platform", &DeleteParams::default())
        .await
        .expect("delete accepted");
    namespaces
        .delete("team-a", &DeleteParams::default())
        .await
        .expect("delete accepted");
    h.environments()
        .delete("team-a-test", &DeleteParams::default())
        .await
        .expect("delete accepted");
    wait_gone(&h.environments(), "team-a-test").await;
    wait_gone(&namespaces, "team-a").await;
    wait_gone(&clusters, "platform").await;
    let state = h.mendix.state_json();
    assert!(
        !state["privateCloud"]["clusters"]
            .to_string()
            .contains(NEW_CLUSTER),
        "cluster and namespace are gone from Mendix: {}",
        state["privateCloud"]["clusters"]
    );
    assert!(
        h.pc_env_state("team-a-test").is_null(),
        "the environment is gone from Mendix"
    );
    assert!(count(&h, "delete_namespace") >= 1);
    assert!(count(&h, "delete_cluster") >= 1);
}

#[tokio::test]
async fn the_schema_refuses_what_the_landscape_cannot_do() {
    let h = Harness::new().await;
    let refused = |yaml: String| {
        let h = &h;
        async move {
            let obj: MendixEnvironment = serde_yaml::from_str(&yaml).expect("YAML parses");
            let err = h
                .environments()
                .create(&Default::default(), &obj)
                .await
                .expect_err("refused by the schema");
            err.to_string()
        }
    };
    let cloud = format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: cloud-delete}}
spec:
  target: {{mendixCloud: {{appId: {}, mode: Test}}}}
  credentialsSecretRef: {{name: creds}}
  packageId: {}
  deletionPolicy: Delete
",
        demo::CLOUD_APP_ID,
        demo::PC_EXISTING_PACKAGE_ID
    );
    let message = refused(cloud).await;
    assert!(
        message.contains("spec.deletionPolicy: Delete is only available for Private Cloud"),
        "{message}"
    );
    let no_resources = env_yaml(
        "no-resources",
        "x",
        &format!("namespaceId: {}", demo::PC_NAMESPACE_ID),
        "  privateCloud:\n    create: {name: X, appUrl: https://x.example.com, clusterId: 4a1b2c3d-5e6f-4a7b-8c9d-0e1f2a3b4c5d, namespace: x}\n",
    );
    let message = refused(no_resources).await;
    assert!(
        message.contains("spec.privateCloud.coreResources is required"),
        "{message}"
    );
}
