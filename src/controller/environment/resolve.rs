//! Reading what an environment depends on before anything remote happens: the MendixPackage it
//! references (waiting while that builds, stalling when it failed) and Secret constant values.

use std::time::Duration;

use kube::ResourceExt;
use kube::api::Api;

use super::desired::{AdminPassword, Desired, PrivateDesired};
use crate::controller::Context;
use crate::controller::error::Error;
use crate::controller::secrets::secret_value;
use crate::controller::verdict::Verdict;
use crate::crd::MendixPackage;
use crate::crd::conditions::{self, Outcome};
use crate::crd::environment::{
    ConstantSource, MendixEnvironment, PrivateCloudEnvironment, PrivateCloudSettings,
};
use crate::crd::{MendixNamespace, SecretKeySelector};

/// How often a waiting environment looks at its package even without a watch event.
const PACKAGE_RECHECK: Duration = Duration::from_secs(30);

pub enum Resolved {
    Ready(Box<Desired>),
    /// Not deployable yet (waiting) or not deployable at all (stalled).
    Blocked(Verdict),
}

fn waiting(message: String) -> Resolved {
    Resolved::Blocked(Verdict::new(
        Outcome::progressing("WaitingForPackage", message),
        PACKAGE_RECHECK,
    ))
}

/// Whether the package belongs to the same app (and platform) as the environment.
fn same_app(env: &MendixEnvironment, pkg: &MendixPackage) -> bool {
    match (
        &env.spec.target.mendix_cloud,
        &env.spec.target.private_cloud,
    ) {
        (Some(e), _) => pkg
            .spec
            .target
            .mendix_cloud
            .as_ref()
            .is_some_and(|p| p.app_id == e.app_id),
        (_, Some(e)) => pkg
            .spec
            .target
            .private_cloud
            .as_ref()
            .is_some_and(|p| p.app_id == e.app_id),
        _ => false,
    }
}

pub async fn resolve(env: &MendixEnvironment, ctx: &Context) -> Result<Resolved, Error> {
    let namespace = env
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let (package_id, version) = if let Some(reference) = &env.spec.package_ref {
        let api: Api<MendixPackage> = Api::namespaced(ctx.client.clone(), &namespace);
        let Some(pkg) = api.get_opt(&reference.name).await? else {
            return Ok(waiting(format!(
                "waiting for MendixPackage {} to be created",
                reference.name
            )));
        };
        if !same_app(env, &pkg) {
            return Ok(Resolved::Blocked(Verdict::stalled(
                "PackageTargetMismatch",
                format!(
                    "MendixPackage {} belongs to another app or platform than spec.target: reference a package of this app",
                    reference.name
                ),
            )));
        }
        let status = pkg.status.clone().unwrap_or_default();
        if conditions::is_true(&status.conditions, conditions::STALLED) {
            let detail = conditions::find(&status.conditions, conditions::STALLED)
                .map(|c| format!("{}: {}", c.reason, c.message))
                .unwrap_or_default();
            return Ok(Resolved::Blocked(Verdict::stalled(
                "PackageFailed",
                format!(
                    "MendixPackage {} cannot be deployed ({detail}); fix it or reference another package",
                    reference.name
                ),
            )));
        }
        let current = status.observed_generation == pkg.metadata.generation;
        match (
            &status.package_id,
            conditions::is_true(&status.conditions, conditions::READY) && current,
        ) {
            (Some(id), true) => (id.clone(), status.version.clone()),
            _ => {
                let step = status
                    .operation
                    .as_ref()
                    .and_then(|o| o.step.clone())
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default();
                return Ok(waiting(format!(
                    "waiting for MendixPackage {} to be Ready{step}",
                    reference.name
                )));
            }
        }
    } else if let Some(id) = &env.spec.package_id {
        (id.clone(), None)
    } else if let Some(from) = &env.spec.package_from {
        match promoted(env, ctx, &namespace, &from.environment_ref.name).await? {
            Ok(package) => package,
            Err(verdict) => return Ok(Resolved::Blocked(verdict)),
        }
    } else {
        return Ok(Resolved::Blocked(Verdict::stalled(
            "InvalidSpec",
            "exactly one of spec.packageRef or spec.packageId must be set",
        )));
    };

    let mut constants = Vec::with_capacity(env.spec.constants.len());
    for constant in &env.spec.constants {
        let what = format!("constant {}", constant.name);
        match text_or_secret(
            ctx,
            &namespace,
            &constant.value,
            &constant.value_from,
            &what,
        )
        .await?
        {
            Ok(value) => constants.push((constant.name.clone(), value)),
            Err(verdict) => return Ok(Resolved::Blocked(verdict)),
        }
    }
    let mut desired = Desired::from_spec(&env.spec, package_id, version, constants);
    if let Some(settings) = &env.spec.private_cloud {
        match private_desired(env, ctx, &namespace, settings).await? {
            Ok(private) => desired.private = private,
            Err(verdict) => return Ok(Resolved::Blocked(verdict)),
        }
    }
    Ok(Resolved::Ready(Box::new(desired)))
}

