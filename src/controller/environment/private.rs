//! Converging a Private Cloud environment through the Deploy API v4: created from
//! `spec.privateCloud.create` when it does not exist, then one PUT of the whole manifest when
//! anything differs (every field the spec does not manage kept as it was), the job followed,
//! then a GET confirms the manifest and `container.state`. A restart is an instance scale to 0
//! and back, resumed from status if the operator stops half-way.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::runtime::events::EventType;

use super::desired::{
    Desired, merge_manifest, private_instances, production_guard, unknown_model_names,
};
use super::resolve::PcPlace;
use super::{record_operation, restart_request, version_label};
use crate::controller::Context;
use crate::controller::deletion::{self, Cleanup};
use crate::controller::error::Error;
use crate::controller::jobs::{Followed, earlier_request_pending, follow_job, started};
use crate::controller::status::StatusWriter;
use crate::controller::verdict::{
    Verdict, is_paused, now, stall_or_retry, stalled_by, start_operation,
};
use crate::crd::conditions::Outcome;
use crate::crd::environment::{
    CoreResources, MendixEnvironment, MendixEnvironmentStatus, PrivateCloudCreate, RunState,
};
use crate::crd::{OperationKind, OperationStatus};
use mendix_client::private_cloud_v4::PcDeploy;
use mendix_client::private_cloud_v4::types::{self as v4, ContainerState, EnvironmentManifest};

/// Where a restart (a scale to 0 instances, then back) stands: the phase its operation
/// records in status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RestartPhase {
    ScaleDown,
    ScaleUp,
}

impl RestartPhase {
    fn as_str(self) -> &'static str {
        match self {
            RestartPhase::ScaleDown => "scaleDown",
            RestartPhase::ScaleUp => "scaleUp",
        }
    }

    fn of(op: &OperationStatus) -> Option<Self> {
        match op.phase.as_deref() {
            Some("scaleDown") => Some(RestartPhase::ScaleDown),
            Some("scaleUp") => Some(RestartPhase::ScaleUp),
            _ => None,
        }
    }
}

/// The next step of a restart in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RestartStep {
    /// PUT the manifest with 0 instances.
    ScaleDown,
    /// PUT the manifest with the instances back.
    ScaleUp,
    /// The instances are back; Mendix has not reported the rollout Ready yet.
    WaitReady,
    /// Nothing left: the restart is done.
    Done,
}

/// A restart's next step from its recorded phase and what Mendix reports: pure, so a restart
/// the operator stopped half-way is resumed from status alone.
fn restart_step(phase: Option<RestartPhase>, instances: u32, state: ContainerState) -> RestartStep {
    match phase {
        Some(RestartPhase::ScaleDown) if instances == 0 => RestartStep::ScaleUp,
        Some(RestartPhase::ScaleDown) => RestartStep::ScaleDown,
        Some(RestartPhase::ScaleUp) if instances == 0 => RestartStep::ScaleUp,
        Some(RestartPhase::ScaleUp)
            if matches!(state, ContainerState::Processing | ContainerState::Unknown) =>
        {
            RestartStep::WaitReady
        }
        _ => RestartStep::Done,
    }
}

/// The Private Cloud environment being converged: the API, where it lives, what it should be.
#[derive(Clone, Copy)]
struct Remote<'a> {
    api: &'a PcDeploy,
    place: &'a PcPlace,
    desired: &'a Desired,
}

/// Whether a manifest is sent to create the environment (POST) or to update it (PUT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ManifestWrite {
    Create,
    Update,
}

