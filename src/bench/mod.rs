//! `mendix-operator bench`: how close the operator gets to the limit.
//!
//! For each size N it starts the real control plane (kube-sandbox) and the Mendix sandbox in
//! this process (a fixed latency on every Mendix request, a configurable start-job duration),
//! the operator as a separate process (`mendix-operator run`, leader election off), and creates
//! N MendixEnvironments that each need a full Mendix Cloud deploy. It then reports (see
//! [`report::Figures`]): time until all are Ready against the lower bound, Mendix requests per
//! deploy against the minimum, the same deploys done by sequential scripts with 5 s polling,
//! the operator's peak RSS and CPU time, idle cost in steady state, and the reaction time from
//! a spec change to the first Mendix request. Then a promotion wave: every tenth app also has
//! Acceptance and Production MendixEnvironments promoted from Test (`spec.packageFrom`), and one
//! commit takes a new package from Test through both. Figures, not assertions: BENCHMARKS.md
//! keeps them.

mod baseline;
mod probe;
mod process;
pub mod report;
pub mod seed;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};

use crate::crd::MendixEnvironment;
use kube_sandbox::ControlPlane;
use mendix_client::limiter::HostLimits;
use mendix_sandbox::{Fault, MendixSandbox, demo};

use probe::{ProbedServer, ReactionProbe};
use process::{OperatorProcess, OperatorSettings};
use report::Figures;

const NAMESPACE: &str = "bench";
const SECRET: &str = "mendix-cloud";

/// Options of `mendix-operator bench`.
#[derive(clap::Args, Clone, Debug)]
pub struct BenchOptions {
    /// Numbers of environments to deploy, one run each.
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    pub sizes: Vec<usize>,
    /// Latency added to every Mendix request (real time).
    #[arg(long, default_value = "20ms", value_parser = humantime::parse_duration)]
    pub latency: Duration,
    /// Duration of a Mendix Cloud start job (Mendix takes tens of seconds; scale it down for
    /// large N).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub start_job: Duration,
    /// Apps start in their own time: each app's start job lasts --start-job times a factor
    /// drawn evenly from [1 - spread, 1 + spread] (the same for every run), e.g. 0.5 for 5 to
    /// 15 s. 0: every app takes --start-job.
    #[arg(long, default_value_t = 0.0)]
    pub start_spread: f64,
    /// The operator's Mendix rate limit (requests per second per host); the baseline scripts
    /// get the same.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// The operator's Mendix requests in flight per host; the baseline scripts get the same.
    #[arg(long, default_value_t = 32)]
    pub max_in_flight: usize,
    /// The operator's reconciles in flight per kind.
    #[arg(long, default_value_t = 64)]
    pub reconcile_concurrency: u16,
    /// The operator's first job poll interval (it doubles up to --poll-max); `run`'s default.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub poll_initial: Duration,
    /// The operator's longest job poll interval; `run`'s default.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub poll_max: Duration,
    /// The operator's resync period during the benchmark (idle cost is measured over it and
    /// also given for `run`'s default of 10 minutes).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub resync: Duration,
    /// How long steady state is observed (idle CPU and Mendix calls).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub idle: Duration,
    /// Spec changes timed for the reaction latency (at most N).
    #[arg(long, default_value_t = 100)]
    pub reactions: usize,
    /// Poll interval of the baseline scripts.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub baseline_poll: Duration,
    /// Skip the baseline scripts.
    #[arg(long)]
    pub no_baseline: bool,
    /// Give up on a run after this long.
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// The operator binary (default: this executable).
    #[arg(long)]
    pub operator_bin: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("Kubernetes sandbox: {0}")]
    Kube(String),
    #[error("Mendix sandbox: {0}")]
    Mendix(String),
    #[error("operator: {0}")]
    Operator(String),
    #[error("invalid option {option}: {problem}")]
    Option {
        option: &'static str,
        problem: String,
    },
}

impl BenchError {
    fn io(what: String, source: std::io::Error) -> Self {
        BenchError::Io { what, source }
    }
}

