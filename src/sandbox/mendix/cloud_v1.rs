//! Mendix Cloud Build API v1 and Deploy API v1 (`/api/1/...`), after
//! `mendix-docs/mendix-cloud-build-api-v1.txt` and `mendix-docs/mendix-cloud-deploy-api-v1.txt`.
//! Field names are PascalCase as in the docs; errors are `{"errorCode", "errorMessage"}`.

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
        .route("/apps", get(list_apps).post(create_free_app))
        .route("/apps/{app}", get(get_app))
        .route(
            "/apps/{app}/packages",
            get(list_packages).post(build_package),
        )
        .route("/apps/{app}/packages/upload", post(upload_package))
        .route(
            "/apps/{app}/packages/{package}",
            get(get_package).delete(delete_package),
        )
        .route(
            "/apps/{app}/packages/{package}/download",
            get(download_package),
        )
        .route("/apps/{app}/environments", get(list_environments))
        .route(env, get(get_environment))
        .route(&format!("{env}/start"), post(start_environment))
        .route(&format!("{env}/start/{{job}}"), get(get_start_status))
        .route(&format!("{env}/stop"), post(stop_environment))
        .route(&format!("{env}/package"), get(get_environment_package))
        .route(&format!("{env}/transport"), post(transport))
        .route(&format!("{env}/clean"), post(clean_environment))
        .route(
            &format!("{env}/settings"),
            get(get_settings).post(set_settings),
        )
        .route(&format!("{env}/scale"), post(scale))
        .route(&format!("{env}/scale/{{scale_id}}"), post(scale))
        .route(
            &format!("{env}/tags"),
            get(get_tags).post(create_tag).delete(delete_tag),
        )
        .route(&format!("{env}/logs/{{date}}"), get(app_logs))
        .route(&format!("{env}/access-logs/{{date}}"), get(access_logs))
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
        "CustomSettings": env.custom_settings.iter().map(|s| json!({
            "Name": s.name, "Value": s.value, "DeployedValue": s.deployed_value,
        })).collect::<Vec<_>>(),
        "ScheduledEvents": env.scheduled_events.iter().map(|s| json!({
            "Name": s.name, "DeployedValue": s.deployed_value, "Value": s.value,
        })).collect::<Vec<_>>(),
    })
}

// ---------------------------------------------------------------- apps

async fn list_apps(State(sb): State<MendixSandbox>, headers: HeaderMap) -> V1Result {
    let world = sb.world();
    let user = authenticate(&world, &headers)?;
    let apps: Vec<Value> = world
        .cloud
        .apps
        .iter()
        .filter(|a| user_sees_app(user, &a.app_id))
        .map(app_json)
        .collect();
    ok(Value::Array(apps))
}

