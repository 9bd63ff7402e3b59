//! What the operator would do to an environment now, read from Mendix and never written: the
//! remote steps from the same planner the reconciler runs (`cloud::plan::Simulation` on Mendix
//! Cloud, the manifest merge on Private Cloud), with constant values masked where they come from
//! Secrets, and the expected downtime from the environment's own start history.
//! `kubectl mendix diff` prints it; the plan an approval names is its steps.

use std::time::Duration;

use super::desired::{
    Desired, merge_manifest, private_instances, production_guard, unknown_model_names,
};
use super::resolve::{Resolved, private_place, resolve};
use crate::controller::Context;
use crate::controller::error::Error;
use crate::controller::secrets::Credentials;
use crate::controller::verdict::Verdict;
use crate::crd::environment::{MendixCloudEnvironment, MendixEnvironment, RunState};
use mendix_client::cloud_v1::CloudDeploy;
use mendix_client::private_cloud_v4::PcDeploy;

/// The remote steps the operator would take now, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preview {
    /// E.g. `environment Test of app calc`.
    pub environment: String,
    pub steps: Vec<String>,
    /// A step that would stall before writing, and why.
    pub stall: Option<String>,
    /// The app stops on the way (a deploy or restart): how long it is expected to be down, from
    /// its own last starts, when known.
    pub downtime: Option<Downtime>,
    /// Whether a step stops, restarts or replaces the running app (what deployment windows
    /// hold back).
    pub disruptive: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Downtime {
    /// About this long (the environment's learned start duration).
    About(Duration),
    /// It stops, but no start of it has been seen yet.
    Unknown,
    /// It keeps running throughout.
    None,
    /// It is not running now.
    NotRunning,
}

impl Preview {
    /// The plan's short hash (what `mendixops.io/approvedPlan` names): 12 hex digits of the
    /// FNV-1a hash of its steps, stable across processes, machines and Rust versions.
    pub fn hash(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.steps.join("\n").bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{hash:016x}")[..12].to_string()
    }

    /// The plan as people read it.
    pub fn render(&self) -> String {
        let mut out = format!("{}:\n", self.environment);
        if self.steps.is_empty() && self.stall.is_none() {
            out.push_str("  nothing to do: Mendix matches the spec\n");
            return out;
        }
        for (i, step) in self.steps.iter().enumerate() {
            out.push_str(&format!("  {}. {step}\n", i + 1));
        }
        if let Some(stall) = &self.stall {
            out.push_str(&format!("  then stalls: {stall}\n"));
        }
        match &self.downtime {
            Some(Downtime::About(d)) => out.push_str(&format!(
                "  the app is down for about {} (its last starts)\n",
                humantime::format_duration(Duration::from_secs(d.as_secs().max(1)))
            )),
            Some(Downtime::Unknown) => {
                out.push_str("  the app is down while it restarts (no start of it seen yet)\n")
            }
            Some(Downtime::None) => out.push_str("  the app keeps running\n"),
            Some(Downtime::NotRunning) => out.push_str("  the app is not running now\n"),
            None => {}
        }
        out.push_str(&format!("  plan {}\n", self.hash()));
        out
    }
}

/// The preview of `env`, or why there is none yet (waiting for its package, bad credentials).
pub async fn preview(
    env: &MendixEnvironment,
    ctx: &Context,
) -> Result<Result<Preview, Verdict>, Error> {
    match resolve(env, ctx).await? {
        Resolved::Ready(desired) => preview_of(env, ctx, &desired).await,
        Resolved::Blocked(verdict) => Ok(Err(verdict)),
    }
}

/// The preview of `env` whose desired state the caller resolved already (the reconcile).
pub async fn preview_of(
    env: &MendixEnvironment,
    ctx: &Context,
    desired: &Desired,
) -> Result<Result<Preview, Verdict>, Error> {
    let creds = match super::credentials(env, ctx).await? {
        Ok(creds) => creds,
        Err(verdict) => return Ok(Err(verdict)),
    };
    match (
        &env.spec.target.mendix_cloud,
        &env.spec.target.private_cloud,
        &creds,
    ) {
        (Some(target), _, Credentials::Cloud(c)) => {
            cloud(env, &ctx.mendix.cloud_deploy(c), target, desired).await
        }
        (_, Some(target), Credentials::Private(pat)) => {
            let place = match private_place(env, ctx, target).await? {
                Ok(place) => place,
                Err(verdict) => return Ok(Err(verdict)),
            };
            private(env, &ctx.mendix.pc_deploy(pat), &place, desired).await
        }
        _ => Ok(Err(Verdict::stalled(
            "InvalidSpec",
            "exactly one of spec.target.mendixCloud or spec.target.privateCloud must be set",
        ))),
    }
}

