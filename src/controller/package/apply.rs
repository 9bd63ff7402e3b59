//! Converging one MendixPackage: report a known package, follow a job in flight, resume after a
//! crash, or start the build / upload / adoption its source asks for.

use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::events::EventType;

use super::remote::{JobState, PackageApi, RemotePackage, RemoteState, Started, log_tail};
use crate::controller::Context;
use crate::controller::error::Error;
use crate::controller::secrets::{self, Platform};
use crate::controller::status::StatusWriter;
use crate::controller::verdict::{
    Verdict, age, is_paused, stall_or_retry, stalled_by, start_operation,
};
use crate::crd::conditions::Outcome;
use crate::crd::package::{MendixPackage, MendixPackageStatus, PackagePhase, PackageSource};
use crate::crd::{OperationKind, OperationStatus};

/// Lines of a failed build's log shown in the Stalled message.
const LOG_LINES: usize = 10;

/// "; build log ends with: ..." for a Stalled message, or nothing when there is no log.
fn log_excerpt(log: Option<&str>) -> String {
    log.map(|l| log_tail(l, LOG_LINES))
        .filter(|t| !t.is_empty())
        .map(|t| format!("; build log ends with:\n{t}"))
        .unwrap_or_default()
}

pub fn platform(pkg: &MendixPackage) -> Platform {
    if pkg.spec.target.mendix_cloud.is_some() {
        Platform::MendixCloud
    } else {
        Platform::PrivateCloud
    }
}

/// What the source is, for messages: "build of 2.5.4", "upload of app.mda", "package <id>".
pub fn describe(source: &PackageSource) -> String {
    match source {
        PackageSource { build: Some(b), .. } => {
            format!("build of {} ({}@{})", b.version, b.branch, b.revision)
        }
        PackageSource {
            upload: Some(u), ..
        } => format!("upload of {}", u.file_name),
        PackageSource {
            existing: Some(e), ..
        } => format!("package {}", e.package_id),
        _ => "package".into(),
    }
}

/// The remote API for this package, or a Stalled verdict saying which credentials to fix.
pub async fn remote_for(
    pkg: &MendixPackage,
    ctx: &Context,
) -> Result<Result<PackageApi, Verdict>, Error> {
    let namespace = pkg
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let platform = platform(pkg);
    match secrets::load(&ctx.client, &namespace, &pkg.spec.credentials_secret_ref.name, platform).await {
        Ok(creds) => Ok(PackageApi::new(&ctx.mendix, &pkg.spec.target, &creds)
            .ok_or_else(|| Verdict::stalled("InvalidSpec", "exactly one of spec.target.mendixCloud or spec.target.privateCloud must be set"))),
        Err(err) => match err.stalled_reason() {
            Some(reason) => Ok(Err(Verdict::stalled(reason, err.to_string()))),
            None => Err(err.into()),
        },
    }
}

/// Copies what Mendix reports into status and says whether the package is usable.
/// What `remote` means for this resource. A package still in progress is looked at again after
/// `poll`: nothing else would wake the reconcile before the resync, as status writes do not.
fn report(
    status: &mut MendixPackageStatus,
    pkg: &MendixPackage,
    remote: &RemotePackage,
    poll: Duration,
) -> Verdict {
    status.package_id = Some(remote.id.clone());
    status.remote_state = Some(remote.state.label().to_string());
    status.version = remote
        .version
        .clone()
        .or_else(|| pkg.spec.source.build.as_ref().map(|b| b.version.clone()))
        .or(status.version.take());
    status.model_version = remote.model_version.clone().or(status.model_version.take());
    status.runtime_version = remote
        .runtime_version
        .clone()
        .or(status.runtime_version.take());
    status.size = remote.size.or(status.size);
    status.created_at = remote.created_at.clone().or(status.created_at.take());
    let what = describe(&pkg.spec.source);
    match &remote.state {
        RemoteState::Succeeded => {
            status.operation = None;
            let version = status.version.clone().unwrap_or_else(|| remote.id.clone());
            Verdict::new(
                Outcome::ready(
                    "Succeeded",
                    format!("package {version} ({}) is ready to deploy", remote.id),
                ),
                Duration::ZERO,
            )
        }
        RemoteState::Failed => {
            status.operation = None;
            let tail = log_excerpt(remote.build_log.as_deref());
            Verdict::stalled(
                "BuildFailed",
                format!(
                    "the {what} failed in Mendix{tail}; fix the model and create a new MendixPackage with a new version"
                ),
            )
        }
        RemoteState::InProgress(state) => Verdict::new(
            Outcome::progressing(
                state.clone(),
                format!("2/2: {what}: Mendix reports {state}"),
            ),
            poll,
        ),
    }
}

