//! Validation ratcheting (kube-apiserver's `CRDValidationRatcheting`, on by default since 1.30):
//! on update, an error about a value the update did not change is not reported, so that making a
//! schema stricter does not lock existing objects. Values are paired with their old selves
//! through object fields and `map` list keys; items of other lists cannot be paired, and
//! duplicate-item errors are never ratcheted.

use super::errors::{FieldError, FieldErrorKind};
use super::node::{Additional, ListType, Node, Segment, path_segments};
use super::validate::json_eq;
use serde_json::Value;

/// Whether `error` is about a value that `new` and `old` hold unchanged.
pub(crate) fn is_ratcheted(root: &Node, error: &FieldError, new: &Value, old: &Value) -> bool {
    if error.kind == FieldErrorKind::Duplicate {
        return false;
    }
    // A missing required field is the error of the object that lacks it.
    let path = if error.kind == FieldErrorKind::Required {
        parent(&error.field)
    } else {
        error.field.as_str()
    };
    match correlate(root, path, new, old) {
        Some((n, o)) => json_eq(n, o),
        None => false,
    }
}

fn parent(path: &str) -> &str {
    match path.rfind(['.', '[']) {
        Some(i) => &path[..i],
        None => "",
    }
}

/// The value at `path` in `new` and its correlated old value, when both exist.
fn correlate<'a>(
    root: &Node,
    path: &str,
    new: &'a Value,
    old: &'a Value,
) -> Option<(&'a Value, &'a Value)> {
    let mut node = Some(root);
    let (mut n, mut o) = (new, old);
    for segment in path_segments(path) {
        match segment {
            Segment::Field(name) => {
                n = n.get(name)?;
                o = o.get(name)?;
                node = node.and_then(|nd| {
                    nd.properties.get(name).or(match &nd.additional {
                        Additional::Schema(s) => Some(s.as_ref()),
                        _ => None,
                    })
                });
            }
            Segment::Index(i) => {
                let list_node = node?;
                if list_node.list_type != ListType::Map {
                    return None;
                }
                let item = n.as_array()?.get(i)?;
                let key = |v: &Value| -> Vec<Value> {
                    list_node
                        .list_map_keys
                        .iter()
                        .map(|k| v.get(k).cloned().unwrap_or(Value::Null))
                        .collect()
                };
                let k = key(item);
                o = o.as_array()?.iter().find(|old_item| key(old_item) == k)?;
                n = item;
                node = list_node.items.as_deref();
            }
        }
    }
    Some((n, o))
}
