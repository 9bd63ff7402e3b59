//! Crash consistency, with kills that land where they must. The operator runs as the real
//! binary. For every flow (build, upload and package delete on both platforms; a Mendix Cloud
//! deploy that stops, transports, applies settings, scales and starts; a Mendix Cloud restart;
//! a Private Cloud deploy and restart; a Private Cloud environment created from the spec and
//! deleted with the resource) and every write that flow makes, the Mendix sandbox holds
//! that write in flight and the test SIGKILLs the operator:
//! - while the write is in the sandbox (it is then served: Mendix acted, the answer is lost), and
//! - right after the answer is sent, before the status write that records it (the API server
//!   holds that write and drops it after the kill).
//!
//! The operator is started again each time and the flow must converge with no effect repeated
//! (a second package, transport, start, stop or rollout) and no resource left stranded.
//! Idempotent requests sent again after a lost answer (settings, scale, a package delete) are
//! not duplicates: the operator cannot know they arrived, and repeating them changes nothing.
//! They are counted and printed.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube_sandbox::faults::Fault;
use mendix_operator::crd::{MendixEnvironment, MendixPackage};
use mendix_sandbox::{HoldSpec, demo};
use mendix_testkit::*;
use serde_json::json;
use sha2::{Digest, Sha256};

/// The operator binary, started and killed like a pod would be.
struct OperatorProcess {
    child: Option<tokio::process::Child>,
    kubeconfig: PathBuf,
    namespace: String,
    log: PathBuf,
    cloud_url: String,
    pc_url: String,
    starts: u32,
}

impl OperatorProcess {
    fn start(&mut self) {
        assert!(self.child.is_none(), "operator already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("operator log opens");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mendix-operator"))
            .args([
                "run",
                "--leader-election",
                "false",
                "--metrics-addr",
                "127.0.0.1:0",
                "--mendix-cloud-url",
                &self.cloud_url,
                "--private-cloud-url",
                &self.pc_url,
                "--poll-initial",
                "50ms",
                "--poll-max",
                "400ms",
                "--resync-period",
                "3s",
                "--mendix-requests-per-second",
                "500",
                "--mendix-max-in-flight",
                "16",
                "--namespaces",
                &self.namespace,
                // The package files are served on loopback.
                "--allow-private-download-urls",
                "true",
            ])
            .env("KUBECONFIG", &self.kubeconfig)
            .env("RUST_LOG", "info")
            .env_remove("WATCH_NAMESPACES")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("operator binary starts");
        self.child = Some(child);
        self.starts += 1;
    }

    /// SIGKILL: no shutdown hook runs, whatever was in flight is cut.
    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().expect("SIGKILL sent");
            let _ = child.wait().await;
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// Where the kill lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kill {
    /// While the write is in the sandbox, not yet served.
    InFlight,
    /// After the answer is sent, before the status write that records it.
    AfterAnswer,
}

const KILLS: [Kill; 2] = [Kill::InFlight, Kill::AfterAnswer];

/// How long a hold or a held status write may take to come.
const ARRIVAL: Duration = Duration::from_secs(30);

/// The figures of the whole run.
#[derive(Default)]
struct Tally {
    flows: usize,
    in_flight: BTreeSet<&'static str>,
    after_answer: BTreeSet<&'static str>,
    kills_in_flight: usize,
    kills_after_answer: usize,
    duplicates: Vec<String>,
    repeated_idempotent: u64,
    stranded: Vec<String>,
}

struct Suite {
    h: Harness,
    op: OperatorProcess,
    tally: Tally,
}

