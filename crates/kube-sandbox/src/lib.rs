//! A real Kubernetes control plane on loopback, the way controller-runtime's envtest runs one:
//! etcd, kube-apiserver and kube-controller-manager (namespace deletion, garbage collection,
//! service accounts) built from Kubernetes' own modules ([`binaries`]), with certificates made
//! for each start ([`pki`]), RBAC authorization on, and an admin kubeconfig. Tests, the
//! benchmark, `mendix-operator sandbox` and `kube-sandbox` run on it; `run` never needs it.
//!
//! The processes belong to a keeper thread that lives as long as the [`ControlPlane`]; each is
//! started with a parent-death signal tied to that thread, so no process outlives the program
//! that started it, even one killed or panicking. Dropping the [`ControlPlane`] stops them
//! (SIGTERM, then SIGKILL) and removes the working directory.

pub mod binaries;
pub mod faults;
pub mod pki;

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use base64::Engine;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};

pub use binaries::{Binaries, RELEASE};
use pki::Pki;

/// How long the API server may take to answer `/readyz` after the processes start.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a stopping process gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Working directories are named `<prefix><pid>-<n>` so a later start can remove those whose
/// program is gone.
const DIR_PREFIX: &str = "mendix-control-plane-";

#[derive(Debug, thiserror::Error)]
pub enum ControlPlaneError {
    #[error(transparent)]
    Build(#[from] binaries::BuildError),
    #[error("cannot make the control plane's certificates: {0}")]
    Pki(#[from] rcgen::Error),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{program} exited ({status}) before the API server was ready; its last lines:\n{tail}")]
    Exited {
        program: &'static str,
        status: String,
        tail: String,
    },
    #[error(
        "the API server was not ready within {} s; its last lines:\n{tail}",
        READY_TIMEOUT.as_secs()
    )]
    NotReady { tail: String },
    #[error("Kubernetes client: {0}")]
    Client(String),
}

impl ControlPlaneError {
    /// Whether a process exited because another had bound its port first.
    fn is_port_taken(&self) -> bool {
        matches!(self, ControlPlaneError::Exited { tail, .. } if tail.contains("address already in use"))
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ControlPlaneError {
    let what = what.into();
    move |source| ControlPlaneError::Io { what, source }
}

fn client_error(e: impl std::fmt::Display) -> ControlPlaneError {
    ControlPlaneError::Client(e.to_string())
}

/// How to start a control plane.
#[derive(Debug, Clone)]
pub struct Options {
    /// The API server's address; port 0 picks a free one.
    pub api_server: SocketAddr,
    /// Record every request in an audit log ([`ControlPlane::audit_log`]), as `Metadata`.
    pub audit: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            api_server: SocketAddr::from(([127, 0, 0, 1], 0)),
            audit: false,
        }
    }
}

