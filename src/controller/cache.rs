//! What the controllers keep of each object between reconciles.
//!
//! kube-runtime's store would hold every object typed, its strings, conditions and deployment
//! history each in their own allocations: about 2.8 KB per MendixEnvironment, most of the
//! operator's memory at 10,000 environments. A [`Cached`] object keeps typed only what the
//! controller machinery and the scans over all objects read (the metadata, and its
//! [`Facts`]), and the rest as the JSON it came in; a reconcile decodes its object when it
//! starts (tens of microseconds, against the milliseconds of one request).
//!
//! Of the metadata only what identifies the object stays typed (name, namespace, uid,
//! resourceVersion: what kube-runtime's store and scheduler key by); the rest (labels,
//! annotations, finalizers, …) goes into the JSON with spec and status. A typed map or list
//! costs a few hundred bytes per object even holding one entry.
//!
//! It also drops what no reconciler reads: managedFields and kubectl's
//! last-applied-configuration copy of the object, most of a small object's size. The JSON is
//! kept compressed against another object of the same kind ([`Codec`]).

use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::{Arc, LazyLock};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Deserializer};

use crate::crd::{Observed, References};

mod codec;
use codec::Body;
pub use codec::Codec;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// An object of kind `K` as the controllers cache it.
pub struct Cached<K> {
    /// Name, namespace, uid and resourceVersion only.
    metadata: ObjectMeta,
    facts: Facts,
    /// Hash of what a person or tool changes to ask for a reconcile (see [`Cached::user_change`]).
    user_change: u64,
    /// The object without the typed metadata above, as JSON, in the form `codec` keeps it.
    body: Body,
    codec: Arc<Codec>,
    kind: PhantomData<fn() -> K>,
}

/// Why an object cannot be put in the cache or taken out of it again: a defect, not bad input
/// (the object was decoded from the API server just before).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("compression: {0}")]
    Compression(#[from] std::io::Error),
}

/// What is read of every cached object at once: by the state gauges, and by the scan that
/// finds the objects referring to one that changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The Ready condition's status: `True`, `False` or `Unknown`.
    pub ready: &'static str,
    pub stalled: bool,
    pub operation_in_flight: bool,
    pub references: References,
}

impl<K: Observed> Cached<K> {
    /// Slims `obj` and keeps it in its cached form, its JSON compressed by `codec` (the one of
    /// the cache it goes into).
    pub fn new(mut obj: K, codec: &Arc<Codec>) -> Result<Self, CacheError> {
        let facts = Facts {
            ready: obj.ready(),
            stalled: obj.stalled(),
            operation_in_flight: obj.operation_in_flight(),
            references: obj.references(),
        };
        let user_change = user_change(obj.meta());
        let rest = obj.meta_mut();
        rest.managed_fields = None;
        if let Some(annotations) = rest.annotations.as_mut() {
            annotations.remove(LAST_APPLIED);
        }
        let metadata = ObjectMeta {
            name: rest.name.take(),
            namespace: rest.namespace.take(),
            uid: rest.uid.take(),
            resource_version: rest.resource_version.take(),
            ..ObjectMeta::default()
        };
        // An object that has a Ready verdict has the status the others will have.
        let settled = facts.ready != "Unknown";
        let body = codec.encode(serde_json::to_vec(&obj)?, settled)?;
        Ok(Cached {
            metadata,
            facts,
            user_change,
            body,
            codec: codec.clone(),
            kind: PhantomData,
        })
    }

    /// The whole object again, for a reconcile.
    pub fn object(&self) -> Result<K, CacheError> {
        let json = self.codec.decode(&self.body)?;
        let mut obj: K = serde_json::from_slice(&json)?;
        let meta = obj.meta_mut();
        meta.name.clone_from(&self.metadata.name);
        meta.namespace.clone_from(&self.metadata.namespace);
        meta.uid.clone_from(&self.metadata.uid);
        meta.resource_version
            .clone_from(&self.metadata.resource_version);
        Ok(obj)
    }

    pub fn facts(&self) -> &Facts {
        &self.facts
    }

    /// Equal for two versions of one object unless a person or a tool changed what asks for a
    /// reconcile: the spec (so the generation), annotations, finalizers or deletion. The
    /// operator's own status writes leave it equal. An object deleted and made again under the
    /// same name differs by its uid.
    pub fn user_change(&self) -> u64 {
        self.user_change
    }
}

fn user_change(meta: &ObjectMeta) -> u64 {
    let mut hasher = DefaultHasher::new();
    meta.uid.hash(&mut hasher);
    meta.generation.hash(&mut hasher);
    meta.annotations.hash(&mut hasher);
    meta.finalizers.hash(&mut hasher);
    meta.deletion_timestamp.is_some().hash(&mut hasher);
    hasher.finish()
}

impl<K: Resource<DynamicType = ()>> Resource for Cached<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }
    fn api_version(dt: &()) -> Cow<'_, str> {
        K::api_version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl<K> Clone for Cached<K> {
    fn clone(&self) -> Self {
        Cached {
            metadata: self.metadata.clone(),
            facts: self.facts.clone(),
            user_change: self.user_change,
            body: self.body.clone(),
            codec: self.codec.clone(),
            kind: PhantomData,
        }
    }
}

