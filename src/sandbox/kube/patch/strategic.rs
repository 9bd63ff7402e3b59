//! Strategic merge patch, approximated for the built-in kinds the sandbox serves.
//!
//! kube-apiserver takes the merge strategy of each list from the Go struct tags
//! (`patchStrategy`, `patchMergeKey`); the sandbox has no Go structs, so the few lists of its
//! built-in kinds that merge are in [`list_strategy`] and every other list is replaced, as an
//! untagged list is. Directives: `$patch: replace|delete|merge` on maps and list items,
//! `$retainKeys`, `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>`.
//! Custom resources have no struct tags: the API server answers 415, and so does this.

use kube::core::GroupVersionKind;
use serde_json::{Map, Value};

use super::{PatchError, parse_object_patch};

const CONTENT_TYPE: &str = "application/strategic-merge-patch+json";
const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

/// How a list merges under a strategic merge patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListStrategy {
    Replace,
    /// `patchStrategy:"merge"` on scalars: union.
    MergePrimitives,
    /// `patchStrategy:"merge" patchMergeKey:"…"` on objects.
    MergeByKey(&'static str),
}

/// The merge strategies of the built-in kinds' lists, by field path from the object root.
fn list_strategy(group: &str, kind: &str, path: &[String]) -> ListStrategy {
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    match (group, kind, path.as_slice()) {
        (_, _, ["metadata", "finalizers"]) => ListStrategy::MergePrimitives,
        (_, _, ["metadata", "ownerReferences"]) => ListStrategy::MergeByKey("uid"),
        ("", "Namespace", ["status", "conditions"])
        | ("apiextensions.k8s.io", "CustomResourceDefinition", ["status", "conditions"]) => {
            ListStrategy::MergeByKey("type")
        }
        _ => ListStrategy::Replace,
    }
}

/// Whether the API group is served from Go types (built in), not from a CRD.
fn is_builtin_group(group: &str) -> bool {
    group.is_empty()
        || group.ends_with(".k8s.io")
        || matches!(
            group,
            "apps" | "batch" | "policy" | "autoscaling" | "extensions"
        )
}

/// Applies a strategic merge patch to an object of kind `kind`.
pub fn strategic_merge_patch(
    obj: &Value,
    patch: &[u8],
    kind: &GroupVersionKind,
) -> Result<Value, PatchError> {
    if !is_builtin_group(&kind.group) {
        return Err(PatchError::StrategicMergeUnsupported {
            kind: format!("{}.{}", kind.kind, kind.group),
        });
    }
    let Value::Object(patch) = parse_object_patch(patch, CONTENT_TYPE)? else {
        return Err(malformed("the body must be a JSON object"));
    };
    let original = match obj {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    let merger = Merger { kind };
    let mut path = Vec::new();
    let merged = merger.merge_map(&original, &patch, &mut path)?;
    Ok(Value::Object(merged.unwrap_or_default()))
}

fn malformed(reason: &str) -> PatchError {
    PatchError::Malformed {
        content_type: CONTENT_TYPE,
        reason: reason.to_string(),
    }
}

struct Merger<'a> {
    kind: &'a GroupVersionKind,
}

