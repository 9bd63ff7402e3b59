//! Operator metrics (OpenMetrics via prometheus-client), all under the `mendix_operator` prefix.
//! One `Metrics` is shared by the controllers, the Mendix clients' observer and `/metrics`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub kind: String,
    /// `ok` or the error's metric label.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadyLabels {
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub ready: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `cloud_build_v1`, `cloud_deploy_v1`, `pc_build_v4` or `pc_deploy_v4`.
    pub api: String,
    pub operation: String,
    /// HTTP status code, or `error` when no response arrived.
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub api: String,
    pub operation: String,
}

pub struct Metrics {
    pub reconciles: Family<ReconcileLabels, Counter>,
    pub reconcile_duration: Family<KindLabels, Histogram>,
    pub mendix_requests: Family<RequestLabels, Counter>,
    pub mendix_request_duration: Family<OperationLabels, Histogram>,
    pub mendix_retries: Family<OperationLabels, Counter>,
    pub operations_in_flight: Family<KindLabels, Gauge>,
    pub resources: Family<ReadyLabels, Gauge>,
    /// Resources whose Stalled condition is True, by kind.
    pub resources_stalled: Family<KindLabels, Gauge>,
    pub status_writes: Family<ReconcileLabels, Counter>,
    /// 1 while this replica leads, 0 while it stands by: see [`Metrics::set_leader`].
    pub leader: Gauge,
    /// Times this replica became the leader. It is exposed at 0 from the start, so that the
    /// step of a standby that takes over shows in `changes()` and `increase()`.
    pub leader_transitions: Counter,
    registry: Registry,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("mendix_operator");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let reconcile_duration = Family::<KindLabels, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let mendix_requests = Family::<RequestLabels, Counter>::default();
        let mendix_request_duration = Family::<OperationLabels, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let mendix_retries = Family::<OperationLabels, Counter>::default();
        let operations_in_flight = Family::<KindLabels, Gauge>::default();
        let resources = Family::<ReadyLabels, Gauge>::default();
        let resources_stalled = Family::<KindLabels, Gauge>::default();
        let status_writes = Family::<ReconcileLabels, Counter>::default();
        let leader = Gauge::default();
        let leader_transitions = Counter::default();
        registry.register(
            "reconciles",
            "Reconciles by kind and result",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            reconcile_duration.clone(),
        );
        registry.register(
            "mendix_requests",
            "Mendix API requests by API, operation and status",
            mendix_requests.clone(),
        );
        registry.register(
            "mendix_request_duration_seconds",
            "Mendix API request latency",
            mendix_request_duration.clone(),
        );
        registry.register(
            "mendix_retries",
            "Mendix API requests retried after a transient error",
            mendix_retries.clone(),
        );
        registry.register(
            "operations_in_flight",
            "Remote operations recorded in status and not finished",
            operations_in_flight.clone(),
        );
        registry.register(
            "resources",
            "Resources by kind and Ready status",
            resources.clone(),
        );
        registry.register(
            "resources_stalled",
            "Resources by kind whose Stalled condition is True (progress needs a person)",
            resources_stalled.clone(),
        );
        registry.register(
            "status_writes",
            "Status patches by kind and result",
            status_writes.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica leads (holds the leader Lease, or runs without leader election), 0 while it stands by",
            leader.clone(),
        );
        registry.register(
            "leader_transitions",
            "Times this replica became the leader (acquired the leader Lease, or started without leader election)",
            leader_transitions.clone(),
        );
        Arc::new(Self {
            reconciles,
            reconcile_duration,
            mendix_requests,
            mendix_request_duration,
            mendix_retries,
            operations_in_flight,
            resources,
            resources_stalled,
            status_writes,
            leader,
            leader_transitions,
            registry,
        })
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Starts timing one reconcile; the time is recorded when the guard drops.
    pub fn reconcile_timer(&self, kind: &str) -> ReconcileTimer<'_> {
        ReconcileTimer {
            metrics: self,
            kind: kind.to_string(),
            started: Instant::now(),
        }
    }

    pub fn count_reconcile(&self, kind: &str, result: &str) {
        self.reconciles
            .get_or_create(&ReconcileLabels {
                kind: kind.into(),
                result: result.into(),
            })
            .inc();
    }

    pub fn observe_request(&self, api: &str, operation: &str, status: &str, elapsed: Duration) {
        self.mendix_requests
            .get_or_create(&RequestLabels {
                api: api.into(),
                operation: operation.into(),
                status: status.into(),
            })
            .inc();
        self.mendix_request_duration
            .get_or_create(&OperationLabels {
                api: api.into(),
                operation: operation.into(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn count_status_write(&self, kind: &str, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.status_writes
            .get_or_create(&ReconcileLabels {
                kind: kind.into(),
                result: result.into(),
            })
            .inc();
    }

    /// Whether this replica leads now; becoming the leader counts a transition.
    pub fn set_leader(&self, leading: bool) {
        let was = self.leader.set(i64::from(leading));
        if leading && was == 0 {
            self.leader_transitions.inc();
        }
    }

    pub fn observe_retry(&self, api: &str, operation: &str) {
        self.mendix_retries
            .get_or_create(&OperationLabels {
                api: api.into(),
                operation: operation.into(),
            })
            .inc();
    }
}

/// Drop guard measuring one reconcile.
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    kind: String,
    started: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .reconcile_duration
            .get_or_create(&KindLabels {
                kind: self.kind.clone(),
            })
            .observe(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_appear_in_the_exposition() {
        let m = Metrics::new();
        m.count_reconcile("MendixPackage", "ok");
        m.observe_request("pc_build_v4", "get_job", "200", Duration::from_millis(12));
        {
            let _t = m.reconcile_timer("MendixPackage");
        }
        let text = m.encode();
        assert!(
            text.contains(
                r#"mendix_operator_reconciles_total{kind="MendixPackage",result="ok"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"mendix_operator_mendix_requests_total{api="pc_build_v4",operation="get_job",status="200"} 1"#), "{text}");
        assert!(
            text.contains(
                "mendix_operator_reconcile_duration_seconds_count{kind=\"MendixPackage\"} 1"
            ),
            "{text}"
        );
        assert!(text.trim_end().ends_with("# EOF"));
    }

    #[test]
    fn leadership_is_a_gauge_and_becoming_leader_a_counter_both_exposed_from_the_start() {
        let m = Metrics::new();
        let text = m.encode();
        assert!(text.contains("\nmendix_operator_leader 0\n"), "{text}");
        assert!(
            text.contains("\nmendix_operator_leader_transitions_total 0\n"),
            "{text}"
        );
        m.set_leader(true);
        m.set_leader(true);
        let text = m.encode();
        assert!(text.contains("\nmendix_operator_leader 1\n"), "{text}");
        assert!(
            text.contains("\nmendix_operator_leader_transitions_total 1\n"),
            "{text}"
        );
        m.set_leader(false);
        assert!(m.encode().contains("\nmendix_operator_leader 0\n"));
    }
}
