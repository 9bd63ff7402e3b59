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

/// Writes one resource's status during one reconcile. Every write carries the resourceVersion
/// the reconcile's decisions were based on (optimistic concurrency), so a reconcile that started
/// from a stale cached copy fails with 409 instead of overwriting newer status — and, because
/// operations are recorded before their remote request, it fails before sending that request.
pub struct StatusWriter<K> {
    api: Api<K>,
    name: String,
    resource_version: Option<String>,
    written: Value,
    /// Whether a write of this writer reached the API server (its resourceVersion is current).
    confirmed: bool,
}

impl<K> StatusWriter<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    pub fn new<S: Serialize>(
        api: Api<K>,
        obj: &K,
        current: Option<&S>,
    ) -> Result<Self, StatusError> {
        let written = match current {
            Some(c) => comparable(&serde_json::to_value(c)?),
            None => Value::Null,
        };
        Ok(Self {
            api,
            name: obj.name_any(),
            resource_version: obj.meta().resource_version.clone(),
            written,
            confirmed: false,
        })
    }

    /// Applies `desired` as the whole status (fields the operator no longer sets are removed,
    /// since it owns them); skipped when only condition timestamps would change. Returns
    /// whether a write was made.
    pub async fn write<S: Serialize>(&mut self, desired: &S) -> Result<bool, StatusError> {
        self.send(desired, false).await
    }

    /// Like [`Self::write`], for the intent recorded before a remote write: it reaches the API
    /// server even when it looks unchanged, unless this writer already wrote, so the
    /// resourceVersion check refuses it when the object read was stale. (A stale copy that
    /// already shows the same intent, recorded by an earlier reconcile and since superseded,
    /// would otherwise let that remote write happen a second time.)
    pub async fn write_confirmed<S: Serialize>(
        &mut self,
        desired: &S,
    ) -> Result<bool, StatusError> {
        self.send(desired, !self.confirmed).await
    }

    /// [`Self::write`] or, with `confirm`, [`Self::write_confirmed`], counted in the
    /// `status_writes` metric of `kind`.
    pub async fn write_counted<S: Serialize>(
        &mut self,
        desired: &S,
        confirm: bool,
        metrics: &crate::metrics::Metrics,
        kind: &str,
    ) -> Result<bool, StatusError> {
        let written = if confirm {
            self.write_confirmed(desired).await
        } else {
            self.write(desired).await
        };
        metrics.count_status_write(kind, written.is_ok());
        written
    }

    async fn send<S: Serialize>(&mut self, desired: &S, always: bool) -> Result<bool, StatusError> {
        let value = serde_json::to_value(desired)?;
        let wanted = comparable(&value);
        if wanted == self.written && !always {
            return Ok(false);
        }
        let mut metadata = json!({"name": self.name});
        if let Some(rv) = &self.resource_version {
            metadata["resourceVersion"] = json!(rv);
        }
        let patch = json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "metadata": metadata,
            "status": value,
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let updated = match tokio::time::timeout(
            PATCH_TIMEOUT,
            self.api
                .patch_status(&self.name, &params, &Patch::Apply(&patch)),
        )
        .await
        {
            Ok(result) => result?,
            Err(_) => return Err(StatusError::Timeout(PATCH_TIMEOUT)),
        };
        self.resource_version = updated.meta().resource_version.clone();
        self.written = wanted;
        self.confirmed = true;
        Ok(true)
    }
}

impl StatusError {
    /// The object changed since this reconcile read it: not a failure, just look again.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StatusError::Kube(kube::Error::Api(status)) if status.code == 409)
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
