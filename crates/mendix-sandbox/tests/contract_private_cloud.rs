//! Contract tests: every Private Cloud response the sandbox sends, for every operation it
//! serves and every status it can answer, validates against the response schema in
//! `privatecloud-build-v4.yaml` / `privatecloud-deploy-v4.yaml`, and its status is documented.

mod mendix_sandbox_support;

use mendix_sandbox::demo;
use mendix_sandbox_support::contract::Contract;
use mendix_sandbox_support::{Sandbox, start};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

const APP: &str = demo::PC_APP_ID;
const NS: &str = demo::PC_NAMESPACE_ID;
const CLUSTER: &str = demo::PC_CLUSTER_ID;

struct Checked {
    sb: Sandbox,
    /// Redirects are part of the contract (303 from `POST /cli/...`): never followed here.
    no_redirects: reqwest::Client,
    contract: Contract,
    checked: std::cell::Cell<usize>,
}

impl Checked {
    async fn new() -> Self {
        Checked {
            sb: start().await,
            no_redirects: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("client"),
            contract: Contract::load(),
            checked: std::cell::Cell::new(0),
        }
    }

    /// Send, check against the contract, return status and body.
    async fn send(&self, request: RequestBuilder, template: &str, build_api: bool) -> (u16, Value) {
        let request = request.build().expect("request");
        let method = request.method().as_str().to_string();
        let response = self
            .no_redirects
            .execute(request)
            .await
            .expect("sandbox answers");
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = response.text().await.expect("body");
        let body: Value = if text.is_empty() && status == 303 {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|err| {
                panic!("{method} {template} {status}: body is not JSON ({err}): {text}")
            })
        };
        self.contract.check(
            &method,
            template,
            build_api,
            status,
            location.as_deref(),
            &body,
        );
        self.checked.set(self.checked.get() + 1);
        (status, body)
    }

    fn v4(&self, method: Method, path: &str) -> RequestBuilder {
        self.sb.v4(method, path)
    }

    fn read_only(&self, method: Method, path: &str) -> RequestBuilder {
        self.sb.v4_with(demo::PC_PAT_READ_ONLY, method, path)
    }

    fn unknown_token(&self, method: Method, path: &str) -> RequestBuilder {
        self.sb.v4_with("not-a-token", method, path)
    }

    fn anonymous(&self, method: Method, path: &str) -> RequestBuilder {
        self.sb.http.request(
            method,
            format!("{}{path}", self.sb.server.private_cloud_v4_url()),
        )
    }
}

fn manifest(env_id: &str, package_id: &str, instances: u64) -> Value {
    json!({
        "manifestVersion": "2.0.0",
        "environment": {
            "id": env_id,
            "properties": {"name": env_id, "production": false, "defaultStudioTarget": false, "secretsStoreEnabled": false},
            "deployment": {"appUrl": format!("https://{env_id}.example.com"), "packageId": package_id,
                "constants": [{"name": "MyFirstModule.ApiUrl", "value": "https://new.example.com"}]},
            "container": {"instances": instances, "coreResources": {
                "limits": {"cpu": "1", "memory": "1.0"}, "requests": {"cpu": "0.1", "memory": "0.512"}}},
            "runtime": {"mxAdminPassword": "Secret-Admin-1", "environmentVariables": []},
            "provider": {"clusterId": CLUSTER, "namespace": "mendix-apps", "namespaceId": NS},
            "services": [],
        }
    })
}

#[tokio::test]
async fn the_validator_is_not_vacuous() {
    let contract = Contract::load();
    assert!(contract.accepts(
        "GET",
        "/jobs/{jobId}",
        true,
        200,
        &json!({"id": "a", "status": "running"})
    ));
    assert!(!contract.accepts("GET", "/jobs/{jobId}", true, 200, &json!({"id": "a"})));
    assert!(!contract.accepts(
        "GET",
        "/jobs/{jobId}",
        true,
        200,
        &json!({"id": "a", "status": "done"})
    ));
    assert!(!contract.accepts(
        "GET",
        "/apps/{appId}/packages",
        true,
        200,
        &json!({"packages": [{"id": "x"}], "pagination": {"offset": 0, "limit": 20, "size": 1}})
    ));
    // Undocumented statuses are refused.
    assert!(!contract.accepts(
        "POST",
        "/apps/{appId}/packages/build",
        true,
        404,
        &json!({})
    ));
}

