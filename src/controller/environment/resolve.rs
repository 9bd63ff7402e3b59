//! Reading what an environment depends on before anything remote happens: the MendixPackage it
//! references (waiting while that builds, stalling when it failed) and Secret constant values.

use std::time::Duration;

use kube::ResourceExt;
use kube::api::Api;

use super::desired::Desired;
use crate::controller::Context;
use crate::controller::error::Error;
use crate::controller::secrets::secret_value;
use crate::controller::verdict::Verdict;
use crate::crd::MendixPackage;
use crate::crd::conditions::{self, Outcome};
use crate::crd::environment::MendixEnvironment;

/// How often a waiting environment looks at its package even without a watch event.
const PACKAGE_RECHECK: Duration = Duration::from_secs(30);

pub enum Resolved {
    Ready(Desired),
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
    } else {
        return Ok(Resolved::Blocked(Verdict::stalled(
            "InvalidSpec",
            "exactly one of spec.packageRef or spec.packageId must be set",
        )));
    };

    let mut constants = Vec::with_capacity(env.spec.constants.len());
    for constant in &env.spec.constants {
        let value = match (&constant.value, &constant.value_from) {
            (Some(v), _) => v.clone(),
            (None, Some(from)) => match secret_value(
                &ctx.client,
                &namespace,
                &from.secret_key_ref.name,
                &from.secret_key_ref.key,
            )
            .await
            {
                Ok(v) => v,
                Err(err) => match err.stalled_reason() {
                    Some(reason) => {
                        return Ok(Resolved::Blocked(Verdict::stalled(
                            reason,
                            format!("constant {}: {err}", constant.name),
                        )));
                    }
                    None => return Err(err.into()),
                },
            },
            (None, None) => {
                return Ok(Resolved::Blocked(Verdict::stalled(
                    "InvalidSpec",
                    format!("constant {}: set value or valueFrom", constant.name),
                )));
            }
        };
        constants.push((constant.name.clone(), value));
    }
    Ok(Resolved::Ready(Desired::from_spec(
        &env.spec, package_id, version, constants,
    )))
}
