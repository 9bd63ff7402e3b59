//! Patch dispatch by Content-Type and the managedFields bookkeeping of every write.
// TODO(kube-patch): call `patch::{json_patch, merge_patch, strategic_merge_patch,
// server_side_apply, update_managed_fields}` once that branch is merged; until then JSON and
// merge patches come from the json-patch crate and apply is approximated by a merge.

use serde_json::Value;

use super::resources::ResourceType;
use super::status::ApiError;

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
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Ok(PatchType::Apply),
            _ => Err(ApiError::unsupported_media_type(content_type)),
        }
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the patch body is not valid JSON: {e}")))
}

/// Applies a JSON, merge or strategic merge patch to `live`.
pub fn patch(
    rt: &ResourceType,
    kind: PatchType,
    live: &Value,
    body: &[u8],
) -> Result<Value, ApiError> {
    match kind {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_slice(body).map_err(|e| {
                ApiError::bad_request(format!("the JSON patch is not a list of operations: {e}"))
            })?;
            let mut out = live.clone();
            json_patch::patch(&mut out, &ops).map_err(|e| {
                if matches!(e.kind, json_patch::PatchErrorKind::TestFailed) {
                    ApiError::new(
                        422,
                        "Invalid",
                        format!(
                            "the server rejected our request due to an error in our request: {e}"
                        ),
                    )
                } else {
                    ApiError::new(
                        422,
                        "Invalid",
                        format!("the JSON patch could not be applied: {e}"),
                    )
                }
            })?;
            Ok(out)
        }
        PatchType::Merge => {
            let p = parse_json(body)?;
            let mut out = live.clone();
            json_patch::merge(&mut out, &p);
            Ok(out)
        }
        PatchType::Strategic => {
            if rt.custom {
                return Err(ApiError::unsupported_media_type(
                    "application/strategic-merge-patch+json (not supported for custom resources)",
                ));
            }
            let p = parse_json(body)?;
            let mut out = live.clone();
            json_patch::merge(&mut out, &p);
            Ok(out)
        }
        PatchType::Apply => Err(ApiError::internal(
            "apply patches go through server_side_apply",
        )),
    }
}

/// Server-side apply of `applied` by `manager` onto `live` (absent when creating).
pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    _force: bool,
    subresource: Option<&str>,
    now: &str,
) -> Result<Value, ApiError> {
    let mut out = live
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()));
    json_patch::merge(&mut out, applied);
    update_managed_fields(live, &mut out, manager, "Apply", subresource, now);
    Ok(out)
}

/// Records that `manager` wrote `new` (operation `Update` or `Apply`).
pub fn update_managed_fields(
    _old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    operation: &str,
    subresource: Option<&str>,
    now: &str,
) {
    let api_version = new["apiVersion"].clone();
    let entries = new["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut kept: Vec<Value> = entries
        .into_iter()
        .filter(|e| {
            !(e["manager"] == manager
                && e["operation"] == operation
                && e["subresource"].as_str() == subresource)
        })
        .collect();
    let mut entry = serde_json::json!({
        "manager": manager, "operation": operation, "apiVersion": api_version,
        "time": now, "fieldsType": "FieldsV1", "fieldsV1": {},
    });
    if let Some(sub) = subresource {
        entry["subresource"] = Value::String(sub.into());
    }
    kept.push(entry);
    new["metadata"]["managedFields"] = Value::Array(kept);
}