async fn create_free_app(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> V1Result {
    let mut world = sb.world();
    authenticate(&world, &headers)?;
    let body = parse_body(&body)?;
    let project_id = body
        .get("ProjectId")
        .and_then(Value::as_str)
        .filter(|p| uuid::Uuid::parse_str(p).is_ok())
        .ok_or_else(|| V1Error::new(400, "INVALID_PROJECTID", "Invalid ProjectId"))?
        .to_string();
    if world.cloud.apps.iter().any(|a| a.project_id == project_id) {
        return Err(V1Error::new(
            400,
            "APPLICATION_ALREADY_EXISTS",
            "Application already exists",
        ));
    }
    let app_id = format!("free-{}", &project_id[..8]);
    let app = CloudApp {
        app_id: app_id.clone(),
        name: app_id.clone(),
        project_id,
        url: format!("https://{app_id}.mxapps.io"),
        licensed: false,
        mendix_version: default_mendix_version(),
        branches: Default::default(),
        packages: Vec::new(),
        environments: Vec::new(),
    };
    let answer = app_json(&app);
    world.cloud.apps.push(app);
    ok(answer)
}

async fn get_app(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(app_id): Path<String>,
) -> V1Result {
    let world = sb.world();
    let user = authenticate(&world, &headers)?;
    let index = find_app(&world, user, &app_id)?;
    ok(app_json(&world.cloud.apps[index]))
}

// ---------------------------------------------------------------- packages (Build API)

async fn list_packages(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(app_id): Path<String>,
) -> V1Result {
    let world = sb.world();
    let user = authenticate(&world, &headers)?;
    // The docs list only 400 INVALID_APPID for this call, also for an unknown app.
    let index = find_app(&world, user, &app_id)
        .map_err(|_| V1Error::new(400, "INVALID_APPID", "Invalid AppId"))?;
    let packages: Vec<Value> = world.cloud.apps[index]
        .packages
        .iter()
        .map(package_json)
        .collect();
    ok(Value::Array(packages))
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

fn find_package(
    world: &World,
    user: &CloudUser,
    app_id: &str,
    package_id: &str,
) -> Result<(usize, usize), V1Error> {
    if app_id.trim().is_empty() || package_id.trim().is_empty() {
        return Err(invalid_parameters("AppId and PackageId"));
    }
    let not_found = || V1Error::new(404, "PACKAGE_NOT_FOUND", "Package or build job not found");
    let app_index = world
        .cloud
        .apps
        .iter()
        .position(|a| a.app_id == app_id && user_sees_app(user, app_id))
        .ok_or_else(not_found)?;
    let package_index = world.cloud.apps[app_index]
        .packages
        .iter()
        .position(|p| p.package_id == package_id)
        .ok_or_else(not_found)?;
    Ok((app_index, package_index))
}

async fn get_package(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, package_id)): Path<(String, String)>,
    Query(query): Query<UrlQuery>,
) -> V1Result {
    let world = sb.world();
    let user = authenticate(&world, &headers)?;
    let (a, p) = find_package(&world, user, &app_id, &package_id)?;
    let package = &world.cloud.apps[a].packages[p];
    let mut answer = package_json(package);
    if query.wants_url() && package.status == PackageStatus::Succeeded {
        answer = with_url(answer, &headers, &app_id, &package_id);
    }
    ok(answer)
}

async fn delete_package(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, package_id)): Path<(String, String)>,
) -> V1Result {
    let mut world = sb.world();
    let user = authenticate(&world, &headers)?;
    let (a, p) = find_package(&world, user, &app_id, &package_id)?;
    let app = &mut world.cloud.apps[a];
    if app
        .environments
        .iter()
        .any(|e| e.package_id.as_deref() == Some(package_id.as_str()))
    {
        return Err(V1Error::new(
            409,
            "PACKAGE_IN_USE",
            "Package is still in use.",
        ));
    }
    app.packages.remove(p);
    Ok(StatusCode::OK.into_response())
}

async fn download_package(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, package_id)): Path<(String, String)>,
) -> V1Result {
    let world = sb.world();
    let user = authenticate(&world, &headers)?;
    let (a, p) = find_package(&world, user, &app_id, &package_id)?;
    let package = &world.cloud.apps[a].packages[p];
    if package.status != PackageStatus::Succeeded {
        return Err(V1Error::new(
            500,
            "BUILD_NOT_SUCCEEDED",
            "Build not successful finished.",
        ));
    }
    Ok(downloads::mda_response(downloads::cloud_package_bytes(
        package,
    )))
}