impl Suite {
    /// Holds `write` (a sandbox operation name) as `spec` says, runs `trigger`, kills the
    /// operator where `kill` says and starts it again.
    async fn kill_at(
        &mut self,
        write: &'static str,
        spec: HoldSpec,
        kill: Kill,
        status_path: &str,
        trigger: impl std::future::Future<Output = ()>,
    ) {
        let mut held = self.h.mendix.hold(spec);
        trigger.await;
        let arrived = tokio::time::timeout(ARRIVAL, held.arrived()).await;
        assert!(
            matches!(arrived, Ok(true)),
            "{write} never reached Mendix\noperator log tail:\n{}",
            self.op.log_tail()
        );
        match kill {
            Kill::InFlight => {
                self.op.kill().await;
                held.release();
                assert!(held.answered().await, "{write} served after the kill");
                self.tally.kills_in_flight += 1;
                self.tally.in_flight.insert(write);
            }
            Kill::AfterAnswer => {
                let faults = self.h.faults();
                faults.add(Fault::hold(status_path).method("PATCH"));
                held.release();
                assert!(held.answered().await, "{write} answered");
                let status_write = tokio::time::timeout(ARRIVAL, faults.wait_held(1)).await;
                assert!(
                    status_write.is_ok(),
                    "no status write after {write}\noperator log tail:\n{}",
                    self.op.log_tail()
                );
                self.op.kill().await;
                faults.release_held(false);
                self.tally.kills_after_answer += 1;
                self.tally.after_answer.insert(write);
            }
        }
        self.op.start();
        self.tally.flows += 1;
    }

    /// Waits for `name` to satisfy `done`; a resource that does not is counted as stranded.
    async fn converged_environment(
        &mut self,
        name: &str,
        what: &str,
        done: impl Fn(&MendixEnvironment) -> bool,
    ) -> bool {
        let api = self.h.environments();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let env = api.get(name).await.expect("environment readable");
            if done(&env) {
                return true;
            }
            if tokio::time::Instant::now() > deadline {
                self.tally.stranded.push(format!(
                    "{what}: {name}: {:?}\noperator log tail:\n{}",
                    env.status,
                    self.op.log_tail()
                ));
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn converged_package(
        &mut self,
        name: &str,
        what: &str,
        done: impl Fn(Option<&MendixPackage>) -> bool,
    ) -> bool {
        let api = self.h.packages();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let pkg = api.get_opt(name).await.expect("package readable");
            if done(pkg.as_ref()) {
                return true;
            }
            if tokio::time::Instant::now() > deadline {
                self.tally.stranded.push(format!(
                    "{what}: {name}: {:?}\noperator log tail:\n{}",
                    pkg.and_then(|p| p.status),
                    self.op.log_tail()
                ));
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Records every effect that happened more often than `want`.
    fn effects(&mut self, what: &str, seen: &[(&str, u64, u64)]) {
        for (effect, got, want) in seen {
            if got != want {
                self.tally
                    .duplicates
                    .push(format!("{what}: {effect} {got} times, want {want}"));
            }
        }
    }

    fn cloud(&self, mode: &str, counter: &str) -> u64 {
        self.h.cloud_env_state(mode)[counter].as_u64().unwrap_or(0)
    }

    fn requests(&self, app: &str, environment: &str, operation: &str) -> u64 {
        self.h
            .mendix
            .stats()
            .environment_count(app, environment, operation)
    }

    /// Packages of `app` on `platform` whose `field` starts with `value`.
    fn packages_like(&self, platform: &str, app: &str, field: &str, value: &str) -> u64 {
        let state = self.h.mendix.state_json();
        state[platform]["apps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["appId"] == app)
            .flat_map(|a| a["packages"].as_array().cloned().unwrap_or_default())
            .filter(|p| p[field].as_str().is_some_and(|v| v.starts_with(value)))
            .count() as u64
    }
}

fn upload_package(
    name: &str,
    platform: &str,
    secret: &str,
    app: &str,
    url: &str,
    sha: &str,
) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixPackage
metadata: {{name: {name}}}
spec:
  target: {{{platform}: {{appId: {app}}}}}
  credentialsSecretRef: {{name: {secret}}}
  source: {{upload: {{url: '{url}', fileName: {name}.mda, sha256: {sha}}}}}
"
    )
}

fn cloud_env(name: &str, mode: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: {name}}}
spec:
  target: {{mendixCloud: {{appId: {app}, mode: {mode}}}}}
  credentialsSecretRef: {{name: {CLOUD_SECRET}}}
  packageId: {package}
  instances: 1
  memoryPerInstance: 1024
  constants: [{{name: MyFirstModule.ApiUrl, value: 'https://v1.example.com'}}]
",
        app = demo::CLOUD_APP_ID,
        package = demo::CLOUD_EXISTING_PACKAGE_ID
    )
}

