//! The real kubectl (default flags) against the Kubernetes API sandbox.
//! CRDs are applied with `-k crds/`: that directory also holds a Kustomization
//! (`kustomization.yml`), which `apply -f crds/` would send as an object of an unknown kind.

mod kube_sandbox_support;

use std::time::Duration;

use kube_sandbox_support::{Env, GUARD, repo_path};
use tokio::io::{AsyncBufReadExt, BufReader};

async fn with_crds_and_examples(env: &Env, server_side: bool) {
    env.ok(&["apply", "-f", &repo_path("crds/")]).await;
    let mut args = vec!["apply", "-f"];
    let examples = repo_path("deploy/examples/");
    args.push(&examples);
    if server_side {
        args.push("--server-side");
    }
    let out = env.ok(&args).await;
    assert!(
        out.contains("mendixenvironment.mendixops.io/calc-acceptance"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crds_explain_examples_get_describe_patch() {
    let env = Env::start().await;
    let out = env.ok(&["apply", "-f", &repo_path("crds/")]).await;
    assert!(
        out.contains("mendixenvironments.mendixops.io created"),
        "{out}"
    );
    let out = env.ok(&["get", "crd"]).await;
    assert!(out.contains("NAME") && out.contains("CREATED AT"), "{out}");
    assert!(out.contains("mendixpackages.mendixops.io"), "{out}");

    let out = env.ok(&["explain", "mendixenvironment.spec"]).await;
    assert!(
        out.contains("KIND:") && out.contains("MendixEnvironment"),
        "{out}"
    );
    assert!(out.contains("credentialsSecretRef"), "{out}");

    let out = env
        .ok(&["apply", "-f", &repo_path("deploy/examples/")])
        .await;
    assert!(
        out.contains("mendixenvironment.mendixops.io/calc-acceptance created"),
        "{out}"
    );
    assert!(
        out.contains("secret/mendix-cloud-credentials created"),
        "{out}"
    );
    // Applying again changes nothing.
    let out = env
        .ok(&["apply", "-f", &repo_path("deploy/examples/")])
        .await;
    assert!(out.contains("calc-acceptance unchanged"), "{out}");

    // A changed custom resource: `kubectl diff` shows it (exit 1), `kubectl apply` patches it
    // (with a merge patch: the OpenAPI offers no strategic merge patch for custom kinds).
    let example =
        std::fs::read_to_string(repo_path("deploy/examples/mendix-cloud-environment.yaml"))
            .unwrap();
    let changed = example.replace("memoryPerInstance: 1024", "memoryPerInstance: 2048");
    let diff = env.kubectl_stdin(&["diff", "-f", "-"], &changed).await;
    assert!(
        !diff.ok && diff.stdout.contains("+  memoryPerInstance: 2048"),
        "{diff:?}"
    );
    let out = env.ok_stdin(&["apply", "-f", "-"], &changed).await;
    assert!(out.contains("calc-acceptance configured"), "{out}");
    let out = env.ok(&["get", "mxenv"]).await;
    let header = out.lines().next().unwrap_or_default();
    for column in ["NAME", "READY", "STATUS", "VERSION", "INSTANCES", "AGE"] {
        assert!(header.contains(column), "column {column} missing: {out}");
    }
    assert!(
        !header.contains("URL"),
        "priority-1 column shown without -o wide: {out}"
    );
    assert!(out.contains("calc-acceptance"), "{out}");
    let wide = env.ok(&["get", "mxenv", "-o", "wide"]).await;
    assert!(
        wide.lines().next().unwrap_or_default().contains("URL"),
        "{wide}"
    );

    // An events.k8s.io/v1 Event (what kube-rs's Recorder writes) shows up in `kubectl describe`,
    // which reads core/v1 Events.
    let uid = env
        .ok(&[
            "get",
            "mxenv",
            "calc-acceptance",
            "-o",
            "jsonpath={.metadata.uid}",
        ])
        .await;
    let event = format!(
        r#"apiVersion: events.k8s.io/v1
kind: Event
metadata:
  name: calc-acceptance.1
eventTime: "2026-11-22T21:00:00.000000Z"
reason: Transported
note: package transported
type: Normal
action: Transport
reportingController: mendixops.io/operator
reportingInstance: op-1
regarding:
  apiVersion: mendixops.io/v1alpha1
  kind: MendixEnvironment
  name: calc-acceptance
  namespace: default
  uid: {uid}
"#
    );
    env.ok_stdin(&["create", "-f", "-"], &event).await;
    let out = env.ok(&["get", "events"]).await;
    assert!(out.contains("mendixenvironment/calc-acceptance"), "{out}");
    let out = env.ok(&["describe", "mxenv", "calc-acceptance"]).await;
    assert!(
        out.contains("Transported") && out.contains("package transported"),
        "{out}"
    );
    assert!(
        out.contains("Name:") && out.contains("calc-acceptance"),
        "{out}"
    );
    assert!(out.contains("Mode:") || out.contains("mode"), "{out}");

    let out = env
        .ok(&[
            "patch",
            "mxenv",
            "calc-acceptance",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"instances":3}}"#,
        ])
        .await;
    assert!(out.contains("patched"), "{out}");
    let out = env
        .ok(&[
            "get",
            "mxenv",
            "calc-acceptance",
            "-o",
            "jsonpath={.spec.instances} {.metadata.generation}",
        ])
        .await;
    // Generation 1 at create, 2 after the re-apply above, 3 after this patch.
    assert_eq!(out.trim(), "3 3");

    let out = env
        .ok(&[
            "get",
            "secret",
            "mendix-cloud-credentials",
            "-o",
            "jsonpath={.data.username}",
        ])
        .await;
    assert!(!out.is_empty(), "stringData was converted into data");
    // Re-applying a changed built-in object client-side is a strategic merge patch.
    let secret =
        std::fs::read_to_string(repo_path("deploy/examples/mendix-cloud-credentials.yaml"))
            .unwrap();
    let changed = secret.replace("REPLACE-WITH-MENDIX-API-KEY", "a-real-key");
    let out = env.ok_stdin(&["apply", "-f", "-"], &changed).await;
    assert!(
        out.contains("secret/mendix-cloud-credentials configured"),
        "{out}"
    );
    let key = env
        .ok(&[
            "get",
            "secret",
            "mendix-cloud-credentials",
            "-o",
            "jsonpath={.data.apiKey}",
        ])
        .await;
    assert_eq!(key.trim(), "YS1yZWFsLWtleQ==");
    // `kubectl create secret|configmap|namespace` send protobuf bodies.
    env.ok(&[
        "create",
        "secret",
        "generic",
        "made",
        "--from-literal=apiKey=k3y",
    ])
    .await;
    let out = env
        .ok(&[
            "get",
            "secret",
            "made",
            "-o",
            "jsonpath={.type} {.data.apiKey}",
        ])
        .await;
    assert_eq!(out.trim(), "Opaque azN5");
    env.ok(&["create", "configmap", "settings", "--from-literal=a=b"])
        .await;
    env.ok(&["create", "namespace", "team-a"]).await;
    let out = env
        .ok(&["get", "namespace", "team-a", "--show-labels"])
        .await;
    assert!(
        out.contains("Active") && out.contains("kubernetes.io/metadata.name=team-a"),
        "{out}"
    );
    let out = env.ok(&["get", "secrets"]).await;
    assert!(out.contains("TYPE") && out.contains("Opaque"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_of_examples() {
    let env = Env::start().await;
    with_crds_and_examples(&env, true).await;
    let out = env
        .ok(&[
            "get",
            "mxenv",
            "calc-acceptance",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ])
        .await;
    assert!(out.contains("kubectl"), "{out}");
    // Re-applying server-side is idempotent.
    let out = env
        .ok(&[
            "apply",
            "--server-side",
            "-f",
            &repo_path("deploy/examples/mendix-cloud-environment.yaml"),
        ])
        .await;
    assert!(out.contains("serverside-applied"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_sees_an_update() {
    let env = Env::start().await;
    with_crds_and_examples(&env, false).await;
    let mut child = env
        .command(&[
            "get",
            "mxenv",
            "calc-acceptance",
            "-w",
            "-o",
            "jsonpath={.spec.instances}{\"\\n\"}",
        ])
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(GUARD, lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.as_deref(), Some("2"));
    env.ok(&[
        "patch",
        "mxenv",
        "calc-acceptance",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"instances":5}}"#,
    ])
    .await;
    let next = tokio::time::timeout(GUARD, lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.as_deref(), Some("5"));
    child.kill().await.unwrap();

    // The table form of a watch (the default output) shows the row again on change.
    let mut child = env
        .command(&["get", "mxenv", "calc-acceptance", "-w"])
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let header = tokio::time::timeout(GUARD, lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert!(header.unwrap_or_default().contains("READY"));
    let row = tokio::time::timeout(GUARD, lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert!(row.unwrap_or_default().contains("calc-acceptance"));
    env.ok(&["label", "mxenv", "calc-acceptance", "team=calc"])
        .await;
    let row = tokio::time::timeout(GUARD, lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert!(row.unwrap_or_default().contains("calc-acceptance"));
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_ready_succeeds_on_status_and_times_out_without() {
    let env = Env::start().await;
    with_crds_and_examples(&env, false).await;
    let run = env
        .kubectl(&[
            "wait",
            "--for=condition=Ready",
            "mxenv/calc-acceptance",
            "--timeout=2s",
        ])
        .await;
    assert!(!run.ok, "wait succeeded without a Ready condition: {run:?}");
    assert!(run.stderr.contains("timed out"), "{run:?}");

    let waiter = env
        .command(&[
            "wait",
            "--for=condition=Ready",
            "mxenv/calc-acceptance",
            "--timeout=60s",
        ])
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Converged","message":"running","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#;
    env.ok(&[
        "patch",
        "mxenv",
        "calc-acceptance",
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        status,
    ])
    .await;
    let out = tokio::time::timeout(GUARD, waiter.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("condition met"));
    let out = env.ok(&["get", "mxenv", "calc-acceptance"]).await;
    assert!(
        out.lines().nth(1).unwrap_or_default().contains("True"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_with_and_without_finalizers() {
    let env = Env::start().await;
    with_crds_and_examples(&env, false).await;
    let out = env.ok(&["delete", "mxpkg", "calc-2.5.4"]).await;
    assert!(out.contains("deleted"), "{out}");
    assert!(!env.kubectl(&["get", "mxpkg", "calc-2.5.4"]).await.ok);

    env.ok(&[
        "patch",
        "mxenv",
        "calc-acceptance",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"finalizers":["mendixops.io/cleanup"]}}"#,
    ])
    .await;
    env.ok(&["delete", "mxenv", "calc-acceptance", "--wait=false"])
        .await;
    let out = env
        .ok(&[
            "get",
            "mxenv",
            "calc-acceptance",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ])
        .await;
    assert!(
        !out.trim().is_empty(),
        "deletionTimestamp set while the finalizer stays"
    );
    env.ok(&[
        "patch",
        "mxenv",
        "calc-acceptance",
        "--type",
        "json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ])
    .await;
    let run = env.kubectl(&["get", "mxenv", "calc-acceptance"]).await;
    assert!(!run.ok && run.stderr.contains("NotFound"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_manifests_are_rejected_naming_the_field() {
    let env = Env::start().await;
    env.ok(&["apply", "-f", &repo_path("crds/")]).await;
    let bad_name = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\ndata:\n  a: b\n";
    let run = env.kubectl_stdin(&["apply", "-f", "-"], bad_name).await;
    assert!(!run.ok);
    assert!(
        run.stderr.contains("metadata.name") && run.stderr.contains("Invalid value"),
        "{run:?}"
    );
}

/// The oldest kubectl the dispatcher runs (it picks kubectl.1.27 from `/version`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oldest_kubectl_works_too() {
    let env = Env::start_version(Some("v1.27.16")).await;
    let out = env.ok(&["version"]).await;
    assert!(out.contains("v1.27"), "{out}");
    with_crds_and_examples(&env, false).await;
    let out = env.ok(&["get", "mxenv"]).await;
    assert!(
        out.contains("READY") && out.contains("calc-acceptance"),
        "{out}"
    );
    let out = env.ok(&["explain", "mendixenvironment.spec"]).await;
    assert!(out.contains("credentialsSecretRef"), "{out}");
    env.ok(&[
        "patch",
        "mxenv",
        "calc-acceptance",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"instances":4}}"#,
    ])
    .await;
    let out = env
        .ok(&["delete", "-f", &repo_path("deploy/examples/")])
        .await;
    assert!(out.contains("deleted"), "{out}");
}

async fn start_command(
    kubeconfig: &std::path::Path,
    state: &std::path::Path,
) -> tokio::process::Child {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mendix-operator"))
        .args(["kube-sandbox", "--listen", "127.0.0.1:0", "--kubeconfig"])
        .arg(kubeconfig)
        .env("KUBE_SANDBOX_STATE", state)
        .env("KUBE_SANDBOX_VERSION", "v1.27.16")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let banner = tokio::time::timeout(GUARD, lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert!(
        banner
            .unwrap_or_default()
            .contains("listening on http://127.0.0.1:")
    );
    // Keep reading stdout so the process never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

async fn kubectl_at(
    kubeconfig: &std::path::Path,
    home: &std::path::Path,
    args: &[&str],
) -> (bool, String) {
    let out = tokio::process::Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .output();
    let out = tokio::time::timeout(GUARD, out).await.unwrap().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The `mendix-operator kube-sandbox` command: serves, writes a kubeconfig kubectl uses, and
/// with KUBE_SANDBOX_STATE keeps its objects across a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_sandbox_command_serves_and_keeps_state_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let state = dir.path().join("state.json");
    let mut child = start_command(&kubeconfig, &state).await;
    let (ok, out) = kubectl_at(&kubeconfig, dir.path(), &["version", "-o", "json"]).await;
    assert!(ok, "{out}");
    let version: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(version["serverVersion"]["gitVersion"], "v1.27.16");
    let (ok, out) = kubectl_at(
        &kubeconfig,
        dir.path(),
        &["create", "configmap", "kept", "--from-literal=a=b"],
    )
    .await;
    assert!(ok, "{out}");
    // Ctrl-C saves the state.
    let pid = child.id().unwrap().to_string();
    let status = tokio::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(GUARD, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(state.exists());

    let mut child = start_command(&kubeconfig, &state).await;
    let (ok, out) = kubectl_at(
        &kubeconfig,
        dir.path(),
        &["get", "configmap", "kept", "-o", "jsonpath={.data.a}"],
    )
    .await;
    assert!(ok && out.trim() == "b", "{out}");
    child.kill().await.unwrap();
}
