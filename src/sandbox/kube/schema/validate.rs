//! Value validation of an object against its structural schema, with kube-openapi's rules and
//! messages as apiextensions-apiserver turns them into field errors: types, formats, enum,
//! bounds, lengths, item and property counts, `required`, `allOf`/`anyOf`/`oneOf`/`not`, and the
//! `x-kubernetes-list-type` set/map uniqueness. CEL rules are in [`super::cel`].

use super::errors::{FieldError, FieldErrorKind};
use super::formats;
use super::node::{Additional, ListType, Node};
use serde_json::{Map, Value};

/// Fields every object has at its root (and in embedded resources) that the schema may not list.
const OBJECT_ENVELOPE: &[&str] = &["apiVersion", "kind", "metadata"];

/// Validates `value` at `path` (empty for the root) and appends every violation.
pub(crate) fn validate(node: &Node, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    validate_node(node, value, path, path.is_empty(), errors);
}

fn validate_node(node: &Node, value: &Value, path: &str, root: bool, errors: &mut Vec<FieldError>) {
    if value.is_null() {
        if !node.nullable && (node.ty.is_some() || node.int_or_string) {
            let expected = expected_type(node);
            errors.push(type_error(path, value, &expected, "null"));
        }
        // A null value is valid or not by type alone; the value validations do not apply.
        return;
    }

    if !type_matches(node, value) {
        errors.push(type_error(
            path,
            value,
            &expected_type(node),
            json_type(value),
        ));
        return;
    }

    if let Some(enum_values) = &node.enum_values
        && !enum_values.iter().any(|e| json_eq(e, value))
    {
        let supported: Vec<String> = enum_values
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        errors.push(FieldError::not_supported(path, value, &supported));
    }

    match value {
        Value::String(s) => validate_string(node, s, value, path, errors),
        Value::Number(_) => validate_number(node, value, path, errors),
        Value::Array(items) => validate_array(node, items, path, errors),
        Value::Object(map) => validate_object(node, map, path, root, errors),
        _ => {}
    }

    validate_junctors(node, value, path, errors);
}

fn validate_string(node: &Node, s: &str, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let chars = s.chars().count() as u64;
    if let Some(max) = node.max_length
        && chars > max
    {
        errors.push(FieldError::new(
            path,
            FieldErrorKind::TooLong,
            Some(value),
            &format!("may not be more than {max} bytes"),
        ));
    }
    if let Some(min) = node.min_length
        && chars < min
    {
        errors.push(FieldError::invalid(
            path,
            value,
            &format!("{} in body should be at least {min} chars long", path),
        ));
    }
    if let Some((pattern, re)) = &node.pattern
        && !re.is_match(s)
    {
        errors.push(FieldError::invalid(
            path,
            value,
            &format!("{} in body should match '{pattern}'", path),
        ));
    }
    if let Some(format) = &node.format
        && formats::check(format, s) == Some(false)
    {
        errors.push(FieldError::new(
            path,
            FieldErrorKind::TypeInvalid,
            Some(value),
            &format!(
                "{} in body must be of type {format}: {}",
                path,
                super::errors::go_quote(s)
            ),
        ));
    }
}

fn validate_number(node: &Node, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let Some(n) = value.as_f64() else { return };
    let name = path;

    // The brief asks for the integer formats to be range-checked as kube-openapi's
    // IsValueValidAgainstRange does for typed schemas.
    let as_integer = value
        .as_i64()
        .or_else(|| (n.fract() == 0.0 && n.abs() < 9.2e18).then_some(n as i64));
    let out_of_range = match node.format.as_deref() {
        Some("int32") => as_integer.is_none_or(|i| i32::try_from(i).is_err()),
        Some("int64") => as_integer.is_none() && value.as_u64().is_none_or(|u| u > i64::MAX as u64),
        _ => false,
    };
    if out_of_range && let Some(format) = &node.format {
        errors.push(FieldError::invalid(
            path,
            value,
            &format!(
                "Checked value must be of type {} with format {format} in {name}",
                node.ty.as_deref().unwrap_or("integer")
            ),
        ));
    }
    if let Some(max) = node.maximum {
        let failed = if node.exclusive_maximum {
            n >= max
        } else {
            n > max
        };
        if failed {
            let words = if node.exclusive_maximum {
                "should be less than"
            } else {
                "should be less than or equal to"
            };
            errors.push(FieldError::invalid(
                path,
                value,
                &format!("{name} in body {words} {}", bound(value, max)),
            ));
        }
    }
    if let Some(min) = node.minimum {
        let failed = if node.exclusive_minimum {
            n <= min
        } else {
            n < min
        };
        if failed {
            let words = if node.exclusive_minimum {
                "should be greater than"
            } else {
                "should be greater than or equal to"
            };
            errors.push(FieldError::invalid(
                path,
                value,
                &format!("{name} in body {words} {}", bound(value, min)),
            ));
        }
    }
    if let Some(factor) = node.multiple_of
        && factor > 0.0
    {
        let q = n / factor;
        if (q - q.round()).abs() > 1e-9 {
            errors.push(FieldError::invalid(
                path,
                value,
                &format!(
                    "{name} in body should be a multiple of {}",
                    bound(value, factor)
                ),
            ));
        }
    }
}

