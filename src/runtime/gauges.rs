//! The state gauges of `/metrics`: resources by kind and Ready status, and remote operations in
//! flight. They are recomputed from the controllers' caches every [`REFRESH`], so they describe
//! what is in the cluster (including resources deleted or changed by others), not what one
//! reconcile last did. A timer rather than every watch event: a count over 10,000 objects on
//! each of their events would cost more than the reconciles.

use std::sync::Arc;

use std::time::Duration;

use futures::future::{BoxFuture, Shared};
use kube::runtime::reflector::Store;

use crate::crd::Observed;
use crate::metrics::{KindLabels, Metrics, ReadyLabels};

/// How often the gauges are recomputed.
pub const REFRESH: Duration = Duration::from_secs(2);

/// Keeps the gauges of kind `K` current from `stores` (one per watched namespace, or one for
/// all) until `stop` resolves.
pub async fn run<K: Observed>(
    stores: Vec<Store<K>>,
    metrics: Arc<Metrics>,
    stop: Shared<BoxFuture<'static, ()>>,
) {
    let mut ticks = tokio::time::interval(REFRESH);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            _ = ticks.tick() => update(&stores, &metrics),
            () = &mut stop => return,
        }
    }
}

fn update<K: Observed>(stores: &[Store<K>], metrics: &Metrics) {
    let mut by_ready = [("True", 0i64), ("False", 0), ("Unknown", 0)];
    let mut in_flight = 0i64;
    for obj in stores.iter().flat_map(Store::state) {
        if let Some(slot) = by_ready.iter_mut().find(|(r, _)| *r == obj.ready()) {
            slot.1 += 1;
        }
        in_flight += i64::from(obj.operation_in_flight());
    }
    // Every label is set, to zero too, so a resource that left a state leaves its count.
    for (ready, count) in by_ready {
        metrics
            .resources
            .get_or_create(&ReadyLabels {
                kind: K::KIND.into(),
                ready: ready.into(),
            })
            .set(count);
    }
    metrics
        .operations_in_flight
        .get_or_create(&KindLabels {
            kind: K::KIND.into(),
        })
        .set(in_flight);
}
