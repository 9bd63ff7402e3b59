//! Walks over objects guided by their merge [`Shape`]: the field set an object sets, the
//! comparison of two versions, the apply merge and the removal of owned items. These are the
//! structured-merge-diff operations server-side apply is built from.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, PathElement};
use super::schema::{ListKind, Shape};

/// An object that cannot be addressed by field paths, e.g. an associative-list item without
/// its key fields. `path` is printed as kube-apiserver prints field paths.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ShapeError {
    pub path: String,
    pub reason: String,
}

/// How a node is walked: as one leaf, or element by element.
enum Node<'v> {
    Leaf,
    Object(&'v Map<String, Value>),
    List(&'v [Value]),
}

/// Decides how to walk `value` of shape `shape`: granular objects and set/map lists are walked
/// element by element, everything else (scalars, atomic lists and maps, type mismatches) is a leaf.
fn node<'v>(shape: &Shape, value: &'v Value) -> Node<'v> {
    match (shape, value) {
        (Shape::Object { atomic: false, .. } | Shape::Untyped, Value::Object(map)) => {
            Node::Object(map)
        }
        (
            Shape::List {
                kind: ListKind::Set | ListKind::Map(_),
                ..
            },
            Value::Array(items),
        ) => Node::List(items),
        _ => Node::Leaf,
    }
}

/// The path element of a list item: `k:` for map-lists, `v:` for sets.
fn item_element(
    shape: &Shape,
    item: &Value,
    path: &[PathElement],
) -> Result<PathElement, ShapeError> {
    match shape {
        Shape::List {
            kind: ListKind::Map(keys),
            key_defaults,
            ..
        } => PathElement::key_of_with_defaults(item, keys, key_defaults).ok_or_else(|| ShapeError {
            path: super::fieldset::path_string(path),
            // The item itself is not quoted: it may hold secret values.
            reason: format!(
                "associative list with keys {keys:?} has an element that omits a key field or has a non-scalar key"
            ),
        }),
        _ => Ok(PathElement::value_of(item)),
    }
}

/// Indexes list items by element, keeping the first of duplicates.
fn index_items<'v>(
    shape: &Shape,
    items: &'v [Value],
    path: &[PathElement],
    reject_duplicates: bool,
) -> Result<(Vec<PathElement>, HashMap<PathElement, &'v Value>), ShapeError> {
    let mut order = Vec::with_capacity(items.len());
    let mut by_element = HashMap::with_capacity(items.len());
    for item in items {
        let pe = item_element(shape, item, path)?;
        if by_element.contains_key(&pe) {
            if reject_duplicates {
                return Err(ShapeError {
                    path: super::fieldset::path_string(path),
                    reason: format!("duplicate entries for {pe}"),
                });
            }
            continue;
        }
        by_element.insert(pe.clone(), item);
        order.push(pe);
    }
    Ok((order, by_element))
}

/// The fields an object sets, as the owner of exactly this object would own them: every leaf,
/// every list item, and objects that are empty, null or keys of free-form maps.
/// Duplicate list items are an error here (an applied configuration must be unambiguous).
pub(crate) fn to_field_set(value: &Value, shape: &Shape) -> Result<FieldSet, ShapeError> {
    field_set(value, shape, true)
}

/// [`to_field_set`] for stored objects, which may hold duplicate items written by plain
/// updates: the first of duplicates counts, as structured-merge-diff tolerates them there.
pub(crate) fn to_live_field_set(value: &Value, shape: &Shape) -> Result<FieldSet, ShapeError> {
    field_set(value, shape, false)
}

fn field_set(value: &Value, shape: &Shape, strict: bool) -> Result<FieldSet, ShapeError> {
    let mut set = FieldSet::new();
    let mut path = Vec::new();
    collect_fields(value, shape, &mut path, &mut set, strict)?;
    set.prune_empty();
    Ok(set)
}