#[tokio::test]
async fn build_api_responses_match_the_contract() {
    let c = Checked::new().await;
    let packages = format!("/apps/{APP}/packages");
    let packages_t = "/apps/{appId}/packages";
    let package_t = "/apps/{appId}/packages/{packageId}";
    let existing = format!("{packages}/{}", demo::PC_EXISTING_PACKAGE_ID);

    // Lists, with paging.
    let (status, body) = c.send(c.v4(Method::GET, &packages), packages_t, true).await;
    assert_eq!(
        (status, body["pagination"]["size"].as_u64()),
        (200, Some(1))
    );
    let (_, body) = c
        .send(
            c.read_only(Method::GET, &format!("{packages}?offset=1&limit=1")),
            packages_t,
            true,
        )
        .await;
    assert_eq!(body["packages"], json!([]));
    assert_eq!(
        c.send(c.anonymous(Method::GET, &packages), packages_t, true)
            .await
            .0,
        401
    );
    assert_eq!(
        c.send(c.unknown_token(Method::GET, &packages), packages_t, true)
            .await
            .0,
        403
    );
    let other_app = "/apps/76ef1b0f-4050-4810-a159-cb419268636c/packages";
    assert_eq!(
        c.send(c.v4(Method::GET, other_app), packages_t, true)
            .await
            .0,
        404
    );

    // One package, with url and log.
    let (status, body) = c
        .send(
            c.v4(Method::GET, &format!("{existing}?url=true&log=true")),
            package_t,
            true,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["package"]["url"]["ttl"], 900);
    assert!(body["package"]["buildLog"].is_string());
    assert_eq!(
        c.send(
            c.v4(Method::GET, &format!("{packages}/nope")),
            package_t,
            true
        )
        .await
        .0,
        404
    );
    assert_eq!(
        c.send(c.anonymous(Method::GET, &existing), package_t, true)
            .await
            .0,
        401
    );
    assert_eq!(
        c.send(c.unknown_token(Method::GET, &existing), package_t, true)
            .await
            .0,
        403
    );

    // Build: good, failing, invalid; read-only tokens may not.
    let build_t = "/apps/{appId}/packages/build";
    let build = format!("{packages}/build");
    let body = json!({"branch": demo::GOOD_BRANCH, "revision": demo::GOOD_REVISION, "version": "2.0.4", "description": "contract"});
    let (status, job) = c
        .send(c.v4(Method::POST, &build).json(&body), build_t, true)
        .await;
    assert_eq!((status, job["status"].as_str()), (202, Some("created")));
    let good_job = job["id"].as_str().expect("id").to_string();
    let failing = json!({"branch": demo::GOOD_BRANCH, "revision": demo::FAILING_REVISION});
    let (_, job) = c
        .send(c.v4(Method::POST, &build).json(&failing), build_t, true)
        .await;
    let failing_job = job["id"].as_str().expect("id").to_string();
    assert_eq!(
        c.send(
            c.v4(Method::POST, &build).json(&json!({"branch": "main"})),
            build_t,
            true
        )
        .await
        .0,
        400
    );
    assert_eq!(
        c.send(
            c.v4(Method::POST, &build)
                .json(&json!({"branch": "main", "revision": "1", "version": "1.0"})),
            build_t,
            true
        )
        .await
        .0,
        400
    );
    assert_eq!(
        c.send(c.read_only(Method::POST, &build).json(&body), build_t, true)
            .await
            .0,
        403
    );
    assert_eq!(
        c.send(c.anonymous(Method::POST, &build).json(&body), build_t, true)
            .await
            .0,
        401
    );
    let unknown_app_build = "/apps/76ef1b0f-4050-4810-a159-cb419268636c/packages/build";
    assert_eq!(
        c.send(
            c.v4(Method::POST, unknown_app_build).json(&body),
            build_t,
            true
        )
        .await
        .0,
        403
    );

    // Jobs through their states.
    let job_t = "/jobs/{jobId}";
    let job_path = format!("/jobs/{good_job}");
    c.sb.advance(60);
    let (_, job) = c.send(c.v4(Method::GET, &job_path), job_t, true).await;
    assert_eq!(job["status"], "running");
    c.sb.advance(2_100);
    let (_, job) = c
        .send(
            c.read_only(Method::GET, &format!("{job_path}?log=true")),
            job_t,
            true,
        )
        .await;
    assert_eq!(job["status"], "finished");
    assert!(
        job["log"]["build"]
            .as_str()
            .is_some_and(|l| l.contains(demo::GOOD_REVISION))
    );
    let built = job["packageId"].as_str().expect("packageId").to_string();
    let (_, failed) = c
        .send(
            c.v4(Method::GET, &format!("/jobs/{failing_job}")),
            job_t,
            true,
        )
        .await;
    assert_eq!(
        (failed["status"].as_str(), failed["error"]["code"].as_u64()),
        (Some("failed"), Some(400))
    );
    assert_eq!(
        c.send(c.v4(Method::GET, "/jobs/nope"), job_t, true).await.0,
        404
    );
    assert_eq!(
        c.send(c.anonymous(Method::GET, &job_path), job_t, true)
            .await
            .0,
        401
    );
    assert_eq!(
        c.send(c.unknown_token(Method::GET, &job_path), job_t, true)
            .await
            .0,
        403
    );
    let (_, got) = c
        .send(
            c.v4(Method::GET, &format!("{packages}/{built}")),
            package_t,
            true,
        )
        .await;
    assert_eq!(got["package"]["modelVersion"], "2.0.4.624");

    // Upload: good, missing fileName, read-only.
    let form = || {
        reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(b"PK\x03\x04mda".to_vec()).file_name("x.mda"),
            )
            .text("fileName", "my-app_2.2.1.19665")
    };
    let (status, job) = c
        .send(
            c.v4(Method::POST, &packages).multipart(form()),
            packages_t,
            true,
        )
        .await;
    assert_eq!(status, 202);
    c.sb.advance(400);
    let (_, job) = c
        .send(
            c.v4(
                Method::GET,
                &format!("/jobs/{}", job["id"].as_str().expect("id")),
            ),
            job_t,
            true,
        )
        .await;
    assert_eq!(job["status"], "finished");
    let uploaded = job["packageId"].as_str().expect("packageId").to_string();
    let (_, got) = c
        .send(
            c.v4(Method::GET, &format!("{packages}/{uploaded}")),
            package_t,
            true,
        )
        .await;
    assert_eq!(
        (
            got["package"]["fileName"].as_str(),
            got["package"]["modelVersion"].as_str()
        ),
        (Some("my-app_2.2.1.19665.mda"), Some("2.2.1.19665"))
    );
    let no_name = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"PK\x03\x04".to_vec()),
    );
    assert_eq!(
        c.send(
            c.v4(Method::POST, &packages).multipart(no_name),
            packages_t,
            true
        )
        .await
        .0,
        400
    );
    assert_eq!(
        c.send(
            c.read_only(Method::POST, &packages).multipart(form()),
            packages_t,
            true
        )
        .await
        .0,
        403
    );
    assert_eq!(
        c.send(
            c.anonymous(Method::POST, &packages).multipart(form()),
            packages_t,
            true
        )
        .await
        .0,
        401
    );

    // Delete.
    let (status, job) = c
        .send(
            c.v4(Method::DELETE, &format!("{packages}/{uploaded}")),
            package_t,
            true,
        )
        .await;
    assert_eq!(status, 202);
    c.sb.advance(400);
    let (_, job) = c
        .send(
            c.v4(
                Method::GET,
                &format!("/jobs/{}", job["id"].as_str().expect("id")),
            ),
            job_t,
            true,
        )
        .await;
    assert_eq!(job["status"], "finished");
    assert_eq!(
        c.send(
            c.v4(Method::DELETE, &format!("{packages}/{uploaded}")),
            package_t,
            true
        )
        .await
        .0,
        404
    );
    assert_eq!(
        c.send(c.read_only(Method::DELETE, &existing), package_t, true)
            .await
            .0,
        403
    );
    assert_eq!(
        c.send(c.anonymous(Method::DELETE, &existing), package_t, true)
            .await
            .0,
        401
    );
    // The deployed package cannot go: the job fails.
    let (_, job) = c
        .send(c.v4(Method::DELETE, &existing), package_t, true)
        .await;
    c.sb.advance(400);
    let (_, job) = c
        .send(
            c.v4(
                Method::GET,
                &format!("/jobs/{}", job["id"].as_str().expect("id")),
            ),
            job_t,
            true,
        )
        .await;
    assert_eq!(job["status"], "failed");
    assert!(
        c.checked.get() > 30,
        "only {} answers checked",
        c.checked.get()
    );
}

