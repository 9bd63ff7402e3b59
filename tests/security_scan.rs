//! What a platform team's security scanner says about the manifests users apply: checkov (an
//! IaC scanner, from PyPI; `.ci/run` installs it into `target/checkov/`) over the kustomize
//! installs of deploy/ and the Helm chart rendered with its default and CI values. No check may
//! fail; a skipped check must carry its reason in the manifest it concerns (checkov reads
//! `checkov.io/skip<N>: CKV_ID=reason` annotations).

use std::path::{Path, PathBuf};
use std::process::Command;

use mendix_testkit::repo_path;
use serde_json::Value;

/// checkov from `CHECKOV`, the project's virtualenv, or PATH.
fn checkov() -> PathBuf {
    if let Some(path) = std::env::var_os("CHECKOV") {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(repo_path("target/checkov/bin/checkov"));
    if venv.exists() {
        return venv;
    }
    PathBuf::from("checkov")
}

/// The manifests a user applies, one file per install.
fn rendered_installs(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for (name, kustomization) in [
        ("kustomize-cluster-wide", "deploy"),
        ("kustomize-namespaced", "deploy/namespaced"),
    ] {
        let yaml = mendix_testkit::kustomize_yaml(kustomization);
        std::fs::write(dir.join(format!("{name}.yaml")), yaml).expect("rendered install written");
        names.push(name.to_string());
    }
    for (name, yaml) in mendix_testkit::helm::rendered_for_scan() {
        std::fs::write(dir.join(format!("{name}.yaml")), yaml).expect("rendered chart written");
        names.push(name);
    }
    names
}

#[test]
fn checkov_finds_no_failed_check_in_deploy_or_the_chart() {
    // Not a dot directory (tempfile's default name): checkov skips those.
    let dir = tempfile::Builder::new()
        .prefix("mendix-operator-scan")
        .tempdir()
        .expect("temp dir");
    let installs = rendered_installs(dir.path());
    let out = Command::new(checkov())
        .args(["--framework", "kubernetes", "--skip-download"])
        .args(["--output", "json", "--directory"])
        .arg(dir.path())
        .output()
        .expect("checkov runs (python3 -m venv target/checkov && target/checkov/bin/pip install checkov)");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "checkov's JSON report ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    // One report per check type; with only Kubernetes manifests that is one object.
    let report = match report {
        Value::Array(mut reports) if reports.len() == 1 => reports.remove(0),
        other => other,
    };
    assert_eq!(
        report["check_type"], "kubernetes",
        "one Kubernetes report: {report}"
    );
    let results = &report["results"];
    let failed: Vec<String> = results["failed_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{} {} ({}) in {}",
                c["check_id"].as_str().unwrap_or_default(),
                c["check_name"].as_str().unwrap_or_default(),
                c["resource"].as_str().unwrap_or_default(),
                c["file_path"].as_str().unwrap_or_default()
            )
        })
        .collect();
    let passed = results["passed_checks"].as_array().map_or(0, Vec::len);
    let skipped = results["skipped_checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    eprintln!(
        "checkov {}: {passed} passed, {} failed, {} skipped over {}",
        report["summary"]["checkov_version"],
        failed.len(),
        skipped.len(),
        installs.join(", ")
    );
    assert!(
        failed.is_empty(),
        "checkov failed checks:\n{}",
        failed.join("\n")
    );
    for check in &skipped {
        let reason = check["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or_default();
        assert!(
            reason.len() > 10,
            "{} is skipped without a reason in {}",
            check["check_id"],
            check["file_path"]
        );
    }
    // Every install was scanned: each file's Deployment was judged.
    for install in &installs {
        assert!(
            results["passed_checks"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| {
                    c["file_path"]
                        .as_str()
                        .is_some_and(|f| f.contains(install.as_str()))
                        && c["resource"]
                            .as_str()
                            .is_some_and(|r| r.starts_with("Deployment."))
                }),
            "checkov judged no Deployment in {install}"
        );
    }
}
