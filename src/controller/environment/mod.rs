//! The `MendixEnvironment` reconciler: resolve the desired state (package, Secret constants) →
//! production guard → one step on Mendix Cloud (v1) or Private Cloud (v4) → write status.
//! Deleting a MendixEnvironment stops managing the environment; with `deletionPolicy: Delete`
//! (Private Cloud only) it deletes the remote environment first, never a production one
//! without `production: true`.

pub mod cloud;
pub mod desired;
pub mod preview;
pub mod private;
pub mod resolve;
pub mod windows;

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};

use self::desired::Desired;
use self::resolve::{Resolved, resolve};
use super::Context;
use super::cache::Cached;
use super::deletion::{Cleanup, under_policy};
use super::error::Error;
use super::secrets::{self, Credentials, Platform};
use super::status::StatusWriter;
use super::verdict::{Verdict, next_action, now, reconcile_requested_at, requeue_after, settle};
use crate::crd::conditions::{self, Outcome, apply_outcome};
use crate::crd::environment::{
    ChangeApproval, DeploymentRecord, DeploymentTrigger, EnvironmentPhase, MendixEnvironment,
    MendixEnvironmentStatus, PlanStatus, RunState,
};
use crate::crd::{
    ANNOTATION_APPROVED_PLAN, ANNOTATION_CLEAN_REQUESTED_AT, ANNOTATION_DEPLOY_NOW,
    ANNOTATION_RESTARTED_AT, ANNOTATION_ROLLBACK_TO, MendixNamespace, MendixPackage, OperationKind,
};
use kube::runtime::finalizer::Event as FinalizerEvent;

pub const KIND: &str = <MendixEnvironment as crate::crd::Observed>::KIND;

/// Pause between two steps of one deploy: short, so a deploy is not slowed by the operator.
pub const NEXT_STEP: Duration = Duration::from_millis(200);

/// The restart to do: the annotation's value when it differs from the last one handled.
pub fn restart_request(
    env: &MendixEnvironment,
    status: &MendixEnvironmentStatus,
) -> Option<String> {
    request(
        env,
        ANNOTATION_RESTARTED_AT,
        status.last_restarted_at.as_deref(),
    )
}

/// The clean to do (Mendix Cloud): the annotation's value when it differs from the last one
/// handled.
pub fn clean_request(env: &MendixEnvironment, status: &MendixEnvironmentStatus) -> Option<String> {
    request(
        env,
        ANNOTATION_CLEAN_REQUESTED_AT,
        status.last_cleaned_at.as_deref(),
    )
}

/// A one-off request made through `annotation`: its value, unless empty or already `handled`.
fn request(env: &MendixEnvironment, annotation: &str, handled: Option<&str>) -> Option<String> {
    let wanted = env.annotations().get(annotation)?.trim().to_string();
    (!wanted.is_empty() && handled != Some(wanted.as_str())).then_some(wanted)
}

/// "2.5.4", or the package id when the version is unknown.
pub fn version_label(desired: &Desired) -> String {
    desired
        .package_version
        .clone()
        .unwrap_or_else(|| format!("package {}", desired.package_id))
}

/// Before the first remote change of a reconcile (`next` describes it): a paused environment
/// stops here, saying what it would do; one that was converged reports the drift it corrects.
pub async fn before_change(env: &MendixEnvironment, ctx: &Context, next: &str) -> Option<Verdict> {
    if super::verdict::is_paused(env) {
        return Some(Verdict::new(
            Outcome::progressing("Paused", format!("paused: next step would be {next}")),
            ctx.settings.resync,
        ));
    }
    if was_converged(env) {
        ctx.event(
            env,
            kube::runtime::events::EventType::Normal,
            "DriftDetected",
            "Resync",
            format!("Mendix differs from the spec ({next}); converging"),
        )
        .await;
    }
    None
}

/// Stalled: the spec names constants or scheduled events the deployed model does not define.
/// Refused before anything is written, on both platforms.
pub fn unknown_settings(version: &str, names: &[String]) -> Verdict {
    Verdict::stalled(
        "UnknownSetting",
        format!(
            "the model of {version} has no constant or scheduled event named {}: remove them from the spec or fix their names",
            names.join(", ")
        ),
    )
}

