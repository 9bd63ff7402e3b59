//! Credentials never leak: flows of both controllers on both platforms (builds, deploys with a
//! Secret-sourced constant, and the failure paths where leaks usually hide: wrong API key, PAT
//! without a scope) run with every log level up to trace captured, and no credential value
//! (API key, PAT, Secret-sourced constant value, the password and signature of an upload URL)
//! may appear in the logs, in any Kubernetes Event, or in any status.

use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event;
use kube::api::Api;
use mendix_operator::crd::{MendixEnvironment, MendixPackage};
use mendix_sandbox::demo;
use mendix_testkit::*;

const WRONG_API_KEY: &str = "c0ffee00-dead-4bee-8f00-123456789abc";
const CONSTANT_SECRET_VALUE: &str = "https://user:s3cr3t-constant-value@api.example.com";

/// Each package gets its own version: a package of the same app and version that already
/// exists in Mendix is taken as this one's (that is how a lost build answer is found again).
fn package(name: &str, platform: &str, app: &str, secret: &str, version: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixPackage
metadata: {{name: {name}}}
spec:
  target: {{{platform}: {{appId: {app}}}}}
  credentialsSecretRef: {{name: {secret}}}
  source: {{build: {{branch: main, revision: {rev}, version: {version}}}}}
",
        rev = demo::GOOD_REVISION
    )
}

const URL_PASSWORD: &str = "upl0ad-url-password";
const URL_SIGNATURE: &str = "upl0ad-url-signature-token";

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    listener.local_addr().expect("addr").port()
}

const SECRET_CONSTANT: &str = "  constants:
  - name: MyFirstModule.ApiUrl
    valueFrom: {secretKeyRef: {name: api-url, key: url}}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_in_logs_events_or_status() {
    // Logs at trace are scanned by the harness (mendix_testkit::leaks) for these values too.
    leaks::install();
    for (what, value) in [
        ("wrong API key", WRONG_API_KEY),
        ("Secret-sourced constant value", CONSTANT_SECRET_VALUE),
        ("Secret-sourced constant password", "s3cr3t-constant-value"),
        ("upload URL password", URL_PASSWORD),
        ("upload URL signature", URL_SIGNATURE),
    ] {
        leaks::watch(what, value);
    }
    let h = Harness::started().await;
    h.put_secret("api-url", &[("url", CONSTANT_SECRET_VALUE)])
        .await;
    h.put_secret(
        "cloud-wrong-key",
        &[
            ("username", demo::CLOUD_USERNAME),
            ("apiKey", WRONG_API_KEY),
        ],
    )
    .await;
    h.put_secret("pc-read-only", &[("pat", demo::PC_PAT_READ_ONLY)])
        .await;

    // Mendix Cloud: build, deploy with a Secret-sourced constant; a wrong API key.
    h.create::<MendixPackage>(&package(
        "cloud-pkg",
        "mendixCloud",
        demo::CLOUD_APP_ID,
        CLOUD_SECRET,
        "1.0.1",
    ))
    .await;
    h.create::<MendixPackage>(&package(
        "cloud-wrong",
        "mendixCloud",
        demo::CLOUD_APP_ID,
        "cloud-wrong-key",
        "1.0.2",
    ))
    .await;
    h.create::<MendixEnvironment>(&format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: cloud-env}}
spec:
  target: {{mendixCloud: {{appId: {app}, mode: Test}}}}
  credentialsSecretRef: {{name: {CLOUD_SECRET}}}
  packageRef: {{name: cloud-pkg}}
{SECRET_CONSTANT}",
        app = demo::CLOUD_APP_ID
    ))
    .await;
    // Private Cloud: build, deploy with a Secret-sourced constant; a PAT without write scopes.
    h.create::<MendixPackage>(&package(
        "pc-pkg",
        "privateCloud",
        demo::PC_APP_ID,
        PC_SECRET,
        "1.0.3",
    ))
    .await;
    h.create::<MendixPackage>(&package(
        "pc-read-only",
        "privateCloud",
        demo::PC_APP_ID,
        "pc-read-only",
        "1.0.4",
    ))
    .await;
    h.create::<MendixEnvironment>(&format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: pc-env}}