/// Sends one manifest (PUT, or POST to create), recording the operation first and its job after.
///
/// When the same step is already recorded without a job id, the previous PUT may have been
/// accepted and its answer lost: the status write after it failed (this process then still
/// knows the job, see [`UnrecordedJobs`](crate::controller::context::UnrecordedJobs)), or the
/// operator stopped. An unknown job is invisible until it applies, so wait a few polls, counted
/// from when the step was recorded, for the manifest to change before sending the same PUT
/// again: a second PUT would apply the manifest twice.
async fn send_manifest(
    env: &MendixEnvironment,
    ctx: &Context,
    writer: &mut StatusWriter<MendixEnvironment>,
    Remote {
        api,
        place,
        desired,
    }: Remote<'_>,
    manifest: &EnvironmentManifest,
    mut op: OperationStatus,
    status: &mut MendixEnvironmentStatus,
) -> Result<Verdict, Error> {
    let write = if op.kind == OperationKind::Create {
        ManifestWrite::Create
    } else {
        ManifestWrite::Update
    };
    let message = op.step.clone().unwrap_or_default();
    if let Some(verdict) =
        earlier_request_pending(&mut status.operation, &op, "UpdatingManifest", ctx)
    {
        return Ok(verdict);
    }
    op.polls = 0;
    op.started_at = MicroTime(now());
    record_operation(env, ctx, writer, status, op.clone(), "UpdatingManifest").await?;
    let sent = match write {
        ManifestWrite::Create => api.create_environment(&place.app_id, manifest).await,
        ManifestWrite::Update => {
            api.update_environment(
                &place.app_id,
                &place.namespace_id,
                &place.environment_id,
                manifest,
            )
            .await
        }
    };
    match sent {
        Ok(job) => {
            started(
                ctx,
                env.metadata.uid.as_deref(),
                op,
                &job.id,
                &mut status.operation,
            );
            // Mendix never shows the admin password back: what was sent is recorded instead.
            if manifest
                .environment
                .runtime
                .as_ref()
                .is_some_and(|r| r.mx_admin_password.is_some())
            {
                status.admin_password_version = desired
                    .private
                    .admin_password
                    .as_ref()
                    .map(|p| p.version.clone());
            }
            if manifest.environment.deployment_strategy.is_some()
                && desired.private.deployment_strategy.is_some()
            {
                status.deployment_strategy_sent =
                    desired.private.deployment_strategy.clone().map(Box::new);
            }
            Ok(Verdict::new(
                Outcome::progressing("UpdatingManifest", format!("{message} (job {})", job.id)),
                ctx.settings.poll.first,
            ))
        }
        Err(err) => {
            if stalled_by(&err, "").is_some() {
                status.operation = None;
            }
            stall_or_retry(
                err,
                match write {
                    ManifestWrite::Create => "creating the environment",
                    ManifestWrite::Update => "updating the environment manifest",
                },
            )
        }
    }
}

/// The manifest of a new environment: what `spec.privateCloud.create` and the place say, with
/// the required fields Mendix has no default for; the rest of the spec is merged in after.
fn new_manifest(
    place: &PcPlace,
    create: &PrivateCloudCreate,
    resources: &CoreResources,
    cluster_id: String,
    namespace: String,
) -> EnvironmentManifest {
    let amounts = |a: &crate::crd::environment::ResourceAmounts| v4::CoreResource {
        cpu: a.cpu.clone(),
        memory: a.memory.clone(),
        ephemeral_storage: a.ephemeral_storage.clone(),
    };
    EnvironmentManifest {
        manifest_version: NEW_MANIFEST_VERSION.into(),
        environment: v4::EnvironmentSpec {
            id: place.environment_id.clone(),
            properties: v4::EnvironmentProperties {
                name: create.name.clone(),
                production: create.production.unwrap_or(false),
                default_studio_target: create.default_studio_target.unwrap_or(false),
                secrets_store_enabled: create.secrets_store_enabled.unwrap_or(false),
                environment_purpose: create.purpose.map(|p| format!("{p:?}")),
                extra: Default::default(),
            },
            deployment: v4::Deployment {
                app_url: create.app_url.clone(),
                package_id: String::new(),
                constants: None,
                scheduled_events: None,
                app_log_levels: None,
                extra: Default::default(),
            },
            container: v4::Container {
                state: None,
                instances: 0,
                last_running_instance_count: None,
                core_resources: v4::CoreResources {
                    limits: amounts(&resources.limits),
                    requests: amounts(&resources.requests),
                },
                extra: Default::default(),
            },
            provider: v4::Provider {
                cluster_id,
                namespace,
                namespace_id: Some(place.namespace_id.clone()),
                extra: Default::default(),
            },
            services: create
                .services
                .iter()
                .map(|s| v4::Service {
                    name: s.name.clone(),
                    plan: format!("{:?}", s.plan),
                    // The contract's enum value, backslashes included (single-quoted YAML).
                    config: format!(
                        r#"{{type: \"{}\"}}"#,
                        format!("{:?}", s.service_type).to_lowercase()
                    ),
                })
                .collect(),
            runtime: None,
            annotations: None,
            runtime_metrics_configuration: None,
            deployment_strategy: None,
            extra: Default::default(),
        },
        extra: Default::default(),
    }
}