fn collect_fields(
    value: &Value,
    shape: &Shape,
    path: &mut Vec<PathElement>,
    set: &mut FieldSet,
    strict: bool,
) -> Result<(), ShapeError> {
    match node(shape, value) {
        Node::Leaf => set.insert(path),
        Node::Object(map) => {
            for (key, child) in map {
                let (child_shape, declared) = shape.field(key);
                path.push(PathElement::Field(key.clone()));
                collect_fields(child, child_shape, path, set, strict)?;
                let empty_object = child.as_object().is_some_and(Map::is_empty);
                if child.is_null() || empty_object || !declared {
                    set.insert(path);
                }
                path.pop();
            }
        }
        Node::List(items) => {
            let (order, by_element) = index_items(shape, items, path, strict)?;
            for pe in order {
                path.push(pe.clone());
                collect_fields(by_element[&pe], shape.items(), path, set, strict)?;
                set.insert(path);
                path.pop();
            }
        }
    }
    Ok(())
}

/// What changed between two versions of an object, path by path.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

impl Comparison {
    pub fn is_same(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }

    /// Forgets changes at or below `ignored` (fields a subresource resets).
    pub fn exclude(&mut self, ignored: &FieldSet) {
        self.added = self.added.recursive_difference(ignored);
        self.modified = self.modified.recursive_difference(ignored);
        self.removed = self.removed.recursive_difference(ignored);
    }
}

/// Compares `old` with `new`: leaves that appeared, changed or disappeared, and granular
/// objects and list items that appeared or disappeared.
pub(crate) fn compare(old: &Value, new: &Value, shape: &Shape) -> Result<Comparison, ShapeError> {
    let mut c = Comparison::default();
    let mut path = Vec::new();
    compare_node(Some(old), Some(new), shape, &mut path, &mut c)?;
    Ok(c)
}

fn compare_node(
    old: Option<&Value>,
    new: Option<&Value>,
    shape: &Shape,
    path: &mut Vec<PathElement>,
    c: &mut Comparison,
) -> Result<(), ShapeError> {
    let old_node = old.map(|v| node(shape, v));
    let new_node = new.map(|v| node(shape, v));
    match (old_node, new_node) {
        (Some(Node::Object(a)), Some(Node::Object(b))) => {
            compare_objects(Some(a), Some(b), shape, path, c)?
        }
        (Some(Node::Object(a)), None) => compare_objects(Some(a), None, shape, path, c)?,
        (None, Some(Node::Object(b))) => compare_objects(None, Some(b), shape, path, c)?,
        (Some(Node::List(a)), Some(Node::List(b))) => {
            compare_lists(Some(a), Some(b), shape, path, c)?
        }
        (Some(Node::List(a)), None) => compare_lists(Some(a), None, shape, path, c)?,
        (None, Some(Node::List(b))) => compare_lists(None, Some(b), shape, path, c)?,
        // Leaves, and a node that changed its type (walked as one leaf).
        _ => {
            match (old, new) {
                (None, Some(_)) => c.added.insert(path),
                (Some(_), None) => c.removed.insert(path),
                (Some(a), Some(b)) if a != b => c.modified.insert(path),
                _ => {}
            }
            return Ok(());
        }
    }
    // A granular node itself appears or disappears (the root is never a member).
    match (old, new) {
        (None, Some(_)) => c.added.insert(path),
        (Some(_), None) => c.removed.insert(path),
        _ => {}
    }
    Ok(())
}

fn compare_objects(
    old: Option<&Map<String, Value>>,
    new: Option<&Map<String, Value>>,
    shape: &Shape,
    path: &mut Vec<PathElement>,
    c: &mut Comparison,
) -> Result<(), ShapeError> {
    let keys: Vec<&String> = {
        let mut seen = HashSet::new();
        old.into_iter()
            .flat_map(|m| m.keys())
            .chain(new.into_iter().flat_map(|m| m.keys()))
            .filter(|k| seen.insert(*k))
            .collect()
    };
    for key in keys {
        let (child_shape, _) = shape.field(key);
        path.push(PathElement::Field(key.clone()));
        compare_node(
            old.and_then(|m| m.get(key)),
            new.and_then(|m| m.get(key)),
            child_shape,
            path,
            c,
        )?;
        path.pop();
    }
    Ok(())
}

