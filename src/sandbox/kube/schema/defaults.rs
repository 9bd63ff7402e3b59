//! Structural defaulting as apiextensions-apiserver does it: a missing property with a `default`
//! gets a copy of it (and defaults inside that copy apply too); a `null` in a non-nullable
//! property is replaced by its default, or dropped when it has none.

use super::node::{Additional, Node};
use serde_json::Value;

pub(crate) fn apply(node: &Node, value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, prop) in &node.properties {
                let is_non_nullable_null =
                    map.get(key).is_some_and(|v| v.is_null() && !prop.nullable);
                if is_non_nullable_null && prop.default.is_none() {
                    map.remove(key);
                    continue;
                }
                if let Some(default) = &prop.default
                    && (!map.contains_key(key) || is_non_nullable_null)
                {
                    map.insert(key.clone(), default.clone());
                }
            }
            for (key, child) in map.iter_mut() {
                if let Some(prop) = node.properties.get(key) {
                    apply(prop, child);
                } else if let Additional::Schema(additional) = &node.additional {
                    apply(additional, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_node) = &node.items {
                for item in items.iter_mut() {
                    apply(item_node, item);
                }
            }
        }
        _ => {}
    }
}
