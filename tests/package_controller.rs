//! MendixPackage controller end to end: the operator against a real control plane and the
//! Mendix sandbox over loopback HTTP, on both platforms.

use k8s_openapi::api::events::v1::Event;
use mendix_operator::crd::MendixPackage;
use mendix_sandbox::{Fault, FaultKind, demo};
use mendix_testkit::*;
use sha2::{Digest, Sha256};

fn with_policy(yaml: String, policy: &str) -> String {
    format!("{yaml}  deletionPolicy: {policy}\n")
}

fn with_secret(yaml: String, secret: &str) -> String {
    yaml.replace(CLOUD_SECRET, secret)
        .replace(PC_SECRET, secret)
}

#[tokio::test]
async fn mendix_cloud_build_becomes_ready_with_metadata() {
    let h = Harness::started().await;
    h.create::<MendixPackage>(&cloud_build("calc-3-0-0", demo::GOOD_REVISION, "3.0.0"))
        .await;
    let p = h.wait_package("calc-3-0-0", package_ready).await;
    let status = p.status.expect("status");
    assert!(status.package_id.is_some());
    assert_eq!(status.version.as_deref(), Some("3.0.0"));
    assert_eq!(status.remote_state.as_deref(), Some("Succeeded"));
    assert!(
        status.size.is_some() && status.created_at.is_some(),
        "{status:?}"
    );
    assert!(status.operation.is_none());
    assert_eq!(h.mendix.stats().count("v1_build_package"), 1);
}

#[tokio::test]
async fn private_cloud_build_follows_the_job_to_a_package() {
    let h = Harness::started().await;
    h.create::<MendixPackage>(&pc_build("pc-3-0-0", demo::GOOD_REVISION, "3.0.0"))
        .await;
    let p = h.wait_package("pc-3-0-0", package_ready).await;
    let status = p.status.expect("status");
    assert!(status.package_id.is_some());
    assert!(status.runtime_version.is_some(), "{status:?}");
    assert_eq!(h.mendix.stats().count("build_deployment_package"), 1);
    assert!(h.mendix.stats().count("get_job") >= 1);
}

#[tokio::test]
async fn failed_builds_stall_with_reason_and_log() {
    let h = Harness::started().await;
    h.create::<MendixPackage>(&cloud_build("bad-cloud", demo::FAILING_REVISION, "3.0.1"))
        .await;
    h.create::<MendixPackage>(&pc_build("bad-pc", demo::FAILING_REVISION, "3.0.1"))
        .await;
    for name in ["bad-cloud", "bad-pc"] {
        let p = h.wait_package(name, package_stalled).await;
        assert_eq!(stalled_reason_package(&p), "BuildFailed", "{name}");
        let status = p.status.expect("status");
        let ready = condition(&status.conditions, "Ready").expect("ready condition");
        assert_eq!(ready.status, "False");
        assert!(
            ready.message.contains("create a new MendixPackage"),
            "{}",
            ready.message
        );
    }
    let pc = h.wait_package("bad-pc", package_stalled).await;
    let message = condition(&pc.status.expect("status").conditions, "Stalled")
        .expect("stalled")
        .message
        .clone();
    assert!(
        message.contains("build log ends with"),
        "the Private Cloud log tail is shown: {message}"
    );
}

#[tokio::test]
async fn existing_packages_are_adopted_and_missing_ones_stall() {
    let h = Harness::started().await;
    let adopt = |name: &str, id: &str| {
        format!(
            "apiVersion: mendixops.io/v1alpha1
kind: MendixPackage
metadata: {{name: {name}}}
spec:
  target: {{mendixCloud: {{appId: {app}}}}}
  credentialsSecretRef: {{name: {CLOUD_SECRET}}}
  source: {{existing: {{packageId: {id}}}}}
",
            app = demo::CLOUD_APP_ID
        )
    };
    h.create::<MendixPackage>(&adopt("adopted", demo::CLOUD_EXISTING_PACKAGE_ID))
        .await;
    h.create::<MendixPackage>(&adopt("missing", "00000000-0000-4000-8000-000000000000"))
        .await;
    let p = h.wait_package("adopted", package_ready).await;
    assert_eq!(
        p.status.as_ref().and_then(|s| s.package_id.as_deref()),
        Some(demo::CLOUD_EXISTING_PACKAGE_ID)
    );
    assert_eq!(
        p.status.as_ref().and_then(|s| s.version.as_deref()),
        Some("1.1.5")
    );
    let m = h.wait_package("missing", package_stalled).await;
    assert_eq!(stalled_reason_package(&m), "PackageNotFound");
    let stats = h.mendix.stats();
    assert_eq!(
        stats.count("v1_build_package") + stats.count("v1_upload_package"),
        0,
        "adoption writes nothing"
    );
}