fn pc_env(name: &str, environment: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: {name}}}
spec:
  target: {{privateCloud: {{appId: {app}, namespaceId: {ns}, environmentId: {environment}}}}}
  credentialsSecretRef: {{name: {PC_SECRET}}}
  packageId: {package}
  instances: 1
",
        app = demo::PC_APP_ID,
        ns = demo::PC_NAMESPACE_ID,
        package = demo::PC_EXISTING_PACKAGE_ID
    )
}

/// A Private Cloud environment that does not exist yet: created from the spec in the demo
/// namespace, deleted in Mendix with the resource.
fn pc_env_to_create(name: &str) -> String {
    format!(
        "{}  deletionPolicy: Delete
  privateCloud:
    create: {{name: {name}, appUrl: 'https://{name}.example.com', clusterId: {cluster}, namespace: mendix-apps}}
    coreResources: {{requests: {{cpu: '0.25', memory: '0.5'}}, limits: {{cpu: '1', memory: '1'}}}}
",
        pc_env(name, name),
        cluster = demo::PC_CLUSTER_ID
    )
}

/// Creates an environment from YAML without borrowing the harness.
async fn create_environment(api: kube::Api<MendixEnvironment>, yaml: String) {
    let env: MendixEnvironment = serde_yaml::from_str(&yaml).expect("environment YAML");
    api.create(&Default::default(), &env)
        .await
        .expect("environment created");
}

/// How many Private Cloud environments of the demo app have the id `id`.
fn pc_environments_with_id(h: &Harness, id: &str) -> u64 {
    h.mendix.state_json()["privateCloud"]["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["environments"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["id"] == id)
        .count() as u64
}

/// Creates a resource from YAML without borrowing the harness (a trigger outlives the borrow).
async fn create_package(api: kube::Api<MendixPackage>, yaml: String) {
    let package: MendixPackage = serde_yaml::from_str(&yaml).expect("package YAML");
    api.create(&Default::default(), &package)
        .await
        .expect("package created");
}

fn with_delete_policy(yaml: String) -> String {
    format!("{yaml}  deletionPolicy: Delete\n")
}

fn kill_label(kill: Kill) -> &'static str {
    match kill {
        Kill::InFlight => "inflight",
        Kill::AfterAnswer => "answered",
    }
}

/// Scenarios and the resources each one gets of its own.
const CLOUD_DEPLOY_WRITES: [&str; 5] = [
    "v1_stop_environment",
    "v1_transport",
    "v1_set_settings",
    "v1_scale",
    "v1_start_environment",
];
const CLOUD_RESTART_WRITES: [&str; 2] = ["v1_stop_environment", "v1_start_environment"];
/// A Private Cloud restart is two manifest PUTs (to 0 instances and back).
const PC_RESTART_PUTS: [usize; 2] = [0, 1];

fn cloud_deploy_env(write: usize, kill: Kill) -> (String, String) {
    (
        format!("deploy-{write}-{}", kill_label(kill)),
        format!("Deploy{write}{}", kill_label(kill)),
    )
}

fn cloud_restart_env(write: usize, kill: Kill) -> (String, String) {
    (
        format!("restart-{write}-{}", kill_label(kill)),
        format!("Restart{write}{}", kill_label(kill)),
    )
}

fn pc_deploy_env(kill: Kill) -> (String, String) {
    let name = format!("pc-deploy-{}", kill_label(kill));
    (name.clone(), name)
}

fn pc_restart_env(put: usize, kill: Kill) -> (String, String) {
    let name = format!("pc-restart-{put}-{}", kill_label(kill));
    (name.clone(), name)
}

fn restarted(token: &str) -> impl Fn(&MendixEnvironment) -> bool + '_ {
    move |e| {
        environment_ready(e)
            && e.status
                .as_ref()
                .and_then(|s| s.last_restarted_at.as_deref())
                == Some(token)
    }
}

