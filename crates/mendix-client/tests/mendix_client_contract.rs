//! Contract tests: what the clients put on the wire, held to Mendix's published contracts.
//! A recording server on loopback captures every request; Private Cloud request bodies are
//! validated against the request schemas of `privatecloud-build-v4.yaml` and
//! `privatecloud-deploy-v4.yaml` (with their `$ref`s resolved), Mendix Cloud v1 bodies and
//! headers against the field names of the v1 docs.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use mendix_client::cloud_v1::types as v1;
use mendix_client::private_cloud_v4::types as v4;
use mendix_client::{CloudCredentials, Mendix, MendixConfig, Pat, RetryPolicy, UploadSource};
use serde_json::{Value, json};

const PAT: &str = "contract-test-pat-0123456789";
const API_KEY: &str = "contract-test-api-key-42";
const APP: &str = "c533ee0b-f7db-4e62-868b-1192d392ccec";
const NS: &str = "6b1e0f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b";
const CLUSTER: &str = "1f2d2a1c-4e3b-4b5a-9c8d-7e6f5a4b3c2d";

/// One captured request. Multipart bodies are turned into a JSON object of their fields, with
/// file parts as a string `"<N bytes>"` (the schema's `format: binary` string).
#[derive(Clone, Debug)]
struct Recorded {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Option<Value>,
    file_bytes: Option<Vec<u8>>,
}