/// Whether the environment was Ready for its current generation (so a change now is drift).
pub fn was_converged(env: &MendixEnvironment) -> bool {
    env.status.as_ref().is_some_and(|s| {
        s.observed_generation == env.metadata.generation
            && conditions::is_true(&s.conditions, conditions::READY)
    })
}

fn phase_of(outcome: &Outcome, status: &MendixEnvironmentStatus, paused: bool) -> EnvironmentPhase {
    match outcome {
        Outcome::Ready { .. } if status.run_state == Some(RunState::Stopped) => {
            EnvironmentPhase::Stopped
        }
        Outcome::Ready { .. } => EnvironmentPhase::Running,
        Outcome::Stalled { .. } => EnvironmentPhase::Failed,
        Outcome::Progressing { .. } if paused => EnvironmentPhase::Paused,
        Outcome::Progressing { reason, .. } if reason == "WaitingForPackage" => {
            EnvironmentPhase::WaitingForPackage
        }
        Outcome::Progressing { reason, .. } if reason == AWAITING_APPROVAL => {
            EnvironmentPhase::AwaitingApproval
        }
        Outcome::Progressing { reason, .. } if reason == WAITING_FOR_WINDOW => {
            EnvironmentPhase::WaitingForWindow
        }
        Outcome::Progressing { .. } => match status.operation.as_ref().map(|o| o.kind) {
            Some(OperationKind::Restart) => EnvironmentPhase::Restarting,
            Some(_) => EnvironmentPhase::Deploying,
            None => EnvironmentPhase::Pending,
        },
    }
}

fn finish(env: &MendixEnvironment, status: &mut MendixEnvironmentStatus, outcome: &Outcome) {
    status.observed_generation = env.metadata.generation;
    status.reconcile_requested_at =
        reconcile_requested_at(env).or(status.reconcile_requested_at.take());
    if env.spec.management_policy.is_manage() {
        super::observe::forget_drift(&mut status.conditions);
    }
    record_history(env, status, outcome);
    // A deployNow that let a change through is used up once the change is done.
    if matches!(outcome, Outcome::Ready { .. })
        && let Some(value) = env.annotations().get(ANNOTATION_DEPLOY_NOW)
    {
        status.last_deploy_now = Some(value.clone());
    }
    // An approved plan carried out to the end is used up.
    if matches!(outcome, Outcome::Ready { .. })
        && let Some(plan) = status.plan.take()
        && plan.approved
    {
        status.last_approved_plan = Some(plan.hash);
    }
    status.phase = Some(phase_of(outcome, status, super::verdict::is_paused(env)));
    apply_outcome(
        &mut status.conditions,
        outcome,
        env.metadata.generation,
        now(),
    );
}

/// The version of the spec's package, now that it runs, when known: from its MendixPackage,
/// else from the history of this environment (a rollback to a package id), else what status
/// said while that same package already ran.
pub fn deployed_version(
    env: &MendixEnvironment,
    desired: &Desired,
    status: &MendixEnvironmentStatus,
) -> Option<String> {
    let ran_before = env
        .status
        .as_ref()
        .and_then(|s| s.deployed_package_id.as_deref())
        == Some(desired.package_id.as_str());
    desired
        .package_version
        .clone()
        .or_else(|| {
            status
                .history
                .iter()
                .find(|r| r.package_id == desired.package_id)
                .and_then(|r| r.version.clone())
        })
        .or_else(|| {
            ran_before
                .then(|| status.deployed_version.clone())
                .flatten()
        })
}

/// How many deployments `status.history` keeps.
pub const HISTORY_LIMIT: usize = 10;

