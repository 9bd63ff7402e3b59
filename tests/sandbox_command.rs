//! `mendix-operator sandbox` end to end: the real binary as a process, the examples become
//! Ready, the real kubectl works with the kubeconfig it wrote, and Ctrl-C stops it cleanly.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Failure guard only; the machines are small and shared.
const GUARD: Duration = Duration::from_secs(180);

struct Sandbox {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Sandbox {
    fn start(dir: &Path) -> Self {
        Self::spawn(&["sandbox", "--dir", &dir.display().to_string()])
    }

    /// The binary with `args`, its standard output read line by line.
    fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mendix-operator"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("mendix-operator starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Sandbox {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads output until a line contains `needle`.
    fn wait_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + GUARD;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "no line with {needle:?}; output so far:\n{}",
                        self.seen.join("\n")
                    );
                }
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + GUARD;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the sandbox") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the sandbox did not stop after a signal");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .expect("kubectl runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "kubectl {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn sandbox_runs_the_examples_until_ready_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut sandbox = Sandbox::start(dir.path());
    let kubeconfig = dir.path().join("kubeconfig");
    let export = sandbox.wait_line("export KUBECONFIG=");
    assert!(
        export.contains(&kubeconfig.display().to_string()),
        "prints how to use the kubeconfig: {export}"
    );
    sandbox.wait_line("kubectl get mxpkg,mxenv");
    let all_ready = sandbox.wait_line("all Ready");
    assert!(all_ready.contains("4 resources"), "{all_ready}");
    // Progress showed the work as it happened, per resource.
    let progress = sandbox.seen.join("\n");
    for expected in [
        "mxpkg/calc-2.5.4",
        "mxpkg/calc-private-1.4.0",
        "mxenv/calc-acceptance",
        "mxenv/calc-private-test",
        "Building",
        "Ready=True",
    ] {
        assert!(progress.contains(expected), "{expected} in:\n{progress}");
    }

    let envs = kubectl(&kubeconfig, &["get", "mxenv"]);
    for name in ["calc-acceptance", "calc-private-test"] {
        let row = envs
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} listed:\n{envs}"));
        assert!(row.contains("True") && row.contains("Running"), "{row}");
    }
    let waited = kubectl(
        &kubeconfig,
        &[
            "wait",
            "--for=condition=Ready",
            "mxenv",
            "--all",
            "--timeout=60s",
        ],
    );
    assert_eq!(waited.lines().count(), 2, "{waited}");
    let pkgs = kubectl(&kubeconfig, &["get", "mxpkg", "-o", "name"]);
    assert!(pkgs.contains("calc-2.5.4") && pkgs.contains("calc-private-1.4.0"));
    // The Secrets hold the demo credentials, not the placeholders of the examples.
    let secret = kubectl(
        &kubeconfig,
        &[
            "get",
            "secret",
            "mendix-cloud-credentials",
            "-o",
            "jsonpath={.data.username}",
        ],
    );
    assert!(!secret.is_empty());

    // A newcomer edits an example and applies it with kubectl: the operator deploys the change.
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples/mendix-cloud-environment.yaml"),
    )
    .expect("example readable");
    assert!(example.contains("instances: 2"));
    let edited = dir.path().join("mendix-cloud-environment.yaml");
    std::fs::write(&edited, example.replace("instances: 2", "instances: 1")).expect("written");
    let applied = kubectl(&kubeconfig, &["apply", "-f", &edited.display().to_string()]);
    assert!(applied.contains("calc-acceptance configured"), "{applied}");
    let deadline = Instant::now() + GUARD;
    loop {
        let state = kubectl(
            &kubeconfig,
            &[
                "get",
                "mxenv",
                "calc-acceptance",
                "-o",
                r#"jsonpath={.metadata.generation},{.status.observedGeneration},{.status.conditions[?(@.type=="Ready")].status},{.status.instances}"#,
            ],
        );
        let parts: Vec<&str> = state.split(',').collect();
        if parts[0] == parts[1] && parts[2] == "True" {
            assert_eq!(parts[3], "1", "{state}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the edit was not deployed: {state}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Progress showed the change (the Ready message now names one instance).
    while !sandbox
        .wait_line("with 1 instance(s)")
        .starts_with("mxenv/calc-acceptance")
    {}

    sandbox.signal("INT");
    sandbox.wait_line("stopping the sandbox");
    let status = sandbox.wait_exit();
    assert!(status.success(), "clean exit after Ctrl-C: {status:?}");
}

/// A command of the binary with `go` off PATH and an empty control-plane cache.
fn without_go(args: &[&str], dir: &Path) -> std::process::Output {
    let empty = dir.join("empty-path");
    std::fs::create_dir_all(&empty).expect("dir");
    Command::new(env!("CARGO_BIN_EXE_mendix-operator"))
        .args(args)
        .env("PATH", &empty)
        .env("MENDIX_CONTROL_PLANE_CACHE", dir.join("cache"))
        .env_remove("MENDIX_CONTROL_PLANE_BIN")
        .current_dir(dir)
        .output()
        .expect("mendix-operator runs")
}

#[test]
fn without_go_both_commands_say_so_in_one_line_and_name_the_kubeconfig_alternative() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig").display().to_string();
    for args in [
        vec![
            "kube-sandbox",
            "--listen",
            "127.0.0.1:0",
            "--kubeconfig",
            &kubeconfig,
        ],
        vec!["sandbox", "--dir", "demo"],
    ] {
        let out = without_go(&args, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} failed without Go");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("`go` is not on PATH") && stderr.contains("--kubeconfig PATH"),
            "{args:?}: {stderr}"
        );
    }
}

/// `kube-sandbox` serves the real API server at the address given; `sandbox --kubeconfig` runs
/// the examples on that cluster instead of starting its own; Ctrl-C stops both and no process
/// of the control plane is left.
#[test]
fn sandbox_runs_on_an_existing_cluster_given_by_kubeconfig() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("cluster.kubeconfig");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut cluster = Sandbox::spawn(&[
        "kube-sandbox",
        "--listen",
        &listen,
        "--kubeconfig",
        &kubeconfig.display().to_string(),
    ]);
    let up = cluster.wait_line("kubeconfig written to");
    assert!(up.contains(&format!("https://{listen}")), "{up}");
    let version = kubectl(&kubeconfig, &["version", "-o", "json"]);
    let version: serde_json::Value = serde_json::from_str(&version).expect("JSON");
    assert_eq!(
        version["serverVersion"]["gitVersion"], "v1.36.3",
        "{version}"
    );

    let demo = dir.path().join("demo");
    let mut sandbox = Sandbox::spawn(&[
        "sandbox",
        "--dir",
        &demo.display().to_string(),
        "--kubeconfig",
        &kubeconfig.display().to_string(),
    ]);
    let all_ready = sandbox.wait_line("all Ready");
    assert!(all_ready.contains("4 resources"), "{all_ready}");
    assert!(
        !demo.join("kubeconfig").exists(),
        "on an existing cluster the sandbox writes no kubeconfig of its own"
    );
    let envs = kubectl(&kubeconfig, &["get", "mxenv", "-n", "default"]);
    assert!(envs.contains("calc-acceptance"), "{envs}");
    for process in [&mut sandbox, &mut cluster] {
        process.signal("INT");
        let status = process.wait_exit();
        assert!(status.success(), "clean exit after Ctrl-C: {status:?}");
    }
    assert!(
        std::net::TcpStream::connect(&listen).is_err(),
        "the API server stopped with kube-sandbox"
    );
}