#[tokio::test]
async fn deploy_api_responses_match_the_contract() {
    let c = Checked::new().await;
    // Clusters and namespaces.
    let (status, body) = c
        .send(c.v4(Method::GET, "/clusters"), "/clusters", false)
        .await;
    assert_eq!(
        (status, body["clusters"][0]["cluster"]["clusterId"].as_str()),
        (200, Some(CLUSTER))
    );
    assert_eq!(
        c.send(c.anonymous(Method::GET, "/clusters"), "/clusters", false)
            .await
            .0,
        401
    );
    assert_eq!(
        c.send(
            c.unknown_token(Method::GET, "/clusters"),
            "/clusters",
            false
        )
        .await
        .0,
        403
    );
    let cluster_t = "/clusters/{clusterId}";
    assert_eq!(
        c.send(
            c.read_only(Method::GET, &format!("/clusters/{CLUSTER}")),
            cluster_t,
            false
        )
        .await
        .0,
        200
    );
    assert_eq!(
        c.send(c.v4(Method::GET, "/clusters/nope"), cluster_t, false)
            .await
            .0,
        404
    );
    let namespaces_t = "/clusters/{clusterId}/namespaces";
    let (_, body) = c
        .send(
            c.v4(
                Method::GET,
                &format!("/clusters/{CLUSTER}/namespaces?retrieveEnvironments=true"),
            ),
            namespaces_t,
            false,
        )
        .await;
    assert_eq!(
        body["namespaces"][0]["namespace"]["environments"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        c.send(
            c.v4(Method::GET, "/clusters/nope/namespaces"),
            namespaces_t,
            false
        )
        .await
        .0,
        404
    );
    let namespace_t = "/clusters/{clusterId}/namespaces/{namespaceId}";
    assert_eq!(
        c.send(
            c.v4(Method::GET, &format!("/clusters/{CLUSTER}/namespaces/{NS}")),
            namespace_t,
            false
        )
        .await
        .0,
        200
    );
    assert_eq!(
        c.send(
            c.v4(Method::GET, &format!("/clusters/{CLUSTER}/namespaces/nope")),
            namespace_t,
            false
        )
        .await
        .0,
        404
    );

    // Apps (need mx:deployment:write and mx:app:metadata:read).
    let (_, body) = c.send(c.v4(Method::GET, "/apps"), "/apps", false).await;
    assert_eq!(body["apps"][0]["app"]["appId"], APP);
    assert_eq!(
        c.send(c.read_only(Method::GET, "/apps"), "/apps", false)
            .await
            .0,
        403
    );
    assert_eq!(
        c.send(c.anonymous(Method::GET, "/apps"), "/apps", false)
            .await
            .0,
        401
    );
    let app_t = "/apps/{appId}";
    assert_eq!(
        c.send(c.v4(Method::GET, &format!("/apps/{APP}")), app_t, false)
            .await
            .0,
        200
    );
    assert_eq!(
        c.send(c.v4(Method::GET, "/apps/not-a-uuid"), app_t, false)
            .await
            .0,
        400
    );
    assert_eq!(
        c.send(
            c.v4(Method::GET, "/apps/76ef1b0f-4050-4810-a159-cb419268636c"),
            app_t,
            false
        )
        .await
        .0,
        404
    );

    // Environments.
    let envs_t = "/apps/{appId}/environments";
    let envs = format!("/apps/{APP}/environments");
    let (_, body) = c.send(c.read_only(Method::GET, &envs), envs_t, false).await;
    assert_eq!(body["environments"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        c.send(
            c.v4(
                Method::GET,
                "/apps/76ef1b0f-4050-4810-a159-cb419268636c/environments"
            ),
            envs_t,
            false
        )
        .await
        .0,
        404
    );
    let env_t = "/apps/{appId}/namespaces/{namespaceId}/environments/{environmentId}";
    let old_env_t = "/apps/{appId}/environments/{environmentId}";
    let test_env = format!(
        "/apps/{APP}/namespaces/{NS}/environments/{}",
        demo::PC_ENVIRONMENT_TEST
    );
    let (_, got) = c.send(c.v4(Method::GET, &test_env), env_t, false).await;
    assert_eq!(got["environment"]["container"]["state"], "Ready");
    let (_, old) = c
        .send(
            c.v4(
                Method::GET,
                &format!(
                    "/apps/{APP}/environments/{}",
                    demo::PC_ENVIRONMENT_PRODUCTION
                ),
            ),
            old_env_t,
            false,
        )
        .await;
    assert_eq!(old["environment"]["properties"]["production"], true);
    assert_eq!(
        c.send(
            c.v4(
                Method::GET,
                &format!("/apps/{APP}/namespaces/{NS}/environments/nope")
            ),
            env_t,
            false
        )
        .await
        .0,
        404
    );
    assert_eq!(
        c.send(c.anonymous(Method::GET, &test_env), env_t, false)
            .await
            .0,
        401
    );

    // Update: 202, job, Processing, Ready.
    let body = manifest(demo::PC_ENVIRONMENT_TEST, demo::PC_EXISTING_PACKAGE_ID, 0);
    let (status, job) = c
        .send(c.v4(Method::PUT, &test_env).json(&body), env_t, false)
        .await;
    assert_eq!(status, 202);
    let job_path = format!("/jobs/{}", job["id"].as_str().expect("id"));
    let (_, job) = c
        .send(c.read_only(Method::GET, &job_path), "/jobs/{jobId}", false)
        .await;
    assert_eq!(job["status"], "created");
    c.sb.advance(400);
    let (_, job) = c
        .send(c.v4(Method::GET, &job_path), "/jobs/{jobId}", false)
        .await;
    assert_eq!(job["status"], "finished");
    let (_, got) = c.send(c.v4(Method::GET, &test_env), env_t, false).await;
    // Not reported yet (the sandbox's least convenient reading), then Processing, then Ready.
    assert_eq!(got["environment"]["container"]["state"], "Unknown");
    assert!(
        got["environment"]["runtime"]
            .get("mxAdminPassword")
            .is_none(),
        "write-only secrets are not returned"
    );
    c.sb.advance(600);
    let (_, got) = c.send(c.v4(Method::GET, &test_env), env_t, false).await;
    assert_eq!(got["environment"]["container"]["state"], "Ready");
    assert_eq!(got["environment"]["container"]["instances"], 0);
    assert_eq!(
        got["environment"]["container"]["lastRunningInstanceCount"],
        1
    );

    // Refusals.
    let wrong_id = manifest("other", demo::PC_EXISTING_PACKAGE_ID, 1);
    assert_eq!(
        c.send(c.v4(Method::PUT, &test_env).json(&wrong_id), env_t, false)
            .await
            .0,
        400
    );
    let bad_package = manifest(demo::PC_ENVIRONMENT_TEST, "nope", 1);
    assert_eq!(
        c.send(
            c.v4(Method::PUT, &test_env).json(&bad_package),
            env_t,
            false
        )
        .await
        .0,
        400
    );
    let too_many = manifest(demo::PC_ENVIRONMENT_TEST, demo::PC_EXISTING_PACKAGE_ID, 11);
    assert_eq!(
        c.send(c.v4(Method::PUT, &test_env).json(&too_many), env_t, false)
            .await
            .0,
        400
    );
    assert_eq!(
        c.send(
            c.read_only(Method::PUT, &test_env).json(&body),
            env_t,
            false
        )
        .await
        .0,
        403
    );
    assert_eq!(
        c.send(
            c.v4(
                Method::PUT,
                &format!("/apps/{APP}/namespaces/{NS}/environments/nope")
            )
            .json(&body),
            env_t,
            false
        )
        .await
        .0,
        404
    );
    let old_put = format!("/apps/{APP}/environments/{}", demo::PC_ENVIRONMENT_TEST);
    assert_eq!(
        c.send(c.v4(Method::PUT, &old_put).json(&body), old_env_t, false)
            .await
            .0,
        202
    );

    // Create and delete.
    let new_env = manifest("calc-new", demo::PC_EXISTING_PACKAGE_ID, 1);
    let (status, job) = c
        .send(c.v4(Method::POST, &envs).json(&new_env), envs_t, false)
        .await;
    assert_eq!(status, 202);
    let create_job = format!("/jobs/{}", job["id"].as_str().expect("id"));
    let (_, again) = c
        .send(c.v4(Method::POST, &envs).json(&new_env), envs_t, false)
        .await;
    let duplicate_job = format!("/jobs/{}", again["id"].as_str().expect("id"));
    assert_eq!(
        c.send(
            c.v4(Method::POST, &envs)
                .json(&json!({"manifestVersion": "2.0.0"})),
            envs_t,
            false
        )
        .await
        .0,
        400
    );
    assert_eq!(
        c.send(
            c.read_only(Method::POST, &envs).json(&new_env),
            envs_t,
            false
        )
        .await
        .0,
        403
    );
    c.sb.advance(400);
    assert_eq!(
        c.send(c.v4(Method::GET, &create_job), "/jobs/{jobId}", false)
            .await
            .1["status"],
        "finished"
    );
    let (_, duplicate) = c
        .send(c.v4(Method::GET, &duplicate_job), "/jobs/{jobId}", false)
        .await;
    assert_eq!(
        duplicate["status"], "failed",
        "ids must be unique: {duplicate}"
    );
    let created = format!("/apps/{APP}/namespaces/{NS}/environments/calc-new");
    assert_eq!(
        c.send(c.v4(Method::GET, &created), env_t, false).await.0,
        200
    );
    let (status, job) = c.send(c.v4(Method::DELETE, &created), env_t, false).await;
    assert_eq!(status, 202);
    c.sb.advance(400);
    assert_eq!(
        c.send(
            c.v4(
                Method::GET,
                &format!("/jobs/{}", job["id"].as_str().expect("id"))
            ),
            "/jobs/{jobId}",
            false
        )
        .await
        .1["status"],
        "finished"
    );
    assert_eq!(
        c.send(c.v4(Method::GET, &created), env_t, false).await.0,
        404
    );
    assert_eq!(
        c.send(c.v4(Method::DELETE, &created), env_t, false).await.0,
        404
    );
    assert_eq!(
        c.send(c.read_only(Method::DELETE, &test_env), env_t, false)
            .await
            .0,
        403
    );
    let old_delete = format!(
        "/apps/{APP}/environments/{}",
        demo::PC_ENVIRONMENT_PRODUCTION
    );
    assert_eq!(
        c.send(c.v4(Method::DELETE, &old_delete), old_env_t, false)
            .await
            .0,
        202
    );
    assert!(
        c.checked.get() > 30,
        "only {} answers checked",
        c.checked.get()
    );
}

async fn job_status(c: &Checked, job: &Value) -> String {
    let path = format!("/jobs/{}", job["id"].as_str().expect("job id"));
    let (_, job) = c
        .send(c.v4(Method::GET, &path), "/jobs/{jobId}", false)
        .await;
    job["status"].as_str().expect("status").to_string()
}

#[tokio::test]
async fn cluster_namespace_and_cli_responses_match_the_contract() {
    let c = Checked::new().await;
    let new_cluster = "0f0e0d0c-0b0a-4908-8706-050403020100";
    let new_namespace = "1a1b1c1d-1e1f-4a2b-8c3d-4e5f6a7b8c9d";
    let cluster_body = json!({"manifestVersion": "2.0.0", "cluster": {"clusterId": new_cluster, "name": "c2", "clusterType": "eks"}});
    let (status, job) = c
        .send(
            c.v4(Method::POST, "/clusters").json(&cluster_body),
            "/clusters",
            false,
        )
        .await;
    assert_eq!(status, 202);
    let (_, duplicate) = c
        .send(
            c.v4(Method::POST, "/clusters").json(&cluster_body),
            "/clusters",
            false,
        )
        .await;
    let bad_type = json!({"manifestVersion": "2.0.0", "cluster": {"clusterId": new_cluster, "name": "c2", "clusterType": "vms"}});
    assert_eq!(
        c.send(
            c.v4(Method::POST, "/clusters").json(&bad_type),
            "/clusters",
            false
        )
        .await
        .0,
        400
    );
    assert_eq!(
        c.send(
            c.read_only(Method::POST, "/clusters").json(&cluster_body),
            "/clusters",
            false
        )
        .await
        .0,
        403
    );
    assert_eq!(
        c.send(
            c.anonymous(Method::POST, "/clusters").json(&cluster_body),
            "/clusters",
            false
        )
        .await
        .0,
        401
    );
    c.sb.advance(400);
    assert_eq!(job_status(&c, &job).await, "finished");
    assert_eq!(job_status(&c, &duplicate).await, "failed");

    let cluster_t = "/clusters/{clusterId}";
    let cluster = format!("/clusters/{new_cluster}");
    let renamed = json!({"manifestVersion": "2.0.0", "cluster": {"clusterId": new_cluster, "name": "renamed", "clusterType": "eks"}});
    let (status, job) = c
        .send(c.v4(Method::PUT, &cluster).json(&renamed), cluster_t, false)
        .await;
    assert_eq!(status, 202);
    assert_eq!(
        c.send(
            c.v4(Method::PUT, "/clusters/nope").json(&renamed),
            cluster_t,
            false
        )
        .await
        .0,
        404
    );
    assert_eq!(
        c.send(
            c.v4(Method::PUT, &cluster)
                .json(&json!({"manifestVersion": "2.0.0"})),
            cluster_t,
            false
        )
        .await
        .0,
        400
    );
    c.sb.advance(400);
    assert_eq!(job_status(&c, &job).await, "finished");
    let (_, got) = c.send(c.v4(Method::GET, &cluster), cluster_t, false).await;
    assert_eq!(got["cluster"]["name"], "renamed");

    let namespaces_t = "/clusters/{clusterId}/namespaces";
    let namespaces = format!("{cluster}/namespaces");
    let ns_body = json!({"manifestVersion": "2.0.0", "namespace": {"namespaceId": new_namespace, "name": "apps", "installationType": "Connected", "secret": "c2VjcmV0"}});
    let (status, job) = c
        .send(
            c.v4(Method::POST, &namespaces).json(&ns_body),
            namespaces_t,
            false,
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(
        c.send(
            c.v4(Method::POST, "/clusters/nope/namespaces")
                .json(&ns_body),
            namespaces_t,
            false
        )
        .await
        .0,
        400
    );
    assert_eq!(
        c.send(
            c.v4(Method::POST, &namespaces)
                .json(&json!({"manifestVersion": "2.0.0", "namespace": {"name": "x"}})),
            namespaces_t,
            false
        )
        .await
        .0,
        400
    );
    c.sb.advance(400);
    assert_eq!(job_status(&c, &job).await, "finished");
    // A cluster with namespaces cannot be deleted.
    let (_, job) = c
        .send(c.v4(Method::DELETE, &cluster), cluster_t, false)
        .await;
    c.sb.advance(400);
    assert_eq!(job_status(&c, &job).await, "failed");

    let namespace_t = "/clusters/{clusterId}/namespaces/{namespaceId}";
    let namespace = format!("{namespaces}/{new_namespace}");
    let (status, mut got) = c
        .send(c.v4(Method::GET, &namespace), namespace_t, false)
        .await;
    assert_eq!(status, 200);
    // An update is the whole manifest (the schema requires the secret and productTypePCLM):
    // a patch of one field is refused, naming a missing field.
    let (status, refused) = c
        .send(
            c.v4(Method::PUT, &namespace).json(
                &json!({"manifestVersion": "2.0.0", "namespace": {"enableDevelopmentMode": true}}),
            ),
            namespace_t,
            false,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        refused["error"]["invalid-params"][0]["name"], "namespace.namespaceId",
        "{refused}"
    );
    got["namespace"]["enableDevelopmentMode"] = json!(true);
    let (status, _) = c
        .send(c.v4(Method::PUT, &namespace).json(&got), namespace_t, false)
        .await;
    assert_eq!(status, 202);
    assert_eq!(
        c.send(
            c.v4(Method::PUT, &namespace).json(&json!({})),
            namespace_t,
            false
        )
        .await
        .0,
        400
    );
    assert_eq!(
        c.send(
            c.v4(Method::PUT, &format!("{namespaces}/nope"))
                .json(&json!({"manifestVersion": "2.0.0"})),
            namespace_t,
            false
        )
        .await
        .0,
        404
    );
    // A namespace with environments cannot be deleted.
    let busy = format!("/clusters/{CLUSTER}/namespaces/{NS}");
    let (_, job) = c
        .send(c.v4(Method::DELETE, &busy), namespace_t, false)
        .await;
    c.sb.advance(400);
    assert_eq!(job_status(&c, &job).await, "failed");
    let (_, job) = c
        .send(c.v4(Method::DELETE, &namespace), namespace_t, false)
        .await;
    c.sb.advance(400);
    assert_eq!(job_status(&c, &job).await, "finished");
    assert_eq!(
        c.send(c.v4(Method::DELETE, &namespace), namespace_t, false)
            .await
            .0,
        404
    );
    let (_, job) = c
        .send(c.v4(Method::DELETE, &cluster), cluster_t, false)
        .await;
    c.sb.advance(400);
    assert_eq!(job_status(&c, &job).await, "finished");
    assert_eq!(
        c.send(c.v4(Method::GET, &cluster), cluster_t, false)
            .await
            .0,
        404
    );
    assert_eq!(
        c.send(c.read_only(Method::DELETE, &busy), namespace_t, false)
            .await
            .0,
        403
    );

    // mxpc-cli.
    let (status, body) = c
        .send(c.read_only(Method::GET, "/cli"), "/cli", false)
        .await;
    assert_eq!(status, 200);
    let version = body["cliVersionList"][0]["cliVersion"]
        .as_str()
        .expect("version")
        .to_string();
    let cli_t = "/cli/{cliVersionValue}";
    let download = format!("/cli/{version}?os=linux&architecture=x86");
    assert_eq!(
        c.send(c.v4(Method::POST, &download), cli_t, false).await.0,
        303
    );
    let followed =
        c.sb.v4(Method::POST, &download)
            .send()
            .await
            .expect("followed");
    assert!(followed.text().await.expect("text").contains(&version));
    assert_eq!(
        c.send(
            c.v4(
                Method::POST,
                &format!("/cli/{version}?os=beos&architecture=x86")
            ),
            cli_t,
            false
        )
        .await
        .0,
        400
    );
    assert_eq!(
        c.send(
            c.v4(Method::POST, "/cli/0.0.1?os=linux&architecture=x86"),
            cli_t,
            false
        )
        .await
        .0,
        404
    );
    assert_eq!(
        c.send(c.anonymous(Method::GET, "/cli"), "/cli", false)
            .await
            .0,
        401
    );
}

/// The field a 400 names.
fn invalid_param(answer: &(u16, Value)) -> String {
    assert_eq!(answer.0, 400, "{}", answer.1);
    answer.1["error"]["invalid-params"][0]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("no invalid-params: {}", answer.1))
        .to_string()
}

#[tokio::test]
async fn cluster_and_namespace_manifests_check_writes_and_answer_the_contract() {
    let c = Checked::new().await;
    let global = "2a2b2c2d-2e2f-4a3b-8c4d-5e6f7a8b9c0d";
    let main_ns = "3a3b3c3d-3e3f-4a4b-8c5d-6e7f8a9b0c1d";
    let apps_ns = "4a4b4c4d-4e4f-4a5b-8c6d-7e8f9a0b1c2d";
    let (clusters_t, cluster_t) = ("/clusters", "/clusters/{clusterId}");
    let namespaces_t = "/clusters/{clusterId}/namespaces";
    let namespace_t = "/clusters/{clusterId}/namespaces/{namespaceId}";
    let cluster = format!("/clusters/{global}");
    let namespaces = format!("{cluster}/namespaces");

    // A global operator cluster; managers are not part of the create schema and are ignored.
    let create = json!({"manifestVersion": "2.0.0", "cluster": {"clusterId": global, "name": "shared",
        "clusterType": "aks", "operatorType": "global_operator", "description": "for tests",
        "clusterManagers": [{"email": "early@example.com"}]}});
    let mut bad = create.clone();
    bad["cluster"]["operatorType"] = json!("own_operator");
    let answer = c
        .send(
            c.v4(Method::POST, "/clusters").json(&bad),
            clusters_t,
            false,
        )
        .await;
    assert_eq!(invalid_param(&answer), "cluster.operatorType");
    let (_, job) = c
        .send(
            c.v4(Method::POST, "/clusters").json(&create),
            clusters_t,
            false,
        )
        .await;
    c.sb.advance(400);
    assert_eq!(job_status(&c, &job).await, "finished");
    let (_, got) = c.send(c.v4(Method::GET, &cluster), cluster_t, false).await;
    assert_eq!(got["cluster"]["operatorType"], "global_operator");
    assert_eq!(got["cluster"]["description"], "for tests");
    assert_eq!(got["cluster"]["clusterManagers"], json!([]));

    // Managers: new ones are invited, or accepted with autoAcceptInvite.
    let mut update = got.clone();
    update["cluster"]["clusterManagers"] = json!([
        {"email": "ann@example.com"},
        {"email": "bob@example.com", "autoAcceptInvite": true, "status": "Invitation_Sent", "displayName": "ignored"},
    ]);
    let (status, job) = c
        .send(c.v4(Method::PUT, &cluster).json(&update), cluster_t, false)
        .await;
    assert_eq!(status, 202);
    c.sb.advance(400);
    assert_eq!(job_status(&c, &job).await, "finished");
    let (_, got) = c.send(c.v4(Method::GET, &cluster), cluster_t, false).await;
    assert_eq!(
        got["cluster"]["clusterManagers"],
        json!([
            {"email": "ann@example.com", "status": "Invitation_Sent", "displayName": "ann"},
            {"email": "bob@example.com", "status": "Accepted", "displayName": "bob"},
        ])
    );
    // An existing invitation keeps its status; the list replaces the managers; a missing
    // description is cleared.
    let mut update = got.clone();
    update["cluster"]["clusterManagers"] =
        json!([{"email": "ann@example.com", "autoAcceptInvite": true}]);
    update["cluster"]
        .as_object_mut()
        .expect("cluster")
        .remove("description");
    let (_, job) = c
        .send(c.v4(Method::PUT, &cluster).json(&update), cluster_t, false)
        .await;
    c.sb.advance(400);
    assert_eq!(job_status(&c, &job).await, "finished");
    let (_, got) = c.send(c.v4(Method::GET, &cluster), cluster_t, false).await;
    assert_eq!(
        got["cluster"]["clusterManagers"],
        json!([{"email": "ann@example.com", "status": "Invitation_Sent", "displayName": "ann"}])
    );
    assert!(got["cluster"].get("description").is_none(), "{got}");
    // Refusals name the field.
    let mut changed = got.clone();
    changed["cluster"]["operatorType"] = json!("standard_operator");
    let answer = c
        .send(c.v4(Method::PUT, &cluster).json(&changed), cluster_t, false)
        .await;
    assert_eq!(invalid_param(&answer), "cluster.operatorType");
    let mut no_email = got.clone();
    no_email["cluster"]["clusterManagers"] =
        json!([{"email": "ann@example.com"}, {"autoAcceptInvite": true}]);
    let answer = c
        .send(
            c.v4(Method::PUT, &cluster).json(&no_email),
            cluster_t,
            false,
        )
        .await;
    assert_eq!(invalid_param(&answer), "cluster.clusterManagers[1].email");
    no_email["cluster"]["clusterManagers"] = json!([{"email": "not an address"}]);
    let answer = c
        .send(
            c.v4(Method::PUT, &cluster).json(&no_email),
            cluster_t,
            false,
        )
        .await;
    assert_eq!(invalid_param(&answer), "cluster.clusterManagers[0].email");

    // Namespaces: a main namespace needs a global operator; secret and name are checked.
    let ns = |id: &str, name: &str, kind: &str| {
        json!({"manifestVersion": "2.0.0", "namespace": {"namespaceId": id, "name": name,
            "namespaceType": kind, "installationType": "Connected", "secret": "c2VjcmV0LTE=",
            "plans": [{"planName": "mine", "planType": "Dedicated", "planConfig": "{}"}]}})
    };
    let in_standard = format!("/clusters/{CLUSTER}/namespaces");
    let answer = c
        .send(
            c.v4(Method::POST, &in_standard)
                .json(&ns(main_ns, "core", "main")),
            namespaces_t,
            false,
        )
        .await;
    assert_eq!(invalid_param(&answer), "namespace.namespaceType");
    let mut bad = ns(apps_ns, "apps", "standard");
    bad["namespace"]["secret"] = json!("not base64!");
    let answer = c
        .send(
            c.v4(Method::POST, &namespaces).json(&bad),
            namespaces_t,
            false,
        )
        .await;
    assert_eq!(invalid_param(&answer), "namespace.secret");
    let answer = c
        .send(
            c.v4(Method::POST, &namespaces)
                .json(&ns(apps_ns, "Apps_1", "standard")),
            namespaces_t,
            false,
        )
        .await;
    assert_eq!(invalid_param(&answer), "namespace.name");
    let (_, main_job) = c
        .send(
            c.v4(Method::POST, &namespaces)
                .json(&ns(main_ns, "core", "main")),
            namespaces_t,
            false,
        )
        .await;
    let (_, apps_job) = c
        .send(
            c.v4(Method::POST, &namespaces)
                .json(&ns(apps_ns, "apps", "standard")),
            namespaces_t,
            false,
        )
        .await;
    c.sb.advance(400);
    assert_eq!(job_status(&c, &main_job).await, "finished");
    assert_eq!(job_status(&c, &apps_job).await, "finished");

    // The Main namespace of a global operator cannot be updated through the API.
    let main = format!("{namespaces}/{main_ns}");
    let (_, got) = c.send(c.v4(Method::GET, &main), namespace_t, false).await;
    let answer = c
        .send(c.v4(Method::PUT, &main).json(&got), namespace_t, false)
        .await;
    assert_eq!(invalid_param(&answer), "namespace.namespaceType");
    assert!(
        answer.1.to_string().contains(
            "this endpoint cannot be used for the Main namespace of a Global Operator installation"
        ),
        "{}",
        answer.1
    );

    // A registered namespace: Mendix's plans (the create body's are ignored), no operator yet.
    let apps = format!("{namespaces}/{apps_ns}");
    let (_, got) = c.send(c.v4(Method::GET, &apps), namespace_t, false).await;
    assert_eq!(
        got["namespace"]["plans"],
        json!([
            {"planName": "apps-db", "planType": "OnDemand", "activate": false, "planConfig": "{type:\"database\"}"},
            {"planName": "apps-str", "planType": "OnDemand", "activate": false, "planConfig": "{type:\"storage\"}"},
        ])
    );
    assert_eq!(got["namespace"]["secret"], "c2VjcmV0LTE=");
    assert!(
        got["namespace"].get("additionalInformation").is_none(),
        "{got}"
    );
    assert!(c.sb.sandbox.install_namespace(apps_ns));
    assert!(!c.sb.sandbox.install_namespace("no-such-namespace"));
    let (_, got) = c.send(c.v4(Method::GET, &apps), namespace_t, false).await;
    assert_eq!(
        got["namespace"]["additionalInformation"]["componentVersion"]["operatorVersion"],
        "2.21.0"
    );

    // Updates: plans by name (only `activate`), members with e-mail and role, links.
    let mut update = got.clone();
    update["namespace"]["plans"][0]["activate"] = json!(true);
    update["namespace"]["enableDevelopmentMode"] = json!(true);
    update["namespace"]["membership"] = json!([
        {"email": "dev@example.com", "role": "Developer"},
        {"email": "ops@example.com", "role": "Platform-Team", "autoAcceptInvite": true},
    ]);
    update["namespace"]["operationalLinks"] =
        json!({"logsUrl": "https://logs.example.com", "other": "dropped"});
    let (status, job) = c
        .send(c.v4(Method::PUT, &apps).json(&update), namespace_t, false)
        .await;
    assert_eq!(status, 202);
    c.sb.advance(400);
    assert_eq!(job_status(&c, &job).await, "finished");
    let (_, got) = c
        .send(
            c.v4(Method::GET, &format!("{apps}?retrieveEnvironments=true")),
            namespace_t,
            false,
        )
        .await;
    let namespace = &got["namespace"];
    assert_eq!(
        (
            namespace["plans"][0]["activate"].as_bool(),
            namespace["plans"][1]["activate"].as_bool()
        ),
        (Some(true), Some(false))
    );
    assert_eq!(namespace["enableDevelopmentMode"], true);
    assert_eq!(
        namespace["membership"]
            .as_array()
            .expect("membership")
            .iter()
            .map(|m| (
                m["email"].as_str(),
                m["status"].as_str(),
                m["permissions"]["deployApp"].as_bool()
            ))
            .collect::<Vec<_>>(),
        [
            (Some("dev@example.com"), Some("Invitation_Sent"), Some(true)),
            (Some("ops@example.com"), Some("Accepted"), Some(false)),
        ]
    );
    assert_eq!(
        namespace["operationalLinks"],
        json!({"logsUrl": "https://logs.example.com"})
    );
    for (change, field) in [
        (
            json!({"plans": [{"planName": "apps-cache"}]}),
            "namespace.plans[0].planName",
        ),
        (
            json!({"plans": [{"planName": "apps-db", "planConfig": "{type:\"storage\"}"}]}),
            "namespace.plans[0].planConfig",
        ),
        (
            json!({"membership": [{"role": "Developer"}]}),
            "namespace.membership[0].email",
        ),
        (
            json!({"membership": [{"email": "x@example.com"}]}),
            "namespace.membership[0].role",
        ),
        (
            json!({"installationType": "Standalone"}),
            "namespace.installationType",
        ),
        (
            json!({"namespaceType": "managed"}),
            "namespace.namespaceType",
        ),
        (json!({"name": "renamed"}), "namespace.name"),
        (
            json!({"enableDevelopmentMode": "yes"}),
            "namespace.enableDevelopmentMode",
        ),
        (json!({"secret": null}), "namespace.secret"),
        (
            json!({"productTypePCLM": null}),
            "namespace.productTypePCLM",
        ),
    ] {
        let mut bad = got.clone();
        for (key, value) in change.as_object().expect("change") {
            bad["namespace"][key] = value.clone();
        }
        let answer = c
            .send(c.v4(Method::PUT, &apps).json(&bad), namespace_t, false)
            .await;
        assert_eq!(invalid_param(&answer), field, "{change}");
    }
    let answer = c
        .send(
            c.v4(Method::PUT, &apps)
                .json(&json!({"manifestVersion": "2.0.0", "namespace": {
                "namespaceId": apps_ns, "name": "apps", "installationType": "Connected",
                "secret": "c2VjcmV0LTE=", "productTypePCLM": "standard",
                "plans": [{"planName": "apps-cache"}]}})),
            namespace_t,
            false,
        )
        .await;
    assert!(
        answer.1.to_string().contains("apps-cache"),
        "the plan is named: {}",
        answer.1
    );

    // Environments: the provider must name the namespace consistently, and the namespace must
    // be installed (the job fails otherwise).
    let envs_t = "/apps/{appId}/environments";
    let envs = format!("/apps/{APP}/environments");
    let env_in = |id: &str, cluster_id: &str, name: &str, namespace_id: &str| {
        let mut m = manifest(id, demo::PC_EXISTING_PACKAGE_ID, 1);
        m["environment"]["provider"] =
            json!({"clusterId": cluster_id, "namespace": name, "namespaceId": namespace_id});
        m
    };
    let answer = c
        .send(
            c.v4(Method::POST, &envs)
                .json(&env_in("e1", CLUSTER, "apps", apps_ns)),
            envs_t,
            false,
        )
        .await;
    assert_eq!(invalid_param(&answer), "environment.provider.clusterId");
    let answer = c
        .send(
            c.v4(Method::POST, &envs)
                .json(&env_in("e1", global, "mendix-apps", apps_ns)),
            envs_t,
            false,
        )
        .await;
    assert_eq!(invalid_param(&answer), "environment.provider.namespace");
    // Services as the contract's enums spell them: a config without the enum's backslashes,
    // or a plan outside it, is refused, naming the field.
    for (service, field) in [
        (
            json!({"name": "db", "plan": "OnDemand", "config": "{type: \"database\"}"}),
            "environment.services[0].config",
        ),
        (
            json!({"name": "db", "plan": "Shared", "config": r#"{type: \"database\"}"#}),
            "environment.services[0].plan",
        ),
    ] {
        let mut m = env_in("e1", CLUSTER, "mendix-apps", NS);
        m["environment"]["services"] = json!([service]);
        let answer = c
            .send(c.v4(Method::POST, &envs).json(&m), envs_t, false)
            .await;
        assert_eq!(invalid_param(&answer), field);
    }
    let (status, job) = c
        .send(
            c.v4(Method::POST, &envs)
                .json(&env_in("e1", global, "core", main_ns)),
            envs_t,
            false,
        )
        .await;
    assert_eq!(status, 202);
    c.sb.advance(400);
    let path = format!("/jobs/{}", job["id"].as_str().expect("job id"));
    let (_, failed) = c
        .send(c.v4(Method::GET, &path), "/jobs/{jobId}", false)
        .await;
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no Mendix Operator installed")),
        "{failed}"
    );
    let (_, job) = c
        .send(
            c.v4(Method::POST, &envs)
                .json(&env_in("e1", global, "apps", apps_ns)),
            envs_t,
            false,
        )
        .await;
    c.sb.advance(400);
    assert_eq!(job_status(&c, &job).await, "finished");
    let (_, listed) = c
        .send(
            c.v4(
                Method::GET,
                &format!("{namespaces}?retrieveEnvironments=true"),
            ),
            namespaces_t,
            false,
        )
        .await;
    assert_eq!(
        listed["namespaces"][1]["namespace"]["environments"][0]["environmentId"],
        "e1"
    );

    // The secret stays out of the simulator's state.
    let state = c.sb.sandbox.state_json().to_string();
    assert!(
        !state.contains("c2VjcmV0LTE="),
        "the secret leaked into the state"
    );
    let debug = c.sb.sandbox.with_world(|world| format!("{world:?}"));
    assert!(
        !debug.contains("c2VjcmV0LTE="),
        "the secret leaked into Debug"
    );
}

#[tokio::test]
async fn every_operation_in_both_contracts_is_served() {
    let c = Checked::new().await;
    let operations = c.contract.operations();
    assert!(operations.len() >= 29, "{operations:?}");
    for (method, template, build_api) in operations {
        let path = template
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
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        // Without credentials every operation answers the contract's 401.
        let (status, _) = c
            .send(c.anonymous(method, &path), &template, build_api)
            .await;
        assert_eq!(status, 401, "{template}");
    }
}
