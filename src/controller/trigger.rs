//! What starts a reconcile, and what the controllers cache.
//!
//! A reconcile runs when a person or a tool changes a resource (its spec, so its generation,
//! its annotations, finalizers or deletion), on the requeue each reconcile asks for, and when a
//! related object changes. The operator's own status writes do not trigger one: the reconcile
//! that wrote the status already asked for the requeue it needs, and a second reconcile would
//! only read Mendix again to find nothing to do.
//!
//! The cache holds each object in its compact form ([`Cached`]), without what the reconcilers
//! never read.
//!
//! An object the operator cannot decode (written under another version of the CRD, or with a
//! value this build does not know) is reported — a log line, a Warning Event on it and
//! `reconciles_total{result="invalid"}` — and left out; every other object is reconciled as
//! usual. A typed watch would fail its whole list on that one object and stop the kind.

use std::fmt::Debug;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use kube::Api;
use kube::Resource;
use kube::core::error_boundary::InvalidObject;
use kube::core::{DeserializeGuard, PartialObjectMetaExt};
use kube::runtime::controller::Controller;
use kube::runtime::events::EventType;
use kube::runtime::reflector;
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;

use super::cache::{Cached, Codec};
use super::context::Context;
use crate::crd::{Observed, References};

/// What a controller of this operator watches: a namespaced kind of this API.
pub trait Watched:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> Watched for K where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static
{
}

/// A controller over the objects of kind `K` in `namespace` (every namespace when `None`)
/// whose cache holds decodable objects in their compact form and whose reconciles are
/// triggered by user changes only (see the module documentation).
pub fn controller<K>(ctx: &Arc<Context>, namespace: Option<&str>) -> Controller<Cached<K>>
where
    K: Watched + Observed,
{
    let (store, writer) = reflector::store();
    let codec = Arc::new(Codec::default());
    let events = decodable::<K>(ctx, namespace).filter_map(move |event| {
        std::future::ready(event.map(|event| cached(event, &codec)).transpose())
    });
    let changes = changed_by_users(events, writer, store.clone()).boxed();
    Controller::for_stream(changes, store)
}

/// Applies each event to the cache (`writer`, whose reader is `cached`) and passes on the
/// objects whose [`Cached::user_change`] differs from the version the cache held before, or
/// that it did not hold. The cache is the only per-object state this takes: kube-runtime's
/// `predicate_filter` would keep a map of its own, a few hundred bytes per object.
///
/// During a relist the cache keeps answering with the old list until the new one is whole, so
/// an object unchanged across a lost watch is not reconciled again.
fn changed_by_users<K>(
    events: impl Stream<Item = Result<watcher::Event<Cached<K>>, watcher::Error>>,
    mut writer: reflector::store::Writer<Cached<K>>,
    cached: reflector::Store<Cached<K>>,
) -> impl Stream<Item = Result<Cached<K>, watcher::Error>>
where
    K: Watched + Observed,
{
    use watcher::Event;
    events.filter_map(move |event| {
        let changed = event.map(|event| {
            let applied = match &event {
                Event::Apply(obj) | Event::InitApply(obj) => {
                    let before = cached.get(&reflector::ObjectRef::from_obj(obj));
                    let changed = before.is_none_or(|old| old.user_change() != obj.user_change());
                    changed.then(|| obj.clone())
                }
                Event::Delete(_) | Event::Init | Event::InitDone => None,
            };
            writer.apply_watcher_event(&event);
            applied
        });
        std::future::ready(changed.transpose())
    })
}

/// The event with its objects in their cached form; an object that cannot be put in it (it
/// always can: it was just decoded) is left out like one that does not decode.
fn cached<K>(event: watcher::Event<K>, codec: &Arc<Codec>) -> Option<watcher::Event<Cached<K>>>
where
    K: Watched + Observed,
{
    use watcher::Event;
    let compact = |obj: K| {
        Cached::new(obj, codec)
            .map_err(|error| tracing::warn!(kind = K::KIND, %error, "cannot cache an object"))
            .ok()
    };
    match event {
        Event::Init => Some(Event::Init),
        Event::InitDone => Some(Event::InitDone),
        Event::Apply(obj) => compact(obj).map(Event::Apply),
        Event::InitApply(obj) => compact(obj).map(Event::InitApply),
        Event::Delete(obj) => compact(obj).map(Event::Delete),
    }
}

