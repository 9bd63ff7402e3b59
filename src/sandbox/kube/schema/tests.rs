//! Tests of the schema machinery against the real CRDs in `crds/` and small JSON fixtures.

use super::*;
use serde_json::{Value, json};

fn crd(file: &str) -> Value {
    let path = format!("{}/crds/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn compiled(file: &str) -> CompiledSchema {
    let crd = crd(file);
    let kinds = KindSchema::from_crd(&crd);
    assert_eq!(kinds.len(), 1);
    CompiledSchema::new(&kinds[0].schema).unwrap_or_else(|e| panic!("{file}: {e:?}"))
}

fn environment_schema() -> CompiledSchema {
    compiled("mendixenvironments.yaml")
}

fn package_schema() -> CompiledSchema {
    compiled("mendixpackages.yaml")
}

fn environment() -> Value {
    json!({
        "apiVersion": "mendixops.io/v1alpha1",
        "kind": "MendixEnvironment",
        "metadata": {"name": "prod", "namespace": "apps"},
        "spec": {
            "target": {"mendixCloud": {"appId": "calc", "mode": "Production"}},
            "credentialsSecretRef": {"name": "mendix"},
            "packageRef": {"name": "calc-2-5-4"},
            "instances": 2,
            "constants": [{"name": "Module.Url", "value": "https://x"}],
            "scheduledEvents": [{"name": "Module.Cleanup", "enabled": true}],
            "tags": ["a", "b"]
        }
    })
}

fn package() -> Value {
    json!({
        "apiVersion": "mendixops.io/v1alpha1",
        "kind": "MendixPackage",
        "metadata": {"name": "calc-2-5-4", "namespace": "apps"},
        "spec": {
            "target": {"mendixCloud": {"appId": "calc"}},
            "credentialsSecretRef": {"name": "mendix"},
            "source": {"build": {"branch": "main", "revision": "abc123", "version": "2.5.4"}}
        }
    })
}

/// Prune, default and validate, the order of a write.
fn admit(schema: &CompiledSchema, mut obj: Value, old: Option<&Value>) -> (Value, Vec<FieldError>) {
    let admission = schema.admit(&mut obj, old);
    (obj, admission.errors)
}

/// The closing error when CEL rules were skipped because of schema errors.
const BLOCKED: &str = r#"<nil>: Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"#;

fn messages(errors: &[FieldError]) -> Vec<String> {
    errors.iter().map(|e| e.message.clone()).collect()
}

fn set(obj: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer with a parent");
    let target = obj.pointer_mut(parent).expect("parent exists");
    target
        .as_object_mut()
        .expect("parent is an object")
        .insert(key.to_string(), value);
}

fn remove(obj: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer with a parent");
    obj.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .expect("parent is an object")
        .remove(key);
}

#[test]
fn compiled_schema_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CompiledSchema>();
}

