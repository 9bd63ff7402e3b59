//! `MendixEnvironment`: one environment of one app, and what should run in it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    DeletionPolicy, ManagementPolicy, OperationStatus, SecretKeySelector, SecretReference,
    conditions_schema,
};

/// Desired state of one Mendix environment.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mendixops.io",
    version = "v1alpha1",
    kind = "MendixEnvironment",
    doc = "One Mendix environment of one app and what should run in it: package, run state, instances, constants, scheduled events, custom settings and tags.",
    plural = "mendixenvironments",
    shortname = "mxenv",
    category = "mendix",
    namespaced,
    status = "MendixEnvironmentStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.deployedVersion"}"#,
    printcolumn = r#"{"name":"Instances","type":"integer","jsonPath":".status.instances"}"#,
    printcolumn = r#"{"name":"Step","type":"string","priority":1,"jsonPath":".status.operation.step"}"#,
    printcolumn = r#"{"name":"URL","type":"string","priority":1,"jsonPath":".status.url"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("(has(self.packageRef) ? 1 : 0) + (has(self.packageId) ? 1 : 0) + (has(self.packageFrom) ? 1 : 0) == 1").message("exactly one of spec.packageRef or spec.packageId or spec.packageFrom must be set"))]
#[x_kube(validation = Rule::new("!has(self.memoryPerInstance) || has(self.target.mendixCloud)").message("spec.memoryPerInstance is only available for Mendix Cloud targets"))]
#[x_kube(validation = Rule::new("!has(self.tags) || size(self.tags) == 0 || has(self.target.mendixCloud)").message("spec.tags are only available for Mendix Cloud targets"))]
#[x_kube(validation = Rule::new("!has(self.target.mendixCloud) || has(self.instances) == has(self.memoryPerInstance)").message("on Mendix Cloud set spec.instances and spec.memoryPerInstance together, or neither: Mendix Cloud scales both in one call and does not report the current values, so the operator cannot keep one of them as it is"))]
#[x_kube(validation = Rule::new("!has(self.target.mendixCloud) || !has(self.instances) || self.instances >= 1").message("spec.instances must be at least 1 on Mendix Cloud; use runState: Stopped to stop the app"))]
#[x_kube(validation = Rule::new("!has(self.target.mendixCloud) || !has(self.deletionPolicy) || self.deletionPolicy == 'Retain'").message("spec.deletionPolicy: Delete is only available for Private Cloud targets: the Mendix Cloud Deploy API cannot delete environments; use Retain"))]
#[x_kube(validation = Rule::new("!has(self.privateCloud) || has(self.target.privateCloud)").message("spec.privateCloud is only available for Private Cloud targets"))]
#[x_kube(validation = Rule::new("!has(self.privateCloud) || !has(self.privateCloud.create) || has(self.privateCloud.coreResources)").message("spec.privateCloud.coreResources is required with spec.privateCloud.create: Mendix needs the CPU and memory requests and limits of a new environment"))]
#[x_kube(validation = Rule::new("!has(self.privateCloud) || !has(self.privateCloud.create) || !has(self.privateCloud.create.production) || !self.privateCloud.create.production || self.production").message("spec.privateCloud.create.production: true needs spec.production: true, which lets the operator change production environments"))]
#[x_kube(validation = Rule::new("!has(self.privateCloud) || !has(self.privateCloud.create) || has(self.target.privateCloud.namespaceRef) || (has(self.privateCloud.create.clusterId) && has(self.privateCloud.create.namespace))").message("spec.privateCloud.create needs clusterId and namespace (the Kubernetes namespace name) when spec.target.privateCloud names the namespace by namespaceId; with namespaceRef they come from the MendixNamespace"))]
#[serde(rename_all = "camelCase")]
pub struct MendixEnvironmentSpec {
    /// The environment to manage. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("target is immutable: create a new MendixEnvironment for another environment"))]
    pub target: EnvironmentTarget,
    /// Secret with the Mendix credentials used for this environment.
    pub credentials_secret_ref: SecretReference,
    /// A MendixPackage in the same namespace whose package is deployed once it is Ready.
    /// Exactly one of packageRef, packageId or packageFrom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_ref: Option<PackageReference>,
    /// A Mendix package id (UUID) to deploy directly. Exactly one of packageRef, packageId or
    /// packageFrom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    pub package_id: Option<String>,
    /// Promotion: deploy the package another environment runs. Exactly one of packageRef,
    /// packageId or packageFrom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_from: Option<PackageFrom>,
    /// Whether the app should run: Running (default) or Stopped.
    #[serde(default)]
    pub run_state: RunState,
    /// Number of app instances (Private Cloud 0..10; Mendix Cloud 1..10). Left as it is in Mendix
    /// when unset. On Mendix Cloud set together with memoryPerInstance (one scale call sets both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10))]
    pub instances: Option<i32>,
    /// Memory per instance in MiB (Mendix Cloud only; at least 1024, as Mendix requires), e.g.
    /// 1024 or 2048. Set together with instances; both are left as they are when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1024, max = 65536))]
    pub memory_per_instance: Option<i32>,
    /// Synchronize the database with the model when the app starts (Mendix Cloud AutoSyncDb).
    #[serde(default = "default_true")]
    pub auto_sync_db: bool,
    /// Constant values by constant name (Module.Constant). Constants not listed keep their value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[schemars(length(max = 500))]
    pub constants: Vec<ConstantSetting>,
    /// Scheduled events to enable or disable, by name (Module.Event). Events not listed keep their state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[schemars(length(max = 500))]
    pub scheduled_events: Vec<ScheduledEventSetting>,
    /// Mendix runtime custom settings by name (e.g. `SessionTimeout`). Settings not listed are left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[schemars(length(max = 200))]
    pub custom_settings: Vec<CustomSetting>,
    /// Environment tags (Mendix Cloud only). When set, the environment's tags are made to match exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(max = 50))]
    pub tags: Option<Vec<String>>,
    /// Must be true to change an environment that Mendix marks as production; otherwise the
    /// operator makes no change and reports Stalled with reason ProductionNotAllowed.
    #[serde(default)]
    pub production: bool,
    /// What happens to the remote environment when this resource is deleted: Retain (default)
    /// leaves it; Delete (Private Cloud only) deletes it, never a production one without
    /// `production: true`.
    #[serde(default, skip_serializing_if = "is_retain")]
    pub deletion_policy: DeletionPolicy,
    /// Manage (default) makes Mendix match the spec; Observe only reads Mendix and reports, in
    /// condition Drifted, where it differs from the spec: no remote write at all.
    #[serde(default, skip_serializing_if = "ManagementPolicy::is_manage")]
    pub management_policy: ManagementPolicy,
    /// Automatic (default) applies every change; Manual computes the plan, writes it to
    /// `status.plan` and waits, writing nothing, until annotation `mendixops.io/approvedPlan`
    /// carries its hash (`kubectl mendix approve`). A spec change or drift that changes the
    /// plan needs a new approval.
    #[serde(default, skip_serializing_if = "ChangeApproval::is_automatic")]
    pub change_approval: ChangeApproval,
    /// Weekly windows for changes that stop or restart the app (a deploy, settings that need a
    /// restart, scaling, restart requests): outside them such a change waits (reason
    /// WaitingForWindow) and nothing is written; changes that keep the app running (tags, a
    /// start) go at once. A deploy under way when a window closes finishes. Annotation
    /// `mendixops.io/deployNow` lets one change go outside them. No windows: any time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub deployment_windows: Vec<DeploymentWindow>,

