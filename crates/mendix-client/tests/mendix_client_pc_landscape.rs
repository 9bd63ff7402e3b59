//! The Private Cloud landscape through the client, against the Mendix sandbox over HTTP on
//! loopback: clusters and namespaces created, updated and deleted (every write a job), a
//! namespace made usable by `mxpc-cli installer`, and the refusals the contract and the docs
//! call for, each naming its field. The request bodies the client sends are held to the
//! OpenAPI request schemas.

mod mendix_client_support;

use std::path::PathBuf;

use mendix_client::private_cloud_v4::PcDeploy;
use mendix_client::private_cloud_v4::types::*;
use mendix_client::{ErrorClass, MendixError};
use mendix_client_support::*;
use mendix_sandbox::demo::*;
use serde_json::{Value, json};

const CLUSTER: &str = "5a5b5c5d-5e5f-4a6b-8c7d-8e9f0a1b2c3d";
const NAMESPACE: &str = "6a6b6c6d-6e6f-4a7b-8c8d-9e0f1a2b3c4d";
const MAIN_NAMESPACE: &str = "7a7b7c7d-7e7f-4a8b-8c9d-0e1f2a3b4c5d";
/// base64 of "landscape-secret-1": the installer secret of the test namespaces.
const SECRET: &str = "bGFuZHNjYXBlLXNlY3JldC0x";

async fn done(deploy: &PcDeploy, handle: &JobHandle) -> Job {
    eventually("the job to end", || async {
        let job = deploy.job(handle).await.unwrap();
        job.is_done().then_some(job)
    })
    .await
}

async fn finished(deploy: &PcDeploy, handle: &JobHandle) {
    let job = done(deploy, handle).await;
    assert_eq!(job.status, JobStatus::Finished, "{job:?}");
}

async fn failed(deploy: &PcDeploy, handle: &JobHandle) -> String {
    let job = done(deploy, handle).await;
    assert_eq!(job.status, JobStatus::Failed, "{job:?}");
    job.failure_message().unwrap_or_default()
}

/// A 400 that names `field` (the sandbox's `invalid-params`, kept in the client's message).
fn assert_names(err: &MendixError, field: &str) {
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400), "{err}");
    assert_eq!(err.class(), ErrorClass::Terminal, "{err}");
    assert!(err.to_string().contains(field), "{field} not named: {err}");
    assert_no_secrets(err);
}

fn cluster_manifest(cluster_id: &str, operator_type: Option<&str>) -> ClusterManifest {
    ClusterManifest {
        manifest_version: Some("2.0.0".into()),
        cluster: Some(ClusterInfo {
            cluster_id: cluster_id.into(),
            name: Some("landscape".into()),
            cluster_type: Some("eks".into()),
            operator_type: operator_type.map(Into::into),
            description: Some("made by the client test".into()),
            ..ClusterInfo::default()
        }),
    }
}

fn namespace_manifest(namespace_id: &str, name: &str, namespace_type: &str) -> NamespaceManifest {
    NamespaceManifest {
        manifest_version: Some("2.0.0".into()),
        namespace: NamespaceInfo {
            namespace_id: namespace_id.into(),
            name: Some(name.into()),
            namespace_type: Some(namespace_type.into()),
            installation_type: Some("Connected".into()),
            secret: Some(SECRET.into()),
            ..NamespaceInfo::default()
        },
    }
}

fn cluster_of(manifest: &ClusterManifest) -> &ClusterInfo {
    manifest
        .cluster
        .as_ref()
        .expect("the manifest has a cluster")
}

fn cluster_mut(manifest: &mut ClusterManifest) -> &mut ClusterInfo {
    manifest
        .cluster
        .as_mut()
        .expect("the manifest has a cluster")
}

async fn new_cluster(deploy: &PcDeploy, operator_type: Option<&str>) -> ClusterManifest {
    let job = deploy
        .create_cluster(&cluster_manifest(CLUSTER, operator_type))
        .await
        .unwrap();
    finished(deploy, &job).await;
    deploy.get_cluster(CLUSTER).await.unwrap()
}

