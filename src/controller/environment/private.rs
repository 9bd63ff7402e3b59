//! Converging a Private Cloud environment through the Deploy API v4: one PUT of the whole
//! manifest when anything differs (every field the spec does not manage kept as it was), the
//! job followed, then a GET confirms the manifest and `container.state`. A restart is an
//! instance scale to 0 and back, resumed from status if the operator stops half-way.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::runtime::events::EventType;

use super::desired::{
    Desired, merge_manifest, private_instances, production_guard, unknown_model_names,
};
use super::{record_operation, restart_request, version_label};
use crate::controller::Context;
use crate::controller::error::Error;
use crate::controller::status::StatusWriter;
use crate::controller::verdict::{
    Verdict, age, is_paused, now, stall_or_retry, stalled_by, start_operation,
};
use crate::crd::conditions::Outcome;
use crate::crd::environment::{
    MendixEnvironment, MendixEnvironmentStatus, PrivateCloudEnvironment, RunState,
};
use crate::crd::{OperationKind, OperationStatus};
use mendix_client::private_cloud_v4::PcDeploy;
use mendix_client::private_cloud_v4::types::{ContainerState, EnvironmentManifest, JobStatus};

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

/// Poll intervals to wait for a PUT whose job id was never recorded before sending it again.
const UNRECORDED_JOB_POLLS: i32 = 3;

/// How long that is. Measured in time since the PUT was recorded, not in reconciles: several
/// reconciles can run within one poll interval.
fn unrecorded_job_wait(poll: &crate::controller::schedule::PollSchedule) -> Duration {
    (0..UNRECORDED_JOB_POLLS).map(|n| poll.interval(n)).sum()
}

/// Sends one manifest PUT, recording the operation first and its job after.
///
/// When the same step is already recorded without a job id, the previous PUT may have been
/// accepted and its answer lost: the status write after it failed (this process then still
/// knows the job, see [`UnrecordedJobs`](crate::controller::context::UnrecordedJobs)), or the
/// operator stopped. An unknown job is invisible until it applies, so wait a few polls, counted
/// from when the step was recorded, for the manifest to change before sending the same PUT
/// again: a second PUT would apply the manifest twice.
async fn put_manifest(
    env: &MendixEnvironment,
    ctx: &Context,
    writer: &mut StatusWriter<MendixEnvironment>,
    (api, target): (&PcDeploy, &PrivateCloudEnvironment),
    manifest: &EnvironmentManifest,
    mut op: OperationStatus,
    status: &mut MendixEnvironmentStatus,
) -> Result<Verdict, Error> {
    let message = op.step.clone().unwrap_or_default();
    if let Some(recorded) = status.operation.as_mut().filter(|r| {
        r.job_id.is_none()
            && r.kind == op.kind
            && r.phase == op.phase
            && age(r) < unrecorded_job_wait(&ctx.settings.poll)
    }) {
        let after = ctx.settings.poll.interval(recorded.polls);
        recorded.polls += 1;
        return Ok(Verdict::new(
            Outcome::progressing(
                "UpdatingManifest",
                format!("{message} (waiting for an earlier request to apply)"),
            ),
            after,
        ));
    }
    op.polls = 0;
    op.started_at = MicroTime(now());
    record_operation(env, ctx, writer, status, op.clone(), "UpdatingManifest").await?;
    match api
        .update_environment(
            &target.app_id,
            &target.namespace_id,
            &target.environment_id,
            manifest,
        )
        .await
    {
        Ok(job) => {
            if let Some(uid) = env.metadata.uid.as_deref() {
                ctx.unrecorded_jobs.remember(uid, &op, &job.id);
            }
            op.job_id = Some(job.id.clone());
            crate::controller::shell::operation_started(&op);
            status.operation = Some(op);
            Ok(Verdict::new(
                Outcome::progressing("UpdatingManifest", format!("{message} (job {})", job.id)),
                ctx.settings.poll.first,
            ))
        }
        Err(err) => {
            if stalled_by(&err, "").is_some() {
                status.operation = None;
            }
            stall_or_retry(err, "updating the environment manifest")
        }
    }
}

