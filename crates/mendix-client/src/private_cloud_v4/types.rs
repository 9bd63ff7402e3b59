//! Wire types of the Private Cloud Build and Deploy API v4 (camelCase, as in
//! `privatecloud-build-v4.yaml` and `privatecloud-deploy-v4.yaml`).
//!
//! Manifests are read-modify-written (GET, change, PUT), so every manifest type keeps the fields
//! it does not model in `extra` and sends them back unchanged. Manifests can hold secrets
//! (namespace `secret`, runtime passwords, constant values): their Debug output shows only
//! identifiers and names.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::credentials::SignedUrl;

/// Unmodelled fields, sent back unchanged.
pub type Extra = Map<String, Value>;

// ---------------------------------------------------------------- jobs

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Created,
    Running,
    Finished,
    Failed,
    #[serde(other)]
    Unknown,
}

/// An asynchronous job (`GET /jobs/{jobId}`, and the 202 answer of every write).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: String,
    pub status: JobStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// Set when a build or upload job has finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<JobLog>,
}

impl Job {
    /// `finished` or `failed`.
    pub fn is_done(&self) -> bool {
        matches!(self.status, JobStatus::Finished | JobStatus::Failed)
    }

    /// Why a failed job failed, for a status message.
    pub fn failure_message(&self) -> Option<String> {
        (self.status == JobStatus::Failed).then(|| {
            self.error
                .as_ref()
                .and_then(|e| e.message.clone())
                .or_else(|| self.details.clone())
                .unwrap_or_else(|| "the job failed without a message".into())
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobLog {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
}

/// What a caller records to follow a job later: its id and the `Location` Mendix gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobHandle {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

// ---------------------------------------------------------------- build API

/// `POST /apps/{appId}/packages/build` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildRequest {
    /// 1..200 characters.
    pub branch: String,
    /// SVN revision number or Git hash, 1..50 characters.
    pub revision: String,
    /// `x.y.z`, at most 20 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A deployment package (list item, or the `package` of `GET .../packages/{id}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    pub id: String,
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub model_version: Option<String>,
    #[serde(default)]
    pub runtime_version: Option<String>,
    /// RFC 3339 date-time.
    #[serde(default)]
    pub created_on: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub file_name: Option<String>,
    /// Bytes.
    #[serde(default)]
    pub file_size: Option<u64>,
    /// Present with `?log=true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_log: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_date: Option<String>,
    /// Present with `?url=true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<PackageUrl>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackageUrl {
    pub location: SignedUrl,
    /// Seconds the URL stays valid.
    #[serde(default)]
    pub ttl: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackageEnvelope {
    pub package: Package,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackagePage {
    #[serde(default)]
    pub packages: Vec<Package>,
    #[serde(default)]
    pub pagination: Option<Pagination>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pagination {
    pub offset: u64,
    pub limit: u64,
    pub size: u64,
}

// ---------------------------------------------------------------- deploy API: apps

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppManifest {
    #[serde(default)]
    pub manifest_version: Option<String>,
    #[serde(default)]
    pub app: Option<AppInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub app_id: String,
    #[serde(default)]
    pub app_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppsPage {
    #[serde(default)]
    pub apps: Vec<AppManifest>,
}

// ---------------------------------------------------------------- deploy API: environments

/// An environment manifest (GET answer and PUT/POST body).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentManifest {
    pub manifest_version: String,
    pub environment: EnvironmentSpec,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentSpec {
    /// Chosen by the caller on creation (at most 32 characters).
    pub id: String,
    pub properties: EnvironmentProperties,
    pub deployment: Deployment,
    pub container: Container,
    pub provider: Provider,
    #[serde(default)]
    pub services: Vec<Service>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Vec<Annotation>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_metrics_configuration: Option<RuntimeMetricsConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_strategy: Option<DeploymentStrategy>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A Kubernetes annotation on the app's `Pod`, `Service` or `Ingress`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Annotation {
    pub key: String,
    #[serde(default)]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_type: Option<String>,
}

/// `mode` is `default`, `native` or `compatibility`; the agent configurations are JSON text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeMetricsConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mx_agent_config: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mx_agent_instrumentation_config: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// How pods are replaced; the percentages are integers. Mind the contract's spelling of
/// `switchOverthreshold`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStrategy {
    /// `Default` or `Reduced App Downtime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_deployment_strategy_type: Option<String>,
    #[serde(
        default,
        rename = "switchOverthreshold",
        skip_serializing_if = "Option::is_none"
    )]
    pub switch_over_threshold: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_disruption_min_available: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_disruption_max_unavailable: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentProperties {
    pub name: String,
    pub production: bool,
    pub default_studio_target: bool,
    #[serde(default)]
    pub secrets_store_enabled: bool,
    /// `Test`, `Development`, `Acceptance` or `Production` (not editable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_purpose: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub app_url: String,
    pub package_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constants: Option<Vec<Constant>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_events: Option<Vec<ScheduledEvent>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_log_levels: Option<Vec<AppLogLevel>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The level of one log node: `CRITICAL`, `ERROR`, `INFO`, `DEBUG`, `TRACE` or `NONE`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppLogLevel {
    pub name: String,
    #[serde(default)]
    pub level: String,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constant {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledEvent {
    pub name: String,
    #[serde(default)]
    pub enabled: bool,
}

/// `Ready`, `Processing`, `Failed` or `Unknown` as documented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerState {
    Ready,
    Processing,
    Failed,
    Unknown,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// Kept as text so a value outside the documented enum survives a round trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// 0..10; 0 stops the app.
    pub instances: u32,
    /// Not editable: instances while running, or before the last stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_running_instance_count: Option<u32>,
    pub core_resources: CoreResources,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Container {
    pub fn state(&self) -> ContainerState {
        match self.state.as_deref() {
            Some("Ready") => ContainerState::Ready,
            Some("Processing") => ContainerState::Processing,
            Some("Failed") => ContainerState::Failed,
            _ => ContainerState::Unknown,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoreResources {
    pub limits: CoreResource,
    pub requests: CoreResource,
}

/// `cpu` in cores, `memory` and `ephemeralStorage` in Gb, as strings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CoreResource {
    pub cpu: String,
    pub memory: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    pub cluster_id: String,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A service plan binding, e.g. `{name: ephemeral_db, plan: OnDemand, config: "{type: \"database\"}"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub plan: String,
    pub config: String,
}

#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Runtime {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_variables: Option<Vec<NameValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_runtime_settings: Option<Vec<NameValue>>,
    /// Base64 text; write-only (Mendix never shows it back), never in Debug output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mx_admin_password: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A custom runtime setting or environment variable.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameValue {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentsPage {
    #[serde(default)]
    pub environments: Vec<EnvironmentManifest>,
}

// ---------------------------------------------------------------- deploy API: clusters

/// A cluster manifest: the `GET` answer, and the body of `POST /clusters` and
/// `PUT /clusters/{clusterId}` (read, change, write back: unmodelled fields are kept).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterManifest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterInfo>,
}

/// A cluster. Unset fields are not sent. Read-only facts (`totalNamespaces`,
/// `totalEnvironments`, `creator`) stay in `extra`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    pub cluster_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `os`, `k8s`, `eks`, `aks` or `stackit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_type: Option<String>,
    /// `global_operator` or `standard_operator` (the default); cannot change after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Set through an update; a list given replaces the cluster's managers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_managers: Option<Vec<ClusterManager>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A cluster manager (an invitation until accepted).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterManager {
    pub email: String,
    /// `Invitation_Sent` or `Accepted` (set by Mendix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Set by Mendix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Accept the invitation at once (new invitations only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_accept_invite: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One version of mxpc-cli, the Private Cloud configuration tool (`GET /cli`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CliVersion {
    pub cli_version: String,
    #[serde(default)]
    pub operator_version: Option<String>,
    /// A comma-separated list, e.g. `windows, linux, macos`.
    #[serde(default)]
    pub available_operating_systems: Option<String>,
    /// A comma-separated list, e.g. `x86, arm`.
    #[serde(default)]
    pub available_architectures: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CliVersionList {
    pub cli_version_list: Vec<CliVersion>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClustersPage {
    #[serde(default)]
    pub clusters: Vec<ClusterManifest>,
}

/// A namespace manifest: the `GET` answer, and the body of `POST .../namespaces` and
/// `PUT .../namespaces/{namespaceId}` (read, change, write back: unmodelled fields are kept).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceManifest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_version: Option<String>,
    pub namespace: NamespaceInfo,
}

/// A namespace. Unset fields are not sent. Its `secret` (the mxpc-cli installer secret) never
/// appears in Debug output; `operationalLinks` and `additionalInformation` stay in `extra`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceInfo {
    pub namespace_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `standard` (the default), `main` or `managed`; cannot change after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_type: Option<String>,
    /// `Connected` or `Standalone`; cannot change after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation_type: Option<String>,
    /// The installer secret (`mxpc-cli installer -s`), required on create and update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(
        rename = "productTypePCLM",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub product_type_pclm: Option<String>,
    /// The database and storage plans; only `activate` can be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plans: Option<Vec<NamespacePlan>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_development_mode: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_external_secrets_store: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<Vec<NamespaceMember>>,
    /// Present with `?retrieveEnvironments=true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<Vec<NamespaceEnvironment>>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl NamespaceInfo {
    /// The Mendix Operator version reported in `additionalInformation.componentVersion`: the
    /// contract's only sign that `mxpc-cli installer` has run in the namespace (`None`: not
    /// installed, or not reported). Some published examples spell the object
    /// `componentsVersion`; that spelling is read too.
    pub fn operator_version(&self) -> Option<&str> {
        let information = self.extra.get("additionalInformation")?;
        ["componentVersion", "componentsVersion"]
            .iter()
            .find_map(|key| information.get(*key)?.get("operatorVersion")?.as_str())
            .filter(|version| !version.trim().is_empty())
    }
}

/// A database or storage plan of a namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespacePlan {
    /// Not editable: names the plan to change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_name: Option<String>,
    /// `OnDemand` or `Dedicated` (not editable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activate: Option<bool>,
    /// Not editable, e.g. `{type:"database"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_config: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A member of a namespace (an invitation until accepted).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceMember {
    pub email: String,
    /// `Developer`, `Administrator`, `Custom_DEPRECATED` or a custom role's name.
    pub role: String,
    /// `Invitation_Sent` or `Accepted` (set by Mendix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Set by Mendix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_accept_invite: Option<bool>,
    /// Not editable: what the role allows (`deployApp`, `scaleApp`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceEnvironment {
    #[serde(default)]
    pub environment_id: Option<String>,
    #[serde(default)]
    pub environment_name: Option<String>,
    #[serde(default)]
    pub application_id: Option<String>,
    #[serde(default)]
    pub application_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NamespacesPage {
    #[serde(default)]
    pub namespaces: Vec<NamespaceManifest>,
}

// ---------------------------------------------------------------- Debug without secrets

fn names<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    items.into_iter().collect()
}

impl fmt::Debug for EnvironmentManifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvironmentManifest")
            .field("manifest_version", &self.manifest_version)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for EnvironmentSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvironmentSpec")
            .field("id", &self.id)
            .field("properties", &self.properties)
            .field("deployment", &self.deployment)
            .field("container", &self.container)
            .field("provider", &self.provider)
            .field("runtime", &self.runtime)
            .field("annotations", &self.annotations)
            .field(
                "runtime_metrics_configuration",
                &self.runtime_metrics_configuration,
            )
            .field("deployment_strategy", &self.deployment_strategy)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for EnvironmentProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvironmentProperties")
            .field("name", &self.name)
            .field("production", &self.production)
            .field("environment_purpose", &self.environment_purpose)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Deployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deployment")
            .field("app_url", &self.app_url)
            .field("package_id", &self.package_id)
            .field("constants", &self.constants)
            .field("scheduled_events", &self.scheduled_events)
            .field("app_log_levels", &self.app_log_levels)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Constant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Constant({}: <value redacted>)", self.name)
    }
}

impl fmt::Debug for NameValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NameValue({}: <value redacted>)", self.name)
    }
}

impl fmt::Debug for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Container")
            .field("state", &self.state)
            .field("instances", &self.instances)
            .field(
                "last_running_instance_count",
                &self.last_running_instance_count,
            )
            .field("core_resources", &self.core_resources)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("runtime_version", &self.runtime_version)
            .field("environment_variables", &self.environment_variables)
            .field("custom_runtime_settings", &self.custom_runtime_settings)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for NamespaceManifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamespaceManifest")
            .field("manifest_version", &self.manifest_version)
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl fmt::Debug for NamespaceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamespaceInfo")
            .field("namespace_id", &self.namespace_id)
            .field("name", &self.name)
            .field("namespace_type", &self.namespace_type)
            .field("installation_type", &self.installation_type)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("product_type_pclm", &self.product_type_pclm)
            .field("plans", &self.plans)
            .field("enable_development_mode", &self.enable_development_mode)
            .field(
                "enable_external_secrets_store",
                &self.enable_external_secrets_store,
            )
            .field("membership", &self.membership)
            .field("environments", &self.environments)
            .field(
                "other_fields",
                &names(self.extra.keys().map(String::as_str)),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest_json() -> Value {
        json!({
            "manifestVersion": "v1",
            "environment": {
                "id": "q8g3ns76",
                "properties": {"name": "test", "production": false, "defaultStudioTarget": false,
                                "secretsStoreEnabled": false, "environmentPurpose": "Test"},
                "deployment": {"appUrl": "https://app.example.com", "packageId": "p1",
                                "constants": [{"name": "M.ApiKey", "value": "constant-secret"}],
                                "scheduledEvents": [{"name": "M.Job", "enabled": true}],
                                "appLogLevels": [{"name": "L", "level": "INFO"}]},
                "container": {"state": "Ready", "instances": 1, "lastRunningInstanceCount": 1,
                               "coreResources": {"limits": {"cpu": "1", "memory": "1"},
                                                 "requests": {"cpu": "0.1", "memory": "0.5"}}},
                "runtime": {"runtimeVersion": "10.6.1", "mxAdminPassword": "admin-secret",
                             "customRuntimeSettings": [{"name": "S", "value": "v"}]},
                "provider": {"clusterId": "c1", "namespace": "ns", "namespaceId": "n1"},
                "services": [{"name": "ephemeral_db", "plan": "OnDemand", "config": "{type: \"database\"}"}],
                "annotations": [{"key": "a", "value": "b", "annotationType": "Pod"}],
                "futureField": {"x": 1}
            }
        })
    }

    #[test]
    fn manifests_round_trip_unmodelled_fields() {
        let doc = manifest_json();
        let manifest: EnvironmentManifest = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(
            manifest.environment.container.state(),
            ContainerState::Ready
        );
        assert_eq!(serde_json::to_value(&manifest).unwrap(), doc);
    }

    #[test]
    fn manifest_debug_hides_values() {
        let manifest: EnvironmentManifest = serde_json::from_value(manifest_json()).unwrap();
        let debug = format!("{manifest:?}");
        assert!(
            debug.contains("q8g3ns76") && debug.contains("M.ApiKey"),
            "{debug}"
        );
        assert!(!debug.contains("constant-secret"), "{debug}");
        assert!(!debug.contains("admin-secret"), "{debug}");
        let ns: NamespaceManifest = serde_json::from_value(json!({
            "manifestVersion": "v1",
            "namespace": {"namespaceId": "n1", "name": "ns", "installationType": "Connected",
                           "secret": "namespace-secret", "productTypePCLM": "x"}
        }))
        .unwrap();
        assert!(!format!("{ns:?}").contains("namespace-secret"));
    }

    #[test]
    fn jobs_read_the_documented_examples() {
        let job: Job = serde_json::from_value(json!({
            "id": "bb6ed4d3", "status": "failed", "details": "Request to build deployment package.",
            "error": {"code": 400, "message": "The job failed"}
        }))
        .unwrap();
        assert!(job.is_done());
        assert_eq!(job.failure_message().as_deref(), Some("The job failed"));
        let job: Job = serde_json::from_value(json!({
            "id": "vb6", "status": "finished", "packageId": "63e50976-34bf-4ce4-820b-9e5f106e5fa5"
        }))
        .unwrap();
        assert_eq!(
            job.package_id.as_deref(),
            Some("63e50976-34bf-4ce4-820b-9e5f106e5fa5")
        );
        assert_eq!(job.failure_message(), None);
    }
}