/// A package this resource may adopt instead of building or uploading again: the same version
/// (a version is also the Team Server tag, so Mendix holds at most one per app) or the same
/// uploaded file name, and not failed.
fn reusable<'a>(
    source: &PackageSource,
    packages: &'a [RemotePackage],
) -> Option<&'a RemotePackage> {
    packages
        .iter()
        .filter(|p| p.state != RemoteState::Failed)
        .find(|p| match source {
            PackageSource { build: Some(b), .. } => {
                p.version.as_deref() == Some(b.version.as_str())
            }
            PackageSource {
                upload: Some(u), ..
            } => p.file_name.as_deref() == Some(u.file_name.as_str()),
            _ => false,
        })
}

pub fn phase_of(outcome: &Outcome, operation: Option<&OperationStatus>) -> PackagePhase {
    match outcome {
        Outcome::Ready { .. } => PackagePhase::Ready,
        Outcome::Stalled { .. } => PackagePhase::Failed,
        Outcome::Progressing { .. } => match operation.map(|o| o.kind) {
            Some(OperationKind::Upload) => PackagePhase::Uploading,
            Some(OperationKind::Delete) => PackagePhase::Deleting,
            Some(_) => PackagePhase::Building,
            None => PackagePhase::Pending,
        },
    }
}

/// What a package needs next, from its status alone: pure, so the order is unit-tested.
#[derive(Debug, PartialEq)]
enum Next {
    /// A package id is known: report it (and keep polling while it builds).
    Report(String),
    /// A Private Cloud job is in flight: follow it.
    FollowJob(OperationStatus),
    /// A build or upload was requested but its answer was never recorded (the operator stopped
    /// in between): find its result before anything is started again.
    Resume(OperationStatus),
    /// Nothing is known yet: act on the source.
    Act,
}

fn next(status: &MendixPackageStatus) -> Next {
    if let Some(id) = &status.package_id {
        return Next::Report(id.clone());
    }
    match status.operation.clone() {
        Some(op) if op.job_id.is_some() && op.kind != OperationKind::Delete => Next::FollowJob(op),
        Some(op)
            if op.job_id.is_none()
                && matches!(op.kind, OperationKind::Build | OperationKind::Upload) =>
        {
            Next::Resume(op)
        }
        _ => Next::Act,
    }
}

/// One step towards the spec. Mutates `status`; the caller writes it.
pub async fn converge(
    pkg: &MendixPackage,
    ctx: &Context,
    status: &mut MendixPackageStatus,
    writer: &mut StatusWriter<MendixPackage>,
) -> Result<Verdict, Error> {
    let remote = match remote_for(pkg, ctx).await? {
        Ok(remote) => remote,
        Err(verdict) => return Ok(verdict),
    };
    match next(status) {
        Next::Report(id) => report_known(pkg, ctx, status, &remote, id).await,
        Next::FollowJob(op) => follow_job(pkg, ctx, status, &remote, op).await,
        Next::Resume(op) => match resume(pkg, ctx, status, &remote, op).await? {
            Some(verdict) => Ok(verdict),
            None => act(pkg, ctx, status, writer, &remote).await,
        },
        Next::Act => act(pkg, ctx, status, writer, &remote).await,
    }
}

