//! Property tests: arbitrary bytes and arbitrary JSON fed to every Mendix response parser (the
//! wire types of both APIs, the error body parser, the Retry-After parser) and to serde decoding
//! of the CRD types. Whatever decodes survives a round trip unchanged, the helpers the
//! controllers call agree with what was decoded, error messages never carry a credential and
//! outages are never taken for terminal errors. Mutated examples are
//! sent to the real API server: whatever it admits (pruned and defaulted), the operator decodes.
//!
//! The case count is modest by default so the suite runs in seconds; `PROPTEST_CASES=20000`
//! runs a heavier campaign.

use std::time::{Duration, SystemTime};

use kube::api::{Api as KubeApi, ApiResource, DynamicObject, PostParams};
use mendix_client::api::Api;
use mendix_client::cloud_v1::types as v1;
use mendix_client::error::{ErrorClass, from_error_response, parse_error_body};
use mendix_client::private_cloud_v4::types as v4;
use mendix_client::retry::parse_retry_after;
use mendix_operator::crd::{MendixEnvironment, MendixPackage};
use proptest::prelude::*;
use proptest::sample::Index;
use reqwest::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// JSON keys the parsers look for, taken from the wire types' sources (serde renames and field
/// names in camelCase and PascalCase), so arbitrary objects reach past the first field.
fn wire_keys() -> Vec<String> {
    let sources = [
        include_str!("../crates/mendix-client/src/cloud_v1/types.rs"),
        include_str!("../crates/mendix-client/src/private_cloud_v4/types.rs"),
        include_str!("../crates/mendix-client/src/error.rs"),
        include_str!("../src/crd/package.rs"),
        include_str!("../src/crd/environment.rs"),
        include_str!("../src/crd/common.rs"),
    ];
    let rename = regex::Regex::new(r#"rename = "([^"]+)""#).expect("regex");
    let field = regex::Regex::new(r"pub ([a-z_][a-z0-9_]*):").expect("regex");
    let mut keys = vec![
        "error".to_string(),
        "errorCode".into(),
        "errorMessage".into(),
        "invalid-params".into(),
        "code".into(),
        "message".into(),
        "name".into(),
        "reason".into(),
        "Tag".into(),
        "Tags".into(),
    ];
    for text in sources {
        keys.extend(rename.captures_iter(text).map(|c| c[1].to_string()));
        for c in field.captures_iter(text) {
            let snake = &c[1];
            let mut camel = String::new();
            let mut upper = false;
            for ch in snake.chars() {
                if ch == '_' {
                    upper = true;
                } else if upper {
                    camel.extend(ch.to_uppercase());
                    upper = false;
                } else {
                    camel.push(ch);
                }
            }
            let mut pascal: String = camel.chars().take(1).flat_map(char::to_uppercase).collect();
            pascal.extend(camel.chars().skip(1));
            keys.push(camel);
            keys.push(pascal);
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// Strings that mean something to the parsers: states, dates, numbers, ids, plus anything.
fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Succeeded".to_string()),
        Just("Running".to_string()),
        Just("Stopped".to_string()),
        Just("finished".to_string()),
        Just("failed".to_string()),
        Just("Started".to_string()),
        Just("2026-11-22T21:00:00Z".to_string()),
        Just("1e400".to_string()),
        Just("-1".to_string()),
        Just(String::new()),
        "[0-9a-f-]{0,40}",
        any::<String>(),
    ]
}

fn arb_json(keys: Vec<String>) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        arb_string().prop_map(Value::String),
    ];
    let key = prop_oneof![
        4 => proptest::sample::select(keys),
        1 => any::<String>(),
    ];
    leaf.prop_recursive(5, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
    .boxed()
}

/// Decodes `bytes` and `value` as `T`. Whatever decodes must encode and decode back to the same
/// value: the operator writes what it read back to Mendix (a Private Cloud manifest PUT), so a
/// field that does not survive the trip would be lost or changed there.
fn decode<T>(bytes: &[u8], value: &Value) -> Vec<T>
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let mut out = Vec::new();
    if let Ok(t) = serde_json::from_slice::<T>(bytes) {
        out.push(t);
    }
    if let Ok(t) = serde_json::from_value::<T>(value.clone()) {
        out.push(t);
    }
    for t in &out {
        let encoded = serde_json::to_value(t).expect("what decodes encodes");
        let again: T = serde_json::from_value(encoded.clone())
            .unwrap_or_else(|err| panic!("{encoded} does not decode again: {err}"));
        assert_eq!(
            &again, t,
            "a round trip through {encoded} changed the value"
        );
    }
    out
}

