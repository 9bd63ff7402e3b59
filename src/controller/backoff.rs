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

    /// The wait before the next poll of a job that has run `elapsed` and was still running at
    /// the last poll: an eighth of its running time, so its end is seen at most 12.5 % late,
    /// within the schedule's bounds.
    pub fn follow_up(&self, elapsed: Duration) -> Duration {
        (elapsed / 8).clamp(self.first, self.max.max(self.first))
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