/// Reports the package `id` that status names, and keeps polling while it builds.
async fn report_known(
    pkg: &MendixPackage,
    ctx: &Context,
    status: &mut MendixPackageStatus,
    remote: &PackageApi,
    id: String,
) -> Result<Verdict, Error> {
    let poll = |op: Option<&OperationStatus>| ctx.settings.poll.interval(op.map_or(0, |o| o.polls));
    let what = describe(&pkg.spec.source);
    match remote.package(&id, false).await {
        Ok(Some(found)) => {
            let mut verdict = report(status, pkg, &found, ctx.settings.poll.first);
            if matches!(found.state, RemoteState::InProgress(_)) {
                let op = status
                    .operation
                    .get_or_insert_with(|| start_operation(OperationKind::Build, String::new()));
                op.step = Some(format!("2/2: {what}: {}", found.state.label()));
                verdict.requeue = poll(Some(op));
                op.polls += 1;
            }
            if matches!(found.state, RemoteState::Succeeded) && !was_ready(pkg) {
                ctx.event(
                    pkg,
                    EventType::Normal,
                    "PackageReady",
                    "Report",
                    format!("package {id} is ready"),
                )
                .await;
            }
            if matches!(found.state, RemoteState::Failed) && !was_stalled(pkg) {
                ctx.event(
                    pkg,
                    EventType::Warning,
                    "BuildFailed",
                    "Report",
                    format!("the {what} failed"),
                )
                .await;
            }
            Ok(verdict)
        }
        Ok(None) => Ok(Verdict::stalled(
            "PackageNotFound",
            format!(
                "package {id} no longer exists in Mendix (deleted outside the operator); delete this MendixPackage and create it again"
            ),
        )),
        Err(err) => stall_or_retry(err, &format!("reading package {id}")),
    }
}

/// Follows the Private Cloud job `op` records until it finishes or fails.
async fn follow_job(
    pkg: &MendixPackage,
    ctx: &Context,
    status: &mut MendixPackageStatus,
    remote: &PackageApi,
    mut op: OperationStatus,
) -> Result<Verdict, Error> {
    let poll = |op: Option<&OperationStatus>| ctx.settings.poll.interval(op.map_or(0, |o| o.polls));
    let what = describe(&pkg.spec.source);
    let job_id = op.job_id.clone().unwrap_or_default();
    let state = match remote.job(&job_id).await {
        Ok(state) => state,
        Err(err) => {
            // A terminal answer about the job ends it: nothing is in flight any more.
            let verdict = stall_or_retry(err, &format!("following job {job_id}"))?;
            status.operation = None;
            return Ok(verdict);
        }
    };
    match state {
        JobState::Pending(job_status) => {
            op.step = Some(format!("2/2: {what}: job {job_id} is {job_status}"));
            status.remote_state = Some(job_status.clone());
            let requeue = poll(Some(&op));
            op.polls += 1;
            let message = op.step.clone().unwrap_or_default();
            status.operation = Some(op);
            Ok(Verdict::new(
                Outcome::progressing(capitalize(&job_status), message),
                requeue,
            ))
        }
        JobState::Finished {
            package_id: Some(id),
        } => {
            status.package_id = Some(id.clone());
            status.operation = None;
            match remote.package(&id, false).await? {
                Some(found) => {
                    ctx.event(
                        pkg,
                        EventType::Normal,
                        "PackageReady",
                        "Report",
                        format!("package {id} is ready"),
                    )
                    .await;
                    Ok(report(status, pkg, &found, ctx.settings.poll.first))
                }
                None => Ok(Verdict::new(
                    Outcome::progressing(
                        "Finished",
                        format!("job {job_id} finished; reading package {id}"),
                    ),
                    poll(None),
                )),
            }
        }
        JobState::Finished { package_id: None } => {
            status.operation = None;
            Ok(Verdict::stalled(
                "MendixRejected",
                format!(
                    "job {job_id} finished without a package id; create the MendixPackage again"
                ),
            ))
        }
        JobState::Failed {
            message,
            log,
            package_id,
        } => {
            let log = match (log, package_id) {
                (Some(log), _) => Some(log),
                (None, Some(id)) => remote
                    .package(&id, true)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|p| p.build_log),
                (None, None) => None,
            };
            status.operation = None;
            status.remote_state = Some("failed".into());
            let tail = log_excerpt(log.as_deref());
            let reason = if op.kind == OperationKind::Upload {
                "UploadFailed"
            } else {
                "BuildFailed"
            };
            ctx.event(
                pkg,
                EventType::Warning,
                reason,
                "Report",
                format!("the {what} failed: {message}"),
            )
            .await;
            Ok(Verdict::stalled(
                reason,
                format!(
                    "the {what} failed in Mendix: {message}{tail}; fix the cause and create a new MendixPackage"
                ),
            ))
        }
    }
}

