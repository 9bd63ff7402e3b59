//! `kubectl mendix clusters --secret NAME`: Private Cloud only. Every cluster the PAT in a
//! Secret manages and every namespace in each, with the Mendix Operator version installed there:
//! the ids a platform engineer writes into MendixCluster / MendixNamespace resources to adopt
//! what exists. Nothing is written, and a namespace's installer `secret` is never printed.

use mendix_client::client::Mendix;
use mendix_operator::controller::secrets::Credentials;
use mendix_operator::crd::summary::table;

use super::PluginError;
use super::apps::{credentials, dash};

/// The table of clusters and namespaces the PAT in Secret `name` in `namespace` manages: one
/// row per namespace, one row with `-` for a cluster without namespaces.
pub async fn list(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    mendix: &Mendix,
) -> Result<String, PluginError> {
    let pat = match credentials(client, namespace, name).await? {
        Credentials::Private(pat) => pat,
        Credentials::Cloud(_) => {
            return Err(PluginError::Usage(format!(
                "clusters and namespaces are Private Cloud's: Secret {name} holds Mendix Cloud \
                 credentials (`username` and `apiKey`); give a Secret with a Private Cloud `pat`"
            )));
        }
    };
    let deploy = mendix.pc_deploy(&pat);
    let mut rows = Vec::new();
    for manifest in deploy
        .list_clusters()
        .await
        .map_err(PluginError::mendix("listing Private Cloud clusters"))?
    {
        let Some(cluster) = manifest.cluster else {
            continue;
        };
        let namespaces = deploy
            .list_namespaces(&cluster.cluster_id, false)
            .await
            .map_err(PluginError::mendix(format!(
                "listing the namespaces of cluster {}",
                cluster.cluster_id
            )))?;
        let cluster_cells = [
            cluster.cluster_id.clone(),
            dash(cluster.name.clone().unwrap_or_default()),
            dash(cluster.cluster_type.clone().unwrap_or_default()),
        ];
        if namespaces.is_empty() {
            let mut row = cluster_cells.to_vec();
            row.extend(["-".into(), "-".into(), "-".into()]);
            rows.push(row);
        }
        for manifest in namespaces {
            // Only the fields shown are read: the namespace's `secret` stays untouched.
            let ns = &manifest.namespace;
            let mut row = cluster_cells.to_vec();
            row.extend([
                ns.namespace_id.clone(),
                dash(ns.name.clone().unwrap_or_default()),
                ns.operator_version().unwrap_or("not installed").to_string(),
            ]);
            rows.push(row);
        }
    }
    Ok(table(
        &[
            "CLUSTER ID",
            "CLUSTER",
            "TYPE",
            "NAMESPACE ID",
            "NAMESPACE",
            "OPERATOR",
        ],
        &rows,
    ))
}