/// `x.y.z`, each a number.
fn valid_version(version: &str) -> bool {
    let parts: Vec<&str> = version.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// Find `revision` on `branch`; either may be a prefix of the other (short Git hashes).
pub(crate) fn lookup_revision(
    branches: &super::world::Branches,
    branch: &str,
    revision: &str,
) -> Result<BuildOutcome, String> {
    let Some(revisions) = branches.get(branch) else {
        return Err(format!("Branch '{branch}' not found"));
    };
    revisions
        .iter()
        .find(|(known, _)| known.starts_with(revision) || revision.starts_with(known.as_str()))
        .map(|(_, outcome)| *outcome)
        .ok_or_else(|| format!("Revision '{revision}' not found on branch '{branch}'"))
}

async fn build_package(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(app_id): Path<String>,
    body: Bytes,
) -> V1Result {
    let mut world = sb.world();
    let user = authenticate(&world, &headers)?;
    let index = find_app(&world, user, &app_id)?;
    let body = parse_body(&body)?;
    let field = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let (Some(revision), Some(version)) = (field("Revision"), field("Version")) else {
        return Err(invalid_parameters("Revision and Version"));
    };
    if !valid_version(&version) {
        return Err(V1Error::new(
            400,
            "INVALID_VERSION",
            "The Version parameter does not contain a valid version string. Please provide a version with a major, minor and patch number, like '2.3.5'.",
        ));
    }
    let branch = field("Branch").unwrap_or_else(|| "main".to_string());
    let description = field("Description").unwrap_or_default();
    let app = &world.cloud.apps[index];
    let outcome = lookup_revision(&app.branches, &branch, &revision).map_err(|reason| {
        V1Error::new(500, "BUILD_FAILED", format!("Build job failed: {reason}"))
    })?;
    let build_number = if revision.chars().all(|c| c.is_ascii_digit()) {
        revision.clone()
    } else {
        super::world::next_build_number(app.packages.iter().map(|p| p.version.as_str())).to_string()
    };
    let full_version = format!("{version}.{build_number}");
    let branch_label = if branch == "main" || branch == "trunk" {
        "Main line".to_string()
    } else {
        branch.trim_start_matches("branches/").to_string()
    };
    let now = world.now();
    let queued_until = world.after(now, world.timings.build_queued_ms);
    let package_id = uuid::Uuid::new_v4().to_string();
    let app = &mut world.cloud.apps[index];
    let mendix_version = app.mendix_version.clone();
    app.packages.push(CloudPackage {
        package_id: package_id.clone(),
        version: full_version.clone(),
        name: format!("{branch_label}-{full_version}.mda"),
        description,
        creator: user_display_name(&headers),
        creation_date: now_ms(),
        status: PackageStatus::Queued,
        size: downloads::BUILT_PACKAGE_SIZE,
        mendix_version,
        parse_fails: false,
        processing_failed: false,
        processing: false,
        timer: PackageTimer {
            phase_until: Some(queued_until),
            outcome: Some(outcome),
            processing_until: None,
        },
        content: None,
    });
    ok(json!({ "PackageId": package_id }))
}

fn user_display_name(headers: &HeaderMap) -> String {
    headers
        .get("Mendix-Username")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("API user")
        .to_string()
}

/// `calc_1.0.0.45.mda` → `1.0.0.45`.
fn version_from_file_name(name: &str) -> Option<String> {
    let stem = name.strip_suffix(".mda").unwrap_or(name);
    let candidate = stem.rsplit(['_', '-']).next()?;
    let parts: Vec<&str> = candidate.split('.').collect();
    (parts.len() >= 3 && parts.iter().all(|p| p.parse::<u64>().is_ok()))
        .then(|| candidate.to_string())
}

async fn upload_package(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(app_id): Path<String>,
    Query(query): Query<UrlQuery>,
    request: axum::extract::Request,
) -> V1Result {
    // Authenticate before reading the (possibly large) body.
    {
        let world = sb.world();
        let user = authenticate(&world, &headers)?;
        find_app(&world, user, &app_id)?;
    }
    let invalid = || {
        V1Error::new(
            500,
            "INVALID_PACKAGE",
            "Failed to process the deployment package.",
        )
    };
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|_| invalid())?;
    let mut file: Option<(Option<String>, Bytes)> = None;
    while let Some(part) = multipart.next_field().await.map_err(|_| invalid())? {
        if part.name() == Some("file") {
            let file_name = part.file_name().map(str::to_string);
            let bytes = part.bytes().await.map_err(|_| {
                V1Error::new(
                    500,
                    "UPLOAD_COPY_FAILED",
                    "Failed to store the deployment package.",
                )
            })?;
            file = Some((file_name, bytes));
        }
    }
    let Some((file_name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return Err(invalid());
    };
    let name = query
        .name
        .clone()
        .or(file_name)
        .unwrap_or_else(|| "upload.mda".to_string());
    let mut world = sb.world();
    let user = authenticate(&world, &headers)?;
    let index = find_app(&world, user, &app_id)?;
    let now = world.now();
    let processing_until = world.after(now, world.timings.mda_processing_ms);
    let package_id = uuid::Uuid::new_v4().to_string();
    let app = &mut world.cloud.apps[index];
    let mendix_version = app.mendix_version.clone();
    app.packages.push(CloudPackage {
        package_id: package_id.clone(),
        version: version_from_file_name(&name).unwrap_or_else(|| "1.0.0.0".to_string()),
        name,
        description: String::new(),
        creator: user_display_name(&headers),
        creation_date: now_ms(),
        status: PackageStatus::Succeeded,
        size: bytes.len() as u64,
        mendix_version,
        parse_fails: false,
        processing_failed: !downloads::looks_like_mda(&bytes),
        processing: true,
        timer: PackageTimer {
            phase_until: None,
            outcome: None,
            processing_until: Some(processing_until),
        },
        content: Some(bytes),
    });
    ok(json!({ "PackageId": package_id }))
}

// ---------------------------------------------------------------- environments (Deploy API)

async fn list_environments(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(app_id): Path<String>,
) -> V1Result {
    let world = sb.world();
    let user = authenticate(&world, &headers)?;
    let index = find_app(&world, user, &app_id)?;
    let app = &world.cloud.apps[index];
    ok(Value::Array(
        app.environments
            .iter()
            .map(|e| environment_json(app, e))
            .collect(),
    ))
}

async fn get_environment(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, mode)): Path<(String, String)>,
) -> V1Result {
    let world = sb.world();
    let user = authenticate(&world, &headers)?;
    let (a, e) = find_environment(&world, user, &app_id, &mode, &ENV_MISSING)?;
    let app = &world.cloud.apps[a];
    ok(environment_json(app, &app.environments[e]))
}

