//! Build API v4: deployment packages (list, get, build, upload, delete).

use super::*;

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

pub(super) async fn list_deployment_packages(
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

pub(super) async fn get_deployment_package(
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

pub(super) async fn build_deployment_package(
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
        crate::world::next_build_number(app.packages.iter().map(|p| p.model_version.as_str()));
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

pub(super) async fn upload_deployment_package(
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

pub(super) async fn delete_deployment_package(
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
