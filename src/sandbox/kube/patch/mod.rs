//! The write paths of the Kubernetes API sandbox that change an object by description rather
//! than by replacement: the three PATCH content types and server-side apply, plus the
//! `metadata.managedFields` bookkeeping every write does.
//!
//! Everything here is pure: functions over `serde_json::Value` objects, no I/O, no clock (the
//! caller passes `now`, RFC 3339). The HTTP server turns errors into `Status` bodies with
//! [`PatchError::status_body`] / [`ApplyError::status_body`] (status code, reason, message and,
//! for apply conflicts, one `FieldManagerConflict` cause per field).
//!
//! - [`json_patch()`] — RFC 6902 (`application/json-patch+json`).
//! - [`merge_patch`] — RFC 7386 (`application/merge-patch+json`).
//! - [`strategic_merge_patch`] — `application/strategic-merge-patch+json`, approximated for the
//!   built-in kinds the sandbox serves; custom resources get the API server's 415.
//! - [`FieldManager::apply`] — `application/apply-patch+yaml` (body parsed by
//!   [`parse_apply_body`]): field ownership, conflicts, pruning of the fields a manager stops
//!   applying, and `force`.
//! - [`FieldManager::update`] — ownership for create, update and the non-apply patches: call it
//!   with the stored object (`None` on create) and the object about to be stored.
//!
//! Build one [`FieldManager`] per kind: [`FieldManager::for_crd`] (schema and `status`
//! subresource from the CRD) or [`FieldManager::for_builtin`]. [`server_side_apply`] and
//! [`update_managed_fields`] are shortcuts that pick the manager from the object itself
//! ([`FieldManager::for_object`]): right for built-in kinds, schema-less for custom resources.
//!
//! What the caller still does, as kube-apiserver's strategies do after the field manager:
//! drop `status` from main-resource writes and everything but `status` from `/status` writes
//! of kinds with a status subresource, set resourceVersion/generation/uid/timestamps, validate.
//!
//! Known differences from kube-apiserver: one schema serves every API version of a kind (no
//! conversion of managed fields between versions); unions and the reconciliation of managed
//! fields after a schema change between atomic and granular are not modelled;
//! strategic-merge strategies come from a fixed table, not Go struct tags.

mod apply;
mod conflict;
mod fieldset;
mod last_applied;
mod managed;
mod schema;
mod strategic;
mod typed;

pub use apply::{FieldManager, parse_apply_body, server_side_apply, update_managed_fields};
pub use conflict::{ApplyError, Conflict};
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

    /// The `Status` body kube-apiserver answers with.
    pub fn status_body(&self) -> Value {
        failure_status(self.http_status(), self.status_reason(), &self.to_string())
    }
}

/// A `metav1.Status` failure body.
fn failure_status(code: u16, reason: &str, message: &str) -> Value {
    serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code})
}

const JSON_PATCH: &str = "application/json-patch+json";
const MERGE_PATCH: &str = "application/merge-patch+json";

/// Applies an RFC 6902 JSON patch, all or nothing. A body that is not a list of operations is
/// a 400; an operation that fails on this object (missing path, failed `test`) is a 422, as in
/// kube-apiserver.
///
/// Like kube-apiserver's JSON patch library, a `test` for `null` passes when the path does not
/// exist: kube-rs's finalizer helper relies on it (`test /metadata/finalizers == null` before
/// adding the first finalizer).
pub fn json_patch(obj: &Value, patch: &[u8]) -> Result<Value, PatchError> {
    let operations: json_patch::Patch =
        serde_json::from_slice(patch).map_err(|e| PatchError::Malformed {
            content_type: JSON_PATCH,
            reason: e.to_string(),
        })?;
    let mut patched = obj.clone();
    for (index, operation) in operations.0.iter().enumerate() {
        if let json_patch::PatchOperation::Test(test) = operation
            && test.value.is_null()
            && patched.pointer(test.path.as_str()).is_none()
        {
            continue;
        }
        json_patch::patch(&mut patched, std::slice::from_ref(operation)).map_err(|e| {
            PatchError::Unapplicable(format!(
                "operation {index} ({}) failed at path '{}': {}",
                operation_name(operation),
                operation.path(),
                e.kind
            ))
        })?;
    }
    Ok(patched)
}