impl Merger<'_> {
    fn strategy(&self, path: &[String]) -> ListStrategy {
        list_strategy(&self.kind.group, &self.kind.kind, path)
    }

    /// Merges `patch` into `original`; `None` when the patch deletes the map.
    fn merge_map(
        &self,
        original: &Map<String, Value>,
        patch: &Map<String, Value>,
        path: &mut Vec<String>,
    ) -> Result<Option<Map<String, Value>>, PatchError> {
        match patch.get(PATCH) {
            None => {}
            Some(Value::String(d)) if d == "merge" => {}
            Some(Value::String(d)) if d == "delete" => return Ok(None),
            Some(Value::String(d)) if d == "replace" => {
                // The map becomes the patch, with its own directives still honoured.
                let mut rest = patch.clone();
                rest.remove(PATCH);
                return self.merge_map(&Map::new(), &rest, path);
            }
            Some(other) => {
                return Err(PatchError::Unapplicable(format!(
                    "unknown patch type {other} at {}",
                    dotted(path)
                )));
            }
        }
        let mut out = original.clone();
        if let Some(retain) = patch.get(RETAIN_KEYS) {
            let keep = string_list(retain).ok_or_else(|| {
                malformed(&format!(
                    "{RETAIN_KEYS} at {} must be a list of strings",
                    dotted(path)
                ))
            })?;
            out.retain(|k, _| keep.contains(k));
        }
        // Deletions from primitive lists first, orders last, as the API server does.
        for (key, values) in patch {
            let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) else {
                continue;
            };
            let Value::Array(remove) = values else {
                return Err(malformed(&format!("{key} must be a list")));
            };
            if let Some(Value::Array(items)) = out.get_mut(field) {
                items.retain(|item| !remove.contains(item));
            }
        }
        for (key, value) in patch {
            if key == PATCH
                || key == RETAIN_KEYS
                || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
                || key.starts_with(SET_ELEMENT_ORDER)
            {
                continue;
            }
            if value.is_null() {
                out.remove(key);
                continue;
            }
            path.push(key.clone());
            let merged = self.merge_value(out.get(key), value, path)?;
            path.pop();
            match merged {
                Some(v) => {
                    out.insert(key.clone(), v);
                }
                None => {
                    out.remove(key);
                }
            }
        }
        for (key, order) in patch {
            let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) else {
                continue;
            };
            let Value::Array(order) = order else {
                return Err(malformed(&format!("{key} must be a list")));
            };
            path.push(field.to_string());
            let strategy = self.strategy(path);
            path.pop();
            if let Some(Value::Array(items)) = out.get_mut(field) {
                reorder(items, order, strategy);
            }
        }
        Ok(Some(out))
    }

    fn merge_value(
        &self,
        original: Option<&Value>,
        patch: &Value,
        path: &mut Vec<String>,
    ) -> Result<Option<Value>, PatchError> {
        let empty = Map::new();
        match (original, patch) {
            (Some(Value::Object(o)), Value::Object(p)) => {
                Ok(self.merge_map(o, p, path)?.map(Value::Object))
            }
            (None | Some(_), Value::Object(p)) => {
                Ok(self.merge_map(&empty, p, path)?.map(Value::Object))
            }
            (Some(Value::Array(o)), Value::Array(p)) => {
                Ok(Some(Value::Array(self.merge_list(o, p, path)?)))
            }
            (_, Value::Array(p)) => Ok(Some(Value::Array(self.merge_list(&[], p, path)?))),
            _ => Ok(Some(patch.clone())),
        }
    }

    fn merge_list(
        &self,
        original: &[Value],
        patch: &[Value],
        path: &mut Vec<String>,
    ) -> Result<Vec<Value>, PatchError> {
        let is_directive = |item: &Value, directive: &str| {
            item.get(PATCH).and_then(Value::as_str) == Some(directive)
        };
        // `{"$patch": "replace"}` as an item: the rest of the patch list is the new list.
        if patch.iter().any(|i| is_directive(i, "replace")) {
            let rest: Vec<Value> = patch
                .iter()
                .filter(|i| !is_directive(i, "replace"))
                .cloned()
                .collect();
            return self.merge_list(&[], &rest, path);
        }
        match self.strategy(path) {
            ListStrategy::Replace => patch
                .iter()
                .filter(|i| !is_directive(i, "delete"))
                .map(|item| Ok(self.merge_value(None, item, path)?.unwrap_or(Value::Null)))
                .collect(),
            ListStrategy::MergePrimitives => {
                let mut out = original.to_vec();
                for item in patch {
                    if !out.contains(item) {
                        out.push(item.clone());
                    }
                }
                Ok(out)
            }
            ListStrategy::MergeByKey(key) => {
                let mut out = original.to_vec();
                for item in patch {
                    let Value::Object(fields) = item else {
                        return Err(PatchError::Unapplicable(format!(
                            "{}: items must be objects with the merge key {key:?}",
                            dotted(path)
                        )));
                    };
                    let Some(id) = fields.get(key) else {
                        return Err(PatchError::Unapplicable(format!(
                            "{}: an item does not contain the declared merge key {key:?}",
                            dotted(path)
                        )));
                    };
                    let at = out.iter().position(|o| o.get(key) == Some(id));
                    if is_directive(item, "delete") {
                        if let Some(at) = at {
                            out.remove(at);
                        }
                        continue;
                    }
                    let merged = self.merge_value(at.map(|i| &out[i]), item, path)?;
                    match (at, merged) {
                        (Some(at), Some(v)) => out[at] = v,
                        (Some(at), None) => {
                            out.remove(at);
                        }
                        (None, Some(v)) => out.push(v),
                        (None, None) => {}
                    }
                }
                Ok(out)
            }
        }
    }
}