/// The metadata and facts only: the body is the object's spec and status.
impl<K: Resource<DynamicType = ()>> fmt::Debug for Cached<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cached")
            .field("kind", &K::kind(&()))
            .field("metadata", &self.metadata)
            .field("facts", &self.facts)
            .finish_non_exhaustive()
    }
}

/// kube-runtime's controller asks its objects to be decodable; the controllers here fill their
/// caches from typed watches (see `trigger`), so this only serves that bound, with one codec
/// for every object it makes.
impl<'de, K: Observed> Deserialize<'de> for Cached<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        static CODEC: LazyLock<Arc<Codec>> = LazyLock::new(Arc::default);
        let obj = K::deserialize(deserializer)?;
        Cached::new(obj, &CODEC).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::crd::MendixEnvironment;

    fn environment() -> MendixEnvironment {
        serde_json::from_value(json!({
            "apiVersion": "mendixops.io/v1alpha1",
            "kind": "MendixEnvironment",
            "metadata": {
                "name": "calc-test", "namespace": "apps", "uid": "u-1", "generation": 3,
                "resourceVersion": "42", "finalizers": ["mendixops.io/cleanup"],
                "annotations": {
                    "mendixops.io/restartedAt": "2026-12-01T10:00:00Z",
                    LAST_APPLIED: "{\"a huge\": \"copy\"}"
                },
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}]
            },
            "spec": {
                "target": {"mendixCloud": {"appId": "calc", "mode": "Test"}},
                "credentialsSecretRef": {"name": "mendix-cloud"},
                "packageRef": {"name": "calc-1-2-0"},
                "instances": 2
            },
            "status": {
                "observedGeneration": 3,
                "conditions": [
                    {"type": "Ready", "status": "True", "reason": "Running", "message": "runs 1.2.0",
                     "lastTransitionTime": "2026-12-01T10:00:00Z"},
                    {"type": "Stalled", "status": "False", "reason": "Running", "message": "",
                     "lastTransitionTime": "2026-12-01T10:00:00Z"}
                ],
                "deployedPackageId": "p-1",
                "operation": {"kind": "Start", "id": "job-1", "startedAt": "2026-12-01T10:00:00.000000Z"}
            }
        }))
        .expect("a MendixEnvironment")
    }

    fn cache(env: MendixEnvironment) -> Cached<MendixEnvironment> {
        Cached::new(env, &Arc::new(Codec::default())).expect("cached")
    }

    /// What goes into the cache comes out whole, less what no reconciler reads.
    #[test]
    fn a_cached_object_decodes_to_what_was_cached_less_the_dropped_metadata() {
        let env = environment();
        let cached = cache(env.clone());
        let mut expected = env;
        expected.metadata.managed_fields = None;
        if let Some(annotations) = expected.metadata.annotations.as_mut() {
            annotations.remove(LAST_APPLIED);
        }
        let json = |env: &MendixEnvironment| serde_json::to_value(env).expect("JSON");
        assert_eq!(json(&cached.object().expect("decodes")), json(&expected));
        let identity = ObjectMeta {
            name: Some("calc-test".into()),
            namespace: Some("apps".into()),
            uid: Some("u-1".into()),
            resource_version: Some("42".into()),
            ..ObjectMeta::default()
        };
        assert_eq!(cached.meta(), &identity);
    }

    /// A status write keeps the hash; what a person or tool changes does not.
    #[test]
    fn only_what_a_user_changes_changes_the_user_change_hash() {
        let hash = |env: MendixEnvironment| cache(env).user_change();
        let before = hash(environment());
        let mut status_written = environment();
        status_written.metadata.resource_version = Some("43".into());
        if let Some(status) = status_written.status.as_mut() {
            status.deployed_package_id = Some("p-2".into());
        }
        assert_eq!(hash(status_written), before);
        let changes: [fn(&mut ObjectMeta); 5] = [
            |meta| meta.generation = Some(4),
            |meta| {
                meta.annotations.get_or_insert_default().insert(
                    "mendixops.io/restartedAt".into(),
                    "2026-12-02T10:00:00Z".into(),
                );
            },
            |meta| meta.finalizers = None,
            |meta| {
                let now = crate::controller::verdict::now();
                meta.deletion_timestamp =
                    Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now));
            },
            |meta| meta.uid = Some("u-2".into()),
        ];
        for change in changes {
            let mut env = environment();
            change(&mut env.metadata);
            assert_ne!(hash(env), before);
        }
    }

    #[test]
    fn a_cached_object_carries_the_facts_read_across_all_objects() {
        let cached = cache(environment());
        assert_eq!(
            cached.facts(),
            &Facts {
                ready: "True",
                stalled: false,
                operation_in_flight: true,
                references: References {
                    package: Some("calc-1-2-0".into()),
                    ..References::default()
                },
            }
        );
    }

    /// Spec, status and the metadata that is not the object's identity as JSON; the identity
    /// is kept once, typed.
    #[test]
    fn the_body_is_the_object_without_its_identity() {
        let cached = cache(environment());
        let json = cached.codec.decode(&cached.body).expect("decoded");
        let body: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
        assert_eq!(
            body["metadata"],
            json!({
                "generation": 3,
                "finalizers": ["mendixops.io/cleanup"],
                "annotations": {"mendixops.io/restartedAt": "2026-12-01T10:00:00Z"}
            })
        );
        assert_eq!(body["spec"]["packageRef"]["name"], "calc-1-2-0");
    }
}
