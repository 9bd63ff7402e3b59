//! What every reconcile needs, shared as `Arc<Context>`.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Resource;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::events::EventType;

use super::schedule::PollSchedule;
use super::start_times::StartTimes;
use crate::crd::OperationStatus;
use crate::metrics::Metrics;
use mendix_client::Reads;
use mendix_client::client::Mendix;

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
    /// How long a `Delete` package waits while an environment still uses it before it is
    /// retained in Mendix and its resource let go.
    pub delete_wait_limit: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            poll: PollSchedule::default(),
            resync: Duration::from_secs(600),
            orphan_grace: Duration::from_secs(15 * 60),
            download_dir: std::env::temp_dir(),
            delete_wait_limit: Duration::from_secs(3600),
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
    /// Each object's consecutive failures and the wait before its next retry.
    pub retries: crate::controller::schedule::RetryBackoff,
    /// Mendix reads a retry after a conflict answers again instead of sending.
    pub conflict_reads: ConflictReads,
    /// Resources the paced resync named and that have not reconciled since: they read Mendix
    /// instead of trusting what their status records.
    pub resync_due: ResyncDue,
    /// `reportingInstance` of the Events this process publishes.
    instance: String,
    /// Versions (uid/resourceVersion) of objects that did not decode, reported once each.
    invalid_reported: Mutex<HashSet<String>>,
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

/// Resources the paced resync asked to verify. A reconcile otherwise trusts what the operator
/// recorded of its own work (see `cloud::trusted`); the resync is when Mendix is read again to
/// find what someone else changed. Keyed by kind, namespace and name; an entry lives from the
/// resync's trigger to the reconcile it starts.
#[derive(Default)]
pub struct ResyncDue(Mutex<HashSet<String>>);

impl ResyncDue {
    fn key(kind: &str, namespace: Option<&str>, name: &str) -> String {
        format!("{kind}/{}/{name}", namespace.unwrap_or_default())
    }

    /// The resync is about to reconcile this resource.
    pub fn mark(&self, kind: &str, namespace: Option<&str>, name: &str) {
        if let Ok(mut due) = self.0.lock() {
            due.insert(Self::key(kind, namespace, name));
        }
    }

    /// Whether this reconcile is the resync's (and the mark is used up); a poisoned lock reads.
    pub fn take(&self, kind: &str, namespace: Option<&str>, name: &str) -> bool {
        self.0.lock().map_or(true, |mut due| {
            due.remove(&Self::key(kind, namespace, name))
        })
    }
}

/// Mendix reads of reconciles that ended in a conflict (their status write met a newer object).
/// The retry, moments later, is answered from them instead of reading Mendix again: a conflict
/// is about the Kubernetes object, not about Mendix. Kept for [`REPLAY_WINDOW`], used once.
#[derive(Default)]
pub struct ConflictReads(Mutex<HashMap<String, (Instant, Arc<Reads>)>>);

/// How long the reads of a reconcile that met a conflict may answer its retry.
const REPLAY_WINDOW: Duration = Duration::from_secs(10);

