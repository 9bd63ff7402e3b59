//! The package side of both Build APIs behind one face, in domain terms: a remote package and
//! a job. Mendix Cloud v1 creates the package at once and reports its build `Status`; Private
//! Cloud v4 runs a job and the package exists only once the job has finished.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::crd::package::{BuildSource, PackageTarget};
use mendix_client::client::{Mendix, UploadSource};
use mendix_client::cloud_v1::CloudBuild;
use mendix_client::cloud_v1::types as v1;
use mendix_client::error::MendixError;
use mendix_client::private_cloud_v4::PcBuild;
use mendix_client::private_cloud_v4::types as v4;

use crate::controller::secrets::Credentials;

/// Where a remote package is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteState {
    /// Queued, building or uploading; the text is what Mendix calls it.
    InProgress(String),
    Succeeded,
    Failed,
}

impl RemoteState {
    pub fn label(&self) -> &str {
        match self {
            RemoteState::InProgress(s) => s,
            RemoteState::Succeeded => "Succeeded",
            RemoteState::Failed => "Failed",
        }
    }
}

/// A package as either API reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct RemotePackage {
    pub id: String,
    pub state: RemoteState,
    /// major.minor.patch, when the model version has one.
    pub version: Option<String>,
    pub model_version: Option<String>,
    pub runtime_version: Option<String>,
    pub size: Option<i64>,
    pub created_at: Option<Time>,
    pub description: Option<String>,
    pub file_name: Option<String>,
    /// The build log, when it was asked for (Private Cloud `log=true`).
    pub build_log: Option<String>,
}

/// A Private Cloud job as the package controller needs it.
#[derive(Clone, Debug, PartialEq)]
pub enum JobState {
    Pending(String),
    Finished {
        package_id: Option<String>,
    },
    Failed {
        message: String,
        log: Option<String>,
        package_id: Option<String>,
    },
}

/// What a started build or upload gave back.
#[derive(Clone, Debug, PartialEq)]
pub enum Started {
    /// Mendix Cloud: the package exists at once.
    Package(String),
    /// Private Cloud: a job to follow.
    Job(String),
}

/// `2.5.4.63` → `2.5.4`.
pub fn semantic_version(model_version: &str) -> Option<String> {
    let parts: Vec<&str> = model_version.split('.').collect();
    (parts.len() >= 3
        && parts[..3]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())))
    .then(|| parts[..3].join("."))
}

fn time_from_millis(ms: i64) -> Option<Time> {
    Timestamp::from_millisecond(ms).ok().map(Time)
}

fn time_from_rfc3339(text: &str) -> Option<Time> {
    text.parse::<Timestamp>().ok().map(Time)
}

impl From<v1::Package> for RemotePackage {
    fn from(p: v1::Package) -> Self {
        let state = match p.status {
            v1::PackageStatus::Succeeded => RemoteState::Succeeded,
            v1::PackageStatus::Failed => RemoteState::Failed,
            v1::PackageStatus::Queued => RemoteState::InProgress("Queued".into()),
            v1::PackageStatus::Building => RemoteState::InProgress("Building".into()),
            v1::PackageStatus::Uploading => RemoteState::InProgress("Uploading".into()),
            v1::PackageStatus::Unknown => RemoteState::InProgress("Unknown".into()),
        };
        RemotePackage {
            version: p.version.as_deref().and_then(semantic_version),
            model_version: p.version,
            runtime_version: None,
            size: p.size,
            created_at: p.creation_date.and_then(time_from_millis),
            description: p.description,
            file_name: p.name,
            build_log: None,
            id: p.package_id,
            state,
        }
    }
}

impl From<v4::Package> for RemotePackage {
    fn from(p: v4::Package) -> Self {
        RemotePackage {
            version: p.model_version.as_deref().and_then(semantic_version),
            model_version: p.model_version,
            runtime_version: p.runtime_version,
            size: p.file_size.and_then(|s| i64::try_from(s).ok()),
            created_at: p.created_on.as_deref().and_then(time_from_rfc3339),
            description: p.description,
            file_name: p.file_name,
            build_log: p.build_log,
            id: p.id,
            // A v4 package is listed only once its job has finished.
            state: RemoteState::Succeeded,
        }
    }
}

/// One app's packages on one platform, with credentials bound.
pub enum PackageApi {
    Cloud { api: CloudBuild, app_id: String },
    Private { api: PcBuild, app_id: String },
}

impl PackageApi {
    /// Binds the target to an API handle; None when the credentials are for the other platform.
    pub fn new(mendix: &Mendix, target: &PackageTarget, credentials: &Credentials) -> Option<Self> {
        match (target, credentials) {
            (
                PackageTarget {
                    mendix_cloud: Some(app),
                    ..
                },
                Credentials::Cloud(c),
            ) => Some(PackageApi::Cloud {
                api: mendix.cloud_build(c),
                app_id: app.app_id.clone(),
            }),
            (
                PackageTarget {
                    private_cloud: Some(app),
                    ..
                },
                Credentials::Private(pat),
            ) => Some(PackageApi::Private {
                api: mendix.pc_build(pat),
                app_id: app.app_id.clone(),
            }),
            _ => None,
        }
    }

