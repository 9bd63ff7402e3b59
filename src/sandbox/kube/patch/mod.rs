//! The write paths of the Kubernetes API sandbox that change an object by description rather
//! than by replacement: the three PATCH content types and server-side apply, plus the
//! `metadata.managedFields` bookkeeping every write does.
//!
//! Everything here is pure: functions over `serde_json::Value` objects, no I/O, no clock (the
//! caller passes `now`). The HTTP server maps the errors to `Status` bodies with
//! [`PatchError::http_status`] and [`ApplyError::http_status`].
//!
//! - [`json_patch`] — RFC 6902 (`application/json-patch+json`).
//! - [`merge_patch`] — RFC 7386 (`application/merge-patch+json`).
//! - [`strategic_merge_patch`] — `application/strategic-merge-patch+json`, approximated for the
//!   built-in kinds the sandbox serves; custom resources get the API server's 415.
//! - [`server_side_apply`] / [`FieldManager::apply`] — `application/apply-patch+yaml`, with
//!   field ownership, conflicts and pruning as structured-merge-diff does them.
//! - [`update_managed_fields`] / [`FieldManager::update`] — ownership for create/update/patch.

mod apply;
mod fieldset;
mod managed;
mod schema;
mod strategic;
mod typed;

pub use apply::{ApplyError, Conflict, FieldManager, server_side_apply, update_managed_fields};
pub use fieldset::{FieldSet, FieldsV1Error, PathElement};
pub use managed::{ManagedFieldsEntry, ManagedFieldsError};
pub use schema::ListTypes;
pub use strategic::strategic_merge_patch;

use serde_json::Value;

/// Why a PATCH body could not be applied. Each variant maps to the status kube-apiserver
/// answers with for the same failure.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The body is not a valid patch document of its content type (400 BadRequest).
    #[error("invalid {content_type} body: {reason}")]
    Malformed {
        content_type: &'static str,
        reason: String,
    },
    /// The patch is well-formed but cannot be applied to this object, e.g. a failed `test`
    /// operation or a path that does not exist (422 Unprocessable Entity).
    #[error("the patch cannot be applied: {0}")]
    Unapplicable(String),
    /// Strategic merge patch on a kind that has no Go struct to take merge keys from, which is
    /// every custom resource (415 Unsupported Media Type).
    #[error(
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )]
    StrategicMergeUnsupported { kind: String },
}

impl PatchError {
    /// The HTTP status kube-apiserver answers with for this failure.
    pub fn http_status(&self) -> u16 {
        match self {
            PatchError::Malformed { .. } => 400,
            PatchError::Unapplicable(_) => 422,
            PatchError::StrategicMergeUnsupported { .. } => 415,
        }
    }

    /// The `reason` of the `Status` body.
    pub fn status_reason(&self) -> &'static str {
        match self {
            PatchError::Malformed { .. } => "BadRequest",
            PatchError::Unapplicable(_) => "Invalid",
            PatchError::StrategicMergeUnsupported { .. } => "UnsupportedMediaType",
        }
    }
}

const JSON_PATCH: &str = "application/json-patch+json";
const MERGE_PATCH: &str = "application/merge-patch+json";

/// Applies an RFC 6902 JSON patch. A body that is not a list of operations is a 400; an
/// operation that fails on this object (missing path, failed `test`) is a 422, as in
/// kube-apiserver.
pub fn json_patch(obj: &Value, patch: &[u8]) -> Result<Value, PatchError> {
    let operations: json_patch::Patch =
        serde_json::from_slice(patch).map_err(|e| PatchError::Malformed {
            content_type: JSON_PATCH,
            reason: e.to_string(),
        })?;
    let mut patched = obj.clone();
    json_patch::patch(&mut patched, &operations)
        .map_err(|e| PatchError::Unapplicable(e.to_string()))?;
    Ok(patched)
}

/// Applies an RFC 7386 JSON merge patch: objects merge key by key, `null` deletes a key, every
/// other value (lists included) replaces. The body must be a JSON object.
pub fn merge_patch(obj: &Value, patch: &[u8]) -> Result<Value, PatchError> {
    let patch_doc = parse_object_patch(patch, MERGE_PATCH)?;
    let mut patched = obj.clone();
    json_patch::merge(&mut patched, &patch_doc);
    Ok(patched)
}

/// Parses a patch body that must be a JSON object (merge and strategic merge patches).
fn parse_object_patch(patch: &[u8], content_type: &'static str) -> Result<Value, PatchError> {
    let doc: Value = serde_json::from_slice(patch).map_err(|e| PatchError::Malformed {
        content_type,
        reason: e.to_string(),
    })?;
    if !doc.is_object() {
        return Err(PatchError::Malformed {
            content_type,
            reason: "the body must be a JSON object".into(),
        });
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm() -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "c", "labels": {"a": "1", "b": "2"}},
               "data": {"k": "v"}})
    }

    #[test]
    fn json_patch_applies_operations_in_order() {
        let patch = br#"[{"op":"test","path":"/data/k","value":"v"},
                         {"op":"replace","path":"/data/k","value":"w"},
                         {"op":"add","path":"/metadata/labels/c","value":"3"},
                         {"op":"remove","path":"/metadata/labels/a"}]"#;
        let out = json_patch(&cm(), patch).unwrap();
        assert_eq!(out["data"]["k"], "w");
        assert_eq!(out["metadata"]["labels"], json!({"b": "2", "c": "3"}));
    }

    #[test]
    fn json_patch_failed_test_is_unprocessable_and_leaves_nothing_half_done() {
        let patch = br#"[{"op":"replace","path":"/data/k","value":"w"},
                         {"op":"test","path":"/data/k","value":"nope"}]"#;
        let err = json_patch(&cm(), patch).unwrap_err();
        assert_eq!(err.http_status(), 422);
        assert!(err.to_string().contains("/data/k"), "{err}");
    }

    #[test]
    fn json_patch_missing_path_is_unprocessable() {
        let err = json_patch(&cm(), br#"[{"op":"remove","path":"/spec/x"}]"#).unwrap_err();
        assert_eq!(err.http_status(), 422);
    }

    #[test]
    fn json_patch_body_that_is_not_a_list_is_bad_request() {
        for body in [
            &br#"{"op":"add"}"#[..],
            b"not json",
            br#"[{"op":"frobnicate","path":"/a"}]"#,
        ] {
            let err = json_patch(&cm(), body).unwrap_err();
            assert_eq!(err.http_status(), 400, "{err}");
        }
    }

    #[test]
    fn merge_patch_merges_objects_deletes_nulls_replaces_lists() {
        let obj = json!({"metadata": {"name": "c", "finalizers": ["a", "b"],
                         "labels": {"a": "1", "b": "2"}}, "data": {"k": "v"}});
        let patch = br#"{"metadata":{"labels":{"a":null,"c":"3"},"finalizers":["z"]},
                         "data":null}"#;
        let out = merge_patch(&obj, patch).unwrap();
        assert_eq!(
            out,
            json!({"metadata": {"name": "c", "finalizers": ["z"],
                   "labels": {"b": "2", "c": "3"}}})
        );
    }

    #[test]
    fn merge_patch_body_must_be_an_object() {
        for body in [&b"[1]"[..], b"\"x\"", b"{"] {
            let err = merge_patch(&cm(), body).unwrap_err();
            assert_eq!(err.http_status(), 400, "{err}");
        }
    }
}
