//! The Mendix Cloud Build and Deploy API v1 of the sandbox, over HTTP with plain reqwest:
//! field names and casing, state machines and every documented error code.

mod mendix_sandbox_support;

use mendix_sandbox::{MendixSandbox, demo};
use mendix_sandbox_support::{Sandbox, assert_v1_error, call, start, start_with};
use reqwest::Method;
use serde_json::{Value, json};

const APP: &str = demo::CLOUD_APP_ID;

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("an object: {value:?}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    names.sort();
    names
}

const PACKAGE_FIELDS: &[&str] = &[
    "PackageId",
    "Name",
    "Description",
    "Version",
    "Creator",
    "CreationDate",
    "Status",
    "Size",
];
const ENVIRONMENT_FIELDS: &[&str] = &[
    "Status",
    "EnvironmentId",
    "Mode",
    "Url",
    "ModelVersion",
    "MendixVersion",
    "Production",
];

/// The id of the newest package uploaded as `name` (the upload answers no body).
async fn uploaded(sb: &Sandbox, name: &str) -> String {
    let list = call(sb.v1(Method::GET, &format!("/apps/{APP}/packages"))).await;
    list.1
        .as_array()
        .and_then(|all| {
            all.iter()
                .filter(|p| p["Name"] == name)
                .max_by_key(|p| p["CreationDate"].as_i64())
        })
        .and_then(|p| p["PackageId"].as_str())
        .unwrap_or_else(|| panic!("{name} listed: {:?}", list.1))
        .to_string()
}

async fn build(sb: &Sandbox, revision: &str, version: &str) -> String {
    let answer = call(sb.v1(Method::POST, &format!("/apps/{APP}/packages")).json(&json!({
        "Branch": demo::GOOD_BRANCH, "Revision": revision, "Version": version, "Description": "test build",
    })))
    .await;
    assert_eq!(answer.0, 200, "{:?}", answer.1);
    assert_eq!(keys(&answer.1), vec!["PackageId".to_string()]);
    answer.1["PackageId"]
        .as_str()
        .expect("PackageId")
        .to_string()
}

async fn package_status(sb: &Sandbox, package_id: &str) -> String {
    let answer = call(sb.v1(Method::GET, &format!("/apps/{APP}/packages/{package_id}"))).await;
    assert_eq!(answer.0, 200, "{:?}", answer.1);
    answer.1["Status"].as_str().expect("Status").to_string()
}

async fn transport(sb: &Sandbox, mode: &str, package_id: &str) -> (u16, Value) {
    call(
        sb.v1(
            Method::POST,
            &format!("/apps/{APP}/environments/{mode}/transport"),
        )
        .json(&json!({ "PackageId": package_id })),
    )
    .await
}

async fn start_env(sb: &Sandbox, mode: &str, auto_sync_db: bool) -> (u16, Value) {
    call(
        sb.v1(
            Method::POST,
            &format!("/apps/{APP}/environments/{mode}/start"),
        )
        .json(&json!({ "AutoSyncDb": auto_sync_db })),
    )
    .await
}

async fn start_status(sb: &Sandbox, mode: &str, job: &str) -> (u16, Value) {
    call(sb.v1(
        Method::GET,
        &format!("/apps/{APP}/environments/{mode}/start/{job}"),
    ))
    .await
}

async fn env_status(sb: &Sandbox, mode: &str) -> String {
    let answer = call(sb.v1(Method::GET, &format!("/apps/{APP}/environments/{mode}"))).await;
    assert_eq!(answer.0, 200, "{:?}", answer.1);
    answer.1["Status"].as_str().expect("Status").to_string()
}

/// Start `mode` and let the start job finish; returns the job's final answer.
async fn start_and_finish(sb: &Sandbox, mode: &str, auto_sync_db: bool) -> (u16, Value) {
    let started = start_env(sb, mode, auto_sync_db).await;
    assert_eq!(started.0, 200, "{:?}", started.1);
    let job = started.1["JobId"].as_str().expect("JobId").to_string();
    sb.advance(2_000);
    start_status(sb, mode, &job).await
}

#[tokio::test]
async fn authentication_is_checked() {
    let sb = start().await;
    let anonymous = call(sb.http.get(sb.url("/api/1/apps"))).await;
    assert_v1_error(&anonymous, 401, "UNAUTHORIZED");
    let wrong_key = call(
        sb.http
            .get(sb.url("/api/1/apps"))
            .header("Mendix-Username", demo::CLOUD_USERNAME)
            .header("Mendix-ApiKey", "not-the-key"),
    )
    .await;
    assert_v1_error(&wrong_key, 401, "UNAUTHORIZED");
    assert!(
        !wrong_key.1.to_string().contains(demo::CLOUD_API_KEY),
        "no secret in errors"
    );
}

