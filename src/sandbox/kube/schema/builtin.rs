//! Schemas of the built-in kinds the sandbox serves, generated from k8s-openapi's schemars
//! support (API version v1_33) rather than written by hand.

use super::openapi::KindSchema;
use k8s_openapi::api::{coordination, core, events};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

/// One built-in kind: its coordinates and how its schema is generated.
struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    generate: fn(SchemaSettings) -> (Value, Map<String, Value>),
}

const BUILTINS: &[Builtin] = &[
    builtin::<core::v1::Namespace>("", "v1", "Namespace", "namespaces", false),
    builtin::<core::v1::Secret>("", "v1", "Secret", "secrets", true),
    builtin::<core::v1::ConfigMap>("", "v1", "ConfigMap", "configmaps", true),
    builtin::<core::v1::Event>("", "v1", "Event", "events", true),
    builtin::<events::v1::Event>("events.k8s.io", "v1", "Event", "events", true),
    builtin::<coordination::v1::Lease>("coordination.k8s.io", "v1", "Lease", "leases", true),
    builtin::<CustomResourceDefinition>(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
    ),
];

const fn builtin<T: JsonSchema>(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> Builtin {
    Builtin {
        group,
        version,
        kind,
        plural,
        namespaced,
        generate: generate::<T>,
    }
}

/// The root schema of `T` and every definition it refers to, with the generator's settings.
pub(crate) fn generate<T: JsonSchema>(settings: SchemaSettings) -> (Value, Map<String, Value>) {
    let mut generator = settings.into_generator();
    let root = generator.subschema_for::<T>().to_value();
    let root = match root.get("$ref").and_then(Value::as_str) {
        // A named type comes back as a reference to its own definition.
        Some(reference) => {
            let name = reference
                .rsplit('/')
                .next()
                .unwrap_or(reference)
                .to_string();
            generator.definitions().get(&name).cloned().unwrap_or(root)
        }
        None => root,
    };
    (root, generator.take_definitions(true))
}

/// The self-contained `openAPIV3Schema`-style schema of a built-in kind (references resolved,
/// recursive ones such as `JSONSchemaProps` kept open with preserve-unknown-fields), or `None`
/// for a kind the sandbox does not serve.
pub fn builtin_schema(group: &str, version: &str, kind: &str) -> Option<Value> {
    let b = BUILTINS
        .iter()
        .find(|b| b.group == group && b.version == version && b.kind == kind)?;
    let (root, definitions) = (b.generate)(SchemaSettings::draft2020_12());
    let mut stack = Vec::new();
    let mut schema = inline_refs(&root, &definitions, &mut stack);
    if let Some(map) = schema.as_object_mut() {
        map.remove("$schema");
    }
    make_structural(&mut schema);
    Some(schema)
}

/// Every built-in kind the sandbox serves, with its schema, for discovery and OpenAPI documents.
pub fn builtin_kinds() -> Vec<KindSchema> {
    BUILTINS
        .iter()
        .filter_map(|b| {
            let schema = builtin_schema(b.group, b.version, b.kind)?;
            Some(KindSchema {
                group: b.group.to_string(),
                version: b.version.to_string(),
                kind: b.kind.to_string(),
                plural: b.plural.to_string(),
                namespaced: b.namespaced,
                schema,
                custom: false,
            })
        })
        .collect()
}

/// A few built-in types are unions (`JSONSchemaPropsOrBool` is a schema or a boolean) or
/// untyped (`JSON`); a structural schema cannot say that, so such nodes are left open with
/// `x-kubernetes-preserve-unknown-fields`, as the API server's own published schemas do.
fn make_structural(schema: &mut Value) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    let union = ["oneOf", "anyOf", "allOf", "not"]
        .iter()
        .any(|k| map.remove(*k).is_some());
    let untyped = !map.contains_key("type")
        && !map.contains_key("x-kubernetes-int-or-string")
        && !map.contains_key("x-kubernetes-preserve-unknown-fields");
    if union {
        map.remove("type");
        map.remove("properties");
        map.remove("items");
        map.remove("additionalProperties");
    }
    if union || untyped {
        map.insert(
            "x-kubernetes-preserve-unknown-fields".into(),
            Value::Bool(true),
        );
    }
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        props.values_mut().for_each(make_structural);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = map.get_mut(key) {
            make_structural(child);
        }
    }
}