/// A running control plane; dropping it stops every process.
pub struct ControlPlane {
    dir: PathBuf,
    api_url: String,
    pki: Pki,
    stop: Option<mpsc::Sender<()>>,
    keeper: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("api_url", &self.api_url)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// One process of the control plane.
struct ProcessSpec {
    program: &'static str,
    args: Vec<String>,
}

/// How many starts a control plane gets when a process finds its port taken. The ports are
/// found free and bound by etcd and the API server a moment later; in between, any other
/// process (an outgoing connection's ephemeral port among them) may take one.
const START_ATTEMPTS: u32 = 3;

impl ControlPlane {
    /// Builds the programs if needed, starts them and waits until the API server is ready.
    /// `progress` receives a line at a time while that takes long (the first build).
    pub async fn start(
        options: Options,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<Self, ControlPlaneError> {
        let mut attempt = 1;
        loop {
            match Self::start_once(options.clone(), progress).await {
                Err(err) if attempt < START_ATTEMPTS && err.is_port_taken() => {
                    progress(
                        "a port of the control plane was taken before its process bound it; starting again on other ports",
                    );
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn start_once(
        options: Options,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<Self, ControlPlaneError> {
        let binaries = binaries::ensure(progress)?;
        // ring, as everywhere in the project; an error means a provider is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        remove_stale_dirs();
        let dir = new_dir()?;
        let pki = Pki::generate()?;
        let api_server = match options.api_server.port() {
            0 => SocketAddr::new(options.api_server.ip(), free_port()?),
            _ => options.api_server,
        };
        let api_url = format!("https://{api_server}");
        let files = Files::write(&dir, &pki, &api_url, options.audit)?;
        let etcd_client = format!("http://127.0.0.1:{}", free_port()?);
        let etcd_peer = format!("http://127.0.0.1:{}", free_port()?);
        let specs = vec![
            ProcessSpec {
                program: "etcd",
                args: vec![
                    "--name=default".into(),
                    format!("--data-dir={}", dir.join("etcd").display()),
                    format!("--listen-client-urls={etcd_client}"),
                    format!("--advertise-client-urls={etcd_client}"),
                    format!("--listen-peer-urls={etcd_peer}"),
                    format!("--initial-advertise-peer-urls={etcd_peer}"),
                    format!("--initial-cluster=default={etcd_peer}"),
                    "--unsafe-no-fsync=true".into(),
                    "--log-level=warn".into(),
                ],
            },
            ProcessSpec {
                program: "kube-apiserver",
                args: files.api_server_args(&api_server, &etcd_client),
            },
            ProcessSpec {
                program: "kube-controller-manager",
                args: vec![
                    format!("--kubeconfig={}", files.controller_manager_kubeconfig.display()),
                    "--leader-elect=false".into(),
                    "--controllers=namespace-controller,garbage-collector-controller,serviceaccount-controller".into(),
                    format!("--root-ca-file={}", files.ca.display()),
                    format!("--service-account-private-key-file={}", files.service_account_key.display()),
                    "--use-service-account-credentials=false".into(),
                    "--secure-port=0".into(),
                ],
            },
        ];
        let (stop, stopped) = mpsc::channel();
        let exited: Arc<Mutex<Option<(&'static str, String)>>> = Arc::default();
        let (started_tx, started_rx) = mpsc::channel();
        let keeper = {
            let (binaries, dir, exited) = (binaries.clone(), dir.clone(), exited.clone());
            std::thread::Builder::new()
                .name("control-plane".into())
                .spawn(move || keep(&binaries, &dir, specs, started_tx, stopped, &exited))
                .map_err(io("starting the control plane's keeper thread"))?
        };
        let plane = ControlPlane {
            dir,
            api_url,
            pki,
            stop: Some(stop),
            keeper: Some(keeper),
        };
        match started_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(err),
            Err(_) => {
                return Err(ControlPlaneError::Io {
                    what: "starting the control plane".into(),
                    source: std::io::Error::other("its keeper thread ended"),
                });
            }
        }
        plane.wait_ready(&exited).await?;
        Ok(plane)
    }

    async fn wait_ready(
        &self,
        exited: &Mutex<Option<(&'static str, String)>>,
    ) -> Result<(), ControlPlaneError> {
        let ca = reqwest::Certificate::from_pem(self.pki.ca.cert_pem.as_bytes())
            .map_err(client_error)?;
        let http = reqwest::Client::builder()
            .add_root_certificate(ca)
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(client_error)?;
        let deadline = Instant::now() + READY_TIMEOUT;
        let readyz = format!("{}/readyz", self.api_url);
        loop {
            if let Some((program, status)) = exited.lock().ok().and_then(|e| e.clone()) {
                return Err(ControlPlaneError::Exited {
                    program,
                    status,
                    tail: self.log_tail(program),
                });
            }
            if let Ok(response) = http.get(&readyz).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(ControlPlaneError::NotReady {
                    tail: self.log_tail("kube-apiserver"),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.api_url
    }

    /// The CA that signed the API server's certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.pki.ca.cert_pem
    }

    /// A kubeconfig for the admin (`system:masters`), as kubectl reads it.
    pub fn admin_kubeconfig(&self) -> String {
        kubeconfig_yaml(
            &self.api_url,
            &self.pki.ca.cert_pem,
            "admin",
            &certificate_credentials(&self.pki.admin),
        )
    }

    /// A kubeconfig that authenticates with a bearer token (a service account's).
    pub fn token_kubeconfig(&self, user: &str, token: &str) -> String {
        kubeconfig_yaml(
            &self.api_url,
            &self.pki.ca.cert_pem,
            user,
            &format!("token: {token}"),
        )
    }

    pub fn write_admin_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        write_private(path, &self.admin_kubeconfig())
    }

    /// The admin's client configuration.
    pub async fn admin_config(&self) -> Result<kube::Config, ControlPlaneError> {
        let kubeconfig = Kubeconfig::from_yaml(&self.admin_kubeconfig()).map_err(client_error)?;
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(client_error)
    }

    /// A new admin client, bound to the calling runtime (a client must not outlive its
    /// runtime, so each test makes its own).
    pub async fn admin_client(&self) -> Result<kube::Client, ControlPlaneError> {
        kube::Client::try_from(self.admin_config().await?).map_err(client_error)
    }

    /// The client configuration of a bearer token (a ServiceAccount's, from
    /// [`service_account_token`]): RBAC decides what it may do.
    pub async fn token_config(&self, token: &str) -> Result<kube::Config, ControlPlaneError> {
        let mut config = self.admin_config().await?;
        config.auth_info = AuthInfo {
            token: Some(token.to_string().into()),
            ..AuthInfo::default()
        };
        Ok(config)
    }

    /// The audit log (JSON lines, level Metadata) when started with [`Options::audit`].
    pub fn audit_log(&self) -> PathBuf {
        self.dir.join("audit.log")
    }

    /// The last lines a program wrote.
    pub fn log_tail(&self, program: &str) -> String {
        let text =
            std::fs::read_to_string(self.dir.join(format!("{program}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Stops every process now (what dropping does).
    pub fn shutdown(mut self) {
        self.stop_processes();
    }

    fn stop_processes(&mut self) {
        drop(self.stop.take());
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop_processes();
    }
}

/// A token for ServiceAccount `namespace/name`, which is created if missing.
pub async fn service_account_token(
    admin: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<String, ControlPlaneError> {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
    let account = ServiceAccount {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    match accounts.create(&PostParams::default(), &account).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(e) => return Err(client_error(e)),
    }
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(24 * 3600),
            ..Default::default()
        },
        ..Default::default()
    };
    let issued = accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .map_err(client_error)?;
    issued
        .status
        .map(|s| s.token)
        .ok_or_else(|| client_error("the TokenRequest answered without a token"))
}

/// Installs (server-side apply, as `field_manager`) the CRDs and waits until the API server
/// serves them.
pub async fn install_crds(
    client: &kube::Client,
    all: &[CustomResourceDefinition],
    field_manager: &str,
) -> Result<(), ControlPlaneError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(field_manager).force();
    for crd in all {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let mut value = serde_json::to_value(crd).map_err(client_error)?;
        value["apiVersion"] = "apiextensions.k8s.io/v1".into();
        value["kind"] = "CustomResourceDefinition".into();
        crds.patch(&name, &params, &Patch::Apply(&value))
            .await
            .map_err(client_error)?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for crd in all {
        let name = crd.metadata.name.clone().unwrap_or_default();
        loop {
            let established = crds
                .get_opt(&name)
                .await
                .map_err(client_error)?
                .and_then(|c| c.status)
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            if Instant::now() > deadline {
                return Err(client_error(format!("CRD {name} was not Established")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// The files the processes read.
struct Files {
    ca: PathBuf,
    api_server_cert: PathBuf,
    api_server_key: PathBuf,
    service_account_key: PathBuf,
    service_account_public_key: PathBuf,
    controller_manager_kubeconfig: PathBuf,
    audit: Option<(PathBuf, PathBuf)>,
}

impl Files {
    fn write(dir: &Path, pki: &Pki, api_url: &str, audit: bool) -> Result<Self, ControlPlaneError> {
        let put = |name: &str, text: &str| -> Result<PathBuf, ControlPlaneError> {
            let path = dir.join(name);
            write_private(&path, text).map_err(io(format!("writing {}", path.display())))?;
            Ok(path)
        };
        let controller_manager = kubeconfig_yaml(
            api_url,
            &pki.ca.cert_pem,
            "kube-controller-manager",
            &certificate_credentials(&pki.controller_manager),
        );
        let audit = if audit {
            let policy = put(
                "audit-policy.yaml",
                "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Metadata\n",
            )?;
            Some((policy, dir.join("audit.log")))
        } else {
            None
        };
        Ok(Files {
            ca: put("ca.crt", &pki.ca.cert_pem)?,
            api_server_cert: put("apiserver.crt", &pki.api_server.cert_pem)?,
            api_server_key: put("apiserver.key", &pki.api_server.key_pem)?,
            service_account_key: put("service-account.key", &pki.service_account_key_pem)?,
            service_account_public_key: put(
                "service-account.pub",
                &pki.service_account_public_key_pem,
            )?,
            controller_manager_kubeconfig: put(
                "kube-controller-manager.kubeconfig",
                &controller_manager,
            )?,
            audit,
        })
    }

    fn api_server_args(&self, addr: &SocketAddr, etcd: &str) -> Vec<String> {
        let mut args = vec![
            format!("--etcd-servers={etcd}"),
            format!("--bind-address={}", addr.ip()),
            format!("--advertise-address={}", addr.ip()),
            format!("--secure-port={}", addr.port()),
            format!("--tls-cert-file={}", self.api_server_cert.display()),
            format!("--tls-private-key-file={}", self.api_server_key.display()),
            format!("--client-ca-file={}", self.ca.display()),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!(
                "--service-account-key-file={}",
                self.service_account_public_key.display()
            ),
            format!(
                "--service-account-signing-key-file={}",
                self.service_account_key.display()
            ),
            "--authorization-mode=RBAC".into(),
            format!(
                "--service-cluster-ip-range={}",
                pki::SERVICE_CLUSTER_IP_RANGE
            ),
            "--allow-privileged=true".into(),
        ];
        if let Some((policy, log)) = &self.audit {
            args.push(format!("--audit-policy-file={}", policy.display()));
            args.push(format!("--audit-log-path={}", log.display()));
            args.push("--audit-log-format=json".into());
            args.push("--audit-log-mode=blocking".into());
        }
        args
    }
}

/// The keeper thread: starts the processes (each dies with this thread), reports a process
/// that exits, and stops them all when `stop` is dropped.
fn keep(
    binaries: &Binaries,
    dir: &Path,
    specs: Vec<ProcessSpec>,
    started: mpsc::Sender<Result<(), ControlPlaneError>>,
    stop: mpsc::Receiver<()>,
    exited: &Mutex<Option<(&'static str, String)>>,
) {
    let mut children: Vec<(&'static str, Child)> = Vec::new();
    for spec in specs {
        match spawn(binaries, dir, &spec) {
            Ok(child) => children.push((spec.program, child)),
            Err(err) => {
                terminate(&mut children);
                let _ = started.send(Err(err));
                return;
            }
        }
    }
    let _ = started.send(Ok(()));
    // Until `stop` is dropped (or sent to): note the first process that exits.
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(Duration::from_millis(250)) {
        for (program, child) in &mut children {
            if let Ok(Some(status)) = child.try_wait()
                && let Ok(mut exited) = exited.lock()
                && exited.is_none()
            {
                *exited = Some((program, status.to_string()));
            }
        }
    }
    terminate(&mut children);
    let _ = std::fs::remove_dir_all(dir);
}

fn spawn(binaries: &Binaries, dir: &Path, spec: &ProcessSpec) -> Result<Child, ControlPlaneError> {
    let log_path = dir.join(format!("{}.log", spec.program));
    let log = File::create(&log_path).map_err(io(format!("creating {}", log_path.display())))?;
    let log_err = log
        .try_clone()
        .map_err(io(format!("opening {}", log_path.display())))?;
    let mut command = Command::new(binaries.path(spec.program));
    command
        .args(&spec.args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    let parent = std::process::id();
    // SAFETY: prctl and getppid are async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(move || {
            // Dies with the keeper thread, so no process outlives the program.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::other("the parent exited"));
            }
            Ok(())
        });
    }
    command.spawn().map_err(io(format!(
        "starting {}",
        binaries.path(spec.program).display()
    )))
}

/// SIGTERM in reverse start order, SIGKILL what is still running after the grace period.
fn terminate(children: &mut [(&'static str, Child)]) {
    for (_, child) in children.iter_mut().rev() {
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: kill with a pid we started and have not reaped yet.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }
    let deadline = Instant::now() + STOP_GRACE;
    for (_, child) in children.iter_mut() {
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn new_dir() -> Result<PathBuf, ControlPlaneError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "{DIR_PREFIX}{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    Ok(dir)
}

/// Working directories of programs that are gone (killed before they could clean up).
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix(DIR_PREFIX)
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn free_port() -> Result<u16, ControlPlaneError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(io("finding a free loopback port"))
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A kubeconfig user's credentials: a client certificate and its key.
fn certificate_credentials(certified: &pki::CertifiedKey) -> String {
    format!(
        "client-certificate-data: {}\n      client-key-data: {}",
        b64(&certified.cert_pem),
        b64(&certified.key_pem)
    )
}

fn kubeconfig_yaml(server: &str, ca_pem: &str, user: &str, credentials: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
  - name: mendix-control-plane
    cluster:
      server: {server}
      certificate-authority-data: {ca}
users:
  - name: {user}
    user:
      {credentials}
contexts:
  - name: mendix-control-plane
    context: {{cluster: mendix-control-plane, user: {user}, namespace: default}}
current-context: mendix-control-plane
",
        ca = b64(ca_pem)
    )
}

/// Kubeconfigs and keys are readable by their owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::ControlPlaneError;

    #[test]
    fn only_a_process_that_lost_its_port_starts_the_control_plane_again() {
        let exited = |tail: &str| ControlPlaneError::Exited {
            program: "etcd",
            status: "exit status: 1".into(),
            tail: tail.into(),
        };
        // etcd's own line, as CI saw it.
        assert!(exited(r#"{"level":"fatal","msg":"discovery failed","error":"listen tcp 127.0.0.1:35865: bind: address already in use"}"#).is_port_taken());
        assert!(!exited("error: unknown flag: --no-such-flag").is_port_taken());
        assert!(
            !ControlPlaneError::NotReady {
                tail: "address already in use".into()
            }
            .is_port_taken()
        );
    }
}
