//! The remote state the sandbox simulates, and how it moves with time.
//!
//! The same types are the seed file format (YAML, camelCase; see `demo.yaml` for a complete
//! example) and the `/_sim/state` document. Fields marked `skip` are runtime-only. Time moves
//! lazily: every request first calls [`World::advance`], which applies every transition whose
//! deadline has passed, in order. No background task is needed, so a sandbox is deterministic.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::SeedError;

/// Simulated durations in milliseconds; multiplied by the time scale.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Timings {
    /// v1 build: `Queued` for this long…
    pub build_queued_ms: u64,
    /// …then `Building` for this long, then `Succeeded` or `Failed`.
    pub build_ms: u64,
    /// A package that just became `Succeeded` (built or uploaded) answers transport with 503
    /// ("still being processed") for this long.
    pub mda_processing_ms: u64,
    /// v1 start job: `Starting` for this long, then `Started` or a start failure.
    pub start_ms: u64,
    /// Private Cloud jobs: `created` for this long…
    pub job_created_ms: u64,
    /// …then `running` for this long, then `finished` or `failed`.
    pub job_running_ms: u64,
    /// Private Cloud build jobs run this long instead of `jobRunningMs`.
    pub pc_build_ms: u64,
    /// After a manifest change is applied, `container.state` is `Processing` for this long.
    pub container_processing_ms: u64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            build_queued_ms: 2_000,
            build_ms: 20_000,
            mda_processing_ms: 3_000,
            start_ms: 10_000,
            job_created_ms: 500,
            job_running_ms: 3_000,
            pc_build_ms: 20_000,
            container_processing_ms: 5_000,
        }
    }
}

/// Everything remote.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct World {
    pub timings: Timings,
    /// Multiplies every simulated duration (0.01 = 100x faster). Seedable; 1.0 by default.
    #[serde(default = "one")]
    pub time_scale: f64,
    pub cloud: CloudState,
    pub private_cloud: PrivateCloudState,
    /// Simulated time skipped by [`super::MendixSandbox::advance_time`].
    #[serde(skip)]
    pub clock_offset: Duration,
}

fn one() -> f64 {
    1.0
}

// ---------------------------------------------------------------- Mendix Cloud (v1)

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CloudState {
    pub users: Vec<CloudUser>,
    pub apps: Vec<CloudApp>,
}

/// A Mendix account with an API key (never shown by `Debug`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudUser {
    pub username: String,
    /// Never written to `/_sim/state`.
    #[serde(skip_serializing)]
    pub api_key: String,
    /// Apps this user may use through the API; absent = every app with every right.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<Vec<AppAccess>>,
}

/// One user's rights on one app.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppAccess {
    pub app_id: String,
    /// Environment modes with API access (writes elsewhere answer 403 `NO_ACCESS`);
    /// absent = all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<Vec<String>>,
    /// The Transport permission (without it transport answers 403 `TRANSPORT_NOT_ALLOWED`).
    #[serde(default = "yes")]
    pub transport: bool,
}

impl std::fmt::Debug for CloudUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudUser")
            .field("username", &self.username)
            .field("api_key", &"<redacted>")
            .field("access", &self.access)
            .finish()
    }
}

fn yes() -> bool {
    true
}

/// What building a revision does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BuildOutcome {
    Succeeds,
    Fails,
}

/// Branch name → revision → outcome. Revisions may be given short or full: a request matches a
/// revision when either is a prefix of the other.
pub type Branches = BTreeMap<String, BTreeMap<String, BuildOutcome>>;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudApp {
    pub app_id: String,
    pub name: String,
    #[serde(default = "new_id")]
    pub project_id: String,
    /// Production or Free App URL; `https://<appId>.mendixcloud.com` by default.
    #[serde(default)]
    pub url: String,
    /// Unlicensed apps cannot scale (400 `NOT_ALLOWED`).
    #[serde(default = "yes")]
    pub licensed: bool,
    /// Mendix version of packages built from this app's repository.
    #[serde(default = "default_mendix_version")]
    pub mendix_version: String,
    #[serde(default)]
    pub branches: Branches,
    #[serde(default)]
    pub packages: Vec<CloudPackage>,
    #[serde(default)]
    pub environments: Vec<CloudEnvironment>,
}