fn validate_array(node: &Node, items: &[Value], path: &str, errors: &mut Vec<FieldError>) {
    let len = items.len() as u64;
    if let Some(min) = node.min_items
        && len < min
    {
        errors.push(FieldError::invalid(
            path,
            &Value::from(len),
            &format!("{} in body should have at least {min} items", path),
        ));
    }
    if let Some(max) = node.max_items
        && len > max
    {
        errors.push(FieldError::new(
            path,
            FieldErrorKind::TooMany,
            Some(&Value::from(len)),
            &format!("must have at most {max} items"),
        ));
    }
    if node.unique_items && has_duplicates(items) {
        errors.push(FieldError::invalid(
            path,
            &Value::String(String::new()),
            &format!("{} in body shouldn't contain duplicates", path),
        ));
    }
    if let Some(item_node) = &node.items {
        for (i, item) in items.iter().enumerate() {
            validate_node(item_node, item, &format!("{path}[{i}]"), false, errors);
        }
    }
    match node.list_type {
        ListType::Set => {
            for (i, item) in items.iter().enumerate() {
                if items[..i].iter().any(|earlier| json_eq(earlier, item)) {
                    errors.push(FieldError::duplicate(format!("{path}[{i}]"), item));
                }
            }
        }
        ListType::Map => {
            let keys: Vec<Option<Value>> = items
                .iter()
                .map(|item| map_key(item, &node.list_map_keys))
                .collect();
            for (i, key) in keys.iter().enumerate() {
                if let Some(key) = key
                    && keys[..i].iter().flatten().any(|k| json_eq(k, key))
                {
                    errors.push(FieldError::duplicate(format!("{path}[{i}]"), key));
                }
            }
        }
        ListType::Atomic => {}
    }
}

/// The key object of a map-list item (`{"name": "x"}`); `None` when the item is no object.
fn map_key(item: &Value, keys: &[String]) -> Option<Value> {
    let obj = item.as_object()?;
    let mut key = Map::new();
    for k in keys {
        if let Some(v) = obj.get(k) {
            key.insert(k.clone(), v.clone());
        }
    }
    Some(Value::Object(key))
}

fn validate_object(
    node: &Node,
    map: &Map<String, Value>,
    path: &str,
    root: bool,
    errors: &mut Vec<FieldError>,
) {
    let count = map.len() as u64;
    if let Some(min) = node.min_properties
        && count < min
    {
        errors.push(FieldError::invalid(
            path,
            &Value::from(count),
            &format!("{} in body should have at least {min} properties", path),
        ));
    }
    if let Some(max) = node.max_properties
        && count > max
    {
        errors.push(FieldError::new(
            path,
            FieldErrorKind::TooMany,
            Some(&Value::from(count)),
            &format!("must have at most {max} items"),
        ));
    }
    for key in &node.required {
        let envelope = (root || node.embedded_resource) && OBJECT_ENVELOPE.contains(&key.as_str());
        if !map.contains_key(key) && !envelope {
            errors.push(FieldError::required(join(path, key), ""));
        }
    }
    for (key, child) in map {
        let child_path = join(path, key);
        if (root || node.embedded_resource) && key == "metadata" {
            // ObjectMeta is validated by the API machinery; a CRD schema may only constrain
            // `metadata.name` and `metadata.generateName`.
            if let (Some(meta_node), Some(meta)) = (node.properties.get(key), child.as_object()) {
                for field in ["name", "generateName"] {
                    if let (Some(n), Some(v)) = (meta_node.properties.get(field), meta.get(field)) {
                        validate_node(n, v, &join(&child_path, field), false, errors);
                    }
                }
            }
            continue;
        }
        if let Some(prop) = node.properties.get(key) {
            validate_node(prop, child, &child_path, false, errors);
        } else if let Additional::Schema(additional) = &node.additional {
            validate_node(additional, child, &child_path, false, errors);
        } else if matches!(node.additional, Additional::Bool(false))
            && !((root || node.embedded_resource) && OBJECT_ENVELOPE.contains(&key.as_str()))
            && !node.preserve_unknown
        {
            // kube-openapi names the object and shows the key as the value.
            errors.push(FieldError::invalid(
                path,
                &Value::String(key.clone()),
                &format!("{path}.{key} in body is a forbidden property"),
            ));
        }
    }
}

