//! Private Cloud (v4) state: PATs with scopes, clusters and namespaces, apps with packages and
//! environment manifests, and the jobs that change them.

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::cloud::{Branches, default_mendix_version, default_size, one_u32};

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

/// A cluster. Seeded with its id and name at least; `operatorType` defaults to
/// `standard_operator`, seeded managers to `Accepted`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cluster {
    pub cluster_id: String,
    pub name: String,
    #[serde(default = "default_cluster_type")]
    pub cluster_type: String,
    /// `standard_operator` or `global_operator`; fixed at creation.
    #[serde(default = "default_operator_type")]
    pub operator_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub cluster_managers: Vec<ClusterManager>,
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
}

pub(super) fn default_cluster_type() -> String {
    "k8s".to_string()
}

fn default_operator_type() -> String {
    "standard_operator".to_string()
}

pub const INVITATION_SENT: &str = "Invitation_Sent";
pub const ACCEPTED: &str = "Accepted";
pub const INVITATION_STATUSES: &[&str] = &[INVITATION_SENT, ACCEPTED];
pub const OPERATOR_TYPES: &[&str] = &["global_operator", "standard_operator"];
pub const NAMESPACE_TYPES: &[&str] = &["standard", "main", "managed"];
pub const INSTALLATION_TYPES: &[&str] = &["Connected", "Standalone"];
pub const PLAN_TYPES: &[&str] = &["OnDemand", "Dedicated"];

fn default_accepted() -> String {
    ACCEPTED.to_string()
}

/// A cluster manager: an invitation until accepted. The display name is derived from the
/// e-mail address (Mendix sets it; it is not editable).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterManager {
    pub email: String,
    /// `Invitation_Sent` or `Accepted`.
    #[serde(default = "default_accepted")]
    pub status: String,
}

/// The display name Mendix gives a member: the e-mail address before the `@`.
pub fn display_name(email: &str) -> String {
    email.split('@').next().unwrap_or(email).to_string()
}

/// The Mendix Operator version `mxpc-cli installer` puts in a namespace (the newest mxpc-cli
/// the sandbox offers).
pub const OPERATOR_VERSION: &str = "2.21.0";

/// A namespace. Seeded with its id and name at least; seeded namespaces are installed (the
/// operator runs in them) unless `installed: false`. Its `secret` is never written to
/// `/_sim/state` nor shown by `Debug`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Namespace {
    pub namespace_id: String,
    /// The Kubernetes namespace name.
    pub name: String,
    /// `standard`, `main` or `managed`; fixed at creation.
    #[serde(default = "default_namespace_type")]
    pub namespace_type: String,
    /// `Connected` or `Standalone`; fixed at creation.
    #[serde(default = "default_installation_type")]
    pub installation_type: String,
    /// The installer secret.
    #[serde(default = "default_secret", skip_serializing)]
    pub secret: String,
    #[serde(rename = "productTypePCLM", default = "default_product_type")]
    pub product_type_pclm: String,
    #[serde(default)]
    pub plans: Vec<NamespacePlan>,
    #[serde(default)]
    pub enable_development_mode: bool,
    #[serde(default)]
    pub enable_external_secrets_store: bool,
    #[serde(default)]
    pub membership: Vec<NamespaceMember>,
    /// `metricsUrl`, `alertsUrl`, `logsUrl`, `backupsUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operational_links: Option<serde_json::Map<String, serde_json::Value>>,
    /// Whether `mxpc-cli installer` has run in it ([`crate::MendixSandbox::install_namespace`]):
    /// only then does its manifest report an operator version, and only then can environments
    /// be created in it.
    #[serde(default = "yes")]
    pub installed: bool,
}

fn default_namespace_type() -> String {
    "standard".to_string()
}

fn default_installation_type() -> String {
    "Connected".to_string()
}

fn default_secret() -> String {
    // base64 of "sandbox"
    "c2FuZGJveA==".to_string()
}

fn default_product_type() -> String {
    "standard".to_string()
}

fn yes() -> bool {
    true
}

