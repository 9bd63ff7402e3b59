//! The command line contract (see DESIGN.md): `run`, `crds`, `sandbox`, `kube-sandbox`,
//! `mendix-sandbox`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "mendix-operator",
    version,
    about = "Kubernetes operator for declarative Mendix deployments"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// `run` carries the whole operator configuration; the enum is built once per process.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the operator against the current kubeconfig or the in-cluster configuration.
    Run(crate::runtime::config::RunConfig),
    /// Print both CustomResourceDefinitions as YAML.
    Crds,
    /// Start the Kubernetes and Mendix sandboxes, the operator and the examples on this machine.
    Sandbox {
        /// Directory for the kubeconfig and sandbox state.
        #[arg(long, default_value = ".sandbox")]
        dir: PathBuf,
    },
    /// Start only the Kubernetes API sandbox.
    KubeSandbox {
        /// Address to listen on, e.g. 127.0.0.1:6443.
        #[arg(long, default_value = "127.0.0.1:6443")]
        listen: SocketAddr,
        /// Where to write a kubeconfig for kubectl and kube-rs.
        #[arg(long)]
        kubeconfig: PathBuf,
    },
    /// Start only the Mendix API sandbox.
    MendixSandbox {
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// YAML file with the initial state; the built-in demo state when omitted.
        #[arg(long)]
        state: Option<PathBuf>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("`mendix-operator {0}` is not available yet in this build")]
    NotAvailable(&'static str),
    #[error("cannot render the CRDs: {0}")]
    Crds(#[from] serde_yaml::Error),
    #[error("mendix-sandbox: {0}")]
    MendixSandbox(String),
    #[error("{0}")]
    Operator(#[from] crate::runtime::operator::OperatorError),
    #[error("cannot load the Kubernetes configuration (kubeconfig or in-cluster): {0}")]
    KubeConfig(String),
    #[error("kube-sandbox: {0}")]
    KubeSandbox(std::io::Error),
}

pub async fn execute(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Crds => {
            print!("{}", crate::crd::all_yaml()?);
            Ok(())
        }
        Command::Run(config) => {
            crate::runtime::telemetry::init(config.log_format);
            config
                .validate()
                .map_err(crate::runtime::operator::OperatorError::from)?;
            crate::mendix::client::install_crypto_provider();
            let client = kube::Client::try_default()
                .await
                .map_err(|e| CliError::KubeConfig(e.to_string()))?;
            crate::runtime::operator::run(config, client, shutdown_signal(), |handles| {
                tracing::info!(metrics = %handles.metrics_addr, "mendix-operator started");
            })
            .await?;
            Ok(())
        }
        Command::Sandbox { .. } => Err(CliError::NotAvailable("sandbox")),
        Command::KubeSandbox { listen, kubeconfig } => {
            use crate::sandbox::kube::KubeSandbox;
            // Optional, for demos: KUBE_SANDBOX_STATE keeps the objects across restarts (loaded
            // at start if the file exists, saved on Ctrl-C); KUBE_SANDBOX_VERSION sets /version.
            let state = std::env::var_os("KUBE_SANDBOX_STATE").map(PathBuf::from);
            let sandbox = match &state {
                Some(path) if path.exists() => {
                    KubeSandbox::load(path).map_err(CliError::KubeSandbox)?
                }
                _ => KubeSandbox::new(),
            };
            if let Ok(version) = std::env::var("KUBE_SANDBOX_VERSION") {
                sandbox.set_version(&version);
            }
            let server = sandbox.serve(listen).await.map_err(CliError::KubeSandbox)?;
            server
                .write_kubeconfig(&kubeconfig)
                .map_err(CliError::KubeSandbox)?;
            println!(
                "Kubernetes API sandbox listening on {}; kubeconfig written to {} (export KUBECONFIG={})",
                server.url(),
                kubeconfig.display(),
                kubeconfig.display()
            );
            tokio::signal::ctrl_c()
                .await
                .map_err(CliError::KubeSandbox)?;
            server.shutdown();
            if let Some(path) = &state {
                sandbox.save(path).map_err(CliError::KubeSandbox)?;
                println!("state saved to {}", path.display());
            }
            Ok(())
        }
        Command::MendixSandbox { listen, state } => {
            crate::sandbox::mendix::run_standalone(listen, state.as_deref())
                .await
                .map_err(CliError::MendixSandbox)
        }
    }
}

/// Resolves on SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
