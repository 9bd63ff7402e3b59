//! End-to-end harness: a real Kubernetes control plane (one per test binary, started on first
//! use) and a Mendix sandbox (one per test) on loopback, the CRDs installed, a namespace per test
//! with its credentials Secrets, and the operator started through the same code path as
//! `mendix-operator run` (in-process, so a test can stop it at any point and start another).
//!
//! The operator never runs as admin: it authenticates with a ServiceAccount token bound to the
//! Role of `deploy/namespaced/` (and the leader-election Role of `deploy/base/`) in the test's
//! namespace, and reaches the API server through a fault-injecting proxy ([`FaultProxy`]).
#![allow(dead_code)]

pub mod gotool;
pub mod helm;
pub mod kstatus;
pub mod leaks;
pub mod promtool;
pub mod resources;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube_sandbox::faults::{FaultProxy, Faults};
use kube_sandbox::{ControlPlane, Options};
use mendix_operator::crd::{MendixEnvironment, MendixEnvironmentStatus, MendixPackage};
use mendix_operator::runtime::config::{LogFormat, RunConfig};
use mendix_sandbox::{MendixSandbox, SandboxServer, demo};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

pub const CLOUD_SECRET: &str = "mendix-cloud";
pub const PC_SECRET: &str = "private-cloud";
/// Generous guard for waits: the machines are small and shared.
pub const WAIT: Duration = Duration::from_secs(60);

pub struct Operator {
    stop: tokio::sync::oneshot::Sender<()>,
    task: JoinHandle<()>,
}

pub struct Harness {
    /// This test's namespace: its resources, Secrets, Events, the operator's Lease.
    pub ns: String,
    pub mendix: MendixSandbox,
    pub mendix_server: SandboxServer,
    /// The test's own client: admin.
    pub client: kube::Client,
    /// The operator's client configuration: the ServiceAccount token, through the proxy.
    pub operator_config: kube::Config,
    /// The operator's ServiceAccount token (for kubeconfigs of operator processes).
    operator_token: String,
    /// In front of the API server for the operator; its faults are the test's to set.
    pub proxy: FaultProxy,
    operator: Option<Operator>,
    /// Where the running operator serves /metrics, /healthz and /readyz.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

pub fn config(mendix: &SandboxServer, namespace: &str) -> RunConfig {
    RunConfig {
        mendix_cloud_url: mendix.cloud_v1_url(),
        private_cloud_url: mendix.private_cloud_v4_url(),
        namespaces: vec![namespace.into()],
        reconcile_concurrency: 8,
        mendix_max_in_flight: 16,
        kube_max_in_flight: None,
        mendix_requests_per_second: 500.0,
        mendix_request_timeout: Duration::from_secs(10),
        resync_period: Duration::from_secs(3),
        poll_initial: Duration::from_millis(50),
        poll_max: Duration::from_millis(400),
        log_format: LogFormat::Text,
        metrics_addr: "127.0.0.1:0".parse().expect("valid address"),
        leader_election: false,
        lease_namespace: namespace.into(),
        lease_name: "mendix-operator".into(),
        identity: String::new(),
        lease_duration: Duration::from_secs(15),
        download_dir: std::env::temp_dir(),
        max_download_size: 1 << 30,
        // Package files are served on loopback here.
        allow_private_download_urls: true,
        delete_wait_limit: Duration::from_secs(3600),
    }
}

fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Default::default()
    }
}

/// Whether the control plane of this test binary records an audit log (call before the first
/// harness).
static AUDIT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn enable_audit() {
    AUDIT.store(true, Ordering::Relaxed);
}

/// The control plane of this test binary, started on first use (built first if this machine has
/// never built it). It lives until the test binary exits.
pub fn control_plane() -> &'static ControlPlane {
    static PLANE: OnceLock<ControlPlane> = OnceLock::new();
    PLANE.get_or_init(|| {
        // Its own thread and runtime: nothing of it may be bound to one test's runtime.
        std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for starting the control plane");
            let options = Options {
                audit: AUDIT.load(Ordering::Relaxed),
                ..Options::default()
            };
            runtime.block_on(ControlPlane::start(options, &|line| eprintln!("{line}")))
        })
        .join()
        .expect("the control plane's start did not panic")
        .unwrap_or_else(|e| panic!("the Kubernetes control plane did not start: {e}"))
    })
}

