//! The command line: `run` and `crds`; with the `dev` feature also `sandbox`, `kube-sandbox`,
//! `mendix-sandbox`, and `bench`.

#[cfg(feature = "dev")]
use std::net::SocketAddr;
#[cfg(feature = "dev")]
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
    #[cfg(feature = "dev")]
    /// Start a real Kubernetes control plane, the Mendix sandbox, the operator and the examples
    /// on this machine.
    Sandbox {
        /// Directory for the kubeconfig and the operator's log.
        #[arg(long, default_value = ".sandbox")]
        dir: PathBuf,
        /// Use this existing cluster (kind, k3d, minikube, …) instead of starting a control plane.
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
    },
    #[cfg(feature = "dev")]
    /// Start only a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager),
    /// built with Go on first use.
    KubeSandbox {
        /// The API server's address, e.g. 127.0.0.1:6443.
        #[arg(long, default_value = "127.0.0.1:6443")]
        listen: SocketAddr,
        /// Where to write a kubeconfig for kubectl and kube-rs.
        #[arg(long, required_unless_present = "build_only")]
        kubeconfig: Option<PathBuf>,
        /// Only build the control plane's programs (if this machine has not yet) and exit.
        #[arg(long)]
        build_only: bool,
    },
    #[cfg(feature = "dev")]
    /// Start only the Mendix API sandbox.
    MendixSandbox {
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// YAML file with the initial state; the built-in demo state when omitted.
        #[arg(long)]
        state: Option<PathBuf>,
    },
    #[cfg(feature = "dev")]
    /// Measure the operator against the sandboxes: time to converge N deploys against the lower
    /// bound, Mendix requests per deploy, a scripted baseline, memory, CPU and reaction time.
    Bench(crate::bench::BenchOptions),
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot render the CRDs: {0}")]
    Crds(#[from] serde_yaml::Error),
    #[cfg(feature = "dev")]
    #[error("mendix-sandbox: {0}")]
    MendixSandbox(String),
    #[error("{0}")]
    Operator(#[from] crate::runtime::operator::OperatorError),
    #[error("cannot load the Kubernetes configuration (kubeconfig or in-cluster): {0}")]
    KubeConfig(String),
    #[cfg(feature = "dev")]
    #[error("sandbox: {0}")]
    Sandbox(#[from] crate::demo::DemoError),
    #[cfg(feature = "dev")]
    #[error("kube-sandbox: {0}")]
    KubeSandbox(#[from] kube_sandbox::ControlPlaneError),
    #[cfg(feature = "dev")]
    #[error("kube-sandbox: cannot write {path}: {source}")]
    KubeSandboxKubeconfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[cfg(feature = "dev")]
    #[error("bench: {0}")]
    Bench(#[from] crate::bench::BenchError),
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
            mendix_client::client::install_crypto_provider();
            let kube_config = kube::Config::infer()
                .await
                .map_err(|e| CliError::KubeConfig(e.to_string()))?;
            let client =
                crate::runtime::kube_client::connect(kube_config, config.kube_max_in_flight())
                    .map_err(|e| CliError::KubeConfig(e.to_string()))?;
            crate::runtime::operator::run(config, client, shutdown_signal(), |handles| {
                tracing::info!(metrics = %handles.metrics_addr, "mendix-operator started");
            })
            .await?;
            Ok(())
        }
        #[cfg(feature = "dev")]
        Command::Sandbox { dir, kubeconfig } => {
            crate::demo::run(&dir, kubeconfig.as_deref(), shutdown_signal())
                .await
                .map_err(CliError::Sandbox)
        }
        #[cfg(feature = "dev")]
        Command::KubeSandbox {
            listen,
            kubeconfig,
            build_only,
        } => crate::dev::kube_sandbox(listen, kubeconfig, build_only, shutdown_signal()).await,
        #[cfg(feature = "dev")]
        Command::MendixSandbox { listen, state } => {
            mendix_sandbox::run_standalone(listen, state.as_deref())
                .await
                .map_err(CliError::MendixSandbox)
        }
        #[cfg(feature = "dev")]
        Command::Bench(options) => {
            crate::bench::run(options).await?;
            Ok(())
        }
    }
}

/// Resolves on SIGTERM (Kubernetes stopping the pod) or Ctrl-C. The handlers are installed
/// when this is called, not when the future is first polled: a signal that arrives while the
/// operator starts is not lost (nor does it kill the process outright).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = signal(SignalKind::terminate()).ok();
    let interrupt = signal(SignalKind::interrupt()).ok();
    async move {
        tokio::select! {
            () = received(terminate) => {},
            () = received(interrupt) => {},
        }
        tracing::info!("shutting down");
    }
}

/// Resolves when `signal` is received; never when it could not be installed.
async fn received(signal: Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(mut signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
