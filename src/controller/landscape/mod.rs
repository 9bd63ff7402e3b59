//! The `MendixCluster` and `MendixNamespace` reconcilers: one shape for both. Read the remote
//! object; create it (caller-chosen id) when it does not exist; otherwise merge the spec into
//! its manifest and PUT when anything differs; every write a job recorded in status before it
//! is followed. Deletion follows `deletionPolicy`. What differs per kind is the [`Landscape`]
//! trait, implemented in [`cluster`] and [`namespace`].

pub mod cluster;
pub mod namespace;
mod people;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::finalizer::Event as FinalizerEvent;

use super::Context;
use super::cache::Cached;
use super::deletion::{self, Cleanup, retain, under_policy};
use super::error::Error;
use super::jobs::{Followed, earlier_request_pending, follow_job, started};
use super::secrets::{self, Credentials, Platform};
use super::status::StatusWriter;
use super::verdict::{
    Verdict, is_paused, next_action, now, reconcile_requested_at, requeue_after, settle,
    stall_or_retry, stalled_by, start_operation,
};
use crate::crd::conditions::{Outcome, apply_outcome};
use crate::crd::landscape::{LandscapePhase, LandscapeStatus};
use crate::crd::{
    DeletionPolicy, ManagementPolicy, Observed, OperationKind, OperationStatus, SecretReference,
};
use mendix_client::error::MendixError;
use mendix_client::private_cloud_v4::PcDeploy;
use mendix_client::private_cloud_v4::types::JobHandle;

/// How often a resource waiting on something outside the operator (a referenced resource, an
/// installation) looks again without a watch event.
pub const RECHECK: Duration = Duration::from_secs(30);

/// What a kind of the Private Cloud landscape adds to the shared reconcile.
pub trait Landscape: Observed + serde::Serialize + super::trigger::Watched {
    /// The remote manifest (GET answer and PUT body).
    type Manifest: Clone + Send + Sync;
    /// What the spec needs resolved before anything remote happens (referenced resources,
    /// Secret values).
    type Inputs: Send + Sync;

    fn landscape_status(&self) -> Option<&LandscapeStatus>;
    fn credentials(&self) -> &SecretReference;
    fn deletion_policy(&self) -> DeletionPolicy;
    fn management_policy(&self) -> ManagementPolicy;
    /// E.g. `cluster 085a0e34-…`, for messages and Events.
    fn describe(&self) -> String;

    /// With `deleting`, only what a delete needs, from the resource's own status where it can
    /// be: what it refers to may be going at the same time.
    fn inputs(
        &self,
        ctx: &Context,
        deleting: bool,
    ) -> impl Future<Output = Result<Result<Self::Inputs, Verdict>, Error>> + Send;
    /// The remote object, or None when it does not exist.
    fn read(
        &self,
        api: &PcDeploy,
        inputs: &Self::Inputs,
    ) -> impl Future<Output = Result<Option<Self::Manifest>, MendixError>> + Send;
    /// The manifest that creates the remote object; Stalled when the spec lacks what a create
    /// needs.
    fn new_manifest(&self, inputs: &Self::Inputs) -> Result<Self::Manifest, Verdict>;
    /// The spec merged into `current`, and the names of what changed; Stalled when the spec
    /// names something Mendix does not have.
    fn merge(
        &self,
        inputs: &Self::Inputs,
        current: &Self::Manifest,
    ) -> Result<(Self::Manifest, Vec<String>), Verdict>;
    /// What Mendix reports, into status.
    fn observe(
        &self,
        current: &Self::Manifest,
        inputs: &Self::Inputs,
        status: &mut LandscapeStatus,
    );
    /// Converged: Ready, or waiting for something outside the operator.
    fn settled(&self, current: &Self::Manifest, inputs: &Self::Inputs) -> Verdict;
    fn write(
        &self,
        api: &PcDeploy,
        inputs: &Self::Inputs,
        create: bool,
        manifest: &Self::Manifest,
    ) -> impl Future<Output = Result<JobHandle, MendixError>> + Send;
    fn delete(
        &self,
        api: &PcDeploy,
        inputs: &Self::Inputs,
    ) -> impl Future<Output = Result<JobHandle, MendixError>> + Send;
}

