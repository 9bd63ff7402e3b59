//! Private Cloud Build API v4 and Deploy API v4 (`/api/v4/...`), after
//! `mendix-openapi/privatecloud-build-v4.yaml` and `privatecloud-deploy-v4.yaml`.
//!
//! Auth is `Authorization: MxToken <PAT>`: a missing or malformed header answers 401, an unknown
//! token 403 ("The token is not accepted"), a token without the documented scope 403. Writes
//! answer 202 with a job and a `Location` header; the job goes `created` → `running` →
//! `finished` | `failed` and only then changes the world. Cluster and namespace writes and the
//! `/cli` downloads are in [`clusters`]; packages in [`build`]; apps, environments and cluster
//! and namespace reads in [`deploy`]. This module holds the routes, auth, helpers and jobs.

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
use super::downloads;
use crate::cloud_v1::lookup_revision;
use crate::world::{
    BuildOutcome, JobApi, JobEffect, PcApp, PcEnvironment, PcJob, PcPackage, World,
    strip_write_only_secrets,
};

mod build;
mod clusters;
mod deploy;

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
            get(build::list_deployment_packages).post(build::upload_deployment_package),
        )
        .route(
            "/apps/{appId}/packages/build",
            post(build::build_deployment_package),
        )
        .route(
            "/apps/{appId}/packages/{packageId}",
            get(build::get_deployment_package).delete(build::delete_deployment_package),
        )
        .route(
            "/clusters",
            get(deploy::list_cluster_manifests).post(clusters::create_cluster),
        )
        .route(
            "/clusters/{clusterId}",
            get(deploy::get_cluster_manifest)
                .put(clusters::update_cluster)
                .delete(clusters::delete_cluster),
        )
        .route(
            "/clusters/{clusterId}/namespaces",
            get(deploy::list_namespace_manifests).post(clusters::create_namespace),
        )
        .route(
            "/clusters/{clusterId}/namespaces/{namespaceId}",
            get(deploy::get_namespace_manifest)
                .put(clusters::update_namespace_manifest)
                .delete(clusters::delete_namespace),
        )
        .route("/cli", get(clusters::list_cli_versions))
        .route("/cli/{cliVersionValue}", post(clusters::get_cli))
        .route("/apps", get(deploy::list_app_manifests))
        .route("/apps/{appId}", get(deploy::get_app_manifest))
        .route(
            "/apps/{appId}/environments",
            get(deploy::list_environments_manifests).post(deploy::create_environment),
        )
        .route(
            env,
            get(deploy::get_environment_manifest)
                .put(deploy::update_environment)
                .delete(deploy::delete_environment),
        )
        .route(
            ns_env,
            get(deploy::get_environment_manifest)
                .put(deploy::update_environment)
                .delete(deploy::delete_environment),
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
