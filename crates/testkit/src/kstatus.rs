//! kstatus as Flux's health checks compute it: the real `sigs.k8s.io/cli-utils/pkg/kstatus/status`
//! package, in a small Go program (`crates/testkit/kstatus/main.go`) built with Go on first use.
//! Used by tests/flux.rs and tests/gitops_status.rs to judge every status the operator writes.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

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

/// The checker, built from `crates/testkit/kstatus/` on first use.
fn checker() -> PathBuf {
    crate::gotool::build(&crate::gotool::module("kstatus"), ".", &[], "kstatus-check")
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
