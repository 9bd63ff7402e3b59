//! The bridge from the HTTP verbs to the patch module: patch dispatch by Content-Type,
//! server-side apply, and the managedFields bookkeeping of every write, with the module's
//! errors turned into `Status` answers.

use kube::core::GroupVersionKind;
use serde_json::Value;

use super::patch::{self, ApplyError, FieldManager, PatchError};
use super::resources::ResourceType;
use super::status::{ApiError, Cause};

/// The patch types kube-apiserver accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(content_type: &str) -> Result<Self, ApiError> {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" => Ok(PatchType::Apply),
            _ => Err(ApiError::unsupported_media_type(content_type)),
        }
    }
}

fn patch_error(e: PatchError) -> ApiError {
    let reason = e.status_reason();
    ApiError::new(e.http_status(), reason, e.to_string())
}

fn apply_error(e: ApplyError) -> ApiError {
    let mut err = ApiError::new(e.http_status(), e.status_reason(), e.to_string());
    if let ApplyError::Conflicts(conflicts) = &e {
        err.details.causes = conflicts
            .iter()
            .map(|c| Cause {
                reason: "FieldManagerConflict".into(),
                field: c.field.clone(),
                message: c.cause_message(),
            })
            .collect();
    }
    err
}

/// Applies a JSON, merge or strategic merge patch to `live` (as served at `rt`).
pub fn patch(
    rt: &ResourceType,
    kind: PatchType,
    live: &Value,
    body: &[u8],
) -> Result<Value, ApiError> {
    match kind {
        PatchType::Json => {
            let body = null_tests_of_missing_paths_removed(live, body);
            patch::json_patch(live, &body).map_err(patch_error)
        }
        PatchType::Merge => patch::merge_patch(live, body).map_err(patch_error),
        PatchType::Strategic => {
            let gvk = GroupVersionKind::gvk(&rt.group, &rt.version, &rt.kind);
            patch::strategic_merge_patch(live, body, &gvk).map_err(patch_error)
        }
        PatchType::Apply => Err(ApiError::internal(
            "apply patches go through server_side_apply",
        )),
    }
}

/// kube-apiserver's JSON patch (evanphx/json-patch) treats a missing path as `null` in a
/// `test` operation; kube-rs's finalizer helper relies on it (`test /metadata/finalizers null`
/// before adding the first finalizer). RFC 6902 does not, so such tests are settled here.
fn null_tests_of_missing_paths_removed(live: &Value, body: &[u8]) -> Vec<u8> {
    let Ok(Value::Array(ops)) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    let kept: Vec<Value> = ops
        .into_iter()
        .filter(|op| {
            let null_test = op["op"] == "test" && op.get("value").is_some_and(Value::is_null);
            let path = op["path"].as_str().unwrap_or_default();
            !(null_test && live.pointer(path).is_none_or(Value::is_null))
        })
        .collect();
    serde_json::to_vec(&kept).unwrap_or_else(|_| body.to_vec())
}

fn manager_for(rt: &ResourceType, obj: &Value) -> FieldManager {
    rt.field_manager
        .clone()
        .unwrap_or_else(|| FieldManager::for_object(obj))
}

/// Server-side apply of `applied` by `manager` onto `live` (absent when creating).
pub fn server_side_apply(
    rt: &ResourceType,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    subresource: Option<&str>,
    now: &str,
) -> Result<Value, ApiError> {
    manager_for(rt, applied)
        .apply(live, applied, manager, force, subresource, now)
        .map_err(apply_error)
}

/// Records that `manager` wrote `new` with an ordinary create, update or patch.
pub fn update_managed_fields(
    rt: &ResourceType,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    now: &str,
) {
    manager_for(rt, new).update(old, new, manager, "Update", subresource, now);
}
