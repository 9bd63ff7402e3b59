//! Converging a Mendix Cloud environment through the Deploy API v1: stop (if a new package
//! needs it) → transport → settings → scale → start, then tags. Steps that end at once follow
//! each other in one reconcile on what its reads and each step proved; the start job is
//! followed by later reconciles. A new package plus new settings cost one stop/start cycle;
//! settings alone restart a running app only (they apply on restart). Every step is decided
//! from what Mendix reported to this reconcile, so a restarted operator never repeats a
//! completed transport and never leaves the app stopped.

mod plan;
mod start;

use plan::{Known, Next, Step, next_step};
use start::{Followed, finish_start, start};
use std::time::Duration;

use kube::runtime::events::EventType;

use crate::controller::Context;
use crate::controller::environment::desired::{Desired, ProductionNotAllowed, production_guard};
use crate::controller::environment::{
    clean_request, record_operation, restart_request, version_label,
};
use crate::controller::error::Error;
use crate::controller::status::StatusWriter;
use crate::controller::verdict::{Verdict, stall_or_retry, stalled_by, start_operation};
use crate::crd::OperationKind;
use crate::crd::conditions::Outcome;
use crate::crd::environment::{
    MendixCloudEnvironment, MendixEnvironment, MendixEnvironmentStatus, RunState,
};
use mendix_client::cloud_v1::CloudDeploy;
use mendix_client::cloud_v1::types::EnvironmentStatus;

/// The phase of an ApplySettings operation after which a restart is owed.
const RESTART_OWED: &str = "restartOwed";

/// Whether status records a restart that has not been sent yet: custom settings written to a
/// running app, or a restart whose stop or start was not sent.
fn restart_owed(status: &MendixEnvironmentStatus) -> bool {
    status.operation.as_ref().is_some_and(|o| {
        o.kind == OperationKind::Restart
            || (o.kind == OperationKind::ApplySettings && o.phase.as_deref() == Some(RESTART_OWED))
    })
}

/// The Stalled verdict to keep when this generation stalled recently for one of `reasons` and
/// nothing asked to retry: the rejected step is not sent again at every reconcile.
pub(super) fn held_stall(
    env: &MendixEnvironment,
    status: &MendixEnvironmentStatus,
    reasons: &[&str],
) -> Option<Verdict> {
    let stalled =
        crate::crd::conditions::find(&status.conditions, crate::crd::conditions::STALLED)?;
    if !reasons.contains(&stalled.reason.as_str()) {
        return None;
    }
    let new_request = crate::controller::verdict::reconcile_newly_requested(
        env,
        status.reconcile_requested_at.as_deref(),
    );
    crate::controller::verdict::hold_stalled(
        &status.conditions,
        env.metadata.generation,
        new_request,
    )
}

