//! The HTTP front: routing of discovery, OpenAPI, the fault endpoint and every resource path
//! (`/api/v1/...`, `/apis/{group}/{version}/...`) to the verbs in [`super::reads`],
//! [`super::writes`] and [`super::watch`]; request parsing and response shaping shared by them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::resources::ResourceType;
use super::status::ApiError;
use super::store::StoreKey;
use super::table::{self, IncludeObject};
use super::{
    KubeSandbox, discovery, events, openapi, openapi_proto, protobuf, reads, watch, writes,
};

/// Every route of the sandbox.
pub fn router(sandbox: KubeSandbox) -> Router {
    // kube-apiserver accepts request bodies up to 3 MiB.
    Router::new()
        .fallback(serve)
        .layer(axum::extract::DefaultBodyLimit::max(3 * 1024 * 1024))
        .with_state(sandbox)
}

/// One parsed request.
pub(crate) struct Request {
    pub method: Method,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    pub fn flag(&self, name: &str) -> bool {
        matches!(self.param(name), Some("true") | Some("1"))
    }

    pub fn accept(&self) -> &str {
        self.headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
    }

    /// The field manager: `fieldManager`, else the User-Agent's program name (as kube-apiserver).
    pub fn manager(&self) -> String {
        if let Some(m) = self.param("fieldManager").filter(|m| !m.is_empty()) {
            return m.to_string();
        }
        self.headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split('/').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_string()
    }

    pub fn dry_run(&self) -> bool {
        self.query.contains_key("dryRun")
    }

    /// How the response should be shaped, from the Accept header.
    pub fn output(&self) -> Output {
        let accept = self.accept();
        for part in accept.split(',') {
            if part.contains("as=Table") {
                return Output::Table(IncludeObject::parse(self.param("includeObject")));
            }
            if part.contains("as=PartialObjectMetadata") {
                return Output::Metadata;
            }
        }
        Output::Object
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Output {
    Object,
    Table(IncludeObject),
    Metadata,
}

pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response()
}

pub(crate) fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn serve(
    State(sandbox): State<KubeSandbox>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_end_matches('/').to_string();
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let req = Request {
        method,
        path,
        query,
        headers,
        body,
    };
    if req.path.starts_with("/_sandbox") {
        return control(&sandbox, &req);
    }
    count_request(&sandbox, &req);
    let verdict = sandbox.faults().judge(req.method.as_str(), &req.path);
    if !verdict.delay.is_zero() {
        tokio::time::sleep(verdict.delay).await;
    }
    if let Some(err) = verdict.error {
        return err.into_response();
    }
    let mut warnings = Vec::new();
    let result = route(&sandbox, &req, &mut warnings).await;
    let mut resp = match result {
        Ok(resp) => resp,
        Err(err) => err.into_response(),
    };
    for w in warnings {
        if let Ok(v) = HeaderValue::from_str(&format!("299 - {w:?}")) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

/// `/_sandbox/faults` (GET, POST a [`super::Fault`], DELETE) and `/_sandbox/faults/cut-watches`.
fn control(sandbox: &KubeSandbox, req: &Request) -> Response {
    let faults = sandbox.faults();
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/_sandbox/faults") => json_response(StatusCode::OK, &json!(faults.list())),
        ("POST", "/_sandbox/faults") => match serde_json::from_slice(&req.body) {
            Ok(fault) => {
                faults.add(fault);
                json_response(StatusCode::CREATED, &json!(faults.list()))
            }
            Err(e) => ApiError::bad_request(format!(
                "fault body: {e}; expected {{\"path\": \"/apis/...\", \"action\": {{\"fail\": {{\"status\": 503}}}}, \"fraction\": 1.0, \"count\": 3}}"
            ))
            .into_response(),
        },
        ("DELETE", "/_sandbox/faults") => {
            faults.clear();
            json_response(StatusCode::OK, &json!([]))
        }
        ("GET", "/_sandbox/stats") => json_response(StatusCode::OK, &json!(sandbox.stats().snapshot())),
        ("DELETE", "/_sandbox/stats") => {
            sandbox.stats().reset();
            json_response(StatusCode::OK, &json!({}))
        }
        ("POST", "/_sandbox/faults/cut-watches") => {
            faults.cut_watches();
            json_response(StatusCode::OK, &json!({"cut": true}))
        }
        _ => ApiError::new(404, "NotFound", format!("no sandbox control endpoint {}", req.path)).into_response(),
    }
}

/// Counts a resource request in [`super::Stats`] (before faults, so refused requests count).
fn count_request(sandbox: &KubeSandbox, req: &Request) {
    let segments: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    let Some(target) = parse_target(sandbox, &segments) else {
        return;
    };
    let watching = target.watch_prefix || req.flag("watch");
    let verb = match (&req.method, &target.name) {
        (&Method::GET, _) if watching => "watch",
        (&Method::GET, None) => "list",
        (&Method::GET, Some(_)) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, None) => "deletecollection",
        (&Method::DELETE, Some(_)) => "delete",
        _ => "other",
    };
    let sub = target.subresource.as_deref();
    sandbox
        .stats()
        .count(verb, &target.rt.group, &target.rt.plural, sub);
}

fn not_found_path(path: &str) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
    .about("", "", path.trim_start_matches('/'))
}