async fn start_environment(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, mode)): Path<(String, String)>,
    body: Bytes,
) -> V1Result {
    let mut world = sb.world();
    let user = authenticate(&world, &headers)?;
    if !valid_app_id(&app_id) {
        return Err(V1Error::new(400, "INVALID_APPID", "Invalid AppId"));
    }
    let (a, e) = find_environment(&world, user, &app_id, &mode, &START_MISSING)?;
    require_environment_access(user, &app_id, &mode)?;
    let body = parse_body(&body)?;
    let auto_sync_db = body
        .get("AutoSyncDb")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let done_at = world.after(world.now(), world.timings.start_ms);
    let env = &mut world.cloud.apps[a].environments[e];
    if env.package_id.is_none() {
        return Err(V1Error::new(
            500,
            "NO_MDA_HAS_BEEN_DEPLOYED",
            "Cannot start app. There is no MDA deployed.",
        ));
    }
    if env.starting_job.is_some() {
        return Err(V1Error::new(
            500,
            "APP_ALREADY_HAS_A_STARTING_JOB",
            "Cannot start app. There is already a starting job id found.",
        ));
    }
    if env.status == Some(EnvironmentStatus::Running) {
        return Err(V1Error::new(
            500,
            "ALREADY_STARTED",
            "Cannot start app. App is already running.",
        ));
    }
    let job_id = uuid::Uuid::new_v4().to_string();
    env.start_jobs.insert(
        job_id.clone(),
        super::world::StartJob {
            job_id: job_id.clone(),
            auto_sync_db,
            status: "Starting".to_string(),
            error_code: None,
            error_message: None,
            done_at: Some(done_at),
        },
    );
    env.starting_job = Some(job_id.clone());
    ok(json!({ "JobId": job_id }))
}