/// A value given inline or taken from a Secret key; a missing Secret or key stalls, naming `what`.
async fn text_or_secret(
    ctx: &Context,
    namespace: &str,
    value: &Option<String>,
    value_from: &Option<ConstantSource>,
    what: &str,
) -> Result<Result<String, Verdict>, Error> {
    match (value, value_from) {
        (Some(v), _) => Ok(Ok(v.clone())),
        (None, Some(from)) => Ok(secret_key(ctx, namespace, &from.secret_key_ref, what)
            .await?
            .map(|(value, _)| value)),
        (None, None) => Ok(Err(Verdict::stalled(
            "InvalidSpec",
            format!("{what}: set value or valueFrom"),
        ))),
    }
}

/// One Secret key's value and the Secret's resourceVersion; a missing Secret or key stalls.
async fn secret_key(
    ctx: &Context,
    namespace: &str,
    selector: &SecretKeySelector,
    what: &str,
) -> Result<Result<(String, String), Verdict>, Error> {
    match secret_value(&ctx.client, namespace, &selector.name, &selector.key).await {
        Ok(found) => Ok(Ok(found)),
        Err(err) => match err.stalled_reason() {
            Some(reason) => Ok(Err(Verdict::stalled(reason, format!("{what}: {err}")))),
            None => Err(err.into()),
        },
    }
}

/// `spec.privateCloud` resolved: Secret values read, the admin password included only when
/// its Secret changed since it was last sent.
async fn private_desired(
    env: &MendixEnvironment,
    ctx: &Context,
    namespace: &str,
    settings: &PrivateCloudSettings,
) -> Result<Result<PrivateDesired, Verdict>, Error> {
    let mut environment_variables = Vec::with_capacity(settings.environment_variables.len());
    for var in &settings.environment_variables {
        let what = format!("spec.privateCloud.environmentVariables {}", var.name);
        match text_or_secret(ctx, namespace, &var.value, &var.value_from, &what).await? {
            Ok(value) => environment_variables.push((var.name.clone(), value)),
            Err(verdict) => return Ok(Err(verdict)),
        }
    }
    let admin_password = match &settings.admin_password_secret_ref {
        None => None,
        Some(selector) => {
            let what = "spec.privateCloud.adminPasswordSecretRef";
            let (value, version) = match secret_key(ctx, namespace, selector, what).await? {
                Ok(found) => found,
                Err(verdict) => return Ok(Err(verdict)),
            };
            let version = admin_password_version(selector, &version);
            let sent = env
                .status
                .as_ref()
                .and_then(|s| s.admin_password_version.as_deref());
            (sent != Some(version.as_str())).then(|| {
                use base64::Engine as _;
                AdminPassword {
                    encoded: base64::engine::general_purpose::STANDARD.encode(value),
                    version,
                }
            })
        }
    };
    Ok(Ok(PrivateDesired {
        core_resources: settings.core_resources.clone(),
        environment_variables,
        app_log_levels: settings
            .app_log_levels
            .iter()
            .map(|l| (l.name.clone(), format!("{:?}", l.level).to_uppercase()))
            .collect(),
        runtime_metrics: settings.runtime_metrics.clone(),
        // Mendix does not show the strategy back: sent only when it differs from what was.
        deployment_strategy: settings.deployment_strategy.clone().filter(|want| {
            env.status
                .as_ref()
                .and_then(|s| s.deployment_strategy_sent.as_deref())
                != Some(want)
        }),
        annotations: settings.annotations.clone(),
        admin_password,
    }))
}