    /// Private Cloud manifest fields: how to create the environment when it does not exist,
    /// and its resources, environment variables, log levels, metrics, deployment strategy,
    /// admin password and annotations. Fields not set here stay as they are in Mendix.
    // Boxed, like status.plan and status.deploymentStrategySent: most environments leave it
    // out, and every cached object would carry its 520 bytes (see `controller::trigger`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_cloud: Option<Box<PrivateCloudSettings>>,
}

/// Whether changes wait for a person's approval.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChangeApproval {
    #[default]
    Automatic,
    Manual,
}

impl ChangeApproval {
    pub fn is_automatic(&self) -> bool {
        *self == ChangeApproval::Automatic
    }
}

/// The remote steps the operator would take, and their hash (`changeApproval: Manual`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PlanStatus {
    /// 12 hex digits; approve with annotation `mendixops.io/approvedPlan: <hash>`.
    pub hash: String,
    /// The steps, in order.
    #[serde(default)]
    pub steps: Vec<String>,
    /// The generation of the spec the plan was made for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// Whether the plan was approved and is being carried out.
    #[serde(default)]
    pub approved: bool,
}

fn is_retain(policy: &DeletionPolicy) -> bool {
    *policy == DeletionPolicy::Retain
}

fn default_true() -> bool {
    true
}

