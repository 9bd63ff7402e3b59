//! The poll schedule for long Mendix jobs: the first poll soon, then doubling up to a ceiling
//! (2 s, 4 s, 8 s, … 60 s by default), so a reconcile never blocks on a job and a slow job costs
//! few calls.

use std::time::Duration;

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

    /// How many polls a job of `duration` costs at most under this schedule: an upper bound tests
    /// use to assert the number of remote calls stays bounded.
    pub fn polls_within(&self, duration: Duration) -> u32 {
        let mut elapsed = Duration::ZERO;
        let mut polls = 0;
        while elapsed < duration {
            elapsed += self.interval(polls as i32);
            polls += 1;
        }
        polls.max(1)
    }
}

/// How long Mendix jobs of one kind take per app, learned from the jobs this process followed.
/// Jobs of one kind and app take similar times (a start of the same model), so a new job's
/// first poll waits about that long instead of polling early and often: fewer requests, and the
/// end is seen soon after it happens. Apps are kept apart: a large app's starts say nothing
/// about a small one's.
///
/// A job is only seen ended at a poll, so what is learned is an upper bound: the time of the
/// poll that saw the end (so the next job is polled once, not early and again), pulled a little
/// lower each time a first poll already finds the job ended. It settles just above the real
/// duration, with an occasional second poll.
#[derive(Debug, Default)]
pub struct JobDurations(std::sync::Mutex<std::collections::HashMap<String, Duration>>);

/// How much a first poll that finds the job ended lowers the next estimate.
const SHORTER: f64 = 0.9;
/// Weight of the newest job in the process-wide estimate.
const NEWEST_WEIGHT: f64 = 0.25;

impl JobDurations {
    /// The wait before the first poll of a job of `app`: the job's own history when it has one
    /// (`own`, e.g. the environment's last start), else what this process learned of the app,
    /// else the schedule's first interval.
    pub fn first_poll(
        &self,
        app: &str,
        own: Option<Duration>,
        schedule: &PollSchedule,
    ) -> Duration {
        own.or_else(|| self.0.lock().ok().and_then(|apps| apps.get(app).copied()))
            .unwrap_or(schedule.first)
            .max(schedule.first.min(Duration::from_secs(1)))
    }

    /// A job of `app` was seen ended `elapsed` after it started, by the first poll of it or by a
    /// later one. Returns what the job's own history should say now.
    pub fn ended(&self, app: &str, elapsed: Duration, at_first_poll: bool) -> Duration {
        let learned = if at_first_poll {
            elapsed.mul_f64(SHORTER)
        } else {
            elapsed
        };
        if let Ok(mut apps) = self.0.lock() {
            let estimate = apps.entry(app.to_string()).or_insert(learned);
            *estimate = estimate.mul_f64(1.0 - NEWEST_WEIGHT) + learned.mul_f64(NEWEST_WEIGHT);
        }
        learned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn first_polls_follow_what_jobs_took() {
        let schedule = PollSchedule::default();
        let jobs = JobDurations::default();
        let secs = Duration::from_secs;
        // Nothing learned: the schedule's first interval.
        assert_eq!(jobs.first_poll("calc", None, &schedule), secs(2));
        // Seen ended by a later poll, 16 s in: the next start of the app is first polled then.
        assert_eq!(jobs.ended("calc", secs(16), false), secs(16));
        assert_eq!(jobs.first_poll("calc", None, &schedule), secs(16));
        // Another app learned nothing from it.
        assert_eq!(jobs.first_poll("crm", None, &schedule), secs(2));
        // Ended at the first poll: it may have ended earlier, so the estimate comes down.
        let own = jobs.ended("calc", secs(16), true);
        assert_eq!(own, Duration::from_millis(14_400));
        let app = jobs.first_poll("calc", None, &schedule);
        assert!(app < secs(16) && app > own, "{app:?}");
        // An environment's own history wins over what the app's other environments showed.
        assert_eq!(jobs.first_poll("calc", Some(secs(40)), &schedule), secs(40));
    }

    #[test]
    fn poll_bound_grows_logarithmically_then_linearly() {
        let s = PollSchedule::default();
        assert_eq!(s.polls_within(Duration::from_secs(1)), 1);
        assert_eq!(s.polls_within(Duration::from_secs(30)), 4); // 2+4+8+16
        assert_eq!(s.polls_within(Duration::from_secs(600)), 14); // 2+4+8+16+32 = 62, then 60 s steps
    }
}
