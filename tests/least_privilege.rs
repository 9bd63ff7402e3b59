//! Least privilege, proven on the real API server: the operator runs with a ServiceAccount token
//! bound to exactly the RBAC that `kubectl kustomize deploy/namespaced/` and then
//! `kubectl kustomize deploy/` render, never as admin, through a whole flow on both platforms
//! (build, deploy, restart, delete; leader election on). The API server's audit log then shows
//! every request the ServiceAccount made: each must have been allowed (a missing verb fails
//! here, as it would fail in a cluster), and each verb the shipped rules grant must have been used
//! (an unused grant fails too).

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use mendix_operator::crd::{MendixCluster, MendixEnvironment, MendixNamespace, MendixPackage};

use mendix_sandbox::{MendixSandbox, demo};
use mendix_testkit::resources::{cloud_env, pc_cluster, pc_env, pc_env_created, pc_namespace};
use mendix_testkit::*;
use serde_json::{Value, json};

/// Where `deploy/` installs the operator, and what it runs as.
const OPERATOR_NAMESPACE: &str = "mendix-operator";
const OPERATOR_USER: &str = "system:serviceaccount:mendix-operator:mendix-operator";
const RESTART: &str = "2026-12-06T10:00:00Z";

/// (API group, resource or resource/subresource, verb).
type Grant = (String, String, String);

/// The objects `kubectl kustomize DIR` renders.
async fn rendered(kubectl: &Kubectl, dir: &str) -> Vec<Value> {
    let yaml = kubectl.ok(&["kustomize", &repo_path(dir)]).await;
    serde_yaml::Deserializer::from_str(&yaml)
        .map(|d| serde::Deserialize::deserialize(d).expect("rendered YAML"))
        .collect()
}

/// Applies the rendered install's identity and RBAC (not the CRDs, already installed, nor the
/// Deployment: the operator runs in this process with the same identity).
async fn apply_identity_and_rbac(kubectl: &Kubectl, objects: &[Value]) -> Vec<Grant> {
    let wanted = [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
    ];
    let mut grants = Vec::new();
    let mut yaml = String::new();
    for object in objects {
        let kind = object["kind"].as_str().unwrap_or_default();
        if !wanted.contains(&kind) {
            continue;
        }
        yaml.push_str("---\n");
        yaml.push_str(&serde_yaml::to_string(object).expect("YAML"));
        for rule in object["rules"].as_array().into_iter().flatten() {
            for group in strings(&rule["apiGroups"]) {
                for resource in strings(&rule["resources"]) {
                    for verb in strings(&rule["verbs"]) {
                        grants.push((group.clone(), resource.clone(), verb));
                    }
                }
            }
        }
    }
    kubectl.ok_stdin(&["apply", "-f", "-"], &yaml).await;
    grants.sort();
    grants.dedup();
    grants
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect()
}

/// The requests of the operator's ServiceAccount in the audit log from line `from` on:
/// (grant, HTTP status) for each.
fn audited(from: usize) -> (Vec<(Grant, u16)>, usize) {
    let text = std::fs::read_to_string(control_plane().audit_log()).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let mut requests = Vec::new();
    for line in &lines[from.min(lines.len())..] {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if event["user"]["username"] != OPERATOR_USER || event["stage"] != "ResponseComplete" {
            continue;
        }
        let object = &event["objectRef"];
        let Some(resource) = object["resource"].as_str() else {
            // Discovery and other non-resource URLs: not governed by these rules.
            continue;
        };
        let resource = match object["subresource"].as_str() {
            Some(sub) => format!("{resource}/{sub}"),
            None => resource.to_string(),
        };
        let group = object["apiGroup"].as_str().unwrap_or_default().to_string();
        let verb = event["verb"].as_str().unwrap_or_default().to_string();
        let code = event["responseStatus"]["code"].as_u64().unwrap_or_default() as u16;
        requests.push(((group, resource, verb), code));
    }
    (requests, lines.len())
}