/// The environment to manage. Exactly one of `mendixCloud` or `privateCloud`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.mendixCloud) != has(self.privateCloud)").message("exactly one of target.mendixCloud or target.privateCloud must be set"))]
pub struct EnvironmentTarget {
    /// An environment on Mendix Cloud, driven through the Mendix Cloud Deploy API v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mendix_cloud: Option<MendixCloudEnvironment>,
    /// An environment on Mendix for Private Cloud, driven through the Private Cloud Deploy API v4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_cloud: Option<PrivateCloudEnvironment>,
}

/// A Mendix Cloud environment.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MendixCloudEnvironment {
    /// The app's AppId: its subdomain name on Mendix Cloud (e.g. `calc`).
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
    )]
    pub app_id: String,
    /// The environment's mode: Test, Acceptance, Production or the name of a flexible environment.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    )]
    pub mode: String,
}

/// A Mendix for Private Cloud environment.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.namespaceId) != has(self.namespaceRef)").message("exactly one of target.privateCloud.namespaceId or target.privateCloud.namespaceRef must be set"))]
pub struct PrivateCloudEnvironment {
    /// The app's id in Mendix for Private Cloud.
    #[schemars(length(min = 1, max = 64))]
    pub app_id: String,
    /// The Private Cloud namespace id (UUID) the environment lives in. Exactly one of
    /// namespaceId or namespaceRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub namespace_id: Option<String>,
    /// A MendixNamespace in the same namespace; the environment waits for it to be Ready.
    /// Exactly one of namespaceId or namespaceRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_ref: Option<LocalReference>,
    /// The environment id (the environment's internal name in the namespace; at most 32
    /// characters, as the Private Cloud Deploy API allows).
    #[schemars(length(min = 1, max = 32))]
    pub environment_id: String,
}

/// Reference to another resource of this operator in the same namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LocalReference {
    /// Name of the resource.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Private Cloud manifest fields. Every field is optional; what is not set is left as it is.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrivateCloudSettings {
    /// Create the environment with these properties when it does not exist (otherwise the
    /// resource stalls with EnvironmentNotFound). Ignored once it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<PrivateCloudCreate>,
    /// With deletionPolicy Delete: bypass Mendix's Default Studio Target check and errors from
    /// the cluster when deleting (the API's `force`). Off by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_delete: bool,
    /// CPU and memory requests and limits of each app container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core_resources: Option<CoreResources>,
    /// Environment variables of the app, by name. Variables not listed are left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[schemars(length(max = 200))]
    pub environment_variables: Vec<EnvironmentVariable>,
    /// Log levels of log nodes, by name. Nodes not listed are left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[schemars(length(max = 200))]
    pub app_log_levels: Vec<AppLogLevel>,
    /// Runtime metrics configuration; fields not set are left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_metrics: Option<RuntimeMetrics>,
    /// How pods are replaced on a change; fields not set are left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_strategy: Option<DeploymentStrategy>,
    /// The MxAdmin password, from a Secret key. Mendix never shows it back, so it is sent when
    /// the Secret changes (its resourceVersion is recorded in status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_password_secret_ref: Option<SecretKeySelector>,
    /// Pod, Service and Ingress annotations, by key and type. Annotations not listed are left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["key", "type"]))]
    #[schemars(length(max = 100))]
    pub annotations: Vec<ManifestAnnotation>,
}