fn compare_lists(
    old: Option<&[Value]>,
    new: Option<&[Value]>,
    shape: &Shape,
    path: &mut Vec<PathElement>,
    c: &mut Comparison,
) -> Result<(), ShapeError> {
    let (old_order, old_items) = index_items(shape, old.unwrap_or(&[]), path, false)?;
    let (new_order, new_items) = index_items(shape, new.unwrap_or(&[]), path, false)?;
    let mut seen = HashSet::new();
    for pe in old_order.iter().chain(new_order.iter()) {
        if !seen.insert(pe) {
            continue;
        }
        // Set items compare as leaves, map-list items as objects that appear or disappear.
        path.push(pe.clone());
        compare_node(
            old_items.get(pe).copied(),
            new_items.get(pe).copied(),
            shape.items(),
            path,
            c,
        )?;
        path.pop();
    }
    Ok(())
}

/// Merges an applied configuration into the live object: granular objects key by key,
/// associative lists item by item, everything else taken from the configuration.
pub(crate) fn merge(live: &Value, config: &Value, shape: &Shape) -> Result<Value, ShapeError> {
    let mut path = Vec::new();
    merge_node(live, config, shape, &mut path)
}

fn merge_node(
    live: &Value,
    config: &Value,
    shape: &Shape,
    path: &mut Vec<PathElement>,
) -> Result<Value, ShapeError> {
    match (node(shape, live), node(shape, config)) {
        (Node::Object(l), Node::Object(r)) => {
            let mut out = l.clone();
            for (key, value) in r {
                // An applied `null` unsets the field (and the applier owns its absence).
                if value.is_null() {
                    out.remove(key);
                    continue;
                }
                let (child_shape, _) = shape.field(key);
                let merged = match l.get(key) {
                    Some(existing) => {
                        path.push(PathElement::Field(key.clone()));
                        let merged = merge_node(existing, value, child_shape, path)?;
                        path.pop();
                        merged
                    }
                    None => value.clone(),
                };
                out.insert(key.clone(), merged);
            }
            Ok(Value::Object(out))
        }
        (Node::List(l), Node::List(r)) => merge_lists(l, r, shape, path),
        _ => Ok(config.clone()),
    }
}

/// The item order structured-merge-diff produces: live items stay where they are, the items the
/// configuration shares with live follow the configuration's order, and new items go after
/// the shared item that precedes them in the configuration.
fn merge_lists(
    live: &[Value],
    config: &[Value],
    shape: &Shape,
    path: &mut Vec<PathElement>,
) -> Result<Value, ShapeError> {
    let (rhs, rhs_items) = index_items(shape, config, path, true)?;
    let (lhs, lhs_items) = index_items(shape, live, path, false)?;
    let mut shared: std::collections::VecDeque<&PathElement> = rhs
        .iter()
        .filter(|pe| lhs_items.contains_key(*pe))
        .collect();
    let mut next_shared = shared.pop_front();
    let mut merged_rhs = HashSet::new();
    let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
    let (mut li, mut ri) = (0, 0);
    let merge_item = |pe: &PathElement, path: &mut Vec<PathElement>| -> Result<Value, ShapeError> {
        let config_item = rhs_items[pe];
        match lhs_items.get(pe) {
            Some(live_item) => {
                path.push(pe.clone());
                let merged = merge_node(live_item, config_item, shape.items(), path)?;
                path.pop();
                Ok(merged)
            }
            None => Ok(config_item.clone()),
        }
    };
    while li < lhs.len() || ri < rhs.len() {
        if li < lhs.len() && ri < rhs.len() {
            let pe = &lhs[li];
            if *pe == rhs[ri] {
                merged_rhs.insert(pe.clone());
                out.push(merge_item(pe, path)?);
                li += 1;
                ri += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if rhs_items.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                // A shared item, but not the one due in this round.
                li += 1;
                continue;
            }
        }
        if li < lhs.len() {
            let pe = &lhs[li];
            if !rhs_items.contains_key(pe) {
                out.push(lhs_items[pe].clone());
                li += 1;
                continue;
            }
            if merged_rhs.contains(pe) {
                li += 1;
                continue;
            }
        }
        if ri < rhs.len() {
            let pe = &rhs[ri];
            merged_rhs.insert(pe.clone());
            out.push(merge_item(pe, path)?);
            ri += 1;
            if next_shared.is_some_and(|n| n == pe) {
                next_shared = shared.pop_front();
            }
        }
    }
    Ok(Value::Array(out))
}

