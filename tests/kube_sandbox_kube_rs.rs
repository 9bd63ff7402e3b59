//! kube-rs against the Kubernetes API sandbox: watcher, optimistic concurrency, status
//! subresource and generation, finalizers, a Controller with the finalizer helper and the
//! events Recorder, Leases via kube-lease-manager, pagination, 410 Gone, faults, save/load.

mod kube_sandbox_support;

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use kube_sandbox_support::{GUARD, eventually, repo_path};
use mendix_operator::crd::MendixEnvironment;
use mendix_operator::sandbox::kube::{Fault, KubeSandbox, KubeSandboxServer};
use serde_json::json;

async fn start() -> (KubeSandbox, KubeSandboxServer, Client) {
    let sandbox = KubeSandbox::new();
    let server = sandbox.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = server.client().await;
    (sandbox, server, client)
}

fn config_map(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "demo"}},
        "data": {"value": value},
    }))
    .unwrap()
}

async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (_, crd) in mendix_operator::crd::all() {
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
}

fn example_environment() -> MendixEnvironment {
    let text = std::fs::read_to_string(repo_path("deploy/examples/mendix-cloud-environment.yaml"))
        .unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn api_code(err: kube::Error) -> u16 {
    match err {
        kube::Error::Api(status) => status.code,
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_sees_create_update_delete_in_order() {
    let (_sandbox, _server, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    // Wait for the initial list to finish before changing anything.
    loop {
        let ev = tokio::time::timeout(GUARD, events.try_next())
            .await
            .unwrap()
            .unwrap();
        if matches!(ev, Some(watcher::Event::InitDone)) {
            break;
        }
    }
    api.create(&PostParams::default(), &config_map("w", "1"))
        .await
        .unwrap();
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"value": "2"}})),
    )
    .await
    .unwrap();
    api.delete("w", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        match tokio::time::timeout(GUARD, events.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(watcher::Event::Apply(cm)) => {
                seen.push(format!("apply {}", cm.data.unwrap_or_default()["value"]))
            }
            Some(watcher::Event::Delete(cm)) => seen.push(format!("delete {}", cm.name_any())),
            _ => {}
        }
    }
    assert_eq!(seen, ["apply 1", "apply 2", "delete w"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_update_gets_409_and_generate_name_and_dry_run_work() {
    let (sandbox, _server, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let created = api
        .create(&PostParams::default(), &config_map("c", "1"))
        .await
        .unwrap();
    let mut fresh = created.clone();
    fresh.data = Some([("value".to_string(), "2".to_string())].into());
    api.replace("c", &PostParams::default(), &fresh)
        .await
        .unwrap();
    let mut stale = created;
    stale.data = Some([("value".to_string(), "3".to_string())].into());
    let err = api
        .replace("c", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert_eq!(api_code(err), 409);

    let err = api
        .create(&PostParams::default(), &config_map("c", "x"))
        .await
        .unwrap_err();
    assert_eq!(api_code(err), 409, "AlreadyExists");

    let mut generated = config_map("", "g");
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("gen-".into());
    let made = api
        .create(&PostParams::default(), &generated)
        .await
        .unwrap();
    assert!(made.name_any().starts_with("gen-") && made.name_any().len() == 9);

    let before = sandbox.count("", "configmaps");
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    api.create(&dry, &config_map("dry", "d")).await.unwrap();
    assert_eq!(sandbox.count("", "configmaps"), before);
    assert_eq!(api_code(api.get("dry").await.unwrap_err()), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_patches_do_not_bump_generation_and_main_writes_ignore_status() {
    let (_sandbox, _server, client) = start().await;
    install_crds(&client).await;
    let api: Api<MendixEnvironment> = Api::default_namespaced(client);
    let env = api
        .create(&PostParams::default(), &example_environment())
        .await
        .unwrap();
    assert_eq!(env.metadata.generation, Some(1));
    // Defaults from the schema were applied.
    assert!(serde_json::to_value(&env).unwrap()["spec"]["production"] == json!(false));

    let status = json!({"status": {"observedGeneration": 1, "phase": "Running"}});
    let env = api
        .patch_status(
            "calc-acceptance",
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await
        .unwrap();
    assert_eq!(env.metadata.generation, Some(1));
    let as_json = serde_json::to_value(&env).unwrap();
    assert_eq!(as_json["status"]["phase"], "Running");

    // Status sent to the main resource is ignored; a spec change bumps the generation.
    let patch = json!({"spec": {"instances": 3}, "status": {"phase": "Stopped"}});
    let env = api
        .patch(
            "calc-acceptance",
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .unwrap();
    assert_eq!(env.metadata.generation, Some(2));
    assert_eq!(
        serde_json::to_value(&env).unwrap()["status"]["phase"],
        "Running"
    );

    // Server-side apply of status by a controller's field manager.
    let applied = json!({"apiVersion": "mendixops.io/v1alpha1", "kind": "MendixEnvironment",
        "status": {"observedGeneration": 2, "phase": "Running"}});
    let env = api
        .patch_status(
            "calc-acceptance",
            &PatchParams::apply("mendix-operator").force(),
            &Patch::Apply(&applied),
        )
        .await
        .unwrap();
    assert_eq!(env.metadata.generation, Some(2));
    let managers: Vec<String> = env
        .managed_fields()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(
        managers.contains(&"mendix-operator".to_string()),
        "{managers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalizer_blocks_deletion_until_removed() {
    let (_sandbox, _server, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let mut cm = config_map("f", "1");
    cm.metadata.finalizers = Some(vec!["sandbox.test/hold".into()]);
    api.create(&PostParams::default(), &cm).await.unwrap();
    api.delete("f", &DeleteParams::default()).await.unwrap();
    let held = api.get("f").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    // Deleting again changes nothing.
    api.delete("f", &DeleteParams::default()).await.unwrap();
    assert!(api.get("f").await.is_ok());
    api.patch(
        "f",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(api_code(api.get("f").await.unwrap_err()), 404);
}

#[derive(Debug, thiserror::Error)]
#[error("reconcile failed: {0}")]
struct ReconcileError(#[from] kube::Error);

struct Ctx {
    api: Api<ConfigMap>,
    recorder: Recorder,
}

async fn reconcile(
    cm: Arc<ConfigMap>,
    ctx: Arc<Ctx>,
) -> Result<Action, kube::runtime::finalizer::Error<ReconcileError>> {
    let reference = cm.object_ref(&());
    let recorder = ctx.recorder.clone();
    finalizer(&ctx.api, "sandbox.test/cleanup", cm, |event| async move {
        let (reason, note) = match event {
            Finalizer::Apply(cm) => ("Reconciled", format!("saw {}", cm.name_any())),
            Finalizer::Cleanup(cm) => ("CleanedUp", format!("cleaned {}", cm.name_any())),
        };
        recorder
            .publish(
                &Event {
                    type_: EventType::Normal,
                    reason: reason.into(),
                    note: Some(note),
                    action: "Reconcile".into(),
                    secondary: None,
                },
                &reference,
            )
            .await?;
        Ok::<_, ReconcileError>(Action::await_change())
    })
    .await
}

/// A kube-rs Controller with the finalizer helper and the events Recorder, end to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_with_finalizer_helper_and_events_recorder() {
    let (_sandbox, _server, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let reporter = Reporter {
        controller: "sandbox-test".into(),
        instance: None,
    };
    let ctx = Arc::new(Ctx {
        api: api.clone(),
        recorder: Recorder::new(client.clone(), reporter),
    });
    let controller = Controller::new(api.clone(), watcher::Config::default())
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_millis(200)),
            ctx,
        )
        .for_each(|_| async {});
    let handle = tokio::spawn(controller);

    api.create(&PostParams::default(), &config_map("ctl", "1"))
        .await
        .unwrap();
    let events: Api<CoreEvent> = Api::default_namespaced(client.clone());
    eventually("the finalizer and a Reconciled event", || {
        let (api, events) = (api.clone(), events.clone());
        async move {
            let has_finalizer = api.get("ctl").await.is_ok_and(|cm| {
                cm.finalizers()
                    .contains(&"sandbox.test/cleanup".to_string())
            });
            // kubectl describe reads core/v1 Events; the Recorder writes events.k8s.io/v1.
            let lp = ListParams::default().fields("involvedObject.name=ctl");
            let listed = events.list(&lp).await;
            let reconciled = listed.is_ok_and(|l| {
                l.items
                    .iter()
                    .any(|e| e.reason.as_deref() == Some("Reconciled"))
            });
            has_finalizer && reconciled
        }
    })
    .await;

    api.delete("ctl", &DeleteParams::default()).await.unwrap();
    eventually("cleanup to remove the finalizer and the object", || {
        let api = api.clone();
        async move { api.get_opt("ctl").await.is_ok_and(|o| o.is_none()) }
    })
    .await;
    let lp = ListParams::default().fields("involvedObject.name=ctl");
    let reasons: Vec<String> = events
        .list(&lp)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    assert!(reasons.contains(&"CleanedUp".to_string()), "{reasons:?}");
    handle.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_acquired_and_renewed_by_kube_lease_manager() {
    let (_sandbox, _server, client) = start().await;
    let leader = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), "operator-leader")
        .with_namespace("default")
        .with_identity("replica-a")
        .with_duration(3)
        .with_grace(1)
        .build()
        .await
        .unwrap();
    let (mut is_leader, task) = leader.watch().await;
    tokio::time::timeout(GUARD, async {
        while !*is_leader.borrow_and_update() {
            is_leader.changed().await.unwrap();
        }
    })
    .await
    .unwrap();
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let first = leases.get("operator-leader").await.unwrap();
    let spec = first.spec.clone().unwrap_or_default();
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-a"));
    let first_renew = spec.renew_time.clone();
    eventually("the lease to be renewed", || {
        let leases = leases.clone();
        let first_renew = first_renew.clone();
        async move {
            let spec = leases
                .get("operator-leader")
                .await
                .ok()
                .and_then(|l| l.spec)
                .unwrap_or_default();
            spec.holder_identity.as_deref() == Some("replica-a") && spec.renew_time != first_renew
        }
    })
    .await;

    // A second replica does not take a lease that is held and renewed.
    let other = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), "operator-leader")
        .with_namespace("default")
        .with_identity("replica-b")
        .with_duration(3)
        .with_grace(1)
        .build()
        .await
        .unwrap();
    let attempt = tokio::time::timeout(Duration::from_secs(2), other.changed()).await;
    assert!(
        attempt.is_err() || matches!(attempt, Ok(Ok(false))),
        "replica-b took a held lease: {attempt:?}"
    );
    drop(is_leader);
    let _ = tokio::time::timeout(GUARD, task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_selectors_and_410_gone() {
    let sandbox = KubeSandbox::with_history(20);
    let server = sandbox.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = server.client().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let start_rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    for i in 0..25 {
        let mut cm = config_map(&format!("p{i:02}"), &i.to_string());
        if i % 5 == 0 {
            cm.metadata.labels = Some([("tier".to_string(), "gold".to_string())].into());
        }
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
    // Pages read one snapshot: changes made between pages do not show up in later pages.
    let mut lp = ListParams::default().limit(10);
    let first = api.list(&lp).await.unwrap();
    let snapshot_rv = first.metadata.resource_version.clone().unwrap();
    let mut names: Vec<String> = first.items.iter().map(|c| c.name_any()).collect();
    api.create(&PostParams::default(), &config_map("p10a", "new"))
        .await
        .unwrap();
    api.delete("p20", &DeleteParams::default()).await.unwrap();
    let mut token = first.metadata.continue_.clone().unwrap();
    let mut pages = 1;
    loop {
        let page = api.list(&lp.clone().continue_token(&token)).await.unwrap();
        pages += 1;
        names.extend(page.items.iter().map(|c| c.name_any()));
        match page.metadata.continue_ {
            Some(next) if !next.is_empty() => token = next,
            _ => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names.len(), 25);
    assert!(names.windows(2).all(|w| w[0] < w[1]));
    assert!(names.contains(&"p20".to_string()) && !names.contains(&"p10a".to_string()));
    // The same snapshot by resourceVersionMatch=Exact; the latest state by default.
    let exact = api
        .list(
            &ListParams::default()
                .at(&snapshot_rv)
                .matching(kube::api::VersionMatch::Exact),
        )
        .await
        .unwrap();
    assert_eq!(exact.items.len(), 25);
    assert!(exact.items.iter().any(|c| c.name_any() == "p20"));
    let latest = api.list(&ListParams::default()).await.unwrap();
    assert!(latest.items.iter().any(|c| c.name_any() == "p10a"));
    assert!(!latest.items.iter().any(|c| c.name_any() == "p20"));
    let gold = api
        .list(&ListParams::default().labels("tier=gold"))
        .await
        .unwrap();
    assert_eq!(gold.items.len(), 4, "p20 was deleted");
    // Once the history has moved on, the old continue token is expired (410).
    for i in 0..20 {
        api.create(
            &PostParams::default(),
            &config_map(&format!("q{i:02}"), "x"),
        )
        .await
        .unwrap();
    }
    lp = lp.continue_token(first.metadata.continue_.as_deref().unwrap());
    assert_eq!(api_code(api.list(&lp).await.unwrap_err()), 410);
    let one = api
        .list(&ListParams::default().fields("metadata.name=p07"))
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1);

    // 25 changes with a history of 20: the start resourceVersion is too old to watch from.
    let mut stream = api
        .watch(&WatchParams::default(), &start_rv)
        .await
        .unwrap()
        .boxed();
    let first = tokio::time::timeout(GUARD, stream.try_next())
        .await
        .unwrap();
    match first {
        Ok(Some(kube::api::WatchEvent::Error(status))) => assert_eq!(status.code, 410),
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 410),
        other => panic!("expected 410 Gone, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_fail_conflict_and_cut_watches() {
    let (sandbox, server, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    api.create(&PostParams::default(), &config_map("x", "1"))
        .await
        .unwrap();

    // Over HTTP: fail the next two requests to configmaps with 503.
    let http = reqwest::Client::new();
    // (kube's client retries 503 by itself, so use 500 here.)
    let body = json!({"path": "/configmaps", "action": {"fail": {"status": 500}}, "count": 2});
    let resp = http
        .post(format!("{}/_sandbox/faults", server.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(api_code(api.get("x").await.unwrap_err()), 500);
    assert_eq!(api_code(api.get("x").await.unwrap_err()), 500);
    assert!(
        api.get("x").await.is_ok(),
        "the fault expired after two requests"
    );

    // From Rust: force 409 on the next update.
    sandbox
        .faults()
        .add(Fault::conflict("/configmaps/x").times(1));
    let patch = Patch::Merge(json!({"data": {"value": "2"}}));
    assert_eq!(
        api_code(
            api.patch("x", &PatchParams::default(), &patch)
                .await
                .unwrap_err()
        ),
        409
    );
    api.patch("x", &PatchParams::default(), &patch)
        .await
        .unwrap();

    // A cut watch ends; kube's watcher re-watches and still sees later changes.
    let mut stream = watcher(api.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    let first = tokio::time::timeout(GUARD, stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.name_any(), "x");
    sandbox.faults().cut_watches();
    api.create(&PostParams::default(), &config_map("after-cut", "1"))
        .await
        .unwrap();
    let seen = tokio::time::timeout(GUARD, async {
        loop {
            let obj = stream.try_next().await.unwrap().unwrap();
            if obj.name_any() == "after-cut" {
                return obj;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(seen.name_any(), "after-cut");

    // Request counts: the two failed gets count too; the 409'd patch and the good one.
    let counts = sandbox.stats().snapshot();
    assert!(counts["get configmaps"] >= 3, "{counts:?}");
    assert_eq!(counts["patch configmaps"], 2, "{counts:?}");
    let over_http: serde_json::Value = http
        .get(format!("{}/_sandbox/stats", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http["patch configmaps"], 2);

    sandbox.faults().clear();
    let resp = http
        .get(format!("{}/_sandbox/faults", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap(), json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_save_and_load() {
    let (sandbox, server, client) = start().await;
    install_crds(&client).await;
    let envs: Api<MendixEnvironment> = Api::default_namespaced(client.clone());
    envs.create(&PostParams::default(), &example_environment())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    sandbox.save(&path).unwrap();
    let rv_before = sandbox.resource_version();
    server.shutdown();

    let restored = KubeSandbox::load(&path).unwrap();
    assert!(restored.resource_version() >= rv_before);
    let server = restored
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = server.client().await;
    let envs: Api<MendixEnvironment> = Api::default_namespaced(client.clone());
    let env = envs.get("calc-acceptance").await.unwrap();
    assert_eq!(env.metadata.generation, Some(1));
    // New writes continue the resourceVersion sequence.
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let cm = cms
        .create(&PostParams::default(), &config_map("new", "1"))
        .await
        .unwrap();
    let rv: u64 = cm.resource_version().unwrap().parse().unwrap();
    assert!(rv > rv_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_bookmarks_timeouts_and_streaming_lists() {
    let (sandbox, server, client) = start().await;
    sandbox.set_bookmark_interval(Duration::from_millis(100));
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    api.create(&PostParams::default(), &config_map("b", "1"))
        .await
        .unwrap();
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();

    let wp = WatchParams {
        bookmarks: true,
        ..WatchParams::default()
    }
    .timeout(2);
    let mut stream = api.watch(&wp, &rv).await.unwrap().boxed();
    let mut bookmarks = 0;
    // The stream ends by itself after timeoutSeconds.
    let ended = tokio::time::timeout(GUARD, async {
        while let Some(ev) = stream.try_next().await.unwrap() {
            if matches!(ev, kube::api::WatchEvent::Bookmark(_)) {
                bookmarks += 1;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the watch outlived its timeoutSeconds");
    assert!(bookmarks >= 1, "no bookmark within the watch");

    // The legacy watch path of one object.
    let url = format!(
        "{}/api/v1/watch/namespaces/default/configmaps/b?timeoutSeconds=1",
        server.url()
    );
    let body = tokio::time::timeout(GUARD, async {
        reqwest::get(&url).await.unwrap().text().await.unwrap()
    })
    .await
    .unwrap();
    let first: serde_json::Value =
        serde_json::from_str(body.lines().next().unwrap_or_default()).unwrap();
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["metadata"]["name"], "b");

    // kube's streaming-list watcher (sendInitialEvents + the initial-events-end bookmark).
    let config = watcher::Config::default().streaming_lists();
    let mut events = watcher(api.clone(), config).boxed();
    let mut initial = Vec::new();
    loop {
        match tokio::time::timeout(GUARD, events.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(watcher::Event::InitApply(cm)) => initial.push(cm.name_any()),
            Some(watcher::Event::InitDone) => break,
            _ => {}
        }
    }
    assert_eq!(initial, ["b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_and_crd_deletion_cascade() {
    let (sandbox, _server, client) = start().await;
    install_crds(&client).await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    cms.create(&PostParams::default(), &config_map("in-team", "1"))
        .await
        .unwrap();
    // Objects cannot be created in a namespace that does not exist.
    let missing: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
    assert_eq!(
        api_code(
            missing
                .create(&PostParams::default(), &config_map("x", "1"))
                .await
                .unwrap_err()
        ),
        404
    );

    namespaces
        .delete("team", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_code(cms.get("in-team").await.unwrap_err()), 404);
    assert_eq!(api_code(namespaces.get("team").await.unwrap_err()), 404);

    // An object with a finalizer keeps its namespace Terminating; nothing new may be created.
    let ns = serde_json::from_value(json!({"metadata": {"name": "team2"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let cms2: Api<ConfigMap> = Api::namespaced(client.clone(), "team2");
    let mut held = config_map("held", "1");
    held.metadata.finalizers = Some(vec!["sandbox.test/hold".into()]);
    cms2.create(&PostParams::default(), &held).await.unwrap();
    namespaces
        .delete("team2", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = namespaces.get("team2").await.unwrap();
    assert_eq!(
        terminating.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    let refused = cms2
        .create(&PostParams::default(), &config_map("late", "1"))
        .await
        .unwrap_err();
    assert_eq!(api_code(refused), 403);
    let release = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    cms2.patch("held", &PatchParams::default(), &release)
        .await
        .unwrap();
    assert_eq!(api_code(namespaces.get("team2").await.unwrap_err()), 404);

    let envs: Api<MendixEnvironment> = Api::default_namespaced(client.clone());
    envs.create(&PostParams::default(), &example_environment())
        .await
        .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds.get("mendixenvironments.mendixops.io").await.unwrap();
    let established = crd.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(
        established
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
    crds.delete("mendixenvironments.mendixops.io", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(sandbox.count("mendixops.io", "mendixenvironments"), 0);
    assert_eq!(
        api_code(envs.list(&ListParams::default()).await.unwrap_err()),
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_subresource_and_invalid_crd() {
    let (_sandbox, server, client) = start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": "widgets.example.io"},
        "spec": {"group": "example.io", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
                    "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}}}]}
    }))
    .unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let http = reqwest::Client::new();
    let base = format!(
        "{}/apis/example.io/v1/namespaces/default/widgets",
        server.url()
    );
    let widget = json!({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"replicas": 1}});
    let resp = http.post(&base).json(&widget).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let scale: serde_json::Value = http
        .get(format!("{base}/w/scale"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 1);
    let resp = http
        .patch(format!("{base}/w/scale"))
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"spec":{"replicas":4}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let obj: serde_json::Value = http
        .get(format!("{base}/w"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(obj["spec"]["replicas"], 4);
    assert_eq!(obj["metadata"]["generation"], 2);

    // The OpenAPI document follows CRD updates (it is cached per registry version).
    let openapi_url = format!("{}/openapi/v3/apis/example.io/v1", server.url());
    let doc: serde_json::Value = http
        .get(&openapi_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let widget = &doc["components"]["schemas"]["io.example.v1.Widget"];
    assert!(
        widget["properties"]["spec"]["properties"]
            .get("colour")
            .is_none()
    );
    let mut live = crds.get("widgets.example.io").await.unwrap();
    let mut versions = serde_json::to_value(&live.spec.versions).unwrap();
    versions[0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["colour"] =
        json!({"type": "string"});
    live.spec.versions = serde_json::from_value(versions).unwrap();
    crds.replace("widgets.example.io", &PostParams::default(), &live)
        .await
        .unwrap();
    let doc: serde_json::Value = http
        .get(&openapi_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let widget = &doc["components"]["schemas"]["io.example.v1.Widget"];
    assert_eq!(
        widget["properties"]["spec"]["properties"]["colour"]["type"],
        "string"
    );

    // A schema that is not structural is refused, naming the field.
    let mut bad = crd.clone();
    bad.metadata.name = Some("gadgets.example.io".into());
    bad.spec.names.plural = "gadgets".into();
    bad.spec.names.kind = "Gadget".into();
    bad.spec.names.singular = Some("gadget".into());
    let mut versions = serde_json::to_value(&bad.spec.versions).unwrap();
    versions[0]["schema"]["openAPIV3Schema"]["properties"]["spec"] =
        json!({"properties": {"x": {"type": "string"}}});
    bad.spec.versions = serde_json::from_value(versions).unwrap();
    match crds.create(&PostParams::default(), &bad).await.unwrap_err() {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 422);
            assert!(
                status
                    .message
                    .contains("spec.versions[0].schema.openAPIV3Schema"),
                "{}",
                status.message
            );
        }
        other => panic!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_conflicts_and_force() {
    let (_sandbox, server, client) = start().await;
    install_crds(&client).await;
    let api: Api<MendixEnvironment> = Api::default_namespaced(client.clone());
    let mut applied = serde_json::to_value(example_environment()).unwrap();
    api.patch(
        "calc-acceptance",
        &PatchParams::apply("gitops"),
        &Patch::Apply(&applied),
    )
    .await
    .unwrap();
    applied["spec"]["instances"] = json!(3);
    let err = api
        .patch(
            "calc-acceptance",
            &PatchParams::apply("someone-else"),
            &Patch::Apply(&applied),
        )
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 409);
            assert!(
                status.message.contains("conflict") && status.message.contains("gitops"),
                "{}",
                status.message
            );
            let causes = status.details.map(|d| d.causes).unwrap_or_default();
            assert!(
                causes.iter().any(|c| c.field.contains("spec.instances")),
                "{causes:?}"
            );
        }
        other => panic!("{other}"),
    }
    let env = api
        .patch(
            "calc-acceptance",
            &PatchParams::apply("someone-else").force(),
            &Patch::Apply(&applied),
        )
        .await
        .unwrap();
    assert_eq!(env.spec.instances, Some(3));

    // Protobuf is not spoken: a protobuf Accept gets JSON, a protobuf body gets 415.
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/namespaces/default/configmaps", server.url());
    let resp = http
        .get(&url)
        .header(
            "accept",
            "application/vnd.kubernetes.protobuf, application/json",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["kind"],
        "ConfigMapList"
    );
    let resp = http
        .post(&url)
        .header("content-type", "application/vnd.kubernetes.protobuf")
        .body(vec![0x6b, 0x38, 0x73, 0x00])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_debug_output() {
    let (sandbox, server, client) = start().await;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::default_namespaced(client);
    let secret = serde_json::from_value(
        json!({"metadata": {"name": "creds"}, "stringData": {"apiKey": "s3cr3t-value"}}),
    )
    .unwrap();
    let stored = secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    // stringData became base64 data, as kube-apiserver stores it.
    assert_eq!(stored.data.unwrap()["apiKey"].0, b"s3cr3t-value");
    for shown in [format!("{sandbox:?}"), format!("{server:?}")] {
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("czNjcjN0"),
            "{shown}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owned_objects_are_garbage_collected_with_their_owner() {
    let (_sandbox, _server, client) = start().await;
    install_crds(&client).await;
    let envs: Api<MendixEnvironment> = Api::default_namespaced(client.clone());
    let owner = envs
        .create(&PostParams::default(), &example_environment())
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let mut owned = config_map("owned", "1");
    owned.metadata.owner_references = Some(vec![owner.controller_owner_ref(&()).unwrap()]);
    cms.create(&PostParams::default(), &owned).await.unwrap();
    cms.create(&PostParams::default(), &config_map("unowned", "1"))
        .await
        .unwrap();
    envs.delete("calc-acceptance", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_code(cms.get("owned").await.unwrap_err()), 404);
    assert!(cms.get("unowned").await.is_ok());
}

/// kube-rs reads the written kubeconfig as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_uses_the_written_kubeconfig() {
    let (_sandbox, server, _client) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    server.write_kubeconfig(&path).unwrap();
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(config.default_namespace, "default");
    let client = Client::try_from(config).unwrap();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|n| n.name_any())
        .collect();
    assert_eq!(
        names,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
}
