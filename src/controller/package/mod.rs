//! The `MendixPackage` reconciler: load → credentials → converge one step → write status.

pub mod apply;
pub mod cleanup;
pub mod remote;

use std::sync::Arc;

use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::Event as FinalizerEvent;
use kube::{Resource, ResourceExt};

use self::apply::{converge, phase_of};
use self::cleanup::{Cleanup, cleanup};
use super::Context;
use super::cache::Cached;
use super::deletion::under_policy;
use super::error::Error;
use super::status::StatusWriter;
use super::verdict::{Verdict, next_action, now, reconcile_requested_at, requeue_after, settle};
use crate::crd::conditions::{Outcome, apply_outcome};
use crate::crd::{MendixPackage, MendixPackageStatus};

pub const KIND: &str = <MendixPackage as crate::crd::Observed>::KIND;

/// Reconciles one MendixPackage: with `deletionPolicy: Delete` under the finalizer that holds
/// its deletion until the remote package is gone, otherwise without one.
pub async fn reconcile(pkg: Arc<MendixPackage>, ctx: Arc<Context>) -> Result<Action, Error> {
    super::shell::reconcile(
        pkg.as_ref(),
        &ctx,
        Box::pin(async {
            let namespace = pkg
                .namespace()
                .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
            let api: Api<MendixPackage> = Api::namespaced(ctx.client.clone(), &namespace);
            let policy =
                super::deletion::effective(pkg.spec.deletion_policy, pkg.spec.management_policy);
            under_policy(&api, pkg.clone(), policy, |event| async {
                match event {
                    FinalizerEvent::Apply(pkg) => apply(&pkg, &ctx, &api).await,
                    FinalizerEvent::Cleanup(pkg) => delete(&pkg, &ctx, &api).await,
                }
            })
            .await
        }),
    )
    .await
}

/// Converges and writes status; a transient failure is reported in status and retried.
async fn apply(
    pkg: &MendixPackage,
    ctx: &Context,
    api: &Api<MendixPackage>,
) -> Result<Action, Error> {
    let mut status = pkg.status.clone().unwrap_or_default();
    let mut writer = StatusWriter::new(api.clone(), pkg, pkg.status.as_ref())?;
    let verdict = settle(
        converge(pkg, ctx, &mut status, &mut writer).await,
        ctx,
        &pkg.uid().unwrap_or_default(),
    )?;
    write_status(pkg, ctx, &mut writer, &mut status, &verdict.outcome).await?;
    Ok(next_action(&verdict, ctx.settings.resync))
}

/// Runs the deletion; the finalizer is removed only when it reports Done.
async fn delete(
    pkg: &MendixPackage,
    ctx: &Context,
    api: &Api<MendixPackage>,
) -> Result<Action, Error> {
    let mut status = pkg.status.clone().unwrap_or_default();
    let mut writer = StatusWriter::new(api.clone(), pkg, pkg.status.as_ref())?;
    match cleanup(pkg, ctx, &mut status).await {
        Ok(Cleanup::Done) => Ok(Action::await_change()),
        Ok(Cleanup::Wait(verdict)) => {
            write_status(pkg, ctx, &mut writer, &mut status, &verdict.outcome).await?;
            Err(Error::CleanupPending(requeue_after(
                &verdict,
                ctx.settings.resync,
            )))
        }
        Err(Error::Mendix(err)) => {
            let verdict = Verdict::new(
                Outcome::progressing(
                    "MendixUnavailable",
                    format!("cannot delete the remote package yet: {err}"),
                ),
                ctx.settings.poll.max,
            );
            write_status(pkg, ctx, &mut writer, &mut status, &verdict.outcome).await?;
            Err(Error::CleanupPending(verdict.requeue))
        }
        Err(other) => Err(other),
    }
}

/// Completes `status` for this reconcile (generation, echo, phase, conditions) and writes it.
pub(crate) async fn write_status(
    pkg: &MendixPackage,
    ctx: &Context,
    writer: &mut StatusWriter<MendixPackage>,
    status: &mut MendixPackageStatus,
    outcome: &Outcome,
) -> Result<(), Error> {
    complete_and_write(pkg, ctx, writer, status, outcome, false).await
}

/// [`write_status`] for an intent recorded before a remote write: confirmed against the
/// API server even when unchanged (see [`StatusWriter::write_confirmed`]).
pub(crate) async fn record_intent(
    pkg: &MendixPackage,
    ctx: &Context,
    writer: &mut StatusWriter<MendixPackage>,
    status: &mut MendixPackageStatus,
    outcome: &Outcome,
) -> Result<(), Error> {
    complete_and_write(pkg, ctx, writer, status, outcome, true).await
}

async fn complete_and_write(
    pkg: &MendixPackage,
    ctx: &Context,
    writer: &mut StatusWriter<MendixPackage>,
    status: &mut MendixPackageStatus,
    outcome: &Outcome,
    confirm: bool,
) -> Result<(), Error> {
    status.observed_generation = pkg.metadata.generation;
    status.reconcile_requested_at =
        reconcile_requested_at(pkg).or(status.reconcile_requested_at.take());
    status.phase = Some(if pkg.meta().deletion_timestamp.is_some() {
        crate::crd::package::PackagePhase::Deleting
    } else {
        phase_of(outcome, status.operation.as_ref())
    });
    apply_outcome(
        &mut status.conditions,
        outcome,
        pkg.metadata.generation,
        now(),
    );
    writer
        .write_counted(status, confirm, &ctx.metrics, KIND)
        .await?;
    Ok(())
}

/// Runs the MendixPackage `controller` (see [`super::drive`]).
pub async fn run(
    controller: Controller<Cached<MendixPackage>>,
    ctx: Arc<Context>,
    concurrency: u16,
    shutdown: super::Shutdown,
    on_synced: impl FnOnce() + Send + 'static,
) {
    super::drive(controller, ctx, concurrency, shutdown, on_synced, reconcile).await;
}
