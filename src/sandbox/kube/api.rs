//! The HTTP front: routing of discovery, OpenAPI, the fault endpoint and every resource path
//! (`/api/v1/...`, `/apis/{group}/{version}/...`), and the REST verbs on the store.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use rand::Rng;
use serde_json::{Value, json};

use super::admission::{self, FieldValidation};
use super::patching::{self, PatchType};
use super::resources::{self, ResourceType};
use super::selectors::{FieldSelector, LabelSelector};
use super::status::{ApiError, Cause};
use super::store::{Store, StoreKey};
use super::table::{self, IncludeObject};
use super::{KubeSandbox, discovery, events, openapi, openapi_proto, watch};

/// Every route of the sandbox.
pub fn router(sandbox: KubeSandbox) -> Router {
    Router::new().fallback(serve).with_state(sandbox)
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

    fn flag(&self, name: &str) -> bool {
        matches!(self.param(name), Some("true") | Some("1"))
    }

    fn accept(&self) -> &str {
        self.headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
    }

    /// The field manager: `fieldManager`, else the User-Agent's program name (as kube-apiserver).
    fn manager(&self) -> String {
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

    fn dry_run(&self) -> bool {
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
        ("POST", "/_sandbox/faults/cut-watches") => {
            faults.cut_watches();
            json_response(StatusCode::OK, &json!({"cut": true}))
        }
        _ => ApiError::new(404, "NotFound", format!("no sandbox control endpoint {}", req.path)).into_response(),
    }
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
            return ok(openapi::v2(&sandbox.lock().registry));
        }
        ["openapi", "v3"] => {
            return ok(openapi::v3_root(&sandbox.lock().registry));
        }
        ["openapi", "v3", "api", version] => {
            let doc = openapi::v3_group_version(&sandbox.lock().registry, "", version);
            return doc.map_or_else(|| Err(not_found_path(&req.path)), ok);
        }
        ["openapi", "v3", "apis", group, version] => {
            let doc = openapi::v3_group_version(&sandbox.lock().registry, group, version);
            return doc.map_or_else(|| Err(not_found_path(&req.path)), ok);
        }
        _ => {}
    }
    let target = parse_target(sandbox, &segments).ok_or_else(|| not_found_path(&req.path))?;
    let watching = target.watch_prefix || req.flag("watch");
    match (&req.method, &target.name, target.subresource.as_deref()) {
        (&Method::GET, None, _) if watching => watch::serve(sandbox, req, &target).await,
        (&Method::GET, None, _) => list(sandbox, req, &target),
        (&Method::GET, Some(name), sub) => get(sandbox, req, &target, name, sub),
        (&Method::POST, None, _) => create(sandbox, req, &target, warnings),
        (&Method::PUT, Some(name), sub) => update(sandbox, req, &target, name, sub, warnings),
        (&Method::PATCH, Some(name), sub) => patch(sandbox, req, &target, name, sub, warnings),
        (&Method::DELETE, Some(name), None) => delete(sandbox, req, &target, name),
        (&Method::DELETE, None, None) => delete_collection(sandbox, req, &target),
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

    fn ns(&self) -> &str {
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
fn ingest(rt: &ResourceType, mut obj: Value) -> Value {
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

fn respond_object(req: &Request, rt: &ResourceType, status: StatusCode, obj: &Value) -> Response {
    let shown = present(rt, obj);
    let body = match req.output() {
        Output::Object => shown,
        Output::Metadata => table::partial_metadata(&shown),
        Output::Table(include) => table::table(rt, &[Arc::new(shown)], include, json!({})),
    };
    json_response(status, &body)
}

fn parse_body(req: &Request) -> Result<Value, ApiError> {
    if req.content_type().contains("protobuf") {
        return Err(ApiError::unsupported_media_type(req.content_type()));
    }
    let value: Value = if req.content_type().contains("yaml") {
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
fn check_type(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
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

fn get(
    sandbox: &KubeSandbox,
    req: &Request,
    target: &Target,
    name: &str,
    sub: Option<&str>,
) -> Result<Response, ApiError> {
    let rt = &target.rt;
    let obj = sandbox
        .lock()
        .get(&target.key(), target.ns(), name)
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
    if sub == Some("scale") {
        return Ok(json_response(StatusCode::OK, &scale_of(rt, &obj)));
    }
    Ok(respond_object(req, rt, StatusCode::OK, &obj))
}

/// Continue tokens: the hex of the last returned `namespace/name`.
fn encode_continue(ns: &str, name: &str) -> String {
    hex::encode(format!("{ns}/{name}"))
}

fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "continue key is not valid: {token:?}; start the list again without it"
        ))
    };
    let raw = hex::decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (ns, name) = text.split_once('/').ok_or_else(bad)?;
    Ok((ns.to_string(), name.to_string()))
}

pub(crate) struct Filter {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    pub fn from_request(req: &Request) -> Result<Self, ApiError> {
        Ok(Filter {
            labels: LabelSelector::parse(req.param("labelSelector").unwrap_or_default())?,
            fields: FieldSelector::parse(req.param("fieldSelector").unwrap_or_default())?,
        })
    }

    pub fn matches(&self, rt: &ResourceType, obj: &Value) -> bool {
        if !self.labels.matches(obj) {
            return false;
        }
        if rt.group == "events.k8s.io" {
            return self.fields.matches(&events::from_core(obj));
        }
        self.fields.matches(obj)
    }
}

fn list(sandbox: &KubeSandbox, req: &Request, target: &Target) -> Result<Response, ApiError> {
    let rt = &target.rt;
    let filter = Filter::from_request(req)?;
    let limit: usize = match req.param("limit") {
        Some(l) => l.parse().map_err(|_| {
            ApiError::bad_request(format!("limit must be a whole number, got {l:?}"))
        })?,
        None => 0,
    };
    let after = req
        .param("continue")
        .filter(|c| !c.is_empty())
        .map(decode_continue)
        .transpose()?;
    let (items, rv, next) = {
        let store = sandbox.lock();
        let mut items = Vec::new();
        let mut next = None;
        for ((ns, name), obj) in
            store.range(&target.key(), target.namespace.as_deref(), after.as_ref())
        {
            if !filter.matches(rt, obj) {
                continue;
            }
            if limit > 0 && items.len() == limit {
                next = Some(encode_continue(ns, name));
                break;
            }
            items.push(obj.clone());
        }
        // The token names the last returned item, so the next page starts after it.
        if next.is_some()
            && let Some(last) = items.last()
        {
            next = Some(encode_continue(
                last["metadata"]["namespace"].as_str().unwrap_or_default(),
                last["metadata"]["name"].as_str().unwrap_or_default(),
            ));
        }
        (items, store.rv(), next)
    };
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(token) = next {
        metadata["continue"] = json!(token);
    }
    let shown: Vec<Arc<Value>> = items.iter().map(|o| Arc::new(present(rt, o))).collect();
    let body = match req.output() {
        Output::Table(include) => table::table(rt, &shown, include, metadata),
        Output::Metadata => json!({
            "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
            "items": shown.iter().map(|o| table::partial_metadata(o)).collect::<Vec<_>>(),
        }),
        Output::Object => json!({
            "kind": rt.list_kind, "apiVersion": rt.api_version(), "metadata": metadata,
            "items": shown.iter().map(|o| (**o).clone()).collect::<Vec<_>>(),
        }),
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// What a write is, for the shared write pipeline.
struct Write<'a> {
    target: &'a Target,
    subresource: Option<&'a str>,
    manager: String,
    dry_run: bool,
    validation: FieldValidation,
    /// `true` when server-side apply already recorded managedFields.
    applied: bool,
}

const NAME_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn generated_name(prefix: &str) -> String {
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| NAME_CHARS[rng.random_range(0..NAME_CHARS.len())] as char)
        .collect();
    format!("{prefix}{suffix}")
}

fn create(
    sandbox: &KubeSandbox,
    req: &Request,
    target: &Target,
    warnings: &mut Vec<String>,
) -> Result<Response, ApiError> {
    let rt = target.rt.clone();
    if rt.namespaced && target.namespace.is_none() {
        return Err(ApiError::bad_request(
            "the namespace of the object must be given in the request path",
        ));
    }
    let mut obj = parse_body(req)?;
    check_type(&rt, &obj)?;
    if let (Some(path_ns), Some(body_ns)) =
        (&target.namespace, obj["metadata"]["namespace"].as_str())
        && !body_ns.is_empty()
        && body_ns != path_ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if name.is_empty()
        && let Some(prefix) = obj["metadata"]["generateName"]
            .as_str()
            .filter(|p| !p.is_empty())
    {
        obj["metadata"]["name"] = json!(generated_name(prefix));
    }
    let write = Write {
        target,
        subresource: None,
        manager: req.manager(),
        dry_run: req.dry_run(),
        validation: FieldValidation::parse(req.param("fieldValidation"))?,
        applied: false,
    };
    let (status, obj, rv) = {
        let mut store = sandbox.lock();
        let out = create_locked(&mut store, &write, obj, warnings)?;
        (StatusCode::CREATED, out, store.rv())
    };
    sandbox.notify(rv);
    Ok(respond_object(req, &rt, status, &obj))
}

fn create_locked(
    store: &mut Store,
    write: &Write,
    mut obj: Value,
    warnings: &mut Vec<String>,
) -> Result<Value, ApiError> {
    let rt = &write.target.rt;
    obj = ingest(rt, obj);
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Some(ns) = &write.target.namespace {
        obj["metadata"]["namespace"] = json!(ns);
        if store
            .get(&("".into(), "namespaces".into()), "", ns)
            .is_none()
        {
            return Err(ApiError::not_found("", "namespaces", ns));
        }
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    if store
        .get(&write.target.key(), write.target.ns(), &name)
        .is_some()
    {
        return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
    }
    if let Some(m) = obj["metadata"].as_object_mut() {
        for server_owned in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            m.remove(server_owned);
        }
        m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        m.insert("creationTimestamp".into(), json!(now()));
        m.insert("generation".into(), json!(1));
    }
    if rt.status_subresource
        && let Some(m) = obj.as_object_mut()
    {
        m.remove("status");
    }
    prepare_builtin(rt, &mut obj, None)?;
    warnings.extend(admission::admit(rt, &mut obj, None, write.validation)?);
    if rt.kind == "CustomResourceDefinition" {
        check_crd(&obj)?;
        set_crd_status(&mut obj);
    }
    if !write.applied {
        patching::update_managed_fields(rt, None, &mut obj, &write.manager, None, &now());
    }
    if write.dry_run {
        return Ok(obj);
    }
    let stored = store.put(&write.target.key(), obj);
    if rt.kind == "CustomResourceDefinition" {
        register_crd(store, &stored);
    }
    Ok((*stored).clone())
}

/// Server-side defaults and conversions of the built-in kinds.
fn prepare_builtin(
    rt: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Secret") => {
            if obj.get("type").is_none_or(Value::is_null) {
                obj["type"] = json!("Opaque");
            }
            if let Some(string_data) = obj.get("stringData").and_then(Value::as_object).cloned() {
                use base64::Engine;
                for (k, v) in string_data {
                    let text = v.as_str().unwrap_or_default();
                    obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
                }
            }
            if let Some(m) = obj.as_object_mut() {
                m.remove("stringData");
            }
            if let Some(data) = obj["data"].as_object() {
                use base64::Engine;
                for (k, v) in data {
                    let decodes = v.as_str().is_some_and(|s| {
                        base64::engine::general_purpose::STANDARD.decode(s).is_ok()
                    });
                    if !decodes {
                        let name = obj["metadata"]["name"].as_str().unwrap_or_default();
                        return Err(ApiError::invalid(
                            "",
                            "Secret",
                            name,
                            vec![Cause {
                                reason: "FieldValueInvalid".into(),
                                field: format!("data[{k}]"),
                                message: "Invalid value: the value must be base64-encoded".into(),
                            }],
                        ));
                    }
                }
            }
        }
        ("", "Namespace") => {
            let name = obj["metadata"]["name"].clone();
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
            let phase = old
                .and_then(|o| o["status"]["phase"].as_str())
                .unwrap_or("Active")
                .to_string();
            obj["status"]["phase"] = json!(phase);
        }
        _ => {}
    }
    Ok(())
}

