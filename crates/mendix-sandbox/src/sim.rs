//! Simulator plumbing: the operation names, the middleware that counts requests and injects
//! faults, and the `/_sim/` control routes.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::server::ConnectionKill;
use super::{Fault, FaultKind, MendixSandbox, api_errors};

/// Method, route (as registered, with the `/api/...` prefix) and operation name. v4 names are
/// the OpenAPI operationIds; v1 names are `v1_` + the docs' section in snake_case.
pub const OPERATIONS: &[(&str, &str, &str)] = &[
    // Mendix Cloud Build API v1
    ("GET", "/api/1/apps/{app}/packages", "v1_list_packages"),
    (
        "GET",
        "/api/1/apps/{app}/packages/{package}",
        "v1_get_package",
    ),
    (
        "DELETE",
        "/api/1/apps/{app}/packages/{package}",
        "v1_delete_package",
    ),
    (
        "GET",
        "/api/1/apps/{app}/packages/{package}/download",
        "v1_download_package",
    ),
    ("POST", "/api/1/apps/{app}/packages", "v1_build_package"),
    (
        "POST",
        "/api/1/apps/{app}/packages/upload",
        "v1_upload_package",
    ),
    // Mendix Cloud Deploy API v1
    ("GET", "/api/1/apps", "v1_list_apps"),
    ("POST", "/api/1/apps", "v1_create_free_app"),
    ("GET", "/api/1/apps/{app}", "v1_get_app"),
    (
        "GET",
        "/api/1/apps/{app}/environments",
        "v1_list_environments",
    ),
    (
        "GET",
        "/api/1/apps/{app}/environments/{mode}",
        "v1_get_environment",
    ),
    (
        "POST",
        "/api/1/apps/{app}/environments/{mode}/start",
        "v1_start_environment",
    ),
    (
        "GET",
        "/api/1/apps/{app}/environments/{mode}/start/{job}",
        "v1_get_start_status",
    ),
    (
        "POST",
        "/api/1/apps/{app}/environments/{mode}/stop",
        "v1_stop_environment",
    ),
    (
        "GET",
        "/api/1/apps/{app}/environments/{mode}/package",
        "v1_get_environment_package",
    ),
    (
        "POST",
        "/api/1/apps/{app}/environments/{mode}/transport",
        "v1_transport",
    ),
    (
        "POST",
        "/api/1/apps/{app}/environments/{mode}/clean",
        "v1_clean_environment",
    ),
    (
        "GET",
        "/api/1/apps/{app}/environments/{mode}/settings",
        "v1_get_settings",
    ),
    (
        "POST",
        "/api/1/apps/{app}/environments/{mode}/settings",
        "v1_set_settings",
    ),
    (
        "POST",
        "/api/1/apps/{app}/environments/{mode}/scale",
        "v1_scale",
    ),
    (
        "POST",
        "/api/1/apps/{app}/environments/{mode}/scale/{scale_id}",
        "v1_scale",
    ),
    (
        "GET",
        "/api/1/apps/{app}/environments/{mode}/tags",
        "v1_get_tags",
    ),
    (
        "POST",
        "/api/1/apps/{app}/environments/{mode}/tags",
        "v1_create_tag",
    ),
    (
        "DELETE",
        "/api/1/apps/{app}/environments/{mode}/tags",
        "v1_delete_tag",
    ),
    (
        "GET",
        "/api/1/apps/{app}/environments/{mode}/logs/{date}",
        "v1_app_logs",
    ),
    (
        "GET",
        "/api/1/apps/{app}/environments/{mode}/access-logs/{date}",
        "v1_access_logs",
    ),
    // Private Cloud Build API v4
    ("GET", "/api/v4/jobs/{jobId}", "get_job"),
    (
        "GET",
        "/api/v4/apps/{appId}/packages",
        "list_deployment_packages",
    ),
    (
        "POST",
        "/api/v4/apps/{appId}/packages",
        "upload_deployment_package",
    ),
    (
        "POST",
        "/api/v4/apps/{appId}/packages/build",
        "build_deployment_package",
    ),
    (
        "GET",
        "/api/v4/apps/{appId}/packages/{packageId}",
        "get_deployment_package",
    ),
    (
        "DELETE",
        "/api/v4/apps/{appId}/packages/{packageId}",
        "delete_deployment_package",
    ),
    // Private Cloud Deploy API v4
    ("GET", "/api/v4/clusters", "list_cluster_manifests"),
    (
        "GET",
        "/api/v4/clusters/{clusterId}",
        "get_cluster_manifest",
    ),
    (
        "GET",
        "/api/v4/clusters/{clusterId}/namespaces",
        "list_namespace_manifests",
    ),
    (
        "GET",
        "/api/v4/clusters/{clusterId}/namespaces/{namespaceId}",
        "get_namespace_manifest",
    ),
    ("GET", "/api/v4/cli", "list_cli_versions"),
    ("POST", "/api/v4/cli/{cliVersionValue}", "get_cli"),
    ("POST", "/api/v4/clusters", "create_cluster"),
    ("PUT", "/api/v4/clusters/{clusterId}", "update_cluster"),
    ("DELETE", "/api/v4/clusters/{clusterId}", "delete_cluster"),
    (
        "POST",
        "/api/v4/clusters/{clusterId}/namespaces",
        "create_namespace",
    ),
    (
        "PUT",
        "/api/v4/clusters/{clusterId}/namespaces/{namespaceId}",
        "update_namespace_manifest",
    ),
    (
        "DELETE",
        "/api/v4/clusters/{clusterId}/namespaces/{namespaceId}",
        "delete_namespace",
    ),
    ("GET", "/api/v4/apps", "list_app_manifests"),
    ("GET", "/api/v4/apps/{appId}", "get_app_manifest"),
    (
        "GET",
        "/api/v4/apps/{appId}/environments",
        "list_environments_manifests",
    ),
    (
        "POST",
        "/api/v4/apps/{appId}/environments",
        "create_environment",
    ),
    (
        "GET",
        "/api/v4/apps/{appId}/environments/{environmentId}",
        "get_environment_manifest_for_namespace",
    ),
    (
        "PUT",
        "/api/v4/apps/{appId}/environments/{environmentId}",
        "update_environment_for_namespace",
    ),
    (
        "DELETE",
        "/api/v4/apps/{appId}/environments/{environmentId}",
        "delete_environment_for_namespace",
    ),
    (
        "GET",
        "/api/v4/apps/{appId}/namespaces/{namespaceId}/environments/{environmentId}",
        "get_environment_manifest_for_namespace",
    ),
    (
        "PUT",
        "/api/v4/apps/{appId}/namespaces/{namespaceId}/environments/{environmentId}",
        "update_environment_for_namespace",
    ),
    (
        "DELETE",
        "/api/v4/apps/{appId}/namespaces/{namespaceId}/environments/{environmentId}",
        "delete_environment_for_namespace",
    ),
];

