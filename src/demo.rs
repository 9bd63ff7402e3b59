//! `mendix-operator sandbox`: everything on one machine with no cluster and no Mendix account.
//! Starts the real Kubernetes control plane ([`kube_sandbox`], built on first
//! use) or uses an existing cluster (`--kubeconfig`), and the Mendix sandbox on a free loopback
//! port; installs the CRDs, starts the operator through
//! [`crate::runtime::operator::run`] (the code path of `run`), creates the examples of
//! `deploy/examples/` in namespace `default` (the credentials Secrets get the sandbox's demo
//! credentials), writes a kubeconfig and prints every change of every Mendix resource.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};

use crate::crd::summary::{self, Summary};
use crate::crd::{MendixEnvironment, MendixPackage};
use crate::runtime::config::{LogFormat, RunConfig};
use kube_sandbox::{ControlPlane, ControlPlaneError};
use mendix_sandbox::{MendixSandbox, demo};

/// The examples, compiled in so the command works from any directory.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "mendix-cloud-credentials.yaml",
        include_str!("../deploy/examples/mendix-cloud-credentials.yaml"),
    ),
    (
        "private-cloud-credentials.yaml",
        include_str!("../deploy/examples/private-cloud-credentials.yaml"),
    ),
    (
        "mendix-cloud-package.yaml",
        include_str!("../deploy/examples/mendix-cloud-package.yaml"),
    ),
    (
        "private-cloud-package.yaml",
        include_str!("../deploy/examples/private-cloud-package.yaml"),
    ),
    (
        "mendix-cloud-environment.yaml",
        include_str!("../deploy/examples/mendix-cloud-environment.yaml"),
    ),
    (
        "private-cloud-environment.yaml",
        include_str!("../deploy/examples/private-cloud-environment.yaml"),
    ),
];

const NAMESPACE: &str = "default";
/// Simulated Mendix durations are multiplied by this: a build takes about three seconds.
const TIME_SCALE: f64 = 0.15;
/// How often the progress view looks at the resources.
const PROGRESS_EVERY: Duration = Duration::from_millis(300);

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot use directory {dir} (--dir): {source}")]
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the {which} sandbox on a loopback port: {source}")]
    Serve {
        which: &'static str,
        source: std::io::Error,
    },
    #[error("cannot start the Kubernetes control plane: {0}")]
    ControlPlane(#[from] ControlPlaneError),
    #[error("cannot use the cluster of --kubeconfig {path}: {problem}")]
    Cluster { path: PathBuf, problem: String },
    #[error("cannot install the CRDs: {0}")]
    Crds(ControlPlaneError),
    #[error("example {file}: {problem}")]
    Example { file: &'static str, problem: String },
    #[error("the operator stopped: {0}")]
    Operator(String),
}

/// Runs the sandbox until `shutdown` resolves; `Ok` after a clean stop.
pub async fn run(
    dir: &Path,
    kubeconfig: Option<&Path>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DemoError> {
    let dir_error = |source| DemoError::Dir {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(dir_error)?;
    let log_path = dir.join("operator.log");
    log_to_file(&log_path).map_err(dir_error)?;
    mendix_client::client::install_crypto_provider();

    let mendix = MendixSandbox::demo();
    mendix.set_time_scale(TIME_SCALE);
    let mendix_server = mendix
        .serve(loopback())
        .await
        .map_err(|source| DemoError::Serve {
            which: "Mendix API",
            source,
        })?;
    let config = operator_config(
        &mendix_server.cloud_v1_url(),
        &mendix_server.private_cloud_v4_url(),
    );
    let cluster = Cluster::connect(dir, kubeconfig, config.kube_max_in_flight()).await?;
    let client = cluster.client.clone();
    install_crds(&client).await?;

    let (stop_operator, operator_stopped) = tokio::sync::oneshot::channel::<()>();
    let operator_client = client.clone();
    let (metrics_tx, metrics_rx) = tokio::sync::oneshot::channel();
    let mut operator = tokio::spawn(async move {
        crate::runtime::operator::run(
            config,
            operator_client,
            async move {
                let _ = operator_stopped.await;
            },
            move |handles| {
                tracing::info!(metrics = %handles.metrics_addr, "operator started for the sandbox");
                let _ = metrics_tx.send(handles.metrics_addr);
            },
        )
        .await
    });
    let metrics_addr = metrics_rx.await.map_err(|_| {
        DemoError::Operator(format!("it did not start; see {}", log_path.display()))
    })?;
    apply_examples(&client).await?;

    let kubeconfig_shown =
        std::path::absolute(&cluster.kubeconfig).unwrap_or(cluster.kubeconfig.clone());
    println!("mendix-operator sandbox is running (no Mendix account needed):");
    println!("  Kubernetes API  {}", cluster.url);
    println!("  Mendix API      {}", mendix_server.cloud_v1_url());
    println!(
        "  operator        metrics http://{metrics_addr}/metrics, log {}",
        log_path.display()
    );
    println!();
    println!("Use it with kubectl in another terminal:");
    println!("  export KUBECONFIG={}", kubeconfig_shown.display());
    println!("  kubectl get mxpkg,mxenv");
    println!(
        "Edit an example and apply it (the credentials Secrets already hold demo credentials):"
    );
    println!("  kubectl apply -f deploy/examples/mendix-cloud-environment.yaml");
    println!();
    println!("Progress of the examples ({NAMESPACE} namespace, Ctrl-C to stop):");

    let mut shutdown = std::pin::pin!(shutdown);
    let mut seen: BTreeMap<String, Summary> = BTreeMap::new();
    let mut all_ready_announced = false;
    let mut ticker = tokio::time::interval(PROGRESS_EVERY);
    let outcome = loop {
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            result = &mut operator => {
                break Err(DemoError::Operator(match result {
                    Ok(Ok(())) => "it ended by itself".into(),
                    Ok(Err(err)) => err.to_string(),
                    Err(err) => err.to_string(),
                }));
            }
            _ = ticker.tick() => {
                let Some(current) = resources(&client).await else { continue };
                report_changes(&mut seen, current);
                let all_ready = !seen.is_empty() && seen.values().all(Summary::is_ready);
                if all_ready && !all_ready_announced {
                    println!("all Ready: {} resources", seen.len());
                }
                // Announce again after a change made everything Ready once more.
                all_ready_announced = all_ready;
            }
        }
    };

    println!("stopping the sandbox");
    let _ = stop_operator.send(());
    if !operator.is_finished() {
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut operator).await;
    }
    operator.abort();
    drop(cluster);
    drop(mendix_server);
    outcome
}

fn loopback() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Operator logs go to a file so the terminal shows only the progress view.
fn log_to_file(path: &Path) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Ok(())
}