fn operation_name(operation: &json_patch::PatchOperation) -> &'static str {
    use json_patch::PatchOperation as Op;
    match operation {
        Op::Add(_) => "add",
        Op::Remove(_) => "remove",
        Op::Replace(_) => "replace",
        Op::Move(_) => "move",
        Op::Copy(_) => "copy",
        Op::Test(_) => "test",
    }
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

    /// The exact patches kube-rs's `finalizer()` helper sends.
    #[test]
    fn json_patch_accepts_the_kube_rs_finalizer_patches() {
        let add_first = br#"[{"op":"test","path":"/metadata/finalizers","value":null},
                             {"op":"add","path":"/metadata/finalizers","value":["a.example.com/f"]}]"#;
        let with_one = json_patch(&cm(), add_first).unwrap();
        assert_eq!(
            with_one["metadata"]["finalizers"],
            json!(["a.example.com/f"])
        );
        // Someone else added one in the meantime: the null test fails, kube-rs retries.
        let err = json_patch(&with_one, add_first).unwrap_err();
        assert_eq!(err.http_status(), 422);
        let add_more = br#"[{"op":"test","path":"/metadata/finalizers","value":["a.example.com/f"]},
                            {"op":"add","path":"/metadata/finalizers/-","value":"b.example.com/f"}]"#;
        let with_two = json_patch(&with_one, add_more).unwrap();
        assert_eq!(
            with_two["metadata"]["finalizers"],
            json!(["a.example.com/f", "b.example.com/f"])
        );
        let remove = br#"[{"op":"test","path":"/metadata/finalizers/1","value":"b.example.com/f"},
                          {"op":"remove","path":"/metadata/finalizers/1"}]"#;
        assert_eq!(json_patch(&with_two, remove).unwrap(), with_one);
        let err = json_patch(&with_one, remove).unwrap_err();
        assert!(err.to_string().contains("operation 0 (test)"), "{err}");
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
    fn status_bodies() {
        let err = json_patch(&cm(), b"{}").unwrap_err();
        let body = err.status_body();
        assert_eq!(body["kind"], "Status");
        assert_eq!(body["code"], 400);
        assert_eq!(body["reason"], "BadRequest");
        assert_eq!(body["message"], err.to_string());
        let conflict = server_side_apply(
            Some(
                &merge_patch(&cm(), b"{}")
                    .map(|mut o| {
                        update_managed_fields(
                            None,
                            &mut o,
                            "creator",
                            "Update",
                            None,
                            "2026-11-22T10:00:00Z",
                        );
                        o
                    })
                    .unwrap(),
            ),
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                               "data": {"k": "other"}}),
            "kubectl",
            false,
            None,
            "2026-11-22T10:00:01Z",
        )
        .unwrap_err();
        let body = conflict.status_body();
        assert_eq!(body["code"], 409);
        assert_eq!(body["reason"], "Conflict");
        assert_eq!(body["details"]["causes"][0]["field"], ".data.k");
        assert_eq!(
            body["details"]["causes"][0]["message"],
            "conflict with \"creator\" using v1"
        );
    }

    /// The write sequence kube-lease-manager makes on a Lease: acquire by apply, renew and
    /// release by strategic merge patch. A released lease can be applied by the next holder; a
    /// lease whose holder vanished without releasing it conflicts.
    #[test]
    fn lease_hand_over_as_kube_lease_manager_does_it() {
        let gvk = kube::core::GroupVersionKind::gvk("coordination.k8s.io", "v1", "Lease");
        let fm = FieldManager::for_builtin(&gvk).unwrap();
        let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                           "metadata": {"name": "leader", "namespace": "default"}});
        let mut live = lease.clone();
        fm.update(
            None,
            &mut live,
            "kubectl-create",
            "Update",
            None,
            "2026-11-22T10:00:00Z",
        );
        let acquire = |who: &str, t: &str| {
            json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "spec": {"acquireTime": t, "renewTime": t, "holderIdentity": who, "leaseDurationSeconds": 15}})
        };
        let smp = |live: &Value, patch: Value, manager: &str, t: &str| {
            let mut next = strategic_merge_patch(live, patch.to_string().as_bytes(), &gvk).unwrap();
            fm.update(Some(live), &mut next, manager, "Update", None, t);
            next
        };
        let t1 = "2026-11-22T10:00:01Z";
        let held = fm
            .apply(Some(&live), &acquire("a", t1), "lease-a", false, None, t1)
            .unwrap();
        let held = smp(
            &held,
            json!({"spec": {"leaseTransitions": 1}}),
            "lease-a",
            t1,
        );
        let renewed = smp(
            &held,
            json!({"spec": {"renewTime": "2026-11-22T10:00:05Z"}}),
            "lease-a",
            "2026-11-22T10:00:05Z",
        );
        assert_eq!(renewed["spec"]["holderIdentity"], "a");
        // b cannot take a held lease by apply without force.
        let err = fm
            .apply(
                Some(&renewed),
                &acquire("b", "2026-11-22T10:00:06Z"),
                "lease-b",
                false,
                None,
                "2026-11-22T10:00:06Z",
            )
            .unwrap_err();
        assert_eq!(err.http_status(), 409);
        assert!(err.to_string().contains(".spec.holderIdentity"), "{err}");
        // a releases: the fields go, and with them a's ownership.
        let released = smp(
            &renewed,
            json!({"spec": {"acquireTime": null, "renewTime": null,
            "holderIdentity": null, "leaseDurationSeconds": null}}),
            "lease-a",
            "2026-11-22T10:00:07Z",
        );
        assert_eq!(released["spec"], json!({"leaseTransitions": 1}));
        let taken = fm
            .apply(
                Some(&released),
                &acquire("b", "2026-11-22T10:00:08Z"),
                "lease-b",
                false,
                None,
                "2026-11-22T10:00:08Z",
            )
            .unwrap();
        assert_eq!(taken["spec"]["holderIdentity"], "b");
        assert_eq!(taken["spec"]["leaseTransitions"], 1);
    }

    #[test]
    fn merge_patch_body_must_be_an_object() {
        for body in [&b"[1]"[..], b"\"x\"", b"{"] {
            let err = merge_patch(&cm(), body).unwrap_err();
            assert_eq!(err.http_status(), 400, "{err}");
        }
    }
}