#[tokio::test]
async fn credential_problems_stall_without_remote_writes() {
    let h = Harness::started().await;
    h.put_secret(
        "wrong-key",
        &[
            ("username", demo::CLOUD_USERNAME),
            ("apiKey", "not-the-key"),
        ],
    )
    .await;
    h.put_secret("read-only", &[("pat", demo::PC_PAT_READ_ONLY)])
        .await;
    h.put_secret("no-pat", &[("token", "x")]).await;
    h.create::<MendixPackage>(&with_secret(
        cloud_build("wrong-key", demo::GOOD_REVISION, "4.0.0"),
        "wrong-key",
    ))
    .await;
    h.create::<MendixPackage>(&with_secret(
        pc_build("read-only", demo::GOOD_REVISION, "4.0.0"),
        "read-only",
    ))
    .await;
    h.create::<MendixPackage>(&with_secret(
        pc_build("no-pat", demo::GOOD_REVISION, "4.0.0"),
        "no-pat",
    ))
    .await;
    h.create::<MendixPackage>(&with_secret(
        pc_build("no-secret", demo::GOOD_REVISION, "4.0.0"),
        "does-not-exist",
    ))
    .await;
    for (name, reason, hint) in [
        ("wrong-key", "InvalidCredentials", "apiKey"),
        ("read-only", "AccessDenied", "scope"),
        ("no-pat", "SecretKeyMissing", "pat"),
        ("no-secret", "SecretNotFound", "does-not-exist"),
    ] {
        let p = h.wait_package(name, package_stalled).await;
        assert_eq!(stalled_reason_package(&p), reason, "{name}");
        let message = condition(&p.status.expect("status").conditions, "Stalled")
            .expect("stalled")
            .message
            .clone();
        assert!(message.contains(hint), "{name}: {message}");
        assert!(
            !message.contains("not-the-key") && !message.contains(demo::PC_PAT_READ_ONLY),
            "no secret in status: {message}"
        );
    }
    let stats = h.mendix.stats();
    assert_eq!(
        stats.count("v1_build_package"),
        0,
        "wrong credentials are refused before any write"
    );
    // Only Mendix can say a token lacks a scope: one refused request, not repeated.
    assert_eq!(stats.count("build_deployment_package"), 1);
}

