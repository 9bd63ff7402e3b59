//! A local Kubernetes API server for tests and demos (issue 4): speaks enough of the
//! Kubernetes API that the unmodified `kubectl` and kube-rs (Controller, watcher, finalizer
//! helper, events Recorder, server-side apply, Leases) work against it.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use mendix_operator::sandbox::kube::KubeSandbox;
//! let sandbox = KubeSandbox::new();
//! let server = sandbox.serve("127.0.0.1:0".parse().unwrap()).await?;
//! server.write_kubeconfig(std::path::Path::new("/tmp/kubeconfig"))?;
//! let client = server.client().await;
//! # Ok(()) }
//! ```
//!
//! - [`store`]: objects, the global resourceVersion and the bounded change history watches replay.
//! - [`api`]: routing and request/response shaping; the verbs are in [`reads`] (get, list),
//!   [`writes`] (create, update, patch, apply, delete, garbage collection) and [`watch`].
//! - [`resources`]: the served kinds (built-ins and every CRD version); [`crds`]: CRD admission
//!   and the Established status; [`scale`]: the scale subresource; [`events`]: core/v1 ⇄
//!   events.k8s.io/v1 Events.
//! - [`discovery`], [`openapi`] (+ [`openapi_proto`] for older kubectl), [`table`]: what kubectl reads.
//! - [`admission`] and [`patching`]: the bridges to [`schema`] (validation, pruning, defaulting)
//!   and [`patch`] (patches, server-side apply, managedFields).
//! - [`protobuf`]: the protobuf bodies `kubectl create secret|configmap|namespace` send.
//! - [`faults`]: fault injection; [`stats`]: request counts; [`persist`]: save/load; [`kubeconfig`].
//!
//! Deliberate simplifications: deletion is immediate (grace periods accepted, finalizers
//! honoured), garbage collection runs at once, every version of a CRD is served from one store
//! without conversion, and list `resourceVersion`/`resourceVersionMatch` always read the latest
//! state.

pub mod admission;
pub mod api;
pub mod crds;
pub mod discovery;
pub mod events;
pub mod faults;
pub mod kubeconfig;
pub mod openapi;
pub mod openapi_proto;
pub mod patch;
pub mod patching;
pub mod persist;
pub mod protobuf;
pub mod reads;
pub mod resources;
pub mod scale;
pub mod schema;
pub mod selectors;
pub mod stats;
pub mod status;
pub mod store;
pub mod table;
pub mod watch;
pub mod writes;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

pub use faults::{Fault, FaultAction, Faults};
pub use stats::Stats;
use store::Store;

/// The Kubernetes version `/version` reports unless configured otherwise.
pub const DEFAULT_VERSION: &str = "v1.33.1";

/// State shared by every request and every clone of [`KubeSandbox`].
#[derive(Debug)]
pub(crate) struct Shared {
    store: Mutex<Store>,
    /// Carries the latest resourceVersion; watches wake up when it changes.
    changed: tokio::sync::watch::Sender<u64>,
    faults: Faults,
    stats: Stats,
    openapi: openapi::Cache,
    version: RwLock<String>,
    bookmark_interval: RwLock<Duration>,
}

/// A handle to one in-memory Kubernetes API (clones share the state).
#[derive(Debug, Clone)]
pub struct KubeSandbox {
    pub(crate) shared: Arc<Shared>,
}

impl Default for KubeSandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl KubeSandbox {
    /// An empty cluster with the namespaces `default`, `kube-system`, `kube-public` and
    /// `kube-node-lease`.
    pub fn new() -> Self {
        Self::with_history(store::DEFAULT_HISTORY)
    }