/// `run`'s settings with the sandbox URLs, no leader election, metrics on a free port and
/// polling fast enough that the demo moves while you watch.
fn operator_config(cloud_url: &str, private_cloud_url: &str) -> RunConfig {
    RunConfig {
        mendix_cloud_url: cloud_url.into(),
        private_cloud_url: private_cloud_url.into(),
        namespaces: vec![],
        reconcile_concurrency: 4,
        mendix_max_in_flight: 8,
        kube_max_in_flight: None,
        mendix_requests_per_second: 100.0,
        mendix_request_timeout: Duration::from_secs(10),
        resync_period: Duration::from_secs(30),
        poll_initial: Duration::from_millis(200),
        poll_max: Duration::from_secs(1),
        log_format: LogFormat::Text,
        metrics_addr: loopback(),
        leader_election: false,
        lease_namespace: NAMESPACE.into(),
        lease_name: "mendix-operator".into(),
        identity: "mendix-operator-sandbox".into(),
        lease_duration: Duration::from_secs(15),
        download_dir: std::env::temp_dir(),
        max_download_size: 1 << 30,
        // Package files are served on loopback here.
        allow_private_download_urls: true,
        delete_wait_limit: Duration::from_secs(3600),
    }
}

async fn install_crds(client: &kube::Client) -> Result<(), DemoError> {
    crate::dev::install_crds(client)
        .await
        .map_err(DemoError::Crds)
}

/// The Kubernetes the sandbox runs on: the real control plane it starts, or the cluster of
/// `--kubeconfig`.
struct Cluster {
    client: kube::Client,
    url: String,
    /// Where kubectl finds it.
    kubeconfig: PathBuf,
    /// Stops with the sandbox (none for an existing cluster).
    _control_plane: Option<ControlPlane>,
}

impl Cluster {
    /// The cluster, and a client to it as `run` makes one (the operator's and the demo's).
    async fn connect(
        dir: &Path,
        kubeconfig: Option<&Path>,
        kube_max_in_flight: usize,
    ) -> Result<Self, DemoError> {
        let (config, url, kubeconfig, control_plane) = match kubeconfig {
            Some(path) => {
                let problem = |problem: String| DemoError::Cluster {
                    path: path.to_path_buf(),
                    problem,
                };
                let config = kube::config::Kubeconfig::read_from(path)
                    .map_err(|e| problem(e.to_string()))?;
                let config = kube::Config::from_custom_kubeconfig(config, &Default::default())
                    .await
                    .map_err(|e| problem(e.to_string()))?;
                let url = config.cluster_url.to_string();
                (config, url, path.to_path_buf(), None)
            }
            None => {
                let plane = ControlPlane::start(kube_sandbox::Options::default(), &|line| {
                    println!("{line}")
                })
                .await?;
                let kubeconfig = dir.join("kubeconfig");
                plane
                    .write_admin_kubeconfig(&kubeconfig)
                    .map_err(|source| DemoError::Dir {
                        dir: dir.to_path_buf(),
                        source,
                    })?;
                let url = plane.url().to_string();
                (plane.admin_config().await?, url, kubeconfig, Some(plane))
            }
        };
        let client =
            crate::runtime::kube_client::connect(config, kube_max_in_flight).map_err(|e| {
                DemoError::Cluster {
                    path: kubeconfig.clone(),
                    problem: e.to_string(),
                }
            })?;
        Ok(Cluster {
            client,
            url,
            kubeconfig,
            _control_plane: control_plane,
        })
    }
}