/// Registers a Private Cloud cluster and a namespace in it, and creates an environment there,
/// each by reference to the one before; then deletes all three in Mendix, behind their
/// finalizers.
async fn landscape_flow(h: &Harness) {
    const CLUSTER_ID: &str = "4a1b2c3d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
    const NAMESPACE_ID: &str = "7c6b5a49-3e2d-4c1b-9a08-f7e6d5c4b3a2";
    h.put_secret("installer", &[("secret", "ns-installer-3e5a7c9b")])
        .await;
    h.create::<MendixCluster>(&pc_cluster("platform", CLUSTER_ID, ""))
        .await;
    h.create::<MendixNamespace>(&pc_namespace("team", NAMESPACE_ID, "platform", ""))
        .await;
    h.create::<MendixEnvironment>(&pc_env_created("team-test", "team", ""))
        .await;
    let namespaces: Api<MendixNamespace> = Api::namespaced(h.client.clone(), &h.ns);
    wait_for(
        "the namespace to be registered",
        || async { namespaces.get("team").await.ok() },
        |n| n.status.as_ref().is_some_and(|s| s.namespace_id.is_some()),
    )
    .await;
    // mxpc-cli installer, outside the operator.
    assert!(h.mendix.install_namespace(NAMESPACE_ID));
    namespaces
        .patch(
            "team",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"mendixops.io/reconcileRequestedAt": "installed"}}})),
        )
        .await
        .expect("reconcile requested");
    h.wait_environment("team-test", environment_ready).await;
    h.environments()
        .delete("team-test", &DeleteParams::default())
        .await
        .expect("environment deleted");
    let environments = h.environments();
    wait_for(
        "the environment gone",
        || async { Some(environments.get_opt("team-test").await.ok()?.is_none()) },
        |gone| *gone,
    )
    .await;
    namespaces
        .delete("team", &DeleteParams::default())
        .await
        .expect("namespace deleted");
    wait_for(
        "the namespace gone",
        || async { Some(namespaces.get_opt("team").await.ok()?.is_none()) },
        |gone| *gone,
    )
    .await;
    let clusters: Api<MendixCluster> = Api::namespaced(h.client.clone(), &h.ns);
    clusters
        .delete("platform", &DeleteParams::default())
        .await
        .expect("cluster deleted");
    wait_for(
        "the cluster gone",
        || async { Some(clusters.get_opt("platform").await.ok()?.is_none()) },
        |gone| *gone,
    )
    .await;
}

/// Builds, deploys and restarts on both platforms, then deletes everything: the deployed
/// packages are retained in Mendix (the default), a spare one with `deletionPolicy: Delete` is
/// deleted remotely, behind its finalizer; and the Private Cloud landscape flow.
async fn full_flow(h: &Harness) {
    landscape_flow(h).await;
    h.create::<MendixPackage>(&format!(
        "{}  deletionPolicy: Delete\n",
        cloud_build("spare", demo::GOOD_REVISION, "3.0.1")
    ))
    .await;
    h.create::<MendixPackage>(&cloud_build("cloud-pkg", demo::GOOD_REVISION, "3.0.0"))
        .await;
    h.create::<MendixPackage>(&pc_build("pc-pkg", demo::GOOD_REVISION, "3.0.0"))
        .await;
    h.create::<MendixEnvironment>(&cloud_env(
        "cloud",
        "Test",
        "cloud-pkg",
        "  instances: 1\n  memoryPerInstance: 1024\n",
    ))
    .await;
    h.create::<MendixEnvironment>(&pc_env(
        "pc",
        demo::PC_ENVIRONMENT_TEST,
        "pc-pkg",
        "  instances: 1\n",
    ))
    .await;
    // Promotion: production follows the Private Cloud environment's package.
    h.create::<MendixEnvironment>(
        &pc_env(
            "pc-production",
            demo::PC_ENVIRONMENT_PRODUCTION,
            "unused",
            "  production: true\n",
        )
        .replace(
            "packageRef: {name: unused}",
            "packageFrom: {environmentRef: {name: pc}}",
        ),
    )
    .await;
    for name in ["cloud", "pc", "pc-production"] {
        h.wait_environment(name, environment_ready).await;
    }
    for name in ["cloud", "pc"] {
        h.environments()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"metadata": {"annotations": {"mendixops.io/restartedAt": RESTART}}}),
                ),
            )
            .await
            .expect("restart requested");
    }
    for name in ["cloud", "pc"] {
        h.wait_environment(name, |e| {
            environment_ready(e)
                && e.status
                    .as_ref()
                    .and_then(|s| s.last_restarted_at.as_deref())
                    == Some(RESTART)
        })
        .await;
    }
    for name in ["cloud", "pc", "pc-production"] {
        h.environments()
            .delete(name, &DeleteParams::default())
            .await
            .expect("environment deleted");
    }
    h.wait_package("spare", package_ready).await;
    for name in ["spare", "cloud-pkg", "pc-pkg"] {
        h.delete_package(name).await;
    }
    let packages = h.packages();
    let environments = h.environments();
    wait_for(
        "every resource gone",
        || {
            let (packages, environments) = (packages.clone(), environments.clone());
            async move {
                let p = packages.list(&Default::default()).await.ok()?.items.len();
                let e = environments
                    .list(&Default::default())
                    .await
                    .ok()?
                    .items
                    .len();
                Some(p + e)
            }
        },
        |left| *left == 0,
    )
    .await;
}

