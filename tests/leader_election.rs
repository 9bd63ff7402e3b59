//! Leader election with the real binary: two `mendix-operator run` processes against the real
//! API server (a Lease in the test's namespace) and one Mendix sandbox (both in this test process). Exactly one leads;
//! when it is killed the standby takes over after the Lease expires and finishes the work
//! without repeating an operation; a leader stopped with SIGTERM releases the Lease at once.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use mendix_operator::crd::{MendixEnvironment, MendixPackage};
use mendix_sandbox::demo;
use mendix_testkit::resources::cloud_env;
use mendix_testkit::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

const LEASE: &str = "mendix-operator-leader";
/// Long enough that a SIGTERM hand-over finishing well before it proves the Lease was released.
const LEASE_DURATION: Duration = Duration::from_secs(10);

struct Replica {
    identity: String,
    child: Child,
    metrics: String,
    /// Every JSON log line the replica wrote.
    log: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Replica {
    async fn start(h: &Harness, kubeconfig: &std::path::Path, identity: &str) -> Replica {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mendix-operator"))
            .args([
                "run",
                "--log-format",
                "json",
                "--metrics-addr",
                "127.0.0.1:0",
            ])
            .args(["--mendix-cloud-url", &h.mendix_server.cloud_v1_url()])
            .args([
                "--private-cloud-url",
                &h.mendix_server.private_cloud_v4_url(),
            ])
            .args(["--lease-namespace", &h.ns, "--lease-name", LEASE])
            .args(["--namespaces", &h.ns])
            .args(["--identity", identity])
            .args([
                "--lease-duration",
                &format!("{}s", LEASE_DURATION.as_secs()),
            ])
            .args(["--poll-initial", "50ms", "--poll-max", "400ms"])
            .args([
                "--resync-period",
                "3s",
                "--mendix-requests-per-second",
                "500",
            ])
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the operator binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let name = identity.to_string();
        let log: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let keep = log.clone();
        // Forward the replica's log (shown when a test fails) and learn its metrics address.
        tokio::spawn(async move {
            let mut addr_tx = Some(addr_tx);
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[{name}] {line}");
                let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if json["message"] == "mendix-operator started"
                    && let (Some(addr), Some(tx)) = (json["metrics"].as_str(), addr_tx.take())
                {
                    let _ = tx.send(addr.to_string());
                }
                keep.lock().expect("lock").push(json);
            }
        });
        let metrics = tokio::time::timeout(WAIT, addr_rx)
            .await
            .expect("the replica logs its metrics address")
            .expect("the replica runs");
        Replica {
            identity: identity.to_string(),
            child,
            metrics,
            log,
        }
    }

    /// The `/readyz` body, e.g. "ready: leading" or "ready: standby".
    async fn readyz(&self) -> String {
        match reqwest::get(format!("http://{}/readyz", self.metrics)).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) => format!("unreachable: {e}"),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("the replica runs")
    }
}

async fn holder(h: &Harness) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(h.client.clone(), &h.ns);
    leases
        .get_opt(LEASE)
        .await
        .expect("Lease readable")
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

/// When the current holder's Lease expires unless renewed: renewTime + leaseDurationSeconds.
async fn lease_expiry(h: &Harness) -> k8s_openapi::jiff::Timestamp {
    let leases: Api<Lease> = Api::namespaced(h.client.clone(), &h.ns);
    let spec = leases.get(LEASE).await.expect("Lease").spec.expect("spec");
    let renewed = spec.renew_time.expect("renewTime").0;
    let seconds = spec.lease_duration_seconds.expect("leaseDurationSeconds");
    renewed + k8s_openapi::jiff::SignedDuration::from_secs(i64::from(seconds))
}

/// When the current holder acquired the Lease.
async fn lease_acquired(h: &Harness) -> k8s_openapi::jiff::Timestamp {
    let leases: Api<Lease> = Api::namespaced(h.client.clone(), &h.ns);
    let spec = leases.get(LEASE).await.expect("Lease").spec.expect("spec");
    spec.acquire_time.expect("acquireTime").0
}

/// Waits until `leader` leads (Lease holder, /readyz) and every replica in `standbys` stands by.
async fn wait_roles(h: &Harness, leader: &Replica, standbys: &[&Replica]) {
    wait_for(
        &format!("{} to lead", leader.identity),
        || async {
            let mut seen = vec![holder(h).await.unwrap_or_default(), leader.readyz().await];
            for s in standbys {
                seen.push(s.readyz().await);
            }
            Some(seen)
        },
        |seen| {
            seen[0] == leader.identity
                && seen[1] == "ready: leading"
                && seen[2..].iter().all(|s| s == "ready: standby")
        },
    )
    .await;
}

