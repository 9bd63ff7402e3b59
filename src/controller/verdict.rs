//! Shared pieces of both reconcilers: how a reconcile ends (outcome + when to look again),
//! annotations, and how Mendix errors become conditions.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, MicroTime};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::crd::conditions::Outcome;
use crate::crd::{
    ANNOTATION_PAUSED, ANNOTATION_RECONCILE_REQUESTED_AT, OperationKind, OperationStatus,
};
use mendix_client::error::{ErrorClass, MendixError};

/// How long a Stalled resource waits before it is looked at again without a change: a person
/// must act, so no hot loop, but a fixed Secret is noticed within minutes.
pub const STALLED_RECHECK: Duration = Duration::from_secs(300);

/// The end of one reconcile: the conditions to write and when to reconcile again.
#[derive(Debug)]
pub struct Verdict {
    pub outcome: Outcome,
    pub requeue: Duration,
}

impl Verdict {
    pub fn new(outcome: Outcome, requeue: Duration) -> Self {
        Self { outcome, requeue }
    }
    pub fn stalled(reason: &str, message: impl Into<String>) -> Self {
        Self::new(Outcome::stalled(reason, message), STALLED_RECHECK)
    }
}

pub fn now() -> Timestamp {
    Timestamp::now()
}

/// The wall-clock time of a monotonic instant in the past.
pub fn time_of(instant: std::time::Instant) -> Timestamp {
    now()
        .saturating_sub(instant.elapsed())
        .unwrap_or_else(|_| now())
}

