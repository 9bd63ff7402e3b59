//! Starting a Mendix Cloud app and following its start job: the first poll timed from what
//! starts are known to take (a scout learns it for the fleet), documented start failures as
//! Stalled, and a job Mendix forgets.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;

use crate::controller::Context;
use crate::controller::environment::desired::Desired;
use crate::controller::environment::{NEXT_STEP, record_operation, version_label};
use crate::controller::error::Error;
use crate::controller::start_times::{FirstPoll, HOLD_LIMIT, StartRef, StartTimes};
use crate::controller::status::StatusWriter;
use crate::controller::verdict::{Verdict, age, stall_or_retry, start_operation};
use crate::crd::OperationKind;
use crate::crd::conditions::Outcome;
use crate::crd::environment::{
    MendixCloudEnvironment, MendixEnvironment, MendixEnvironmentStatus, RunState,
};
use mendix_client::Sent;
use mendix_client::cloud_v1::CloudDeploy;
use mendix_client::cloud_v1::types::StartJobStatus;
use mendix_client::error::MendixError;

/// Start failures documented for Get Start Environment Status and Start Environment, with what
/// a person should do about each.
pub(super) const START_FAILURES: &[(&str, &str, &str)] = &[
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

pub(super) fn start_failure(err: &MendixError) -> Option<(&'static str, &'static str)> {
    let code = err.code()?.to_ascii_uppercase();
    START_FAILURES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, reason, hint)| (*reason, *hint))
}

