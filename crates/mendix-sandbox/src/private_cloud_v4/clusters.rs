//! Private Cloud Deploy API v4: cluster and namespace writes and the mxpc-cli downloads.
//! Writes are jobs like every other write; IDs are chosen by the caller and a duplicate makes
//! the job fail, as the docs say ("Assigning IDs").
//!
//! Where the contract is silent the sandbox takes the least convenient reading:
//! - a create takes only the fields of its schema (`clusterManifest`, `createNamespaceManifest`):
//!   cluster managers, plans, members and the like in a create body are ignored;
//! - an update replaces every editable field: what the manifest leaves out is cleared
//!   (description, managers, members, operational links) or takes the schema's default
//!   (`false` for `enableDevelopmentMode`, `enableExternalSecretsStore` and a plan's
//!   `activate`); plans the manifest does not name are left as they are (they cannot go);
//! - a non-editable field (`operatorType`, `namespaceType`, `installationType`, the namespace
//!   `name`, a plan's `planType` and `planConfig`) that differs from the stored value is a 400
//!   naming it; `status`, `displayName` and `permissions` of members are Mendix's and ignored;
//! - the namespace `secret` must be base64 (the contract's example says "base64 encoded
//!   string"), the namespace `name` a Kubernetes namespace name, an e-mail an address.

use std::collections::{HashMap, HashSet};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::deploy::{find_cluster, parse_json};
use super::{
    NewJob, SCOPES_DEPLOY_READ, SCOPES_DEPLOY_WRITE, V4Result, authorize, base_url, ok, start_job,
};
use crate::MendixSandbox;
use crate::api_errors::V4Error;
use crate::world::{
    Cluster, ClusterUpdate, INSTALLATION_TYPES, INVITATION_STATUSES, Invite, JobApi, JobEffect,
    NAMESPACE_TYPES, Namespace, NamespaceUpdate, OPERATOR_TYPES, PLAN_TYPES, World,
};

const CLUSTER_TYPES: &[&str] = &["os", "k8s", "eks", "aks", "stackit"];
const OPERATIONAL_LINKS: &[&str] = &["metricsUrl", "alertsUrl", "logsUrl", "backupsUrl"];

/// The docs' words for `PUT .../namespaces/{namespaceId}` on a global operator's Main namespace.
const MAIN_NAMESPACE_REFUSED: &str =
    "this endpoint cannot be used for the Main namespace of a Global Operator installation";

/// mxpc-cli versions the sandbox offers.
const CLI_VERSIONS: &[&str] = &[crate::world::OPERATOR_VERSION, "2.20.1"];
const CLI_OPERATING_SYSTEMS: &[&str] = &["windows", "linux", "macos"];
const CLI_ARCHITECTURES: &[&str] = &["x86", "arm"];

fn text<'a>(value: &'a Value, pointer: &str, field: &str) -> Result<&'a str, V4Error> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| V4Error::bad_request(field, format!("{field} is required")))
}

/// An optional field: absent is `None`; present, it must be a string (`null` is not one).
fn optional_text<'a>(
    value: &'a Value,
    pointer: &str,
    field: &str,
) -> Result<Option<&'a str>, V4Error> {
    match value.pointer(pointer) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(V4Error::bad_request(
            field,
            format!("{field} must be a string"),
        )),
    }
}

/// An optional boolean: absent is `None`; present, it must be `true` or `false`.
fn optional_bool(value: &Value, pointer: &str, field: &str) -> Result<Option<bool>, V4Error> {
    match value.pointer(pointer) {
        None => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(_) => Err(V4Error::bad_request(
            field,
            format!("{field} must be true or false"),
        )),
    }
}

/// An optional list: absent is empty; present, it must be a list.
fn optional_list<'a>(value: &'a Value, pointer: &str, field: &str) -> Result<&'a [Value], V4Error> {
    match value.pointer(pointer) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(V4Error::bad_request(
            field,
            format!("{field} must be a list"),
        )),
    }
}

fn one_of<'a>(value: &'a str, allowed: &[&str], field: &str) -> Result<&'a str, V4Error> {
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(V4Error::bad_request(
            field,
            format!("{field} must be one of {}", allowed.join(", ")),
        ))
    }
}

fn uuid(value: &str, field: &str) -> Result<String, V4Error> {
    uuid::Uuid::parse_str(value)
        .map(|_| value.to_string())
        .map_err(|_| V4Error::bad_request(field, format!("{field} must be a UUID")))
}

