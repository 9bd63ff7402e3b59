//! Standard kubeconfig handling, as kubectl does it: `--kubeconfig`, else $KUBECONFIG (a list
//! of files), else ~/.kube/config; `--context`; the namespace from `-n`, else the context's.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::PluginError;

pub struct Cluster {
    pub client: kube::Client,
    pub namespace: String,
}

pub async fn connect(
    path: Option<&Path>,
    context: Option<&str>,
    namespace: Option<&str>,
) -> Result<Cluster, PluginError> {
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..KubeConfigOptions::default()
    };
    let config = match path {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|e| {
                PluginError::KubeConfig(format!("cannot read --kubeconfig {}: {e}", path.display()))
            })?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await
        }
        None => kube::Config::from_kubeconfig(&options).await,
    }
    .map_err(|e| {
        PluginError::KubeConfig(format!(
            "cannot use the kubeconfig{}: {e} (set --kubeconfig or KUBECONFIG, or check --context)",
            context
                .map(|c| format!(" context `{c}`"))
                .unwrap_or_default()
        ))
    })?;
    let namespace = namespace
        .map(str::to_string)
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = kube::Client::try_from(config).map_err(|e| {
        PluginError::KubeConfig(format!(
            "cannot build a Kubernetes client from the kubeconfig: {e}"
        ))
    })?;
    Ok(Cluster { client, namespace })
}
