//! Benchmark of the Kubernetes API sandbox with 10,000 custom resources, over real HTTP on
//! loopback with kube-rs as the client: create rate, full list time, watch fan-out latency and
//! peak memory (RSS of this process, which holds both the server and the client).
//!
//! `cargo run --example kube_sandbox_bench [-- COUNT WATCHERS]` (defaults: 10000 and 10).

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use mendix_operator::crd::MendixEnvironment;
use mendix_operator::sandbox::kube::KubeSandbox;

/// `VmHWM` (peak resident set) and `VmRSS` of this process, in MiB.
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn environment(name: &str) -> Result<MendixEnvironment, serde_json::Error> {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "mendixops.io/v1alpha1",
        "kind": "MendixEnvironment",
        "metadata": {"name": name, "labels": {"bench": "yes"}},
        "spec": {
            "target": {"mendixCloud": {"appId": "calc", "mode": "Acceptance"}},
            "credentialsSecretRef": {"name": "mendix-cloud-credentials"},
            "packageId": "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            "runState": "Running",
            "instances": 1,
        }
    }))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let watchers: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10);
    let updates = 100;

    let sandbox = KubeSandbox::new();
    let server = sandbox.serve("127.0.0.1:0".parse()?).await?;
    let client = server.client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (_, crd) in mendix_operator::crd::all() {
        crds.create(&PostParams::default(), &crd).await?;
    }
    let api: Api<MendixEnvironment> = Api::default_namespaced(client.clone());
    let (_, rss_empty) = memory_mib();

    // Create rate: 16 concurrent clients, as a controller fleet or `kubectl apply` of many files.
    let started = Instant::now();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            async move {
                api.create(
                    &PostParams::default(),
                    &environment(&format!("env-{i:05}"))?,
                )
                .await?;
                Ok(())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    let create_secs = started.elapsed().as_secs_f64();
    let (_, rss_loaded) = memory_mib();

    // Full list, in one response and in pages of 500 (what reflectors do).
    let started = Instant::now();
    let all = api.list(&ListParams::default()).await?;
    let list_all = started.elapsed();
    assert_eq!(all.items.len(), count);
    drop(all);
    let started = Instant::now();
    let mut lp = ListParams::default().limit(500);
    let mut paged = 0;
    loop {
        let page = api.list(&lp).await?;
        paged += page.items.len();
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => lp = lp.continue_token(&token),
            _ => break,
        }
    }
    let list_paged = started.elapsed();
    assert_eq!(paged, count);

    // Watch fan-out: `watchers` open watches, `updates` spec patches one after another; latency
    // from just before the patch is sent to each watcher receiving the MODIFIED event.
    let rv = api
        .list(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    for _ in 0..watchers {
        let mut stream = api
            .watch(&WatchParams::default().timeout(290), &rv)
            .await?
            .boxed();
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Ok(Some(ev)) = stream.try_next().await {
                if let WatchEvent::Modified(obj) = ev {
                    let n = obj
                        .metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get("bench/round"))
                        .and_then(|r| r.parse().ok())
                        .unwrap_or(usize::MAX);
                    if tx.send((n, Instant::now())).is_err() {
                        return;
                    }
                }
            }
        });
    }
    drop(tx);
    let mut latencies = Vec::with_capacity(updates * watchers);
    for u in 0..updates {
        let round = u;
        let patch =
            serde_json::json!({"metadata": {"annotations": {"bench/round": u.to_string()}}});
        let sent = Instant::now();
        api.patch("env-00000", &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        let mut received = 0;
        while received < watchers {
            let Some((n, at)) = tokio::time::timeout(Duration::from_secs(60), rx.recv()).await?
            else {
                anyhow::bail!("a watch ended early");
            };
            if n == round {
                latencies.push(at.duration_since(sent));
                received += 1;
            }
        }
    }
    latencies.sort();
    let (peak, rss_end) = memory_mib();

    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "# Kubernetes API sandbox benchmark ({profile} build, kube-rs client over loopback HTTP)"
    );
    println!("custom resources:            {count}");
    println!(
        "create (16 concurrent):      {:.1} s = {:.0} objects/s",
        create_secs,
        count as f64 / create_secs
    );
    println!(
        "full list (one response):    {:.0} ms",
        list_all.as_secs_f64() * 1000.0
    );
    println!(
        "full list (pages of 500):    {:.0} ms",
        list_paged.as_secs_f64() * 1000.0
    );
    println!(
        "watch fan-out ({watchers} watchers x {updates} updates): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
    );
    println!(
        "memory: RSS {rss_empty:.0} MiB empty, {rss_loaded:.0} MiB with {count} objects, {rss_end:.0} MiB at end; peak RSS {peak:.0} MiB"
    );
    server.shutdown();
    Ok(())
}
