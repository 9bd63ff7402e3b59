//! The docs' examples as fixtures. Every example answer in the Mendix Cloud v1 docs and in the
//! Private Cloud v4 OpenAPI contracts is served on loopback and read through the client call the
//! operator makes; what the client decoded is serialized back and compared with the example
//! field by field. A field that a client type names wrongly fails here, with the example and the
//! JSON path, instead of silently becoming `None`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode, Uri, header};
use axum::response::IntoResponse;
use chrono::NaiveDate;
use mendix_client::cloud_v1::types as v1;
use mendix_client::private_cloud_v4::types as v4;
use mendix_client::{
    CloudCredentials, HostLimits, Mendix, MendixConfig, MendixError, Pat, RetryPolicy,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const DOCS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/mendix-docs");
const OPENAPI: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/mendix-openapi"
);

const V1_DEPLOY: &str = "mendix-cloud-deploy-api-v1.txt";
const V1_BUILD: &str = "mendix-cloud-build-api-v1.txt";
const V4_DEPLOY: &str = "privatecloud-deploy-v4.yaml";
const V4_BUILD: &str = "privatecloud-build-v4.yaml";

/// Examples found when this test was written; fewer means the extraction broke.
const MIN_V1_DEPLOY: usize = 17;
const MIN_V1_BUILD: usize = 3;
const MIN_V4_DEPLOY: usize = 41;
const MIN_V4_BUILD: usize = 14;

// Path values used for the calls (the answers do not depend on them).
const APP: &str = "calc";
const MODE: &str = "Acceptance";
const JOB: &str = "02df2e50-0e79-11e4-9191-0800200c9a66";
const PACKAGE: &str = "b3d14e53-2654-4534-b374-9179a69ef3cf";
const LOG_DATE: &str = "2018-08-10";
const PC_APP: &str = "c533ee0b-f7db-4e62-868b-1192d392ccec";
const PC_NAMESPACE: &str = "b912d8f4-a77c-4189-a211-e0ea1dfde04f";
const PC_CLUSTER: &str = "a712d8f4-a77c-4189-a211-e0ea1dfde03c";
const PC_ENVIRONMENT: &str = "e9m3vf7f";
const PC_PACKAGE: &str = "905ba2c3-4424-48b8-b4b0-393eedd4cd1e";
const PC_JOB: &str = "db6ed4d3-8b6d-4c2b-ad2b-2a69d0f7afe0";

/// Fields a client type drops on purpose: `(document, path suffix, why)`. `[]` stands for any
/// array index. Every entry must still be needed, so the list cannot go stale.
const DROPPED: &[(&str, &str, &str)] = &[];

/// Fields the v4 manifest types keep verbatim in `extra` (sent back unchanged, never read), as
/// path suffixes. A modelled field under a wrong name would land in `extra` too and survive the
/// round trip, so whatever lands there must be on this list. Every entry must still be needed.
const UNMODELLED: &[&str] = &[
    "/environment/properties/OverwriteProductTypePCLM",
    "/environment/network",
    // Write-only secrets, in the PUT/POST body examples.
    "/environment/runtime/subscriptionSecret",
    "/environment/runtime/debuggerPassword",
    // Namespace details the client does not model (the operator version is read from
    // `additionalInformation` by `NamespaceInfo::operator_version`).
    "/namespace/operationalLinks",
    "/namespace/additionalInformation",
];

/// Examples no client type reads: `(document, example key, why)`. Each must match an example.
const NOT_DECODED: &[(&str, &str, &str)] = &[
    // Kept verbatim in the manifest's `extra` fields; the whole-manifest examples cover them.
    (
        V4_DEPLOY,
        "schemas/appLogLevel",
        "kept verbatim in `Deployment.extra`",
    ),
    (
        V4_DEPLOY,
        "schemas/annotation",
        "kept verbatim in `EnvironmentSpec.extra`",
    ),
];

/// Typos in the v1 docs' examples that no JSON reader accepts (the API itself answers valid
/// JSON): `(document, typo, what the docs mean)`. Trailing commas are dropped generically.
const TYPOS: &[(&str, &str, &str)] = &[
    // "Size" : 15342295S — a Java long literal suffix in Retrieve Package.
    (V1_BUILD, "15342295S", "15342295"),
];

// ------------------------------------------------------------------ loopback Mendix

