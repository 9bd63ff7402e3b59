//! Retry policy: jittered exponential backoff that honours `Retry-After`.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// How transient failures are retried inside one client call. Controllers add their own,
/// slower requeue on top of this.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Backoff ceiling before the first retry; doubles on each retry.
    pub initial_backoff: Duration,
    /// Cap for the exponential backoff.
    pub max_backoff: Duration,
    /// A `Retry-After` longer than this is not waited for inside the call: the error is
    /// returned (with [`super::MendixError::retry_after`]) so the caller can requeue instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Ceiling of the backoff after failed attempt number `attempt` (1-based):
    /// `initial * 2^(attempt-1)`, capped at `max_backoff`.
    pub fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// The wait before the next attempt: "equal jitter" (half fixed, half random) so that
    /// many clients failing together spread out, never shorter than `Retry-After`.
    /// `None` when Mendix asked for a wait longer than `max_retry_after`.
    pub fn delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Option<Duration> {
        let ceiling = self.backoff_ceiling(attempt);
        let half = ceiling / 2;
        let jitter_nanos = rng.random_range(0..=half.as_nanos().min(u64::MAX as u128) as u64);
        let backoff = half + Duration::from_nanos(jitter_nanos);
        match retry_after {
            Some(wait) if wait > self.max_retry_after => None,
            Some(wait) => Some(wait.max(backoff.min(wait + half))),
            None => Some(backoff),
        }
    }
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    // A wait no clock can add (say 10^19 seconds) is no wait at all: ignored, like `1e300`.
    parse_retry_after_unchecked(value, now).filter(|wait| now.checked_add(*wait).is_some())
}

fn parse_retry_after_unchecked(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    // Fractional seconds are not in RFC 9110 but are common and harmless.
    if let Ok(seconds) = value.parse::<f64>() {
        // `try_from`: a value too large for a Duration (e.g. `1e300`) is ignored, not a panic.
        return (seconds >= 0.0)
            .then(|| Duration::try_from_secs_f64(seconds).ok())
            .flatten();
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let when = SystemTime::from(date.with_timezone(&chrono::Utc));
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(30),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = policy();
        let ceilings: Vec<u128> = (1..=6).map(|a| p.backoff_ceiling(a).as_millis()).collect();
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.backoff_ceiling(500), Duration::from_secs(1));
    }

    #[test]
    fn delay_is_jittered_within_half_and_full_ceiling() {
        let p = policy();
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let d = p.delay(3, None, &mut rng).unwrap();
            assert!(
                d >= Duration::from_millis(200) && d <= Duration::from_millis(400),
                "{d:?}"
            );
            seen.insert(d);
        }
        assert!(seen.len() > 50, "delays should vary, got {}", seen.len());
    }

    #[test]
    fn retry_after_is_a_lower_bound_and_has_a_limit() {
        let p = policy();
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..50 {
            let d = p.delay(1, Some(Duration::from_secs(2)), &mut rng).unwrap();
            assert!(
                d >= Duration::from_secs(2) && d <= Duration::from_millis(2050),
                "{d:?}"
            );
        }
        assert_eq!(p.delay(1, Some(Duration::from_secs(31)), &mut rng), None);
    }

    #[test]
    fn retry_after_formats() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // 1994-11-06 08:49:37
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("0.5", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }
}
