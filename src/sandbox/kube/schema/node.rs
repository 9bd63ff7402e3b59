//! One node of a structural schema, read once from the `openAPIV3Schema` JSON so that validation,
//! pruning and defaulting never re-parse it. Building the tree also performs the structural
//! checks kube-apiserver makes when a CRD is created (every field typed, patterns that compile,
//! no types inside `allOf`/`anyOf`/`oneOf`/`not`, list-type keys that exist).

use super::errors::FieldError;
use regex::Regex;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What `additionalProperties` allows.
#[derive(Debug, Default)]
pub(crate) enum Additional {
    /// Not given: unknown fields are pruned (or kept with preserve-unknown-fields).
    #[default]
    Unset,
    /// `true`/`false`.
    Bool(bool),
    /// A schema for every map value.
    Schema(Box<Node>),
}

/// `x-kubernetes-list-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ListType {
    #[default]
    Atomic,
    Set,
    Map,
}

#[derive(Debug, Default)]
pub(crate) struct Node {
    pub(crate) ty: Option<String>,
    pub(crate) nullable: bool,
    pub(crate) int_or_string: bool,
    pub(crate) preserve_unknown: bool,
    pub(crate) embedded_resource: bool,
    pub(crate) format: Option<String>,
    pub(crate) enum_values: Option<Vec<Value>>,
    pub(crate) pattern: Option<(String, Regex)>,
    pub(crate) max_length: Option<u64>,
    pub(crate) min_length: Option<u64>,
    pub(crate) maximum: Option<f64>,
    pub(crate) minimum: Option<f64>,
    pub(crate) exclusive_maximum: bool,
    pub(crate) exclusive_minimum: bool,
    pub(crate) multiple_of: Option<f64>,
    pub(crate) max_items: Option<u64>,
    pub(crate) min_items: Option<u64>,
    pub(crate) unique_items: bool,
    pub(crate) max_properties: Option<u64>,
    pub(crate) min_properties: Option<u64>,
    pub(crate) required: Vec<String>,
    pub(crate) properties: BTreeMap<String, Node>,
    pub(crate) additional: Additional,
    pub(crate) items: Option<Box<Node>>,
    pub(crate) all_of: Vec<Node>,
    pub(crate) any_of: Vec<Node>,
    pub(crate) one_of: Vec<Node>,
    pub(crate) not: Option<Box<Node>>,
    pub(crate) list_type: ListType,
    pub(crate) list_map_keys: Vec<String>,
    /// `x-kubernetes-map-type: atomic`.
    pub(crate) atomic_map: bool,
    pub(crate) default: Option<Value>,
}

const TYPES: &[&str] = &["object", "array", "string", "integer", "number", "boolean"];

/// Where a node sits: in the structural part, or inside a value validation (`allOf` ...).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Structural,
    Junctor,
    /// Inside the `anyOf`/`allOf` of an int-or-string node, where `type` may be given.
    IntOrStringJunctor,
}

impl Node {
    /// Reads a schema; `path` names it in errors (`openAPIV3Schema.properties[spec]`).
    pub(crate) fn build(schema: &Value, path: &str, errors: &mut Vec<FieldError>) -> Node {
        Self::build_at(schema, path, Place::Structural, 0, errors)
    }