/// Replaces every `$ref` with the definition it names, keeping sibling keys (descriptions).
fn inline_refs(schema: &Value, definitions: &Map<String, Value>, stack: &mut Vec<String>) -> Value {
    match schema {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                let name = reference
                    .rsplit('/')
                    .next()
                    .unwrap_or(reference)
                    .to_string();
                let mut resolved = if stack.contains(&name) {
                    // A recursive type: leave the inner level open instead of looping.
                    serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
                } else if let Some(def) = definitions.get(&name) {
                    stack.push(name);
                    let inlined = inline_refs(def, definitions, stack);
                    stack.pop();
                    inlined
                } else {
                    serde_json::json!({"x-kubernetes-preserve-unknown-fields": true})
                };
                if let Some(target) = resolved.as_object_mut() {
                    for (k, v) in map {
                        if k != "$ref" {
                            target.insert(k.clone(), inline_refs(v, definitions, stack));
                        }
                    }
                }
                return resolved;
            }
            Value::Object(
                map.iter()
                    .filter(|(k, _)| k.as_str() != "$defs" && k.as_str() != "definitions")
                    .map(|(k, v)| (k.clone(), inline_refs(v, definitions, stack)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| inline_refs(v, definitions, stack))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::kube::schema::CompiledSchema;
    use serde_json::json;

    #[test]
    fn every_builtin_kind_has_a_self_contained_schema() {
        let kinds = builtin_kinds();
        assert_eq!(kinds.len(), BUILTINS.len());
        for k in &kinds {
            let text = k.schema.to_string();
            assert!(
                !text.contains("\"$ref\":\"#"),
                "{} still has references",
                k.kind
            );
            assert_eq!(k.schema["type"], "object", "{}", k.kind);
            assert!(k.schema["properties"]["metadata"].is_object(), "{}", k.kind);
        }
        assert!(builtin_schema("", "v1", "Pod").is_none());
    }

    #[test]
    fn secret_schema_validates_and_prunes() {
        let schema = builtin_schema("", "v1", "Secret").unwrap();
        assert_eq!(
            schema["properties"]["data"]["additionalProperties"]["format"],
            "byte"
        );
        let compiled = CompiledSchema::new(&schema).unwrap();
        let mut ok = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "creds"}, "data": {"apiKey": "c2VjcmV0"}, "extra": 1});
        assert_eq!(compiled.prune(&mut ok), vec!["extra".to_string()]);
        assert!(compiled.validate(&ok, None).is_empty());
        let bad = json!({"metadata": {"name": "creds"}, "data": {"apiKey": "%%%"}});
        let errors = compiled.validate(&bad, None);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].field, "data.apiKey");
        assert_eq!(
            errors[0].kind,
            crate::sandbox::kube::schema::FieldErrorKind::TypeInvalid
        );
    }

    #[test]
    fn lease_and_crd_schemas_compile() {
        let lease = builtin_schema("coordination.k8s.io", "v1", "Lease").unwrap();
        let compiled = CompiledSchema::new(&lease).unwrap();
        let obj = json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "me",
            "leaseDurationSeconds": 15, "renewTime": "2026-01-01T00:00:00.000000Z"}});
        assert!(compiled.validate(&obj, None).is_empty());
        let bad = json!({"metadata": {"name": "l"}, "spec": {"leaseDurationSeconds": "long"}});
        assert_eq!(
            compiled.validate(&bad, None)[0].field,
            "spec.leaseDurationSeconds"
        );

        let crd = builtin_schema("apiextensions.k8s.io", "v1", "CustomResourceDefinition").unwrap();
        // The recursive JSONSchemaProps is kept open below its first level.
        assert!(
            crd.to_string()
                .contains("x-kubernetes-preserve-unknown-fields")
        );
        if let Err(errors) = CompiledSchema::new(&crd) {
            panic!("{errors:#?}");
        }
    }

    #[test]
    fn the_real_crds_pass_the_crd_schema_untouched() {
        let compiled = CompiledSchema::new(
            &builtin_schema("apiextensions.k8s.io", "v1", "CustomResourceDefinition").unwrap(),
        )
        .unwrap();
        for file in ["mendixenvironments.yaml", "mendixpackages.yaml"] {
            let path = format!("{}/crds/{file}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(path).unwrap();
            let original: Value = serde_yaml::from_str(&text).unwrap();
            let mut crd = original.clone();
            let admission = compiled.admit(&mut crd, None);
            assert!(
                admission.pruned.is_empty(),
                "{file}: {:?}",
                admission.pruned
            );
            assert!(
                admission.errors.is_empty(),
                "{file}: {:?}",
                admission.errors
            );
            assert_eq!(
                crd["spec"]["versions"][0]["schema"], original["spec"]["versions"][0]["schema"],
                "{file}: the schema is kept as written"
            );
        }
    }

    #[test]
    fn events_and_leases_as_clients_send_them_pass() {
        let event = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "prod.1", "namespace": "apps"},
            "eventTime": "2026-01-01T00:00:00.123456Z",
            "reportingController": "mendix-operator", "reportingInstance": "mendix-operator-0",
            "action": "Transport", "reason": "Transporting", "type": "Normal",
            "note": "2/4: transporting 2.5.4",
            "regarding": {"apiVersion": "mendixops.io/v1alpha1", "kind": "MendixEnvironment",
                          "name": "prod", "namespace": "apps", "uid": "u-1"},
            "series": {"count": 2, "lastObservedTime": "2026-01-01T00:01:00.000000Z"}
        });
        let schema =
            CompiledSchema::new(&builtin_schema("events.k8s.io", "v1", "Event").unwrap()).unwrap();
        let mut e = event.clone();
        let admission = schema.admit(&mut e, None);
        assert!(
            admission.pruned.is_empty() && admission.errors.is_empty(),
            "{admission:?}"
        );
        let mut bad = event.clone();
        bad["series"]["count"] = json!("two");
        assert_eq!(schema.admit(&mut bad, None).errors[0].field, "series.count");

        let core = CompiledSchema::new(&builtin_schema("", "v1", "Event").unwrap()).unwrap();
        let mut e = json!({"metadata": {"name": "e"}, "involvedObject": {"kind": "Secret", "name": "s"},
            "reason": "Created", "message": "m", "type": "Normal", "count": 1,
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z",
            "source": {"component": "mendix-operator"}});
        let admission = core.admit(&mut e, None);
        assert!(
            admission.pruned.is_empty() && admission.errors.is_empty(),
            "{admission:?}"
        );
        let mut missing = json!({"metadata": {"name": "e"}});
        assert_eq!(
            core.admit(&mut missing, None).errors[0].message,
            "involvedObject: Required value"
        );
    }
}
