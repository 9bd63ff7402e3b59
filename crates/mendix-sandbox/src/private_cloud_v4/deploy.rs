//! Deploy API v4: apps, environment manifests, and cluster and namespace reads.

use super::*;

pub(super) async fn list_cluster_manifests(
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

fn cluster_json(world: &World, cluster: &crate::world::Cluster) -> Value {
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
    let managers: Vec<Value> = cluster
        .cluster_managers
        .iter()
        .map(|m| {
            json!({
                "email": m.email,
                "status": m.status,
                "displayName": crate::world::display_name(&m.email),
            })
        })
        .collect();
    let mut manifest = json!({
        "manifestVersion": "2.0.0",
        "cluster": {
            "clusterId": cluster.cluster_id,
            "name": cluster.name,
            "clusterType": cluster.cluster_type,
            "operatorType": cluster.operator_type,
            "totalNamespaces": cluster.namespaces.len(),
            "totalEnvironments": environments,
            "clusterManagers": managers,
        },
    });
    if let Some(description) = &cluster.description {
        manifest["cluster"]["description"] = json!(description);
    }
    manifest
}

pub(super) fn find_cluster<'w>(
    world: &'w World,
    cluster_id: &str,
) -> Result<&'w crate::world::Cluster, V4Error> {
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

pub(super) async fn get_cluster_manifest(
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
    namespace: &crate::world::Namespace,
    with_environments: bool,
) -> Value {
    let plans: Vec<Value> = namespace
        .plans
        .iter()
        .map(|p| {
            json!({
                "planName": p.plan_name,
                "planType": p.plan_type,
                "activate": p.activate,
                "planConfig": p.plan_config,
            })
        })
        .collect();
    let membership: Vec<Value> = namespace
        .membership
        .iter()
        .map(|m| {
            json!({
                "email": m.email,
                "role": m.role,
                "status": m.status,
                "displayName": crate::world::display_name(&m.email),
                "autoAcceptInvite": false,
                "permissions": permissions(&m.role),
            })
        })
        .collect();
    let mut value = json!({
        "manifestVersion": "2.0.0",
        "namespace": {
            "namespaceId": namespace.namespace_id,
            "name": namespace.name,
            "namespaceType": namespace.namespace_type,
            "installationType": namespace.installation_type,
            // The contract makes the installer secret part of every answer.
            "secret": namespace.secret,
            "productTypePCLM": namespace.product_type_pclm,
            "plans": plans,
            "enableDevelopmentMode": namespace.enable_development_mode,
            "enableExternalSecretsStore": namespace.enable_external_secrets_store,
            "membership": membership,
        },
    });
    if let Some(links) = &namespace.operational_links {
        value["namespace"]["operationalLinks"] = json!(links);
    }
    // Only an installed namespace reports its operator (mxpc-cli installer has run).
    if namespace.installed {
        value["namespace"]["additionalInformation"] = json!({
            "componentVersion": {
                "operatorVersion": crate::world::OPERATOR_VERSION,
                "repositoryURL": "private-cloud.registry.mendix.com",
            },
        });
    }
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

/// What a namespace role allows (not editable): everything for an Administrator, all but
/// managing the environment for a Developer, nothing listed for other roles.
fn permissions(role: &str) -> Value {
    const PERMISSIONS: &[&str] = &[
        "manageEnvironment",
        "deployApp",
        "scaleApp",
        "startApp",
        "stopApp",
        "modifyMxAdminPassword",
        "editAppConstants",
        "manageAppScheduledEvents",
        "viewAppLogs",
        "viewAppAlerts",
        "viewAppMetrics",
        "manageAppBackups",
        "manageDebugger",
        "manageTLSConfigurations",
        "manageCustomEnvVarJVMOpts",
        "manageCustomRuntimeSettings",
        "manageLogLevels",
        "manageRuntimeMetricsConfiguration",
    ];
    let allowed = |permission: &str| match role {
        "Administrator" => true,
        "Developer" => permission != "manageEnvironment",
        _ => false,
    };
    Value::Object(
        PERMISSIONS
            .iter()
            .map(|p| ((*p).to_string(), json!(allowed(p))))
            .collect(),
    )
}

fn environment_name(env: &PcEnvironment) -> String {
    env.environment
        .pointer("/properties/name")
        .and_then(Value::as_str)
        .unwrap_or(&env.id)
        .to_string()
}

pub(super) async fn list_namespace_manifests(
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

pub(super) async fn get_namespace_manifest(
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

pub(super) async fn list_app_manifests(
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

pub(super) async fn get_app_manifest(
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

pub(super) async fn list_environments_manifests(
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

pub(super) async fn get_environment_manifest(
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
/// The `service` schema's enums.
const SERVICE_PLANS: &[&str] = &["OnDemand", "Dedicated"];
const SERVICE_CONFIGS: &[&str] = &[r#"{type: \"database\"}"#, r#"{type: \"storage\"}"#];

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
    // Each service as the contract's `service` schema says: plan and config from their enums
    // (the config enum holds the backslashes of its single-quoted YAML).
    for (i, service) in environment
        .pointer("/services")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let field = |name: &str| format!("environment.services[{i}].{name}");
        let text = |name: &str| service.get(name).and_then(Value::as_str);
        if text("name").is_none_or(str::is_empty) {
            return Err(V4Error::bad_request(&field("name"), "is required"));
        }
        if !text("plan").is_some_and(|p| SERVICE_PLANS.contains(&p)) {
            return Err(V4Error::bad_request(
                &field("plan"),
                format!("must be one of {}", SERVICE_PLANS.join(", ")),
            ));
        }
        if !text("config").is_some_and(|c| SERVICE_CONFIGS.contains(&c)) {
            return Err(V4Error::bad_request(
                &field("config"),
                format!("must be one of {}", SERVICE_CONFIGS.join(", ")),
            ));
        }
    }
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

/// The manifest's constants and scheduled events are those of the deployed model. A PUT that
/// keeps the package and names others is accepted and they are dropped without a word: the
/// docs say nothing of such names, and that is the least convenient reading (a client that
/// does not check the names itself would send them again for ever).
fn keep_names_the_model_defines(current: &Value, next: &mut Value) {
    let package = |m: &Value| m.pointer("/deployment/packageId").cloned();
    if package(current) != package(next) {
        return;
    }
    for list in ["constants", "scheduledEvents"] {
        let pointer = format!("/deployment/{list}");
        let known: Vec<Value> = current
            .pointer(&pointer)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|item| item.get("name").cloned())
            .collect();
        if let Some(items) = next.pointer_mut(&pointer).and_then(Value::as_array_mut) {
            items.retain(|item| item.get("name").is_some_and(|name| known.contains(name)));
        }
    }
}

pub(super) fn parse_json(body: &Bytes) -> Result<Value, V4Error> {
    serde_json::from_slice(body)
        .map_err(|err| V4Error::bad_request("body", format!("not valid JSON: {err}")))
}

pub(super) async fn update_environment(
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
    let mut environment = environment;
    keep_names_the_model_defines(&app.environments[e].environment, &mut environment);
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

pub(super) async fn create_environment(
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
    // The provider names the namespace three times: all must agree.
    let provider = |field: &str| {
        environment
            .pointer(&format!("/provider/{field}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let Some((cluster, namespace)) = world.find_namespace(&namespace_id) else {
        return Err(V4Error::bad_request(
            "environment.provider.namespaceId",
            format!("Namespace {namespace_id} could not be found"),
        ));
    };
    if cluster.cluster_id != provider("clusterId") {
        return Err(V4Error::bad_request(
            "environment.provider.clusterId",
            format!(
                "Cluster {} has no namespace {namespace_id}",
                provider("clusterId")
            ),
        ));
    }
    if namespace.name != provider("namespace") {
        return Err(V4Error::bad_request(
            "environment.provider.namespace",
            format!(
                "environment.provider.namespace must be {}, the name of namespace {namespace_id}",
                namespace.name
            ),
        ));
    }
    // The docs: the namespace is ready to use once the installer has run in it. Decided when
    // the request is taken: installing while the job runs does not save it.
    let not_installed = (!namespace.installed).then(|| {
        format!(
            "Namespace {} ({namespace_id}) has no Mendix Operator installed: run mxpc-cli installer for it first",
            namespace.name
        )
    });
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
        fail_next_rollout: false,
        processing_until: None,
        unknown_until: None,
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
            effect: match not_installed {
                Some(message) => JobEffect::Fail { code: 400, message },
                None => JobEffect::CreateEnvironment(Box::new(new_env)),
            },
            build_log: String::new(),
        },
    ))
}

pub(super) async fn delete_environment(
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
