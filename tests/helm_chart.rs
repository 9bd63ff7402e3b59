//! The Helm chart (`charts/mendix-operator/`) with the real Helm: it lints, renders what each
//! values file of `ci/` asks for, grants exactly what `deploy/` grants, runs the pod `deploy/`
//! runs, ships the generated CRDs unchanged, and installs, upgrades and uninstalls on the real
//! API server of the test kit.

use std::collections::BTreeSet;
use std::path::Path;

use clap::{CommandFactory, Parser};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use mendix_operator::cli::{Cli, Command};
use mendix_operator::runtime::config::RunConfig;
use mendix_testkit::helm::{Helm, objects};
use mendix_testkit::{Run, control_plane, kustomize, repo_path};
use serde_json::{Value, json};

const CHART: &str = "charts/mendix-operator";
/// The release name that gives the chart's objects deploy/'s names.
const RELEASE: &str = "mendix-operator";
const NAMESPACE: &str = "mendix-operator";

fn chart() -> String {
    repo_path(CHART)
}

/// `helm template` of the chart in [`NAMESPACE`] with the values files of `ci/` and more
/// arguments.
async fn template(helm: &Helm, values: &[&str], more: &[&str]) -> Vec<Value> {
    helm_objects(&template_run(helm, values, more).await)
}

async fn template_run(helm: &Helm, values: &[&str], more: &[&str]) -> Run {
    let chart = chart();
    let files: Vec<String> = values
        .iter()
        .map(|v| repo_path(&format!("{CHART}/ci/{v}")))
        .collect();
    let mut args = vec![
        "template",
        RELEASE,
        chart.as_str(),
        "--namespace",
        NAMESPACE,
    ];
    for file in &files {
        args.extend(["--values", file.as_str()]);
    }
    args.extend_from_slice(more);
    helm.run(&args).await
}

fn helm_objects(run: &Run) -> Vec<Value> {
    assert!(run.ok, "helm template failed:\n{}", run.stderr);
    objects(&run.stdout)
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} is not rendered"))
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn kinds(docs: &[Value]) -> BTreeSet<String> {
    docs.iter()
        .filter_map(|d| d["kind"].as_str().map(String::from))
        .collect()
}

/// (API group, resource, verb) of every grant of `rules`: rules compared as what they allow,
/// however they are grouped.
fn grants(rules: &Value) -> BTreeSet<(String, String, String)> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(String::from))
            .collect()
    };
    let mut out = BTreeSet::new();
    for rule in rules.as_array().expect("rules are a list") {
        assert!(
            rule["resourceNames"].is_null() && rule["nonResourceURLs"].is_null(),
            "{rule}"
        );
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    out.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    assert!(!out.is_empty(), "no grants in {rules}");
    out
}

fn pod(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]
}

fn container(deployment: &Value) -> &Value {
    let containers = pod(deployment)["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

fn env<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()
        .and_then(|env| env.iter().find(|e| e["name"] == name))
}

fn env_value(container: &Value, name: &str) -> Option<String> {
    env(container, name).and_then(|e| e["value"].as_str().map(String::from))
}

fn args(container: &Value) -> Vec<String> {
    container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string args").to_string())
        .collect()
}

/// Bytes of a whole Kubernetes quantity (2Gi, 500Mi, 3G).
fn quantity_bytes(q: &str) -> u64 {
    let at = q.find(|c: char| !c.is_ascii_digit()).unwrap_or(q.len());
    let (number, unit) = q.split_at(at);
    let factor: u64 = match unit {
        "" => 1,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        other => panic!("unexpected quantity unit {other} in {q}"),
    };
    number.parse::<u64>().expect("a whole quantity") * factor
}

/// The operator's own configuration parser applied to the rendered container, as the pod would
/// start it: its args, and each environment variable the operator reads turned into its flag
/// (fieldRefs get the values the kubelet would give).
fn operator_config(container: &Value, pod_name: &str, namespace: &str) -> RunConfig {
    let command = Cli::command();
    let run = command.find_subcommand("run").expect("a run subcommand");
    let mut argv = vec!["mendix-operator".to_string()];
    argv.extend(args(container));
    for entry in container["env"].as_array().expect("env") {
        let name = entry["name"].as_str().expect("env name");
        let value = match entry["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            Some("metadata.name") => pod_name.to_string(),
            Some("metadata.namespace") => namespace.to_string(),
            Some(other) => panic!("unexpected fieldRef {other}"),
            None => entry["value"].as_str().expect("env value").to_string(),
        };
        if let Some(flag) = run
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == name))
            .and_then(|a| a.get_long())
        {
            argv.push(format!("--{flag}={value}"));
        }
    }
    let cli =
        Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("the operator refuses {argv:?}: {e}"));
    let Command::Run(config) = cli.command else {
        panic!("{argv:?} is not `run`")
    };
    config
        .validate()
        .unwrap_or_else(|e| panic!("the operator refuses {argv:?}: {e}"));
    config
}