fn build_started(p: &MendixPackage) -> bool {
    p.status.as_ref().is_some_and(|s| {
        s.package_id.is_some()
            || s.operation
                .as_ref()
                .is_some_and(|o| o.job_id.is_some() || o.intent.is_some())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_takes_over_without_repeating_work_and_sigterm_hands_over_at_once() {
    let h = Harness::new().await;
    // Slow enough that the build is still running when the leader is killed.
    h.mendix.set_time_scale(0.2);
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    h.write_operator_kubeconfig(&kubeconfig);

    let a = Replica::start(&h, &kubeconfig, "replica-a").await;
    let b = Replica::start(&h, &kubeconfig, "replica-b").await;
    // Exactly one leads: whichever got the Lease first.
    let first = wait_for(
        "a leader",
        || async { holder(&h).await },
        |holder| holder == "replica-a" || holder == "replica-b",
    )
    .await;
    let (mut leader, standby) = if first == "replica-a" { (a, b) } else { (b, a) };
    wait_roles(&h, &leader, &[&standby]).await;

    h.create::<MendixPackage>(&cloud_build("calc", demo::GOOD_REVISION, "1.0.0"))
        .await;
    h.create::<MendixEnvironment>(&cloud_env("calc-test", "Test", "calc", ""))
        .await;
    // Kill the leader while it follows the build.
    h.wait_package("calc", build_started).await;
    leader.child.start_kill().expect("SIGKILL sent");
    let killed_at = Instant::now();
    let _ = leader.child.wait().await;
    assert_eq!(
        holder(&h).await.as_deref(),
        Some(leader.identity.as_str()),
        "a killed leader cannot release its Lease"
    );
    // The dead leader renews no more: this is when its Lease ends.
    let held_until = lease_expiry(&h).await;

    // The standby takes over once the Lease expires (not before), and finishes the work.
    wait_roles(&h, &standby, &[]).await;
    let takeover = killed_at.elapsed();
    let acquired = lease_acquired(&h).await;
    assert!(
        acquired >= held_until,
        "the standby took the Lease at {acquired}, before the dead leader's ran out at {held_until}"
    );
    eprintln!("takeover after SIGKILL: {takeover:?} (Lease {LEASE_DURATION:?})");
    h.wait_package("calc", package_ready).await;
    h.wait_environment("calc-test", environment_ready).await;
    let stats = h.mendix.stats();
    assert_eq!(stats.count("v1_build_package"), 1, "the build ran once");
    let transports = h.mendix.state_json()["cloud"]["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["environments"].as_array().cloned().unwrap_or_default())
        .find(|e| e["mode"] == "Test")
        .map(|e| e["transports"].as_u64().unwrap_or(0));
    assert_eq!(transports, Some(1), "the transport ran once");

    // Its log lines inside a reconcile name the resource, and the operation once one started.
    let started: Vec<serde_json::Value> = standby
        .log
        .lock()
        .expect("lock")
        .iter()
        .filter(|l| l["message"] == "operation started")
        .cloned()
        .collect();
    assert!(
        !started.is_empty(),
        "the new leader logged the operations it started"
    );
    for line in &started {
        let span = &line["span"];
        assert_eq!(span["namespace"], h.ns.as_str(), "{line}");
        assert!(
            span["kind"].is_string() && span["name"].is_string(),
            "{line}"
        );
        assert!(span["generation"].is_number(), "{line}");
        assert!(
            span["operation"].as_str().is_some_and(|o| !o.is_empty()),
            "{line}"
        );
    }

    // A new standby; SIGTERM on the leader hands the Lease over long before it would expire.
    let mut leader = standby;
    let standby = Replica::start(&h, &kubeconfig, "replica-c").await;
    wait_roles(&h, &leader, &[&standby]).await;
    // Stop it while it follows another build: it finishes or records the step first.
    h.create::<MendixPackage>(&cloud_build("calc-next", demo::GOOD_REVISION, "1.0.1"))
        .await;
    h.wait_package("calc-next", build_started).await;
    let held_until = lease_expiry(&h).await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &leader.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let terminated_at = Instant::now();
    let exit = tokio::time::timeout(WAIT, leader.child.wait())
        .await
        .expect("the leader exits after SIGTERM")
        .expect("exit status");
    assert!(exit.success(), "a graceful stop exits 0: {exit:?}");
    assert_ne!(
        holder(&h).await.as_deref(),
        Some(leader.identity.as_str()),
        "the stopped leader released its Lease"
    );
    wait_roles(&h, &standby, &[]).await;
    let handover = terminated_at.elapsed();
    let acquired = lease_acquired(&h).await;
    assert!(
        acquired < held_until,
        "the standby took the Lease at {acquired}, not before the old one expired at {held_until}"
    );
    eprintln!("hand-over after SIGTERM: {handover:?} (Lease {LEASE_DURATION:?})");
    // The new leader finishes the second build without requesting it again.
    let mut leader = standby;
    h.wait_package("calc-next", package_ready).await;
    assert_eq!(
        h.mendix.stats().count("v1_build_package"),
        2,
        "two builds, each once"
    );

    // A leader whose Lease is taken from it (say, after a network partition) stops reconciling
    // and exits with an error, so a fresh replica can start.
    let leases: Api<Lease> = Api::namespaced(h.client.clone(), &h.ns);
    let now = serde_json::to_value(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        k8s_openapi::jiff::Timestamp::now(),
    ))
    .expect("time serializes");
    leases
        .patch(
            LEASE,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"spec": {
                "holderIdentity": "intruder",
                "acquireTime": now,
                "renewTime": now,
                "leaseDurationSeconds": 3600,
            }})),
        )
        .await
        .expect("Lease taken over");
    let exit = tokio::time::timeout(WAIT, leader.child.wait())
        .await
        .expect("a leader that lost its Lease exits")
        .expect("exit status");
    assert!(
        !exit.success(),
        "losing the Lease is an error exit: {exit:?}"
    );
}
