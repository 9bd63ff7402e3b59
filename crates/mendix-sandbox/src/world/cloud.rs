//! Mendix Cloud (v1) state: users with API keys, apps, packages, environments and their
//! settings and start jobs.

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use serde::{Deserialize, Serialize};

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

pub(super) fn yes() -> bool {
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
    /// How long a start of this app's environments runs (ms), when it differs from
    /// `timings.startMs`: apps start in their own time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<u64>,
}

pub fn default_mendix_version() -> String {
    "10.24.0.73019".to_string()
}

pub(super) fn new_id() -> String {
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

pub(super) fn default_creator() -> String {
    "Richard Ford".to_string()
}

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(super) fn succeeded() -> PackageStatus {
    PackageStatus::Succeeded
}

pub(super) fn default_size() -> u64 {
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

pub(super) fn one_u32() -> u32 {
    1
}

pub(super) fn default_memory() -> u32 {
    1024
}

pub(super) fn default_plan_memory() -> u32 {
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

pub(super) fn default_data_type() -> String {
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