/// `allOf`, `anyOf`, `oneOf` and `not`, with kube-openapi's wording; the errors of the branch
/// that came closest (fewest errors) are reported too, as kube-openapi merges its best failure.
fn validate_junctors(node: &Node, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let quoted = super::errors::go_quote(path);
    let run = |branch: &Node| {
        let mut errs = Vec::new();
        validate_node(branch, value, path, false, &mut errs);
        errs
    };

    if !node.all_of.is_empty() {
        let results: Vec<Vec<FieldError>> = node.all_of.iter().map(run).collect();
        let valid = results.iter().filter(|r| r.is_empty()).count();
        for r in results {
            errors.extend(r);
        }
        if valid != node.all_of.len() {
            let extra = if valid == 0 { ". None validated" } else { "" };
            errors.push(FieldError::invalid(
                path,
                &Value::String(String::new()),
                &format!("{quoted} must validate all the schemas (allOf){extra}"),
            ));
        }
    }
    if !node.any_of.is_empty() {
        let results: Vec<Vec<FieldError>> = node.any_of.iter().map(run).collect();
        if !results.iter().any(Vec::is_empty) {
            errors.push(FieldError::invalid(
                path,
                &Value::String(String::new()),
                &format!("{quoted} must validate at least one schema (anyOf)"),
            ));
            if let Some(best) = results.into_iter().min_by_key(Vec::len) {
                errors.extend(best);
            }
        }
    }
    if !node.one_of.is_empty() {
        let results: Vec<Vec<FieldError>> = node.one_of.iter().map(run).collect();
        let valid = results.iter().filter(|r| r.is_empty()).count();
        if valid != 1 {
            let extra = if valid == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {valid} valid alternatives")
            };
            errors.push(FieldError::invalid(
                path,
                &Value::String(String::new()),
                &format!("{quoted} must validate one and only one schema (oneOf). {extra}"),
            ));
            if valid == 0
                && let Some(best) = results.into_iter().min_by_key(Vec::len)
            {
                errors.extend(best);
            }
        }
    }
    if let Some(not) = &node.not
        && run(not).is_empty()
    {
        errors.push(FieldError::invalid(
            path,
            &Value::String(String::new()),
            &format!("{quoted} must not validate the schema (not)"),
        ));
    }
}

fn type_matches(node: &Node, value: &Value) -> bool {
    if node.int_or_string {
        return value.is_string() || is_integer(value);
    }
    match node.ty.as_deref() {
        None => true,
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("boolean") => value.is_boolean(),
        Some("integer") => is_integer(value),
        Some("number") => value.is_number(),
        Some(_) => true,
    }
}

fn expected_type(node: &Node) -> String {
    if node.int_or_string {
        "integer,string".to_string()
    } else {
        node.ty.clone().unwrap_or_default()
    }
}

fn type_error(path: &str, value: &Value, expected: &str, actual: &str) -> FieldError {
    FieldError::new(
        path,
        FieldErrorKind::TypeInvalid,
        Some(value),
        &format!(
            "{} in body must be of type {expected}: {}",
            path,
            super::errors::go_quote(actual)
        ),
    )
}

/// JSON integers, and floats with no fraction (`1.0`), as kube-openapi accepts them.
pub(crate) fn is_integer(value: &Value) -> bool {
    match value {
        Value::Number(n) => {
            n.is_i64()
                || n.is_u64()
                || n.as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.is_finite())
        }
        _ => false,
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// JSON equality with numbers compared by value (`1 == 1.0`).
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn has_duplicates(items: &[Value]) -> bool {
    items
        .iter()
        .enumerate()
        .any(|(i, item)| items[..i].iter().any(|e| json_eq(e, item)))
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): `10`, `0.5`, `1e+06`.
pub(crate) fn go_float(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return format!("{f}");
    }
    let sci = format!("{f:e}"); // shortest digits, e.g. "1.234567e6"
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// A bound as kube-openapi prints it: integer data against an integral bound prints as an
/// integer (`ExceedsMaximumInt`), anything else as Go's float `%v`.
fn bound(value: &Value, b: f64) -> String {
    if value.as_i64().is_some() && b.fract() == 0.0 && b.abs() < 9.2e18 {
        format!("{}", b as i64)
    } else {
        go_float(b)
    }
}