/// Marks, in an update's recorded phase, that Mendix finished applying it.
const APPLIED: &str = "applied: ";

/// The manifest version sent with a new environment (the contract's example).
const NEW_MANIFEST_VERSION: &str = "2.0.0";

/// The environment does not exist: create it from `spec.privateCloud.create`, or stall.
async fn create(
    env: &MendixEnvironment,
    ctx: &Context,
    writer: &mut StatusWriter<MendixEnvironment>,
    remote: Remote<'_>,
    status: &mut MendixEnvironmentStatus,
) -> Result<Verdict, Error> {
    let place = remote.place;
    let settings = env.spec.private_cloud.as_ref();
    let (Some(create), Some(resources)) = (
        settings.and_then(|p| p.create.as_ref()),
        settings.and_then(|p| p.core_resources.as_ref()),
    ) else {
        return Ok(Verdict::stalled(
            "EnvironmentNotFound",
            format!(
                "environment {} in namespace {} of app {} does not exist: check spec.target.privateCloud, or set spec.privateCloud.create and coreResources to have the operator create it",
                place.environment_id, place.namespace_id, place.app_id
            ),
        ));
    };
    let (Some(cluster_id), Some(namespace)) = (place.cluster_id.clone(), place.namespace.clone())
    else {
        return Ok(Verdict::stalled(
            "InvalidSpec",
            "spec.privateCloud.create needs clusterId and namespace, or use spec.target.privateCloud.namespaceRef",
        ));
    };
    let what = format!("creating environment {}", place.environment_id);
    if let Some(verdict) = super::before_change(env, ctx, &what).await {
        return Ok(verdict);
    }
    let skeleton = new_manifest(place, create, resources, cluster_id, namespace);
    let instances = private_instances(remote.desired, &skeleton.environment.container);
    let (manifest, _) = merge_manifest(&skeleton, remote.desired, instances);
    ctx.event(env, EventType::Normal, "Creating", "Create", what.clone())
        .await;
    let op = start_operation(
        OperationKind::Create,
        format!(
            "creating environment {} with {}",
            place.environment_id,
            version_label(remote.desired)
        ),
    );
    send_manifest(env, ctx, writer, remote, &manifest, op, status).await
}

