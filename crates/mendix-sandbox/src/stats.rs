//! Request counts: per operation, and per operation for each app and environment.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A snapshot of the request counters (`GET /_sim/stats`). Every request that reached an
/// operation is counted, including the ones answered with an error or a fault.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// All requests to the four APIs.
    pub total: u64,
    /// Operation name → count.
    pub operations: BTreeMap<String, u64>,
    /// App id → operation name → count.
    pub apps: BTreeMap<String, BTreeMap<String, u64>>,
    /// `appId/environment` (v1: the mode as seeded, e.g. `Test`, whatever the request's case;
    /// v4: the environment id) → operation → count.
    pub environments: BTreeMap<String, BTreeMap<String, u64>>,
    /// Faults that fired, per operation.
    pub faults_fired: BTreeMap<String, u64>,
}

impl Stats {
    /// Requests to one operation.
    pub fn count(&self, operation: &str) -> u64 {
        self.operations.get(operation).copied().unwrap_or(0)
    }

    /// Requests to one operation for one app.
    pub fn app_count(&self, app_id: &str, operation: &str) -> u64 {
        self.apps
            .get(app_id)
            .and_then(|ops| ops.get(operation))
            .copied()
            .unwrap_or(0)
    }

    /// Requests to one operation for one environment (`appId/environment`).
    pub fn environment_count(&self, app_id: &str, environment: &str, operation: &str) -> u64 {
        self.environments
            .get(&format!("{app_id}/{environment}"))
            .and_then(|ops| ops.get(operation))
            .copied()
            .unwrap_or(0)
    }
}