/// Adds to `status.history` a deployment that just ended: a new package Ready (or a restart
/// done), or a deploy of the spec's package that stalled. Newest first, at most
/// [`HISTORY_LIMIT`].
fn record_history(
    env: &MendixEnvironment,
    status: &mut MendixEnvironmentStatus,
    outcome: &Outcome,
) {
    let before = env.status.as_ref();
    let Some(package_id) = status.deployed_package_id.clone() else {
        return;
    };
    let cause = if env.annotations().get(ANNOTATION_ROLLBACK_TO) == Some(&package_id) {
        DeploymentTrigger::Rollback
    } else if env.spec.package_from.is_some() {
        DeploymentTrigger::Promotion
    } else {
        DeploymentTrigger::SpecChange
    };
    let record = match outcome {
        Outcome::Ready { .. } => {
            // A package that runs Ready and is not the last one recorded is a new deployment
            // (status may have shown it already while Mendix rolled it out).
            let new_package = status
                .history
                .iter()
                .find(|r| r.result == "Succeeded")
                .is_none_or(|r| r.package_id != package_id);
            let restarted = before.and_then(|s| s.last_restarted_at.as_ref())
                != status.last_restarted_at.as_ref()
                && status.last_restarted_at.is_some();
            if !(new_package || restarted) {
                return;
            }
            DeploymentRecord {
                package_id,
                version: status.deployed_version.clone(),
                at: now().to_string(),
                trigger: if new_package {
                    cause
                } else {
                    DeploymentTrigger::Restart
                },
                result: "Succeeded".into(),
            }
        }
        Outcome::Stalled { reason, message } => {
            let was_stalled =
                before.is_some_and(|s| conditions::is_true(&s.conditions, conditions::STALLED));
            if was_stalled || status.operation.is_none() {
                return;
            }
            DeploymentRecord {
                package_id,
                version: status.deployed_version.clone(),
                at: now().to_string(),
                trigger: cause,
                result: format!("Failed: {reason}: {message}"),
            }
        }
        Outcome::Progressing { .. } => return,
    };
    status.history.insert(0, record);
    status.history.truncate(HISTORY_LIMIT);
}

/// Records `op` in status and writes it now, before the request whose answer must not be lost
/// is sent; the resource reports `reason` with the operation's step meanwhile.
pub async fn record_operation(
    env: &MendixEnvironment,
    ctx: &Context,
    writer: &mut StatusWriter<MendixEnvironment>,
    status: &mut MendixEnvironmentStatus,
    op: crate::crd::OperationStatus,
    reason: &str,
) -> Result<(), Error> {
    let outcome = Outcome::progressing(reason, op.step.clone().unwrap_or_default());
    status.operation = Some(op);
    write_status(env, ctx, writer, status, &outcome, true).await
}

/// Completes `status` and writes it. `confirmed` makes the write reach the API server even when
/// it looks unchanged (see [`StatusWriter::write_confirmed`]): needed before a remote write.
async fn write_status(
    env: &MendixEnvironment,
    ctx: &Context,
    writer: &mut StatusWriter<MendixEnvironment>,
    status: &mut MendixEnvironmentStatus,
    outcome: &Outcome,
    confirmed: bool,
) -> Result<(), Error> {
    finish(env, status, outcome);
    writer
        .write_counted(status, confirmed, &ctx.metrics, KIND)
        .await?;
    Ok(())
}

/// Waits decided before anything remote happens (a package still building, a promotion's
/// source still deploying): Mendix is left as it was.
const WAITS_BEFORE_MENDIX: &[&str] = &["WaitingForPackage", "WaitingForSource"];

/// Whether the status records the Mendix environment as the operator last left it: no
/// operation in flight, and the last reconcile ended Ready, or in a wait before anything
/// remote that followed such a record (a wait that follows anything else drops
/// `status.target`, which the trust also requires). A promoted environment that waited while
/// its source deployed then deploys without reading Mendix first.
pub(crate) fn record_is_current(status: &MendixEnvironmentStatus) -> bool {
    status.operation.is_none()
        && conditions::find(&status.conditions, conditions::READY).is_some_and(|ready| {
            ready.status == conditions::TRUE || WAITS_BEFORE_MENDIX.contains(&ready.reason.as_str())
        })
}

