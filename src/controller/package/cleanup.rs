//! Deleting a MendixPackage: with `deletionPolicy: Delete` the remote package is deleted first
//! (waiting while an environment still uses it); with `Retain` nothing remote is touched. The
//! finalizer stays until the remote side is done, and status always says what it waits for.

use std::time::Duration;

use kube::runtime::events::EventType;

use super::apply::{describe, remote_for};
use super::remote::JobState;
use crate::controller::Context;
use crate::controller::deletion;
pub use crate::controller::deletion::Cleanup;
use crate::controller::error::Error;
use crate::controller::verdict::{Verdict, is_paused, stalled_by, start_operation};
use crate::crd::OperationKind;
use crate::crd::conditions::Outcome;
use crate::crd::package::{DeletionPolicy, MendixPackage, MendixPackageStatus};

/// Gives up on deleting the remote package: it stays in Mendix and the finalizer may go.
async fn retain(pkg: &MendixPackage, ctx: &Context, why: String) -> Result<Cleanup, Error> {
    crate::controller::deletion::retain(pkg, ctx, why).await;
    Ok(Cleanup::Done)
}

pub async fn cleanup(
    pkg: &MendixPackage,
    ctx: &Context,
    status: &mut MendixPackageStatus,
) -> Result<Cleanup, Error> {
    if pkg.spec.deletion_policy == DeletionPolicy::Retain {
        return Ok(Cleanup::Done);
    }
    let wait = |reason: &str, message: String, after: Duration| {
        Ok(Cleanup::Wait(Verdict::new(
            Outcome::progressing(reason, message),
            after,
        )))
    };
    if is_paused(pkg) {
        return Ok(crate::controller::deletion::paused(
            "the remote package",
            ctx.settings.resync,
        ));
    }
    let remote = match remote_for(pkg, ctx).await? {
        Ok(remote) => remote,
        Err(verdict) => {
            let Outcome::Stalled { reason, message } = verdict.outcome else {
                return Ok(Cleanup::Wait(verdict));
            };
            // Without its credentials Secret (deleted first, or with its namespace) no one can
            // delete the remote package through this resource: keep it in Mendix and say so,
            // instead of holding the deletion forever.
            if reason == "SecretNotFound" {
                return retain(
                    pkg,
                    ctx,
                    format!(
                        "the remote package is kept in Mendix: {message}; delete it in the Mendix Portal if it is no longer needed"
                    ),
                )
                .await;
            }
            return Ok(Cleanup::Wait(Verdict::stalled(
                &reason,
                format!(
                    "cannot delete the remote package: {message} (or remove finalizer mendixops.io/cleanup to leave it in Mendix)"
                ),
            )));
        }
    };

    // A delete job in flight: follow it.
    if let Some(mut op) = status
        .operation
        .clone()
        .filter(|o| o.kind == OperationKind::Delete && o.job_id.is_some())
    {
        let job = op.job_id.clone().unwrap_or_default();
        return match remote.job(&job).await? {
            JobState::Pending(state) => {
                let after = ctx.settings.poll.interval(op.polls);
                op.polls += 1;
                op.step = Some(format!("deleting the remote package: job {job} is {state}"));
                let message = op.step.clone().unwrap_or_default();
                status.operation = Some(op);
                wait("Deleting", message, after)
            }
            JobState::Finished { .. } => Ok(Cleanup::Done),
            // Private Cloud names no error code for a package an environment still uses: its
            // delete job just fails. Any failed delete is waited on and retried like Mendix
            // Cloud's PACKAGE_IN_USE, within the same limit, and then retained with Mendix's
            // message.
            JobState::Failed { message, .. } => {
                op.job_id = None;
                status.operation = Some(op);
                let package_id = status.package_id.clone().unwrap_or_default();
                wait_while_in_use(pkg, ctx, status, &package_id, &message).await
            }
        };
    }

    // The package id may still be in a build job that has not finished.
    let package_id = match status.package_id.clone() {
        Some(id) => id,
        None => match status.operation.clone().filter(|o| o.job_id.is_some()) {
            Some(op) => match remote.job(op.job_id.as_deref().unwrap_or_default()).await? {
                JobState::Finished {
                    package_id: Some(id),
                } => id,
                JobState::Pending(_) => {
                    return wait(
                        "Deleting",
                        format!(
                            "waiting for the {} to finish before deleting it",
                            describe(&pkg.spec.source)
                        ),
                        ctx.settings.poll.interval(op.polls),
                    );
                }
                _ => return Ok(Cleanup::Done),
            },
            // Nothing was ever created remotely (or an adopted package is only referenced).
            None => match &pkg.spec.source.existing {
                Some(existing) => existing.package_id.clone(),
                None => return Ok(Cleanup::Done),
            },
        },
    };

    match remote.delete(&package_id).await {
        Ok(None) => {
            ctx.event(
                pkg,
                EventType::Normal,
                "PackageDeleted",
                "Delete",
                format!("deleted package {package_id} in Mendix"),
            )
            .await;
            Ok(Cleanup::Done)
        }
        Ok(Some(job)) => {
            let mut op = start_operation(
                OperationKind::Delete,
                format!("deleting package {package_id}: job {job} created"),
            );
            op.job_id = Some(job);
            let message = op.step.clone().unwrap_or_default();
            status.operation = Some(op);
            wait("Deleting", message, ctx.settings.poll.first)
        }
        Err(err) if err.is_not_found() => Ok(Cleanup::Done),
        Err(err)
            if err.code() == Some("PACKAGE_IN_USE")
                || err.status().map(|s| s.as_u16()) == Some(409) =>
        {
            wait_while_in_use(pkg, ctx, status, &package_id, &err.to_string()).await
        }
        Err(err) => match stalled_by(&err, &format!("deleting package {package_id}")) {
            Some((reason, message)) => Ok(Cleanup::Wait(Verdict::stalled(
                reason,
                format!(
                    "{message} (or remove finalizer mendixops.io/cleanup to leave the package in Mendix)"
                ),
            ))),
            None => {
                let after = ctx
                    .settings
                    .poll
                    .interval(status.operation.as_ref().map_or(0, |o| o.polls));
                wait(
                    "MendixUnavailable",
                    format!("cannot reach Mendix to delete package {package_id}: {err}; retrying"),
                    after,
                )
            }
        },
    }
}

/// Mendix refuses while an environment uses the package: see [`deletion::wait_refused`].
async fn wait_while_in_use(
    pkg: &MendixPackage,
    ctx: &Context,
    status: &mut MendixPackageStatus,
    package_id: &str,
    why: &str,
) -> Result<Cleanup, Error> {
    let what = format!("package {package_id}");
    let why = format!("an environment still uses it ({why})");
    Ok(deletion::wait_refused(
        pkg,
        ctx,
        &mut status.operation,
        (&what, &why, "PackageInUse"),
    )
    .await)
}
