//! Checks that a CRD schema is structural in the apiextensions/v1 sense. A real API server
//! rejects CRDs whose schema is not, so both our generated CRDs and the Kubernetes sandbox's CRD
//! admission use this one checker.
//!
//! The rules (from the apiextensions-apiserver "structural schema" definition):
//! - every schema node that is not inside a logical junctor has a `type`, unless it carries
//!   `x-kubernetes-int-or-string: true` or `x-kubernetes-preserve-unknown-fields: true`;
//! - no `$ref`, `definitions`, `dependencies`, `additionalItems`, `patternProperties` or
//!   `uniqueItems: true`;
//! - `properties` and `additionalProperties` are not both set;
//! - inside `allOf`, `anyOf`, `oneOf` and `not` there is no `type`, `description`, `default`,
//!   `nullable`, `additionalProperties` or `x-kubernetes-*` field (only value validations).

use serde_json::Value;

const FORBIDDEN_ANYWHERE: &[&str] = &[
    "$ref",
    "definitions",
    "dependencies",
    "additionalItems",
    "patternProperties",
];
const FORBIDDEN_IN_JUNCTOR: &[&str] = &[
    "type",
    "description",
    "default",
    "nullable",
    "additionalProperties",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
];
const JUNCTORS: &[&str] = &["allOf", "anyOf", "oneOf", "not"];

/// Every violation of the structural rules, each naming the path of the offending node.
/// An empty list means the schema is structural.
pub fn violations(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check_node(schema, "openAPIV3Schema", false, &mut out);
    out
}

fn check_node(node: &Value, path: &str, in_junctor: bool, out: &mut Vec<String>) {
    let Some(map) = node.as_object() else {
        out.push(format!("{path}: must be an object"));
        return;
    };
    for key in FORBIDDEN_ANYWHERE {
        if map.contains_key(*key) {
            out.push(format!("{path}.{key}: forbidden in a structural schema"));
        }
    }
    if map.get("uniqueItems") == Some(&Value::Bool(true)) {
        out.push(format!(
            "{path}.uniqueItems: must not be true; use x-kubernetes-list-type: set"
        ));
    }
    if map.contains_key("properties") && map.contains_key("additionalProperties") {
        out.push(format!(
            "{path}: properties and additionalProperties are mutually exclusive"
        ));
    }
    if in_junctor {
        for key in FORBIDDEN_IN_JUNCTOR {
            if map.contains_key(*key) {
                out.push(format!(
                    "{path}.{key}: forbidden inside allOf/anyOf/oneOf/not"
                ));
            }
        }
    } else {
        let flagged = |k: &str| map.get(k) == Some(&Value::Bool(true));
        let has_type = map
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| !t.is_empty());
        if !has_type
            && !flagged("x-kubernetes-int-or-string")
            && !flagged("x-kubernetes-preserve-unknown-fields")
        {
            out.push(format!(
                "{path}.type: must not be empty for specified fields"
            ));
        }
    }
    if let Some(props) = map.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            check_node(
                child,
                &format!("{path}.properties[{name}]"),
                in_junctor,
                out,
            );
        }
    }
    match map.get("items") {
        Some(Value::Array(_)) => out.push(format!("{path}.items: must be a schema, not an array")),
        Some(child) => check_node(child, &format!("{path}.items"), in_junctor, out),
        None => {}
    }
    if let Some(child @ Value::Object(_)) = map.get("additionalProperties") {
        check_node(
            child,
            &format!("{path}.additionalProperties"),
            in_junctor,
            out,
        );
    }
    for junctor in JUNCTORS {
        match map.get(*junctor) {
            Some(Value::Array(branches)) => {
                for (i, branch) in branches.iter().enumerate() {
                    check_node(branch, &format!("{path}.{junctor}[{i}]"), true, out);
                }
            }
            Some(branch @ Value::Object(_)) => {
                check_node(branch, &format!("{path}.{junctor}"), true, out)
            }
            Some(_) => out.push(format!(
                "{path}.{junctor}: must be a schema or a list of schemas"
            )),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_tree_is_structural() {
        let s = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "n": {"type": "integer", "anyOf": [{"minimum": 1}, {"maximum": -1}]},
            "x": {"x-kubernetes-int-or-string": true},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "l": {"type": "array", "items": {"type": "string"}}
        }}}});
        assert_eq!(violations(&s), Vec::<String>::new());
    }

    #[test]
    fn missing_type_is_named_by_path() {
        let s = json!({"type": "object", "properties": {"spec": {"properties": {}}}});
        assert_eq!(
            violations(&s),
            vec!["openAPIV3Schema.properties[spec].type: must not be empty for specified fields"]
        );
    }

    #[test]
    fn refs_and_junctor_metadata_are_rejected() {
        let s = json!({"type": "object", "properties": {
            "a": {"$ref": "#/definitions/x", "type": "object"},
            "b": {"type": "string", "oneOf": [{"type": "string", "description": "no"}]},
            "c": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
            "d": {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}}
        }});
        let v = violations(&s);
        assert!(v.iter().any(|e| e.contains("properties[a].$ref")), "{v:?}");
        assert!(v.iter().any(|e| e.contains("oneOf[0].type")), "{v:?}");
        assert!(
            v.iter().any(|e| e.contains("oneOf[0].description")),
            "{v:?}"
        );
        assert!(v.iter().any(|e| e.contains("uniqueItems")), "{v:?}");
        assert!(v.iter().any(|e| e.contains("mutually exclusive")), "{v:?}");
    }
}
