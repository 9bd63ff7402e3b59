//! Real tools the tests drive (helm, promtool, umoci, the kstatus checker), built with Go from
//! their own modules on first use: each tool is a small Go module under `crates/testkit/` that
//! names the tool's package at a pinned version. Go's build cache makes later builds cheap;
//! `.ci/run` builds each once before the test command.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The directory of one tool's Go module, relative to this crate (`kstatus`, `tools/helm`, …).
pub fn module(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Builds `package` (a main package the module at `module_dir` requires, or `.`) with the
/// given build tags, once per test process, and returns the binary's path. Each process writes
/// its own file and renames it into place, so parallel test binaries do not race.
pub fn build(module_dir: &Path, package: &str, tags: &[&str], name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    // Held while building: two tests of one process asking at once build once.
    let mut built = built
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, path)) = built.iter().find(|(tool, _)| tool == name) {
        return path.clone();
    }
    let dir = std::env::temp_dir().join("mendix-operator-tools");
    std::fs::create_dir_all(&dir).expect("a directory for the test tools");
    let partial = dir.join(format!("{name}.{}", std::process::id()));
    let mut go = Command::new("go");
    go.args(["build", "-trimpath"]);
    if !tags.is_empty() {
        go.arg(format!("-tags={}", tags.join(",")));
    }
    let status = go
        .arg("-o")
        .arg(&partial)
        .arg(package)
        .current_dir(module_dir)
        .env("CGO_ENABLED", "0")
        .status()
        .unwrap_or_else(|e| {
            panic!("go runs ({name} is built with Go, like the control plane): {e}")
        });
    assert!(
        status.success(),
        "building {name} from {} failed",
        module_dir.display()
    );
    let path = dir.join(name);
    std::fs::rename(&partial, &path).unwrap_or_else(|e| panic!("{name} moved into place: {e}"));
    built.push((name.to_string(), path.clone()));
    path
}
