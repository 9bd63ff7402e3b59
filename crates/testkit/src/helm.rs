//! The real Helm (`helm.sh/helm/v4/cmd/helm`, pinned in `crates/testkit/tools/helm/go.mod`),
//! built with Go on first use. Each [`Helm`] has its own cache, configuration and data
//! directories and its own kubeconfig, so a test never reads the user's Helm repositories,
//! plugins or clusters, and never needs the network (charts are local directories).

use std::path::{Path, PathBuf};

use crate::{Run, WAIT};

/// The helm binary, built from `crates/testkit/tools/helm/` on first use.
pub fn binary() -> PathBuf {
    crate::gotool::build(
        &crate::gotool::module("tools/helm"),
        "helm.sh/helm/v4/cmd/helm",
        &[],
        "helm",
    )
}

/// Helm in a home of its own.
pub struct Helm {
    binary: PathBuf,
    kubeconfig: PathBuf,
    home: tempfile::TempDir,
}

impl Helm {
    /// Helm without a cluster (lint, template): its kubeconfig does not exist.
    pub fn offline() -> Self {
        let home = tempfile::tempdir().expect("a home for helm");
        let kubeconfig = home.path().join("no-kubeconfig");
        Helm {
            binary: binary(),
            kubeconfig,
            home,
        }
    }

    /// Helm talking to the cluster of `kubeconfig` (copied: the caller's file may go first).
    pub fn with_kubeconfig(kubeconfig: &Path) -> Self {
        let helm = Self::offline();
        let own = helm.home.path().join("kubeconfig");
        std::fs::copy(kubeconfig, &own).expect("kubeconfig copied for helm");
        Helm {
            kubeconfig: own,
            ..helm
        }
    }

    /// helm with `args`, in this home.
    fn command(&self, args: &[&str]) -> std::process::Command {
        let home = self.home.path();
        let mut command = std::process::Command::new(&self.binary);
        // Whatever Helm settings the caller's environment carries (namespace, driver, repository
        // files) stay out of the test.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("HELM_") {
                command.env_remove(&name);
            }
        }
        command
            .args(args)
            .env("HOME", home)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"))
            .env("HELM_NO_PLUGINS", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command
    }

    /// Runs helm; a failure guard of [`WAIT`] * 1.5 (nothing here waits on pods).
    pub async fn run(&self, args: &[&str]) -> Run {
        let child = tokio::process::Command::from(self.command(args))
            .kill_on_drop(true)
            .spawn()
            .expect("helm runs");
        let out = tokio::time::timeout(WAIT + WAIT / 2, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("helm {args:?} did not finish"))
            .expect("helm output");
        run_of(out)
    }

    /// Runs helm without a runtime (commands that need no cluster).
    pub fn run_blocking(&self, args: &[&str]) -> Run {
        run_of(self.command(args).output().expect("helm runs"))
    }

    /// Runs helm and fails the test with its output when it fails; its stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert!(
            run.ok,
            "helm {args:?} failed:\n{}\n{}",
            run.stdout, run.stderr
        );
        run.stdout
    }
}

fn run_of(out: std::process::Output) -> Run {
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The chart's directory in the repository.
pub fn chart_dir() -> PathBuf {
    PathBuf::from(crate::repo_path("charts/mendix-operator"))
}

/// The chart rendered as users install it, for scanners: `(name, YAML)` with its defaults
/// (`helm-defaults`) and with each values file of its `ci/` directory (`helm-ci-<file stem>`),
/// as release `mendix-operator` in namespace `mendix-operator`.
pub fn rendered_for_scan() -> Vec<(String, String)> {
    let helm = Helm::offline();
    let chart = chart_dir();
    let chart = chart.to_str().expect("a UTF-8 path");
    let mut values: Vec<PathBuf> = std::fs::read_dir(chart_dir().join("ci"))
        .expect("the chart's ci/ directory")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    values.sort();
    let mut renders = Vec::new();
    let mut render = |name: String, extra: &[&str]| {
        let mut args = vec![
            "template",
            "mendix-operator",
            chart,
            "--namespace",
            "mendix-operator",
        ];
        args.extend_from_slice(extra);
        let run = helm.run_blocking(&args);
        assert!(run.ok, "helm {args:?} failed:\n{}", run.stderr);
        renders.push((name, run.stdout));
    };
    render("helm-defaults".to_string(), &[]);
    for file in &values {
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a UTF-8 file name");
        let name = format!("helm-ci-{}", stem.trim_end_matches("-values"));
        render(name, &["--values", file.to_str().expect("a UTF-8 path")]);
    }
    renders
}

/// The objects of a multi-document YAML stream (helm template, helm get manifest), without empty
/// documents.
pub fn objects(yaml: &str) -> Vec<serde_json::Value> {
    crate::yaml_objects(yaml)
}