async fn route(
    sandbox: &KubeSandbox,
    req: &Request,
    warnings: &mut Vec<String>,
) -> Result<Response, ApiError> {
    let segments: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    let ok = |v: Value| Ok(json_response(StatusCode::OK, &v));
    match segments.as_slice() {
        ["version"] => return ok(discovery::version(&sandbox.version())),
        ["healthz"] | ["livez"] | ["readyz"] => {
            return Ok((StatusCode::OK, "ok").into_response());
        }
        ["api"] => return ok(discovery::core_versions()),
        ["apis"] => return ok(discovery::group_list(&sandbox.lock().registry)),
        ["api", "v1"] => {
            let doc = discovery::resource_list(&sandbox.lock().registry, "", "v1");
            return doc.map_or_else(|| Err(not_found_path(&req.path)), ok);
        }
        ["apis", group] => {
            let doc = discovery::group(&sandbox.lock().registry, group);
            return doc.map_or_else(|| Err(not_found_path(&req.path)), ok);
        }
        ["apis", group, version] => {
            let doc = discovery::resource_list(&sandbox.lock().registry, group, version);
            return doc.map_or_else(|| Err(not_found_path(&req.path)), ok);
        }
        ["openapi", "v2"] => {
            // client-go asks for the protobuf form only.
            if req.accept().contains("protobuf") {
                let bytes = openapi_proto::v2(&sandbox.lock().registry);
                let content_type = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
                return Ok((
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, content_type)],
                    bytes,
                )
                    .into_response());
            }
            let doc = sandbox.openapi(&req.path, |r| Some(openapi::v2(r)));
            return doc.map_or_else(|| Err(not_found_path(&req.path)), ok);
        }
        ["openapi", "v3"] => {
            let doc = sandbox.openapi(&req.path, |r| Some(openapi::v3_root(r)));
            return doc.map_or_else(|| Err(not_found_path(&req.path)), ok);
        }
        ["openapi", "v3", "api", version] => {
            let doc = sandbox.openapi(&req.path, |r| openapi::v3_group_version(r, "", version));
            return doc.map_or_else(|| Err(not_found_path(&req.path)), ok);
        }
        ["openapi", "v3", "apis", group, version] => {
            let doc = sandbox.openapi(&req.path, |r| openapi::v3_group_version(r, group, version));
            return doc.map_or_else(|| Err(not_found_path(&req.path)), ok);
        }
        _ => {}
    }
    let target = parse_target(sandbox, &segments).ok_or_else(|| not_found_path(&req.path))?;
    let watching = target.watch_prefix || req.flag("watch");
    match (&req.method, &target.name, target.subresource.as_deref()) {
        (&Method::GET, _, None) if watching => watch::serve(sandbox, req, &target).await,
        (&Method::GET, None, _) => reads::list(sandbox, req, &target),
        (&Method::GET, Some(name), sub) => reads::get(sandbox, req, &target, name, sub),
        (&Method::POST, None, _) => writes::create(sandbox, req, &target, warnings),
        (&Method::PUT, Some(name), sub) => {
            writes::update(sandbox, req, &target, name, sub, warnings)
        }
        (&Method::PATCH, Some(name), sub) => {
            writes::patch(sandbox, req, &target, name, sub, warnings)
        }
        (&Method::DELETE, Some(name), None) => writes::delete(sandbox, req, &target, name),
        (&Method::DELETE, None, None) => writes::delete_collection(sandbox, req, &target),
        _ => Err(ApiError::method_not_allowed(format!(
            "{} is not supported on {}",
            req.method, req.path
        ))),
    }
}

