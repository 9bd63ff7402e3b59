//! `mendix-operator mendix-sandbox --listen ADDR [--state PATH]`, as a process.

use std::io::{BufRead, BufReader, Write};

use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_mendix-operator");

/// The sandbox process this test started; stopped (by its handle) even when the test fails.
struct Started(std::process::Child);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serves_a_seed_file_until_stopped() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut seed = tempfile::NamedTempFile::new().expect("temp file");
    write!(
        seed,
        "cloud:\n  users: [{{username: cli@example.com, apiKey: cli-key}}]\n  apps: [{{appId: cli-app, name: From the CLI}}]\n"
    )
    .expect("write seed");
    let mut child = Started(
        Command::new(BIN)
            .args(["mendix-sandbox", "--listen", "127.0.0.1:0", "--state"])
            .arg(seed.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the sandbox"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    // Read the first line, then keep draining stdout in the background.
    let (first_tx, first_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = first_tx.send(lines.next());
        for _ in lines {}
    });
    let first_line = async move {
        first_rx
            .await
            .map(|line| line.and_then(Result::ok).unwrap_or_default())
    };
    let line = tokio::time::timeout(Duration::from_secs(60), first_line)
        .await
        .expect("the sandbox prints its address")
        .expect("a line");
    let base = line
        .trim()
        .rsplit(' ')
        .next()
        .expect("an address")
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");

    let apps: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/api/1/apps"))
        .header("Mendix-Username", "cli@example.com")
        .header("Mendix-ApiKey", "cli-key")
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(apps[0]["AppId"], "cli-app");

    // SIGTERM (what a container runtime sends) stops it cleanly.
    let pid = child.0.id().to_string();
    let signalled = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(signalled.success());
    let mut process = child;
    let exit = tokio::task::spawn_blocking(move || {
        let status = process.0.wait();
        (process, status)
    });
    let (_process, status) = tokio::time::timeout(Duration::from_secs(60), exit)
        .await
        .expect("the sandbox stops on SIGTERM")
        .expect("join");
    assert!(status.expect("exit status").success());
}

#[test]
fn a_bad_seed_file_is_refused_with_the_field_named() {
    let mut seed = tempfile::NamedTempFile::new().expect("temp file");
    write!(
        seed,
        "cloud:\n  users:\n    - username: u\n      apiKey: \"\"\n"
    )
    .expect("write");
    let output = Command::new(BIN)
        .args(["mendix-sandbox", "--listen", "127.0.0.1:0", "--state"])
        .arg(seed.path())
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cloud.users[0]"), "{stderr}");

    let missing = Command::new(BIN)
        .args([
            "mendix-sandbox",
            "--listen",
            "127.0.0.1:0",
            "--state",
            "/nonexistent/seed.yaml",
        ])
        .output()
        .expect("run");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/seed.yaml"));
}
