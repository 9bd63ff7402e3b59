//! The operator process: metrics and health endpoint, Mendix clients with metrics, leader
//! election, and both controllers. `run`, the one-command sandbox and the end-to-end tests all
//! start the operator through [`run`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;

use super::config::RunConfig;
use super::gauges;
use super::server::{self, Health};
use crate::controller::schedule::PollSchedule;
use crate::controller::{Context, Settings, environment, landscape, package, trigger};
use crate::crd::{MendixCluster, MendixEnvironment, MendixNamespace, MendixPackage};
use crate::metrics::Metrics;
use mendix_client::client::{Mendix, install_crypto_provider};
use mendix_client::config::MendixConfig;
use mendix_client::limiter::HostLimits;
use mendix_client::observer::RequestEvent;

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("{0}")]
    Config(#[from] super::config::ConfigError),
    #[error("cannot connect to Kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("Mendix client configuration: {0}")]
    Mendix(#[from] mendix_client::error::MendixError),
    #[error("leader election: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
    #[error("lost the leader Lease; exiting so a fresh replica can take over")]
    LostLeadership,
}

/// What the operator exposes to whoever started it (tests, the sandbox).
pub struct Handles {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    pub metrics_addr: std::net::SocketAddr,
}

fn mendix_config(config: &RunConfig) -> Result<MendixConfig, OperatorError> {
    let parse = |field: &'static str, value: &str| {
        url::Url::parse(value).map_err(|e| super::config::ConfigError {
            field,
            problem: format!("`{value}` is not a URL ({e})"),
        })
    };
    let mut mendix = MendixConfig::default().with_urls(
        parse("--mendix-cloud-url", &config.mendix_cloud_url)?,
        parse("--private-cloud-url", &config.private_cloud_url)?,
    );
    mendix.request_timeout = config.mendix_request_timeout;
    mendix.download = mendix_client::download_guard::DownloadPolicy {
        allow_private_addresses: config.allow_private_download_urls,
        max_bytes: config.max_download_size,
    };
    mendix.limits = HostLimits {
        max_in_flight: config.mendix_max_in_flight,
        requests_per_second: config.mendix_requests_per_second,
        ..HostLimits::default()
    };
    Ok(mendix)
}

