//! The `kubectl-mendix` plugin binary against the end-to-end Harness: every verb changes what it
//! should (annotations, then the operator's remote work), `get` shows the resources, `logs`
//! downloads a Mendix Cloud app log, `import` prints resources that adopt a whole landscape
//! without a write, and `kubectl mendix` works through the real kubectl.

use std::path::{Path, PathBuf};

use kube::ResourceExt;
use kube::api::Api;
use mendix_operator::crd::{MendixEnvironment, MendixNamespace, MendixPackage};
use mendix_sandbox::demo;
use mendix_testkit::*;

const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-mendix");

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs the plugin (async, so the in-process operator and sandboxes keep running meanwhile).
async fn plugin(h: &Harness, kubeconfig: &Path, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(PLUGIN)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("MENDIX_CLOUD_URL", h.mendix_server.cloud_v1_url())
        .env(
            "MENDIX_PRIVATE_CLOUD_URL",
            h.mendix_server.private_cloud_v4_url(),
        )
        .output()
        .await
        .expect("kubectl-mendix runs");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

async fn plugin_ok(h: &Harness, kubeconfig: &Path, args: &[&str]) -> String {
    let run = plugin(h, kubeconfig, args).await;
    assert!(
        run.ok,
        "kubectl-mendix {args:?} failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    run.stdout
}

async fn plugin_err(h: &Harness, kubeconfig: &Path, args: &[&str]) -> String {
    let run = plugin(h, kubeconfig, args).await;
    assert!(
        !run.ok,
        "kubectl-mendix {args:?} should fail:\n{}",
        run.stdout
    );
    run.stderr
}

/// The admin's kubeconfig as the control plane writes it: namespace `default`, context
/// `mendix-control-plane`.
fn kubeconfig(_h: &Harness, dir: &Path) -> PathBuf {
    let path = dir.join("kubeconfig");
    control_plane()
        .write_admin_kubeconfig(&path)
        .expect("kubeconfig written");
    path
}

async fn deploy_both_platforms(h: &Harness) {
    h.create::<MendixPackage>(&format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixPackage
metadata: {{name: calc-1}}
spec:
  target: {{mendixCloud: {{appId: {app}}}}}
  credentialsSecretRef: {{name: {CLOUD_SECRET}}}
  source: {{build: {{branch: main, revision: {rev}, version: 1.0.0}}}}
",
        app = demo::CLOUD_APP_ID,
        rev = demo::GOOD_REVISION
    ))
    .await;
    h.create::<MendixPackage>(&format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixPackage
metadata: {{name: pc-1}}
spec:
  target: {{privateCloud: {{appId: {app}}}}}
  credentialsSecretRef: {{name: {PC_SECRET}}}
  source: {{build: {{branch: main, revision: {rev}, version: 1.0.1}}}}
",
        app = demo::PC_APP_ID,
        rev = demo::GOOD_REVISION
    ))
    .await;
    h.create::<MendixEnvironment>(&format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: cloud}}
spec:
  target: {{mendixCloud: {{appId: {app}, mode: Test}}}}
  credentialsSecretRef: {{name: {CLOUD_SECRET}}}
  packageRef: {{name: calc-1}}
",
        app = demo::CLOUD_APP_ID
    ))
    .await;
    h.create::<MendixEnvironment>(&format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: pc}}
spec:
  target: {{privateCloud: {{appId: {app}, namespaceId: {ns}, environmentId: {env}}}}}
  credentialsSecretRef: {{name: {PC_SECRET}}}
  packageRef: {{name: pc-1}}
  instances: 1
",
        app = demo::PC_APP_ID,
        ns = demo::PC_NAMESPACE_ID,
        env = demo::PC_ENVIRONMENT_TEST
    ))
    .await;
    h.wait_environment("cloud", environment_ready).await;
    h.wait_environment("pc", environment_ready).await;
}

