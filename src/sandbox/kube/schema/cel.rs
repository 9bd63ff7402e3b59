//! CEL `x-kubernetes-validations`, compiled once per schema and evaluated with kube-cel (through
//! `kube::core::cel`), including transition rules that see `oldSelf` on update. Failures become
//! field errors the way apiextensions-apiserver words them: the value shown is the schema type
//! (`spec: Invalid value: "object": <message>`), and a rule's `reason` picks the error kind.

use super::errors::{FieldError, FieldErrorKind};
use super::node::{ListType, Node};
use kube::core::cel::{self as kcel, CompilationError, ErrorKind, ValidationError};
use serde_json::Value;

thread_local! {
    // Registering every Kubernetes CEL function costs a little; do it once per thread.
    static VALIDATOR: kcel::Validator = kcel::Validator::new();
}

/// The compiled rules of one schema tree.
pub(crate) struct CelRules {
    compiled: kcel::CompiledSchema,
    any_rules: bool,
}

impl std::fmt::Debug for CelRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CelRules")
            .field("any_rules", &self.any_rules)
            .finish()
    }
}

impl CelRules {
    /// Compiles every rule; a rule that does not compile is reported at
    /// `<path>.x-kubernetes-validations[i].rule` (or `.messageExpression`).
    pub(crate) fn compile(schema: &Value, path: &str, errors: &mut Vec<FieldError>) -> CelRules {
        let compiled = kcel::compile_schema(schema);
        let mut any_rules = false;
        collect_compile_errors(&compiled, schema, path, &mut any_rules, errors);
        CelRules {
            compiled,
            any_rules,
        }
    }

    /// Evaluates the rules against `obj` (and `old` for transition rules).
    pub(crate) fn validate(
        &self,
        root: &Node,
        obj: &Value,
        old: Option<&Value>,
        errors: &mut Vec<FieldError>,
    ) {
        if !self.any_rules {
            return;
        }
        let (obj_raw, old_raw) = (obj, old);
        let obj = cel_view(root, obj);
        let old = old.map(|o| correlate(&self.compiled, root, &obj, &cel_view(root, o)));
        let result = VALIDATOR.with(|v| v.validate_compiled(&self.compiled, &obj, old.as_ref()));
        if let Err(failures) = result {
            for failure in failures.iter() {
                let error = to_field_error(root, failure);
                // Ratcheting: a rule without oldSelf that fails on an unchanged value is not
                // reported on update.
                if let Some(old_raw) = old_raw
                    && !failure.rule.contains("oldSelf")
                    && super::ratchet::is_ratcheted(root, &error, obj_raw, old_raw)
                {
                    continue;
                }
                errors.push(error);
            }
        }
    }
}

/// The old object re-shaped so that kube-cel, which pairs old and new list items by index, pairs
/// them the way the API server does: items of a `map` list by their keys (an item that is new
/// sees itself as `oldSelf`, so transition rules pass for it as the API server skips them), and
/// items of `set` and `atomic` lists not at all. Lists whose own rules use `oldSelf` keep their
/// old value as it is.
fn correlate(compiled: &kcel::CompiledSchema, node: &Node, new: &Value, old: &Value) -> Value {
    match (new, old) {
        (Value::Object(new_map), Value::Object(old_map)) => Value::Object(
            old_map
                .iter()
                .map(|(k, old_child)| {
                    let child = match (
                        new_map.get(k),
                        node.properties.get(k),
                        compiled.properties.get(k),
                    ) {
                        (Some(new_child), Some(n), Some(c)) => {
                            correlate(c, n, new_child, old_child)
                        }
                        _ => match (
                            &node.additional,
                            &compiled.additional_properties,
                            new_map.get(k),
                        ) {
                            (super::node::Additional::Schema(n), Some(c), Some(new_child)) => {
                                correlate(c, n, new_child, old_child)
                            }
                            _ => old_child.clone(),
                        },
                    };
                    (k.clone(), child)
                })
                .collect(),
        ),
        (Value::Array(new_items), Value::Array(old_items)) => {
            let (Some(item_node), Some(item_compiled)) = (&node.items, &compiled.items) else {
                return old.clone();
            };
            if has_transition_rule(compiled) || !subtree_has_transition_rule(item_compiled) {
                return old.clone();
            }
            match node.list_type {
                ListType::Map => {
                    let key = |item: &Value| -> Vec<Value> {
                        node.list_map_keys
                            .iter()
                            .map(|k| item.get(k).cloned().unwrap_or(Value::Null))
                            .collect()
                    };
                    Value::Array(
                        new_items
                            .iter()
                            .map(|new_item| {
                                let k = key(new_item);
                                match old_items.iter().find(|o| key(o) == k) {
                                    Some(old_item) => {
                                        correlate(item_compiled, item_node, new_item, old_item)
                                    }
                                    None => new_item.clone(),
                                }
                            })
                            .collect(),
                    )
                }
                ListType::Set | ListType::Atomic => Value::Array(Vec::new()),
            }
        }
        _ => old.clone(),
    }
}

fn has_transition_rule(compiled: &kcel::CompiledSchema) -> bool {
    compiled
        .validations
        .iter()
        .any(|r| r.as_ref().is_ok_and(|r| r.is_transition_rule))
}

