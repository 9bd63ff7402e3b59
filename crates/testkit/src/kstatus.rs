//! kstatus' generic rules for custom resources (cli-utils `kstatus/status`), the way Flux's
//! health checks read the statuses the controllers write. Used by tests/flux.rs and
//! tests/gitops_status.rs.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KStatus {
    InProgress,
    Current,
    Failed,
    Terminating,
}

/// Deletion → Terminating; stale observedGeneration → InProgress; Reconciling=True →
/// InProgress; Stalled=True → Failed; Ready=False → InProgress; otherwise Current.
pub fn kstatus(obj: &Value) -> KStatus {
    if !obj["metadata"]["deletionTimestamp"].is_null() {
        return KStatus::Terminating;
    }
    let generation = obj["metadata"]["generation"].as_i64();
    let observed = obj["status"]["observedGeneration"].as_i64();
    if let (Some(g), Some(o)) = (generation, observed)
        && o < g
    {
        return KStatus::InProgress;
    }
    let condition = |t: &str| {
        obj["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == t))
            .and_then(|c| c["status"].as_str())
            .map(str::to_string)
    };
    if condition("Reconciling").as_deref() == Some("True") {
        return KStatus::InProgress;
    }
    if condition("Stalled").as_deref() == Some("True") {
        return KStatus::Failed;
    }
    if condition("Ready").as_deref() == Some("False") {
        return KStatus::InProgress;
    }
    KStatus::Current
}