/// Structural checks of a CRD before it is stored.
fn check_crd(crd: &Value) -> Result<(), ApiError> {
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    let mut causes = Vec::new();
    let mut require = |ok: bool, field: &str, message: String| {
        if !ok {
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                field: field.into(),
                message,
            });
        }
    };
    require(!group.is_empty(), "spec.group", "Required value".into());
    require(
        !plural.is_empty(),
        "spec.names.plural",
        "Required value".into(),
    );
    require(
        spec["names"]["kind"]
            .as_str()
            .is_some_and(|k| !k.is_empty()),
        "spec.names.kind",
        "Required value".into(),
    );
    require(
        name == format!("{plural}.{group}"),
        "metadata.name",
        format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
    );
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    require(
        !versions.is_empty(),
        "spec.versions",
        "Invalid value: must have exactly one version marked as storage version".into(),
    );
    let storage = versions
        .iter()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .count();
    require(
        storage == 1,
        "spec.versions",
        format!(
            "Invalid value: must have exactly one version marked as storage version, found {storage}"
        ),
    );
    for e in resources::compile_crd_schemas(crd) {
        causes.push(Cause {
            reason: e.kind.reason().into(),
            field: e.field.clone(),
            message: e.body().into(),
        });
    }
    for (i, v) in versions.iter().enumerate() {
        let Some(schema) = v["schema"].get("openAPIV3Schema") else {
            continue;
        };
        for violation in crate::crd::structural::violations(schema) {
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                field: format!("spec.versions[{i}].schema.openAPIV3Schema"),
                message: format!("Invalid value: the schema is not structural: {violation}"),
            });
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            name,
            causes,
        ))
    }
}