/// What `status.adminPasswordVersion` records for a Secret at a resourceVersion.
pub fn admin_password_version(selector: &SecretKeySelector, resource_version: &str) -> String {
    format!("{}/{}/{resource_version}", selector.name, selector.key)
}

/// Where a Private Cloud environment lives, with `namespaceRef` resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcPlace {
    pub app_id: String,
    pub namespace_id: String,
    pub environment_id: String,
    /// The cluster id and Kubernetes namespace name, when known: needed to create the environment.
    pub cluster_id: Option<String>,
    pub namespace: Option<String>,
}

/// How often an environment waiting for its MendixNamespace looks at it without a watch event.
const NAMESPACE_RECHECK: Duration = Duration::from_secs(30);

/// Resolves where a Private Cloud environment lives: from its target ids, or from the
/// MendixNamespace it references once that is Ready.
pub async fn private_place(
    env: &MendixEnvironment,
    ctx: &Context,
    target: &PrivateCloudEnvironment,
) -> Result<Result<PcPlace, Verdict>, Error> {
    let create = env
        .spec
        .private_cloud
        .as_ref()
        .and_then(|p| p.create.as_ref());
    let place = |namespace_id: String, cluster_id, namespace| PcPlace {
        app_id: target.app_id.clone(),
        namespace_id,
        environment_id: target.environment_id.clone(),
        cluster_id,
        namespace,
    };
    if let Some(id) = &target.namespace_id {
        return Ok(Ok(place(
            id.clone(),
            create.and_then(|c| c.cluster_id.clone()),
            create.and_then(|c| c.namespace.clone()),
        )));
    }
    let Some(reference) = &target.namespace_ref else {
        return Ok(Err(Verdict::stalled(
            "InvalidSpec",
            "exactly one of spec.target.privateCloud.namespaceId or namespaceRef must be set",
        )));
    };
    let namespace = env
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let api: Api<MendixNamespace> = Api::namespaced(ctx.client.clone(), &namespace);
    let wait = |message: String| {
        Ok(Err(Verdict::new(
            Outcome::progressing("WaitingForNamespace", message),
            NAMESPACE_RECHECK,
        )))
    };
    let Some(ns) = api.get_opt(&reference.name).await? else {
        return wait(format!(
            "waiting for MendixNamespace {} to be created",
            reference.name
        ));
    };
    let status = ns.status.clone().unwrap_or_default();
    let ready = conditions::is_true(&status.conditions, conditions::READY)
        && status.observed_generation == ns.metadata.generation;
    match namespace_ids(&ns) {
        Some((id, cluster, name)) if ready => Ok(Ok(place(id, Some(cluster), Some(name)))),
        _ => {
            let why = conditions::find(&status.conditions, conditions::READY)
                .map(|c| format!(": {}", c.message))
                .unwrap_or_default();
            wait(format!(
                "waiting for MendixNamespace {} to be Ready{why}",
                reference.name
            ))
        }
    }
}

/// The namespace id, cluster id and name a MendixNamespace reports once its namespace exists.
fn namespace_ids(ns: &MendixNamespace) -> Option<(String, String, String)> {
    let status = ns.status.as_ref()?;
    Some((
        status.namespace_id.clone()?,
        status.cluster_id.clone()?,
        status.name.clone()?,
    ))
}