#[tokio::test]
async fn apps_have_the_documented_fields_and_errors() {
    let sb = start().await;
    let apps = call(sb.v1(Method::GET, "/apps")).await;
    assert_eq!(apps.0, 200);
    let list = apps.1.as_array().expect("a list");
    assert_eq!(list.len(), 1);
    assert_eq!(
        keys(&list[0]),
        sorted(&["AppId", "Name", "ProjectId", "Url"])
    );
    assert_eq!(list[0]["AppId"], APP);

    let app = call(sb.v1(Method::GET, &format!("/apps/{APP}"))).await;
    assert_eq!(app.0, 200);
    assert_eq!(app.1, list[0]);
    assert_v1_error(
        &call(sb.v1(Method::GET, "/apps/nope")).await,
        404,
        "APP_NOT_FOUND",
    );
    assert_v1_error(
        &call(sb.v1(Method::GET, "/apps/bad.app")).await,
        400,
        "INVALID_APPID",
    );

    // Create Free App Environment.
    let invalid = call(
        sb.v1(Method::POST, "/apps")
            .json(&json!({"ProjectId": "x"})),
    )
    .await;
    assert_v1_error(&invalid, 400, "INVALID_PROJECTID");
    let project = "f5129445-b638-42f4-8108-5f370c85dc57";
    let created = call(
        sb.v1(Method::POST, "/apps")
            .json(&json!({"ProjectId": project})),
    )
    .await;
    assert_eq!(created.0, 200, "{:?}", created.1);
    assert_eq!(
        keys(&created.1),
        sorted(&["AppId", "Name", "ProjectId", "Url"])
    );
    let again = call(
        sb.v1(Method::POST, "/apps")
            .json(&json!({"ProjectId": project})),
    )
    .await;
    assert_v1_error(&again, 400, "APPLICATION_ALREADY_EXISTS");
}

#[tokio::test]
async fn environments_have_the_documented_fields_and_errors() {
    let sb = start().await;
    let envs = call(sb.v1(Method::GET, &format!("/apps/{APP}/environments"))).await;
    assert_eq!(envs.0, 200);
    let envs = envs.1.as_array().expect("a list").clone();
    let modes: Vec<&str> = envs.iter().filter_map(|e| e["Mode"].as_str()).collect();
    assert_eq!(modes, ["Test", "Acceptance", "Production"]);
    for env in &envs {
        assert_eq!(keys(env), sorted(ENVIRONMENT_FIELDS));
        assert_eq!(env["Status"], "Stopped");
        assert_eq!(env["Production"], env["Mode"] == "Production");
    }
    // Modes are matched without regard to case, as the docs' examples mix them.
    let one = call(sb.v1(Method::GET, &format!("/apps/{APP}/environments/acceptance"))).await;
    assert_eq!(one.1, envs[1]);
    let missing = call(sb.v1(Method::GET, &format!("/apps/{APP}/environments/Staging"))).await;
    assert_v1_error(&missing, 404, "ENVIRONMENT_NOT_FOUND");
    let invalid = call(sb.v1(Method::GET, &format!("/apps/{APP}/environments/a.b"))).await;
    assert_v1_error(&invalid, 400, "INVALID_ENVIRONMENT");
    let blank = call(sb.v1(Method::GET, &format!("/apps/{APP}/environments/%20"))).await;
    assert_v1_error(&blank, 400, "INVALID_PARAMETERS");
}

#[tokio::test]
async fn builds_go_queued_building_succeeded_and_fresh_packages_are_still_processed() {
    let sb = start().await;
    let package = build(&sb, demo::GOOD_REVISION, "2.5.4").await;
    assert_eq!(package_status(&sb, &package).await, "Queued");
    // A package that is not built yet cannot be transported (still being processed).
    assert_v1_error(
        &transport(&sb, "Test", &package).await,
        503,
        "SERVICE UNAVAILABLE",
    );
    sb.advance(250);
    assert_eq!(package_status(&sb, &package).await, "Building");
    sb.advance(2_000);
    assert_eq!(package_status(&sb, &package).await, "Succeeded");

    let got = call(sb.v1(Method::GET, &format!("/apps/{APP}/packages/{package}"))).await;
    assert_eq!(keys(&got.1), sorted(PACKAGE_FIELDS));
    assert_eq!(got.1["Version"], "2.5.4.10");
    assert_eq!(got.1["Description"], "test build");
    assert!(got.1["CreationDate"].is_i64() && got.1["Size"].is_u64());

    // Just built: 503 for mdaProcessingMs, then the transport goes through.
    assert_v1_error(
        &transport(&sb, "Test", &package).await,
        503,
        "SERVICE UNAVAILABLE",
    );
    sb.advance(400);
    let done = transport(&sb, "Test", &package).await;
    assert_eq!(done.0, 200, "{:?}", done.1);
    let env = call(sb.v1(Method::GET, &format!("/apps/{APP}/environments/Test"))).await;
    assert_eq!(env.1["ModelVersion"], "2.5.4.10");

    let list = call(sb.v1(Method::GET, &format!("/apps/{APP}/packages"))).await;
    assert_eq!(list.0, 200);
    let list = list.1.as_array().expect("a list");
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|p| keys(p) == sorted(PACKAGE_FIELDS)));
}