fn kube_err(what: &str) -> impl Fn(kube::Error) -> BenchError + '_ {
    move |e| BenchError::Kube(format!("{what}: {e}"))
}

impl BenchOptions {
    fn validate(&self) -> Result<(), BenchError> {
        let bad = |option, problem: &str| {
            Err(BenchError::Option {
                option,
                problem: problem.into(),
            })
        };
        if self.sizes.is_empty() || self.sizes.contains(&0) {
            return bad("--sizes", "give one or more sizes of at least 1");
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return bad("--rate", "must be a positive number");
        }
        if self.max_in_flight == 0 || self.reconcile_concurrency == 0 {
            return bad(
                "--max-in-flight/--reconcile-concurrency",
                "must be at least 1",
            );
        }
        if self.baseline_poll.is_zero() {
            return bad("--baseline-poll", "must be longer than 0s");
        }
        Ok(())
    }
}

/// Runs every size and prints the table; returns the figures.
pub async fn run(options: BenchOptions) -> Result<Vec<Figures>, BenchError> {
    options.validate()?;
    mendix_client::client::install_crypto_provider();
    let binary = match &options.operator_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .map_err(|e| BenchError::io("finding this executable".into(), e))?,
    };
    println!("{}", report::settings(&options));
    let mut all = Vec::new();
    for &n in &options.sizes {
        println!("N = {n}: running ...");
        let figures = run_size(&options, &binary, n).await?;
        println!("{}", figures.summary());
        all.push(figures);
    }
    println!();
    println!("{}", report::table(&all));
    Ok(all)
}