async fn get_start_status(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, mode, job_id)): Path<(String, String, String)>,
) -> V1Result {
    let world = sb.world();
    let user = authenticate(&world, &headers)?;
    let (a, e) = find_environment(&world, user, &app_id, &mode, &ENV_MISSING)?;
    let env = &world.cloud.apps[a].environments[e];
    let job = env
        .start_jobs
        .get(&job_id)
        .ok_or_else(|| V1Error::new(404, "NO_SUCH_STARTJOB", "Job not found."))?;
    match (&job.error_code, &job.error_message) {
        (Some(code), Some(message)) => Err(V1Error::new(500, code, message.clone())),
        _ => ok(json!({ "Status": job.status })),
    }
}

async fn stop_environment(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, mode)): Path<(String, String)>,
) -> V1Result {
    let mut world = sb.world();
    let user = authenticate(&world, &headers)?;
    let (a, e) = find_environment(&world, user, &app_id, &mode, &ENV_MISSING)?;
    require_environment_access(user, &app_id, &mode)?;
    let env = &mut world.cloud.apps[a].environments[e];
    if let Some(job_id) = env.starting_job.take()
        && let Some(job) = env.start_jobs.get_mut(&job_id)
    {
        job.done_at = None;
        job.status = "Failed".to_string();
        job.error_code = Some("START_FAILED".to_string());
        job.error_message = Some("Cannot start app: stopped while starting".to_string());
    }
    if env.status == Some(EnvironmentStatus::Running) {
        env.status = Some(EnvironmentStatus::Stopped);
        env.stops += 1;
    }
    Ok(StatusCode::OK.into_response())
}

async fn get_environment_package(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, mode)): Path<(String, String)>,
    Query(query): Query<UrlQuery>,
) -> V1Result {
    let world = sb.world();
    let user = authenticate(&world, &headers)?;
    let missing_package = Missing {
        app: (
            404,
            "PACKAGE_NOT_FOUND",
            "No package found for this environment",
        ),
        environment: (
            404,
            "PACKAGE_NOT_FOUND",
            "No package found for this environment",
        ),
    };
    let (a, e) = find_environment(&world, user, &app_id, &mode, &missing_package)?;
    let app = &world.cloud.apps[a];
    let package = app.environments[e]
        .package_id
        .as_ref()
        .and_then(|id| app.packages.iter().find(|p| &p.package_id == id))
        .ok_or_else(|| {
            V1Error::new(
                404,
                "PACKAGE_NOT_FOUND",
                "No package found for this environment",
            )
        })?;
    let mut answer = package_json(package);
    answer["ExpiryDate"] = Value::Null;
    if query.wants_url() {
        answer = with_url(answer, &headers, &app_id, &package.package_id);
    }
    ok(answer)
}

fn major_version(version: &str) -> Option<u32> {
    version.split('.').next()?.parse().ok()
}

