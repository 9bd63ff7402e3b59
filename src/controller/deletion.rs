//! Deletion policy, the same for every kind: with `Delete` the reconcile runs under the
//! finalizer that holds the resource until the remote object is gone; with `Retain` there is no
//! finalizer (one left from `Delete` is taken off) and nothing remote happens on delete.

use std::future::Future;
use std::sync::Arc;

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event, finalizer};

use super::Context;
use super::error::Error;
use super::verdict::{Verdict, start_operation};
use crate::crd::conditions::Outcome;
use crate::crd::{
    DeletionPolicy, FINALIZER, ManagementPolicy, Observed, OperationKind, OperationStatus,
};

/// The deletion policy that applies: a resource that only observes never deletes anything.
pub fn effective(policy: DeletionPolicy, management: ManagementPolicy) -> DeletionPolicy {
    match management {
        ManagementPolicy::Manage => policy,
        ManagementPolicy::Observe => DeletionPolicy::Retain,
    }
}

/// Runs `run` with [`Event::Apply`] for a live resource, and with [`Event::Cleanup`] once a
/// resource with `policy: Delete` is being deleted; its `Ok` on cleanup removes the finalizer.
pub async fn under_policy<K, F, Fut>(
    api: &Api<K>,
    obj: Arc<K>,
    policy: DeletionPolicy,
    run: F,
) -> Result<Action, Error>
where
    K: Observed + serde::Serialize,
    F: FnOnce(Event<K>) -> Fut,
    Fut: Future<Output = Result<Action, Error>>,
{
    if policy == DeletionPolicy::Delete {
        return finalizer(api, FINALIZER, obj, run)
            .await
            .map_err(|e| Error::Finalizer(Box::new(e)));
    }
    if let Some(index) = obj.finalizers().iter().position(|f| f == FINALIZER) {
        let path = format!("/metadata/finalizers/{index}");
        let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
            {"op": "test", "path": path, "value": FINALIZER},
            {"op": "remove", "path": path},
        ]))
        .map_err(|_| Error::MissingObjectKey("metadata.finalizers"))?;
        api.patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::<()>::Json(patch),
        )
        .await?;
        // The patch wakes the next reconcile.
        return Ok(Action::await_change());
    }
    if obj.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    run(Event::Apply(obj)).await
}

/// Gives up on deleting the remote object: it stays in Mendix, a Warning Event (and a log line:
/// in a namespace being deleted the Event cannot be created) says why, and the finalizer may go.
pub async fn retain<K: Observed>(obj: &K, ctx: &Context, why: String) {
    tracing::warn!(reason = "Retained", "{why}");
    ctx.event(obj, EventType::Warning, "Retained", "Delete", why)
        .await;
}

/// What deletion needs next.
pub enum Cleanup {
    /// The remote side is done: the finalizer may go.
    Done,
    /// Not yet: write this verdict and look again later.
    Wait(Verdict),
}

/// Deletion is paused (annotation `mendixops.io/paused`): nothing remote until it is removed.
pub fn paused(what: &str, resync: std::time::Duration) -> Cleanup {
    Cleanup::Wait(Verdict::new(
        Outcome::progressing(
            "Paused",
            format!(
                "paused: {what} is deleted in Mendix when annotation mendixops.io/paused is removed"
            ),
        ),
        resync,
    ))
}

/// The phase of a Delete operation Mendix refused, recorded to count the refusals.
pub const REFUSED: &str = "refused";

/// The refusals so far of the Delete operation in `operation`, for the next one to go on
/// counting (so the interval keeps growing).
pub fn refusals(operation: &Option<OperationStatus>) -> i32 {
    operation
        .as_ref()
        .filter(|o| o.kind == OperationKind::Delete && o.phase.as_deref() == Some(REFUSED))
        .map_or(0, |o| o.polls)
}

/// Mendix refused to delete `what` for now (`why`: something is still inside it or uses it):
/// look again at a growing interval, counted in the Delete operation recorded in `operation`.
/// Once `--delete-wait-limit` has passed since the deletion began, or at once when the
/// Kubernetes namespace is being deleted (what is in the way will not go through this operator
/// any more), the remote object is kept, with a Warning Event, and the finalizer may go.
pub async fn wait_refused<K: Observed>(
    obj: &K,
    ctx: &Context,
    operation: &mut Option<OperationStatus>,
    (what, why, reason): (&str, &str, &str),
) -> Cleanup {
    let namespace = obj.namespace().unwrap_or_default();
    if ctx.namespace_terminating(&namespace).await {
        retain(
            obj,
            ctx,
            format!(
                "{what} is kept in Mendix: namespace {namespace} is being deleted while Mendix refuses to delete it ({why}); delete it in the Mendix Portal once it can go"
            ),
        )
        .await;
        return Cleanup::Done;
    }
    let waited: std::time::Duration = obj
        .meta()
        .deletion_timestamp
        .as_ref()
        .and_then(|t| super::verdict::now().duration_since(t.0).try_into().ok())
        .unwrap_or_default();
    if waited >= ctx.settings.delete_wait_limit {
        retain(
            obj,
            ctx,
            format!(
                "{what} is kept in Mendix: Mendix still refused to delete it after {} ({why}); delete it in the Mendix Portal once it can go",
                humantime::format_duration(ctx.settings.delete_wait_limit)
            ),
        )
        .await;
        return Cleanup::Done;
    }
    let op = operation.get_or_insert_with(|| start_operation(OperationKind::Delete, String::new()));
    op.job_id = None;
    // Not a request whose answer was lost (`jobs::earlier_request_pending`): one Mendix refused.
    op.phase = Some(REFUSED.into());
    let after = ctx.settings.poll.interval(op.polls);
    op.polls += 1;
    let message = format!("{what}: {why}; trying again in {}s", after.as_secs());
    op.step = Some(message.clone());
    if op.polls == 1 {
        ctx.event(obj, EventType::Warning, reason, "Delete", message.clone())
            .await;
    }
    Cleanup::Wait(Verdict::new(Outcome::progressing(reason, message), after))
}

/// `what` is gone from Mendix: an Event, and the finalizer may go.
pub async fn deleted<K: Observed>(obj: &K, ctx: &Context, what: &str) -> Cleanup {
    ctx.event(
        obj,
        EventType::Normal,
        "Deleted",
        "Delete",
        format!("{what} was deleted in Mendix"),
    )
    .await;
    Cleanup::Done
}