/// Looks for the result of the request `op` recorded before the operator stopped. `None`: it
/// never arrived, so the source is acted on again.
async fn resume(
    pkg: &MendixPackage,
    ctx: &Context,
    status: &mut MendixPackageStatus,
    remote: &PackageApi,
    op: OperationStatus,
) -> Result<Option<Verdict>, Error> {
    let poll = |op: Option<&OperationStatus>| ctx.settings.poll.interval(op.map_or(0, |o| o.polls));
    let what = describe(&pkg.spec.source);
    let packages = remote.list().await?;
    if let Some(found) = reusable(&pkg.spec.source, &packages) {
        let found = found.clone();
        status.operation = None;
        return Ok(Some(report(status, pkg, &found, ctx.settings.poll.first)));
    }
    // Mendix Cloud lists a package as soon as it is requested; Private Cloud only when its
    // job has finished, so wait that long before concluding the request never arrived.
    if platform(pkg) == Platform::PrivateCloud && age(&op) < ctx.settings.orphan_grace {
        let mut op = op;
        let requeue = poll(Some(&op));
        op.polls += 1;
        op.step = Some(format!(
            "2/2: {what}: waiting for the result of the request sent before the operator restarted"
        ));
        let message = op.step.clone().unwrap_or_default();
        status.operation = Some(op);
        return Ok(Some(Verdict::new(
            Outcome::progressing("Resuming", message),
            requeue,
        )));
    }
    status.operation = None;
    Ok(None)
}

/// Acts on the source: adopt an existing package, reuse one Mendix already has, or start the
/// build or upload.
async fn act(
    pkg: &MendixPackage,
    ctx: &Context,
    status: &mut MendixPackageStatus,
    writer: &mut StatusWriter<MendixPackage>,
    remote: &PackageApi,
) -> Result<Verdict, Error> {
    let what = describe(&pkg.spec.source);
    match &pkg.spec.source {
        PackageSource {
            existing: Some(existing),
            ..
        } => match remote.package(&existing.package_id, false).await {
            Ok(Some(found)) => Ok(report(status, pkg, &found, ctx.settings.poll.first)),
            Ok(None) => Ok(Verdict::stalled(
                "PackageNotFound",
                format!(
                    "package {} does not exist in this app: check spec.source.existing.packageId",
                    existing.package_id
                ),
            )),
            Err(err) => stall_or_retry(err, &format!("reading package {}", existing.package_id)),
        },
        source @ (PackageSource { build: Some(_), .. }
        | PackageSource {
            upload: Some(_), ..
        }) => {
            let packages = match remote.list().await {
                Ok(p) => p,
                Err(err) => return stall_or_retry(err, "listing the app's packages"),
            };
            if let Some(found) = reusable(source, &packages) {
                let found = found.clone();
                ctx.event(
                    pkg,
                    EventType::Normal,
                    "PackageAdopted",
                    "Adopt",
                    format!("reusing existing package {} for the {what}", found.id),
                )
                .await;
                return Ok(report(status, pkg, &found, ctx.settings.poll.first));
            }
            let new_request = crate::controller::verdict::reconcile_newly_requested(
                pkg,
                status.reconcile_requested_at.as_deref(),
            );
            if let Some(verdict) = crate::controller::verdict::hold_stalled(
                &status.conditions,
                pkg.metadata.generation,
                new_request,
            ) {
                return Ok(verdict);
            }
            if is_paused(pkg) {
                return Ok(Verdict::new(
                    Outcome::progressing(
                        "Paused",
                        format!(
                            "paused: the {what} starts when annotation mendixops.io/paused is removed"
                        ),
                    ),
                    ctx.settings.resync,
                ));
            }
            start(pkg, ctx, status, writer, remote).await
        }
        _ => Ok(Verdict::stalled(
            "InvalidSpec",
            "exactly one of spec.source.build, upload or existing must be set",
        )),
    }
}