/// A server on loopback that answers every request with one fixed answer and records the
/// requests it saw (`METHOD /path`).
#[derive(Clone, Default)]
struct Stub {
    answer: Arc<Mutex<(u16, String)>>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Stub {
    fn serve(&self, status: u16, body: &Value) {
        *self.answer.lock().expect("answer lock") = (status, body.to_string());
        self.seen.lock().expect("seen lock").clear();
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("seen lock").clone()
    }
}

async fn start_stub() -> (Stub, Mendix) {
    let stub = Stub::default();
    let state = stub.clone();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri| {
        let state = state.clone();
        async move {
            state
                .seen
                .lock()
                .expect("seen lock")
                .push(format!("{method} {}", uri.path()));
            let (status, body) = state.answer.lock().expect("answer lock").clone();
            let status = StatusCode::from_u16(status).expect("a valid status");
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback listener");
    let addr = listener.local_addr().expect("listener address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("stub serves") });
    let config = MendixConfig {
        retry: RetryPolicy::none(),
        limits: HostLimits {
            max_in_flight: 8,
            requests_per_second: 0.0,
            burst: 1,
        },
        ..MendixConfig::default()
    }
    .with_urls(
        format!("http://{addr}/api/1").parse().expect("v1 url"),
        format!("http://{addr}/api/v4").parse().expect("v4 url"),
    );
    (stub, Mendix::new(config).expect("client builds"))
}

// ------------------------------------------------------------------ field-by-field comparison

/// Where `decoded` (a client value serialized back) differs from `example`: every key of an
/// example object must be present with the same value, arrays element by element.
fn differences(example: &Value, decoded: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match (example, decoded) {
        (Value::Object(want), Value::Object(got)) => {
            for (key, value) in want {
                let here = format!("{path}/{key}");
                match got.get(key) {
                    Some(found) => differences(value, found, &here, out),
                    None => out.push((here, "missing after decoding".into())),
                }
            }
        }
        (Value::Array(want), Value::Array(got)) if want.len() == got.len() => {
            for (index, (w, g)) in want.iter().zip(got).enumerate() {
                differences(w, g, &format!("{path}[{index}]"), out);
            }
        }
        (Value::Array(want), Value::Array(got)) => out.push((
            path.to_string(),
            format!("{} items in the example, {} decoded", want.len(), got.len()),
        )),
        _ if example == decoded => {}
        _ => out.push((
            path.to_string(),
            format!("example has {example}, decoded {decoded}"),
        )),
    }
}

/// `[3]` → `[]`, so that a `DROPPED` path matches every array element.
fn any_index(path: &str) -> String {
    let mut out = String::new();
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            _ => out.push(c),
        }
    }
    out
}

#[derive(Default)]
struct Report {
    decoded: BTreeMap<&'static str, usize>,
    from_schema: BTreeMap<&'static str, usize>,
    failures: Vec<String>,
    dropped_used: BTreeSet<(&'static str, &'static str)>,
    unmodelled_used: BTreeSet<&'static str>,
    not_decoded_used: BTreeSet<(&'static str, &'static str)>,
}

impl Report {
    /// Compares one example with the client's result and records the outcome.
    fn check(
        &mut self,
        doc: &'static str,
        label: &str,
        example: &Value,
        read: Result<Read, String>,
    ) {
        *self.decoded.entry(doc).or_default() += 1;
        let decoded = match read {
            Ok(read) => {
                self.check_unmodelled(doc, label, &read.unmodelled);
                read.value
            }
            Err(err) => {
                self.failures
                    .push(format!("{doc} {label}: not decoded: {err}"));
                return;
            }
        };
        let mut found = Vec::new();
        differences(example, &decoded, "", &mut found);
        for (path, problem) in found {
            let generic = any_index(&path);
            let dropped = DROPPED.iter().find(|(d, suffix, _)| {
                *d == doc && generic.ends_with(*suffix) && problem.starts_with("missing")
            });
            match dropped {
                Some((d, suffix, _)) => {
                    self.dropped_used.insert((*d, *suffix));
                }
                None => self
                    .failures
                    .push(format!("{doc} {label}: {path}: {problem}")),
            }
        }
    }

    fn check_unmodelled(&mut self, doc: &str, label: &str, paths: &[String]) {
        for path in paths {
            let generic = any_index(path);
            match UNMODELLED.iter().find(|suffix| generic.ends_with(*suffix)) {
                Some(suffix) => {
                    self.unmodelled_used.insert(suffix);
                }
                None => self.failures.push(format!(
                    "{doc} {label}: {path}: kept in `extra` only, not read into its field"
                )),
            }
        }
    }
}

/// What the client made of one example.
struct Read {
    /// The decoded value, serialized back.
    value: Value,
    /// Read through a client call (`false`: by the client type alone).
    by_call: bool,
    /// Paths of the fields that landed in a manifest's `extra`.
    unmodelled: Vec<String>,
}

fn by_call(value: Result<Value, String>) -> Result<Read, String> {
    value.map(|value| Read {
        value,
        by_call: true,
        unmodelled: Vec::new(),
    })
}

fn by_type(value: Result<Value, String>) -> Result<Read, String> {
    value.map(|value| Read {
        value,
        by_call: false,
        unmodelled: Vec::new(),
    })
}

/// A manifest read through a client call, with the fields that landed in its `extra` maps.
fn manifest<T: Serialize>(
    result: Result<T, MendixError>,
    unmodelled: impl Fn(&T) -> Vec<String>,
) -> Result<Read, String> {
    let manifest = result.map_err(|err| err.to_string())?;
    Ok(Read {
        value: to_json(&manifest),
        by_call: true,
        unmodelled: unmodelled(&manifest),
    })
}

fn keys_at(at: &str, extra: &v4::Extra) -> impl Iterator<Item = String> {
    extra.keys().map(move |key| format!("{at}/{key}"))
}

fn environment_extras(manifest: &v4::EnvironmentManifest, at: &str) -> Vec<String> {
    let environment = &manifest.environment;
    let at_env = format!("{at}/environment");
    let mut paths: Vec<String> = keys_at(at, &manifest.extra).collect();
    paths.extend(keys_at(&at_env, &environment.extra));
    paths.extend(keys_at(
        &format!("{at_env}/properties"),
        &environment.properties.extra,
    ));
    paths.extend(keys_at(
        &format!("{at_env}/deployment"),
        &environment.deployment.extra,
    ));
    paths.extend(keys_at(
        &format!("{at_env}/container"),
        &environment.container.extra,
    ));
    paths.extend(keys_at(
        &format!("{at_env}/provider"),
        &environment.provider.extra,
    ));
    if let Some(runtime) = &environment.runtime {
        paths.extend(keys_at(&format!("{at_env}/runtime"), &runtime.extra));
    }
    paths
}

fn namespace_extras(manifest: &v4::NamespaceManifest, at: &str) -> Vec<String> {
    keys_at(&format!("{at}/namespace"), &manifest.namespace.extra).collect()
}

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("client types serialize")
}

/// The client's result, serialized back.
fn answer<T: Serialize>(result: Result<T, MendixError>) -> Result<Value, String> {
    result
        .map(|value| to_json(&value))
        .map_err(|err| err.to_string())
}

/// Decoding with the client type alone, for answers the client reads without a call of its own.
fn as_type<T: Serialize + DeserializeOwned>(body: &Value) -> Result<Value, String> {
    serde_json::from_value::<T>(body.clone())
        .map(|value| to_json(&value))
        .map_err(|err| err.to_string())
}

// ------------------------------------------------------------------ Mendix Cloud v1 docs

struct V1Example {
    /// `GET /apps/<AppId>/packages`, from the section's `HTTP Method` and `URL` lines.
    endpoint: String,
    heading: String,
    body: Value,
}

/// The JSON text that starts at `text[0]`, up to its matching closing bracket.
fn balanced_json(text: &str) -> Option<&str> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, c) in text.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(&text[..=i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// Reads an example strictly, else after fixing the documented typos.
fn parse_example(doc: &str, text: &str) -> Result<Value, String> {
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    let mut fixed = text.to_string();
    for (d, typo, meant) in TYPOS {
        if *d == doc {
            fixed = fixed.replace(typo, meant);
        }
    }
    let trailing_comma = regex::Regex::new(r",(\s*[}\]])").expect("valid regex");
    let fixed = trailing_comma.replace_all(&fixed, "$1");
    serde_json::from_str(&fixed).map_err(|err| format!("{err} in {text}"))
}

/// Every example answer of a v1 doc: the JSON right after an `Example Output` (deploy doc) or
/// an `Example` heading (build doc, where a request example starts with its HTTP line instead).
fn v1_examples(doc: &'static str) -> Vec<V1Example> {
    let text = std::fs::read_to_string(format!("{DOCS}/{doc}")).expect("the v1 docs are readable");
    let numbered = regex::Regex::new(r"^\d+\.\d+ \S").expect("valid regex");
    let lines: Vec<&str> = text.lines().collect();
    let (mut method, mut endpoint, mut heading) = (String::new(), String::new(), String::new());
    let mut examples = Vec::new();
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim();
        if numbered.is_match(line) {
            heading = line.to_string();
        }
        if let Some(m) = line.strip_prefix("HTTP Method:") {
            method = m.trim().to_string();
        }
        if let Some(url) = line.strip_prefix("URL:") {
            let url = url.trim();
            let path = url.split_once("/api/1").map_or(url, |(_, path)| path);
            let path = path.split('?').next().unwrap_or(path);
            endpoint = format!("{method} {path}");
        }
        if !matches!(line, "Example" | "Example Output" | "Example Response") {
            continue;
        }
        // The deploy doc puts a column of line numbers before each listing.
        let Some(start) = lines[i + 1..]
            .iter()
            .position(|l| !l.trim().is_empty() && !l.trim().chars().all(|c| c.is_ascii_digit()))
            .map(|offset| i + 1 + offset)
        else {
            continue;
        };
        if !lines[start].trim_start().starts_with(['{', '[']) {
            continue;
        }
        let rest = lines[start..].join("\n");
        let rest = rest.trim_start();
        let json =
            balanced_json(rest).unwrap_or_else(|| panic!("{doc} {endpoint}: unbalanced example"));
        let body = parse_example(doc, json)
            .unwrap_or_else(|err| panic!("{doc} {endpoint}: example is not JSON: {err}"));
        examples.push(V1Example {
            endpoint: endpoint.clone(),
            heading: heading.clone(),
            body,
        });
    }
    examples
}

/// The documented endpoint with the test's path values, as the stub records it.
fn v1_request(endpoint: &str) -> String {
    let request = endpoint
        .replace("<AppId>", APP)
        .replace("<Mode>", MODE)
        .replace("<JobId>", JOB)
        .replace("<PackageId>", PACKAGE)
        .replace("<Date>", LOG_DATE);
    match request.split_once(' ') {
        Some((method, path)) => format!("{method} /api/1{path}"),
        None => request,
    }
}

/// Tags as the client reads them, shown in the example's own shape (`{"Tag"}` or a list) so the
/// same field-by-field check applies.
fn tags_view(tags: Option<Vec<String>>, example: &Value) -> Result<Value, String> {
    let tags = tags.ok_or("tags are neither a list nor a `Tag` object")?;
    Ok(match (example, tags.as_slice()) {
        (Value::Object(_), [one]) => json!({ "Tag": one }),
        _ => json!(tags),
    })
}

/// Serves one example and reads it with the client call of its endpoint.
async fn v1_read(mendix: &Mendix, stub: &Stub, example: &V1Example) -> Result<Read, String> {
    let credentials = CloudCredentials::new("richard.ford51@example.com", "docs-example-api-key");
    let deploy = mendix.cloud_deploy(&credentials);
    let build = mendix.cloud_build(&credentials);
    let body = &example.body;
    let date = NaiveDate::parse_from_str(LOG_DATE, "%Y-%m-%d").expect("a valid date");
    stub.serve(200, body);
    let read = match example.endpoint.as_str() {
        "GET /apps" => answer(deploy.list_apps().await),
        // Create Free App: the operator never creates apps; its answer is an `App`.
        "POST /apps" => return by_type(as_type::<v1::App>(body)),
        "GET /apps/<AppId>" => answer(deploy.get_app(APP).await),
        "GET /apps/<AppId>/environments" => answer(deploy.list_environments(APP).await),
        "GET /apps/<AppId>/environments/<Mode>" => answer(deploy.get_environment(APP, MODE).await),
        "POST /apps/<AppId>/environments/<Mode>/start" => {
            answer(deploy.start(APP, MODE, true).await.map(|sent| sent.value))
        }
        "GET /apps/<AppId>/environments/<Mode>/start/<JobId>" => answer(
            deploy
                .start_status(APP, MODE, JOB)
                .await
                .map(|sent| v1::StartJobState { status: sent.value }),
        ),
        "GET /apps/<AppId>/environments/<Mode>/package" => {
            answer(deploy.environment_package(APP, MODE, true).await)
        }
        // The client ignores Clean's answer; the docs show environments, as in Retrieve
        // Environments.
        "POST /apps/<AppId>/environments/<Mode>/clean" => deploy
            .clean(APP, MODE)
            .await
            .map_err(|err| err.to_string())
            .and_then(|()| as_type::<Vec<v1::Environment>>(body)),
        "GET /apps/<AppId>/environments/<Mode>/settings" => {
            answer(deploy.get_settings(APP, MODE).await)
        }
        "POST /apps/<AppId>/environments/<Mode>/settings" => answer(
            deploy
                .set_settings(APP, MODE, &v1::Settings::default())
                .await,
        ),
        "POST /apps/<AppId>/environments/<Mode>/scale" => {
            match deploy.scale(APP, MODE, 2, 2048).await {
                Ok(Some(environment)) => Ok(to_json(&environment)),
                Ok(None) => Err("scale decoded no environment".into()),
                Err(err) => Err(err.to_string()),
            }
        }
        // Create and Delete Tag answers are ignored by the client; read them as tags anyway.
        "POST /apps/<AppId>/environments/<Mode>/tags" => {
            match deploy.create_tag(APP, MODE, "A").await {
                Ok(()) => tags_view(v1::parse_tags(body), body),
                Err(err) => Err(err.to_string()),
            }
        }
        "DELETE /apps/<AppId>/environments/<Mode>/tags" => {
            match deploy.delete_tag(APP, MODE, "A").await {
                Ok(()) => tags_view(v1::parse_tags(body), body),
                Err(err) => Err(err.to_string()),
            }
        }
        "GET /apps/<AppId>/environments/<Mode>/tags" => deploy
            .get_tags(APP, MODE)
            .await
            .map_err(|err| err.to_string())
            .and_then(|tags| tags_view(Some(tags), body)),
        "GET /apps/<AppId>/environments/<Mode>/logs/<Date>" => {
            answer(deploy.app_log_url(APP, MODE, date).await)
        }
        "GET /apps/<AppId>/environments/<Mode>/access-logs/<Date>" => {
            answer(deploy.access_log_url(APP, MODE, date).await)
        }
        "GET /apps/<AppId>/packages" => answer(build.list_packages(APP).await),
        "GET /apps/<AppId>/packages/<PackageId>" => {
            answer(build.get_package(APP, PACKAGE, true).await)
        }
        "POST /apps/<AppId>/packages" => answer(
            build
                .start_build(
                    APP,
                    &v1::BuildRequest {
                        branch: "branches/feature".into(),
                        revision: "63".into(),
                        version: "2.5.4".into(),
                        description: "Add scientific mode".into(),
                    },
                )
                .await,
        ),
        other => Err(format!(
            "no client call is mapped to the documented `{other}`"
        )),
    };
    by_call(read)
}

async fn check_v1(doc: &'static str, mendix: &Mendix, stub: &Stub, report: &mut Report) {
    for example in v1_examples(doc) {
        let label = match example.heading.as_str() {
            "" => example.endpoint.clone(),
            heading => format!("{} ({heading})", example.endpoint),
        };
        let read = v1_read(mendix, stub, &example).await;
        let read = read.and_then(|read| {
            let expected = vec![v1_request(&example.endpoint)];
            if read.by_call && stub.seen() != expected {
                return Err(format!(
                    "the client sent {:?}, the docs say {expected:?}",
                    stub.seen()
                ));
            }
            Ok(read)
        });
        report.check(doc, &label, &example.body, read);
    }
}

// ------------------------------------------------------------------ Private Cloud v4 OpenAPI

fn openapi(file: &str) -> Value {
    let text =
        std::fs::read_to_string(format!("{OPENAPI}/{file}")).expect("the contracts are readable");
    serde_yaml::from_str(&text).expect("the contracts are YAML")
}

/// Follows a local `$ref` (`#/components/...`), recording it in `refs`.
fn resolve<'a>(doc: &'a Value, value: &'a Value, refs: &mut BTreeSet<String>) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            refs.insert(reference.to_string());
            let target = doc
                .pointer(reference.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling $ref {reference}"));
            resolve(doc, target, refs)
        }
        None => value,
    }
}

