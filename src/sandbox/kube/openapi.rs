//! `/openapi/v2` (JSON) and `/openapi/v3` documents of every served kind: the built-in kinds'
//! generated schemas plus each CRD version's `openAPIV3Schema`, rendered by the schema module.
//! The protobuf `/openapi/v2` older kubectl asks for is in [`super::openapi_proto`].

use std::sync::OnceLock;

use serde_json::Value;

use super::resources::Registry;
use super::schema::{
    KindSchema, builtin_kinds, openapi_v2, openapi_v3_group_version, openapi_v3_root,
};

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
                custom: true,
            });
        }
    }
    kinds
}

pub fn v3_root(registry: &Registry) -> Value {
    openapi_v3_root(&kinds(registry))
}

pub fn v3_group_version(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let kinds: Vec<KindSchema> = kinds(registry)
        .into_iter()
        .filter(|k| k.group == group && k.version == version)
        .collect();
    (!kinds.is_empty()).then(|| openapi_v3_group_version(&kinds))
}

pub fn v2(registry: &Registry) -> Value {
    openapi_v2(&kinds(registry))
}