/// Which constants' values may be shown: those the spec gives inline.
fn shown_constants(env: &MendixEnvironment) -> Vec<&str> {
    env.spec
        .constants
        .iter()
        .filter(|c| c.value.is_some())
        .map(|c| c.name.as_str())
        .collect()
}

async fn cloud(
    env: &MendixEnvironment,
    api: &CloudDeploy,
    target: &MendixCloudEnvironment,
    desired: &Desired,
) -> Result<Result<Preview, Verdict>, Error> {
    let mut status = env.status.clone().unwrap_or_default();
    let mut known = match super::cloud::read(env, api, target, desired, &mut status).await {
        Ok(known) => known,
        Err(verdict) => return verdict.map(Err),
    };
    let (app, mode) = (&target.app_id, &target.mode);
    let environment = format!("environment {mode} of app {app}");
    if production_guard(known.remote.production, env.spec.production).is_err() {
        return Ok(Err(Verdict::stalled(
            "ProductionNotAllowed",
            format!(
                "{environment} is a production environment and spec.production is not true: the operator would change nothing"
            ),
        )));
    }
    let deployed = known.deployed.clone();
    let running = known.running;
    let before = known.settings.clone();
    let restart_requested = super::restart_request(env, &status).is_some();
    let clean_requested = super::clean_request(env, &status).is_some();
    let (steps, stall) = super::cloud::simulate(
        desired,
        &mut known,
        env.spec.production,
        &status,
        restart_requested,
        clean_requested,
    )
    .map_err(|_| Error::Unconverged("the production guard refused".into()))?;
    let shown = shown_constants(env);
    let version = super::version_label(desired);
    let mut lines = Vec::new();
    let mut stops = false;
    for (step, change) in &steps {
        use super::cloud::StepKind as K;
        match step {
            K::Transport => lines.push(format!(
                "transport {} → {}",
                deployed.as_deref().unwrap_or("no package"),
                version
            )),
            K::ApplySettings => {
                let mut parts = Vec::new();
                for name in &change.changed {
                    let old = before.as_ref().and_then(|s| {
                        s.constants
                            .iter()
                            .find(|c| &c.name == name)
                            .map(|c| c.value.clone().unwrap_or_default())
                            .or_else(|| {
                                s.scheduled_events
                                    .iter()
                                    .find(|e| &e.name == name)
                                    .map(|e| e.value.clone().unwrap_or_default())
                            })
                    });
                    let new = desired
                        .constants
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                        .or_else(|| {
                            desired
                                .scheduled_events
                                .iter()
                                .find(|(n, _)| n == name)
                                .map(|(_, on)| if *on { "Enabled" } else { "Disabled" }.to_string())
                        })
                        .or_else(|| {
                            desired
                                .custom_settings
                                .iter()
                                .find(|(n, _)| n == name)
                                .map(|(_, v)| v.clone())
                        });
                    let is_constant = desired.constants.iter().any(|(n, _)| n == name);
                    let masked = is_constant && !shown.contains(&name.as_str());
                    parts.push(match (old, new, masked) {
                        (_, _, true) => format!("{name} (value from a Secret)"),
                        (Some(old), Some(new), _) => format!("{name}: {old:?} → {new:?}"),
                        (None, Some(new), _) => format!("{name}: added, {new:?}"),
                        _ => name.clone(),
                    });
                }
                lines.push(format!("apply settings: {}", parts.join(", ")));
            }
            other => {
                if matches!(
                    other,
                    K::StopForDeploy | K::StopForClean | K::Stop | K::Restart
                ) {
                    stops = true;
                }
                lines.push(super::cloud::describe(*other, &version));
            }
        }
    }
    if let Some(wanted) = &desired.tags
        && let Some(difference) = super::cloud::tags_difference(api, app, mode, wanted).await?
    {
        lines.push(format!("set tags ({difference})"));
    }
    let ends_running = desired.run_state == RunState::Running;
    let downtime = if lines.is_empty() {
        None
    } else if !running {
        Some(Downtime::NotRunning)
    } else if stops && ends_running {
        Some(
            status
                .start_duration_ms
                .and_then(|ms| u64::try_from(ms).ok())
                .map_or(Downtime::Unknown, |ms| {
                    Downtime::About(Duration::from_millis(ms))
                }),
        )
    } else {
        Some(Downtime::None)
    };
    let disruptive = running
        && steps.iter().any(|(step, _)| {
            use super::cloud::StepKind as K;
            matches!(
                step,
                K::StopForDeploy | K::StopForClean | K::Stop | K::Restart | K::Scale { .. }
            )
        });
    Ok(Ok(Preview {
        environment,
        steps: lines,
        stall,
        downtime,
        disruptive,
    }))
}

