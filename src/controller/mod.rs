//! Reconcilers for every kind, and what they share: the shell every
//! reconcile runs in, the context, the credentials and values read from Secrets, when to look
//! again (`schedule`: job polls and retry backoff), and the status writer.

pub mod cache;
pub mod context;
pub mod deletion;
pub mod environment;
pub mod error;
pub mod jobs;
pub mod landscape;
pub mod observe;
pub mod package;
pub mod resync;
pub mod schedule;
pub mod secrets;
pub mod shell;
pub mod start_times;
pub mod status;
pub mod trigger;
pub mod verdict;

pub use context::{Context, Settings};
pub use error::Error;

/// How long a controller may finish its reconciles in flight once shutdown is asked for.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// What stops the controllers gracefully: SIGTERM (a lost Lease aborts them instead).
pub type Shutdown = futures::future::Shared<futures::future::BoxFuture<'static, ()>>;

/// Runs a controller until it ends, or at the latest [`SHUTDOWN_GRACE`] after `shutdown`: a
/// controller whose cache never synced (an API server gone, a watch that cannot list) waits
/// for it and would never end on its own. Every remote write is recorded before it is sent,
/// so a reconcile cut off here is resumed like one a crash ended.
pub async fn until_shutdown(
    running: impl std::future::Future<Output = ()>,
    shutdown: Shutdown,
    kind: &str,
) {
    let deadline = async {
        shutdown.await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        () = running => {}
        () = deadline => {
            tracing::warn!(kind, grace = ?SHUTDOWN_GRACE, "controller did not stop within the grace period; leaving its reconciles to the next leader");
        }
    }
}

/// After a failed reconcile of any kind: a deletion that waits says how long; anything else
/// is retried after a pause that grows with the object's failures.
fn error_policy<K: crate::crd::Observed>(
    obj: &K,
    error: &Error,
    ctx: &Context,
) -> kube::runtime::controller::Action {
    let _span = shell::reconcile_span(obj).entered();
    if let Some(after) = error.cleanup_pending() {
        return kube::runtime::controller::Action::requeue(after);
    }
    verdict::retry_after_failure(obj, error, ctx)
}

/// Runs `controller` (from [`trigger::controller`], with whatever else should wake it already
/// added) with the paced resync, `concurrency` reconciles at a time, until `shutdown`;
/// `on_synced` is called once its cache has synced. The one way every kind's controller runs.
pub async fn drive<K, Fut>(
    controller: kube::runtime::Controller<cache::Cached<K>>,
    ctx: std::sync::Arc<Context>,
    concurrency: u16,
    shutdown: Shutdown,
    on_synced: impl FnOnce() + Send + 'static,
    reconcile: fn(std::sync::Arc<K>, std::sync::Arc<Context>) -> Fut,
) where
    K: crate::crd::Observed + trigger::Watched,
    Fut: std::future::Future<Output = Result<kube::runtime::controller::Action, Error>>
        + Send
        + 'static,
{
    use futures::StreamExt as _;
    let store = controller.store();
    let marks = ctx.clone();
    let resync = resync::paced(store.clone(), ctx.settings.resync).inspect(move |due| {
        // A kind that trusts its status between resyncs: this reconcile is to verify it.
        if K::TRUSTS_ITS_STATUS {
            marks
                .resync_due
                .mark(K::KIND, due.namespace.as_deref(), &due.name);
        }
    });
    tokio::spawn(async move {
        if trigger::wait_until_synced(&store).await {
            on_synced();
        }
    });
    let running = controller
        .reconcile_on(resync)
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown.clone())
        .run(
            // Each reconcile decodes its object from the cache's compact form (`cache`).
            move |cached, ctx| match cached.object() {
                Ok(obj) => futures::future::Either::Left(reconcile(std::sync::Arc::new(obj), ctx)),
                Err(error) => {
                    futures::future::Either::Right(std::future::ready(Err(Error::Cached(error))))
                }
            },
            move |cached, error, ctx| match cached.object() {
                Ok(obj) => error_policy(&obj, error, &ctx),
                Err(_) => kube::runtime::controller::Action::requeue(ctx.settings.poll.max),
            },
            ctx,
        )
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "{} reconcile error", K::KIND);
            }
        });
    until_shutdown(running, shutdown, K::KIND).await;
}
