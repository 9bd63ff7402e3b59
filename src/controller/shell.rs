//! The shell every reconciler runs in, so each kind's reconcile is only its own story: a span
//! that names the resource (and the remote operation once one starts), the reconcile timer and
//! counter, and the Mendix reads replayed to a retry after a status-write conflict.

use kube::ResourceExt;
use kube::runtime::controller::Action;
use tracing::Instrument;

use super::{Context, Error};
use crate::crd::Observed;

/// Runs `story` (one reconcile of `obj`) inside the shell.
///
/// The story comes boxed: each layer of the shell would otherwise hold its own copy of the
/// story's state, and a reconcile task would take several times the story's size (66 kB
/// instead of 13 kB for an environment, for every reconcile in flight).
pub async fn reconcile<K: Observed>(
    obj: &K,
    ctx: &Context,
    story: futures::future::BoxFuture<'_, Result<Action, Error>>,
) -> Result<Action, Error> {
    async {
        let _timer = ctx.metrics.reconcile_timer(K::KIND);
        let result = ctx
            .conflict_reads
            .around(&obj.uid().unwrap_or_default(), story)
            .await;
        let label = result
            .as_ref()
            .map_or_else(|e| e.metric_label(), |_| "ok".into());
        ctx.metrics.count_reconcile(K::KIND, &label);
        result
    }
    .instrument(reconcile_span(obj))
    .await
}

/// The span of one reconcile: kind, namespace, name, generation, and the id of the remote
/// operation in flight (intent token or Mendix job id), so every log line inside names them.
pub fn reconcile_span<K: Observed>(obj: &K) -> tracing::Span {
    let meta = obj.meta();
    let span = tracing::info_span!(
        "reconcile",
        kind = K::KIND,
        namespace = meta.namespace.as_deref().unwrap_or_default(),
        name = meta.name.as_deref().unwrap_or_default(),
        generation = meta.generation.unwrap_or_default(),
        operation = tracing::field::Empty,
    );
    if let Some(id) = obj.operation().and_then(operation_id) {
        span.record("operation", id);
    }
    span
}

/// The id that names an operation in logs: its Mendix job id once known, else its intent token.
pub fn operation_id(op: &crate::crd::OperationStatus) -> Option<&str> {
    op.job_id.as_deref().or(op.intent.as_deref())
}

/// Records the operation a step just started in the current reconcile span and logs the start.
pub fn operation_started(op: &crate::crd::OperationStatus) {
    if let Some(id) = operation_id(op) {
        tracing::Span::current().record("operation", id);
    }
    tracing::info!(kind = ?op.kind, step = op.step.as_deref().unwrap_or_default(), "operation started");
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::Context;
    use crate::controller::{environment, landscape, package};
    use crate::crd::landscape::{MendixCluster, MendixNamespace};

    /// The size of the task one reconcile runs in, without running it.
    fn task_size<K, F>(_: fn(Arc<K>, Arc<Context>) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    #[test]
    fn a_reconcile_in_flight_holds_its_story_boxed() {
        // Each was 30 to 66 kB while the shell held the story by value (every layer kept a
        // copy); with the story boxed a task is the shell's own state, a few hundred bytes.
        for (kind, size) in [
            ("MendixEnvironment", task_size(environment::reconcile)),
            ("MendixPackage", task_size(package::reconcile)),
            (
                "MendixCluster",
                task_size(landscape::reconcile::<MendixCluster>),
            ),
            (
                "MendixNamespace",
                task_size(landscape::reconcile::<MendixNamespace>),
            ),
        ] {
            assert!(size <= 4096, "a {kind} reconcile task is {size} bytes");
        }
    }
}