/// Runs the flow as the operator's ServiceAccount with `config`, and returns the grants it used.
async fn run_as_operator(
    h: &mut Harness,
    mut config: mendix_operator::runtime::config::RunConfig,
) -> Vec<(Grant, u16)> {
    let token =
        kube_sandbox::service_account_token(&h.client, OPERATOR_NAMESPACE, "mendix-operator")
            .await
            .expect("a token for the shipped ServiceAccount");
    let kube_config = control_plane().token_config(&token).await.expect("config");
    config.leader_election = true;
    config.lease_namespace = OPERATOR_NAMESPACE.into();
    config.lease_name = "mendix-operator-leader".into();
    config.identity = format!("least-privilege-{}", h.ns);
    config.lease_duration = Duration::from_secs(5);
    let (_, start) = audited(0);
    h.start_operator_as(config, kube::Client::try_from(kube_config).expect("client"))
        .await;
    full_flow(h).await;
    h.stop_operator().await;
    audited(start).0
}

/// Every request allowed, every granted verb used.
fn assert_least_privilege(variant: &str, grants: &[Grant], used: &[(Grant, u16)]) {
    let refused: BTreeSet<&Grant> = used
        .iter()
        .filter(|(_, code)| *code == 403)
        .map(|(g, _)| g)
        .collect();
    assert!(
        refused.is_empty(),
        "{variant}: the shipped RBAC refused {refused:?}"
    );
    let used: BTreeSet<&Grant> = used.iter().map(|(g, _)| g).collect();
    let unused: Vec<&Grant> = grants.iter().filter(|g| !used.contains(g)).collect();
    println!("{variant}: used {used:?}");
    assert!(
        unused.is_empty(),
        "{variant}: granted but never used by a whole flow: {unused:?} (used: {used:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_rbac_is_exactly_what_the_operator_uses() {
    enable_audit();
    // deploy/namespaced/: a Role in namespace `apps`, the operator watching only `apps`.
    let mut h = Harness::in_namespace(demo_mendix(), "apps").await;
    let kubectl = h.kubectl();
    let namespaced = rendered(&kubectl, "deploy/namespaced").await;
    let grants = apply_identity_and_rbac(&kubectl, &namespaced).await;
    let config = h.config();
    let used = run_as_operator(&mut h, config).await;
    assert_least_privilege("deploy/namespaced", &grants, &used);
    // A fresh install: no Lease left from the first one.
    Api::<Lease>::namespaced(h.client.clone(), OPERATOR_NAMESPACE)
        .delete("mendix-operator-leader", &DeleteParams::default())
        .await
        .expect("Lease deleted");
    drop(h);

    // deploy/: the ClusterRole, the operator watching every namespace.
    let mut h = Harness::new().await;
    let kubectl = h.kubectl();
    let cluster_wide = rendered(&kubectl, "deploy").await;
    let grants = apply_identity_and_rbac(&kubectl, &cluster_wide).await;
    let mut config = h.config();
    config.namespaces = vec![];
    let used = run_as_operator(&mut h, config).await;
    assert_least_privilege("deploy", &grants, &used);
}

fn demo_mendix() -> MendixSandbox {
    let mendix = MendixSandbox::demo();
    mendix.set_time_scale(0.01);
    mendix
}