/// Every render: the operator accepts its configuration, downloads fit their volume, every
/// namespaced object is in a namespace, the pod is as restricted as deploy/'s.
fn check_render(docs: &[Value], name: &str) -> RunConfig {
    let deployment = find(docs, "Deployment", name);
    let container = container(deployment);
    let config = operator_config(container, &format!("{name}-7d9f8-abcde"), NAMESPACE);
    assert_eq!(config.lease_namespace, NAMESPACE);
    let mount = &container["volumeMounts"][0];
    assert_eq!(mount["name"], "downloads");
    assert_eq!(
        mount["mountPath"].as_str(),
        config.download_dir.to_str(),
        "downloads go to the emptyDir"
    );
    let volume = pod(deployment)["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == "downloads")
        .expect("the downloads volume");
    let limit = quantity_bytes(
        volume["emptyDir"]["sizeLimit"]
            .as_str()
            .expect("the emptyDir has a size limit"),
    );
    assert!(
        config.max_download_size <= limit,
        "MAX_DOWNLOAD_SIZE ({}) must fit the volume ({limit})",
        config.max_download_size
    );
    for doc in docs {
        let kind = doc["kind"].as_str().unwrap_or_default();
        let cluster_scoped = matches!(
            kind,
            "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition" | "Namespace"
        );
        assert_eq!(
            doc["metadata"]["namespace"].is_string(),
            !cluster_scoped,
            "{kind}/{}: namespaced objects name their namespace",
            doc["metadata"]["name"]
        );
        assert_eq!(
            doc["metadata"]["labels"]["app.kubernetes.io/instance"],
            RELEASE
        );
    }
    assert!(
        docs.iter().all(|d| d["kind"] != "Namespace"),
        "Helm owns the release namespace"
    );
    // The token reaches the operator's container only, where Kubernetes clients look for it.
    assert_eq!(pod(deployment)["automountServiceAccountToken"], false);
    let token = container["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount")
        .expect("the API token is mounted");
    assert_eq!(token["readOnly"], true);
    let projected = pod(deployment)["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == token["name"])
        .expect("the API token's volume");
    assert!(
        projected["projected"]["sources"][0]["serviceAccountToken"]["path"] == "token",
        "{projected}"
    );
    let sc = &container["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(pod(deployment)["securityContext"]["runAsNonRoot"], true);
    config
}

#[tokio::test]
async fn lints_clean_even_strict_with_every_ci_values_file() {
    let helm = Helm::offline();
    let chart = chart();
    let out = helm.ok(&["lint", &chart]).await;
    assert!(
        out.contains("1 chart(s) linted, 0 chart(s) failed"),
        "{out}"
    );
    for values in [
        "default-values.yaml",
        "namespaced-values.yaml",
        "monitoring-values.yaml",
    ] {
        let file = repo_path(&format!("{CHART}/ci/{values}"));
        let out = helm
            .ok(&["lint", "--strict", &chart, "--values", &file])
            .await;
        assert!(
            out.contains("1 chart(s) linted, 0 chart(s) failed"),
            "{values}: {out}"
        );
        // Lint reports what it would fail --strict on as [WARNING]; informational lines only.
        assert!(
            !out.contains("[WARNING]") && !out.contains("[ERROR]"),
            "{out}"
        );
    }
}

/// With release name and namespace `mendix-operator` the defaults render deploy/'s install:
/// the same grants, the same pod, the same ports and NetworkPolicy, and nothing cluster-wide but
/// the ClusterRole and its binding.
#[tokio::test]
async fn defaults_render_what_deploy_installs() {
    let helm = Helm::offline();
    let docs = template(&helm, &["default-values.yaml"], &[]).await;
    let deploy = kustomize("deploy/");
    let config = check_render(&docs, RELEASE);
    assert!(config.watched_namespaces().is_empty(), "watches everything");
    assert!(config.leader_election);

    assert_eq!(
        kinds(&docs),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "NetworkPolicy",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount"
        ]
        .map(String::from)
        .into(),
        "CRDs come from crds/, not templates; no ServiceMonitor by default"
    );

    // RBAC: the same grants as deploy/, bound to the same account.
    let cluster_role = find(&docs, "ClusterRole", RELEASE);
    assert_eq!(
        grants(&cluster_role["rules"]),
        grants(&find(&deploy, "ClusterRole", "mendix-operator")["rules"])
    );
    let binding = find(&docs, "ClusterRoleBinding", RELEASE);
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(binding["roleRef"]["name"], RELEASE);
    assert_eq!(
        binding["subjects"],
        find(&deploy, "ClusterRoleBinding", "mendix-operator")["subjects"]
    );
    let lease = find(&docs, "Role", "mendix-operator-leader-election");
    assert_eq!(lease["metadata"]["namespace"], NAMESPACE);
    assert_eq!(
        grants(&lease["rules"]),
        grants(&find(&deploy, "Role", "mendix-operator-leader-election")["rules"])
    );
    assert_eq!(
        find(&docs, "RoleBinding", "mendix-operator-leader-election")["subjects"],
        find(&deploy, "RoleBinding", "mendix-operator-leader-election")["subjects"]
    );
    assert_eq!(of_kind(&docs, "Role").len(), 1, "only the Lease's Role");

    // The pod: deploy/'s, field by field (the pull policy aside: see values.yaml).
    let ours = find(&docs, "Deployment", RELEASE);
    let theirs = find(&deploy, "Deployment", "mendix-operator");
    assert_eq!(ours["spec"]["replicas"], theirs["spec"]["replicas"]);
    for field in [
        "securityContext",
        "serviceAccountName",
        "volumes",
        "automountServiceAccountToken",
        "hostNetwork",
    ] {
        assert_eq!(pod(ours)[field], pod(theirs)[field], "pod {field}");
    }
    for field in [
        "name",
        "args",
        "env",
        "ports",
        "livenessProbe",
        "readinessProbe",
        "resources",
        "volumeMounts",
        "securityContext",
    ] {
        assert_eq!(
            container(ours)[field],
            container(theirs)[field],
            "container {field}"
        );
    }
    // The same image, pinned by the same digest.
    let image = container(ours)["image"].as_str().expect("image");
    let deploy_image = container(theirs)["image"].as_str().expect("image");
    let (repository, digest) = image.split_once('@').expect("pinned by digest");
    assert!(
        deploy_image.starts_with(&format!("{repository}:")),
        "{deploy_image}"
    );
    assert!(
        deploy_image.ends_with(&format!("@{digest}")),
        "{deploy_image}"
    );
    assert_eq!(container(ours)["imagePullPolicy"], "IfNotPresent");
    assert!(
        ours["metadata"]["annotations"].is_null(),
        "no exception needed"
    );
    assert_eq!(
        find(&docs, "ServiceAccount", RELEASE)["automountServiceAccountToken"],
        find(&deploy, "ServiceAccount", "mendix-operator")["automountServiceAccountToken"]
    );

    // The Service's ports, and a selector that picks the operator's pods.
    let service = find(&docs, "Service", "mendix-operator-metrics");
    assert_eq!(
        service["spec"]["ports"][0]["port"],
        find(&deploy, "Service", "mendix-operator-metrics")["spec"]["ports"][0]["port"]
    );
    let pod_labels = &ours["spec"]["template"]["metadata"]["labels"];
    for (key, value) in service["spec"]["selector"].as_object().expect("selector") {
        assert_eq!(&pod_labels[key], value, "Service selector {key}");
    }

    // The NetworkPolicy: deploy/'s rules, for the release's pods.
    let policy = find(&docs, "NetworkPolicy", RELEASE);
    let deploy_policy = find(&deploy, "NetworkPolicy", "mendix-operator");
    for field in ["policyTypes", "ingress", "egress"] {
        assert_eq!(
            policy["spec"][field], deploy_policy["spec"][field],
            "NetworkPolicy {field}"
        );
    }
    for (key, value) in policy["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .expect("podSelector")
    {
        assert_eq!(&pod_labels[key], value, "NetworkPolicy selector {key}");
    }
}

/// A list of namespaces: a Role and RoleBinding in each with deploy/namespaced/'s grants, no
/// cluster-wide grant, and the operator told to watch exactly those namespaces.
#[tokio::test]
async fn a_namespace_list_grants_only_there() {
    let helm = Helm::offline();
    let docs = template(&helm, &["namespaced-values.yaml"], &[]).await;
    let namespaced = kustomize("deploy/namespaced/");
    let config = check_render(&docs, RELEASE);
    assert_eq!(config.watched_namespaces(), ["team-a", "team-b"]);
    assert!(!config.leader_election);
    let deployment = find(&docs, "Deployment", RELEASE);
    assert_eq!(
        args(container(deployment)),
        [
            "run",
            "--namespaces=team-a,team-b",
            "--leader-election=false"
        ]
    );
    assert_eq!(deployment["spec"]["replicas"], 1);

    assert!(
        of_kind(&docs, "ClusterRole").is_empty() && of_kind(&docs, "ClusterRoleBinding").is_empty(),
        "no cluster-wide grant"
    );
    let shipped = grants(
        &namespaced
            .iter()
            .find(|d| d["kind"] == "Role" && d["metadata"]["name"] == "mendix-operator")
            .expect("deploy/namespaced/ has the operator's Role")["rules"],
    );
    let roles = of_kind(&docs, "Role");
    assert_eq!(
        roles.len(),
        2,
        "one Role per watched namespace, no Lease Role without leader election"
    );
    for ns in ["team-a", "team-b"] {
        let role = roles
            .iter()
            .find(|r| r["metadata"]["namespace"] == ns)
            .unwrap_or_else(|| panic!("no Role in {ns}"));
        assert_eq!(grants(&role["rules"]), shipped, "Role in {ns}");
        let binding = of_kind(&docs, "RoleBinding")
            .into_iter()
            .find(|b| b["metadata"]["namespace"] == ns)
            .unwrap_or_else(|| panic!("no RoleBinding in {ns}"));
        assert_eq!(binding["roleRef"]["kind"], "Role");
        assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}])
        );
    }
}