    /// Keeps at most `changes` changes for watches resuming from an old resourceVersion; older
    /// resourceVersions get 410 Gone.
    pub fn with_history(changes: usize) -> Self {
        let sandbox = KubeSandbox {
            shared: Arc::new(Shared {
                store: Mutex::new(Store::new(changes)),
                changed: tokio::sync::watch::channel(0).0,
                faults: Faults::default(),
                stats: Stats::default(),
                openapi: openapi::Cache::default(),
                version: RwLock::new(DEFAULT_VERSION.to_string()),
                bookmark_interval: RwLock::new(Duration::from_secs(10)),
            }),
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            // The built-in namespaces cannot fail to be created in an empty store.
            let _ = writes::create_namespace(&sandbox, ns);
        }
        sandbox
    }

    /// The injected faults (shared with the `/_sandbox/faults` endpoint).
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Every stored object as `(group, resource, object)`: a consistent snapshot.
    pub fn objects(&self) -> Vec<(String, String, Arc<serde_json::Value>)> {
        self.lock()
            .all_objects()
            .map(|((group, resource), obj)| (group.clone(), resource.clone(), obj.clone()))
            .collect()
    }

    /// Request counts per verb and resource (also at `GET /_sandbox/stats`).
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Sets the Kubernetes version `/version` reports, e.g. `v1.27.16` (kubectl's
    /// dispatcher picks its binary from it).
    pub fn set_version(&self, git_version: &str) {
        *self
            .shared
            .version
            .write()
            .unwrap_or_else(|p| p.into_inner()) = git_version.to_string();
    }

    pub fn version(&self) -> String {
        self.shared
            .version
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How often watches that allow bookmarks get one.
    pub fn set_bookmark_interval(&self, every: Duration) {
        *self
            .shared
            .bookmark_interval
            .write()
            .unwrap_or_else(|p| p.into_inner()) = every;
    }

    pub(crate) fn bookmark_interval(&self) -> Duration {
        *self
            .shared
            .bookmark_interval
            .read()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// A cached OpenAPI document (see [`openapi::Cache`]).
    pub(crate) fn openapi(
        &self,
        path: &str,
        render: impl FnOnce(&resources::Registry) -> Option<serde_json::Value>,
    ) -> Option<serde_json::Value> {
        let store = self.lock();
        self.shared
            .openapi
            .get_or_render(&store.registry, path, render)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Store> {
        self.shared.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes watches after a change (call after releasing the store lock).
    pub(crate) fn notify(&self, rv: u64) {
        self.shared.changed.send_replace(rv);
    }

    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv()
    }

    /// Number of stored objects of `group`/`plural` (e.g. `("mendixops.io", "mendixenvironments")`).
    pub fn count(&self, group: &str, plural: &str) -> usize {
        self.lock().count(&(group.to_string(), plural.to_string()))
    }

    /// Writes every object to `path` (JSON) so a later [`KubeSandbox::load`] restores them.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        persist::save(self, path)
    }

    /// A sandbox holding the objects saved at `path` (CRDs are served again).
    pub fn load(path: &Path) -> std::io::Result<Self> {
        persist::load(path)
    }

    /// Serves the API on `addr` (use port 0 for an ephemeral port).
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<KubeSandboxServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = api::router(self.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(KubeSandboxServer {
            sandbox: self.clone(),
            addr,
            stop: Some(stop),
            task,
        })
    }
}

/// A running sandbox server; dropping it keeps serving until [`KubeSandboxServer::shutdown`].
#[derive(Debug)]
pub struct KubeSandboxServer {
    sandbox: KubeSandbox,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl KubeSandboxServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn sandbox(&self) -> &KubeSandbox {
        &self.sandbox
    }

    /// Writes a kubeconfig (context `sandbox`, namespace `default`) for kubectl and kube-rs.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        kubeconfig::write(path, &self.url())
    }

    /// A kube-rs client talking to this server.
    pub async fn client(&self) -> kube::Client {
        kubeconfig::client(&self.url())
    }

    /// Stops accepting connections and ends open watches.
    pub fn shutdown(mut self) {
        self.sandbox.faults().cut_watches();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }

    /// Waits until the server task ends (after a shutdown signal such as Ctrl-C).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}
