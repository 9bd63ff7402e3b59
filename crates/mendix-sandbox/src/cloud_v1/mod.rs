//! Mendix Cloud Build API v1 and Deploy API v1 (`/api/1/...`), after
//! `mendix-docs/mendix-cloud-build-api-v1.txt` and `mendix-docs/mendix-cloud-deploy-api-v1.txt`.
//! Field names are PascalCase as in the docs; errors are `{"errorCode", "errorMessage"}`.
//! This module holds the routes, authentication, lookups and JSON shapes; [`build`] the package
//! operations (Build API), [`deploy`] the apps and environments (Deploy API).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::MendixSandbox;
use super::api_errors::V1Error;
use super::downloads;
use super::world::{
    BuildOutcome, CloudApp, CloudEnvironment, CloudPackage, CloudUser, EnvironmentStatus,
    PackageStatus, PackageTimer, World, default_mendix_version, now_ms,
};

mod build;
mod deploy;

pub(crate) use build::lookup_revision;

type V1Result = Result<Response, V1Error>;

/// Download URLs live this long (seconds), as the docs' examples say.
const URL_TTL_SECONDS: u64 = 900;

/// Custom settings Mendix Cloud manages itself: setting them answers
/// 400 `CUSTOM_SETTING_NOT_SUPPORTED`.
const MANAGED_CUSTOM_SETTINGS: &[&str] = &[
    "DatabaseType",
    "DatabaseUrl",
    "DatabaseName",
    "DatabaseUserName",
    "DatabasePassword",
    "ApplicationRootUrl",
];

pub fn routes() -> Router<MendixSandbox> {
    let env = "/apps/{app}/environments/{mode}";
    Router::new()
        .route(
            "/apps",
            get(deploy::list_apps).post(deploy::create_free_app),
        )
        .route("/apps/{app}", get(deploy::get_app))
        .route(
            "/apps/{app}/packages",
            get(build::list_packages).post(build::build_package),
        )
        .route("/apps/{app}/packages/upload", post(build::upload_package))
        .route(
            "/apps/{app}/packages/{package}",
            get(build::get_package).delete(build::delete_package),
        )
        .route(
            "/apps/{app}/packages/{package}/download",
            get(build::download_package),
        )
        .route("/apps/{app}/environments", get(deploy::list_environments))
        .route(env, get(deploy::get_environment))
        .route(&format!("{env}/start"), post(deploy::start_environment))
        .route(
            &format!("{env}/start/{{job}}"),
            get(deploy::get_start_status),
        )
        .route(&format!("{env}/stop"), post(deploy::stop_environment))
        .route(
            &format!("{env}/package"),
            get(deploy::get_environment_package),
        )
        .route(&format!("{env}/transport"), post(deploy::transport))
        .route(&format!("{env}/clean"), post(deploy::clean_environment))
        .route(
            &format!("{env}/settings"),
            get(deploy::get_settings).post(deploy::set_settings),
        )
        .route(&format!("{env}/scale"), post(deploy::scale))
        .route(&format!("{env}/scale/{{scale_id}}"), post(deploy::scale))
        .route(
            &format!("{env}/tags"),
            get(deploy::get_tags)
                .post(deploy::create_tag)
                .delete(deploy::delete_tag),
        )
        .route(&format!("{env}/logs/{{date}}"), get(deploy::app_logs))
        .route(
            &format!("{env}/access-logs/{{date}}"),
            get(deploy::access_logs),
        )
}

// ---------------------------------------------------------------- auth and lookups

fn authenticate<'w>(world: &'w World, headers: &HeaderMap) -> Result<&'w CloudUser, V1Error> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let (Some(username), Some(api_key)) = (header("Mendix-Username"), header("Mendix-ApiKey"))
    else {
        return Err(V1Error::new(
            401,
            "UNAUTHORIZED",
            "Missing Mendix-Username or Mendix-ApiKey header",
        ));
    };
    world
        .cloud
        .users
        .iter()
        .find(|u| u.username.eq_ignore_ascii_case(username) && u.api_key == api_key)
        .ok_or_else(|| V1Error::new(401, "UNAUTHORIZED", "Invalid username or API key"))
}

fn user_sees_app(user: &CloudUser, app_id: &str) -> bool {
    match &user.access {
        None => true,
        Some(access) => access.iter().any(|a| a.app_id == app_id),
    }
}

/// API access to one environment (Deploy API writes need it).
fn user_may_use_environment(user: &CloudUser, app_id: &str, mode: &str) -> bool {
    match &user.access {
        None => true,
        Some(access) => access.iter().any(|a| {
            a.app_id == app_id
                && a.environments
                    .as_ref()
                    .is_none_or(|modes| modes.iter().any(|m| m.eq_ignore_ascii_case(mode)))
        }),
    }
}

fn user_may_transport(user: &CloudUser, app_id: &str) -> bool {
    match &user.access {
        None => true,
        Some(access) => access.iter().any(|a| a.app_id == app_id && a.transport),
    }
}

