//! The Mendix API sandbox: one axum server that speaks the Mendix Cloud Build and Deploy APIs v1
//! (`/api/1/...`) and the Private Cloud Build and Deploy APIs v4 (`/api/v4/...`) with realistic
//! state machines, plus simulator controls under `/_sim/`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use mendix_sandbox::{MendixSandbox, Fault};
//! let sandbox = MendixSandbox::demo();
//! sandbox.set_time_scale(0.01); // a 20 s build takes 0.2 s
//! let server = sandbox.serve("127.0.0.1:0".parse().unwrap()).await?;
//! let v1 = server.cloud_v1_url(); // http://127.0.0.1:PORT/api/1
//! sandbox.add_fault(Fault::too_many_requests("v1_transport", 2, 1));
//! # Ok(()) }
//! ```
//!
//! # State and seeding
//! The state ([`world`]) is seeded from YAML ([`MendixSandbox::from_yaml`], `--state FILE`) or is
//! the built-in demo ([`MendixSandbox::demo`], constants in [`demo`]). `demo.yaml`
//! is the demo state and a complete, commented example of the format: `timings` (simulated
//! milliseconds), `timeScale`, `cloud.users` (username, apiKey, optional `access` per app:
//! environments with API access, transport right), `cloud.apps` (branches → revision →
//! `succeeds`|`fails`, packages, environments with constants, custom settings, scheduled events,
//! tags, `nextStartFailure`, `requireAutoSyncDb`, `planMemory`, `supportedMendixMajorVersions`),
//! `privateCloud.pats` (token, scopes), `privateCloud.clusters` (operatorType, description,
//! clusterManagers, namespaces with namespaceType, installationType, secret, productTypePCLM,
//! plans, membership, operationalLinks and `installed`, true by default) and
//! `privateCloud.apps` (branches, packages, environments in a short form or a full `manifest`).
//! Unknown fields are rejected with the path of the field.
//!
//! # Behaviour
//! - Auth, v1: missing or wrong `Mendix-Username`/`Mendix-ApiKey` → 401 `UNAUTHORIZED` (the docs
//!   name no code); an app the user has no access to is invisible (`APP_NOT_FOUND`, or
//!   `INVALID_APPID` where the docs list only that); a write to an environment without API access
//!   → 403 `NO_ACCESS`, a transport without the Transport right → 403 `TRANSPORT_NOT_ALLOWED`.
//!   v4: missing or malformed `Authorization` → 401; unknown token → 403 ("The token is not
//!   accepted"); a token without the documented scopes → 403 naming them.
//! - v1 error codes are the docs' tables verbatim, spaces included (`SERVICE UNAVAILABLE`,
//!   `NOT ALLOWED`, `NOT FOUND`). Codes that depend on Mendix internals (`STOP_FAILED`,
//!   `ENVIRONMENT_CLEAN_FAILED`, `UPLOAD_COPY_FAILED`) are reachable with an error fault that
//!   carries the code ([`Fault::error_code`]).
//! - v1 tags: `GET .../tags` answers a list of `{"Tag": ...}` objects (the docs show one object
//!   and, for delete, `[]`).
//! - v1 builds: `Queued` → `Building` → `Succeeded` | `Failed` (revision outcome from the seed;
//!   unknown branch or revision: 500 `BUILD_FAILED` at once). Version must be `x.y.z`; the package
//!   `Version` is `x.y.z.N`.
//! - A package that has just become `Succeeded` (built or uploaded) answers transport with
//!   503 `SERVICE UNAVAILABLE` for `mdaProcessingMs`; an upload that is not a zip answers
//!   403 `NOT ALLOWED` on transport; an empty upload 500 `INVALID_PACKAGE`.
//! - Transport needs a stopped environment (403 `APP_IS_RUNNING`, also while starting).
//! - v1 start: a `JobId`; `GET .../start/{JobId}` says `Starting` for `startMs`, then `Started`
//!   or 500 with the failure: `MISSING_CONSTANT` (a constant whose `Value` is null),
//!   `INVALID_DB_STRUCTURE` (after a transport to an environment with `requireAutoSyncDb`, when
//!   started without `AutoSyncDb: true`), or the seeded / requested `nextStartFailure`
//!   (`POST /_sim/start-failure`, [`MendixSandbox::fail_next_start`]), e.g. `DB_SYNC_FAILED`.
//! - Settings: `POST .../settings` changes `Value`; `DeployedValue` follows at the next
//!   successful start.
//! - Private Cloud writes: 202 + job + `Location`; `created` for `jobCreatedMs`, `running` for
//!   `jobRunningMs` (`pcBuildMs` for builds), then `finished` | `failed`. A manifest change is
//!   applied when its job finishes; `container.state` is then `Unknown` for the first half of
//!   `containerProcessingMs`, `Processing` for the second, then `Ready` (or `Failed`, once, after
//!   [`MendixSandbox::fail_next_rollout`], `POST /_sim/rollout-failure` or the seed's
//!   `failNextRollout`).
//! - Private Cloud clusters and namespaces: GET answers the whole manifest (the namespace
//!   `secret` included, as the schema requires). A namespace created through the API gets a
//!   database and a storage plan (`<name>-db`, `<name>-str`, inactive) and is not installed:
//!   it reports no operator version, and an environment created in it fails its job, until
//!   [`MendixSandbox::install_namespace`] (what `mxpc-cli installer` does). Updates of a
//!   global operator's `main` namespace are refused with the docs' sentence; deleting a
//!   namespace with environments, or a cluster with namespaces, fails the job.
//! - Download URLs (`Url.Location`, `url.location`, log `DownloadUrl`) point back into the
//!   sandbox and expire after their TTL (900 real seconds).
//!
//! # Where the docs are silent: the least convenient reading
//! The operator must work against these; the sandbox is never made kinder to pass a test.
//!
//! | point | what the docs say | what the sandbox does | why |
//! |---|---|---|---|
//! | v1 upload response | no response body documented | `200` with an empty body | a client must find the package by its name, also after a crash |
//! | v1 GET environment sizes | `Instances`/`MemoryPerInstance` appear only in the scale answer | GET environment reports neither | the operator cannot keep "the current memory"; the spec names both |
//! | v1 scale rounding | "memory per instance cannot be smaller than 1024 MB" | below 1024 refused, nothing rounded | a value is applied exactly or refused |
//! | v1 start jobs | `404 NO_SUCH_STARTJOB` exists; retention not stated | only an environment's latest start job is remembered | a job id may be forgotten while it is followed |
//! | v1 custom settings | the settings example shows no deployed value for them | `CustomSettings` carry `Name` and `Value` only | a change on a running app is not visibly pending |
//! | v4 constants and scheduled events in a PUT | the manifest lists those of the deployed model; names it does not define are not mentioned | with the package unchanged, such names are accepted and dropped | a client must refuse names the model lacks itself, or it PUTs them for ever |
//! | v4 package delete while an environment runs it | `202` and a job; no error is documented | the job fails with a message naming the environment | no code says "in use": a failed delete must be waited on, not taken as final |
//! | v4 `container.state` after a manifest change | `Ready`, `Processing`, `Failed`, `Unknown`; timing not stated | `Unknown`, then `Processing`, then `Ready` | `Unknown` must not be taken for Ready |
//! | v1 error bodies | `errorCode` and `errorMessage` tables | exactly those strings, spaces included | codes are matched as Mendix writes them |
//! | v4 cluster/namespace create bodies | the create schemas list a few fields | managers, plans, members and settings in a create body are ignored | they are set with an update, which a client must verify |
//! | v4 cluster/namespace update bodies | editable fields listed, semantics of a missing one not stated | the manifest replaces them: missing description, managers, members, links are cleared; missing flags and `activate` take the schema default `false` | a client sends the whole manifest it read, never a patch |
//! | v4 non-editable fields in an update | `operatorType`, `namespaceType`, `installationType`, plan names and configs "cannot be changed" | a different value is a 400 naming the field; member `status`/`displayName`/`permissions` are ignored | a silent no-op would hide the mistake only until the next GET |
//! | v4 new members | `autoAcceptInvite` "ONLY for new invites" | an existing e-mail keeps its status; a new one is `Invitation_Sent` unless `autoAcceptInvite` | an invitation is not access |
//! | v4 namespace `secret` and `name` | "base64 encoded string"; a Kubernetes namespace | both checked (400 naming the field) | what the installer needs |
//! | v4 environment in a namespace not yet installed | "ready to use" only after `mxpc-cli installer` | the create job fails, also if the installer runs while it waits | the operator must check the namespace first |
//!
//! # Operation names (stats and faults)
//! v4: the OpenAPI operationIds (`get_job`, `list_deployment_packages`,
//! `upload_deployment_package`, `build_deployment_package`, `get_deployment_package`,
//! `delete_deployment_package`, `list_cluster_manifests`, `get_cluster_manifest`,
//! `list_namespace_manifests`, `get_namespace_manifest`, `list_app_manifests`,
//! `get_app_manifest`, `list_environments_manifests`, `create_environment`,
//! `get_environment_manifest_for_namespace`, `update_environment_for_namespace`,
//! `delete_environment_for_namespace` — the last three also for the deprecated paths —,
//! `create_cluster`, `update_cluster`, `delete_cluster`, `create_namespace`,
//! `update_namespace_manifest`, `delete_namespace`, `list_cli_versions`, `get_cli`).
//! v1: `v1_list_packages`, `v1_get_package`, `v1_delete_package`, `v1_download_package`,
//! `v1_build_package`, `v1_upload_package`, `v1_list_apps`, `v1_create_free_app`, `v1_get_app`,
//! `v1_list_environments`, `v1_get_environment`, `v1_start_environment`,
//! `v1_get_start_status`, `v1_stop_environment`, `v1_get_environment_package`, `v1_transport`,
//! `v1_clean_environment`, `v1_get_settings`, `v1_set_settings`, `v1_scale`, `v1_get_tags`,
//! `v1_create_tag`, `v1_delete_tag`, `v1_app_logs`, `v1_access_logs`.
//!
//! # Time
//! Durations are simulated milliseconds times the time scale ([`MendixSandbox::set_time_scale`],
//! `POST /_sim/time-scale`; a new scale applies to transitions scheduled afterwards). Tests that
//! must not depend on the machine's speed use a large scale (nothing moves by itself) and move
//! the clock with [`MendixSandbox::advance_time`]. Injected latency is real time.
//!
//! # Rust API for tests
//! [`MendixSandbox::stats`], [`MendixSandbox::reset_stats`], [`MendixSandbox::state_json`],
//! [`MendixSandbox::add_fault`], [`MendixSandbox::faults`], [`MendixSandbox::clear_faults`],
//! [`MendixSandbox::fail_next_start`], [`MendixSandbox::fail_next_rollout`],
//! [`MendixSandbox::advance_time`], [`MendixSandbox::install_namespace`] and
//! [`MendixSandbox::with_world`] (change the [`World`] directly, e.g. unset a constant).
//!
//! # Simulator routes
//! `GET /_sim/stats` ([`Stats`]), `DELETE /_sim/stats` (reset), `GET /_sim/state` (the world as
//! JSON, without API keys or tokens), `GET|POST|DELETE /_sim/faults` ([`Fault`], one or a list),
//! `POST /_sim/time-scale` (`{"scale": 0.01}`), `POST /_sim/start-failure`
//! (`{"appId", "mode", "errorCode"}`), `POST /_sim/rollout-failure` (`{"appId", "environmentId"}`).

