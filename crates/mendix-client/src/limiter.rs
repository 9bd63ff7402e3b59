//! Politeness per API host: at most N requests in flight and a request rate limit (token
//! bucket). Mendix documents no rate limit; these keep the operator a good citizen anyway.
//!
//! When the rate limit binds, waiting requests are let through by [`RequestKind`], the kind
//! nearest the end of its work first, and in arrival order within a kind. A deploy that has
//! begun is finished before the next one begins: its start goes out early and its job runs
//! while the others queue, so the last app of a rollout is started at about (writes / rate)
//! instead of at the end of a window in which every deploy moved one step at a time.

use std::cmp::Ordering as Order;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
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
    /// Let waiting requests through by kind (see the module doc); `false`: in arrival order,
    /// as independent clients sharing a limit would be.
    pub by_kind: bool,
}

impl Default for HostLimits {
    fn default() -> Self {
        Self {
            max_in_flight: 8,
            requests_per_second: 10.0,
            burst: 10,
            by_kind: true,
        }
    }
}

/// What a request does: under the rate limit, later kinds are let through first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequestKind {
    /// It asks how a job that runs anyway is doing.
    Poll,
    /// It reads what a decision needs.
    Read,
    /// The first write of a piece of work (the stop before a transport).
    Begin,
    /// Any other write.
    #[default]
    Write,
    /// The write that ends a piece of work and sets its job running (a start).
    Finish,
}

/// The limiter of one host.
#[derive(Debug)]
pub struct HostLimiter {
    in_flight: Arc<Semaphore>,
    rate: f64,
    burst: f64,
    by_kind: bool,
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    updated: Instant,
    waiting: BinaryHeap<Waiter>,
    /// Arrival order, for the order within a kind.
    arrivals: u64,
    /// A task is letting the waiting through as tokens come.
    dispatching: bool,
}

#[derive(Debug)]
struct Waiter {
    kind: RequestKind,
    arrival: u64,
    wake: oneshot::Sender<()>,
}

impl Waiter {
    /// The order the heap pops in: the greater goes first.
    fn key(&self) -> (RequestKind, std::cmp::Reverse<u64>) {
        (self.kind, std::cmp::Reverse(self.arrival))
    }
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Order> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> Order {
        self.key().cmp(&other.key())
    }
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
            by_kind: limits.by_kind,
            state: Arc::new(Mutex::new(State {
                tokens: burst,
                updated: Instant::now(),
                waiting: BinaryHeap::new(),
                arrivals: 0,
                dispatching: false,
            })),
        }
    }

    /// Waits for a rate token (see the module doc for the order), then for a free in-flight
    /// slot. Dropping the future before the token comes gives up its place.
    pub async fn acquire(&self, kind: RequestKind) -> Slot {
        if self.rate > 0.0 {
            let woken = {
                let mut state = lock(&self.state);
                refill(&mut state, self.rate, self.burst);
                if state.waiting.is_empty() && state.tokens >= 1.0 {
                    state.tokens -= 1.0;
                    None
                } else {
                    let (wake, woken) = oneshot::channel();
                    state.arrivals += 1;
                    let arrival = state.arrivals;
                    let kind = if self.by_kind {
                        kind
                    } else {
                        RequestKind::Write
                    };
                    state.waiting.push(Waiter {
                        kind,
                        arrival,
                        wake,
                    });
                    if !state.dispatching {
                        state.dispatching = true;
                        tokio::spawn(dispatch(self.state.clone(), self.rate, self.burst));
                    }
                    Some(woken)
                }
            };
            if let Some(woken) = woken {
                // The dispatcher never drops a waiter without waking it.
                let _ = woken.await;
            }
        }
        // The semaphore is never closed; if it were, the limit would simply be gone.
        let permit = self.in_flight.clone().acquire_owned().await.ok();
        Slot { _permit: permit }
    }

    /// How long the requests already waiting that go before a new request of `kind` will take
    /// to be let through: zero unless the rate limit binds. Polls do not wait for each other,
    /// so a poll's backlog counts the other kinds only.
    pub fn backlog(&self, kind: RequestKind) -> Duration {
        if self.rate <= 0.0 {
            return Duration::ZERO;
        }
        let mut state = lock(&self.state);
        refill(&mut state, self.rate, self.burst);
        let ahead = state
            .waiting
            .iter()
            .filter(|w| {
                !w.wake.is_closed()
                    && w.kind > RequestKind::Poll
                    && (w.kind >= kind || !self.by_kind)
            })
            .count() as f64;
        let deficit = (ahead - state.tokens).max(0.0);
        Duration::from_secs_f64(deficit / self.rate)
    }
}