async fn run_size(
    options: &BenchOptions,
    binary: &std::path::Path,
    n: usize,
) -> Result<Figures, BenchError> {
    let dir = tempfile::tempdir().map_err(|e| BenchError::io("creating a temp dir".into(), e))?;
    let start_ms = u64::try_from(options.start_job.as_millis()).unwrap_or(u64::MAX);

    // Mendix: N apps, a latency on every request, a probe for reaction times.
    let mendix = MendixSandbox::from_yaml(&seed::world(n, start_ms, options.start_spread))
        .map_err(|e| BenchError::Mendix(e.to_string()))?;
    if !options.latency.is_zero() {
        mendix.add_fault(Fault::latency("*", options.latency));
    }
    let probe = ReactionProbe::default();
    let mendix_server = ProbedServer::start(&mendix, probe.clone()).await?;

    // Kubernetes: CRDs, namespace, credentials.
    let kube = ControlPlane::start(kube_sandbox::Options::default(), &|line| println!("{line}"))
        .await
        .map_err(|e| BenchError::Kube(format!("starting the control plane: {e}")))?;
    let kubeconfig = dir.path().join("kubeconfig");
    kube.write_admin_kubeconfig(&kubeconfig)
        .map_err(|e| BenchError::io(format!("writing {}", kubeconfig.display()), e))?;
    let client = kube
        .admin_client()
        .await
        .map_err(|e| BenchError::Kube(e.to_string()))?;
    prepare_cluster(&client).await?;

    // The operator, as its own process.
    let log_file = dir.path().join("operator.log");
    let settings = OperatorSettings {
        binary,
        kubeconfig: &kubeconfig,
        log_file: &log_file,
        cloud_url: mendix_server.cloud_v1_url(),
        private_cloud_url: mendix_server.private_cloud_v4_url(),
        namespace: NAMESPACE,
        reconcile_concurrency: options.reconcile_concurrency,
        max_in_flight: options.max_in_flight,
        requests_per_second: options.rate,
        resync: options.resync,
        poll_initial: options.poll_initial,
        poll_max: options.poll_max,
    };
    let mut operator = OperatorProcess::start(&settings).await?;
    operator.wait_ready(&log_file).await?;
    let usage_at_start = operator.usage()?;

    // Deploy N environments and wait for all of them to be Ready.
    let envs: Api<MendixEnvironment> = Api::namespaced(client.clone(), NAMESPACE);
    let ready_task = tokio::spawn(wait_all(envs.clone(), n, |_, env| is_ready(env)));
    probe.start_timeline();
    let started = Instant::now();
    create_environments(&envs, 0..n, seed::MODE).await?;
    let created = started.elapsed();
    let failure = format!("not all {n} environments were Ready");
    finish_wait(ready_task, options.timeout, &failure, &log_file).await?;
    let converged = started.elapsed();
    let deploy_stats = mendix.stats();
    let usage_converged = operator.usage()?;
    let deploy_timeline = probe.timeline(TIMELINE_WINDOW);

    // Second round: every environment deploys again, the operator now knowing its start time.
    probe.start_timeline();
    let upgrade = redeploy(&envs, n, n, &mendix, options.timeout, &log_file, |i| {
        Some(seed::upgrade_package_id(i))
    })
    .await?;
    let upgrade_timeline = probe.timeline(TIMELINE_WINDOW);

    // A GitOps wave: all are Ready, and one commit changes every tenth environment.
    let wave = redeploy(&envs, n, n, &mendix, options.timeout, &log_file, |i| {
        seed::in_wave(i).then(|| seed::new_package_id(i))
    })
    .await?;

    // Steady state: nothing to do but resyncs.
    mendix.reset_stats();
    let idle_started = operator.usage()?;
    tokio::time::sleep(options.idle).await;
    let idle_ended = operator.usage()?;
    let idle_calls = mendix.stats().total;

    // Promotion (after the steady state, so its per-resource figures still count N resources;
    // before the reactions, which stop Test environments): the apps with a chain get
    // Acceptance and Production, which first catch up with what Test runs (setup, not measured).
    let chain_apps = || (0..n).filter(|i| seed::in_wave(*i));
    let environments = n + 2 * seed::wave_size(n);
    let setup_started = Instant::now();
    let caught_up = tokio::spawn(wait_all(
        envs.clone(),
        environments,
        ready_at(|i| seed::in_wave(i).then(|| seed::new_package_id(i))),
    ));
    for mode in &seed::PROMOTION_CHAIN[1..] {
        create_environments(&envs, chain_apps(), mode).await?;
    }
    let failure = "not all promotion chains were Ready at Test's package";
    finish_wait(caught_up, options.timeout, failure, &log_file).await?;
    println!(
        "  promotion chains set up: {} Acceptance and Production environments Ready after {:.2} s",
        environments - n,
        setup_started.elapsed().as_secs_f64()
    );
    // The measured wave: one commit moves those Test environments to a new package.
    let promotion = redeploy(
        &envs,
        n,
        environments,
        &mendix,
        options.timeout,
        &log_file,
        |i| seed::in_wave(i).then(|| seed::promotion_package_id(i)),
    )
    .await?;

    // Reaction: a spec change → the first Mendix request about that app.
    let mut reactions = Vec::new();
    for i in 0..options.reactions.min(n) {
        let name = env_name(i, seed::MODE);
        probe.arm(&seed::app_id(i));
        envs.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({"spec": {"runState": "Stopped"}})),
        )
        .await
        .map_err(kube_err("changing a spec"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(took) = probe.take(&seed::app_id(i)) {
                reactions.push(took);
                break;
            }
            if Instant::now() > deadline {
                return Err(BenchError::Operator(format!(
                    "no Mendix request within 30 s of changing {name}; see {}",
                    log_file.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // One change at a time, as people make them.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let usage_end = operator.usage()?;
    operator.stop().await;
    drop(mendix_server);
    kube.shutdown();

    // The baseline, against a fresh Mendix sandbox in the same starting state.
    let (baseline, promotion_baseline) = if options.no_baseline {
        (None, None)
    } else {
        let fresh = MendixSandbox::from_yaml(&seed::world(n, start_ms, options.start_spread))
            .map_err(|e| BenchError::Mendix(e.to_string()))?;
        if !options.latency.is_zero() {
            fresh.add_fault(Fault::latency("*", options.latency));
        }
        let server = ProbedServer::start(&fresh, ReactionProbe::default()).await?;
        let limits = HostLimits {
            max_in_flight: options.max_in_flight,
            requests_per_second: options.rate,
            ..HostLimits::default()
        };
        let scripts = baseline::Scripts::new(
            &server.cloud_v1_url(),
            &server.private_cloud_v4_url(),
            options.baseline_poll,
            limits,
        )?;
        let run = scripts.deploy(n).await?;
        let deploy_calls = fresh.stats().total;
        let promotion = scripts.promote(chain_apps()).await?;
        (Some((run.elapsed, deploy_calls)), Some(promotion.elapsed))
    };

    Ok(Figures::new(report::Inputs {
        n,
        options,
        created,
        converged,
        deploy_requests: deploy_stats.operations.clone(),
        usage_at_start,
        usage_converged,
        usage_end,
        idle_cpu_seconds: idle_ended.cpu_seconds - idle_started.cpu_seconds,
        idle_calls,
        reactions,
        baseline,
        upgrade,
        wave,
        promotion,
        promotion_baseline,
        timelines: [deploy_timeline, upgrade_timeline],
    }))
}

/// Window of the request timelines.
const TIMELINE_WINDOW: Duration = Duration::from_secs(5);

/// The MendixEnvironment of app `i`'s `mode` environment: `env-00042` for Test, which every
/// round deploys, `env-00042-acceptance` and so on for the rest of a promotion chain.
fn env_name(i: usize, mode: &str) -> String {
    if mode == seed::MODE {
        format!("env-{i:05}")
    } else {
        format!("env-{i:05}-{}", mode.to_lowercase())
    }
}

/// The app index in a name [`env_name`] made.
fn env_index(name: &str) -> Option<usize> {
    name.strip_prefix("env-")?.split('-').next()?.parse().ok()
}

async fn prepare_cluster(client: &kube::Client) -> Result<(), BenchError> {
    crate::dev::install_crds(client)
        .await
        .map_err(|e| BenchError::Kube(format!("installing the CRDs: {e}")))?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(NAMESPACE.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .map_err(kube_err("creating the namespace"))?;
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(SECRET.into()),
            namespace: Some(NAMESPACE.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([
            (
                "username".to_string(),
                ByteString(demo::CLOUD_USERNAME.as_bytes().to_vec()),
            ),
            (
                "apiKey".to_string(),
                ByteString(demo::CLOUD_API_KEY.as_bytes().to_vec()),
            ),
        ])),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &secret)
        .await
        .map_err(kube_err("creating the credentials Secret"))?;
    Ok(())
}

fn environment(i: usize, mode: &str) -> Result<MendixEnvironment, BenchError> {
    let mut spec = serde_json::json!({
        "target": {"mendixCloud": {"appId": seed::app_id(i), "mode": mode}},
        "credentialsSecretRef": {"name": SECRET},
    });
    // Test names its package; the later stages deploy what the stage before them runs.
    match seed::promoted_from(mode) {
        None => spec["packageId"] = seed::new_package_id(i).into(),
        Some(source) => {
            spec["packageFrom"] =
                serde_json::json!({"environmentRef": {"name": env_name(i, source)}});
        }
    }
    // Without it the operator refuses to change a Mendix production environment.
    if mode == seed::PRODUCTION_MODE {
        spec["production"] = true.into();
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "mendixops.io/v1alpha1",
        "kind": "MendixEnvironment",
        "metadata": {"name": env_name(i, mode), "namespace": NAMESPACE},
        "spec": spec,
    }))
    .map_err(|e| BenchError::Kube(format!("building a MendixEnvironment: {e}")))
}

/// Creates the `mode` MendixEnvironment of each app in `apps`.
async fn create_environments(
    envs: &Api<MendixEnvironment>,
    apps: impl Iterator<Item = usize>,
    mode: &str,
) -> Result<(), BenchError> {
    for_each_environment(apps, |i| {
        let envs = envs.clone();
        async move {
            let env = environment(i, mode)?;
            envs.create(&PostParams::default(), &env)
                .await
                .map_err(kube_err("creating a MendixEnvironment"))?;
            Ok(())
        }
    })
    .await
}

/// Ready for the current generation (kstatus).
fn is_ready(env: &MendixEnvironment) -> bool {
    env.status.as_ref().is_some_and(|s| {
        s.observed_generation == env.metadata.generation
            && crate::crd::conditions::is_true(&s.conditions, crate::crd::conditions::READY)
    })
}

/// A GitOps wave changes every this many environments (10 %).
pub const WAVE_EVERY: usize = 10;

/// Ready, and at the package `package_of` names for its app, if it names one.
fn ready_at(
    package_of: impl Fn(usize) -> Option<String>,
) -> impl Fn(usize, &MendixEnvironment) -> bool {
    move |i, env| {
        is_ready(env)
            && package_of(i).is_none_or(|package| {
                env.status
                    .as_ref()
                    .and_then(|s| s.deployed_package_id.as_deref())
                    == Some(package.as_str())
            })
    }
}

/// One round of changes: the Test environment of each of the `apps` apps `package_of` names a
/// package for moves to it. Timed from the first change until all `environments`
/// MendixEnvironments are Ready, every one of a changed app (its promotion chain too) at the
/// new package; returns that time and the Mendix requests of the round by operation.
async fn redeploy(
    envs: &Api<MendixEnvironment>,
    apps: usize,
    environments: usize,
    mendix: &MendixSandbox,
    timeout: Duration,
    log_file: &std::path::Path,
    package_of: impl Fn(usize) -> Option<String> + Copy + Send + Sync + 'static,
) -> Result<(Duration, BTreeMap<String, u64>), BenchError> {
    mendix.reset_stats();
    let done = tokio::spawn(wait_all(envs.clone(), environments, ready_at(package_of)));
    let started = Instant::now();
    for_each_environment(0..apps, |i| {
        let envs = envs.clone();
        async move {
            let Some(package) = package_of(i) else {
                return Ok(());
            };
            let patch = serde_json::json!({"spec": {"packageId": package}});
            let name = env_name(i, seed::MODE);
            envs.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(kube_err("changing a MendixEnvironment's package"))?;
            Ok(())
        }
    })
    .await?;
    let failure = format!("not all {environments} environments were Ready at their new package");
    finish_wait(done, timeout, &failure, log_file).await?;
    Ok((started.elapsed(), mendix.stats().operations.clone()))
}

/// Waits for a [`wait_all`] task; after `timeout`, fails with `failure` and where the
/// operator's log is.
async fn finish_wait(
    task: tokio::task::JoinHandle<Result<(), BenchError>>,
    timeout: Duration,
    failure: &str,
    log_file: &std::path::Path,
) -> Result<(), BenchError> {
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(err)) => Err(BenchError::Kube(format!("the Ready watch ended: {err}"))),
        Err(_) => Err(BenchError::Operator(format!(
            "{failure} within {}; see {}",
            humantime::format_duration(timeout),
            log_file.display()
        ))),
    }
}

/// Runs `write` for the apps in `apps`, 16 at a time.
async fn for_each_environment<F, Fut>(
    apps: impl Iterator<Item = usize>,
    write: F,
) -> Result<(), BenchError>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), BenchError>>,
{
    futures::stream::iter(apps)
        .map(write)
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .map(drop)
}

/// Waits until `done(index, environment)` holds for all `n` environments.
async fn wait_all(
    envs: Api<MendixEnvironment>,
    n: usize,
    done: impl Fn(usize, &MendixEnvironment) -> bool,
) -> Result<(), BenchError> {
    let mut ready = HashSet::new();
    let mut events =
        std::pin::pin!(watcher::watcher(envs, watcher::Config::default()).default_backoff());
    while let Some(event) = events.next().await {
        let objects: Vec<MendixEnvironment> = match event {
            Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj)) => vec![obj],
            Ok(_) => continue,
            // The watcher re-lists by itself; a cut stream only costs time.
            Err(_) => continue,
        };
        for obj in objects {
            let name = obj.metadata.name.clone().unwrap_or_default();
            let index = env_index(&name).unwrap_or(usize::MAX);
            if done(index, &obj) {
                ready.insert(name);
            } else {
                ready.remove(&name);
            }
        }
        if ready.len() >= n {
            return Ok(());
        }
    }
    Err(BenchError::Kube(
        "the watch of MendixEnvironments ended".into(),
    ))
}
