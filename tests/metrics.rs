//! `/metrics` of a running operator: valid OpenMetrics text, and its counters, histograms and
//! gauges move when the operator does work.

use std::collections::BTreeMap;

use mendix_operator::crd::{MendixEnvironment, MendixPackage};
use mendix_sandbox::{Fault, demo};
use mendix_testkit::resources::cloud_env;
use mendix_testkit::*;

/// One sample: metric name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

#[derive(Debug, Default)]
struct Exposition {
    /// Family name → type.
    types: BTreeMap<String, String>,
    helps: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

/// Parses the OpenMetrics text format strictly enough to catch what scrapers reject: the
/// `# EOF` terminator, `# TYPE` and `# HELP` for every family, sample names that belong to a
/// declared family with the suffixes its type allows (counters only as `_total`/`_created`).
fn parse(text: &str) -> Result<Exposition, String> {
    let mut out = Exposition::default();
    let lines: Vec<&str> = text.lines().collect();
    if lines.last() != Some(&"# EOF") || !text.ends_with("# EOF\n") {
        return Err("the exposition must end with `# EOF`".into());
    }
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name, value) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            match kind {
                "TYPE" => {
                    if !matches!(
                        value,
                        "counter" | "gauge" | "histogram" | "info" | "stateset" | "unknown"
                    ) {
                        return Err(format!("unknown type in `{line}`"));
                    }
                    if out.types.insert(name.into(), value.into()).is_some() {
                        return Err(format!("family {name} declared twice"));
                    }
                }
                "HELP" => {
                    out.helps.insert(name.into(), value.into());
                }
                "UNIT" => {}
                _ => return Err(format!("unknown descriptor `{line}`")),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .ok_or_else(|| format!("no value in `{line}`"))?;
        let value: f64 = value
            .parse()
            .map_err(|e| format!("bad value in `{line}`: {e}"))?;
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .ok_or_else(|| format!("unclosed labels in `{line}`"))?;
                let mut labels = BTreeMap::new();
                for pair in body.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair
                        .split_once("=\"")
                        .ok_or_else(|| format!("bad label `{pair}` in `{line}`"))?;
                    labels.insert(k.to_string(), v.trim_end_matches('"').to_string());
                }
                (name.to_string(), labels)
            }
            None => (series.to_string(), BTreeMap::new()),
        };
        out.samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    for s in &out.samples {
        let family = out
            .types
            .iter()
            .find(|(family, kind)| {
                let suffixes: &[&str] = match kind.as_str() {
                    "counter" => &["_total", "_created"],
                    "histogram" => &["_bucket", "_sum", "_count", "_created"],
                    "info" => &["_info"],
                    _ => &[""],
                };
                suffixes
                    .iter()
                    .any(|suffix| s.name == format!("{family}{suffix}"))
            })
            .ok_or_else(|| format!("sample {} belongs to no declared family", s.name))?;
        if !out.helps.contains_key(family.0) {
            return Err(format!("family {} has no # HELP", family.0));
        }
    }
    Ok(out)
}

impl Exposition {
    /// Sum of the samples named `name` whose labels include all of `want`.
    fn value(&self, name: &str, want: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                want.iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }
}

async fn scrape(h: &Harness) -> Exposition {
    scrape_at(h.metrics_addr.expect("the operator serves metrics")).await
}

async fn scrape_at(addr: std::net::SocketAddr) -> Exposition {
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("/metrics answers");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.expect("body");
    parse(&text).unwrap_or_else(|e| panic!("invalid OpenMetrics: {e}\n{text}"))
}

