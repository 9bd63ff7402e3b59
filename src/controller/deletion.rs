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