#[tokio::test]
async fn failing_revisions_fail_and_cannot_be_transported() {
    let sb = start().await;
    let package = build(&sb, demo::FAILING_REVISION, "1.0.0").await;
    sb.advance(5_000);
    assert_eq!(package_status(&sb, &package).await, "Failed");
    assert_v1_error(&transport(&sb, "Test", &package).await, 403, "NOT ALLOWED");
    let download = call(sb.v1(
        Method::GET,
        &format!("/apps/{APP}/packages/{package}/download"),
    ))
    .await;
    assert_v1_error(&download, 500, "BUILD_NOT_SUCCEEDED");
}

#[tokio::test]
async fn build_requests_are_validated_as_documented() {
    let sb = start().await;
    let post = |body: Value| {
        call(
            sb.v1(Method::POST, &format!("/apps/{APP}/packages"))
                .json(&body),
        )
    };
    assert_v1_error(
        &post(json!({"Branch": "main", "Version": "1.0.0"})).await,
        400,
        "INVALID_PARAMETERS",
    );
    assert_v1_error(
        &post(json!({"Branch": "main", "Revision": demo::GOOD_REVISION, "Version": "1.0"})).await,
        400,
        "INVALID_VERSION",
    );
    assert_v1_error(
        &post(json!({"Branch": "branches/nope", "Revision": "1", "Version": "1.0.0"})).await,
        500,
        "BUILD_FAILED",
    );
    let unknown_app = call(
        sb.v1(Method::POST, "/apps/ghost/packages")
            .json(&json!({"Revision": "1", "Version": "1.0.0"})),
    )
    .await;
    assert_v1_error(&unknown_app, 404, "APP_NOT_FOUND");
    let invalid_app = call(
        sb.v1(Method::POST, "/apps/b@d/packages")
            .json(&json!({"Revision": "1", "Version": "1.0.0"})),
    )
    .await;
    assert_v1_error(&invalid_app, 400, "INVALID_APPID");
    assert_v1_error(
        &call(sb.v1(Method::GET, "/apps/ghost/packages")).await,
        400,
        "INVALID_APPID",
    );
    // Short hashes are accepted.
    build(&sb, &demo::GOOD_REVISION[..7], "1.0.1").await;
}

#[tokio::test]
async fn package_urls_download_and_delete() {
    let sb = start().await;
    let existing = demo::CLOUD_EXISTING_PACKAGE_ID;
    let with_url = call(sb.v1(
        Method::GET,
        &format!("/apps/{APP}/packages/{existing}?url=true"),
    ))
    .await;
    assert_eq!(with_url.0, 200);
    assert_eq!(with_url.1["Url"]["TTL"], 900);
    let location = with_url.1["Url"]["Location"].as_str().expect("Location");
    let file = sb.http.get(location).send().await.expect("download");
    assert_eq!(file.status(), 200);
    let bytes = file.bytes().await.expect("bytes");
    assert!(bytes.starts_with(b"PK\x03\x04"));
    assert_eq!(
        bytes.len() as u64,
        with_url.1["Size"].as_u64().expect("Size")
    );
    let without = call(sb.v1(Method::GET, &format!("/apps/{APP}/packages/{existing}"))).await;
    assert!(without.1.get("Url").is_none());

    let deprecated = sb
        .v1(
            Method::GET,
            &format!("/apps/{APP}/packages/{existing}/download"),
        )
        .send()
        .await
        .expect("download");
    assert_eq!(deprecated.status(), 200);

    let missing = call(sb.v1(Method::GET, &format!("/apps/{APP}/packages/nope"))).await;
    assert_v1_error(&missing, 404, "PACKAGE_NOT_FOUND");
    let blank = call(sb.v1(Method::GET, &format!("/apps/{APP}/packages/%20"))).await;
    assert_v1_error(&blank, 400, "INVALID_PARAMETERS");

    let in_use = call(sb.v1(Method::DELETE, &format!("/apps/{APP}/packages/{existing}"))).await;
    assert_v1_error(&in_use, 409, "PACKAGE_IN_USE");
    let fresh = build(&sb, demo::GOOD_REVISION, "3.0.0").await;
    let deleted = call(sb.v1(Method::DELETE, &format!("/apps/{APP}/packages/{fresh}"))).await;
    assert_eq!(deleted.0, 200);
    let gone = call(sb.v1(Method::DELETE, &format!("/apps/{APP}/packages/{fresh}"))).await;
    assert_v1_error(&gone, 404, "PACKAGE_NOT_FOUND");
}