/// The tags `parse_tags` reads are exactly the strings of the answer: every tag it returns is
/// one of them, and it refuses (None) an answer with an item it cannot read.
fn tags_come_from_the_answer(value: &Value) {
    let Some(tags) = v1::parse_tags(value) else {
        return;
    };
    let text = value.to_string();
    for tag in &tags {
        let quoted = serde_json::to_string(tag).expect("a string encodes");
        assert!(text.contains(&quoted), "tag {quoted} is not in {text}");
    }
    if let Value::Array(items) = value {
        assert_eq!(tags.len(), items.len(), "one tag per item of {text}");
    }
}

/// Every response type of both APIs, and the helpers the controllers call on them.
fn every_wire_type(bytes: &[u8], value: &Value) {
    // Mendix Cloud v1.
    decode::<v1::Package>(bytes, value);
    decode::<Vec<v1::Package>>(bytes, value);
    decode::<v1::PackageStatus>(bytes, value);
    decode::<v1::PackageUrl>(bytes, value);
    decode::<v1::App>(bytes, value);
    decode::<Vec<v1::App>>(bytes, value);
    decode::<v1::Environment>(bytes, value);
    decode::<Vec<v1::Environment>>(bytes, value);
    decode::<v1::EnvironmentStatus>(bytes, value);
    decode::<v1::StartJob>(bytes, value);
    decode::<v1::StartJobState>(bytes, value);
    decode::<v1::StartJobStatus>(bytes, value);
    decode::<v1::Settings>(bytes, value);
    for mut constant in decode::<v1::Constant>(bytes, value) {
        // Constant values may be secrets: their Debug form never shows them, whatever else the
        // constant holds.
        constant.value = Some("value-marker-5c1e".into());
        let debug = format!("{constant:?}");
        assert!(!debug.contains("value-marker-5c1e"), "{debug}");
    }
    decode::<v1::CustomSetting>(bytes, value);
    decode::<v1::ScheduledEvent>(bytes, value);
    decode::<v1::LogDownload>(bytes, value);
    tags_come_from_the_answer(value);
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        tags_come_from_the_answer(&v);
    }
    // Private Cloud v4.
    for job in decode::<v4::Job>(bytes, value) {
        let failed = job.status == v4::JobStatus::Failed;
        assert_eq!(
            job.is_done(),
            failed || job.status == v4::JobStatus::Finished,
            "{job:?}"
        );
        assert_eq!(job.failure_message().is_some(), failed, "{job:?}");
    }
    decode::<v4::JobStatus>(bytes, value);
    decode::<v4::JobHandle>(bytes, value);
    decode::<v4::JobError>(bytes, value);
    decode::<v4::JobLog>(bytes, value);
    decode::<v4::Package>(bytes, value);
    decode::<v4::PackageUrl>(bytes, value);
    decode::<v4::PackageEnvelope>(bytes, value);
    decode::<v4::PackagePage>(bytes, value);
    decode::<v4::AppManifest>(bytes, value);
    decode::<v4::AppsPage>(bytes, value);
    for manifest in decode::<v4::EnvironmentManifest>(bytes, value) {
        container_state_is_read_strictly(&manifest.environment.container);
    }
    for container in decode::<v4::Container>(bytes, value) {
        container_state_is_read_strictly(&container);
    }
    decode::<v4::EnvironmentsPage>(bytes, value);
    decode::<v4::ClusterManifest>(bytes, value);
    decode::<v4::ClustersPage>(bytes, value);
    decode::<v4::NamespaceManifest>(bytes, value);
    decode::<v4::NamespacesPage>(bytes, value);
}