pub fn default_mendix_version() -> String {
    "10.24.0.73019".to_string()
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PackageStatus {
    Queued,
    Building,
    Uploading,
    Succeeded,
    Failed,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudPackage {
    pub package_id: String,
    pub version: String,
    /// `Main line-<version>.mda` by default.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_creator")]
    pub creator: String,
    /// Milliseconds since the epoch.
    #[serde(default = "now_ms")]
    pub creation_date: i64,
    #[serde(default = "succeeded")]
    pub status: PackageStatus,
    #[serde(default = "default_size")]
    pub size: u64,
    #[serde(default = "default_mendix_version")]
    pub mendix_version: String,
    /// Transport answers 500 `PACKAGE_PARSE_FAILED`.
    #[serde(default)]
    pub parse_fails: bool,
    /// The MDA could not be processed: transport answers 403 `NOT ALLOWED`.
    #[serde(default)]
    pub processing_failed: bool,
    /// True while the package is "still being processed" (transport answers 503).
    #[serde(default, skip_deserializing)]
    pub processing: bool,
    #[serde(skip)]
    pub timer: PackageTimer,
    #[serde(skip)]
    pub content: Option<Bytes>,
}

/// Runtime-only timers of a v1 package.
#[derive(Clone, Debug, Default)]
pub struct PackageTimer {
    /// When the current build phase (`Queued`/`Building`) ends.
    pub phase_until: Option<Instant>,
    /// The build result once `Building` ends.
    pub outcome: Option<BuildOutcome>,
    /// End of the "still being processed" window.
    pub processing_until: Option<Instant>,
}

fn default_creator() -> String {
    "Richard Ford".to_string()
}

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn succeeded() -> PackageStatus {
    PackageStatus::Succeeded
}

fn default_size() -> u64 {
    1_999_059
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnvironmentStatus {
    Empty,
    Stopped,
    Running,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudEnvironment {
    /// `Test`, `Acceptance`, `Production` or the name of a flexible environment.
    pub mode: String,
    #[serde(default = "new_id")]
    pub environment_id: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub production: bool,
    /// `Empty` when no package is deployed; `Stopped` by default otherwise.
    #[serde(default)]
    pub status: Option<EnvironmentStatus>,
    /// The deployed package.
    #[serde(default)]
    pub package_id: Option<String>,
    #[serde(default = "one_u32")]
    pub instances: u32,
    #[serde(default = "default_memory")]
    pub memory_per_instance: u32,
    /// The plan's memory: scaling beyond it answers 400 `INVALID_REQUEST`.
    #[serde(default = "default_plan_memory")]
    pub plan_memory: u32,
    /// Mendix major versions this environment runs (empty = all); transporting another
    /// answers 400 `INVALID_RUNTIME_VERSION`.
    #[serde(default)]
    pub supported_mendix_major_versions: Vec<u32>,
    #[serde(default)]
    pub constants: Vec<ConstantSetting>,
    #[serde(default)]
    pub custom_settings: Vec<ValueSetting>,
    #[serde(default)]
    pub scheduled_events: Vec<ValueSetting>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The next start job fails with this error code (e.g. `DB_SYNC_FAILED`), once.
    #[serde(default)]
    pub next_start_failure: Option<String>,
    /// After a transport, starting without `AutoSyncDb: true` fails with
    /// `INVALID_DB_STRUCTURE`.
    #[serde(default)]
    pub require_auto_sync_db: bool,
    #[serde(default, skip_deserializing)]
    pub db_out_of_sync: bool,
    /// The one start job that may be in flight.
    #[serde(default, skip_deserializing)]
    pub starting_job: Option<String>,
    #[serde(default, skip_deserializing)]
    pub start_jobs: BTreeMap<String, StartJob>,
    /// Counts of completed starts and stops (for tests: "was it restarted?").
    #[serde(default, skip_deserializing)]
    pub starts: u64,
    #[serde(default, skip_deserializing)]
    pub stops: u64,
    #[serde(default, skip_deserializing)]
    pub transports: u64,
}

fn one_u32() -> u32 {
    1
}

fn default_memory() -> u32 {
    1024
}

fn default_plan_memory() -> u32 {
    8192
}

/// A constant: `Value` is what the next start uses, `DeployedValue` what runs now.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConstantSetting {
    pub name: String,
    #[serde(default = "default_data_type")]
    pub data_type: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub deployed_value: Option<String>,
}

fn default_data_type() -> String {
    "String".to_string()
}

/// A custom setting or scheduled event (`Enabled`/`Disabled`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValueSetting {
    pub name: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub deployed_value: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartJob {
    pub job_id: String,
    pub auto_sync_db: bool,
    /// `Starting`, `Started` or `Failed`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(skip)]
    pub done_at: Option<Instant>,
}

// ---------------------------------------------------------------- Private Cloud (v4)

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PrivateCloudState {
    pub pats: Vec<PersonalAccessToken>,
    pub clusters: Vec<Cluster>,
    pub apps: Vec<PcApp>,
    #[serde(skip_deserializing)]
    pub jobs: BTreeMap<String, PcJob>,
}

/// A PAT (the token is never shown by `Debug`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersonalAccessToken {
    /// A label for `/_sim/state` (the token itself is never written there).
    #[serde(default)]
    pub name: String,
    #[serde(skip_serializing)]
    pub token: String,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for PersonalAccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonalAccessToken")
            .field("name", &self.name)
            .field("token", &"<redacted>")
            .field("scopes", &self.scopes)
            .finish()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cluster {
    pub cluster_id: String,
    pub name: String,
    #[serde(default = "default_cluster_type")]
    pub cluster_type: String,
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
}

fn default_cluster_type() -> String {
    "k8s".to_string()
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Namespace {
    pub namespace_id: String,
    pub name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PcApp {
    pub app_id: String,
    pub name: String,
    #[serde(default = "default_mendix_version")]
    pub runtime_version: String,
    #[serde(default)]
    pub branches: Branches,
    #[serde(default)]
    pub packages: Vec<PcPackage>,
    /// Seeded in a short form (see [`PcEnvironmentSeed`]); kept as full manifests.
    #[serde(default, deserialize_with = "deserialize_pc_environments")]
    pub environments: Vec<PcEnvironment>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PcPackage {
    pub id: String,
    pub model_version: String,
    #[serde(default = "default_mendix_version")]
    pub runtime_version: String,
    #[serde(default = "Utc::now")]
    pub created_on: DateTime<Utc>,
    #[serde(default)]
    pub description: String,
    /// `MainLine-<modelVersion>.mda` by default.
    #[serde(default)]
    pub file_name: String,
    #[serde(default = "default_size")]
    pub file_size: u64,
    #[serde(default)]
    pub build_log: String,
    #[serde(skip)]
    pub content: Option<Bytes>,
}

/// One Private Cloud environment: its manifest's `environment` object as last applied, with
/// the server-managed `container.state` and `lastRunningInstanceCount` kept beside it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PcEnvironment {
    pub id: String,
    pub namespace_id: String,
    pub manifest_version: String,
    pub environment: serde_json::Value,
    /// `Ready`, `Processing`, `Failed` or `Unknown`.
    pub container_state: String,
    pub last_running_instance_count: u64,
    /// Manifest changes applied (for tests: "did a restart happen?").
    pub updates: u64,
    #[serde(skip)]
    pub processing_until: Option<Instant>,
}

/// The seed form of a Private Cloud environment.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PcEnvironmentSeed {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub cluster_id: String,
    pub namespace_id: String,
    /// The Kubernetes namespace name.
    pub namespace: String,
    #[serde(default)]
    pub production: bool,
    pub package_id: String,
    #[serde(default)]
    pub app_url: String,
    #[serde(default = "one_u32")]
    pub instances: u32,
    #[serde(default)]
    pub constants: Vec<NameValue>,
    #[serde(default)]
    pub scheduled_events: Vec<NameEnabled>,
    /// A full `environment` object instead of the fields above (they are then ignored except
    /// `id` and `namespaceId`).
    #[serde(default)]
    pub manifest: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameValue {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameEnabled {
    pub name: String,
    pub enabled: bool,
}

fn deserialize_pc_environments<'de, D>(deserializer: D) -> Result<Vec<PcEnvironment>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let seeds = Vec::<PcEnvironmentSeed>::deserialize(deserializer)?;
    Ok(seeds.into_iter().map(PcEnvironment::from_seed).collect())
}

impl PcEnvironment {
    fn from_seed(seed: PcEnvironmentSeed) -> Self {
        let environment = match seed.manifest {
            Some(manifest) => manifest,
            None => {
                let name = if seed.name.is_empty() {
                    seed.id.clone()
                } else {
                    seed.name.clone()
                };
                let app_url = if seed.app_url.is_empty() {
                    format!("https://{}.example.mendix-sandbox.local", seed.id)
                } else {
                    seed.app_url.clone()
                };
                serde_json::json!({
                    "id": seed.id,
                    "properties": {
                        "name": name,
                        "production": seed.production,
                        "defaultStudioTarget": false,
                        "secretsStoreEnabled": false,
                        "environmentPurpose": if seed.production { "Production" } else { "Test" },
                    },
                    "deployment": {
                        "appUrl": app_url,
                        "packageId": seed.package_id,
                        "constants": seed.constants,
                        "scheduledEvents": seed.scheduled_events,
                        "appLogLevels": [],
                    },
                    "container": {
                        "instances": seed.instances,
                        "coreResources": {
                            "limits": {"cpu": "1", "memory": "1.0"},
                            "requests": {"cpu": "0.1", "memory": "0.512"},
                        },
                    },
                    "runtime": {
                        "environmentVariables": [],
                        "customRuntimeSettings": [],
                    },
                    "provider": {
                        "clusterId": seed.cluster_id,
                        "namespace": seed.namespace,
                        "namespaceId": seed.namespace_id,
                    },
                    "annotations": [],
                    "services": [],
                })
            }
        };
        let mut environment = environment;
        strip_write_only_secrets(&mut environment);
        let instances = environment
            .pointer("/container/instances")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        PcEnvironment {
            id: seed.id,
            namespace_id: seed.namespace_id,
            manifest_version: "2.0.0".to_string(),
            environment,
            container_state: "Ready".to_string(),
            last_running_instance_count: instances,
            updates: 0,
            processing_until: None,
        }
    }

    pub fn instances(&self) -> u64 {
        self.environment
            .pointer("/container/instances")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    }

    pub fn package_id(&self) -> Option<&str> {
        self.environment
            .pointer("/deployment/packageId")
            .and_then(serde_json::Value::as_str)
    }
}

/// Remove the manifest's write-only secrets (admin, debugger and subscription passwords,
/// certificate keys). The sandbox accepts them but keeps none, so they cannot reach answers,
/// `/_sim/state` or `Debug` output.
pub fn strip_write_only_secrets(environment: &mut serde_json::Value) {
    if let Some(runtime) = environment
        .get_mut("runtime")
        .and_then(serde_json::Value::as_object_mut)
    {
        for secret in ["subscriptionSecret", "debuggerPassword", "mxAdminPassword"] {
            runtime.remove(secret);
        }
    }
    if let Some(certificates) = environment
        .pointer_mut("/network/outgoingConnectionCertificate")
        .and_then(serde_json::Value::as_array_mut)
    {
        for certificate in certificates
            .iter_mut()
            .filter_map(serde_json::Value::as_object_mut)
        {
            certificate.remove("password");
            certificate.remove("key");
        }
    }
}

/// A Private Cloud job (build and deploy share `GET /jobs/{jobId}`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PcJob {
    pub id: String,
    pub api: JobApi,
    pub app_id: String,
    /// `created`, `running`, `finished` or `failed`.
    pub status: String,
    pub details: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub build_log: String,
    /// Creation order: jobs due at the same time end in the order they were made.
    #[serde(skip)]
    pub sequence: usize,
    #[serde(skip)]
    pub running_at: Option<Instant>,
    #[serde(skip)]
    pub done_at: Option<Instant>,
    #[serde(skip)]
    pub effect: Option<JobEffect>,
}

/// Which API a job belongs to (decides the scopes needed to read it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum JobApi {
    Build,
    Deploy,
}

/// What a job does to the world when it ends.
#[derive(Clone, Debug)]
pub enum JobEffect {
    AddPackage(Box<PcPackage>),
    DeletePackage {
        package_id: String,
    },
    Fail {
        code: u16,
        message: String,
    },
    ApplyManifest {
        environment_id: String,
        environment: serde_json::Value,
    },
    CreateEnvironment(Box<PcEnvironment>),
    DeleteEnvironment {
        environment_id: String,
    },
    CreateCluster(Cluster),
    UpdateCluster {
        cluster_id: String,
        name: String,
        cluster_type: String,
    },
    DeleteCluster {
        cluster_id: String,
    },
    CreateNamespace {
        cluster_id: String,
        namespace: Namespace,
    },
    /// Namespace settings the sandbox does not model (plans, members, …): accepted, no change.
    UpdateNamespace,
    DeleteNamespace {
        cluster_id: String,
        namespace_id: String,
    },
}

// ---------------------------------------------------------------- seeding and time

impl World {
    /// Parse and check a seed file.
    pub fn from_yaml(text: &str) -> Result<Self, SeedError> {
        let mut world: World = serde_yaml::from_str(text)?;
        world.check()?;
        world.fill_defaults();
        Ok(world)
    }

    fn check(&self) -> Result<(), SeedError> {
        let invalid = |field: String, problem: &str| SeedError::Invalid {
            field,
            problem: problem.to_string(),
        };
        if !(self.time_scale.is_finite() && self.time_scale >= 0.0) {
            return Err(invalid(
                "timeScale".into(),
                "must be a number >= 0 (e.g. 0.01 for 100x faster)",
            ));
        }
        for (i, user) in self.cloud.users.iter().enumerate() {
            if user.username.is_empty() || user.api_key.is_empty() {
                return Err(invalid(
                    format!("cloud.users[{i}]"),
                    "needs a non-empty username and apiKey",
                ));
            }
        }
        for (i, app) in self.cloud.apps.iter().enumerate() {
            for (j, env) in app.environments.iter().enumerate() {
                if let Some(package) = &env.package_id
                    && !app.packages.iter().any(|p| &p.package_id == package)
                {
                    return Err(invalid(
                        format!("cloud.apps[{i}].environments[{j}].packageId"),
                        "names no package of this app; add it under the app's packages",
                    ));
                }
            }
        }
        for (i, pat) in self.private_cloud.pats.iter().enumerate() {
            if pat.token.is_empty() {
                return Err(invalid(
                    format!("privateCloud.pats[{i}].token"),
                    "must not be empty",
                ));
            }
        }
        for (i, app) in self.private_cloud.apps.iter().enumerate() {
            for (j, env) in app.environments.iter().enumerate() {
                if !self.namespace_exists(&env.namespace_id) {
                    return Err(invalid(
                        format!("privateCloud.apps[{i}].environments[{j}].namespaceId"),
                        "names no namespace of any cluster; add it under privateCloud.clusters",
                    ));
                }
                if env.id.len() > 32 {
                    return Err(invalid(
                        format!("privateCloud.apps[{i}].environments[{j}].id"),
                        "must be at most 32 characters",
                    ));
                }
            }
        }
        Ok(())
    }

    fn fill_defaults(&mut self) {
        for app in &mut self.cloud.apps {
            if app.url.is_empty() {
                app.url = format!("https://{}.mendixcloud.com", app.app_id);
            }
            for package in &mut app.packages {
                if package.name.is_empty() {
                    package.name = format!("Main line-{}.mda", package.version);
                }
            }
            for env in &mut app.environments {
                if env.url.is_empty() {
                    env.url = if env.production {
                        app.url.clone()
                    } else {
                        format!(
                            "https://{}-{}.mendixcloud.com",
                            app.app_id,
                            env.mode.to_lowercase()
                        )
                    };
                }
                if env.package_id.is_none() {
                    env.status = Some(EnvironmentStatus::Empty);
                } else if env.status.is_none() || env.status == Some(EnvironmentStatus::Empty) {
                    env.status = Some(EnvironmentStatus::Stopped);
                }
            }
        }
        for app in &mut self.private_cloud.apps {
            for package in &mut app.packages {
                if package.file_name.is_empty() {
                    package.file_name = format!("MainLine-{}.mda", package.model_version);
                }
            }
        }
    }

    pub fn namespace_exists(&self, namespace_id: &str) -> bool {
        self.private_cloud
            .clusters
            .iter()
            .any(|c| c.namespaces.iter().any(|n| n.namespace_id == namespace_id))
    }

    /// The sandbox clock: real time plus any time skipped by a test.
    pub fn now(&self) -> Instant {
        Instant::now() + self.clock_offset
    }

    /// `from` + a simulated duration, scaled.
    pub fn after(&self, from: Instant, simulated_ms: u64) -> Instant {
        let seconds = simulated_ms as f64 / 1000.0 * self.time_scale;
        from + Duration::from_secs_f64(seconds.clamp(0.0, 1.0e9))
    }

    /// Apply every transition whose time has come.
    pub fn advance(&mut self, now: Instant) {
        self.advance_cloud_packages(now);
        self.advance_start_jobs(now);
        self.advance_pc_jobs(now);
        for app in &mut self.private_cloud.apps {
            for env in &mut app.environments {
                if let Some(until) = env.processing_until
                    && until <= now
                {
                    env.processing_until = None;
                    env.container_state = "Ready".to_string();
                    let instances = env.instances();
                    if instances > 0 {
                        env.last_running_instance_count = instances;
                    }
                }
            }
        }
    }

    fn advance_cloud_packages(&mut self, now: Instant) {
        let timings = self.timings.clone();
        let scale = self.time_scale;
        let after = |from: Instant, ms: u64| {
            from + Duration::from_secs_f64((ms as f64 / 1000.0 * scale).clamp(0.0, 1.0e9))
        };
        for app in &mut self.cloud.apps {
            for package in &mut app.packages {
                while let Some(until) = package.timer.phase_until {
                    if until > now {
                        break;
                    }
                    match package.status {
                        PackageStatus::Queued => {
                            package.status = PackageStatus::Building;
                            package.timer.phase_until = Some(after(until, timings.build_ms));
                        }
                        PackageStatus::Building | PackageStatus::Uploading => {
                            package.timer.phase_until = None;
                            if package.timer.outcome == Some(BuildOutcome::Fails) {
                                package.status = PackageStatus::Failed;
                            } else {
                                package.status = PackageStatus::Succeeded;
                                package.timer.processing_until =
                                    Some(after(until, timings.mda_processing_ms));
                            }
                        }
                        PackageStatus::Succeeded | PackageStatus::Failed => {
                            package.timer.phase_until = None;
                        }
                    }
                }
                if let Some(until) = package.timer.processing_until
                    && until <= now
                {
                    package.timer.processing_until = None;
                }
                package.processing = package.timer.processing_until.is_some();
            }
        }
    }

    fn advance_start_jobs(&mut self, now: Instant) {
        for app in &mut self.cloud.apps {
            for env in &mut app.environments {
                let Some(job_id) = env.starting_job.clone() else {
                    continue;
                };
                let due = env
                    .start_jobs
                    .get(&job_id)
                    .and_then(|job| job.done_at)
                    .is_some_and(|at| at <= now);
                if !due {
                    continue;
                }
                let auto_sync_db = env
                    .start_jobs
                    .get(&job_id)
                    .is_some_and(|job| job.auto_sync_db);
                let failure = start_failure(env, auto_sync_db);
                env.starting_job = None;
                if let Some(job) = env.start_jobs.get_mut(&job_id) {
                    job.done_at = None;
                    match failure {
                        Some((code, message)) => {
                            job.status = "Failed".to_string();
                            job.error_code = Some(code);
                            job.error_message = Some(message);
                        }
                        None => job.status = "Started".to_string(),
                    }
                }
                if env
                    .start_jobs
                    .get(&job_id)
                    .is_some_and(|j| j.status == "Started")
                {
                    env.status = Some(EnvironmentStatus::Running);
                    env.db_out_of_sync = false;
                    env.starts += 1;
                    for constant in &mut env.constants {
                        constant.deployed_value = constant.value.clone();
                    }
                    for setting in env
                        .custom_settings
                        .iter_mut()
                        .chain(env.scheduled_events.iter_mut())
                    {
                        setting.deployed_value = setting.value.clone();
                    }
                }
            }
        }
    }

    fn advance_pc_jobs(&mut self, now: Instant) {
        let mut due: Vec<(Instant, usize, String)> = self
            .private_cloud
            .jobs
            .values_mut()
            .filter_map(|job| {
                if job.status == "created" && job.running_at.is_some_and(|at| at <= now) {
                    job.status = "running".to_string();
                }
                match job.done_at {
                    Some(at) if job.status == "running" && at <= now => {
                        Some((at, job.sequence, job.id.clone()))
                    }
                    _ => None,
                }
            })
            .collect();
        due.sort();
        for (_, _, job_id) in due {
            let Some(job) = self.private_cloud.jobs.get_mut(&job_id) else {
                continue;
            };
            let effect = job.effect.take();
            let added_package = match &effect {
                Some(JobEffect::AddPackage(package)) => Some(package.id.clone()),
                _ => None,
            };
            let app_id = job.app_id.clone();
            let done_at = job.done_at.unwrap_or(now);
            let result = match effect {
                Some(effect) => self.apply_job_effect(&app_id, effect, done_at),
                None => Ok(()),
            };
            if let Some(job) = self.private_cloud.jobs.get_mut(&job_id) {
                job.done_at = None;
                match result {
                    Ok(()) => {
                        job.status = "finished".to_string();
                        job.package_id = added_package;
                    }
                    Err((code, message)) => {
                        job.status = "failed".to_string();
                        job.error_code = Some(code);
                        job.error_message = Some(message);
                    }
                }
            }
        }
    }

    fn apply_job_effect(
        &mut self,
        app_id: &str,
        effect: JobEffect,
        at: Instant,
    ) -> Result<(), (u16, String)> {
        let effect = match self.apply_cluster_effect(effect) {
            Ok(result) => return result,
            Err(effect) => effect,
        };
        let processing_until = self.after(at, self.timings.container_processing_ms);
        let Some(app) = self
            .private_cloud
            .apps
            .iter_mut()
            .find(|a| a.app_id == app_id)
        else {
            return Err((404, format!("App {app_id} could not be found")));
        };
        match effect {
            JobEffect::Fail { code, message } => Err((code, message)),
            JobEffect::AddPackage(package) => {
                app.packages.push(*package);
                Ok(())
            }
            JobEffect::DeletePackage { package_id } => {
                if let Some(env) = app
                    .environments
                    .iter()
                    .find(|e| e.package_id() == Some(package_id.as_str()))
                {
                    return Err((
                        400,
                        format!(
                            "Deployment package {package_id} is in use by environment {}",
                            env.id
                        ),
                    ));
                }
                app.packages.retain(|p| p.id != package_id);
                Ok(())
            }
            JobEffect::ApplyManifest {
                environment_id,
                environment,
            } => {
                let Some(env) = app.environments.iter_mut().find(|e| e.id == environment_id) else {
                    return Err((404, format!("Environment {environment_id} not found")));
                };
                env.environment = environment;
                env.updates += 1;
                env.container_state = "Processing".to_string();
                env.processing_until = Some(processing_until);
                Ok(())
            }
            JobEffect::CreateEnvironment(env) => {
                if app.environments.iter().any(|e| e.id == env.id) {
                    return Err((
                        400,
                        format!("Environment with id {} already exists", env.id),
                    ));
                }
                let mut env = *env;
                env.container_state = "Processing".to_string();
                env.processing_until = Some(processing_until);
                app.environments.push(env);
                Ok(())
            }
            JobEffect::DeleteEnvironment { environment_id } => {
                app.environments.retain(|e| e.id != environment_id);
                Ok(())
            }
            other => Err((500, format!("job effect {other:?} is not an app effect"))),
        }
    }

    /// Cluster and namespace effects; any other effect is handed back.
    fn apply_cluster_effect(
        &mut self,
        effect: JobEffect,
    ) -> Result<Result<(), (u16, String)>, JobEffect> {
        let in_use = |world: &World, namespace_ids: &[String]| {
            world
                .private_cloud
                .apps
                .iter()
                .flat_map(|a| a.environments.iter())
                .find(|e| namespace_ids.contains(&e.namespace_id))
                .map(|e| e.id.clone())
        };
        let clusters = &self.private_cloud.clusters;
        let result = match effect {
            JobEffect::CreateCluster(cluster) => {
                if clusters.iter().any(|c| c.cluster_id == cluster.cluster_id) {
                    Err((
                        400,
                        format!("Cluster with id {} already exists", cluster.cluster_id),
                    ))
                } else {
                    self.private_cloud.clusters.push(cluster);
                    Ok(())
                }
            }
            JobEffect::UpdateCluster {
                cluster_id,
                name,
                cluster_type,
            } => match self
                .private_cloud
                .clusters
                .iter_mut()
                .find(|c| c.cluster_id == cluster_id)
            {
                Some(cluster) => {
                    cluster.name = name;
                    cluster.cluster_type = cluster_type;
                    Ok(())
                }
                None => Err((404, format!("Cluster {cluster_id} could not be found"))),
            },
            JobEffect::DeleteCluster { cluster_id } => {
                let namespaces: Vec<String> = clusters
                    .iter()
                    .filter(|c| c.cluster_id == cluster_id)
                    .flat_map(|c| c.namespaces.iter().map(|n| n.namespace_id.clone()))
                    .collect();
                if namespaces.is_empty() {
                    self.private_cloud
                        .clusters
                        .retain(|c| c.cluster_id != cluster_id);
                    Ok(())
                } else {
                    Err((
                        400,
                        format!("Cluster {cluster_id} still has namespaces; delete them first"),
                    ))
                }
            }
            JobEffect::CreateNamespace {
                cluster_id,
                namespace,
            } => {
                let exists = clusters
                    .iter()
                    .flat_map(|c| c.namespaces.iter())
                    .any(|n| n.namespace_id == namespace.namespace_id);
                match self
                    .private_cloud
                    .clusters
                    .iter_mut()
                    .find(|c| c.cluster_id == cluster_id)
                {
                    _ if exists => Err((
                        400,
                        format!(
                            "Namespace with id {} already exists",
                            namespace.namespace_id
                        ),
                    )),
                    Some(cluster) => {
                        cluster.namespaces.push(namespace);
                        Ok(())
                    }
                    None => Err((404, format!("Cluster {cluster_id} could not be found"))),
                }
            }
            JobEffect::UpdateNamespace => Ok(()),
            JobEffect::DeleteNamespace {
                cluster_id,
                namespace_id,
            } => match in_use(self, std::slice::from_ref(&namespace_id)) {
                Some(environment) => Err((
                    400,
                    format!(
                        "Namespace {namespace_id} still has environment {environment}; delete it first"
                    ),
                )),
                None => {
                    for cluster in self
                        .private_cloud
                        .clusters
                        .iter_mut()
                        .filter(|c| c.cluster_id == cluster_id)
                    {
                        cluster
                            .namespaces
                            .retain(|n| n.namespace_id != namespace_id);
                    }
                    Ok(())
                }
            },
            other => return Err(other),
        };
        Ok(result)
    }
}

/// The next build number: one more than the highest last version component so far, so that
/// versions never repeat (also after deletions).
pub fn next_build_number<'a>(versions: impl Iterator<Item = &'a str>) -> u64 {
    versions
        .filter_map(|v| v.rsplit('.').next()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
        + 1
}

/// Why a start job fails, decided when it ends (documented v1 start failures).
fn start_failure(env: &mut CloudEnvironment, auto_sync_db: bool) -> Option<(String, String)> {
    if let Some(code) = env.next_start_failure.take() {
        let message = match code.as_str() {
            "DB_SYNC_FAILED" => "Cannot start app. Synchronization of database failed.",
            "INSECURE_ADMIN_PASSWORD" => {
                "Cannot start app. There is a user with administrator role with password '1'. This is not allowed."
            }
            "STARTUP_ACTION_FAILED" => "Cannot start app. Startup action failed.",
            "ALREADY_LOCKED" => "Cannot start app. There is already a lock on this environment.",
            _ => "Cannot start app: simulated failure",
        };
        return Some((code, message.to_string()));
    }
    if env.package_id.is_none() {
        return Some((
            "NO_PACKAGE".to_string(),
            "Cannot start app. There should be a package configured for this environment."
                .to_string(),
        ));
    }
    if env.constants.iter().any(|c| c.value.is_none()) {
        return Some((
            "MISSING_CONSTANT".to_string(),
            "Cannot start app. Missing one or more constant values.".to_string(),
        ));
    }
    if env.db_out_of_sync && !auto_sync_db {
        return Some((
            "INVALID_DB_STRUCTURE".to_string(),
            "Cannot start app. The database is out-of-sync with the model. Please set AutoSyncDb parameter to true to synchronize the database automatically on startup.".to_string(),
        ));
    }
    None
}
