//! `metav1.Condition` bookkeeping shared by both kinds.
//!
//! The three kstatus conditions are never set one by one from controller code: a reconcile ends
//! with exactly one [`Outcome`] and [`apply_outcome`] derives `Ready`, `Reconciling` and `Stalled`
//! from it, so the combinations kstatus forbids (Ready=True next to Stalled=True or
//! Reconciling=True) cannot be written. Domain conditions (e.g. `CredentialsValid`) go through
//! [`set_condition`].

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";

pub const TRUE: &str = "True";
pub const FALSE: &str = "False";

/// How a reconcile ended, as kstatus sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The latest generation is fully converged.
    Ready { reason: String, message: String },
    /// Work is in progress; the message names the step ("3/5: starting app").
    Progressing { reason: String, message: String },
    /// Progress needs a person; the message says what to fix.
    Stalled { reason: String, message: String },
}

impl Outcome {
    pub fn ready(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Ready {
            reason: reason.into(),
            message: message.into(),
        }
    }
    pub fn progressing(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Progressing {
            reason: reason.into(),
            message: message.into(),
        }
    }
    pub fn stalled(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Stalled {
            reason: reason.into(),
            message: message.into(),
        }
    }
    pub fn message(&self) -> &str {
        match self {
            Self::Ready { message, .. }
            | Self::Progressing { message, .. }
            | Self::Stalled { message, .. } => message,
        }
    }
}

/// Sets (adds or updates) one condition. `lastTransitionTime` moves only when the status changes;
/// reason, message and observedGeneration are always refreshed. Returns whether anything changed.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
    now: Timestamp,
) -> bool {
    let reason = if reason.is_empty() { "Unknown" } else { reason };
    if let Some(existing) = conditions.iter_mut().find(|c| c.type_ == type_) {
        let mut changed = false;
        if existing.status != status {
            existing.status = status.to_string();
            existing.last_transition_time = Time(now);
            changed = true;
        }
        for (field, value) in [
            (&mut existing.reason, reason),
            (&mut existing.message, message),
        ] {
            if field != value {
                *field = value.to_string();
                changed = true;
            }
        }
        if existing.observed_generation != observed_generation {
            existing.observed_generation = observed_generation;
            changed = true;
        }
        changed
    } else {
        conditions.push(Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: reason.to_string(),
            message: message.to_string(),
            observed_generation,
            last_transition_time: Time(now),
        });
        true
    }
}

/// Writes Ready / Reconciling / Stalled for one outcome, keeping them consistent with kstatus:
/// exactly one of the three is True. Returns whether anything changed.
pub fn apply_outcome(
    conditions: &mut Vec<Condition>,
    outcome: &Outcome,
    observed_generation: Option<i64>,
    now: Timestamp,
) -> bool {
    let (ready, reconciling, stalled, reason, message) = match outcome {
        Outcome::Ready { reason, message } => (TRUE, FALSE, FALSE, reason, message),
        Outcome::Progressing { reason, message } => (FALSE, TRUE, FALSE, reason, message),
        Outcome::Stalled { reason, message } => (FALSE, FALSE, TRUE, reason, message),
    };
    let mut changed = false;
    changed |= set_condition(
        conditions,
        READY,
        ready,
        reason,
        message,
        observed_generation,
        now,
    );
    // The inactive conditions keep a reason for humans but carry no message of their own.
    let quiet = |active: &str| if active == TRUE { message.as_str() } else { "" };
    changed |= set_condition(
        conditions,
        RECONCILING,
        reconciling,
        reason,
        quiet(reconciling),
        observed_generation,
        now,
    );
    changed |= set_condition(
        conditions,
        STALLED,
        stalled,
        reason,
        quiet(stalled),
        observed_generation,
        now,
    );
    changed
}

pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == TRUE)
}

/// The kstatus invariant: never Ready=True together with Stalled=True or Reconciling=True.
pub fn is_consistent(conditions: &[Condition]) -> bool {
    !(is_true(conditions, READY)
        && (is_true(conditions, STALLED) || is_true(conditions, RECONCILING)))
}

