//! The `scale` subresource of CRDs that declare it: an `autoscaling/v1` Scale view whose
//! replicas live at the CRD's `specReplicasPath` / `statusReplicasPath`.

use serde_json::{Value, json};

use super::api::present;
use super::resources::ResourceType;
use super::status::{ApiError, Cause};

fn path_get<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.trim_start_matches('.')
        .split('.')
        .try_fold(obj, |cur, seg| cur.get(seg))
}

fn path_set(obj: &mut Value, path: &str, value: Value) {
    let segments: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    let Some((last, parents)) = segments.split_last() else {
        return;
    };
    let mut cur = obj;
    for seg in parents {
        if !cur[*seg].is_object() {
            cur[*seg] = json!({});
        }
        cur = &mut cur[*seg];
    }
    cur[*last] = value;
}

/// The `autoscaling/v1` Scale view of an object with a scale subresource.
pub(crate) fn scale_of(rt: &ResourceType, obj: &Value) -> Value {
    let Some(scale) = &rt.scale else {
        return json!({});
    };
    let replicas = |p: &str| path_get(obj, p).and_then(Value::as_i64).unwrap_or(0);
    let mut status = json!({"replicas": replicas(&scale.status_replicas_path)});
    if let Some(sel) = scale
        .label_selector_path
        .as_deref()
        .and_then(|p| path_get(obj, p))
    {
        status["selector"] = sel.clone();
    }
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"],
            "uid": obj["metadata"]["uid"], "resourceVersion": obj["metadata"]["resourceVersion"],
            "creationTimestamp": obj["metadata"]["creationTimestamp"]},
        "spec": {"replicas": replicas(&scale.spec_replicas_path)},
        "status": status,
    })
}

/// The object with the replicas of a written Scale.
pub(crate) fn with_scale(rt: &ResourceType, old: &Value, scale: &Value) -> Result<Value, ApiError> {
    let spec = rt
        .scale
        .as_ref()
        .ok_or_else(|| ApiError::not_found(&rt.group, &format!("{}/scale", rt.plural), ""))?;
    let replicas = scale["spec"]["replicas"].as_i64().ok_or_else(|| {
        ApiError::invalid(
            "autoscaling",
            "Scale",
            old["metadata"]["name"].as_str().unwrap_or_default(),
            vec![Cause {
                reason: "FieldValueRequired".into(),
                field: "spec.replicas".into(),
                message: "Required value: replicas must be a whole number".into(),
            }],
        )
    })?;
    let mut new = present(rt, old);
    path_set(&mut new, &spec.spec_replicas_path, json!(replicas));
    if let Some(rv) = scale["metadata"]["resourceVersion"].as_str() {
        new["metadata"]["resourceVersion"] = json!(rv);
    }
    Ok(new)
}