/// A document built from a schema's property examples (typed placeholders where a property has
/// none), for answers the contract gives no whole example of.
fn from_schema(doc: &Value, schema: &Value) -> Value {
    let schema = resolve(doc, schema, &mut BTreeSet::new());
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        let object = properties
            .iter()
            .map(|(name, property)| (name.clone(), from_schema(doc, property)))
            .collect();
        return Value::Object(object);
    }
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("array") => json!([from_schema(doc, &schema["items"])]),
        Some("integer") => json!(7),
        Some("number") => json!(1.5),
        Some("boolean") => json!(true),
        _ => match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => json!("2023-02-17T15:01:19Z"),
            Some("uri") => json!("https://example.com/resource"),
            _ => json!("text"),
        },
    }
}

struct V4Example {
    /// `responses/job`, `schemas/constant`, `examples/X`, or `<operationId> <status>` for an
    /// answer defined inline.
    key: String,
    name: String,
    status: u16,
    body: Value,
    from_schema: bool,
}

/// Every example answer of a contract: the `example`/`examples` of each response the paths use
/// (or one built from the schema when a response has none), the object `x-examples` of the
/// component schemas, and component examples referenced from neither.
fn v4_examples(doc: &Value) -> Vec<V4Example> {
    let mut refs = BTreeSet::new();
    let mut responses: BTreeMap<String, (u16, Value)> = BTreeMap::new();
    for (_, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            let Some(answers) = operation.get("responses").and_then(Value::as_object) else {
                continue;
            };
            for (status, response) in answers {
                let status: u16 = status.parse().expect("numeric response status");
                let key = match response.get("$ref").and_then(Value::as_str) {
                    Some(reference) => reference.trim_start_matches("#/components/").to_string(),
                    None => format!(
                        "{} {status}",
                        operation["operationId"].as_str().unwrap_or(method.as_str())
                    ),
                };
                let response = resolve(doc, response, &mut refs).clone();
                responses.entry(key).or_insert((status, response));
            }
        }
    }
    let mut examples = Vec::new();
    for (key, (status, response)) in responses {
        let Some(media) = response.pointer("/content/application~1json") else {
            continue;
        };
        let mut found = false;
        if let Some(body) = media.get("example") {
            examples.push(V4Example {
                key: key.clone(),
                name: "example".into(),
                status,
                body: body.clone(),
                from_schema: false,
            });
            found = true;
        }
        for (name, example) in media
            .get("examples")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let example = resolve(doc, example, &mut refs);
            examples.push(V4Example {
                key: key.clone(),
                name: name.clone(),
                status,
                body: example["value"].clone(),
                from_schema: false,
            });
            found = true;
        }
        if !found && let Some(schema) = media.get("schema") {
            examples.push(V4Example {
                key,
                name: "built from the schema".into(),
                status,
                body: from_schema(doc, schema),
                from_schema: true,
            });
        }
    }
    for (name, schema) in doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        for (example_name, example) in schema
            .get("x-examples")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            // An inline x-example is the document itself; a `$ref` names an Example Object.
            let body = match example.get("$ref") {
                Some(_) => resolve(doc, example, &mut refs)["value"].clone(),
                None => example.clone(),
            };
            // Scalars are ids and enum values, not answers.
            if body.is_object() || body.is_array() {
                examples.push(V4Example {
                    key: format!("schemas/{name}"),
                    name: example_name.clone(),
                    status: 200,
                    body,
                    from_schema: false,
                });
            }
        }
    }
    for (_, body) in doc["components"]["requestBodies"]
        .as_object()
        .into_iter()
        .flatten()
    {
        for (_, media) in body["content"].as_object().into_iter().flatten() {
            for (_, example) in media["examples"].as_object().into_iter().flatten() {
                resolve(doc, example, &mut refs);
            }
        }
    }
    for (name, example) in doc["components"]["examples"]
        .as_object()
        .into_iter()
        .flatten()
    {
        if !refs.contains(&format!("#/components/examples/{name}")) {
            examples.push(V4Example {
                key: format!("examples/{name}"),
                name: name.clone(),
                status: 200,
                body: example["value"].clone(),
                from_schema: false,
            });
        }
    }
    examples
}

