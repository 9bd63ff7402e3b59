//! The `kubectl-mendix` plugin: installed on PATH beside kubectl it becomes `kubectl mendix`.
//! It reads and annotates MendixPackage / MendixEnvironment resources through the kubeconfig,
//! and downloads Mendix Cloud app logs with the environment's own credentials Secret.
//!
//! Verbs: `get`, `restart`, `clean`, `reconcile`, `pause`, `resume`, `logs`, `create-free-app`,
//! `mxpc-cli`, `apps`, `clusters`, `packages`, and `import` (YAML that adopts every app and
//! environment a credentials Secret sees, with `managementPolicy: Observe`).

pub mod apps;
pub mod clusters;
pub mod diff;
pub mod import;
pub mod kubeconfig;
pub mod logs;
pub mod packages;
pub mod rollback;
pub mod target;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use kube::api::{Api, ListParams};

use mendix_operator::crd::common::{
    ANNOTATION_CLEAN_REQUESTED_AT, ANNOTATION_PAUSED, ANNOTATION_RECONCILE_REQUESTED_AT,
    ANNOTATION_RESTARTED_AT,
};
use mendix_operator::crd::summary;
use mendix_operator::crd::{MendixEnvironment, MendixPackage};
use target::Target;

#[derive(Parser, Debug)]
#[command(
    name = "kubectl mendix",
    bin_name = "kubectl mendix",
    version,
    about = "Inspect and steer Mendix deployments managed by mendix-operator"
)]
pub struct Cli {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Namespace (default: the context's namespace, else `default`).
    #[arg(short, long, global = true)]
    pub namespace: Option<String>,
    #[command(subcommand)]
    pub command: Verb,
}

#[derive(Subcommand, Debug)]
pub enum Verb {
    /// List the Mendix resources: kind, name, Ready, phase, step, version, message.
    Get {
        /// All namespaces.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
    /// Restart the app of a MendixEnvironment (sets mendixops.io/restartedAt to now).
    Restart {
        /// `mxenv/NAME` or NAME.
        environment: String,
    },
    /// Mendix Cloud: remove all data (files and database) of a MendixEnvironment's environment,
    /// then deploy and start it again (sets mendixops.io/cleanRequestedAt to now).
    Clean {
        /// `mxenv/NAME` or NAME.
        environment: String,
    },
    /// Force a reconcile (sets mendixops.io/reconcileRequestedAt to now).
    Reconcile {
        /// `mxpkg/NAME`, `mxenv/NAME`, or NAME (an environment first, then a package).
        resource: String,
    },
    /// Stop all remote writes for a resource (sets mendixops.io/paused=true).
    Pause {
        /// `mxpkg/NAME`, `mxenv/NAME`, or NAME (an environment first, then a package).
        resource: String,
    },
    /// Let the operator write again (removes mendixops.io/paused).
    Resume {
        /// `mxpkg/NAME`, `mxenv/NAME`, or NAME (an environment first, then a package).
        resource: String,
    },
    /// Print the app log of a Mendix Cloud environment (Deploy API v1 log download).
    Logs {
        /// `mxenv/NAME` or NAME.
        environment: String,
        /// The day of the log, YYYY-MM-DD (default: today, UTC).
        #[arg(long, value_parser = parse_date)]
        date: Option<chrono::NaiveDate>,
        /// The access log (the requests the app served) instead of the app log.
        #[arg(long)]
        access: bool,
        #[command(flatten)]
        apis: MendixApis,
    },
    /// Mendix Cloud: create a Free App for a Developer Portal project, with the credentials
    /// (`username` and `apiKey`) in a Secret.
    CreateFreeApp {
        /// The Developer Portal project id (the App ID on the app's Settings page).
        #[arg(long)]
        project_id: String,
        /// The credentials Secret, in the namespace.
        #[arg(long)]
        secret: String,
        #[command(flatten)]
        apis: MendixApis,
    },
    /// Private Cloud: the versions of mxpc-cli (the configuration tool), or with `--download`
    /// one build of it, with the PAT in a Secret.
    MxpcCli {
        /// The credentials Secret (`pat`), in the namespace.
        #[arg(long)]
        secret: String,
        /// Download this version (see the list) instead of listing.
        #[arg(long)]
        download: Option<String>,
        /// With --download: the operating system (`linux`, `macos`, `windows`).
        #[arg(long, default_value = "linux")]
        os: String,
        /// With --download: the architecture (`x86`, `arm`).
        #[arg(long, default_value = "x86")]
        arch: String,
        /// With --download: where to write it.
        #[arg(long, default_value = "mxpc-cli")]
        output: std::path::PathBuf,
        #[command(flatten)]
        apis: MendixApis,
    },
    /// Every app and environment the credentials in a Secret can see (Mendix Cloud with
    /// `username` and `apiKey`, Private Cloud with `pat`), or with APP that one app's details
    /// and environments; nothing is changed.
    Apps {
        /// The credentials Secret, in the namespace.
        #[arg(long)]
        secret: String,
        /// Show only this app (its app id: the subdomain on Mendix Cloud, the UUID on Private
        /// Cloud) with its details and environments.
        app: Option<String>,
        #[command(flatten)]
        apis: MendixApis,
    },
    /// Private Cloud: every cluster the PAT in a Secret manages and every namespace in each,
    /// with the Mendix Operator version installed there (the ids to adopt them with
    /// MendixCluster / MendixNamespace resources); nothing is changed.
    Clusters {
        /// The credentials Secret (`pat`), in the namespace.
        #[arg(long)]
        secret: String,
        #[command(flatten)]
        apis: MendixApis,
    },
    /// The deployment packages of an app, newest first, with the credentials in a Secret
    /// (Mendix Cloud with `username` and `apiKey`, Private Cloud with `pat`); nothing is changed.
    Packages {
        /// The credentials Secret, in the namespace.
        #[arg(long)]
        secret: String,
        /// The app id (the subdomain on Mendix Cloud, the UUID on Private Cloud).
        app: String,
        #[command(flatten)]
        apis: MendixApis,
    },
    /// Print YAML that adopts every app and environment the credentials in a Secret can see
    /// (Mendix Cloud with `username` and `apiKey`, Private Cloud with `pat`): a MendixEnvironment
    /// per environment, and on Private Cloud a MendixNamespace per namespace they live in, all
    /// with managementPolicy: Observe, so applying them changes nothing in Mendix. Constants
    /// whose names look sensitive are not printed: they come from Secrets whose
    /// `kubectl create secret` commands (keys only) head the output. Nothing is changed.
    Import {
        /// The credentials Secret, in the namespace; the resources are for this namespace and
        /// refer to it.
        #[arg(long)]
        secret: String,
        /// Only this app (its app id: the subdomain on Mendix Cloud, the UUID or the app's
        /// name on Private Cloud).
        #[arg(long)]
        app: Option<String>,
        #[command(flatten)]
        apis: MendixApis,
    },
    /// The remote steps the operator would take for an environment now (`mxenv/NAME` or NAME),
    /// or for each MendixEnvironment in a manifest (`-f FILE`, `-f -` for stdin): transport,
    /// settings with old and new values (values from Secrets masked), scaling, tags, stop and
    /// start, and the expected downtime. Reads Mendix, never writes.
    Diff {
        /// `mxenv/NAME` or NAME (omit with -f).
        environment: Option<String>,
        /// A manifest to preview before applying it; `-` reads stdin.
        #[arg(short = 'f', long = "filename")]
        file: Option<String>,
        #[command(flatten)]
        apis: MendixApis,
    },
    /// Show the plan waiting in a MendixEnvironment's status (`changeApproval: Manual`) and
    /// approve it (sets mendixops.io/approvedPlan to its hash).
    Approve {
        /// `mxenv/NAME` or NAME.
        environment: String,
    },
    /// Set a MendixEnvironment back to an earlier package from its `status.history`. When Argo
    /// CD or Flux applies the resource, prints the change to make in Git instead.
    Rollback {
        /// `mxenv/NAME` or NAME.
        environment: String,
        /// Which earlier package: 1 (default) is the one before the current one.
        #[arg(long, default_value_t = 1)]
        to: usize,
        /// Change the resource even though a GitOps tool applies it.
        #[arg(long)]
        force: bool,
    },
}

fn parse_date(value: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| format!("`{value}` is not a date in the form YYYY-MM-DD"))
}

/// Where the Mendix APIs are (the public ones unless told otherwise).
#[derive(clap::Args, Debug)]
pub struct MendixApis {
    /// Base URL of the Mendix Cloud Deploy API v1.
    #[arg(
        long,
        env = "MENDIX_CLOUD_URL",
        default_value = mendix_client::config::DEFAULT_CLOUD_V1_URL
    )]
    mendix_cloud_url: String,
    /// Base URL of the Mendix for Private Cloud Deploy API v4.
    #[arg(
        long,
        env = "MENDIX_PRIVATE_CLOUD_URL",
        default_value = mendix_client::config::DEFAULT_PRIVATE_CLOUD_V4_URL
    )]
    private_cloud_url: String,
}