#[test]
fn valid_objects_of_both_kinds_pass() {
    let (env, errors) = admit(&environment_schema(), environment(), None);
    assert!(errors.is_empty(), "{:?}", messages(&errors));
    // Defaults applied.
    assert_eq!(env["spec"]["runState"], "Running");
    assert_eq!(env["spec"]["autoSyncDb"], true);
    assert_eq!(env["spec"]["production"], false);

    let (pkg, errors) = admit(&package_schema(), package(), None);
    assert!(errors.is_empty(), "{:?}", messages(&errors));
    assert_eq!(pkg["spec"]["deletionPolicy"], "Retain");

    for source in [
        json!({"upload": {"url": "https://files.example.com/a.mda", "fileName": "a.mda",
                          "sha256": "a".repeat(64)}}),
        json!({"existing": {"packageId": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"}}),
    ] {
        let mut p = package();
        set(&mut p, "/spec/source", source);
        let (_, errors) = admit(&package_schema(), p, None);
        assert!(errors.is_empty(), "{:?}", messages(&errors));
    }
}

#[test]
fn bounds_are_reported_with_the_api_server_wording() {
    let mut env = environment();
    set(&mut env, "/spec/instances", json!(11));
    let (_, errors) = admit(&environment_schema(), env, None);
    assert_eq!(
        messages(&errors),
        vec![
            "spec.instances: Invalid value: 11: spec.instances in body should be less than or equal to 10"
        ]
    );
    assert_eq!(errors[0].kind, FieldErrorKind::Invalid);

    let mut env = environment();
    set(&mut env, "/spec/memoryPerInstance", json!(128));
    let (_, errors) = admit(&environment_schema(), env, None);
    assert_eq!(
        messages(&errors),
        vec![
            "spec.memoryPerInstance: Invalid value: 128: spec.memoryPerInstance in body should be greater than or equal to 256"
        ]
    );
}

#[test]
fn enum_violation_lists_supported_values() {
    let mut env = environment();
    set(&mut env, "/spec/runState", json!("Paused"));
    let (_, errors) = admit(&environment_schema(), env, None);
    assert_eq!(
        messages(&errors),
        vec![
            r#"spec.runState: Unsupported value: "Paused": supported values: "Running", "Stopped""#,
            BLOCKED
        ]
    );
    assert_eq!(errors[0].kind.reason(), "FieldValueNotSupported");
}

#[test]
fn missing_required_fields_are_named() {
    let mut env = environment();
    remove(&mut env, "/spec/credentialsSecretRef");
    remove(&mut env, "/spec/target");
    let (_, errors) = admit(&environment_schema(), env, None);
    let fields: Vec<&str> = errors
        .iter()
        .filter(|e| e.kind == FieldErrorKind::Required)
        .map(|e| e.field.as_str())
        .collect();
    assert_eq!(fields, vec!["spec.credentialsSecretRef", "spec.target"]);
    assert!(messages(&errors).contains(&"spec.target: Required value".to_string()));

    let (_, errors) = admit(
        &environment_schema(),
        json!({"metadata": {"name": "x"}}),
        None,
    );
    assert_eq!(messages(&errors), vec!["spec: Required value", BLOCKED]);
}

#[test]
fn wrong_types_are_reported_and_block_cel() {
    let mut env = environment();
    set(&mut env, "/spec/instances", json!("two"));
    let (_, errors) = admit(&environment_schema(), env, None);
    assert_eq!(errors[0].kind, FieldErrorKind::TypeInvalid);
    assert_eq!(errors[0].kind.reason(), "FieldValueTypeInvalid");
    assert_eq!(
        errors[0].message,
        r#"spec.instances: Invalid value: "two": spec.instances in body must be of type integer: "string""#
    );
    assert!(
        errors[1]
            .message
            .contains("some validation rules were not checked")
    );
    assert_eq!(errors.len(), 2);

    // An integral float is an integer; a fraction is not.
    let mut env = environment();
    set(&mut env, "/spec/instances", json!(2.0));
    let (_, errors) = admit(&environment_schema(), env, None);
    assert!(errors.is_empty(), "{:?}", messages(&errors));
    let mut env = environment();
    set(&mut env, "/spec/instances", json!(2.5));
    assert_eq!(
        admit(&environment_schema(), env, None).1[0].kind,
        FieldErrorKind::TypeInvalid
    );
}

#[test]
fn patterns_and_lengths() {
    let mut env = environment();
    set(
        &mut env,
        "/spec/target/mendixCloud/appId",
        json!("Calc_App"),
    );
    set(&mut env, "/spec/credentialsSecretRef/name", json!(""));
    let (_, errors) = admit(&environment_schema(), env, None);
    assert_eq!(
        messages(&errors),
        vec![
            r#"spec.credentialsSecretRef.name: Invalid value: "": spec.credentialsSecretRef.name in body should be at least 1 chars long"#,
            r#"spec.target.mendixCloud.appId: Invalid value: "Calc_App": spec.target.mendixCloud.appId in body should match '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$'"#,
        ]
    );

    let mut pkg = package();
    set(
        &mut pkg,
        "/spec/source/build/version",
        json!("1.2.3.4.5.6.7.8.9.10.11"),
    );
    let (_, errors) = admit(&package_schema(), pkg, None);
    let long = errors
        .iter()
        .find(|e| e.kind == FieldErrorKind::TooLong)
        .expect("too long");
    assert_eq!(
        long.message,
        "spec.source.build.version: Too long: may not be more than 20 bytes"
    );
    assert_eq!(long.kind.reason(), "FieldValueTooLong");
}

#[test]
fn too_many_items_and_list_uniqueness() {
    let mut env = environment();
    let tags: Vec<Value> = (0..51).map(|i| json!(format!("t{i}"))).collect();
    set(&mut env, "/spec/tags", Value::Array(tags));
    let (_, errors) = admit(&environment_schema(), env, None);
    assert_eq!(
        messages(&errors),
        vec![
            "spec.tags: Too many: 51: must have at most 50 items",
            BLOCKED
        ]
    );
    assert_eq!(errors[0].kind.reason(), "FieldValueTooMany");

    let mut env = environment();
    set(&mut env, "/spec/tags", json!(["a", "b", "a"]));
    set(
        &mut env,
        "/spec/constants",
        json!([{"name": "M.A", "value": "1"}, {"name": "M.A", "value": "2"}]),
    );
    let (_, errors) = admit(&environment_schema(), env, None);
    assert_eq!(
        messages(&errors),
        vec![
            r#"spec.constants[1]: Duplicate value: map[string]interface {}{"name":"M.A"}"#,
            r#"spec.tags[2]: Duplicate value: "a""#,
        ]
    );
    assert!(
        errors
            .iter()
            .all(|e| e.kind.reason() == "FieldValueDuplicate")
    );
}

#[test]
fn nullable_fields_accept_null_and_others_drop_it() {
    let mut env = environment();
    set(&mut env, "/spec/instances", Value::Null); // nullable
    set(&mut env, "/spec/runState", Value::Null); // not nullable, has a default
    set(&mut env, "/spec/credentialsSecretRef", json!({"name": "m"}));
    let (env, errors) = admit(&environment_schema(), env, None);
    assert!(errors.is_empty(), "{:?}", messages(&errors));
    assert_eq!(env["spec"]["instances"], Value::Null);
    assert_eq!(env["spec"]["runState"], "Running");

    // Without the defaulting pass a null in a non-nullable field is a type error.
    let schema = environment_schema();
    let mut env = environment();
    set(&mut env, "/spec/credentialsSecretRef", Value::Null);
    let errors = schema.validate(&env, None);
    assert_eq!(
        errors[0].message,
        r#"spec.credentialsSecretRef: Invalid value: "null": spec.credentialsSecretRef in body must be of type object: "null""#
    );
}

#[test]
fn pruning_drops_unknown_fields_but_keeps_the_envelope() {
    let schema = environment_schema();
    let mut env = environment();
    set(&mut env, "/spec/unknown", json!(1));
    set(&mut env, "/spec/target/mendixCloud/region", json!("eu"));
    set(&mut env, "/spec/constants/0/secret", json!("x"));
    set(&mut env, "/extra", json!({"a": 1}));
    set(&mut env, "/metadata/labels", json!({"a": "b"}));
    set(
        &mut env,
        "/status",
        json!({"phase": "Running", "bogus": true}),
    );
    let pruned = schema.prune(&mut env);
    assert_eq!(
        pruned,
        vec![
            "extra",
            "spec.constants[0].secret",
            "spec.target.mendixCloud.region",
            "spec.unknown",
            "status.bogus",
        ]
    );
    assert_eq!(env["apiVersion"], "mendixops.io/v1alpha1");
    assert_eq!(env["kind"], "MendixEnvironment");
    assert_eq!(env["metadata"]["labels"]["a"], "b");
    assert_eq!(env["status"]["phase"], "Running");
    assert!(schema.prune(&mut env).is_empty());
}

#[test]
fn cel_exactly_one_package_source_on_environment() {
    let mut env = environment();
    set(
        &mut env,
        "/spec/packageId",
        json!("3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
    );
    let (_, errors) = admit(&environment_schema(), env, None);
    assert_eq!(
        messages(&errors),
        vec![
            r#"spec: Invalid value: "object": exactly one of spec.packageRef or spec.packageId must be set"#
        ]
    );
    assert_eq!(errors[0].kind.reason(), "FieldValueInvalid");

    let mut env = environment();
    remove(&mut env, "/spec/packageRef");
    let (_, errors) = admit(&environment_schema(), env, None);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .message
            .contains("exactly one of spec.packageRef or spec.packageId")
    );
}

#[test]
fn cel_exactly_one_target_and_target_specific_fields() {
    let mut env = environment();
    set(
        &mut env,
        "/spec/target/privateCloud",
        json!({"appId": "a", "namespaceId": "n", "environmentId": "e"}),
    );
    let (_, errors) = admit(&environment_schema(), env, None);
    assert_eq!(
        messages(&errors),
        vec![
            r#"spec.target: Invalid value: "object": exactly one of target.mendixCloud or target.privateCloud must be set"#
        ]
    );

    // Private Cloud: no memoryPerInstance, no tags.
    let mut env = environment();
    set(
        &mut env,
        "/spec/target",
        json!({"privateCloud": {"appId": "a", "namespaceId": "n", "environmentId": "e"}}),
    );
    set(&mut env, "/spec/memoryPerInstance", json!(1024));
    let (_, errors) = admit(&environment_schema(), env, None);
    let msgs = messages(&errors);
    assert!(msgs.contains(&r#"spec: Invalid value: "object": spec.memoryPerInstance is only available for Mendix Cloud targets"#.to_string()), "{msgs:?}");
    assert!(msgs.contains(&r#"spec: Invalid value: "object": spec.tags are only available for Mendix Cloud targets"#.to_string()), "{msgs:?}");

    // Mendix Cloud needs at least one instance.
    let mut env = environment();
    set(&mut env, "/spec/instances", json!(0));
    let (_, errors) = admit(&environment_schema(), env, None);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .message
            .contains("spec.instances must be at least 1 on Mendix Cloud")
    );

    // Item-level rule of the constants map list.
    let mut env = environment();
    set(&mut env, "/spec/constants", json!([{"name": "M.A"}]));
    let (_, errors) = admit(&environment_schema(), env, None);
    assert_eq!(
        messages(&errors),
        vec![
            r#"spec.constants[0]: Invalid value: "object": exactly one of value or valueFrom must be set"#
        ]
    );
}

#[test]
fn cel_exactly_one_source_on_package() {
    let mut pkg = package();
    set(
        &mut pkg,
        "/spec/source/existing",
        json!({"packageId": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"}),
    );
    let (_, errors) = admit(&package_schema(), pkg, None);
    assert_eq!(
        messages(&errors),
        vec![
            r#"spec.source: Invalid value: "object": exactly one of source.build, source.upload or source.existing must be set"#
        ]
    );

    let mut pkg = package();
    set(&mut pkg, "/spec/source", json!({}));
    let (_, errors) = admit(&package_schema(), pkg, None);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.contains("exactly one of source.build"));
}

#[test]
fn cel_transition_rules_make_source_and_target_immutable() {
    let schema = package_schema();
    let (old, errors) = admit(&schema, package(), None);
    assert!(errors.is_empty());

    // Unchanged: fine. Other fields may change.
    let mut same = old.clone();
    set(&mut same, "/spec/deletionPolicy", json!("Delete"));
    assert!(admit(&schema, same, Some(&old)).1.is_empty());

    let mut changed = old.clone();
    set(&mut changed, "/spec/source/build/revision", json!("def456"));
    set(
        &mut changed,
        "/spec/target/mendixCloud/appId",
        json!("other"),
    );
    let (_, errors) = admit(&schema, changed.clone(), Some(&old));
    assert_eq!(
        messages(&errors),
        vec![
            r#"spec.source: Invalid value: "object": source is immutable: create a new MendixPackage for a new version"#,
            r#"spec.target: Invalid value: "object": target is immutable: create a new MendixPackage for another app"#,
        ]
    );
    // On create there is no oldSelf: the transition rules do not run.
    assert!(admit(&schema, changed, None).1.is_empty());

    let env_schema = environment_schema();
    let (old_env, _) = admit(&env_schema, environment(), None);
    let mut moved = old_env.clone();
    set(
        &mut moved,
        "/spec/target/mendixCloud/mode",
        json!("Acceptance"),
    );
    let (_, errors) = admit(&env_schema, moved, Some(&old_env));
    assert_eq!(
        messages(&errors),
        vec![
            r#"spec.target: Invalid value: "object": target is immutable: create a new MendixEnvironment for another environment"#
        ]
    );
}

#[test]
fn cel_reasons_and_field_paths_from_rules() {
    let schema = CompiledSchema::new(&json!({
        "type": "object",
        "properties": {"spec": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "x-kubernetes-validations": [
                {"rule": "self.a < 10", "message": "a too big", "reason": "FieldValueForbidden"},
                {"rule": "has(self.b)", "message": "b needed", "reason": "FieldValueRequired", "fieldPath": ".b"},
                {"rule": "self.a != 3", "messageExpression": "'a may not be ' + string(self.a)"}
            ]
        }}
    }))
    .expect("compiles");
    let errors = schema.validate(&json!({"spec": {"a": 3}}), None);
    assert_eq!(
        messages(&errors),
        vec![
            r#"spec: Invalid value: "object": a may not be 3"#,
            "spec.b: Required value: b needed"
        ]
    );
    let errors = schema.validate(&json!({"spec": {"a": 12, "b": 1}}), None);
    assert_eq!(messages(&errors), vec!["spec: Forbidden: a too big"]);
}

#[test]
fn bad_cel_rules_and_bad_schemas_are_refused_at_compile_time() {
    let errors = CompiledSchema::new(&json!({
        "type": "object",
        "properties": {"spec": {"type": "object",
            "x-kubernetes-validations": [{"rule": "self.a ==", "message": "m"}]}}
    }))
    .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].field,
        "openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
    );
    assert!(
        errors[0].message.contains("compilation failed"),
        "{}",
        errors[0].message
    );

    let errors = CompiledSchema::new(&json!({
        "type": "object",
        "properties": {
            "untyped": {"description": "no type"},
            "bad": {"type": "string", "pattern": "(["},
            "list": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}},
                     "x-kubernetes-list-type": "map"},
            "junctor": {"type": "string", "anyOf": [{"type": "integer"}]},
            "weird": {"type": "thing"}
        }
    }))
    .unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "openAPIV3Schema.properties[bad].pattern",
            "openAPIV3Schema.properties[junctor].anyOf[0].type",
            "openAPIV3Schema.properties[list].x-kubernetes-list-map-keys",
            "openAPIV3Schema.properties[untyped].type",
            "openAPIV3Schema.properties[weird].type",
        ],
        "{errors:?}"
    );
    assert!(CompiledSchema::new(&json!({"type": "string"})).is_err());
}