/// A v4 error answer as the client keeps it (the status and one message), shown in the
/// example's shape: each documented text is kept only if the client's message carries it.
fn error_view(example: &Value, err: MendixError) -> Result<Value, String> {
    let MendixError::Api {
        status, message, ..
    } = &err
    else {
        return Err(format!("not an API error: {err}"));
    };
    let carried = |text: &Value| match text.as_str() {
        Some(text) if message.contains(text) => json!(text),
        _ => json!(message),
    };
    let documented = &example["error"];
    let params: Vec<Value> = documented["invalid-params"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|param| json!({"name": carried(&param["name"]), "reason": carried(&param["reason"])}))
        .collect();
    let mut view =
        json!({"error": {"code": status.as_u16(), "message": carried(&documented["message"])}});
    if documented.get("invalid-params").is_some() {
        view["error"]["invalid-params"] = json!(params);
    }
    Ok(view)
}

/// Serves one example and reads it with the client call that receives that answer. `None`
/// when the example is on the `NOT_DECODED` list.
async fn v4_read(
    mendix: &Mendix,
    stub: &Stub,
    example: &V4Example,
) -> Option<Result<Read, String>> {
    let pat = Pat::new("docs-example-pat-0123456789");
    let build = mendix.pc_build(&pat);
    let deploy = mendix.pc_deploy(&pat);
    let body = &example.body;
    let key = example.key.as_str();
    if key.starts_with("responses/error") || key == "schemas/error" {
        let status = body["error"]["code"]
            .as_u64()
            .and_then(|c| u16::try_from(c).ok());
        let Some(status) = status.filter(|s| *s >= 400) else {
            return Some(Err("an error example without an error status code".into()));
        };
        if key.starts_with("responses/") && status != example.status {
            return Some(Err(format!(
                "documented as {}, the body says {status}",
                example.status
            )));
        }
        stub.serve(status, body);
        return Some(by_call(match deploy.get_job(PC_JOB).await {
            Ok(job) => Err(format!("an error answer read as a job: {job:?}")),
            Err(err) => error_view(body, err),
        }));
    }
    stub.serve(200, body);
    let read = match key {
        "responses/job" | "schemas/job" => by_call(answer(deploy.get_job(PC_JOB).await)),
        "schemas/error-body" => by_type(as_type::<v4::JobError>(body)),
        // Build API answers.
        "list_deployment_packages 200" => {
            by_call(answer(build.list_packages_page(PC_APP, 0, 50).await))
        }
        "get_deployment_package 200" => by_call(answer(
            build
                .get_package(PC_APP, PC_PACKAGE, true, true)
                .await
                .map(|package| v4::PackageEnvelope { package }),
        )),
        // Deploy API answers.
        "responses/appManifest" | "schemas/appManifest" => {
            by_call(answer(deploy.get_app(PC_APP).await))
        }
        "responses/appsManifests" => by_call(answer(
            deploy.list_apps().await.map(|apps| v4::AppsPage { apps }),
        )),
        "responses/getEnvironmentManifest"
        | "schemas/getEnvironmentManifest"
        | "examples/EnvironmentManifestWithEphemeralStorage" => manifest(
            deploy
                .get_environment(PC_APP, PC_NAMESPACE, PC_ENVIRONMENT)
                .await,
            |m| environment_extras(m, ""),
        ),
        // The PUT/POST body: the client sends back what it read, so the same type must keep it.
        "schemas/environmentManifest" => {
            match serde_json::from_value::<v4::EnvironmentManifest>(body.clone()) {
                Ok(m) => Ok(Read {
                    value: to_json(&m),
                    by_call: false,
                    unmodelled: environment_extras(&m, ""),
                }),
                Err(err) => Err(err.to_string()),
            }
        }
        "responses/getEnvironmentsManifests" => manifest(
            deploy
                .list_environments(PC_APP)
                .await
                .map(|environments| v4::EnvironmentsPage { environments }),
            |page| {
                let each = page.environments.iter().enumerate();
                each.flat_map(|(i, m)| environment_extras(m, &format!("/environments[{i}]")))
                    .collect()
            },
        ),
        "responses/clusterManifest" | "schemas/clusterManifest" => {
            by_call(answer(deploy.get_cluster(PC_CLUSTER).await))
        }
        "responses/clustersManifests" => by_call(answer(
            deploy
                .list_clusters()
                .await
                .map(|clusters| v4::ClustersPage { clusters }),
        )),
        // Request bodies of the cluster and namespace writes: the client sends back what it
        // read, so the same types must keep them.
        "schemas/updateClusterManifest" => by_type(as_type::<v4::ClusterManifest>(body)),
        "schemas/createNamespaceManifest" | "schemas/updateNamespaceManifest" => {
            match serde_json::from_value::<v4::NamespaceManifest>(body.clone()) {
                Ok(m) => Ok(Read {
                    value: to_json(&m),
                    by_call: false,
                    unmodelled: namespace_extras(&m, ""),
                }),
                Err(err) => Err(err.to_string()),
            }
        }
        "responses/namespaceManifestResponse" | "schemas/namespaceManifest" => manifest(
            deploy.get_namespace(PC_CLUSTER, PC_NAMESPACE, true).await,
            |m| namespace_extras(m, ""),
        ),
        "responses/namespacesManifestsResponse" => manifest(
            deploy
                .list_namespaces(PC_CLUSTER, true)
                .await
                .map(|namespaces| v4::NamespacesPage { namespaces }),
            |page| {
                let each = page.namespaces.iter().enumerate();
                each.flat_map(|(i, m)| namespace_extras(m, &format!("/namespaces[{i}]")))
                    .collect()
            },
        ),
        "responses/cliVersionList" => {
            by_call(answer(deploy.list_cli_versions().await.map(
                |cli_version_list| v4::CliVersionList { cli_version_list },
            )))
        }
        "schemas/cliVersion" => by_type(as_type::<v4::CliVersion>(body)),
        // Parts of the environment manifest, with the types the manifest reads them into.
        "schemas/constant" => by_type(as_type::<v4::Constant>(body)),
        "schemas/scheduledEvent" => by_type(as_type::<v4::ScheduledEvent>(body)),
        "schemas/coreResource" => by_type(as_type::<v4::CoreResource>(body)),
        "schemas/environmentVariable" | "schemas/customSetting" => {
            by_type(as_type::<v4::NameValue>(body))
        }
        "schemas/service" => by_type(as_type::<v4::Service>(body)),
        _ => return None,
    };
    Some(read)
}