fn subtree_has_transition_rule(compiled: &kcel::CompiledSchema) -> bool {
    has_transition_rule(compiled)
        || compiled
            .properties
            .values()
            .any(subtree_has_transition_rule)
        || compiled
            .items
            .as_deref()
            .is_some_and(subtree_has_transition_rule)
        || compiled
            .additional_properties
            .as_deref()
            .is_some_and(subtree_has_transition_rule)
}

/// The object as CEL should see it: a declared property whose value is `null` is absent (so
/// `has(self.x)` is false for `x: null`, as in the API server), and an integral float in an
/// integer field (`2.0`) is the integer it stands for.
fn cel_view(node: &Node, value: &Value) -> Value {
    match value {
        Value::Object(map) if !node.properties.is_empty() => Value::Object(
            map.iter()
                .filter(|(k, v)| !(v.is_null() && node.properties.contains_key(*k)))
                .map(|(k, v)| {
                    let child = match node.properties.get(k) {
                        Some(prop) => cel_view(prop, v),
                        None => v.clone(),
                    };
                    (k.clone(), child)
                })
                .collect(),
        ),
        Value::Object(map) => match &node.additional {
            super::node::Additional::Schema(additional) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), cel_view(additional, v)))
                    .collect(),
            ),
            _ => value.clone(),
        },
        Value::Array(items) => match &node.items {
            Some(item) => Value::Array(items.iter().map(|v| cel_view(item, v)).collect()),
            None => value.clone(),
        },
        Value::Number(n) if node.ty.as_deref() == Some("integer") && !n.is_i64() && !n.is_u64() => {
            match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Value::from(f as i64),
                _ => value.clone(),
            }
        }
        other => other.clone(),
    }
}

fn to_field_error(root: &Node, failure: &ValidationError) -> FieldError {
    let path = failure.field_path.clone();
    let type_name = root
        .at_path(&path)
        .map(|n| n.type_name().to_string())
        .unwrap_or_else(|| "object".to_string());
    let type_value = Value::String(type_name);
    match failure.kind {
        ErrorKind::ValidationFailure => match failure.reason.as_deref() {
            Some("FieldValueForbidden") => FieldError::forbidden(path, &failure.message),
            Some("FieldValueRequired") => FieldError::required(path, &failure.message),
            Some("FieldValueDuplicate") => FieldError::duplicate(path, &type_value),
            _ => FieldError::invalid(path, &type_value, &failure.message),
        },
        // Evaluation problems are the CRD author's, but the object is still refused: the API
        // server fails closed too.
        _ => FieldError::new(
            path,
            FieldErrorKind::Invalid,
            Some(&type_value),
            &failure.message,
        ),
    }
}

fn collect_compile_errors(
    compiled: &kcel::CompiledSchema,
    schema: &Value,
    path: &str,
    any_rules: &mut bool,
    errors: &mut Vec<FieldError>,
) {
    let rules = schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array);
    for (i, result) in compiled.validations.iter().enumerate() {
        *any_rules = true;
        let rule_path = format!("{path}.x-kubernetes-validations[{i}]");
        let raw = rules.and_then(|r| r.get(i)).cloned().unwrap_or(Value::Null);
        match result {
            Ok(_) => {}
            Err(CompilationError::Parse { source, .. }) => errors.push(FieldError::invalid(
                format!("{rule_path}.rule"),
                raw.get("rule").unwrap_or(&Value::Null),
                &format!("compilation failed: {source}"),
            )),
            Err(CompilationError::MessageExpressionParse { source, .. }) => {
                errors.push(FieldError::invalid(
                    format!("{rule_path}.messageExpression"),
                    raw.get("messageExpression").unwrap_or(&Value::Null),
                    &format!("messageExpression compilation failed: {source}"),
                ))
            }
            Err(other) => errors.push(FieldError::invalid(rule_path, &raw, &other.to_string())),
        }
    }
    for (name, child) in &compiled.properties {
        if let Some(child_schema) = schema.get("properties").and_then(|p| p.get(name)) {
            let p = format!("{path}.properties[{name}]");
            collect_compile_errors(child, child_schema, &p, any_rules, errors);
        }
    }
    if let (Some(items), Some(items_schema)) = (&compiled.items, schema.get("items")) {
        collect_compile_errors(
            items,
            items_schema,
            &format!("{path}.items"),
            any_rules,
            errors,
        );
    }
    if let (Some(additional), Some(additional_schema)) = (
        &compiled.additional_properties,
        schema.get("additionalProperties"),
    ) {
        let p = format!("{path}.additionalProperties");
        collect_compile_errors(additional, additional_schema, &p, any_rules, errors);
    }
    for (key, branches) in [
        ("allOf", &compiled.all_of),
        ("oneOf", &compiled.one_of),
        ("anyOf", &compiled.any_of),
    ] {
        for (i, branch) in branches.iter().enumerate() {
            if let Some(branch_schema) = schema.get(key).and_then(|b| b.get(i)) {
                let p = format!("{path}.{key}[{i}]");
                collect_compile_errors(branch, branch_schema, &p, any_rules, errors);
            }
        }
    }
}