pub async fn converge(
    env: &MendixEnvironment,
    ctx: &Context,
    writer: &mut StatusWriter<MendixEnvironment>,
    api: &CloudDeploy,
    target: &MendixCloudEnvironment,
    desired: &Desired,
    status: &mut MendixEnvironmentStatus,
) -> Result<Verdict, Error> {
    let (app, mode) = (target.app_id.as_str(), target.mode.as_str());
    let poll = |polls: i32| ctx.settings.poll.interval(polls);
    let version = version_label(desired);

    // A start is only sent once package and settings match this generation's spec (and it is
    // recorded first), so a recorded start proves both: they need not be read again, whether
    // its job just ended or its answer was lost.
    let mut start_proved_the_rest = status
        .operation
        .as_ref()
        .is_some_and(|o| o.kind == OperationKind::Start)
        && status.observed_generation == env.metadata.generation
        && status.deployed_package_id.as_deref() == Some(desired.package_id.as_str());

    // A start job in flight: one request per poll, nothing else read until it ends.
    let mut forgotten_start = None;
    if let Some(op) = status
        .operation
        .clone()
        .filter(|o| o.kind == OperationKind::Start && o.job_id.is_some())
    {
        match start::follow(env, ctx, api, target, status, op.clone(), &version).await? {
            Followed::Waiting(verdict) => return Ok(verdict),
            Followed::Ended if start_proved_the_rest => {
                // Mendix says it runs what this generation asked for: nothing to read.
                let restart_token = restart_request(env, status);
                return settled(env, ctx, api, target, desired, status, true, restart_token).await;
            }
            Followed::Ended => {}
            Followed::Forgotten => {
                // Forget the job: what Mendix reports now decides (below).
                status.operation = None;
                start_proved_the_rest = false;
                forgotten_start = Some(op);
            }
        }
    }
    let proven = if start_proved_the_rest {
        Proven::PackageAndSettings
    } else if trusted(env, ctx, target, status, api.backlog()) {
        Proven::Environment
    } else {
        Proven::Nothing
    };
    let mut known = match observe(env, api, target, desired, status, proven).await {
        Ok(known) => known,
        Err(verdict) => return verdict,
    };
    if !env.spec.management_policy.is_manage() {
        let mut drift = plan::drift(desired, &known);
        if let Some(wanted) = &desired.tags {
            match tags_difference(api, app, mode, wanted).await {
                Ok(Some(difference)) => drift.push(difference),
                Ok(None) => {}
                Err(Error::Mendix(err)) => {
                    return stall_or_retry(err, "reading the environment tags");
                }
                Err(other) => return Err(other),
            }
        }
        let what = format!("environment {mode} of app {app}");
        return Ok(crate::controller::observe::report(
            env,
            ctx,
            &mut status.conditions,
            &drift,
            &what,
        )
        .await);
    }
    // A forgotten start job of an app that runs now has ended, and with it the restart it was for.
    if let Some(op) = forgotten_start
        && known.running
    {
        finish_start(status, &op);
    }
    // A clean sent before the operator stopped, its answer unknown: Mendix holding no package
    // any more shows that it was done.
    if let Some(op) = status
        .operation
        .clone()
        .filter(|o| o.kind == OperationKind::Clean)
    {
        if known.deployed.is_none() {
            status.last_cleaned_at = op.intent;
        }
        status.operation = None;
    }
    let restart_token = restart_request(env, status);
    let mut clean_token = clean_request(env, status);

    let mut first_step = true;
    // Mendix Cloud reports no deployed value for custom settings: a change on a running app is
    // applied by a restart that only the operator knows is due. It is recorded before the
    // settings are written (and a recorded restart stays until its start is sent), so a crash
    // or a failed stop in between does not lose it.
    let mut custom_settings_need_restart = known.running && restart_owed(status);
    // Each step at most once per reconcile, whatever Mendix answers.
    let mut taken: Vec<std::mem::Discriminant<Step>> = Vec::new();
    loop {
        let Next {
            step,
            merged,
            change,
        } = match next_step(
            desired,
            &known,
            env.spec.production,
            custom_settings_need_restart,
            restart_token.is_some(),
            clean_token.is_some(),
        ) {
            Ok(next) => next,
            // observe() refused already; checked here too so that no step is ever decided
            // past the guard.
            Err(ProductionNotAllowed) => return Ok(production_not_allowed(target)),
        };
        if first_step
            && step != Step::Done
            && let Some(verdict) =
                crate::controller::environment::before_change(env, ctx, &step.describe(&version))
                    .await
        {
            return Ok(verdict);
        }
        if first_step
            && proven == Proven::Environment
            && let Some(kind) = unrecorded_write(step)
        {
            // Decided from the status, not from Mendix: the first write is recorded before it
            // is sent, so a crash before the status records its end leaves an operation that
            // makes the next reconcile read Mendix instead of trusting a status now out of date.
            let op = start_operation(kind, step.describe(&version));
            record_operation(env, ctx, writer, status, op, "Deploying").await?;
        }
        first_step = false;
        if taken.contains(&std::mem::discriminant(&step)) {
            return Err(Error::Unconverged(format!(
                "Mendix Cloud environment {mode} of app {app}: {} again in one reconcile; Mendix did not reach the state the last step asked for",
                step.describe(&version)
            )));
        }
        taken.push(std::mem::discriminant(&step));
        // A rejected scale is not sent again at every reconcile.
        if matches!(step, Step::Scale { .. })
            && let Some(verdict) = held_stall(env, status, &["ScaleNotApplied"])
        {
            return Ok(verdict);
        }

        match step {
            Step::StopForDeploy | Step::StopForClean | Step::Stop => {
                let message = match step {
                    Step::Stop => "stopping the app as requested".to_string(),
                    Step::StopForClean => {
                        "stopping the app to clean the environment as requested".to_string()
                    }
                    _ => format!("1/4: stopping the app to deploy {version}"),
                };
                status.operation = Some(start_operation(OperationKind::Stop, message.clone()));
                if let Err(err) = api.stop(app, mode).await {
                    return stall_or_retry(err, "stopping the app");
                }
                ctx.event(env, EventType::Normal, "Stopped", "Stop", message)
                    .await;
                status.operation = None;
                known.stopped(status);
            }
            Step::Clean => {
                let token = clean_token.take().unwrap_or_default();
                let message = format!(
                    "removing all data of the environment (mendixops.io/cleanRequestedAt: {token})"
                );
                let mut op = start_operation(OperationKind::Clean, message.clone());
                op.intent = Some(token.clone());
                // Recorded first: a clean is never sent twice for one request.
                record_operation(env, ctx, writer, status, op, "Cleaning").await?;
                status.operation = None;
                if let Err(err) = api.clean(app, mode).await {
                    let Some((_, why)) = stalled_by(&err, "cleaning the environment") else {
                        return Err(err.into());
                    };
                    // Mendix refused: the request is handled (a new value tries again), and
                    // the app is brought back as the spec says by the steps that follow.
                    ctx.event(
                        env,
                        EventType::Warning,
                        "CleanFailed",
                        "Clean",
                        format!("{why}; set a new mendixops.io/cleanRequestedAt to try again"),
                    )
                    .await;
                    status.last_cleaned_at = Some(token);
                    continue;
                }
                ctx.event(env, EventType::Normal, "Cleaned", "Clean", message)
                    .await;
                status.last_cleaned_at = Some(token);
                // The package went with the data: the steps that follow deploy it again.
                status.deployed_package_id = None;
                known.deployed = None;
                known.stopped(status);
            }
            Step::Transport => {
                let message = format!("2/4: transporting {version}");
                status.operation = Some(start_operation(OperationKind::Transport, message.clone()));
                match api.transport(app, mode, &desired.package_id).await {
                    Ok(()) => {}
                    // Mendix is still processing a fresh package, or the app started meanwhile:
                    // look again.
                    Err(err) if err.is_transient() || err.code() == Some("APP_IS_RUNNING") => {
                        let after = err.retry_after().unwrap_or_else(|| poll(1));
                        return Ok(Verdict::new(
                            Outcome::progressing(
                                "PackageProcessing",
                                format!("{message}: {err}; retrying"),
                            ),
                            after,
                        ));
                    }
                    Err(err) => return stall_or_retry(err, &format!("transporting {version}")),
                }
                ctx.event(
                    env,
                    EventType::Normal,
                    "Transported",
                    "Transport",
                    format!("transported {version} ({})", desired.package_id),
                )
                .await;
                status.operation = None;
                status.deployed_package_id = Some(desired.package_id.clone());
                status.deployed_version = super::deployed_version(env, desired, status);
                // What Mendix reported of the old package; the next read of the environment
                // reports the new one's.
                status.model_version = None;
                status.mendix_version = None;
                known.deployed = Some(desired.package_id.clone());
            }
            Step::ApplySettings => {
                if !change.unknown_constants.is_empty() || !change.unknown_events.is_empty() {
                    let names: Vec<String> = change
                        .unknown_constants
                        .iter()
                        .chain(change.unknown_events.iter())
                        .cloned()
                        .collect();
                    return Ok(crate::controller::environment::unknown_settings(
                        &version, &names,
                    ));
                }
                let message = format!("3/4: applying settings ({})", change.changed.join(", "));
                let mut op = start_operation(OperationKind::ApplySettings, message.clone());
                let needs_restart = known.running
                    && change
                        .changed
                        .iter()
                        .any(|name| desired.custom_settings.iter().any(|(n, _)| n == name));
                if needs_restart {
                    op.phase = Some(RESTART_OWED.into());
                    record_operation(env, ctx, writer, status, op, "Deploying").await?;
                } else {
                    status.operation = Some(op);
                }
                if let Err(err) = api.set_settings(app, mode, &merged).await {
                    return stall_or_retry(err, "applying settings");
                }
                ctx.event(
                    env,
                    EventType::Normal,
                    "SettingsApplied",
                    "ApplySettings",
                    format!("changed {}", change.changed.join(", ")),
                )
                .await;
                if !needs_restart {
                    status.operation = None;
                }
                // The new values are configured, not yet deployed: pending until a (re)start.
                known.settings = Some(merged);
                custom_settings_need_restart |= needs_restart;
            }
            Step::Scale { instances, memory } => {
                let message = format!("scaling to {instances} instances of {memory} MB");
                status.operation = Some(start_operation(OperationKind::Scale, message.clone()));
                let reply = match api.scale(app, mode, instances, memory).await {
                    Ok(reply) => reply,
                    Err(err) => return stall_or_retry(err, "scaling"),
                };
                let (asked_instances, asked_memory) = (instances, memory);
                let instances = reply.as_ref().and_then(|r| r.instances).or(Some(instances));
                let memory = reply
                    .as_ref()
                    .and_then(|r| r.memory_per_instance)
                    .or(Some(memory));
                status.instances = instances.and_then(|n| i32::try_from(n).ok());
                status.memory_per_instance = memory.and_then(|m| i32::try_from(m).ok());
                known.remote.instances = instances;
                known.remote.memory_per_instance = memory;
                status.operation = None;
                if (instances, memory) != (Some(asked_instances), Some(asked_memory)) {
                    // Sending the same request again would not change Mendix's answer.
                    let message = format!(
                        "asked Mendix for {asked_instances} instance(s) of {asked_memory} MB and it answered {} of {} MB: check the environment's plan and its memory limits, then change spec.instances or spec.memoryPerInstance",
                        instances.unwrap_or_default(),
                        memory.unwrap_or_default()
                    );
                    ctx.event(
                        env,
                        EventType::Warning,
                        "ScaleNotApplied",
                        "Scale",
                        message.clone(),
                    )
                    .await;
                    return Ok(Verdict::stalled("ScaleNotApplied", message));
                }
                ctx.event(env, EventType::Normal, "Scaled", "Scale", message)
                    .await;
            }
            Step::Start => {
                return start(
                    env,
                    ctx,
                    writer,
                    api,
                    target,
                    desired,
                    status,
                    restart_token,
                )
                .await;
            }
            Step::Restart => {
                let reason = if restart_token.is_some() {
                    "requested by mendixops.io/restartedAt".to_string()
                } else {
                    "new settings apply on restart".to_string()
                };
                let message = format!("restarting: stopping the app ({reason})");
                let mut op = start_operation(OperationKind::Restart, message.clone());
                op.intent = restart_token.clone();
                op.phase = Some("stop".into());
                record_operation(env, ctx, writer, status, op, "Restarting").await?;
                if let Err(err) = api.stop(app, mode).await {
                    return stall_or_retry(err, "stopping the app for a restart");
                }
                ctx.event(env, EventType::Normal, "Restarting", "Restart", message)
                    .await;
                // The Restart operation stays recorded: the start that follows echoes its token.
                known.stopped(status);
            }
            Step::Done => {
                return settled(
                    env,
                    ctx,
                    api,
                    target,
                    desired,
                    status,
                    known.running,
                    restart_token,
                )
                .await;
            }
        }
    }
}