/// Equality that ignores `lastTransitionTime`, so a status writer can skip no-op patches.
pub fn same_ignoring_time(a: &[Condition], b: &[Condition]) -> bool {
    a.len() == b.len()
        && a.iter().all(|x| {
            find(b, &x.type_).is_some_and(|y| {
                x.status == y.status
                    && x.reason == y.reason
                    && x.message == y.message
                    && x.observed_generation == y.observed_generation
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).expect("valid timestamp")
    }

    #[test]
    fn set_condition_adds_a_missing_condition() {
        let mut c = Vec::new();
        assert!(set_condition(
            &mut c,
            "CredentialsValid",
            TRUE,
            "Verified",
            "ok",
            Some(1),
            t(0)
        ));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].last_transition_time, Time(t(0)));
        assert_eq!(c[0].observed_generation, Some(1));
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let mut c = Vec::new();
        set_condition(
            &mut c,
            READY,
            FALSE,
            "Building",
            "1/2: building",
            Some(1),
            t(0),
        );
        assert!(set_condition(
            &mut c,
            READY,
            FALSE,
            "Uploading",
            "2/2: uploading",
            Some(1),
            t(10)
        ));
        assert_eq!(
            c[0].last_transition_time,
            Time(t(0)),
            "same status keeps the old time"
        );
        assert_eq!(c[0].reason, "Uploading");
        assert!(set_condition(
            &mut c,
            READY,
            TRUE,
            "Succeeded",
            "done",
            Some(1),
            t(20)
        ));
        assert_eq!(
            c[0].last_transition_time,
            Time(t(20)),
            "a new status moves the time"
        );
    }

    #[test]
    fn unchanged_condition_reports_no_change() {
        let mut c = Vec::new();
        set_condition(&mut c, READY, TRUE, "Succeeded", "done", Some(2), t(0));
        assert!(!set_condition(
            &mut c,
            READY,
            TRUE,
            "Succeeded",
            "done",
            Some(2),
            t(99)
        ));
        assert_eq!(c[0].last_transition_time, Time(t(0)));
    }

    #[test]
    fn empty_reason_is_replaced_because_the_api_requires_one() {
        let mut c = Vec::new();
        set_condition(&mut c, READY, FALSE, "", "", None, t(0));
        assert_eq!(c[0].reason, "Unknown");
    }

    #[test]
    fn outcomes_make_exactly_one_kstatus_condition_true() {
        let outcomes = [
            Outcome::ready("Succeeded", "package 1.0.0 is ready"),
            Outcome::progressing("Building", "1/2: building 1.0.0"),
            Outcome::stalled("BuildFailed", "fix the model"),
        ];
        for first in &outcomes {
            for second in &outcomes {
                let mut c = Vec::new();
                apply_outcome(&mut c, first, Some(1), t(0));
                apply_outcome(&mut c, second, Some(2), t(5));
                assert!(is_consistent(&c), "{first:?} then {second:?}");
                let true_count = [READY, RECONCILING, STALLED]
                    .iter()
                    .filter(|k| is_true(&c, k))
                    .count();
                assert_eq!(true_count, 1, "{first:?} then {second:?}");
                assert!(c.iter().all(|x| x.observed_generation == Some(2)));
            }
        }
    }

    #[test]
    fn stalled_outcome_carries_reason_and_message() {
        let mut c = Vec::new();
        apply_outcome(
            &mut c,
            &Outcome::stalled("SecretNotFound", "create Secret x"),
            Some(3),
            t(0),
        );
        let stalled = find(&c, STALLED).expect("stalled present");
        assert_eq!(
            (stalled.status.as_str(), stalled.reason.as_str()),
            (TRUE, "SecretNotFound")
        );
        assert_eq!(stalled.message, "create Secret x");
        let ready = find(&c, READY).expect("ready present");
        assert_eq!(ready.status, FALSE);
        assert_eq!(find(&c, RECONCILING).map(|r| r.message.as_str()), Some(""));
    }

    #[test]
    fn ready_after_progress_moves_ready_time_once() {
        let mut c = Vec::new();
        apply_outcome(
            &mut c,
            &Outcome::progressing("Building", "1/2"),
            Some(1),
            t(0),
        );
        apply_outcome(&mut c, &Outcome::ready("Succeeded", "ok"), Some(1), t(30));
        apply_outcome(&mut c, &Outcome::ready("Succeeded", "ok"), Some(1), t(60));
        assert_eq!(
            find(&c, READY).map(|r| r.last_transition_time.clone()),
            Some(Time(t(30)))
        );
        assert_eq!(
            find(&c, RECONCILING).map(|r| r.last_transition_time.clone()),
            Some(Time(t(30)))
        );
    }

    #[test]
    fn inconsistent_sets_are_detected() {
        let mut c = Vec::new();
        set_condition(&mut c, READY, TRUE, "X", "", None, t(0));
        set_condition(&mut c, STALLED, TRUE, "X", "", None, t(0));
        assert!(!is_consistent(&c));
    }

    #[test]
    fn comparison_ignores_only_timestamps() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        apply_outcome(&mut a, &Outcome::ready("Succeeded", "ok"), Some(1), t(0));
        apply_outcome(&mut b, &Outcome::ready("Succeeded", "ok"), Some(1), t(100));
        assert!(same_ignoring_time(&a, &b));
        apply_outcome(
            &mut b,
            &Outcome::ready("Succeeded", "changed"),
            Some(1),
            t(100),
        );
        assert!(!same_ignoring_time(&a, &b));
    }
}
