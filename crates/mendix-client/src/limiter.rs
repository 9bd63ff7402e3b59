//! Politeness per API host: at most N requests in flight and a request rate limit (token
//! bucket). Mendix documents no rate limit; these keep the operator a good citizen anyway.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Per-host limits. Both v1 APIs share `deploy.mendix.com`, both v4 APIs share
/// `privatecloud.mendixcloud.com`, so each pair shares one budget.
#[derive(Clone, Debug, PartialEq)]
pub struct HostLimits {
    /// Requests in flight at once per host (at least 1).
    pub max_in_flight: usize,
    /// Sustained requests per second per host; 0 disables the rate limit.
    pub requests_per_second: f64,
    /// Requests that may start at once after a quiet period (at least 1).
    pub burst: u32,
}

impl Default for HostLimits {
    fn default() -> Self {
        Self {
            max_in_flight: 8,
            requests_per_second: 10.0,
            burst: 10,
        }
    }
}

/// The limiter of one host.
#[derive(Debug)]
pub struct HostLimiter {
    in_flight: Arc<Semaphore>,
    rate: f64,
    burst: f64,
    bucket: Mutex<Bucket>,
    /// Polls waiting for their token: not counted in the [`HostLimiter::backlog`] of steps.
    polls_waiting: AtomicUsize,
}

/// What a request does, for [`HostLimiter::backlog`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RequestKind {
    /// It moves work forward (a read a decision needs, stop, transport, start, …).
    #[default]
    Step,
    /// It asks how a job that runs anyway is doing.
    Poll,
}

#[derive(Debug)]
struct Bucket {
    /// May go negative: each caller reserves a token and sleeps until it exists.
    tokens: f64,
    updated: Instant,
}

/// Held while a request is in flight; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
}

impl HostLimiter {
    pub fn new(limits: &HostLimits) -> Self {
        let burst = f64::from(limits.burst.max(1));
        Self {
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            rate: limits.requests_per_second.max(0.0),
            burst,
            bucket: Mutex::new(Bucket {
                tokens: burst,
                updated: Instant::now(),
            }),
            polls_waiting: AtomicUsize::new(0),
        }
    }

    /// Waits for a rate token, then for a free in-flight slot.
    pub async fn acquire(&self, kind: RequestKind) -> Slot {
        if let Some(wait) = self.reserve_token() {
            if kind == RequestKind::Poll {
                self.polls_waiting.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(wait).await;
                self.polls_waiting.fetch_sub(1, Ordering::Relaxed);
            } else {
                tokio::time::sleep(wait).await;
            }
        }
        // The semaphore is never closed; if it were, the limit would simply be gone.
        let permit = self.in_flight.clone().acquire_owned().await.ok();
        Slot { _permit: permit }
    }

    /// Takes a token and returns how long to wait until it is really available.
    fn reserve_token(&self) -> Option<Duration> {
        if self.rate <= 0.0 {
            return None;
        }
        let mut bucket = self.refilled();
        bucket.tokens -= 1.0;
        (bucket.tokens < 0.0).then(|| Duration::from_secs_f64(-bucket.tokens / self.rate))
    }

    /// How long the steps already waiting for a token will take to be let through: zero
    /// unless the rate limit binds. A poll of a job that runs anyway is better sent after
    /// them than in their way (other polls do not count: they need not wait for each other).
    pub fn backlog(&self) -> Duration {
        if self.rate <= 0.0 {
            return Duration::ZERO;
        }
        let reserved = -self.refilled().tokens;
        let steps = reserved - self.polls_waiting.load(Ordering::Relaxed) as f64;
        Duration::from_secs_f64(steps.max(0.0) / self.rate)
    }

    /// The bucket, topped up for the time since it was last used.
    fn refilled(&self) -> std::sync::MutexGuard<'_, Bucket> {
        let mut bucket = match self.bucket.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.updated = now;
        bucket
    }
}

/// One limiter per host (`host:port`), created on first use.
#[derive(Debug, Default)]
pub struct Limiters {
    limits: HostLimits,
    hosts: Mutex<HashMap<String, Arc<HostLimiter>>>,
}

impl Limiters {
    pub fn new(limits: HostLimits) -> Self {
        Self {
            limits,
            hosts: Mutex::default(),
        }
    }

    pub fn for_host(&self, host_key: &str) -> Arc<HostLimiter> {
        let mut hosts = match self.hosts.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        hosts
            .entry(host_key.to_string())
            .or_insert_with(|| Arc::new(HostLimiter::new(&self.limits)))
            .clone()
    }
}

/// The key a URL's limiter is found by.
pub fn host_key(url: &url::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_flight_never_exceeds_the_limit() {
        let limits = HostLimits {
            max_in_flight: 3,
            requests_per_second: 0.0,
            burst: 1,
        };
        let limiter = Arc::new(HostLimiter::new(&limits));
        let current = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (limiter, current, peak) = (limiter.clone(), current.clone(), peak.clone());
                tokio::spawn(async move {
                    let _slot = limiter.acquire(RequestKind::Step).await;
                    let now = current.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    for _ in 0..5 {
                        tokio::task::yield_now().await;
                    }
                    current.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!((1..=3).contains(&peak), "peak in flight {peak}");
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limit_spaces_requests_after_the_burst() {
        let limits = HostLimits {
            max_in_flight: 100,
            requests_per_second: 10.0,
            burst: 5,
        };
        let limiter = HostLimiter::new(&limits);
        let start = Instant::now();
        for _ in 0..25 {
            let _slot = limiter.acquire(RequestKind::Step).await;
        }
        // 5 immediately, then 20 more at 10/s: 2 s of (virtual, paused) time.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(1990), "{elapsed:?}");
        assert!(elapsed <= Duration::from_millis(2100), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_backlog_is_the_time_reserved_requests_still_wait() {
        let limits = HostLimits {
            max_in_flight: 100,
            requests_per_second: 10.0,
            burst: 1,
        };
        let limiter = Arc::new(HostLimiter::new(&limits));
        assert_eq!(limiter.backlog(), Duration::ZERO);
        let queue = |kind| -> Vec<_> {
            (0..11)
                .map(|_| {
                    let limiter = limiter.clone();
                    tokio::spawn(async move { drop(limiter.acquire(kind).await) })
                })
                .collect()
        };
        // 11 requests at once: one goes, ten wait 0.1 s each.
        let waiting = queue(RequestKind::Step);
        tokio::task::yield_now().await;
        let backlog = limiter.backlog();
        assert!(
            backlog > Duration::from_millis(900) && backlog <= Duration::from_secs(1),
            "{backlog:?}"
        );
        for task in waiting {
            task.await.unwrap();
        }
        assert_eq!(limiter.backlog(), Duration::ZERO);

        // Polls queued under the limit are not a backlog of steps.
        let polls = queue(RequestKind::Poll);
        tokio::task::yield_now().await;
        assert!(
            limiter.backlog() < Duration::from_millis(150),
            "{:?}",
            limiter.backlog()
        );
        for task in polls {
            task.await.unwrap();
        }
    }

    #[test]
    fn hosts_have_separate_limiters() {
        let limiters = Limiters::new(HostLimits::default());
        let a = limiters.for_host("a:443");
        let b = limiters.for_host("b:443");
        assert!(!Arc::ptr_eq(&a, &b));
        assert!(Arc::ptr_eq(&a, &limiters.for_host("a:443")));
        let url = url::Url::parse("https://deploy.mendix.com/api/1").unwrap();
        assert_eq!(host_key(&url), "deploy.mendix.com:443");
    }
}
