//! Build API v1: packages (list, get, delete, download, build, upload).

use super::*;

pub(super) async fn list_packages(
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

pub(super) async fn get_package(
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

pub(super) async fn delete_package(
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

pub(super) async fn download_package(
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
    branches: &crate::world::Branches,
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

pub(super) async fn build_package(
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
        crate::world::next_build_number(app.packages.iter().map(|p| p.version.as_str())).to_string()
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

pub(super) async fn upload_package(
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
    // The docs document no response body: none is sent (the package is found by its name).
    Ok(axum::http::StatusCode::OK.into_response())
}