spec:
  target: {{privateCloud: {{appId: {app}, namespaceId: {ns}, environmentId: {env}}}}}
  credentialsSecretRef: {{name: {PC_SECRET}}}
  packageRef: {{name: pc-pkg}}
{SECRET_CONSTANT}",
        app = demo::PC_APP_ID,
        ns = demo::PC_NAMESPACE_ID,
        env = demo::PC_ENVIRONMENT_TEST
    ))
    .await;

    // Uploads from URLs that carry a password and a signature, one served and one not.
    let served = url::Url::parse(&serve_file(an_mda(10_000)).await)
        .expect("served URL")
        .port()
        .expect("a port");
    let closed = closed_port().await;
    for (name, port) in [("upload-ok", served), ("upload-unreachable", closed)] {
        h.create::<MendixPackage>(&format!(
            "apiVersion: mendixops.io/v1alpha1
kind: MendixPackage
metadata: {{name: {name}}}
spec:
  target: {{privateCloud: {{appId: {app}}}}}
  credentialsSecretRef: {{name: {PC_SECRET}}}
  source: {{upload: {{url: 'http://builder:{URL_PASSWORD}@127.0.0.1:{port}/app.mda?sig={URL_SIGNATURE}', fileName: {name}.mda}}}}
",
            app = demo::PC_APP_ID
        ))
        .await;
    }

    h.wait_package("upload-ok", package_ready).await;
    let unreachable = h.wait_package("upload-unreachable", package_stalled).await;
    assert_eq!(
        stalled_reason_package(&unreachable),
        "UploadSourceUnreachable"
    );
    h.wait_environment("cloud-env", environment_ready).await;
    h.wait_environment("pc-env", environment_ready).await;
    let wrong = h.wait_package("cloud-wrong", package_stalled).await;
    assert_eq!(stalled_reason_package(&wrong), "InvalidCredentials");
    let read_only = h.wait_package("pc-read-only", package_stalled).await;
    assert_eq!(stalled_reason_package(&read_only), "AccessDenied");

    // The flows really used the credentials and the constant: Mendix has the value.
    let state = h.mendix.state_json().to_string();
    assert!(
        state.contains("s3cr3t-constant-value"),
        "the Secret-sourced constant reached Mendix"
    );

    // Status (and the rest of each object).
    let packages = h.packages().list(&Default::default()).await.expect("list");
    let environments = h
        .environments()
        .list(&Default::default())
        .await
        .expect("list");
    // Status only: the spec of an upload holds its URL as the user wrote it.
    let statuses: Vec<String> = packages
        .items
        .iter()
        .map(|p| serde_json::to_string(&p.status).expect("JSON"))
        .chain(
            environments
                .items
                .iter()
                .map(|e| serde_json::to_string(&e.status).expect("JSON")),
        )
        .collect();
    let objects = statuses.join("\n");
    assert!(objects.contains("InvalidCredentials"), "statuses were read");

    // Events, in both APIs the sandbox serves.
    let events: Api<Event> = Api::namespaced(h.client.clone(), &h.ns);
    let events = events.list(&Default::default()).await.expect("events");
    let core_events: Api<CoreEvent> = Api::namespaced(h.client.clone(), &h.ns);
    let core_events = core_events
        .list(&Default::default())
        .await
        .expect("core events");
    assert!(!events.items.is_empty(), "the flows recorded Events");
    let events = format!(
        "{}\n{}",
        serde_json::to_string(&events.items).expect("JSON"),
        serde_json::to_string(&core_events.items).expect("JSON")
    );

    let (lines, trace_lines) = leaks::lines_scanned();
    assert!(
        trace_lines > 100,
        "trace logs were scanned ({lines} lines, {trace_lines} at trace)"
    );
    leaks::assert_clean(&leaks::objects(&h.client, &h.ns).await);

    // The same through the API as kubectl would read them (core Events included).
    let mut found = leaks::find("status", &objects);
    found.extend(leaks::find("Events", &events));
    assert!(found.is_empty(), "{}", found.join("\n\n"));
}