/// App ids are sub-domain names.
fn valid_app_id(app_id: &str) -> bool {
    !app_id.is_empty()
        && app_id.len() <= 63
        && app_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn valid_mode(mode: &str) -> bool {
    !mode.is_empty()
        && mode
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The codes an operation answers when the app or the environment is missing.
struct Missing {
    app: (u16, &'static str, &'static str),
    environment: (u16, &'static str, &'static str),
}

const ENV_MISSING: Missing = Missing {
    app: (404, "ENVIRONMENT_NOT_FOUND", "Environment not found."),
    environment: (404, "ENVIRONMENT_NOT_FOUND", "Environment not found."),
};

const START_MISSING: Missing = Missing {
    app: (404, "APP_NOT_FOUND", "App not found"),
    environment: (404, "ENVIRONMENT_NOT_FOUND", "Environment not found"),
};

const TAG_CREATE_MISSING: Missing = Missing {
    app: (404, "NOT_FOUND", "An App or Environment is not found."),
    environment: (404, "NOT_FOUND", "An App or Environment is not found."),
};

const TAG_MISSING: Missing = Missing {
    app: (404, "NOT FOUND", "An App or Environment is not found."),
    environment: (404, "NOT FOUND", "An App or Environment is not found."),
};

fn invalid_parameters(what: &str) -> V1Error {
    V1Error::new(
        400,
        "INVALID_PARAMETERS",
        format!("Not enough parameters given. Please set {what} parameters."),
    )
}

/// Find an app the user may see (for app-level operations).
fn find_app(world: &World, user: &CloudUser, app_id: &str) -> Result<usize, V1Error> {
    if !valid_app_id(app_id) {
        return Err(V1Error::new(400, "INVALID_APPID", "Invalid AppId"));
    }
    world
        .cloud
        .apps
        .iter()
        .position(|a| a.app_id == app_id && user_sees_app(user, app_id))
        .ok_or_else(|| V1Error::new(404, "APP_NOT_FOUND", "App not found"))
}

/// Find an environment by mode (case-insensitive, as the docs' examples mix cases).
fn find_environment(
    world: &World,
    user: &CloudUser,
    app_id: &str,
    mode: &str,
    missing: &Missing,
) -> Result<(usize, usize), V1Error> {
    if app_id.trim().is_empty() || mode.trim().is_empty() {
        return Err(invalid_parameters("AppId and Mode"));
    }
    if !valid_mode(mode) {
        return Err(V1Error::new(
            400,
            "INVALID_ENVIRONMENT",
            format!(
                "Could not parse environment mode '{mode}'. Valid options are Test, Acceptance, Production or the name of a flexible environment."
            ),
        ));
    }
    let Some(app_index) = world
        .cloud
        .apps
        .iter()
        .position(|a| a.app_id == app_id && user_sees_app(user, app_id))
    else {
        let (status, code, message) = missing.app;
        return Err(V1Error::new(status, code, message));
    };
    let Some(env_index) = world.cloud.apps[app_index]
        .environments
        .iter()
        .position(|e| e.mode.eq_ignore_ascii_case(mode))
    else {
        let (status, code, message) = missing.environment;
        return Err(V1Error::new(status, code, message));
    };
    Ok((app_index, env_index))
}

fn require_environment_access(user: &CloudUser, app_id: &str, mode: &str) -> Result<(), V1Error> {
    if user_may_use_environment(user, app_id, mode) {
        Ok(())
    } else {
        Err(V1Error::new(403, "NO_ACCESS", "You do not have access"))
    }
}

fn parse_body(body: &Bytes) -> Result<Value, V1Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|err| {
        V1Error::new(
            400,
            "INVALID_PARAMETERS",
            format!("The request body is not valid JSON: {err}"),
        )
    })
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

fn ok(value: Value) -> V1Result {
    Ok(axum::Json(value).into_response())
}

// ---------------------------------------------------------------- JSON shapes

fn app_json(app: &CloudApp) -> Value {
    json!({"AppId": app.app_id, "Name": app.name, "ProjectId": app.project_id, "Url": app.url})
}

fn package_json(package: &CloudPackage) -> Value {
    json!({
        "PackageId": package.package_id,
        "Name": package.name,
        "Description": package.description,
        "Version": package.version,
        "Creator": package.creator,
        "CreationDate": package.creation_date,
        "Status": package.status,
        "Size": package.size,
    })
}

fn with_url(mut value: Value, headers: &HeaderMap, app_id: &str, package_id: &str) -> Value {
    value["Url"] = json!({
        "Location": downloads::package_url(&base_url(headers), "cloud", app_id, package_id, URL_TTL_SECONDS),
        "TTL": URL_TTL_SECONDS,
    });
    value
}

fn environment_json(app: &CloudApp, env: &CloudEnvironment) -> Value {
    let package = env
        .package_id
        .as_ref()
        .and_then(|id| app.packages.iter().find(|p| &p.package_id == id));
    json!({
        "Status": env.status.unwrap_or(EnvironmentStatus::Empty),
        "EnvironmentId": env.environment_id,
        "Mode": env.mode,
        "Url": env.url,
        "ModelVersion": package.map(|p| p.version.clone()),
        "MendixVersion": package.map(|p| p.mendix_version.clone()),
        "Production": env.production,
    })
}

fn settings_json(env: &CloudEnvironment) -> Value {
    json!({
        "Constants": env.constants.iter().map(|c| json!({
            "Name": c.name, "DataType": c.data_type, "Value": c.value, "DeployedValue": c.deployed_value,
        })).collect::<Vec<_>>(),
        // The docs show no deployed value for custom settings: none is reported.
        "CustomSettings": env.custom_settings.iter().map(|s| json!({
            "Name": s.name, "Value": s.value,
        })).collect::<Vec<_>>(),
        "ScheduledEvents": env.scheduled_events.iter().map(|s| json!({
            "Name": s.name, "DeployedValue": s.deployed_value, "Value": s.value,
        })).collect::<Vec<_>>(),
    })
}

#[derive(Deserialize)]
struct UrlQuery {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

impl UrlQuery {
    fn wants_url(&self) -> bool {
        self.url
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case("true"))
    }
}
