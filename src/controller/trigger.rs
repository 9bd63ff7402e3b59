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

use std::collections::hash_map::DefaultHasher;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
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

use super::cache::Cached;
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

/// Hash of everything a user changes to ask for a reconcile; a status write leaves it equal.
fn user_change<K: Resource>(obj: &K) -> Option<u64> {
    let meta = obj.meta();
    let mut hasher = DefaultHasher::new();
    meta.generation.hash(&mut hasher);
    meta.annotations.hash(&mut hasher);
    meta.finalizers.hash(&mut hasher);
    meta.deletion_timestamp.is_some().hash(&mut hasher);
    Some(hasher.finish())
}

/// A controller over the objects of kind `K` in `namespace` (every namespace when `None`)
/// whose cache holds decodable objects in their compact form and whose reconciles are
/// triggered by user changes only (see the module documentation).
pub fn controller<K>(ctx: &Arc<Context>, namespace: Option<&str>) -> Controller<Cached<K>>
where
    K: Watched + Observed,
{
    let (store, writer) = reflector::store();
    let changes = decodable::<K>(ctx, namespace)
        .filter_map(|event| std::future::ready(event.map(cached).transpose()))
        .reflect(writer)
        .applied_objects()
        .predicate_filter(user_change, Default::default())
        .boxed();
    Controller::for_stream(changes, store)
}

/// The event with its objects in their cached form; an object that cannot be put in it (it
/// always can: it was just decoded) is left out like one that does not decode.
fn cached<K>(event: watcher::Event<K>) -> Option<watcher::Event<Cached<K>>>
where
    K: Watched + Observed,
{
    use watcher::Event;
    let compact = |obj: K| {
        Cached::new(obj)
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
