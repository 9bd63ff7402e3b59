//! API types of both kinds (`mendixops.io/v1alpha1`) and the status conditions they share.
//! The CRD YAML in `crds/` is generated from these types by `mendix-operator crds`.

pub mod common;
pub mod conditions;
pub mod environment;
pub mod landscape;
pub mod observed;
pub mod package;
pub mod summary;

pub use common::*;
pub use environment::{MendixEnvironment, MendixEnvironmentSpec, MendixEnvironmentStatus};
pub use landscape::{LandscapeStatus, MendixCluster, MendixNamespace};
pub use observed::{Observed, References};
pub use package::{MendixPackage, MendixPackageSpec, MendixPackageStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Every CRD, in the order they are printed and committed.
pub fn all() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("mendixpackages.yaml", MendixPackage::crd()),
        ("mendixenvironments.yaml", MendixEnvironment::crd()),
        ("mendixclusters.yaml", MendixCluster::crd()),
        ("mendixnamespaces.yaml", MendixNamespace::crd()),
    ]
}

/// The field manager that installs the CRDs (server-side apply) in the sandboxes and tests.
pub const CRD_FIELD_MANAGER: &str = "mendix-operator-crds";

/// Every CRD, without their file names.
pub fn definitions() -> Vec<CustomResourceDefinition> {
    all().into_iter().map(|(_, crd)| crd).collect()
}

/// The CRD as YAML, exactly as committed under `crds/`.
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(crd)
}

/// All CRDs as one multi-document YAML stream.
pub fn all_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for (_, crd) in all() {
        out.push_str("---\n");
        out.push_str(&to_yaml(&crd)?);
    }
    Ok(out)
}