#[test]
fn junctors_int_or_string_and_preserve_unknown_fields() {
    let schema = CompiledSchema::new(&json!({
        "type": "object",
        "properties": {
            "port": {"x-kubernetes-int-or-string": true,
                     "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "mode": {"type": "string", "oneOf": [{"pattern": "^a"}, {"pattern": "b$"}]},
            "all": {"type": "integer", "allOf": [{"minimum": 1}, {"maximum": 5}]},
            "not": {"type": "string", "not": {"enum": ["forbidden"]}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                     "properties": {"known": {"type": "string"}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 3}}
        }
    }))
    .expect("compiles");

    let mut ok = json!({"port": "http", "mode": "ax", "all": 3, "not": "fine",
        "free": {"known": "k", "anything": {"deep": [1, 2]}}, "labels": {"a": "xyz"}});
    assert!(schema.prune(&mut ok).is_empty());
    assert!(
        schema.validate(&ok, None).is_empty(),
        "{:?}",
        messages(&schema.validate(&ok, None))
    );
    assert!(schema.validate(&json!({"port": 8080}), None).is_empty());

    let errors = schema.validate(&json!({"port": true}), None);
    assert_eq!(
        errors[0].message,
        r#"port: Invalid value: true: port in body must be of type integer,string: "boolean""#
    );

    let errors = schema.validate(&json!({"mode": "ab"}), None);
    assert_eq!(
        messages(&errors),
        vec![
            r#"mode: Invalid value: "": "mode" must validate one and only one schema (oneOf). Found 2 valid alternatives"#
        ]
    );
    let errors = schema.validate(&json!({"mode": "zz"}), None);
    assert!(
        errors[0].message.contains("Found none valid"),
        "{:?}",
        messages(&errors)
    );
    assert!(errors.len() >= 2, "best branch's errors are included");

    let errors = schema.validate(&json!({"all": 9}), None);
    assert_eq!(
        messages(&errors),
        vec![
            "all: Invalid value: 9: all in body should be less than or equal to 5",
            r#"all: Invalid value: "": "all" must validate all the schemas (allOf)"#,
        ]
    );
    let errors = schema.validate(&json!({"not": "forbidden"}), None);
    assert_eq!(
        messages(&errors),
        vec![r#"not: Invalid value: "": "not" must not validate the schema (not)"#]
    );
    let errors = schema.validate(&json!({"labels": {"a": "long"}}), None);
    assert_eq!(
        messages(&errors),
        vec!["labels.a: Too long: may not be more than 3 bytes", BLOCKED]
    );

    let mut pruned = json!({"labels": {"a": "x"}, "free": {"x": 1}, "gone": 1});
    assert_eq!(schema.prune(&mut pruned), vec!["gone"]);
}

#[test]
fn formats_and_integer_ranges() {
    let schema = CompiledSchema::new(&json!({
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date-time"},
            "id": {"type": "string", "format": "uuid"},
            "small": {"type": "integer", "format": "int32"},
            "big": {"type": "integer", "format": "int64"},
            "ratio": {"type": "number", "exclusiveMaximum": true, "maximum": 1.5, "multipleOf": 0.5},
            "items": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            "props": {"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}}
        }
    }))
    .expect("compiles");
    let ok = json!({"when": "2026-01-01T10:00:00Z", "id": "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        "small": 2147483647, "big": 9007199254740993i64, "ratio": 1.0, "items": ["x"], "props": {"a": "b"}});
    assert!(
        schema.validate(&ok, None).is_empty(),
        "{:?}",
        messages(&schema.validate(&ok, None))
    );

    let bad = json!({"when": "tomorrow", "id": "nope", "small": 2147483648i64, "ratio": 1.5,
        "items": [], "props": {"a": "b", "c": "d"}});
    let errors = schema.validate(&bad, None);
    assert_eq!(
        messages(&errors),
        vec![
            r#"id: Invalid value: "nope": id in body must be of type uuid: "nope""#,
            "items: Invalid value: 0: items in body should have at least 1 items",
            "props: Too many: 2: must have at most 1 items",
            "ratio: Invalid value: 1.5: ratio in body should be less than 1.5",
            "small: Invalid value: 2147483648: Checked value must be of type integer with format int32 in small",
            r#"when: Invalid value: "tomorrow": when in body must be of type date-time: "tomorrow""#,
            BLOCKED,
        ]
    );
    let errors = schema.validate(&json!({"ratio": 0.7}), None);
    assert_eq!(
        messages(&errors),
        vec!["ratio: Invalid value: 0.7: ratio in body should be a multiple of 0.5"]
    );
}

#[test]
fn defaults_fill_nested_objects_and_list_items() {
    let schema = CompiledSchema::new(&json!({
        "type": "object",
        "properties": {
            "spec": {"type": "object", "default": {},
                "properties": {
                    "replicas": {"type": "integer", "default": 1},
                    "items": {"type": "array", "items": {"type": "object",
                        "properties": {"weight": {"type": "integer", "default": 5}, "n": {"type": "string"}}}},
                    "map": {"type": "object", "additionalProperties": {"type": "object",
                        "properties": {"on": {"type": "boolean", "default": true}}}}
                }}
        }
    }))
    .expect("compiles");
    let mut obj = json!({"metadata": {"name": "x"}});
    schema.apply_defaults(&mut obj);
    assert_eq!(obj["spec"], json!({"replicas": 1}));

    let mut obj =
        json!({"spec": {"replicas": 3, "items": [{"n": "a"}, {"weight": 1}], "map": {"k": {}}}});
    schema.apply_defaults(&mut obj);
    assert_eq!(
        obj["spec"],
        json!({"replicas": 3, "items": [{"n": "a", "weight": 5}, {"weight": 1}], "map": {"k": {"on": true}}})
    );
}

#[test]
fn status_writes_are_validated_too() {
    let schema = environment_schema();
    let mut env = environment();
    set(
        &mut env,
        "/status",
        json!({"phase": "Sleeping", "conditions": [
            {"type": "Ready", "status": "True", "reason": "Converged", "message": "",
             "lastTransitionTime": "2026-01-01T00:00:00Z"},
            {"type": "Ready", "status": "False", "reason": "X", "message": "",
             "lastTransitionTime": "not a time"}
        ]}),
    );
    let (_, errors) = admit(&schema, env, None);
    assert_eq!(
        messages(&errors),
        vec![
            r#"status.conditions[1]: Duplicate value: map[string]interface {}{"type":"Ready"}"#,
            r#"status.conditions[1].lastTransitionTime: Invalid value: "not a time": status.conditions[1].lastTransitionTime in body must be of type date-time: "not a time""#,
            r#"status.phase: Unsupported value: "Sleeping": supported values: "Pending", "WaitingForPackage", "Deploying", "Restarting", "Running", "Stopped", "Failed", "Paused", "null""#,
            BLOCKED,
        ]
    );
}

#[test]
fn kind_schemas_from_crds() {
    let kinds = KindSchema::from_crd(&crd("mendixenvironments.yaml"));
    assert_eq!(kinds.len(), 1);
    let k = &kinds[0];
    assert_eq!(
        (k.group.as_str(), k.version.as_str()),
        ("mendixops.io", "v1alpha1")
    );
    assert_eq!(
        (k.kind.as_str(), k.plural.as_str()),
        ("MendixEnvironment", "mendixenvironments")
    );
    assert!(k.namespaced);
    assert_eq!(
        k.definition_name(),
        "io.mendixops.v1alpha1.MendixEnvironment"
    );
    assert_eq!(k.group_version_path(), "apis/mendixops.io/v1alpha1");
}

#[test]
fn printer_columns_of_the_real_crds_evaluate() {
    let crd = crd("mendixenvironments.yaml");
    let columns = crd["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array()
        .expect("printer columns")
        .clone();
    let mut env = environment();
    set(
        &mut env,
        "/metadata/creationTimestamp",
        json!("2026-01-01T00:00:00Z"),
    );
    set(
        &mut env,
        "/status",
        json!({"phase": "Running", "deployedVersion": "2.5.4", "instances": 2,
               "url": "https://calc.mendixcloud.com",
               "conditions": [{"type": "Reconciling", "status": "False"}, {"type": "Ready", "status": "True"}]}),
    );
    let now = chrono::DateTime::parse_from_rfc3339("2026-01-03T01:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let cells: Vec<(String, Value)> = columns
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap_or_default().to_string();
            let path = c["jsonPath"].as_str().unwrap_or_default();
            let ty = c["type"].as_str().unwrap_or_default();
            let value = printer::evaluate(path, &env);
            (name, printer::cell(ty, value.as_ref(), now))
        })
        .collect();
    assert_eq!(
        cells,
        vec![
            ("Ready".to_string(), json!("True")),
            ("Status".to_string(), json!("Running")),
            ("Version".to_string(), json!("2.5.4")),
            ("Instances".to_string(), json!(2)),
            ("Step".to_string(), Value::Null),
            ("URL".to_string(), json!("https://calc.mendixcloud.com")),
            ("Age".to_string(), json!("2d1h")),
        ]
    );
}

/// Not a timed assertion: prints what one admission (prune, default, validate with CEL) costs,
/// for the sandbox's benchmark notes. Run with `--nocapture` to see it.
#[test]
fn admission_cost_is_printed() {
    let schema = environment_schema();
    let old = admit(&schema, environment(), None).0;
    let n = 2_000;
    let started = std::time::Instant::now();
    for i in 0..n {
        let mut env = environment();
        set(&mut env, "/metadata/name", json!(format!("env-{i}")));
        let (_, errors) = admit(&schema, env, Some(&old));
        assert!(errors.is_empty());
    }
    let per = started.elapsed() / n;
    println!("MendixEnvironment admission (prune+default+validate, update with CEL): {per:?} each");
}

#[test]
fn transition_rules_in_lists_pair_items_like_the_api_server() {
    let schema = CompiledSchema::new(&json!({
        "type": "object",
        "properties": {
            "byKey": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "properties": {"name": {"type": "string"}, "size": {"type": "integer"}},
                          "x-kubernetes-validations": [{"rule": "self.size >= oldSelf.size", "message": "size may only grow"}]}},
            "atomic": {"type": "array",
                "items": {"type": "object", "properties": {"v": {"type": "integer"}},
                          "x-kubernetes-validations": [{"rule": "self.v == oldSelf.v", "message": "v is immutable"}]}}
        }
    }))
    .expect("compiles");
    let old = json!({"byKey": [{"name": "a", "size": 1}, {"name": "b", "size": 5}], "atomic": [{"v": 1}]});

    // Reordered and grown: items are paired by name, not by position; atomic items have no oldSelf.
    let new = json!({"byKey": [{"name": "b", "size": 6}, {"name": "c", "size": 0}, {"name": "a", "size": 1}],
                     "atomic": [{"v": 2}]});
    let errors = schema.validate(&new, Some(&old));
    assert!(errors.is_empty(), "{:?}", messages(&errors));

    // A real shrink of "b" is caught on the right item.
    let new = json!({"byKey": [{"name": "a", "size": 1}, {"name": "b", "size": 4}]});
    let errors = schema.validate(&new, Some(&old));
    assert_eq!(
        messages(&errors),
        vec![r#"byKey[1]: Invalid value: "object": size may only grow"#]
    );
}

#[test]
fn metadata_name_constraints_of_a_crd_schema_apply() {
    let schema = CompiledSchema::new(&json!({
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 5}}},
            "spec": {"type": "object"}
        }
    }))
    .expect("compiles");
    assert!(
        schema
            .validate(
                &json!({"metadata": {"name": "short", "labels": {"x": "y"}}}),
                None
            )
            .is_empty()
    );
    let errors = schema.validate(&json!({"metadata": {"name": "far-too-long"}}), None);
    assert_eq!(
        errors[0].message,
        "metadata.name: Too long: may not be more than 5 bytes"
    );
}

