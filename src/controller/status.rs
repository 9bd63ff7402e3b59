//! The status writer: server-side apply of `status` under one field manager, skipped when nothing
//! but condition timestamps would change, with a timeout on every patch.

use std::fmt::Debug;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The field manager name for every write the operator makes.
pub const FIELD_MANAGER: &str = "mendix-operator";

const PATCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("status patch failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("status patch timed out after {0:?}")]
    Timeout(Duration),
    #[error("status does not serialize: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// The status as JSON with condition timestamps removed: two statuses that differ only in
/// `lastTransitionTime` need no write.
fn comparable(status: &Value) -> Value {
    let mut status = status.clone();
    if let Some(conditions) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        for condition in conditions {
            if let Some(c) = condition.as_object_mut() {
                c.remove("lastTransitionTime");
            }
        }
    }
    status
}

/// True when writing `desired` over `current` would change something besides timestamps.
pub fn needs_write<S: Serialize>(
    current: Option<&S>,
    desired: &S,
) -> Result<bool, serde_json::Error> {
    let desired = comparable(&serde_json::to_value(desired)?);
    let current = match current {
        Some(c) => comparable(&serde_json::to_value(c)?),
        None => Value::Null,
    };
    Ok(current != desired)
}

/// Applies `desired` as the whole status of `obj` (fields the operator no longer sets are
/// removed, since it owns them). Returns whether a write was made.
pub async fn apply_status<K, S>(
    api: &Api<K>,
    obj: &K,
    current: Option<&S>,
    desired: &S,
) -> Result<bool, StatusError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize,
{
    if !needs_write(current, desired)? {
        return Ok(false);
    }
    let name = obj.name_any();
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": {"name": name},
        "status": desired,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    match tokio::time::timeout(
        PATCH_TIMEOUT,
        api.patch_status(&name, &params, &Patch::Apply(&patch)),
    )
    .await
    {
        Ok(result) => {
            result?;
            Ok(true)
        }
        Err(_) => Err(StatusError::Timeout(PATCH_TIMEOUT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::MendixPackageStatus;
    use crate::crd::conditions::{Outcome, apply_outcome};
    use k8s_openapi::jiff::Timestamp;

    #[test]
    fn timestamps_alone_need_no_write() {
        let mut a = MendixPackageStatus::default();
        let mut b = MendixPackageStatus::default();
        let t0 = Timestamp::from_second(1_700_000_000).expect("valid");
        let t1 = Timestamp::from_second(1_700_000_999).expect("valid");
        apply_outcome(
            &mut a.conditions,
            &Outcome::ready("Succeeded", "ok"),
            Some(1),
            t0,
        );
        apply_outcome(
            &mut b.conditions,
            &Outcome::ready("Succeeded", "ok"),
            Some(1),
            t1,
        );
        assert!(!needs_write(Some(&a), &b).expect("serializes"));
        b.version = Some("1.0.0".into());
        assert!(needs_write(Some(&a), &b).expect("serializes"));
        assert!(needs_write(None, &a).expect("serializes"));
    }
}