    /// The package, or None when Mendix does not know it.
    pub async fn package(
        &self,
        id: &str,
        with_log: bool,
    ) -> Result<Option<RemotePackage>, MendixError> {
        let found = match self {
            PackageApi::Cloud { api, app_id } => api
                .get_package(app_id, id, false)
                .await
                .map(RemotePackage::from),
            PackageApi::Private { api, app_id } => api
                .get_package(app_id, id, false, with_log)
                .await
                .map(RemotePackage::from),
        };
        match found {
            Ok(p) => Ok(Some(p)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn list(&self) -> Result<Vec<RemotePackage>, MendixError> {
        Ok(match self {
            PackageApi::Cloud { api, app_id } => api
                .list_packages(app_id)
                .await?
                .into_iter()
                .map(RemotePackage::from)
                .collect(),
            PackageApi::Private { api, app_id } => api
                .list_packages(app_id)
                .await?
                .into_iter()
                .map(RemotePackage::from)
                .collect(),
        })
    }

    pub async fn start_build(&self, build: &BuildSource) -> Result<Started, MendixError> {
        match self {
            PackageApi::Cloud { api, app_id } => {
                let request = v1::BuildRequest {
                    branch: build.branch.clone(),
                    revision: build.revision.clone(),
                    version: build.version.clone(),
                    description: build.description.clone().unwrap_or_default(),
                };
                Ok(Started::Package(
                    api.start_build(app_id, &request).await?.package_id,
                ))
            }
            PackageApi::Private { api, app_id } => {
                let request = v4::BuildRequest {
                    branch: build.branch.clone(),
                    revision: build.revision.clone(),
                    version: Some(build.version.clone()),
                    description: build.description.clone(),
                };
                Ok(Started::Job(api.build(app_id, &request).await?.id))
            }
        }
    }

    pub async fn upload(
        &self,
        file_name: &str,
        file: &std::path::Path,
    ) -> Result<Option<Started>, MendixError> {
        match self {
            PackageApi::Cloud { api, app_id } => Ok(api
                .upload_package(app_id, file_name, UploadSource::file(file))
                .await?
                .map(Started::Package)),
            PackageApi::Private { api, app_id } => Ok(Some(Started::Job(
                api.upload(app_id, file_name, UploadSource::file(file))
                    .await?
                    .id,
            ))),
        }
    }

    /// Follows a Private Cloud job (Mendix Cloud has none for packages).
    pub async fn job(&self, job_id: &str) -> Result<JobState, MendixError> {
        let PackageApi::Private { api, .. } = self else {
            return Ok(JobState::Finished { package_id: None });
        };
        let mut job = api.get_job(job_id).await?;
        if job.status == v4::JobStatus::Failed && job.log.is_none() {
            // The build log comes only with `log=true`: fetch it once, for the Stalled message.
            if let Ok(with_log) = api.get_job_with_log(job_id).await {
                job = with_log;
            }
        }
        Ok(match job.status {
            v4::JobStatus::Finished => JobState::Finished {
                package_id: job.package_id,
            },
            v4::JobStatus::Failed => JobState::Failed {
                message: job.failure_message().unwrap_or_default(),
                log: job.log.and_then(|l| l.build),
                package_id: job.package_id,
            },
            other => JobState::Pending(format!("{other:?}").to_lowercase()),
        })
    }

    /// Deletes the package. Mendix Cloud deletes at once (None); Private Cloud starts a job.
    pub async fn delete(&self, id: &str) -> Result<Option<String>, MendixError> {
        match self {
            PackageApi::Cloud { api, app_id } => {
                api.delete_package(app_id, id).await.map(|()| None)
            }
            PackageApi::Private { api, app_id } => {
                api.delete_package(app_id, id).await.map(|job| Some(job.id))
            }
        }
    }
}

/// The last `lines` lines of a build log, for a condition message.
pub fn log_tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_come_from_model_versions() {
        assert_eq!(semantic_version("2.5.4.63").as_deref(), Some("2.5.4"));
        assert_eq!(semantic_version("1.0.0").as_deref(), Some("1.0.0"));
        assert_eq!(semantic_version("1.x.0.3"), None);
        assert_eq!(semantic_version("garbage"), None);
    }

    #[test]
    fn log_tail_keeps_the_last_non_empty_lines() {
        assert_eq!(log_tail("a\n\nb\nc\n\n", 2), "b\nc");
        assert_eq!(log_tail("only", 5), "only");
    }
}
