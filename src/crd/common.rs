//! Types shared by both kinds: credentials, operation records, annotations, schema helpers.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, MicroTime};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

pub const GROUP: &str = "mendixops.io";
pub const VERSION: &str = "v1alpha1";

/// `"true"` stops every remote write for the resource until removed.
pub const ANNOTATION_PAUSED: &str = "mendixops.io/paused";
/// A new value forces a reconcile; the handled value is echoed in `status.reconcileRequestedAt`.
pub const ANNOTATION_RECONCILE_REQUESTED_AT: &str = "mendixops.io/reconcileRequestedAt";
/// A new value restarts the app once; the handled value is echoed in `status.lastRestartedAt`.
pub const ANNOTATION_RESTARTED_AT: &str = "mendixops.io/restartedAt";
/// Mendix Cloud: a new value removes all data of the environment (files and database) once,
/// stopping the app first and deploying and starting it again after; the handled value is
/// echoed in `status.lastCleanedAt`.
pub const ANNOTATION_CLEAN_REQUESTED_AT: &str = "mendixops.io/cleanRequestedAt";

/// Finalizer the operator puts on resources whose deletion may need remote work.
pub const FINALIZER: &str = "mendixops.io/cleanup";

/// Secret keys read for each platform.
pub const SECRET_KEY_USERNAME: &str = "username";
pub const SECRET_KEY_API_KEY: &str = "apiKey";
pub const SECRET_KEY_PAT: &str = "pat";

/// Reference to a Secret in the resource's namespace that holds Mendix credentials.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretReference {
    /// Name of a Secret in the same namespace. For Mendix Cloud it must hold the keys `username`
    /// (the Mendix account e-mail) and `apiKey`; for Private Cloud the key `pat` (a Personal Access
    /// Token with the scopes the operation needs, e.g. `mx:privatecloud-build:write`,
    /// `mx:deployment:write`).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A value taken from a key of a Secret in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeySelector {
    /// Name of the Secret in the same namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret whose value is used.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// What happens to the remote object (package, environment, cluster or namespace) when the
/// resource is deleted.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeletionPolicy {
    /// Leave the remote object in Mendix; the resource is deleted at once (no finalizer).
    #[default]
    Retain,
    /// Delete the remote object in Mendix first (finalizer `mendixops.io/cleanup`). It is kept
    /// in Mendix, with a Warning Event, when the credentials Secret is gone, and a production
    /// environment is only deleted with `production: true`.
    Delete,
}

/// Whether the operator changes the remote object or only reads it.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ManagementPolicy {
    /// Make Mendix match the spec (the default).
    #[default]
    Manage,
    /// Read Mendix and report, never write: status shows what runs, and condition `Drifted`
    /// lists where Mendix differs from the spec. Changing this to Manage hands it over.
    Observe,
}

impl ManagementPolicy {
    pub fn is_manage(&self) -> bool {
        *self == ManagementPolicy::Manage
    }
}

/// Set by `kubectl mendix rollback` to the package it goes back to: the deployment is recorded
/// in `status.history` as a Rollback.
pub const ANNOTATION_ROLLBACK_TO: &str = "mendixops.io/rollbackTo";

/// A new value lets the next change go outside the deployment windows, once; the handled
/// value is echoed in `status.lastDeployNow`.
pub const ANNOTATION_DEPLOY_NOW: &str = "mendixops.io/deployNow";

/// A new value approves the plan whose hash it carries (`changeApproval: Manual`).
pub const ANNOTATION_APPROVED_PLAN: &str = "mendixops.io/approvedPlan";

/// Condition listing where Mendix differs from the spec, for resources with
/// `managementPolicy: Observe`.
pub const CONDITION_DRIFTED: &str = "Drifted";

/// What kind of remote operation is in flight.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum OperationKind {
    Build,
    Upload,
    Adopt,
    Delete,
    Stop,
    Transport,
    ApplySettings,
    Scale,
    Start,
    UpdateManifest,
    Restart,
    Clean,
    Tags,
    Create,
    Update,
}

/// A remote operation recorded in status before it is followed, so an operator restart resumes
/// it instead of starting it again.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationStatus {
    /// The kind of operation.
    pub kind: OperationKind,
    /// Human-readable step, e.g. "2/4: transporting 2.5.4".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Mendix job id being followed (Private Cloud job, Mendix Cloud start job), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Token the operator chose before sending the request; it lets a restarted operator find
    /// the remote result of a request whose answer it never saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// Machine-readable sub-step of a multi-step operation, e.g. `scaleDown` / `scaleUp` of a
    /// Private Cloud restart or `stop` / `start` of a Mendix Cloud restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// When the operation, or its current step of a multi-step operation, was started; to the
    /// microsecond, because waits are measured from it.
    pub started_at: MicroTime,
    /// How many times the operation has been polled; drives the growing poll interval.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub polls: i32,
}

/// Condition list schema: `metav1.Condition` items keyed by `type`, as kstatus tools expect.
pub fn conditions_schema(generator: &mut SchemaGenerator) -> Schema {
    let item = generator.subschema_for::<Condition>();
    json_schema!({
        "description": "Current state of the resource as metav1.Condition entries: Ready, Reconciling, Stalled and domain conditions.",
        "type": "array",
        "items": item,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
    })
}