async fn private(
    env: &MendixEnvironment,
    api: &PcDeploy,
    place: &super::resolve::PcPlace,
    desired: &Desired,
) -> Result<Result<Preview, Verdict>, Error> {
    let (app, namespace, id) = (&place.app_id, &place.namespace_id, &place.environment_id);
    let environment = format!("environment {id} of app {app}");
    let status = env.status.clone().unwrap_or_default();
    let manifest = match api.get_environment(app, namespace, id).await {
        Ok(m) => m,
        Err(err) if err.is_not_found() => {
            let steps = match env
                .spec
                .private_cloud
                .as_ref()
                .and_then(|p| p.create.as_ref())
            {
                Some(create) => vec![format!(
                    "create environment {id} ({}) running {}",
                    create.app_url,
                    super::version_label(desired)
                )],
                None => Vec::new(),
            };
            let stall = steps.is_empty().then(|| {
                format!(
                    "{environment} does not exist: set spec.privateCloud.create to have it created"
                )
            });
            return Ok(Ok(Preview {
                environment,
                steps,
                stall,
                downtime: None,
                disruptive: false,
            }));
        }
        Err(err) => return Err(err.into()),
    };
    if production_guard(
        Some(manifest.environment.properties.production),
        env.spec.production,
    )
    .is_err()
    {
        return Ok(Err(Verdict::stalled(
            "ProductionNotAllowed",
            format!(
                "{environment} is a production environment and spec.production is not true: the operator would change nothing"
            ),
        )));
    }
    let instances = private_instances(desired, &manifest.environment.container);
    let (_, changed) = merge_manifest(&manifest, desired, instances);
    let shown = shown_constants(env);
    let mut steps = Vec::new();
    if !changed.is_empty() {
        let parts: Vec<String> = changed
            .iter()
            .map(|name| {
                let constant = desired.constants.iter().any(|(n, _)| n == name);
                if constant && !shown.contains(&name.as_str()) {
                    format!("{name} (value from a Secret)")
                } else if name == "package" {
                    format!(
                        "package {} → {}",
                        manifest.environment.deployment.package_id,
                        super::version_label(desired)
                    )
                } else if name == "instances" {
                    format!(
                        "instances {} → {instances}",
                        manifest.environment.container.instances
                    )
                } else {
                    name.clone()
                }
            })
            .collect();
        steps.push(format!(
            "update the manifest: {} (Mendix replaces the pods)",
            parts.join(", ")
        ));
    }
    let unknown = if manifest.environment.deployment.package_id == desired.package_id {
        unknown_model_names(&manifest, desired)
    } else {
        Vec::new()
    };
    let stall =
        (!unknown.is_empty()).then(|| format!("the deployed model has no {}", unknown.join(", ")));
    if super::restart_request(env, &status).is_some() && changed.is_empty() && instances > 0 {
        steps.push(format!(
            "restart: scale {instances} → 0 → {instances} instances"
        ));
    }
    // Every manifest change replaces the pods of a running app.
    let disruptive = !steps.is_empty() && manifest.environment.container.instances > 0;
    Ok(Ok(Preview {
        environment,
        steps,
        stall,
        downtime: None,
        disruptive,
    }))
}
