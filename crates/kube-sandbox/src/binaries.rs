//! The control plane's programs: kube-apiserver, etcd and kube-controller-manager, built with
//! the machine's Go from Kubernetes' and etcd's own modules at the release pinned in
//! `controlplane/go.mod`. The Go sources are compiled into this binary, so the build works
//! from any directory; the programs are cached outside the repository by release and by a hash
//! of those sources, and only the first use builds them. Parallel test binaries share one build:
//! a file lock lets one build while the others wait.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The Kubernetes release the control plane runs (`/version` reports it).
pub const RELEASE: &str = "v1.36.3";

/// `controlplane/`: our Go code and the pinned module graph.
const SOURCES: &[(&str, &str)] = &[
    ("go.mod", include_str!("../controlplane/go.mod")),
    ("go.sum", include_str!("../controlplane/go.sum")),
    ("etcd/main.go", include_str!("../controlplane/etcd/main.go")),
    (
        "kube-apiserver/main.go",
        include_str!("../controlplane/kube-apiserver/main.go"),
    ),
    (
        "kube-controller-manager/main.go",
        include_str!("../controlplane/kube-controller-manager/main.go"),
    ),
];

pub const PROGRAMS: [&str; 3] = ["etcd", "kube-apiserver", "kube-controller-manager"];

/// Where prebuilt programs may be found instead (a directory holding all three).
pub const BIN_DIR_ENV: &str = "MENDIX_CONTROL_PLANE_BIN";
/// Where built programs are cached (default: `$XDG_CACHE_HOME` or `~/.cache`, then
/// `mendix-operator/control-plane`).
pub const CACHE_DIR_ENV: &str = "MENDIX_CONTROL_PLANE_CACHE";

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "the real Kubernetes control plane is built with Go, and `go` is not on PATH: install Go \
         1.26 or newer, or run `mendix-operator sandbox --kubeconfig PATH` on a cluster you \
         have (kind, k3d, minikube)"
    )]
    GoMissing,
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(
        "building the control plane ({RELEASE}) failed with {status}; the last lines Go printed:\n{tail}"
    )]
    Go { status: String, tail: String },
    #[error("{BIN_DIR_ENV}={dir} lacks {program}")]
    Prebuilt { dir: String, program: &'static str },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let what = what.into();
    move |source| BuildError::Io { what, source }
}

/// The three programs, ready to run.
#[derive(Debug, Clone)]
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    pub fn path(&self, program: &str) -> PathBuf {
        self.dir.join(program)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The programs, built first if this release and these sources have not been built on this
/// machine. `progress` receives one line at a time while a build runs.
pub fn ensure(progress: &(dyn Fn(&str) + Sync)) -> Result<Binaries, BuildError> {
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
        let dir = PathBuf::from(dir);
        for program in PROGRAMS {
            if !dir.join(program).is_file() {
                return Err(BuildError::Prebuilt {
                    dir: dir.display().to_string(),
                    program,
                });
            }
        }
        return Ok(Binaries { dir });
    }
    let dir = cache_root().join(format!("{RELEASE}-{}", sources_hash()));
    let done = dir.join(".complete");
    if done.is_file() {
        return Ok(Binaries { dir });
    }
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let lock_path = dir.join(".lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(io(format!("creating {}", lock_path.display())))?;
    if lock.try_lock().is_err() {
        progress("waiting for another process that is building the control plane");
        lock.lock()
            .map_err(io(format!("locking {}", lock_path.display())))?;
    }
    // Another process may have finished the build while this one waited.
    if !done.is_file() {
        build(&dir, progress)?;
        std::fs::write(&done, RELEASE).map_err(io(format!("writing {}", done.display())))?;
    }
    Ok(Binaries { dir })
}

fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("mendix-operator").join("control-plane")
}

/// Changes with any change of the pinned modules or our Go code.
fn sources_hash() -> String {
    let mut hash = Sha256::new();
    for (path, text) in SOURCES {
        hash.update(path.as_bytes());
        hash.update([0]);
        hash.update(text.as_bytes());
        hash.update([0]);
    }
    hex::encode(&hash.finalize()[..6])
}

fn build(dir: &Path, progress: &(dyn Fn(&str) + Sync)) -> Result<(), BuildError> {
    match Command::new("go").arg("version").output() {
        Ok(out) if out.status.success() => {}
        _ => return Err(BuildError::GoMissing),
    }
    let src = dir.join("src");
    for (path, text) in SOURCES {
        let file = src.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io(format!("creating {}", parent.display())))?;
        }
        std::fs::write(&file, text).map_err(io(format!("writing {}", file.display())))?;
    }
    let out = dir.join("build");
    std::fs::create_dir_all(&out).map_err(io(format!("creating {}", out.display())))?;
    let minor = RELEASE.split('.').nth(1).unwrap_or_default();
    let ldflags = format!(
        "-s -w -X k8s.io/component-base/version.gitVersion={RELEASE} \
         -X k8s.io/component-base/version.gitMajor=1 \
         -X k8s.io/component-base/version.gitMinor={minor} \
         -X k8s.io/component-base/version.gitTreeState=clean"
    );
    progress(&format!(
        "building the Kubernetes control plane {RELEASE} (kube-apiserver, etcd, \
         kube-controller-manager) with Go into {}: the first build takes 10-25 minutes on \
         two cores, later starts reuse it",
        dir.display()
    ));
    let started = Instant::now();
    let mut child = Command::new("go")
        .args(["build", "-v", "-trimpath", "-ldflags", &ldflags, "-o"])
        .arg(format!("{}/", out.display()))
        .args(PROGRAMS.map(|p| format!("./{p}")))
        .current_dir(&src)
        .env("CGO_ENABLED", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io("starting `go build`"))?;
    // `go build -v` names each package as it compiles it: count them for the progress line.
    let mut tail: Vec<String> = Vec::new();
    let mut packages = 0usize;
    let mut last_report = Instant::now();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            packages += 1;
            if last_report.elapsed() >= Duration::from_secs(30) {
                last_report = Instant::now();
                progress(&format!(
                    "still building the control plane: {packages} packages in {} s",
                    started.elapsed().as_secs()
                ));
            }
            tail.push(line);
            if tail.len() > 30 {
                tail.remove(0);
            }
        }
    }
    let status = child.wait().map_err(io("waiting for `go build`"))?;
    if !status.success() {
        return Err(BuildError::Go {
            status: status.to_string(),
            tail: tail.join("\n"),
        });
    }
    for program in PROGRAMS {
        let built = out.join(program);
        std::fs::rename(&built, dir.join(program))
            .map_err(io(format!("moving {}", built.display())))?;
    }
    progress(&format!(
        "built the control plane {RELEASE} in {} s",
        started.elapsed().as_secs()
    ));
    Ok(())
}