/// A non-editable field, if given, must keep its value.
fn unchanged(given: Option<&str>, stored: &str, field: &str) -> Result<(), V4Error> {
    match given {
        Some(value) if value != stored => Err(V4Error::bad_request(
            field,
            format!("{field} cannot be changed after it has been set (it is {stored})"),
        )),
        _ => Ok(()),
    }
}

/// Standard base64 with padding, as the installer secret is documented.
fn is_base64(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return false;
    }
    let padding = bytes.iter().rev().take_while(|b| **b == b'=').count();
    padding <= 2
        && bytes[..bytes.len() - padding]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

fn secret(body: &Value) -> Result<String, V4Error> {
    let field = "namespace.secret";
    let secret = text(body, "/namespace/secret", field)?;
    if is_base64(secret) {
        Ok(secret.to_string())
    } else {
        Err(V4Error::bad_request(
            field,
            format!("{field} must be a base64 encoded string"),
        ))
    }
}

/// A Kubernetes namespace name (an RFC 1123 label).
fn is_namespace_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

fn is_email(text: &str) -> bool {
    let mut parts = text.split('@');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(local), Some(domain), None) if !local.is_empty() && !domain.is_empty()
    ) && !text.chars().any(char::is_whitespace)
}

/// The members of a write (`cluster.clusterManagers`, `namespace.membership`): e-mail (and for
/// namespaces the role) required; `status`, `displayName` and `permissions` are Mendix's and
/// only type-checked.
fn invites(
    body: &Value,
    pointer: &str,
    field: &str,
    with_role: bool,
) -> Result<Vec<Invite>, V4Error> {
    let mut seen = HashSet::new();
    let mut invites = Vec::new();
    for (i, item) in optional_list(body, pointer, field)?.iter().enumerate() {
        let at = format!("{field}[{i}]");
        if !item.is_object() {
            return Err(V4Error::bad_request(&at, format!("{at} must be an object")));
        }
        let email = text(item, "/email", &format!("{at}.email"))?;
        if !is_email(email) {
            return Err(V4Error::bad_request(
                &format!("{at}.email"),
                format!("{at}.email must be an e-mail address"),
            ));
        }
        if !seen.insert(email) {
            return Err(V4Error::bad_request(
                &format!("{at}.email"),
                format!("{email} is listed twice"),
            ));
        }
        let role = if with_role {
            Some(text(item, "/role", &format!("{at}.role"))?.to_string())
        } else {
            None
        };
        let auto_accept =
            optional_bool(item, "/autoAcceptInvite", &format!("{at}.autoAcceptInvite"))?
                .unwrap_or(false);
        if let Some(status) = optional_text(item, "/status", &format!("{at}.status"))? {
            one_of(status, INVITATION_STATUSES, &format!("{at}.status"))?;
        }
        optional_text(item, "/displayName", &format!("{at}.displayName"))?;
        if item.get("permissions").is_some_and(|p| !p.is_object()) {
            return Err(V4Error::bad_request(
                &format!("{at}.permissions"),
                format!("{at}.permissions must be an object"),
            ));
        }
        invites.push(Invite {
            email: email.to_string(),
            role,
            auto_accept,
        });
    }
    Ok(invites)
}