async fn new_namespace(
    deploy: &PcDeploy,
    namespace_id: &str,
    name: &str,
    namespace_type: &str,
) -> NamespaceManifest {
    let job = deploy
        .create_namespace(
            CLUSTER,
            &namespace_manifest(namespace_id, name, namespace_type),
        )
        .await
        .unwrap();
    finished(deploy, &job).await;
    deploy
        .get_namespace(CLUSTER, namespace_id, false)
        .await
        .unwrap()
}

/// The demo's test environment, renamed `id` and moved to `namespace` of `CLUSTER`.
async fn environment_in(deploy: &PcDeploy, id: &str, namespace: &str) -> EnvironmentManifest {
    let mut manifest = deploy
        .get_environment(PC_APP_ID, PC_NAMESPACE_ID, PC_ENVIRONMENT_TEST)
        .await
        .unwrap();
    manifest.environment.id = id.into();
    manifest.environment.properties.name = id.into();
    manifest.environment.container.state = None;
    manifest.environment.container.last_running_instance_count = None;
    manifest.environment.provider.cluster_id = CLUSTER.into();
    manifest.environment.provider.namespace = namespace.into();
    manifest.environment.provider.namespace_id = Some(NAMESPACE.into());
    manifest
}

// ------------------------------------------------------------------ clusters

#[tokio::test]
async fn a_cluster_is_created_then_updated_with_managers() {
    let env = start().await;
    let deploy = env.mendix.pc_deploy(&pat());
    let created = new_cluster(&deploy, None).await;
    let cluster = cluster_of(&created);
    assert_eq!(
        (
            cluster.name.as_deref(),
            cluster.cluster_type.as_deref(),
            cluster.operator_type.as_deref(),
            cluster.description.as_deref(),
        ),
        (
            Some("landscape"),
            Some("eks"),
            Some("standard_operator"),
            Some("made by the client test")
        )
    );
    assert_eq!(cluster.cluster_managers.as_deref(), Some(&[][..]));
    assert!(
        cluster.extra.contains_key("totalNamespaces"),
        "read-only facts are kept: {cluster:?}"
    );
    assert!(
        deploy
            .list_clusters()
            .await
            .unwrap()
            .iter()
            .any(|c| c.cluster.as_ref().is_some_and(|c| c.cluster_id == CLUSTER))
    );

    // Read, change, write back: managers are invited, or accepted with autoAcceptInvite.
    let mut manifest = created.clone();
    let cluster = cluster_mut(&mut manifest);
    cluster.name = Some("landscape-2".into());
    cluster.cluster_managers = Some(vec![
        ClusterManager {
            email: "ann@example.com".into(),
            ..ClusterManager::default()
        },
        ClusterManager {
            email: "bob@example.com".into(),
            auto_accept_invite: Some(true),
            ..ClusterManager::default()
        },
    ]);
    let job = deploy.update_cluster(CLUSTER, &manifest).await.unwrap();
    finished(&deploy, &job).await;
    let updated = deploy.get_cluster(CLUSTER).await.unwrap();
    let cluster = cluster_of(&updated);
    assert_eq!(cluster.name.as_deref(), Some("landscape-2"));
    let managers: Vec<_> = cluster
        .cluster_managers
        .iter()
        .flatten()
        .map(|m| {
            (
                m.email.as_str(),
                m.status.as_deref(),
                m.display_name.is_some(),
            )
        })
        .collect();
    assert_eq!(
        managers,
        [
            ("ann@example.com", Some("Invitation_Sent"), true),
            ("bob@example.com", Some("Accepted"), true),
        ]
    );

    // autoAcceptInvite is for new invitations only; the list replaces the managers.
    let mut manifest = updated.clone();
    let cluster = cluster_mut(&mut manifest);
    let mut ann = cluster.cluster_managers.clone().unwrap_or_default()[0].clone();
    ann.auto_accept_invite = Some(true);
    cluster.cluster_managers = Some(vec![
        ann,
        ClusterManager {
            email: "carl@example.com".into(),
            ..ClusterManager::default()
        },
    ]);
    let job = deploy.update_cluster(CLUSTER, &manifest).await.unwrap();
    finished(&deploy, &job).await;
    let again = deploy.get_cluster(CLUSTER).await.unwrap();
    let managers: Vec<_> = cluster_of(&again)
        .cluster_managers
        .iter()
        .flatten()
        .map(|m| (m.email.as_str(), m.status.as_deref()))
        .collect();
    assert_eq!(
        managers,
        [
            ("ann@example.com", Some("Invitation_Sent")),
            ("carl@example.com", Some("Invitation_Sent")),
        ]
    );

    // Refusals name the field; nothing changes.
    let mut bad = again.clone();
    cluster_mut(&mut bad).operator_type = Some("global_operator".into());
    let err = deploy.update_cluster(CLUSTER, &bad).await.unwrap_err();
    assert_names(&err, "cluster.operatorType");
    let mut bad = again.clone();
    if let Some(managers) = cluster_mut(&mut bad).cluster_managers.as_mut() {
        managers[1].email = String::new();
    }
    let err = deploy.update_cluster(CLUSTER, &bad).await.unwrap_err();
    assert_names(&err, "cluster.clusterManagers[1].email");
    assert_eq!(deploy.get_cluster(CLUSTER).await.unwrap(), again);
}