async fn converge(
    env: &MendixEnvironment,
    ctx: &Context,
    status: &mut MendixEnvironmentStatus,
    writer: &mut StatusWriter<MendixEnvironment>,
) -> Result<Verdict, Error> {
    let desired = match resolve(env, ctx).await? {
        Resolved::Ready(desired) => *desired,
        Resolved::Blocked(verdict) => {
            // Nothing remote happens while blocked: a current record stays current, and one
            // that was not must not become trusted by the wait's outcome.
            if !record_is_current(status) {
                status.target = None;
            }
            return Ok(verdict);
        }
    };
    let mut plan = PlanOnce::default();
    if env.spec.change_approval == ChangeApproval::Manual
        && env.spec.management_policy.is_manage()
        && let Some(verdict) = approval_gate(env, ctx, status, &desired, &mut plan).await?
    {
        return Ok(verdict);
    }
    if !env.spec.deployment_windows.is_empty()
        && env.spec.management_policy.is_manage()
        && let Some(verdict) = window_gate(env, ctx, status, &desired, &mut plan).await?
    {
        return Ok(verdict);
    }
    let creds = match credentials(env, ctx).await? {
        Ok(creds) => creds,
        Err(verdict) => return Ok(verdict),
    };
    match (
        &env.spec.target.mendix_cloud,
        &env.spec.target.private_cloud,
        &creds,
    ) {
        // Each target's story boxed: a reconcile task then holds the one it runs, not room
        // for the larger of the two.
        (Some(target), _, Credentials::Cloud(c)) => {
            Box::pin(cloud::converge(
                env,
                ctx,
                writer,
                &ctx.mendix.cloud_deploy(c),
                target,
                &desired,
                status,
            ))
            .await
        }
        (_, Some(target), Credentials::Private(pat)) => {
            let place = match resolve::private_place(env, ctx, target).await? {
                Ok(place) => place,
                Err(verdict) => return Ok(verdict),
            };
            Box::pin(private::converge(
                env,
                ctx,
                writer,
                &ctx.mendix.pc_deploy(pat),
                &place,
                &desired,
                status,
            ))
            .await
        }
        _ => Ok(Verdict::stalled(
            "InvalidSpec",
            "exactly one of spec.target.mendixCloud or spec.target.privateCloud must be set",
        )),
    }
}

/// The preview the gates before a write read (approval, windows), made at most once per
/// reconcile: it reads Mendix.
#[derive(Default)]
struct PlanOnce(Option<Option<preview::Preview>>);

impl PlanOnce {
    /// The plan, or None when the environment is blocked (the reconcile then says why).
    async fn get(
        &mut self,
        env: &MendixEnvironment,
        ctx: &Context,
        desired: &Desired,
    ) -> Result<Option<&preview::Preview>, Error> {
        if self.0.is_none() {
            self.0 = Some(preview::preview_of(env, ctx, desired).await?.ok());
        }
        Ok(self.0.as_ref().and_then(Option::as_ref))
    }
}

/// The Reconciling reason while a change waits for a deployment window.
pub const WAITING_FOR_WINDOW: &str = "WaitingForWindow";

/// Deployment windows: `Some` while a change that stops or restarts the app waits for the next
/// window. A change under way (an operation recorded) finishes; a change that keeps the app
/// running goes at once; annotation `mendixops.io/deployNow` lets one change through.
async fn window_gate(
    env: &MendixEnvironment,
    ctx: &Context,
    status: &mut MendixEnvironmentStatus,
    desired: &Desired,
    plan: &mut PlanOnce,
) -> Result<Option<Verdict>, Error> {
    if status.operation.is_some() {
        return Ok(None);
    }
    let deploy_now = env
        .annotations()
        .get(ANNOTATION_DEPLOY_NOW)
        .filter(|v| status.last_deploy_now.as_ref() != Some(*v));
    if deploy_now.is_some() {
        return Ok(None);
    }
    let next = match windows::next_opening(&env.spec.deployment_windows, jiff::Timestamp::now()) {
        Ok(None) => return Ok(None),
        Ok(Some(next)) => next,
        Err(message) => return Ok(Some(Verdict::stalled("InvalidWindow", message))),
    };
    // Blocked (waiting for a package, bad credentials): the reconcile says so.
    let Some(preview) = plan.get(env, ctx, desired).await? else {
        return Ok(None);
    };
    if !preview.disruptive {
        return Ok(None);
    }
    let until = next.duration_since(jiff::Timestamp::now()).unsigned_abs();
    Ok(Some(Verdict::new(
        Outcome::progressing(
            WAITING_FOR_WINDOW,
            format!(
                "waiting for the next deployment window, opening {next}: {} (annotation mendixops.io/deployNow lets it go now)",
                preview.steps.join("; ")
            ),
        ),
        ctx.settings.resync.min(until + Duration::from_secs(1)),
    )))
}

/// The Reconciling reason while a plan waits for approval.
pub const AWAITING_APPROVAL: &str = "AwaitingApproval";