/// Nothing is left to change: tags are made exact, and the environment is Ready.
#[allow(clippy::too_many_arguments)]
async fn settled(
    env: &MendixEnvironment,
    ctx: &Context,
    api: &CloudDeploy,
    target: &MendixCloudEnvironment,
    desired: &Desired,
    status: &mut MendixEnvironmentStatus,
    running: bool,
    restart_token: Option<String>,
) -> Result<Verdict, Error> {
    let (app, mode) = (target.app_id.as_str(), target.mode.as_str());
    if let Some(wanted) = &desired.tags {
        sync_tags(env, ctx, api, app, mode, wanted).await?;
    }
    if desired.run_state == RunState::Stopped {
        // Nothing to restart in a stopped app: the request is handled.
        if let Some(token) = restart_token {
            status.last_restarted_at = Some(token);
        }
    }
    status.operation = None;
    let version = version_label(desired);
    let message = match desired.run_state {
        RunState::Running => format!(
            "{version} is running{}",
            status
                .instances
                .map(|n| format!(" with {n} instance(s)"))
                .unwrap_or_default()
        ),
        RunState::Stopped => format!("{version} is deployed and stopped as requested"),
    };
    Ok(Verdict::new(
        Outcome::ready(if running { "Running" } else { "Stopped" }, message),
        Duration::ZERO,
    ))
}

