//! kstatus as Flux's health checks compute it: the real `sigs.k8s.io/cli-utils/pkg/kstatus/status`
//! package, in a small Go program (`crates/testkit/kstatus/main.go`) built with Go on first use.
//! Used by tests/flux.rs and tests/gitops_status.rs to judge every status the operator writes.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KStatus {
    InProgress,
    Current,
    Failed,
    Terminating,
    NotFound,
    Unknown,
}

/// The checker's source module.
fn module() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("kstatus")
}

/// Builds the checker once per test process (Go's build cache makes later builds cheap); each
/// process writes its own file and renames it into place, so parallel test binaries do not
/// race.
fn checker() -> &'static PathBuf {
    static CHECKER: OnceLock<PathBuf> = OnceLock::new();
    CHECKER.get_or_init(|| {
        let dir = std::env::temp_dir().join("mendix-operator-kstatus");
        std::fs::create_dir_all(&dir).expect("a directory for the kstatus checker");
        let built = dir.join(format!("kstatus-check.{}", std::process::id()));
        let status = Command::new("go")
            .args(["build", "-trimpath", "-o"])
            .arg(&built)
            .arg(".")
            .current_dir(module())
            .env("CGO_ENABLED", "0")
            .status()
            .expect("go runs (the kstatus checker is built with Go, like the control plane)");
        assert!(status.success(), "building the kstatus checker failed");
        let path = dir.join("kstatus-check");
        std::fs::rename(&built, &path).expect("the kstatus checker moved into place");
        path
    })
}

/// kstatus of `obj` (a whole object as the API server returns it), with kstatus' message.
pub fn kstatus_with_message(obj: &Value) -> (KStatus, String) {
    let mut child = Command::new(checker())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the kstatus checker runs");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{obj}").expect("object written to the checker");
    }
    let out = child
        .wait_with_output()
        .expect("the kstatus checker answers");
    let answer: Value = serde_json::from_slice(&out.stdout).expect("the checker answers JSON");
    if let Some(err) = answer["error"].as_str() {
        panic!("kstatus could not judge {obj}: {err}");
    }
    let status = match answer["status"].as_str() {
        Some("InProgress") => KStatus::InProgress,
        Some("Current") => KStatus::Current,
        Some("Failed") => KStatus::Failed,
        Some("Terminating") => KStatus::Terminating,
        Some("NotFound") => KStatus::NotFound,
        _ => KStatus::Unknown,
    };
    (
        status,
        answer["message"].as_str().unwrap_or_default().to_string(),
    )
}

/// kstatus of `obj`.
pub fn kstatus(obj: &Value) -> KStatus {
    kstatus_with_message(obj).0
}