#[tokio::test]
async fn a_cluster_id_can_be_used_once() {
    let env = start().await;
    let deploy = env.mendix.pc_deploy(&pat());
    let manifest = cluster_manifest(CLUSTER, None);
    let first = deploy.create_cluster(&manifest).await.unwrap();
    let second = deploy.create_cluster(&manifest).await.unwrap();
    finished(&deploy, &first).await;
    let message = failed(&deploy, &second).await;
    assert!(message.contains(CLUSTER), "{message}");
    let clusters = deploy.list_clusters().await.unwrap();
    let same = clusters
        .iter()
        .filter(|c| c.cluster.as_ref().is_some_and(|c| c.cluster_id == CLUSTER))
        .count();
    assert_eq!(same, 1);
    // A demo cluster id is taken too.
    let taken = deploy
        .create_cluster(&cluster_manifest(PC_CLUSTER_ID, None))
        .await
        .unwrap();
    failed(&deploy, &taken).await;
}

// ------------------------------------------------------------------ namespaces

#[tokio::test]
async fn a_namespace_is_usable_only_after_mxpc_cli_installed_the_operator() {
    let env = start().await;
    let deploy = env.mendix.pc_deploy(&pat());
    new_cluster(&deploy, None).await;
    let registered = new_namespace(&deploy, NAMESPACE, "apps", "standard").await;
    let namespace = &registered.namespace;
    assert_eq!(namespace.name.as_deref(), Some("apps"));
    assert_eq!(namespace.namespace_type.as_deref(), Some("standard"));
    assert_eq!(namespace.installation_type.as_deref(), Some("Connected"));
    assert_eq!(namespace.product_type_pclm.as_deref(), Some("standard"));
    assert_eq!(namespace.operator_version(), None, "not installed yet");
    let plans: Vec<_> = namespace
        .plans
        .iter()
        .flatten()
        .map(|p| (p.plan_name.as_deref(), p.activate))
        .collect();
    assert_eq!(
        plans,
        [
            (Some("apps-db"), Some(false)),
            (Some("apps-str"), Some(false))
        ]
    );

    // An environment in it fails its job: the operator is not there.
    let manifest = environment_in(&deploy, "landscape-env", "apps").await;
    let job = deploy
        .create_environment(PC_APP_ID, &manifest)
        .await
        .unwrap();
    let message = failed(&deploy, &job).await;
    assert!(
        message.contains("no Mendix Operator installed"),
        "{message}"
    );
    let err = deploy
        .get_environment(PC_APP_ID, NAMESPACE, "landscape-env")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");

    // The provider must name the namespace the way the cluster knows it.
    let mut wrong = manifest.clone();
    wrong.environment.provider.namespace = "mendix-apps".into();
    let err = deploy
        .create_environment(PC_APP_ID, &wrong)
        .await
        .unwrap_err();
    assert_names(&err, "environment.provider.namespace");
    let mut wrong = manifest.clone();
    wrong.environment.provider.cluster_id = PC_CLUSTER_ID.into();
    let err = deploy
        .create_environment(PC_APP_ID, &wrong)
        .await
        .unwrap_err();
    assert_names(&err, "environment.provider.clusterId");

    // mxpc-cli installer runs: the manifest shows the operator, environments can be made.
    assert!(env.sandbox.install_namespace(NAMESPACE));
    let installed = deploy
        .get_namespace(CLUSTER, NAMESPACE, false)
        .await
        .unwrap();
    assert_eq!(installed.namespace.operator_version(), Some("2.21.0"));
    let job = deploy
        .create_environment(PC_APP_ID, &manifest)
        .await
        .unwrap();
    finished(&deploy, &job).await;
    let listed = deploy
        .get_namespace(CLUSTER, NAMESPACE, true)
        .await
        .unwrap();
    assert!(
        listed
            .namespace
            .environments
            .iter()
            .flatten()
            .any(|e| e.environment_id.as_deref() == Some("landscape-env")),
        "{listed:?}"
    );
}

