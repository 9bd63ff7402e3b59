//! The shell every reconciler runs in, so each kind's reconcile is only its own story: a span
//! that names the resource (and the remote operation once one starts), the reconcile timer and
//! counter, and the Mendix reads replayed to a retry after a status-write conflict.

use kube::ResourceExt;
use kube::runtime::controller::Action;
use tracing::Instrument;

use super::{Context, Error};
use crate::runtime::gauges::Observed;
use crate::runtime::telemetry::reconcile_span;

/// Runs `story` (one reconcile of `obj`) inside the shell.
pub async fn reconcile<K: Observed>(
    obj: &K,
    ctx: &Context,
    story: impl std::future::Future<Output = Result<Action, Error>>,
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