/// Properties of a Private Cloud environment the operator creates.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrivateCloudCreate {
    /// Display name of the environment.
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
    /// The app's URL, e.g. `https://myapp-test.example.com`.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^https?://[^\s/]+.*$"))]
    pub app_url: String,
    /// Test, Development, Acceptance or Production. Fixed once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<EnvironmentPurpose>,
    /// Mark the new environment as production (needs `spec.production: true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production: Option<bool>,
    /// Make it the environment Studio Pro deploys to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_studio_target: Option<bool>,
    /// Take secrets from the namespace's external secrets store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_store_enabled: Option<bool>,
    /// The Private Cloud cluster id (UUID); needed with target namespaceId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    pub cluster_id: Option<String>,
    /// The Kubernetes namespace name of the Private Cloud namespace; needed with target namespaceId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
    /// Database and file storage services of the new environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub services: Vec<ServicePlan>,
}

/// The purpose of a Private Cloud environment.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvironmentPurpose {
    Test,
    Development,
    Acceptance,
    Production,
}

/// A database or storage service of an environment.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServicePlan {
    /// The plan name in the namespace, e.g. `my-db`.
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
    /// OnDemand or Dedicated.
    pub plan: PlanType,
    /// database or storage.
    #[serde(rename = "type")]
    pub service_type: ServiceType,
}

/// How a service plan provisions.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanType {
    OnDemand,
    Dedicated,
}

/// What a service provides.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ServiceType {
    Database,
    Storage,
}

/// Requests and limits of each app container, in Mendix's units.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CoreResources {
    /// What each container is guaranteed.
    pub requests: ResourceAmounts,
    /// What each container may use at most.
    pub limits: ResourceAmounts,
}

/// CPU in cores and memory and ephemeral storage in GB, as decimal text (e.g. cpu `"0.5"`,
/// memory `"1.5"`): the units the Private Cloud Deploy API uses.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAmounts {
    /// Cores, e.g. `"1"` or `"0.25"`.
    #[schemars(regex(pattern = r"^[0-9]{1,3}(\.[0-9]{1,3})?$"))]
    pub cpu: String,
    /// GB, e.g. `"0.512"` or `"2"`.
    #[schemars(regex(pattern = r"^[0-9]{1,4}(\.[0-9]{1,3})?$"))]
    pub memory: String,
    /// GB, e.g. `"1"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{1,4}(\.[0-9]{1,3})?$"))]
    pub ephemeral_storage: Option<String>,
}

/// One environment variable.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.value) != has(self.valueFrom)").message("exactly one of value or valueFrom must be set"))]
pub struct EnvironmentVariable {
    /// The variable's name.
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[A-Za-z_][A-Za-z0-9_.-]*$")
    )]
    pub name: String,
    /// The value as text. Exactly one of value or valueFrom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub value: Option<String>,
    /// Take the value from a Secret; it never appears in status or events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<ConstantSource>,
}

/// The log level of one log node.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AppLogLevel {
    /// The log node, e.g. `ConnectionBus`.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// CRITICAL, ERROR, INFO, DEBUG, TRACE or NONE.
    pub level: LogLevel,
}

/// A Mendix log level, as the Private Cloud Deploy API spells it.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    Critical,
    Error,
    Info,
    Debug,
    Trace,
    None,
}