fn ready_at(generation: i64) -> impl Fn(&MendixEnvironment) -> bool {
    move |e| {
        environment_ready(e)
            && e.status.as_ref().and_then(|s| s.observed_generation) == Some(generation)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_at_every_write_repeat_no_effect_and_strand_nothing() {
    let h = Harness::new().await;
    let mut cloud_modes = Vec::new();
    let mut pc_ids = Vec::new();
    for kill in KILLS {
        cloud_modes.extend((0..CLOUD_DEPLOY_WRITES.len()).map(|w| cloud_deploy_env(w, kill).1));
        cloud_modes.extend((0..CLOUD_RESTART_WRITES.len()).map(|w| cloud_restart_env(w, kill).1));
        pc_ids.push(pc_deploy_env(kill).1);
        pc_ids.extend(PC_RESTART_PUTS.map(|p| pc_restart_env(p, kill).1));
    }
    h.add_environments(&cloud_modes, &pc_ids);
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    h.write_operator_kubeconfig(&kubeconfig);
    let op = OperatorProcess {
        child: None,
        kubeconfig,
        namespace: h.ns.clone(),
        log: dir.path().join("operator.log"),
        cloud_url: h.mendix_server.cloud_v1_url(),
        pc_url: h.mendix_server.private_cloud_v4_url(),
        starts: 0,
    };
    let mut suite = Suite {
        h,
        op,
        tally: Tally::default(),
    };
    suite.op.start();
    let mda = an_mda(50_000);
    let sha = hex::encode(Sha256::digest(&mda));
    let url = serve_file(mda).await;

    // Set up without kills: the packages the deploys move to, the packages the deletes remove,
    // and every environment Ready on the demo package.
    let base_cloud = cloud_build("base-cloud", demo::GOOD_REVISION, "8.0.0");
    let base_pc = pc_build("base-pc", demo::GOOD_REVISION, "8.0.0");
    suite.h.create::<MendixPackage>(&base_cloud).await;
    suite.h.create::<MendixPackage>(&base_pc).await;
    let mut doomed = Vec::new();
    for kill in KILLS {
        for (platform, yaml) in [
            ("cloud", cloud_build as fn(&str, &str, &str) -> String),
            ("pc", pc_build),
        ] {
            let name = format!("delete-{platform}-{}", kill_label(kill));
            let version = format!("8.1.{}", doomed.len());
            suite
                .h
                .create::<MendixPackage>(&with_delete_policy(yaml(
                    &name,
                    demo::GOOD_REVISION,
                    &version,
                )))
                .await;
            doomed.push((platform, name, kill));
        }
    }
    for kill in KILLS {
        for w in 0..CLOUD_DEPLOY_WRITES.len() {
            let (name, mode) = cloud_deploy_env(w, kill);
            suite
                .h
                .create::<MendixEnvironment>(&cloud_env(&name, &mode))
                .await;
        }
        for w in 0..CLOUD_RESTART_WRITES.len() {
            let (name, mode) = cloud_restart_env(w, kill);
            suite
                .h
                .create::<MendixEnvironment>(&cloud_env(&name, &mode))
                .await;
        }
        let (name, id) = pc_deploy_env(kill);
        suite
            .h
            .create::<MendixEnvironment>(&pc_env(&name, &id))
            .await;
        for put in PC_RESTART_PUTS {
            let (name, id) = pc_restart_env(put, kill);
            suite
                .h
                .create::<MendixEnvironment>(&pc_env(&name, &id))
                .await;
        }
    }
    let cloud_package = suite.h.wait_package("base-cloud", package_ready).await;
    let pc_package = suite.h.wait_package("base-pc", package_ready).await;
    let package_id = |p: &MendixPackage| {
        p.status
            .as_ref()
            .and_then(|s| s.package_id.clone())
            .expect("package id")
    };
    let (cloud_package, pc_package) = (package_id(&cloud_package), package_id(&pc_package));
    for (_, name, _) in &doomed {
        suite.h.wait_package(name, package_ready).await;
    }
    for env in suite
        .h
        .environments()
        .list(&Default::default())
        .await
        .expect("list")
        .items
    {
        suite
            .h
            .wait_environment(&env.metadata.name.unwrap_or_default(), environment_ready)
            .await;
    }

    let environments = suite.h.environments();
    let patch_spec = |name: String, spec: serde_json::Value| {
        let api = environments.clone();
        async move {
            api.patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": spec})),
            )
            .await
            .expect("spec patched");
        }
    };
    let restart = |name: String, token: String| {
        let api = environments.clone();
        async move {
            api.patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(
                    &json!({"metadata": {"annotations": {"mendixops.io/restartedAt": token}}}),
                ),
            )
            .await
            .expect("restart requested");
        }
    };
    let status_of = |kind: &str, name: &str| format!("/{kind}/{name}/status");

    for kill in KILLS {
        // A Mendix Cloud deploy to a running app: new package, a changed constant and a new
        // size, so it stops, transports, applies settings, scales and starts.
        for (w, write) in CLOUD_DEPLOY_WRITES.iter().enumerate() {
            let (name, mode) = cloud_deploy_env(w, kill);
            let before = ["stops", "transports", "starts"].map(|c| suite.cloud(&mode, c));
            let idempotent_before = ["v1_set_settings", "v1_scale"]
                .map(|o| suite.requests(demo::CLOUD_APP_ID, &mode, o));
            let spec = json!({
                "packageId": cloud_package,
                "instances": 2,
                "constants": [{"name": "MyFirstModule.ApiUrl", "value": "https://v2.example.com"}],
            });
            suite
                .kill_at(
                    write,
                    HoldSpec::new(write)
                        .app(demo::CLOUD_APP_ID)
                        .environment(&mode),
                    kill,
                    &status_of("mendixenvironments", &name),
                    patch_spec(name.clone(), spec),
                )
                .await;
            let what = format!("cloud deploy, kill {kill:?} at {write}");
            if suite.converged_environment(&name, &what, ready_at(2)).await {
                let after = ["stops", "transports", "starts"].map(|c| suite.cloud(&mode, c));
                suite.effects(
                    &what,
                    &[
                        ("stop", after[0] - before[0], 1),
                        ("transport", after[1] - before[1], 1),
                        ("start", after[2] - before[2], 1),
                    ],
                );
                let remote = suite.h.cloud_env_state(&mode);
                if remote["status"] != "Running" || remote["instances"] != 2 {
                    suite
                        .tally
                        .stranded
                        .push(format!("{what}: Mendix shows {remote}"));
                }
                for (i, o) in ["v1_set_settings", "v1_scale"].iter().enumerate() {
                    suite.tally.repeated_idempotent += suite
                        .requests(demo::CLOUD_APP_ID, &mode, o)
                        .saturating_sub(idempotent_before[i] + 1);
                }
            }
        }

        // A Mendix Cloud restart: stop, then start.
        for (w, write) in CLOUD_RESTART_WRITES.iter().enumerate() {
            let (name, mode) = cloud_restart_env(w, kill);
            let before = ["stops", "starts"].map(|c| suite.cloud(&mode, c));
            let token = format!("restart-{w}-{}", kill_label(kill));
            suite
                .kill_at(
                    write,
                    HoldSpec::new(write)
                        .app(demo::CLOUD_APP_ID)
                        .environment(&mode),
                    kill,
                    &status_of("mendixenvironments", &name),
                    restart(name.clone(), token.clone()),
                )
                .await;
            let what = format!("cloud restart, kill {kill:?} at {write}");
            if suite
                .converged_environment(&name, &what, restarted(&token))
                .await
            {
                let after = ["stops", "starts"].map(|c| suite.cloud(&mode, c));
                suite.effects(
                    &what,
                    &[
                        ("stop", after[0] - before[0], 1),
                        ("start", after[1] - before[1], 1),
                    ],
                );
                if suite.h.cloud_env_state(&mode)["status"] != "Running" {
                    suite.tally.stranded.push(format!("{what}: left stopped"));
                }
            }
        }

        // A Private Cloud deploy: one manifest PUT.
        {
            let (name, id) = pc_deploy_env(kill);
            let before = suite.h.pc_env_state(&id)["updates"].as_u64().unwrap_or(0);
            suite
                .kill_at(
                    "update_environment_for_namespace",
                    HoldSpec::new("update_environment_for_namespace").environment(&id),
                    kill,
                    &status_of("mendixenvironments", &name),
                    patch_spec(name.clone(), json!({"packageId": pc_package})),
                )
                .await;
            let what = format!("private cloud deploy, kill {kill:?} at the manifest PUT");
            if suite.converged_environment(&name, &what, ready_at(2)).await {
                let remote = suite.h.pc_env_state(&id);
                let updates = remote["updates"].as_u64().unwrap_or(0) - before;
                suite.effects(&what, &[("rollout", updates, 1)]);
                if remote["environment"]["deployment"]["packageId"] != pc_package.as_str() {
                    suite
                        .tally
                        .stranded
                        .push(format!("{what}: Mendix shows {remote}"));
                }
            }
        }

        // A Private Cloud restart: a PUT to 0 instances, then one back.
        for put in PC_RESTART_PUTS {
            let (name, id) = pc_restart_env(put, kill);
            let before = suite.h.pc_env_state(&id)["updates"].as_u64().unwrap_or(0);
            let token = format!("pc-restart-{put}-{}", kill_label(kill));
            suite
                .kill_at(
                    "update_environment_for_namespace",
                    HoldSpec::new("update_environment_for_namespace")
                        .environment(&id)
                        .after(put),
                    kill,
                    &status_of("mendixenvironments", &name),
                    restart(name.clone(), token.clone()),
                )
                .await;
            let what = format!("private cloud restart, kill {kill:?} at PUT {}", put + 1);
            if suite
                .converged_environment(&name, &what, restarted(&token))
                .await
            {
                let remote = suite.h.pc_env_state(&id);
                let updates = remote["updates"].as_u64().unwrap_or(0) - before;
                suite.effects(&what, &[("rollout", updates, 2)]);
                if remote["environment"]["container"]["instances"] != 1 {
                    suite
                        .tally
                        .stranded
                        .push(format!("{what}: Mendix shows {remote}"));
                }
            }
        }

        // A Private Cloud environment created from the spec (one POST), then deleted with the
        // resource (one DELETE, behind the finalizer).
        {
            let name = format!("pc-create-{}", kill_label(kill));
            suite
                .kill_at(
                    "create_environment",
                    HoldSpec::new("create_environment").app(demo::PC_APP_ID),
                    kill,
                    &status_of("mendixenvironments", &name),
                    create_environment(suite.h.environments(), pc_env_to_create(&name)),
                )
                .await;
            let what = format!("private cloud create, kill {kill:?} at the POST");
            if suite
                .converged_environment(&name, &what, environment_ready)
                .await
            {
                let created = pc_environments_with_id(&suite.h, &name);
                suite.effects(&what, &[("environment", created, 1)]);
            }
            let environments = suite.h.environments();
            let doomed = name.clone();
            suite
                .kill_at(
                    "delete_environment_for_namespace",
                    HoldSpec::new("delete_environment_for_namespace").environment(&name),
                    kill,
                    &status_of("mendixenvironments", &name),
                    async move {
                        environments
                            .delete(&doomed, &Default::default())
                            .await
                            .expect("delete accepted");
                    },
                )
                .await;
            let what = format!("private cloud environment delete, kill {kill:?} at the DELETE");
            let api = suite.h.environments();
            let deadline = tokio::time::Instant::now() + WAIT;
            while api.get_opt(&name).await.ok().flatten().is_some() {
                if tokio::time::Instant::now() > deadline {
                    suite.tally.stranded.push(format!(
                        "{what}: the resource stays\noperator log tail:\n{}",
                        suite.op.log_tail()
                    ));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if pc_environments_with_id(&suite.h, &name) > 0 {
                suite
                    .tally
                    .stranded
                    .push(format!("{what}: {name} is still in Mendix"));
            }
        }

        // Builds and uploads on both platforms.
        let label = kill_label(kill);
        let version = match kill {
            Kill::InFlight => "8.2.0",
            Kill::AfterAnswer => "8.3.0",
        };
        let creations = [
            (
                "v1_build_package",
                "cloud",
                demo::CLOUD_APP_ID,
                format!("build-cloud-{label}"),
                cloud_build(
                    &format!("build-cloud-{label}"),
                    demo::GOOD_REVISION,
                    version,
                ),
            ),
            (
                "build_deployment_package",
                "privateCloud",
                demo::PC_APP_ID,
                format!("build-pc-{label}"),
                pc_build(&format!("build-pc-{label}"), demo::GOOD_REVISION, version),
            ),
            (
                "v1_upload_package",
                "cloud",
                demo::CLOUD_APP_ID,
                format!("upload-cloud-{label}"),
                upload_package(
                    &format!("upload-cloud-{label}"),
                    "mendixCloud",
                    CLOUD_SECRET,
                    demo::CLOUD_APP_ID,
                    &url,
                    &sha,
                ),
            ),
            (
                "upload_deployment_package",
                "privateCloud",
                demo::PC_APP_ID,
                format!("upload-pc-{label}"),
                upload_package(
                    &format!("upload-pc-{label}"),
                    "privateCloud",
                    PC_SECRET,
                    demo::PC_APP_ID,
                    &url,
                    &sha,
                ),
            ),
        ];
        for (write, platform, app, name, yaml) in creations {
            let (field, value) = match (platform, write.contains("upload")) {
                ("cloud", true) => ("name", format!("{name}.mda")),
                ("cloud", false) => ("version", version.to_string()),
                (_, true) => ("fileName", format!("{name}.mda")),
                (_, false) => ("modelVersion", version.to_string()),
            };
            let before = suite.packages_like(platform, app, field, &value);
            suite
                .kill_at(
                    write,
                    HoldSpec::new(write).app(app),
                    kill,
                    &status_of("mendixpackages", &name),
                    create_package(suite.h.packages(), yaml),
                )
                .await;
            let what = format!("{platform} {write}, kill {kill:?}");
            if suite
                .converged_package(&name, &what, |p| p.is_some_and(package_ready))
                .await
            {
                let made = suite.packages_like(platform, app, field, &value) - before;
                suite.effects(&what, &[("package created", made, 1)]);
            }
        }

        // Deleting a `Delete` package on both platforms.
        for (platform, name, _) in doomed.iter().filter(|(_, _, k)| *k == kill) {
            let (write, app, sandbox_platform) = match *platform {
                "cloud" => ("v1_delete_package", demo::CLOUD_APP_ID, "cloud"),
                _ => ("delete_deployment_package", demo::PC_APP_ID, "privateCloud"),
            };
            let id = suite
                .h
                .packages()
                .get(name)
                .await
                .expect("package readable")
                .status
                .and_then(|s| s.package_id)
                .expect("package id");
            let packages = suite.h.packages();
            let doomed_name = name.clone();
            let deletes_before = suite.h.mendix.stats().app_count(app, write);
            suite
                .kill_at(
                    write,
                    HoldSpec::new(write).app(app),
                    kill,
                    // What records a delete is the finalizer's removal (or a status write).
                    &format!("/mendixpackages/{name}"),
                    async move {
                        packages
                            .delete(&doomed_name, &Default::default())
                            .await
                            .expect("deletion requested");
                    },
                )
                .await;
            let what = format!("{platform} package delete, kill {kill:?}");
            if suite.converged_package(name, &what, |p| p.is_none()).await {
                if suite.packages_like(sandbox_platform, app, "packageId", &id)
                    + suite.packages_like(sandbox_platform, app, "id", &id)
                    > 0
                {
                    suite
                        .tally
                        .stranded
                        .push(format!("{what}: {id} is still in Mendix"));
                }
                suite.tally.repeated_idempotent += suite
                    .h
                    .mendix
                    .stats()
                    .app_count(app, write)
                    .saturating_sub(deletes_before + 1);
            }
        }
    }

    suite.op.kill().await;
    let t = &suite.tally;
    println!(
        "crash-consistency: {} flows, {} kills during an in-flight write, {} after the answer before the status write, {} duplicate writes, {} stranded resources ({} idempotent requests sent again after a lost answer; {} operator starts)",
        t.flows,
        t.kills_in_flight,
        t.kills_after_answer,
        t.duplicates.len(),
        t.stranded.len(),
        t.repeated_idempotent,
        suite.op.starts
    );
    assert!(
        t.duplicates.is_empty(),
        "duplicate writes:\n{}",
        t.duplicates.join("\n")
    );
    assert!(
        t.stranded.is_empty(),
        "stranded:\n{}",
        t.stranded.join("\n\n")
    );
    let every_write: BTreeSet<&str> = [
        "v1_build_package",
        "build_deployment_package",
        "v1_upload_package",
        "upload_deployment_package",
        "v1_delete_package",
        "delete_deployment_package",
        "v1_stop_environment",
        "v1_transport",
        "v1_set_settings",
        "v1_scale",
        "v1_start_environment",
        "update_environment_for_namespace",
        "create_environment",
        "delete_environment_for_namespace",
    ]
    .into();
    assert_eq!(t.in_flight, every_write, "kills during an in-flight write");
    assert_eq!(t.after_answer, every_write, "kills after the answer");
}
