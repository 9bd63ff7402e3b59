//! The way teams deploy today, as the comparison: one sequential script per environment (all
//! scripts started together, as parallel CI pipelines would), each doing stop → transport →
//! start and then polling the start job every 5 seconds, through the project's own Mendix client
//! with the same rate and concurrency limits as the operator. A promotion is one pipeline per
//! chain running that script for Test, then Acceptance, then Production.

use std::time::{Duration, Instant};

use mendix_client::cloud_v1::CloudDeploy;
use mendix_client::cloud_v1::types::StartJobStatus;
use mendix_client::config::MendixConfig;
use mendix_client::credentials::CloudCredentials;
use mendix_client::limiter::HostLimits;
use mendix_client::{Mendix, MendixError};
use mendix_sandbox::demo;

use super::BenchError;
use super::seed::{MODE, PROMOTION_CHAIN, app_id, new_package_id, promotion_package_id};

pub struct BaselineRun {
    pub elapsed: Duration,
}

/// The scripts' Mendix client: one for all of them, so they share its limits.
pub struct Scripts {
    api: CloudDeploy,
    poll: Duration,
}

impl Scripts {
    pub fn new(
        cloud_url: &str,
        private_cloud_url: &str,
        poll: Duration,
        limits: HostLimits,
    ) -> Result<Self, BenchError> {
        let parse = |u: &str| {
            url::Url::parse(u).map_err(|e| BenchError::Operator(format!("sandbox URL {u}: {e}")))
        };
        let mut config =
            MendixConfig::default().with_urls(parse(cloud_url)?, parse(private_cloud_url)?);
        config.limits = limits;
        let mendix = Mendix::new(config).map_err(|e| BenchError::Mendix(e.to_string()))?;
        let api = mendix.cloud_deploy(&CloudCredentials::new(
            demo::CLOUD_USERNAME,
            demo::CLOUD_API_KEY,
        ));
        Ok(Scripts { api, poll })
    }

    /// Deploys the new package to the Test environment of apps 0..environments.
    pub async fn deploy(&self, environments: usize) -> Result<BaselineRun, BenchError> {
        all_at_once((0..environments).map(|i| async move {
            deploy(&self.api, &app_id(i), MODE, &new_package_id(i), self.poll).await
        }))
        .await
    }

    /// Promotes the promotion package through the chain of each app in `apps`.
    pub async fn promote(
        &self,
        apps: impl Iterator<Item = usize>,
    ) -> Result<BaselineRun, BenchError> {
        all_at_once(apps.map(|i| async move {
            let app = app_id(i);
            let package = promotion_package_id(i);
            for mode in PROMOTION_CHAIN {
                deploy(&self.api, &app, mode, &package, self.poll).await?;
            }
            Ok(())
        }))
        .await
    }
}

/// Runs every script at once, as independent pipelines, and times them all.
async fn all_at_once(
    scripts: impl Iterator<Item = impl Future<Output = Result<(), MendixError>>>,
) -> Result<BaselineRun, BenchError> {
    let started = Instant::now();
    let results = futures::future::join_all(scripts).await;
    let elapsed = started.elapsed();
    if let Some(Err(err)) = results.into_iter().find(|r| r.is_err()) {
        return Err(BenchError::Mendix(format!(
            "a baseline script failed: {err}"
        )));
    }
    Ok(BaselineRun { elapsed })
}

/// One environment's script: read it, stop, transport, start, and poll the start job every
/// `poll` until it has started.
async fn deploy(
    api: &CloudDeploy,
    app: &str,
    mode: &str,
    package: &str,
    poll: Duration,
) -> Result<(), MendixError> {
    api.get_environment(app, mode).await?;
    api.stop(app, mode).await?;
    api.transport(app, mode, package).await?;
    let job = api.start(app, mode, false).await?.value;
    loop {
        tokio::time::sleep(poll).await;
        if api.start_status(app, mode, &job.job_id).await?.value == StartJobStatus::Started {
            return Ok(());
        }
    }
}
