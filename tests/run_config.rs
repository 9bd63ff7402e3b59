//! `mendix-operator run` with bad configuration fails at start, before touching any cluster,
//! with a message that names the flag (or environment variable) to fix.

use std::process::Command;

/// Runs the binary with `args` and `env`; returns (exit success, stderr).
fn run(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mendix-operator"));
    cmd.arg("run")
        .args(args)
        // No cluster: configuration errors must come before any connection attempt.
        .env("KUBECONFIG", dir.path().join("missing-kubeconfig"))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("RUST_LOG", "off");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fails_naming(args: &[&str], env: &[(&str, &str)], named: &[&str]) {
    let (ok, stderr) = run(args, env);
    assert!(!ok, "{args:?} {env:?} must fail");
    for n in named {
        assert!(
            stderr.contains(n),
            "{args:?} {env:?}: the message should name {n}: {stderr}"
        );
    }
}

#[test]
fn invalid_values_name_the_flag() {
    fails_naming(
        &["--mendix-cloud-url", "ftp://deploy.mendix.com"],
        &[],
        &["--mendix-cloud-url", "http or https"],
    );
    fails_naming(
        &["--private-cloud-url", "not a url"],
        &[],
        &["--private-cloud-url", "not a URL"],
    );
    fails_naming(
        &["--namespaces", "team-a,Team_B"],
        &[],
        &["--namespaces", "Team_B"],
    );
    fails_naming(&["--lease-duration", "1s"], &[], &["--lease-duration"]);
    fails_naming(
        &["--poll-initial", "2m", "--poll-max", "1m"],
        &[],
        &["--poll-initial", "--poll-max"],
    );
    fails_naming(
        &["--mendix-requests-per-second", "0"],
        &[],
        &["--mendix-requests-per-second"],
    );
    fails_naming(
        &[],
        &[("KUBE_MAX_IN_FLIGHT", "0")],
        &["--kube-max-in-flight", "at least 1"],
    );
}

#[test]
fn unparsable_values_name_the_flag() {
    fails_naming(
        &["--resync-period", "soon"],
        &[],
        &["--resync-period", "soon"],
    );
    fails_naming(&["--metrics-addr", "localhost"], &[], &["--metrics-addr"]);
    fails_naming(&["--log-format", "xml"], &[], &["--log-format", "json"]);
    fails_naming(&["--leader-election", "maybe"], &[], &["--leader-election"]);
}

#[test]
fn environment_variables_are_checked_like_flags() {
    fails_naming(
        &[],
        &[("RECONCILE_CONCURRENCY", "0")],
        &["--reconcile-concurrency"],
    );
    fails_naming(
        &[],
        &[("WATCH_NAMESPACES", "-bad-")],
        &["--namespaces", "-bad-"],
    );
    fails_naming(&[], &[("LOG_FORMAT", "yaml")], &["--log-format"]);
}

#[test]
fn a_good_configuration_gets_as_far_as_the_cluster() {
    // Valid flags pass validation; the missing kubeconfig is then reported as such.
    let (ok, stderr) = run(&["--namespaces", "team-a,team-b"], &[]);
    assert!(!ok);
    assert!(
        stderr.contains("cannot load the Kubernetes configuration"),
        "{stderr}"
    );
}

#[test]
fn help_documents_every_setting_with_its_environment_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_mendix-operator"))
        .args(["run", "--help"])
        .output()
        .expect("the binary runs");
    let help = String::from_utf8_lossy(&out.stdout);
    for (flag, env) in [
        ("--mendix-cloud-url", "MENDIX_CLOUD_URL"),
        ("--private-cloud-url", "MENDIX_PRIVATE_CLOUD_URL"),
        ("--namespaces", "WATCH_NAMESPACES"),
        ("--reconcile-concurrency", "RECONCILE_CONCURRENCY"),
        ("--mendix-max-in-flight", "MENDIX_MAX_IN_FLIGHT"),
        ("--kube-max-in-flight", "KUBE_MAX_IN_FLIGHT"),
        ("--mendix-requests-per-second", "MENDIX_REQUESTS_PER_SECOND"),
        ("--resync-period", "RESYNC_PERIOD"),
        ("--log-format", "LOG_FORMAT"),
        ("--metrics-addr", "METRICS_ADDR"),
        ("--leader-election", "LEADER_ELECTION"),
        ("--lease-duration", "LEASE_DURATION"),
    ] {
        assert!(help.contains(flag), "{flag} in --help");
        assert!(help.contains(env), "{env} in --help");
    }
}

#[test]
fn readme_documents_every_flag_of_run() {
    let out = Command::new(env!("CARGO_BIN_EXE_mendix-operator"))
        .args(["run", "--help"])
        .output()
        .expect("the binary runs");
    let help = String::from_utf8_lossy(&out.stdout);
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README exists");
    let section = readme
        .split("## Configuration")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a Configuration section");
    let flags: Vec<&str> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[' || c == '<')
        .filter(|w| w.starts_with("--") && w.len() > 2 && *w != "--help")
        .collect();
    assert!(flags.len() >= 15, "flags found in --help: {flags:?}");
    for flag in flags {
        assert!(
            section.contains(&format!("`{flag}`")),
            "README's Configuration section lacks {flag}"
        );
    }
}
