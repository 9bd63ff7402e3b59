//! Private Cloud Build API v4 and Deploy API v4 (`/api/v4/...`), after
//! `mendix-openapi/privatecloud-build-v4.yaml` and `privatecloud-deploy-v4.yaml`.
//!
//! Auth is `Authorization: MxToken <PAT>`: a missing or malformed header answers 401, an unknown
//! token 403 ("The token is not accepted"), a token without the documented scope 403. Writes
//! answer 202 with a job and a `Location` header; the job goes `created` → `running` →
//! `finished` | `failed` and only then changes the world. Cluster and namespace writes and the
//! `/cli` downloads are in [`super::private_cloud_v4_clusters`].

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::MendixSandbox;
use super::api_errors::V4Error;
use super::cloud_v1::lookup_revision;
use super::downloads;
use super::private_cloud_v4_clusters as clusters;
use super::world::{
    BuildOutcome, JobApi, JobEffect, PcApp, PcEnvironment, PcJob, PcPackage, World,
    strip_write_only_secrets,
};

pub(super) type V4Result = Result<Response, V4Error>;

const URL_TTL_SECONDS: u64 = 900;

pub const BUILD_READ: &str = "mx:privatecloud-build:read";
pub const BUILD_WRITE: &str = "mx:privatecloud-build:write";
pub const MODEL_REPOSITORY_WRITE: &str = "mx:modelrepository:write";
pub const DEPLOYMENT_READ: &str = "mx:deployment:read";
pub const DEPLOYMENT_WRITE: &str = "mx:deployment:write";
pub const APP_METADATA_READ: &str = "mx:app:metadata:read";