/// Puts the items named by `$setElementOrder` in that order, in the slots they occupy; items
/// the order does not name stay where they are.
fn reorder(items: &mut [Value], order: &[Value], strategy: ListStrategy) {
    let identity = |item: &Value| -> Option<Value> {
        match strategy {
            ListStrategy::MergeByKey(key) => item.get(key).cloned(),
            _ => Some(item.clone()),
        }
    };
    let rank = |item: &Value| -> Option<usize> {
        let id = identity(item)?;
        order.iter().position(|o| identity(o).as_ref() == Some(&id))
    };
    let slots: Vec<usize> = (0..items.len())
        .filter(|&i| rank(&items[i]).is_some())
        .collect();
    let mut named: Vec<Value> = slots.iter().map(|&i| items[i].clone()).collect();
    named.sort_by_key(|item| rank(item));
    for (slot, item) in slots.into_iter().zip(named) {
        items[slot] = item;
    }
}

fn string_list(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn dotted(path: &[String]) -> String {
    if path.is_empty() {
        ".".into()
    } else {
        path.iter().map(|p| format!(".{p}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gvk(group: &str, kind: &str) -> GroupVersionKind {
        GroupVersionKind::gvk(group, "v1", kind)
    }

    fn smp(obj: &Value, patch: Value, group: &str, kind: &str) -> Result<Value, PatchError> {
        strategic_merge_patch(obj, patch.to_string().as_bytes(), &gvk(group, kind))
    }

    fn secret() -> Value {
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "s", "labels": {"a": "1", "b": "2"}, "finalizers": ["x", "y"],
                            "ownerReferences": [
                                {"uid": "u1", "name": "one", "kind": "K", "apiVersion": "v1"},
                                {"uid": "u2", "name": "two", "kind": "K", "apiVersion": "v1"}]},
               "type": "Opaque", "data": {"k": "dg=="}})
    }

    #[test]
    fn maps_merge_and_nulls_delete() {
        let out = smp(
            &secret(),
            json!({"metadata": {"labels": {"a": null, "c": "3"}},
                                        "data": {"k2": "dw=="}, "type": null}),
            "",
            "Secret",
        )
        .unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"b": "2", "c": "3"}));
        assert_eq!(out["data"], json!({"k": "dg==", "k2": "dw=="}));
        assert!(out.get("type").is_none());
    }

    #[test]
    fn finalizers_merge_as_a_set_and_delete_from_primitive_list() {
        let out = smp(
            &secret(),
            json!({"metadata": {"finalizers": ["z", "x"]}}),
            "",
            "Secret",
        )
        .unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["x", "y", "z"]));
        let out = smp(
            &secret(),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}),
            "",
            "Secret",
        )
        .unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["y"]));
    }

    #[test]
    fn owner_references_merge_by_uid() {
        let patch = json!({"metadata": {"ownerReferences": [
            {"uid": "u2", "name": "renamed"},
            {"uid": "u3", "name": "three", "kind": "K", "apiVersion": "v1"},
            {"uid": "u1", "$patch": "delete"}]}});
        let out = smp(&secret(), patch, "", "Secret").unwrap();
        assert_eq!(
            out["metadata"]["ownerReferences"],
            json!([
            {"uid": "u2", "name": "renamed", "kind": "K", "apiVersion": "v1"},
            {"uid": "u3", "name": "three", "kind": "K", "apiVersion": "v1"}])
        );
        let err = smp(
            &secret(),
            json!({"metadata": {"ownerReferences": [{"name": "x"}]}}),
            "",
            "Secret",
        )
        .unwrap_err();
        assert_eq!(err.http_status(), 422);
        assert!(err.to_string().contains("uid"), "{err}");
    }

    #[test]
    fn namespace_conditions_merge_by_type_and_other_lists_replace() {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"conditions": [{"type": "A", "status": "True"}, {"type": "B", "status": "False"}]}});
        let out = smp(
            &ns,
            json!({"spec": {"finalizers": ["other"]},
            "status": {"conditions": [{"type": "B", "status": "True"}]}}),
            "",
            "Namespace",
        )
        .unwrap();
        assert_eq!(out["spec"]["finalizers"], json!(["other"]));
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type": "A", "status": "True"}, {"type": "B", "status": "True"}])
        );
    }

    #[test]
    fn patch_directives_replace_and_delete() {
        let out = smp(
            &secret(),
            json!({"metadata": {"labels": {"$patch": "replace", "only": "1"}}}),
            "",
            "Secret",
        )
        .unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"only": "1"}));
        let out = smp(
            &secret(),
            json!({"metadata": {"labels": {"$patch": "delete"}}}),
            "",
            "Secret",
        )
        .unwrap();
        assert!(out["metadata"].get("labels").is_none());
        let out = smp(
            &secret(),
            json!({"metadata": {"ownerReferences": [
            {"$patch": "replace"}, {"uid": "u9", "name": "nine"}]}}),
            "",
            "Secret",
        )
        .unwrap();
        assert_eq!(
            out["metadata"]["ownerReferences"],
            json!([{"uid": "u9", "name": "nine"}])
        );
        let err = smp(
            &secret(),
            json!({"data": {"$patch": "explode"}}),
            "",
            "Secret",
        )
        .unwrap_err();
        assert_eq!(err.http_status(), 422);
    }

    #[test]
    fn retain_keys_clears_unlisted_fields() {
        let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15, "renewTime": "t"}});
        let out = smp(
            &lease,
            json!({"spec": {"$retainKeys": ["holderIdentity", "leaseDurationSeconds"],
                                              "holderIdentity": "b"}}),
            "coordination.k8s.io",
            "Lease",
        )
        .unwrap();
        assert_eq!(
            out["spec"],
            json!({"holderIdentity": "b", "leaseDurationSeconds": 15})
        );
        let err = smp(
            &lease,
            json!({"spec": {"$retainKeys": "x"}}),
            "coordination.k8s.io",
            "Lease",
        )
        .unwrap_err();
        assert_eq!(err.http_status(), 400);
    }

    #[test]
    fn set_element_order_reorders_merged_lists() {
        let patch = json!({"metadata": {
            "$setElementOrder/finalizers": ["z", "y", "x"], "finalizers": ["z"],
            "$setElementOrder/ownerReferences": [{"uid": "u2"}, {"uid": "u1"}]}});
        let out = smp(&secret(), patch, "", "Secret").unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["z", "y", "x"]));
        let uids: Vec<&Value> = out["metadata"]["ownerReferences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| &o["uid"])
            .collect();
        assert_eq!(uids, vec!["u2", "u1"]);
    }

    #[test]
    fn new_values_are_cleaned_of_directives() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let out = smp(
            &cm,
            json!({"metadata": {"annotations": {"$patch": "replace", "a": "1"}},
                                  "data": {"x": "1"}}),
            "",
            "ConfigMap",
        )
        .unwrap();
        assert_eq!(out["metadata"]["annotations"], json!({"a": "1"}));
        assert_eq!(out["data"], json!({"x": "1"}));
    }

    #[test]
    fn custom_resources_get_415_and_bad_bodies_400() {
        let err = smp(
            &json!({}),
            json!({"spec": {}}),
            "mendix.example.com",
            "MendixEnvironment",
        )
        .unwrap_err();
        assert_eq!(err.http_status(), 415);
        assert!(err.to_string().contains("application/merge-patch+json"));
        for (group, kind) in [
            ("", "ConfigMap"),
            ("events.k8s.io", "Event"),
            ("coordination.k8s.io", "Lease"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ] {
            assert!(smp(&json!({}), json!({"metadata": {"name": "x"}}), group, kind).is_ok());
        }
        let err = strategic_merge_patch(&secret(), b"[1]", &gvk("", "Secret")).unwrap_err();
        assert_eq!(err.http_status(), 400);
    }
}
