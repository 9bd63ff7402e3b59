//! What every reconcile needs, shared as `Arc<Context>`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Resource;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::events::EventType;

use super::backoff::PollSchedule;
use super::start_times::StartTimes;
use crate::crd::OperationStatus;
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
    /// Jobs Mendix returned whose status write may have failed.
    pub unrecorded_jobs: UnrecordedJobs,
    /// How long Mendix Cloud starts take, and which starts wait to learn it.
    pub start_times:
        Arc<StartTimes<kube::runtime::reflector::ObjectRef<crate::crd::MendixEnvironment>>>,
    /// `reportingInstance` of the Events this process publishes.
    instance: String,
}

/// `reportingController` of every Event the operator publishes.
const REPORTING_CONTROLLER: &str = "mendix-operator";

/// Job ids this process received for requests whose status write may have failed afterwards
/// (a 409 or a 500 from the API server). The next reconcile reads the operation back without
/// the job id; this memory lets it follow the job instead of sending the request again. Keyed
/// by object uid; a crash loses it, which the time-based wait for an unrecorded job covers.
#[derive(Default)]
pub struct UnrecordedJobs(Mutex<HashMap<String, (OperationStatus, String)>>);

impl UnrecordedJobs {
    /// Remembers that the request recorded as `sent_under` started job `job_id`.
    pub fn remember(&self, uid: &str, sent_under: &OperationStatus, job_id: &str) {
        if let Ok(mut jobs) = self.0.lock() {
            jobs.insert(uid.to_string(), (sent_under.clone(), job_id.to_string()));
        }
    }

    /// The job started by the request recorded as `recorded`, when this process sent it.
    pub fn recall(&self, uid: &str, recorded: &OperationStatus) -> Option<String> {
        let jobs = self.0.lock().ok()?;
        let (sent_under, job_id) = jobs.get(uid)?;
        let same = sent_under.kind == recorded.kind
            && sent_under.phase == recorded.phase
            && sent_under.intent == recorded.intent
            // Status keeps microseconds.
            && sent_under.started_at.0.as_microsecond() == recorded.started_at.0.as_microsecond();
        same.then(|| job_id.clone())
    }

    /// Drops what is remembered for `uid`: its status now holds the job id, or no operation.
    pub fn forget(&self, uid: &str) {
        if let Ok(mut jobs) = self.0.lock() {
            jobs.remove(uid);
        }
    }
}

impl Context {
    pub fn new(
        client: kube::Client,
        mendix: Mendix,
        metrics: Arc<Metrics>,
        settings: Settings,
        instance: Option<String>,
    ) -> Arc<Self> {
        Arc::new(Self {
            client,
            mendix,
            metrics,
            settings,
            unrecorded_jobs: UnrecordedJobs::default(),
            start_times: Arc::default(),
            instance: instance.unwrap_or_else(|| REPORTING_CONTROLLER.to_string()),
        })
    }

    /// Publishes a Kubernetes Event (`events.k8s.io/v1`) about `obj`, one create each. Events
    /// are best effort: a failure is logged, never allowed to fail the reconcile.
    ///
    /// Not kube-runtime's `Recorder`: it keeps every Event it published for six minutes, to
    /// count repeats as a series, and walks that cache under one write lock on each publish.
    /// At thousands of resources that was much of the operator's memory and a lock every
    /// reconcile queued on. Repeats are rare here: each step publishes once, and a stalled
    /// resource is held rather than retried.
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let regarding = obj.object_ref(&());
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let now = crate::controller::outcome::now();
        let event = Event {
            metadata: ObjectMeta {
                // Unique per object and moment, like the names kubectl shows for Events.
                name: Some(format!(
                    "{}.{:x}",
                    regarding.name.as_deref().unwrap_or(REPORTING_CONTROLLER),
                    now.as_nanosecond()
                )),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            event_time: Some(MicroTime(now)),
            type_: Some(match type_ {
                EventType::Normal => "Normal".into(),
                EventType::Warning => "Warning".into(),
            }),
            reason: Some(reason.into()),
            action: Some(action.into()),
            note: Some(note),
            regarding: Some(regarding),
            reporting_controller: Some(REPORTING_CONTROLLER.into()),
            reporting_instance: Some(self.instance.clone()),
            ..Default::default()
        };
        let events: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        if let Err(err) = events.create(&PostParams::default(), &event).await {
            tracing::warn!(error = %err, reason, "could not publish event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::outcome::start_operation;
    use crate::crd::OperationKind;

    #[test]
    fn a_job_is_recalled_only_for_the_request_it_answered() {
        let jobs = UnrecordedJobs::default();
        let sent = start_operation(OperationKind::Restart, "restart 1/2".into());
        jobs.remember("uid-1", &sent, "job-1");

        // Read back from status (microseconds), with more polls: still the same request.
        let mut recorded: OperationStatus =
            serde_json::from_value(serde_json::to_value(&sent).expect("json")).expect("op");
        recorded.polls = 3;
        assert_eq!(jobs.recall("uid-1", &recorded).as_deref(), Some("job-1"));
        assert_eq!(jobs.recall("uid-2", &recorded), None);

        let mut next_step = recorded.clone();
        next_step.phase = Some("scaleUp".into());
        assert_eq!(jobs.recall("uid-1", &next_step), None);

        jobs.forget("uid-1");
        assert_eq!(jobs.recall("uid-1", &recorded), None);
    }
}
