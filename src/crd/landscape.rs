//! `MendixCluster` and `MendixNamespace`: the Private Cloud landscape (clusters registered with
//! Mendix and the namespaces in them) as resources. Both are namespaced, like the other kinds:
//! their credentials Secret is a namespaced object, a namespaced install (Role only) can run
//! them, and a Mendix cluster is a remote registration, not an object of this Kubernetes
//! cluster, so nothing about it calls for cluster scope.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    DeletionPolicy, ManagementPolicy, OperationStatus, SecretKeySelector, SecretReference,
    conditions_schema,
};
use super::environment::{LocalReference, PlanType};

/// A Private Cloud cluster registered with Mendix.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mendixops.io",
    version = "v1alpha1",
    kind = "MendixCluster",
    doc = "A Mendix for Private Cloud cluster registered with Mendix: adopted by id when it exists, created otherwise; its name, type, description and cluster managers kept as the spec says.",
    plural = "mendixclusters",
    shortname = "mxcluster",
    category = "mendix",
    namespaced,
    status = "LandscapeStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Cluster ID","type":"string","jsonPath":".spec.clusterId"}"#,
    printcolumn = r#"{"name":"Type","type":"string","priority":1,"jsonPath":".spec.type"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MendixClusterSpec {
    /// Secret with the Private Cloud PAT (key `pat`, scope `mx:deployment:write`).
    pub credentials_secret_ref: SecretReference,
    /// The cluster's id (UUID). Mendix lets the caller choose it: an existing cluster with this
    /// id is adopted, otherwise one is created with it. Immutable.
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("clusterId is immutable: create a new MendixCluster for another cluster"))]
    pub cluster_id: String,
    /// Display name of the cluster.
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
    /// What runs the cluster: os (OpenShift), k8s, eks, aks or stackit.
    pub r#type: ClusterType,
    /// What the cluster is for; left as it is in Mendix when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000))]
    pub description: Option<String>,
    /// Cluster managers. When set, the cluster's managers are made to match exactly (new ones
    /// are invited); when unset, they are left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["email"]))]
    #[schemars(length(max = 100))]
    pub managers: Option<Vec<Invitee>>,
    /// What happens to the cluster in Mendix when this resource is deleted: Retain (default)
    /// or Delete (Mendix refuses while the cluster has namespaces).
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Manage (default) makes Mendix match the spec; Observe only reads Mendix and reports, in
    /// condition Drifted, where it differs from the spec: no remote write at all.
    #[serde(default, skip_serializing_if = "ManagementPolicy::is_manage")]
    pub management_policy: ManagementPolicy,
}

/// Cluster types the Private Cloud Deploy API accepts.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ClusterType {
    Os,
    K8s,
    Eks,
    Aks,
    Stackit,
}

impl ClusterType {
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterType::Os => "os",
            ClusterType::K8s => "k8s",
            ClusterType::Eks => "eks",
            ClusterType::Aks => "aks",
            ClusterType::Stackit => "stackit",
        }
    }
}

/// A person invited to a cluster or namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Invitee {
    /// Their Mendix account e-mail.
    #[schemars(length(min = 3, max = 254), regex(pattern = r"^[^@\s]+@[^@\s]+$"))]
    pub email: String,
    /// Accept the invitation on their behalf (only for new invitations).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_accept_invite: bool,
}

/// A Mendix namespace: a Kubernetes namespace of a Private Cloud cluster, registered with Mendix.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mendixops.io",
    version = "v1alpha1",
    kind = "MendixNamespace",
    doc = "A Mendix for Private Cloud namespace: adopted by id when it exists, created otherwise; its plans, development mode, external secrets store and members kept as the spec says. Ready once the Mendix Operator is installed in it.",
    plural = "mendixnamespaces",
    shortname = "mxns",
    category = "mendix",
    namespaced,
    status = "LandscapeStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Namespace","type":"string","jsonPath":".spec.name"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.operatorVersion"}"#,
    printcolumn = r#"{"name":"Namespace ID","type":"string","priority":1,"jsonPath":".spec.namespaceId"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("has(self.clusterId) != has(self.clusterRef)").message("exactly one of spec.clusterId or spec.clusterRef must be set"))]
