//! What server-side apply needs to know of a kind's schema: which maps are structs (declared
//! fields) or free-form, which lists are atomic, sets or maps keyed by some fields, and which
//! maps are atomic. Built from a CRD's `openAPIV3Schema` (`x-kubernetes-list-type`,
//! `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`, `additionalProperties`,
//! `x-kubernetes-preserve-unknown-fields`) or from the small built-in table below.

use std::collections::BTreeMap;

use kube::core::GroupVersionKind;
use serde_json::{Value, json};

/// How the items of a list are merged and owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ListKind {
    /// Replaced and owned as a whole (the default for lists without `x-kubernetes-list-type`).
    Atomic,
    /// Scalar items, each owned on its own (`v:` elements).
    Set,
    /// Object items identified by these key fields (`k:` elements).
    Map(Vec<String>),
}

/// The merge shape of one node of an object.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Shape {
    Scalar,
    /// No schema: objects are merged key by key (every key owned on its own), lists are atomic.
    Untyped,
    Object {
        /// Declared properties.
        fields: BTreeMap<String, Shape>,
        /// The shape of undeclared keys (`additionalProperties`, preserved unknown fields).
        elements: Option<Box<Shape>>,
        atomic: bool,
    },
    List {
        items: Box<Shape>,
        kind: ListKind,
        /// Schema defaults of the key fields of a map-list.
        key_defaults: BTreeMap<String, Value>,
    },
}

static UNTYPED: Shape = Shape::Untyped;

impl Shape {
    /// The shape of field `name` and whether it is a declared property (a struct field) rather
    /// than a key of a free-form map.
    pub(crate) fn field(&self, name: &str) -> (&Shape, bool) {
        match self {
            Shape::Object {
                fields, elements, ..
            } => match fields.get(name) {
                Some(shape) => (shape, true),
                None => (elements.as_deref().unwrap_or(&UNTYPED), false),
            },
            _ => (&UNTYPED, false),
        }
    }

    pub(crate) fn items(&self) -> &Shape {
        match self {
            Shape::List { items, .. } => items,
            _ => &UNTYPED,
        }
    }

    /// Builds the shape of an OpenAPI v3 schema node.
    fn from_openapi(schema: &Value) -> Shape {
        let flag = |name: &str| schema.get(name).and_then(Value::as_bool) == Some(true);
        if flag("x-kubernetes-int-or-string") {
            return Shape::Scalar;
        }
        let preserve = flag("x-kubernetes-preserve-unknown-fields");
        let properties = schema.get("properties").and_then(Value::as_object);
        match schema.get("type").and_then(Value::as_str) {
            Some("array") => {
                let items = schema
                    .get("items")
                    .map(Shape::from_openapi)
                    .unwrap_or(Shape::Untyped);
                let kind = match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
                    Some("set") => ListKind::Set,
                    Some("map") => {
                        let keys: Vec<String> = schema
                            .get("x-kubernetes-list-map-keys")
                            .and_then(Value::as_array)
                            .map(|keys| {
                                keys.iter()
                                    .filter_map(|k| k.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default();
                        // A map-list without keys cannot address its items: treat it as atomic.
                        if keys.is_empty() {
                            ListKind::Atomic
                        } else {
                            ListKind::Map(keys)
                        }
                    }
                    _ => ListKind::Atomic,
                };
                // Defaults of key fields identify items that leave them out.
                let key_defaults = match &kind {
                    ListKind::Map(keys) => keys
                        .iter()
                        .filter_map(|key| {
                            let default =
                                schema.pointer(&format!("/items/properties/{key}/default"))?;
                            Some((key.clone(), default.clone()))
                        })
                        .collect(),
                    _ => BTreeMap::new(),
                };
                Shape::List {
                    items: Box::new(items),
                    kind,
                    key_defaults,
                }
            }
            Some("object") | None if properties.is_some() || schema.get("type").is_some() => {
                let fields = properties
                    .map(|props| {
                        props
                            .iter()
                            .map(|(name, s)| (name.clone(), Shape::from_openapi(s)))
                            .collect()
                    })
                    .unwrap_or_default();
                let elements = match schema.get("additionalProperties") {
                    Some(Value::Object(s)) => {
                        Some(Box::new(Shape::from_openapi(&Value::Object(s.clone()))))
                    }
                    Some(Value::Bool(true)) => Some(Box::new(Shape::Untyped)),
                    _ if preserve => Some(Box::new(Shape::Untyped)),
                    _ => None,
                };
                let atomic =
                    schema.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic");
                Shape::Object {
                    fields,
                    elements,
                    atomic,
                }
            }
            Some(_) => Shape::Scalar,
            None => Shape::Untyped,
        }
    }
}

/// The merge schema of one kind (named for its most visible part, the list types).
#[derive(Clone, Debug, PartialEq)]
pub struct ListTypes {
    pub(crate) root: Shape,
}

impl ListTypes {
    /// The schema of a CRD version's `openAPIV3Schema`. `metadata` is always ObjectMeta, as
    /// kube-apiserver overrides whatever the CRD declares there.
    pub fn from_openapi_v3(schema: &Value) -> ListTypes {
        let mut root = Shape::from_openapi(schema);
        if !matches!(root, Shape::Object { .. }) {
            root = Shape::Object {
                fields: BTreeMap::new(),
                elements: Some(Box::new(Shape::Untyped)),
                atomic: false,
            };
        }
        if let Shape::Object { fields, atomic, .. } = &mut root {
            *atomic = false;
            fields.insert("apiVersion".into(), Shape::Scalar);
            fields.insert("kind".into(), Shape::Scalar);
            fields.insert(
                "metadata".into(),
                Shape::from_openapi(&object_meta_schema()),
            );
        }
        ListTypes { root }
    }

    /// The schema of version `version` of a CustomResourceDefinition object, if it serves it.
    pub fn for_crd(crd: &Value, version: &str) -> Option<ListTypes> {
        let versions = crd.pointer("/spec/versions")?.as_array()?;
        let entry = versions
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(version))?;
        let schema = entry
            .pointer("/schema/openAPIV3Schema")
            .cloned()
            .unwrap_or_else(
                || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            );
        Some(ListTypes::from_openapi_v3(&schema))
    }

    /// The schema of a built-in kind the sandbox serves: core/v1 Namespace, Secret, ConfigMap,
    /// Event, events.k8s.io/v1 Event, coordination.k8s.io/v1 Lease and
    /// apiextensions.k8s.io/v1 CustomResourceDefinition.
    pub fn for_builtin(gvk: &GroupVersionKind) -> Option<ListTypes> {
        builtin_schema(&gvk.group, &gvk.kind).map(|s| ListTypes::from_openapi_v3(&s))
    }

    /// For a kind with no known schema: ObjectMeta, `status.conditions` keyed by `type` (the
    /// Kubernetes API convention), every other object merged key by key and lists atomic.
    pub fn untyped() -> ListTypes {
        ListTypes::from_openapi_v3(&json!({
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
            "properties": {"status": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true,
                "properties": {"conditions": conditions_schema()},
            }},
        }))
    }