impl ConflictReads {
    /// Runs one reconcile of the object `uid` with its Mendix reads recorded, answered from the
    /// previous attempt's when that ended in a conflict moments ago.
    pub async fn around<T>(
        &self,
        uid: &str,
        reconcile: impl Future<Output = Result<T, super::error::Error>>,
    ) -> Result<T, super::error::Error> {
        let previous = self
            .0
            .lock()
            .ok()
            .and_then(|mut kept| kept.remove(uid))
            .filter(|(at, _)| at.elapsed() < REPLAY_WINDOW);
        let reads = Arc::new(match previous {
            Some((_, previous)) => Reads::replaying(&previous),
            None => Reads::default(),
        });
        let result = Reads::scope(reads.clone(), reconcile).await;
        if result.as_ref().is_err_and(super::error::Error::is_conflict)
            && let Ok(mut kept) = self.0.lock()
        {
            kept.retain(|_, (at, _)| at.elapsed() < REPLAY_WINDOW);
            kept.insert(uid.to_string(), (Instant::now(), reads));
        }
        result
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
            retries: Default::default(),
            conflict_reads: ConflictReads::default(),
            resync_due: ResyncDue::default(),
            instance: instance.unwrap_or_else(|| REPORTING_CONTROLLER.to_string()),
            invalid_reported: Mutex::default(),
        })
    }

    /// Whether this version of an undecodable object is reported for the first time (a watch
    /// that lists again sees it again).
    pub fn first_report_of_invalid(&self, version: &str) -> bool {
        self.invalid_reported
            .lock()
            .map(|mut seen| seen.insert(version.to_string()))
            .unwrap_or(true)
    }

    /// Whether `namespace` is being deleted. Asked with a dry-run Event create (a verb the
    /// operator has anyway, and one that needs no read access to Namespaces, which a namespaced
    /// install does not grant): the API server refuses new content in a terminating namespace
    /// with the cause `NamespaceTerminating`. Any other answer counts as "no".
    pub async fn namespace_terminating(&self, namespace: &str) -> bool {
        let probe = Event {
            metadata: ObjectMeta {
                generate_name: Some(format!("{REPORTING_CONTROLLER}-probe-")),
                namespace: Some(namespace.to_string()),
                ..Default::default()
            },
            event_time: Some(MicroTime(crate::controller::verdict::now())),
            reason: Some("Probe".into()),
            action: Some("Probe".into()),
            reporting_controller: Some(REPORTING_CONTROLLER.into()),
            reporting_instance: Some(self.instance.clone()),
            ..Default::default()
        };
        let params = PostParams {
            dry_run: true,
            ..Default::default()
        };
        match Api::<Event>::namespaced(self.client.clone(), namespace)
            .create(&params, &probe)
            .await
        {
            Err(kube::Error::Api(status)) => status.details.is_some_and(|details| {
                details
                    .causes
                    .iter()
                    .any(|cause| cause.reason == "NamespaceTerminating")
            }),
            _ => false,
        }
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
        let now = crate::controller::verdict::now();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(event_name(
                    regarding.name.as_deref().unwrap_or(REPORTING_CONTROLLER),
                    now.as_nanosecond(),
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
            note: Some(within(&note, MAX_NOTE_BYTES)),
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

/// events.k8s.io/v1 refuses a note over 1 kB and a name that is not a DNS subdomain (at most
/// 253 characters); an Event the API server refuses is lost.
const MAX_NOTE_BYTES: usize = 1024;
const MAX_NAME_BYTES: usize = 253;

/// Unique per object and moment, like the names kubectl shows for Events: the object's name
/// (shortened when it would not fit) and the time in hex.
fn event_name(object: &str, nanos: i128) -> String {
    let suffix = format!(".{nanos:x}");
    let room = MAX_NAME_BYTES.saturating_sub(suffix.len());
    // Cut so that the name does not end in a separator.
    let name = prefix_within(object, room).trim_end_matches(['.', '-']);
    format!("{name}{suffix}")
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn prefix_within(text: &str, max: usize) -> &str {
    let end = text.len().min(max);
    let end = (0..=end)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    &text[..end]
}

/// `text` cut to at most `max` bytes on a character boundary, ending in "…" when cut.
fn within(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let ellipsis = "…";
    format!(
        "{}{ellipsis}",
        prefix_within(text, max.saturating_sub(ellipsis.len()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::verdict::start_operation;
    use crate::crd::OperationKind;

    #[test]
    fn event_names_and_notes_fit_the_events_api() {
        let long = "a".repeat(253);
        let name = event_name(&long, i128::from(u64::MAX));
        assert!(name.len() <= MAX_NAME_BYTES, "{}", name.len());
        assert!(name.ends_with(".ffffffffffffffff"), "{name}");
        assert_eq!(event_name("calc", 255), "calc.ff");
        let note = within(&"é".repeat(1000), MAX_NOTE_BYTES);
        assert!(
            note.len() <= MAX_NOTE_BYTES && note.ends_with('…'),
            "{}",
            note.len()
        );
        assert_eq!(within("short", MAX_NOTE_BYTES), "short");
    }

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