mod api_errors;
mod cloud_v1;
pub mod demo;
mod downloads;
mod faults;
pub mod hold;
mod private_cloud_v4;
mod server;
mod sim;
mod stats;
pub mod world;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::Rng;

pub use faults::{Fault, FaultKind};
pub use hold::{Held, HoldSpec};
pub use server::SandboxServer;
pub use stats::Stats;
pub use world::World;

/// The largest request body (an uploaded .mda) the sandbox accepts.
pub const MAX_UPLOAD_BYTES: usize = 1 << 30;

/// A seed file that cannot be used: the message names the field and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("the seed file does not fit the sandbox state format (see demo.yaml): {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("seed field `{field}`: {problem}")]
    Invalid { field: String, problem: String },
    #[error("cannot read the seed file {path}: {source}; give a readable YAML file")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// The shared state of one sandbox; cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct MendixSandbox {
    shared: Arc<Shared>,
}

struct Shared {
    world: Mutex<World>,
    stats: Mutex<Stats>,
    faults: Mutex<Vec<Fault>>,
    holds: Mutex<Vec<hold::Armed>>,
}

/// Lock a mutex even if a panicking test thread poisoned it: the data is still consistent
/// enough for a simulator.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl MendixSandbox {
    /// The built-in demo state (see [`demo`] and `demo.yaml`).
    pub fn demo() -> Self {
        match World::from_yaml(include_str!("demo.yaml")) {
            Ok(world) => Self::from_world(world),
            // demo.yaml is checked by the tests; an empty world keeps this infallible.
            Err(_) => Self::from_world(World::default()),
        }
    }

    /// State from a seed file (format in the module docs and `demo.yaml`).
    pub fn from_yaml(text: &str) -> Result<Self, SeedError> {
        World::from_yaml(text).map(Self::from_world)
    }

    /// State from a seed file on disk.
    pub fn from_file(path: &std::path::Path) -> Result<Self, SeedError> {
        let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_yaml(&text)
    }

    fn from_world(world: World) -> Self {
        MendixSandbox {
            shared: Arc::new(Shared {
                world: Mutex::new(world),
                stats: Mutex::new(Stats::default()),
                faults: Mutex::new(Vec::new()),
                holds: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The world, with time advanced to now.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        let mut world = lock(&self.shared.world);
        let now = world.now();
        world.advance(now);
        world
    }

    /// All four APIs, the download URLs and `/_sim/` on one router.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .nest("/api/1", cloud_v1::routes())
            .nest("/api/v4", private_cloud_v4::routes())
            .route_layer(axum::middleware::from_fn_with_state(
                self.clone(),
                sim::observe,
            ))
            .merge(sim::routes())
            .merge(downloads::routes())
            // Deployment packages are large; axum's default body limit is 2 MB.
            .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
            .with_state(self.clone())
    }

    /// Serve [`Self::router`] on `addr` (port 0 picks a free port) until the server is dropped.
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<SandboxServer> {
        SandboxServer::start(self.router(), addr).await
    }

    /// Multiply every simulated duration by `scale` (0.01 = everything 100x faster). Applies to
    /// transitions scheduled from now on. Injected latency is not scaled.
    pub fn set_time_scale(&self, scale: f64) {
        if scale.is_finite() && scale >= 0.0 {
            self.world().time_scale = scale;
        }
    }

    /// Move the sandbox clock forward by `by` (real, already-scaled time), so tests can cross a
    /// state machine's phases without waiting.
    pub fn advance_time(&self, by: Duration) {
        let mut world = lock(&self.shared.world);
        world.clock_offset += by;
        let now = world.now();
        world.advance(now);
    }

    /// Request counters so far.
    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }

    /// Forget all request counters.
    pub fn reset_stats(&self) {
        *lock(&self.shared.stats) = Stats::default();
    }

    /// The current remote state as JSON (the same document as `GET /_sim/state`). API keys and
    /// tokens are left out.
    pub fn state_json(&self) -> serde_json::Value {
        serde_json::to_value(&*self.world()).unwrap_or_else(
            |err| serde_json::json!({ "error": format!("cannot render the state: {err}") }),
        )
    }

    /// Inject a fault.
    pub fn add_fault(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }

    /// The faults still armed.
    pub fn faults(&self) -> Vec<Fault> {
        lock(&self.shared.faults).clone()
    }

    /// Remove every injected fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Make the next start job of a Mendix Cloud environment fail with `error_code` (e.g.
    /// `DB_SYNC_FAILED`). False when there is no such app or environment.
    pub fn fail_next_start(&self, app_id: &str, mode: &str, error_code: &str) -> bool {
        let mut world = self.world();
        let env = world
            .cloud
            .apps
            .iter_mut()
            .filter(|a| a.app_id == app_id)
            .flat_map(|a| a.environments.iter_mut())
            .find(|e| e.mode.eq_ignore_ascii_case(mode));
        match env {
            Some(env) => {
                env.next_start_failure = Some(error_code.to_string());
                true
            }
            None => false,
        }
    }

    /// Make the next manifest change of a Private Cloud environment end in
    /// `container.state: Failed`. False when there is no such app or environment.
    pub fn fail_next_rollout(&self, app_id: &str, environment_id: &str) -> bool {
        let mut world = self.world();
        let env = world
            .private_cloud
            .apps
            .iter_mut()
            .filter(|a| a.app_id == app_id)
            .flat_map(|a| a.environments.iter_mut())
            .find(|e| e.id == environment_id);
        match env {
            Some(env) => {
                env.fail_next_rollout = true;
                true
            }
            None => false,
        }
    }

    /// What `mxpc-cli installer -i {namespaceId}` does: the Mendix Operator is installed in the
    /// namespace, so its manifest reports `additionalInformation.componentVersion.operatorVersion`
    /// and environments can be created in it. A namespace created through the API is not
    /// installed until then; seeded namespaces are (unless seeded with `installed: false`).
    /// False when no cluster has that namespace.
    pub fn install_namespace(&self, namespace_id: &str) -> bool {
        self.world().install_namespace(namespace_id)
    }

    /// Change the world directly (tests: e.g. set a constant's value to null).
    pub fn with_world<R>(&self, change: impl FnOnce(&mut World) -> R) -> R {
        change(&mut self.world())
    }

    fn count(&self, operation: &str, app: Option<&str>, environment: Option<&str>) {
        // v1 modes are matched without regard to case: count them under the seeded spelling.
        let environment = environment.map(|given| {
            let world = lock(&self.shared.world);
            world
                .cloud
                .apps
                .iter()
                .filter(|a| Some(a.app_id.as_str()) == app)
                .flat_map(|a| a.environments.iter())
                .find(|e| e.mode.eq_ignore_ascii_case(given))
                .map_or_else(|| given.to_string(), |e| e.mode.clone())
        });
        let environment = environment.as_deref();
        let mut stats = lock(&self.shared.stats);
        stats.total += 1;
        *stats.operations.entry(operation.to_string()).or_default() += 1;
        if let Some(app) = app {
            *stats
                .apps
                .entry(app.to_string())
                .or_default()
                .entry(operation.to_string())
                .or_default() += 1;
            if let Some(environment) = environment {
                *stats
                    .environments
                    .entry(format!("{app}/{environment}"))
                    .or_default()
                    .entry(operation.to_string())
                    .or_default() += 1;
            }
        }
    }

    /// Holds the next request that `spec` matches in flight until the returned [`Held`] is
    /// released (see [`hold`]).
    pub fn hold(&self, spec: HoldSpec) -> Held {
        let (armed, held) = Held::arm(spec);
        lock(&self.shared.holds).push(armed);
        held
    }

    /// The armed hold for this request, if one matches (it is used up).
    fn take_hold(
        &self,
        operation: &str,
        app: Option<&str>,
        environment: Option<&str>,
    ) -> Option<hold::Armed> {
        let mut holds = lock(&self.shared.holds);
        let index = holds
            .iter()
            .position(|h| h.spec.matches(operation, app, environment))?;
        if holds[index].spec.skip > 0 {
            holds[index].spec.skip -= 1;
            return None;
        }
        Some(holds.remove(index))
    }

    /// Decide which faults fire for one request: the summed latency, and the first fault that
    /// ends the request, if any. Spent faults are removed.
    fn fire_faults(&self, operation: &str) -> (Duration, Option<FaultKind>) {
        let mut faults = lock(&self.shared.faults);
        let mut rng = rand::rng();
        let mut latency = Duration::ZERO;
        let mut action = None;
        let mut fired = Vec::new();
        for fault in faults.iter_mut() {
            if fault.operation != "*" && fault.operation != operation {
                continue;
            }
            if fault.times == Some(0) {
                continue;
            }
            let ends = sim::ends_request(&fault.kind);
            if ends && action.is_some() {
                continue;
            }
            if fault.rate < 1.0 && rng.random::<f64>() >= fault.rate {
                continue;
            }
            if let Some(times) = fault.times.as_mut() {
                *times -= 1;
            }
            latency += sim::fault_latency(&fault.kind);
            if ends {
                action = Some(fault.kind.clone());
            }
            fired.push(operation.to_string());
        }
        faults.retain(|f| f.times != Some(0));
        drop(faults);
        if !fired.is_empty() {
            let mut stats = lock(&self.shared.stats);
            for operation in fired {
                *stats.faults_fired.entry(operation).or_default() += 1;
            }
        }
        (latency, action)
    }
}