impl MendixApis {
    /// A client for these APIs. Download links come from Mendix and the plugin runs as the
    /// user, so no download address is off limits.
    fn client(&self) -> Result<mendix_client::Mendix, PluginError> {
        let url = |flag: &str, value: &str| {
            url::Url::parse(value)
                .map_err(|e| PluginError::Usage(format!("--{flag} `{value}` is not a URL ({e})")))
        };
        let mut config = mendix_client::MendixConfig::default().with_urls(
            url("mendix-cloud-url", &self.mendix_cloud_url)?,
            url("private-cloud-url", &self.private_cloud_url)?,
        );
        config.download.allow_private_addresses = true;
        mendix_client::Mendix::new(config).map_err(|e| PluginError::Mendix(e.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("{0}")]
    KubeConfig(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Usage(String),
    #[error("{what}: {source}")]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("{0}")]
    Mendix(String),
    #[error("{0}")]
    Output(String),
}

impl PluginError {
    pub(crate) fn kube(what: impl Into<String>) -> impl FnOnce(kube::Error) -> PluginError {
        let what = what.into();
        move |source| PluginError::Kube { what, source }
    }

    /// A failed Mendix call, said with what it was doing.
    pub(crate) fn mendix(
        what: impl Into<String>,
    ) -> impl FnOnce(mendix_client::MendixError) -> PluginError {
        let what = what.into();
        move |e| PluginError::Mendix(format!("{what}: {e}"))
    }
}

/// Runs one plugin command; what it prints goes to stdout.
pub async fn execute(cli: Cli) -> Result<(), PluginError> {
    mendix_client::client::install_crypto_provider();
    let cluster = kubeconfig::connect(
        cli.kubeconfig.as_deref(),
        cli.context.as_deref(),
        cli.namespace.as_deref(),
    )
    .await?;
    match cli.command {
        Verb::Get { all_namespaces } => {
            let ns = (!all_namespaces).then_some(cluster.namespace.as_str());
            print!("{}", get(&cluster.client, ns).await?);
            Ok(())
        }
        Verb::Restart { environment } => {
            let (target, at) = request_on_environment(
                &cluster,
                &environment,
                ANNOTATION_RESTARTED_AT,
                "restarted",
            )
            .await?;
            println!("{target} restart requested ({ANNOTATION_RESTARTED_AT}={at})");
            Ok(())
        }
        Verb::Clean { environment } => {
            let (target, at) = request_on_environment(
                &cluster,
                &environment,
                ANNOTATION_CLEAN_REQUESTED_AT,
                "cleaned",
            )
            .await?;
            println!(
                "{target} clean requested ({ANNOTATION_CLEAN_REQUESTED_AT}={at}): all its data will be removed"
            );
            Ok(())
        }
        Verb::Reconcile { resource } => {
            let target = Target::parse(&resource)?
                .resolve(&cluster.client, &cluster.namespace)
                .await?;
            let at = now();
            target
                .annotate(
                    &cluster.client,
                    &cluster.namespace,
                    ANNOTATION_RECONCILE_REQUESTED_AT,
                    Some(&at),
                )
                .await?;
            println!("{target} reconcile requested ({ANNOTATION_RECONCILE_REQUESTED_AT}={at})");
            Ok(())
        }
        Verb::Pause { resource } => {
            let target = Target::parse(&resource)?
                .resolve(&cluster.client, &cluster.namespace)
                .await?;
            target
                .annotate(
                    &cluster.client,
                    &cluster.namespace,
                    ANNOTATION_PAUSED,
                    Some("true"),
                )
                .await?;
            println!("{target} paused: the operator makes no remote changes until resumed");
            Ok(())
        }
        Verb::Resume { resource } => {
            let target = Target::parse(&resource)?
                .resolve(&cluster.client, &cluster.namespace)
                .await?;
            target
                .annotate(&cluster.client, &cluster.namespace, ANNOTATION_PAUSED, None)
                .await?;
            println!("{target} resumed");
            Ok(())
        }
        Verb::CreateFreeApp {
            project_id,
            secret,
            apis,
        } => {
            let mendix = apis.client()?;
            let app = apps::create_free_app(
                &cluster.client,
                &cluster.namespace,
                &secret,
                &project_id,
                &mendix,
            )
            .await?;
            println!(
                "Free App {} created for project {project_id}: {}",
                app.app_id,
                app.url.unwrap_or_default()
            );
            Ok(())
        }
        Verb::MxpcCli {
            secret,
            download,
            os,
            arch,
            output,
            apis,
        } => {
            let mendix = apis.client()?;
            let pat = apps::private_cloud_pat(&cluster.client, &cluster.namespace, &secret).await?;
            let deploy = mendix.pc_deploy(&pat);
            let Some(version) = download else {
                let versions = deploy
                    .list_cli_versions()
                    .await
                    .map_err(|e| PluginError::Mendix(format!("listing mxpc-cli versions: {e}")))?;
                let rows: Vec<Vec<String>> = versions
                    .into_iter()
                    .map(|v| {
                        vec![
                            v.cli_version,
                            v.operator_version.unwrap_or_default(),
                            v.available_operating_systems.unwrap_or_default(),
                            v.available_architectures.unwrap_or_default(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    mendix_operator::crd::summary::table(
                        &["VERSION", "OPERATOR", "OPERATING SYSTEMS", "ARCHITECTURES"],
                        &rows
                    )
                );
                return Ok(());
            };
            let url = deploy
                .cli_download_url(&version, &os, &arch)
                .await
                .map_err(|e| PluginError::Mendix(format!("mxpc-cli {version}: {e}")))?;
            let dir = output
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let file = mendix
                .download(&url, dir, None)
                .await
                .map_err(|e| PluginError::Mendix(format!("downloading mxpc-cli {version}: {e}")))?;
            file.path
                .persist(&output)
                .map_err(|e| PluginError::Mendix(format!("writing {}: {e}", output.display())))?;
            println!(
                "mxpc-cli {version} for {os}/{arch} written to {} ({} bytes)",
                output.display(),
                file.size
            );
            Ok(())
        }
        Verb::Apps { secret, app, apis } => {
            let mendix = apis.client()?;
            let out = match app {
                Some(app) => {
                    apps::show(&cluster.client, &cluster.namespace, &secret, &app, &mendix).await?
                }
                None => apps::list(&cluster.client, &cluster.namespace, &secret, &mendix).await?,
            };
            print!("{out}");
            Ok(())
        }
        Verb::Clusters { secret, apis } => {
            let mendix = apis.client()?;
            print!(
                "{}",
                clusters::list(&cluster.client, &cluster.namespace, &secret, &mendix).await?
            );
            Ok(())
        }
        Verb::Packages { secret, app, apis } => {
            let mendix = apis.client()?;
            print!(
                "{}",
                packages::list(&cluster.client, &cluster.namespace, &secret, &app, &mendix).await?
            );
            Ok(())
        }
        Verb::Diff {
            environment,
            file,
            apis,
        } => {
            let mendix = apis.client()?;
            let out = match (environment, file) {
                (Some(environment), None) => {
                    let name = environment_name(&cluster, &environment, "previewed").await?;
                    diff::diff_environment(&cluster.client, &cluster.namespace, &name, mendix)
                        .await?
                }
                (None, Some(file)) => {
                    let yaml = if file == "-" {
                        std::io::read_to_string(std::io::stdin())
                            .map_err(|e| PluginError::Usage(format!("reading stdin: {e}")))?
                    } else {
                        std::fs::read_to_string(&file)
                            .map_err(|e| PluginError::Usage(format!("reading {file}: {e}")))?
                    };
                    diff::diff_manifests(&cluster.client, &cluster.namespace, &yaml, mendix).await?
                }
                _ => {
                    return Err(PluginError::Usage(
                        "give an environment, or -f FILE (not both)".into(),
                    ));
                }
            };
            print!("{out}");
            Ok(())
        }
        Verb::Approve { environment } => {
            let name = environment_name(&cluster, &environment, "approved").await?;
            print!(
                "{}",
                diff::approve(&cluster.client, &cluster.namespace, &name).await?
            );
            Ok(())
        }
        Verb::Rollback {
            environment,
            to,
            force,
        } => {
            let name = environment_name(&cluster, &environment, "rolled back").await?;
            print!(
                "{}",
                rollback::rollback(&cluster.client, &cluster.namespace, &name, to, force).await?
            );
            Ok(())
        }
        Verb::Import { secret, app, apis } => {
            let mendix = apis.client()?;
            print!(
                "{}",
                import::import(
                    &cluster.client,
                    &cluster.namespace,
                    &secret,
                    app.as_deref(),
                    &mendix
                )
                .await?
            );
            Ok(())
        }
        Verb::Logs {
            environment,
            date,
            access,
            apis,
        } => {
            let name = environment_name(&cluster, &environment, "read for logs").await?;
            let date = date.unwrap_or_else(|| chrono::Utc::now().date_naive());
            let kind = if access {
                logs::LogKind::Access
            } else {
                logs::LogKind::App
            };
            logs::print_log(
                &cluster.client,
                &cluster.namespace,
                &name,
                kind,
                date,
                &apis.client()?,
                &mut std::io::stdout(),
            )
            .await
        }
    }
}

/// Now, as the value of a request annotation.
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Sets `annotation` to now on the MendixEnvironment `environment`: a one-off request the
/// operator handles and echoes in status. Only an environment can be `what`.
async fn request_on_environment(
    cluster: &kubeconfig::Cluster,
    environment: &str,
    annotation: &str,
    what: &str,
) -> Result<(Target, String), PluginError> {
    let name = environment_name(cluster, environment, what).await?;
    let target = Target::Environment(name);
    let at = now();
    target
        .annotate(&cluster.client, &cluster.namespace, annotation, Some(&at))
        .await?;
    Ok((target, at))
}

/// The name of the MendixEnvironment `text` (`mxenv/NAME` or NAME) means; anything else is a
/// usage error saying only an environment can be `what`.
async fn environment_name(
    cluster: &kubeconfig::Cluster,
    text: &str,
    what: &str,
) -> Result<String, PluginError> {
    match Target::parse(text)?
        .resolve(&cluster.client, &cluster.namespace)
        .await?
    {
        Target::Environment(name) => Ok(name),
        other => Err(PluginError::Usage(format!(
            "only a MendixEnvironment can be {what}, not {other}"
        ))),
    }
}

/// The `get` table of one namespace (or all with `None`): environments first, then packages.
pub async fn get(client: &kube::Client, namespace: Option<&str>) -> Result<String, PluginError> {
    let (envs, pkgs): (Api<MendixEnvironment>, Api<MendixPackage>) = match namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let lp = ListParams::default();
    let envs = envs
        .list(&lp)
        .await
        .map_err(PluginError::kube("cannot list MendixEnvironments"))?;
    let pkgs = pkgs
        .list(&lp)
        .await
        .map_err(PluginError::kube("cannot list MendixPackages"))?;
    let mut rows: Vec<summary::Summary> = envs.items.iter().map(summary::environment).collect();
    rows.extend(pkgs.items.iter().map(summary::package));
    if rows.is_empty() {
        return Ok(match namespace {
            Some(ns) => format!("No Mendix resources found in {ns} namespace.\n"),
            None => "No Mendix resources found.\n".into(),
        });
    }
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    let mut headers = vec![
        "KIND", "NAME", "READY", "PHASE", "STEP", "VERSION", "MESSAGE",
    ];
    if namespace.is_none() {
        headers.insert(0, "NAMESPACE");
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|s| {
            let mut row = vec![
                s.kind.to_string(),
                s.name.clone(),
                s.ready.clone(),
                dash(&s.phase),
                dash(&s.step),
                dash(&s.version),
                s.message.clone(),
            ];
            if namespace.is_none() {
                row.insert(0, s.namespace.clone());
            }
            row
        })
        .collect();
    Ok(summary::table(&headers, &cells))
}