#[tokio::test]
async fn start_jobs_go_starting_started_and_guard_transport() {
    let sb = start().await;
    let started = start_env(&sb, "Acceptance", true).await;
    assert_eq!(started.0, 200, "{:?}", started.1);
    assert_eq!(keys(&started.1), vec!["JobId".to_string()]);
    let job = started.1["JobId"].as_str().expect("JobId").to_string();
    let status = start_status(&sb, "Acceptance", &job).await;
    assert_eq!(status, (200, json!({"Status": "Starting"})));
    assert_v1_error(
        &start_env(&sb, "Acceptance", true).await,
        500,
        "APP_ALREADY_HAS_A_STARTING_JOB",
    );
    assert_v1_error(
        &transport(&sb, "Acceptance", demo::CLOUD_EXISTING_PACKAGE_ID).await,
        403,
        "APP_IS_RUNNING",
    );
    sb.advance(1_100);
    assert_eq!(
        start_status(&sb, "Acceptance", &job).await,
        (200, json!({"Status": "Started"}))
    );
    assert_eq!(env_status(&sb, "Acceptance").await, "Running");
    assert_v1_error(
        &start_env(&sb, "Acceptance", true).await,
        500,
        "ALREADY_STARTED",
    );
    assert_v1_error(
        &transport(&sb, "Acceptance", demo::CLOUD_EXISTING_PACKAGE_ID).await,
        403,
        "APP_IS_RUNNING",
    );
    let clean = call(sb.v1(
        Method::POST,
        &format!("/apps/{APP}/environments/Acceptance/clean"),
    ))
    .await;
    assert_v1_error(&clean, 403, "ENVIRONMENT_NOT_STOPPED");
    assert_v1_error(
        &start_status(&sb, "Acceptance", "no-such-job").await,
        404,
        "NO_SUCH_STARTJOB",
    );

    let stopped = call(sb.v1(
        Method::POST,
        &format!("/apps/{APP}/environments/Acceptance/stop"),
    ))
    .await;
    assert_eq!(stopped.0, 200);
    assert_eq!(env_status(&sb, "Acceptance").await, "Stopped");
    let ok = transport(&sb, "Acceptance", demo::CLOUD_EXISTING_PACKAGE_ID).await;
    assert_eq!(ok.0, 200, "{:?}", ok.1);
    let state = sb.sandbox.state_json();
    let env = &state["cloud"]["apps"][0]["environments"][1];
    assert_eq!(
        (env["starts"].as_u64(), env["stops"].as_u64()),
        (Some(1), Some(1))
    );
    let missing = start_env(&sb, "Staging", true).await;
    assert_v1_error(&missing, 404, "ENVIRONMENT_NOT_FOUND");
    let unknown_app = call(
        sb.v1(Method::POST, "/apps/ghost/environments/Test/start")
            .json(&json!({"AutoSyncDb": true})),
    )
    .await;
    assert_v1_error(&unknown_app, 404, "APP_NOT_FOUND");
}

#[tokio::test]
async fn start_failures_are_the_documented_ones() {
    let sb = start().await;
    // A constant without a value.
    let unset = call(
        sb.v1(
            Method::POST,
            &format!("/apps/{APP}/environments/Test/settings"),
        )
        .json(&json!({"Constants": [{"Name": "MyFirstModule.ApiUrl", "Value": null}]})),
    )
    .await;
    assert_eq!(unset.0, 200, "{:?}", unset.1);
    assert_v1_error(
        &start_and_finish(&sb, "Test", true).await,
        500,
        "MISSING_CONSTANT",
    );
    assert_eq!(env_status(&sb, "Test").await, "Stopped");

    // DB_SYNC_FAILED on request, through the Rust API and through /_sim.
    assert!(
        sb.sandbox
            .fail_next_start(APP, "Acceptance", "DB_SYNC_FAILED")
    );
    assert_v1_error(
        &start_and_finish(&sb, "Acceptance", true).await,
        500,
        "DB_SYNC_FAILED",
    );
    let requested = sb
        .http
        .post(sb.url("/_sim/start-failure"))
        .json(&json!({"appId": APP, "mode": "Acceptance", "errorCode": "STARTUP_ACTION_FAILED"}))
        .send()
        .await
        .expect("sim");
    assert_eq!(requested.status(), 200);
    assert_v1_error(
        &start_and_finish(&sb, "Acceptance", true).await,
        500,
        "STARTUP_ACTION_FAILED",
    );
    // The failure is used once.
    assert_eq!(
        start_and_finish(&sb, "Acceptance", true).await.1["Status"],
        "Started"
    );

    // No package: clean, then start.
    let cleaned = call(sb.v1(
        Method::POST,
        &format!("/apps/{APP}/environments/Production/clean"),
    ))
    .await;
    assert_eq!(cleaned.0, 200, "{:?}", cleaned.1);
    assert_eq!(cleaned.1[0]["Mode"], "Production");
    assert_v1_error(
        &start_env(&sb, "Production", true).await,
        500,
        "NO_MDA_HAS_BEEN_DEPLOYED",
    );
    let again = call(sb.v1(
        Method::POST,
        &format!("/apps/{APP}/environments/Production/clean"),
    ))
    .await;
    assert_v1_error(&again, 422, "ENVIRONMENT_NOT_DEPLOYED");
    assert_eq!(env_status(&sb, "Production").await, "Empty");
    let package = call(sb.v1(
        Method::GET,
        &format!("/apps/{APP}/environments/Production/package"),
    ))
    .await;
    assert_v1_error(&package, 404, "PACKAGE_NOT_FOUND");
}