impl Known {
    fn stopped(&mut self, status: &mut MendixEnvironmentStatus) {
        self.running = false;
        self.remote.status = EnvironmentStatus::Stopped;
        status.run_state = Some(RunState::Stopped);
    }
}

fn production_not_allowed(target: &MendixCloudEnvironment) -> Verdict {
    Verdict::stalled(
        "ProductionNotAllowed",
        format!(
            "environment {} of app {} is a production environment: set spec.production: true to let the operator change it",
            target.mode, target.app_id
        ),
    )
}

/// What a reconcile may take from status instead of reading it from Mendix.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Proven {
    /// Everything is read.
    Nothing,
    /// A start of this generation's package was sent: package and settings match the spec.
    PackageAndSettings,
    /// The status describes what the operator itself made converge (see [`trusted`]): the
    /// environment and its package are as recorded; settings the spec manages are still read.
    Environment,
}

/// The rate-limit backlog (deploy steps waiting to be sent) at which a resync's reads are put
/// off to the next pass: ten steps at 200 requests a second. With requests sent in arrival
/// order and 64 reconciles in flight the backlog never reaches a third of a second there, so a
/// higher mark let a rollout's resync reads through (0.7 a deploy at N = 1,000 with a 60 s
/// resync).
const RESYNC_YIELDS_AT: Duration = Duration::from_millis(50);