/// The resource a path names.
#[derive(Debug, Clone)]
pub struct Target {
    pub rt: Arc<ResourceType>,
    /// `None` for cluster-scoped resources and for lists across all namespaces.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// The legacy `/watch/` path form.
    pub watch_prefix: bool,
}

impl Target {
    pub fn key(&self) -> StoreKey {
        self.rt.store_key()
    }

    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }
}

fn parse_target(sandbox: &KubeSandbox, segments: &[&str]) -> Option<Target> {
    let (group, version, mut rest) = match segments {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let mut watch_prefix = false;
    if rest.first() == Some(&"watch") {
        watch_prefix = true;
        rest = &rest[1..];
    }
    let store = sandbox.lock();
    let lookup = |plural: &str| store.registry.get(group, version, plural);
    let namespaced_form = rest.len() >= 3
        && rest[0] == "namespaces"
        && !(group.is_empty() && rest.len() == 3 && matches!(rest[2], "status" | "finalize"));
    let (namespace, resource, tail) = if namespaced_form {
        (Some(rest[1].to_string()), rest[2], &rest[3..])
    } else {
        (None, *rest.first()?, &rest[1..])
    };
    let rt = lookup(resource)?;
    if namespace.is_some() && !rt.namespaced {
        return None;
    }
    if tail.len() > 2 {
        return None;
    }
    let subresource = tail.get(1).map(|s| s.to_string());
    if let Some(sub) = &subresource {
        let known = (sub == "status" && rt.status_subresource)
            || (sub == "scale" && rt.scale.is_some())
            || (sub == "finalize" && rt.kind == "Namespace");
        if !known {
            return None;
        }
    }
    Some(Target {
        rt,
        namespace,
        name: tail.first().map(|s| s.to_string()),
        subresource,
        watch_prefix,
    })
}

/// An object as served at `rt`'s group/version (events are converted between the APIs).
pub fn present(rt: &ResourceType, obj: &Value) -> Value {
    let mut out = if rt.group == "events.k8s.io" {
        events::from_core(obj)
    } else {
        obj.clone()
    };
    out["apiVersion"] = json!(rt.api_version());
    out["kind"] = json!(rt.kind);
    out
}

/// A request body as stored (the storage version's apiVersion, core/v1 for events).
pub(crate) fn ingest(rt: &ResourceType, mut obj: Value) -> Value {
    if rt.group == "events.k8s.io" {
        obj = events::to_core(&obj);
    }
    obj["apiVersion"] = json!(if rt.group.is_empty() {
        rt.storage_version.clone()
    } else if rt.group == "events.k8s.io" {
        "v1".into()
    } else {
        format!("{}/{}", rt.group, rt.storage_version)
    });
    obj["kind"] = json!(if rt.group == "events.k8s.io" {
        "Event"
    } else {
        rt.kind.as_str()
    });
    obj
}

pub(crate) fn respond_object(
    req: &Request,
    rt: &ResourceType,
    status: StatusCode,
    obj: &Value,
) -> Response {
    let shown = present(rt, obj);
    let body = match req.output() {
        Output::Object => shown,
        Output::Metadata => table::partial_metadata(&shown),
        Output::Table(include) => table::table(rt, &[Arc::new(shown)], include, json!({})),
    };
    json_response(status, &body)
}

pub(crate) fn parse_body(req: &Request) -> Result<Value, ApiError> {
    let value: Value = if req.content_type().contains("protobuf") {
        protobuf::decode(&req.body)?
    } else if req.content_type().contains("yaml") {
        serde_yaml::from_slice(&req.body).map_err(|e| {
            ApiError::bad_request(format!("the request body is not valid YAML: {e}"))
        })?
    } else {
        serde_json::from_slice(&req.body).map_err(|e| {
            ApiError::bad_request(format!("the request body is not valid JSON: {e}"))
        })?
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    Ok(value)
}

/// The request body's apiVersion/kind must be the target's (or absent).
pub(crate) fn check_type(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    let kind = obj["kind"].as_str().unwrap_or_default();
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    if (!kind.is_empty() && kind != rt.kind)
        || (!api_version.is_empty() && api_version != rt.api_version())
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({}) or the kind ({kind}) is not {}",
            rt.api_version(),
            rt.kind
        )));
    }
    Ok(())
}

pub(crate) fn body_response(status: StatusCode, body: Body) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