#[tokio::test]
async fn a_new_model_needs_auto_sync_db_when_the_environment_says_so() {
    let seed = include_str!("../src/demo.yaml").replace(
        "        - mode: Test\n",
        "        - mode: Test\n          requireAutoSyncDb: true\n",
    );
    let sb = start_with(MendixSandbox::from_yaml(&seed).expect("seed"), 100.0).await;
    let package = build(&sb, demo::GOOD_REVISION, "4.0.0").await;
    sb.advance(5_000);
    assert_eq!(transport(&sb, "Test", &package).await.0, 200);
    assert_v1_error(
        &start_and_finish(&sb, "Test", false).await,
        500,
        "INVALID_DB_STRUCTURE",
    );
    assert_eq!(
        start_and_finish(&sb, "Test", true).await.1["Status"],
        "Started"
    );
}

#[tokio::test]
async fn settings_keep_value_and_deployed_value_apart_until_a_restart() {
    let sb = start().await;
    let path = format!("/apps/{APP}/environments/Test/settings");
    let before = call(sb.v1(Method::GET, &path)).await;
    assert_eq!(before.0, 200);
    assert_eq!(
        keys(&before.1),
        sorted(&["Constants", "CustomSettings", "ScheduledEvents"])
    );
    assert_eq!(
        keys(&before.1["Constants"][0]),
        sorted(&["Name", "DataType", "Value", "DeployedValue"])
    );
    assert_eq!(
        keys(&before.1["ScheduledEvents"][0]),
        sorted(&["Name", "Value", "DeployedValue"])
    );

    let changed = call(sb.v1(Method::POST, &path).json(&json!({
        "Constants": [{"Name": "MyFirstModule.BooleanConstant", "Value": "true"}],
        "CustomSettings": [{"Name": "http.client.CleanupAfterSeconds", "Value": "355"}],
        "ScheduledEvents": [{"Name": "MyFirstModule.Monitor_Scheduled_event", "Value": "Enabled"}],
    })))
    .await;
    assert_eq!(changed.0, 200, "{:?}", changed.1);
    let constant = &changed.1["Constants"][0];
    assert_eq!(
        (
            constant["Value"].as_str(),
            constant["DeployedValue"].as_str()
        ),
        (Some("true"), Some("false"))
    );
    assert_eq!(changed.1["CustomSettings"][0]["Value"], "355");
    assert_eq!(changed.1["ScheduledEvents"][0]["DeployedValue"], "Disabled");

    assert_eq!(
        start_and_finish(&sb, "Test", true).await.1["Status"],
        "Started"
    );
    let after = call(sb.v1(Method::GET, &path)).await;
    assert_eq!(after.1["Constants"][0]["DeployedValue"], "true");
    // The docs show no deployed value for custom settings, and the sandbox reports none.
    assert_eq!(after.1["CustomSettings"][0]["Value"], "355");
    assert!(after.1["CustomSettings"][0].get("DeployedValue").is_none());
    assert_eq!(after.1["ScheduledEvents"][0]["DeployedValue"], "Enabled");

    let post = |body: Value| call(sb.v1(Method::POST, &path).json(&body));
    assert_v1_error(
        &post(json!({"Constants": [{"Name": "Nope.Constant", "Value": "1"}]})).await,
        400,
        "CONSTANT_NOT_FOUND",
    );
    assert_v1_error(
        &post(json!({"ScheduledEvents": [{"Name": "Nope.Event", "Value": "Enabled"}]})).await,
        400,
        "SCHEDULED_EVENT_NOT_FOUND",
    );
    assert_v1_error(
        &post(json!({"ScheduledEvents": [{"Name": "MyFirstModule.Monitor_Scheduled_event", "Value": "On"}]})).await,
        500,
        "INVALID_SCHEDULED_EVENT_PARAMETER",
    );
    assert_v1_error(
        &post(json!({"CustomSettings": [{"Name": "DatabasePassword", "Value": "x"}]})).await,
        400,
        "CUSTOM_SETTING_NOT_SUPPORTED",
    );
    let missing = call(sb.v1(
        Method::GET,
        &format!("/apps/{APP}/environments/Staging/settings"),
    ))
    .await;
    assert_v1_error(&missing, 404, "ENVIRONMENT_NOT_FOUND");
}