/// `mendix-operator mendix-sandbox`: serve until Ctrl-C. Errors are ready to print.
pub async fn run_standalone(
    listen: SocketAddr,
    state: Option<&std::path::Path>,
) -> Result<(), String> {
    let sandbox = match state {
        None => MendixSandbox::demo(),
        Some(path) => MendixSandbox::from_file(path).map_err(|err| match err {
            SeedError::Read { .. } => err.to_string(),
            _ => format!("{}: {err}", path.display()),
        })?,
    };
    let stop = StopSignal::install()?;
    let server = sandbox.serve(listen).await.map_err(|err| {
        format!("cannot listen on {listen}: {err}; choose a free address with --listen")
    })?;
    // Written without println!, which would panic if whoever started us closed stdout.
    let banner = format!(
        "Mendix sandbox listening on http://{addr}\n  Mendix Cloud Build/Deploy API v1:  {v1}\n  Private Cloud Build/Deploy API v4: {v4}\n  Simulator: {base}/_sim/stats, {base}/_sim/state, {base}/_sim/faults\n",
        addr = server.addr(),
        v1 = server.cloud_v1_url(),
        v4 = server.private_cloud_v4_url(),
        base = server.base_url(),
    );
    {
        use std::io::Write;
        let mut stdout = std::io::stdout();
        let _ = stdout.write_all(banner.as_bytes());
        let _ = stdout.flush();
    }
    stop.wait().await?;
    server.shutdown().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM (what a container runtime sends). Installed before the address is
/// printed, so a supervisor that signals right after reading it is heard.
struct StopSignal {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignal {
    fn install() -> Result<Self, String> {
        Ok(StopSignal {
            #[cfg(unix)]
            terminate: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|err| format!("cannot listen for SIGTERM: {err}"))?,
        })
    }

    async fn wait(mut self) -> Result<(), String> {
        #[cfg(unix)]
        {
            tokio::select! {
                result = tokio::signal::ctrl_c() => result.map_err(|err| format!("cannot wait for Ctrl-C: {err}")),
                _ = self.terminate.recv() => Ok(()),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c()
                .await
                .map_err(|err| format!("cannot wait for Ctrl-C: {err}"))
        }
    }
}
