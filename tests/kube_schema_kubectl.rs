//! The OpenAPI v3 documents of the schema module, served over loopback HTTP with just enough
//! discovery around them, are what every installed kubectl (1.27 … 1.33) needs for
//! `kubectl explain`. This checks the documents, not the sandbox server (which has its own tests).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mendix_operator::sandbox::kube::schema::{
    KindSchema, builtin_kinds, openapi_v2_protobuf, openapi_v3_group_version, openapi_v3_root,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

struct Served {
    kinds: Vec<KindSchema>,
    address: String,
}

fn crd_kinds() -> Vec<KindSchema> {
    let mut kinds = Vec::new();
    for file in ["mendixenvironments.yaml", "mendixpackages.yaml"] {
        let path = format!("{}/crds/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("CRD file");
        let crd: Value = serde_yaml::from_str(&text).expect("CRD YAML");
        kinds.extend(KindSchema::from_crd(&crd));
    }
    kinds
}

fn json_response(value: Value) -> Response {
    ([("content-type", "application/json")], value.to_string()).into_response()
}

async fn version() -> Response {
    json_response(json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0",
        "gitCommit": "0", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64"}))
}

async fn core_versions(State(s): State<Arc<Served>>) -> Response {
    json_response(json!({"kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": s.address}]}))
}

fn resource_list(kinds: &[&KindSchema], group_version: &str) -> Value {
    let resources: Vec<Value> = kinds
        .iter()
        .map(|k| {
            json!({"name": k.plural, "singularName": k.kind.to_lowercase(),
                "namespaced": k.namespaced, "kind": k.kind,
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]})
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
        "resources": resources})
}

async fn core_resources(State(s): State<Arc<Served>>) -> Response {
    let kinds: Vec<&KindSchema> = s.kinds.iter().filter(|k| k.group.is_empty()).collect();
    json_response(resource_list(&kinds, "v1"))
}

async fn groups(State(s): State<Arc<Served>>) -> Response {
    let mut names: Vec<(String, String)> = s
        .kinds
        .iter()
        .filter(|k| !k.group.is_empty())
        .map(|k| (k.group.clone(), k.version.clone()))
        .collect();
    names.sort();
    names.dedup();
    let groups: Vec<Value> = names
        .iter()
        .map(|(g, v)| {
            let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
            json!({"name": g, "versions": [gv], "preferredVersion": gv})
        })
        .collect();
    json_response(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
}

async fn group_resources(
    State(s): State<Arc<Served>>,
    Path((group, version)): Path<(String, String)>,
) -> Response {
    let kinds: Vec<&KindSchema> = s
        .kinds
        .iter()
        .filter(|k| k.group == group && k.version == version)
        .collect();
    if kinds.is_empty() {
        return StatusCode::NOT_FOUND.into_response();
    }
    json_response(resource_list(&kinds, &format!("{group}/{version}")))
}

async fn v2_protobuf() -> Response {
    (
        [("content-type", "application/octet-stream")],
        openapi_v2_protobuf(),
    )
        .into_response()
}

async fn v3_root(State(s): State<Arc<Served>>) -> Response {
    json_response(openapi_v3_root(&s.kinds))
}

async fn v3_core(State(s): State<Arc<Served>>) -> Response {
    let kinds: Vec<KindSchema> = s
        .kinds
        .iter()
        .filter(|k| k.group.is_empty())
        .cloned()
        .collect();
    json_response(openapi_v3_group_version(&kinds))
}

async fn v3_group(
    State(s): State<Arc<Served>>,
    Path((group, version)): Path<(String, String)>,
) -> Response {
    let kinds: Vec<KindSchema> = s
        .kinds
        .iter()
        .filter(|k| k.group == group && k.version == version)
        .cloned()
        .collect();
    if kinds.is_empty() {
        return StatusCode::NOT_FOUND.into_response();
    }
    json_response(openapi_v3_group_version(&kinds))
}

/// Starts the server on an ephemeral loopback port; returns its base URL.
async fn serve() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("local address").to_string();
    let mut kinds = crd_kinds();
    kinds.extend(builtin_kinds());
    let state = Arc::new(Served {
        kinds,
        address: address.clone(),
    });
    let app = Router::new()
        .route("/version", get(version))
        .route("/api", get(core_versions))
        .route("/api/v1", get(core_resources))
        .route("/apis", get(groups))
        .route("/apis/{group}/{version}", get(group_resources))
        .route("/openapi/v2", get(v2_protobuf))
        .route("/openapi/v3", get(v3_root))
        .route("/openapi/v3/api/v1", get(v3_core))
        .route("/openapi/v3/apis/{group}/{version}", get(v3_group))
        .with_state(state);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
}

fn kubectl_versions() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new("/usr/lib/google-cloud-sdk/bin");
    let only: Option<u32> = std::env::var("KUBECTL_MINOR")
        .ok()
        .and_then(|m| m.parse().ok());
    (27..=33)
        .filter(|minor| only.is_none_or(|o| o == *minor))
        .map(|minor| dir.join(format!("kubectl.1.{minor}")))
        .filter(|p| p.exists())
        .collect()
}

async fn explain(kubectl: &std::path::Path, server: &str, what: &str) -> (bool, String) {
    let home = tempfile::tempdir().expect("temp dir");
    let kubeconfig = home.path().join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: s\n  cluster:\n    server: {server}\n\
             contexts:\n- name: s\n  context:\n    cluster: s\n    user: u\n    namespace: default\n\
             current-context: s\nusers:\n- name: u\n  user: {{}}\n"
        ),
    )
    .expect("write kubeconfig");
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(kubectl)
            .arg("explain")
            .arg(what)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(home.path().join("cache"))
            .args(std::env::var("KUBECTL_VERBOSITY").map(|v| format!("-v={v}")))
            .env("HOME", home.path())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("kubectl finished in time")
    .expect("kubectl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kubectl_explains_crd_and_builtin_kinds() {
    let versions = kubectl_versions();
    if versions.is_empty() {
        eprintln!("no kubectl.1.x binaries installed; nothing to check");
        return;
    }
    let server = serve().await;
    for kubectl in versions {
        let name = kubectl.display().to_string();

        let (ok, out) = explain(&kubectl, &server, "mendixenvironment.spec").await;
        assert!(ok, "{name}: {out}");
        assert!(out.contains("MendixEnvironment"), "{name}: {out}");
        assert!(
            out.contains("Desired state of one Mendix environment."),
            "{name}: {out}"
        );
        for field in [
            "credentialsSecretRef",
            "runState",
            "packageRef",
            "constants",
            "target",
        ] {
            assert!(out.contains(field), "{name}: {field} missing in {out}");
        }

        let (ok, out) = explain(&kubectl, &server, "mendixpackage.spec.source.build").await;
        assert!(ok, "{name}: {out}");
        assert!(out.contains("revision"), "{name}: {out}");
        assert!(
            out.contains("Build the package from the app's Team Server repository."),
            "{name}: {out}"
        );

        let (ok, out) = explain(&kubectl, &server, "mendixpackages.metadata.name").await;
        assert!(ok, "{name}: {out}");
        assert!(out.contains("string"), "{name}: {out}");

        let (ok, out) = explain(&kubectl, &server, "secrets.data").await;
        assert!(ok, "{name}: {out}");
        assert!(out.contains("Secret"), "{name}: {out}");

        let (ok, out) = explain(&kubectl, &server, "mendixenvironment.spec.nonsense").await;
        assert!(!ok, "{name}: a field that does not exist must fail: {out}");
    }
}