/// Names the Mendix environment a status describes (`status.target`).
fn target_key(target: &MendixCloudEnvironment) -> String {
    format!("mendixCloud/{}/{}", target.app_id, target.mode)
}

/// Whether this reconcile may trust the status for the environment's state and its deployed
/// package instead of reading them: the record is current ([`super::record_is_current`]: the
/// last reconcile ended Ready, or waited for its package or source since), for this target,
/// having read or written everything the status records — and this is not the paced resync's
/// reconcile or one a person requested, which read Mendix to find what someone else changed (a
/// stopped app, another package) and converge it back with a `DriftDetected` Event. A deploy
/// of a new spec then costs stop, transport, start and one poll.
fn trusted(
    env: &MendixEnvironment,
    ctx: &Context,
    target: &MendixCloudEnvironment,
    status: &MendixEnvironmentStatus,
    backlog: Duration,
) -> bool {
    // Taken first, always: the resync's mark is used by the reconcile it started. A resync
    // read that would queue behind deploy steps under the Mendix rate limit waits for the
    // next pass: in a rollout, reads that find nothing would delay the deploys.
    let verify = ctx.resync_due.take(
        <MendixEnvironment as crate::crd::Observed>::KIND,
        env.metadata.namespace.as_deref(),
        env.metadata.name.as_deref().unwrap_or_default(),
    ) && backlog < RESYNC_YIELDS_AT;
    // A person asking for a reconcile (`kubectl mendix reconcile`) wants Mendix looked at.
    let requested = crate::controller::verdict::reconcile_newly_requested(
        env,
        status.reconcile_requested_at.as_deref(),
    );
    !verify
        && !requested
        && env.spec.management_policy.is_manage()
        && crate::controller::environment::record_is_current(status)
        && status.target.as_deref() == Some(target_key(target).as_str())
        && status.run_state.is_some()
        && status.production.is_some()
        && status.deployed_package_id.is_some()
}