fn job(details: &'static str, effect: JobEffect, running_ms: u64) -> NewJob<'static> {
    NewJob {
        api: JobApi::Deploy,
        app_id: "",
        details,
        running_ms,
        effect,
        build_log: String::new(),
    }
}

fn cluster_type(body: &Value) -> Result<String, V4Error> {
    Ok(one_of(
        text(body, "/cluster/clusterType", "cluster.clusterType")?,
        CLUSTER_TYPES,
        "cluster.clusterType",
    )?
    .to_string())
}

pub async fn create_cluster(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> V4Result {
    let mut world = sb.world();
    authorize(&world, &headers, SCOPES_DEPLOY_WRITE)?;
    let body = parse_json(&body)?;
    text(&body, "/manifestVersion", "manifestVersion")?;
    let operator_type = match optional_text(&body, "/cluster/operatorType", "cluster.operatorType")?
    {
        Some(given) => one_of(given, OPERATOR_TYPES, "cluster.operatorType")?.to_string(),
        None => "standard_operator".to_string(),
    };
    let cluster = Cluster {
        cluster_id: uuid(
            text(&body, "/cluster/clusterId", "cluster.clusterId")?,
            "cluster.clusterId",
        )?,
        name: text(&body, "/cluster/name", "cluster.name")?.to_string(),
        cluster_type: cluster_type(&body)?,
        operator_type,
        description: optional_text(&body, "/cluster/description", "cluster.description")?
            .map(str::to_string),
        // Not in the create schema: managers are added with an update.
        cluster_managers: Vec::new(),
        namespaces: Vec::new(),
    };
    let running_ms = world.timings.job_running_ms;
    let effect = JobEffect::CreateCluster(Box::new(cluster));
    Ok(start_job(
        &mut world,
        &headers,
        job("Request to create cluster.", effect, running_ms),
    ))
}

pub async fn update_cluster(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(cluster_id): Path<String>,
    body: Bytes,
) -> V4Result {
    let mut world = sb.world();
    authorize(&world, &headers, SCOPES_DEPLOY_WRITE)?;
    let stored_operator_type = find_cluster(&world, &cluster_id)?.operator_type.clone();
    let body = parse_json(&body)?;
    text(&body, "/manifestVersion", "manifestVersion")?;
    if text(&body, "/cluster/clusterId", "cluster.clusterId")? != cluster_id {
        return Err(V4Error::bad_request(
            "cluster.clusterId",
            "cluster.clusterId must match the clusterId in the path",
        ));
    }
    let name = text(&body, "/cluster/name", "cluster.name")?.to_string();
    let cluster_type = cluster_type(&body)?;
    unchanged(
        optional_text(&body, "/cluster/operatorType", "cluster.operatorType")?,
        &stored_operator_type,
        "cluster.operatorType",
    )?;
    let description =
        optional_text(&body, "/cluster/description", "cluster.description")?.map(str::to_string);
    let managers = invites(
        &body,
        "/cluster/clusterManagers",
        "cluster.clusterManagers",
        false,
    )?;
    let effect = JobEffect::UpdateCluster {
        cluster_id,
        update: ClusterUpdate {
            name,
            cluster_type,
            description,
            managers,
        },
    };
    let running_ms = world.timings.job_running_ms;
    Ok(start_job(
        &mut world,
        &headers,
        job("Request to update cluster.", effect, running_ms),
    ))
}

pub async fn delete_cluster(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(cluster_id): Path<String>,
) -> V4Result {
    let mut world = sb.world();
    authorize(&world, &headers, SCOPES_DEPLOY_WRITE)?;
    find_cluster(&world, &cluster_id)?;
    let running_ms = world.timings.job_running_ms;
    Ok(start_job(
        &mut world,
        &headers,
        job(
            "Request to delete cluster.",
            JobEffect::DeleteCluster { cluster_id },
            running_ms,
        ),
    ))
}

pub async fn create_namespace(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(cluster_id): Path<String>,
    body: Bytes,
) -> V4Result {
    let mut world = sb.world();
    authorize(&world, &headers, SCOPES_DEPLOY_WRITE)?;
    // The contract documents no 404 here: an unknown cluster is invalid input.
    let operator_type = find_cluster(&world, &cluster_id)
        .map_err(|_| {
            V4Error::bad_request(
                "clusterId",
                format!("Cluster {cluster_id} could not be found"),
            )
        })?
        .operator_type
        .clone();
    let body = parse_json(&body)?;
    text(&body, "/manifestVersion", "manifestVersion")?;
    let namespace_id = uuid(
        text(&body, "/namespace/namespaceId", "namespace.namespaceId")?,
        "namespace.namespaceId",
    )?;
    let name = text(&body, "/namespace/name", "namespace.name")?;
    if !is_namespace_name(name) {
        return Err(V4Error::bad_request(
            "namespace.name",
            "namespace.name must be a Kubernetes namespace name (lowercase letters, digits and '-', at most 63)",
        ));
    }
    let installation_type = one_of(
        text(
            &body,
            "/namespace/installationType",
            "namespace.installationType",
        )?,
        INSTALLATION_TYPES,
        "namespace.installationType",
    )?;
    let namespace_type =
        match optional_text(&body, "/namespace/namespaceType", "namespace.namespaceType")? {
            Some(given) => one_of(given, NAMESPACE_TYPES, "namespace.namespaceType")?,
            None => "standard",
        };
    if namespace_type != "standard" && operator_type != "global_operator" {
        return Err(V4Error::bad_request(
            "namespace.namespaceType",
            format!(
                "a {namespace_type} namespace needs a cluster with a global operator; cluster {cluster_id} has a {operator_type}"
            ),
        ));
    }
    let namespace = Namespace::registered(
        namespace_id,
        name.to_string(),
        namespace_type.to_string(),
        installation_type.to_string(),
        secret(&body)?,
    );
    let running_ms = world.timings.job_running_ms;
    let effect = JobEffect::CreateNamespace {
        cluster_id,
        namespace: Box::new(namespace),
    };
    Ok(start_job(
        &mut world,
        &headers,
        job("Request to create namespace.", effect, running_ms),
    ))
}

fn require_namespace<'w>(
    world: &'w World,
    cluster_id: &str,
    namespace_id: &str,
) -> Result<(&'w Cluster, &'w Namespace), V4Error> {
    let cluster = find_cluster(world, cluster_id)?;
    cluster
        .namespaces
        .iter()
        .find(|n| n.namespace_id == namespace_id)
        .map(|namespace| (cluster, namespace))
        .ok_or_else(|| {
            V4Error::not_found(
                "Namespace",
                format!("Namespace {namespace_id} could not be found"),
            )
        })
}

/// `namespace.plans`: each names an existing plan; only `activate` (default false) changes.
fn plan_changes(body: &Value, namespace: &Namespace) -> Result<Vec<(String, bool)>, V4Error> {
    let field = "namespace.plans";
    let mut changes: Vec<(String, bool)> = Vec::new();
    for (i, item) in optional_list(body, "/namespace/plans", field)?
        .iter()
        .enumerate()
    {
        let at = format!("{field}[{i}]");
        if !item.is_object() {
            return Err(V4Error::bad_request(&at, format!("{at} must be an object")));
        }
        let name_field = format!("{at}.planName");
        let name = text(item, "/planName", &name_field)?;
        let Some(plan) = namespace.plans.iter().find(|p| p.plan_name == name) else {
            return Err(V4Error::bad_request(
                &name_field,
                format!(
                    "namespace {} has no plan named {name} (plans are set up by Mendix; planName is not editable)",
                    namespace.name
                ),
            ));
        };
        if changes.iter().any(|(n, _)| n == name) {
            return Err(V4Error::bad_request(
                &name_field,
                format!("plan {name} is listed twice"),
            ));
        }
        let plan_type = optional_text(item, "/planType", &format!("{at}.planType"))?;
        if let Some(plan_type) = plan_type {
            one_of(plan_type, PLAN_TYPES, &format!("{at}.planType"))?;
        }
        unchanged(plan_type, &plan.plan_type, &format!("{at}.planType"))?;
        unchanged(
            optional_text(item, "/planConfig", &format!("{at}.planConfig"))?,
            &plan.plan_config,
            &format!("{at}.planConfig"),
        )?;
        let activate =
            optional_bool(item, "/activate", &format!("{at}.activate"))?.unwrap_or(false);
        changes.push((name.to_string(), activate));
    }
    Ok(changes)
}

fn operational_links(body: &Value) -> Result<Option<Map<String, Value>>, V4Error> {
    let field = "namespace.operationalLinks";
    match body.pointer("/namespace/operationalLinks") {
        None => Ok(None),
        Some(Value::Object(links)) => {
            let mut kept = Map::new();
            // Only the documented links are kept.
            for key in OPERATIONAL_LINKS {
                match links.get(*key) {
                    None => {}
                    Some(Value::String(link)) => {
                        kept.insert((*key).to_string(), json!(link));
                    }
                    Some(_) => {
                        return Err(V4Error::bad_request(
                            &format!("{field}.{key}"),
                            format!("{field}.{key} must be a string"),
                        ));
                    }
                }
            }
            Ok(Some(kept))
        }
        Some(_) => Err(V4Error::bad_request(
            field,
            format!("{field} must be an object"),
        )),
    }
}

pub async fn update_namespace_manifest(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((cluster_id, namespace_id)): Path<(String, String)>,
    body: Bytes,
) -> V4Result {
    let mut world = sb.world();
    authorize(&world, &headers, SCOPES_DEPLOY_WRITE)?;
    let (cluster, namespace) = require_namespace(&world, &cluster_id, &namespace_id)?;
    if cluster.operator_type == "global_operator" && namespace.namespace_type == "main" {
        return Err(V4Error::bad_request(
            "namespace.namespaceType",
            format!(
                "Namespace {namespace_id} is the Main namespace of a Global Operator installation: {MAIN_NAMESPACE_REFUSED}"
            ),
        ));
    }
    let body = parse_json(&body)?;
    text(&body, "/manifestVersion", "manifestVersion")?;
    if text(&body, "/namespace/namespaceId", "namespace.namespaceId")? != namespace_id {
        return Err(V4Error::bad_request(
            "namespace.namespaceId",
            "namespace.namespaceId must match the namespaceId in the path",
        ));
    }
    unchanged(
        Some(text(&body, "/namespace/name", "namespace.name")?),
        &namespace.name,
        "namespace.name",
    )?;
    let installation_type = text(
        &body,
        "/namespace/installationType",
        "namespace.installationType",
    )?;
    one_of(
        installation_type,
        INSTALLATION_TYPES,
        "namespace.installationType",
    )?;
    unchanged(
        Some(installation_type),
        &namespace.installation_type,
        "namespace.installationType",
    )?;
    let namespace_type =
        optional_text(&body, "/namespace/namespaceType", "namespace.namespaceType")?;
    if let Some(given) = namespace_type {
        one_of(given, NAMESPACE_TYPES, "namespace.namespaceType")?;
    }
    unchanged(
        namespace_type,
        &namespace.namespace_type,
        "namespace.namespaceType",
    )?;
    let secret = secret(&body)?;
    let product_type_pclm = text(
        &body,
        "/namespace/productTypePCLM",
        "namespace.productTypePCLM",
    )?
    .to_string();
    let plans = plan_changes(&body, namespace)?;
    let field = |name: &str| format!("namespace.{name}");
    let flag = |name: &str| -> Result<bool, V4Error> {
        Ok(optional_bool(&body, &format!("/namespace/{name}"), &field(name))?.unwrap_or(false))
    };
    let update = NamespaceUpdate {
        secret,
        product_type_pclm,
        plans,
        enable_development_mode: flag("enableDevelopmentMode")?,
        enable_external_secrets_store: flag("enableExternalSecretsStore")?,
        membership: invites(&body, "/namespace/membership", "namespace.membership", true)?,
        operational_links: operational_links(&body)?,
    };
    let running_ms = world.timings.job_running_ms;
    let effect = JobEffect::UpdateNamespace {
        cluster_id,
        namespace_id,
        update: Box::new(update),
    };
    Ok(start_job(
        &mut world,
        &headers,
        job("Request to update namespace.", effect, running_ms),
    ))
}

pub async fn delete_namespace(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path((cluster_id, namespace_id)): Path<(String, String)>,
) -> V4Result {
    let mut world = sb.world();
    authorize(&world, &headers, SCOPES_DEPLOY_WRITE)?;
    require_namespace(&world, &cluster_id, &namespace_id)?;
    let running_ms = world.timings.job_running_ms;
    let effect = JobEffect::DeleteNamespace {
        cluster_id,
        namespace_id,
    };
    Ok(start_job(
        &mut world,
        &headers,
        job("Request to delete namespace.", effect, running_ms),
    ))
}

pub async fn list_cli_versions(State(sb): State<MendixSandbox>, headers: HeaderMap) -> V4Result {
    let world = sb.world();
    authorize(&world, &headers, SCOPES_DEPLOY_READ)?;
    let versions: Vec<Value> = CLI_VERSIONS
        .iter()
        .map(|v| {
            json!({
                "operatorVersion": v,
                "cliVersion": v,
                "availableOperatingSystems": CLI_OPERATING_SYSTEMS.join(", "),
                "availableArchitectures": CLI_ARCHITECTURES.join(", "),
            })
        })
        .collect();
    ok(json!({ "cliVersionList": versions }))
}

/// `POST /cli/{version}?os=&architecture=`: 303 to the (sandbox) CDN.
pub async fn get_cli(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    Path(version): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> V4Result {
    let world = sb.world();
    authorize(&world, &headers, SCOPES_DEPLOY_READ)?;
    let os = query
        .get("os")
        .ok_or_else(|| V4Error::bad_request("os", "os is required"))?;
    one_of(os, CLI_OPERATING_SYSTEMS, "os")?;
    let architecture = query
        .get("architecture")
        .ok_or_else(|| V4Error::bad_request("architecture", "architecture is required"))?;
    one_of(architecture, CLI_ARCHITECTURES, "architecture")?;
    if !CLI_VERSIONS.contains(&version.as_str()) {
        return Err(V4Error::not_found(
            "mxpc-cli version",
            format!("mxpc-cli {version} is not available"),
        ));
    }
    let location = format!(
        "{}/_sim/cli/{version}/{os}/{architecture}",
        base_url(&headers)
    );
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response
            .headers_mut()
            .insert(header::LOCATION, value.clone());
        response
            .headers_mut()
            .insert(header::CONTENT_LOCATION, value);
    }
    Ok(response)
}