/// Where the environment lives, for deleting it: a MendixNamespace need not be Ready (its
/// operator may be gone already), only known; None when nothing says which namespace.
pub async fn deleting_place(
    env: &MendixEnvironment,
    ctx: &Context,
    target: &PrivateCloudEnvironment,
) -> Result<Option<PcPlace>, Error> {
    let Some(reference) = &target.namespace_ref else {
        return Ok(private_place(env, ctx, target).await?.ok());
    };
    // Seen before: the MendixNamespace may be going at the same time.
    if let Some(namespace_id) = env.status.as_ref().and_then(|s| s.namespace_id.clone()) {
        return Ok(Some(PcPlace {
            app_id: target.app_id.clone(),
            namespace_id,
            environment_id: target.environment_id.clone(),
            cluster_id: None,
            namespace: None,
        }));
    }
    let namespace = env
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let api: Api<MendixNamespace> = Api::namespaced(ctx.client.clone(), &namespace);
    Ok(api
        .get_opt(&reference.name)
        .await?
        .as_ref()
        .and_then(namespace_ids)
        .map(|(namespace_id, cluster_id, name)| PcPlace {
            app_id: target.app_id.clone(),
            namespace_id,
            environment_id: target.environment_id.clone(),
            cluster_id: Some(cluster_id),
            namespace: Some(name),
        }))
}

/// How long a follower waits for its source to become Ready before looking again without a
/// watch event.
const SOURCE_RECHECK: Duration = Duration::from_secs(30);

/// Promotion (`spec.packageFrom`): the package the source environment runs, once it is Ready
/// at its latest generation. A source of another app or platform, or a chain that comes back
/// to this environment, stalls; a Stalled source holds the follower where it is.
async fn promoted(
    env: &MendixEnvironment,
    ctx: &Context,
    namespace: &str,
    source: &str,
) -> Result<Result<(String, Option<String>), Verdict>, Error> {
    let api: Api<MendixEnvironment> = Api::namespaced(ctx.client.clone(), namespace);
    let name = env.name_any();
    let wait = |message: String| {
        Ok(Err(Verdict::new(
            Outcome::progressing("WaitingForSource", message),
            SOURCE_RECHECK,
        )))
    };
    let Some(source_env) = api.get_opt(source).await? else {
        return wait(format!(
            "waiting for MendixEnvironment {source} to be created"
        ));
    };
    let same_app = match (
        (
            &env.spec.target.mendix_cloud,
            &env.spec.target.private_cloud,
        ),
        (
            &source_env.spec.target.mendix_cloud,
            &source_env.spec.target.private_cloud,
        ),
    ) {
        ((Some(a), _), (Some(b), _)) => a.app_id == b.app_id,
        ((_, Some(a)), (_, Some(b))) => a.app_id == b.app_id,
        _ => false,
    };
    if !same_app {
        return Ok(Err(Verdict::stalled(
            "PromotionTargetMismatch",
            format!(
                "spec.packageFrom: MendixEnvironment {source} is an environment of another app or platform; promote from an environment of the same app"
            ),
        )));
    }
    // Follow the chain: it must end at an environment that names its package itself.
    let mut seen = vec![name.clone(), source.to_string()];
    let mut next = source_env
        .spec
        .package_from
        .as_ref()
        .map(|f| f.environment_ref.name.clone());
    while let Some(current) = next.take() {
        if seen.contains(&current) {
            seen.push(current);
            return Ok(Err(Verdict::stalled(
                "PromotionCycle",
                format!(
                    "spec.packageFrom makes a cycle ({}): one environment of the chain must name its package (packageRef or packageId)",
                    seen.join(" → ")
                ),
            )));
        }
        seen.push(current.clone());
        // A missing environment further up the chain is that one's to report.
        next = api
            .get_opt(&current)
            .await?
            .and_then(|found| found.spec.package_from.map(|f| f.environment_ref.name));
    }
    let status = source_env.status.clone().unwrap_or_default();
    let current = status.observed_generation == source_env.metadata.generation;
    if conditions::is_true(&status.conditions, conditions::STALLED) {
        let detail = conditions::find(&status.conditions, conditions::STALLED)
            .map(|c| format!("{}: {}", c.reason, c.message))
            .unwrap_or_default();
        return wait(format!(
            "MendixEnvironment {source} is Stalled ({detail}); this environment stays as it is until it is Ready again"
        ));
    }
    match status.deployed_package_id {
        Some(id) if current && conditions::is_true(&status.conditions, conditions::READY) => {
            Ok(Ok((id, status.deployed_version)))
        }
        _ => wait(format!(
            "waiting for MendixEnvironment {source} to be Ready at its latest generation"
        )),
    }
}