#[tokio::test]
async fn namespace_updates_change_plans_development_mode_and_members() {
    let env = start().await;
    let deploy = env.mendix.pc_deploy(&pat());
    new_cluster(&deploy, None).await;
    let read = new_namespace(&deploy, NAMESPACE, "apps", "standard").await;

    let mut manifest = read.clone();
    let namespace = &mut manifest.namespace;
    if let Some(plans) = namespace.plans.as_mut() {
        plans[0].activate = Some(true);
    }
    namespace.enable_development_mode = Some(true);
    namespace.membership = Some(vec![
        NamespaceMember {
            email: "dev@example.com".into(),
            role: "Developer".into(),
            ..NamespaceMember::default()
        },
        NamespaceMember {
            email: "ops@example.com".into(),
            role: "Platform-Team".into(),
            auto_accept_invite: Some(true),
            ..NamespaceMember::default()
        },
    ]);
    let job = deploy
        .update_namespace(CLUSTER, NAMESPACE, &manifest)
        .await
        .unwrap();
    finished(&deploy, &job).await;
    let updated = deploy
        .get_namespace(CLUSTER, NAMESPACE, false)
        .await
        .unwrap();
    let namespace = &updated.namespace;
    let plans: Vec<_> = namespace
        .plans
        .iter()
        .flatten()
        .map(|p| (p.plan_name.as_deref(), p.activate))
        .collect();
    assert_eq!(
        plans,
        [
            (Some("apps-db"), Some(true)),
            (Some("apps-str"), Some(false))
        ]
    );
    assert_eq!(namespace.enable_development_mode, Some(true));
    assert_eq!(namespace.enable_external_secrets_store, Some(false));
    let members: Vec<_> = namespace
        .membership
        .iter()
        .flatten()
        .map(|m| (m.email.as_str(), m.role.as_str(), m.status.as_deref()))
        .collect();
    assert_eq!(
        members,
        [
            ("dev@example.com", "Developer", Some("Invitation_Sent")),
            ("ops@example.com", "Platform-Team", Some("Accepted")),
        ]
    );
    assert!(
        namespace
            .membership
            .iter()
            .flatten()
            .all(|m| m.permissions.as_ref().is_some_and(|p| !p.is_empty())),
        "Mendix reports what each role allows"
    );

    // A plan that does not exist is named, with its field.
    let mut bad = updated.clone();
    if let Some(plans) = bad.namespace.plans.as_mut() {
        plans[1].plan_name = Some("apps-cache".into());
    }
    let err = deploy
        .update_namespace(CLUSTER, NAMESPACE, &bad)
        .await
        .unwrap_err();
    assert_names(&err, "namespace.plans[1].planName");
    assert!(err.to_string().contains("apps-cache"), "{err}");
    // A member without an e-mail address.
    let mut bad = updated.clone();
    if let Some(members) = bad.namespace.membership.as_mut() {
        members[0].email = String::new();
    }
    let err = deploy
        .update_namespace(CLUSTER, NAMESPACE, &bad)
        .await
        .unwrap_err();
    assert_names(&err, "namespace.membership[0].email");
    // Without the secret (required on every update).
    let mut bad = updated.clone();
    bad.namespace.secret = None;
    let err = deploy
        .update_namespace(CLUSTER, NAMESPACE, &bad)
        .await
        .unwrap_err();
    assert_names(&err, "namespace.secret");
    assert_eq!(
        deploy
            .get_namespace(CLUSTER, NAMESPACE, false)
            .await
            .unwrap(),
        updated,
        "refused updates change nothing"
    );
}