/// Completed starts / stops of the Mendix Cloud Test environment, as the sandbox counts them.
fn cloud_done(h: &Harness, what: &str) -> u64 {
    let state = h.mendix.state_json();
    state["cloud"]["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["environments"].as_array().cloned().unwrap_or_default())
        .find(|e| e["mode"] == "Test")
        .and_then(|e| e[what].as_u64())
        .unwrap_or(0)
}

fn pc_manifest_puts(h: &Harness) -> u64 {
    h.mendix.stats().environment_count(
        demo::PC_APP_ID,
        demo::PC_ENVIRONMENT_TEST,
        "update_environment_for_namespace",
    )
}

fn annotation(obj: &impl ResourceExt, key: &str) -> Option<String> {
    obj.annotations().get(key).cloned()
}

fn restarted_at(e: &MendixEnvironment) -> Option<String> {
    e.status.as_ref().and_then(|s| s.last_restarted_at.clone())
}

#[tokio::test]
async fn verbs_annotate_and_the_operator_acts_once() {
    let h = Harness::started().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let kc = kubeconfig(&h, dir.path());
    deploy_both_platforms(&h).await;

    // get: every resource of the namespace with Ready, phase and version.
    let table = plugin_ok(&h, &kc, &["get", "-n", &h.ns]).await;
    let header = table.lines().next().expect("header");
    for column in [
        "KIND", "NAME", "READY", "PHASE", "STEP", "VERSION", "MESSAGE",
    ] {
        assert!(header.contains(column), "{table}");
    }
    for (kind, name, phase, version) in [
        ("mxenv", "cloud", "Running", "1.0.0"),
        ("mxenv", "pc", "Running", "1.0.1"),
        ("mxpkg", "calc-1", "Ready", "1.0.0"),
        ("mxpkg", "pc-1", "Ready", "1.0.1"),
    ] {
        let row = table
            .lines()
            .find(|l| l.split_whitespace().take(2).eq([kind, name]))
            .unwrap_or_else(|| panic!("{kind}/{name} in:\n{table}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(&cells[2..4], ["True", phase], "{row}");
        assert!(cells.contains(&version), "{row}");
    }
    assert_eq!(table.lines().count(), 5, "{table}");
    // The kubeconfig's namespace is `default`: nothing there; -A finds them with a namespace.
    assert!(
        plugin_ok(&h, &kc, &["get"])
            .await
            .contains("No Mendix resources found in default")
    );
    let all = plugin_ok(&h, &kc, &["get", "-A", "--context", "mendix-control-plane"]).await;
    assert!(all.starts_with("NAMESPACE"), "{all}");
    assert_eq!(
        all.lines().filter(|l| l.starts_with(&h.ns)).count(),
        4,
        "{all}"
    );
    let err = plugin_err(&h, &kc, &["get", "--context", "nope"]).await;
    assert!(err.contains("nope"), "{err}");

    // restart (by kind/name): annotation set to now, one stop/start by the operator.
    let (starts, stops) = (cloud_done(&h, "starts"), cloud_done(&h, "stops"));
    let out = plugin_ok(&h, &kc, &["restart", "mxenv/cloud", "-n", &h.ns]).await;
    assert!(out.contains("mxenv/cloud restart requested"), "{out}");
    let env = h.environments().get("cloud").await.expect("cloud");
    let at = annotation(&env, "mendixops.io/restartedAt").expect("restartedAt set");
    chrono::DateTime::parse_from_rfc3339(&at).expect("an RFC 3339 time");
    let at_seen = at.clone();
    h.wait_environment("cloud", move |e| {
        environment_ready(e) && restarted_at(e).as_deref() == Some(at_seen.as_str())
    })
    .await;
    assert_eq!(cloud_done(&h, "starts"), starts + 1, "one start");
    assert_eq!(cloud_done(&h, "stops"), stops + 1, "one stop");

    // restart (bare name) on Private Cloud: scale to 0 and back, once.
    let puts = pc_manifest_puts(&h);
    plugin_ok(&h, &kc, &["restart", "pc", "--namespace", &h.ns]).await;
    let at = annotation(
        &h.environments().get("pc").await.expect("pc"),
        "mendixops.io/restartedAt",
    )
    .expect("restartedAt set");
    h.wait_environment("pc", move |e| {
        environment_ready(e) && restarted_at(e).as_deref() == Some(at.as_str())
    })
    .await;
    assert_eq!(pc_manifest_puts(&h), puts + 2, "scale to 0 and back");

    // clean: the annotation set to now, the environment cleaned, deployed and started again.
    let (cleans, starts) = (
        h.mendix.stats().count("v1_clean_environment"),
        cloud_done(&h, "starts"),
    );
    let out = plugin_ok(&h, &kc, &["clean", "cloud", "-n", &h.ns]).await;
    assert!(
        out.contains("mxenv/cloud clean requested") && out.contains("all its data"),
        "{out}"
    );
    let at = annotation(
        &h.environments().get("cloud").await.expect("cloud"),
        "mendixops.io/cleanRequestedAt",
    )
    .expect("cleanRequestedAt set");
    h.wait_environment("cloud", move |e| {
        environment_ready(e)
            && e.status.as_ref().and_then(|s| s.last_cleaned_at.as_deref()) == Some(at.as_str())
    })
    .await;
    assert_eq!(h.mendix.stats().count("v1_clean_environment"), cleans + 1);
    assert_eq!(cloud_done(&h, "starts"), starts + 1, "started again");

    // A package cannot be restarted or cleaned; unknown names are named in the error.
    let err = plugin_err(&h, &kc, &["restart", "mxpkg/calc-1", "-n", &h.ns]).await;
    assert!(err.contains("only a MendixEnvironment"), "{err}");
    let err = plugin_err(&h, &kc, &["clean", "mxpkg/calc-1", "-n", &h.ns]).await;
    assert!(err.contains("can be cleaned"), "{err}");
    let err = plugin_err(&h, &kc, &["reconcile", "missing", "-n", &h.ns]).await;
    assert!(err.contains("missing") && err.contains(&h.ns), "{err}");

    // reconcile: the annotation is echoed in status once the operator reconciled.
    plugin_ok(&h, &kc, &["reconcile", "mxpkg/calc-1", "-n", &h.ns]).await;
    let pkg = h.packages().get("calc-1").await.expect("calc-1");
    let asked = annotation(&pkg, "mendixops.io/reconcileRequestedAt").expect("annotation set");
    h.wait_package("calc-1", move |p| {
        p.status
            .as_ref()
            .and_then(|s| s.reconcile_requested_at.as_deref())
            == Some(asked.as_str())
    })
    .await;
    // A bare name that is only a package resolves to the package.
    plugin_ok(&h, &kc, &["reconcile", "pc-1", "-n", &h.ns]).await;
    let pkg = h.packages().get("pc-1").await.expect("pc-1");
    assert!(annotation(&pkg, "mendixops.io/reconcileRequestedAt").is_some());

    // pause: a restart asked for meanwhile waits; resume: it happens, once.
    let (starts, stops) = (cloud_done(&h, "starts"), cloud_done(&h, "stops"));
    let out = plugin_ok(&h, &kc, &["pause", "cloud", "-n", &h.ns]).await;
    assert!(out.contains("mxenv/cloud paused"), "{out}");
    let env = h.environments().get("cloud").await.expect("cloud");
    assert_eq!(
        annotation(&env, "mendixops.io/paused").as_deref(),
        Some("true")
    );
    plugin_ok(&h, &kc, &["restart", "cloud", "-n", &h.ns]).await;
    h.wait_environment("cloud", |e| {
        e.status.as_ref().is_some_and(|s| {
            s.phase == Some(mendix_operator::crd::environment::EnvironmentPhase::Paused)
        })
    })
    .await;
    let paused_table = plugin_ok(&h, &kc, &["get", "-n", &h.ns]).await;
    assert!(
        paused_table
            .lines()
            .any(|l| l.starts_with("mxenv") && l.contains(" cloud ") && l.contains("Paused")),
        "{paused_table}"
    );
    assert_eq!(cloud_done(&h, "starts"), starts, "no restart while paused");
    plugin_ok(&h, &kc, &["resume", "mxenv/cloud", "-n", &h.ns]).await;
    let env = h.environments().get("cloud").await.expect("cloud");
    assert_eq!(
        annotation(&env, "mendixops.io/paused"),
        None,
        "annotation removed"
    );
    let at = annotation(&env, "mendixops.io/restartedAt").expect("restartedAt");
    h.wait_environment("cloud", move |e| {
        environment_ready(e) && restarted_at(e).as_deref() == Some(at.as_str())
    })
    .await;
    assert_eq!(cloud_done(&h, "starts"), starts + 1);
    assert_eq!(cloud_done(&h, "stops"), stops + 1);
}

#[tokio::test]
async fn logs_download_the_mendix_cloud_app_log() {
    let h = Harness::started().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let kc = kubeconfig(&h, dir.path());
    deploy_both_platforms(&h).await;

    let before = h.mendix.stats().count("v1_app_logs");
    let log = plugin_ok(
        &h,
        &kc,
        &["logs", "mxenv/cloud", "--date", "2026-11-20", "-n", &h.ns],
    )
    .await;
    assert!(
        log.starts_with("2026-11-20T08:00:00Z INFO - Core: Mendix Runtime started"),
        "{log}"
    );
    assert_eq!(h.mendix.stats().count("v1_app_logs"), before + 1);
    // The access log of the same day, through its own call.
    let access = plugin_ok(
        &h,
        &kc,
        &[
            "logs",
            "cloud",
            "--access",
            "--date",
            "2026-11-20",
            "-n",
            &h.ns,
        ],
    )
    .await;
    assert!(
        access.starts_with("2026-11-20T08:00:00Z") && access.contains("session started"),
        "{access}"
    );
    assert_eq!(h.mendix.stats().count("v1_access_logs"), 1);
    // Today's log by default.
    let today = chrono::Utc::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    let log = plugin_ok(&h, &kc, &["logs", "cloud", "-n", &h.ns]).await;
    assert!(log.starts_with(&today), "{log}");

    let err = plugin_err(&h, &kc, &["logs", "pc", "-n", &h.ns]).await;
    assert!(
        err.contains("Private Cloud") && err.contains("not available"),
        "{err}"
    );
    let err = plugin_err(
        &h,
        &kc,
        &["logs", "cloud", "--date", "20-11-2026", "-n", &h.ns],
    )
    .await;
    assert!(err.contains("YYYY-MM-DD"), "{err}");
    // Wrong credentials: the Mendix error, never the key.
    h.put_secret(
        CLOUD_SECRET,
        &[
            ("username", demo::CLOUD_USERNAME),
            ("apiKey", "wrong-key-123"),
        ],
    )
    .await;
    let err = plugin_err(&h, &kc, &["logs", "cloud", "-n", &h.ns]).await;
    assert!(err.contains("cannot get the app log"), "{err}");
    assert!(!err.contains("wrong-key-123"), "{err}");
}

#[tokio::test]
async fn kubectl_runs_the_plugin_from_path() {
    let h = Harness::started().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let kc = kubeconfig(&h, dir.path());
    deploy_both_platforms(&h).await;

    let plugin_dir = Path::new(PLUGIN).parent().expect("plugin directory");
    let path = format!(
        "{}:{}",
        plugin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = tokio::process::Command::new("kubectl")
        .args(["mendix", "get", "-n", &h.ns])
        .env("PATH", &path)
        .env("KUBECONFIG", &kc)
        .output()
        .await
        .expect("kubectl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl mendix get failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("KIND"), "{stdout}");
    for name in [" cloud ", " pc ", " calc-1 ", " pc-1 "] {
        assert!(stdout.contains(name), "{name} in:\n{stdout}");
    }
    // --kubeconfig wins over $KUBECONFIG, as in kubectl.
    let out = tokio::process::Command::new(PLUGIN)
        .args([
            "--kubeconfig",
            &kc.display().to_string(),
            "get",
            "-n",
            &h.ns,
        ])
        .env("KUBECONFIG", dir.path().join("missing"))
        .output()
        .await
        .expect("kubectl-mendix runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);
    let out = tokio::process::Command::new(PLUGIN)
        .args(["get"])
        .env("KUBECONFIG", dir.path().join("missing"))
        .output()
        .await
        .expect("kubectl-mendix runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("KUBECONFIG"),
        "the error says how to point at a kubeconfig"
    );
    // kubectl lists it among its plugins.
    let list = tokio::process::Command::new("kubectl")
        .args(["plugin", "list"])
        .env("PATH", &path)
        .output()
        .await
        .expect("kubectl runs");
    assert!(String::from_utf8_lossy(&list.stdout).contains("kubectl-mendix"));
}

/// `apps --secret`: every app and environment the Secret's credentials can see, on either
/// platform (told apart by the Secret's keys), with nothing written to Mendix.
#[tokio::test]
async fn apps_lists_what_the_credentials_can_see() {
    let h = Harness::started().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let kc = kubeconfig(&h, dir.path());
    let cloud = plugin_ok(&h, &kc, &["apps", "--secret", CLOUD_SECRET, "-n", &h.ns]).await;
    let header = cloud.lines().next().unwrap_or_default();
    for column in ["PLATFORM", "APP", "ENVIRONMENT", "STATUS", "URL"] {
        assert!(header.contains(column), "{cloud}");
    }
    for mode in ["Test", "Acceptance", "Production"] {
        assert!(
            cloud.lines().any(|l| l.contains("Mendix Cloud")
                && l.contains(demo::CLOUD_APP_ID)
                && l.contains(mode)),
            "{mode} in:\n{cloud}"
        );
    }
    let private = plugin_ok(&h, &kc, &["apps", "--secret", PC_SECRET, "-n", &h.ns]).await;
    for environment in [demo::PC_ENVIRONMENT_TEST, demo::PC_ENVIRONMENT_PRODUCTION] {
        assert!(
            private.lines().any(|l| l.contains("Private Cloud")
                && l.contains(demo::PC_APP_ID)
                && l.contains(environment)),
            "{environment} in:\n{private}"
        );
    }
    // A Free App: created once, then Mendix's own refusals, named.
    let project = "0b5a7c2e-3f41-4a8e-9d6b-1c2d3e4f5a6b";
    let args = [
        "create-free-app",
        "--project-id",
        project,
        "--secret",
        CLOUD_SECRET,
        "-n",
        &h.ns,
    ];
    let created = plugin_ok(&h, &kc, &args).await;
    assert!(
        created.contains("Free App free-0b5a7c2e created") && created.contains(project),
        "{created}"
    );
    let listed = plugin_ok(&h, &kc, &["apps", "--secret", CLOUD_SECRET, "-n", &h.ns]).await;
    assert!(
        listed.lines().any(|l| l.contains("free-0b5a7c2e")),
        "an app without environments is listed too:
{listed}"
    );
    let again = plugin_err(&h, &kc, &args).await;
    assert!(again.contains("APPLICATION_ALREADY_EXISTS"), "{again}");
    let bad = plugin_err(
        &h,
        &kc,
        &[
            "create-free-app",
            "--project-id",
            "nope",
            "--secret",
            CLOUD_SECRET,
            "-n",
            &h.ns,
        ],
    )
    .await;
    assert!(bad.contains("INVALID_PROJECTID"), "{bad}");
    assert_eq!(
        h.mendix.stats().count("v1_create_free_app"),
        3,
        "each sent once"
    );

    // mxpc-cli: the versions, then one build downloaded (Mendix redirects to its CDN).
    let versions = plugin_ok(&h, &kc, &["mxpc-cli", "--secret", PC_SECRET, "-n", &h.ns]).await;
    assert!(
        versions.starts_with("VERSION") && versions.contains("2.21.0") && versions.contains("arm"),
        "{versions}"
    );
    let output = dir.path().join("mxpc-cli");
    let written = plugin_ok(
        &h,
        &kc,
        &[
            "mxpc-cli",
            "--secret",
            PC_SECRET,
            "--download",
            "2.21.0",
            "--os",
            "macos",
            "--arch",
            "arm",
            "--output",
            &output.display().to_string(),
            "-n",
            &h.ns,
        ],
    )
    .await;
    assert!(
        written.contains("mxpc-cli 2.21.0 for macos/arm written"),
        "{written}"
    );
    let script = std::fs::read_to_string(&output).expect("downloaded");
    assert!(script.contains("mxpc-cli 2.21.0 (macos/arm)"), "{script}");
    let err = plugin_err(
        &h,
        &kc,
        &[
            "mxpc-cli",
            "--secret",
            PC_SECRET,
            "--download",
            "9.9.9",
            "-n",
            &h.ns,
        ],
    )
    .await;
    assert!(err.contains("9.9.9"), "{err}");
    let err = plugin_err(
        &h,
        &kc,
        &["mxpc-cli", "--secret", CLOUD_SECRET, "-n", &h.ns],
    )
    .await;
    assert!(err.contains("pat"), "{err}");

    let err = plugin_err(&h, &kc, &["apps", "--secret", "missing", "-n", &h.ns]).await;
    assert!(
        err.contains("missing") && err.contains("not found"),
        "{err}"
    );
    let stats = h.mendix.stats();
    assert!(stats.count("v1_list_apps") >= 1 && stats.count("list_app_manifests") >= 1);
    assert_eq!(
        stats.count("v1_start_environment")
            + stats.count("v1_stop_environment")
            + stats.count("update_environment_for_namespace"),
        0,
        "nothing was written"
    );
}

/// The row of `table` whose first cells are `first`, split on the column gaps (cells may hold
/// single spaces: `Mendix Cloud`, `not installed`).
fn row<'a>(table: &'a str, first: &[&str]) -> Vec<&'a str> {
    table
        .lines()
        .map(|l| l.split("   ").map(str::trim).filter(|c| !c.is_empty()))
        .map(Iterator::collect::<Vec<_>>)
        .find(|cells| cells.starts_with(first))
        .unwrap_or_else(|| panic!("a row starting {first:?} in:\n{table}"))
}

/// The value of `key:` in the details above an `apps APP` table.
fn detail<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("`{key}:` in:\n{out}"))
}

/// `apps --secret NAME APP`: one app's details and environments, read with `get_app`, on
/// either platform; an app Mendix does not know is named in the error.
#[tokio::test]
async fn apps_shows_one_app_with_its_environments() {
    let h = Harness::new().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let kc = kubeconfig(&h, dir.path());
    let (project, cloud_environments) = h.mendix.with_world(|w| {
        let app = w
            .cloud
            .apps
            .iter()
            .find(|a| a.app_id == demo::CLOUD_APP_ID)
            .expect("the demo's Mendix Cloud app");
        let environments: Vec<(String, String)> = app
            .environments
            .iter()
            .map(|e| (e.mode.clone(), e.environment_id.clone()))
            .collect();
        (app.project_id.clone(), environments)
    });
    // Another app the credentials see, which must not be shown.
    plugin_ok(
        &h,
        &kc,
        &[
            "create-free-app",
            "--project-id",
            "0b5a7c2e-3f41-4a8e-9d6b-1c2d3e4f5a6b",
            "--secret",
            CLOUD_SECRET,
            "-n",
            &h.ns,
        ],
    )
    .await;

    let cloud = plugin_ok(
        &h,
        &kc,
        &[
            "apps",
            "--secret",
            CLOUD_SECRET,
            demo::CLOUD_APP_ID,
            "-n",
            &h.ns,
        ],
    )
    .await;
    assert_eq!(detail(&cloud, "Platform"), "Mendix Cloud", "{cloud}");
    assert_eq!(detail(&cloud, "App"), demo::CLOUD_APP_ID, "{cloud}");
    assert_eq!(detail(&cloud, "Name"), "Calculation App", "{cloud}");
    assert_eq!(detail(&cloud, "Project"), project, "{cloud}");
    assert_eq!(cloud_environments.len(), 3);
    for (mode, id) in &cloud_environments {
        let cells = row(&cloud, &[mode.as_str(), id.as_str()]);
        assert_eq!(cells[2], "Stopped", "{cloud}");
    }
    assert!(
        !cloud.contains("free-0b5a7c2e"),
        "only the app asked for:\n{cloud}"
    );
    let stats = h.mendix.stats();
    assert_eq!(stats.count("v1_get_app"), 1, "read with get_app");
    assert_eq!(stats.count("v1_list_apps"), 0, "not by listing every app");

    let private = plugin_ok(
        &h,
        &kc,
        &["apps", "--secret", PC_SECRET, demo::PC_APP_ID, "-n", &h.ns],
    )
    .await;
    assert_eq!(detail(&private, "Platform"), "Private Cloud", "{private}");
    assert_eq!(detail(&private, "App"), demo::PC_APP_ID, "{private}");
    assert_eq!(detail(&private, "Name"), "calc-private", "{private}");
    for environment in [demo::PC_ENVIRONMENT_TEST, demo::PC_ENVIRONMENT_PRODUCTION] {
        let cells = row(&private, &[environment, environment]);
        assert_eq!(
            &cells[2..4],
            [demo::PC_CLUSTER_ID, "mendix-apps"],
            "{private}"
        );
        assert!(cells.contains(&demo::PC_EXISTING_PACKAGE_ID), "{private}");
    }
    assert_eq!(h.mendix.stats().count("get_app_manifest"), 1);
    assert_eq!(h.mendix.stats().count("list_app_manifests"), 0);

    // Unknown apps: named, with a non-zero exit and no panic.
    let err = plugin_err(
        &h,
        &kc,
        &["apps", "--secret", CLOUD_SECRET, "no-such-app", "-n", &h.ns],
    )
    .await;
    assert!(
        err.starts_with("error: app no-such-app not found") && !err.contains("panicked"),
        "{err}"
    );
    let unknown = "00000000-0000-4000-8000-000000000000";
    let err = plugin_err(
        &h,
        &kc,
        &["apps", "--secret", PC_SECRET, unknown, "-n", &h.ns],
    )
    .await;
    assert!(
        err.starts_with(&format!("error: app {unknown} not found")) && !err.contains("panicked"),
        "{err}"
    );
}

/// `clusters --secret NAME`: every cluster and namespace the PAT manages, one row per namespace
/// with its operator version, never the namespace's installer secret; Private Cloud's only.
#[tokio::test]
async fn clusters_lists_what_the_pat_manages_without_secrets() {
    let h = Harness::new().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let kc = kubeconfig(&h, dir.path());
    // Beside the demo's installed `mendix-apps`: a namespace mxpc-cli has not installed yet,
    // with an installer secret of its own, and a cluster without namespaces.
    const INSTALLER_SECRET: &str = "aW5zdGFsbGVyLXNlY3JldC1vZi1tZW5kaXgtc3RhZ2luZw==";
    const STAGING_ID: &str = "9c8b7a6f-5e4d-4c3b-8a29-1f0e9d8c7b6a";
    const EMPTY_CLUSTER_ID: &str = "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d";
    let staging: mendix_sandbox::world::Namespace = serde_yaml::from_str(&format!(
        "{{namespaceId: {STAGING_ID}, name: mendix-staging, secret: '{INSTALLER_SECRET}', installed: false}}"
    ))
    .expect("a namespace");
    let empty: mendix_sandbox::world::Cluster = serde_yaml::from_str(&format!(
        "{{clusterId: {EMPTY_CLUSTER_ID}, name: spare-cluster, clusterType: eks}}"
    ))
    .expect("a cluster");
    let demo_secret = h.mendix.with_world(|w| {
        let cluster = w
            .private_cloud
            .clusters
            .iter_mut()
            .find(|c| c.cluster_id == demo::PC_CLUSTER_ID)
            .expect("the demo cluster");
        cluster.namespaces.push(staging);
        let secret = cluster.namespaces[0].secret.clone();
        w.private_cloud.clusters.push(empty);
        secret
    });
    // The sandbox's GET carries both installer secrets, as Mendix's does.
    let mendix = mendix_client::Mendix::new(mendix_client::MendixConfig::default().with_urls(
        url::Url::parse(&h.mendix_server.cloud_v1_url()).expect("URL"),
        url::Url::parse(&h.mendix_server.private_cloud_v4_url()).expect("URL"),
    ))
    .expect("a Mendix client");
    let answered: Vec<Option<String>> = mendix
        .pc_deploy(&mendix_client::Pat::new(demo::PC_PAT))
        .list_namespaces(demo::PC_CLUSTER_ID, false)
        .await
        .expect("namespaces listed")
        .into_iter()
        .map(|n| n.namespace.secret)
        .collect();
    assert_eq!(
        answered,
        [
            Some(demo_secret.clone()),
            Some(INSTALLER_SECRET.to_string())
        ]
    );

    let run = plugin(&h, &kc, &["clusters", "--secret", PC_SECRET, "-n", &h.ns]).await;
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    let table = &run.stdout;
    assert_eq!(
        row(table, &["CLUSTER ID"]),
        [
            "CLUSTER ID",
            "CLUSTER",
            "TYPE",
            "NAMESPACE ID",
            "NAMESPACE",
            "OPERATOR"
        ],
        "{table}"
    );
    assert_eq!(
        row(
            table,
            &[
                demo::PC_CLUSTER_ID,
                "sandbox-cluster",
                "k8s",
                demo::PC_NAMESPACE_ID
            ]
        ),
        [
            demo::PC_CLUSTER_ID,
            "sandbox-cluster",
            "k8s",
            demo::PC_NAMESPACE_ID,
            "mendix-apps",
            mendix_sandbox::world::OPERATOR_VERSION,
        ],
        "{table}"
    );
    assert_eq!(
        row(
            table,
            &[demo::PC_CLUSTER_ID, "sandbox-cluster", "k8s", STAGING_ID]
        ),
        [
            demo::PC_CLUSTER_ID,
            "sandbox-cluster",
            "k8s",
            STAGING_ID,
            "mendix-staging",
            "not installed",
        ],
        "{table}"
    );
    assert_eq!(
        row(table, &[EMPTY_CLUSTER_ID]),
        [EMPTY_CLUSTER_ID, "spare-cluster", "eks", "-", "-", "-"],
        "{table}"
    );
    assert_eq!(table.lines().count(), 4, "{table}");
    for secret in [demo_secret.as_str(), INSTALLER_SECRET] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "the installer secret is never printed:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    let stats = h.mendix.stats();
    assert_eq!(stats.count("list_cluster_manifests"), 1);
    assert_eq!(
        stats.count("list_namespace_manifests"),
        3,
        "two clusters, and the test's own look"
    );

    let err = plugin_err(
        &h,
        &kc,
        &["clusters", "--secret", CLOUD_SECRET, "-n", &h.ns],
    )
    .await;
    assert!(
        err.contains("clusters and namespaces are Private Cloud's")
            && err.contains(CLOUD_SECRET)
            && err.contains("`pat`"),
        "{err}"
    );
    assert_eq!(
        h.mendix.stats().count("list_cluster_manifests"),
        1,
        "Mendix Cloud credentials are refused before any call"
    );
}

/// `packages --secret NAME APP`: an app's deployment packages, newest first, on either
/// platform; an app Mendix does not know is named in the error.
#[tokio::test]
async fn packages_lists_an_apps_packages_newest_first() {
    let h = Harness::new().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let kc = kubeconfig(&h, dir.path());
    // A second package each, stored where the listing order is not the newest-first order.
    const CLOUD_NEWER: &str = "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6";
    const PC_OLDER: &str = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f";
    let newer: mendix_sandbox::world::CloudPackage = serde_yaml::from_str(&format!(
        "{{packageId: {CLOUD_NEWER}, version: 1.2.0.10, creationDate: 1767225600000, size: 2100000}}"
    ))
    .expect("a Mendix Cloud package");
    let older: mendix_sandbox::world::PcPackage = serde_yaml::from_str(&format!(
        "{{id: {PC_OLDER}, modelVersion: 1.2.0.500, createdOn: '2020-01-01T00:00:00Z', fileSize: 1000}}"
    ))
    .expect("a Private Cloud package");
    h.mendix.with_world(|w| {
        w.cloud
            .apps
            .iter_mut()
            .find(|a| a.app_id == demo::CLOUD_APP_ID)
            .expect("the demo's Mendix Cloud app")
            .packages
            .push(newer);
        w.private_cloud
            .apps
            .iter_mut()
            .find(|a| a.app_id == demo::PC_APP_ID)
            .expect("the demo's Private Cloud app")
            .packages
            .insert(0, older);
    });

    let cloud = plugin_ok(
        &h,
        &kc,
        &[
            "packages",
            "--secret",
            CLOUD_SECRET,
            demo::CLOUD_APP_ID,
            "-n",
            &h.ns,
        ],
    )
    .await;
    let lines: Vec<&str> = cloud.lines().collect();
    assert_eq!(lines.len(), 3, "{cloud}");
    assert_eq!(
        row(&cloud, &["PACKAGE ID"]),
        ["PACKAGE ID", "VERSION", "CREATED", "SIZE", "STATUS"],
        "{cloud}"
    );
    assert_eq!(
        row(lines[1], &[CLOUD_NEWER]),
        [
            CLOUD_NEWER,
            "1.2.0.10",
            "2026-01-01T00:00:00Z",
            "2100000",
            "Succeeded"
        ],
        "newest first:\n{cloud}"
    );
    assert_eq!(
        row(lines[2], &[demo::CLOUD_EXISTING_PACKAGE_ID]),
        [
            demo::CLOUD_EXISTING_PACKAGE_ID,
            "1.1.5.9",
            "2014-07-07T13:27:34Z",
            "1999059",
            "Succeeded"
        ],
        "{cloud}"
    );

    let private = plugin_ok(
        &h,
        &kc,
        &[
            "packages",
            "--secret",
            PC_SECRET,
            demo::PC_APP_ID,
            "-n",
            &h.ns,
        ],
    )
    .await;
    let lines: Vec<&str> = private.lines().collect();
    assert_eq!(lines.len(), 3, "{private}");
    assert_eq!(
        row(&private, &["PACKAGE ID"]),
        ["PACKAGE ID", "VERSION", "CREATED", "SIZE"],
        "Private Cloud reports no package status:\n{private}"
    );
    let demo_package = row(lines[1], &[demo::PC_EXISTING_PACKAGE_ID]);
    assert_eq!(demo_package[1], "1.3.0.623", "newest first:\n{private}");
    assert_eq!(demo_package[3], "2924125", "{private}");
    chrono::DateTime::parse_from_rfc3339(demo_package[2]).expect("an RFC 3339 time");
    assert_eq!(
        row(lines[2], &[PC_OLDER]),
        [PC_OLDER, "1.2.0.500", "2020-01-01T00:00:00Z", "1000"],
        "{private}"
    );

    let err = plugin_err(
        &h,
        &kc,
        &[
            "packages",
            "--secret",
            CLOUD_SECRET,
            "no-such-app",
            "-n",
            &h.ns,
        ],
    )
    .await;
    assert!(
        err.starts_with("error: app no-such-app not found") && !err.contains("panicked"),
        "{err}"
    );
    let unknown = "00000000-0000-4000-8000-000000000000";
    let err = plugin_err(
        &h,
        &kc,
        &["packages", "--secret", PC_SECRET, unknown, "-n", &h.ns],
    )
    .await;
    assert!(
        err.starts_with(&format!("error: app {unknown} not found")) && !err.contains("panicked"),
        "{err}"
    );
    let stats = h.mendix.stats();
    assert_eq!(
        (
            stats.count("v1_list_packages"),
            stats.count("list_deployment_packages")
        ),
        (2, 2)
    );
}

/// The Mendix sandbox's operations that write (`sim::OPERATIONS`: every POST, PUT and DELETE
/// but the read-only `POST /cli/{version}`).
const WRITE_OPERATIONS: &[&str] = &[
    "build_deployment_package",
    "create_cluster",
    "create_environment",
    "create_namespace",
    "delete_cluster",
    "delete_deployment_package",
    "delete_environment_for_namespace",
    "delete_namespace",
    "update_cluster",
    "update_environment_for_namespace",
    "update_namespace_manifest",
    "upload_deployment_package",
    "v1_build_package",
    "v1_clean_environment",
    "v1_create_free_app",
    "v1_create_tag",
    "v1_delete_package",
    "v1_delete_tag",
    "v1_scale",
    "v1_set_settings",
    "v1_start_environment",
    "v1_stop_environment",
    "v1_transport",
    "v1_upload_package",
];

/// And the ones that only read: every request the sandbox counts is one of the two lists.
const READ_OPERATIONS: &[&str] = &[
    "get_app_manifest",
    "get_cli",
    "get_cluster_manifest",
    "get_deployment_package",
    "get_environment_manifest_for_namespace",
    "get_job",
    "get_namespace_manifest",
    "list_app_manifests",
    "list_cli_versions",
    "list_cluster_manifests",
    "list_deployment_packages",
    "list_environments_manifests",
    "list_namespace_manifests",
    "v1_access_logs",
    "v1_app_logs",
    "v1_download_package",
    "v1_get_app",
    "v1_get_environment",
    "v1_get_environment_package",
    "v1_get_package",
    "v1_get_settings",
    "v1_get_start_status",
    "v1_get_tags",
    "v1_list_apps",
    "v1_list_environments",
    "v1_list_packages",
];

/// The resources of an `import` output, in order (documents that hold only comments left out).
fn documents(out: &str) -> Vec<serde_yaml::Value> {
    let mut chunks = vec![String::new()];
    for line in out.lines() {
        if line == "---" {
            chunks.push(String::new());
        } else if let Some(chunk) = chunks.last_mut() {
            chunk.push_str(line);
            chunk.push('\n');
        }
    }
    chunks
        .iter()
        .map(|chunk| {
            serde_yaml::from_str::<serde_yaml::Value>(chunk)
                .unwrap_or_else(|e| panic!("a YAML document ({e}):\n{chunk}"))
        })
        .filter(|doc| !doc.is_null())
        .collect()
}

/// The documents of `kind`, typed.
fn of_kind<K: k8s_openapi::serde::de::DeserializeOwned>(
    docs: &[serde_yaml::Value],
    kind: &str,
) -> Vec<K> {
    docs.iter()
        .filter(|d| d["kind"] == kind)
        .map(|d| serde_yaml::from_value(d.clone()).expect("a resource of its kind"))
        .collect()
}

/// The Secrets the header of an `import` output says to create: (name, keys), from its
/// `kubectl create secret generic NAME -n NS --from-literal=KEY=...` lines.
fn secrets_to_create(out: &str) -> Vec<(String, Vec<String>)> {
    out.lines()
        .take_while(|l| *l != "---")
        .filter_map(|l| {
            l.strip_prefix('#')?
                .trim()
                .strip_prefix("kubectl create secret generic ")
        })
        .map(|command| {
            let mut words = command.split_whitespace();
            let name = words.next().expect("a Secret name").to_string();
            let keys = words
                .filter_map(|w| w.strip_prefix("--from-literal="))
                .map(|literal| {
                    let (key, value) = literal.split_once('=').expect("KEY=VALUE");
                    assert_eq!(value, "...", "a placeholder, never a value: {command}");
                    key.to_string()
                })
                .collect();
            (name, keys)
        })
        .collect()
}

fn drifted(conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> &str {
    condition(conditions, "Drifted").map_or("missing", |c| c.status.as_str())
}

/// `import` of both platforms, with the operator running: the printed resources carry no
/// sensitive value, and once applied (with the Secrets the header asks for) every one of them
/// is Ready and in sync (`Drifted` False), and Mendix saw no write at all.
#[tokio::test]
async fn import_adopts_the_whole_landscape_with_zero_writes_and_no_drift() {
    use mendix_sandbox::world::{CloudEnvironment, ConstantSetting, ValueSetting};
    const CLOUD_KEY: &str = "cl0ud-api-key-9f8e7d6c5b4a";
    const PC_PASSWORD: &str = "pc-db-password-1a2b3c4d5e";
    let h = Harness::started().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let kc = kubeconfig(&h, dir.path());
    let no_package: CloudEnvironment =
        serde_yaml::from_str("{mode: Sandbox, status: Empty}").expect("an environment");
    h.mendix.with_world(|w| {
        let app = w
            .cloud
            .apps
            .iter_mut()
            .find(|a| a.app_id == demo::CLOUD_APP_ID)
            .expect("the demo's Mendix Cloud app");
        for env in &mut app.environments {
            match env.mode.as_str() {
                "Test" => {
                    // A secret, and a name that looks like one on a constant that cannot be.
                    for (name, data_type, value) in [
                        ("MyFirstModule.ApiKey", "String", CLOUD_KEY),
                        ("MyFirstModule.TokenCheckEnabled", "_Boolean", "true"),
                    ] {
                        env.constants.push(ConstantSetting {
                            name: name.into(),
                            data_type: data_type.into(),
                            value: Some(value.into()),
                            deployed_value: Some(value.into()),
                        });
                    }
                    env.custom_settings.push(ValueSetting {
                        name: "SessionTimeout".into(),
                        value: "600000".into(),
                        deployed_value: String::new(),
                    });
                    env.tags.push("europe".into());
                }
                "Acceptance" => {
                    for event in &mut env.scheduled_events {
                        event.value = "Enabled".into();
                        event.deployed_value = "Enabled".into();
                    }
                }
                _ => {}
            }
        }
        // An environment without a package cannot be a MendixEnvironment.
        app.environments.push(no_package);
        let pc = w
            .private_cloud
            .apps
            .iter_mut()
            .flat_map(|a| a.environments.iter_mut())
            .find(|e| e.id == demo::PC_ENVIRONMENT_TEST)
            .expect("the demo's Private Cloud test environment");
        let env = &mut pc.environment;
        if let Some(constants) = env["deployment"]["constants"].as_array_mut() {
            constants.push(
                serde_json::json!({"name": "MyFirstModule.DbPassword", "value": PC_PASSWORD}),
            );
        }
        if let Some(settings) = env["runtime"]["customRuntimeSettings"].as_array_mut() {
            settings.push(serde_json::json!({"name": "SessionTimeout", "value": "600000"}));
        }
    });

    let cloud = plugin_ok(&h, &kc, &["import", "--secret", CLOUD_SECRET, "-n", &h.ns]).await;
    let private = plugin_ok(&h, &kc, &["import", "--secret", PC_SECRET, "-n", &h.ns]).await;
    println!("--- import --secret {CLOUD_SECRET}:\n{cloud}");
    println!("--- import --secret {PC_SECRET}:\n{private}");
    for (out, value) in [(&cloud, CLOUD_KEY), (&private, PC_PASSWORD)] {
        assert!(out.starts_with("# "), "a comment block first:\n{out}");
        assert!(
            !out.contains(value),
            "a sensitive value was printed:\n{out}"
        );
    }
    assert_eq!(
        secrets_to_create(&cloud),
        [(
            "calc-test-constants".to_string(),
            vec!["MyFirstModule.ApiKey".to_string()]
        )],
        "{cloud}"
    );
    assert_eq!(
        secrets_to_create(&private),
        [(
            "calc-private-calc-test-constants".to_string(),
            vec!["MyFirstModule.DbPassword".to_string()]
        )],
        "{private}"
    );
    assert!(
        cloud
            .lines()
            .any(|l| l.starts_with("# environment Sandbox of app calc skipped: no package")),
        "{cloud}"
    );

    // What was printed: Mendix's values, typed, observed only.
    let cloud_docs = documents(&cloud);
    let private_docs = documents(&private);
    for doc in cloud_docs.iter().chain(&private_docs) {
        assert_eq!(doc["spec"]["managementPolicy"], "Observe", "{doc:?}");
        assert_eq!(doc["metadata"]["namespace"].as_str(), Some(h.ns.as_str()));
        assert!(doc.get("status").is_none(), "{doc:?}");
    }
    let environments: Vec<MendixEnvironment> = of_kind(&cloud_docs, "MendixEnvironment");
    let names: Vec<&str> = environments
        .iter()
        .map(|e| e.metadata.name.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(names, ["calc-test", "calc-acceptance", "calc-production"]);
    assert_eq!(cloud_docs.len(), 3, "{cloud}");
    let test = &environments[0].spec;
    assert_eq!(
        test.package_id.as_deref(),
        Some(demo::CLOUD_EXISTING_PACKAGE_ID)
    );
    assert_eq!(test.tags.as_deref(), Some(&["europe".to_string()][..]));
    assert_eq!(
        (test.instances, test.memory_per_instance),
        (None, None),
        "the sandbox reports no size"
    );
    let constant = |name: &str| {
        test.constants
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name} in {cloud}"))
    };
    assert_eq!(
        constant("MyFirstModule.ApiKey")
            .value_from
            .as_ref()
            .map(|s| (
                s.secret_key_ref.name.as_str(),
                s.secret_key_ref.key.as_str()
            )),
        Some(("calc-test-constants", "MyFirstModule.ApiKey"))
    );
    assert_eq!(
        constant("MyFirstModule.TokenCheckEnabled").value.as_deref(),
        Some("true"),
        "a _Boolean is never a secret"
    );
    assert_eq!(
        constant("MyFirstModule.ApiUrl").value.as_deref(),
        Some("https://api.example.com")
    );
    assert_eq!(test.custom_settings.len(), 1);
    assert!(!environments[0].spec.scheduled_events[0].enabled);
    assert!(environments[1].spec.scheduled_events[0].enabled);
    let namespaces: Vec<MendixNamespace> = of_kind(&private_docs, "MendixNamespace");
    assert_eq!(namespaces.len(), 1, "{private}");
    assert_eq!(namespaces[0].spec.namespace_id, demo::PC_NAMESPACE_ID);
    assert_eq!(
        namespaces[0].spec.cluster_id.as_deref(),
        Some(demo::PC_CLUSTER_ID)
    );
    assert!(namespaces[0].spec.secret_ref.is_none(), "{private}");
    let pc_environments: Vec<MendixEnvironment> = of_kind(&private_docs, "MendixEnvironment");
    assert_eq!(pc_environments.len(), 2, "{private}");
    for env in &pc_environments {
        let target = env
            .spec
            .target
            .private_cloud
            .as_ref()
            .expect("Private Cloud");
        assert_eq!(
            target.namespace_ref.as_ref().map(|r| r.name.as_str()),
            namespaces[0].metadata.name.as_deref()
        );
        assert_eq!(
            env.spec.package_id.as_deref(),
            Some(demo::PC_EXISTING_PACKAGE_ID)
        );
    }

    // Applied as printed, with the Secrets the header asks for.
    let values = [
        ("MyFirstModule.ApiKey", CLOUD_KEY),
        ("MyFirstModule.DbPassword", PC_PASSWORD),
    ];
    for (secret, keys) in secrets_to_create(&cloud)
        .into_iter()
        .chain(secrets_to_create(&private))
    {
        let data: Vec<(&str, &str)> = keys
            .iter()
            .map(|key| {
                let value = values
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| *v)
                    .unwrap_or_else(|| panic!("a value for {secret}/{key}"));
                (key.as_str(), value)
            })
            .collect();
        h.put_secret(&secret, &data).await;
    }
    let kubectl = h.kubectl();
    for out in [&cloud, &private] {
        kubectl.ok_stdin(&["apply", "-f", "-"], out).await;
    }

    // Every one Ready, in sync with Mendix.
    let namespaces_api: Api<MendixNamespace> = Api::namespaced(h.client.clone(), &h.ns);
    for ns in &namespaces {
        let name = ns.metadata.name.clone().expect("a name");
        let api = namespaces_api.clone();
        wait_for(
            &format!("MendixNamespace {name} Ready and not drifted"),
            || {
                let (api, name) = (api.clone(), name.clone());
                async move { api.get_opt(&name).await.ok().flatten() }
            },
            |n: &MendixNamespace| {
                ready(
                    n,
                    n.status
                        .as_ref()
                        .map(|s| (s.conditions.as_slice(), s.observed_generation)),
                ) && n
                    .status
                    .as_ref()
                    .is_some_and(|s| drifted(&s.conditions) == "False")
            },
        )
        .await;
    }
    let all_environments: Vec<String> = environments
        .iter()
        .chain(&pc_environments)
        .filter_map(|e| e.metadata.name.clone())
        .collect();
    for name in &all_environments {
        h.wait_environment(name, |e| {
            environment_ready(e)
                && e.status
                    .as_ref()
                    .is_some_and(|s| drifted(&s.conditions) == "False")
        })
        .await;
    }

    // Still so after the operator's next look, and Mendix saw reads only.
    let since = h.reconciles().await;
    h.wait_reconciles(since, all_environments.len() as u64)
        .await;
    let mut drifted_count = 0;
    for env in h
        .environments()
        .list(&Default::default())
        .await
        .expect("listed")
    {
        let status = env.status.unwrap_or_default();
        assert!(is(&status.conditions, "Ready"), "{:?}", env.metadata.name);
        drifted_count += usize::from(drifted(&status.conditions) != "False");
    }
    for ns in namespaces_api
        .list(&Default::default())
        .await
        .expect("listed")
    {
        let status = ns.status.unwrap_or_default();
        drifted_count += usize::from(drifted(&status.conditions) != "False");
    }
    let stats = h.mendix.stats();
    let writes: u64 = WRITE_OPERATIONS.iter().map(|op| stats.count(op)).sum();
    let reads: u64 = READ_OPERATIONS.iter().map(|op| stats.count(op)).sum();
    let unknown: Vec<&String> = stats
        .operations
        .keys()
        .filter(|op| {
            !WRITE_OPERATIONS.contains(&op.as_str()) && !READ_OPERATIONS.contains(&op.as_str())
        })
        .collect();
    let printed = cloud_docs.len() + private_docs.len();
    println!(
        "import: {printed} resources printed ({} MendixEnvironment, {} MendixNamespace), \
         {} Secret(s) to create; after apply: {writes} Mendix writes, {reads} reads, \
         {drifted_count} drifted",
        environments.len() + pc_environments.len(),
        namespaces.len(),
        secrets_to_create(&cloud).len() + secrets_to_create(&private).len(),
    );
    assert!(
        unknown.is_empty(),
        "operations in neither list: {unknown:?}"
    );
    assert_eq!(writes, 0, "Mendix saw writes: {:?}", stats.operations);
    assert_eq!(drifted_count, 0);
    assert_eq!(printed, 6);
    assert!(
        stats.count("v1_get_settings") > 0 && stats.count("get_namespace_manifest") > 0,
        "the operator read what it observes: {:?}",
        stats.operations
    );
}

/// `import` with credentials that see no app, or `--app` naming one they do not see: an error
/// that says so, and nothing printed.
#[tokio::test]
async fn import_with_credentials_that_see_nothing_says_so() {
    let h = Harness::new().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let kc = kubeconfig(&h, dir.path());
    const NOBODY_KEY: &str = "0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b";
    h.mendix.with_world(|w| {
        w.cloud.users.push(mendix_sandbox::world::CloudUser {
            username: "nobody@example.com".into(),
            api_key: NOBODY_KEY.into(),
            access: Some(Vec::new()),
        });
    });
    h.put_secret(
        "nobody",
        &[("username", "nobody@example.com"), ("apiKey", NOBODY_KEY)],
    )
    .await;

    let run = plugin(&h, &kc, &["import", "--secret", "nobody", "-n", &h.ns]).await;
    assert!(!run.ok, "{}", run.stdout);
    assert!(run.stdout.is_empty(), "nothing printed:\n{}", run.stdout);
    assert!(
        run.stderr
            .starts_with("error: the credentials in Secret nobody see no apps on Mendix Cloud"),
        "{}",
        run.stderr
    );
    assert_eq!(h.mendix.stats().count("v1_list_apps"), 1);

    for (secret, app, platform) in [
        (CLOUD_SECRET, "no-such-app", "Mendix Cloud"),
        (
            PC_SECRET,
            "00000000-0000-4000-8000-000000000000",
            "Private Cloud",
        ),
    ] {
        let run = plugin(
            &h,
            &kc,
            &["import", "--secret", secret, "--app", app, "-n", &h.ns],
        )
        .await;
        assert!(!run.ok && run.stdout.is_empty(), "{}", run.stdout);
        assert!(
            run.stderr
                .starts_with(&format!("error: app {app} not found"))
                && run.stderr.contains(platform)
                && !run.stderr.contains("panicked"),
            "{}",
            run.stderr
        );
    }
    let stats = h.mendix.stats();
    assert_eq!(
        stats.count("v1_list_environments") + stats.count("list_environments_manifests"),
        0,
        "no app was read"
    );
}

/// `import --app APP`: only that app's environments (and on Private Cloud the namespace they
/// live in); without it, every app's.
#[tokio::test]
async fn import_with_app_prints_only_that_app() {
    let h = Harness::new().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let kc = kubeconfig(&h, dir.path());
    const LEDGER_PC_ID: &str = "d644ff1c-2b3a-4c5d-8e9f-0a1b2c3d4e5f";
    // A second app on each platform, with environments of its own.
    h.mendix.with_world(|w| {
        let mut ledger = w
            .cloud
            .apps
            .iter()
            .find(|a| a.app_id == demo::CLOUD_APP_ID)
            .expect("the demo's Mendix Cloud app")
            .clone();
        ledger.app_id = "ledger".into();
        ledger.name = "Ledger".into();
        ledger.project_id = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b".into();
        w.cloud.apps.push(ledger);
        let mut ledger = w
            .private_cloud
            .apps
            .iter()
            .find(|a| a.app_id == demo::PC_APP_ID)
            .expect("the demo's Private Cloud app")
            .clone();
        ledger.app_id = LEDGER_PC_ID.into();
        ledger.name = "ledger-private".into();
        w.private_cloud.apps.push(ledger);
    });
    let app_ids = |out: &str| -> Vec<String> {
        let mut ids: Vec<String> =
            of_kind::<MendixEnvironment>(&documents(out), "MendixEnvironment")
                .into_iter()
                .map(
                    |e| match (&e.spec.target.mendix_cloud, &e.spec.target.private_cloud) {
                        (Some(t), _) => t.app_id.clone(),
                        (_, Some(t)) => t.app_id.clone(),
                        _ => panic!("a target"),
                    },
                )
                .collect();
        ids.dedup();
        ids
    };
    let kinds = |out: &str| -> Vec<String> {
        documents(out)
            .iter()
            .map(|d| d["kind"].as_str().unwrap_or_default().to_string())
            .collect()
    };

    let all = plugin_ok(&h, &kc, &["import", "--secret", CLOUD_SECRET, "-n", &h.ns]).await;
    assert_eq!(app_ids(&all), ["calc", "ledger"], "{all}");
    assert_eq!(kinds(&all).len(), 6, "{all}");
    let calc = plugin_ok(
        &h,
        &kc,
        &[
            "import",
            "--secret",
            CLOUD_SECRET,
            "--app",
            "calc",
            "-n",
            &h.ns,
        ],
    )
    .await;
    assert_eq!(app_ids(&calc), ["calc"], "{calc}");
    assert_eq!(kinds(&calc).len(), 3, "{calc}");
    assert!(!calc.contains("ledger"), "{calc}");

    let all = plugin_ok(&h, &kc, &["import", "--secret", PC_SECRET, "-n", &h.ns]).await;
    assert_eq!(app_ids(&all), [demo::PC_APP_ID, LEDGER_PC_ID], "{all}");
    assert_eq!(
        kinds(&all),
        [
            "MendixNamespace",
            "MendixEnvironment",
            "MendixEnvironment",
            "MendixEnvironment",
            "MendixEnvironment"
        ],
        "one MendixNamespace for the namespace both apps live in:\n{all}"
    );
    let by_id = plugin_ok(
        &h,
        &kc,
        &[
            "import",
            "--secret",
            PC_SECRET,
            "--app",
            LEDGER_PC_ID,
            "-n",
            &h.ns,
        ],
    )
    .await;
    assert_eq!(app_ids(&by_id), [LEDGER_PC_ID], "{by_id}");
    assert_eq!(
        kinds(&by_id),
        ["MendixNamespace", "MendixEnvironment", "MendixEnvironment"],
        "{by_id}"
    );
    assert!(!by_id.contains(demo::PC_APP_ID), "{by_id}");
    let by_name = plugin_ok(
        &h,
        &kc,
        &[
            "import",
            "--secret",
            PC_SECRET,
            "--app",
            "ledger-private",
            "-n",
            &h.ns,
        ],
    )
    .await;
    assert_eq!(by_name, by_id, "an app's name picks it as its id does");
}

/// Every write request the sandbox counted.
fn mendix_writes(h: &Harness) -> u64 {
    let stats = h.mendix.stats();
    WRITE_OPERATIONS.iter().map(|op| stats.count(op)).sum()
}

#[tokio::test]
async fn diff_previews_the_plan_and_approve_carries_it_out() {
    let h = Harness::started().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let kc = kubeconfig(&h, dir.path());
    h.put_secret(
        "calc-secrets",
        &[("apiUrl", "https://secret-value.example.com")],
    )
    .await;
    h.create::<MendixEnvironment>(&mendix_testkit::resources::cloud_env_deployed(
        "calc-test",
        "Test",
        "  changeApproval: Manual
  constants: [{name: MyFirstModule.ApiUrl, value: 'https://diff.example.com'}]
",
    ))
    .await;
    let e = h
        .wait_environment("calc-test", |e| {
            e.status.as_ref().and_then(|s| s.plan.as_ref()).is_some()
        })
        .await;
    let plan = e.status.and_then(|s| s.plan).expect("plan");

    // The preview of the environment as it is: the same plan the operator waits with.
    let out = plugin_ok(&h, &kc, &["diff", "calc-test", "-n", &h.ns]).await;
    println!("{out}");
    assert!(
        out.contains(
            r#"apply settings: MyFirstModule.ApiUrl: "https://api.example.com" → "https://diff.example.com""#
        ),
        "{out}"
    );
    assert!(out.contains("starting "), "{out}");
    assert!(out.contains(&format!("plan {}", plan.hash)), "{out}");

    // A manifest before it is applied: a value from a Secret is masked, and what the API server
    // would refuse is shown with its message.
    let manifest = format!(
        "{}---
apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: refused}}
spec:
  target: {{mendixCloud: {{appId: {app}, mode: Test}}}}
  credentialsSecretRef: {{name: {CLOUD_SECRET}}}
  packageId: {package}
  instances: 99
  memoryPerInstance: 1024
",
        mendix_testkit::resources::cloud_env_deployed(
            "calc-acceptance",
            "Acceptance",
            "  constants: [{name: MyFirstModule.ApiUrl, valueFrom: {secretKeyRef: {name: calc-secrets, key: apiUrl}}}]
",
        ),
        app = demo::CLOUD_APP_ID,
        package = demo::CLOUD_EXISTING_PACKAGE_ID
    );
    let file = dir.path().join("manifest.yaml");
    std::fs::write(&file, &manifest).expect("manifest written");
    let out = plugin_ok(
        &h,
        &kc,
        &["diff", "-f", file.to_str().expect("path"), "-n", &h.ns],
    )
    .await;
    println!("{out}");
    assert!(
        out.contains("MyFirstModule.ApiUrl (value from a Secret)"),
        "{out}"
    );
    assert!(!out.contains("secret-value.example.com"), "{out}");
    assert!(
        out.contains("mxenv/refused: the API server refuses it"),
        "{out}"
    );
    assert!(
        h.environments()
            .get_opt("calc-acceptance")
            .await
            .expect("readable")
            .is_none(),
        "a diff creates nothing"
    );
    assert_eq!(mendix_writes(&h), 0, "a diff writes nothing to Mendix");

    // Approve: shows the plan, sets its hash; the operator carries it out.
    let out = plugin_ok(&h, &kc, &["approve", "calc-test", "-n", &h.ns]).await;
    println!("{out}");
    assert!(out.contains(&plan.hash), "{out}");
    let e = h.wait_environment("calc-test", environment_ready).await;
    assert_eq!(
        e.status.and_then(|s| s.last_approved_plan),
        Some(plan.hash.clone())
    );
    assert!(mendix_writes(&h) > 0);
    let err = plugin_err(&h, &kc, &["approve", "calc-test", "-n", &h.ns]).await;
    assert!(err.contains("no plan waiting for approval"), "{err}");

    // Now it runs, and the operator has seen it start: a new constant value restarts it, for
    // about as long as that start took.
    h.environments()
        .patch(
            "calc-test",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&serde_json::json!({"spec": {"constants": [
                {"name": "MyFirstModule.ApiUrl", "value": "https://next.example.com"}
            ]}})),
        )
        .await
        .expect("spec changed");
    h.wait_environment("calc-test", |e| {
        e.status
            .as_ref()
            .is_some_and(|s| s.observed_generation == Some(2) && s.plan.is_some())
    })
    .await;
    let out = plugin_ok(&h, &kc, &["diff", "calc-test", "-n", &h.ns]).await;
    println!("{out}");
    assert!(out.contains("stopping the app to restart it"), "{out}");
    assert!(out.contains("the app is down for about"), "{out}");
}

