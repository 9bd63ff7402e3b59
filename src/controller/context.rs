//! What every reconcile needs, shared as `Arc<Context>`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use super::backoff::PollSchedule;
use crate::mendix::client::Mendix;
use crate::metrics::Metrics;

/// Behaviour knobs of the reconcilers (from the operator configuration).
#[derive(Clone, Debug)]
pub struct Settings {
    pub poll: PollSchedule,
    /// Period of the full resync that detects drift.
    pub resync: Duration,
    /// How long an operation whose request may have been sent (the operator stopped before it
    /// recorded the answer) is searched for remotely before it is started again.
    pub orphan_grace: Duration,
    /// Where `source.upload` files are downloaded to before they are uploaded.
    pub download_dir: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            poll: PollSchedule::default(),
            resync: Duration::from_secs(600),
            orphan_grace: Duration::from_secs(15 * 60),
            download_dir: std::env::temp_dir(),
        }
    }
}

pub struct Context {
    pub client: kube::Client,
    pub mendix: Mendix,
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
    recorder: Recorder,
}

impl Context {
    pub fn new(
        client: kube::Client,
        mendix: Mendix,
        metrics: Arc<Metrics>,
        settings: Settings,
        instance: Option<String>,
    ) -> Arc<Self> {
        let reporter = Reporter {
            controller: "mendix-operator".into(),
            instance,
        };
        let recorder = Recorder::new(client.clone(), reporter);
        Arc::new(Self {
            client,
            mendix,
            metrics,
            settings,
            recorder,
        })
    }

    /// Publishes a Kubernetes Event about `obj`. Events are best effort: a failure is logged,
    /// never allowed to fail the reconcile.
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        if let Err(err) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!(error = %err, reason, "could not publish event");
        }
    }
}