/// Runs the operator until `shutdown` resolves. With leader election, controllers run only
/// while this replica holds the Lease; losing it ends the process with an error.
pub async fn run(
    config: RunConfig,
    client: kube::Client,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    started: impl FnOnce(Handles) + Send,
) -> Result<(), OperatorError> {
    config.validate()?;
    install_crypto_provider();
    let metrics = Metrics::new();
    let health = Arc::new(Health::default());
    let metrics_addr = server::spawn(config.metrics_addr, metrics.clone(), health.clone())
        .await
        .map_err(|source| OperatorError::Metrics {
            addr: config.metrics_addr,
            source,
        })?;
    let observer_metrics = metrics.clone();
    let mendix = Mendix::new(mendix_config(&config)?)?.with_observer(Arc::new(
        move |event: &RequestEvent| {
            observer_metrics.observe_request(
                event.api.label(),
                event.operation,
                &event.outcome.label(),
                event.elapsed,
            );
            if event.will_retry {
                observer_metrics.observe_retry(event.api.label(), event.operation);
            }
        },
    ));
    let identity = if config.identity.is_empty() {
        format!("mendix-operator-{}", uuid::Uuid::new_v4())
    } else {
        config.identity.clone()
    };
    let settings = Settings {
        poll: PollSchedule {
            first: config.poll_initial,
            max: config.poll_max,
        },
        resync: config.resync_period,
        // A Private Cloud build whose answer was lost is looked for this long before it is
        // requested again: fifteen poll ceilings, 15 minutes with the default --poll-max.
        orphan_grace: config.poll_max.saturating_mul(15),
        download_dir: config.download_dir.clone(),
        delete_wait_limit: config.delete_wait_limit,
    };
    let ctx = Context::new(
        client.clone(),
        mendix,
        metrics.clone(),
        settings,
        Some(identity.clone()),
    );
    started(Handles {
        metrics: metrics.clone(),
        health: health.clone(),
        metrics_addr,
    });

    let shutdown: Shared<BoxFuture<'static, ()>> = shutdown.boxed().shared();
    if !config.leader_election {
        set_leading(&health, &metrics, true);
        run_controllers(&config, ctx, health.clone(), shutdown).await;
        return Ok(());
    }

    let leases: Api<Lease> = Api::namespaced(client.clone(), &config.lease_namespace);
    let builder = || {
        LeaseManagerBuilder::new(client.clone(), &config.lease_name)
            .with_namespace(&config.lease_namespace)
            .with_identity(&identity)
            .with_duration(config.lease_duration.as_secs().max(2))
            .with_grace((config.lease_duration.as_secs() / 3).max(1))
    };
    tracing::info!(identity, lease = %config.lease_name, "standing by for the leader Lease");
    // kube-lease-manager sleeps until the holder's Lease would expire, trusting the copy it
    // read. A leader that stops gracefully releases the Lease early; a fresh manager, started
    // when that is seen, reads it again and takes it at once instead of at expiry.
    let check_every =
        (config.lease_duration / 10).clamp(Duration::from_millis(100), Duration::from_secs(1));
    let manager = 'standby: loop {
        let manager = builder().build().await?;
        loop {
            tokio::select! {
                acquired = manager.changed() => match acquired {
                    Ok(true) => break 'standby manager,
                    Ok(false) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "leader election: cannot read the Lease; retrying");
                        tokio::time::sleep(check_every).await;
                    }
                },
                () = released(&leases, &config.lease_name, check_every) => continue 'standby,
                () = shutdown.clone() => {
                    let _ = manager.release().await;
                    return Ok(());
                }
            }
        }
    };
    tracing::info!(identity, "leading: starting controllers");
    set_leading(&health, &metrics, true);
    // From here the manager renews the Lease in the background and reports a loss.
    let (leading, lease_task) = manager.watch().await;
    let (lost_tx, mut lost_rx) = watch::channel(false);
    // This task owns the only receiver: aborting it closes the channel, which makes the lease
    // task release the Lease and end.
    let guard = tokio::spawn(async move {
        let mut leading = leading;
        let _ = leading.wait_for(|l| !*l).await;
        let _ = lost_tx.send(true);
    });
    // On shutdown the controllers finish (and record) the reconciles in flight before the Lease
    // is released. On a lost Lease every reconcile stops at once, wherever it is: another
    // replica leads now, and no Mendix write may be sent after that is known. (Each write is
    // recorded before it is sent, so the new leader resumes it like after a crash.)
    let mut lost = lost_rx.clone();
    tokio::select! {
        () = run_controllers(&config, ctx, health.clone(), shutdown.clone()) => {}
        Ok(_) = lost.wait_for(|l| *l) => {
            tracing::error!(identity, "lost the leader Lease: every reconcile stopped");
        }
    }
    set_leading(&health, &metrics, false);
    let lost_lease = *lost_rx.borrow_and_update();
    guard.abort();
    let _ = guard.await;
    if lost_lease {
        // Another replica holds the Lease now: nothing to release, only the task to end.
        let _ = tokio::time::timeout(Duration::from_secs(10), lease_task).await;
    } else {
        release(lease_task).await;
    }
    if lost_lease && shutdown.clone().now_or_never().is_none() {
        tracing::error!(identity, "lost the leader Lease");
        Err(OperatorError::LostLeadership)
    } else {
        Ok(())
    }
}

/// Leading or standing by, as `/readyz` and `/metrics` show it.
fn set_leading(health: &Health, metrics: &Metrics, leading: bool) {
    health.set_leading(leading);
    metrics.set_leader(leading);
}

/// Resolves once the Lease has no holder: its leader released it (or it was never taken).
async fn released(leases: &Api<Lease>, name: &str, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Ok(lease) = leases.get_opt(name).await else {
            continue;
        };
        let held = lease
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
            .is_some_and(|h| !h.is_empty());
        if !held {
            tracing::info!("the leader Lease is free");
            return;
        }
    }
}

