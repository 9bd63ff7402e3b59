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
use super::verdict::Verdict;
use crate::crd::conditions::Outcome;
use crate::crd::{DeletionPolicy, FINALIZER, Observed};

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

/// Mendix refused to delete `what` (its delete job failed with `message`): a Warning Event,
/// Stalled with what to do (`hint`), and a look again on the resync, not sooner: the cause is
/// for a person to fix, or goes away (what was inside is deleted).
pub async fn refused<K: Observed>(
    obj: &K,
    ctx: &Context,
    what: &str,
    message: &str,
    hint: &str,
) -> Cleanup {
    let message = format!(
        "Mendix could not delete {what}: {message}; fix the cause{hint}, or remove finalizer mendixops.io/cleanup to keep it in Mendix"
    );
    ctx.event(
        obj,
        EventType::Warning,
        "DeleteFailed",
        "Delete",
        message.clone(),
    )
    .await;
    Cleanup::Wait(Verdict::new(
        Outcome::stalled("DeleteFailed", message),
        ctx.settings.resync,
    ))
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