/// Runtime metrics configuration.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeMetrics {
    /// default, native or compatibility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<MetricsMode>,
    /// A Mendix duration, e.g. `PT1M`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub interval: Option<String>,
    /// mxAgent configuration (JSON text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub mx_agent_config: Option<String>,
    /// mxAgent instrumentation configuration (JSON text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub mx_agent_instrumentation_config: Option<String>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MetricsMode {
    Default,
    Native,
    Compatibility,
}

/// How pods are replaced when the app changes. The strategy type itself (Default or Reduced
/// App Downtime) is not editable through the API, so it is not here.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStrategy {
    /// Percent of new pods ready before all old pods are replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub switch_over_threshold: Option<i32>,
    /// Percent of extra pods allowed during an update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub max_surge: Option<i32>,
    /// Percent of pods that may be unavailable during an update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub max_unavailable: Option<i32>,
    /// Pod disruption budget: minimum available percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub pod_disruption_min_available: Option<i32>,
    /// Pod disruption budget: maximum unavailable percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub pod_disruption_max_unavailable: Option<i32>,
}

/// One Kubernetes annotation Mendix puts on the app's pods, service or ingress.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ManifestAnnotation {
    /// The annotation key, e.g. `prometheus.io/port`.
    #[schemars(length(min = 1, max = 317))]
    pub key: String,
    /// The annotation value.
    #[schemars(length(max = 65536))]
    pub value: String,
    /// Pod, Service or Ingress.
    pub r#type: AnnotationType,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnnotationType {
    Pod,
    Service,
    Ingress,
}

/// A weekly window in a time zone.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.start != self.end").message("a deployment window's end must differ from its start (an end before the start closes the window the next day)"))]
pub struct DeploymentWindow {
    /// The days it opens on.
    #[schemars(length(min = 1, max = 7))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub days: Vec<Weekday>,
    /// When it opens, HH:MM local time.
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub start: String,
    /// When it closes, HH:MM local time; before the start means the next day.
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub end: String,
    /// An IANA time zone, e.g. `Europe/Amsterdam` or `UTC`.
    #[schemars(length(min = 1, max = 64))]
    pub time_zone: String,
}

/// A day of the week.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

/// Where a promoted package comes from.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PackageFrom {
    /// A MendixEnvironment of the same app and platform, in the same namespace: its package is
    /// deployed here once it is Ready at its latest generation, and again each time it moves
    /// to a new package and is Ready again. While it is Stalled this environment stays as it is.
    pub environment_ref: LocalReference,
}

/// One deployment in an environment's history.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRecord {
    /// The package deployed.
    pub package_id: String,
    /// Its version, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// When it ended (RFC 3339).
    pub at: String,
    /// What caused it: SpecChange, Promotion, Restart or Rollback.
    pub trigger: DeploymentTrigger,
    /// Succeeded, or Failed with the reason.
    pub result: String,
}

/// What caused a deployment.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeploymentTrigger {
    SpecChange,
    Promotion,
    Restart,
    Rollback,
}

/// Reference to a MendixPackage in the same namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PackageReference {
    /// Name of the MendixPackage.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Whether the app should run.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RunState {
    /// The app runs with the requested instances.
    #[default]
    Running,
    /// The app is stopped (Private Cloud: 0 instances).
    Stopped,
}

/// One constant value.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.value) != has(self.valueFrom)").message("exactly one of value or valueFrom must be set"))]
pub struct ConstantSetting {
    /// Qualified constant name, Module.Constant.
    #[schemars(
        length(min = 3, max = 255),
        regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_.]*$")
    )]
    pub name: String,
    /// The value as text (booleans `true`/`false`, dates `2024-01-31T00:00:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub value: Option<String>,
    /// Take the value from a Secret (for passwords and keys); it never appears in status or events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<ConstantSource>,
}

/// Where a constant's value comes from.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConstantSource {
    /// A key of a Secret in the same namespace.
    pub secret_key_ref: SecretKeySelector,
}

