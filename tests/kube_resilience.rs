//! What a real cluster does to an operator that a test cluster rarely shows: an object written
//! under a newer CRD (a value this build does not know) next to ordinary ones, a SIGTERM
//! while the API server cannot be reached, and many requests at once.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, WatchParams};
use mendix_operator::crd::MendixEnvironment;
use mendix_testkit::resources::cloud_env_deployed;
use mendix_testkit::*;
use serde_json::json;

/// A failure guard: far longer than a clean stop takes, far shorter than "never".
const STOP_GUARD: Duration = Duration::from_secs(45);

/// A newer CRD allows `runState: Paused`; this build does not know it. The object is reported
/// (an Event on it) and left alone, and every other resource is reconciled as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_the_operator_cannot_decode_does_not_stop_the_others() {
    let mut h = Harness::new().await;
    // The newer CRD: one more runState value.
    let crds: Api<CustomResourceDefinition> = Api::all(h.client.clone());
    let name = "mendixenvironments.mendixops.io";
    let mut crd = serde_json::to_value(crds.get(name).await.expect("CRD")).expect("JSON");
    let run_state =
        "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/runState/enum";
    crd.pointer_mut(run_state)
        .and_then(|e| e.as_array_mut())
        .expect("runState enum")
        .push(json!("Paused"));
    crd["metadata"]["managedFields"] = json!(null);
    crds.patch(
        name,
        &PatchParams::apply("a-newer-operator").force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("newer CRD applied");

    let kubectl = h.kubectl();
    let odd = cloud_env_deployed("odd", "Acceptance", "  runState: Paused\n");
    // The API server may take a moment to serve the new schema.
    wait_for(
        "the newer CRD to admit runState: Paused",
        || {
            let kubectl = &kubectl;
            let odd = odd.clone();
            async move {
                let run = kubectl.run_stdin(&["apply", "-f", "-"], &odd).await;
                Some(run.ok)
            }
        },
        |ok| *ok,
    )
    .await;
    h.create::<MendixEnvironment>(&cloud_env_deployed("fine", "Test", ""))
        .await;

    h.start_operator().await;
    h.wait_environment("fine", environment_ready).await;
    let events: Api<Event> = Api::namespaced(h.client.clone(), &h.ns);
    let event = wait_for(
        "an InvalidObject Event on the odd environment",
        || {
            let events = events.clone();
            async move {
                let list = events.list(&Default::default()).await.ok()?;
                list.items.into_iter().find(|e| {
                    e.reason.as_deref() == Some("InvalidObject")
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("odd")
                })
            }
        },
        |_| true,
    )
    .await;
    let note = event.note.unwrap_or_default();
    assert!(note.contains("Paused"), "{note}");
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    // Nothing was done with it: Mendix's Acceptance environment is as it was.
    assert_eq!(h.cloud_env_state("Acceptance")["starts"], 0);
    // Counted where alerts look.
    let metrics = reqwest::get(format!(
        "http://{}/metrics",
        h.metrics_addr.expect("metrics address")
    ))
    .await
    .expect("metrics")
    .text()
    .await
    .expect("text");
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("reconciles_total") && l.contains("result=\"invalid\"")),
        "{metrics}"
    );
    h.stop_operator().await;
    // Put the CRD back for the harness's last look.
    mendix_operator::dev::install_crds(&h.client)
        .await
        .expect("CRDs back");
    h.environments()
        .delete("odd", &Default::default())
        .await
        .expect("odd deleted");
}

/// SIGTERM while the API server cannot be reached (the caches never sync): the operator still
/// exits, within seconds, instead of waiting for the caches forever.
#[tokio::test]
async fn sigterm_ends_the_operator_when_the_api_server_is_gone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let kubeconfig = dir.path().join("kubeconfig");
    let text = control_plane()
        .admin_kubeconfig()
        .replace(control_plane().url(), &format!("https://{closed}"));
    std::fs::write(&kubeconfig, text).expect("kubeconfig");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mendix-operator"))
        .args([
            "run",
            "--leader-election",
            "false",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the operator starts");
    // Started (its metrics endpoint is up) but never synced.
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let started = tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("mendix-operator started") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(started, Ok(true), "the operator logged its start");
    let pid = child.id().expect("running") as i32;
    // SAFETY: a signal to the child this test started and has not reaped.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let status = tokio::time::timeout(STOP_GUARD, child.wait())
        .await
        .expect("the operator exited after SIGTERM")
        .expect("exit status");
    assert!(status.success(), "{status:?}");
}

/// The operator's client keeps its requests in flight, and so its connections to the API
/// server, to its limit; a watch is open beside them, and a burst larger than the limit waits
/// its turn and is served. kube's default client, the control, opens a connection per request
/// in flight.
#[tokio::test]
async fn the_operators_client_holds_its_connections_to_its_limit() {
    mendix_client::client::install_crypto_provider();
    let limit = 4;
    let operator = connections_for(|config| {
        mendix_operator::runtime::kube_client::connect(config, limit).expect("operator client")
    })
    .await;
    // The limit and the watch's own connection (5 in every run here), and one to spare: a
    // request's place is free once its body is read, a moment before hyper puts the
    // connection back in its pool.
    assert!(
        operator <= limit + 2,
        "the operator's client opened {operator} connections with a limit of {limit}"
    );
    let unlimited =
        connections_for(|config| kube::Client::try_from(config).expect("kube client")).await;
    assert!(
        unlimited > 2 * limit,
        "kube's own client opened only {unlimited} connections: the burst did not overlap, so \
         this test proves nothing"
    );
}

/// Connections a client opens for one list, then a watch and 32 concurrent lists, counted at
/// a TCP forwarder in front of the API server.
async fn connections_for(client_for: impl FnOnce(kube::Config) -> kube::Client) -> usize {
    let forwarder = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("forwarder binds");
    let forwarded = forwarder.local_addr().expect("forwarder address");
    let api_server = control_plane()
        .url()
        .trim_start_matches("https://")
        .to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let forwarding = tokio::spawn(async move {
        while let Ok((mut inbound, _)) = forwarder.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let api_server = api_server.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&api_server).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    let mut config = control_plane().admin_config().await.expect("admin config");
    config.cluster_url = format!("https://{forwarded}")
        .parse()
        .expect("forwarder URL");
    let namespaces: Api<Namespace> = Api::all(client_for(config));
    namespaces
        .list(&ListParams::default())
        .await
        .expect("first list");
    let mut watch = namespaces
        .watch(&WatchParams::default().timeout(30), "0")
        .await
        .expect("watch")
        .boxed();
    watch
        .next()
        .await
        .expect("the watch delivers")
        .expect("an event");
    let everything = ListParams::default();
    let burst = (0..32).map(|_| namespaces.list(&everything));
    for listed in futures::future::join_all(burst).await {
        listed.expect("a list of the burst");
    }
    forwarding.abort();
    accepted.load(Ordering::SeqCst)
}