/// Only the three documented words mean something; anything else (absent, new, misspelt) is
/// Unknown, which is never taken for Ready.
fn container_state_is_read_strictly(container: &v4::Container) {
    let expected = match container.state.as_deref() {
        Some("Ready") => v4::ContainerState::Ready,
        Some("Processing") => v4::ContainerState::Processing,
        Some("Failed") => v4::ContainerState::Failed,
        _ => v4::ContainerState::Unknown,
    };
    assert_eq!(container.state(), expected, "{:?}", container.state);
}

/// Every string in a JSON value.
fn string_leaves(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().flat_map(string_leaves).collect(),
        Value::Object(map) => map.values().flat_map(string_leaves).collect(),
        _ => vec![],
    }
}

const API_KEY: &str = "26587896-1cef-4483-accf-ad304e2673d6";
const PAT: &str = "sandbox-pat-all-scopes-7f3c9e21b5d84a06";

/// The error path: the body parser, and the typed error built from a whole answer.
fn error_answer(bytes: &[u8], status: u16, secret: &str) {
    // A code the body parser reads is a string of the JSON body; a body that is not JSON has
    // none.
    let body = parse_error_body(bytes);
    if let Some(code) = &body.code {
        let json: Value = serde_json::from_slice(bytes)
            .unwrap_or_else(|_| panic!("code {code} read from a body that is not JSON"));
        assert!(
            string_leaves(&json).contains(&code.as_str()),
            "code {code} is not a string of {json}"
        );
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    for api in [Api::CloudDeployV1, Api::PrivateCloudDeployV4] {
        let err = from_error_response(api, "fuzz", status, None, bytes, &[secret, API_KEY, PAT]);
        let text = format!("{err} {err:?}");
        // The status is kept, and an outage or a rate limit is always retried.
        assert_eq!(err.status(), Some(status), "{text}");
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            assert_ne!(err.class(), ErrorClass::Terminal, "{text}");
        }
        assert!(
            !err.metric_label().is_empty() && err.metric_label().len() <= 64,
            "{}",
            err.metric_label()
        );
        for s in [secret, API_KEY, PAT] {
            assert!(!text.contains(s), "credential in error text: {text}");
        }
    }
}

/// Bodies that hold a credential where Mendix might echo one: in the message, the code, the
/// invalid-params reasons, or the raw text.
fn echoing_body() -> impl Strategy<Value = (Vec<u8>, String)> {
    let secret = "[A-Za-z0-9-]{4,40}";
    (secret, any::<String>(), 0..4usize).prop_map(|(secret, noise, shape)| {
        let body = match shape {
            0 => serde_json::json!({"errorCode": secret, "errorMessage": format!("{noise}{secret}{noise}")}).to_string(),
            1 => serde_json::json!({"error": {"code": 403, "message": noise,
                "invalid-params": [{"name": secret, "reason": format!("bad {secret}")}]}}).to_string(),
            2 => format!("{noise} {secret} {noise}"),
            _ => serde_json::json!({"message": format!("{}{secret}", "x".repeat(600))}).to_string(),
        };
        (body.into_bytes(), secret)
    })
}