/// Adds to `controller` a watch of kind `R` in `namespace` that re-queues every `K` in the same
/// namespace whose spec refers to the changed `R` by name (`refers_to`, of the `K`'s
/// [`References`]): an environment waits for its package or namespace, a namespace for its
/// cluster.
pub fn follow_references<K, R>(
    controller: Controller<Cached<K>>,
    ctx: &Arc<Context>,
    namespace: Option<&str>,
    refers_to: fn(&References) -> Option<&str>,
) -> Controller<Cached<K>>
where
    K: Watched + Observed,
    R: Watched,
{
    let store = controller.store();
    let referenced = decodable::<R>(ctx, namespace);
    controller.watches_stream(referenced.touched_objects(), move |changed: R| {
        // Every cached K is looked at for each change of an R (a status write included):
        // compared in place, so that the scan allocates nothing but its matches.
        let namespace = changed.meta().namespace.as_deref();
        let Some(name) = changed.meta().name.as_deref() else {
            return Vec::new();
        };
        store
            .state()
            .into_iter()
            .filter(|obj| {
                obj.meta().namespace.as_deref() == namespace
                    && refers_to(&obj.facts().references) == Some(name)
            })
            .map(|obj| kube::runtime::reflector::ObjectRef::from_obj(obj.as_ref()))
            .collect::<Vec<_>>()
    })
}

/// Adds to `controller` a watch of kind `R` in `namespace` that re-queues the `K` an `R` refers
/// to by name (`refers_to`), in the same namespace, whenever that `R` changes or goes: a
/// namespace whose deletion Mendix refused while environments were in it looks again as soon
/// as one of them is gone, a cluster likewise for its namespaces.
pub fn follow_referrers<K, R>(
    controller: Controller<Cached<K>>,
    ctx: &Arc<Context>,
    namespace: Option<&str>,
    refers_to: fn(&References) -> Option<&str>,
) -> Controller<Cached<K>>
where
    K: Watched + Observed,
    R: Watched + Observed,
{
    let referrers = decodable::<R>(ctx, namespace);
    controller.watches_stream(referrers.touched_objects(), move |changed: R| {
        use kube::ResourceExt as _;
        let namespace = changed.namespace();
        refers_to(&changed.references()).map(|name| {
            let reference = kube::runtime::reflector::ObjectRef::new(name);
            match &namespace {
                Some(ns) => reference.within(ns),
                None => reference,
            }
        })
    })
}

/// The watch events of kind `K` in `namespace`, with objects that do not decode reported and
/// left out.
pub fn decodable<K>(
    ctx: &Arc<Context>,
    namespace: Option<&str>,
) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static
where
    K: Watched,
{
    let client = ctx.client.clone();
    let api: Api<DeserializeGuard<K>> = match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let ctx = ctx.clone();
    watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .filter_map(move |event| {
            let decoded = event.map(|e| decoded(&ctx, e)).transpose();
            std::future::ready(decoded)
        })
}

fn decoded<K>(
    ctx: &Arc<Context>,
    event: watcher::Event<DeserializeGuard<K>>,
) -> Option<watcher::Event<K>>
where
    K: Watched,
{
    use watcher::Event;
    let keep = |guard: DeserializeGuard<K>| match guard.0 {
        Ok(obj) => Some(obj),
        Err(invalid) => {
            report_invalid::<K>(ctx, invalid);
            None
        }
    };
    match event {
        Event::Init => Some(Event::Init),
        Event::InitDone => Some(Event::InitDone),
        Event::Apply(guard) => keep(guard).map(Event::Apply),
        Event::InitApply(guard) => keep(guard).map(Event::InitApply),
        // Gone: whatever it held no longer matters.
        Event::Delete(guard) => guard.0.ok().map(Event::Delete),
    }
}