async fn transport(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, mode)): Path<(String, String)>,
    body: Bytes,
) -> V1Result {
    let mut world = sb.world();
    let user = authenticate(&world, &headers)?;
    let body = parse_body(&body)?;
    let Some(package_id) = body
        .get("PackageId")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
    else {
        return Err(invalid_parameters("AppId, Mode and PackageId"));
    };
    let (a, e) = find_environment(&world, user, &app_id, &mode, &ENV_MISSING)?;
    require_environment_access(user, &app_id, &mode)?;
    if !user_may_transport(user, &app_id) {
        return Err(V1Error::new(
            403,
            "TRANSPORT_NOT_ALLOWED",
            format!("No access to transport to environment '{mode}'."),
        ));
    }
    let app = &world.cloud.apps[a];
    let env = &app.environments[e];
    let package = app
        .packages
        .iter()
        .find(|p| p.package_id == package_id)
        .ok_or_else(|| V1Error::new(404, "PACKAGE_NOT_FOUND", "Package not found."))?;
    if env.status == Some(EnvironmentStatus::Running) || env.starting_job.is_some() {
        return Err(V1Error::new(
            403,
            "APP_IS_RUNNING",
            format!(
                "The '{}' environment of '{app_id}' must be stopped to do transport.",
                env.mode
            ),
        ));
    }
    if package.status == PackageStatus::Failed || package.processing_failed {
        return Err(V1Error::new(
            403,
            "NOT ALLOWED",
            "Cannot transport - MDA processing failed, try uploading again with a valid MDA.",
        ));
    }
    if package.status != PackageStatus::Succeeded || package.processing {
        return Err(V1Error::new(
            503,
            "SERVICE UNAVAILABLE",
            "Cannot transport - MDA is still being processed, retry later",
        ));
    }
    if package.parse_fails {
        return Err(V1Error::new(
            500,
            "PACKAGE_PARSE_FAILED",
            "Failed to parse deployment package file.",
        ));
    }
    if !env.supported_mendix_major_versions.is_empty()
        && !major_version(&package.mendix_version)
            .is_some_and(|major| env.supported_mendix_major_versions.contains(&major))
    {
        return Err(V1Error::new(
            400,
            "INVALID_RUNTIME_VERSION",
            "This Runtime version is not supported on this environment.",
        ));
    }
    let env = &mut world.cloud.apps[a].environments[e];
    if env.package_id.as_deref() != Some(package_id.as_str()) {
        env.db_out_of_sync = env.require_auto_sync_db;
    }
    env.package_id = Some(package_id);
    env.status = Some(EnvironmentStatus::Stopped);
    env.transports += 1;
    Ok(StatusCode::OK.into_response())
}

async fn clean_environment(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, mode)): Path<(String, String)>,
) -> V1Result {
    let mut world = sb.world();
    let user = authenticate(&world, &headers)?;
    let (a, e) = find_environment(&world, user, &app_id, &mode, &ENV_MISSING)?;
    require_environment_access(user, &app_id, &mode)?;
    let env = &mut world.cloud.apps[a].environments[e];
    if env.status == Some(EnvironmentStatus::Running) || env.starting_job.is_some() {
        return Err(V1Error::new(
            403,
            "ENVIRONMENT_NOT_STOPPED",
            "Environment needs to be stopped.",
        ));
    }
    if env.package_id.is_none() {
        return Err(V1Error::new(
            422,
            "ENVIRONMENT_NOT_DEPLOYED",
            "No app deployed to the environment.",
        ));
    }
    env.package_id = None;
    env.status = Some(EnvironmentStatus::Empty);
    ok(json!([{ "Status": "Stopped", "Mode": env.mode, "Url": env.url }]))
}

async fn get_settings(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, mode)): Path<(String, String)>,
) -> V1Result {
    let world = sb.world();
    let user = authenticate(&world, &headers)?;
    let (a, e) = find_environment(&world, user, &app_id, &mode, &ENV_MISSING)?;
    ok(settings_json(&world.cloud.apps[a].environments[e]))
}

/// `(Name, Value)` pairs of one settings list; `Value` may be null for constants.
fn named_values(body: &Value, list: &str) -> Result<Vec<(String, Option<String>)>, V1Error> {
    let Some(items) = body.get(list) else {
        return Ok(Vec::new());
    };
    let items = items.as_array().ok_or_else(|| {
        V1Error::new(
            400,
            "INVALID_PARAMETERS",
            format!("{list} must be a list of objects with Name and Value"),
        )
    })?;
    items
        .iter()
        .map(|item| {
            let name = item.get("Name").and_then(Value::as_str).ok_or_else(|| {
                V1Error::new(
                    400,
                    "INVALID_PARAMETERS",
                    format!("Every entry of {list} needs a Name"),
                )
            })?;
            let value = match item.get("Value") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Null) | None => None,
                Some(other) => Some(other.to_string()),
            };
            Ok((name.to_string(), value))
        })
        .collect()
}