    fn build_at(
        schema: &Value,
        path: &str,
        place: Place,
        depth: usize,
        errors: &mut Vec<FieldError>,
    ) -> Node {
        let mut node = Node::default();
        let Some(map) = schema.as_object() else {
            errors.push(FieldError::invalid(path, schema, "must be a JSON object"));
            return node;
        };
        if depth > 64 {
            errors.push(FieldError::forbidden(
                path,
                "schema nesting exceeds the maximum depth of 64",
            ));
            return node;
        }
        let child = |name: &str| format!("{path}.{name}");

        node.ty = str_field(map, "type", path, errors);
        if let Some(ty) = &node.ty
            && !TYPES.contains(&ty.as_str())
        {
            let supported: Vec<String> = TYPES.iter().map(|t| t.to_string()).collect();
            errors.push(FieldError::not_supported(
                child("type"),
                &Value::String(ty.clone()),
                &supported,
            ));
        }
        node.nullable = bool_field(map, "nullable");
        node.int_or_string = bool_field(map, "x-kubernetes-int-or-string");
        node.preserve_unknown = bool_field(map, "x-kubernetes-preserve-unknown-fields");
        node.embedded_resource = bool_field(map, "x-kubernetes-embedded-resource");
        node.format = str_field(map, "format", path, errors);
        node.enum_values = map.get("enum").and_then(Value::as_array).cloned();
        if let Some(pattern) = str_field(map, "pattern", path, errors) {
            match Regex::new(&pattern) {
                Ok(re) => node.pattern = Some((pattern, re)),
                Err(e) => errors.push(FieldError::invalid(
                    child("pattern"),
                    &Value::String(pattern.clone()),
                    &format!("must be a valid regular expression, but isn't: {e}"),
                )),
            }
        }
        node.max_length = u64_field(map, "maxLength");
        node.min_length = u64_field(map, "minLength");
        node.maximum = map.get("maximum").and_then(Value::as_f64);
        node.minimum = map.get("minimum").and_then(Value::as_f64);
        node.exclusive_maximum = bool_field(map, "exclusiveMaximum");
        node.exclusive_minimum = bool_field(map, "exclusiveMinimum");
        node.multiple_of = map.get("multipleOf").and_then(Value::as_f64);
        node.max_items = u64_field(map, "maxItems");
        node.min_items = u64_field(map, "minItems");
        node.unique_items = bool_field(map, "uniqueItems");
        node.max_properties = u64_field(map, "maxProperties");
        node.min_properties = u64_field(map, "minProperties");
        node.required = map
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        node.default = map.get("default").cloned();

        if let Some(props) = map.get("properties") {
            match props.as_object() {
                Some(props) => {
                    for (name, prop) in props {
                        let p = format!("{path}.properties[{name}]");
                        let built = Self::build_at(prop, &p, place, depth + 1, errors);
                        node.properties.insert(name.clone(), built);
                    }
                }
                None => errors.push(FieldError::invalid(
                    child("properties"),
                    props,
                    "must be an object of schemas",
                )),
            }
        }
        node.additional = match map.get("additionalProperties") {
            None => Additional::Unset,
            Some(Value::Bool(b)) => Additional::Bool(*b),
            Some(s) => Additional::Schema(Box::new(Self::build_at(
                s,
                &child("additionalProperties"),
                place,
                depth + 1,
                errors,
            ))),
        };
        if let Some(items) = map.get("items") {
            if items.is_array() {
                errors.push(FieldError::forbidden(
                    child("items"),
                    "items must be a schema object and not an array",
                ));
            } else {
                node.items = Some(Box::new(Self::build_at(
                    items,
                    &child("items"),
                    place,
                    depth + 1,
                    errors,
                )));
            }
        }
        for (key, target) in [
            ("allOf", &mut node.all_of),
            ("anyOf", &mut node.any_of),
            ("oneOf", &mut node.one_of),
        ] {
            if let Some(branches) = map.get(key).and_then(Value::as_array) {
                for (i, branch) in branches.iter().enumerate() {
                    let p = format!("{path}.{key}[{i}]");
                    let branch_place = if node.int_or_string || place == Place::IntOrStringJunctor {
                        Place::IntOrStringJunctor
                    } else {
                        Place::Junctor
                    };
                    target.push(Self::build_at(branch, &p, branch_place, depth + 1, errors));
                }
            }
        }
        if let Some(not) = map.get("not") {
            node.not = Some(Box::new(Self::build_at(
                not,
                &child("not"),
                Place::Junctor,
                depth + 1,
                errors,
            )));
        }
        node.list_type = match map.get("x-kubernetes-list-type").and_then(Value::as_str) {
            None | Some("atomic") => ListType::Atomic,
            Some("set") => ListType::Set,
            Some("map") => ListType::Map,
            Some(other) => {
                errors.push(FieldError::not_supported(
                    child("x-kubernetes-list-type"),
                    &Value::String(other.to_string()),
                    &["atomic".into(), "set".into(), "map".into()],
                ));
                ListType::Atomic
            }
        };
        node.list_map_keys = map
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .map(|k| {
                k.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();

        node.atomic_map =
            map.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic");

        node.check_structural(map, path, place, errors);
        node
    }

    /// The structural-schema rules of apiextensions-apiserver that matter for correctness here.
    fn check_structural(
        &self,
        map: &Map<String, Value>,
        path: &str,
        place: Place,
        errors: &mut Vec<FieldError>,
    ) {
        let child = |name: &str| format!("{path}.{name}");
        if place != Place::Structural {
            for key in ["type", "default", "additionalProperties", "nullable"] {
                if key == "type" && place == Place::IntOrStringJunctor {
                    continue;
                }
                if map.contains_key(key) {
                    errors.push(FieldError::forbidden(
                        child(key),
                        "must not be specified inside allOf, anyOf, oneOf or not to be structural",
                    ));
                }
            }
            return;
        }
        if self.ty.is_none() && !self.int_or_string && !self.preserve_unknown {
            errors.push(FieldError::required(
                child("type"),
                "must not be empty for specified object fields",
            ));
        }
        if self.int_or_string && self.ty.is_some() {
            errors.push(FieldError::forbidden(
                child("type"),
                "must be empty if x-kubernetes-int-or-string is true",
            ));
        }
        if !self.properties.is_empty() && !matches!(self.additional, Additional::Unset) {
            errors.push(FieldError::forbidden(
                child("additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        if self.ty.as_deref() == Some("array") && self.items.is_none() {
            errors.push(FieldError::required(
                child("items"),
                "must be specified for type array",
            ));
        }
        match self.list_type {
            ListType::Map => {
                if self.list_map_keys.is_empty() {
                    errors.push(FieldError::required(
                        child("x-kubernetes-list-map-keys"),
                        "must not be empty if x-kubernetes-list-type is map",
                    ));
                }
                if let Some(items) = &self.items {
                    for key in &self.list_map_keys {
                        if !items.properties.contains_key(key) {
                            errors.push(FieldError::invalid(
                                child("x-kubernetes-list-map-keys"),
                                &Value::String(key.clone()),
                                "entries must all be names of item properties",
                            ));
                        }
                    }
                }
            }
            ListType::Atomic | ListType::Set if !self.list_map_keys.is_empty() => {
                errors.push(FieldError::forbidden(
                    child("x-kubernetes-list-map-keys"),
                    "must be empty if x-kubernetes-list-type is not map",
                ));
            }
            _ => {}
        }
    }

    /// The type name kube-apiserver prints as the "value" of a CEL rule failure.
    pub(crate) fn type_name(&self) -> &str {
        match &self.ty {
            Some(t) => t,
            None if self.int_or_string => "string",
            None => "object",
        }
    }

    /// Follows a field path (`spec.constants[0].name`) down the structural part.
    pub(crate) fn at_path(&self, path: &str) -> Option<&Node> {
        let mut node = self;
        for segment in path_segments(path) {
            node = match segment {
                Segment::Field(name) => match node.properties.get(name) {
                    Some(n) => n,
                    None => match &node.additional {
                        Additional::Schema(s) => s,
                        _ => return None,
                    },
                },
                Segment::Index(_) => node.items.as_deref()?,
            };
        }
        Some(node)
    }
}

/// One step of a field path.
pub(crate) enum Segment<'a> {
    Field(&'a str),
    Index(usize),
}

/// Splits `a.b[0].c` / `a[key]` into segments; a bracketed non-number is a map key.
pub(crate) fn path_segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Segment::Field(name));
        }
        for bracket in rest.split('[').filter(|b| !b.is_empty()) {
            let inner = bracket.trim_end_matches(']');
            match inner.parse::<usize>() {
                Ok(i) => out.push(Segment::Index(i)),
                Err(_) => out.push(Segment::Field(inner.trim_matches('\'').trim_matches('"'))),
            }
        }
    }
    out
}

fn bool_field(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn u64_field(map: &Map<String, Value>, key: &str) -> Option<u64> {
    let v = map.get(key)?;
    v.as_u64()
        .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
}

fn str_field(
    map: &Map<String, Value>,
    key: &str,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match map.get(key)? {
        Value::String(s) => Some(s.clone()),
        other => {
            errors.push(FieldError::invalid(
                format!("{path}.{key}"),
                other,
                "must be a string",
            ));
            None
        }
    }
}
