//! What the controllers keep of each object between reconciles.
//!
//! kube-runtime's store would hold every object typed, its strings, conditions and deployment
//! history each in their own allocations: about 2.8 KB per MendixEnvironment, most of the
//! operator's memory at 10,000 environments. A [`Cached`] object keeps typed only what the
//! controller machinery and the scans over all objects read (the metadata, and its
//! [`Facts`]), and the rest as the JSON it came in; a reconcile decodes its object when it
//! starts (tens of microseconds, against the milliseconds of one request).
//!
//! It also drops what no reconciler reads: managedFields and kubectl's
//! last-applied-configuration copy of the object, most of a small object's size.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Deserializer};

use crate::crd::{Observed, References};

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// An object of kind `K` as the controllers cache it.
pub struct Cached<K> {
    metadata: ObjectMeta,
    facts: Facts,
    /// The object without its metadata, as JSON.
    body: Box<str>,
    kind: PhantomData<fn() -> K>,
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
    /// Slims `obj` and keeps it in its cached form.
    pub fn new(mut obj: K) -> Result<Self, serde_json::Error> {
        let facts = Facts {
            ready: obj.ready(),
            stalled: obj.stalled(),
            operation_in_flight: obj.operation_in_flight(),
            references: obj.references(),
        };
        let mut metadata = std::mem::take(obj.meta_mut());
        metadata.managed_fields = None;
        if let Some(annotations) = metadata.annotations.as_mut() {
            annotations.remove(LAST_APPLIED);
        }
        Ok(Cached {
            metadata,
            facts,
            body: serde_json::to_string(&obj)?.into_boxed_str(),
            kind: PhantomData,
        })
    }

    /// The whole object again, for a reconcile.
    pub fn object(&self) -> Result<K, serde_json::Error> {
        let mut obj: K = serde_json::from_str(&self.body)?;
        *obj.meta_mut() = self.metadata.clone();
        Ok(obj)
    }

    pub fn facts(&self) -> &Facts {
        &self.facts
    }
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
            body: self.body.clone(),
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
/// caches from typed watches (see `trigger`), so this only serves that bound.
impl<'de, K: Observed> Deserialize<'de> for Cached<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let obj = K::deserialize(deserializer)?;
        Cached::new(obj).map_err(serde::de::Error::custom)
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

    /// What goes into the cache comes out whole, less what no reconciler reads.
    #[test]
    fn a_cached_object_decodes_to_what_was_cached_less_the_dropped_metadata() {
        let env = environment();
        let cached = Cached::new(env.clone()).expect("cached");
        let mut expected = env;
        expected.metadata.managed_fields = None;
        if let Some(annotations) = expected.metadata.annotations.as_mut() {
            annotations.remove(LAST_APPLIED);
        }
        let json = |env: &MendixEnvironment| serde_json::to_value(env).expect("JSON");
        assert_eq!(json(&cached.object().expect("decodes")), json(&expected));
        assert_eq!(cached.meta(), &expected.metadata);
    }

    #[test]
    fn a_cached_object_carries_the_facts_read_across_all_objects() {
        let cached = Cached::new(environment()).expect("cached");
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

    /// Spec and status as JSON; the metadata is kept once, typed.
    #[test]
    fn the_body_is_the_object_without_its_metadata() {
        let cached = Cached::new(environment()).expect("cached");
        let body: serde_json::Value = serde_json::from_str(&cached.body).expect("JSON");
        assert_eq!(body["metadata"], json!({}));
        assert_eq!(body["spec"]["packageRef"]["name"], "calc-1-2-0");
    }
}