/// The operation a step's write is, for the steps that do not record one before they write
/// (clean, restart and start always do).
fn unrecorded_write(step: Step) -> Option<OperationKind> {
    match step {
        Step::StopForDeploy | Step::StopForClean | Step::Stop => Some(OperationKind::Stop),
        Step::Transport => Some(OperationKind::Transport),
        Step::ApplySettings => Some(OperationKind::ApplySettings),
        Step::Scale { .. } => Some(OperationKind::Scale),
        Step::Clean | Step::Restart | Step::Start | Step::Done => None,
    }
}

/// The environment as the status records it (for a [`Proven::Environment`] reconcile).
fn as_recorded(
    target: &MendixCloudEnvironment,
    status: &MendixEnvironmentStatus,
) -> mendix_client::cloud_v1::types::Environment {
    mendix_client::cloud_v1::types::Environment {
        status: if status.run_state == Some(RunState::Running) {
            EnvironmentStatus::Running
        } else {
            EnvironmentStatus::Stopped
        },
        environment_id: None,
        url: status.url.clone(),
        mode: Some(target.mode.clone()),
        model_version: status.model_version.clone(),
        mendix_version: status.mendix_version.clone(),
        production: status.production,
        instances: status.instances.and_then(|n| u32::try_from(n).ok()),
        memory_per_instance: status
            .memory_per_instance
            .and_then(|m| u32::try_from(m).ok()),
        total_memory: None,
    }
}

/// Reads what a step is decided from: the environment, its deployed package and (when the
/// spec manages any) its settings — less what `proven` says is known. `Err` ends the reconcile
/// with the verdict it holds.
async fn observe(
    env: &MendixEnvironment,
    api: &CloudDeploy,
    target: &MendixCloudEnvironment,
    desired: &Desired,
    status: &mut MendixEnvironmentStatus,
    proven: Proven,
) -> Result<Known, Result<Verdict, Error>> {
    let (app, mode) = (target.app_id.as_str(), target.mode.as_str());
    let read = if proven == Proven::Environment {
        Ok(as_recorded(target, status))
    } else {
        api.get_environment(app, mode).await
    };
    let mut remote = match read {
        Ok(e) => e,
        Err(err) if err.is_not_found() => {
            return Err(Ok(Verdict::stalled(
                "EnvironmentNotFound",
                format!(
                    "environment {mode} of app {app} does not exist in Mendix Cloud: check spec.target.mendixCloud"
                ),
            )));
        }
        Err(err) => {
            return Err(stall_or_retry(
                err,
                &format!("reading environment {mode} of app {app}"),
            ));
        }
    };
    status.target = Some(target_key(target));
    status.url = remote.url.clone().or(status.url.take());
    status.model_version = remote.model_version.clone();
    status.mendix_version = remote.mendix_version.clone();
    status.production = remote.production;
    // GET environment may not report sizes (only Scale answers with them): keep what was set.
    if let Some(n) = remote.instances {
        status.instances = i32::try_from(n).ok();
    }
    if let Some(m) = remote.memory_per_instance {
        status.memory_per_instance = i32::try_from(m).ok();
    }
    remote.instances = remote
        .instances
        .or(status.instances.and_then(|n| u32::try_from(n).ok()));
    remote.memory_per_instance = remote.memory_per_instance.or(status
        .memory_per_instance
        .and_then(|m| u32::try_from(m).ok()));

    // The production guard comes before any write, and before the reads only a write needs.
    // An observer writes nothing, so it may read a production environment.
    if env.spec.management_policy.is_manage()
        && production_guard(remote.production, env.spec.production).is_err()
    {
        return Err(Ok(production_not_allowed(target)));
    }

    let running = remote.status == EnvironmentStatus::Running;
    if running
        && let Some(op) = status
            .operation
            .clone()
            .filter(|o| o.kind == OperationKind::Start && o.job_id.is_none())
    {
        // The start was sent but its job id never recorded; the app runs, so it worked.
        finish_start(status, &op);
    }
    status.run_state = Some(if running {
        RunState::Running
    } else {
        RunState::Stopped
    });

    let deployed = if proven != Proven::Nothing {
        status.deployed_package_id.clone()
    } else {
        match api.environment_package(app, mode, false).await {
            Ok(p) => Some(p.package_id),
            Err(err) if err.is_not_found() => None,
            Err(err) => return Err(stall_or_retry(err, "reading the deployed package")),
        }
    };
    status.deployed_package_id = deployed.clone();
    if deployed.as_deref() == Some(desired.package_id.as_str()) {
        status.deployed_version = super::deployed_version(env, desired, status);
    }
    let settings = if proven == Proven::PackageAndSettings || !desired.manages_settings() {
        None
    } else {
        match api.get_settings(app, mode).await {
            Ok(s) => Some(s),
            Err(err) => return Err(stall_or_retry(err, "reading the environment settings")),
        }
    };
    Ok(Known {
        remote,
        running,
        deployed,
        settings,
    })
}