#[tokio::test]
async fn the_main_namespace_of_a_global_operator_cannot_be_updated() {
    let env = start().await;
    let deploy = env.mendix.pc_deploy(&pat());
    new_cluster(&deploy, Some("global_operator")).await;
    let main = new_namespace(&deploy, MAIN_NAMESPACE, "operator", "main").await;
    let managed = new_namespace(&deploy, NAMESPACE, "apps", "managed").await;
    assert_eq!(main.namespace.namespace_type.as_deref(), Some("main"));

    let err = deploy
        .update_namespace(CLUSTER, MAIN_NAMESPACE, &main)
        .await
        .unwrap_err();
    assert_names(&err, "namespace.namespaceType");
    assert!(
        err.to_string().contains(
            "this endpoint cannot be used for the Main namespace of a Global Operator installation"
        ),
        "{err}"
    );
    // A managed namespace of the same operator can be.
    let mut manifest = managed.clone();
    manifest.namespace.enable_external_secrets_store = Some(true);
    let job = deploy
        .update_namespace(CLUSTER, NAMESPACE, &manifest)
        .await
        .unwrap();
    finished(&deploy, &job).await;

    // The namespace type cannot change either.
    let mut bad = deploy
        .get_namespace(CLUSTER, NAMESPACE, false)
        .await
        .unwrap();
    bad.namespace.namespace_type = Some("standard".into());
    let err = deploy
        .update_namespace(CLUSTER, NAMESPACE, &bad)
        .await
        .unwrap_err();
    assert_names(&err, "namespace.namespaceType");
}