pub fn operation_name(method: &Method, route: &str) -> Option<&'static str> {
    OPERATIONS
        .iter()
        .find(|(m, r, _)| *m == method.as_str() && *r == route)
        .map(|(_, _, name)| *name)
}

/// The app and environment a request is about, read from the path by its route template.
fn target(route: &str, path: &str) -> (Option<String>, Option<String>) {
    let mut app = None;
    let mut environment = None;
    for (template, actual) in route.split('/').zip(path.split('/')) {
        match template {
            "{app}" | "{appId}" => app = Some(actual.to_string()),
            "{mode}" | "{environmentId}" => environment = Some(actual.to_string()),
            _ => {}
        }
    }
    (app, environment)
}

/// Counts the request, then applies the first fault that fires for its operation.
pub async fn observe(State(sb): State<MendixSandbox>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let Some(operation) = route
        .as_deref()
        .and_then(|route| operation_name(request.method(), route))
    else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_string();
    let (app, environment) = target(route.as_deref().unwrap_or_default(), &path);
    sb.count(operation, app.as_deref(), environment.as_deref());
    if let Some(armed) = sb.take_hold(operation, app.as_deref(), environment.as_deref()) {
        // Served in a task of its own: the write takes effect even if the client is gone.
        let _ = armed.arrived.send(());
        let served = tokio::spawn(async move {
            let _ = armed.release.await;
            let response = next.run(request).await;
            let _ = armed.answered.send(());
            response
        });
        return served
            .await
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }

    let (latency, action) = sb.fire_faults(operation);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match action {
        None => next.run(request).await,
        Some(FaultKind::Latency { .. }) => next.run(request).await,
        Some(FaultKind::Error { status, error_code }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            api_errors::simulated(&path, status, error_code.as_deref())
        }
        Some(FaultKind::TooManyRequests {
            retry_after_seconds,
        }) => {
            let mut response = api_errors::simulated(
                &path,
                StatusCode::TOO_MANY_REQUESTS,
                Some("TOO_MANY_REQUESTS"),
            );
            if let Ok(value) = HeaderValue::from_str(&retry_after_seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Some(FaultKind::MalformedBody) => {
            served_with_body(next.run(request).await, "{\"truncated\": [1, 2, ".into())
        }
        Some(FaultKind::AnswerBody { body }) => {
            served_with_body(next.run(request).await, body.to_string())
        }
        Some(FaultKind::DropConnection) => {
            match request.extensions().get::<ConnectionKill>() {
                Some(kill) => {
                    // The accept loop closes the socket; this answer is never written.
                    kill.0.cancel();
                    std::future::pending::<()>().await;
                    StatusCode::INTERNAL_SERVER_ERROR.into_response()
                }
                None => {
                    // Served by someone else's listener: break the body so hyper aborts.
                    let failing = futures::stream::once(async {
                        Err::<bytes::Bytes, std::io::Error>(std::io::Error::other(
                            "simulated dropped connection",
                        ))
                    });
                    Response::new(Body::from_stream(failing))
                }
            }
        }
    }
}

/// The answer of a request that was served, with its body replaced by a JSON `body`.
fn served_with_body(response: Response, body: String) -> Response {
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

/// Fault kinds that end a request (everything but latency).
pub fn ends_request(kind: &FaultKind) -> bool {
    !matches!(kind, FaultKind::Latency { .. })
}

pub fn fault_latency(kind: &FaultKind) -> Duration {
    match kind {
        FaultKind::Latency { millis } => Duration::from_millis(*millis),
        _ => Duration::ZERO,
    }
}

// ---------------------------------------------------------------- /_sim routes

pub fn routes() -> Router<MendixSandbox> {
    Router::new()
        .route("/_sim/stats", get(get_stats).delete(reset_stats))
        .route("/_sim/state", get(get_state))
        .route(
            "/_sim/faults",
            get(list_faults).post(add_faults).delete(clear_faults),
        )
        .route("/_sim/time-scale", post(set_time_scale))
        .route("/_sim/start-failure", post(fail_next_start))
        .route("/_sim/rollout-failure", post(fail_next_rollout))
}

async fn get_stats(State(sb): State<MendixSandbox>) -> Response {
    Json(sb.stats()).into_response()
}

async fn reset_stats(State(sb): State<MendixSandbox>) -> Response {
    sb.reset_stats();
    StatusCode::NO_CONTENT.into_response()
}

async fn get_state(State(sb): State<MendixSandbox>) -> Response {
    Json(sb.state_json()).into_response()
}

async fn list_faults(State(sb): State<MendixSandbox>) -> Response {
    Json(sb.faults()).into_response()
}

/// One fault or a list of faults.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Fault),
    Many(Vec<Fault>),
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

async fn add_faults(State(sb): State<MendixSandbox>, body: axum::body::Bytes) -> Response {
    let faults = match serde_json::from_slice::<OneOrMany>(&body) {
        Ok(OneOrMany::One(fault)) => vec![fault],
        Ok(OneOrMany::Many(faults)) => faults,
        Err(err) => {
            return bad_request(format!(
                "expected a fault or a list of faults ({{\"operation\": \"v1_transport\", \"kind\": {{\"type\": \"error\", \"status\": 500}}, \"rate\": 1.0, \"times\": 1}}): {err}"
            ));
        }
    };
    for fault in &faults {
        if !(0.0..=1.0).contains(&fault.rate) {
            return bad_request(format!(
                "fault rate {} must be within 0.0..=1.0",
                fault.rate
            ));
        }
        if fault.operation != "*"
            && !OPERATIONS
                .iter()
                .any(|(_, _, name)| *name == fault.operation)
        {
            return bad_request(format!(
                "unknown operation `{}`; use `*` or one of the names in GET /_sim/stats docs",
                fault.operation
            ));
        }
    }
    let count = faults.len();
    for fault in faults {
        sb.add_fault(fault);
    }
    (StatusCode::CREATED, Json(json!({ "added": count }))).into_response()
}

async fn clear_faults(State(sb): State<MendixSandbox>) -> Response {
    sb.clear_faults();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct TimeScale {
    scale: f64,
}

async fn set_time_scale(State(sb): State<MendixSandbox>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<TimeScale>(&body) {
        Ok(TimeScale { scale }) if scale.is_finite() && scale >= 0.0 => {
            sb.set_time_scale(scale);
            Json(json!({ "scale": scale })).into_response()
        }
        _ => bad_request("expected {\"scale\": <number >= 0>}".to_string()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartFailure {
    app_id: String,
    mode: String,
    error_code: String,
}

async fn fail_next_start(State(sb): State<MendixSandbox>, body: axum::body::Bytes) -> Response {
    let request: StartFailure = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return bad_request(format!(
                "expected {{\"appId\", \"mode\", \"errorCode\"}}: {err}"
            ));
        }
    };
    if sb.fail_next_start(&request.app_id, &request.mode, &request.error_code) {
        Json(Value::Null).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such Mendix Cloud app or environment" })),
        )
            .into_response()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RolloutFailure {
    app_id: String,
    environment_id: String,
}

async fn fail_next_rollout(State(sb): State<MendixSandbox>, body: axum::body::Bytes) -> Response {
    let request: RolloutFailure = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return bad_request(format!("expected {{\"appId\", \"environmentId\"}}: {err}"));
        }
    };
    if sb.fail_next_rollout(&request.app_id, &request.environment_id) {
        Json(Value::Null).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such Private Cloud app or environment" })),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    #[test]
    fn every_operation_is_documented_in_the_module_docs() {
        let docs = include_str!("lib.rs");
        for (_, _, name) in OPERATIONS {
            assert!(
                docs.contains(&format!("`{name}`")),
                "{name} is missing from the module docs"
            );
        }
    }

    #[tokio::test]
    async fn every_operation_is_routed_and_asks_for_credentials() {
        let router = MendixSandbox::demo().router();
        for (method, route, name) in OPERATIONS {
            let path = route
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') {
                        "x"
                    } else {
                        segment
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let request = Request::builder()
                .method(*method)
                .uri(&path)
                .body(Body::empty())
                .expect("request");
            let response = router.clone().oneshot(request).await.expect("infallible");
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{name}: {method} {path} should be routed and need credentials"
            );
        }
    }

    #[test]
    fn targets_are_read_from_the_route() {
        assert_eq!(
            target(
                "/api/1/apps/{app}/environments/{mode}/start",
                "/api/1/apps/calc/environments/Test/start"
            ),
            (Some("calc".to_string()), Some("Test".to_string()))
        );
        assert_eq!(
            target("/api/v4/jobs/{jobId}", "/api/v4/jobs/1"),
            (None, None)
        );
    }
}