async fn set_settings(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, mode)): Path<(String, String)>,
    body: Bytes,
) -> V1Result {
    let mut world = sb.world();
    let user = authenticate(&world, &headers)?;
    let (a, e) = find_environment(&world, user, &app_id, &mode, &ENV_MISSING)?;
    require_environment_access(user, &app_id, &mode)?;
    let body = parse_body(&body)?;
    let constants = named_values(&body, "Constants")?;
    let custom = named_values(&body, "CustomSettings")?;
    let events = named_values(&body, "ScheduledEvents")?;
    let env = &mut world.cloud.apps[a].environments[e];
    // Validate everything first: a rejected request changes nothing.
    for (name, _) in &constants {
        if !env.constants.iter().any(|c| &c.name == name) {
            return Err(V1Error::new(
                400,
                "CONSTANT_NOT_FOUND",
                format!("Constant not found: {name}"),
            ));
        }
    }
    for (name, _) in &custom {
        if MANAGED_CUSTOM_SETTINGS
            .iter()
            .any(|m| m.eq_ignore_ascii_case(name))
        {
            return Err(V1Error::new(
                400,
                "CUSTOM_SETTING_NOT_SUPPORTED",
                "Custom setting not supported.",
            ));
        }
    }
    for (name, value) in &events {
        if !env.scheduled_events.iter().any(|s| &s.name == name) {
            return Err(V1Error::new(
                400,
                "SCHEDULED_EVENT_NOT_FOUND",
                format!("Scheduled Event not found: {name}"),
            ));
        }
        if !matches!(value.as_deref(), Some("Enabled") | Some("Disabled")) {
            return Err(V1Error::new(
                500,
                "INVALID_SCHEDULED_EVENT_PARAMETER",
                "Scheduled Event parameter should be Enabled or Disabled.",
            ));
        }
    }
    for (name, value) in constants {
        if let Some(constant) = env.constants.iter_mut().find(|c| c.name == name) {
            constant.value = value;
        }
    }
    for (name, value) in custom {
        let value = value.unwrap_or_default();
        match env.custom_settings.iter_mut().find(|s| s.name == name) {
            Some(setting) => setting.value = value,
            None => env.custom_settings.push(super::world::ValueSetting {
                name,
                value,
                deployed_value: String::new(),
            }),
        }
    }
    for (name, value) in events {
        if let Some(event) = env.scheduled_events.iter_mut().find(|s| s.name == name) {
            event.value = value.unwrap_or_default();
        }
    }
    ok(settings_json(env))
}

async fn scale(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(params): Path<Vec<(String, String)>>,
    body: Bytes,
) -> V1Result {
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (app_id, mode) = (param("app"), param("mode"));
    let mut world = sb.world();
    let user = authenticate(&world, &headers)?;
    let (a, e) = find_environment(&world, user, &app_id, &mode, &ENV_MISSING)?;
    require_environment_access(user, &app_id, &mode)?;
    let body = parse_body(&body)?;
    let app = &world.cloud.apps[a];
    let env = &app.environments[e];
    let number = |name: &str, current: u32| match body.get(name) {
        None | Some(Value::Null) => Ok(current),
        Some(value) => value
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| {
                V1Error::new(
                    400,
                    "INVALID_REQUEST",
                    format!("{name} must be a whole number"),
                )
            }),
    };
    let instances = number("Instances", env.instances)?;
    let memory = number("MemoryPerInstance", env.memory_per_instance)?;
    if instances == 0 {
        return Err(V1Error::new(
            400,
            "INVALID_REQUEST",
            "Instances must be at least 1; stop the environment to run none.",
        ));
    }
    if !app.licensed {
        return Err(V1Error::new(
            400,
            "NOT_ALLOWED",
            "Scaling is only available for licensed apps using a supported version of Mendix.",
        ));
    }
    if memory < 1024 {
        return Err(V1Error::new(
            400,
            "INVALID_REQUEST",
            "Memory per instance cannot be smaller than 1024 MB.",
        ));
    }
    if u64::from(instances) * u64::from(memory) > u64::from(env.plan_memory) {
        return Err(V1Error::new(
            400,
            "INVALID_REQUEST",
            "You have allocated more memory than is available under your plan. Please contact Support to upgrade your plan.",
        ));
    }
    let mendix_major = env
        .package_id
        .as_ref()
        .and_then(|id| app.packages.iter().find(|p| &p.package_id == id))
        .and_then(|p| major_version(&p.mendix_version));
    if instances > 1 && mendix_major.is_some_and(|major| major < 7) {
        return Err(V1Error::new(
            400,
            "NOT_ALLOWED",
            "Horizontal scaling (to multiple instances) is only available for apps built with Mendix 7.0 or above. Please upgrade to activate this functionality.",
        ));
    }
    let app = &mut world.cloud.apps[a];
    let env = &mut app.environments[e];
    env.instances = instances;
    env.memory_per_instance = memory;
    let mut answer = environment_json(app, &app.environments[e]);
    let env = &app.environments[e];
    answer["Instances"] = json!(env.instances);
    answer["MemoryPerInstance"] = json!(env.memory_per_instance);
    answer["TotalMemory"] = json!(env.plan_memory);
    ok(answer)
}

