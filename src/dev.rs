//! What the developer commands (`sandbox`, `bench`) and the test kit share; built with the
//! `dev` feature only.

/// Installs both CRDs on the cluster of `client` (server-side apply under
/// [`CRD_FIELD_MANAGER`](crate::crd::CRD_FIELD_MANAGER)) and waits until they are served.
pub async fn install_crds(client: &kube::Client) -> Result<(), kube_sandbox::ControlPlaneError> {
    kube_sandbox::install_crds(
        client,
        &crate::crd::definitions(),
        crate::crd::CRD_FIELD_MANAGER,
    )
    .await
}

/// `mendix-operator kube-sandbox`: build the control plane's programs, or start it and write a
/// kubeconfig, until `shutdown`.
pub async fn kube_sandbox(
    listen: std::net::SocketAddr,
    kubeconfig: Option<std::path::PathBuf>,
    build_only: bool,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), crate::cli::CliError> {
    use crate::cli::CliError;
    use kube_sandbox::{ControlPlane, Options, binaries};
    let progress = |line: &str| println!("{line}");
    if build_only {
        let built = binaries::ensure(&progress).map_err(kube_sandbox::ControlPlaneError::from)?;
        println!(
            "the control plane {} is built in {}",
            kube_sandbox::RELEASE,
            built.dir().display()
        );
        return Ok(());
    }
    let Some(kubeconfig) = kubeconfig else {
        return Err(CliError::KubeSandboxKubeconfig {
            path: std::path::PathBuf::new(),
            source: std::io::Error::other("--kubeconfig PATH is required"),
        });
    };
    let options = Options {
        api_server: listen,
        ..Options::default()
    };
    let plane = ControlPlane::start(options, &progress).await?;
    plane
        .write_admin_kubeconfig(&kubeconfig)
        .map_err(|source| CliError::KubeSandboxKubeconfig {
            path: kubeconfig.clone(),
            source,
        })?;
    println!(
        "Kubernetes {} control plane: API server at {}; kubeconfig written to {} (export KUBECONFIG={})",
        kube_sandbox::RELEASE,
        plane.url(),
        kubeconfig.display(),
        kubeconfig.display()
    );
    shutdown.await;
    plane.shutdown();
    Ok(())
}
