//! YAML of the resources the end-to-end tests create, against the demo Mendix apps.

use mendix_sandbox::demo;

use crate::{CLOUD_SECRET, PC_SECRET};

pub fn cloud_env(name: &str, mode: &str, package: &str, extra: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: {name}}}
spec:
  target: {{mendixCloud: {{appId: {app}, mode: {mode}}}}}
  credentialsSecretRef: {{name: {CLOUD_SECRET}}}
  packageRef: {{name: {package}}}
{extra}",
        app = demo::CLOUD_APP_ID
    )
}

/// A Mendix Cloud environment of the demo app that runs the package already deployed there
/// (`packageId`, so no MendixPackage and no transport).
pub fn cloud_env_deployed(name: &str, mode: &str, extra: &str) -> String {
    cloud_env(name, mode, "unused", extra).replace(
        "packageRef: {name: unused}",
        &format!("packageId: {}", demo::CLOUD_EXISTING_PACKAGE_ID),
    )
}

pub fn pc_env(name: &str, environment: &str, package: &str, extra: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: {name}}}
spec:
  target: {{privateCloud: {{appId: {app}, namespaceId: {ns}, environmentId: {environment}}}}}
  credentialsSecretRef: {{name: {PC_SECRET}}}
  packageRef: {{name: {package}}}
{extra}",
        app = demo::PC_APP_ID,
        ns = demo::PC_NAMESPACE_ID
    )
}

/// A Private Cloud environment of the demo app that runs the package already deployed there.
pub fn pc_env_deployed(name: &str, environment: &str, extra: &str) -> String {
    pc_env(name, environment, "unused", extra).replace(
        "packageRef: {name: unused}",
        &format!("packageId: {}", demo::PC_EXISTING_PACKAGE_ID),
    )
}

/// A MendixCluster registering the cluster `cluster_id`, deleted in Mendix with the resource.
pub fn pc_cluster(name: &str, cluster_id: &str, extra: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixCluster
metadata: {{name: {name}}}
spec:
  credentialsSecretRef: {{name: {PC_SECRET}}}
  clusterId: {cluster_id}
  name: {name}
  type: eks
  deletionPolicy: Delete
{extra}"
    )
}

/// A MendixNamespace `name` (also its Kubernetes namespace name) in the MendixCluster
/// `cluster`, created with the installer secret in Secret `installer` key `secret`, deleted in
/// Mendix with the resource.
pub fn pc_namespace(name: &str, namespace_id: &str, cluster: &str, extra: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixNamespace
metadata: {{name: {name}}}
spec:
  credentialsSecretRef: {{name: {PC_SECRET}}}
  clusterRef: {{name: {cluster}}}
  namespaceId: {namespace_id}
  name: {name}
  installationType: Connected
  secretRef: {{name: installer, key: secret}}
  deletionPolicy: Delete
{extra}"
    )
}

/// A Private Cloud environment of the demo app in the MendixNamespace `namespace`, created
/// there when missing (running the package already deployed in the demo app) and deleted in
/// Mendix with the resource.
pub fn pc_env_created(name: &str, namespace: &str, extra: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: {name}}}
spec:
  target: {{privateCloud: {{appId: {app}, namespaceRef: {{name: {namespace}}}, environmentId: {name}}}}}
  credentialsSecretRef: {{name: {PC_SECRET}}}
  packageId: {package}
  deletionPolicy: Delete
  privateCloud:
    create: {{name: {name}, appUrl: 'https://{name}.example.com'}}
    coreResources: {{requests: {{cpu: '0.25', memory: '0.5'}}, limits: {{cpu: '1', memory: '1'}}}}
{extra}",
        app = demo::PC_APP_ID,
        package = demo::PC_EXISTING_PACKAGE_ID,
    )
}