#[tokio::test]
async fn scaling_checks_memory_plan_and_license() {
    let sb = start().await;
    let scale = |mode: &str, body: Value| {
        call(
            sb.v1(
                Method::POST,
                &format!("/apps/{APP}/environments/{mode}/scale"),
            )
            .json(&body),
        )
    };
    let scaled = scale(
        "Acceptance",
        json!({"Instances": 2, "MemoryPerInstance": 2048}),
    )
    .await;
    assert_eq!(scaled.0, 200, "{:?}", scaled.1);
    let mut expected = sorted(ENVIRONMENT_FIELDS);
    expected.extend(["Instances", "MemoryPerInstance", "TotalMemory"].map(String::from));
    expected.sort();
    assert_eq!(keys(&scaled.1), expected);
    assert_eq!(
        (
            scaled.1["Instances"].as_u64(),
            scaled.1["MemoryPerInstance"].as_u64()
        ),
        (Some(2), Some(2048))
    );
    assert_v1_error(
        &scale(
            "Acceptance",
            json!({"Instances": 1, "MemoryPerInstance": 512}),
        )
        .await,
        400,
        "INVALID_REQUEST",
    );
    assert_v1_error(
        &scale(
            "Acceptance",
            json!({"Instances": 8, "MemoryPerInstance": 4096}),
        )
        .await,
        400,
        "INVALID_REQUEST",
    );
    assert_v1_error(
        &scale(
            "Staging",
            json!({"Instances": 1, "MemoryPerInstance": 1024}),
        )
        .await,
        404,
        "ENVIRONMENT_NOT_FOUND",
    );

    let seed = include_str!("../src/demo.yaml")
        .replace("      licensed: true\n", "      licensed: false\n");
    let unlicensed = start_with(MendixSandbox::from_yaml(&seed).expect("seed"), 100.0).await;
    let answer = call(
        unlicensed
            .v1(
                Method::POST,
                &format!("/apps/{APP}/environments/Test/scale"),
            )
            .json(&json!({"Instances": 1, "MemoryPerInstance": 1024})),
    )
    .await;
    assert_v1_error(&answer, 400, "NOT_ALLOWED");
}

#[tokio::test]
async fn tags_are_created_listed_and_deleted() {
    let sb = start().await;
    let path = format!("/apps/{APP}/environments/Test/tags");
    let created = call(sb.v1(Method::POST, &path).json(&json!({"Tag": "europe"}))).await;
    assert_eq!(created, (200, json!({"Tag": "europe"})));
    let listed = call(sb.v1(Method::GET, &path)).await;
    assert_eq!(listed, (200, json!([{"Tag": "europe"}])));
    let deleted = sb
        .v1(Method::DELETE, &path)
        .json(&json!({"Tag": "europe"}))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    assert_eq!(call(sb.v1(Method::GET, &path)).await, (200, json!([])));
    let missing = format!("/apps/{APP}/environments/Staging/tags");
    assert_v1_error(
        &call(sb.v1(Method::POST, &missing).json(&json!({"Tag": "a"}))).await,
        404,
        "NOT_FOUND",
    );
    assert_v1_error(&call(sb.v1(Method::GET, &missing)).await, 404, "NOT FOUND");
}

#[tokio::test]
async fn log_urls_point_into_the_sandbox() {
    let sb = start().await;
    for kind in ["logs", "access-logs"] {
        let answer = call(sb.v1(
            Method::GET,
            &format!("/apps/{APP}/environments/Test/{kind}/2021-06-12"),
        ))
        .await;
        assert_eq!(answer.0, 200, "{:?}", answer.1);
        assert_eq!(
            keys(&answer.1),
            sorted(&["Environment", "Date", "DownloadUrl"])
        );
        assert_eq!(answer.1["Date"], 1_623_456_000_000_i64);
        let url = answer.1["DownloadUrl"].as_str().expect("DownloadUrl");
        let log = sb.http.get(url).send().await.expect("download");
        assert_eq!(log.status(), 200);
        assert!(log.text().await.expect("text").contains("2021-06-12"));
        let missing = call(sb.v1(
            Method::GET,
            &format!("/apps/{APP}/environments/Staging/{kind}/2021-06-12"),
        ))
        .await;
        assert_v1_error(&missing, 404, "NOT FOUND");
    }
}

