//! Private Cloud Deploy API v4: cluster and namespace writes and the mxpc-cli downloads.
//! Writes are jobs like every other write; IDs are chosen by the caller and a duplicate makes
//! the job fail, as the docs say ("Assigning IDs").

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::deploy::{find_cluster, parse_json};
use super::{
    NewJob, SCOPES_DEPLOY_READ, SCOPES_DEPLOY_WRITE, V4Result, authorize, base_url, ok, start_job,
};
use crate::MendixSandbox;
use crate::api_errors::V4Error;
use crate::world::{Cluster, JobApi, JobEffect, Namespace, World};

const CLUSTER_TYPES: &[&str] = &["os", "k8s", "eks", "aks", "stackit"];
const INSTALLATION_TYPES: &[&str] = &["Connected", "Standalone"];

/// mxpc-cli versions the sandbox offers.
const CLI_VERSIONS: &[&str] = &["2.21.0", "2.20.1"];
const CLI_OPERATING_SYSTEMS: &[&str] = &["windows", "linux", "macos"];
const CLI_ARCHITECTURES: &[&str] = &["x86", "arm"];

fn text<'a>(value: &'a Value, pointer: &str, field: &str) -> Result<&'a str, V4Error> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| V4Error::bad_request(field, format!("{field} is required")))
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

pub async fn create_cluster(
    State(sb): State<MendixSandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> V4Result {
    let mut world = sb.world();
    authorize(&world, &headers, SCOPES_DEPLOY_WRITE)?;
    let body = parse_json(&body)?;
    text(&body, "/manifestVersion", "manifestVersion")?;
    let cluster = Cluster {
        cluster_id: uuid(
            text(&body, "/cluster/clusterId", "cluster.clusterId")?,
            "cluster.clusterId",
        )?,
        name: text(&body, "/cluster/name", "cluster.name")?.to_string(),
        cluster_type: one_of(
            text(&body, "/cluster/clusterType", "cluster.clusterType")?,
            CLUSTER_TYPES,
            "cluster.clusterType",
        )?
        .to_string(),
        namespaces: Vec::new(),
    };
    let running_ms = world.timings.job_running_ms;
    let effect = JobEffect::CreateCluster(cluster);
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
    find_cluster(&world, &cluster_id)?;
    let body = parse_json(&body)?;
    text(&body, "/manifestVersion", "manifestVersion")?;
    if text(&body, "/cluster/clusterId", "cluster.clusterId")? != cluster_id {
        return Err(V4Error::bad_request(
            "cluster.clusterId",
            "cluster.clusterId must match the clusterId in the path",
        ));
    }
    let effect = JobEffect::UpdateCluster {
        cluster_id,
        name: text(&body, "/cluster/name", "cluster.name")?.to_string(),
        cluster_type: one_of(
            text(&body, "/cluster/clusterType", "cluster.clusterType")?,
            CLUSTER_TYPES,
            "cluster.clusterType",
        )?
        .to_string(),
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
    find_cluster(&world, &cluster_id).map_err(|_| {
        V4Error::bad_request(
            "clusterId",
            format!("Cluster {cluster_id} could not be found"),
        )
    })?;
    let body = parse_json(&body)?;
    text(&body, "/manifestVersion", "manifestVersion")?;
    let namespace = Namespace {
        namespace_id: uuid(
            text(&body, "/namespace/namespaceId", "namespace.namespaceId")?,
            "namespace.namespaceId",
        )?,
        name: text(&body, "/namespace/name", "namespace.name")?.to_string(),
    };
    one_of(
        text(
            &body,
            "/namespace/installationType",
            "namespace.installationType",
        )?,
        INSTALLATION_TYPES,
        "namespace.installationType",
    )?;
    text(&body, "/namespace/secret", "namespace.secret")?;
    let running_ms = world.timings.job_running_ms;
    let effect = JobEffect::CreateNamespace {
        cluster_id,
        namespace,
    };
    Ok(start_job(
        &mut world,
        &headers,
        job("Request to create namespace.", effect, running_ms),
    ))
}

fn require_namespace(world: &World, cluster_id: &str, namespace_id: &str) -> Result<(), V4Error> {
    let cluster = find_cluster(world, cluster_id)?;
    if cluster
        .namespaces
        .iter()
        .any(|n| n.namespace_id == namespace_id)
    {
        Ok(())
    } else {
        Err(V4Error::not_found(
            "Namespace",
            format!("Namespace {namespace_id} could not be found"),
        ))
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
    require_namespace(&world, &cluster_id, &namespace_id)?;
    let body = parse_json(&body)?;
    text(&body, "/manifestVersion", "manifestVersion")?;
    let running_ms = world.timings.job_running_ms;
    Ok(start_job(
        &mut world,
        &headers,
        job(
            "Request to update namespace.",
            JobEffect::UpdateNamespace,
            running_ms,
        ),
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
