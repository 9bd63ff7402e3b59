//! Crash consistency: the operator runs as the real binary and is killed with SIGKILL at random
//! points while builds, uploads, deploys and restarts are in flight on both platforms, then
//! started again. Through the Mendix sandbox's counters the test checks that no completed write
//! was repeated (no second build, upload, transport, start or stop), that no app was left
//! stopped, and that every resource converged.
//!
//! The seed is printed; `CRASH_SEED=N` replays a run. `CRASH_FLOWS=500` runs the heavier variant
//! (the default, at least 50 flows, stays well under the CI budget).

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use mendix_operator::crd::{MendixEnvironment, MendixPackage};
use mendix_operator::sandbox::mendix::demo;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use sha2::{Digest, Sha256};
use support::*;

/// Environments per platform that every cycle deploys to and restarts.
const ENVS_PER_PLATFORM: usize = 5;
/// Flows per cycle: a build and an upload per platform, then a deploy and a restart per
/// environment.
const FLOWS_PER_CYCLE: usize = 4 + 4 * ENVS_PER_PLATFORM;

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
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

fn cloud_mode(i: usize) -> String {
    format!("Crash{i:02}")
}

fn pc_environment(i: usize) -> String {
    format!("crash-{i:02}")
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

fn cloud_env(i: usize, package: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: cloud-{i:02}}}
spec:
  target: {{mendixCloud: {{appId: {app}, mode: {mode}}}}}
  credentialsSecretRef: {{name: {CLOUD_SECRET}}}
  packageRef: {{name: {package}}}
  instances: 1
  memoryPerInstance: 1024
",
        app = demo::CLOUD_APP_ID,
        mode = cloud_mode(i)
    )
}

fn pc_env(i: usize, package: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: pc-{i:02}}}
spec:
  target: {{privateCloud: {{appId: {app}, namespaceId: {ns}, environmentId: {env}}}}}
  credentialsSecretRef: {{name: {PC_SECRET}}}
  packageRef: {{name: {package}}}
  instances: 1
",
        app = demo::PC_APP_ID,
        ns = demo::PC_NAMESPACE_ID,
        env = pc_environment(i)
    )
}