/// Lets the waiting through, one per token, the greatest first; ends when none wait.
async fn dispatch(state: Arc<Mutex<State>>, rate: f64, burst: f64) {
    loop {
        let wait = {
            let mut state = lock(&state);
            refill(&mut state, rate, burst);
            while state.tokens >= 1.0 {
                let Some(waiter) = state.waiting.pop() else {
                    break;
                };
                // A waiter that gave up takes no token.
                if waiter.wake.send(()).is_ok() {
                    state.tokens -= 1.0;
                }
            }
            if state.waiting.is_empty() {
                state.dispatching = false;
                return;
            }
            Duration::from_secs_f64((1.0 - state.tokens).max(0.0) / rate)
        };
        tokio::time::sleep(wait).await;
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    match state.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Tops the bucket up for the time since it was last used.
fn refill(state: &mut State, rate: f64, burst: f64) {
    let now = Instant::now();
    let elapsed = now.saturating_duration_since(state.updated).as_secs_f64();
    state.tokens = (state.tokens + elapsed * rate).min(burst);
    state.updated = now;
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

    fn limits(max_in_flight: usize, requests_per_second: f64, burst: u32) -> HostLimits {
        HostLimits {
            max_in_flight,
            requests_per_second,
            burst,
            by_kind: true,
        }
    }

    #[tokio::test]
    async fn in_flight_never_exceeds_the_limit() {
        let limiter = Arc::new(HostLimiter::new(&limits(3, 0.0, 1)));
        let current = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (limiter, current, peak) = (limiter.clone(), current.clone(), peak.clone());
                tokio::spawn(async move {
                    let _slot = limiter.acquire(RequestKind::Write).await;
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
        let limiter = HostLimiter::new(&limits(100, 10.0, 5));
        let start = Instant::now();
        for _ in 0..25 {
            let _slot = limiter.acquire(RequestKind::Write).await;
        }
        // 5 immediately, then 20 more at 10/s: 2 s of (virtual, paused) time.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(1990), "{elapsed:?}");
        assert!(elapsed <= Duration::from_millis(2100), "{elapsed:?}");
    }

    /// Queues `kinds` (in this order) behind an empty bucket and returns the order in which
    /// they were let through, with the time each went.
    async fn release_order(by_kind: bool, kinds: &[RequestKind]) -> Vec<(RequestKind, Duration)> {
        let limiter = Arc::new(HostLimiter::new(&HostLimits {
            by_kind,
            ..limits(100, 10.0, 1)
        }));
        let start = Instant::now();
        drop(limiter.acquire(RequestKind::Write).await);
        let released = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = kinds
            .iter()
            .map(|&kind| {
                let (limiter, released) = (limiter.clone(), released.clone());
                tokio::spawn(async move {
                    drop(limiter.acquire(kind).await);
                    lock_vec(&released).push((kind, start.elapsed()));
                })
            })
            .collect();
        for task in tasks {
            // Spawned tasks run in spawn order: each queues before the next.
            tokio::task::yield_now().await;
            task.await.unwrap();
        }
        lock_vec(&released).clone()
    }

    fn lock_vec<T>(v: &Mutex<Vec<T>>) -> MutexGuard<'_, Vec<T>> {
        v.lock().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_requests_go_by_kind_the_end_of_a_piece_of_work_first() {
        use RequestKind::*;
        let queued = [Poll, Read, Begin, Write, Finish, Read, Finish, Poll];
        let order = release_order(true, &queued).await;
        let kinds: Vec<_> = order.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            [Finish, Finish, Write, Begin, Read, Read, Poll, Poll]
        );
        // Still one per token: 8 more at 10/s after the first.
        let last = order.last().unwrap().1;
        assert!(
            last >= Duration::from_millis(790) && last <= Duration::from_millis(850),
            "{last:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_order_by_kind_requests_go_in_arrival_order() {
        use RequestKind::*;
        let queued = [Poll, Read, Begin, Write, Finish, Read];
        let kinds: Vec<_> = release_order(false, &queued)
            .await
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(kinds, queued);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_given_up_while_waiting_takes_no_token() {
        let limiter = Arc::new(HostLimiter::new(&limits(100, 10.0, 1)));
        drop(limiter.acquire(RequestKind::Write).await);
        let start = Instant::now();
        // Given up after 50 ms, before its token (due at 100 ms) came.
        let given_up = tokio::time::timeout(
            Duration::from_millis(50),
            limiter.acquire(RequestKind::Finish),
        )
        .await;
        assert!(given_up.is_err());
        drop(limiter.acquire(RequestKind::Write).await);
        let elapsed = start.elapsed();
        assert!(elapsed <= Duration::from_millis(110), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_backlog_is_the_time_requests_ahead_still_wait() {
        let limiter = Arc::new(HostLimiter::new(&limits(100, 10.0, 1)));
        assert_eq!(limiter.backlog(RequestKind::Read), Duration::ZERO);
        drop(limiter.acquire(RequestKind::Write).await);
        let queue = |kind, n| -> Vec<_> {
            (0..n)
                .map(|_| {
                    let limiter = limiter.clone();
                    tokio::spawn(async move { drop(limiter.acquire(kind).await) })
                })
                .collect()
        };
        // Ten writes and five polls wait, 0.1 s a token.
        let mut waiting = queue(RequestKind::Write, 10);
        waiting.extend(queue(RequestKind::Poll, 5));
        tokio::task::yield_now().await;
        let within = |backlog: Duration, secs: f64| {
            let secs_ = backlog.as_secs_f64();
            assert!(
                (secs - 0.11..=secs).contains(&secs_),
                "{backlog:?}, want ~{secs}"
            );
        };
        // A read or a poll goes after the writes; polls do not wait for each other.
        within(limiter.backlog(RequestKind::Read), 1.0);
        within(limiter.backlog(RequestKind::Poll), 1.0);
        // A start goes before them all.
        assert_eq!(limiter.backlog(RequestKind::Finish), Duration::ZERO);
        for task in waiting {
            task.await.unwrap();
        }
        assert_eq!(limiter.backlog(RequestKind::Read), Duration::ZERO);
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