/// The status the CRD controllers of kube-apiserver would write: names accepted, established.
fn set_crd_status(crd: &mut Value) {
    let t = now();
    let condition = |type_: &str, reason: &str, message: &str| json!({"type": type_, "status": "True", "lastTransitionTime": t, "reason": reason, "message": message});
    let mut names = crd["spec"]["names"].clone();
    if names.get("singular").is_none() {
        names["singular"] = json!(names["kind"].as_str().unwrap_or_default().to_lowercase());
    }
    if names.get("listKind").is_none() {
        names["listKind"] = json!(format!(
            "{}List",
            names["kind"].as_str().unwrap_or_default()
        ));
    }
    let stored: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .map(|v| v["name"].clone())
        .collect();
    crd["status"] = json!({
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": names,
        "storedVersions": stored,
    });
}

/// Serves the kinds a stored CRD declares (replacing what an older version of it declared).
fn register_crd(store: &mut Store, crd: &Value) {
    let group = crd["spec"]["group"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let plural = crd["spec"]["names"]["plural"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    store.registry.remove_resource(&group, &plural);
    for t in resources::from_crd(crd) {
        store.registry.insert(t);
    }
}

pub(crate) fn register_crd_public(store: &mut Store, crd: &Value) {
    register_crd(store, crd);
}

/// Creates a namespace directly (the built-in namespaces of a new sandbox).
pub(crate) fn create_namespace(sandbox: &KubeSandbox, name: &str) -> Result<(), ApiError> {
    let rt = sandbox
        .lock()
        .registry
        .get("", "v1", "namespaces")
        .ok_or_else(|| ApiError::internal("the namespaces resource is not registered"))?;
    let target = Target {
        rt,
        namespace: None,
        name: None,
        subresource: None,
        watch_prefix: false,
    };
    let write = Write {
        target: &target,
        subresource: None,
        manager: "kube-apiserver".into(),
        dry_run: false,
        validation: FieldValidation::Ignore,
        applied: false,
    };
    let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    let mut store = sandbox.lock();
    create_locked(&mut store, &write, obj, &mut Vec::new()).map(|_| ())
}

/// The object without the fields the server owns, to tell real changes from no-ops.
fn comparable(obj: &Value) -> Value {
    let mut c = obj.clone();
    if let Some(m) = c["metadata"].as_object_mut() {
        m.remove("resourceVersion");
        m.remove("managedFields");
        m.remove("generation");
    }
    c
}

fn spec_part(rt: &ResourceType, obj: &Value) -> Value {
    let mut c = obj.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("metadata");
        if rt.status_subresource {
            m.remove("status");
        }
    }
    c
}

/// Replaces an existing object with `new` (an update, a patch result or an apply result).
fn update_locked(
    store: &mut Store,
    write: &Write,
    old: &Arc<Value>,
    mut new: Value,
    warnings: &mut Vec<String>,
) -> Result<Value, ApiError> {
    let rt = &write.target.rt;
    let name = old["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    new = ingest(rt, new);
    if !new["metadata"].is_object() {
        new["metadata"] = json!({});
    }
    let given_rv = new["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let old_rv = old["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default();
    if !given_rv.is_empty() && given_rv != old_rv {
        return Err(ApiError::conflict(
            &rt.group,
            &rt.plural,
            &name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    let new_name = new["metadata"]["name"].as_str().unwrap_or_default();
    if !new_name.is_empty() && new_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({new_name}) does not match the name on the URL ({name})"
        )));
    }
    // Which parts of the object this endpoint may change.
    match write.subresource {
        Some("status") => {
            let status = new.get("status").cloned();
            let mut merged = (**old).clone();
            match status {
                Some(s) => merged["status"] = s,
                None => {
                    if let Some(m) = merged.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            if write.applied {
                merged["metadata"]["managedFields"] = new["metadata"]["managedFields"].clone();
            }
            new = merged;
        }
        _ if rt.status_subresource => match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        },
        _ => {}
    }
    for immutable in [
        "uid",
        "creationTimestamp",
        "namespace",
        "name",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        match old["metadata"].get(immutable) {
            Some(v) => new["metadata"][immutable] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(immutable);
                }
            }
        }
    }
    let old_generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
    new["metadata"]["generation"] = json!(old_generation);
    prepare_builtin(rt, &mut new, Some(old))?;
    if write.subresource.is_none() {
        warnings.extend(admission::admit(rt, &mut new, Some(old), write.validation)?);
    } else {
        // Status writes are validated too, but unknown fields are simply dropped.
        warnings.extend(admission::admit(
            rt,
            &mut new,
            Some(old),
            FieldValidation::Ignore,
        )?);
    }
    if rt.kind == "CustomResourceDefinition" {
        check_crd(&new)?;
        set_crd_status(&mut new);
    }
    if spec_part(rt, &new) != spec_part(rt, old) {
        new["metadata"]["generation"] = json!(old_generation + 1);
    }
    if !write.applied {
        patching::update_managed_fields(
            rt,
            Some(old),
            &mut new,
            &write.manager,
            write.subresource,
            &now(),
        );
    }
    // An update that changes nothing is not stored (no new resourceVersion, no watch event).
    if comparable(&new) == comparable(old)
        && (!write.applied || new["metadata"]["managedFields"] == old["metadata"]["managedFields"])
    {
        return Ok((**old).clone());
    }
    if write.dry_run {
        new["metadata"]["resourceVersion"] = json!(old_rv);
        return Ok(new);
    }
    let finalizers_gone = new["metadata"]["finalizers"]
        .as_array()
        .is_none_or(Vec::is_empty);
    if new["metadata"].get("deletionTimestamp").is_some() && finalizers_gone {
        let key = write.target.key();
        store.put(&key, new);
        let gone = remove_locked(store, rt, write.target.ns(), &name);
        return Ok(gone.map(|g| (*g).clone()).unwrap_or_default());
    }
    let stored = store.put(&write.target.key(), new);
    if rt.kind == "CustomResourceDefinition" {
        register_crd(store, &stored);
    }
    Ok((*stored).clone())
}

fn update(
    sandbox: &KubeSandbox,
    req: &Request,
    target: &Target,
    name: &str,
    sub: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Response, ApiError> {
    let rt = target.rt.clone();
    let mut body = parse_body(req)?;
    let write = Write {
        target,
        subresource: sub,
        manager: req.manager(),
        dry_run: req.dry_run(),
        validation: FieldValidation::parse(req.param("fieldValidation"))?,
        applied: false,
    };
    let (obj, rv) = {
        let mut store = sandbox.lock();
        let old = store
            .get(&target.key(), target.ns(), name)
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        if sub == Some("scale") {
            body = with_scale(&rt, &old, &body)?;
        } else {
            check_type(&rt, &body)?;
        }
        let sub = sub.filter(|s| *s != "scale");
        let write = Write {
            subresource: sub,
            ..write
        };
        let out = update_locked(&mut store, &write, &old, body, warnings)?;
        (out, store.rv())
    };
    sandbox.notify(rv);
    if target.subresource.as_deref() == Some("scale") {
        return Ok(json_response(StatusCode::OK, &scale_of(&rt, &obj)));
    }
    Ok(respond_object(req, &rt, StatusCode::OK, &obj))
}

fn patch(
    sandbox: &KubeSandbox,
    req: &Request,
    target: &Target,
    name: &str,
    sub: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Response, ApiError> {
    let rt = target.rt.clone();
    let kind = PatchType::from_content_type(req.content_type())?;
    let manager = req.manager();
    let force = req.flag("force");
    if kind == PatchType::Apply && req.param("fieldManager").is_none_or(str::is_empty) {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "PatchOptions",
            "",
            vec![Cause {
                reason: "FieldValueRequired".into(),
                field: "fieldManager".into(),
                message: "Required value: is required for apply patch".into(),
            }],
        ));
    }
    if kind != PatchType::Apply && force {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "PatchOptions",
            "",
            vec![Cause {
                reason: "FieldValueForbidden".into(),
                field: "force".into(),
                message: "Forbidden: may not be specified for non-apply patch".into(),
            }],
        ));
    }
    let validation = FieldValidation::parse(req.param("fieldValidation"))?;
    let dry_run = req.dry_run();
    let (status, obj, rv) = {
        let mut store = sandbox.lock();
        let old = store.get(&target.key(), target.ns(), name);
        let scale_sub = sub == Some("scale");
        let sub = sub.filter(|s| *s != "scale");
        let write = Write {
            target,
            subresource: sub,
            manager: manager.clone(),
            dry_run,
            validation,
            applied: kind == PatchType::Apply,
        };
        let (status, out) = match (kind, old) {
            (PatchType::Apply, old) => {
                let applied: Value = serde_yaml::from_slice(&req.body).map_err(|e| {
                    ApiError::bad_request(format!("the apply body is not valid YAML or JSON: {e}"))
                })?;
                if !scale_sub {
                    check_type(&rt, &applied)?;
                }
                let applied = ingest(&rt, applied);
                let live = old
                    .as_deref()
                    .map(|o| present(&rt, o))
                    .map(|o| ingest(&rt, o));
                let merged = patching::server_side_apply(
                    &rt,
                    live.as_ref(),
                    &applied,
                    &manager,
                    force,
                    sub,
                    &now(),
                )?;
                match old {
                    Some(old) => (
                        StatusCode::OK,
                        update_locked(&mut store, &write, &old, merged, warnings)?,
                    ),
                    None => {
                        let mut merged = merged;
                        merged["metadata"]["name"] = json!(name);
                        (
                            StatusCode::CREATED,
                            create_locked(&mut store, &write, merged, warnings)?,
                        )
                    }
                }
            }
            (_, None) => return Err(ApiError::not_found(&rt.group, &rt.plural, name)),
            (kind, Some(old)) => {
                let shown = if scale_sub {
                    scale_of(&rt, &old)
                } else {
                    present(&rt, &old)
                };
                let patched = patching::patch(&rt, kind, &shown, &req.body)?;
                let patched = if scale_sub {
                    with_scale(&rt, &old, &patched)?
                } else {
                    patched
                };
                (
                    StatusCode::OK,
                    update_locked(&mut store, &write, &old, patched, warnings)?,
                )
            }
        };
        (status, out, store.rv())
    };
    sandbox.notify(rv);
    if sub == Some("scale") {
        return Ok(json_response(status, &scale_of(&rt, &obj)));
    }
    Ok(respond_object(req, &rt, status, &obj))
}