/// Alternatives of scope sets: a token passes when it holds every scope of one alternative.
pub(super) type Scopes = &'static [&'static [&'static str]];
const SCOPES_BUILD_READ: Scopes = &[&[BUILD_READ], &[BUILD_WRITE]];
const SCOPES_BUILD_WRITE: Scopes = &[&[BUILD_WRITE]];
const SCOPES_BUILD_PACKAGE: Scopes = &[&[BUILD_WRITE, MODEL_REPOSITORY_WRITE]];
pub(super) const SCOPES_DEPLOY_READ: Scopes = &[&[DEPLOYMENT_READ], &[DEPLOYMENT_WRITE]];
pub(super) const SCOPES_DEPLOY_WRITE: Scopes = &[&[DEPLOYMENT_WRITE]];
const SCOPES_APPS: Scopes = &[&[DEPLOYMENT_WRITE, APP_METADATA_READ]];
const SCOPES_ANY_JOB: Scopes = &[
    &[BUILD_READ],
    &[BUILD_WRITE],
    &[DEPLOYMENT_READ],
    &[DEPLOYMENT_WRITE],
];

pub fn routes() -> Router<MendixSandbox> {
    let env = "/apps/{appId}/environments/{environmentId}";
    let ns_env = "/apps/{appId}/namespaces/{namespaceId}/environments/{environmentId}";
    Router::new()
        .route("/jobs/{jobId}", get(get_job))
        .route(
            "/apps/{appId}/packages",
            get(list_deployment_packages).post(upload_deployment_package),
        )
        .route(
            "/apps/{appId}/packages/build",
            post(build_deployment_package),
        )
        .route(
            "/apps/{appId}/packages/{packageId}",
            get(get_deployment_package).delete(delete_deployment_package),
        )
        .route(
            "/clusters",
            get(list_cluster_manifests).post(clusters::create_cluster),
        )
        .route(
            "/clusters/{clusterId}",
            get(get_cluster_manifest)
                .put(clusters::update_cluster)
                .delete(clusters::delete_cluster),
        )
        .route(
            "/clusters/{clusterId}/namespaces",
            get(list_namespace_manifests).post(clusters::create_namespace),
        )
        .route(
            "/clusters/{clusterId}/namespaces/{namespaceId}",
            get(get_namespace_manifest)
                .put(clusters::update_namespace_manifest)
                .delete(clusters::delete_namespace),
        )
        .route("/cli", get(clusters::list_cli_versions))
        .route("/cli/{cliVersionValue}", post(clusters::get_cli))
        .route("/apps", get(list_app_manifests))
        .route("/apps/{appId}", get(get_app_manifest))
        .route(
            "/apps/{appId}/environments",
            get(list_environments_manifests).post(create_environment),
        )
        .route(
            env,
            get(get_environment_manifest)
                .put(update_environment)
                .delete(delete_environment),
        )
        .route(
            ns_env,
            get(get_environment_manifest)
                .put(update_environment)
                .delete(delete_environment),
        )
}

// ---------------------------------------------------------------- auth and helpers

pub(super) fn authorize(world: &World, headers: &HeaderMap, needed: Scopes) -> Result<(), V4Error> {
    let unauthorized = || {
        V4Error::new(401, "Unauthorized")
            .param("Authentication", "Missing or invalid Authorization header")
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    let token = value
        .strip_prefix("MxToken ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(unauthorized)?;
    let pat = world
        .private_cloud
        .pats
        .iter()
        .find(|p| p.token == token)
        .ok_or_else(|| {
            V4Error::new(403, "Forbidden").param("Authentication", "The token is not accepted")
        })?;
    let allowed = needed.iter().any(|set| {
        set.iter()
            .all(|scope| pat.scopes.iter().any(|s| s == scope))
    });
    if allowed {
        Ok(())
    } else {
        let wanted: Vec<String> = needed.iter().map(|set| set.join(" and ")).collect();
        Err(V4Error::new(403, "Forbidden").param(
            "Authentication",
            format!("The token lacks the scope {}", wanted.join(" or ")),
        ))
    }
}

fn find_app(world: &World, app_id: &str) -> Result<usize, V4Error> {
    world
        .private_cloud
        .apps
        .iter()
        .position(|a| a.app_id == app_id)
        .ok_or_else(|| V4Error::not_found("App", format!("App {app_id} could not be found")))
}

/// For writes whose contract has no 404 (build, upload, create environment): an app the token
/// cannot see is a 403.
fn find_app_for_write(world: &World, app_id: &str) -> Result<usize, V4Error> {
    find_app(world, app_id).map_err(|_| {
        V4Error::new(403, "Forbidden").param(
            "Authorization",
            format!("App {app_id} could not be found or the token has no access to it"),
        )
    })
}

pub(super) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

pub(super) fn ok(value: Value) -> V4Result {
    Ok(axum::Json(value).into_response())
}

/// `offset` and `limit` from the query. The list operations document no 400, so values out
/// of range are clamped (limit to 1..=`max_limit`) and unparsable ones take the defaults.
fn paging(query: &HashMap<String, String>, max_limit: Option<usize>) -> (usize, usize) {
    let number = |name: &str, default: usize| {
        query
            .get(name)
            .and_then(|text| text.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let offset = number("offset", 0);
    let limit = number("limit", 20).clamp(1, max_limit.unwrap_or(usize::MAX));
    (offset, limit)
}

fn flag(query: &HashMap<String, String>, name: &str) -> bool {
    query
        .get(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

// ---------------------------------------------------------------- jobs

fn job_json(job: &PcJob, with_log: bool) -> Value {
    let mut value = json!({"id": job.id, "status": job.status, "details": job.details});
    if let Some(package_id) = &job.package_id {
        value["packageId"] = json!(package_id);
    }
    if let Some(message) = &job.error_message {
        value["error"] = match job.error_code {
            Some(code) => json!({"code": code, "message": message}),
            None => json!({"message": message}),
        };
    }
    if with_log && job.api == JobApi::Build {
        value["log"] = json!({"build": job.build_log});
    }
    value
}

/// A job about to be registered.
pub(super) struct NewJob<'a> {
    pub api: JobApi,
    pub app_id: &'a str,
    pub details: &'a str,
    pub running_ms: u64,
    pub effect: JobEffect,
    pub build_log: String,
}

/// Register a job and answer 202 with it and its `Location`.
pub(super) fn start_job(world: &mut World, headers: &HeaderMap, new: NewJob<'_>) -> Response {
    let NewJob {
        api,
        app_id,
        details,
        running_ms,
        effect,
        build_log,
    } = new;
    let now = world.now();
    let running_at = world.after(now, world.timings.job_created_ms);
    let done_at = world.after(running_at, running_ms);
    let job = PcJob {
        id: uuid::Uuid::new_v4().to_string(),
        api,
        app_id: app_id.to_string(),
        status: "created".to_string(),
        details: details.to_string(),
        package_id: None,
        error_code: None,
        error_message: None,
        build_log,
        sequence: world.private_cloud.jobs.len(),
        running_at: Some(running_at),
        done_at: Some(done_at),
        effect: Some(effect),
    };
    let location = format!("{}/api/v4/jobs/{}", base_url(headers), job.id);
    let body = job_json(&job, false);
    world.private_cloud.jobs.insert(job.id.clone(), job);
    let mut response = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

async fn get_job(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> V4Result {
    let world = sb.world();
    let Some(job) = world.private_cloud.jobs.get(&job_id) else {
        authorize(&world, &headers, SCOPES_ANY_JOB)?;
        return Err(V4Error::not_found(
            "Job",
            format!("Job {job_id} could not be found"),
        ));
    };
    let scopes = match job.api {
        JobApi::Build => SCOPES_BUILD_READ,
        JobApi::Deploy => SCOPES_DEPLOY_READ,
    };
    authorize(&world, &headers, scopes)?;
    ok(job_json(job, flag(&query, "log")))
}

// ---------------------------------------------------------------- packages (Build API)

fn package_fields(package: &PcPackage, app_id: &str) -> Value {
    let expiry = package.created_on + chrono::Duration::days(365);
    json!({
        "id": package.id,
        "appId": app_id,
        "modelVersion": package.model_version,
        "runtimeVersion": package.runtime_version,
        "createdOn": package.created_on.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "description": package.description,
        "fileName": package.file_name,
        "fileSize": package.file_size,
        "expiryDate": expiry.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

async fn list_deployment_packages(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(app_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> V4Result {
    let world = sb.world();
    authorize(&world, &headers, SCOPES_BUILD_READ)?;
    let (offset, limit) = paging(&query, Some(50));
    let app = &world.private_cloud.apps[find_app(&world, &app_id)?];
    let packages: Vec<Value> = app
        .packages
        .iter()
        .skip(offset)
        .take(limit)
        .map(|p| package_fields(p, &app.app_id))
        .collect();
    ok(json!({
        "pagination": {"offset": offset, "limit": limit, "size": packages.len()},
        "packages": packages,
    }))
}

async fn get_deployment_package(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, package_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> V4Result {
    let world = sb.world();
    authorize(&world, &headers, SCOPES_BUILD_READ)?;
    let app = &world.private_cloud.apps[find_app(&world, &app_id)?];
    let package = app
        .packages
        .iter()
        .find(|p| p.id == package_id)
        .ok_or_else(|| {
            V4Error::not_found(
                "Deployment package",
                format!("Deployment package {package_id} could not be found"),
            )
        })?;
    let mut fields = package_fields(package, &app.app_id);
    if flag(&query, "url") {
        fields["url"] = json!({
            "location": downloads::package_url(&base_url(&headers), "private-cloud", &app_id, &package_id, URL_TTL_SECONDS),
            "ttl": URL_TTL_SECONDS,
        });
    }
    if flag(&query, "log") {
        fields["buildLog"] = json!(package.build_log);
    }
    ok(json!({ "package": fields }))
}

fn valid_version(version: &str) -> bool {
    let parts: Vec<&str> = version.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn string_field(
    body: &Value,
    name: &str,
    max: usize,
    required: bool,
) -> Result<Option<String>, V4Error> {
    match body.get(name) {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(V4Error::bad_request(name, format!("{name} is required"))),
        Some(Value::String(s)) if s.is_empty() && required => Err(V4Error::bad_request(
            name,
            format!("{name} must not be empty"),
        )),
        Some(Value::String(s)) if s.chars().count() > max => Err(V4Error::bad_request(
            name,
            format!("{name} must be at most {max} characters"),
        )),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(V4Error::bad_request(
            name,
            format!("{name} must be a string"),
        )),
    }
}

async fn build_deployment_package(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(app_id): Path<String>,
    body: Bytes,
) -> V4Result {
    let mut world = sb.world();
    authorize(&world, &headers, SCOPES_BUILD_PACKAGE)?;
    let index = find_app_for_write(&world, &app_id)?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|err| V4Error::bad_request("body", format!("not valid JSON: {err}")))?;
    let branch = string_field(&body, "branch", 200, true)?.unwrap_or_default();
    let revision = string_field(&body, "revision", 50, true)?.unwrap_or_default();
    let version = string_field(&body, "version", 20, false)?;
    let description = string_field(&body, "description", usize::MAX, false)?.unwrap_or_default();
    if let Some(version) = &version
        && !valid_version(version)
    {
        return Err(V4Error::bad_request(
            "version",
            "version must be in x.y.z format, like 2.0.4",
        ));
    }
    let app = &world.private_cloud.apps[index];
    let build_number =
        super::world::next_build_number(app.packages.iter().map(|p| p.model_version.as_str()));
    let model_version = format!("{}.{build_number}", version.as_deref().unwrap_or("1.0.0"));
    let stamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut log = format!(
        "Pipeline created at {stamp} [teamserver-discovery] Project: {app_id} branch {branch} revision {revision}\n"
    );
    let effect = match lookup_revision(&app.branches, &branch, &revision) {
        Ok(BuildOutcome::Succeeds) => {
            log.push_str("[build] Compiling model... done\n[build] Deployment package created\n");
            JobEffect::AddPackage(Box::new(PcPackage {
                id: uuid::Uuid::new_v4().to_string(),
                model_version: model_version.clone(),
                runtime_version: app.runtime_version.clone(),
                created_on: chrono::Utc::now(),
                description,
                file_name: format!("{branch}-{model_version}.mda").replace('/', "-"),
                file_size: downloads::BUILT_PACKAGE_SIZE,
                build_log: log.clone(),
                content: None,
            }))
        }
        Ok(BuildOutcome::Fails) => {
            log.push_str("[build] Compiling model... error: the model has consistency errors\n");
            JobEffect::Fail {
                code: 400,
                message: "The build of the deployment package failed".to_string(),
            }
        }
        Err(reason) => {
            log.push_str(&format!("[teamserver-discovery] {reason}\n"));
            JobEffect::Fail {
                code: 400,
                message: reason,
            }
        }
    };
    let running_ms = world.timings.pc_build_ms;
    Ok(start_job(
        &mut world,
        &headers,
        NewJob {
            api: JobApi::Build,
            app_id: &app_id,
            details: "Request to build deployment package.",
            running_ms,
            effect,
            build_log: log,
        },
    ))
}

async fn upload_deployment_package(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(app_id): Path<String>,
    request: axum::extract::Request,
) -> V4Result {
    // Authorize before reading the (possibly large) body.
    {
        let world = sb.world();
        authorize(&world, &headers, SCOPES_BUILD_WRITE)?;
        find_app_for_write(&world, &app_id)?;
    }
    let mut multipart = Multipart::from_request(request, &()).await.map_err(|err| {
        V4Error::bad_request("body", format!("expected multipart/form-data: {err}"))
    })?;
    let mut file: Option<Bytes> = None;
    let mut file_name: Option<String> = None;
    while let Some(part) = multipart
        .next_field()
        .await
        .map_err(|err| V4Error::bad_request("body", format!("invalid multipart body: {err}")))?
    {
        match part.name() {
            Some("file") => {
                file = Some(part.bytes().await.map_err(|err| {
                    V4Error::bad_request("file", format!("could not read the file: {err}"))
                })?)
            }
            Some("fileName") => {
                file_name = Some(part.text().await.map_err(|err| {
                    V4Error::bad_request("fileName", format!("could not read fileName: {err}"))
                })?)
            }
            _ => {}
        }
    }
    let file = file
        .filter(|f| !f.is_empty())
        .ok_or_else(|| V4Error::bad_request("file", "file is required"))?;
    let mut file_name = file_name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| V4Error::bad_request("fileName", "fileName is required"))?;
    if !file_name.ends_with(".mda") {
        file_name.push_str(".mda");
    }
    let mut world = sb.world();
    let index = find_app_for_write(&world, &app_id)?;
    let app = &world.private_cloud.apps[index];
    let effect = if downloads::looks_like_mda(&file) {
        let stem = file_name.trim_end_matches(".mda");
        let model_version = stem
            .rsplit(['_', '-'])
            .next()
            .filter(|v| v.split('.').count() >= 3 && v.split('.').all(|p| p.parse::<u64>().is_ok()))
            .unwrap_or("1.0.0.0")
            .to_string();
        JobEffect::AddPackage(Box::new(PcPackage {
            id: uuid::Uuid::new_v4().to_string(),
            model_version,
            runtime_version: app.runtime_version.clone(),
            created_on: chrono::Utc::now(),
            description: String::new(),
            file_name,
            file_size: file.len() as u64,
            build_log: String::new(),
            content: Some(file),
        }))
    } else {
        JobEffect::Fail {
            code: 400,
            message: "The uploaded file is not a valid deployment package (.mda)".to_string(),
        }
    };
    let running_ms = world.timings.job_running_ms;
    Ok(start_job(
        &mut world,
        &headers,
        NewJob {
            api: JobApi::Build,
            app_id: &app_id,
            details: "Request to upload deployment package.",
            running_ms,
            effect,
            build_log: String::new(),
        },
    ))
}

async fn delete_deployment_package(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, package_id)): Path<(String, String)>,
) -> V4Result {
    let mut world = sb.world();
    authorize(&world, &headers, SCOPES_BUILD_WRITE)?;
    let index = find_app(&world, &app_id)?;
    if !world.private_cloud.apps[index]
        .packages
        .iter()
        .any(|p| p.id == package_id)
    {
        return Err(V4Error::not_found(
            "Deployment package",
            format!("Deployment package {package_id} could not be found"),
        ));
    }
    let running_ms = world.timings.job_running_ms;
    Ok(start_job(
        &mut world,
        &headers,
        NewJob {
            api: JobApi::Build,
            app_id: &app_id,
            details: "Request to delete deployment package.",
            running_ms,
            effect: JobEffect::DeletePackage { package_id },
            build_log: String::new(),
        },
    ))
}

// ---------------------------------------------------------------- clusters, namespaces, apps

async fn list_cluster_manifests(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> V4Result {
    let world = sb.world();
    authorize(&world, &headers, SCOPES_DEPLOY_READ)?;
    let (offset, limit) = paging(&query, None);
    let clusters: Vec<Value> = world
        .private_cloud
        .clusters
        .iter()
        .skip(offset)
        .take(limit)
        .map(|c| cluster_json(&world, c))
        .collect();
    ok(json!({ "clusters": clusters }))
}

fn cluster_json(world: &World, cluster: &super::world::Cluster) -> Value {
    let environments = world
        .private_cloud
        .apps
        .iter()
        .flat_map(|a| a.environments.iter())
        .filter(|e| {
            cluster
                .namespaces
                .iter()
                .any(|n| n.namespace_id == e.namespace_id)
        })
        .count();
    json!({
        "manifestVersion": "2.0.0",
        "cluster": {
            "clusterId": cluster.cluster_id,
            "name": cluster.name,
            "clusterType": cluster.cluster_type,
            "operatorType": "standard_operator",
            "description": "Mendix sandbox cluster",
            "totalNamespaces": cluster.namespaces.len(),
            "totalEnvironments": environments,
        },
    })
}

pub(super) fn find_cluster<'w>(
    world: &'w World,
    cluster_id: &str,
) -> Result<&'w super::world::Cluster, V4Error> {
    world
        .private_cloud
        .clusters
        .iter()
        .find(|c| c.cluster_id == cluster_id)
        .ok_or_else(|| {
            V4Error::not_found(
                "Cluster",
                format!("Cluster {cluster_id} could not be found"),
            )
        })
}

async fn get_cluster_manifest(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(cluster_id): Path<String>,
) -> V4Result {
    let world = sb.world();
    authorize(&world, &headers, SCOPES_DEPLOY_READ)?;
    let cluster = find_cluster(&world, &cluster_id)?;
    ok(cluster_json(&world, cluster))
}

fn namespace_json(
    world: &World,
    namespace: &super::world::Namespace,
    with_environments: bool,
) -> Value {
    let mut value = json!({
        "manifestVersion": "2.0.0",
        "namespace": {
            "namespaceId": namespace.namespace_id,
            "name": namespace.name,
            "namespaceType": "standard",
            "installationType": "Connected",
            // The real API returns the installer secret; the sandbox has none to protect.
            "secret": "c2FuZGJveA==",
            "productTypePCLM": "standard",
        },
    });
    if with_environments {
        value["namespace"]["environments"] = world
            .private_cloud
            .apps
            .iter()
            .flat_map(|a| {
                a.environments
                    .iter()
                    .filter(|e| e.namespace_id == namespace.namespace_id)
                    .map(move |e| {
                        json!({
                            "environmentId": e.id,
                            "environmentName": environment_name(e),
                            "applicationId": a.app_id,
                            "applicationName": a.name,
                        })
                    })
            })
            .collect();
    }
    value
}

fn environment_name(env: &PcEnvironment) -> String {
    env.environment
        .pointer("/properties/name")
        .and_then(Value::as_str)
        .unwrap_or(&env.id)
        .to_string()
}

async fn list_namespace_manifests(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(cluster_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> V4Result {
    let world = sb.world();
    authorize(&world, &headers, SCOPES_DEPLOY_READ)?;
    let (offset, limit) = paging(&query, None);
    let cluster = find_cluster(&world, &cluster_id)?;
    let with_environments = flag(&query, "retrieveEnvironments");
    let namespaces: Vec<Value> = cluster
        .namespaces
        .iter()
        .skip(offset)
        .take(limit)
        .map(|n| namespace_json(&world, n, with_environments))
        .collect();
    ok(json!({ "namespaces": namespaces }))
}

async fn get_namespace_manifest(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((cluster_id, namespace_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> V4Result {
    let world = sb.world();
    authorize(&world, &headers, SCOPES_DEPLOY_READ)?;
    let cluster = find_cluster(&world, &cluster_id)?;
    let namespace = cluster
        .namespaces
        .iter()
        .find(|n| n.namespace_id == namespace_id)
        .ok_or_else(|| {
            V4Error::not_found(
                "Namespace",
                format!("Namespace {namespace_id} could not be found"),
            )
        })?;
    ok(namespace_json(
        &world,
        namespace,
        flag(&query, "retrieveEnvironments"),
    ))
}

fn app_manifest(app: &PcApp) -> Value {
    json!({"manifestVersion": "2.0.0", "app": {"appId": app.app_id, "appName": app.name}})
}

async fn list_app_manifests(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> V4Result {
    let world = sb.world();
    authorize(&world, &headers, SCOPES_APPS)?;
    let (offset, limit) = paging(&query, Some(100));
    let apps: Vec<Value> = world
        .private_cloud
        .apps
        .iter()
        .skip(offset)
        .take(limit)
        .map(app_manifest)
        .collect();
    ok(json!({ "apps": apps }))
}

async fn get_app_manifest(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(app_id): Path<String>,
) -> V4Result {
    let world = sb.world();
    authorize(&world, &headers, SCOPES_APPS)?;
    if uuid::Uuid::parse_str(&app_id).is_err() {
        return Err(V4Error::bad_request("appId", "appId must be a UUID"));
    }
    ok(app_manifest(
        &world.private_cloud.apps[find_app(&world, &app_id)?],
    ))
}

// ---------------------------------------------------------------- environments (Deploy API)

/// The manifest as `GET` returns it: server-managed fields filled in, write-only secrets out.
fn environment_manifest(env: &PcEnvironment) -> Value {
    let mut environment = env.environment.clone();
    if let Some(container) = environment
        .get_mut("container")
        .and_then(Value::as_object_mut)
    {
        container.insert("state".into(), json!(env.container_state));
        container.insert(
            "lastRunningInstanceCount".into(),
            json!(env.last_running_instance_count),
        );
    }
    strip_write_only_secrets(&mut environment);
    if let Some(object) = environment.as_object_mut() {
        // The contract's GET schema for deploymentStrategy cannot be satisfied (an object that
        // must also be one of two strings), so the sandbox leaves it out of answers.
        object.remove("deploymentStrategy");
    }
    json!({"manifestVersion": env.manifest_version, "environment": environment})
}

async fn list_environments_manifests(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(app_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> V4Result {
    let world = sb.world();
    authorize(&world, &headers, SCOPES_DEPLOY_READ)?;
    let (offset, limit) = paging(&query, None);
    let app = &world.private_cloud.apps[find_app(&world, &app_id)?];
    let environments: Vec<Value> = app
        .environments
        .iter()
        .skip(offset)
        .take(limit)
        .map(environment_manifest)
        .collect();
    ok(json!({ "environments": environments }))
}

/// Path parameters of both environment URL forms.
fn env_params(params: &[(String, String)]) -> (String, Option<String>, String) {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    (
        get("appId").unwrap_or_default(),
        get("namespaceId"),
        get("environmentId").unwrap_or_default(),
    )
}

fn find_environment(
    world: &World,
    app_id: &str,
    namespace_id: Option<&str>,
    environment_id: &str,
) -> Result<(usize, usize), V4Error> {
    let app_index = find_app(world, app_id)?;
    let env_index = world.private_cloud.apps[app_index]
        .environments
        .iter()
        .position(|e| e.id == environment_id && namespace_id.is_none_or(|n| n == e.namespace_id))
        .ok_or_else(|| {
            V4Error::not_found(
                "Environment",
                format!("Environment {environment_id} could not be found"),
            )
        })?;
    Ok((app_index, env_index))
}

async fn get_environment_manifest(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(params): Path<Vec<(String, String)>>,
) -> V4Result {
    let world = sb.world();
    authorize(&world, &headers, SCOPES_DEPLOY_READ)?;
    let (app_id, namespace_id, environment_id) = env_params(&params);
    let (a, e) = find_environment(&world, &app_id, namespace_id.as_deref(), &environment_id)?;
    ok(environment_manifest(
        &world.private_cloud.apps[a].environments[e],
    ))
}

/// Check a manifest from a PUT or POST; returns the `environment` object to store.
fn validate_manifest(world: &World, app: &PcApp, body: &Value) -> Result<Value, V4Error> {
    let environment = body
        .get("environment")
        .filter(|e| e.is_object())
        .ok_or_else(|| V4Error::bad_request("environment", "environment is required"))?;
    if !body.get("manifestVersion").is_some_and(Value::is_string) {
        return Err(V4Error::bad_request(
            "manifestVersion",
            "manifestVersion is required",
        ));
    }
    let require =
        |pointer: &str, check: fn(&Value) -> bool, what: &str| match environment.pointer(pointer) {
            Some(value) if check(value) => Ok(()),
            _ => Err(V4Error::bad_request(
                &format!("environment{}", pointer.replace('/', ".")),
                format!("is required and must be {what}"),
            )),
        };
    require(
        "/id",
        |v| v.as_str().is_some_and(|s| !s.is_empty() && s.len() <= 32),
        "a string of at most 32 characters",
    )?;
    require("/properties/name", Value::is_string, "a string")?;
    require("/properties/production", Value::is_boolean, "a boolean")?;
    require(
        "/properties/defaultStudioTarget",
        Value::is_boolean,
        "a boolean",
    )?;
    require(
        "/properties/secretsStoreEnabled",
        Value::is_boolean,
        "a boolean",
    )?;
    require("/deployment/appUrl", Value::is_string, "a string")?;
    require("/deployment/packageId", Value::is_string, "a string")?;
    require(
        "/container/instances",
        |v| v.as_u64().is_some_and(|n| n <= 10),
        "an integer from 0 to 10",
    )?;
    require(
        "/container/coreResources/limits",
        Value::is_object,
        "an object with cpu and memory",
    )?;
    require(
        "/container/coreResources/requests",
        Value::is_object,
        "an object with cpu and memory",
    )?;
    require("/provider/clusterId", Value::is_string, "a string")?;
    require("/provider/namespace", Value::is_string, "a string")?;
    require("/services", Value::is_array, "a list")?;
    let package_id = environment
        .pointer("/deployment/packageId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !app.packages.iter().any(|p| p.id == package_id) {
        return Err(V4Error::bad_request(
            "environment.deployment.packageId",
            format!("Deployment package {package_id} could not be found"),
        ));
    }
    if let Some(namespace_id) = environment
        .pointer("/provider/namespaceId")
        .and_then(Value::as_str)
        && !world.namespace_exists(namespace_id)
    {
        return Err(V4Error::bad_request(
            "environment.provider.namespaceId",
            format!("Namespace {namespace_id} could not be found"),
        ));
    }
    let mut environment = environment.clone();
    if let Some(container) = environment
        .get_mut("container")
        .and_then(Value::as_object_mut)
    {
        container.remove("state");
        container.remove("lastRunningInstanceCount");
    }
    strip_write_only_secrets(&mut environment);
    Ok(environment)
}

pub(super) fn parse_json(body: &Bytes) -> Result<Value, V4Error> {
    serde_json::from_slice(body)
        .map_err(|err| V4Error::bad_request("body", format!("not valid JSON: {err}")))
}

async fn update_environment(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(params): Path<Vec<(String, String)>>,
    body: Bytes,
) -> V4Result {
    let mut world = sb.world();
    authorize(&world, &headers, SCOPES_DEPLOY_WRITE)?;
    let (app_id, namespace_id, environment_id) = env_params(&params);
    let (a, e) = find_environment(&world, &app_id, namespace_id.as_deref(), &environment_id)?;
    let body = parse_json(&body)?;
    let app = &world.private_cloud.apps[a];
    let environment = validate_manifest(&world, app, &body)?;
    if environment.pointer("/id").and_then(Value::as_str) != Some(environment_id.as_str()) {
        return Err(V4Error::bad_request(
            "environment.id",
            "environment.id must match the environmentId in the path",
        ));
    }
    let current_namespace = &app.environments[e].namespace_id;
    if let Some(namespace_id) = environment
        .pointer("/provider/namespaceId")
        .and_then(Value::as_str)
        && namespace_id != current_namespace
    {
        return Err(V4Error::bad_request(
            "environment.provider.namespaceId",
            "an environment cannot move to another namespace",
        ));
    }
    let running_ms = world.timings.job_running_ms;
    Ok(start_job(
        &mut world,
        &headers,
        NewJob {
            api: JobApi::Deploy,
            app_id: &app_id,
            details: "Request to update environment.",
            running_ms,
            effect: JobEffect::ApplyManifest {
                environment_id,
                environment,
            },
            build_log: String::new(),
        },
    ))
}

async fn create_environment(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(app_id): Path<String>,
    body: Bytes,
) -> V4Result {
    let mut world = sb.world();
    authorize(&world, &headers, SCOPES_DEPLOY_WRITE)?;
    let index = find_app_for_write(&world, &app_id)?;
    let body = parse_json(&body)?;
    let environment = validate_manifest(&world, &world.private_cloud.apps[index], &body)?;
    let Some(namespace_id) = environment
        .pointer("/provider/namespaceId")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Err(V4Error::bad_request(
            "environment.provider.namespaceId",
            "namespaceId is required to create an environment",
        ));
    };
    let id = environment
        .pointer("/id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let instances = environment
        .pointer("/container/instances")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let new_env = PcEnvironment {
        id,
        namespace_id,
        manifest_version: body
            .get("manifestVersion")
            .and_then(Value::as_str)
            .unwrap_or("2.0.0")
            .to_string(),
        environment,
        container_state: "Processing".to_string(),
        last_running_instance_count: instances,
        updates: 0,
        processing_until: None,
    };
    let running_ms = world.timings.job_running_ms;
    Ok(start_job(
        &mut world,
        &headers,
        NewJob {
            api: JobApi::Deploy,
            app_id: &app_id,
            details: "Request to create environment.",
            running_ms,
            effect: JobEffect::CreateEnvironment(Box::new(new_env)),
            build_log: String::new(),
        },
    ))
}

async fn delete_environment(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(params): Path<Vec<(String, String)>>,
) -> V4Result {
    let mut world = sb.world();
    authorize(&world, &headers, SCOPES_DEPLOY_WRITE)?;
    let (app_id, namespace_id, environment_id) = env_params(&params);
    find_environment(&world, &app_id, namespace_id.as_deref(), &environment_id)?;
    let running_ms = world.timings.job_running_ms;
    Ok(start_job(
        &mut world,
        &headers,
        NewJob {
            api: JobApi::Deploy,
            app_id: &app_id,
            details: "Request to delete environment.",
            running_ms,
            effect: JobEffect::DeleteEnvironment { environment_id },
            build_log: String::new(),
        },
    ))
}