/// `changeApproval: Manual`: `Some` while the plan waits for approval. The plan comes from
/// [`preview`](preview::preview), the same planner the reconcile runs; an approval (annotation
/// `mendixops.io/approvedPlan`) holds for the plan and spec generation it names until the
/// environment is Ready, and is used once.
async fn approval_gate(
    env: &MendixEnvironment,
    ctx: &Context,
    status: &mut MendixEnvironmentStatus,
    desired: &Desired,
    plan_once: &mut PlanOnce,
) -> Result<Option<Verdict>, Error> {
    let generation = env.metadata.generation;
    if status
        .plan
        .as_ref()
        .is_some_and(|p| p.approved && p.generation == generation)
    {
        return Ok(None);
    }
    // Blocked (waiting for a package, bad credentials, production): the reconcile says so.
    let Some(preview) = plan_once.get(env, ctx, desired).await? else {
        return Ok(None);
    };
    if preview.steps.is_empty() {
        status.plan = None;
        return Ok(None);
    }
    let mut plan = PlanStatus {
        hash: preview.hash(),
        steps: preview.steps.clone(),
        generation,
        approved: false,
    };
    let approval = env
        .annotations()
        .get(ANNOTATION_APPROVED_PLAN)
        .filter(|a| status.last_approved_plan.as_ref() != Some(*a))
        .cloned();
    if approval.as_deref() == Some(plan.hash.as_str()) {
        plan.approved = true;
        ctx.event(
            env,
            kube::runtime::events::EventType::Normal,
            "PlanApproved",
            "Approve",
            format!("plan {} approved: {}", plan.hash, plan.steps.join("; ")),
        )
        .await;
        status.plan = Some(Box::new(plan));
        return Ok(None);
    }
    let message = match approval {
        Some(other) => format!(
            "annotation mendixops.io/approvedPlan {other:?} matches no plan: the plan now is {} ({}); approve it with `kubectl mendix approve {}`",
            plan.hash,
            plan.steps.join("; "),
            env.name_any()
        ),
        None => format!(
            "plan {} waits for approval: {}; approve it with `kubectl mendix approve {}`",
            plan.hash,
            plan.steps.join("; "),
            env.name_any()
        ),
    };
    status.plan = Some(Box::new(plan));
    Ok(Some(Verdict::new(
        Outcome::progressing(AWAITING_APPROVAL, message),
        ctx.settings.resync,
    )))
}

/// The credentials for the environment's platform; a missing or incomplete Secret stalls.
async fn credentials(
    env: &MendixEnvironment,
    ctx: &Context,
) -> Result<Result<Credentials, Verdict>, Error> {
    let namespace = env
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let platform = if env.spec.target.mendix_cloud.is_some() {
        Platform::MendixCloud
    } else {
        Platform::PrivateCloud
    };
    match secrets::load(
        &ctx.client,
        &namespace,
        &env.spec.credentials_secret_ref.name,
        platform,
    )
    .await
    {
        Ok(c) => Ok(Ok(c)),
        Err(err) => match err.stalled_reason() {
            Some(reason) => Ok(Err(Verdict::stalled(reason, err.to_string()))),
            None => Err(err.into()),
        },
    }
}

/// Deleting with `deletionPolicy: Delete`: the remote Private Cloud environment goes first.
async fn cleanup(
    env: &MendixEnvironment,
    ctx: &Context,
    status: &mut MendixEnvironmentStatus,
    writer: &mut StatusWriter<MendixEnvironment>,
) -> Result<Cleanup, Error> {
    let Some(target) = &env.spec.target.private_cloud else {
        return Ok(Cleanup::Done);
    };
    if super::verdict::is_paused(env) {
        return Ok(super::deletion::paused(
            "the remote environment",
            ctx.settings.resync,
        ));
    }
    let keep = |why: String| async move {
        super::deletion::retain(env, ctx, why).await;
        Ok(Cleanup::Done)
    };
    let pat = match credentials(env, ctx).await? {
        Ok(Credentials::Private(pat)) => pat,
        Ok(Credentials::Cloud(_)) => return Ok(Cleanup::Done),
        Err(verdict) => {
            let message = match verdict.outcome {
                Outcome::Stalled { message, .. } => message,
                _ => String::new(),
            };
            return keep(format!(
                "the remote environment is kept in Mendix: {message}; delete it in the Mendix Portal if it is no longer needed"
            ))
            .await;
        }
    };
    let place = match resolve::deleting_place(env, ctx, target).await? {
        Some(place) => place,
        None => {
            return keep(
                "the remote environment is kept in Mendix: its MendixNamespace is gone, so which namespace it is in is unknown; delete it in the Mendix Portal if it is no longer needed".into(),
            )
            .await;
        }
    };
    private::cleanup(
        env,
        ctx,
        writer,
        &ctx.mendix.pc_deploy(&pat),
        &place,
        status,
    )
    .await
}