/// Reconciles one resource of a landscape kind.
pub async fn reconcile<K: Landscape>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    super::shell::reconcile(
        obj.as_ref(),
        &ctx,
        Box::pin(async {
            let namespace = obj
                .namespace()
                .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
            let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
            let policy = deletion::effective(obj.deletion_policy(), obj.management_policy());
            under_policy(&api, obj.clone(), policy, |event| async {
                match event {
                    FinalizerEvent::Apply(obj) => apply(obj.as_ref(), &ctx, &api).await,
                    FinalizerEvent::Cleanup(obj) => delete(obj.as_ref(), &ctx, &api).await,
                }
            })
            .await
        }),
    )
    .await
}

async fn apply<K: Landscape>(obj: &K, ctx: &Context, api: &Api<K>) -> Result<Action, Error> {
    let mut status = obj.landscape_status().cloned().unwrap_or_default();
    let mut writer = StatusWriter::new(api.clone(), obj, obj.landscape_status())?;
    let verdict = settle(
        converge(obj, ctx, &mut writer, &mut status).await,
        ctx,
        &obj.uid().unwrap_or_default(),
    )?;
    write_status(obj, ctx, &mut writer, &mut status, &verdict.outcome, false).await?;
    Ok(next_action(&verdict, ctx.settings.resync))
}

async fn delete<K: Landscape>(obj: &K, ctx: &Context, api: &Api<K>) -> Result<Action, Error> {
    let mut status = obj.landscape_status().cloned().unwrap_or_default();
    let mut writer = StatusWriter::new(api.clone(), obj, obj.landscape_status())?;
    let verdict = match cleanup(obj, ctx, &mut writer, &mut status).await {
        Ok(Cleanup::Done) => return Ok(Action::await_change()),
        Ok(Cleanup::Wait(verdict)) => verdict,
        Err(Error::Mendix(err)) => Verdict::new(
            Outcome::progressing(
                "MendixUnavailable",
                format!("cannot delete the remote {} yet: {err}", obj.describe()),
            ),
            ctx.settings.poll.max,
        ),
        Err(other) => return Err(other),
    };
    write_status(obj, ctx, &mut writer, &mut status, &verdict.outcome, false).await?;
    Err(Error::CleanupPending(requeue_after(
        &verdict,
        ctx.settings.resync,
    )))
}

fn phase_of(
    outcome: &Outcome,
    status: &LandscapeStatus,
    paused: bool,
    deleting: bool,
) -> LandscapePhase {
    if deleting {
        return LandscapePhase::Deleting;
    }
    match outcome {
        Outcome::Ready { .. } => LandscapePhase::Ready,
        Outcome::Stalled { .. } => LandscapePhase::Failed,
        Outcome::Progressing { reason, .. } => match reason.as_str() {
            _ if paused => LandscapePhase::Paused,
            "NotInstalled" => LandscapePhase::NotInstalled,
            _ => match status.operation.as_ref().map(|o| o.kind) {
                Some(OperationKind::Create) => LandscapePhase::Creating,
                Some(_) => LandscapePhase::Updating,
                None => LandscapePhase::Pending,
            },
        },
    }
}

async fn write_status<K: Landscape>(
    obj: &K,
    ctx: &Context,
    writer: &mut StatusWriter<K>,
    status: &mut LandscapeStatus,
    outcome: &Outcome,
    confirmed: bool,
) -> Result<(), Error> {
    status.observed_generation = obj.meta().generation;
    status.reconcile_requested_at =
        reconcile_requested_at(obj).or(status.reconcile_requested_at.take());
    status.phase = Some(phase_of(
        outcome,
        status,
        is_paused(obj),
        obj.meta().deletion_timestamp.is_some(),
    ));
    apply_outcome(
        &mut status.conditions,
        outcome,
        obj.meta().generation,
        now(),
    );
    writer
        .write_counted(status, confirmed, &ctx.metrics, K::KIND)
        .await?;
    Ok(())
}

/// The PAT of the resource's credentials Secret; a missing or incomplete Secret stalls.
async fn pat_api<K: Landscape>(obj: &K, ctx: &Context) -> Result<Result<PcDeploy, Verdict>, Error> {
    let namespace = obj
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    match secrets::load(
        &ctx.client,
        &namespace,
        &obj.credentials().name,
        Platform::PrivateCloud,
    )
    .await
    {
        Ok(Credentials::Private(pat)) => Ok(Ok(ctx.mendix.pc_deploy(&pat))),
        Ok(Credentials::Cloud(_)) => Ok(Err(Verdict::stalled(
            "InvalidSpec",
            "spec.credentialsSecretRef must hold a Private Cloud PAT (key `pat`)",
        ))),
        Err(err) => match err.stalled_reason() {
            Some(reason) => Ok(Err(Verdict::stalled(reason, err.to_string()))),
            None => Err(err.into()),
        },
    }
}

