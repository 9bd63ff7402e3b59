//! `kubectl mendix diff ENV | -f FILE|-` and `kubectl mendix approve ENV`: the remote steps the
//! operator would take for an environment, from the operator's own preview (the same planner
//! the reconciler runs). Mendix is read, never written; a manifest from a file is checked by a
//! server-side dry run first, so what the API server would refuse is shown with its message.

use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams, PostParams};

use super::PluginError;
use mendix_operator::controller::environment::preview::preview;
use mendix_operator::controller::{Context, Settings};
use mendix_operator::crd::{ANNOTATION_APPROVED_PLAN, MendixEnvironment};
use mendix_operator::metrics::Metrics;

/// A context for reading as the operator reads: the user's client, Mendix, no Events.
fn reader(client: &kube::Client, mendix: mendix_client::Mendix) -> Arc<Context> {
    Context::new(
        client.clone(),
        mendix,
        Metrics::new(),
        Settings::default(),
        Some("kubectl-mendix".into()),
    )
}

/// The preview of one environment, as text.
async fn render(env: &MendixEnvironment, ctx: &Context) -> Result<String, PluginError> {
    let name = kube::ResourceExt::name_any(env);
    match preview(env, ctx)
        .await
        .map_err(|e| PluginError::Mendix(format!("previewing {name}: {e}")))?
    {
        Ok(plan) => Ok(format!("mxenv/{name}: {}", plan.render())),
        Err(verdict) => Ok(format!(
            "mxenv/{name}: no plan yet: {}\n",
            verdict.outcome.message()
        )),
    }
}

/// `kubectl mendix diff ENV`: what the operator is about to do to a MendixEnvironment now.
pub async fn diff_environment(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    mendix: mendix_client::Mendix,
) -> Result<String, PluginError> {
    let env = super::target::read_environment(client, namespace, name).await?;
    render(&env, &reader(client, mendix)).await
}

/// `kubectl mendix diff -f FILE`: what the operator would do for each MendixEnvironment in
/// `yaml` if it were applied in `namespace`. Other kinds are listed as not previewed.
pub async fn diff_manifests(
    client: &kube::Client,
    namespace: &str,
    yaml: &str,
    mendix: mendix_client::Mendix,
) -> Result<String, PluginError> {
    let ctx = reader(client, mendix);
    let api: Api<MendixEnvironment> = Api::namespaced(client.clone(), namespace);
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let mut out = String::new();
    for document in serde_yaml::Deserializer::from_str(yaml) {
        let value: serde_json::Value = serde::Deserialize::deserialize(document)
            .map_err(|e| PluginError::Usage(format!("the manifest is not YAML: {e}")))?;
        if value.is_null() {
            continue;
        }
        let kind = value["kind"].as_str().unwrap_or_default().to_string();
        let name = value["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if kind != "MendixEnvironment" {
            out.push_str(&format!(
                "{kind}/{name}: not previewed (only environments are)\n"
            ));
            continue;
        }
        let mut env: MendixEnvironment = serde_json::from_value(value)
            .map_err(|e| PluginError::Usage(format!("MendixEnvironment {name}: {e}")))?;
        env.metadata.namespace = Some(namespace.to_string());
        // What the API server would refuse (schema, CEL rules), with its message. A resource
        // that exists is checked as the update it would be.
        let existing = api.get_opt(&name).await.map_err(PluginError::kube(format!(
            "cannot read MendixEnvironment {name}"
        )))?;
        let checked = match &existing {
            Some(current) => {
                let mut update = env.clone();
                update.metadata.resource_version = current.metadata.resource_version.clone();
                api.replace(&name, &dry_run, &update).await
            }
            None => api.create(&dry_run, &env).await,
        };
        if let Err(err) = checked {
            let message = match err {
                kube::Error::Api(status) => status.message,
                other => other.to_string(),
            };
            out.push_str(&format!(
                "mxenv/{name}: the API server refuses it: {message}\n"
            ));
            continue;
        }
        // The status the operator keeps (restart and clean requests handled, learned start
        // times) belongs to the resource in the cluster.
        env.status = existing.and_then(|e| e.status);
        out.push_str(&render(&env, &ctx).await?);
    }
    Ok(out)
}

/// `kubectl mendix approve ENV`: shows the plan waiting in status and approves it (sets
/// `mendixops.io/approvedPlan` to its hash).
pub async fn approve(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<String, PluginError> {
    let api: Api<MendixEnvironment> = Api::namespaced(client.clone(), namespace);
    let env = super::target::read_environment(client, namespace, name).await?;
    let Some(plan) = env.status.as_ref().and_then(|s| s.plan.clone()) else {
        return Err(PluginError::Usage(format!(
            "MendixEnvironment {name} has no plan waiting for approval (spec.changeApproval: Manual writes one to status when Mendix differs from the spec)"
        )));
    };
    if plan.approved {
        return Ok(format!(
            "plan {} of {name} is already approved\n",
            plan.hash
        ));
    }
    let patch =
        serde_json::json!({"metadata": {"annotations": {ANNOTATION_APPROVED_PLAN: plan.hash}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(PluginError::kube(format!(
            "cannot annotate MendixEnvironment {name}"
        )))?;
    let mut out = format!("approved plan {} of mxenv/{name}:\n", plan.hash);
    for (i, step) in plan.steps.iter().enumerate() {
        out.push_str(&format!("  {}. {step}\n", i + 1));
    }
    Ok(out)
}