pub async fn converge(
    env: &MendixEnvironment,
    ctx: &Context,
    writer: &mut StatusWriter<MendixEnvironment>,
    api: &PcDeploy,
    place: &PcPlace,
    desired: &Desired,
    status: &mut MendixEnvironmentStatus,
) -> Result<Verdict, Error> {
    let (app, namespace, id) = (&place.app_id, &place.namespace_id, &place.environment_id);
    let remote = Remote {
        api,
        place,
        desired,
    };
    let version = version_label(desired);
    let poll = |polls: i32| ctx.settings.poll.interval(polls);

    // A job in flight: follow it before reading anything else.
    let failed =
        match follow_job(env.metadata.uid.as_deref(), ctx, api, &mut status.operation).await {
            Followed::NoJob => None,
            Followed::Finished(op) => {
                if op.kind == OperationKind::UpdateManifest
                    && let (Some(recorded), Some(changed)) =
                        (status.operation.as_mut(), op.phase.clone())
                {
                    recorded.phase = Some(format!("{APPLIED}{changed}"));
                }
                if op.kind == OperationKind::Create {
                    status.created = Some(true);
                    status.operation = None;
                    ctx.event(
                        env,
                        EventType::Normal,
                        "Created",
                        "Create",
                        format!("environment {id} was created"),
                    )
                    .await;
                }
                None
            }
            Followed::Failed(op, message) => Some((op, message)),
            Followed::Waiting(verdict) => return verdict,
        };
    if let Some((op, message)) = &failed {
        // What was sent may not have been applied: send the admin password again next time.
        status.admin_password_version = None;
        status.deployment_strategy_sent = None;
        if op.kind != OperationKind::Create {
            return Ok(manifest_failed(env, ctx, "ManifestUpdateFailed", "UpdateManifest",
                format!("Mendix could not apply the environment manifest: {message}; fix the spec and apply it again")).await);
        }
    }

    let manifest = match api.get_environment(app, namespace, id).await {
        Ok(m) => m,
        Err(err) if err.is_not_found() && !env.spec.management_policy.is_manage() => {
            return Ok(Verdict::stalled(
                "EnvironmentNotFound",
                format!(
                    "environment {id} in namespace {namespace} of app {app} does not exist, and managementPolicy: Observe does not create it: check spec.target.privateCloud"
                ),
            ));
        }
        Err(err) if err.is_not_found() => {
            if let Some((_, message)) = failed {
                return Ok(manifest_failed(env, ctx, "CreateFailed", "Create",
                    format!("Mendix could not create environment {id}: {message}; fix the spec and apply it again")).await);
            }
            return create(env, ctx, writer, remote, status).await;
        }
        Err(err) => return stall_or_retry(err, &format!("reading environment {id}")),
    };
    status.namespace_id = Some(place.namespace_id.clone());
    let spec = &manifest.environment;
    let container = &spec.container;
    status.url = Some(spec.deployment.app_url.clone());
    status.production = Some(spec.properties.production);
    status.instances = i32::try_from(container.instances).ok();
    status.run_state = Some(if container.instances > 0 {
        RunState::Running
    } else {
        RunState::Stopped
    });
    status.deployed_package_id = Some(spec.deployment.package_id.clone());
    status.mendix_version = spec
        .runtime
        .as_ref()
        .and_then(|r| r.runtime_version.clone())
        .or(status.mendix_version.take());
    if spec.deployment.package_id == desired.package_id {
        status.deployed_version = super::deployed_version(env, desired, status);
    }

    if !env.spec.management_policy.is_manage() {
        // What a PUT would change, field by field; an observer sends nothing.
        let instances = private_instances(desired, container);
        let (_, changed) = merge_manifest(&manifest, desired, instances);
        let mut drift: Vec<String> = changed.iter().map(|c| format!("{c}: differs")).collect();
        if manifest.environment.deployment.package_id == desired.package_id {
            drift.extend(
                unknown_model_names(&manifest, desired)
                    .iter()
                    .map(|n| format!("{n}: not in the deployed model")),
            );
        }
        let what = format!("environment {id} of app {app}");
        return Ok(crate::controller::observe::report(
            env,
            ctx,
            &mut status.conditions,
            &drift,
            &what,
        )
        .await);
    }

    // The production guard comes before every PUT below, a restart's included.
    if production_guard(Some(spec.properties.production), env.spec.production).is_err() {
        return Ok(Verdict::stalled(
            "ProductionNotAllowed",
            format!(
                "environment {id} of app {app} is a production environment: set spec.production: true to let the operator change it"
            ),
        ));
    }

    let instances = private_instances(desired, container);
    let restart_token = restart_request(env, status);

    // A restart half-done: finish it.
    if let Some(mut op) = status
        .operation
        .clone()
        .filter(|o| o.kind == OperationKind::Restart)
    {
        match restart_step(
            RestartPhase::of(&op),
            container.instances,
            container.state(),
        ) {
            RestartStep::ScaleDown => {
                let mut down = manifest.clone();
                down.environment.container.instances = 0;
                return send_manifest(env, ctx, writer, remote, &down, op, status).await;
            }
            RestartStep::ScaleUp => {
                let mut up = manifest.clone();
                up.environment.container.instances = instances.max(1);
                op.phase = Some(RestartPhase::ScaleUp.as_str().into());
                op.step = Some(format!(
                    "restart 2/2: scaling back to {} instance(s)",
                    instances.max(1)
                ));
                return send_manifest(env, ctx, writer, remote, &up, op, status).await;
            }
            RestartStep::WaitReady => {
                let after = poll(op.polls);
                op.polls += 1;
                status.operation = Some(op);
                return Ok(Verdict::new(
                    Outcome::progressing(
                        "Restarting",
                        "restart 2/2: waiting for the app to become Ready".to_string(),
                    ),
                    after,
                ));
            }
            RestartStep::Done => {}
        }
        if let Some(token) = op.intent.take() {
            status.last_restarted_at = Some(token);
        }
        ctx.event(
            env,
            EventType::Normal,
            "Restarted",
            "Restart",
            "the app was restarted by scaling to 0 and back".into(),
        )
        .await;
        status.operation = None;
    }

    // The manifest lists the constants and scheduled events of the deployed model. Names it
    // lacks are refused before a PUT (Mendix would accept and drop them, and every reconcile
    // would send them again); with a new package they are checked once it is deployed.
    if manifest.environment.deployment.package_id == desired.package_id {
        let unknown = unknown_model_names(&manifest, desired);
        if !unknown.is_empty() {
            return Ok(super::unknown_settings(&version, &unknown));
        }
    }
    let (next, changed) = merge_manifest(&manifest, desired, instances);
    if !changed.is_empty() {
        let what = changed.join(", ");
        // The same change again right after Mendix finished applying it: Mendix keeps other
        // values than the spec's. Sending it again would loop; a person must look.
        let applied = format!("{APPLIED}{what}");
        if status.operation.as_ref().is_some_and(|op| {
            op.kind == OperationKind::UpdateManifest
                && op.phase.as_deref() == Some(applied.as_str())
        }) {
            return Ok(Verdict::stalled(
                "ManifestNotApplied",
                format!(
                    "Mendix finished updating the manifest but still reports other values for {what} than the spec: check that Mendix allows these values, then change the spec or apply it again"
                ),
            ));
        }
        if let Some(verdict) = super::before_change(env, ctx, &format!("updating {what}")).await {
            return Ok(verdict);
        }
        ctx.event(
            env,
            EventType::Normal,
            "UpdatingManifest",
            "UpdateManifest",
            format!("updating {what}"),
        )
        .await;
        let mut op = start_operation(
            OperationKind::UpdateManifest,
            format!("1/2: deploying {version}: updating {what}"),
        );
        // Pods are replaced when the manifest changes, which satisfies a restart request.
        op.intent = restart_token;
        op.phase = Some(what.clone());
        return send_manifest(env, ctx, writer, remote, &next, op, status).await;
    }

    // The manifest matches: wait for the environment to be Ready.
    match container.state() {
        // Unknown is not Ready: Mendix has not reported the rollout's state yet.
        ContainerState::Processing | ContainerState::Unknown => {
            let polls = status.operation.as_ref().map_or(0, |o| o.polls);
            if let Some(op) = status.operation.as_mut() {
                op.polls += 1;
            }
            return Ok(Verdict::new(
                Outcome::progressing(
                    "Processing",
                    format!("2/2: waiting for {version} to become Ready"),
                ),
                poll(polls),
            ));
        }
        ContainerState::Failed => {
            return Ok(Verdict::stalled(
                "ContainerFailed",
                format!(
                    "Mendix reports the environment Failed after deploying {version}: check the app's pods and logs"
                ),
            ));
        }
        ContainerState::Ready => {}
    }
    if let Some(op) = status.operation.take()
        && let Some(token) = op.intent
    {
        status.last_restarted_at = Some(token);
    }

    if let Some(token) = restart_token
        .filter(|_| status.last_restarted_at.is_none() || restart_request(env, status).is_some())
    {
        if instances == 0 {
            // A stopped app has nothing to restart: the request is handled.
            status.last_restarted_at = Some(token);
        } else if is_paused(env) {
            return Ok(Verdict::new(
                Outcome::progressing("Paused", "paused: would restart the app".to_string()),
                ctx.settings.resync,
            ));
        } else {
            let mut down = manifest.clone();
            down.environment.container.instances = 0;
            let mut op = start_operation(
                OperationKind::Restart,
                "restart 1/2: scaling to 0 instances".into(),
            );
            op.intent = Some(token);
            op.phase = Some(RestartPhase::ScaleDown.as_str().into());
            ctx.event(
                env,
                EventType::Normal,
                "Restarting",
                "Restart",
                "restarting by scaling to 0 and back".into(),
            )
            .await;
            return send_manifest(env, ctx, writer, remote, &down, op, status).await;
        }
    }

    let message = match desired.run_state {
        RunState::Running => format!("{version} is running with {instances} instance(s)"),
        RunState::Stopped => format!("{version} is deployed and stopped as requested"),
    };
    Ok(Verdict::new(
        Outcome::ready(if instances > 0 { "Running" } else { "Stopped" }, message),
        Duration::ZERO,
    ))
}