#[tokio::test]
async fn deletes_fail_while_something_is_still_inside() {
    let env = start().await;
    let deploy = env.mendix.pc_deploy(&pat());
    new_cluster(&deploy, None).await;
    new_namespace(&deploy, NAMESPACE, "apps", "standard").await;
    assert!(env.sandbox.install_namespace(NAMESPACE));
    let job = deploy
        .create_environment(
            PC_APP_ID,
            &environment_in(&deploy, "landscape-env", "apps").await,
        )
        .await
        .unwrap();
    finished(&deploy, &job).await;

    // A namespace with an environment, a cluster with a namespace: the jobs fail.
    let job = deploy.delete_namespace(CLUSTER, NAMESPACE).await.unwrap();
    let message = failed(&deploy, &job).await;
    assert!(message.contains("landscape-env"), "{message}");
    let job = deploy.delete_cluster(CLUSTER).await.unwrap();
    failed(&deploy, &job).await;
    deploy
        .get_namespace(CLUSTER, NAMESPACE, false)
        .await
        .unwrap();
    deploy.get_cluster(CLUSTER).await.unwrap();

    // Emptied from the inside out, both go.
    let job = deploy
        .delete_environment(PC_APP_ID, NAMESPACE, "landscape-env", false)
        .await
        .unwrap();
    finished(&deploy, &job).await;
    let job = deploy.delete_namespace(CLUSTER, NAMESPACE).await.unwrap();
    finished(&deploy, &job).await;
    let err = deploy
        .get_namespace(CLUSTER, NAMESPACE, false)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let job = deploy.delete_cluster(CLUSTER).await.unwrap();
    finished(&deploy, &job).await;
    let err = deploy.get_cluster(CLUSTER).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = deploy.delete_cluster(CLUSTER).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn seeded_namespaces_count_as_installed_unless_the_seed_says_otherwise() {
    let demo = include_str!("../../mendix-sandbox/src/demo.yaml");
    let seeded = "          name: mendix-apps\n";
    assert!(demo.contains(seeded), "the demo seed names its namespace");
    let extra = format!(
        "{seeded}        - namespaceId: {NAMESPACE}\n          name: fresh\n          installed: false\n          secret: {SECRET}\n          membership:\n            - email: dev@example.com\n              role: Developer\n"
    );
    let sandbox = mendix_sandbox::MendixSandbox::from_yaml(&demo.replace(seeded, &extra))
        .expect("the seed is valid");
    sandbox.set_time_scale(0.001);
    let env = start_with(
        sandbox,
        mendix_client::MendixConfig {
            retry: fast_retry(),
            ..mendix_client::MendixConfig::default()
        },
    )
    .await;
    let deploy = env.mendix.pc_deploy(&pat());
    let demo_namespace = deploy
        .get_namespace(PC_CLUSTER_ID, PC_NAMESPACE_ID, false)
        .await
        .unwrap();
    assert!(demo_namespace.namespace.operator_version().is_some());
    let fresh = deploy
        .get_namespace(PC_CLUSTER_ID, NAMESPACE, false)
        .await
        .unwrap();
    assert_eq!(fresh.namespace.operator_version(), None);
    assert_eq!(fresh.namespace.secret.as_deref(), Some(SECRET));
    let members = fresh.namespace.membership.unwrap_or_default();
    assert_eq!(
        members[0].status.as_deref(),
        Some("Accepted"),
        "seeded members have joined"
    );
    // Seeds are still checked field by field.
    let unknown = demo.replace(seeded, &format!("{seeded}          installd: true\n"));
    let err = mendix_sandbox::MendixSandbox::from_yaml(&unknown)
        .err()
        .expect("an unknown seed field is refused");
    assert!(err.to_string().contains("installd"), "{err}");
    let main_in_standard =
        demo.replace(seeded, &format!("{seeded}          namespaceType: main\n"));
    let err = mendix_sandbox::MendixSandbox::from_yaml(&main_in_standard)
        .err()
        .expect("a main namespace needs a global operator");
    assert!(err.to_string().contains("namespaceType"), "{err}");
}

// ------------------------------------------------------------------ secrets

#[tokio::test]
async fn the_namespace_secret_stays_out_of_debug_and_the_simulator_state() {
    let env = start().await;
    let deploy = env.mendix.pc_deploy(&pat());
    new_cluster(&deploy, None).await;
    let read = new_namespace(&deploy, NAMESPACE, "apps", "standard").await;
    // The contract returns the secret; the client keeps it for the next update...
    assert_eq!(read.namespace.secret.as_deref(), Some(SECRET));
    // ...and never prints it.
    for debug in [
        format!("{read:?}"),
        format!("{:?}", namespace_manifest(NAMESPACE, "apps", "standard")),
        format!("{:?}", read.namespace),
    ] {
        assert!(debug.contains(NAMESPACE), "{debug}");
        assert!(!debug.contains(SECRET), "the secret leaked: {debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }
    mendix_client::install_crypto_provider();
    let http = reqwest::Client::new();
    let state = http
        .get(format!("{}/_sim/state", env.server.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(state.contains(NAMESPACE), "the namespace is in the state");
    assert!(
        !state.contains(SECRET),
        "the secret leaked into /_sim/state"
    );
    let debug = env.sandbox.with_world(|world| format!("{world:?}"));
    assert!(
        !debug.contains(SECRET),
        "the secret leaked into the world's Debug"
    );
}

// ------------------------------------------------------------------ the wire

/// The request schema of `method path` in the deploy contract, as a validator.
fn request_validator(path: &str, method: &str) -> jsonschema::Validator {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/mendix-openapi/privatecloud-deploy-v4.yaml");
    let doc: Value = serde_yaml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let body = &doc["paths"][path][method]["requestBody"];
    let body = match body["$ref"].as_str() {
        Some(reference) => doc
            .pointer(reference.trim_start_matches('#'))
            .unwrap()
            .clone(),
        None => body.clone(),
    };
    let mut root = doc.clone();
    root["x-request-schema"] = body["content"]["application/json"]["schema"].clone();
    root["$ref"] = json!("#/x-request-schema");
    jsonschema::validator_for(&root).unwrap()
}

fn assert_valid(validator: &jsonschema::Validator, body: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:?}\n{body:#}");
}

#[tokio::test]
async fn request_bodies_match_the_contract_and_carry_only_what_is_set() {
    // What the client sends is the manifest serialized: unset fields are left out.
    let create = serde_json::to_value(namespace_manifest(NAMESPACE, "apps", "standard")).unwrap();
    assert_eq!(
        create,
        json!({"manifestVersion": "2.0.0", "namespace": {"namespaceId": NAMESPACE, "name": "apps",
            "namespaceType": "standard", "installationType": "Connected", "secret": SECRET}})
    );
    let cluster = serde_json::to_value(cluster_manifest(CLUSTER, None)).unwrap();
    assert!(
        cluster["cluster"].get("operatorType").is_none(),
        "{cluster}"
    );
    let schema = |path, method| request_validator(path, method);
    assert_valid(&schema("/clusters", "post"), &cluster, "create cluster");
    assert_valid(
        &schema("/clusters/{clusterId}/namespaces", "post"),
        &create,
        "create namespace",
    );
    let refused = json!({"manifestVersion": "2.0.0", "namespace": {"namespaceId": NAMESPACE}});
    assert!(
        !schema("/clusters/{clusterId}/namespaces", "post").is_valid(&refused),
        "the check is not vacuous"
    );

    // Read-modify-write bodies: what GET answered, changed, sent back.
    let env = start().await;
    let deploy = env.mendix.pc_deploy(&pat());
    let mut read = new_cluster(&deploy, None).await;
    cluster_mut(&mut read).cluster_managers = Some(vec![ClusterManager {
        email: "ann@example.com".into(),
        ..ClusterManager::default()
    }]);
    assert_valid(
        &schema("/clusters/{clusterId}", "put"),
        &serde_json::to_value(&read).unwrap(),
        "update cluster",
    );
    let mut read = new_namespace(&deploy, NAMESPACE, "apps", "standard").await;
    read.namespace.membership = Some(vec![NamespaceMember {
        email: "dev@example.com".into(),
        role: "Developer".into(),
        ..NamespaceMember::default()
    }]);
    let update = serde_json::to_value(&read).unwrap();
    assert_eq!(
        update["namespace"]["productTypePCLM"], "standard",
        "{update}"
    );
    assert_valid(
        &schema("/clusters/{clusterId}/namespaces/{namespaceId}", "put"),
        &update,
        "update namespace",
    );
    // The round trip keeps what the types do not model.
    let back: NamespaceManifest = serde_json::from_value(update.clone()).unwrap();
    assert_eq!(serde_json::to_value(&back).unwrap(), update);
}

#[test]
fn the_operator_version_is_read_from_additional_information() {
    let namespace = |info: Value| -> NamespaceInfo {
        serde_json::from_value(json!({"namespaceId": NAMESPACE, "additionalInformation": info}))
            .unwrap()
    };
    assert_eq!(
        namespace(json!({"componentVersion": {"operatorVersion": "3.0.0"}})).operator_version(),
        Some("3.0.0")
    );
    // The spelling of some of the contract's examples.
    assert_eq!(
        namespace(json!({"componentsVersion": {"operatorVersion": "master"}})).operator_version(),
        Some("master")
    );
    assert_eq!(
        namespace(json!({"componentVersion": {"operatorVersion": ""}})).operator_version(),
        None
    );
    assert_eq!(namespace(json!({})).operator_version(), None);
    let bare: NamespaceInfo = serde_json::from_value(json!({"namespaceId": NAMESPACE})).unwrap();
    assert_eq!(bare.operator_version(), None);
}
