//! Deploy API v1: apps and environments (start, stop, transport, clean, settings, scale,
//! tags, logs).

use super::*;

pub(super) async fn list_apps(State(sb): State<MendixSandbox>, headers: HeaderMap) -> V1Result {
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

pub(super) async fn create_free_app(
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
        start_ms: None,
    };
    let answer = app_json(&app);
    world.cloud.apps.push(app);
    ok(answer)
}

pub(super) async fn get_app(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(app_id): Path<String>,
) -> V1Result {
    let world = sb.world();
    let user = authenticate(&world, &headers)?;
    let index = find_app(&world, user, &app_id)?;
    ok(app_json(&world.cloud.apps[index]))
}

pub(super) async fn list_environments(
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

pub(super) async fn get_environment(
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

pub(super) async fn start_environment(
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
    let start_ms = world.cloud.apps[a]
        .start_ms
        .unwrap_or(world.timings.start_ms);
    let done_at = world.after(world.now(), start_ms);
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
    // The docs do not say how long a start job is remembered: only the latest one is (see the
    // module's table of readings).
    env.start_jobs.clear();
    env.start_jobs.insert(
        job_id.clone(),
        crate::world::StartJob {
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

pub(super) async fn get_start_status(
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

pub(super) async fn stop_environment(
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

pub(super) async fn get_environment_package(
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

pub(super) async fn transport(
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

pub(super) async fn clean_environment(
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

pub(super) async fn get_settings(
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

pub(super) async fn set_settings(
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
            None => env.custom_settings.push(crate::world::ValueSetting {
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

pub(super) async fn scale(
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

pub(super) async fn get_tags(
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

pub(super) async fn create_tag(
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

pub(super) async fn delete_tag(
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

pub(super) async fn app_logs(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((app_id, mode, date)): Path<(String, String, String)>,
) -> V1Result {
    log_url(&sb, &headers, &app_id, &mode, &date, "logs")
}

pub(super) async fn access_logs(
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