/// Deletes the remote environment (`deletionPolicy: Delete`): never a production one without
/// `production: true`; the delete job is recorded in status and followed until a read says
/// the environment is gone.
pub async fn cleanup(
    env: &MendixEnvironment,
    ctx: &Context,
    writer: &mut StatusWriter<MendixEnvironment>,
    api: &PcDeploy,
    place: &PcPlace,
    status: &mut MendixEnvironmentStatus,
) -> Result<Cleanup, Error> {
    let (app, namespace, id) = (&place.app_id, &place.namespace_id, &place.environment_id);
    match follow_job(env.metadata.uid.as_deref(), ctx, api, &mut status.operation).await {
        Followed::Waiting(verdict) => return verdict.map(Cleanup::Wait),
        Followed::Failed(op, message) if op.kind == OperationKind::Delete => {
            let forced = env
                .spec
                .private_cloud
                .as_ref()
                .is_some_and(|p| p.force_delete);
            let why = if forced {
                message
            } else {
                format!("{message}; spec.privateCloud.forceDelete: true bypasses some refusals")
            };
            status.operation = Some(op);
            let what = format!("environment {id}");
            return Ok(deletion::wait_refused(
                env,
                ctx,
                &mut status.operation,
                (&what, &why, "DeleteRefused"),
            )
            .await);
        }
        _ => {}
    }
    let manifest = match api.get_environment(app, namespace, id).await {
        Ok(manifest) => manifest,
        Err(err) if err.is_not_found() => {
            status.operation = None;
            return Ok(deletion::deleted(env, ctx, &format!("environment {id}")).await);
        }
        Err(err) => return Err(err.into()),
    };
    if production_guard(
        Some(manifest.environment.properties.production),
        env.spec.production,
    )
    .is_err()
    {
        crate::controller::deletion::retain(
            env,
            ctx,
            format!(
                "environment {id} of app {app} is kept in Mendix: it is a production environment and spec.production is not true"
            ),
        )
        .await;
        return Ok(Cleanup::Done);
    }
    let force = env
        .spec
        .private_cloud
        .as_ref()
        .is_some_and(|p| p.force_delete);
    let mut op = start_operation(OperationKind::Delete, format!("deleting environment {id}"));
    // Refusals so far keep counting, so the interval keeps growing.
    op.polls = deletion::refusals(&status.operation);
    if let Some(verdict) = earlier_request_pending(&mut status.operation, &op, "Deleting", ctx) {
        return Ok(Cleanup::Wait(verdict));
    }
    record_operation(env, ctx, writer, status, op.clone(), "Deleting").await?;
    let job = api.delete_environment(app, namespace, id, force).await?;
    started(
        ctx,
        env.metadata.uid.as_deref(),
        op,
        &job.id,
        &mut status.operation,
    );
    Ok(Cleanup::Wait(Verdict::new(
        Outcome::progressing(
            "Deleting",
            format!("deleting environment {id} (job {})", job.id),
        ),
        ctx.settings.poll.first,
    )))
}