fn example(file: &str) -> Value {
    let path = format!("{}/deploy/examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("example file");
    serde_yaml::from_str(&text).expect("example YAML")
}

/// Every path (as JSON pointer segments) of a value, the root included.
fn paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                prefix.push(k.clone());
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                prefix.push(i.to_string());
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn pointer(segments: &[String]) -> String {
    segments
        .iter()
        .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// A mutation of a valid manifest: a value replaced, a key removed, or a key added.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(Index, Value),
    Remove(Index),
    Insert(Index, String, Value),
}

fn mutate(mut obj: Value, mutations: &[Mutation]) -> Value {
    for m in mutations {
        let mut all = Vec::new();
        paths(&obj, &mut Vec::new(), &mut all);
        match m {
            Mutation::Replace(i, v) => {
                let p = pointer(i.get::<Vec<String>>(&all));
                if let Some(slot) = obj.pointer_mut(&p) {
                    *slot = v.clone();
                }
            }
            Mutation::Remove(i) => {
                let segments = i.get::<Vec<String>>(&all).clone();
                if let Some((last, parent)) = segments.split_last()
                    && let Some(Value::Object(map)) = obj.pointer_mut(&pointer(parent))
                {
                    map.remove(last);
                }
            }
            Mutation::Insert(i, k, v) => {
                if let Some(Value::Object(map)) =
                    obj.pointer_mut(&pointer(i.get::<Vec<String>>(&all)))
                {
                    map.insert(k.clone(), v.clone());
                }
            }
        }
    }
    obj
}

fn arb_mutations(keys: Vec<String>) -> impl Strategy<Value = Vec<Mutation>> {
    let value = arb_json(keys.clone());
    let mutation = prop_oneof![
        (any::<Index>(), value.clone()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        any::<Index>().prop_map(Mutation::Remove),
        (any::<Index>(), proptest::sample::select(keys), value)
            .prop_map(|(i, k, v)| Mutation::Insert(i, k, v)),
    ];
    prop::collection::vec(mutation, 1..5)
}

/// The real API server's answer to a dry-run create of `obj`: the object as it would store it
/// (pruned and defaulted), or `None` when it refuses it.
async fn admitted(h: &mendix_testkit::Harness, obj: &Value) -> Option<Value> {
    let resource = match obj["kind"].as_str() {
        Some("MendixPackage") => ApiResource::erase::<MendixPackage>(&()),
        _ => ApiResource::erase::<MendixEnvironment>(&()),
    };
    let object: DynamicObject = serde_json::from_value(obj.clone()).ok()?;
    let api: KubeApi<DynamicObject> = KubeApi::namespaced_with(h.client.clone(), &h.ns, &resource);
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    match api.create(&dry_run, &object).await {
        Ok(stored) => Some(serde_json::to_value(stored).expect("JSON")),
        Err(kube::Error::Api(status)) if (400..500).contains(&status.code) => None,
        Err(e) => panic!("the API server did not answer: {e}"),
    }
}

/// Whatever the real API server admits of a mutated example, the operator decodes: one object
/// it cannot decode would otherwise be a resource nobody can manage.
#[test]
fn what_the_real_api_server_admits_the_operator_decodes() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let h = runtime.block_on(mendix_testkit::Harness::new());
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(96);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        ..ProptestConfig::default()
    });
    let admitted_count = std::cell::Cell::new(0u32);
    let strategy = (0..4usize, arb_mutations(wire_keys()));
    runner
        .run(&strategy, |(which, mutations)| {
            let (file, kind) = [
                ("mendix-cloud-package.yaml", "MendixPackage"),
                ("private-cloud-package.yaml", "MendixPackage"),
                ("mendix-cloud-environment.yaml", "MendixEnvironment"),
                ("private-cloud-environment.yaml", "MendixEnvironment"),
            ][which];
            let mut mutated = mutate(example(file), &mutations);
            if !mutated.is_object() {
                // A manifest that is not an object never reaches a decoder of the operator.
                return Ok(());
            }
            // The name and kind stay; everything else is fair game.
            mutated["apiVersion"] = "mendixops.io/v1alpha1".into();
            mutated["kind"] = kind.into();
            if !mutated["metadata"].is_object() {
                mutated["metadata"] = serde_json::json!({});
            }
            mutated["metadata"]["name"] = "fuzzed".into();
            mutated["metadata"]["namespace"] = h.ns.clone().into();
            if let Some(stored) = runtime.block_on(admitted(&h, &mutated)) {
                admitted_count.set(admitted_count.get() + 1);
                let decoded = match kind {
                    "MendixPackage" => {
                        serde_json::from_value::<MendixPackage>(stored.clone()).map(drop)
                    }
                    _ => serde_json::from_value::<MendixEnvironment>(stored.clone()).map(drop),
                };
                prop_assert!(
                    decoded.is_ok(),
                    "admitted but not decodable ({decoded:?}):\n{stored:#}"
                );
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    println!(
        "{} of {cases} mutated examples admitted and decoded",
        admitted_count.get()
    );
    assert!(
        admitted_count.get() > 0,
        "some mutations must be admitted to prove anything"
    );
    drop(h);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn wire_types_survive_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        every_wire_type(&bytes, &Value::Null);
        error_answer(&bytes, 500, "not-in-there");
        if let Ok(text) = std::str::from_utf8(&bytes) {
            retry_after_is_usable(text);
        }
    }

    #[test]
    fn wire_types_survive_arbitrary_json(value in arb_json(wire_keys())) {
        let bytes = serde_json::to_vec(&value).expect("JSON encodes");
        every_wire_type(&bytes, &value);
        error_answer(&bytes, 404, "not-in-there");
    }

    #[test]
    fn error_bodies_never_carry_a_credential(
        (body, secret) in echoing_body(),
        status in 400u16..600,
    ) {
        error_answer(&body, status, &secret);
    }

    #[test]
    fn retry_after_parses_any_header_value(
        text in prop_oneof![
            any::<String>(),
            any::<f64>().prop_map(|f| f.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            "[0-9]{1,30}(\\.[0-9]{0,10})?(e[0-9]{1,3})?",
            Just("Sun, 22 Nov 2026 21:00:00 GMT".to_string()),
            Just("Fri, 31 Dec 9999 23:59:59 GMT".to_string()),
        ],
    ) {
        retry_after_is_usable(&text);
    }

    #[test]
    fn crd_types_survive_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        crd_round_trip::<MendixPackage>(&bytes);
        crd_round_trip::<MendixEnvironment>(&bytes);
    }
}

/// A Retry-After the parser accepts is a wait a clock can add: whole seconds are read exactly,
/// a negative or non-finite number is refused.
fn retry_after_is_usable(text: &str) {
    let parsed = parse_retry_after(text, SystemTime::now());
    if let Some(wait) = parsed {
        assert!(
            SystemTime::now().checked_add(wait).is_some(),
            "{text:?} gives a wait no clock can add: {wait:?}"
        );
    }
    if let Ok(seconds) = text.trim().parse::<u64>() {
        let exact = Duration::from_secs(seconds);
        let expected = SystemTime::now().checked_add(exact).map(|_| exact);
        assert_eq!(parsed, expected, "{text:?}");
    }
    if let Ok(number) = text.trim().parse::<f64>()
        && (number < 0.0 || !number.is_finite())
    {
        assert_eq!(parsed, None, "{text:?}");
    }
}

/// What decodes as a CRD type (JSON or YAML) encodes to JSON that decodes to the same JSON:
/// nothing the operator reads is lost when it writes the object back.
fn crd_round_trip<K: DeserializeOwned + Serialize>(bytes: &[u8]) {
    let mut decoded: Vec<K> = serde_json::from_slice::<K>(bytes).into_iter().collect();
    if let Ok(text) = std::str::from_utf8(bytes) {
        decoded.extend(serde_yaml::from_str::<K>(text));
    }
    for object in decoded {
        let once = serde_json::to_value(&object).expect("a decoded object encodes");
        let again: K = serde_json::from_value(once.clone())
            .unwrap_or_else(|err| panic!("{once} does not decode again: {err}"));
        let twice = serde_json::to_value(&again).expect("encodes");
        assert_eq!(once, twice, "a round trip changed the object");
    }
}

/// Found by the properties above: a `Retry-After` too large for a `Duration` must not panic,
/// and one too large for a clock is ignored.
#[test]
fn huge_retry_after_values_do_not_panic() {
    for text in [
        "1e300",
        "18446744073709551616",
        "1e20",
        "inf",
        "NaN",
        "-0.5",
    ] {
        retry_after_is_usable(text);
    }
    assert_eq!(parse_retry_after("1e300", SystemTime::now()), None);
    assert_eq!(
        parse_retry_after("13314252612028425779", SystemTime::now()),
        None
    );
}

// ---------------------------------------------------------------------------------------------
// The whole client path over loopback HTTP: arbitrary status, headers and body for every read
// of both APIs. No panic, and no credential in any error, even when the server echoes them.
// ---------------------------------------------------------------------------------------------

mod http {
    use std::sync::{Arc, LazyLock, Mutex};
    use std::time::Duration;

    use axum::http::{HeaderValue, StatusCode};
    use axum::response::{IntoResponse, Response};
    use mendix_client::ErrorClass;
    use mendix_client::{
        CloudCredentials, HostLimits, Mendix, MendixConfig, MendixError, Pat, RetryPolicy,
    };

    /// What the fake Mendix answers to every request.
    #[derive(Clone, Debug, Default)]
    pub struct Answer {
        pub status: u16,
        pub retry_after: Option<String>,
        pub location: Option<String>,
        pub json_content_type: bool,
        pub body: Vec<u8>,
    }

    pub struct Server {
        pub runtime: tokio::runtime::Runtime,
        pub answer: Arc<Mutex<Answer>>,
        pub mendix: Mendix,
    }

    pub static SERVER: LazyLock<Server> = LazyLock::new(|| {
        mendix_client::install_crypto_provider();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let answer = Arc::new(Mutex::new(Answer::default()));
        let served = answer.clone();
        let addr = runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            let app = axum::Router::new().fallback(move || {
                let a = served.lock().expect("answer").clone();
                async move { respond(a) }
            });
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            addr
        });
        let base = |path: &str| url::Url::parse(&format!("http://{addr}{path}")).expect("url");
        let config = MendixConfig {
            retry: RetryPolicy {
                max_attempts: 1,
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(1),
                max_retry_after: Duration::from_millis(1),
            },
            request_timeout: Duration::from_secs(2),
            // No politeness towards a fake server: the rate limit would dominate the run time.
            limits: HostLimits {
                max_in_flight: 8,
                requests_per_second: 0.0,
                burst: 8,
            },
            page_size: 2,
            ..MendixConfig::default()
        }
        .with_urls(base("/api/1"), base("/api/v4"));
        let mendix = Mendix::new(config).expect("client");
        Server {
            runtime,
            answer,
            mendix,
        }
    });

    fn respond(a: Answer) -> Response {
        let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::OK);
        let mut response = (status, a.body).into_response();
        let headers = response.headers_mut();
        if a.json_content_type {
            headers.insert("content-type", HeaderValue::from_static("application/json"));
        }
        for (name, value) in [("retry-after", a.retry_after), ("location", a.location)] {
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                headers.insert(name, v);
            }
        }
        response
    }

    /// Every read of the four APIs against the current answer; the text of every error, with
    /// whether it came from a Mendix Cloud v1 call (which sends the API key, never the PAT).
    pub fn call_everything(api_key: &str, pat: &str) -> Vec<(bool, String)> {
        let server = &*SERVER;
        let credentials = CloudCredentials::new("someone@example.com", api_key);
        let pat = Pat::new(pat);
        let build = server.mendix.cloud_build(&credentials);
        let deploy = server.mendix.cloud_deploy(&credentials);
        let pc_build = server.mendix.pc_build(&pat);
        let pc_deploy = server.mendix.pc_deploy(&pat);
        server.runtime.block_on(async {
            let mut errors: Vec<(bool, Option<MendixError>)> = vec![
                (true, build.list_packages("calc").await.err()),
                (true, build.get_package("calc", "p-1", true).await.err()),
                (true, deploy.list_environments("calc").await.err()),
                (true, deploy.get_environment("calc", "Test").await.err()),
                (
                    true,
                    deploy.start_status("calc", "Test", "job-1").await.err(),
                ),
                (
                    true,
                    deploy.environment_package("calc", "Test", true).await.err(),
                ),
                (true, deploy.get_settings("calc", "Test").await.err()),
                (true, deploy.get_tags("calc", "Test").await.err()),
                (true, deploy.stop("calc", "Test").await.err()),
                (false, pc_build.get_job("job-1").await.err()),
                (false, pc_build.list_packages("app-1").await.err()),
                (
                    false,
                    pc_build.get_package("app-1", "p-1", true, true).await.err(),
                ),
                (
                    false,
                    pc_deploy
                        .get_environment("app-1", "ns-1", "env-1")
                        .await
                        .err(),
                ),
                (false, pc_deploy.list_environments("app-1").await.err()),
                (false, pc_deploy.list_apps().await.err()),
                (false, pc_deploy.list_clusters().await.err()),
                (
                    false,
                    pc_deploy.list_namespaces("cluster-1", true).await.err(),
                ),
            ];
            errors
                .drain(..)
                .filter_map(|(v1, e)| e.map(|e| (v1, e)))
                .map(|(v1, e)| {
                    // The helpers the controllers decide by agree with each other.
                    assert_eq!(e.is_transient(), e.class() == ErrorClass::Transient);
                    assert_eq!(
                        e.is_not_found(),
                        e.status() == Some(StatusCode::NOT_FOUND),
                        "{e:?}"
                    );
                    if e.status().is_some_and(|s| s.is_server_error()) {
                        assert_ne!(e.class(), ErrorClass::Terminal, "{e:?}");
                    }
                    assert!(!e.metric_label().is_empty());
                    (v1, format!("{e} | {e:?}"))
                })
                .collect()
        })
    }
}