/// Removes every path of `set` from `value` (with everything below it). Paths below atomic
/// nodes cannot be addressed and are left alone.
pub(crate) fn remove_items(value: &Value, set: &FieldSet, shape: &Shape) -> Value {
    if set.is_empty() {
        return value.clone();
    }
    match node(shape, value) {
        Node::Object(map) => {
            let mut out = Map::new();
            for (key, child) in map {
                let pe = PathElement::Field(key.clone());
                if set.has_member(&pe) {
                    continue;
                }
                let kept = match set.child(&pe) {
                    Some(below) => remove_items(child, below, shape.field(key).0),
                    None => child.clone(),
                };
                out.insert(key.clone(), kept);
            }
            Value::Object(out)
        }
        Node::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                // Items that cannot be addressed cannot be in the set either.
                let Ok(pe) = item_element(shape, item, &[]) else {
                    out.push(item.clone());
                    continue;
                };
                if set.has_member(&pe) {
                    continue;
                }
                out.push(match set.child(&pe) {
                    Some(below) => remove_items(item, below, shape.items()),
                    None => item.clone(),
                });
            }
            Value::Array(out)
        }
        Node::Leaf => value.clone(),
    }
}

/// Adds as members the declared struct fields that only appear as parents in `set`, so that
/// owning `spec.a.b` also counts as owning the struct `spec.a` (but not a free-form map key).
pub(crate) fn ensure_named_fields(set: &FieldSet, shape: &Shape) -> FieldSet {
    let mut out = FieldSet::new();
    for pe in set.members() {
        out.insert_member(pe.clone());
    }
    for (pe, child) in set.child_entries() {
        let child_shape = match pe {
            PathElement::Field(name) => {
                let (child_shape, declared) = shape.field(name);
                if declared {
                    out.insert_member(pe.clone());
                }
                child_shape
            }
            _ => shape.items(),
        };
        *out.child_mut(pe.clone()) = ensure_named_fields(child, child_shape);
    }
    out.prune_empty();
    out
}

#[cfg(test)]
mod tests {
    use super::super::schema::ListTypes;
    use super::*;
    use serde_json::json;

