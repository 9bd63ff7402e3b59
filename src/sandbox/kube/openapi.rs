//! `/openapi/v2` (JSON) and `/openapi/v3` documents of every served kind: the built-in kinds'
//! generated schemas plus each CRD version's `openAPIV3Schema`, rendered by the schema module.
//! The protobuf `/openapi/v2` older kubectl asks for is in [`super::openapi_proto`].

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use super::resources::Registry;
use super::schema::{
    KindSchema, builtin_kinds, openapi_v2, openapi_v3_group_version, openapi_v3_root,
};

/// Rendered documents by path, valid while the registry keeps the version they were made at
/// (kubectl fetches `/openapi/v3` on almost every command; rendering takes tens of ms).
#[derive(Debug, Default)]
pub struct Cache {
    documents: Mutex<HashMap<String, (u64, Value)>>,
}

impl Cache {
    /// The document at `path`, rendered by `render` unless cached for this registry version.
    pub fn get_or_render(
        &self,
        registry: &Registry,
        path: &str,
        render: impl FnOnce(&Registry) -> Option<Value>,
    ) -> Option<Value> {
        let mut documents = self.documents.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((version, doc)) = documents.get(path)
            && *version == registry.version()
        {
            return Some(doc.clone());
        }
        let doc = render(registry)?;
        documents.insert(path.to_string(), (registry.version(), doc.clone()));
        Some(doc)
    }
}

/// Built-in schemas are generated once per process (they never change).
fn builtins() -> &'static [KindSchema] {
    static BUILTINS: OnceLock<Vec<KindSchema>> = OnceLock::new();
    BUILTINS.get_or_init(builtin_kinds)
}

fn kinds(registry: &Registry) -> Vec<KindSchema> {
    let mut kinds = builtins().to_vec();
    for t in registry.all().filter(|t| t.custom) {
        if let Some(schema) = &t.schema {
            kinds.push(KindSchema {
                group: t.group.clone(),
                version: t.version.clone(),
                kind: t.kind.clone(),
                plural: t.plural.clone(),
                namespaced: t.namespaced,
                schema: schema.clone(),
            });
        }
    }
    kinds
}

/// kube-apiserver publishes no strategic merge patch for custom resources (it answers 415), and
/// kubectl picks its patch type from the PATCH operation's content types: drop it there.
fn without_strategic_merge_for_custom_kinds(registry: &Registry, mut doc: Value) -> Value {
    const SMP: &str = "application/strategic-merge-patch+json";
    let custom = |op: &Value| {
        let gvk = &op["x-kubernetes-group-version-kind"];
        registry
            .all()
            .any(|t| t.custom && gvk["group"] == t.group.as_str() && gvk["kind"] == t.kind.as_str())
    };
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return doc;
    };
    for item in paths.values_mut() {
        let Some(op) = item.get_mut("patch") else {
            continue;
        };
        if !custom(op) {
            continue;
        }
        if let Some(content) = op["requestBody"]["content"].as_object_mut() {
            content.remove(SMP);
        }
        if let Some(consumes) = op.get_mut("consumes").and_then(Value::as_array_mut) {
            consumes.retain(|c| c != SMP);
        }
    }
    doc
}

pub fn v3_root(registry: &Registry) -> Value {
    openapi_v3_root(&kinds(registry))
}

pub fn v3_group_version(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let kinds: Vec<KindSchema> = kinds(registry)
        .into_iter()
        .filter(|k| k.group == group && k.version == version)
        .collect();
    (!kinds.is_empty()).then(|| {
        without_strategic_merge_for_custom_kinds(registry, openapi_v3_group_version(&kinds))
    })
}

pub fn v2(registry: &Registry) -> Value {
    without_strategic_merge_for_custom_kinds(registry, openapi_v2(&kinds(registry)))
}
