//! What starts a reconcile, and what the controllers cache.
//!
//! A reconcile runs when a person or a tool changes a resource (its spec, so its generation,
//! its annotations, finalizers or deletion), on the requeue each reconcile asks for, and when a
//! related object changes. The operator's own status writes do not trigger one: the reconcile
//! that wrote the status already asked for the requeue it needs, and a second reconcile would
//! only read Mendix again to find nothing to do.
//!
//! The cache drops what the reconcilers never read (managedFields and kubectl's
//! last-applied-configuration copy of the object), which is most of a small object's size.

use std::collections::hash_map::DefaultHasher;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};

use futures::StreamExt;
use kube::Api;
use kube::Resource;
use kube::runtime::controller::Controller;
use kube::runtime::reflector;
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

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

/// Drops the metadata no reconciler reads before the object is cached.
fn slim<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// A controller over `api` whose cache holds slimmed objects and whose reconciles are
/// triggered by user changes only (see the module documentation).
pub fn controller<K>(api: Api<K>) -> Controller<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let changes = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(slim)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(user_change, Default::default())
        .boxed();
    Controller::for_stream(changes, store)
}
