//! `deploy/` renders with the real kustomize in kubectl, and what it renders is least-privilege
//! and meets the "restricted" Pod Security Standard.

use serde_json::Value;

fn render() -> Vec<Value> {
    render_dir("deploy/")
}

fn render_dir(dir: &str) -> Vec<Value> {
    mendix_testkit::kustomize(dir)
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} missing from deploy/"))
}

#[test]
fn renders_every_piece_of_the_install() {
    let docs = render();
    find(&docs, "Namespace", "mendix-operator");
    find(
        &docs,
        "CustomResourceDefinition",
        "mendixpackages.mendixops.io",
    );
    find(
        &docs,
        "CustomResourceDefinition",
        "mendixenvironments.mendixops.io",
    );
    let sa = find(&docs, "ServiceAccount", "mendix-operator");
    assert_eq!(sa["metadata"]["namespace"], "mendix-operator");
    find(&docs, "ClusterRole", "mendix-operator");
    find(&docs, "ClusterRoleBinding", "mendix-operator");
    find(&docs, "Role", "mendix-operator-leader-election");
    find(&docs, "RoleBinding", "mendix-operator-leader-election");
    find(&docs, "Deployment", "mendix-operator");
}

/// Which verbs the operator needs is proven by the audit log in tests/least_privilege.rs; here,
/// where they are granted: the Lease only in the operator's namespace, never cluster-wide.
#[test]
fn leases_are_granted_only_in_the_operators_namespace() {
    let docs = render();
    let cluster = find(&docs, "ClusterRole", "mendix-operator");
    assert!(!cluster.to_string().contains("leases"), "{cluster}");
    let role = find(&docs, "Role", "mendix-operator-leader-election");
    assert_eq!(role["metadata"]["namespace"], "mendix-operator", "{role}");
}

#[test]
fn deployment_meets_the_restricted_pod_security_standard() {
    let docs = render();
    let deployment = find(&docs, "Deployment", "mendix-operator");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(pod["serviceAccountName"], "mendix-operator");
    assert!(pod["hostNetwork"].is_null() && pod["hostPID"].is_null());
    // Two volumes: the size-limited emptyDir that downloads go to, as DOWNLOAD_DIR says, and
    // the API token, projected short-lived into the operator's container only (the pod does
    // not automount it).
    assert_eq!(
        pod["volumes"][0],
        serde_json::json!({"name": "downloads", "emptyDir": {"sizeLimit": "2Gi"}})
    );
    assert_eq!(pod["automountServiceAccountToken"], false);
    let token = &pod["volumes"][1];
    assert_eq!(token["name"], "api-token");
    assert_eq!(
        token["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
        3600
    );
    assert_eq!(pod["volumes"].as_array().map(Vec::len), Some(2));
    assert!(
        pod["containers"][0]["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .any(|m| m["name"] == "api-token"
                && m["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"
                && m["readOnly"] == true),
        "the token is mounted read-only where clients look for it"
    );
    let container = &pod["containers"][0];
    let env_value = |name: &str| {
        container["env"]
            .as_array()
            .and_then(|env| env.iter().find(|e| e["name"] == name))
            .map(|e| e["value"].clone())
            .unwrap_or_default()
    };
    assert_eq!(
        container["volumeMounts"][0]["mountPath"],
        env_value("DOWNLOAD_DIR")
    );
    assert_eq!(env_value("MAX_DOWNLOAD_SIZE"), "1GiB");
    let containers = pod["containers"].as_array().expect("containers");
    assert!(!containers.is_empty());
    for c in containers {
        let sc = &c["securityContext"];
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{}", c["name"]);
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{}", c["name"]);
        assert_eq!(
            sc["capabilities"]["drop"],
            serde_json::json!(["ALL"]),
            "{}",
            c["name"]
        );
        assert!(sc["capabilities"]["add"].is_null(), "{}", c["name"]);
        assert!(sc["privileged"].is_null() || sc["privileged"] == false);
        for field in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    c["resources"][field][resource].is_string(),
                    "{} lacks {field}.{resource}",
                    c["name"]
                );
            }
        }
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
        assert_eq!(c["args"][0], "run");
    }
}

/// The namespaced variant: no cluster-wide grants, the same rules as a Role in each watched
/// namespace, and the operator told to watch exactly those namespaces.
#[test]
fn namespaced_variant_grants_only_in_the_watched_namespaces() {
    let cluster_wide = render();
    let docs = render_dir("deploy/namespaced/");
    assert!(
        docs.iter()
            .all(|d| d["kind"] != "ClusterRole" && d["kind"] != "ClusterRoleBinding"),
        "no cluster-wide RBAC in deploy/namespaced"
    );
    find(
        &docs,
        "CustomResourceDefinition",
        "mendixpackages.mendixops.io",
    );
    find(&docs, "Role", "mendix-operator-leader-election");
    let deployment = find(&docs, "Deployment", "mendix-operator");
    assert_eq!(deployment["metadata"]["namespace"], "mendix-operator");
    let args: Vec<&str> = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(args[0], "run");
    let watched: Vec<&str> = args
        .iter()
        .find_map(|a| a.strip_prefix("--namespaces="))
        .expect("--namespaces is set")
        .split(',')
        .collect();

    // Each watched namespace has the ClusterRole's rules as a Role, bound to the operator.
    let cluster_rules = &find(&cluster_wide, "ClusterRole", "mendix-operator")["rules"];
    for ns in &watched {
        let role = docs
            .iter()
            .find(|d| d["kind"] == "Role" && d["metadata"]["namespace"] == *ns)
            .unwrap_or_else(|| panic!("no Role in watched namespace {ns}"));
        assert_eq!(&role["rules"], cluster_rules, "Role in {ns}");
        let binding = docs
            .iter()
            .find(|d| d["kind"] == "RoleBinding" && d["metadata"]["namespace"] == *ns)
            .unwrap_or_else(|| panic!("no RoleBinding in watched namespace {ns}"));
        assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
        assert_eq!(binding["subjects"][0]["name"], "mendix-operator");
        assert_eq!(binding["subjects"][0]["namespace"], "mendix-operator");
    }
    // And no grants anywhere else but the Lease in the operator's own namespace.
    for role in docs.iter().filter(|d| d["kind"] == "Role") {
        let ns = role["metadata"]["namespace"].as_str().unwrap_or_default();
        assert!(
            watched.contains(&ns) || role["metadata"]["name"] == "mendix-operator-leader-election",
            "unexpected Role {} in {ns}",
            role["metadata"]["name"]
        );
    }
}
