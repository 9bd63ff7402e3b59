//! Politeness per API host: at most N requests in flight and a request rate limit (token
//! bucket). Mendix documents no rate limit; these keep the operator a good citizen anyway.

use std::collections::HashMap;
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
}

#[derive(Debug)]
struct Bucket {
    /// May go negative: each caller reserves a token and sleeps until it exists.
    tokens: f64,
    updated: Instant,
}

/// Which requests go first when the rate limit binds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Priority {
    /// A request that moves work forward (reads a deploy decides on, stop, transport, start).
    #[default]
    Step,
    /// A poll of a job Mendix runs anyway: seeing its end a little later costs nothing but the
    /// end's own latency, while a step held back delays everything after it. A poll waits while
    /// steps hold the rate budget, for at most [`POLL_YIELD_MAX`], then queues like a step.
    Poll,
}

/// The longest a poll yields the rate budget to steps.
pub const POLL_YIELD_MAX: Duration = Duration::from_secs(30);

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
        }
    }

    /// Waits for a rate token, then for a free in-flight slot.
    pub async fn acquire(&self, priority: Priority) -> Slot {
        if priority == Priority::Poll {
            // Take a token only when no step has reserved it: steps reserve ahead (the bucket
            // goes negative), so a poll waits until they are served.
            let deadline = Instant::now() + POLL_YIELD_MAX;
            while let Some(wait) = self.spare_token_in() {
                let now = Instant::now();
                if now + wait > deadline {
                    break;
                }
                tokio::time::sleep(wait).await;
            }
        }
        if let Some(wait) = self.reserve_token() {
            tokio::time::sleep(wait).await;
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

    /// `None` when a token is free now (nobody reserved it); else how long until one may be.
    fn spare_token_in(&self) -> Option<Duration> {
        if self.rate <= 0.0 {
            return None;
        }
        let bucket = self.refilled();
        (bucket.tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
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
    use std::sync::atomic::{AtomicUsize, Ordering};

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
                    let _slot = limiter.acquire(Priority::Step).await;
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
            let _slot = limiter.acquire(Priority::Step).await;
        }
        // 5 immediately, then 20 more at 10/s: 2 s of (virtual, paused) time.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(1990), "{elapsed:?}");
        assert!(elapsed <= Duration::from_millis(2100), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn polls_yield_to_steps_for_a_while_only() {
        let limits = HostLimits {
            max_in_flight: 100,
            requests_per_second: 10.0,
            burst: 1,
        };
        let limiter = Arc::new(HostLimiter::new(&limits));
        let start = Instant::now();
        let served = Arc::new(Mutex::new(Vec::new()));
        let take = |name: &'static str, priority: Priority, after: Duration| {
            let (limiter, served) = (limiter.clone(), served.clone());
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let _slot = limiter.acquire(priority).await;
                served.lock().unwrap().push(name);
            })
        };
        // With nothing queued, a poll goes at once.
        let _slot = limiter.acquire(Priority::Poll).await;
        assert!(start.elapsed() < Duration::from_millis(10));
        // 10 steps queued (1 s of budget at 10/s), then a poll: the steps are served first.
        let mut tasks: Vec<_> = (0..10)
            .map(|_| take("step", Priority::Step, Duration::ZERO))
            .collect();
        tasks.push(take("poll", Priority::Poll, Duration::from_millis(1)));
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(served.lock().unwrap().last(), Some(&"poll"));
        assert!(
            start.elapsed() < Duration::from_millis(1300),
            "{:?}",
            start.elapsed()
        );

        // Steps that never stop: the poll still goes once it has yielded POLL_YIELD_MAX.
        let start = Instant::now();
        let steps = {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                loop {
                    let _slot = limiter.acquire(Priority::Step).await;
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _slot = limiter.acquire(Priority::Poll).await;
        let waited = start.elapsed();
        steps.abort();
        assert!(waited >= POLL_YIELD_MAX, "{waited:?}");
        assert!(
            waited < POLL_YIELD_MAX + Duration::from_secs(5),
            "{waited:?}"
        );
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