#[tokio::test]
async fn rollback_goes_back_to_an_earlier_package_unless_gitops_owns_the_resource() {
    let h = Harness::started().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let kc = kubeconfig(&h, dir.path());
    for (name, version) in [("pc-2", "2.0.0"), ("pc-3", "3.0.0")] {
        h.create::<MendixPackage>(&pc_build(name, demo::GOOD_REVISION, version))
            .await;
        h.wait_package(name, package_ready).await;
    }
    h.create::<MendixEnvironment>(&mendix_testkit::resources::pc_env(
        "pc",
        demo::PC_ENVIRONMENT_TEST,
        "pc-2",
        "",
    ))
    .await;
    h.wait_environment("pc", environment_runs("2.0.0")).await;
    h.environments()
        .patch(
            "pc",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                &serde_json::json!({"spec": {"packageRef": {"name": "pc-3"}}}),
            ),
        )
        .await
        .expect("moved to 3.0.0");
    let e = h.wait_environment("pc", environment_runs("3.0.0")).await;
    let history = e.status.expect("status").history;
    assert_eq!(history.len(), 2, "{history:?}");
    let earlier = history[1].package_id.clone();

    // Applied by Argo CD: the change to make in Git, and nothing changed here.
    h.environments()
        .patch(
            "pc",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&serde_json::json!({"metadata": {"annotations": {
                "argocd.argoproj.io/tracking-id": "calc:mendixops.io/MendixEnvironment:apps/pc"
            }}})),
        )
        .await
        .expect("annotated");
    let out = plugin_ok(&h, &kc, &["rollback", "pc", "-n", &h.ns]).await;
    println!("{out}");
    assert!(out.contains("is applied by Argo CD"), "{out}");
    assert!(out.contains(&format!("packageId: {earlier}")), "{out}");
    let e = h.environments().get("pc").await.expect("readable");
    assert!(
        e.spec.package_ref.is_some(),
        "not changed behind Git's back"
    );

    // --force: back to 2.0.0, recorded as a rollback.
    let out = plugin_ok(&h, &kc, &["rollback", "pc", "--force", "-n", &h.ns]).await;
    println!("{out}");
    assert!(
        out.contains("rolls back to package") && out.contains("2.0.0"),
        "{out}"
    );
    let e = h.wait_environment("pc", environment_runs("2.0.0")).await;
    let history = e.status.expect("status").history;
    assert_eq!(
        history[0].trigger,
        mendix_operator::crd::environment::DeploymentTrigger::Rollback,
        "{history:?}"
    );
    let err = plugin_err(&h, &kc, &["rollback", "pc", "--to", "5", "-n", &h.ns]).await;
    assert!(err.contains("--to 5 names none"), "{err}");
}