#[serde(rename_all = "camelCase")]
pub struct MendixNamespaceSpec {
    /// Secret with the Private Cloud PAT (key `pat`, scope `mx:deployment:write`).
    pub credentials_secret_ref: SecretReference,
    /// The cluster's id (UUID). Exactly one of clusterId or clusterRef. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("clusterId is immutable"))]
    pub cluster_id: Option<String>,
    /// A MendixCluster in the same namespace; the namespace waits for it to be Ready.
    /// Exactly one of clusterId or clusterRef. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("clusterRef is immutable"))]
    pub cluster_ref: Option<LocalReference>,
    /// The namespace's id (UUID), chosen by the caller: an existing namespace with this id is
    /// adopted, otherwise one is created with it. Immutable.
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("namespaceId is immutable: create a new MendixNamespace for another namespace"))]
    pub namespace_id: String,
    /// The Kubernetes namespace name. Immutable.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    #[x_kube(validation = Rule::new("self == oldSelf").message("name is immutable"))]
    pub name: String,
    /// Connected (managed through the Mendix Portal) or Standalone. Fixed once created.
    pub installation_type: InstallationType,
    /// standard (default in Mendix), main or managed. Fixed once created; left to Mendix when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_type: Option<NamespaceType>,
    /// The secret `mxpc-cli installer` is run with. Needed to create the namespace; when unset,
    /// updates send back the secret Mendix holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeySelector>,
    /// Plans to activate or deactivate, by name. Plans not listed are left alone; a plan Mendix
    /// does not know stalls the resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[schemars(length(max = 50))]
    pub plans: Vec<PlanActivation>,
    /// Development mode (lets Studio Pro deploy to the namespace); left alone when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub development_mode: Option<bool>,
    /// Take app secrets from an external secrets store; left alone when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_secrets_store: Option<bool>,
    /// Namespace members and their roles. When set, the members are made to match exactly
    /// (new ones are invited); when unset, they are left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["email"]))]
    #[schemars(length(max = 500))]
    pub members: Option<Vec<Member>>,
    /// What happens to the namespace in Mendix when this resource is deleted: Retain (default)
    /// or Delete (Mendix refuses while environments are in it).
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Manage (default) makes Mendix match the spec; Observe only reads Mendix and reports, in
    /// condition Drifted, where it differs from the spec: no remote write at all.
    #[serde(default, skip_serializing_if = "ManagementPolicy::is_manage")]
    pub management_policy: ManagementPolicy,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstallationType {
    Connected,
    Standalone,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NamespaceType {
    Standard,
    Main,
    Managed,
}

/// Whether one plan of the namespace is active.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PlanActivation {
    /// The plan's name in Mendix, e.g. `my-db`.
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
    pub active: bool,
}

/// A namespace member.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// Their Mendix account e-mail.
    #[schemars(length(min = 3, max = 254), regex(pattern = r"^[^@\s]+@[^@\s]+$"))]
    pub email: String,
    /// Developer, Administrator, or the name of a custom role of the cluster.
    #[schemars(length(min = 1, max = 100))]
    pub role: String,
    /// Accept the invitation on their behalf (only for new invitations).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_accept_invite: bool,
}

/// Coarse state for `kubectl get`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LandscapePhase {
    Pending,
    Creating,
    Updating,
    /// The namespace exists; the Mendix Operator is not installed in it yet (`mxpc-cli installer`).
    NotInstalled,
    Ready,
    Failed,
    Deleting,
    Paused,
}

/// Someone invited, as Mendix reports them.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InviteeStatus {
    /// Their Mendix account e-mail.
    pub email: String,
    /// Namespace members: their role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Invitation_Sent or Accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// A plan of the namespace, as Mendix reports it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PlanStatus {
    /// The plan's name in Mendix.
    pub name: String,
    /// OnDemand or Dedicated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<PlanType>,
    /// Whether the plan is activated.
    pub active: bool,
}

/// Observed state of a MendixCluster or MendixNamespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LandscapeStatus {
    /// The generation of the spec the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling and Stalled.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Coarse state: Pending, Creating, Updating, NotInstalled, Ready, Failed, Deleting or Paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<LandscapePhase>,
    /// The cluster id, once the cluster is known to exist in Mendix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// MendixNamespace: the namespace id, once it is known to exist in Mendix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_id: Option<String>,
    /// MendixNamespace: the Kubernetes namespace name, once it is known to exist in Mendix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// MendixNamespace: the Mendix Operator version installed in it, as Mendix reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_version: Option<String>,
    /// Whether the operator created the remote object (rather than adopting it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
    /// Cluster managers or namespace members, as Mendix reports them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<InviteeStatus>,
    /// MendixNamespace: its plans, as Mendix reports them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<PlanStatus>,
    /// The remote operation in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<OperationStatus>,
    /// The last value of annotation `mendixops.io/reconcileRequestedAt` that was handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile_requested_at: Option<String>,
}
