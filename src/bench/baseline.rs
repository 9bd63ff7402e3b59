//! The way teams deploy today, as the comparison: one sequential script per environment (all
//! scripts started together, as parallel CI pipelines would), each doing stop → transport →
//! start and then polling the start job every 5 seconds, through the project's own Mendix client
//! with the same rate and concurrency limits as the operator.

use std::time::{Duration, Instant};

use futures::StreamExt;

use mendix_client::cloud_v1::types::StartJobStatus;
use mendix_client::config::MendixConfig;
use mendix_client::credentials::CloudCredentials;
use mendix_client::limiter::HostLimits;
use mendix_client::{Mendix, MendixError};
use mendix_sandbox::demo;

use super::BenchError;
use super::seed::{MODE, app_id, new_package_id};

pub struct BaselineRun {
    pub elapsed: Duration,
}

pub async fn run(
    cloud_url: &str,
    private_cloud_url: &str,
    environments: usize,
    poll: Duration,
    limits: HostLimits,
) -> Result<BaselineRun, BenchError> {
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
    let started = Instant::now();
    let results: Vec<Result<(), MendixError>> = futures::stream::iter(0..environments)
        .map(|i| {
            let api = api.clone();
            async move {
                let app = app_id(i);
                api.get_environment(&app, MODE).await?;
                api.stop(&app, MODE).await?;
                api.transport(&app, MODE, &new_package_id(i)).await?;
                let job = api.start(&app, MODE, false).await?;
                loop {
                    tokio::time::sleep(poll).await;
                    if api.start_status(&app, MODE, &job.job_id).await? == StartJobStatus::Started {
                        return Ok(());
                    }
                }
            }
        })
        // Every script at once, as independent pipelines.
        .buffer_unordered(environments.max(1))
        .collect()
        .await;
    let elapsed = started.elapsed();
    if let Some(Err(err)) = results.into_iter().find(|r| r.is_err()) {
        return Err(BenchError::Mendix(format!(
            "a baseline script failed: {err}"
        )));
    }
    Ok(BaselineRun { elapsed })
}