/// Removes an object, cascading for namespaces and CRDs, and finishing terminating namespaces.
fn remove_locked(store: &mut Store, rt: &ResourceType, ns: &str, name: &str) -> Option<Arc<Value>> {
    let gone = store.remove(&rt.store_key(), ns, name)?;
    match rt.kind.as_str() {
        "CustomResourceDefinition" => {
            let group = gone["spec"]["group"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let plural = gone["spec"]["names"]["plural"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            store.drop_resource(&(group.clone(), plural.clone()));
            store.registry.remove_resource(&group, &plural);
        }
        "Namespace" => {}
        _ if !ns.is_empty() => finish_namespace_if_empty(store, ns),
        _ => {}
    }
    Some(gone)
}

fn namespace_key() -> StoreKey {
    ("".into(), "namespaces".into())
}

fn finish_namespace_if_empty(store: &mut Store, ns: &str) {
    let terminating = store
        .get(&namespace_key(), "", ns)
        .is_some_and(|n| n["metadata"].get("deletionTimestamp").is_some());
    if terminating && store.keys_in_namespace(ns).is_empty() {
        store.remove(&namespace_key(), "", ns);
    }
}

/// Marks an object for deletion or removes it; returns the object as the response shows it.
fn delete_locked(
    store: &mut Store,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let key = rt.store_key();
    let old = store
        .get(&key, ns, name)
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
    let has_finalizers = old["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if dry_run {
        return Ok((*old).clone());
    }
    if rt.kind == "Namespace" {
        let mut marked = (*old).clone();
        if marked["metadata"].get("deletionTimestamp").is_none() {
            marked["metadata"]["deletionTimestamp"] = json!(now());
            marked["status"]["phase"] = json!("Terminating");
            store.put(&key, marked);
        }
        for (k, obj_name) in store.keys_in_namespace(name) {
            let Some(obj_rt) = store.registry.all().find(|t| t.store_key() == k).cloned() else {
                continue;
            };
            let _ = delete_locked(store, &obj_rt, name, &obj_name, false);
        }
        finish_namespace_if_empty(store, name);
        return Ok(store
            .get(&key, ns, name)
            .map(|o| (*o).clone())
            .unwrap_or_else(|| (*old).clone()));
    }
    if has_finalizers {
        if old["metadata"].get("deletionTimestamp").is_some() {
            return Ok((*old).clone());
        }
        let mut marked = (*old).clone();
        marked["metadata"]["deletionTimestamp"] = json!(now());
        marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        return Ok((*store.put(&key, marked)).clone());
    }
    Ok(remove_locked(store, rt, ns, name)
        .map(|g| (*g).clone())
        .unwrap_or_default())
}

fn check_preconditions(
    req: &Request,
    rt: &ResourceType,
    old: &Value,
    name: &str,
) -> Result<(), ApiError> {
    let Ok(options) = serde_json::from_slice::<Value>(&req.body) else {
        return Ok(());
    };
    let pre = &options["preconditions"];
    for (field, meta) in [("uid", "uid"), ("resourceVersion", "resourceVersion")] {
        if let Some(want) = pre[field].as_str()
            && old["metadata"][meta].as_str() != Some(want)
        {
            return Err(ApiError::conflict(
                &rt.group,
                &rt.plural,
                name,
                &format!(
                    "Precondition failed: {field}: {want}, {field} in object meta: {}",
                    old["metadata"][meta].as_str().unwrap_or_default()
                ),
            ));
        }
    }
    Ok(())
}

fn delete(
    sandbox: &KubeSandbox,
    req: &Request,
    target: &Target,
    name: &str,
) -> Result<Response, ApiError> {
    let rt = target.rt.clone();
    let dry_run = req.dry_run()
        || serde_json::from_slice::<Value>(&req.body)
            .ok()
            .is_some_and(|o| o["dryRun"].as_array().is_some_and(|d| !d.is_empty()));
    let (obj, rv) = {
        let mut store = sandbox.lock();
        if let Some(old) = store.get(&target.key(), target.ns(), name) {
            check_preconditions(req, &rt, &old, name)?;
        }
        let out = delete_locked(&mut store, &rt, target.ns(), name, dry_run)?;
        (out, store.rv())
    };
    sandbox.notify(rv);
    Ok(respond_object(req, &rt, StatusCode::OK, &obj))
}

fn delete_collection(
    sandbox: &KubeSandbox,
    req: &Request,
    target: &Target,
) -> Result<Response, ApiError> {
    let rt = target.rt.clone();
    let filter = Filter::from_request(req)?;
    let dry_run = req.dry_run();
    let (items, rv) = {
        let mut store = sandbox.lock();
        let names: Vec<(String, String)> = store
            .range(&target.key(), target.namespace.as_deref(), None)
            .filter(|(_, o)| filter.matches(&rt, o))
            .map(|(k, _)| k.clone())
            .collect();
        let mut items = Vec::new();
        for (ns, name) in names {
            if let Ok(o) = delete_locked(&mut store, &rt, &ns, &name, dry_run) {
                items.push(present(&rt, &o));
            }
        }
        (items, store.rv())
    };
    sandbox.notify(rv);
    let body = json!({"kind": rt.list_kind, "apiVersion": rt.api_version(),
        "metadata": {"resourceVersion": rv.to_string()}, "items": items});
    Ok(json_response(StatusCode::OK, &body))
}

fn path_get<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.trim_start_matches('.')
        .split('.')
        .try_fold(obj, |cur, seg| cur.get(seg))
}

fn path_set(obj: &mut Value, path: &str, value: Value) {
    let segments: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    let Some((last, parents)) = segments.split_last() else {
        return;
    };
    let mut cur = obj;
    for seg in parents {
        if !cur[*seg].is_object() {
            cur[*seg] = json!({});
        }
        cur = &mut cur[*seg];
    }
    cur[*last] = value;
}

/// The `autoscaling/v1` Scale view of an object with a scale subresource.
fn scale_of(rt: &ResourceType, obj: &Value) -> Value {
    let Some(scale) = &rt.scale else {
        return json!({});
    };
    let replicas = |p: &str| path_get(obj, p).and_then(Value::as_i64).unwrap_or(0);
    let mut status = json!({"replicas": replicas(&scale.status_replicas_path)});
    if let Some(sel) = scale
        .label_selector_path
        .as_deref()
        .and_then(|p| path_get(obj, p))
    {
        status["selector"] = sel.clone();
    }
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"],
            "uid": obj["metadata"]["uid"], "resourceVersion": obj["metadata"]["resourceVersion"],
            "creationTimestamp": obj["metadata"]["creationTimestamp"]},
        "spec": {"replicas": replicas(&scale.spec_replicas_path)},
        "status": status,
    })
}

/// The object with the replicas of a written Scale.
fn with_scale(rt: &ResourceType, old: &Value, scale: &Value) -> Result<Value, ApiError> {
    let spec = rt
        .scale
        .as_ref()
        .ok_or_else(|| ApiError::not_found(&rt.group, &format!("{}/scale", rt.plural), ""))?;
    let replicas = scale["spec"]["replicas"].as_i64().ok_or_else(|| {
        ApiError::invalid(
            "autoscaling",
            "Scale",
            old["metadata"]["name"].as_str().unwrap_or_default(),
            vec![Cause {
                reason: "FieldValueRequired".into(),
                field: "spec.replicas".into(),
                message: "Required value: replicas must be a whole number".into(),
            }],
        )
    })?;
    let mut new = present(rt, old);
    path_set(&mut new, &spec.spec_replicas_path, json!(replicas));
    if let Some(rv) = scale["metadata"]["resourceVersion"].as_str() {
        new["metadata"]["resourceVersion"] = json!(rv);
    }
    Ok(new)
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