#[test]
fn the_parser_rejects_what_scrapers_reject() {
    let good = "# HELP a_x A.\n# TYPE a_x counter\na_x_total{k=\"v\"} 1\n# EOF\n";
    assert!(parse(good).is_ok());
    assert!(parse(&good.replace("# EOF\n", "")).is_err(), "no # EOF");
    assert!(
        parse(&good.replace("a_x_total", "a_x")).is_err(),
        "counter without _total"
    );
    assert!(
        parse(&good.replace("# HELP a_x A.\n", "")).is_err(),
        "family without help"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_openmetrics_and_move_with_work() {
    let h = Harness::started().await;
    // A 20 s build takes 2 s: long enough to see it in flight.
    h.mendix.set_time_scale(0.1);
    let before = scrape(&h).await;
    // Health: the process serves; ready once the caches synced (no leader election here).
    let addr = h.metrics_addr.expect("metrics address");
    let get = |path: &'static str| async move {
        let r = reqwest::get(format!("http://{addr}{path}"))
            .await
            .expect("answers");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    };
    assert_eq!(get("/healthz").await, (200, "ok".to_string()));
    wait_for(
        "/readyz",
        || async { Some(get("/readyz").await) },
        |r| *r == (200, "ready: leading".to_string()),
    )
    .await;
    assert_eq!(
        before.value("mendix_operator_mendix_requests_total", &[]),
        0.0
    );

    // One 503 on the first environment read: the client retries it, which the retry counter shows.
    h.mendix
        .add_fault(Fault::error("v1_get_environment", 503).times(1));
    h.create::<MendixPackage>(&cloud_build("calc", demo::GOOD_REVISION, "1.0.0"))
        .await;
    h.create::<MendixPackage>(&cloud_build("broken", demo::FAILING_REVISION, "1.0.1"))
        .await;
    // The build in flight shows in the gauges.
    wait_for(
        "a MendixPackage operation in flight in /metrics",
        || async {
            Some(scrape(&h).await.value(
                "mendix_operator_operations_in_flight",
                &[("kind", "MendixPackage")],
            ))
        },
        |v| *v >= 1.0,
    )
    .await;
    h.wait_package("calc", package_ready).await;
    h.wait_package("broken", package_stalled).await;
    h.create::<MendixEnvironment>(&cloud_env("calc-test", "Test", "calc", ""))
        .await;
    h.wait_environment("calc-test", environment_ready).await;

    // Gauges follow the watch: one package Ready, one not, one environment Ready, none in flight.
    let after = wait_for(
        "the gauges to settle",
        || async { Some(scrape(&h).await) },
        |m| {
            let ready = |kind: &str, r: &str| {
                m.value("mendix_operator_resources", &[("kind", kind), ("ready", r)])
            };
            ready("MendixPackage", "True") == 1.0
                && ready("MendixPackage", "False") == 1.0
                && ready("MendixEnvironment", "True") == 1.0
                && m.value(
                    "mendix_operator_resources_stalled",
                    &[("kind", "MendixPackage")],
                ) == 1.0
                && m.value(
                    "mendix_operator_resources_stalled",
                    &[("kind", "MendixEnvironment")],
                ) == 0.0
                && m.value("mendix_operator_operations_in_flight", &[]) == 0.0
        },
    )
    .await;

    for family in [
        "mendix_operator_reconciles",
        "mendix_operator_reconcile_duration_seconds",
        "mendix_operator_mendix_requests",
        "mendix_operator_mendix_request_duration_seconds",
        "mendix_operator_mendix_retries",
        "mendix_operator_operations_in_flight",
        "mendix_operator_resources",
        "mendix_operator_resources_stalled",
        "mendix_operator_leader",
        "mendix_operator_leader_transitions",
    ] {
        assert!(after.types.contains_key(family), "{family} is exposed");
    }
    assert_eq!(after.types["mendix_operator_reconciles"], "counter");
    assert_eq!(
        after.types["mendix_operator_reconcile_duration_seconds"],
        "histogram"
    );
    assert_eq!(after.types["mendix_operator_resources"], "gauge");
    assert_eq!(after.types["mendix_operator_leader_transitions"], "counter");
    // Without leader election the one replica leads from its start.
    assert_eq!(after.value("mendix_operator_leader", &[]), 1.0);
    assert_eq!(
        after.value("mendix_operator_leader_transitions_total", &[]),
        1.0
    );
    let reconciles = |m: &Exposition, kind: &str| {
        m.value(
            "mendix_operator_reconciles_total",
            &[("kind", kind), ("result", "ok")],
        )
    };
    assert!(reconciles(&after, "MendixPackage") > reconciles(&before, "MendixPackage"));
    assert!(reconciles(&after, "MendixEnvironment") > reconciles(&before, "MendixEnvironment"));
    for kind in ["MendixPackage", "MendixEnvironment"] {
        assert!(
            after.value(
                "mendix_operator_reconcile_duration_seconds_count",
                &[("kind", kind)]
            ) > 0.0,
            "{kind} reconcile durations observed"
        );
        assert!(
            after.value(
                "mendix_operator_reconcile_duration_seconds_bucket",
                &[("kind", kind), ("le", "+Inf")]
            ) > 0.0
        );
    }
    // Mendix requests by API, operation and status; their latency histogram counts the same.
    let builds = after.value(
        "mendix_operator_mendix_requests_total",
        &[("api", "cloud_build_v1"), ("operation", "build_package")],
    );
    assert_eq!(builds, 2.0, "two builds requested");
    let by_status: Vec<&Sample> = after
        .samples
        .iter()
        .filter(|s| s.name == "mendix_operator_mendix_requests_total")
        .collect();
    assert!(
        by_status
            .iter()
            .all(|s| s.labels.get("status").is_some_and(|v| !v.is_empty())),
        "every request sample has a status: {by_status:?}"
    );
    assert_eq!(
        after.value("mendix_operator_mendix_requests_total", &[]),
        after.value("mendix_operator_mendix_request_duration_seconds_count", &[]),
        "every request's latency is observed"
    );
    assert!(
        after.value(
            "mendix_operator_mendix_requests_total",
            &[("api", "cloud_deploy_v1")]
        ) > 0.0,
        "deploy API used"
    );
}

/// With leader election, the replica holding the Lease reports `leader` 1 and one transition;
/// the standby reports 0 and none (and no state gauges) until it takes the Lease over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_gauge_and_transitions_follow_the_lease() {
    let mut h = Harness::new().await;
    let elected = |identity: &str| {
        let mut config = h.config();
        config.leader_election = true;
        config.lease_name = "mendix-operator-leader".into();
        config.identity = identity.into();
        config.lease_duration = std::time::Duration::from_secs(5);
        config
    };
    let (config_a, config_b) = (elected("replica-a"), elected("replica-b"));
    let leading = |m: &Exposition, transitions: f64| {
        m.value("mendix_operator_leader", &[]) == 1.0
            && m.value("mendix_operator_leader_transitions_total", &[]) == transitions
    };
    h.start_operator_with(config_a).await;
    let a = h.metrics_addr.expect("replica a serves metrics");
    wait_for(
        "replica a to lead",
        || async { Some(scrape_at(a).await) },
        |m| leading(m, 1.0),
    )
    .await;

    // Replica b, another process in a real install: it stands by.
    let client = kube::Client::try_from(h.operator_config.clone()).expect("operator client");
    let (stop_b, stopped_b) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let replica_b = tokio::spawn(mendix_operator::runtime::operator::run(
        config_b,
        client,
        async move {
            let _ = stopped_b.await;
        },
        move |handles| {
            let _ = addr_tx.send(handles.metrics_addr);
        },
    ));
    let b = tokio::time::timeout(WAIT, addr_rx)
        .await
        .expect("replica b starts")
        .expect("replica b serves metrics");
    let standby = wait_for(
        "replica b to stand by",
        || async { Some(scrape_at(b).await) },
        |m| m.types.contains_key("mendix_operator_leader"),
    )
    .await;
    assert_eq!(standby.value("mendix_operator_leader", &[]), 0.0);
    assert_eq!(
        standby.value("mendix_operator_leader_transitions_total", &[]),
        0.0
    );
    assert!(
        standby
            .samples
            .iter()
            .all(|s| s.name != "mendix_operator_resources"),
        "a standby has no state gauges: {:?}",
        standby.samples
    );

    // A graceful stop releases the Lease: b takes it over and counts one transition.
    h.stop_operator().await;
    wait_for(
        "replica b to take over",
        || async { Some(scrape_at(b).await) },
        |m| leading(m, 1.0),
    )
    .await;
    let _ = stop_b.send(());
    let result = tokio::time::timeout(WAIT, replica_b)
        .await
        .expect("replica b stops")
        .expect("replica b did not panic");
    assert!(result.is_ok(), "replica b stopped cleanly: {result:?}");
}
