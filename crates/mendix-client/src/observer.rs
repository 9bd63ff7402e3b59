//! A hook to count requests and retries per API, operation and outcome (for metrics), kept
//! free of any metrics library so the operator can plug in its own.

use std::time::Duration;

use super::api::Api;

/// How one attempt of a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Mendix answered with this HTTP status.
    Status(u16),
    Timeout,
    Connection,
    /// A 2xx answer whose body did not decode.
    Decode,
}

impl AttemptOutcome {
    /// Short label for metrics: the status code, `timeout`, `connection` or `decode`.
    pub fn label(&self) -> String {
        match self {
            AttemptOutcome::Status(status) => status.to_string(),
            AttemptOutcome::Timeout => "timeout".into(),
            AttemptOutcome::Connection => "connection".into(),
            AttemptOutcome::Decode => "decode".into(),
        }
    }
}

/// One attempt of one request.
#[derive(Clone, Debug)]
pub struct RequestEvent {
    pub api: Api,
    /// The operation name, e.g. `transport`, `get_job` (bounded set: one per client method).
    pub operation: &'static str,
    /// 1 for the first attempt, 2 for the first retry, ...
    pub attempt: u32,
    pub outcome: AttemptOutcome,
    /// Whether the client will try again after this attempt.
    pub will_retry: bool,
    pub elapsed: Duration,
}

/// Receives every attempt. Called on the request's task: keep it quick.
pub trait RequestObserver: Send + Sync {
    fn on_attempt(&self, event: &RequestEvent);
}

impl<F> RequestObserver for F
where
    F: Fn(&RequestEvent) + Send + Sync,
{
    fn on_attempt(&self, event: &RequestEvent) {
        self(event)
    }
}

/// The default observer: ignores everything.
#[derive(Debug, Default)]
pub struct NoObserver;

impl RequestObserver for NoObserver {
    fn on_attempt(&self, _event: &RequestEvent) {}
}