/// A manifest write Mendix refused in its job: a Warning Event and Stalled.
async fn manifest_failed(
    env: &MendixEnvironment,
    ctx: &Context,
    reason: &str,
    action: &str,
    message: String,
) -> Verdict {
    ctx.event(env, EventType::Warning, reason, action, message.clone())
        .await;
    Verdict::stalled(reason, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_resumes_from_its_phase_and_what_mendix_reports() {
        use ContainerState::{Processing, Ready, Unknown};
        use RestartPhase::{ScaleDown, ScaleUp};
        let cases = [
            // Scaling down: until Mendix reports 0 instances, then back up.
            (Some(ScaleDown), 2, Ready, RestartStep::ScaleDown),
            (Some(ScaleDown), 0, Ready, RestartStep::ScaleUp),
            // Scaling up: again while Mendix still reports 0, then wait for Ready.
            (Some(ScaleUp), 0, Ready, RestartStep::ScaleUp),
            (Some(ScaleUp), 2, Processing, RestartStep::WaitReady),
            (Some(ScaleUp), 2, Unknown, RestartStep::WaitReady),
            (Some(ScaleUp), 2, Ready, RestartStep::Done),
            // A phase this operator does not know ends the restart rather than guessing.
            (None, 2, Ready, RestartStep::Done),
        ];
        for (phase, instances, state, want) in cases {
            assert_eq!(
                restart_step(phase, instances, state),
                want,
                "{phase:?} with {instances} instance(s), {state:?}"
            );
        }
        let mut op =
            crate::controller::verdict::start_operation(OperationKind::Restart, "r".into());
        for phase in [ScaleDown, ScaleUp] {
            op.phase = Some(phase.as_str().into());
            assert_eq!(RestartPhase::of(&op), Some(phase), "recorded and read back");
        }
    }
}
