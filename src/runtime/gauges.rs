//! The state gauges of `/metrics`: resources by kind and Ready status, and remote operations in
//! flight. They are recomputed from a reflector cache of each kind on every watch event, so they
//! describe what is in the cluster (including resources deleted or changed by others), not what
//! one reconcile last did.

use std::sync::Arc;

use futures::StreamExt;
use futures::future::{BoxFuture, Shared};
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};

use crate::crd::common::OperationStatus;
use crate::crd::{MendixEnvironment, MendixPackage};
use crate::metrics::{KindLabels, Metrics, ReadyLabels};

/// What the gauges need from a resource.
pub trait Observed:
    kube::Resource<DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    const KIND: &'static str;
    /// The Ready condition's status: `True`, `False` or `Unknown` (also when not yet written).
    fn ready(&self) -> &str;
    /// The remote operation recorded in status and not finished.
    fn operation(&self) -> Option<&OperationStatus>;
    fn operation_in_flight(&self) -> bool {
        self.operation().is_some()
    }
}

fn ready_of(
    conditions: Option<&[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]>,
) -> &str {
    conditions
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.as_str())
        .filter(|s| matches!(*s, "True" | "False"))
        .unwrap_or("Unknown")
}

impl Observed for MendixPackage {
    const KIND: &'static str = crate::controller::package::KIND;
    fn ready(&self) -> &str {
        ready_of(self.status.as_ref().map(|s| s.conditions.as_slice()))
    }
    fn operation(&self) -> Option<&OperationStatus> {
        self.status.as_ref().and_then(|s| s.operation.as_ref())
    }
}

impl Observed for MendixEnvironment {
    const KIND: &'static str = crate::controller::environment::KIND;
    fn ready(&self) -> &str {
        ready_of(self.status.as_ref().map(|s| s.conditions.as_slice()))
    }
    fn operation(&self) -> Option<&OperationStatus> {
        self.status.as_ref().and_then(|s| s.operation.as_ref())
    }
}

/// Keeps the gauges of kind `K` current over `apis` (one per watched namespace, or one for all)
/// until `stop` resolves.
pub async fn run<K: Observed>(
    apis: Vec<Api<K>>,
    metrics: Arc<Metrics>,
    stop: Shared<BoxFuture<'static, ()>>,
) {
    let mut stores = Vec::new();
    let mut streams = Vec::new();
    for api in apis {
        let (reader, writer) = reflector::store::<K>();
        stores.push(reader);
        streams.push(
            reflector::reflector(
                writer,
                watcher::watcher(api, watcher::Config::default().any_semantic()),
            )
            .default_backoff()
            .boxed(),
        );
    }
    let mut events = futures::stream::select_all(streams).take_until(stop);
    while let Some(event) = events.next().await {
        match event {
            Ok(_) => update(&stores, &metrics),
            // The watcher retries with backoff; the gauges keep their last values meanwhile.
            Err(err) => tracing::debug!(error = %err, kind = K::KIND, "gauge watch error"),
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