#[derive(Clone, Default)]
struct Recorder {
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    fn all(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    fn find(&self, method: Method, path: &str) -> Recorded {
        self.all()
            .into_iter()
            .find(|r| r.method == method && r.path == path)
            .unwrap_or_else(|| panic!("no {method} {path} recorded"))
    }
}

fn environment_manifest(id: &str) -> Value {
    json!({
        "manifestVersion": "v1",
        "environment": {
            "id": id,
            "properties": {"name": "Test", "production": false, "defaultStudioTarget": false,
                            "secretsStoreEnabled": false, "environmentPurpose": "Test"},
            "deployment": {"appUrl": "https://calc-test.example.com",
                            "packageId": "905ba2c3-4424-48b8-b4b0-393eedd4cd1e",
                            "constants": [{"name": "MyFirstModule.ApiUrl", "value": "https://x"}],
                            "scheduledEvents": [{"name": "MyFirstModule.Cleanup", "enabled": true}],
                            "appLogLevels": [{"name": "ConnectionBus", "level": "INFO"}]},
            "container": {"state": "Ready", "instances": 1, "lastRunningInstanceCount": 1,
                           "coreResources": {"limits": {"cpu": "1", "memory": "1"},
                                             "requests": {"cpu": "0.1", "memory": "0.5"}}},
            "runtime": {"runtimeVersion": "10.6.1",
                         "customRuntimeSettings": [{"name": "ClientQueryTimeout", "value": "30"}],
                         "environmentVariables": []},
            "provider": {"clusterId": CLUSTER, "namespace": "mendix", "namespaceId": NS},
            // The contract's enum value, backslashes included (single-quoted YAML).
            "services": [{"name": "ephemeral_db", "plan": "OnDemand", "config": r#"{type: \"database\"}"#}],
            "annotations": [{"key": "prometheus.io/port", "value": "8900", "annotationType": "Pod"}]
        }
    })
}

async fn record(recorder: Recorder, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let headers = request.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (body, file_bytes) = if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(request, &()).await.unwrap();
        let mut fields = serde_json::Map::new();
        let mut file = None;
        while let Some(field) = multipart.next_field().await.unwrap() {
            let name = field.name().unwrap_or("").to_string();
            if field.file_name().is_some() {
                let bytes = field.bytes().await.unwrap().to_vec();
                fields.insert(name, json!(format!("<{} bytes>", bytes.len())));
                file = Some(bytes);
            } else {
                fields.insert(name, json!(field.text().await.unwrap()));
            }
        }
        (Some(Value::Object(fields)), file)
    } else {
        let bytes = axum::body::to_bytes(request.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).unwrap());
        (body, None)
    };
    recorder.requests.lock().unwrap().push(Recorded {
        method: method.clone(),
        path: path.clone(),
        query,
        headers,
        body,
        file_bytes,
    });
    if path.starts_with("/api/v4/") || path.starts_with("/api/v3/") {
        if method == Method::GET && path.contains("/environments/") {
            return axum::Json(environment_manifest("calc-test")).into_response();
        }
        let job = json!({"id": "0d1f6a2e-8c0b-4a53-9d55-31c9b3f07a11", "status": "created"});
        return (
            StatusCode::ACCEPTED,
            // As in the docs' example, the Location may name another API version.
            [(
                "location",
                "/api/v3/jobs/0d1f6a2e-8c0b-4a53-9d55-31c9b3f07a11",
            )],
            axum::Json(job),
        )
            .into_response();
    }
    // Mendix Cloud v1 answers in the documented shapes.
    let answer = if path.ends_with("/start") {
        json!({"JobId": "02df2e50-0e79-11e4-9191-0800200c9a66"})
    } else if path.ends_with("/packages") || path.ends_with("/packages/upload") {
        json!({"PackageId": "b3d14e53-2654-4534-b374-9179a69ef3cf"})
    } else if path.ends_with("/settings") {
        json!({"Constants": [], "CustomSettings": [], "ScheduledEvents": []})
    } else {
        return StatusCode::OK.into_response();
    };
    axum::Json(answer).into_response()
}

async fn start_recorder() -> (Recorder, Mendix, tokio::task::JoinHandle<()>) {
    let recorder = Recorder::default();
    let shared = recorder.clone();
    let app = axum::Router::new().fallback(move |request: Request| record(shared.clone(), request));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let config = MendixConfig {
        retry: RetryPolicy::none(),
        request_timeout: Duration::from_secs(30),
        ..MendixConfig::default()
    }
    .with_urls(
        format!("http://{addr}/api/1").parse().unwrap(),
        format!("http://{addr}/api/v4").parse().unwrap(),
    );
    (recorder, Mendix::new(config).unwrap(), task)
}

// ------------------------------------------------------------------ OpenAPI schemas

fn openapi(file: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/mendix-openapi")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    // Plain YAML loading: duplicate operationIds in the deploy file are just repeated values.
    serde_yaml::from_str(&text).unwrap()
}

fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// A validator for the request body of `method path` as `media`, resolving the requestBody's
/// own `$ref` and, through the whole document as root, every schema `$ref` inside.
fn request_validator(doc: &Value, path: &str, method: &str, media: &str) -> jsonschema::Validator {
    let operation = &doc["paths"][path][method];
    assert!(
        operation.is_object(),
        "{method} {path} is not in the contract"
    );
    let mut pointer = format!("/paths/{}/{method}/requestBody", escape_pointer(path));
    if let Some(reference) = operation["requestBody"]["$ref"].as_str() {
        pointer = reference.trim_start_matches('#').to_string();
    }
    pointer = format!("{pointer}/content/{}/schema", escape_pointer(media));
    let schema = doc
        .pointer(&pointer)
        .unwrap_or_else(|| panic!("no schema at {pointer}"))
        .clone();
    // The schema sits under a plain key of the whole document, so its `#/components/...`
    // references resolve against the document.
    let mut root = doc.clone();
    root["x-request-schema"] = schema;
    root["$ref"] = json!("#/x-request-schema");
    jsonschema::validator_for(&root).unwrap()
}

fn assert_valid(validator: &jsonschema::Validator, body: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} violates the contract: {errors:#?}\nbody: {body:#}"
    );
}