    fn types() -> ListTypes {
        ListTypes::from_openapi_v3(&json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "replicas": {"type": "integer"},
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "properties": {
                              "name": {"type": "string"}, "port": {"type": "integer"}}}},
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "args": {"type": "array", "items": {"type": "string"}},
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
                "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                             "additionalProperties": {"type": "string"}},
                "nested": {"type": "object", "properties": {"a": {"type": "object", "properties": {
                    "b": {"type": "string"}}}}}}}}}))
    }

    fn fields(doc: Value) -> FieldSet {
        FieldSet::from_fields_v1(&doc).unwrap()
    }

    #[test]
    fn field_set_of_an_applied_object() {
        let obj = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "n", "labels": {"app": "a"}},
            "spec": {"replicas": 2, "ports": [{"name": "http", "port": 80}], "tags": ["a", "b"],
                     "args": ["x"], "env": {"K": "V"}, "selector": {"app": "a"}, "nested": {}}});
        let set = to_field_set(&obj, &types().root).unwrap();
        assert_eq!(
            set.to_fields_v1(),
            json!({"f:apiVersion": {}, "f:kind": {},
                   "f:metadata": {"f:name": {}, "f:labels": {"f:app": {}}},
                   "f:spec": {"f:replicas": {}, "f:args": {}, "f:selector": {}, "f:nested": {},
                              "f:env": {"f:K": {}},
                              "f:tags": {"v:\"a\"": {}, "v:\"b\"": {}},
                              "f:ports": {"k:{\"name\":\"http\"}": {".": {}, "f:name": {}, "f:port": {}}}}})
        );
    }

    #[test]
    fn field_set_rejects_items_without_keys_and_duplicates() {
        let types = types();
        let missing = json!({"spec": {"ports": [{"port": 80, "token": "s3cr3t"}]}});
        let err = to_field_set(&missing, &types.root).unwrap_err();
        assert_eq!(err.path, ".spec.ports");
        assert!(
            !err.to_string().contains("s3cr3t"),
            "values stay out of errors: {err}"
        );
        let dup = json!({"spec": {"ports": [{"name": "a"}, {"name": "a"}]}});
        assert!(
            to_field_set(&dup, &types.root)
                .unwrap_err()
                .reason
                .contains("duplicate")
        );
    }

    #[test]
    fn key_fields_left_out_take_their_schema_default() {
        let types = ListTypes::from_openapi_v3(&json!({"type": "object", "properties": {
            "ports": {"type": "array", "x-kubernetes-list-type": "map",
                      "x-kubernetes-list-map-keys": ["port", "protocol"],
                      "items": {"type": "object", "properties": {
                          "port": {"type": "integer"},
                          "protocol": {"type": "string", "default": "TCP"}}}}}}));
        let set = to_field_set(&json!({"ports": [{"port": 80}]}), &types.root).unwrap();
        assert_eq!(
            set.to_fields_v1(),
            json!({"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}}})
        );
        // The defaulted item and the explicit one are the same item.
        let merged = merge(
            &json!({"ports": [{"port": 80, "protocol": "TCP", "name": "http"}]}),
            &json!({"ports": [{"port": 80}]}),
            &types.root,
        )
        .unwrap();
        assert_eq!(
            merged,
            json!({"ports": [{"port": 80, "protocol": "TCP", "name": "http"}]})
        );
    }

    #[test]
    fn stored_objects_may_hold_duplicates() {
        let dup = json!({"spec": {"ports": [{"name": "a", "port": 1}, {"name": "a", "port": 2}]}});
        let set = to_live_field_set(&dup, &types().root).unwrap();
        assert!(set.contains(&[
            PathElement::field("spec"),
            PathElement::field("ports"),
            PathElement::Key(vec![("name".into(), "\"a\"".into())])
        ]));
    }

    #[test]
    fn untyped_objects_own_every_key() {
        let set = to_field_set(
            &json!({"spec": {"a": {"b": 1}, "l": [1, 2]}}),
            &ListTypes::untyped().root,
        )
        .unwrap();
        assert_eq!(
            set.to_fields_v1(),
            json!({"f:spec": {".": {}, "f:a": {".": {}, "f:b": {}}, "f:l": {}}})
        );
    }

    #[test]
    fn comparison_reports_added_modified_removed() {
        let old = json!({"spec": {"replicas": 1, "ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}],
                                  "tags": ["x"], "env": {"K": "V"}}});
        let new = json!({"spec": {"replicas": 2, "ports": [{"name": "a", "port": 1}, {"name": "c", "port": 3}],
                                  "tags": ["x", "y"], "selector": {"app": "z"}}});
        let c = compare(&old, &new, &types().root).unwrap();
        assert_eq!(
            c.modified.to_fields_v1(),
            json!({"f:spec": {"f:replicas": {}}})
        );
        assert_eq!(
            c.added.to_fields_v1(),
            json!({"f:spec": {"f:selector": {}, "f:tags": {"v:\"y\"": {}},
                   "f:ports": {"k:{\"name\":\"c\"}": {".": {}, "f:name": {}, "f:port": {}}}}})
        );
        assert_eq!(
            c.removed.to_fields_v1(),
            json!({"f:spec": {"f:env": {".": {}, "f:K": {}},
                   "f:ports": {"k:{\"name\":\"b\"}": {".": {}, "f:name": {}, "f:port": {}}}}})
        );
        assert!(compare(&new, &new, &types().root).unwrap().is_same());
    }

    #[test]
    fn merge_follows_list_types() {
        let live = json!({"spec": {"replicas": 1, "args": ["a", "b"], "tags": ["x", "y"],
            "ports": [{"name": "a", "port": 1, "extra": true}, {"name": "b", "port": 2}],
            "env": {"K": "V"}, "selector": {"a": "1", "b": "2"}}});
        let config = json!({"spec": {"replicas": 3, "args": ["c"], "tags": ["z"],
            "ports": [{"name": "a", "port": 10}, {"name": "c", "port": 3}],
            "env": {"L": "W"}, "selector": {"c": "3"}}});
        let out = merge(&live, &config, &types().root).unwrap();
        assert_eq!(
            out,
            json!({"spec": {"replicas": 3, "args": ["c"], "tags": ["x", "y", "z"],
            "ports": [{"name": "a", "port": 10, "extra": true}, {"name": "b", "port": 2}, {"name": "c", "port": 3}],
            "env": {"K": "V", "L": "W"}, "selector": {"c": "3"}}})
        );
    }

    #[test]
    fn merge_unsets_fields_applied_as_null() {
        let out = merge(
            &json!({"spec": {"replicas": 1, "image": "a"}}),
            &json!({"spec": {"replicas": null}}),
            &types().root,
        )
        .unwrap();
        assert_eq!(out, json!({"spec": {"image": "a"}}));
    }

    /// Traced by hand through structured-merge-diff's `visitListItems`: live-only items keep
    /// their place, shared items come in the configuration's order, new ones after them.
    #[test]
    fn merge_orders_shared_items_as_the_configuration() {
        let t = types();
        let live = json!({"spec": {"tags": ["a", "b", "c", "d"]}});
        let config = json!({"spec": {"tags": ["c", "new", "a"]}});
        let out = merge(&live, &config, &t.root).unwrap();
        assert_eq!(out["spec"]["tags"], json!(["b", "c", "d", "new", "a"]));
    }

    #[test]
    fn remove_items_drops_members_and_their_subtrees() {
        let obj = json!({"spec": {"replicas": 1, "ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}],
                                  "tags": ["x", "y"], "env": {"K": "V", "L": "W"}}});
        let set = fields(
            json!({"f:spec": {"f:replicas": {}, "f:tags": {"v:\"x\"": {}},
            "f:env": {"f:K": {}}, "f:ports": {"k:{\"name\":\"a\"}": {}, "k:{\"name\":\"b\"}": {"f:port": {}}}}}),
        );
        let out = remove_items(&obj, &set, &types().root);
        assert_eq!(
            out,
            json!({"spec": {"ports": [{"name": "b"}], "tags": ["y"], "env": {"L": "W"}}})
        );
    }

    #[test]
    fn ensure_named_fields_marks_struct_parents_only() {
        let set =
            fields(json!({"f:spec": {"f:nested": {"f:a": {"f:b": {}}}, "f:env": {"f:K": {}}}}));
        let out = ensure_named_fields(&set, &types().root);
        assert_eq!(
            out.to_fields_v1(),
            json!({"f:spec": {".": {}, "f:nested": {".": {}, "f:a": {".": {}, "f:b": {}}},
                              "f:env": {".": {}, "f:K": {}}}})
        );
        // Keys of free-form (untyped) maps are never named fields.
        let untyped = fields(json!({"f:spec": {"f:extra": {"f:x": {"f:y": {}}}}}));
        let out = ensure_named_fields(&untyped, &ListTypes::untyped().root);
        assert_eq!(out, untyped);
    }
}
