//! Client-side `kubectl apply` meets server-side apply: kube-apiserver lets the manager
//! `kubectl` take over what its client-side predecessor set, and keeps the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation in step.

use serde_json::Value;

use super::fieldset::FieldSet;
use super::managed::without_managed_fields;
use super::schema::Shape;
use super::typed;

/// The one manager kube-apiserver treats as `kubectl apply --server-side`.
pub(crate) const KUBECTL: &str = "kubectl";
pub(crate) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Annotations are limited to 256 KiB in total.
pub(crate) const ANNOTATIONS_SIZE_LIMIT: usize = 256 * 1024;

/// The fields a client-side `kubectl apply` set and that still hold the value it set
/// (none when the annotation is missing, unreadable or of another API version).
pub(crate) fn allowed_conflicts(live: &Value, shape: &Shape) -> Option<FieldSet> {
    let text = live
        .pointer("/metadata/annotations")?
        .get(LAST_APPLIED)?
        .as_str()
        .filter(|t| !t.is_empty())?;
    let last: Value = serde_json::from_str(text).ok()?;
    if last.get("apiVersion") != live.get("apiVersion") {
        return None;
    }
    let set = typed::to_live_field_set(&last, shape).ok()?;
    let c = typed::compare(&last, &without_managed_fields(live), shape).ok()?;
    Some(
        set.difference(&c.modified)
            .difference(&c.added)
            .difference(&c.removed),
    )
}

/// Rewrites an existing last-applied annotation to the applied configuration (without the
/// annotation itself), so a later client-side `kubectl apply` diffs against it.
pub(crate) fn sync(out: &mut Value, applied: &Value) {
    let Some(annotations) = out
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if annotations
        .get(LAST_APPLIED)
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return;
    }
    let mut config = applied.clone();
    if let Some(own) = config
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        own.remove(LAST_APPLIED);
    }
    annotations.insert(LAST_APPLIED.into(), Value::String(format!("{config}\n")));
    // Annotations are limited to 256 KiB in total: a copy that does not fit is dropped.
    let size: usize = annotations
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if size > ANNOTATIONS_SIZE_LIMIT {
        annotations.remove(LAST_APPLIED);
    }
}