/// The demo value of each credentials key the examples use.
fn demo_credential(key: &str) -> Option<&'static str> {
    match key {
        "username" => Some(demo::CLOUD_USERNAME),
        "apiKey" => Some(demo::CLOUD_API_KEY),
        "pat" => Some(demo::PC_PAT),
        _ => None,
    }
}

/// Creates the examples in namespace `default`, as `kubectl apply -f` would (with the
/// last-applied annotation, so a later `kubectl apply` of an edited example is a clean update).
/// Secrets get the demo credentials instead of the placeholders and no such annotation.
pub async fn apply_examples(client: &kube::Client) -> Result<(), DemoError> {
    for (file, text) in EXAMPLES {
        let problem = |problem: String| DemoError::Example { file, problem };
        let mut manifest: serde_json::Value =
            serde_yaml::from_str(text).map_err(|e| problem(format!("not valid YAML: {e}")))?;
        let kind = manifest["kind"].as_str().unwrap_or_default().to_string();
        let resource = match kind.as_str() {
            "Secret" => {
                let keys: Vec<String> = manifest["stringData"]
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                for key in keys {
                    let value = demo_credential(&key)
                        .ok_or_else(|| problem(format!("no demo credential for key `{key}`")))?;
                    manifest["stringData"][key.as_str()] = value.into();
                }
                ApiResource::erase::<Secret>(&())
            }
            "MendixPackage" | "MendixEnvironment" => {
                let last_applied =
                    serde_json::to_string(&manifest).map_err(|e| problem(e.to_string()))?;
                manifest["metadata"]["annotations"] = serde_json::json!({
                    "kubectl.kubernetes.io/last-applied-configuration": last_applied
                });
                if kind == "MendixPackage" {
                    ApiResource::erase::<MendixPackage>(&())
                } else {
                    ApiResource::erase::<MendixEnvironment>(&())
                }
            }
            other => return Err(problem(format!("unexpected kind `{other}`"))),
        };
        manifest["metadata"]["namespace"] = NAMESPACE.into();
        let object: DynamicObject =
            serde_json::from_value(manifest).map_err(|e| problem(e.to_string()))?;
        match Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &resource)
            .create(&PostParams::default(), &object)
            .await
        {
            Ok(_) => {}
            // Already there from an earlier run on the same cluster: keep what is there.
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => return Err(problem(format!("cannot create it: {e}"))),
        }
    }
    Ok(())
}

/// Every Mendix resource in every namespace, keyed `namespace/kind/name`; `None` when the
/// Kubernetes sandbox did not answer (the next tick tries again).
async fn resources(client: &kube::Client) -> Option<BTreeMap<String, Summary>> {
    let packages = Api::<MendixPackage>::all(client.clone())
        .list(&ListParams::default())
        .await
        .ok()?;
    let environments = Api::<MendixEnvironment>::all(client.clone())
        .list(&ListParams::default())
        .await
        .ok()?;
    let all = packages
        .items
        .iter()
        .map(summary::package)
        .chain(environments.items.iter().map(summary::environment));
    Some(
        all.map(|s| (format!("{}/{}", s.namespace, s.reference()), s))
            .collect(),
    )
}

/// Prints one line per resource whose Ready status, phase, step, version or message changed,
/// and one per resource that disappeared.
fn report_changes(seen: &mut BTreeMap<String, Summary>, current: BTreeMap<String, Summary>) {
    for (key, now) in &current {
        if seen.get(key) != Some(now) {
            println!("{}", progress_line(now));
        }
    }
    for (key, before) in seen.iter() {
        if !current.contains_key(key) {
            println!("{:<28} deleted", namespaced(before));
        }
    }
    *seen = current;
}

fn namespaced(s: &Summary) -> String {
    if s.namespace == NAMESPACE {
        s.reference()
    } else {
        format!("{}/{}", s.namespace, s.reference())
    }
}

fn progress_line(s: &Summary) -> String {
    let mut line = format!("{:<28} Ready={:<7}", namespaced(s), s.ready);
    if !s.phase.is_empty() {
        line.push_str(&format!(" {:<17}", s.phase));
    }
    if !s.version.is_empty() {
        line.push_str(&format!(" version {}", s.version));
    }
    if !s.step.is_empty() {
        line.push_str(&format!("  step {}", s.step));
    } else if !s.message.is_empty() {
        line.push_str(&format!("  {}", s.message));
    } else if s.phase.is_empty() {
        line.push_str(" (the operator has not written a status yet)");
    }
    line.trim_end().to_string()
}
