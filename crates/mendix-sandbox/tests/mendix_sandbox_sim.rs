//! The simulator side of the Mendix sandbox: faults, stats, state, seeding, the time scale,
//! PAT scopes and the server handle.

mod mendix_sandbox_support;

use std::time::Duration;

use mendix_sandbox::{Fault, FaultKind, MendixSandbox, SeedError, Stats, demo};
use mendix_sandbox_support::{
    assert_v1_error, assert_v4_error, call, eventually, start, start_with,
};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn stats_count_requests_per_operation_app_and_environment() {
    let sb = start().await;
    for _ in 0..3 {
        call(sb.v1(Method::GET, "/apps")).await;
    }
    call(sb.v1(Method::GET, "/apps/calc/environments/Test")).await;
    call(sb.v1(Method::GET, "/apps/calc/environments/Test/settings")).await;
    call(sb.v4(
        Method::GET,
        &format!("/apps/{}/environments", demo::PC_APP_ID),
    ))
    .await;
    // Errors count too.
    call(sb.http.get(sb.url("/api/1/apps"))).await;

    let stats = sb.sandbox.stats();
    assert_eq!(stats.count("v1_list_apps"), 4);
    assert_eq!(stats.count("v1_get_environment"), 1);
    assert_eq!(stats.count("list_environments_manifests"), 1);
    assert_eq!(stats.total, 7);
    assert_eq!(stats.app_count("calc", "v1_get_settings"), 1);
    assert_eq!(
        stats.environment_count("calc", "Test", "v1_get_environment"),
        1
    );
    assert_eq!(
        stats.app_count(demo::PC_APP_ID, "list_environments_manifests"),
        1
    );

    let over_http: Stats = sb
        .http
        .get(sb.url("/_sim/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats JSON");
    assert_eq!(over_http, stats);
    let reset = sb
        .http
        .delete(sb.url("/_sim/stats"))
        .send()
        .await
        .expect("reset");
    assert_eq!(reset.status(), 204);
    assert_eq!(sb.sandbox.stats().total, 0);
}

#[tokio::test]
async fn state_shows_the_world_without_secrets() {
    let sb = start().await;
    let state: Value = sb
        .http
        .get(sb.url("/_sim/state"))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("JSON");
    assert_eq!(state["cloud"]["apps"][0]["appId"], demo::CLOUD_APP_ID);
    assert_eq!(
        state["cloud"]["apps"][0]["environments"][2]["production"],
        true
    );
    assert_eq!(
        state["privateCloud"]["apps"][0]["environments"][1]["environment"]["properties"]["production"],
        true
    );
    let text = state.to_string();
    for secret in [demo::CLOUD_API_KEY, demo::PC_PAT, demo::PC_PAT_READ_ONLY] {
        assert!(!text.contains(secret), "the state must not show {secret}");
    }
    assert_eq!(sb.sandbox.state_json(), state);
}

#[tokio::test]
async fn error_faults_follow_each_api_format_and_rate() {
    let sb = start().await;
    sb.sandbox
        .add_fault(Fault::error_code("v1_list_apps", 500, "INTERNAL").times(1));
    assert_v1_error(&call(sb.v1(Method::GET, "/apps")).await, 500, "INTERNAL");
    assert_eq!(
        call(sb.v1(Method::GET, "/apps")).await.0,
        200,
        "spent after one"
    );

    sb.sandbox.add_fault(Fault::error("get_job", 503));
    assert_v4_error(&call(sb.v4(Method::GET, "/jobs/x")).await, 503);
    assert_v4_error(&call(sb.v4(Method::GET, "/jobs/x")).await, 503);
    sb.sandbox.clear_faults();
    assert_v4_error(&call(sb.v4(Method::GET, "/jobs/x")).await, 404);

    // Rate 0 never fires; other operations are untouched.
    sb.sandbox
        .add_fault(Fault::error("v1_get_app", 500).rate(0.0));
    sb.sandbox
        .add_fault(Fault::error("v1_get_environment", 500));
    for _ in 0..5 {
        assert_eq!(call(sb.v1(Method::GET, "/apps/calc")).await.0, 200);
    }
    assert_eq!(sb.sandbox.stats().faults_fired.get("v1_get_app"), None);
}

#[tokio::test]
async fn too_many_requests_bursts_carry_retry_after() {
    let sb = start().await;
    sb.sandbox.add_fault(Fault::too_many_requests("*", 2, 7));
    for _ in 0..2 {
        let response = sb.v1(Method::GET, "/apps").send().await.expect("answer");
        assert_eq!(response.status(), 429);
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("7")
        );
    }
    assert_eq!(call(sb.v1(Method::GET, "/apps")).await.0, 200);
    assert_eq!(
        sb.sandbox.stats().faults_fired.get("v1_list_apps"),
        Some(&2)
    );
    assert!(sb.sandbox.faults().is_empty(), "a spent burst is removed");
}