/// Serves one .mda over loopback HTTP, as a user's artifact store would.
async fn serve_mda() -> (String, String) {
    // An .mda is a zip archive: the sandbox, like Mendix, refuses anything else.
    let mut content = b"PK\x03\x04".to_vec();
    content.extend((0..50_000u32).map(|i| (i % 251) as u8));
    let sha = hex::encode(Sha256::digest(&content));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route(
        "/app.mda",
        axum::routing::get(move || {
            let b = content.clone();
            async move { b }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/app.mda"), sha)
}

/// What the remote side must have done once everything converged: completed writes counted
/// since the start of the test.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Expected {
    cloud_builds: u64,
    pc_builds: u64,
    cloud_uploads: u64,
    pc_uploads: u64,
    /// Per cloud environment.
    transports: u64,
    starts: u64,
    stops: u64,
    /// Per Private Cloud environment: manifest changes applied.
    pc_updates: u64,
}

/// Kills the operator at random instants of a phase and restarts it at once each time.
async fn crash_during_phase(op: &mut OperatorProcess, rng: &mut StdRng, kills: &mut u32) {
    let n = rng.random_range(2..=4);
    let mut delays: Vec<u64> = (0..n).map(|_| rng.random_range(0..1200)).collect();
    delays.sort_unstable();
    let mut elapsed = 0;
    for delay in delays {
        tokio::time::sleep(Duration::from_millis(delay - elapsed)).await;
        elapsed = delay;
        op.kill().await;
        *kills += 1;
        op.start();
    }
}

async fn wait_all(h: &Harness, op: &OperatorProcess, done: impl Fn(&MendixEnvironment) -> bool) {
    for platform in ["cloud", "pc"] {
        for i in 0..ENVS_PER_PLATFORM {
            let name = format!("{platform}-{i:02}");
            let api = h.environments();
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let env = api.get(&name).await.expect("environment readable");
                if done(&env) {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    panic!(
                        "{name} did not converge: {:#?}\noperator log tail:\n{}",
                        env.status,
                        op.log_tail()
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn wait_packages(h: &Harness, op: &OperatorProcess, names: &[String]) {
    for name in names {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let pkg = h.packages().get(name).await.expect("package readable");
            if package_ready(&pkg) {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "{name} did not converge: {:#?}\noperator log tail:\n{}",
                    pkg.status,
                    op.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn check_remote(h: &Harness, expected: &Expected, context: &str) {
    let stats = h.mendix.stats();
    let state = h.mendix.state_json();
    let cloud_builds = stats.app_count(demo::CLOUD_APP_ID, "v1_build_package");
    let pc_builds = stats.app_count(demo::PC_APP_ID, "build_deployment_package");
    let cloud_uploads = stats.app_count(demo::CLOUD_APP_ID, "v1_upload_package");
    let pc_uploads = stats.app_count(demo::PC_APP_ID, "upload_deployment_package");
    assert_eq!(
        (cloud_builds, pc_builds),
        (expected.cloud_builds, expected.pc_builds),
        "{context}: builds started (cloud, private cloud)"
    );
    assert_eq!(
        (cloud_uploads, pc_uploads),
        (expected.cloud_uploads, expected.pc_uploads),
        "{context}: uploads (cloud, private cloud)"
    );
    for i in 0..ENVS_PER_PLATFORM {
        let env = h.cloud_env_state(&cloud_mode(i));
        let done = |what: &str| env[what].as_u64().unwrap_or(0);
        assert_eq!(
            (done("transports"), done("stops"), done("starts")),
            (expected.transports, expected.stops, expected.starts),
            "{context}: cloud environment {} (transports, stops, starts): {env}",
            cloud_mode(i)
        );
        assert_eq!(env["status"], "Running", "{context}: left stopped: {env}");
        let env = h.pc_env_state(&pc_environment(i));
        assert_eq!(
            env["updates"].as_u64(),
            Some(expected.pc_updates),
            "{context}: private cloud environment {} manifest changes: {env}",
            pc_environment(i)
        );
        assert_eq!(
            env["environment"]["container"]["instances"].as_u64(),
            Some(1),
            "{context}: scaled down and left so: {env}"
        );
    }
    let _ = state;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_repeats_no_write_and_loses_none() {
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6d656e646978);
    let flows: usize = std::env::var("CRASH_FLOWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let cycles = flows.div_ceil(FLOWS_PER_CYCLE).max(1);
    println!(
        "crash consistency: seed {seed} (CRASH_SEED), {cycles} cycle(s) of {FLOWS_PER_CYCLE} flows"
    );
    let mut rng = StdRng::seed_from_u64(seed);

    let h = Harness::new().await;
    h.add_environments(
        &(0..ENVS_PER_PLATFORM).map(cloud_mode).collect::<Vec<_>>(),
        &(0..ENVS_PER_PLATFORM)
            .map(pc_environment)
            .collect::<Vec<_>>(),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    h.write_operator_kubeconfig(&kubeconfig);
    let mut op = OperatorProcess {
        child: None,
        kubeconfig,
        namespace: h.ns.clone(),
        log: Path::new(dir.path()).join("operator.log"),
        cloud_url: h.mendix_server.cloud_v1_url(),
        pc_url: h.mendix_server.private_cloud_v4_url(),
        starts: 0,
    };
    op.start();
    let (url, sha) = serve_mda().await;
    let mut expected = Expected::default();
    let mut kills = 0u32;
    let mut flows_done = 0usize;

    for cycle in 0..cycles {
        // Phase 1: build and upload on both platforms, deploy the builds everywhere.
        // Versions unlike those of the demo packages: a build adopts a package of its version.
        let version = format!("7.{cycle}.0");
        let cloud_pkg = format!("cloud-build-{cycle}");
        let pc_pkg = format!("pc-build-{cycle}");
        let packages = [
            cloud_pkg.clone(),
            pc_pkg.clone(),
            format!("cloud-upload-{cycle}"),
            format!("pc-upload-{cycle}"),
        ];
        h.create::<MendixPackage>(&cloud_build(&cloud_pkg, demo::GOOD_REVISION, &version))
            .await;
        h.create::<MendixPackage>(&pc_build(&pc_pkg, demo::GOOD_REVISION, &version))
            .await;
        h.create::<MendixPackage>(&upload_package(
            &packages[2],
            "mendixCloud",
            CLOUD_SECRET,
            demo::CLOUD_APP_ID,
            &url,
            &sha,
        ))
        .await;
        h.create::<MendixPackage>(&upload_package(
            &packages[3],
            "privateCloud",
            PC_SECRET,
            demo::PC_APP_ID,
            &url,
            &sha,
        ))
        .await;
        for i in 0..ENVS_PER_PLATFORM {
            if cycle == 0 {
                h.create::<MendixEnvironment>(&cloud_env(i, &cloud_pkg))
                    .await;
                h.create::<MendixEnvironment>(&pc_env(i, &pc_pkg)).await;
            } else {
                for (name, package) in [
                    (format!("cloud-{i:02}"), &cloud_pkg),
                    (format!("pc-{i:02}"), &pc_pkg),
                ] {
                    h.environments()
                        .patch(
                            &name,
                            &PatchParams::default(),
                            &Patch::Merge(&json!({"spec": {"packageRef": {"name": package}}})),
                        )
                        .await
                        .expect("package reference patched");
                }
            }
        }
        crash_during_phase(&mut op, &mut rng, &mut kills).await;
        wait_packages(&h, &op, &packages).await;
        wait_all(&h, &op, |e| {
            environment_ready(e)
                && e.status
                    .as_ref()
                    .and_then(|s| s.deployed_version.as_deref())
                    .is_some_and(|v| v.starts_with(&version))
        })
        .await;
        expected.cloud_builds += 1;
        expected.pc_builds += 1;
        expected.cloud_uploads += 1;
        expected.pc_uploads += 1;
        expected.transports += 1;
        expected.starts += 1;
        if cycle > 0 {
            expected.stops += 1;
        }
        expected.pc_updates += 1;
        flows_done += 4 + 2 * ENVS_PER_PLATFORM;
        check_remote(&h, &expected, &format!("cycle {cycle}, deploy"));

        // Phase 2: restart every environment through the annotation.
        let token = format!("cycle-{cycle}");
        for platform in ["cloud", "pc"] {
            for i in 0..ENVS_PER_PLATFORM {
                h.environments()
                    .patch(
                        &format!("{platform}-{i:02}"),
                        &PatchParams::default(),
                        &Patch::Merge(&json!({"metadata": {"annotations": {
                            "mendixops.io/restartedAt": token
                        }}})),
                    )
                    .await
                    .expect("restart requested");
            }
        }
        crash_during_phase(&mut op, &mut rng, &mut kills).await;
        wait_all(&h, &op, |e| {
            environment_ready(e)
                && e.status
                    .as_ref()
                    .and_then(|s| s.last_restarted_at.as_deref())
                    == Some(token.as_str())
        })
        .await;
        expected.starts += 1;
        expected.stops += 1;
        expected.pc_updates += 2;
        flows_done += 2 * ENVS_PER_PLATFORM;
        check_remote(&h, &expected, &format!("cycle {cycle}, restart"));
    }
    op.kill().await;
    let stats = h.mendix.stats();
    println!(
        "crash consistency: {flows_done} flows, {kills} SIGKILLs, {} operator starts, {} Mendix requests; seed {seed}",
        op.starts, stats.total
    );
    assert!(flows_done >= flows.min(50));
}