/// A documented start failure ends the start: an Event, and Stalled with what to do. `None` for
/// any other error.
pub(super) async fn start_failed(
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
pub(super) fn start_already_failed(
    env: &MendixEnvironment,
    status: &MendixEnvironmentStatus,
) -> Option<Verdict> {
    let reasons: Vec<&str> = START_FAILURES
        .iter()
        .map(|(_, reason, _)| *reason)
        .collect();
    super::held_stall(env, status, &reasons)
}

/// When to poll the start `job` first (see [`crate::controller::start_times`]); a start that
/// becomes the fleet's scout gets a task that follows it.
pub(super) fn first_poll(
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
pub(super) struct Scout {
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
            let mut start = StartRef {
                key: &self.key,
                job: &self.job,
                app: &self.app,
                own: self.own,
                elapsed: began.elapsed(),
            };
            match result {
                Ok(Sent {
                    value: StartJobStatus::Started,
                    ..
                }) => {
                    self.times.scout_ended(&start, self.waiter);
                    return;
                }
                Ok(Sent { at, .. }) if start.elapsed < self.schedule.max * HOLD_LIMIT => {
                    // Running when the poll was sent, not necessarily when its answer was read.
                    start.elapsed = start.elapsed.saturating_sub(at.elapsed());
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
pub(super) fn start_key(env: &MendixEnvironment) -> String {
    format!(
        "{}/{}",
        env.metadata.namespace.as_deref().unwrap_or_default(),
        env.metadata.name.as_deref().unwrap_or_default()
    )
}

/// How long the environment's last start took, as its status remembers.
pub(super) fn own_start_duration(status: &MendixEnvironmentStatus) -> Option<Duration> {
    status
        .start_duration_ms
        .and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis)
}

/// Records the start, then sends it; the job is followed by later reconciles.
#[allow(clippy::too_many_arguments)]
pub(super) async fn start(
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
    record_operation(env, ctx, writer, status, op.clone(), "Starting").await?;
    match api.start(app, mode, desired.auto_sync_db).await {
        Ok(Sent {
            value: job,
            at: sent_at,
        }) => {
            op.job_id = Some(job.job_id.clone());
            // The start job runs from no earlier than when its request was sent: its duration
            // is learned from then, so a poll that sees it ended gives an upper bound however
            // late the answer was read, and the wait for a slot under the rate limit is not in it.
            op.started_at = MicroTime(crate::controller::verdict::time_of(sent_at));
            crate::controller::shell::operation_started(&op);
            status.operation = Some(op);
            ctx.event(
                env,
                EventType::Normal,
                "Starting",
                "Start",
                format!("starting {version} (job {})", job.job_id),
            )
            .await;
            let first_poll = match first_poll(
                env,
                ctx,
                api,
                target,
                status,
                &job.job_id,
                sent_at.elapsed(),
            ) {
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
pub(super) fn forgets_the_start_job(err: &mendix_client::error::MendixError) -> bool {
    err.is_not_found()
        || matches!(
            err.code(),
            Some("NO_SUCH_STARTJOB" | "ALREADY_STARTED" | "ALREADY_LOCKED")
        )
}

/// Records a completed start: the restart it satisfied (if any) is echoed in status.
pub(super) fn finish_start(status: &mut MendixEnvironmentStatus, op: &crate::crd::OperationStatus) {
    if let Some(token) = &op.intent {
        status.last_restarted_at = Some(token.clone());
    }
    status.operation = None;
    status.run_state = Some(RunState::Running);
}

/// Where following a start job leaves the reconcile.
pub(in crate::controller::environment) enum Followed {
    /// The job is not over, or it failed: the reconcile ends with this verdict.
    Waiting(Verdict),
    /// The start ended: status records how long it took and the restart it satisfied.
    Ended,
    /// Mendix no longer reports the job: what it reports of the environment decides.
    Forgotten,
}

/// One poll of the start job `op` records (or what the fleet's scout already saw of it).
pub(super) async fn follow(
    env: &MendixEnvironment,
    ctx: &Context,
    api: &CloudDeploy,
    target: &MendixCloudEnvironment,
    status: &mut MendixEnvironmentStatus,
    op: crate::crd::OperationStatus,
    version: &str,
) -> Result<Followed, Error> {
    let (app, mode) = (target.app_id.as_str(), target.mode.as_str());
    let job = op.job_id.clone().unwrap_or_default();
    let key = start_key(env);
    let own = own_start_duration(status);
    let message = op.step.clone().unwrap_or_default();
    let seen_by_scout = if op.polls == 0 {
        match first_poll(env, ctx, api, target, status, &job, age(&op)) {
            FirstPoll::Now => None,
            FirstPoll::Wait(wait) | FirstPoll::Scout(wait) => {
                return Ok(Followed::Waiting(Verdict::new(
                    Outcome::progressing("Starting", message),
                    wait,
                )));
            }
            FirstPoll::Ended(took) => Some(took),
        }
    } else {
        None
    };
    let took = match seen_by_scout {
        Some(took) => Some(took),
        None => match api.start_status(app, mode, &job).await {
            Ok(Sent {
                value: StartJobStatus::Started,
                at,
            }) => {
                let elapsed = age(&op);
                let first_poll_sent = (op.polls == 0).then(|| elapsed.saturating_sub(at.elapsed()));
                Some(
                    ctx.start_times
                        .ended(&key, app, own, elapsed, first_poll_sent),
                )
            }
            Ok(Sent { at, .. }) => {
                let mut op = op;
                // Running when the poll was sent, not necessarily when its answer was read.
                let after = ctx.start_times.still_running(
                    &key,
                    app,
                    own,
                    age(&op).saturating_sub(at.elapsed()),
                    u32::try_from(op.polls).unwrap_or(0),
                    &ctx.settings.poll,
                );
                op.polls += 1;
                status.operation = Some(op);
                return Ok(Followed::Waiting(Verdict::new(
                    Outcome::progressing("Starting", message),
                    after,
                )));
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
                if let Some(verdict) = start_failed(env, ctx, status, &err, version).await {
                    return Ok(Followed::Waiting(verdict));
                }
                return stall_or_retry(err, "following the start job").map(Followed::Waiting);
            }
        },
    };
    let Some(took) = took else {
        return Ok(Followed::Forgotten);
    };
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
    Ok(Followed::Ended)
}
