//! Converging a Mendix Cloud environment through the Deploy API v1: stop (if a new package
//! needs it) → transport → settings → scale → start, then tags. Steps that end at once follow
//! each other in one reconcile on what its reads and each step proved; the start job is
//! followed by later reconciles. A new package plus new settings cost one stop/start cycle;
//! settings alone restart a running app only (they apply on restart). Every step is decided
//! from what Mendix reported to this reconcile, so a restarted operator never repeats a
//! completed transport and never leaves the app stopped.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;

use super::desired::{
    Desired, ProductionNotAllowed, SettingsChange, merge_cloud_settings, pending_on_restart,
    production_guard,
};
use super::{NEXT_STEP, record_operation, restart_request, version_label};
use crate::controller::Context;
use crate::controller::error::Error;
use crate::controller::start_times::{FirstPoll, HOLD_LIMIT, StartRef, StartTimes};
use crate::controller::status::StatusWriter;
use crate::controller::verdict::{Verdict, age, stall_or_retry, start_operation};
use crate::crd::OperationKind;
use crate::crd::conditions::Outcome;
use crate::crd::environment::{
    MendixCloudEnvironment, MendixEnvironment, MendixEnvironmentStatus, RunState,
};
use mendix_client::cloud_v1::CloudDeploy;
use mendix_client::cloud_v1::types::{EnvironmentStatus, Settings, StartJobStatus};
use mendix_client::error::MendixError;

/// Start failures documented for Get Start Environment Status and Start Environment, with what
/// a person should do about each.
const START_FAILURES: &[(&str, &str, &str)] = &[
    (
        "MISSING_CONSTANT",
        "MissingConstant",
        "give every constant of the model a value in spec.constants",
    ),
    (
        "DB_SYNC_FAILED",
        "DbSyncFailed",
        "check the database and the app log; a new generation or mendixops.io/reconcileRequestedAt retries the start",
    ),
    (
        "INVALID_DB_STRUCTURE",
        "InvalidDbStructure",
        "set spec.autoSyncDb: true so the database is synchronized on start",
    ),
    (
        "STARTUP_ACTION_FAILED",
        "StartupActionFailed",
        "check the app log (kubectl mendix logs) for the failing after-startup microflow",
    ),
    (
        "INSECURE_ADMIN_PASSWORD",
        "InsecureAdminPassword",
        "change the password of the administrator account in the app",
    ),
    (
        "START_FAILED",
        "StartFailed",
        "check the app log (kubectl mendix logs)",
    ),
    ("NO_PACKAGE", "NoPackage", "deploy a package first"),
    (
        "NO_MDA_HAS_BEEN_DEPLOYED",
        "NoPackage",
        "deploy a package first",
    ),
];

/// One step of a Mendix Cloud deploy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    StopForDeploy,
    Transport,
    ApplySettings,
    Scale { instances: u32, memory: u32 },
    Start,
    Restart,
    Stop,
    Done,
}

impl Step {
    fn describe(self, version: &str) -> String {
        match self {
            Step::StopForDeploy => format!("stopping the app to deploy {version}"),
            Step::Transport => format!("transporting {version}"),
            Step::ApplySettings => "applying settings".into(),
            Step::Scale { instances, memory } => format!("scaling to {instances} x {memory} MB"),
            Step::Start => format!("starting {version}"),
            Step::Restart => "restarting the app".into(),
            Step::Stop => "stopping the app".into(),
            Step::Done => "nothing".into(),
        }
    }
}

fn start_failure(err: &MendixError) -> Option<(&'static str, &'static str)> {
    let code = err.code()?.to_ascii_uppercase();
    START_FAILURES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, reason, hint)| (*reason, *hint))
}

/// A documented start failure ends the start: an Event, and Stalled with what to do. `None` for
/// any other error.
async fn start_failed(
    env: &MendixEnvironment,
    ctx: &Context,
    status: &mut MendixEnvironmentStatus,
    err: &MendixError,
    version: &str,
) -> Option<Verdict> {
    let (reason, hint) = start_failure(err)?;
    status.operation = None;
    ctx.event(env, EventType::Warning, reason, "Start", err.to_string())
        .await;
    Some(Verdict::stalled(
        reason,
        format!("starting {version} failed: {err}; {hint}"),
    ))
}

/// The last start of this generation failed, recently, and nothing asked to retry it.
fn start_already_failed(
    env: &MendixEnvironment,
    status: &MendixEnvironmentStatus,
) -> Option<Verdict> {
    let reasons: Vec<&str> = START_FAILURES
        .iter()
        .map(|(_, reason, _)| *reason)
        .collect();
    held_stall(env, status, &reasons)
}

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
fn held_stall(
    env: &MendixEnvironment,
    status: &MendixEnvironmentStatus,
    reasons: &[&str],
) -> Option<Verdict> {
    let stalled =
        crate::crd::conditions::find(&status.conditions, crate::crd::conditions::STALLED)?;
    if !reasons.contains(&stalled.reason.as_str()) {
        return None;
    }
    let new_request =
        crate::controller::verdict::reconcile_requested_at(env) != status.reconcile_requested_at;
    crate::controller::verdict::hold_stalled(
        &status.conditions,
        env.metadata.generation,
        new_request,
    )
}