pub async fn converge(
    env: &MendixEnvironment,
    ctx: &Context,
    writer: &mut StatusWriter<MendixEnvironment>,
    api: &PcDeploy,
    target: &PrivateCloudEnvironment,
    desired: &Desired,
    status: &mut MendixEnvironmentStatus,
) -> Result<Verdict, Error> {
    let (app, namespace, id) = (&target.app_id, &target.namespace_id, &target.environment_id);
    let version = version_label(desired);
    let poll = |polls: i32| ctx.settings.poll.interval(polls);

    // A job this process started but whose status write failed: follow it, never resend.
    if let Some(uid) = env.metadata.uid.as_deref() {
        match status.operation.as_mut() {
            Some(op) if op.job_id.is_none() => {
                op.job_id = ctx.unrecorded_jobs.recall(uid, op);
            }
            _ => ctx.unrecorded_jobs.forget(uid),
        }
    }
    // A job in flight: follow it before reading anything else.
    if let Some(mut op) = status.operation.clone().filter(|o| o.job_id.is_some()) {
        let job_id = op.job_id.clone().unwrap_or_default();
        let job = match api.get_job(&job_id).await {
            Ok(job) => job,
            Err(err) => return stall_or_retry(err, &format!("following job {job_id}")),
        };
        if matches!(job.status, JobStatus::Finished | JobStatus::Failed)
            && let Some(uid) = env.metadata.uid.as_deref()
        {
            ctx.unrecorded_jobs.forget(uid);
        }
        match job.status {
            JobStatus::Finished => {
                op.job_id = None;
                op.polls = 0;
                status.operation = Some(op);
            }
            JobStatus::Failed => {
                status.operation = None;
                let message = job.failure_message().unwrap_or_default();
                ctx.event(
                    env,
                    EventType::Warning,
                    "ManifestUpdateFailed",
                    "UpdateManifest",
                    message.clone(),
                )
                .await;
                return Ok(Verdict::stalled(
                    "ManifestUpdateFailed",
                    format!(
                        "Mendix could not apply the environment manifest: {message}; fix the spec and apply it again"
                    ),
                ));
            }
            _ => {
                let after = poll(op.polls);
                op.polls += 1;
                let message = format!(
                    "{} (job {job_id} {:?})",
                    op.step.clone().unwrap_or_default(),
                    job.status
                )
                .to_lowercase();
                status.operation = Some(op);
                return Ok(Verdict::new(
                    Outcome::progressing("UpdatingManifest", message),
                    after,
                ));
            }
        }
    }

    let manifest = match api.get_environment(app, namespace, id).await {
        Ok(m) => m,
        Err(err) if err.is_not_found() => {
            return Ok(Verdict::stalled(
                "EnvironmentNotFound",
                format!(
                    "environment {id} in namespace {namespace} of app {app} does not exist: check spec.target.privateCloud"
                ),
            ));
        }
        Err(err) => return stall_or_retry(err, &format!("reading environment {id}")),
    };
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
        status.deployed_version = desired
            .package_version
            .clone()
            .or(status.deployed_version.take());
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
                return put_manifest(env, ctx, writer, (api, target), &down, op, status).await;
            }
            RestartStep::ScaleUp => {
                let mut up = manifest.clone();
                up.environment.container.instances = instances.max(1);
                op.phase = Some(RestartPhase::ScaleUp.as_str().into());
                op.step = Some(format!(
                    "restart 2/2: scaling back to {} instance(s)",
                    instances.max(1)
                ));
                return put_manifest(env, ctx, writer, (api, target), &up, op, status).await;
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
        return put_manifest(env, ctx, writer, (api, target), &next, op, status).await;
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
            return put_manifest(env, ctx, writer, (api, target), &down, op, status).await;
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