async fn release(
    task: tokio::task::JoinHandle<
        Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>,
    >,
) {
    // The lease task releases the Lease itself when its channel closes; releasing again is a
    // no-op for a replica that no longer holds it.
    match tokio::time::timeout(Duration::from_secs(10), task).await {
        Ok(Ok(Ok(manager))) => {
            if let Err(err) = manager.release().await {
                tracing::warn!(error = %err, "could not release the leader Lease; the standby takes over when it expires");
            } else {
                tracing::info!("released the leader Lease");
            }
        }
        _ => tracing::warn!(
            "the leader election task did not stop cleanly; the Lease expires on its own"
        ),
    }
}

/// Every kind's controller for every watched namespace, until `stop` resolves.
async fn run_controllers(
    config: &RunConfig,
    ctx: Arc<Context>,
    health: Arc<Health>,
    stop: Shared<BoxFuture<'static, ()>>,
) {
    let namespaces: Vec<Option<String>> = match config.watched_namespaces() {
        list if list.is_empty() => vec![None],
        list => list.into_iter().map(|n| Some(n.to_string())).collect(),
    };
    // Ready once every controller's cache has synced.
    let pending = Arc::new(AtomicUsize::new(namespaces.len() * 4));
    let synced = move || {
        let pending = pending.clone();
        let health = health.clone();
        move || {
            if pending.fetch_sub(1, Ordering::SeqCst) == 1 {
                health.set_caches_synced(true);
            }
        }
    };
    // Dropping this future (a lost Lease) aborts every controller and the reconciles in it.
    let mut tasks = tokio::task::JoinSet::new();
    let mut package_stores = Vec::new();
    let mut environment_stores = Vec::new();
    let mut cluster_stores = Vec::new();
    let mut namespace_stores = Vec::new();
    for ns in namespaces {
        let package_controller = trigger::controller::<MendixPackage>(&ctx, ns.as_deref());
        package_stores.push(package_controller.store());
        tasks.spawn(package::run(
            package_controller,
            ctx.clone(),
            config.reconcile_concurrency,
            stop.clone(),
            synced(),
        ));
        let environment_controller = trigger::controller::<MendixEnvironment>(&ctx, ns.as_deref());
        environment_stores.push(environment_controller.store());
        tasks.spawn(environment::run(
            environment_controller,
            ns.clone(),
            ctx.clone(),
            config.reconcile_concurrency,
            stop.clone(),
            synced(),
        ));
        let cluster_controller = trigger::follow_referrers::<_, MendixNamespace>(
            trigger::controller::<MendixCluster>(&ctx, ns.as_deref()),
            &ctx,
            ns.as_deref(),
            |refs| refs.cluster.as_deref(),
        );
        cluster_stores.push(cluster_controller.store());
        tasks.spawn(landscape::run(
            cluster_controller,
            ctx.clone(),
            config.reconcile_concurrency,
            stop.clone(),
            synced(),
        ));
        let namespace_controller = trigger::follow_references::<_, MendixCluster>(
            trigger::controller::<MendixNamespace>(&ctx, ns.as_deref()),
            &ctx,
            ns.as_deref(),
            |refs| refs.cluster.as_deref(),
        );
        let namespace_controller = trigger::follow_referrers::<_, MendixEnvironment>(
            namespace_controller,
            &ctx,
            ns.as_deref(),
            |refs| refs.namespace.as_deref(),
        );
        namespace_stores.push(namespace_controller.store());
        tasks.spawn(landscape::run(
            namespace_controller,
            ctx.clone(),
            config.reconcile_concurrency,
            stop.clone(),
            synced(),
        ));
    }
    tasks.spawn(gauges::run(
        package_stores,
        ctx.metrics.clone(),
        stop.clone(),
    ));
    tasks.spawn(gauges::run(
        environment_stores,
        ctx.metrics.clone(),
        stop.clone(),
    ));
    tasks.spawn(gauges::run(
        cluster_stores,
        ctx.metrics.clone(),
        stop.clone(),
    ));
    tasks.spawn(gauges::run(
        namespace_stores,
        ctx.metrics.clone(),
        stop.clone(),
    ));
    while tasks.join_next().await.is_some() {}
}