/// Reconciles one MendixEnvironment.
pub async fn reconcile(env: Arc<MendixEnvironment>, ctx: Arc<Context>) -> Result<Action, Error> {
    super::shell::reconcile(env.as_ref(), &ctx, Box::pin(reconcile_inner(&env, &ctx))).await
}

async fn reconcile_inner(env: &Arc<MendixEnvironment>, ctx: &Context) -> Result<Action, Error> {
    let namespace = env
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let api: Api<MendixEnvironment> = Api::namespaced(ctx.client.clone(), &namespace);
    let policy = super::deletion::effective(env.spec.deletion_policy, env.spec.management_policy);
    under_policy(&api, env.clone(), policy, |event| async {
        match event {
            FinalizerEvent::Apply(env) => apply(&env, ctx, &api).await,
            // Boxed: the larger story, so that every other reconcile holds no room for it.
            FinalizerEvent::Cleanup(env) => Box::pin(delete(&env, ctx, &api)).await,
        }
    })
    .await
}

/// Converges and writes status.
async fn apply(
    env: &MendixEnvironment,
    ctx: &Context,
    api: &Api<MendixEnvironment>,
) -> Result<Action, Error> {
    let mut status = env.status.clone().unwrap_or_default();
    let mut writer = StatusWriter::new(api.clone(), env, env.status.as_ref())?;
    let verdict = settle(
        converge(env, ctx, &mut status, &mut writer).await,
        ctx,
        &env.uid().unwrap_or_default(),
    )?;
    write_status(env, ctx, &mut writer, &mut status, &verdict.outcome, false).await?;
    Ok(next_action(&verdict, ctx.settings.resync))
}

/// Runs the deletion; the finalizer is removed only when it reports Done.
async fn delete(
    env: &MendixEnvironment,
    ctx: &Context,
    api: &Api<MendixEnvironment>,
) -> Result<Action, Error> {
    let mut status = env.status.clone().unwrap_or_default();
    let mut writer = StatusWriter::new(api.clone(), env, env.status.as_ref())?;
    let verdict = match cleanup(env, ctx, &mut status, &mut writer).await {
        Ok(Cleanup::Done) => return Ok(Action::await_change()),
        Ok(Cleanup::Wait(verdict)) => verdict,
        Err(Error::Mendix(err)) => Verdict::new(
            Outcome::progressing(
                "MendixUnavailable",
                format!("cannot delete the remote environment yet: {err}"),
            ),
            ctx.settings.poll.max,
        ),
        Err(other) => return Err(other),
    };
    write_status(env, ctx, &mut writer, &mut status, &verdict.outcome, false).await?;
    Err(Error::CleanupPending(requeue_after(
        &verdict,
        ctx.settings.resync,
    )))
}

/// Runs `controller` (from [`trigger::controller`](super::trigger::controller)), also
/// re-queuing an environment when the MendixPackage or MendixNamespace it references changes,
/// until `shutdown` resolves.
pub async fn run(
    controller: Controller<Cached<MendixEnvironment>>,
    namespace: Option<String>,
    ctx: Arc<Context>,
    concurrency: u16,
    shutdown: super::Shutdown,
    on_synced: impl FnOnce() + Send + 'static,
) {
    use super::trigger::follow_references;
    let controller =
        follow_references::<_, MendixPackage>(controller, &ctx, namespace.as_deref(), |refs| {
            refs.package.as_deref()
        });
    let controller =
        follow_references::<_, MendixEnvironment>(controller, &ctx, namespace.as_deref(), |refs| {
            refs.environment.as_deref()
        });
    let controller =
        follow_references::<_, MendixNamespace>(controller, &ctx, namespace.as_deref(), |refs| {
            refs.namespace.as_deref()
        });
    // Starts that waited to learn how long a start takes, once it is known.
    let woken = futures::StreamExt::map(ctx.start_times.woken(), |waiter| {
        waiter.into_kind_unchecked::<Cached<MendixEnvironment>>(())
    });
    let controller = controller.reconcile_on(woken);
    super::drive(controller, ctx, concurrency, shutdown, on_synced, reconcile).await;
}