async fn check_v4(doc: &'static str, mendix: &Mendix, stub: &Stub, report: &mut Report) {
    for example in v4_examples(&openapi(doc)) {
        let label = format!("{}#{}", example.key, example.name);
        let Some(read) = v4_read(mendix, stub, &example).await else {
            match NOT_DECODED
                .iter()
                .find(|(d, key, _)| *d == doc && *key == example.key)
            {
                Some((d, key, _)) => {
                    report.not_decoded_used.insert((*d, *key));
                }
                None => report.failures.push(format!(
                    "{doc} {label}: no client call or type is mapped to it"
                )),
            }
            continue;
        };
        let read = read.and_then(|read| {
            if read.by_call && stub.seen().is_empty() {
                return Err("the client sent no request".into());
            }
            Ok(read)
        });
        if example.from_schema {
            *report.from_schema.entry(doc).or_default() += 1;
        }
        report.check(doc, &label, &example.body, read);
    }
}

// ------------------------------------------------------------------ the tests

#[tokio::test]
async fn every_documented_example_answer_is_decoded_field_by_field() {
    let (stub, mendix) = start_stub().await;
    let mut report = Report::default();
    check_v1(V1_DEPLOY, &mendix, &stub, &mut report).await;
    check_v1(V1_BUILD, &mendix, &stub, &mut report).await;
    check_v4(V4_DEPLOY, &mendix, &stub, &mut report).await;
    check_v4(V4_BUILD, &mendix, &stub, &mut report).await;

    let count = |doc| report.decoded.get(doc).copied().unwrap_or(0);
    let built = |doc| report.from_schema.get(doc).copied().unwrap_or(0);
    println!(
        "docs examples: v1 deploy {}, v1 build {}, v4 deploy {} ({} built from schema property examples), v4 build {} ({} built from schema property examples)",
        count(V1_DEPLOY),
        count(V1_BUILD),
        count(V4_DEPLOY),
        built(V4_DEPLOY),
        count(V4_BUILD),
        built(V4_BUILD),
    );
    assert!(
        report.failures.is_empty(),
        "documented examples the client does not read faithfully:\n{}",
        report.failures.join("\n")
    );
    for (doc, min) in [
        (V1_DEPLOY, MIN_V1_DEPLOY),
        (V1_BUILD, MIN_V1_BUILD),
        (V4_DEPLOY, MIN_V4_DEPLOY),
        (V4_BUILD, MIN_V4_BUILD),
    ] {
        assert!(
            count(doc) >= min,
            "{doc}: {} examples decoded, at least {min} expected",
            count(doc)
        );
    }
    for (doc, suffix, why) in DROPPED {
        assert!(
            report.dropped_used.contains(&(*doc, *suffix)),
            "{doc} {suffix} ({why}) is no longer dropped: remove it from DROPPED"
        );
    }
    for suffix in UNMODELLED {
        assert!(
            report.unmodelled_used.contains(suffix),
            "{suffix} no longer lands in `extra`: remove it from UNMODELLED"
        );
    }
    for (doc, key, why) in NOT_DECODED {
        assert!(
            report.not_decoded_used.contains(&(*doc, *key)),
            "{doc} {key} ({why}) has no example any more: remove it from NOT_DECODED"
        );
    }
}

