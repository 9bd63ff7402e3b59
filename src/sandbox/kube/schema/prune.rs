//! Pruning of fields the schema does not declare, as apiextensions-apiserver does on every write:
//! `apiVersion`, `kind` and `metadata` survive at the root and in embedded resources,
//! `x-kubernetes-preserve-unknown-fields` keeps a subtree, `additionalProperties` makes a map.

use super::node::{Additional, Node};
use super::validate::join;
use serde_json::Value;

const ENVELOPE: &[&str] = &["apiVersion", "kind", "metadata"];

/// Drops unknown fields in place and returns their paths (`spec.foo`, `spec.items[0].bar`).
pub(crate) fn prune(node: &Node, value: &mut Value, path: &str, pruned: &mut Vec<String>) {
    prune_node(node, value, path, path.is_empty(), pruned);
}

fn prune_node(node: &Node, value: &mut Value, path: &str, root: bool, pruned: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let keeps_envelope = root || node.embedded_resource;
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let child_path = join(path, &key);
                if keeps_envelope && ENVELOPE.contains(&key.as_str()) {
                    // ObjectMeta is pruned by the API machinery, never by the CRD schema.
                    if key != "metadata"
                        && let (Some(prop), Some(child)) =
                            (node.properties.get(&key), map.get_mut(&key))
                    {
                        prune_node(prop, child, &child_path, false, pruned);
                    }
                    continue;
                }
                if let Some(prop) = node.properties.get(&key) {
                    if let Some(child) = map.get_mut(&key) {
                        prune_node(prop, child, &child_path, false, pruned);
                    }
                } else if let Additional::Schema(additional) = &node.additional {
                    if let Some(child) = map.get_mut(&key) {
                        prune_node(additional, child, &child_path, false, pruned);
                    }
                } else if node.preserve_unknown || matches!(node.additional, Additional::Bool(true))
                {
                    // Unknown fields are kept as they are.
                } else {
                    map.remove(&key);
                    pruned.push(child_path);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_node) = &node.items {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_node(item_node, item, &format!("{path}[{i}]"), false, pruned);
                }
            }
        }
        _ => {}
    }
}
