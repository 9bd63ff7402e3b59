//! The statuses real reconciles write, every version of them as a watch sees it, read by the
//! two GitOps tools: kstatus (Flux health checks) and Argo CD's Lua health script
//! (deploy/argocd/lua/health.lua in a real Lua interpreter). Both must tell the same story:
//! Healthy/Current when Ready, Degraded/Failed when Stalled, Suspended when paused,
//! Progressing/InProgress otherwise.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use mendix_operator::crd::{MendixEnvironment, MendixPackage};
use mendix_sandbox::demo;
use mendix_testkit::kstatus::{KStatus, kstatus};
use mendix_testkit::resources::cloud_env;
use mendix_testkit::*;
use mlua::{Lua, LuaSerdeExt};
use serde_json::Value;

/// Every version of every object of one kind in namespace `apps`, in the order seen.
type Seen = Arc<Mutex<Vec<Value>>>;

fn record<K>(api: Api<K>, seen: Seen)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    K: Send + 'static,
{
    tokio::spawn(async move {
        let mut stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(Ok(obj)) = stream.next().await {
            let mut value = serde_json::to_value(&obj).expect("object serializes");
            // Argo CD and kstatus read the object as the API serves it (with kind).
            value["kind"] = K::kind(&()).to_string().into();
            seen.lock().expect("lock").push(value);
        }
    });
}

fn argocd_health(obj: &Value) -> (String, String) {
    let script = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/argocd/lua/health.lua"),
    )
    .expect("health.lua exists");
    let lua = Lua::new();
    let obj = lua.to_value(obj).expect("object converts to Lua");
    lua.globals().set("obj", obj).expect("set obj");
    let result: mlua::Value = lua.load(&script).eval().expect("health.lua runs");
    let hs: Value = lua.from_value(result).expect("result converts");
    (
        hs["status"].as_str().unwrap_or_default().to_string(),
        hs["message"].as_str().unwrap_or_default().to_string(),
    )
}

fn paused(obj: &Value) -> bool {
    obj["metadata"]["annotations"]["mendixops.io/paused"] == "true"
}

/// Both readings of one object version.
#[derive(Debug)]
struct Reading {
    name: String,
    kstatus: KStatus,
    argocd: String,
    message: String,
    operation: bool,
}

fn read(obj: &Value) -> Reading {
    let (argocd, message) = argocd_health(obj);
    Reading {
        name: obj["metadata"]["name"].as_str().unwrap_or_default().into(),
        kstatus: kstatus(obj),
        argocd,
        message,
        operation: !obj["status"]["operation"].is_null(),
    }
}

/// The Argo CD status that matches a kstatus reading.
fn argocd_for(k: KStatus) -> &'static str {
    match k {
        KStatus::Current => "Healthy",
        KStatus::Failed => "Degraded",
        KStatus::InProgress | KStatus::Terminating => "Progressing",
        KStatus::NotFound => "Missing",
        KStatus::Unknown => "Unknown",
    }
}

