//! The periodic resync that finds drift made outside Git: every cached resource is reconciled
//! once per period, one after another at even spacing.
//!
//! Not a requeue after every reconcile: a timer per resource keeps an entry per resource in
//! the controller's scheduler — a large part of the operator's memory at ten thousand
//! resources — and brings a whole rollout's resources back at the same moment one period
//! later, as a burst of Mendix reads.

use std::collections::VecDeque;
use std::time::Duration;

use futures::Stream;
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};

/// How often an empty cache is looked at.
const EMPTY_RECHECK: Duration = Duration::from_secs(1);

/// Names every resource in `store` once per `period`, spread evenly over it. A resource created
/// during a pass waits for the next one (it was just reconciled anyway); one deleted is skipped
/// by the controller.
pub fn paced<K>(store: Store<K>, period: Duration) -> impl Stream<Item = ObjectRef<K>> + Send
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let period = period.max(Duration::from_secs(1));
    let pass: VecDeque<ObjectRef<K>> = VecDeque::new();
    futures::stream::unfold(
        (store, pass, period),
        move |(store, mut pass, mut spacing)| async move {
            loop {
                if pass.is_empty() {
                    pass = store
                        .state()
                        .iter()
                        .map(|obj| name_of(obj.as_ref()))
                        .collect();
                    if pass.is_empty() {
                        // Looked at again soon, so the first pass starts with the first resource.
                        tokio::time::sleep(EMPTY_RECHECK.min(period)).await;
                        continue;
                    }
                    spacing = period / u32::try_from(pass.len()).unwrap_or(u32::MAX);
                }
                tokio::time::sleep(spacing).await;
                if let Some(next) = pass.pop_front() {
                    return Some((next, (store, pass, spacing)));
                }
            }
        },
    )
}

/// The reference without uid and resourceVersion (which the controller does not compare), so
/// a pass holds little per resource.
fn name_of<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectRef<K> {
    let meta = obj.meta();
    let name = ObjectRef::new(meta.name.as_deref().unwrap_or_default());
    match meta.namespace.as_deref() {
        Some(namespace) => name.within(namespace),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;
    use kube::runtime::watcher;

    fn config_map(name: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("apps".into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn every_resource_once_per_period_evenly_spaced() {
        let (store, mut writer) = kube::runtime::reflector::store::<ConfigMap>();
        writer.apply_watcher_event(&watcher::Event::Init);
        for name in ["a", "b", "c", "d"] {
            writer.apply_watcher_event(&watcher::Event::InitApply(config_map(name)));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let start = tokio::time::Instant::now();
        let mut resync = Box::pin(paced(store, Duration::from_secs(60)));
        let mut seen = Vec::new();
        for _ in 0..8 {
            let next = resync.next().await.expect("an endless stream");
            seen.push((next.name.clone(), start.elapsed().as_secs()));
        }
        let mut first_pass: Vec<_> = seen[..4].iter().map(|(n, _)| n.clone()).collect();
        first_pass.sort();
        assert_eq!(first_pass, ["a", "b", "c", "d"]);
        let times: Vec<u64> = seen.iter().map(|(_, t)| *t).collect();
        assert_eq!(times, [15, 30, 45, 60, 75, 90, 105, 120]);
        assert_eq!(seen[0].0, seen[4].0, "the same order each pass");
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_pass_starts_soon_after_the_first_resource() {
        let (store, mut writer) = kube::runtime::reflector::store::<ConfigMap>();
        writer.apply_watcher_event(&watcher::Event::Init);
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let start = tokio::time::Instant::now();
        let mut resync = Box::pin(paced(store, Duration::from_secs(600)));
        let next = resync.next();
        tokio::pin!(next);
        // Nothing cached for a while: nothing named.
        assert!(
            tokio::time::timeout(Duration::from_secs(30), &mut next)
                .await
                .is_err()
        );
        writer.apply_watcher_event(&watcher::Event::Apply(config_map("a")));
        let first = next.await.expect("an endless stream");
        assert_eq!(first.name, "a");
        // Within a second of appearing, plus one period for a pass of one.
        assert!(
            start.elapsed() <= Duration::from_secs(30 + 1 + 600),
            "{:?}",
            start.elapsed()
        );
    }
}