#[tokio::test]
async fn uploads_are_processed_before_they_can_be_transported() {
    let sb = start().await;
    let upload = |bytes: Vec<u8>| {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name("calc_1.0.0.45.mda"),
        );
        call(
            sb.v1(
                Method::POST,
                &format!("/apps/{APP}/packages/upload?name=calc_1.0.0.45.mda"),
            )
            .multipart(form),
        )
    };
    let good = upload(b"PK\x03\x04 an mda".to_vec()).await;
    assert_eq!(good.0, 200, "{:?}", good.1);
    assert_eq!(good.1, Value::Null, "the docs document no response body");
    let package = uploaded(&sb, "calc_1.0.0.45.mda").await;
    let got = call(sb.v1(Method::GET, &format!("/apps/{APP}/packages/{package}"))).await;
    assert_eq!(
        (got.1["Version"].as_str(), got.1["Size"].as_u64()),
        (Some("1.0.0.45"), Some(11))
    );
    assert_v1_error(
        &transport(&sb, "Test", &package).await,
        503,
        "SERVICE UNAVAILABLE",
    );
    sb.advance(400);
    assert_eq!(transport(&sb, "Test", &package).await.0, 200);
    let env_package = call(sb.v1(
        Method::GET,
        &format!("/apps/{APP}/environments/Test/package?url=true"),
    ))
    .await;
    assert_eq!(env_package.1["PackageId"], package.as_str());
    assert!(env_package.1["ExpiryDate"].is_null());
    let location = env_package.1["Url"]["Location"].as_str().expect("Location");
    let bytes = sb
        .http
        .get(location)
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(&bytes[..], b"PK\x03\x04 an mda");

    let not_an_mda = upload(b"hello".to_vec()).await;
    assert_eq!(not_an_mda.0, 200, "{:?}", not_an_mda.1);
    let bad = uploaded(&sb, "calc_1.0.0.45.mda").await;
    assert_ne!(bad, package, "the newer upload of the same name");
    sb.advance(400);
    assert_v1_error(&transport(&sb, "Test", &bad).await, 403, "NOT ALLOWED");
    assert_v1_error(&upload(Vec::new()).await, 500, "INVALID_PACKAGE");
    assert_v1_error(
        &transport(&sb, "Test", "nope").await,
        404,
        "PACKAGE_NOT_FOUND",
    );
    let no_package = call(
        sb.v1(
            Method::POST,
            &format!("/apps/{APP}/environments/Test/transport"),
        )
        .json(&json!({})),
    )
    .await;
    assert_v1_error(&no_package, 400, "INVALID_PARAMETERS");
}

#[tokio::test]
async fn seeded_rights_and_package_flags_give_the_documented_refusals() {
    let seed = r#"
cloud:
  users:
    - username: ops@example.com
      apiKey: key-ops
      access:
        - appId: calc
          environments: [Test]
          transport: false
  apps:
    - appId: calc
      name: Calc
      mendixVersion: 9.24.0.1
      packages:
        - packageId: p-parse
          version: 1.0.0.1
          parseFails: true
        - packageId: p-old
          version: 1.0.0.2
          mendixVersion: 8.18.0.1
        - packageId: p-ok
          version: 1.0.0.3
      environments:
        - mode: Test
          supportedMendixMajorVersions: [9, 10]
        - mode: Acceptance
    - appId: other
      name: Other
"#;
    let sb = start_with(MendixSandbox::from_yaml(seed).expect("seed"), 100.0).await;
    let as_ops = |method: Method, path: &str| {
        sb.http
            .request(method, format!("{}{path}", sb.server.cloud_v1_url()))
            .header("Mendix-Username", "ops@example.com")
            .header("Mendix-ApiKey", "key-ops")
    };
    let apps = call(as_ops(Method::GET, "/apps")).await;
    assert_eq!(
        apps.1.as_array().map(Vec::len),
        Some(1),
        "only apps the user may see"
    );
    assert_v1_error(
        &call(as_ops(Method::GET, "/apps/other")).await,
        404,
        "APP_NOT_FOUND",
    );
    let no_access = call(
        as_ops(Method::POST, "/apps/calc/environments/Acceptance/transport")
            .json(&json!({"PackageId": "p-ok"})),
    )
    .await;
    assert_v1_error(&no_access, 403, "NO_ACCESS");
    let logs = call(as_ops(
        Method::GET,
        "/apps/calc/environments/Acceptance/logs/2024-01-01",
    ))
    .await;
    assert_v1_error(&logs, 403, "FORBIDDEN");
    let not_allowed = call(
        as_ops(Method::POST, "/apps/calc/environments/Test/transport")
            .json(&json!({"PackageId": "p-ok"})),
    )
    .await;
    assert_v1_error(&not_allowed, 403, "TRANSPORT_NOT_ALLOWED");

    // The same app through a user with every right.
    let seed_admin = seed.replace(
        "  users:\n",
        "  users:\n    - username: admin@example.com\n      apiKey: key-admin\n",
    );
    let sb = start_with(MendixSandbox::from_yaml(&seed_admin).expect("seed"), 100.0).await;
    let as_admin = |package: &str| {
        call(
            sb.http
                .post(format!(
                    "{}/apps/calc/environments/Test/transport",
                    sb.server.cloud_v1_url()
                ))
                .header("Mendix-Username", "admin@example.com")
                .header("Mendix-ApiKey", "key-admin")
                .json(&json!({ "PackageId": package })),
        )
    };
    assert_v1_error(&as_admin("p-parse").await, 500, "PACKAGE_PARSE_FAILED");
    assert_v1_error(&as_admin("p-old").await, 400, "INVALID_RUNTIME_VERSION");
    assert_eq!(as_admin("p-ok").await.0, 200);
}

