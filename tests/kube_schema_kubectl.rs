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
    /// Method, path and query of every write kubectl sent.
    writes: std::sync::Mutex<Vec<String>>,
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

/// Objects do not exist; creating one echoes it back (no storage: only the request matters).
async fn object(
    State(s): State<Arc<Served>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> Response {
    if method == axum::http::Method::GET {
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "reason": "NotFound", "code": 404, "message": "not found"});
        return (StatusCode::NOT_FOUND, json_response(status)).into_response();
    }
    if let Ok(mut writes) = s.writes.lock() {
        writes.push(format!("{method} {uri}"));
    }
    let mut created: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    created["metadata"]["uid"] = json!("00000000-0000-0000-0000-000000000001");
    created["metadata"]["resourceVersion"] = json!("1");
    (StatusCode::CREATED, json_response(created)).into_response()
}

/// Starts the server on an ephemeral loopback port; returns its base URL and its state.
async fn serve_with_state() -> (String, Arc<Served>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("local address").to_string();
    let mut kinds = crd_kinds();
    kinds.extend(builtin_kinds());
    let state = Arc::new(Served {
        kinds,
        address: address.clone(),
        writes: std::sync::Mutex::new(Vec::new()),
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
        .route(
            "/apis/{group}/{version}/namespaces/{namespace}/{plural}",
            axum::routing::any(object),
        )
        .route(
            "/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}",
            axum::routing::any(object),
        )
        .with_state(state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}"), state)
}

async fn serve() -> String {
    serve_with_state().await.0
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
    run_kubectl(kubectl, server, &["explain", what], None).await
}

async fn run_kubectl(
    kubectl: &std::path::Path,
    server: &str,
    args: &[&str],
    manifest: Option<&str>,
) -> (bool, String) {
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
            .args(args)
            .args(manifest.map(|m| {
                let file = home.path().join("manifest.yaml");
                let _ = std::fs::write(&file, m);
                format!("--filename={}", file.display())
            }))
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

/// With these documents every kubectl leaves field validation to the server: a manifest with an
/// unknown field is not refused client-side but sent with `fieldValidation=Strict`, so the
/// sandbox server must do the strict check itself (the paths [`CompiledSchema::prune`] returns).
/// (kubectl 1.27+ sends the parameter by default; the PATCH operations in the v3 documents list
/// it as kube-apiserver's do.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kubectl_leaves_field_validation_to_the_server() {
    let versions = kubectl_versions();
    if versions.is_empty() {
        eprintln!("no kubectl.1.x binaries installed; nothing to check");
        return;
    }
    let (server, state) = serve_with_state().await;
    let manifest = "apiVersion: mendixops.io/v1alpha1\nkind: MendixPackage\nmetadata:\n  name: calc\n\
        spec:\n  target: {mendixCloud: {appId: calc}}\n  credentialsSecretRef: {name: m}\n\
        \x20 source: {existing: {packageId: 3f2504e0-4f89-11d3-9a0c-0305e82c3301}}\n  bogus: 1\n";
    for kubectl in versions {
        let name = kubectl.display().to_string();
        if let Ok(mut writes) = state.writes.lock() {
            writes.clear();
        }
        let (ok, out) = run_kubectl(&kubectl, &server, &["create"], Some(manifest)).await;
        assert!(ok, "{name}: {out}");
        let writes = state.writes.lock().map(|w| w.clone()).unwrap_or_default();
        assert_eq!(writes.len(), 1, "{name}: {writes:?}");
        assert!(
            writes[0]
                .starts_with("POST /apis/mendixops.io/v1alpha1/namespaces/default/mendixpackages?")
                && writes[0].contains("fieldValidation=Strict"),
            "{name}: {writes:?}"
        );
    }
}