/// Checks every recorded version; returns the readings of `name` in order.
fn check_all(seen: &Seen) -> Vec<Reading> {
    let objects = seen.lock().expect("lock").clone();
    let mut readings = Vec::new();
    for obj in &objects {
        let conditions = obj["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let reading = read(obj);
        if conditions.is_empty() {
            // Before the first status write kstatus has nothing to read (it calls that Current);
            // Argo CD waits for the operator, or shows the pause.
            let expected = if paused(obj) {
                "Suspended"
            } else {
                "Progressing"
            };
            assert_eq!(reading.argocd, expected, "{obj:#}");
            readings.push(reading);
            continue;
        }
        // The three kstatus conditions are always written, and never contradict each other.
        let status = |t: &str| {
            conditions
                .iter()
                .find(|c| c["type"] == t)
                .and_then(|c| c["status"].as_str())
                .unwrap_or_else(|| panic!("condition {t} missing: {obj:#}"))
                .to_string()
        };
        let (ready, reconciling, stalled) =
            (status("Ready"), status("Reconciling"), status("Stalled"));
        let trues = [&ready, &reconciling, &stalled]
            .iter()
            .filter(|s| s.as_str() == "True")
            .count();
        assert!(
            trues <= 1,
            "one of Ready/Reconciling/Stalled at most: {obj:#}"
        );
        if paused(obj) {
            assert_eq!(reading.argocd, "Suspended", "{obj:#}");
            assert_ne!(reading.kstatus, KStatus::Failed, "{obj:#}");
        } else {
            assert_eq!(
                reading.argocd,
                argocd_for(reading.kstatus),
                "Argo CD and kstatus disagree on {obj:#}"
            );
        }
        if reading.operation {
            assert_eq!(
                reading.kstatus,
                KStatus::InProgress,
                "an operation in flight is in progress: {obj:#}"
            );
        }
        readings.push(reading);
    }
    readings
}

fn of<'a>(readings: &'a [Reading], name: &str) -> Vec<&'a Reading> {
    readings.iter().filter(|r| r.name == name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_from_real_reconciles_read_the_same_in_flux_and_argocd() {
    let h = Harness::started().await;
    // A 20 s build takes 2 s, so the in-flight statuses are written and seen.
    h.mendix.set_time_scale(0.1);
    let packages: Seen = Arc::default();
    let environments: Seen = Arc::default();
    record(h.packages(), packages.clone());
    record(h.environments(), environments.clone());

    h.create::<MendixPackage>(&cloud_build("calc", demo::GOOD_REVISION, "1.0.0"))
        .await;
    h.create::<MendixPackage>(&cloud_build("broken", demo::FAILING_REVISION, "1.0.1"))
        .await;
    h.create::<MendixEnvironment>(&cloud_env("calc-test", "Test", "calc", ""))
        .await;
    // Paused from the start: the operator reports what it would do and changes nothing.
    let paused_env = cloud_env("calc-acceptance", "Acceptance", "calc", "").replace(
        "metadata: {name: calc-acceptance}",
        "metadata: {name: calc-acceptance, annotations: {mendixops.io/paused: \"true\"}}",
    );
    h.create::<MendixEnvironment>(&paused_env).await;

    h.wait_package("calc", package_ready).await;
    h.wait_package("broken", package_stalled).await;
    h.wait_environment("calc-test", environment_ready).await;
    let acceptance = h
        .wait_environment("calc-acceptance", |e| {
            e.status.as_ref().is_some_and(|s| {
                s.observed_generation == e.metadata.generation
                    && condition(&s.conditions, "Reconciling").is_some_and(|c| c.reason == "Paused")
            })
        })
        .await;
    // Let the watches catch up with the last writes.
    wait_for(
        "the recorders to see the final versions",
        || async {
            let last = |seen: &Seen, name: &str| {
                seen.lock()
                    .expect("lock")
                    .iter()
                    .rev()
                    .find(|o| o["metadata"]["name"] == name)
                    .map(|o| read(o).argocd)
            };
            Some((
                last(&packages, "calc"),
                last(&packages, "broken"),
                last(&environments, "calc-test"),
                last(&environments, "calc-acceptance"),
            ))
        },
        |(calc, broken, test, acceptance)| {
            calc.as_deref() == Some("Healthy")
                && broken.as_deref() == Some("Degraded")
                && test.as_deref() == Some("Healthy")
                && acceptance.as_deref() == Some("Suspended")
        },
    )
    .await;

    let package_readings = check_all(&packages);
    let environment_readings = check_all(&environments);

    // A package that builds: in progress with its build in flight, then Current / Healthy.
    let calc = of(&package_readings, "calc");
    assert!(
        calc.iter()
            .any(|r| r.operation && r.kstatus == KStatus::InProgress && r.argocd == "Progressing"),
        "the build was seen in flight: {calc:#?}"
    );
    let last = calc.last().expect("calc seen");
    assert_eq!(
        (last.kstatus, last.argocd.as_str()),
        (KStatus::Current, "Healthy")
    );

    // A package that fails: Failed / Degraded, with the reason in Argo CD's message.
    let broken = of(&package_readings, "broken");
    let last = broken.last().expect("broken seen");
    assert_eq!(
        (last.kstatus, last.argocd.as_str()),
        (KStatus::Failed, "Degraded")
    );
    assert!(!last.message.is_empty(), "{last:?}");
    assert!(
        broken
            .iter()
            .all(|r| r.kstatus != KStatus::Current || r.argocd == "Progressing"),
        "a failing build never looks healthy: {broken:#?}"
    );

    // An environment deploying: in progress while it waits and deploys, then Healthy.
    let test = of(&environment_readings, "calc-test");
    assert!(
        test.iter()
            .any(|r| r.kstatus == KStatus::InProgress && r.argocd == "Progressing"),
        "{test:#?}"
    );
    assert!(
        test.iter().any(|r| r.operation),
        "the deployment was seen in flight: {test:#?}"
    );
    let last = test.last().expect("calc-test seen");
    assert_eq!(
        (last.kstatus, last.argocd.as_str()),
        (KStatus::Current, "Healthy")
    );

    // A paused environment: Suspended in Argo CD, in progress for kstatus, never deployed.
    let last = of(&environment_readings, "calc-acceptance")
        .into_iter()
        .last()
        .expect("calc-acceptance seen");
    assert_eq!(last.argocd, "Suspended");
    assert_eq!(last.kstatus, KStatus::InProgress);
    assert_eq!(
        format!("{:?}", acceptance.status.as_ref().and_then(|s| s.phase)),
        "Some(Paused)",
        "{acceptance:#?}"
    );
    let transports = h.mendix.state_json()["cloud"]["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["environments"].as_array().cloned().unwrap_or_default())
        .find(|e| e["mode"] == "Acceptance")
        .map(|e| e["transports"].as_u64().unwrap_or(0));
    assert_eq!(transports, Some(0), "nothing transported while paused");
}