/// Starts the build or upload: intent recorded first, then the request, then its answer.
async fn start(
    pkg: &MendixPackage,
    ctx: &Context,
    status: &mut MendixPackageStatus,
    writer: &mut StatusWriter<MendixPackage>,
    remote: &PackageApi,
) -> Result<Verdict, Error> {
    let what = describe(&pkg.spec.source);
    let (kind, result) = if let Some(build) = &pkg.spec.source.build {
        let op = start_operation(OperationKind::Build, format!("1/2: starting the {what}"));
        status.operation = Some(op.clone());
        super::record_intent(
            pkg,
            ctx,
            writer,
            status,
            &Outcome::progressing("Building", op.step.clone().unwrap_or_default()),
        )
        .await?;
        (OperationKind::Build, remote.start_build(build).await)
    } else if let Some(upload) = &pkg.spec.source.upload {
        // Download first (no remote write yet): a bad URL or checksum stalls before anything starts.
        let downloaded = match ctx
            .mendix
            .download(
                &upload.url,
                &ctx.settings.download_dir,
                upload.sha256.as_deref(),
            )
            .await
        {
            Ok(d) => d,
            Err(err) => {
                let (reason, hint) = match &err {
                    mendix_client::error::MendixError::ChecksumMismatch { .. } => (
                        "ChecksumMismatch",
                        "fix spec.source.upload.sha256 or the file at the URL",
                    ),
                    e if e.is_transient() => (
                        "UploadSourceUnreachable",
                        "make spec.source.upload.url reachable from the operator; it is retried in a few minutes",
                    ),
                    _ => ("UploadSourceUnreachable", "fix spec.source.upload.url"),
                };
                ctx.event(pkg, EventType::Warning, reason, "Download", err.to_string())
                    .await;
                return Ok(Verdict::stalled(
                    reason,
                    format!("downloading the package file failed: {err}; {hint}"),
                ));
            }
        };
        let op = start_operation(
            OperationKind::Upload,
            format!(
                "1/2: uploading {} ({} bytes)",
                upload.file_name, downloaded.size
            ),
        );
        status.operation = Some(op.clone());
        status.size = i64::try_from(downloaded.size).ok();
        super::record_intent(
            pkg,
            ctx,
            writer,
            status,
            &Outcome::progressing("Uploading", op.step.clone().unwrap_or_default()),
        )
        .await?;
        let result = remote.upload(&upload.file_name, &downloaded.path).await;
        (
            OperationKind::Upload,
            result.map(|started| started.unwrap_or(Started::Job(String::new()))),
        )
    } else {
        return Ok(Verdict::stalled(
            "InvalidSpec",
            "exactly one of spec.source.build, upload or existing must be set",
        ));
    };
    let verb = if kind == OperationKind::Build {
        "Build"
    } else {
        "Upload"
    };
    match result {
        Ok(Started::Package(id)) => {
            ctx.event(
                pkg,
                EventType::Normal,
                &format!("{verb}Started"),
                verb,
                format!("{what} started: package {id}"),
            )
            .await;
            status.package_id = Some(id.clone());
            if let Some(op) = status.operation.as_mut() {
                op.step = Some(format!("2/2: {what}: package {id} requested"));
            }
            Ok(Verdict::new(
                Outcome::progressing("Queued", format!("2/2: {what}: package {id} requested")),
                ctx.settings.poll.first,
            ))
        }
        Ok(Started::Job(job)) if !job.is_empty() => {
            ctx.event(
                pkg,
                EventType::Normal,
                &format!("{verb}Started"),
                verb,
                format!("{what} started: job {job}"),
            )
            .await;
            if let Some(op) = status.operation.as_mut() {
                op.job_id = Some(job.clone());
                op.step = Some(format!("2/2: {what}: job {job} created"));
                crate::controller::shell::operation_started(op);
            }
            Ok(Verdict::new(
                Outcome::progressing("Created", format!("2/2: {what}: job {job} created")),
                ctx.settings.poll.first,
            ))
        }
        Ok(Started::Job(_)) => {
            // Mendix Cloud accepted an upload without naming the package: find it by file name.
            Ok(Verdict::new(
                Outcome::progressing(
                    "Uploading",
                    format!("2/2: {what}: waiting for Mendix to list the package"),
                ),
                ctx.settings.poll.first,
            ))
        }
        Err(err) => match stalled_by(&err, &format!("starting the {what}")) {
            Some((reason, message)) => {
                // Mendix refused the request: nothing was started, so nothing is in flight.
                status.operation = None;
                ctx.event(pkg, EventType::Warning, reason, verb, message.clone())
                    .await;
                Ok(Verdict::stalled(reason, message))
            }
            // No clear answer: the operation stays recorded and step 3 finds out what happened.
            None => Err(err.into()),
        },
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

fn was_ready(pkg: &MendixPackage) -> bool {
    pkg.status.as_ref().is_some_and(|s| {
        crate::crd::conditions::is_true(&s.conditions, crate::crd::conditions::READY)
    })
}

fn was_stalled(pkg: &MendixPackage) -> bool {
    pkg.status.as_ref().is_some_and(|s| {
        crate::crd::conditions::is_true(&s.conditions, crate::crd::conditions::STALLED)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::package::{BuildSource, UploadSource};

    fn remote(
        id: &str,
        version: Option<&str>,
        file: Option<&str>,
        state: RemoteState,
    ) -> RemotePackage {
        RemotePackage {
            id: id.into(),
            state,
            version: version.map(str::to_string),
            model_version: None,
            runtime_version: None,
            size: None,
            created_at: None,
            description: None,
            file_name: file.map(str::to_string),
            build_log: None,
        }
    }

    #[test]
    fn reuse_matches_version_for_builds_and_file_name_for_uploads() {
        let packages = vec![
            remote("failed", Some("2.5.4"), None, RemoteState::Failed),
            remote(
                "other",
                Some("2.5.3"),
                Some("a.mda"),
                RemoteState::Succeeded,
            ),
            remote(
                "ok",
                Some("2.5.4"),
                None,
                RemoteState::InProgress("Building".into()),
            ),
        ];
        let build = PackageSource {
            build: Some(BuildSource {
                branch: "main".into(),
                revision: "abc".into(),
                version: "2.5.4".into(),
                description: None,
            }),
            upload: None,
            existing: None,
        };
        assert_eq!(
            reusable(&build, &packages).map(|p| p.id.as_str()),
            Some("ok")
        );
        let upload = PackageSource {
            build: None,
            upload: Some(UploadSource {
                url: "http://x/a.mda".into(),
                file_name: "a.mda".into(),
                sha256: None,
            }),
            existing: None,
        };
        assert_eq!(
            reusable(&upload, &packages).map(|p| p.id.as_str()),
            Some("other")
        );
        let newer = PackageSource {
            build: Some(BuildSource {
                branch: "main".into(),
                revision: "abc".into(),
                version: "3.0.0".into(),
                description: None,
            }),
            upload: None,
            existing: None,
        };
        assert!(reusable(&newer, &packages).is_none());
    }

    /// Which listed package a MendixPackage may adopt, over any source and any listing.
    mod properties {
        use super::*;
        use crate::crd::package::ExistingSource;
        use proptest::prelude::*;
        use proptest::sample::select;

        const VERSIONS: &[&str] = &["1.0.0", "2.5.4", "3.0.0"];
        const FILES: &[&str] = &["a.mda", "b.mda", "app_2.5.4.mda"];

        fn source() -> impl Strategy<Value = PackageSource> {
            let none = PackageSource {
                build: None,
                upload: None,
                existing: None,
            };
            let (build, upload) = (none.clone(), none.clone());
            prop_oneof![
                select(VERSIONS).prop_map(move |version| PackageSource {
                    build: Some(BuildSource {
                        branch: "main".into(),
                        revision: "abc".into(),
                        version: version.into(),
                        description: None,
                    }),
                    ..build.clone()
                }),
                select(FILES).prop_map(move |file| PackageSource {
                    upload: Some(UploadSource {
                        url: format!("https://files.example.com/{file}"),
                        file_name: file.into(),
                        sha256: None,
                    }),
                    ..upload.clone()
                }),
                Just(PackageSource {
                    existing: Some(ExistingSource {
                        package_id: "00000000-0000-0000-0000-000000000001".into(),
                    }),
                    ..none
                }),
            ]
        }

        /// What Mendix lists: any mix of states, versions and file names, the same version or
        /// file name possibly more than once.
        fn packages() -> impl Strategy<Value = Vec<RemotePackage>> {
            let state = prop_oneof![
                Just(RemoteState::Failed),
                Just(RemoteState::Succeeded),
                select(&["Queued", "Building", "Uploading"][..])
                    .prop_map(|s| RemoteState::InProgress(s.into())),
            ];
            prop::collection::vec(
                (
                    state,
                    prop::option::of(select(VERSIONS)),
                    prop::option::of(select(FILES)),
                ),
                0..6,
            )
            .prop_map(|list| {
                list.into_iter()
                    .enumerate()
                    .map(|(i, (state, version, file))| {
                        remote(&format!("pkg-{i}"), version, file, state)
                    })
                    .collect()
            })
        }

        fn matches(source: &PackageSource, p: &RemotePackage) -> bool {
            match (&source.build, &source.upload) {
                (Some(b), _) => p.version.as_deref() == Some(b.version.as_str()),
                (None, Some(u)) => p.file_name.as_deref() == Some(u.file_name.as_str()),
                (None, None) => false,
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// A MendixPackage adopts a listed package only when it is not Failed and it is
            /// what the source would make: the same version for a build, the same file name for
            /// an upload, never anything for `existing` (that names its package). It adopts the
            /// first such package Mendix lists, and one whenever there is one.
            #[test]
            fn reuse_adopts_only_a_matching_package_that_did_not_fail(
                source in source(),
                packages in packages(),
            ) {
                adopts_only_a_match(&source, &packages)?;
            }
        }

        fn adopts_only_a_match(
            source: &PackageSource,
            packages: &[RemotePackage],
        ) -> Result<(), proptest::test_runner::TestCaseError> {
            let found = reusable(source, packages);
            let first = packages
                .iter()
                .find(|p| p.state != RemoteState::Failed && matches(source, p));
            let input = format!("source: {source:?}\nlisted: {packages:?}");
            prop_assert!(
                found.is_none_or(|p| p.state != RemoteState::Failed),
                "adopted a Failed package {:?}\n{}",
                found,
                input
            );
            prop_assert!(
                found.is_none_or(|p| matches(source, p)),
                "adopted a package that does not match the source {:?}\n{}",
                found,
                input
            );
            prop_assert!(
                found.map(|p| &p.id) == first.map(|p| &p.id),
                "adopted {:?}, not the first match {:?}\n{}",
                found,
                first,
                input
            );
            Ok(())
        }
    }

    #[test]
    fn a_package_in_progress_is_polled_and_a_finished_one_waits_for_resync() {
        let pkg: MendixPackage = serde_json::from_value(serde_json::json!({
            "apiVersion": "mendixops.io/v1alpha1",
            "kind": "MendixPackage",
            "metadata": {"name": "p", "namespace": "apps"},
            "spec": {
                "target": {"mendixCloud": {"appId": "calc"}},
                "credentialsSecretRef": {"name": "s"},
                "source": {"build": {"branch": "main", "revision": "abc", "version": "1.0.0"}},
            },
        }))
        .expect("valid MendixPackage");
        let poll = Duration::from_secs(2);
        let mut status = MendixPackageStatus::default();
        let building = remote("id", None, None, RemoteState::InProgress("Building".into()));
        assert_eq!(report(&mut status, &pkg, &building, poll).requeue, poll);
        let done = remote("id", None, None, RemoteState::Succeeded);
        assert_eq!(
            report(&mut status, &pkg, &done, poll).requeue,
            Duration::ZERO
        );
    }

    #[test]
    fn what_comes_next_follows_from_status_alone() {
        let mut status = MendixPackageStatus::default();
        assert_eq!(next(&status), Next::Act, "nothing known");
        let mut build = start_operation(OperationKind::Build, "b".into());
        status.operation = Some(build.clone());
        assert_eq!(
            next(&status),
            Next::Resume(build.clone()),
            "answer never recorded"
        );
        build.job_id = Some("job-1".into());
        status.operation = Some(build.clone());
        assert_eq!(next(&status), Next::FollowJob(build), "a job in flight");
        status.operation = Some(start_operation(OperationKind::Delete, "d".into()));
        assert_eq!(next(&status), Next::Act, "a delete is deletion's business");
        status.package_id = Some("p-1".into());
        assert_eq!(
            next(&status),
            Next::Report("p-1".into()),
            "an id beats everything"
        );
    }

    #[test]
    fn phases_follow_outcome_and_operation() {
        let op = start_operation(OperationKind::Upload, "x".into());
        assert_eq!(
            phase_of(&Outcome::progressing("Uploading", ""), Some(&op)),
            PackagePhase::Uploading
        );
        assert_eq!(
            phase_of(&Outcome::progressing("Queued", ""), None),
            PackagePhase::Pending
        );
        assert_eq!(
            phase_of(&Outcome::ready("Succeeded", ""), None),
            PackagePhase::Ready
        );
        assert_eq!(
            phase_of(&Outcome::stalled("BuildFailed", ""), None),
            PackagePhase::Failed
        );
    }
}