#[tokio::test]
async fn deletion_policy_decides_whether_the_remote_package_goes() {
    let h = Harness::started().await;
    h.create::<MendixPackage>(&with_policy(
        cloud_build("keep", demo::GOOD_REVISION, "5.0.0"),
        "Retain",
    ))
    .await;
    h.create::<MendixPackage>(&with_policy(
        pc_build("drop", demo::GOOD_REVISION, "5.0.1"),
        "Delete",
    ))
    .await;
    let keep = h
        .wait_package("keep", package_ready)
        .await
        .status
        .and_then(|s| s.package_id)
        .expect("id");
    let drop = h
        .wait_package("drop", package_ready)
        .await
        .status
        .and_then(|s| s.package_id)
        .expect("id");
    h.delete_package("keep").await;
    h.delete_package("drop").await;
    let api = h.packages();
    wait_for(
        "both packages gone",
        || {
            let api = api.clone();
            async move {
                Some(
                    api.list(&Default::default())
                        .await
                        .map(|l| l.items.len())
                        .unwrap_or(99),
                )
            }
        },
        |n| *n == 0,
    )
    .await;
    let state = h.mendix.state_json();
    let ids = |platform: &str| -> Vec<String> {
        state[platform]["apps"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|app| app["packages"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| {
                p["packageId"]
                    .as_str()
                    .or_else(|| p["id"].as_str())
                    .map(str::to_string)
            })
            .collect()
    };
    assert!(
        ids("cloud").contains(&keep),
        "Retain keeps the remote package: {:?}",
        ids("cloud")
    );
    assert!(
        !ids("privateCloud").contains(&drop),
        "Delete removes the remote package"
    );
    assert!(
        !ids("privateCloud").is_empty(),
        "the sandbox still lists the other packages"
    );
    assert_eq!(h.mendix.stats().count("delete_deployment_package"), 1);
    assert_eq!(h.mendix.stats().count("v1_delete_package"), 0);
}

#[tokio::test]
async fn package_in_use_waits_then_deletes() {
    let h = Harness::started().await;
    h.create::<MendixPackage>(&with_policy(
        cloud_build("in-use", demo::GOOD_REVISION, "6.0.0"),
        "Delete",
    ))
    .await;
    h.wait_package("in-use", package_ready).await;
    // An environment still uses the package until the fault is cleared.
    h.mendix.add_fault(package_in_use());
    h.delete_package("in-use").await;
    let p = h.wait_package("in-use", waiting_while_in_use).await;
    assert!(
        p.metadata.finalizers.is_some_and(|f| !f.is_empty()),
        "the finalizer stays while the package is in use"
    );
    let refused = h.mendix.stats().count("v1_delete_package");
    assert!(refused >= 1);
    h.mendix.clear_faults();
    h.wait_package_gone("in-use").await;
    let attempts = h.mendix.stats().count("v1_delete_package");
    // Retries back off (50 ms doubling to 400 ms): a handful of attempts, not a hot loop.
    assert!(
        attempts > refused && attempts <= refused + 3,
        "{refused} refused, {attempts} in all"
    );
}

#[tokio::test]
async fn a_lost_build_answer_is_found_again_not_built_twice() {
    let mut h = Harness::started().await;
    // Mendix starts the builds but the operator never sees the answers.
    for op in ["v1_build_package", "build_deployment_package"] {
        h.mendix.add_fault(Fault {
            operation: op.into(),
            kind: FaultKind::MalformedBody,
            rate: 1.0,
            times: Some(1),
        });
    }
    h.create::<MendixPackage>(&cloud_build("lost-cloud", demo::GOOD_REVISION, "7.0.0"))
        .await;
    h.create::<MendixPackage>(&pc_build("lost-pc", demo::GOOD_REVISION, "7.0.0"))
        .await;
    // Restart the operator while the answers are lost: the new instance must resume.
    h.wait_package("lost-pc", |p| {
        p.status.as_ref().is_some_and(|s| s.operation.is_some())
    })
    .await;
    h.crash_operator().await;
    let mut config = h.config();
    config.identity = "second".into();
    h.start_operator_with(config).await;
    h.wait_package("lost-cloud", package_ready).await;
    h.wait_package("lost-pc", package_ready).await;
    let stats = h.mendix.stats();
    assert_eq!(
        stats.count("v1_build_package"),
        1,
        "exactly one Mendix Cloud build"
    );
    assert_eq!(
        stats.count("build_deployment_package"),
        1,
        "exactly one Private Cloud build"
    );
}

#[tokio::test]
async fn transient_faults_still_converge_with_bounded_calls() {
    let h = Harness::started().await;
    h.mendix.add_fault(Fault {
        operation: "get_job".into(),
        kind: FaultKind::Error {
            status: 503,
            error_code: None,
        },
        rate: 0.3,
        times: None,
    });
    h.mendix.add_fault(Fault {
        operation: "v1_get_package".into(),
        kind: FaultKind::TooManyRequests {
            retry_after_seconds: 1,
        },
        rate: 1.0,
        times: Some(2),
    });
    h.mendix.add_fault(Fault {
        operation: "list_deployment_packages".into(),
        kind: FaultKind::Latency { millis: 20_000 },
        rate: 1.0,
        times: Some(1),
    });
    h.create::<MendixPackage>(&cloud_build("faulty-cloud", demo::GOOD_REVISION, "9.0.0"))
        .await;
    h.create::<MendixPackage>(&pc_build("faulty-pc", demo::GOOD_REVISION, "9.0.0"))
        .await;
    h.wait_package("faulty-cloud", package_ready).await;
    h.wait_package("faulty-pc", package_ready).await;
    let stats = h.mendix.stats();
    assert_eq!(stats.count("v1_build_package"), 1);
    assert_eq!(stats.count("build_deployment_package"), 1);
    // Builds take 200 ms here; the poll schedule (50 ms doubling to 400 ms) bounds the polls,
    // with room for the injected failures and the resync reads.
    assert!(
        stats.count("get_job") <= 40,
        "get_job calls: {}",
        stats.count("get_job")
    );
    assert!(
        stats.count("v1_get_package") <= 40,
        "v1_get_package calls: {}",
        stats.count("v1_get_package")
    );
}

#[tokio::test]
async fn uploads_verify_the_checksum() {
    let h = Harness::started().await;
    let content = an_mda(200_000);
    let sha = hex::encode(Sha256::digest(&content));
    let url = serve_file(content).await;
    let upload = |name: &str, platform: &str, secret: &str, app: &str, sha: Option<&str>| {
        let sha = sha.map(|s| format!(", sha256: {s}")).unwrap_or_default();
        format!(
            "apiVersion: mendixops.io/v1alpha1
kind: MendixPackage
metadata: {{name: {name}}}
spec:
  target: {{{platform}: {{appId: {app}}}}}
  credentialsSecretRef: {{name: {secret}}}
  source: {{upload: {{url: '{url}', fileName: {name}.mda{sha}}}}}
"
        )
    };
    h.create::<MendixPackage>(&upload(
        "up-cloud",
        "mendixCloud",
        CLOUD_SECRET,
        demo::CLOUD_APP_ID,
        Some(&sha),
    ))
    .await;
    h.create::<MendixPackage>(&upload(
        "up-pc",
        "privateCloud",
        PC_SECRET,
        demo::PC_APP_ID,
        None,
    ))
    .await;
    let wrong = "0".repeat(64);
    h.create::<MendixPackage>(&upload(
        "up-wrong",
        "privateCloud",
        PC_SECRET,
        demo::PC_APP_ID,
        Some(&wrong),
    ))
    .await;
    h.wait_package("up-cloud", package_ready).await;
    h.wait_package("up-pc", package_ready).await;
    let bad = h.wait_package("up-wrong", package_stalled).await;
    assert_eq!(stalled_reason_package(&bad), "ChecksumMismatch");
    let stats = h.mendix.stats();
    assert_eq!(stats.count("v1_upload_package"), 1);
    assert_eq!(
        stats.count("upload_deployment_package"),
        1,
        "the wrong checksum uploads nothing"
    );
}

#[tokio::test]
async fn paused_packages_start_nothing_and_reconcile_requests_are_echoed() {
    let h = Harness::started().await;
    let yaml = cloud_build("paused", demo::GOOD_REVISION, "10.0.0").replace(
        "metadata: {name: paused}",
        "metadata: {name: paused, annotations: {mendixops.io/paused: 'true'}}",
    );
    h.create::<MendixPackage>(&yaml).await;
    let p = h
        .wait_package("paused", |p| {
            p.status
                .as_ref()
                .and_then(|s| condition(&s.conditions, "Reconciling"))
                .is_some_and(|c| c.reason == "Paused")
        })
        .await;
    assert!(
        p.status
            .as_ref()
            .and_then(|s| s.package_id.as_ref())
            .is_none()
    );
    assert_eq!(
        h.mendix.stats().count("v1_build_package"),
        0,
        "paused: no remote writes"
    );
    let patch = serde_json::json!({"metadata": {"annotations": {"mendixops.io/paused": null, "mendixops.io/reconcileRequestedAt": "now-1"}}});
    h.packages()
        .patch(
            "paused",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .expect("resumed");
    let p = h.wait_package("paused", package_ready).await;
    assert_eq!(
        p.status.and_then(|s| s.reconcile_requested_at).as_deref(),
        Some("now-1")
    );
    assert_eq!(h.mendix.stats().count("v1_build_package"), 1);
}

/// `Retain` (the default) has nothing to do remotely on delete, so no finalizer holds the
/// resource; `Delete` has one. A Delete package whose credentials Secret is gone is kept in
/// Mendix with a Warning Event, instead of holding its deletion forever.
#[tokio::test]
async fn only_delete_packages_hold_a_finalizer_and_a_lost_secret_retains() {
    use k8s_openapi::api::core::v1::Secret;
    let h = Harness::started().await;
    h.create::<MendixPackage>(&cloud_build("kept", demo::GOOD_REVISION, "9.1.0"))
        .await;
    h.create::<MendixPackage>(&with_policy(
        cloud_build("removed", demo::GOOD_REVISION, "9.2.0"),
        "Delete",
    ))
    .await;
    let kept = h.wait_package("kept", package_ready).await;
    let removed = h.wait_package("removed", package_ready).await;
    assert!(
        kept.metadata.finalizers.unwrap_or_default().is_empty(),
        "Retain needs no finalizer"
    );
    assert_eq!(
        removed.metadata.finalizers.unwrap_or_default(),
        ["mendixops.io/cleanup"]
    );
    // The credentials go first (as when a namespace is deleted), then the package.
    kube::Api::<Secret>::namespaced(h.client.clone(), &h.ns)
        .delete(CLOUD_SECRET, &Default::default())
        .await
        .expect("Secret deleted");
    h.delete_package("removed").await;
    h.delete_package("kept").await;
    let api = h.packages();
    wait_for(
        "both packages gone",
        || {
            let api = api.clone();
            async move { Some(api.list(&Default::default()).await.ok()?.items.len()) }
        },
        |left| *left == 0,
    )
    .await;
    assert_eq!(h.mendix.stats().count("v1_delete_package"), 0);
    let note = retained_note(&h).await;
    assert!(
        note.contains(CLOUD_SECRET) && note.contains("kept in Mendix"),
        "{note}"
    );
    // Put the Secret back for the harness's last look.
    h.put_secret(
        CLOUD_SECRET,
        &[
            ("username", demo::CLOUD_USERNAME),
            ("apiKey", demo::CLOUD_API_KEY),
        ],
    )
    .await;
}

/// A `Delete` package that an environment keeps using is not waited for without end: after
/// --delete-wait-limit it is kept in Mendix, a Warning Event says so, and the resource goes.
#[tokio::test]
async fn a_package_in_use_is_retained_after_the_delete_wait_limit() {
    let mut h = Harness::new().await;
    let mut config = h.config();
    config.delete_wait_limit = std::time::Duration::from_secs(2);
    h.start_operator_with(config).await;
    h.create::<MendixPackage>(&with_policy(
        cloud_build("busy", demo::GOOD_REVISION, "9.3.0"),
        "Delete",
    ))
    .await;
    h.wait_package("busy", package_ready).await;
    h.mendix.add_fault(package_in_use());
    h.delete_package("busy").await;
    h.wait_package_gone("busy").await;
    assert!(
        h.mendix.stats().count("v1_delete_package") >= 1,
        "it was tried"
    );
    let note = retained_note(&h).await;
    assert!(
        note.contains("refused to delete it after 2s")
            && note.contains("an environment still uses it"),
        "{note}"
    );
}

/// Private Cloud names no error for a package in use: its delete job fails. That is waited on
/// like Mendix Cloud's PACKAGE_IN_USE, and after --delete-wait-limit the package is kept in
/// Mendix with Mendix's own message, instead of the deletion stalling for ever.
#[tokio::test]
async fn a_private_cloud_package_in_use_is_waited_for_then_retained() {
    let mut h = Harness::new().await;
    let mut config = h.config();
    config.delete_wait_limit = std::time::Duration::from_secs(3);
    h.start_operator_with(config).await;
    // The package the demo's calc-test environment runs.
    let adopted = pc_build("running", demo::GOOD_REVISION, "1.0.0").replace(
        &format!(
            "{{build: {{branch: main, revision: {}, version: 1.0.0}}}}",
            demo::GOOD_REVISION
        ),
        &format!(
            "{{existing: {{packageId: {}}}}}",
            demo::PC_EXISTING_PACKAGE_ID
        ),
    );
    assert!(adopted.contains("existing"), "{adopted}");
    h.create::<MendixPackage>(&with_policy(adopted, "Delete"))
        .await;
    h.wait_package("running", package_ready).await;
    h.delete_package("running").await;
    let waiting = h.wait_package("running", waiting_while_in_use).await;
    assert!(
        waiting.metadata.finalizers.is_some_and(|f| !f.is_empty()),
        "the finalizer stays while the package is in use"
    );
    h.wait_package_gone("running").await;
    let tries = h.mendix.stats().count("delete_deployment_package");
    assert!(
        tries >= 2,
        "the delete was retried, not given up at once: {tries}"
    );
    assert_eq!(
        h.pc_env_state(demo::PC_ENVIRONMENT_TEST)["environment"]["deployment"]["packageId"],
        demo::PC_EXISTING_PACKAGE_ID,
        "the environment still runs the package"
    );
    let note = retained_note(&h).await;
    assert!(
        note.contains("refused to delete it after 3s") && note.contains("in use by environment"),
        "{note}"
    );
}

/// Deleting the namespace of a `Delete` package that an environment still uses does not hold
/// the namespace until --delete-wait-limit: the package is kept in Mendix at once.
#[tokio::test]
async fn a_namespace_being_deleted_keeps_a_package_in_use_at_once() {
    use k8s_openapi::api::core::v1::{Namespace, Secret};
    use kube::api::{DeleteParams, Patch, PatchParams};
    let mut h = Harness::new().await;
    // As installed cluster-wide: the operator's rights do not live in the namespace that goes
    // (the harness's own ServiceAccount and Roles do, and would go with it).
    let admin = h.client.clone();
    let config = h.config();
    h.start_operator_as(config, admin).await;
    h.create::<MendixPackage>(&with_policy(
        cloud_build("in-use", demo::GOOD_REVISION, "9.4.0"),
        "Delete",
    ))
    .await;
    h.wait_package("in-use", package_ready).await;
    h.mendix.add_fault(package_in_use());
    // The credentials outlive the package here (a finalizer of the test's own), so the delete
    // is tried and refused, rather than given up for want of credentials.
    let secrets = kube::Api::<Secret>::namespaced(h.client.clone(), &h.ns);
    let hold = |finalizers: serde_json::Value| {
        let secrets = secrets.clone();
        async move {
            secrets
                .patch(
                    CLOUD_SECRET,
                    &PatchParams::default(),
                    &Patch::Merge(serde_json::json!({"metadata": {"finalizers": finalizers}})),
                )
                .await
                .expect("Secret finalizers patched");
        }
    };
    hold(serde_json::json!(["mendixops.io/test-hold"])).await;
    kube::Api::<Namespace>::all(h.client.clone())
        .delete(&h.ns, &DeleteParams::background())
        .await
        .expect("namespace deletion started");
    h.wait_package_gone("in-use").await;
    hold(serde_json::Value::Null).await;
    assert!(
        h.mendix.stats().count("v1_delete_package") >= 1,
        "the delete was tried"
    );
    let kept = h.mendix.state_json()["cloud"]["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["packages"].as_array().cloned().unwrap_or_default())
        .any(|p| {
            p["version"]
                .as_str()
                .is_some_and(|v| v.starts_with("9.4.0"))
        });
    assert!(kept, "the package stays in Mendix");
}

/// The note of the Event that says a package was kept in Mendix.
async fn retained_note(h: &Harness) -> String {
    let events = kube::Api::<Event>::namespaced(h.client.clone(), &h.ns)
        .list(&Default::default())
        .await
        .expect("events");
    events
        .items
        .iter()
        .find(|e| e.reason.as_deref() == Some("Retained"))
        .and_then(|e| e.note.clone())
        .expect("a Retained Event")
}

/// Deleting, and waiting because an environment still uses the package.
fn waiting_while_in_use(p: &MendixPackage) -> bool {
    p.status
        .as_ref()
        .and_then(|s| condition(&s.conditions, "Reconciling"))
        .is_some_and(|c| c.reason == "PackageInUse")
}

/// Every package delete refused as Mendix does while an environment uses the package.
fn package_in_use() -> Fault {
    Fault {
        operation: "v1_delete_package".into(),
        kind: FaultKind::Error {
            status: 409,
            error_code: Some("PACKAGE_IN_USE".into()),
        },
        rate: 1.0,
        times: None,
    }
}
