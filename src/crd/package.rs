//! `MendixPackage`: one deployment package (.mda) of one app.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::common::DeletionPolicy;
use super::common::{ManagementPolicy, OperationStatus, SecretReference, conditions_schema};

/// Desired package: where it comes from and which app it belongs to.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mendixops.io",
    version = "v1alpha1",
    kind = "MendixPackage",
    doc = "A Mendix deployment package (.mda) of one app: built from a branch and revision, uploaded from a URL, or adopted by id.",
    plural = "mendixpackages",
    shortname = "mxpkg",
    category = "mendix",
    namespaced,
    status = "MendixPackageStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.version"}"#,
    printcolumn = r#"{"name":"Package","type":"string","priority":1,"jsonPath":".status.packageId"}"#,
    printcolumn = r#"{"name":"Step","type":"string","priority":1,"jsonPath":".status.operation.step"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("!has(self.managementPolicy) || self.managementPolicy == 'Manage' || has(self.source.existing)").message("spec.managementPolicy: Observe only adopts a package that exists (spec.source.existing): building or uploading one is a write"))]
#[serde(rename_all = "camelCase")]
pub struct MendixPackageSpec {
    /// The app the package belongs to, on Mendix Cloud or on Mendix for Private Cloud.
    /// Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("target is immutable: create a new MendixPackage for another app"))]
    pub target: PackageTarget,
    /// Secret with the Mendix credentials used for this package.
    pub credentials_secret_ref: SecretReference,
    /// Where the package comes from: exactly one of build, upload or existing. Immutable: a new
    /// version is a new MendixPackage.
    #[x_kube(validation = Rule::new("self == oldSelf").message("source is immutable: create a new MendixPackage for a new version"))]
    pub source: PackageSource,
    /// What happens to the remote package when this resource is deleted: Retain (default)
    /// leaves it in Mendix, Delete removes it.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Manage (default) makes Mendix match the spec; Observe only reads Mendix and reports, in
    /// condition Drifted, where it differs from the spec: no remote write at all.
    #[serde(default, skip_serializing_if = "ManagementPolicy::is_manage")]
    pub management_policy: ManagementPolicy,
}

/// The app a package belongs to. Exactly one of `mendixCloud` or `privateCloud`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.mendixCloud) != has(self.privateCloud)").message("exactly one of target.mendixCloud or target.privateCloud must be set"))]
pub struct PackageTarget {
    /// An app on Mendix Cloud, driven through the Mendix Cloud Build API v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mendix_cloud: Option<MendixCloudApp>,
    /// An app on Mendix for Private Cloud, driven through the Private Cloud Build API v4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_cloud: Option<PrivateCloudApp>,
}

/// A Mendix Cloud app.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MendixCloudApp {
    /// The app's AppId: its subdomain name on Mendix Cloud (e.g. `calc`), shown in the app's
    /// Details page in the Mendix Portal.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
    )]
    pub app_id: String,
}

/// A Mendix for Private Cloud app.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrivateCloudApp {
    /// The app's id in Mendix for Private Cloud (the project id shown in the Mendix Portal).
    #[schemars(length(min = 1, max = 64))]
    pub app_id: String,
}

/// Where a package comes from. Exactly one of `build`, `upload` or `existing`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.build) ? 1 : 0) + (has(self.upload) ? 1 : 0) + (has(self.existing) ? 1 : 0) == 1").message("exactly one of source.build, source.upload or source.existing must be set"))]
pub struct PackageSource {
    /// Build the package from the app's Team Server repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildSource>,
    /// Download an .mda file from a URL and upload it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadSource>,
    /// Adopt a package that already exists in Mendix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing: Option<ExistingSource>,
}

/// A build of one revision of one branch.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BuildSource {
    /// Branch to build: for Git `main` or `branches/<name>`; for SVN `trunk` or `branches/<name>`.
    #[schemars(length(min = 1, max = 200))]
    pub branch: String,
    /// Revision to build: a Git commit hash (short or full) or an SVN revision number.
    #[schemars(length(min = 1, max = 50), regex(pattern = r"^[0-9A-Za-z]+$"))]
    pub revision: String,
    /// Package version as major.minor.patch (e.g. `2.5.4`); also the tag name on the Team Server.
    #[schemars(
        length(max = 20),
        regex(pattern = r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
    )]
    pub version: String,
    /// Description of the package, shown in the Mendix Portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000))]
    pub description: Option<String>,
}

/// An .mda file to download and upload.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UploadSource {
    /// http or https URL the .mda file is downloaded from.
    #[schemars(length(min = 8, max = 4096), regex(pattern = r"^https?://[^\s]+$"))]
    pub url: String,
    /// File name given to the package in Mendix, e.g. `my-app_2.5.4.mda`.
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[^/\\]+$"))]
    pub file_name: String,
    /// Expected SHA-256 of the file as 64 lowercase hex characters; the upload is refused on mismatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-f0-9]{64}$"))]
    pub sha256: Option<String>,
}

/// A package that already exists in Mendix.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExistingSource {
    /// The package id (a UUID) as shown by Mendix.
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    pub package_id: String,
}

/// Coarse state for `kubectl get`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackagePhase {
    Pending,
    Building,
    Uploading,
    Ready,
    Failed,
    Deleting,
}

/// Observed state of a MendixPackage.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MendixPackageStatus {
    /// The generation of the spec the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled and domain conditions.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Coarse state: Pending, Building, Uploading, Ready, Failed or Deleting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PackagePhase>,
    /// The Mendix package id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_id: Option<String>,
    /// The package state as Mendix reports it (e.g. `Queued`, `Building`, `Succeeded`, `Failed`
    /// on Mendix Cloud; the job status on Private Cloud).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_state: Option<String>,
    /// The package version (major.minor.patch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The model version Mendix reports for the package (e.g. `2.5.4.63`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// The Mendix runtime version the package needs (e.g. `10.6.1.12345`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_version: Option<String>,
    /// Package file size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// When Mendix created the package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    /// The remote operation in flight, recorded before it is followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<OperationStatus>,
    /// The last value of annotation `mendixops.io/reconcileRequestedAt` that was handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile_requested_at: Option<String>,
}
