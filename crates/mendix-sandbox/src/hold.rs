//! Holding one chosen request in flight, for tests that must stop a client at an exact point:
//! while its write is in the sandbox, or right after the answer. The held request is served
//! when the test releases it, whether or not its client is still there (a write Mendix received
//! takes effect even when the answer is lost).

use tokio::sync::oneshot;

/// Which request to hold: the next one of `operation` (stats/fault names such as
/// `v1_transport` or `update_environment`), optionally only for one app and environment (the
/// `{app}`/`{appId}` and `{mode}`/`{environmentId}` of its path).
#[derive(Clone, Debug)]
pub struct HoldSpec {
    pub operation: String,
    pub app: Option<String>,
    pub environment: Option<String>,
    /// Matching requests to let through before the one held.
    pub skip: usize,
}

impl HoldSpec {
    pub fn new(operation: &str) -> Self {
        Self {
            operation: operation.to_string(),
            app: None,
            environment: None,
            skip: 0,
        }
    }

    /// Holds the matching request after `count` others.
    pub fn after(mut self, count: usize) -> Self {
        self.skip = count;
        self
    }

    pub fn app(mut self, app: &str) -> Self {
        self.app = Some(app.to_string());
        self
    }

    pub fn environment(mut self, environment: &str) -> Self {
        self.environment = Some(environment.to_string());
        self
    }

    pub(super) fn matches(
        &self,
        operation: &str,
        app: Option<&str>,
        environment: Option<&str>,
    ) -> bool {
        self.operation == operation
            && self.app.as_deref().is_none_or(|a| Some(a) == app)
            && self
                .environment
                .as_deref()
                .is_none_or(|e| Some(e) == environment)
    }
}

/// The sandbox's side of an armed hold.
pub(super) struct Armed {
    pub spec: HoldSpec,
    pub arrived: oneshot::Sender<()>,
    pub release: oneshot::Receiver<()>,
    pub answered: oneshot::Sender<()>,
}

/// The test's side: wait for the request, release it, wait for its answer.
pub struct Held {
    arrived: Option<oneshot::Receiver<()>>,
    release: Option<oneshot::Sender<()>>,
    answered: Option<oneshot::Receiver<()>>,
}

impl Held {
    pub(super) fn arm(spec: HoldSpec) -> (Armed, Held) {
        let (arrived_tx, arrived_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        let (answered_tx, answered_rx) = oneshot::channel();
        (
            Armed {
                spec,
                arrived: arrived_tx,
                release: release_rx,
                answered: answered_tx,
            },
            Held {
                arrived: Some(arrived_rx),
                release: Some(release_tx),
                answered: Some(answered_rx),
            },
        )
    }

    /// Resolves when the request is in the sandbox, before it is served. False when the hold
    /// was dropped without a request (the sandbox went away).
    pub async fn arrived(&mut self) -> bool {
        match self.arrived.take() {
            Some(rx) => rx.await.is_ok(),
            None => true,
        }
    }

    /// Lets the request be served.
    pub fn release(&mut self) {
        if let Some(tx) = self.release.take() {
            let _ = tx.send(());
        }
    }

    /// Resolves when the request has been served and its answer is on its way.
    pub async fn answered(&mut self) -> bool {
        match self.answered.take() {
            Some(rx) => rx.await.is_ok(),
            None => true,
        }
    }
}

impl Drop for Held {
    /// A hold the test forgets about must not keep the request for ever.
    fn drop(&mut self) {
        self.release();
    }
}