    /// The built-in schema for this object's `apiVersion`/`kind`, or [`ListTypes::untyped`].
    pub fn for_object(obj: &Value) -> ListTypes {
        let (group, kind) = group_kind(obj);
        builtin_schema(&group, &kind)
            .map(|s| ListTypes::from_openapi_v3(&s))
            .unwrap_or_else(ListTypes::untyped)
    }
}

/// The API group and kind of an object from its `apiVersion` and `kind`.
pub(crate) fn group_kind(obj: &Value) -> (String, String) {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = api_version
        .rsplit_once('/')
        .map(|(g, _)| g)
        .unwrap_or("")
        .to_string();
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    (group, kind)
}

/// Whether a built-in kind has a `status` subresource (its status is reset on main-resource
/// writes and owned separately).
pub(crate) fn builtin_has_status_subresource(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        ("", "Namespace") | ("apiextensions.k8s.io", "CustomResourceDefinition")
    )
}

fn string() -> Value {
    json!({"type": "string"})
}

fn string_map() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string"}})
}

fn atomic_strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "atomic"})
}

fn conditions_schema() -> Value {
    json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
           "items": {"type": "object", "properties": {
               "type": string(), "status": string(), "reason": string(), "message": string(),
               "lastTransitionTime": string(), "lastUpdateTime": string(),
               "observedGeneration": {"type": "integer"}}}})
}

fn object_reference() -> Value {
    json!({"type": "object", "x-kubernetes-map-type": "atomic", "properties": {
        "apiVersion": string(), "kind": string(), "name": string(), "namespace": string(),
        "uid": string(), "resourceVersion": string(), "fieldPath": string()}})
}