/// The comparison itself: a field the type does not know, a renamed one and a changed value
/// are all reported with their JSON path.
#[test]
fn a_misnamed_field_is_reported_with_its_path() {
    let example = json!({
        "PackageId": "p1",
        "Status": "Succeeded",
        "FileSize": 12,
        "Url": {"Location": "https://cdn/p.mda", "Ttl": 900}
    });
    let decoded = as_type::<v1::Package>(&example).expect("lenient types read it");
    let mut found = Vec::new();
    differences(&example, &decoded, "", &mut found);
    let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(paths, ["/FileSize", "/Url/Ttl"], "{found:?}");

    let mut found = Vec::new();
    differences(
        &json!({"Status": "Archived"}),
        &json!({"Status": "Unknown"}),
        "",
        &mut found,
    );
    assert_eq!(
        found.len(),
        1,
        "a value the type maps elsewhere is reported"
    );
    let mut found = Vec::new();
    differences(&json!([1, 2]), &json!([1]), "/list", &mut found);
    assert_eq!(found[0].0, "/list", "{found:?}");
    assert_eq!(
        any_index("/clusters[12]/cluster/creator"),
        "/clusters[]/cluster/creator"
    );
}

/// The extraction reads the docs' listings, including the line-number column and the typos.
#[test]
fn v1_examples_are_extracted_with_their_endpoints() {
    let examples = v1_examples(V1_BUILD);
    let endpoints: Vec<&str> = examples.iter().map(|e| e.endpoint.as_str()).collect();
    assert_eq!(
        endpoints,
        [
            "GET /apps/<AppId>/packages",
            "GET /apps/<AppId>/packages/<PackageId>",
            "POST /apps/<AppId>/packages"
        ]
    );
    assert_eq!(
        examples[1].body["Size"],
        json!(15342295),
        "the `S` typo is fixed"
    );
    let deploy = v1_examples(V1_DEPLOY);
    let start = deploy
        .iter()
        .find(|e| e.endpoint.ends_with("/start"))
        .expect("Start Environment has an example");
    assert_eq!(start.body, json!({"JobId": JOB}), "trailing comma dropped");
    assert!(start.heading.starts_with("3.6 "), "{}", start.heading);
}
