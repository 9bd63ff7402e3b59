//! The state gauges of `/metrics`: resources by kind and Ready status, resources Stalled, and
//! remote operations in flight. They are recomputed from the controllers' caches every
//! [`REFRESH`], so they describe what is in the cluster (including resources deleted or changed
//! by others), not what one reconcile last did. A timer rather than every watch event: a count
//! over 10,000 objects on each of their events would cost more than the reconciles.

use std::sync::Arc;

use std::time::Duration;

use futures::future::{BoxFuture, Shared};
use kube::runtime::reflector::Store;

use crate::controller::cache::Cached;
use crate::crd::Observed;
use crate::metrics::{KindLabels, Metrics, ReadyLabels};

/// How often the gauges are recomputed.
pub const REFRESH: Duration = Duration::from_secs(2);

/// Keeps the gauges of kind `K` current from `stores` (one per watched namespace, or one for
/// all) until `stop` resolves.
pub async fn run<K: Observed>(
    stores: Vec<Store<Cached<K>>>,
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

fn update<K: Observed>(stores: &[Store<Cached<K>>], metrics: &Metrics) {
    let mut by_ready = [("True", 0i64), ("False", 0), ("Unknown", 0)];
    let mut stalled = 0i64;
    let mut in_flight = 0i64;
    for obj in stores.iter().flat_map(Store::state) {
        let facts = obj.facts();
        if let Some(slot) = by_ready.iter_mut().find(|(r, _)| *r == facts.ready) {
            slot.1 += 1;
        }
        stalled += i64::from(facts.stalled);
        in_flight += i64::from(facts.operation_in_flight);
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
        .resources_stalled
        .get_or_create(&KindLabels {
            kind: K::KIND.into(),
        })
        .set(stalled);
    metrics
        .operations_in_flight
        .get_or_create(&KindLabels {
            kind: K::KIND.into(),
        })
        .set(in_flight);
}

#[cfg(test)]
mod tests {
    use kube::runtime::{reflector, watcher};
    use serde_json::json;

    use super::*;
    use crate::crd::MendixPackage;

    /// A MendixPackage with the given Ready and Stalled condition statuses (none: not written).
    fn package(name: &str, ready: Option<&str>, stalled: Option<&str>) -> MendixPackage {
        let condition = |type_: &str, status: &str| {
            json!({"type": type_, "status": status, "reason": "Test", "message": "",
                   "lastTransitionTime": "2026-01-01T00:00:00Z"})
        };
        let mut conditions = Vec::new();
        conditions.extend(ready.map(|s| condition("Ready", s)));
        conditions.extend(stalled.map(|s| condition("Stalled", s)));
        serde_json::from_value(json!({
            "apiVersion": "mendixops.io/v1alpha1",
            "kind": "MendixPackage",
            "metadata": {"name": name, "namespace": "apps", "uid": name},
            "spec": {
                "target": {"mendixCloud": {"appId": "calc"}},
                "credentialsSecretRef": {"name": "mendix-cloud"},
                "source": {"build": {"branch": "main", "revision": "1", "version": "1.0.0"}}
            },
            "status": {"conditions": conditions}
        }))
        .expect("a MendixPackage")
    }

    fn cached(package: MendixPackage) -> Cached<MendixPackage> {
        Cached::new(package, &Default::default()).expect("cached")
    }

    fn value(text: &str, series: &str) -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .map(str::to_string)
    }

    #[test]
    fn counts_resources_by_ready_and_stalled() {
        let (store, mut writer) = reflector::store::<Cached<MendixPackage>>();
        writer.apply_watcher_event(&watcher::Event::Init);
        for p in [
            package("ready", Some("True"), Some("False")),
            package("building", Some("False"), Some("False")),
            package("stalled", Some("False"), Some("True")),
            package("new", None, None),
        ] {
            writer.apply_watcher_event(&watcher::Event::InitApply(cached(p)));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let metrics = Metrics::new();
        update(&[store], &metrics);
        let text = metrics.encode();
        let resources = |ready: &str| {
            value(
                &text,
                &format!(r#"mendix_operator_resources{{kind="MendixPackage",ready="{ready}"}}"#),
            )
        };
        assert_eq!(resources("True").as_deref(), Some("1"), "{text}");
        assert_eq!(resources("False").as_deref(), Some("2"), "{text}");
        assert_eq!(resources("Unknown").as_deref(), Some("1"), "{text}");
        assert_eq!(
            value(
                &text,
                r#"mendix_operator_resources_stalled{kind="MendixPackage"}"#
            )
            .as_deref(),
            Some("1"),
            "{text}"
        );

        // A resource that is no longer Stalled leaves the count: it is set to zero, not left.
        let (store, mut writer) = reflector::store::<Cached<MendixPackage>>();
        writer.apply_watcher_event(&watcher::Event::Apply(cached(package(
            "stalled",
            Some("True"),
            Some("False"),
        ))));
        update(&[store], &metrics);
        let text = metrics.encode();
        assert_eq!(
            value(
                &text,
                r#"mendix_operator_resources_stalled{kind="MendixPackage"}"#
            )
            .as_deref(),
            Some("0"),
            "{text}"
        );
    }
}
