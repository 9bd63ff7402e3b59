//! `/openapi/v2` and `/openapi/v3` documents built from the served types, enough for
//! `kubectl explain` and for kubectl to see that the server does field validation.
// TODO(kube-schema): serve `schema::openapi_v2` / `schema::openapi_v3_*` once merged.

use serde_json::{Map, Value, json};

use super::resources::{Registry, ResourceType};

/// The definition name kube-apiserver uses: `io.mendixops.v1alpha1.MendixEnvironment`.
fn definition_name(t: &ResourceType) -> String {
    let group = if t.group.is_empty() {
        "io.k8s.api.core".to_string()
    } else {
        t.group.split('.').rev().collect::<Vec<_>>().join(".")
    };
    format!("{group}.{}.{}", t.version, t.kind)
}

fn kind_schema(t: &ResourceType) -> Value {
    let mut schema = t
        .schema
        .clone()
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "x-kubernetes-group-version-kind".into(),
            json!([{"group": t.group, "version": t.version, "kind": t.kind}]),
        );
    }
    schema
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn operations(t: &ResourceType) -> Value {
    let field_validation = json!({"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    let op = |verb: &str| {
        json!({"operationId": format!("{verb}{}", t.kind), "parameters": [field_validation.clone()],
            "x-kubernetes-group-version-kind": {"group": t.group, "version": t.version, "kind": t.kind}})
    };
    json!({"put": op("replace"), "patch": op("patch"), "get": op("read")})
}

fn resource_path(t: &ResourceType) -> String {
    let base = format!("/{}", gv_path(&t.group, &t.version));
    if t.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
    } else {
        format!("{base}/{}/{{name}}", t.plural)
    }
}

/// `/openapi/v3`: one entry per group/version with the URL of its document.
pub fn v3_root(registry: &Registry, hash: &str) -> Value {
    let mut paths = Map::new();
    for t in registry.all() {
        let p = gv_path(&t.group, &t.version);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

/// `/openapi/v3/apis/{group}/{version}` (or `api/v1`).
pub fn v3_group_version(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let types: Vec<_> = registry.in_group_version(group, version).collect();
    if types.is_empty() {
        return None;
    }
    let mut schemas = Map::new();
    let mut paths = Map::new();
    for t in types {
        schemas.insert(definition_name(t), kind_schema(t));
        paths.insert(resource_path(t), operations(t));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// `/openapi/v2`: one swagger document with every type.
pub fn v2(registry: &Registry) -> Value {
    let mut definitions = Map::new();
    let mut paths = Map::new();
    for t in registry.all() {
        definitions.insert(definition_name(t), kind_schema(t));
        let mut ops = operations(t);
        for op in ops.as_object_mut().into_iter().flat_map(|m| m.values_mut()) {
            op["parameters"] = json!([{"name": "fieldValidation", "in": "query", "type": "string", "uniqueItems": true}]);
        }
        paths.insert(resource_path(t), ops);
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": paths,
        "definitions": definitions,
    })
}