/// Records `op`, sends the write, and records its job.
async fn send<K: Landscape>(
    obj: &K,
    ctx: &Context,
    writer: &mut StatusWriter<K>,
    status: &mut LandscapeStatus,
    (api, inputs): (&PcDeploy, &K::Inputs),
    manifest: &K::Manifest,
    op: OperationStatus,
) -> Result<Verdict, Error> {
    let create = op.kind == OperationKind::Create;
    let reason = if create { "Creating" } else { "Updating" };
    if let Some(verdict) = earlier_request_pending(&mut status.operation, &op, reason, ctx) {
        return Ok(verdict);
    }
    let step = op.step.clone().unwrap_or_default();
    status.operation = Some(op.clone());
    write_status(
        obj,
        ctx,
        writer,
        status,
        &Outcome::progressing(reason, step.clone()),
        true,
    )
    .await?;
    match obj.write(api, inputs, create, manifest).await {
        Ok(job) => {
            started(
                ctx,
                obj.meta().uid.as_deref(),
                op,
                &job.id,
                &mut status.operation,
            );
            Ok(Verdict::new(
                Outcome::progressing(reason, format!("{step} (job {})", job.id)),
                ctx.settings.poll.first,
            ))
        }
        Err(err) => {
            if stalled_by(&err, "").is_some() {
                status.operation = None;
            }
            stall_or_retry(err, &step)
        }
    }
}

async fn converge<K: Landscape>(
    obj: &K,
    ctx: &Context,
    writer: &mut StatusWriter<K>,
    status: &mut LandscapeStatus,
) -> Result<Verdict, Error> {
    let inputs = match obj.inputs(ctx, false).await? {
        Ok(inputs) => inputs,
        Err(verdict) => return Ok(verdict),
    };
    let api = match pat_api(obj, ctx).await? {
        Ok(api) => api,
        Err(verdict) => return Ok(verdict),
    };
    let what = obj.describe();
    let failed = match follow_job(obj.meta().uid.as_deref(), ctx, &api, &mut status.operation).await
    {
        Followed::NoJob => None,
        Followed::Finished(op) => {
            status.operation = None;
            if op.kind == OperationKind::Create {
                status.created = Some(true);
                ctx.event(
                    obj,
                    EventType::Normal,
                    "Created",
                    "Create",
                    format!("{what} was created in Mendix"),
                )
                .await;
            } else {
                ctx.event(
                    obj,
                    EventType::Normal,
                    "Updated",
                    "Update",
                    format!("{what} was updated in Mendix"),
                )
                .await;
            }
            None
        }
        Followed::Failed(op, message) => Some((op, message)),
        Followed::Waiting(verdict) => return verdict,
    };
    let refused = |reason: &'static str, message: String| async move {
        ctx.event(obj, EventType::Warning, reason, "Write", message.clone())
            .await;
        Ok(Verdict::stalled(reason, message))
    };
    let current = match obj.read(&api, &inputs).await {
        Ok(current) => current,
        Err(err) => return stall_or_retry(err, &format!("reading {what}")),
    };
    let observing = obj.management_policy() == ManagementPolicy::Observe;
    if !observing {
        super::observe::forget_drift(&mut status.conditions);
    }
    let Some(current) = current else {
        if observing {
            return Ok(Verdict::stalled(
                "NotFound",
                format!(
                    "{what} does not exist in Mendix, and managementPolicy: Observe does not create it: check the ids, or set Manage to create it"
                ),
            ));
        }
        if let Some((_, message)) = failed {
            return refused(
                "CreateFailed",
                format!(
                    "Mendix could not create {what}: {message}; fix the spec and apply it again"
                ),
            )
            .await;
        }
        if is_paused(obj) {
            return Ok(Verdict::new(
                Outcome::progressing("Paused", format!("paused: would create {what}")),
                ctx.settings.resync,
            ));
        }
        let op = start_operation(OperationKind::Create, format!("creating {what}"));
        let manifest = match obj.new_manifest(&inputs) {
            Ok(manifest) => manifest,
            Err(verdict) => return Ok(verdict),
        };
        return send(obj, ctx, writer, status, (&api, &inputs), &manifest, op).await;
    };
    obj.observe(&current, &inputs, status);
    if let Some((op, message)) = failed
        && op.kind != OperationKind::Create
    {
        return refused(
            "UpdateFailed",
            format!("Mendix could not update {what}: {message}; fix the spec and apply it again"),
        )
        .await;
    }
    let (next, changed) = match obj.merge(&inputs, &current) {
        Ok(merged) => merged,
        Err(verdict) => return Ok(verdict),
    };
    if observing {
        return Ok(super::observe::report(obj, ctx, &mut status.conditions, &changed, &what).await);
    }
    if !changed.is_empty() {
        let change = format!("updating {}", changed.join(", "));
        if is_paused(obj) {
            return Ok(Verdict::new(
                Outcome::progressing("Paused", format!("paused: next step would be {change}")),
                ctx.settings.resync,
            ));
        }
        let op = start_operation(OperationKind::Update, format!("{what}: {change}"));
        return send(obj, ctx, writer, status, (&api, &inputs), &next, op).await;
    }
    Ok(obj.settled(&current, &inputs))
}