pub fn is_paused<K: ResourceExt>(obj: &K) -> bool {
    obj.annotations()
        .get(ANNOTATION_PAUSED)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

pub fn reconcile_requested_at<K: ResourceExt>(obj: &K) -> Option<String> {
    obj.annotations()
        .get(ANNOTATION_RECONCILE_REQUESTED_AT)
        .cloned()
}

/// Whether `obj` asks for a reconcile its status has not handled yet: its
/// `mendixops.io/reconcileRequestedAt` differs from the value the status last handled.
pub fn reconcile_newly_requested<K: ResourceExt>(obj: &K, handled: Option<&str>) -> bool {
    reconcile_requested_at(obj).as_deref() != handled
}

/// A new operation record, written to status before the request it describes is sent.
pub fn start_operation(kind: OperationKind, step: String) -> OperationStatus {
    OperationStatus {
        kind,
        step: Some(step),
        job_id: None,
        intent: Some(uuid::Uuid::new_v4().to_string()),
        phase: None,
        started_at: MicroTime(now()),
        polls: 0,
    }
}

/// How long ago an operation started.
pub fn age(op: &OperationStatus) -> Duration {
    let elapsed = now().as_millisecond() - op.started_at.0.as_millisecond();
    Duration::from_millis(u64::try_from(elapsed).unwrap_or(0))
}

/// A Mendix error that a person must act on, as (reason, message); None for errors that are
/// retried (transient) or handled by the caller (state conflicts).
pub fn stalled_by(err: &MendixError, what: &str) -> Option<(&'static str, String)> {
    if err.class() != ErrorClass::Terminal {
        return None;
    }
    let status = err.status().map(|s| s.as_u16());
    let (reason, hint) = match status {
        Some(401) => (
            "InvalidCredentials",
            "check the username and apiKey (or pat) in the credentials Secret",
        ),
        Some(403) => (
            "AccessDenied",
            "the credentials lack a permission or scope for this operation: grant it (API rights in the Mendix Portal, or the PAT's scopes)",
        ),
        Some(404) => (
            "NotFound",
            "check the app, environment or package id in the spec",
        ),
        _ => (
            "MendixRejected",
            "check the spec against the Mendix documentation",
        ),
    };
    Some((reason, format!("{what}: {err}; {hint}")))
}

/// The Stalled verdict to keep while a person has not acted yet: when the resource stalled for
/// its current generation less than [`STALLED_RECHECK`] ago and no reconcile was requested
/// since, the rejected remote write is not sent again (each status write triggers a reconcile,
/// which would otherwise repeat it). Later it is retried once per [`STALLED_RECHECK`].
pub fn hold_stalled(
    conditions: &[Condition],
    generation: Option<i64>,
    new_request: bool,
) -> Option<Verdict> {
    let stalled = crate::crd::conditions::find(conditions, crate::crd::conditions::STALLED)?;
    if stalled.status != crate::crd::conditions::TRUE
        || stalled.observed_generation != generation
        || new_request
    {
        return None;
    }
    let since = Duration::from_millis(
        u64::try_from(now().as_millisecond() - stalled.last_transition_time.0.as_millisecond())
            .unwrap_or(0),
    );
    (since < STALLED_RECHECK).then(|| {
        Verdict::new(
            Outcome::stalled(stalled.reason.clone(), stalled.message.clone()),
            STALLED_RECHECK - since,
        )
    })
}

/// A Mendix error as the end of a step: Stalled when a person must act, otherwise the error is
/// returned so the reconcile reports "waiting for Mendix" and retries (see [`settle`]).
pub fn stall_or_retry(err: MendixError, what: &str) -> Result<Verdict, crate::controller::Error> {
    match stalled_by(&err, what) {
        Some((reason, message)) => Ok(Verdict::stalled(reason, message)),
        None => Err(err.into()),
    }
}

/// The verdict of a whole converge: Mendix errors that reach this far become Stalled (terminal)
/// or "waiting for Mendix" after the object's own growing, jittered backoff (or Retry-After,
/// when longer); other errors end the reconcile. A converge that got through starts the
/// object's backoff over.
pub fn settle(
    result: Result<Verdict, crate::controller::Error>,
    ctx: &crate::controller::Context,
    uid: &str,
) -> Result<Verdict, crate::controller::Error> {
    use crate::controller::schedule::Failure;
    match result {
        Err(crate::controller::Error::Mendix(err)) => Ok(match stalled_by(&err, "Mendix") {
            Some((reason, message)) => {
                ctx.retries.succeeded(uid);
                Verdict::stalled(reason, message)
            }
            None => {
                let backoff = ctx.retries.failed(uid, Failure::Other, &ctx.settings.poll);
                let after = err.retry_after().unwrap_or_default().max(backoff);
                Verdict::new(
                    Outcome::progressing("MendixUnavailable", format!("waiting for Mendix: {err}")),
                    after,
                )
            }
        }),
        Ok(verdict) => {
            ctx.retries.succeeded(uid);
            Ok(verdict)
        }
        other => other,
    }
}

/// The requeue after a failed reconcile of `obj`: its own growing, jittered backoff (short for
/// a conflict), logged unless it was a conflict.
pub fn retry_after_failure<K: kube::Resource<DynamicType = ()>>(
    obj: &K,
    error: &crate::controller::Error,
    ctx: &crate::controller::Context,
) -> kube::runtime::controller::Action {
    use crate::controller::schedule::Failure;
    let failure = if error.is_conflict() {
        Failure::Conflict
    } else {
        tracing::warn!(error = %error, kind = %K::kind(&()), "reconcile failed");
        Failure::Other
    };
    let uid = obj.meta().uid.as_deref().unwrap_or_default();
    kube::runtime::controller::Action::requeue(ctx.retries.failed(uid, failure, &ctx.settings.poll))
}

/// What the controller does next: the verdict's own delay (capped by the resync period), or
/// nothing until a change when the verdict names none — the paced resync
/// ([`super::resync::paced`]) comes back to every resource once per period anyway.
pub fn next_action(verdict: &Verdict, resync: Duration) -> kube::runtime::controller::Action {
    if verdict.requeue.is_zero() {
        kube::runtime::controller::Action::await_change()
    } else {
        kube::runtime::controller::Action::requeue(verdict.requeue.min(resync))
    }
}

/// When to look again: the verdict's own delay, capped by the resync period that detects drift.
pub fn requeue_after(verdict: &Verdict, resync: Duration) -> Duration {
    if verdict.requeue.is_zero() {
        resync
    } else {
        verdict.requeue.min(resync)
    }
}