#[test]
fn the_schema_check_rejects_bodies_that_break_the_contract() {
    let build = openapi("privatecloud-build-v4.yaml");
    let validator = request_validator(
        &build,
        "/apps/{appId}/packages/build",
        "post",
        "application/json",
    );
    assert!(
        !validator.is_valid(&json!({"branch": "main"})),
        "revision is required"
    );
    assert!(
        !validator.is_valid(&json!({"branch": "", "revision": "1"})),
        "minLength 1"
    );
    let deploy = openapi("privatecloud-deploy-v4.yaml");
    let validator = request_validator(
        &deploy,
        "/apps/{appId}/namespaces/{namespaceId}/environments/{environmentId}",
        "put",
        "application/json",
    );
    let mut manifest = environment_manifest("calc-test");
    assert!(validator.is_valid(&manifest));
    manifest["environment"]["container"]["instances"] = json!(11);
    assert!(
        !validator.is_valid(&manifest),
        "instances maximum is 10 (a $ref'd schema)"
    );
    let mut manifest = environment_manifest("calc-test");
    manifest["environment"]["services"][0]["plan"] = json!("Cheap");
    assert!(
        !validator.is_valid(&manifest),
        "service plan enum (through components/schemas/service)"
    );
}

#[tokio::test]
async fn private_cloud_request_bodies_match_the_openapi_contracts() {
    let (recorder, mendix, _server) = start_recorder().await;
    let pat = Pat::new(PAT);
    let build = mendix.pc_build(&pat);
    let deploy = mendix.pc_deploy(&pat);

    // Build: JSON body, with and without the optional fields.
    let job = build
        .build(
            APP,
            &v4::BuildRequest {
                branch: "main".into(),
                revision: "93de884c".into(),
                version: Some("2.0.4".into()),
                description: Some("Fixed issues 7733, 7734 and 7613".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(job.id, "0d1f6a2e-8c0b-4a53-9d55-31c9b3f07a11");
    assert_eq!(
        job.location.as_deref(),
        Some("/api/v3/jobs/0d1f6a2e-8c0b-4a53-9d55-31c9b3f07a11")
    );
    // Jobs are followed at their Location on the API host...
    build.job(&job).await.unwrap();
    recorder.find(
        Method::GET,
        "/api/v3/jobs/0d1f6a2e-8c0b-4a53-9d55-31c9b3f07a11",
    );
    // ...and by id when the Location points elsewhere (the PAT never leaves the API host).
    let foreign = v4::JobHandle {
        id: job.id.clone(),
        location: Some("http://192.0.2.1/api/v4/jobs/x".into()),
    };
    build.job(&foreign).await.unwrap();
    recorder.find(
        Method::GET,
        "/api/v4/jobs/0d1f6a2e-8c0b-4a53-9d55-31c9b3f07a11",
    );

    // Upload: multipart `file` streamed from disk plus `fileName`.
    let dir = tempfile::tempdir().unwrap();
    let mda = dir.path().join("calc_1.0.0.45.mda");
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&mda, &content).unwrap();
    build
        .upload(APP, "calc_1.0.0.45.mda", UploadSource::file(&mda))
        .await
        .unwrap();

    // Deploy: GET manifest → change → PUT (the documented restart step), and create.
    let mut manifest = deploy.get_environment(APP, NS, "calc-test").await.unwrap();
    manifest.environment.container.instances = 0;
    deploy
        .update_environment(APP, NS, "calc-test", &manifest)
        .await
        .unwrap();
    let mut fresh: v4::EnvironmentManifest =
        serde_json::from_value(environment_manifest("calc-new")).unwrap();
    fresh.environment.container.state = None;
    fresh.environment.container.last_running_instance_count = None;
    deploy.create_environment(APP, &fresh).await.unwrap();

    let build_doc = openapi("privatecloud-build-v4.yaml");
    let deploy_doc = openapi("privatecloud-deploy-v4.yaml");

    let sent = recorder.find(Method::POST, &format!("/api/v4/apps/{APP}/packages/build"));
    let body = sent.body.clone().unwrap();
    assert_valid(
        &request_validator(
            &build_doc,
            "/apps/{appId}/packages/build",
            "post",
            "application/json",
        ),
        &body,
        "build",
    );
    assert_eq!(body["branch"], "main");
    assert_eq!(body["revision"], "93de884c");

    let sent = recorder.find(Method::POST, &format!("/api/v4/apps/{APP}/packages"));
    let body = sent.body.clone().unwrap();
    assert_valid(
        &request_validator(
            &build_doc,
            "/apps/{appId}/packages",
            "post",
            "multipart/form-data",
        ),
        &body,
        "upload",
    );
    assert_eq!(body["fileName"], "calc_1.0.0.45.mda");
    assert_eq!(
        sent.file_bytes.as_deref(),
        Some(content.as_slice()),
        "file streamed intact"
    );

    let put_path = "/apps/{appId}/namespaces/{namespaceId}/environments/{environmentId}";
    let sent = recorder.find(
        Method::PUT,
        &format!("/api/v4/apps/{APP}/namespaces/{NS}/environments/calc-test"),
    );
    let body = sent.body.clone().unwrap();
    assert_valid(
        &request_validator(&deploy_doc, put_path, "put", "application/json"),
        &body,
        "update environment",
    );
    assert_eq!(body["environment"]["container"]["instances"], 0);
    // Unmodelled fields survive the round trip.
    assert_eq!(
        body["environment"]["annotations"][0]["key"],
        "prometheus.io/port"
    );
    assert_eq!(
        body["environment"]["deployment"]["appLogLevels"][0]["level"],
        "INFO"
    );

    let sent = recorder.find(Method::POST, &format!("/api/v4/apps/{APP}/environments"));
    assert_valid(
        &request_validator(
            &deploy_doc,
            "/apps/{appId}/environments",
            "post",
            "application/json",
        ),
        sent.body.as_ref().unwrap(),
        "create environment",
    );

    // Every v4 request authenticates with `MxToken <PAT>` and nothing else.
    for request in recorder.all() {
        assert_eq!(
            request.headers.get("authorization").unwrap(),
            &format!("MxToken {PAT}"),
            "{} {}",
            request.method,
            request.path
        );
        assert!(request.headers.get("mendix-apikey").is_none());
    }
}

/// Field names (and only those) of a JSON object.
fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn cloud_v1_requests_use_the_documented_paths_fields_and_headers() {
    let (recorder, mendix, _server) = start_recorder().await;
    let credentials = CloudCredentials::new("richard.ford51@example.com", API_KEY);
    let build = mendix.cloud_build(&credentials);
    let deploy = mendix.cloud_deploy(&credentials);

    build
        .start_build(
            "calc",
            &v1::BuildRequest {
                branch: "branches/feature".into(),
                revision: "63".into(),
                version: "2.5.4".into(),
                description: "Add scientific mode".into(),
            },
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mda = dir.path().join("calc_1.0.0.45.mda");
    std::fs::write(&mda, b"PK\x03\x04 not really a zip").unwrap();
    let uploaded = build
        .upload_package("calc", "calc_1.0.0.45.mda", UploadSource::file(&mda))
        .await
        .unwrap();
    assert_eq!(
        uploaded.as_deref(),
        Some("b3d14e53-2654-4534-b374-9179a69ef3cf")
    );
    let job = deploy
        .start("calc", "Acceptance", true)
        .await
        .unwrap()
        .value;
    assert_eq!(job.job_id, "02df2e50-0e79-11e4-9191-0800200c9a66");
    deploy.stop("calc", "Acceptance").await.unwrap();
    deploy
        .transport("calc", "Acceptance", "b3d14e53-2654-4534-b374-9179a69ef3cf")
        .await
        .unwrap();
    let settings = v1::Settings {
        constants: vec![v1::Constant {
            name: "MyFirstModule.BooleanConstant".into(),
            data_type: Some("_Boolean".into()),
            value: Some("true".into()),
            deployed_value: Some("false".into()),
        }],
        custom_settings: vec![],
        scheduled_events: vec![v1::ScheduledEvent {
            name: "MyFirstModule.Monitor_Scheduled_event".into(),
            value: Some("Enabled".into()),
            deployed_value: Some("Disabled".into()),
        }],
    };
    deploy
        .set_settings("calc", "Acceptance", &settings)
        .await
        .unwrap();
    deploy.scale("calc", "Acceptance", 2, 2048).await.unwrap();
    deploy
        .create_tag("calc", "Acceptance", "europe")
        .await
        .unwrap();
    deploy
        .delete_tag("calc", "Acceptance", "europe")
        .await
        .unwrap();
    deploy.clean("calc", "My Flex Env").await.unwrap();

    let body = |method: Method, path: &str| recorder.find(method, path).body.unwrap();
    let build_body = body(Method::POST, "/api/1/apps/calc/packages");
    assert_eq!(
        keys(&build_body),
        ["Branch", "Description", "Revision", "Version"]
    );
    assert_eq!(
        keys(&body(
            Method::POST,
            "/api/1/apps/calc/environments/Acceptance/start"
        )),
        ["AutoSyncDb"]
    );
    assert_eq!(
        keys(&body(
            Method::POST,
            "/api/1/apps/calc/environments/Acceptance/transport"
        )),
        ["PackageId"]
    );
    let settings_body = body(
        Method::POST,
        "/api/1/apps/calc/environments/Acceptance/settings",
    );
    assert_eq!(
        keys(&settings_body),
        ["Constants", "CustomSettings", "ScheduledEvents"]
    );
    assert_eq!(
        keys(&settings_body["Constants"][0]),
        ["DataType", "DeployedValue", "Name", "Value"]
    );
    assert_eq!(
        keys(&settings_body["ScheduledEvents"][0]),
        ["DeployedValue", "Name", "Value"]
    );
    assert_eq!(
        keys(&body(
            Method::POST,
            "/api/1/apps/calc/environments/Acceptance/scale"
        )),
        ["Instances", "MemoryPerInstance"]
    );
    assert_eq!(
        body(
            Method::POST,
            "/api/1/apps/calc/environments/Acceptance/tags"
        ),
        json!({"Tag": "europe"})
    );
    assert_eq!(
        body(
            Method::DELETE,
            "/api/1/apps/calc/environments/Acceptance/tags"
        ),
        json!({"Tag": "europe"})
    );
    // The flexible environment's name is one encoded path segment.
    recorder.find(
        Method::POST,
        "/api/1/apps/calc/environments/My%20Flex%20Env/clean",
    );
    let stop = recorder.find(
        Method::POST,
        "/api/1/apps/calc/environments/Acceptance/stop",
    );
    assert!(stop.body.is_none(), "stop has no payload");

    let upload = recorder.find(Method::POST, "/api/1/apps/calc/packages/upload");
    assert_eq!(upload.query.as_deref(), Some("name=calc_1.0.0.45.mda"));
    assert_eq!(keys(upload.body.as_ref().unwrap()), ["file"]);

    for request in recorder.all() {
        assert_eq!(
            request.headers.get("mendix-username").unwrap(),
            "richard.ford51@example.com"
        );
        assert_eq!(request.headers.get("mendix-apikey").unwrap(), API_KEY);
        assert!(request.headers.get("authorization").is_none());
    }
}

#[tokio::test]
async fn manifests_read_from_the_sandbox_become_valid_request_bodies() {
    use mendix_sandbox::MendixSandbox;
    use mendix_sandbox::demo::{PC_APP_ID, PC_NAMESPACE_ID, PC_PAT};

    let sandbox = MendixSandbox::demo();
    let server = sandbox.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let config = MendixConfig::default().with_urls(
        server.cloud_v1_url().parse().unwrap(),
        server.private_cloud_v4_url().parse().unwrap(),
    );
    let deploy = Mendix::new(config).unwrap().pc_deploy(&Pat::new(PC_PAT));
    let doc = openapi("privatecloud-deploy-v4.yaml");
    let put = request_validator(
        &doc,
        "/apps/{appId}/namespaces/{namespaceId}/environments/{environmentId}",
        "put",
        "application/json",
    );
    let environments = deploy.list_environments(PC_APP_ID).await.unwrap();
    assert!(environments.len() >= 2);
    for listed in environments {
        let id = listed.environment.id.clone();
        let mut manifest = deploy
            .get_environment(PC_APP_ID, PC_NAMESPACE_ID, &id)
            .await
            .unwrap();
        manifest.environment.container.instances = 3;
        let body = serde_json::to_value(&manifest).unwrap();
        assert_valid(&put, &body, &format!("PUT of {id} after GET"));
    }
}
