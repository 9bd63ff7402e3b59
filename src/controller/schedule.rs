//! The poll schedule for long Mendix jobs: the first poll soon, then doubling up to a ceiling
//! (2 s, 4 s, 8 s, … 60 s by default), so a reconcile never blocks on a job and a slow job costs
//! few calls. And the retry backoff of each object: a failure (Mendix unavailable, a Kubernetes
//! error, a conflict) waits longer each time it repeats, with jitter, so an outage does not turn
//! into a thundering herd of retries; a success starts it over.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;

/// Growing poll intervals, configured once per operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollSchedule {
    pub first: Duration,
    pub max: Duration,
}

impl Default for PollSchedule {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(2),
            max: Duration::from_secs(60),
        }
    }
}

impl PollSchedule {
    /// The wait before poll number `polls` (0-based) of one operation.
    pub fn interval(&self, polls: i32) -> Duration {
        let shift = polls.clamp(0, 20) as u32;
        self.first.saturating_mul(1u32 << shift).min(self.max)
    }

    /// The wait before the next poll of a job that has run `elapsed` and was still running at
    /// the last poll: an eighth of its running time, so its end is seen at most 12.5 % late,
    /// within the schedule's bounds.
    pub fn follow_up(&self, elapsed: Duration) -> Duration {
        (elapsed / 8).clamp(self.first, self.max.max(self.first))
    }
}

/// How a failure is retried: conflicts (a stale cached copy) soon, others on the poll schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    Conflict,
    Other,
}

/// Consecutive failures per object (by uid), and the delay each next retry waits.
#[derive(Default)]
pub struct RetryBackoff {
    failures: Mutex<HashMap<String, u32>>,
}

/// The first retry after a conflict, doubling up to [`CONFLICT_MAX`].
const CONFLICT_FIRST: Duration = Duration::from_millis(100);
const CONFLICT_MAX: Duration = Duration::from_secs(5);

impl RetryBackoff {
    /// Counts one more failure of `uid` and returns how long to wait before retrying it:
    /// doubling from the schedule's first interval (100 ms for a conflict) up to its ceiling,
    /// each delay drawn between 75 % and 125 % of that.
    pub fn failed(&self, uid: &str, failure: Failure, schedule: &PollSchedule) -> Duration {
        let count = self
            .failures
            .lock()
            .map(|mut all| {
                let n = all.entry(uid.to_string()).or_insert(0);
                *n = n.saturating_add(1);
                *n
            })
            .unwrap_or(1);
        let (first, max) = match failure {
            Failure::Conflict => (
                CONFLICT_FIRST,
                CONFLICT_MAX.min(schedule.max.max(CONFLICT_FIRST)),
            ),
            Failure::Other => (schedule.first, schedule.max.max(schedule.first)),
        };
        let shift = count.saturating_sub(1).min(20);
        let base = first.saturating_mul(1u32 << shift).min(max);
        base.mul_f64(rand::rng().random_range(0.75..=1.25))
    }

    /// `uid` reconciled without a failure: its next failure waits the shortest time again.
    pub fn succeeded(&self, uid: &str) {
        if let Ok(mut all) = self.failures.lock() {
            all.remove(uid);
        }
    }

    /// Consecutive failures of `uid` so far.
    pub fn failures(&self, uid: &str) -> u32 {
        self.failures
            .lock()
            .ok()
            .and_then(|all| all.get(uid).copied())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_per_object_with_jitter_and_start_over_after_a_success() {
        let backoff = RetryBackoff::default();
        let s = PollSchedule::default();
        let waits: Vec<Duration> = (0..8)
            .map(|_| backoff.failed("a", Failure::Other, &s))
            .collect();
        for (n, wait) in waits.iter().enumerate() {
            let base = s.interval(n as i32);
            assert!(
                *wait >= base.mul_f64(0.75) && *wait <= base.mul_f64(1.25),
                "retry {n}: {wait:?} around {base:?}"
            );
        }
        // Another object is not slowed by the first one's failures.
        assert!(backoff.failed("b", Failure::Other, &s) <= s.first.mul_f64(1.25));
        backoff.succeeded("a");
        assert_eq!(backoff.failures("a"), 0);
        assert!(backoff.failed("a", Failure::Conflict, &s) <= CONFLICT_FIRST.mul_f64(1.25));
        // Jitter: a thousand objects failing at once do not all come back at the same instant.
        let spread: std::collections::BTreeSet<u128> = (0..1000)
            .map(|i| {
                backoff
                    .failed(&format!("o{i}"), Failure::Other, &s)
                    .as_millis()
            })
            .collect();
        assert!(spread.len() > 100, "{} distinct delays", spread.len());
    }

    #[test]
    fn doubles_from_two_seconds_to_a_minute() {
        let s = PollSchedule::default();
        let secs: Vec<u64> = (0..8).map(|n| s.interval(n).as_secs()).collect();
        assert_eq!(secs, [2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn huge_and_negative_counts_are_clamped() {
        let s = PollSchedule::default();
        assert_eq!(s.interval(i32::MAX), Duration::from_secs(60));
        assert_eq!(s.interval(-5), Duration::from_secs(2));
    }

    #[test]
    fn follow_ups_wait_an_eighth_of_the_running_time() {
        let s = PollSchedule::default();
        assert_eq!(s.follow_up(Duration::from_secs(3)), Duration::from_secs(2));
        assert_eq!(
            s.follow_up(Duration::from_secs(80)),
            Duration::from_secs(10)
        );
        assert_eq!(
            s.follow_up(Duration::from_secs(3600)),
            Duration::from_secs(60)
        );
    }
}