/// An answer: any status, sometimes a Retry-After or Location, and a body that is noise, JSON
/// of the wire shapes, or JSON that echoes the credentials in its fields.
fn arb_answer() -> impl Strategy<Value = (http::Answer, String, String)> {
    let api_key = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}";
    let pat = "pat-[A-Za-z0-9]{20,40}";
    let status = prop_oneof![
        Just(200u16),
        Just(201),
        Just(202),
        Just(204),
        Just(400),
        Just(401),
        Just(403),
        Just(404),
        Just(409),
        Just(429),
        Just(500),
        Just(503),
        200u16..600,
    ];
    let header = prop::option::of(prop_oneof![
        any::<String>(),
        "[0-9]{1,25}",
        Just("1e300".to_string()),
        Just("/api/v4/jobs/j-1".to_string()),
    ]);
    (
        api_key,
        pat,
        status,
        header.clone(),
        header,
        any::<bool>(),
        arb_json(wire_keys()),
        prop::collection::vec(any::<u8>(), 0..256),
        0..4usize,
    )
        .prop_map(
            |(key, pat, status, retry_after, location, json_type, json, noise, shape)| {
                let body = match shape {
                    0 => noise,
                    1 => serde_json::to_vec(&json).expect("JSON"),
                    // The credentials where a string is expected and where a number is.
                    2 => serde_json::json!({
                        "errorCode": key, "errorMessage": format!("bad key {key} / {pat}"),
                        "PackageId": key, "Size": pat, "Status": key, "status": pat,
                        "error": {"message": pat, "invalid-params": [{"name": "pat", "reason": pat}]},
                        "job": {"id": key, "status": pat}, "environments": pat,
                    })
                    .to_string()
                    .into_bytes(),
                    _ => format!("{key} {pat}").into_bytes(),
                };
                (
                    http::Answer {
                        status,
                        retry_after,
                        location,
                        json_content_type: json_type,
                        body,
                    },
                    key,
                    pat,
                )
            },
        )
}

fn http_config() -> ProptestConfig {
    let base = config();
    ProptestConfig {
        cases: (base.cases / 4).max(8),
        ..base
    }
}

proptest! {
    #![proptest_config(http_config())]

    #[test]
    fn clients_survive_arbitrary_answers_and_never_echo_credentials(
        (answer, api_key, pat) in arb_answer(),
    ) {
        *http::SERVER.answer.lock().expect("answer") = answer;
        // Each client scrubs the credential it sent.
        for (v1, text) in http::call_everything(&api_key, &pat) {
            let sent = if v1 { &api_key } else { &pat };
            prop_assert!(!text.contains(sent.as_str()), "credential in error: {text}");
        }
    }
}
