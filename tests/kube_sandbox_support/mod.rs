//! Shared helpers for the Kubernetes sandbox tests: a sandbox on 127.0.0.1:0 with a kubeconfig,
//! and the real kubectl from PATH run against it with a generous timeout as a failure guard.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use mendix_operator::sandbox::kube::{KubeSandbox, KubeSandboxServer};
use tokio::io::AsyncWriteExt;

pub const GUARD: Duration = Duration::from_secs(90);

pub struct Env {
    pub sandbox: KubeSandbox,
    pub server: KubeSandboxServer,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

pub fn repo_path(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(rel)
        .display()
        .to_string()
}

impl Env {
    pub async fn start() -> Env {
        Self::start_version(None).await
    }

    pub async fn start_version(version: Option<&str>) -> Env {
        let sandbox = KubeSandbox::new();
        if let Some(v) = version {
            sandbox.set_version(v);
        }
        let server = sandbox.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        server.write_kubeconfig(&kubeconfig).unwrap();
        Env {
            sandbox,
            server,
            dir,
            kubeconfig,
        }
    }

    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("kubectl");
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .env("HOME", self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    pub async fn kubectl(&self, args: &[&str]) -> Run {
        self.kubectl_stdin(args, "").await
    }

    pub async fn kubectl_stdin(&self, args: &[&str], input: &str) -> Run {
        let mut child = self.command(args).spawn().expect("kubectl is on PATH");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).await.unwrap();
        drop(stdin);
        let out = tokio::time::timeout(GUARD, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish"))
            .unwrap();
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs kubectl and fails the test with its output when it fails.
    pub async fn ok(&self, args: &[&str]) -> String {
        let run = self.kubectl(args).await;
        assert!(
            run.ok,
            "kubectl {args:?} failed:\n{}\n{}",
            run.stdout, run.stderr
        );
        run.stdout
    }

    pub async fn ok_stdin(&self, args: &[&str], input: &str) -> String {
        let run = self.kubectl_stdin(args, input).await;
        assert!(
            run.ok,
            "kubectl {args:?} failed:\n{}\n{}",
            run.stdout, run.stderr
        );
        run.stdout
    }
}

/// Polls `check` (a failure guard of [`GUARD`], not a timing assertion).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + GUARD;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}