async fn cleanup<K: Landscape>(
    obj: &K,
    ctx: &Context,
    writer: &mut StatusWriter<K>,
    status: &mut LandscapeStatus,
) -> Result<Cleanup, Error> {
    let what = obj.describe();
    if is_paused(obj) {
        return Ok(deletion::paused(&what, ctx.settings.resync));
    }
    let keep = |why: String| async move {
        let what = obj.describe();
        retain(obj, ctx, format!("{what} is kept in Mendix: {why}; delete it in the Mendix Portal if it is no longer needed")).await;
        Ok(Cleanup::Done)
    };
    let inputs = match obj.inputs(ctx, true).await? {
        Ok(inputs) => inputs,
        Err(verdict) => return keep(verdict.outcome.message().to_string()).await,
    };
    let api = match pat_api(obj, ctx).await? {
        Ok(api) => api,
        Err(verdict) => return keep(verdict.outcome.message().to_string()).await,
    };
    match follow_job(obj.meta().uid.as_deref(), ctx, &api, &mut status.operation).await {
        Followed::Waiting(verdict) => return verdict.map(Cleanup::Wait),
        Followed::Failed(op, message) if op.kind == OperationKind::Delete => {
            // What is inside (namespaces, environments) goes first; it may be on its way.
            status.operation = Some(op);
            return Ok(deletion::wait_refused(
                obj,
                ctx,
                &mut status.operation,
                (&what, &message, "DeleteRefused"),
            )
            .await);
        }
        _ => {}
    }
    if obj.read(&api, &inputs).await?.is_none() {
        status.operation = None;
        return Ok(deletion::deleted(obj, ctx, &what).await);
    }
    let mut op = start_operation(OperationKind::Delete, format!("deleting {what}"));
    // Refusals so far keep counting, so the interval keeps growing.
    op.polls = deletion::refusals(&status.operation);
    if let Some(verdict) = earlier_request_pending(&mut status.operation, &op, "Deleting", ctx) {
        return Ok(Cleanup::Wait(verdict));
    }
    status.operation = Some(op.clone());
    write_status(
        obj,
        ctx,
        writer,
        status,
        &Outcome::progressing("Deleting", format!("deleting {what}")),
        true,
    )
    .await?;
    let job = obj.delete(&api, &inputs).await?;
    started(
        ctx,
        obj.meta().uid.as_deref(),
        op,
        &job.id,
        &mut status.operation,
    );
    Ok(Cleanup::Wait(Verdict::new(
        Outcome::progressing("Deleting", format!("deleting {what} (job {})", job.id)),
        ctx.settings.poll.first,
    )))
}

/// Runs a landscape kind's `controller` (see [`super::drive`]).
pub async fn run<K: Landscape>(
    controller: Controller<Cached<K>>,
    ctx: Arc<Context>,
    concurrency: u16,
    shutdown: super::Shutdown,
    on_synced: impl FnOnce() + Send + 'static,
) {
    super::drive(
        controller,
        ctx,
        concurrency,
        shutdown,
        on_synced,
        reconcile::<K>,
    )
    .await;
}
