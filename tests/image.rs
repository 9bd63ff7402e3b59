//! The operator image, run the way a cluster runs it: the OCI layout `image/build.sh` assembles
//! without a container engine is unpacked into a runtime bundle and run with `runc` as the
//! Deployment runs it — user 65532, a read-only root filesystem, no capabilities, no new
//! privileges, the downloads directory a tmpfs, the API token a read-only file — and the
//! operator inside deploys an app against the real API server and the Mendix sandbox.
//!
//! runc needs root; CI runs as root. `.ci/run` builds the image before the test command, and the
//! test builds it when it is missing.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use mendix_operator::crd::{MendixEnvironment, MendixPackage};
use mendix_sandbox::demo;
use mendix_testkit::resources::cloud_env;
use mendix_testkit::*;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// The non-root user of the image and of deploy/base/deployment.yaml.
const USER: u64 = 65532;
const KUBECONFIG_IN_CONTAINER: &str = "/etc/mendix-operator/kubeconfig";
const DOWNLOADS: &str = "/var/lib/mendix-operator/downloads";

fn image_dir() -> PathBuf {
    PathBuf::from(repo_path("target/image"))
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The image's OCI layout, built by image/build.sh when missing.
fn image_layout() -> PathBuf {
    let dir = image_dir();
    if !dir.join("oci/index.json").exists() || !dir.join("umoci").exists() {
        let status = std::process::Command::new("bash")
            .arg(repo_path("image/build.sh"))
            .status()
            .expect("image/build.sh runs");
        assert!(status.success(), "image/build.sh failed");
    }
    dir.join("oci")
}

fn run(program: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{} runs: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The runtime spec umoci derived from the image config, made into the Deployment's pod: its
/// securityContext, its volumes, and the host's network (the control plane and the Mendix
/// sandbox listen on loopback).
fn as_the_deployment_runs_it(spec: &mut Value, args: Vec<String>, kubeconfig: &Path) {
    let process = &mut spec["process"];
    assert_eq!(
        (
            process["user"]["uid"].as_u64(),
            process["user"]["gid"].as_u64()
        ),
        (Some(USER), Some(USER)),
        "the image's own user is the non-root user: {process}"
    );
    assert_eq!(
        process["args"][0], "/usr/local/bin/mendix-operator",
        "the image's entrypoint"
    );
    process["args"] = json!(args);
    process["terminal"] = json!(false);
    process["noNewPrivileges"] = json!(true);
    process["capabilities"] = json!({
        "bounding": [], "effective": [], "inheritable": [], "permitted": [], "ambient": []
    });
    process["env"]
        .as_array_mut()
        .expect("the image's environment")
        .extend([
            json!(format!("KUBECONFIG={KUBECONFIG_IN_CONTAINER}")),
            json!(format!("DOWNLOAD_DIR={DOWNLOADS}")),
            json!("RUST_LOG=info"),
        ]);
    spec["root"]["readonly"] = json!(true);
    let mounts = spec["mounts"].as_array_mut().expect("mounts");
    mounts.push(json!({
        "destination": KUBECONFIG_IN_CONTAINER, "type": "bind",
        "source": kubeconfig, "options": ["bind", "ro", "nosuid", "nodev", "noexec"]
    }));
    mounts.push(json!({
        "destination": DOWNLOADS, "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "noexec", "size=64m", format!("uid={USER}"), format!("gid={USER}")]
    }));
    let namespaces = spec["linux"]["namespaces"]
        .as_array_mut()
        .expect("linux namespaces");
    namespaces.retain(|ns| ns["type"] != "network");
}

/// A field of /proc/PID/status, e.g. `Uid`.
fn proc_status(pid: u64, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_non_root_read_only_and_deploys_against_the_real_control_plane() {
    assert!(
        run(Path::new("id"), &["-u"]).trim() == "0",
        "runc runs containers as root; run this test as root (CI does)"
    );
    let layout = image_layout();
    let umoci = image_dir().join("umoci");
    let blobs: u64 = std::fs::read_dir(layout.join("blobs/sha256"))
        .expect("image blobs")
        .map(|b| b.expect("blob").metadata().expect("blob size").len())
        .sum();
    eprintln!("image {}:{} is {blobs} bytes", layout.display(), version());

    let h = Harness::new().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let bundle = dir.path().join("bundle");
    run(
        &umoci,
        &[
            "unpack",
            "--image",
            &format!("{}:{}", layout.display(), version()),
            bundle.to_str().expect("utf-8 path"),
        ],
    );
    let kubeconfig = dir.path().join("kubeconfig");
    h.write_operator_kubeconfig(&kubeconfig);
    let identity = "image-replica";
    let args: Vec<String> = [
        "/usr/local/bin/mendix-operator",
        "run",
        "--log-format",
        "json",
        "--metrics-addr",
        "127.0.0.1:0",
        "--mendix-cloud-url",
        &h.mendix_server.cloud_v1_url(),
        "--private-cloud-url",
        &h.mendix_server.private_cloud_v4_url(),
        "--lease-namespace",
        &h.ns,
        "--namespaces",
        &h.ns,
        "--identity",
        identity,
        "--poll-initial",
        "50ms",
        "--poll-max",
        "400ms",
        "--resync-period",
        "3s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let config_path = bundle.join("config.json");
    let mut spec: Value = serde_json::from_slice(&std::fs::read(&config_path).expect("config"))
        .expect("runtime spec JSON");
    as_the_deployment_runs_it(&mut spec, args, &kubeconfig);
    std::fs::write(&config_path, spec.to_string()).expect("runtime spec written");

    let state = dir.path().join("runc");
    let id = format!("mendix-operator-{}", std::process::id());
    let mut container = Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("runc starts (apt-get install runc)");
    let log: Arc<Mutex<Vec<Value>>> = Arc::default();
    let keep = log.clone();
    let stdout = container.stdout.take().expect("stdout is piped");
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("[container] {line}");
            if let Ok(json) = serde_json::from_str::<Value>(&line) {
                keep.lock().expect("lock").push(json);
            }
        }
    });
    let started = wait_for(
        "the operator in the container to start",
        || async {
            let log = log.lock().expect("lock");
            Some(
                log.iter()
                    .any(|l| l["message"] == "mendix-operator started"),
            )
        },
        |started| *started,
    )
    .await;
    assert!(started);

    // The container's process: the non-root user, no capabilities, a read-only root.
    let runc_state: Value = serde_json::from_str(&run(
        Path::new("runc"),
        &["--root", state.to_str().expect("utf-8"), "state", &id],
    ))
    .expect("runc state JSON");
    let pid = runc_state["pid"].as_u64().expect("the container's pid");
    let uids = proc_status(pid, "Uid");
    assert!(
        uids.split_whitespace().all(|u| u == USER.to_string()),
        "the operator runs as {USER}: Uid {uids}"
    );
    assert_eq!(
        proc_status(pid, "CapEff"),
        "0000000000000000",
        "no capabilities"
    );
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("mountinfo");
    let root = mountinfo
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/"))
        .expect("the container's root mount");
    assert!(
        root.split_whitespace()
            .nth(5)
            .is_some_and(|o| o.split(',').any(|o| o == "ro")),
        "the root filesystem is read-only: {root}"
    );

    // The operator inside reaches the real control plane: it takes the Lease and deploys.
    h.create::<MendixPackage>(&cloud_build("calc", demo::GOOD_REVISION, "1.0.0"))
        .await;
    h.create::<MendixEnvironment>(&cloud_env("calc-test", "Test", "calc", ""))
        .await;
    let env = h.wait_environment("calc-test", environment_ready).await;
    let status = env.status.expect("status");
    eprintln!("deployed from the container: {:?}", status.deployed_version);
    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(h.client.clone(), &h.ns);
    let lease = leases
        .get("mendix-operator-leader")
        .await
        .expect("the Lease the operator in the container holds");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some(identity)
    );

    // SIGTERM, as the kubelet stops a pod: the operator exits cleanly.
    run(
        Path::new("runc"),
        &[
            "--root",
            state.to_str().expect("utf-8"),
            "kill",
            &id,
            "TERM",
        ],
    );
    let exit = tokio::time::timeout(WAIT, container.wait())
        .await
        .expect("the operator exits after SIGTERM")
        .expect("runc's exit status");
    assert!(exit.success(), "the operator exited with {exit}");
    let _ = std::process::Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["delete", "--force", &id])
        .status();
}
