//! The command line contract (see DESIGN.md): `run`, `crds`, `sandbox`, `kube-sandbox`,
//! `mendix-sandbox`, and `bench`.

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
    /// Start only the Mendix API sandbox.
    MendixSandbox {
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// YAML file with the initial state; the built-in demo state when omitted.
        #[arg(long)]
        state: Option<PathBuf>,
    },
    /// Measure the operator against the sandboxes: time to converge N deploys against the lower
    /// bound, Mendix requests per deploy, a scripted baseline, memory, CPU and reaction time.
    Bench(crate::bench::BenchOptions),
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot render the CRDs: {0}")]
    Crds(#[from] serde_yaml::Error),
    #[error("mendix-sandbox: {0}")]
    MendixSandbox(String),
    #[error("{0}")]
    Operator(#[from] crate::runtime::operator::OperatorError),
    #[error("cannot load the Kubernetes configuration (kubeconfig or in-cluster): {0}")]
    KubeConfig(String),
    #[error("sandbox: {0}")]
    Sandbox(#[from] crate::sandbox::demo::DemoError),
    #[error("kube-sandbox: {0}")]
    KubeSandbox(#[from] crate::sandbox::control_plane::ControlPlaneError),
    #[error("kube-sandbox: cannot write {path}: {source}")]
    KubeSandboxKubeconfig {
        path: PathBuf,
        source: std::io::Error,
    },
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
        Command::Sandbox { dir, kubeconfig } => {
            crate::sandbox::demo::run(&dir, kubeconfig.as_deref(), shutdown_signal())
                .await
                .map_err(CliError::Sandbox)
        }
        Command::KubeSandbox {
            listen,
            kubeconfig,
            build_only,
        } => {
            use crate::sandbox::control_plane::{ControlPlane, Options, binaries};
            let progress = |line: &str| println!("{line}");
            if build_only {
                let built = binaries::ensure(&progress)
                    .map_err(crate::sandbox::control_plane::ControlPlaneError::from)?;
                println!(
                    "the control plane {} is built in {}",
                    crate::sandbox::control_plane::RELEASE,
                    built.dir().display()
                );
                return Ok(());
            }
            let Some(kubeconfig) = kubeconfig else {
                return Err(CliError::KubeSandboxKubeconfig {
                    path: PathBuf::new(),
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
                crate::sandbox::control_plane::RELEASE,
                plane.url(),
                kubeconfig.display(),
                kubeconfig.display()
            );
            shutdown_signal().await;
            plane.shutdown();
            Ok(())
        }
        Command::MendixSandbox { listen, state } => {
            crate::sandbox::mendix::run_standalone(listen, state.as_deref())
                .await
                .map_err(CliError::MendixSandbox)
        }
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