/// ObjectMeta as the Kubernetes OpenAPI declares it.
fn object_meta_schema() -> Value {
    json!({"type": "object", "properties": {
        "name": string(), "generateName": string(), "namespace": string(), "uid": string(),
        "resourceVersion": string(), "generation": {"type": "integer"}, "selfLink": string(),
        "creationTimestamp": string(), "deletionTimestamp": string(),
        "deletionGracePeriodSeconds": {"type": "integer"},
        "labels": string_map(), "annotations": string_map(),
        "finalizers": {"type": "array", "items": string(), "x-kubernetes-list-type": "set"},
        "ownerReferences": {"type": "array", "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["uid"],
            // OwnerReference is `+structType=atomic`: an item is owned whole.
            "items": {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {
                "apiVersion": string(), "kind": string(), "name": string(), "uid": string(),
                "controller": {"type": "boolean"}, "blockOwnerDeletion": {"type": "boolean"}}}},
        "managedFields": {"type": "array", "x-kubernetes-list-type": "atomic",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
    }})
}

fn builtin_schema(group: &str, kind: &str) -> Option<Value> {
    let schema = match (group, kind) {
        ("", "ConfigMap") => json!({"type": "object", "properties": {
            "data": string_map(), "binaryData": string_map(), "immutable": {"type": "boolean"}}}),
        ("", "Secret") => json!({"type": "object", "properties": {
            "data": string_map(), "stringData": string_map(), "type": string(),
            "immutable": {"type": "boolean"}}}),
        ("", "Namespace") => json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"finalizers": atomic_strings()}},
            "status": {"type": "object", "properties": {
                "phase": string(), "conditions": conditions_schema()}}}}),
        ("coordination.k8s.io", "Lease") => json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "holderIdentity": string(), "leaseDurationSeconds": {"type": "integer"},
                "acquireTime": string(), "renewTime": string(),
                "leaseTransitions": {"type": "integer"}, "strategy": string(),
                "preferredHolder": string()}}}}),
        ("", "Event") => json!({"type": "object", "properties": {
            "involvedObject": object_reference(), "related": object_reference(),
            "reason": string(), "message": string(), "type": string(), "action": string(),
            "source": {"type": "object", "properties": {"component": string(), "host": string()}},
            "firstTimestamp": string(), "lastTimestamp": string(), "eventTime": string(),
            "count": {"type": "integer"},
            "series": {"type": "object", "properties": {
                "count": {"type": "integer"}, "lastObservedTime": string()}},
            "reportingComponent": string(), "reportingInstance": string()}}),
        ("events.k8s.io", "Event") => json!({"type": "object", "properties": {
            "regarding": object_reference(), "related": object_reference(),
            "reason": string(), "note": string(), "type": string(), "action": string(),
            "eventTime": string(), "reportingController": string(),
            "reportingInstance": string(),
            "series": {"type": "object", "properties": {
                "count": {"type": "integer"}, "lastObservedTime": string()}},
            "deprecatedSource": {"type": "object", "properties": {
                "component": string(), "host": string()}},
            "deprecatedFirstTimestamp": string(), "deprecatedLastTimestamp": string(),
            "deprecatedCount": {"type": "integer"}}}),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let names = json!({"type": "object", "properties": {
                "plural": string(), "singular": string(), "kind": string(), "listKind": string(),
                "shortNames": atomic_strings(), "categories": atomic_strings()}});
            json!({"type": "object", "properties": {
                "spec": {"type": "object", "properties": {
                    "group": string(), "scope": string(), "names": names,
                    "preserveUnknownFields": {"type": "boolean"},
                    "conversion": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                        "properties": {"strategy": string()}},
                    "versions": {"type": "array", "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {"type": "object", "properties": {
                            "name": string(), "served": {"type": "boolean"},
                            "storage": {"type": "boolean"}, "deprecated": {"type": "boolean"},
                            "deprecationWarning": string(),
                            "schema": {"type": "object", "properties": {"openAPIV3Schema": {
                                "x-kubernetes-preserve-unknown-fields": true}}},
                            "subresources": {"type": "object", "properties": {
                                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                                "scale": {"type": "object", "properties": {
                                    "specReplicasPath": string(), "statusReplicasPath": string(),
                                    "labelSelectorPath": string()}}}},
                            "additionalPrinterColumns": {"type": "array",
                                "x-kubernetes-list-type": "atomic", "items": {"type": "object"}},
                            "selectableFields": {"type": "array",
                                "x-kubernetes-list-type": "atomic", "items": {"type": "object"}}}}}}},
                "status": {"type": "object", "properties": {
                    "conditions": conditions_schema(), "acceptedNames": names,
                    "storedVersions": atomic_strings()}}}})
        }
        _ => return None,
    };
    Some(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gvk(group: &str, version: &str, kind: &str) -> GroupVersionKind {
        GroupVersionKind::gvk(group, version, kind)
    }

    fn at<'a>(types: &'a ListTypes, path: &[&str]) -> (&'a Shape, bool) {
        let mut shape = &types.root;
        let mut declared = true;
        for step in path {
            if *step == "[]" {
                shape = shape.items();
            } else {
                (shape, declared) = shape.field(step);
            }
        }
        (shape, declared)
    }

    #[test]
    fn crd_schema_list_and_map_types() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["port", "protocol"],
                          "items": {"type": "object", "properties": {"port": {"type": "integer"}}}},
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "args": {"type": "array", "items": {"type": "string"}},
                "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                             "additionalProperties": {"type": "string"}},
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
                "replicas": {"x-kubernetes-int-or-string": true},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
            "metadata": {"type": "object"}}});
        let types = ListTypes::from_openapi_v3(&schema);
        assert!(matches!(at(&types, &["spec", "ports"]).0,
            Shape::List { kind: ListKind::Map(keys), .. } if keys == &["port", "protocol"]));
        assert!(matches!(
            at(&types, &["spec", "tags"]).0,
            Shape::List {
                kind: ListKind::Set,
                ..
            }
        ));
        assert!(matches!(
            at(&types, &["spec", "args"]).0,
            Shape::List {
                kind: ListKind::Atomic,
                ..
            }
        ));
        assert!(matches!(
            at(&types, &["spec", "selector"]).0,
            Shape::Object { atomic: true, .. }
        ));
        assert_eq!(at(&types, &["spec", "replicas"]).0, &Shape::Scalar);
        // Free-form map keys and preserved unknown fields are not declared fields.
        let (value, declared) = at(&types, &["spec", "env", "LOG_LEVEL"]);
        assert_eq!((value, declared), (&Shape::Scalar, false));
        assert_eq!(
            at(&types, &["spec", "extra", "x"]),
            (&Shape::Untyped, false)
        );
        assert_eq!(
            at(&types, &["spec", "ports", "[]", "port"]),
            (&Shape::Scalar, true)
        );
        // metadata is ObjectMeta whatever the CRD says.
        assert!(matches!(at(&types, &["metadata", "ownerReferences"]).0,
            Shape::List { kind: ListKind::Map(keys), .. } if keys == &["uid"]));
        assert!(matches!(
            at(&types, &["metadata", "finalizers"]).0,
            Shape::List {
                kind: ListKind::Set,
                ..
            }
        ));
        assert_eq!(
            at(&types, &["metadata", "labels", "app"]),
            (&Shape::Scalar, false)
        );
    }

    #[test]
    fn crd_object_lookup_by_version() {
        let crd = json!({"spec": {"versions": [
            {"name": "v1alpha1", "schema": {"openAPIV3Schema": {"type": "object"}}},
            {"name": "v1", "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "status": {"type": "object", "properties": {"conditions": conditions_schema()}}}}}}]}});
        let v1 = ListTypes::for_crd(&crd, "v1").unwrap();
        assert!(matches!(at(&v1, &["status", "conditions"]).0,
            Shape::List { kind: ListKind::Map(keys), .. } if keys == &["type"]));
        let alpha = ListTypes::for_crd(&crd, "v1alpha1").unwrap();
        assert_eq!(at(&alpha, &["status", "conditions"]).0, &Shape::Untyped);
        assert!(ListTypes::for_crd(&crd, "v2").is_none());
    }

    #[test]
    fn builtin_kinds_are_known_and_custom_ones_are_not() {
        for (g, k) in [
            ("", "ConfigMap"),
            ("", "Secret"),
            ("", "Namespace"),
            ("", "Event"),
            ("events.k8s.io", "Event"),
            ("coordination.k8s.io", "Lease"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ] {
            assert!(
                ListTypes::for_builtin(&gvk(g, "v1", k)).is_some(),
                "{g}/{k}"
            );
        }
        assert!(
            ListTypes::for_builtin(&gvk("mendix.example.com", "v1", "MendixEnvironment")).is_none()
        );
        let crd = ListTypes::for_builtin(&gvk(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
        ))
        .unwrap();
        assert!(matches!(at(&crd, &["spec", "versions"]).0,
            Shape::List { kind: ListKind::Map(keys), .. } if keys == &["name"]));
    }

    #[test]
    fn untyped_kinds_key_conditions_by_type() {
        let types =
            ListTypes::for_object(&json!({"apiVersion": "example.com/v1", "kind": "Thing"}));
        assert_eq!(types, ListTypes::untyped());
        assert!(matches!(at(&types, &["status", "conditions"]).0,
            Shape::List { kind: ListKind::Map(keys), .. } if keys == &["type"]));
        assert_eq!(at(&types, &["spec", "anything"]), (&Shape::Untyped, false));
        assert_eq!(
            group_kind(&json!({"apiVersion": "v1", "kind": "Secret"})),
            ("".into(), "Secret".into())
        );
    }
}