/// A namespace name for the calling test: its name (as a DNS label) and a counter.
fn test_namespace() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("test");
    let test = test.rsplit("::").next().unwrap_or(test);
    let mut label: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    label = label.trim_matches('-').to_string();
    format!("{label}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// The rules the operator ships with, bound to its ServiceAccount in `namespace`: the Role of
/// `deploy/namespaced/rbac.yaml` and the leader-election Role of `deploy/base/rbac.yaml`.
pub async fn bind_shipped_rbac(client: &kube::Client, namespace: &str, account: &str) {
    let mut documents = Vec::new();
    for text in [
        include_str!("../../../deploy/namespaced/rbac.yaml"),
        include_str!("../../../deploy/base/rbac.yaml"),
    ] {
        for document in serde_yaml::Deserializer::from_str(text) {
            let value: serde_json::Value =
                serde::Deserialize::deserialize(document).expect("RBAC YAML parses");
            documents.push(value);
        }
    }
    for mut document in documents {
        document["metadata"]["namespace"] = namespace.into();
        let params = PatchParams::apply("tests").force();
        match document["kind"].as_str() {
            Some("Role") => {
                let name = document["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                Api::<Role>::namespaced(client.clone(), namespace)
                    .patch(&name, &params, &Patch::Apply(&document))
                    .await
                    .expect("Role applied");
            }
            Some("RoleBinding") => {
                document["subjects"] = serde_json::json!([
                    {"kind": "ServiceAccount", "name": account, "namespace": namespace}
                ]);
                let name = document["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                Api::<RoleBinding>::namespaced(client.clone(), namespace)
                    .patch(&name, &params, &Patch::Apply(&document))
                    .await
                    .expect("RoleBinding applied");
            }
            // The cluster-wide install's ClusterRole(Binding): not for a namespaced operator.
            _ => {}
        }
    }
}

/// What the operator runs as in every harness.
pub const OPERATOR_ACCOUNT: &str = "mendix-operator";

/// No credential value may have reached the logs, an Event or a status (see [`leaks`]); the
/// test's namespace is deleted afterwards.
impl Drop for Harness {
    fn drop(&mut self) {
        let ns = self.ns.clone();
        let check = !std::thread::panicking();
        // A fresh thread and runtime: the test's runtime is blocked in this drop.
        let objects = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the harness's last look");
            runtime.block_on(async move {
                let client = control_plane().admin_client().await.expect("admin client");
                let objects = if check {
                    leaks::objects(&client, &ns).await
                } else {
                    vec![]
                };
                let _ = Api::<Namespace>::all(client)
                    .delete(&ns, &DeleteParams::background())
                    .await;
                objects
            })
        })
        .join();
        if check {
            leaks::assert_clean(&objects.expect("the harness's last look did not panic"));
        }
    }
}

impl Harness {
    /// Sandboxes up, CRDs installed, namespace and Secrets created; the operator not yet started.
    pub async fn new() -> Self {
        let mendix = MendixSandbox::demo();
        mendix.set_time_scale(0.01);
        Self::with_mendix(mendix).await
    }

    /// The same around a Mendix sandbox seeded otherwise (its users must include the demo's).
    pub async fn with_mendix(mendix: MendixSandbox) -> Self {
        Self::in_namespace(mendix, &test_namespace()).await
    }

    /// The same in a namespace of a given name (created).
    pub async fn in_namespace(mendix: MendixSandbox, ns: &str) -> Self {
        let ns = ns.to_string();
        mendix_client::client::install_crypto_provider();
        leaks::install();
        let mendix_server = mendix
            .serve("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("mendix sandbox serves");
        let plane = control_plane();
        let client = plane.admin_client().await.expect("admin client");
        static CRDS: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
        CRDS.get_or_init(|| async {
            mendix_operator::dev::install_crds(&client)
                .await
                .expect("CRDs installed");
        })
        .await;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(ns.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .expect("namespace created");
        bind_shipped_rbac(&client, &ns, OPERATOR_ACCOUNT).await;
        let operator_token = kube_sandbox::service_account_token(&client, &ns, OPERATOR_ACCOUNT)
            .await
            .expect("operator token");
        let proxy = FaultProxy::start(plane.url(), plane.ca_pem())
            .await
            .expect("fault proxy starts");
        let operator_config = proxy.config_through(
            &plane
                .token_config(&operator_token)
                .await
                .expect("operator config"),
        );
        let h = Harness {
            ns,
            mendix,
            mendix_server,
            client,
            operator_config,
            operator_token,
            proxy,
            operator: None,
            metrics_addr: None,
        };
        h.put_secret(
            CLOUD_SECRET,
            &[
                ("username", demo::CLOUD_USERNAME),
                ("apiKey", demo::CLOUD_API_KEY),
            ],
        )
        .await;
        h.put_secret(PC_SECRET, &[("pat", demo::PC_PAT)]).await;
        h
    }

    /// The faults the operator's requests to the API server suffer.
    pub fn faults(&self) -> &Faults {
        self.proxy.faults()
    }

    /// A kubeconfig for kubectl and the plugin: the admin, in this test's namespace.
    pub fn write_kubeconfig(&self, path: &Path) {
        let text = control_plane()
            .admin_kubeconfig()
            .replace("namespace: default", &format!("namespace: {}", self.ns));
        std::fs::write(path, text).expect("kubeconfig written");
    }

    /// A kubeconfig for an operator process: its ServiceAccount token, through this test's
    /// fault proxy (as the operator the harness runs itself).
    pub fn write_operator_kubeconfig(&self, path: &Path) {
        let text = control_plane()
            .token_kubeconfig(OPERATOR_ACCOUNT, &self.operator_token)
            .replace("namespace: default", &format!("namespace: {}", self.ns));
        let text = text
            .lines()
            .map(|line| match line.trim_start().strip_prefix("server: ") {
                Some(_) => format!("      server: {}", self.proxy.url()),
                None => line.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(path, text + "\n").expect("kubeconfig written");
    }

    /// The Events in this test's namespace.
    pub async fn events(&self) -> Vec<k8s_openapi::api::events::v1::Event> {
        Api::<k8s_openapi::api::events::v1::Event>::namespaced(self.client.clone(), &self.ns)
            .list(&Default::default())
            .await
            .expect("events listed")
            .items
    }

    /// A harness with the operator running.
    pub async fn started() -> Self {
        let mut h = Self::new().await;
        h.start_operator().await;
        h
    }

    pub async fn put_secret(&self, name: &str, data: &[(&str, &str)]) {
        for (key, value) in data.iter().filter(|(key, _)| *key != "username") {
            leaks::watch(&format!("value of {name}/{key}"), value);
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.ns);
        let params = PatchParams::apply("tests").force();
        let mut s = secret(name, data);
        s.metadata.namespace = Some(self.ns.clone());
        let mut value = serde_json::to_value(&s).expect("secret serializes");
        value["apiVersion"] = "v1".into();
        value["kind"] = "Secret".into();
        api.patch(name, &params, &Patch::Apply(&value))
            .await
            .expect("secret applied");
    }

    pub fn config(&self) -> RunConfig {
        config(&self.mendix_server, &self.ns)
    }

    pub async fn start_operator(&mut self) {
        self.start_operator_with(self.config()).await;
    }

    pub async fn start_operator_with(&mut self, config: RunConfig) {
        let client = mendix_operator::runtime::kube_client::connect(
            self.operator_config.clone(),
            config.kube_max_in_flight(),
        )
        .expect("operator client");
        self.start_operator_as(config, client).await;
    }

    /// Starts the operator with another client (another identity).
    pub async fn start_operator_as(&mut self, config: RunConfig, client: kube::Client) {
        assert!(self.operator.is_none(), "operator already running");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            let started = move |handles: mendix_operator::runtime::operator::Handles| {
                let _ = addr_tx.send(handles.metrics_addr);
            };
            if let Err(err) =
                mendix_operator::runtime::operator::run(config, client, shutdown, started).await
            {
                panic!("operator failed: {err}");
            }
        });
        self.metrics_addr = tokio::time::timeout(WAIT, addr_rx)
            .await
            .ok()
            .and_then(Result::ok);
        self.operator = Some(Operator { stop, task });
    }

    /// Stops the operator abruptly, wherever it is (as a crash would).
    pub async fn crash_operator(&mut self) {
        if let Some(op) = self.operator.take() {
            op.task.abort();
            let _ = op.task.await;
            drop(op.stop);
        }
    }

    /// Stops the operator gracefully.
    pub async fn stop_operator(&mut self) {
        if let Some(op) = self.operator.take() {
            let _ = op.stop.send(());
            let _ = tokio::time::timeout(Duration::from_secs(20), op.task).await;
        }
    }

    pub fn packages(&self) -> Api<MendixPackage> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub fn environments(&self) -> Api<MendixEnvironment> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Creates a namespaced resource from YAML in this test's namespace.
    pub async fn create<K>(&self, yaml: &str) -> K
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let obj: K = serde_yaml::from_str(yaml).expect("test YAML parses");
        Api::<K>::namespaced(self.client.clone(), &self.ns)
            .create(&PostParams::default(), &obj)
            .await
            .expect("resource created")
    }

    pub async fn delete_package(&self, name: &str) {
        self.packages()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete accepted");
    }
}

/// Polls `fetch` until `done` holds, or fails with the last value seen.
pub async fn wait_for<T, F, Fut>(what: &str, mut fetch: F, done: impl Fn(&T) -> bool) -> T
where
    T: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last = None;
    loop {
        if let Some(value) = fetch().await {
            if done(&value) {
                return value;
            }
            last = Some(value);
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}; last seen: {last:#?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn condition<'a>(
    conditions: &'a [k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

pub fn is(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    type_: &str,
) -> bool {
    condition(conditions, type_).is_some_and(|c| c.status == "True")
}

impl Harness {
    pub async fn wait_package(
        &self,
        name: &str,
        done: impl Fn(&MendixPackage) -> bool,
    ) -> MendixPackage {
        let api = self.packages();
        wait_for(
            &format!("MendixPackage {name}"),
            || {
                let api = api.clone();
                let name = name.to_string();
                async move { api.get_opt(&name).await.ok().flatten() }
            },
            done,
        )
        .await
    }

    /// Waits until the MendixPackage `name` no longer exists.
    pub async fn wait_package_gone(&self, name: &str) {
        let api = self.packages();
        wait_for(
            &format!("MendixPackage {name} gone"),
            || {
                let api = api.clone();
                async move { Some(api.get_opt(name).await.ok().flatten().is_none()) }
            },
            |gone| *gone,
        )
        .await;
    }

    pub async fn wait_environment(
        &self,
        name: &str,
        done: impl Fn(&MendixEnvironment) -> bool,
    ) -> MendixEnvironment {
        let api = self.environments();
        wait_for(
            &format!("MendixEnvironment {name}"),
            || {
                let api = api.clone();
                let name = name.to_string();
                async move { api.get_opt(&name).await.ok().flatten() }
            },
            done,
        )
        .await
    }
}

/// Ready for the current generation.
pub fn ready<K: kube::Resource>(
    obj: &K,
    status_conditions: Option<(
        &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
        Option<i64>,
    )>,
) -> bool {
    status_conditions
        .is_some_and(|(c, observed)| observed == obj.meta().generation && is(c, "Ready"))
}

pub fn package_ready(p: &MendixPackage) -> bool {
    ready(
        p,
        p.status
            .as_ref()
            .map(|s| (s.conditions.as_slice(), s.observed_generation)),
    )
}

pub fn package_stalled(p: &MendixPackage) -> bool {
    p.status
        .as_ref()
        .is_some_and(|s| is(&s.conditions, "Stalled"))
}

pub fn environment_ready(e: &MendixEnvironment) -> bool {
    ready(
        e,
        e.status
            .as_ref()
            .map(|s| (s.conditions.as_slice(), s.observed_generation)),
    )
}

/// Ready at its generation and running `version` (the deployed package's major.minor.patch).
pub fn environment_runs(version: &'static str) -> impl Fn(&MendixEnvironment) -> bool {
    environment_ready_with(|s| s.deployed_version.as_deref(), version)
}

/// Ready at its generation, having handled the `mendixops.io/reconcileRequestedAt` value
/// `requested`.
pub fn environment_reconciled_on_request(
    requested: &'static str,
) -> impl Fn(&MendixEnvironment) -> bool {
    environment_ready_with(|s| s.reconcile_requested_at.as_deref(), requested)
}

/// Ready at its generation, with the status field `field` at `value`.
fn environment_ready_with(
    field: fn(&MendixEnvironmentStatus) -> Option<&str>,
    value: &'static str,
) -> impl Fn(&MendixEnvironment) -> bool {
    move |e| environment_ready(e) && e.status.as_ref().and_then(field) == Some(value)
}

pub fn environment_stalled(e: &MendixEnvironment) -> bool {
    e.status.as_ref().is_some_and(|s| {
        is(&s.conditions, "Stalled") && s.observed_generation == e.metadata.generation
    })
}

pub fn stalled_reason_package(p: &MendixPackage) -> String {
    p.status
        .as_ref()
        .and_then(|s| condition(&s.conditions, "Stalled"))
        .map(|c| c.reason.clone())
        .unwrap_or_default()
}

/// A MendixPackage building `revision` of branch main as `version` on Mendix Cloud.
pub fn cloud_build(name: &str, revision: &str, version: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixPackage
metadata: {{name: {name}}}
spec:
  target: {{mendixCloud: {{appId: {app}}}}}
  credentialsSecretRef: {{name: {CLOUD_SECRET}}}
  source: {{build: {{branch: main, revision: {revision}, version: {version}, description: test build}}}}
",
        app = demo::CLOUD_APP_ID
    )
}

/// The same on Private Cloud.
pub fn pc_build(name: &str, revision: &str, version: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixPackage
metadata: {{name: {name}}}
spec:
  target: {{privateCloud: {{appId: {app}}}}}
  credentialsSecretRef: {{name: {PC_SECRET}}}
  source: {{build: {{branch: main, revision: {revision}, version: {version}}}}}
",
        app = demo::PC_APP_ID
    )
}

impl Harness {
    /// A Mendix Cloud environment of the demo app as the Mendix sandbox holds it (its status,
    /// package and counts of completed writes); `null` when there is none.
    pub fn cloud_env_state(&self, mode: &str) -> serde_json::Value {
        self.remote_environment("cloud", |e| e["mode"] == mode)
    }

    /// The same for a Private Cloud environment, by id.
    pub fn pc_env_state(&self, id: &str) -> serde_json::Value {
        self.remote_environment("privateCloud", |e| e["id"] == id)
    }

    fn remote_environment(
        &self,
        platform: &str,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        self.mendix.state_json()[platform]["apps"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|a| a["environments"].as_array().cloned().unwrap_or_default())
            .find(|e| matches(e))
            .unwrap_or_default()
    }

    /// Adds environments to the demo world: copies of the stopped Mendix Cloud `Test`
    /// environment under `cloud_modes`, and of the running Private Cloud `calc-test` under
    /// `pc_ids` (each with its own id, name and URL).
    pub fn add_environments(&self, cloud_modes: &[String], pc_ids: &[String]) {
        self.mendix.with_world(|world| {
            let app = world
                .cloud
                .apps
                .iter_mut()
                .find(|a| a.app_id == demo::CLOUD_APP_ID)
                .expect("demo cloud app");
            let template = app
                .environments
                .iter()
                .find(|e| e.mode == "Test")
                .expect("Test environment")
                .clone();
            for (i, mode) in cloud_modes.iter().enumerate() {
                let mut env = template.clone();
                env.mode = mode.clone();
                env.environment_id = format!("00000000-0000-4000-8000-{:012}", i + 1);
                env.url = format!("https://calc-{}.mendixcloud.com", mode.to_lowercase());
                app.environments.push(env);
            }
            let app = world
                .private_cloud
                .apps
                .iter_mut()
                .find(|a| a.app_id == demo::PC_APP_ID)
                .expect("demo private cloud app");
            let template = app
                .environments
                .iter()
                .find(|e| e.id == demo::PC_ENVIRONMENT_TEST)
                .expect("calc-test environment")
                .clone();
            for id in pc_ids {
                let mut env = template.clone();
                env.id = id.clone();
                env.environment["id"] = serde_json::json!(id);
                env.environment["properties"]["name"] = serde_json::json!(id);
                env.environment["deployment"]["appUrl"] =
                    serde_json::json!(format!("https://{id}.example.mendix-sandbox.local"));
                env.updates = 0;
                app.environments.push(env);
            }
        });
    }
}

impl Harness {
    /// Reconciles the operator has finished (every kind and result), from its own metrics.
    pub async fn reconciles(&self) -> u64 {
        let addr = self.metrics_addr.expect("the operator serves metrics");
        let text = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .expect("/metrics answers")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .filter(|l| l.starts_with("mendix_operator_reconciles_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// Waits until the operator has finished `more` reconciles after it had finished `since`:
    /// to show that something did not happen, let the operator work, not the clock pass.
    pub async fn wait_reconciles(&self, since: u64, more: u64) {
        wait_for(
            &format!("{more} more reconciles"),
            || async { Some(self.reconciles().await) },
            |done| *done >= since + more,
        )
        .await;
    }
}

/// Serves `bytes` at `/app.mda` on a loopback port, as a user's artifact store would (whatever
/// the query or credentials); returns `http://127.0.0.1:PORT/app.mda`.
pub async fn serve_file(bytes: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route(
        "/app.mda",
        axum::routing::get(move || {
            let b = bytes.clone();
            async move { b }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/app.mda")
}

/// An .mda of about `size` bytes: a zip archive's signature, then noise (Mendix, like the
/// sandbox, refuses a package that is not a zip).
pub fn an_mda(size: u32) -> Vec<u8> {
    let mut content = b"PK\x03\x04".to_vec();
    content.extend((0..size).map(|i| (i % 251) as u8));
    content
}

/// The real kubectl from PATH, as the admin in one test's namespace, with its own cache.
pub struct Kubectl {
    pub kubeconfig: std::path::PathBuf,
    dir: tempfile::TempDir,
}

/// What one kubectl run printed.
#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Harness {
    pub fn kubectl(&self) -> Kubectl {
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        self.write_kubeconfig(&kubeconfig);
        Kubectl { kubeconfig, dir }
    }
}

impl Kubectl {
    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_stdin(args, "").await
    }

    /// Runs kubectl with `input` on its standard input; a failure guard of [`WAIT`] * 1.5.
    pub async fn run_stdin(&self, args: &[&str], input: &str) -> Run {
        use tokio::io::AsyncWriteExt;
        let mut child = tokio::process::Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .env("HOME", self.dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("kubectl is on PATH (CI installs it; locally: apt-get install kubectl)");
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input.as_bytes())
                .await
                .expect("kubectl stdin");
        }
        let out = tokio::time::timeout(WAIT + WAIT / 2, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish"))
            .expect("kubectl output");
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs kubectl and fails the test with its output when it fails; its stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        self.ok_stdin(args, "").await
    }

    pub async fn ok_stdin(&self, args: &[&str], input: &str) -> String {
        let run = self.run_stdin(args, input).await;
        assert!(
            run.ok,
            "kubectl {args:?} failed:\n{}\n{}",
            run.stdout, run.stderr
        );
        run.stdout
    }
}

/// What `kubectl kustomize DIR` renders (DIR relative to the repository), as YAML text.
pub fn kustomize_yaml(dir: &str) -> String {
    let out = std::process::Command::new("kubectl")
        .args(["kustomize", &repo_path(dir)])
        .output()
        .expect("kubectl is installed (see .ci/run)");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// What `kubectl kustomize DIR` renders, one JSON value per object.
pub fn kustomize(dir: &str) -> Vec<serde_json::Value> {
    yaml_objects(&kustomize_yaml(dir))
}

/// The objects of a multi-document YAML stream (empty documents left out).
pub fn yaml_objects(yaml: &str) -> Vec<serde_json::Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|document| serde::Deserialize::deserialize(document).expect("YAML that parses"))
        .filter(|object: &serde_json::Value| !object.is_null())
        .collect()
}

/// A path in the repository (the workspace root, two levels above this crate).
pub fn repo_path(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
        .display()
        .to_string()
}