#[tokio::test]
async fn stopping_a_starting_environment_fails_its_start_job() {
    let sb = start().await;
    let started = start_env(&sb, "Test", true).await;
    let job = started.1["JobId"].as_str().expect("JobId").to_string();
    let stopped = call(sb.v1(Method::POST, &format!("/apps/{APP}/environments/test/stop"))).await;
    assert_eq!(stopped.0, 200);
    assert_v1_error(&start_status(&sb, "Test", &job).await, 500, "START_FAILED");
    sb.advance(2_000);
    assert_eq!(env_status(&sb, "Test").await, "Stopped");
    // Counted under the seeded mode, whatever the case in the path.
    let stats = sb.sandbox.stats();
    assert_eq!(
        stats.environment_count(APP, "Test", "v1_stop_environment"),
        1
    );
}

#[tokio::test]
async fn large_packages_can_be_uploaded() {
    let sb = start().await;
    let mut bytes = b"PK\x03\x04".to_vec();
    bytes.resize(5 * 1024 * 1024, b'x');
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name("big_1.2.3.4.mda"),
    );
    let answer = call(
        sb.v1(
            Method::POST,
            &format!("/apps/{APP}/packages/upload?name=big_1.2.3.4.mda"),
        )
        .multipart(form),
    )
    .await;
    assert_eq!(answer.0, 200, "{:?}", answer.1);
    let package = uploaded(&sb, "big_1.2.3.4.mda").await;
    let got = call(sb.v1(Method::GET, &format!("/apps/{APP}/packages/{package}"))).await;
    assert_eq!(got.1["Size"], 5 * 1024 * 1024);
}

#[tokio::test]
async fn start_failures_on_request_and_internal_errors_through_faults() {
    let sb = start().await;
    for code in ["ALREADY_LOCKED", "INSECURE_ADMIN_PASSWORD", "NO_PACKAGE"] {
        assert!(sb.sandbox.fail_next_start(APP, "Test", code));
        assert_v1_error(&start_and_finish(&sb, "Test", true).await, 500, code);
    }
    // Failures that depend on Mendix's internals: faults carrying the documented code.
    use mendix_sandbox::Fault;
    sb.sandbox
        .add_fault(Fault::error_code("v1_stop_environment", 500, "STOP_FAILED").times(1));
    sb.sandbox.add_fault(
        Fault::error_code("v1_clean_environment", 500, "ENVIRONMENT_CLEAN_FAILED").times(1),
    );
    sb.sandbox
        .add_fault(Fault::error_code("v1_upload_package", 500, "UPLOAD_COPY_FAILED").times(1));
    let env = format!("/apps/{APP}/environments/Test");
    assert_v1_error(
        &call(sb.v1(Method::POST, &format!("{env}/stop"))).await,
        500,
        "STOP_FAILED",
    );
    assert_v1_error(
        &call(sb.v1(Method::POST, &format!("{env}/clean"))).await,
        500,
        "ENVIRONMENT_CLEAN_FAILED",
    );
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"PK\x03\x04".to_vec()).file_name("a.mda"),
    );
    assert_v1_error(
        &call(
            sb.v1(Method::POST, &format!("/apps/{APP}/packages/upload"))
                .multipart(form),
        )
        .await,
        500,
        "UPLOAD_COPY_FAILED",
    );
}

/// Every error code in the v1 docs' tables is asserted by a test in this file.
#[test]
fn every_documented_error_code_is_tested() {
    let dir = std::env::var("MENDIX_DOCS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/mendix-docs")
        });
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|err| {
            panic!(
                "cannot read {name} in {}: {err}; set MENDIX_DOCS_DIR",
                dir.display()
            )
        })
    };
    let mut codes = std::collections::BTreeSet::new();
    // Build API: "| 400 | INVALID_APPID | Invalid AppId |".
    for line in read("mendix-cloud-build-api-v1.txt").lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() >= 3 && cells[0].len() == 3 && cells[0].parse::<u16>().is_ok() {
            codes.insert(cells[1].to_string());
        }
    }
    // Deploy API: "400 INVALID_APPID Invalid AppId" (a code may contain one space).
    for line in read("mendix-cloud-deploy-api-v1.txt").lines() {
        let mut words = line.split_whitespace();
        let (Some(status), Some(first)) = (words.next(), words.next()) else {
            continue;
        };
        let is_code =
            |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_uppercase() || c == '_');
        if status.len() != 3 || status.parse::<u16>().is_err() || !is_code(first) {
            continue;
        }
        let code = match words.next() {
            Some(second) if is_code(second) && !first.contains('_') => format!("{first} {second}"),
            _ => first.to_string(),
        };
        codes.insert(code);
    }
    assert!(codes.len() > 40, "parsed only {codes:?}");
    let tests = include_str!("mendix_sandbox_v1.rs");
    let untested: Vec<&String> = codes
        .iter()
        .filter(|code| !tests.contains(&format!("\"{code}\"")))
        .collect();
    assert!(
        untested.is_empty(),
        "documented error codes without a test: {untested:?}"
    );
}