/// What Mendix reports of the environment, read as a reconcile reads it (the preview's input).
pub(crate) async fn read(
    env: &MendixEnvironment,
    api: &CloudDeploy,
    target: &MendixCloudEnvironment,
    desired: &Desired,
    status: &mut MendixEnvironmentStatus,
) -> Result<plan::Known, Result<Verdict, Error>> {
    observe(env, api, target, desired, status, Proven::Nothing).await
}

/// A step of the Mendix Cloud planner, for the preview.
pub(crate) use plan::Step as StepKind;

pub(crate) fn describe(step: StepKind, version: &str) -> String {
    step.describe(version)
}

/// The steps of a simulated rollout with the settings change each was decided from, and the
/// stall that would end them, if any.
pub(crate) type SimulatedSteps = (
    Vec<(
        StepKind,
        crate::controller::environment::desired::SettingsChange,
    )>,
    Option<String>,
);

/// Every step from what is known to convergence, as the reconcile loop would take them, with
/// the settings change each was decided from; and the stall that would end them, if any.
pub(crate) fn simulate(
    desired: &Desired,
    known: &mut plan::Known,
    spec_production: bool,
    status: &MendixEnvironmentStatus,
    restart_requested: bool,
    clean_requested: bool,
) -> Result<SimulatedSteps, crate::controller::environment::desired::ProductionNotAllowed> {
    let simulation = plan::Simulation {
        desired: desired.clone(),
        known: known.clone(),
        spec_production,
        owed: known.running && restart_owed(status),
        restart_requested,
        clean_requested,
    };
    let (steps, stall) = simulation.steps()?;
    Ok((
        steps.into_iter().map(|n| (n.step, n.change)).collect(),
        stall,
    ))
}

/// How the environment's tags differ from the wanted set, read from Mendix; None when equal.
pub(crate) async fn tags_difference(
    api: &CloudDeploy,
    app: &str,
    mode: &str,
    wanted: &[String],
) -> Result<Option<String>, Error> {
    let current = api.get_tags(app, mode).await?;
    Ok(plan::tags_drift(&current, wanted))
}

/// Makes the environment's tags exactly the wanted set.
async fn sync_tags(
    env: &MendixEnvironment,
    ctx: &Context,
    api: &CloudDeploy,
    app: &str,
    mode: &str,
    wanted: &[String],
) -> Result<(), Error> {
    let current = api.get_tags(app, mode).await?;
    let mut changed = Vec::new();
    for tag in wanted.iter().filter(|t| !current.contains(t)) {
        api.create_tag(app, mode, tag).await?;
        changed.push(format!("+{tag}"));
    }
    for tag in current.iter().filter(|t| !wanted.contains(t)) {
        api.delete_tag(app, mode, tag).await?;
        changed.push(format!("-{tag}"));
    }
    if !changed.is_empty() {
        ctx.event(
            env,
            EventType::Normal,
            "TagsUpdated",
            "Tags",
            changed.join(" "),
        )
        .await;
    }
    Ok(())
}