#[test]
fn admit_reports_pruned_fields_and_errors_together() {
    let schema = package_schema();
    let mut pkg = package();
    set(&mut pkg, "/spec/colour", json!("blue"));
    set(&mut pkg, "/spec/deletionPolicy", json!("Shred"));
    let admission = schema.admit(&mut pkg, None);
    assert_eq!(admission.pruned, vec!["spec.colour"]);
    assert_eq!(admission.errors[0].field, "spec.deletionPolicy");
    assert!(pkg["spec"].get("colour").is_none());
    let causes: Vec<Value> = admission.errors.iter().map(FieldError::to_cause).collect();
    assert_eq!(causes[0]["reason"], "FieldValueNotSupported");
    assert_eq!(
        causes[0]["message"],
        r#"Unsupported value: "Shred": supported values: "Retain", "Delete""#
    );
    assert_eq!(
        invalid_status_message(
            "MendixPackage",
            "mendixops.io",
            "calc",
            &admission.errors[..1]
        ),
        r#"MendixPackage.mendixops.io "calc" is invalid: spec.deletionPolicy: Unsupported value: "Shred": supported values: "Retain", "Delete""#
    );
}

#[test]
fn updates_ratchet_errors_on_unchanged_values() {
    let schema = environment_schema();
    // Stored before the schema got stricter: 11 instances and a bad constant name.
    let mut stored = environment();
    set(&mut stored, "/spec/instances", json!(11));
    set(
        &mut stored,
        "/spec/constants",
        json!([{"name": "bad name", "value": "1"}, {"name": "M.B", "value": "2"}]),
    );
    let (stored, errors) = admit(&schema, stored, None);
    assert_eq!(errors.len(), 2, "{:?}", messages(&errors));

    // An update elsewhere (and reordering the map list) is accepted.
    let mut update = stored.clone();
    set(&mut update, "/spec/runState", json!("Stopped"));
    set(
        &mut update,
        "/spec/constants",
        json!([{"name": "M.B", "value": "3"}, {"name": "bad name", "value": "1"}]),
    );
    let (_, errors) = admit(&schema, update.clone(), Some(&stored));
    assert!(errors.is_empty(), "{:?}", messages(&errors));

    // Touching the invalid value reports it again.
    set(&mut update, "/spec/instances", json!(12));
    let (_, errors) = admit(&schema, update, Some(&stored));
    assert_eq!(
        messages(&errors),
        vec![
            "spec.instances: Invalid value: 12: spec.instances in body should be less than or equal to 10"
        ]
    );

    // CEL rules without oldSelf ratchet too: both package sources set before the rule existed.
    let mut both = environment();
    set(
        &mut both,
        "/spec/packageId",
        json!("3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
    );
    let (both, errors) = admit(&schema, both, None);
    assert_eq!(errors.len(), 1);
    let mut update = both.clone();
    set(&mut update, "/spec/runState", json!("Stopped"));
    let (_, errors) = admit(&schema, update, Some(&both));
    assert_eq!(
        messages(&errors),
        vec![
            r#"spec: Invalid value: "object": exactly one of spec.packageRef or spec.packageId must be set"#
        ],
        "spec itself changed, so its rule is evaluated"
    );
    let mut update = both.clone();
    set(&mut update, "/metadata/labels", json!({"a": "b"}));
    let (_, errors) = admit(&schema, update, Some(&both));
    assert!(errors.is_empty(), "{:?}", messages(&errors));
}

#[test]
fn merge_shapes_for_server_side_apply() {
    let schema = environment_schema();
    assert_eq!(
        schema.merge_shape("spec.constants"),
        Some(MergeShape::MapList(vec!["name".into()]))
    );
    assert_eq!(schema.merge_shape("spec.tags"), Some(MergeShape::SetList));
    assert_eq!(
        schema.merge_shape("spec.constants[3]"),
        Some(MergeShape::Object)
    );
    assert_eq!(
        schema.merge_shape("spec.constants[3].name"),
        Some(MergeShape::Scalar)
    );
    assert_eq!(
        schema.merge_shape("status.conditions"),
        Some(MergeShape::MapList(vec!["type".into()]))
    );
    assert_eq!(schema.merge_shape("spec.nothing"), None);
    let atomic = CompiledSchema::new(&json!({"type": "object", "properties": {
        "a": {"type": "object", "x-kubernetes-map-type": "atomic"},
        "l": {"type": "array", "items": {"type": "string"}}}}))
    .expect("compiles");
    assert_eq!(atomic.merge_shape("a"), Some(MergeShape::AtomicObject));
    assert_eq!(atomic.merge_shape("l"), Some(MergeShape::AtomicList));
    assert_eq!(atomic.merge_shape(""), Some(MergeShape::Object));
}

#[test]
fn package_field_rules_each_name_their_field() {
    let schema = package_schema();
    let cases: Vec<(&str, Value, &str, FieldErrorKind)> = vec![
        (
            "/spec/source/build/version",
            json!("2.5"),
            "spec.source.build.version",
            FieldErrorKind::Invalid,
        ),
        (
            "/spec/source/build/revision",
            json!("abc-123"),
            "spec.source.build.revision",
            FieldErrorKind::Invalid,
        ),
        (
            "/spec/source/build/branch",
            json!(""),
            "spec.source.build.branch",
            FieldErrorKind::Invalid,
        ),
        (
            "/spec/target/mendixCloud/appId",
            json!("-calc"),
            "spec.target.mendixCloud.appId",
            FieldErrorKind::Invalid,
        ),
        (
            "/spec/deletionPolicy",
            json!("Keep"),
            "spec.deletionPolicy",
            FieldErrorKind::NotSupported,
        ),
        (
            "/spec/credentialsSecretRef/name",
            json!(7),
            "spec.credentialsSecretRef.name",
            FieldErrorKind::TypeInvalid,
        ),
        (
            "/spec/source/build/description",
            json!("d".repeat(1001)),
            "spec.source.build.description",
            FieldErrorKind::TooLong,
        ),
    ];
    for (pointer, value, field, kind) in cases {
        let mut pkg = package();
        set(&mut pkg, pointer, value);
        let (_, errors) = admit(&schema, pkg, None);
        assert_eq!(errors[0].field, field, "{pointer}: {:?}", messages(&errors));
        assert_eq!(errors[0].kind, kind, "{pointer}: {:?}", messages(&errors));
    }

    let upload_cases: Vec<(Value, &str)> = vec![
        (
            json!({"url": "ftp://x/a.mda", "fileName": "a.mda"}),
            "spec.source.upload.url",
        ),
        (
            json!({"url": "https://x/a.mda", "fileName": "dir/a.mda"}),
            "spec.source.upload.fileName",
        ),
        (
            json!({"url": "https://x/a.mda", "fileName": "a.mda", "sha256": "ABC"}),
            "spec.source.upload.sha256",
        ),
        (
            json!({"url": "https://x/a.mda"}),
            "spec.source.upload.fileName",
        ),
    ];
    for (upload, field) in upload_cases {
        let mut pkg = package();
        set(&mut pkg, "/spec/source", json!({"upload": upload}));
        let (_, errors) = admit(&schema, pkg, None);
        assert_eq!(errors[0].field, field, "{:?}", messages(&errors));
    }

    let mut pkg = package();
    set(
        &mut pkg,
        "/spec/source",
        json!({"existing": {"packageId": "not-a-uuid"}}),
    );
    let (_, errors) = admit(&schema, pkg, None);
    assert_eq!(
        errors[0].message,
        r#"spec.source.existing.packageId: Invalid value: "not-a-uuid": spec.source.existing.packageId in body should match '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'"#
    );

    // Private Cloud target for a package.
    let mut pkg = package();
    set(
        &mut pkg,
        "/spec/target",
        json!({"privateCloud": {"appId": "3f2504e0"}}),
    );
    assert!(admit(&schema, pkg, None).1.is_empty());
    let mut pkg = package();
    set(&mut pkg, "/spec/target", json!({}));
    let (_, errors) = admit(&schema, pkg, None);
    assert_eq!(
        messages(&errors),
        vec![
            r#"spec.target: Invalid value: "object": exactly one of target.mendixCloud or target.privateCloud must be set"#
        ]
    );
}

#[test]
fn closed_objects_refuse_unknown_properties() {
    let schema = CompiledSchema::new(&json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "additionalProperties": false},
                       "n": {"type": "integer"}}
    }))
    .expect("compiles");
    let errors = schema.validate(&json!({"spec": {"b": 1}}), None);
    assert_eq!(
        messages(&errors),
        vec![r#"spec: Invalid value: "b": spec.b in body is a forbidden property"#]
    );
    assert_eq!(errors[0].to_cause()["field"], "spec");
    let blocked = schema.validate(&json!({"n": "one"}), None);
    assert_eq!(blocked[1].to_cause()["field"], "<nil>");
}
