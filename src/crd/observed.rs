//! What every part of the operator reads the same way from a resource of either kind: its kind
//! name, its Ready and Stalled status, the remote operation recorded in its status, and the
//! resources it refers to by name.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::common::OperationStatus;
use super::conditions::{READY, STALLED, TRUE};
use super::{MendixCluster, MendixEnvironment, MendixNamespace, MendixPackage};

/// What the reconcile shell, its logs and the state gauges read of a resource of either kind.
pub trait Observed:
    kube::Resource<DynamicType = ()>
    + Clone
    + serde::Serialize
    + serde::de::DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    const KIND: &'static str;
    /// Whether a reconcile may trust what the status records of the operator's own work, so the
    /// paced resync marks the reconciles it starts as the ones that read the remote side
    /// (`context::ResyncDue`).
    const TRUSTS_ITS_STATUS: bool = false;
    /// The conditions of its status (none before the first status write).
    fn conditions(&self) -> &[Condition];
    /// The Ready condition's status: `True`, `False` or `Unknown` (also when not yet written).
    fn ready(&self) -> &'static str {
        match self.conditions().iter().find(|c| c.type_ == READY) {
            Some(c) if c.status == "True" => "True",
            Some(c) if c.status == "False" => "False",
            _ => "Unknown",
        }
    }
    /// Whether Stalled is True: progress needs a person.
    fn stalled(&self) -> bool {
        self.conditions()
            .iter()
            .any(|c| c.type_ == STALLED && c.status == TRUE)
    }
    /// The remote operation recorded in status and not finished.
    fn operation(&self) -> Option<&OperationStatus>;
    fn operation_in_flight(&self) -> bool {
        self.operation().is_some()
    }
    /// The resources of this API its spec names, which it waits for or builds on.
    fn references(&self) -> References {
        References::default()
    }
}

/// The resources, in its own namespace, that a resource's spec names: a change of one of them
/// is a reason to reconcile it again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct References {
    /// `spec.packageRef` of an environment.
    pub package: Option<Box<str>>,
    /// `spec.packageFrom.environmentRef` of an environment.
    pub environment: Option<Box<str>>,
    /// `spec.target.privateCloud.namespaceRef` of an environment.
    pub namespace: Option<Box<str>>,
    /// `spec.clusterRef` of a MendixNamespace.
    pub cluster: Option<Box<str>>,
}

impl Observed for MendixPackage {
    const KIND: &'static str = "MendixPackage";
    fn conditions(&self) -> &[Condition] {
        self.status
            .as_ref()
            .map_or(&[], |s| s.conditions.as_slice())
    }
    fn operation(&self) -> Option<&OperationStatus> {
        self.status.as_ref().and_then(|s| s.operation.as_ref())
    }
}

impl Observed for MendixEnvironment {
    const KIND: &'static str = "MendixEnvironment";
    const TRUSTS_ITS_STATUS: bool = true;
    fn conditions(&self) -> &[Condition] {
        self.status
            .as_ref()
            .map_or(&[], |s| s.conditions.as_slice())
    }
    fn operation(&self) -> Option<&OperationStatus> {
        self.status.as_ref().and_then(|s| s.operation.as_ref())
    }
    fn references(&self) -> References {
        let spec = &self.spec;
        References {
            package: spec.package_ref.as_ref().map(|r| r.name.as_str().into()),
            environment: spec
                .package_from
                .as_ref()
                .map(|f| f.environment_ref.name.as_str().into()),
            namespace: spec
                .target
                .private_cloud
                .as_ref()
                .and_then(|t| t.namespace_ref.as_ref())
                .map(|r| r.name.as_str().into()),
            cluster: None,
        }
    }
}

impl Observed for MendixCluster {
    const KIND: &'static str = "MendixCluster";
    fn conditions(&self) -> &[Condition] {
        self.status
            .as_ref()
            .map_or(&[], |s| s.conditions.as_slice())
    }
    fn operation(&self) -> Option<&OperationStatus> {
        self.status.as_ref().and_then(|s| s.operation.as_ref())
    }
}

impl Observed for MendixNamespace {
    const KIND: &'static str = "MendixNamespace";
    fn conditions(&self) -> &[Condition] {
        self.status
            .as_ref()
            .map_or(&[], |s| s.conditions.as_slice())
    }
    fn operation(&self) -> Option<&OperationStatus> {
        self.status.as_ref().and_then(|s| s.operation.as_ref())
    }
    fn references(&self) -> References {
        References {
            cluster: self
                .spec
                .cluster_ref
                .as_ref()
                .map(|r| r.name.as_str().into()),
            ..References::default()
        }
    }
}