/// What one reconcile knows about the environment: read from Mendix once, then kept current
/// by the steps it takes, so a deploy (stop → transport → settings → start) runs in one
/// reconcile without reading Mendix again between its steps.
struct Known {
    remote: mendix_client::cloud_v1::types::Environment,
    running: bool,
    deployed: Option<String>,
    /// `None` when the spec manages no settings: they are not read then.
    settings: Option<mendix_client::cloud_v1::types::Settings>,
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
        let job = op.job_id.clone().unwrap_or_default();
        let key = start_key(env);
        let own = own_start_duration(status);
        let message = op.step.clone().unwrap_or_default();
        let seen_by_scout = if op.polls == 0 {
            match first_poll(env, ctx, api, target, status, &job, age(&op)) {
                FirstPoll::Now => None,
                FirstPoll::Wait(wait) | FirstPoll::Scout(wait) => {
                    return Ok(Verdict::new(
                        Outcome::progressing("Starting", message),
                        wait,
                    ));
                }
                FirstPoll::Ended(took) => Some(took),
            }
        } else {
            None
        };
        let took = match seen_by_scout {
            Some(took) => Some(took),
            None => match api.start_status(app, mode, &job).await {
                Ok(StartJobStatus::Started) => {
                    Some(
                        ctx.start_times
                            .ended(&key, app, own, age(&op), op.polls == 0),
                    )
                }
                Ok(_) => {
                    let mut op = op;
                    let after = ctx.settings.poll.follow_up(age(&op));
                    op.polls += 1;
                    status.operation = Some(op);
                    return Ok(Verdict::new(
                        Outcome::progressing("Starting", message),
                        after,
                    ));
                }
                Err(err) if forgets_the_start_job(&err) => {
                    ctx.start_times.abandoned(&key);
                    ctx.event(
                        env,
                        EventType::Warning,
                        "StartJobForgotten",
                        "Start",
                        format!(
                            "start job {job}: {}; reading the environment again",
                            err.code().unwrap_or("not found")
                        ),
                    )
                    .await;
                    None
                }
                Err(err) => {
                    ctx.start_times.abandoned(&key);
                    if let Some(verdict) = start_failed(env, ctx, status, &err, &version).await {
                        return Ok(verdict);
                    }
                    return stall_or_retry(err, "following the start job");
                }
            },
        };
        match took {
            Some(took) => {
                status.start_duration_ms = i64::try_from(took.as_millis()).ok();
                finish_start(status, &op);
                ctx.event(
                    env,
                    EventType::Normal,
                    "Started",
                    "Start",
                    format!("{version} started"),
                )
                .await;
                if start_proved_the_rest {
                    // Mendix says it runs what this generation asked for: nothing to read.
                    let restart_token = restart_request(env, status);
                    return settled(env, ctx, api, target, desired, status, true, restart_token)
                        .await;
                }
            }
            None => {
                // Forget the job: what Mendix reports now decides (below).
                status.operation = None;
                start_proved_the_rest = false;
                forgotten_start = Some(op);
            }
        }
    }
    let mut known = match observe(env, api, target, desired, status, start_proved_the_rest).await {
        Ok(known) => known,
        Err(verdict) => return verdict,
    };
    // A forgotten start job of an app that runs now has ended, and with it the restart it was for.
    if let Some(op) = forgotten_start
        && known.running
    {
        finish_start(status, &op);
    }
    let restart_token = restart_request(env, status);

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
        ) {
            Ok(next) => next,
            // observe() refused already; checked here too so that no step is ever decided
            // past the guard.
            Err(ProductionNotAllowed) => return Ok(production_not_allowed(target)),
        };
        if first_step
            && step != Step::Done
            && let Some(verdict) = super::before_change(env, ctx, &step.describe(&version)).await
        {
            return Ok(verdict);
        }
        first_step = false;
        if taken.contains(&std::mem::discriminant(&step)) {
            return Err(Error::Unconverged(format!(
                "Mendix Cloud environment {mode} of app {app}: {} again in one reconcile; Mendix did not reach the state the last step asked for",
                step.describe(&version)
            )));
        }
        taken.push(std::mem::discriminant(&step));
        if matches!(step, Step::Scale { .. })
            && let Some(verdict) = held_stall(env, status, &["ScaleNotApplied"])
        {
            return Ok(verdict);
        }

        match step {
            Step::StopForDeploy | Step::Stop => {
                let message = if step == Step::Stop {
                    "stopping the app as requested".to_string()
                } else {
                    format!("1/4: stopping the app to deploy {version}")
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
                status.deployed_version = desired.package_version.clone();
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
                    return Ok(super::unknown_settings(&version, &names));
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
                }
                status.operation = Some(op);
                if needs_restart {
                    record_operation(
                        env,
                        ctx,
                        writer,
                        status,
                        &Outcome::progressing("Deploying", message.clone()),
                    )
                    .await?;
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
                status.operation = Some(op);
                record_operation(
                    env,
                    ctx,
                    writer,
                    status,
                    &Outcome::progressing("Restarting", message.clone()),
                )
                .await?;
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

/// When to poll the start `job` first (see [`crate::controller::start_times`]); a start that
/// becomes the fleet's scout gets a task that follows it.
fn first_poll(
    env: &MendixEnvironment,
    ctx: &Context,
    api: &CloudDeploy,
    target: &MendixCloudEnvironment,
    status: &MendixEnvironmentStatus,
    job: &str,
    elapsed: Duration,
) -> FirstPoll {
    let key = start_key(env);
    let start = StartRef {
        key: &key,
        job,
        app: &target.app_id,
        own: own_start_duration(status),
        elapsed,
    };
    let decision = ctx.start_times.first_poll(
        &start,
        ObjectRef::from_obj(env),
        api.backlog(),
        &ctx.settings.poll,
    );
    if matches!(decision, FirstPoll::Scout(_)) {
        let scout = Scout {
            times: ctx.start_times.clone(),
            schedule: ctx.settings.poll,
            api: api.clone(),
            waiter: ObjectRef::from_obj(env),
            key: key.clone(),
            app: target.app_id.clone(),
            mode: target.mode.clone(),
            job: job.to_string(),
            own: start.own,
        };
        tokio::spawn(scout.follow(elapsed));
    }
    decision
}

/// The task that polls the scout's start on its own schedule, not through requeues.
struct Scout {
    times: Arc<StartTimes<ObjectRef<MendixEnvironment>>>,
    schedule: crate::controller::schedule::PollSchedule,
    api: CloudDeploy,
    waiter: ObjectRef<MendixEnvironment>,
    key: String,
    app: String,
    mode: String,
    job: String,
    own: Option<Duration>,
}

impl Scout {
    async fn follow(self, elapsed: Duration) {
        let began = tokio::time::Instant::now()
            .checked_sub(elapsed)
            .unwrap_or_else(tokio::time::Instant::now);
        let mut wait = self.schedule.first.saturating_sub(elapsed);
        loop {
            tokio::time::sleep(wait).await;
            if !self.times.scout_polls(&self.key) {
                return;
            }
            let result = self
                .api
                .start_status(&self.app, &self.mode, &self.job)
                .await;
            let start = StartRef {
                key: &self.key,
                job: &self.job,
                app: &self.app,
                own: self.own,
                elapsed: began.elapsed(),
            };
            match result {
                Ok(StartJobStatus::Started) => {
                    self.times.scout_ended(&start, self.waiter);
                    return;
                }
                Ok(_) if start.elapsed < self.schedule.max * HOLD_LIMIT => {
                    wait = self.schedule.follow_up(start.elapsed);
                }
                // Failed, or running longer than anyone waits: its reconcile takes over.
                _ => {
                    self.times.scout_failed(&start, self.waiter);
                    return;
                }
            }
        }
    }
}

/// Identifies one environment's starts in [`crate::controller::start_times`].
fn start_key(env: &MendixEnvironment) -> String {
    format!(
        "{}/{}",
        env.metadata.namespace.as_deref().unwrap_or_default(),
        env.metadata.name.as_deref().unwrap_or_default()
    )
}

/// How long the environment's last start took, as its status remembers.
fn own_start_duration(status: &MendixEnvironmentStatus) -> Option<Duration> {
    status
        .start_duration_ms
        .and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis)
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

/// Reads what a step is decided from: the environment, and unless a start just proved them,
/// its deployed package and (when the spec manages any) its settings. `Err` ends the reconcile
/// with the verdict it holds.
async fn observe(
    env: &MendixEnvironment,
    api: &CloudDeploy,
    target: &MendixCloudEnvironment,
    desired: &Desired,
    status: &mut MendixEnvironmentStatus,
    start_proved_the_rest: bool,
) -> Result<Known, Result<Verdict, Error>> {
    let (app, mode) = (target.app_id.as_str(), target.mode.as_str());
    let mut remote = match api.get_environment(app, mode).await {
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
    if production_guard(remote.production, env.spec.production).is_err() {
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

    let deployed = if start_proved_the_rest {
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
        status.deployed_version = desired
            .package_version
            .clone()
            .or(status.deployed_version.take());
    }
    let settings = if start_proved_the_rest || !desired.manages_settings() {
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

/// Records the start, then sends it; the job is followed by later reconciles.
#[allow(clippy::too_many_arguments)]
async fn start(
    env: &MendixEnvironment,
    ctx: &Context,
    writer: &mut StatusWriter<MendixEnvironment>,
    api: &CloudDeploy,
    target: &MendixCloudEnvironment,
    desired: &Desired,
    status: &mut MendixEnvironmentStatus,
    restart_token: Option<String>,
) -> Result<Verdict, Error> {
    let (app, mode) = (target.app_id.as_str(), target.mode.as_str());
    let version = version_label(desired);
    if let Some(verdict) = start_already_failed(env, status) {
        return Ok(verdict);
    }
    let message = format!("4/4: starting {version}");
    // A start satisfies a pending restart request; a half-done restart keeps its token.
    let token = status
        .operation
        .as_ref()
        .filter(|o| o.kind == OperationKind::Restart)
        .and_then(|o| o.intent.clone())
        .or(restart_token);
    let mut op = start_operation(OperationKind::Start, message.clone());
    op.intent = token;
    status.operation = Some(op.clone());
    record_operation(
        env,
        ctx,
        writer,
        status,
        &Outcome::progressing("Starting", message.clone()),
    )
    .await?;
    match api.start(app, mode, desired.auto_sync_db).await {
        Ok(job) => {
            op.job_id = Some(job.job_id.clone());
            // The start job runs from here: its duration is learned from this time, not from
            // when the request waited for a slot under the rate limit.
            op.started_at = MicroTime(crate::controller::verdict::now());
            crate::runtime::telemetry::operation_started(&op);
            status.operation = Some(op);
            ctx.event(
                env,
                EventType::Normal,
                "Starting",
                "Start",
                format!("starting {version} (job {})", job.job_id),
            )
            .await;
            let first_poll =
                match first_poll(env, ctx, api, target, status, &job.job_id, Duration::ZERO) {
                    FirstPoll::Wait(wait) | FirstPoll::Scout(wait) => wait,
                    FirstPoll::Now | FirstPoll::Ended(_) => NEXT_STEP,
                };
            Ok(Verdict::new(
                Outcome::progressing("Starting", message),
                first_poll,
            ))
        }
        Err(err) if err.code() == Some("ALREADY_STARTED") => {
            finish_start(status, &op);
            Ok(Verdict::new(
                Outcome::progressing("Started", "the app is running".to_string()),
                NEXT_STEP,
            ))
        }
        Err(err)
            if err.code() == Some("APP_ALREADY_HAS_A_STARTING_JOB")
                || err.code() == Some("ALREADY_LOCKED") =>
        {
            Ok(Verdict::new(
                Outcome::progressing(
                    "Starting",
                    format!("{message}: a start is already in progress"),
                ),
                ctx.settings.poll.interval(1),
            ))
        }
        Err(err) => match start_failed(env, ctx, status, &err, &version).await {
            Some(verdict) => Ok(verdict),
            None => stall_or_retry(err, "starting the app"),
        },
    }
}

/// Answers to a start-status poll after which the job is not followed any further: Mendix no
/// longer knows it (it keeps start jobs for a time the docs do not state), the app already runs,
/// or another start holds the environment's lock. What Mendix reports next decides.
fn forgets_the_start_job(err: &mendix_client::error::MendixError) -> bool {
    err.is_not_found()
        || matches!(
            err.code(),
            Some("NO_SUCH_STARTJOB" | "ALREADY_STARTED" | "ALREADY_LOCKED")
        )
}

/// Records a completed start: the restart it satisfied (if any) is echoed in status.
fn finish_start(status: &mut MendixEnvironmentStatus, op: &crate::crd::OperationStatus) {
    if let Some(token) = &op.intent {
        status.last_restarted_at = Some(token.clone());
    }
    status.operation = None;
    status.run_state = Some(RunState::Running);
}

/// What the deploy loop does next, with the settings merge it was decided from (an
/// ApplySettings step writes `merged`).
struct Next {
    step: Step,
    merged: Settings,
    change: SettingsChange,
}

/// The loop's whole decision from what it knows: the production guard, the settings merge,
/// then [`plan`]. Pure, so the properties below test exactly what converge runs.
fn next_step(
    desired: &Desired,
    known: &Known,
    spec_production: bool,
    custom_settings_need_restart: bool,
    restart_requested: bool,
) -> Result<Next, ProductionNotAllowed> {
    production_guard(known.remote.production, spec_production)?;
    let (merged, change) = match &known.settings {
        Some(settings) => merge_cloud_settings(settings, desired),
        None => Default::default(),
    };
    // Names the deployed model does not know count as settings to apply: that step stalls
    // with UnknownSetting before anything is changed, instead of the app being started
    // without them.
    let settings_to_apply: Vec<String> = change
        .changed
        .iter()
        .chain(&change.unknown_constants)
        .chain(&change.unknown_events)
        .cloned()
        .collect();
    let settings_pending = custom_settings_need_restart
        || known
            .settings
            .as_ref()
            .is_some_and(|s| !pending_on_restart(s, desired).is_empty());
    let step = plan(
        desired,
        &known.remote,
        known.running,
        known.deployed.as_deref() != Some(desired.package_id.as_str()),
        &settings_to_apply,
        settings_pending,
        restart_requested,
    );
    Ok(Next {
        step,
        merged,
        change,
    })
}

/// The next step, from what Mendix reports: pure, so the order is unit-tested.
fn plan(
    desired: &Desired,
    remote: &mendix_client::cloud_v1::types::Environment,
    running: bool,
    needs_transport: bool,
    changed_settings: &[String],
    settings_pending: bool,
    restart_requested: bool,
) -> Step {
    if needs_transport {
        return if running {
            Step::StopForDeploy
        } else {
            Step::Transport
        };
    }
    if !changed_settings.is_empty() {
        return Step::ApplySettings;
    }
    // Mendix Cloud's scale call sets instances and memory together and GET environment reports
    // neither, so a scale is planned only when the spec names both (the CRD requires that):
    // never a value nobody asked for.
    let wanted = desired.instances.and_then(|n| u32::try_from(n).ok()).zip(
        desired
            .memory_per_instance
            .and_then(|m| u32::try_from(m).ok()),
    );
    if let Some((instances, memory)) = wanted
        && (remote.instances != Some(instances) || remote.memory_per_instance != Some(memory))
    {
        return Step::Scale { instances, memory };
    }
    match (desired.run_state, running) {
        (RunState::Running, false) => Step::Start,
        (RunState::Running, true) if settings_pending || restart_requested => Step::Restart,
        (RunState::Stopped, true) => Step::Stop,
        _ => Step::Done,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use mendix_client::cloud_v1::types::Environment;

    fn remote(instances: Option<u32>, memory: Option<u32>) -> Environment {
        serde_json::from_value(serde_json::json!({"Status": "Running", "Mode": "Test", "Instances": instances, "MemoryPerInstance": memory}))
            .expect("valid environment")
    }

    fn desired(run: RunState) -> Desired {
        Desired {
            package_id: "p".into(),
            package_version: Some("1.0.0".into()),
            run_state: run,
            instances: Some(2),
            memory_per_instance: Some(2048),
            auto_sync_db: true,
            constants: vec![],
            scheduled_events: vec![],
            custom_settings: vec![],
            tags: None,
        }
    }

    #[test]
    fn a_new_package_stops_then_transports_then_applies_settings_then_starts() {
        let d = desired(RunState::Running);
        let r = remote(Some(2), Some(2048));
        assert_eq!(
            plan(&d, &r, true, true, &["M.A".into()], false, false),
            Step::StopForDeploy
        );
        assert_eq!(
            plan(&d, &r, false, true, &["M.A".into()], false, false),
            Step::Transport
        );
        assert_eq!(
            plan(&d, &r, false, false, &["M.A".into()], false, false),
            Step::ApplySettings
        );
        // Settings applied while stopped are pending, but the start applies them: no restart.
        assert_eq!(plan(&d, &r, false, false, &[], true, false), Step::Start);
        assert_eq!(plan(&d, &r, true, false, &[], false, false), Step::Done);
    }

    #[test]
    fn settings_alone_restart_only_a_running_app() {
        let r = remote(Some(2), Some(2048));
        assert_eq!(
            plan(
                &desired(RunState::Running),
                &r,
                true,
                false,
                &[],
                true,
                false
            ),
            Step::Restart
        );
        assert_eq!(
            plan(
                &desired(RunState::Stopped),
                &r,
                false,
                false,
                &[],
                true,
                false
            ),
            Step::Done
        );
    }

    /// Production ran 2 x 2048 MB; a spec of only `instances: 3` once scaled it to 3 x 1024 MB.
    #[test]
    fn a_scale_never_sends_a_size_the_spec_did_not_set() {
        let mut d = desired(RunState::Running);
        d.instances = Some(3);
        d.memory_per_instance = None;
        for r in [
            remote(None, None),
            remote(Some(2), None),
            remote(Some(2), Some(2048)),
        ] {
            assert_eq!(plan(&d, &r, true, false, &[], false, false), Step::Done);
        }
        d.instances = None;
        d.memory_per_instance = Some(4096);
        assert_eq!(
            plan(&d, &remote(None, None), true, false, &[], false, false),
            Step::Done
        );
        // Both set and nothing known: exactly what the spec says.
        d.instances = Some(3);
        assert_eq!(
            plan(&d, &remote(None, None), true, false, &[], false, false),
            Step::Scale {
                instances: 3,
                memory: 4096
            }
        );
    }

    #[test]
    fn scale_restart_and_stop() {
        let d = desired(RunState::Running);
        assert_eq!(
            plan(
                &d,
                &remote(Some(1), Some(2048)),
                true,
                false,
                &[],
                false,
                false
            ),
            Step::Scale {
                instances: 2,
                memory: 2048
            }
        );
        assert_eq!(
            plan(
                &d,
                &remote(Some(2), Some(2048)),
                true,
                false,
                &[],
                false,
                true
            ),
            Step::Restart
        );
        assert_eq!(
            plan(
                &desired(RunState::Stopped),
                &remote(Some(2), Some(2048)),
                true,
                false,
                &[],
                false,
                false
            ),
            Step::Stop
        );
    }
}

/// Properties of the whole pure decision of the deploy loop ([`next_step`]) over what the spec
/// asks, what Mendix reports and what status remembers.
#[cfg(test)]
mod properties {
    use super::*;
    use crate::controller::environment::desired::strategies::{
        PACKAGES, cloud_settings, desired, show,
    };
    use mendix_client::cloud_v1::types::Environment;
    use proptest::prelude::*;
    use proptest::sample::select;
    use proptest::test_runner::TestCaseError;

    /// One decision's input: Known is what this reconcile read, the flags what status holds.
    struct Input {
        desired: Desired,
        known: Known,
        spec_production: bool,
        /// A restart owed for custom settings written to the running app.
        owed: bool,
        restart_requested: bool,
    }

    impl std::fmt::Debug for Input {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(
                f,
                "{}\nremote: {:?}\nrunning: {}, deployed: {:?}\nsettings: {:?}\nspec.production: {}, restart owed: {}, restart requested: {}",
                show(&self.desired),
                self.known.remote,
                self.known.running,
                self.known.deployed,
                self.known.settings,
                self.spec_production,
                self.owed,
                self.restart_requested
            )
        }
    }

    impl Input {
        fn decide(&self) -> Result<Next, ProductionNotAllowed> {
            next_step(
                &self.desired,
                &self.known,
                self.spec_production,
                self.owed,
                self.restart_requested,
            )
        }

        fn refused(&self) -> bool {
            self.known.remote.production == Some(true) && !self.spec_production
        }

        fn wanted_sizes(&self) -> Option<(u32, u32)> {
            let d = &self.desired;
            d.instances
                .and_then(|n| u32::try_from(n).ok())
                .zip(d.memory_per_instance.and_then(|m| u32::try_from(m).ok()))
        }

        /// The environment as Mendix would report it after `step` (the loop's state after it).
        /// `Err` is a step that ends in a stall before any write.
        fn apply(&mut self, next: Next) -> Result<(), String> {
            let known = &mut self.known;
            match next.step {
                Step::StopForDeploy | Step::Stop | Step::Restart => {
                    known.running = false;
                    known.remote.status = EnvironmentStatus::Stopped;
                }
                Step::Transport => known.deployed = Some(self.desired.package_id.clone()),
                Step::ApplySettings => {
                    let unknown: Vec<String> = next
                        .change
                        .unknown_constants
                        .iter()
                        .chain(&next.change.unknown_events)
                        .cloned()
                        .collect();
                    if !unknown.is_empty() {
                        return Err(format!("UnknownSetting {unknown:?}"));
                    }
                    // As the loop does: custom settings written to a running app owe a restart.
                    self.owed |= known.running
                        && next.change.changed.iter().any(|name| {
                            self.desired.custom_settings.iter().any(|(n, _)| n == name)
                        });
                    known.settings = Some(next.merged);
                }
                Step::Scale { instances, memory } => {
                    known.remote.instances = Some(instances);
                    known.remote.memory_per_instance = Some(memory);
                }
                Step::Start => {
                    known.running = true;
                    known.remote.status = EnvironmentStatus::Running;
                    // A start deploys every configured value and satisfies any restart.
                    if let Some(settings) = known.settings.as_mut() {
                        for c in &mut settings.constants {
                            c.deployed_value = c.value.clone();
                        }
                        for e in &mut settings.scheduled_events {
                            e.deployed_value = e.value.clone();
                        }
                    }
                    self.owed = false;
                    self.restart_requested = false;
                }
                Step::Done => {}
            }
            Ok(())
        }

        /// What is left to do by the spec's measure, `None` when Mendix matches it.
        fn unconverged(&self) -> Option<String> {
            let (d, known) = (&self.desired, &self.known);
            if known.deployed.as_deref() != Some(d.package_id.as_str()) {
                return Some("package not deployed".into());
            }
            if known.running != (d.run_state == RunState::Running) {
                return Some("not in the desired run state".into());
            }
            if let Some((instances, memory)) = self.wanted_sizes()
                && (known.remote.instances, known.remote.memory_per_instance)
                    != (Some(instances), Some(memory))
            {
                return Some("sizes differ".into());
            }
            if let Some(settings) = &known.settings {
                let (_, change) = merge_cloud_settings(settings, d);
                if !change.changed.is_empty() {
                    return Some(format!("settings differ: {:?}", change.changed));
                }
                // Pending values of settings the spec does not list are not the operator's.
                let pending: Vec<String> = settings
                    .constants
                    .iter()
                    .filter(|c| c.value != c.deployed_value)
                    .map(|c| &c.name)
                    .chain(
                        settings
                            .scheduled_events
                            .iter()
                            .filter(|e| e.value != e.deployed_value)
                            .map(|e| &e.name),
                    )
                    .filter(|name| {
                        d.constants.iter().any(|(n, _)| n == *name)
                            || d.scheduled_events.iter().any(|(n, _)| n == *name)
                    })
                    .cloned()
                    .collect();
                if known.running && !pending.is_empty() {
                    return Some(format!("spec settings not deployed: {pending:?}"));
                }
            }
            if known.running && (self.owed || self.restart_requested) {
                return Some("a restart is due".into());
            }
            None
        }
    }

    fn environment() -> impl Strategy<Value = Environment> {
        (
            select(
                &[
                    EnvironmentStatus::Running,
                    EnvironmentStatus::Stopped,
                    EnvironmentStatus::Empty,
                ][..],
            ),
            prop::option::of(any::<bool>()),
            prop::option::of(0..=4u32),
            prop::option::of(select(&[1024, 2048, 4096][..])),
        )
            .prop_map(|(status, production, instances, memory)| Environment {
                status,
                environment_id: None,
                url: None,
                mode: Some("Test".into()),
                model_version: None,
                mendix_version: None,
                production,
                instances,
                memory_per_instance: memory,
                total_memory: None,
            })
    }

    fn input() -> impl Strategy<Value = Input> {
        (
            desired(),
            environment(),
            prop::option::of(select(PACKAGES)),
            cloud_settings(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(
                |(
                    desired,
                    remote,
                    deployed,
                    settings,
                    spec_production,
                    owed,
                    restart_requested,
                )| {
                    let running = remote.status == EnvironmentStatus::Running;
                    // As observe(): settings are read only when the spec manages some.
                    let settings = desired.manages_settings().then_some(settings);
                    Input {
                        desired,
                        known: Known {
                            remote,
                            running,
                            deployed: deployed.map(str::to_string),
                            settings,
                        },
                        spec_production,
                        owed,
                        restart_requested,
                    }
                },
            )
    }

    /// Mendix holding exactly what the spec asks (settings it does not list anything, pending
    /// or not), with nothing owed or requested and the guard passing.
    fn converged() -> impl Strategy<Value = Input> {
        input().prop_map(|mut i| {
            let d = i.desired.clone();
            let known = &mut i.known;
            known.deployed = Some(d.package_id.clone());
            known.running = d.run_state == RunState::Running;
            known.remote.status = if known.running {
                EnvironmentStatus::Running
            } else {
                EnvironmentStatus::Stopped
            };
            if let Some((instances, memory)) = i.wanted_sizes() {
                i.known.remote.instances = Some(instances);
                i.known.remote.memory_per_instance = Some(memory);
            }
            if let Some(settings) = i.known.settings.as_mut() {
                for (name, value) in &d.constants {
                    let value = Some(value.clone());
                    match settings.constants.iter_mut().find(|c| &c.name == name) {
                        Some(c) => (c.value, c.deployed_value) = (value.clone(), value),
                        None => settings
                            .constants
                            .push(mendix_client::cloud_v1::types::Constant {
                                name: name.clone(),
                                data_type: None,
                                value: value.clone(),
                                deployed_value: value,
                            }),
                    }
                }
                for (name, enabled) in &d.scheduled_events {
                    let value = Some(if *enabled { "Enabled" } else { "Disabled" }.to_string());
                    match settings
                        .scheduled_events
                        .iter_mut()
                        .find(|e| &e.name == name)
                    {
                        Some(e) => (e.value, e.deployed_value) = (value.clone(), value),
                        None => settings.scheduled_events.push(
                            mendix_client::cloud_v1::types::ScheduledEvent {
                                name: name.clone(),
                                value: value.clone(),
                                deployed_value: value,
                            },
                        ),
                    }
                }
                for (name, value) in &d.custom_settings {
                    let value = Some(value.clone());
                    match settings
                        .custom_settings
                        .iter_mut()
                        .find(|s| &s.name == name)
                    {
                        Some(s) => s.value = value,
                        None => settings.custom_settings.push(
                            mendix_client::cloud_v1::types::CustomSetting {
                                name: name.clone(),
                                value,
                            },
                        ),
                    }
                }
            }
            // The guard stalls even a converged production environment without the flag.
            i.spec_production |= i.refused();
            i.owed = false;
            i.restart_requested = false;
            i
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// A production environment (as Mendix reports it) without `spec.production: true`
        /// gets no step at all, a transport included; with the guard passing, the decision is
        /// made from merge_cloud_settings as before.
        #[test]
        fn production_without_spec_production_plans_no_step(i in input()) {
            production_guarded(&i)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// A scale is planned only when the spec sets both instances and memoryPerInstance, and
        /// then with exactly those values: never a size nobody asked for.
        #[test]
        fn scale_sends_only_sizes_the_spec_sets(i in input()) {
            scale_sizes(&i)?;
        }

        /// Every step answers a difference between Mendix and something the spec sets: the
        /// package, a listed setting, the sizes, the run state, or a restart (asked for, or
        /// owed for settings the app does not run yet).
        #[test]
        fn each_step_answers_a_difference_the_spec_names(i in input()) {
            step_has_a_reason(&i)?;
        }

        /// Mendix already holding what the spec asks plans nothing.
        #[test]
        fn a_converged_input_plans_nothing(i in converged()) {
            converged_plans_nothing(&i)?;
        }

        /// Applying each planned step to what Mendix reports and deciding again reaches Done
        /// within MAX_STEPS steps, never takes a step twice (the loop refuses that as
        /// Unconverged), and Done means converged. The one way out is UnknownSetting, a stall
        /// before any write.
        #[test]
        fn applying_each_step_converges_within_five_steps(i in input()) {
            prop_assume!(!i.refused());
            steps_converge(i)?;
        }
    }

    type Checked = Result<(), TestCaseError>;

    /// The longest deploy: stop, transport, settings, scale, start.
    const MAX_STEPS: usize = 5;

    fn production_guarded(i: &Input) -> Checked {
        match i.decide() {
            Err(ProductionNotAllowed) => {
                prop_assert!(i.refused(), "refused a writable environment\n{:?}", i);
            }
            Ok(next) => {
                prop_assert!(
                    !i.refused(),
                    "planned {:?} for production without spec.production\n{:?}",
                    next.step,
                    i
                );
                let (_, change) = i
                    .known
                    .settings
                    .as_ref()
                    .map(|s| merge_cloud_settings(s, &i.desired))
                    .unwrap_or_default();
                prop_assert!(
                    next.change == change,
                    "the decision's merge is not merge_cloud_settings\n{:?}",
                    i
                );
            }
        }
        Ok(())
    }

    fn scale_sizes(i: &Input) -> Checked {
        if let Ok(Next {
            step: Step::Scale { instances, memory },
            ..
        }) = i.decide()
        {
            prop_assert_eq!(
                i.wanted_sizes(),
                Some((instances, memory)),
                "scaled to {} x {} MB\n{:?}",
                instances,
                memory,
                i
            );
            let reported = (i.known.remote.instances, i.known.remote.memory_per_instance);
            prop_assert!(
                reported != (Some(instances), Some(memory)),
                "scaled to the sizes Mendix already reports\n{:?}",
                i
            );
        }
        Ok(())
    }

    fn step_has_a_reason(i: &Input) -> Checked {
        let Ok(next) = i.decide() else {
            return Ok(());
        };
        let (d, known) = (&i.desired, &i.known);
        let new_package = known.deployed.as_deref() != Some(d.package_id.as_str());
        let pending = known
            .settings
            .as_ref()
            .is_some_and(|s| !pending_on_restart(s, d).is_empty());
        let change = &next.change;
        let lists = |name: &String| {
            d.constants.iter().any(|(n, _)| n == name)
                || d.scheduled_events.iter().any(|(n, _)| n == name)
                || d.custom_settings.iter().any(|(n, _)| n == name)
        };
        let why = match next.step {
            Step::StopForDeploy => new_package && known.running,
            Step::Transport => new_package && !known.running,
            Step::ApplySettings => change
                .changed
                .iter()
                .chain(&change.unknown_constants)
                .chain(&change.unknown_events)
                .any(lists),
            Step::Scale { .. } => i.wanted_sizes().is_some(),
            Step::Start => d.run_state == RunState::Running && !known.running,
            Step::Restart => {
                d.run_state == RunState::Running
                    && known.running
                    && (pending || i.owed || i.restart_requested)
            }
            Step::Stop => d.run_state == RunState::Stopped && known.running,
            Step::Done => true,
        };
        prop_assert!(
            why,
            "planned {:?} without a reason in the spec\n{:?}",
            next.step,
            i
        );
        for name in &change.changed {
            prop_assert!(
                lists(name),
                "changed {} that the spec does not list\n{:?}",
                name,
                i
            );
        }
        Ok(())
    }

    fn converged_plans_nothing(i: &Input) -> Checked {
        prop_assert!(
            i.unconverged().is_none(),
            "the generator's input is not converged: {:?}\n{:?}",
            i.unconverged(),
            i
        );
        let step = i.decide().map(|n| n.step);
        prop_assert!(
            step == Ok(Step::Done),
            "planned {:?} for a converged input\n{:?}",
            step,
            i
        );
        Ok(())
    }

    fn steps_converge(mut i: Input) -> Checked {
        let start = format!("{i:?}");
        let mut taken = Vec::new();
        loop {
            let Ok(next) = i.decide() else {
                return Err(TestCaseError::fail(format!(
                    "the guard refused after {taken:?}\nstart:\n{start}"
                )));
            };
            let step = next.step;
            if step == Step::Done {
                prop_assert!(
                    i.unconverged().is_none(),
                    "Done after {:?}, but {:?}\nstart:\n{}\nend:\n{:?}",
                    taken,
                    i.unconverged(),
                    start,
                    i
                );
                return Ok(());
            }
            prop_assert!(
                !taken.contains(&step),
                "{:?} twice: {:?}\nstart:\n{}",
                step,
                taken,
                start
            );
            taken.push(step);
            prop_assert!(
                taken.len() <= MAX_STEPS,
                "no Done after {} steps: {:?}\nstart:\n{}",
                MAX_STEPS,
                taken,
                start
            );
            if let Err(stall) = i.apply(next) {
                prop_assert!(
                    step == Step::ApplySettings,
                    "{} at {:?}\nstart:\n{}",
                    stall,
                    step,
                    start
                );
                return Ok(());
            }
        }
    }
}