#[tokio::test]
async fn malformed_bodies_still_change_state() {
    let sb = start().await;
    sb.sandbox
        .add_fault(Fault::malformed_body("v1_create_tag").times(1));
    let response = sb
        .v1(Method::POST, "/apps/calc/environments/Test/tags")
        .json(&json!({"Tag": "x"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("text");
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "not JSON: {text}"
    );
    let tags = call(sb.v1(Method::GET, "/apps/calc/environments/Test/tags")).await;
    assert_eq!(tags.1, json!([{"Tag": "x"}]));
}

#[tokio::test]
async fn dropped_connections_give_no_answer() {
    let sb = start().await;
    sb.sandbox
        .add_fault(Fault::drop_connection("v1_list_apps").times(1));
    let error = sb
        .v1(Method::GET, "/apps")
        .send()
        .await
        .expect_err("the connection is dropped");
    assert!(!error.is_status(), "{error}");
    assert_eq!(
        call(sb.v1(Method::GET, "/apps")).await.0,
        200,
        "the server lives on"
    );
}

#[tokio::test]
async fn latency_delays_but_serves() {
    let sb = start().await;
    sb.sandbox
        .add_fault(Fault::latency("v1_list_apps", Duration::from_millis(300)).times(1));
    // A client timeout shorter than the latency fails; the request is still served after it.
    let quick = sb
        .v1(Method::GET, "/apps")
        .timeout(Duration::from_millis(50))
        .send()
        .await
        .expect_err("times out");
    assert!(quick.is_timeout(), "{quick}");
    assert_eq!(call(sb.v1(Method::GET, "/apps")).await.0, 200);
}

#[tokio::test]
async fn faults_over_http() {
    let sb = start().await;
    let add = |body: Value| sb.http.post(sb.url("/_sim/faults")).json(&body).send();
    let created = add(json!([
        {"operation": "v1_transport", "kind": {"type": "error", "status": 500, "errorCode": "X"}, "rate": 1.0},
        {"operation": "get_job", "kind": {"type": "tooManyRequests", "retryAfterSeconds": 1}, "times": 3},
    ]))
    .await
    .expect("post");
    assert_eq!(created.status(), 201);
    let listed: Vec<Fault> = sb
        .http
        .get(sb.url("/_sim/faults"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("JSON");
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed[1].kind,
        FaultKind::TooManyRequests {
            retry_after_seconds: 1
        }
    );
    let transport = call(
        sb.v1(Method::POST, "/apps/calc/environments/Test/transport")
            .json(&json!({"PackageId": demo::CLOUD_EXISTING_PACKAGE_ID})),
    )
    .await;
    assert_v1_error(&transport, 500, "X");
    assert_eq!(
        add(json!({"operation": "nope", "kind": {"type": "malformedBody"}}))
            .await
            .expect("post")
            .status(),
        400
    );
    assert_eq!(
        add(json!({"operation": "*", "kind": {"type": "error", "status": 500}, "rate": 2.0}))
            .await
            .expect("post")
            .status(),
        400
    );
    let cleared = sb
        .http
        .delete(sb.url("/_sim/faults"))
        .send()
        .await
        .expect("clear");
    assert_eq!(cleared.status(), 204);
    assert!(sb.sandbox.faults().is_empty());
}

#[tokio::test]
async fn a_small_time_scale_runs_the_state_machines_quickly() {
    // Real time, 1000x faster: a 22 s build takes 22 ms. Only polling, no timing assertions.
    let sb = start_with(MendixSandbox::demo(), 0.001).await;
    let built = call(sb.v1(Method::POST, "/apps/calc/packages").json(&json!({
        "Branch": demo::GOOD_BRANCH, "Revision": demo::GOOD_REVISION, "Version": "9.9.9",
    })))
    .await;
    let package = built.1["PackageId"]
        .as_str()
        .expect("PackageId")
        .to_string();
    eventually("the build to succeed and be processed", || async {
        let answer = call(
            sb.v1(Method::POST, "/apps/calc/environments/Test/transport")
                .json(&json!({"PackageId": package})),
        )
        .await;
        (answer.0 == 200).then_some(())
    })
    .await;
    let started = call(
        sb.v1(Method::POST, "/apps/calc/environments/Test/start")
            .json(&json!({"AutoSyncDb": true})),
    )
    .await;
    let job = started.1["JobId"].as_str().expect("JobId").to_string();
    eventually("the app to start", || async {
        let answer = call(sb.v1(
            Method::GET,
            &format!("/apps/calc/environments/Test/start/{job}"),
        ))
        .await;
        (answer.1["Status"] == "Started").then_some(())
    })
    .await;

    // Private Cloud: restart = instances 0 then back, each job followed to Ready.
    let env_path = format!(
        "/apps/{}/namespaces/{}/environments/{}",
        demo::PC_APP_ID,
        demo::PC_NAMESPACE_ID,
        demo::PC_ENVIRONMENT_PRODUCTION
    );
    for instances in [0, 2] {
        let mut manifest = call(sb.v4(Method::GET, &env_path)).await.1;
        manifest["environment"]["container"]["instances"] = json!(instances);
        let response = sb
            .v4(Method::PUT, &env_path)
            .json(&manifest)
            .send()
            .await
            .expect("put");
        assert_eq!(response.status(), 202);
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("Location")
            .to_string();
        eventually("the job to finish", || async {
            let job = call(
                sb.http
                    .get(&location)
                    .header("Authorization", format!("MxToken {}", demo::PC_PAT)),
            )
            .await;
            (job.1["status"] == "finished").then_some(())
        })
        .await;
        eventually("the container to be ready", || async {
            let env = call(sb.v4(Method::GET, &env_path)).await.1;
            (env["environment"]["container"]["state"] == "Ready").then_some(())
        })
        .await;
    }
    let state = sb.sandbox.state_json();
    assert_eq!(
        state["privateCloud"]["apps"][0]["environments"][1]["updates"],
        2
    );
}

#[tokio::test]
async fn scopes_are_checked_per_operation() {
    let seed = include_str!("../src/demo.yaml").replace(
        "  pats:\n",
        "  pats:\n    - name: build write only\n      token: pat-build-write\n      scopes: [mx:privatecloud-build:write]\n",
    );
    let sb = start_with(MendixSandbox::from_yaml(&seed).expect("seed"), 100.0).await;
    let build = format!("/apps/{}/packages/build", demo::PC_APP_ID);
    let body = json!({"branch": "main", "revision": demo::GOOD_REVISION});
    // Building also needs mx:modelrepository:write.
    let refused = call(
        sb.v4_with("pat-build-write", Method::POST, &build)
            .json(&body),
    )
    .await;
    assert_v4_error(&refused, 403);
    assert!(refused.1.to_string().contains("mx:modelrepository:write"));
    // Reading packages works with write alone; deployment needs its own scopes.
    let packages = format!("/apps/{}/packages", demo::PC_APP_ID);
    assert_eq!(
        call(sb.v4_with("pat-build-write", Method::GET, &packages))
            .await
            .0,
        200
    );
    let envs = format!("/apps/{}/environments", demo::PC_APP_ID);
    assert_v4_error(
        &call(sb.v4_with("pat-build-write", Method::GET, &envs)).await,
        403,
    );
    // A bad scheme is a 401 like a missing header.
    let bearer = call(
        sb.http
            .get(format!("{}{packages}", sb.server.private_cloud_v4_url()))
            .header("Authorization", format!("Bearer {}", demo::PC_PAT)),
    )
    .await;
    assert_v4_error(&bearer, 401);
    assert!(!bearer.1.to_string().contains(demo::PC_PAT));
}

#[tokio::test]
async fn seeds_are_checked_with_the_field_named() {
    let bad_package = r#"
cloud:
  apps:
    - appId: a
      name: A
      environments:
        - mode: Test
          packageId: missing
"#;
    match MendixSandbox::from_yaml(bad_package) {
        Err(SeedError::Invalid { field, .. }) => {
            assert_eq!(field, "cloud.apps[0].environments[0].packageId")
        }
        other => panic!("expected an invalid field, got {:?}", other.err()),
    }
    let unknown_field = "cloud:\n  apps:\n    - appId: a\n      name: A\n      colour: red\n";
    let message = MendixSandbox::from_yaml(unknown_field)
        .err()
        .expect("refused")
        .to_string();
    assert!(message.contains("colour"), "{message}");
    assert!(MendixSandbox::from_yaml("timeScale: -1\n").is_err());
    let pc_namespace = r#"
privateCloud:
  apps:
    - appId: c533ee0b-f7db-4e62-868b-1192d392ccec
      name: x
      environments:
        - id: e1
          clusterId: c
          namespaceId: nowhere
          namespace: n
          packageId: p
"#;
    let message = MendixSandbox::from_yaml(pc_namespace)
        .err()
        .expect("refused")
        .to_string();
    assert!(message.contains("namespaceId"), "{message}");
    let twice = "cloud:\n  apps:\n    - {appId: a, name: A}\n    - {appId: a, name: B}\n";
    let message = MendixSandbox::from_yaml(twice)
        .err()
        .expect("refused")
        .to_string();
    assert!(message.contains("cloud.apps[1].appId"), "{message}");
    let pc_package = include_str!("../src/demo.yaml").replace(
        "          packageId: 905ba2c3-4424-48b8-b4b0-393eedd4cd1e\n          instances: 1\n",
        "          packageId: 00000000-0000-4000-8000-000000000000\n          instances: 1\n",
    );
    let message = MendixSandbox::from_yaml(&pc_package)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        message.contains("privateCloud.apps[0].environments[0].packageId"),
        "{message}"
    );

    // A minimal seed works, with the documented defaults.
    let minimal = r#"
timings: {startMs: 1}
cloud:
  users: [{username: u, apiKey: k}]
  apps:
    - appId: shop
      name: Shop
      packages: [{packageId: p1, version: 1.0.0.1}]
      environments: [{mode: Test, packageId: p1}, {mode: Acceptance}]
"#;
    let sb = start_with(MendixSandbox::from_yaml(minimal).expect("seed"), 1.0).await;
    let envs = call(
        sb.http
            .get(format!(
                "{}/apps/shop/environments",
                sb.server.cloud_v1_url()
            ))
            .header("Mendix-Username", "u")
            .header("Mendix-ApiKey", "k"),
    )
    .await;
    assert_eq!(envs.1[0]["Status"], "Stopped");
    assert_eq!(envs.1[1]["Status"], "Empty");
    assert_eq!(envs.1[0]["Url"], "https://shop-test.mendixcloud.com");
}

#[tokio::test]
async fn the_demo_seed_file_is_the_demo_state() {
    let from_file = MendixSandbox::from_yaml(include_str!("../src/demo.yaml"))
        .expect("demo.yaml is a valid seed");
    let mut a = from_file.state_json();
    let mut b = MendixSandbox::demo().state_json();
    // Creation dates of packages without one are "now"; everything else is equal.
    for state in [&mut a, &mut b] {
        if let Some(pkgs) = state["privateCloud"]["apps"][0]["packages"].as_array_mut() {
            for p in pkgs {
                p["createdOn"] = Value::Null;
            }
        }
    }
    assert_eq!(a, b);
    assert_eq!(
        b["cloud"]["apps"][0]["environments"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(
        b["privateCloud"]["apps"][0]["environments"][0]["id"],
        demo::PC_ENVIRONMENT_TEST
    );
}

#[tokio::test]
async fn the_server_stops_on_shutdown() {
    let sb = start().await;
    let addr = sb.server.addr();
    assert_eq!(sb.server.cloud_v1_url(), format!("http://{addr}/api/1"));
    assert_eq!(
        sb.server.private_cloud_v4_url(),
        format!("http://{addr}/api/v4")
    );
    let http = sb.http.clone();
    sb.server.shutdown().await;
    let after = http
        .get(format!("http://{addr}/api/1/apps"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(after.is_err(), "nothing listens after shutdown");
}

#[tokio::test]
async fn secrets_stay_out_of_state_debug_and_answers() {
    let sb = start().await;
    let env_path = format!(
        "/apps/{}/namespaces/{}/environments/{}",
        demo::PC_APP_ID,
        demo::PC_NAMESPACE_ID,
        demo::PC_ENVIRONMENT_TEST
    );
    let mut manifest = call(sb.v4(Method::GET, &env_path)).await.1;
    manifest["environment"]["runtime"]["mxAdminPassword"] = json!("Admin-Secret-42");
    manifest["environment"]["network"] = json!({"outgoingConnectionCertificate": [
        {"enabled": true, "password": "Cert-Secret-42", "certificateType": "Client", "key": "S2V5LVNlY3JldA=="}
    ]});
    let put = call(sb.v4(Method::PUT, &env_path).json(&manifest)).await;
    assert_eq!(put.0, 202, "{:?}", put.1);
    sb.advance(10_000);
    let got = call(sb.v4(Method::GET, &env_path)).await.1.to_string();
    let state = sb.sandbox.state_json().to_string();
    let debug = sb.sandbox.with_world(|world| format!("{world:?}"));
    for text in [&got, &state, &debug] {
        for secret in [
            "Admin-Secret-42",
            "Cert-Secret-42",
            "S2V5LVNlY3JldA==",
            demo::CLOUD_API_KEY,
            demo::PC_PAT,
        ] {
            assert!(!text.contains(secret), "{secret} leaked");
        }
    }
    assert!(
        got.contains("\"certificateType\":\"Client\""),
        "the rest of the manifest is kept"
    );
}

/// A figure, not a check: `cargo test --test mendix_sandbox_sim -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "prints throughput figures; run by hand"]
async fn throughput_figures() {
    let sb = start().await;
    let env_path = format!(
        "/apps/{}/namespaces/{}/environments/{}",
        demo::PC_APP_ID,
        demo::PC_NAMESPACE_ID,
        demo::PC_ENVIRONMENT_TEST
    );
    for (name, v4) in [("v1 GET environment", false), ("v4 GET manifest", true)] {
        let started = std::time::Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let request = if v4 {
                sb.v4(Method::GET, &env_path)
            } else {
                sb.v1(Method::GET, "/apps/calc/environments/Test")
            };
            tasks.push(tokio::spawn(async move {
                for _ in 0..250 {
                    let response = request
                        .try_clone()
                        .expect("clonable")
                        .send()
                        .await
                        .expect("answer");
                    assert_eq!(response.status(), 200);
                    response.bytes().await.expect("body");
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        let elapsed = started.elapsed();
        println!(
            "{name}: 4000 requests, 16 connections: {:.0} requests/s ({elapsed:?})",
            4000.0 / elapsed.as_secs_f64()
        );
    }
}

#[tokio::test]
async fn a_rollout_can_be_made_to_fail() {
    let sb = start().await;
    let env_path = format!(
        "/apps/{}/namespaces/{}/environments/{}",
        demo::PC_APP_ID,
        demo::PC_NAMESPACE_ID,
        demo::PC_ENVIRONMENT_TEST
    );
    let requested = sb
        .http
        .post(sb.url("/_sim/rollout-failure"))
        .json(&json!({"appId": demo::PC_APP_ID, "environmentId": demo::PC_ENVIRONMENT_TEST}))
        .send()
        .await
        .expect("sim");
    assert_eq!(requested.status(), 200);
    let manifest = call(sb.v4(Method::GET, &env_path)).await.1;
    for expected in ["Failed", "Ready"] {
        assert_eq!(
            call(sb.v4(Method::PUT, &env_path).json(&manifest)).await.0,
            202
        );
        sb.advance(10_000);
        let env = call(sb.v4(Method::GET, &env_path)).await.1;
        assert_eq!(env["environment"]["container"]["state"], expected);
    }
    assert!(!sb.sandbox.fail_next_rollout(demo::PC_APP_ID, "nope"));
}