fn tag_from_body(body: &Bytes) -> Result<String, V1Error> {
    parse_body(body)?
        .get("Tag")
        .and_then(Value::as_str)
        .map(str::to_string)
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| invalid_parameters("Tag"))
}

async fn get_tags(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, mode)): Path<(String, String)>,
) -> V1Result {
    let world = sb.world();
    let user = authenticate(&world, &headers)?;
    let (a, e) = find_environment(&world, user, &app_id, &mode, &TAG_MISSING)?;
    let tags = &world.cloud.apps[a].environments[e].tags;
    ok(Value::Array(
        tags.iter().map(|t| json!({ "Tag": t })).collect(),
    ))
}

async fn create_tag(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, mode)): Path<(String, String)>,
    body: Bytes,
) -> V1Result {
    let mut world = sb.world();
    let user = authenticate(&world, &headers)?;
    let (a, e) = find_environment(&world, user, &app_id, &mode, &TAG_CREATE_MISSING)?;
    let tag = tag_from_body(&body)?;
    let tags = &mut world.cloud.apps[a].environments[e].tags;
    if !tags.contains(&tag) {
        tags.push(tag.clone());
    }
    ok(json!({ "Tag": tag }))
}

async fn delete_tag(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, mode)): Path<(String, String)>,
    body: Bytes,
) -> V1Result {
    let mut world = sb.world();
    let user = authenticate(&world, &headers)?;
    let (a, e) = find_environment(&world, user, &app_id, &mode, &TAG_MISSING)?;
    let tag = tag_from_body(&body)?;
    world.cloud.apps[a].environments[e]
        .tags
        .retain(|t| t != &tag);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn app_logs(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, mode, date)): Path<(String, String, String)>,
) -> V1Result {
    log_url(&sb, &headers, &app_id, &mode, &date, "logs")
}

async fn access_logs(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, mode, date)): Path<(String, String, String)>,
) -> V1Result {
    log_url(&sb, &headers, &app_id, &mode, &date, "rtr-logs")
}

fn log_url(
    sb: &MendixSandbox,
    headers: &HeaderMap,
    app_id: &str,
    mode: &str,
    date: &str,
    kind: &str,
) -> V1Result {
    let world = sb.world();
    let user = authenticate(&world, headers)?;
    let (a, e) = find_environment(&world, user, app_id, mode, &TAG_MISSING)?;
    if !user_may_use_environment(user, app_id, mode) {
        return Err(V1Error::new(403, "FORBIDDEN", "You do not have access"));
    }
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| {
        V1Error::new(
            400,
            "INVALID_PARAMETERS",
            format!("Date '{date}' is not in the format YYYY-MM-DD"),
        )
    })?;
    let millis = day
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis())
        .unwrap_or(0);
    let env_id = world.cloud.apps[a].environments[e].environment_id.clone();
    ok(json!({
        "Environment": env_id,
        "Date": millis,
        "DownloadUrl": downloads::log_url(&base_url(headers), kind, &env_id, date, URL_TTL_SECONDS),
    }))
}