/// A digest pins the image, the ServiceMonitor scrapes the Service's port, extra environment
/// reaches the operator, larger downloads get a larger volume, the NetworkPolicy takes the
/// narrowed peers.
#[tokio::test]
async fn digest_servicemonitor_extra_env_and_sizes() {
    let helm = Helm::offline();
    let docs = template(&helm, &["monitoring-values.yaml"], &[]).await;
    let config = check_render(&docs, RELEASE);
    assert_eq!(config.resync_period, std::time::Duration::from_secs(300));
    assert_eq!(config.max_download_size, 4 << 30);
    let deployment = find(&docs, "Deployment", RELEASE);
    let c = container(deployment);
    assert_eq!(
        c["image"],
        "ghcr.io/mendixops/mendix-operator@sha256:0f2e51cbbd4e2b5c62e4f23d5a4e8e1f6b9d0c7a3e5f7a9b1c3d5e7f9a1b3c5d"
    );
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(env_value(c, "LOG_FORMAT").as_deref(), Some("json"));
    assert_eq!(env_value(c, "MAX_DOWNLOAD_SIZE").as_deref(), Some("4GiB"));
    assert_eq!(
        pod(deployment)["volumes"][0]["emptyDir"]["sizeLimit"],
        "5Gi"
    );

    let monitor = find(&docs, "ServiceMonitor", RELEASE);
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(
        monitor["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    let service = find(&docs, "Service", "mendix-operator-metrics");
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("ServiceMonitor selector")
    {
        assert_eq!(&service["metadata"]["labels"][key], value, "selects {key}");
    }
    assert_eq!(
        monitor["spec"]["namespaceSelector"]["matchNames"],
        json!([NAMESPACE])
    );
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], service["spec"]["ports"][0]["name"]);
    assert_eq!(endpoint["path"], "/metrics");

    let policy = &find(&docs, "NetworkPolicy", RELEASE)["spec"];
    assert_eq!(
        policy["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "monitoring"
    );
    let egress = policy["egress"].as_array().expect("egress");
    assert_eq!(egress.len(), 4, "DNS, API server, Mendix, the extra rule");
    assert_eq!(
        egress[1]["to"],
        json!([{"ipBlock": {"cidr": "10.96.0.1/32"}}, {"ipBlock": {"cidr": "172.18.0.2/32"}}])
    );
    assert_eq!(egress[3]["to"][0]["ipBlock"]["cidr"], "10.20.0.0/16");
}

/// Values the operator would refuse, or that would break it, fail the render with a message
/// that names them, instead of a crash-looping pod.
#[tokio::test]
async fn bad_values_fail_the_render() {
    let helm = Helm::offline();
    for (set, message) in [
        (
            vec!["--set", "leaderElection.enabled=false"],
            "leaderElection.enabled=false needs replicas: 1",
        ),
        (
            vec!["--set", "downloads.maxSize=3GiB"],
            "downloads.maxSize (3GiB) must fit downloads.sizeLimit (2Gi)",
        ),
        (
            vec!["--set", "downloads.maxSize=1GB"],
            "downloads.maxSize: \"1GB\" is not a size",
        ),
        (
            vec!["--set", "downloads.sizeLimit=1.5Gi"],
            "downloads.sizeLimit: \"1.5Gi\" is not a whole Kubernetes quantity",
        ),
        (
            vec![
                "--set-json",
                r#"extraEnv=[{"name":"MAX_DOWNLOAD_SIZE","value":"9GiB"}]"#,
            ],
            "extraEnv: MAX_DOWNLOAD_SIZE is set by the chart",
        ),
        (
            vec!["--set-json", r#"watchNamespaces=["Team_B"]"#],
            "at '/watchNamespaces/0': 'Team_B' does not match pattern",
        ),
        (
            vec!["--set", "image.digest=latest"],
            "at '/image/digest': 'latest' does not match pattern",
        ),
        (
            vec!["--set", "watchNamespace=apps"],
            "additional properties 'watchNamespace' not allowed",
        ),
    ] {
        let run = template_run(&helm, &[], &set).await;
        assert!(!run.ok, "{set:?} must fail; rendered:\n{}", run.stdout);
        assert!(
            run.stderr.contains(message),
            "{set:?}: the message should say {message:?}: {}",
            run.stderr
        );
    }
    // The controls: the same keys with good values render.
    for set in [
        vec![
            "--set",
            "leaderElection.enabled=false",
            "--set",
            "replicas=1",
        ],
        vec![
            "--set",
            "downloads.maxSize=3GiB",
            "--set",
            "downloads.sizeLimit=3Gi",
        ],
    ] {
        let run = template_run(&helm, &[], &set).await;
        assert!(run.ok, "{set:?}: {}", run.stderr);
        check_render(&helm_objects(&run), RELEASE);
    }
}

/// What the security scan (tests/security_scan.rs) reads: the defaults and every ci/ values
/// file, each a whole install with its Deployment, in a namespace of its own.
#[test]
fn scanner_renders_cover_the_defaults_and_every_ci_file() {
    let renders = mendix_testkit::helm::rendered_for_scan();
    let names: Vec<&str> = renders.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "helm-defaults",
            "helm-ci-default",
            "helm-ci-monitoring",
            "helm-ci-namespaced"
        ]
    );
    for (name, yaml) in &renders {
        let docs = objects(yaml);
        check_render(&docs, RELEASE);
        assert!(
            docs.iter()
                .all(|d| d["metadata"]["namespace"].is_null()
                    || d["metadata"]["namespace"] != "default"),
            "{name}: nothing in namespace default"
        );
    }
}