/// Reports an object that does not decode, once per version of it.
fn report_invalid<K>(ctx: &Arc<Context>, invalid: InvalidObject)
where
    K: Watched,
{
    let meta = &invalid.metadata;
    let version = format!(
        "{}/{}",
        meta.uid.as_deref().unwrap_or_default(),
        meta.resource_version.as_deref().unwrap_or_default()
    );
    if !ctx.first_report_of_invalid(&version) {
        return;
    }
    let kind = K::kind(&()).to_string();
    tracing::warn!(
        kind,
        namespace = meta.namespace.as_deref().unwrap_or_default(),
        name = meta.name.as_deref().unwrap_or_default(),
        error = %invalid.error,
        "cannot decode this object: it is left alone until it changes"
    );
    ctx.metrics.count_reconcile(&kind, "invalid");
    let ctx = ctx.clone();
    let object = invalid.metadata.clone().into_request_partial::<K>();
    tokio::spawn(async move {
        ctx.event(
            &object,
            EventType::Warning,
            "InvalidObject",
            "Decode",
            format!(
                "mendix-operator cannot read this object ({}): correct it (see `kubectl explain`) or run an operator that knows it; nothing is done with it until then",
                invalid.error
            ),
        )
        .await;
    });
}

/// Resolves when `store` has its first full list; false if its writer was dropped first.
///
/// kube-runtime wakes only the most recent waiter of a store's readiness (one oneshot behind
/// `wait_until_ready`), and the controller itself waits on the same store, so a second waiter
/// can sleep forever. Polling again at short intervals sees the readiness anyway.
pub async fn wait_until_synced<K>(store: &kube::runtime::reflector::Store<K>) -> bool
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    loop {
        let check = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            store.wait_until_ready(),
        );
        if let Ok(result) = check.await {
            return result.is_ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use serde_json::json;

    use super::*;
    use crate::crd::MendixEnvironment;

    fn environment(name: &str, resource_version: u32, instances: u32) -> Cached<MendixEnvironment> {
        let env: MendixEnvironment = serde_json::from_value(json!({
            "apiVersion": "mendixops.io/v1alpha1",
            "kind": "MendixEnvironment",
            "metadata": {
                "name": name, "namespace": "apps", "uid": format!("uid-{name}"),
                "resourceVersion": resource_version.to_string(), "generation": instances,
            },
            "spec": {
                "target": {"mendixCloud": {"appId": name, "mode": "Test"}},
                "credentialsSecretRef": {"name": "mendix-cloud"},
                "instances": instances
            },
            "status": {"observedGeneration": resource_version}
        }))
        .expect("a MendixEnvironment");
        Cached::new(env, &Arc::new(Codec::default())).expect("cached")
    }

    /// The operator's status writes wake nothing; a user's change does, and so does an object
    /// the cache did not hold. A relist passes on only what changed while the watch was lost.
    #[tokio::test]
    async fn only_what_users_change_is_passed_on_and_every_event_reaches_the_cache() {
        use watcher::Event;
        let (store, writer) = reflector::store();
        let events = vec![
            Event::Init,
            Event::InitApply(environment("a", 1, 1)),
            Event::InitApply(environment("b", 1, 1)),
            Event::InitDone,
            // A status write: a new resourceVersion, the same generation.
            Event::Apply(environment("a", 2, 1)),
            // The user scales `b`.
            Event::Apply(environment("b", 3, 2)),
            Event::Delete(environment("a", 4, 1)),
            Event::Apply(environment("a", 5, 1)),
            // The watch was lost: `a` is as it was, `b` has a status write only, `c` is new.
            Event::Init,
            Event::InitApply(environment("a", 5, 1)),
            Event::InitApply(environment("b", 6, 2)),
            Event::InitApply(environment("c", 7, 1)),
            Event::InitDone,
        ];
        let passed: Vec<String> =
            changed_by_users(futures::stream::iter(events).map(Ok), writer, store.clone())
                .map(|obj| {
                    let obj = obj.expect("no error");
                    format!(
                        "{}@{}",
                        obj.meta().name.as_deref().unwrap_or_default(),
                        obj.meta().resource_version.as_deref().unwrap_or_default()
                    )
                })
                .collect()
                .await;
        assert_eq!(passed, ["a@1", "b@1", "b@3", "a@5", "c@7"]);
        let mut held: Vec<String> = store
            .state()
            .iter()
            .map(|obj| obj.meta().resource_version.clone().unwrap_or_default())
            .collect();
        held.sort();
        assert_eq!(held, ["5", "6", "7"]);
    }
}
