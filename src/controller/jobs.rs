//! Private Cloud jobs recorded in status: following one, and not sending a write again while
//! an earlier one whose answer was lost may still apply. Every Private Cloud write (environment
//! manifests, clusters, namespaces, deletes) is a job, so every reconciler that writes there
//! uses these.

use std::time::Duration;

use super::Context;
use super::error::Error;
use super::schedule::PollSchedule;
use super::verdict::{Verdict, age, stall_or_retry};
use crate::crd::conditions::Outcome;
use crate::crd::{OperationKind, OperationStatus};
use mendix_client::private_cloud_v4::PcDeploy;
use mendix_client::private_cloud_v4::types::JobStatus;

/// Where the job recorded in status stands.
pub enum Followed {
    /// No job recorded.
    NoJob,
    /// It finished; its operation stays recorded, without the job id, for the caller to end.
    Finished(OperationStatus),
    /// It failed with Mendix's message; the operation is cleared.
    Failed(OperationStatus, String),
    /// Still running, or it could not be read: report this.
    Waiting(Result<Verdict, Error>),
}

/// Follows the job recorded in `operation`, also one this process started but whose status
/// write failed (`uid` finds it; it is never sent again).
pub async fn follow_job(
    uid: Option<&str>,
    ctx: &Context,
    api: &PcDeploy,
    operation: &mut Option<OperationStatus>,
) -> Followed {
    if let Some(uid) = uid {
        match operation.as_mut() {
            Some(op) if op.job_id.is_none() => {
                op.job_id = ctx.unrecorded_jobs.recall(uid, op);
            }
            _ => ctx.unrecorded_jobs.forget(uid),
        }
    }
    let Some(mut op) = operation.clone().filter(|o| o.job_id.is_some()) else {
        return Followed::NoJob;
    };
    let job_id = op.job_id.clone().unwrap_or_default();
    let job = match api.get_job(&job_id).await {
        Ok(job) => job,
        Err(err) => {
            return Followed::Waiting(stall_or_retry(err, &format!("following job {job_id}")));
        }
    };
    if job.is_done()
        && let Some(uid) = uid
    {
        ctx.unrecorded_jobs.forget(uid);
    }
    match job.status {
        JobStatus::Finished => {
            op.job_id = None;
            op.polls = 0;
            *operation = Some(op.clone());
            Followed::Finished(op)
        }
        JobStatus::Failed => {
            *operation = None;
            Followed::Failed(op, job.failure_message().unwrap_or_default())
        }
        _ => {
            let after = ctx.settings.poll.interval(op.polls);
            op.polls += 1;
            let message = format!(
                "{} (job {job_id} {:?})",
                op.step.clone().unwrap_or_default(),
                job.status
            )
            .to_lowercase();
            let reason = reason_of(op.kind);
            *operation = Some(op);
            Followed::Waiting(Ok(Verdict::new(
                Outcome::progressing(reason, message),
                after,
            )))
        }
    }
}

/// The Reconciling reason while a job of this kind runs.
fn reason_of(kind: OperationKind) -> &'static str {
    match kind {
        OperationKind::Delete => "Deleting",
        OperationKind::Create => "Creating",
        _ => "UpdatingManifest",
    }
}

/// The operation `op` once Mendix answered its write with job `job_id`: the job is remembered
/// for a status write that fails (see [`UnrecordedJobs`](super::context::UnrecordedJobs)) and
/// its id recorded in the operation, which goes into `operation` to be followed.
pub fn started(
    ctx: &Context,
    uid: Option<&str>,
    mut op: OperationStatus,
    job_id: &str,
    operation: &mut Option<OperationStatus>,
) {
    if let Some(uid) = uid {
        ctx.unrecorded_jobs.remember(uid, &op, job_id);
    }
    op.job_id = Some(job_id.to_string());
    super::shell::operation_started(&op);
    *operation = Some(op);
}

/// Poll intervals to wait for a write whose job id was never recorded before sending it again.
const UNRECORDED_JOB_POLLS: i32 = 3;

/// How long that is. Measured in time since the write was recorded, not in reconciles: several
/// reconciles can run within one poll interval.
pub fn unrecorded_job_wait(poll: &PollSchedule) -> Duration {
    (0..UNRECORDED_JOB_POLLS).map(|n| poll.interval(n)).sum()
}

/// When `next` (same kind and phase) is already recorded without a job id, the earlier request
/// may have been accepted and its answer lost: the status write after it failed (this process
/// then still knows the job, see [`UnrecordedJobs`](super::context::UnrecordedJobs)), or the
/// operator stopped. An unknown job is invisible until it applies, so wait a few polls, counted
/// from when it was recorded, before sending the same write again: a second one would apply
/// twice, or fail as a duplicate. Returns what to report meanwhile.
pub fn earlier_request_pending(
    operation: &mut Option<OperationStatus>,
    next: &OperationStatus,
    reason: &str,
    ctx: &Context,
) -> Option<Verdict> {
    let recorded = operation.as_mut().filter(|r| {
        r.job_id.is_none()
            && r.kind == next.kind
            && r.phase == next.phase
            && age(r) < unrecorded_job_wait(&ctx.settings.poll)
    })?;
    let after = ctx.settings.poll.interval(recorded.polls);
    recorded.polls += 1;
    let step = next.step.clone().unwrap_or_default();
    Some(Verdict::new(
        Outcome::progressing(
            reason,
            format!("{step} (waiting for an earlier request to apply)"),
        ),
        after,
    ))
}