/// The chart's crds/ are the generated CRDs of crds/, byte for byte (`cargo run -- crds`
/// regenerates crds/; copy them to the chart with it).
#[test]
fn chart_crds_are_the_generated_crds() {
    let yaml_files = |dir: &str| -> BTreeSet<String> {
        std::fs::read_dir(repo_path(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|entry| {
                entry
                    .expect("a directory entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.ends_with(".yaml"))
            .collect()
    };
    let generated = yaml_files("crds");
    let shipped = yaml_files(&format!("{CHART}/crds"));
    assert_eq!(shipped, generated, "the chart ships every generated CRD");
    assert_eq!(generated.len(), 4);
    for name in &generated {
        let ours = std::fs::read(repo_path(&format!("{CHART}/crds/{name}"))).expect("chart CRD");
        let theirs = std::fs::read(repo_path(&format!("crds/{name}"))).expect("generated CRD");
        assert!(
            ours == theirs,
            "{CHART}/crds/{name} differs from crds/{name}: cp crds/*.yaml {CHART}/crds/"
        );
    }
}

/// kubectl as the admin of the test kit's control plane.
fn kubectl(kubeconfig: &Path, args: &[&str], input: &str) -> Run {
    use std::io::Write;
    let mut child = std::process::Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env(
            "KUBECACHEDIR",
            kubeconfig.with_file_name("kubectl-cache").as_os_str(),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl is installed (see .ci/run)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("kubectl stdin");
    let out = child.wait_with_output().expect("kubectl output");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `kind/name` of each object of a manifest that exists in the API server.
fn existing(kubeconfig: &Path, manifest: &str) -> BTreeSet<String> {
    let run = kubectl(
        kubeconfig,
        &["get", "--ignore-not-found", "-o", "name", "-f", "-"],
        manifest,
    );
    assert!(run.ok, "kubectl get -f failed: {}", run.stderr);
    run.stdout.lines().map(String::from).collect()
}

fn manifest_names(docs: &[Value]) -> BTreeSet<String> {
    docs.iter()
        .map(|d| {
            let group = d["apiVersion"]
                .as_str()
                .and_then(|v| v.split_once('/'))
                .map(|(group, _)| format!(".{group}"))
                .unwrap_or_default();
            format!(
                "{}{group}/{}",
                d["kind"].as_str().expect("kind").to_lowercase(),
                d["metadata"]["name"].as_str().expect("name")
            )
        })
        .collect()
}

#[tokio::test]
async fn installs_upgrades_and_uninstalls_on_the_api_server() {
    let plane = control_plane();
    let client = plane.admin_client().await.expect("admin client");
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    plane
        .write_admin_kubeconfig(&kubeconfig)
        .expect("kubeconfig written");
    let helm = Helm::with_kubeconfig(&kubeconfig);
    let chart = chart();
    // The release's namespace (enforcing the restricted Pod Security Standard, as deploy/'s does)
    // and a namespace to watch later.
    let ns = format!("helm-release-{}", std::process::id());
    let watched = format!("helm-apps-{}", std::process::id());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for (name, restricted) in [(&ns, true), (&watched, false)] {
        let mut namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        if restricted {
            namespace.metadata.labels = Some(
                [("pod-security.kubernetes.io/enforce", "restricted")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
        }
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .expect("namespace created");
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let cluster_roles: Api<ClusterRole> = Api::all(client.clone());
    let cluster_bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    let roles: Api<Role> = Api::namespaced(client.clone(), &ns);
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());

    // Install: the CRDs from crds/ and every rendered object.
    helm.ok(&["install", RELEASE, &chart, "--namespace", &ns])
        .await;
    let manifest = helm
        .ok(&["get", "manifest", RELEASE, "--namespace", &ns])
        .await;
    let records = Api::<Secret>::namespaced(client.clone(), &ns)
        .list(&ListParams::default().labels("owner=helm"))
        .await
        .expect("Secrets listed");
    assert_eq!(records.items.len(), 1, "Helm keeps the release in a Secret");
    let installed = objects(&manifest);
    assert_eq!(installed.len(), 8, "{manifest}");
    assert_eq!(
        existing(&kubeconfig, &manifest),
        manifest_names(&installed),
        "every object of the release exists"
    );
    for name in [
        "mendixpackages",
        "mendixenvironments",
        "mendixclusters",
        "mendixnamespaces",
    ] {
        crds.get(&format!("{name}.mendixops.io"))
            .await
            .unwrap_or_else(|e| panic!("CRD {name} installed from the chart's crds/: {e}"));
    }
    let deployment = deployments.get(RELEASE).await.expect("the Deployment");
    let generation = deployment.metadata.generation.expect("a generation");
    let spec = deployment.spec.as_ref().expect("spec");
    assert_eq!(spec.replicas, Some(2));
    let template = spec.template.spec.as_ref().expect("pod spec");
    assert_eq!(
        template.containers[0].args.as_deref(),
        Some(&["run".to_string()][..])
    );
    let cluster_role = cluster_roles.get(RELEASE).await.expect("the ClusterRole");
    assert_eq!(
        grants(&serde_json::to_value(&cluster_role.rules).expect("rules")),
        grants(&find(&kustomize("deploy/"), "ClusterRole", "mendix-operator")["rules"])
    );
    roles
        .get("mendix-operator-leader-election")
        .await
        .expect("the Lease's Role");

    // The pod the ReplicaSet would create is admitted under "restricted"; the same pod without
    // its container's security context is not (so the check has teeth).
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let mut pod = Pod {
        metadata: ObjectMeta {
            name: Some("pod-security-check".into()),
            ..Default::default()
        },
        spec: Some(template.clone()),
        ..Default::default()
    };
    pods.create(&dry_run, &pod)
        .await
        .expect("the operator's pod meets the restricted Pod Security Standard");
    if let Some(spec) = pod.spec.as_mut() {
        spec.containers[0].security_context = None;
    }
    let refused = pods
        .create(&dry_run, &pod)
        .await
        .expect_err("a pod without the security context is refused");
    assert!(refused.to_string().contains("PodSecurity"), "{refused}");

    // Upgrade: one replica without leader election, watching one namespace, more environment.
    helm.ok(&[
        "upgrade",
        RELEASE,
        &chart,
        "--namespace",
        &ns,
        "--set",
        "replicas=1",
        "--set",
        "leaderElection.enabled=false",
        "--set-json",
        &format!(r#"watchNamespaces=["{watched}"]"#),
        "--set-json",
        r#"extraEnv=[{"name":"RESYNC_PERIOD","value":"5m"}]"#,
    ])
    .await;
    let deployment = deployments.get(RELEASE).await.expect("the Deployment");
    assert!(deployment.metadata.generation.expect("a generation") > generation);
    let spec = deployment.spec.expect("spec");
    assert_eq!(spec.replicas, Some(1));
    let operator = &spec.template.spec.expect("pod spec").containers[0];
    assert_eq!(
        operator.args.clone().unwrap_or_default(),
        [
            "run".to_string(),
            format!("--namespaces={watched}"),
            "--leader-election=false".to_string()
        ]
    );
    assert!(
        operator
            .env
            .iter()
            .flatten()
            .any(|e| e.name == "RESYNC_PERIOD" && e.value.as_deref() == Some("5m")),
        "{:?}",
        operator.env
    );
    // What the new values no longer render is gone, what they render is there.
    assert!(cluster_roles.get_opt(RELEASE).await.expect("get").is_none());
    assert!(
        cluster_bindings
            .get_opt(RELEASE)
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        roles
            .get_opt("mendix-operator-leader-election")
            .await
            .expect("get")
            .is_none()
    );
    let role = Api::<Role>::namespaced(client.clone(), &watched)
        .get(RELEASE)
        .await
        .expect("the Role in the watched namespace");
    assert_eq!(
        grants(&serde_json::to_value(&role.rules).expect("rules")),
        grants(&namespaced_role_rules())
    );
    let binding = Api::<RoleBinding>::namespaced(client.clone(), &watched)
        .get(RELEASE)
        .await
        .expect("the RoleBinding in the watched namespace");
    let subject = &binding.subjects.expect("subjects")[0];
    assert_eq!(
        (subject.name.as_str(), subject.namespace.as_deref()),
        (RELEASE, Some(ns.as_str()))
    );
    let status: Value = serde_json::from_str(
        &helm
            .ok(&["status", RELEASE, "--namespace", &ns, "--output", "json"])
            .await,
    )
    .expect("helm status JSON");
    assert_eq!(status["version"], 2, "{status}");
    assert_eq!(status["info"]["status"], "deployed", "{status}");

    // Uninstall: every object of the release goes; the CRDs stay (Helm never deletes them, and
    // with them every Mendix resource of the cluster).
    let manifest = helm
        .ok(&["get", "manifest", RELEASE, "--namespace", &ns])
        .await;
    assert_eq!(
        existing(&kubeconfig, &manifest).len(),
        objects(&manifest).len()
    );
    helm.ok(&["uninstall", RELEASE, "--namespace", &ns]).await;
    assert_eq!(
        existing(&kubeconfig, &manifest),
        BTreeSet::new(),
        "nothing of the release is left"
    );
    let listed: Value = serde_json::from_str(
        &helm
            .ok(&["list", "--namespace", &ns, "--output", "json"])
            .await,
    )
    .expect("helm list JSON");
    assert_eq!(listed, json!([]), "helm lists no release");
    let records = Api::<Secret>::namespaced(client.clone(), &ns)
        .list(&ListParams::default().labels("owner=helm"))
        .await
        .expect("Secrets listed");
    assert!(records.items.is_empty(), "no release record is left");
    crds.get("mendixenvironments.mendixops.io")
        .await
        .expect("the CRDs stay");
}

/// The Role deploy/namespaced/ grants in a watched namespace.
fn namespaced_role_rules() -> Value {
    kustomize("deploy/namespaced/")
        .into_iter()
        .find(|d| d["kind"] == "Role" && d["metadata"]["name"] == "mendix-operator")
        .expect("deploy/namespaced/ has the operator's Role")["rules"]
        .clone()
}