/// One scheduled event.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledEventSetting {
    /// Qualified scheduled event name, Module.Event.
    #[schemars(
        length(min = 3, max = 255),
        regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_.]*$")
    )]
    pub name: String,
    /// Whether the event runs.
    pub enabled: bool,
}

/// One Mendix runtime custom setting.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CustomSetting {
    /// Setting name as documented for the Mendix runtime, e.g. `SessionTimeout`.
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[A-Za-z_][A-Za-z0-9_.]*$")
    )]
    pub name: String,
    /// Setting value as text.
    #[schemars(length(max = 65536))]
    pub value: String,
}

/// Coarse state for `kubectl get`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvironmentPhase {
    Pending,
    WaitingForPackage,
    Deploying,
    Restarting,
    Running,
    Stopped,
    Failed,
    Paused,
    /// `changeApproval: Manual`: the plan in `status.plan` waits for approval.
    AwaitingApproval,
    /// A change that stops or restarts the app waits for the next deployment window.
    WaitingForWindow,
}

/// Observed state of a MendixEnvironment.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MendixEnvironmentStatus {
    /// The generation of the spec the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled and domain conditions.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Coarse state: Pending, WaitingForPackage, Deploying, Restarting, Running, Stopped, Failed or Paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<EnvironmentPhase>,
    /// The Mendix environment this status describes (`mendixCloud/APP/MODE`), as last read: the
    /// operator trusts the status only for the same target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The package id deployed in the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_package_id: Option<String>,
    /// Version of the deployed package (major.minor.patch) when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_version: Option<String>,
    /// Model version of the deployed package, as Mendix last reported it (a Mendix Cloud deploy
    /// clears it until the environment is read again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// Mendix runtime version of the deployed package (cleared like modelVersion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mendix_version: Option<String>,
    /// The app's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Instances Mendix reports for the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<i32>,
    /// Memory per instance in MB, as last reported or set (Mendix Cloud).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_per_instance: Option<i32>,
    /// Whether the app runs, as Mendix reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_state: Option<RunState>,
    /// Whether Mendix marks the environment as production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production: Option<bool>,
    /// The remote operation in flight and its step, recorded before it is followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<OperationStatus>,
    /// The last value of annotation `mendixops.io/restartedAt` whose restart was completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_restarted_at: Option<String>,
    /// The last value of annotation `mendixops.io/cleanRequestedAt` that was handled: the
    /// environment was cleaned (Event `Cleaned`), or Mendix refused (Event `CleanFailed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_cleaned_at: Option<String>,
    /// The last value of annotation `mendixops.io/reconcileRequestedAt` that was handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile_requested_at: Option<String>,
    /// Mendix Cloud: about how long a start of this app takes, in milliseconds, learned from
    /// the starts the operator followed. The next start is first polled after this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub start_duration_ms: Option<i64>,
    /// Private Cloud: the Secret and resourceVersion of the admin password last sent (Mendix
    /// never shows it back), e.g. `admin-pass/12345`; a new resourceVersion sends it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_password_version: Option<String>,
    /// Private Cloud: the deployment strategy last sent (Mendix does not show it back); a
    /// spec that differs sends it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_strategy_sent: Option<Box<DeploymentStrategy>>,
    /// Private Cloud: the namespace id the environment was seen in (from namespaceRef too), so
    /// a delete needs no MendixNamespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_id: Option<String>,
    /// The last deployments (newest first, at most 10): package, when, what caused it, how it
    /// ended. `kubectl mendix rollback` goes back to one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub history: Vec<DeploymentRecord>,
    /// `changeApproval: Manual`: the plan waiting for approval, or being carried out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Box<PlanStatus>>,
    /// The last value of annotation `mendixops.io/deployNow` that let a change go outside the
    /// deployment windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_deploy_now: Option<String>,
    /// `changeApproval: Manual`: the hash of the last approved plan that was carried out; an
    /// approval is used once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_approved_plan: Option<String>,
    /// Private Cloud: whether the operator created the remote environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
}