impl Namespace {
    /// A namespace registered through the API: not installed, with the database and storage
    /// plans Mendix sets up for it (inactive).
    pub fn registered(
        namespace_id: String,
        name: String,
        namespace_type: String,
        installation_type: String,
        secret: String,
    ) -> Self {
        let plan = |suffix: &str, kind: &str| NamespacePlan {
            plan_name: format!("{name}-{suffix}"),
            plan_type: "OnDemand".to_string(),
            activate: false,
            plan_config: format!("{{type:\"{kind}\"}}"),
        };
        let plans = vec![plan("db", "database"), plan("str", "storage")];
        Namespace {
            namespace_id,
            name,
            namespace_type,
            installation_type,
            secret,
            product_type_pclm: default_product_type(),
            plans,
            enable_development_mode: false,
            enable_external_secrets_store: false,
            membership: Vec::new(),
            operational_links: None,
            installed: false,
        }
    }
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("namespace_id", &self.namespace_id)
            .field("name", &self.name)
            .field("namespace_type", &self.namespace_type)
            .field("installation_type", &self.installation_type)
            .field("secret", &"<redacted>")
            .field("product_type_pclm", &self.product_type_pclm)
            .field("plans", &self.plans)
            .field("enable_development_mode", &self.enable_development_mode)
            .field(
                "enable_external_secrets_store",
                &self.enable_external_secrets_store,
            )
            .field("membership", &self.membership)
            .field("operational_links", &self.operational_links)
            .field("installed", &self.installed)
            .finish()
    }
}

/// A database or storage plan; only `activate` can change.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespacePlan {
    pub plan_name: String,
    /// `OnDemand` or `Dedicated`.
    #[serde(default = "default_plan_type")]
    pub plan_type: String,
    #[serde(default)]
    pub activate: bool,
    pub plan_config: String,
}

fn default_plan_type() -> String {
    "OnDemand".to_string()
}

/// A namespace member: an invitation until accepted. Display name and permissions are
/// derived (Mendix sets them; they are not editable).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceMember {
    pub email: String,
    /// `Developer`, `Administrator`, `Custom_DEPRECATED` or a custom role's name.
    pub role: String,
    /// `Invitation_Sent` or `Accepted`.
    #[serde(default = "default_accepted")]
    pub status: String,
}

/// A member as a write names it: the status is decided when the job ends.
#[derive(Clone, Debug)]
pub struct Invite {
    pub email: String,
    /// Namespace members only.
    pub role: Option<String>,
    pub auto_accept: bool,
}

/// What a cluster update sets (the manifest replaces the cluster's editable fields).
#[derive(Clone, Debug)]
pub struct ClusterUpdate {
    pub name: String,
    pub cluster_type: String,
    pub description: Option<String>,
    pub managers: Vec<Invite>,
}

/// What a namespace update sets (the manifest replaces the namespace's editable fields).
#[derive(Clone)]
pub struct NamespaceUpdate {
    pub secret: String,
    pub product_type_pclm: String,
    /// `(planName, activate)` of the plans the manifest names; others are left as they are.
    pub plans: Vec<(String, bool)>,
    pub enable_development_mode: bool,
    pub enable_external_secrets_store: bool,
    pub membership: Vec<Invite>,
    pub operational_links: Option<serde_json::Map<String, serde_json::Value>>,
}

impl std::fmt::Debug for NamespaceUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceUpdate")
            .field("secret", &"<redacted>")
            .field("product_type_pclm", &self.product_type_pclm)
            .field("plans", &self.plans)
            .field("enable_development_mode", &self.enable_development_mode)
            .field(
                "enable_external_secrets_store",
                &self.enable_external_secrets_store,
            )
            .field("membership", &self.membership)
            .field("operational_links", &self.operational_links)
            .finish()
    }
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
    /// The next applied manifest ends in `container.state: Failed` instead of `Ready`, once.
    pub fail_next_rollout: bool,
    #[serde(skip)]
    pub processing_until: Option<Instant>,
    /// Until then a rollout reports `container.state: Unknown` (then `Processing`).
    #[serde(skip)]
    pub unknown_until: Option<Instant>,
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
    /// The first manifest change ends in `container.state: Failed`.
    #[serde(default)]
    pub fail_next_rollout: bool,
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
            fail_next_rollout: seed.fail_next_rollout,
            processing_until: None,
            unknown_until: None,
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
    CreateCluster(Box<Cluster>),
    UpdateCluster {
        cluster_id: String,
        update: ClusterUpdate,
    },
    DeleteCluster {
        cluster_id: String,
    },
    CreateNamespace {
        cluster_id: String,
        namespace: Box<Namespace>,
    },
    UpdateNamespace {
        cluster_id: String,
        namespace_id: String,
        update: Box<NamespaceUpdate>,
    },
    DeleteNamespace {
        cluster_id: String,
        namespace_id: String,
    },
}
