//! `kubectl mendix rollback ENV [--to N] [--force]`: sets a MendixEnvironment back to a package
//! from its `status.history`. A resource that Argo CD or Flux applies is not changed behind
//! Git's back: the change to make in Git is printed instead, unless `--force`.

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};

use super::PluginError;
use mendix_operator::crd::environment::DeploymentRecord;
use mendix_operator::crd::{ANNOTATION_ROLLBACK_TO, MendixEnvironment};

/// Which GitOps tool applies the resource, by the labels and annotations each one sets.
fn gitops_owner(env: &MendixEnvironment) -> Option<String> {
    let labels = env.labels();
    let annotations = env.annotations();
    if let Some(id) = annotations.get("argocd.argoproj.io/tracking-id") {
        return Some(format!("Argo CD ({id})"));
    }
    if let Some(app) = labels.get("argocd.argoproj.io/instance") {
        return Some(format!("Argo CD (application {app})"));
    }
    for (label, tool) in [
        ("kustomize.toolkit.fluxcd.io/name", "Flux Kustomization"),
        ("helm.toolkit.fluxcd.io/name", "Flux HelmRelease"),
    ] {
        if let Some(name) = labels.get(label) {
            return Some(format!("{tool} {name}"));
        }
    }
    None
}

/// The `to`-th earlier package that ran successfully (1 = the one before the current one).
fn target(env: &MendixEnvironment, to: usize) -> Result<DeploymentRecord, PluginError> {
    let name = env.name_any();
    let status = env.status.clone().unwrap_or_default();
    let current = status.deployed_package_id.clone();
    let mut earlier: Vec<DeploymentRecord> = Vec::new();
    for record in status.history {
        let ran = record.result == "Succeeded";
        let new = Some(&record.package_id) != current.as_ref()
            && !earlier.iter().any(|r| r.package_id == record.package_id);
        if ran && new {
            earlier.push(record);
        }
    }
    let count = earlier.len();
    earlier.into_iter().nth(to.saturating_sub(1)).ok_or_else(|| {
        PluginError::Usage(format!(
            "MendixEnvironment {name} has {count} earlier package(s) in its history; --to {to} names none (see status.history)"
        ))
    })
}

/// Rolls `name` back to its `to`-th earlier package; returns what was done or is to be done.
pub async fn rollback(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    to: usize,
    force: bool,
) -> Result<String, PluginError> {
    let api: Api<MendixEnvironment> = Api::namespaced(client.clone(), namespace);
    let env = super::target::read_environment(client, namespace, name).await?;
    let record = target(&env, to)?;
    let version = record
        .version
        .as_deref()
        .map(|v| format!(" (version {v})"))
        .unwrap_or_default();
    let what = format!(
        "package {}{version}, deployed {} by {:?}",
        record.package_id, record.at, record.trigger
    );
    if let Some(owner) = gitops_owner(&env)
        && !force
    {
        return Ok(format!(
            "mxenv/{name} is applied by {owner}: changing it here would be undone by the next sync.\n\
             To roll back to {what}, change its manifest in Git to:\n\
             \n  spec:\n    packageId: {}\n\n\
             (and remove packageRef / packageFrom), or run again with --force to change it here.\n",
            record.package_id
        ));
    }
    let patch = serde_json::json!({
        "metadata": {"annotations": {ANNOTATION_ROLLBACK_TO: record.package_id}},
        "spec": {"packageId": record.package_id, "packageRef": null, "packageFrom": null},
    });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(PluginError::kube(format!(
            "cannot change MendixEnvironment {name}"
        )))?;
    Ok(format!("mxenv/{name} rolls back to {what}\n"))
}
