//! When to poll a Mendix Cloud start, from how long starts took before.
//!
//! The v1 API tells only, at a poll, whether a start has ended. Polling early and often sees
//! the end soon but costs requests; polling rarely costs the time between the end and the
//! poll that sees it. So the first poll of a start waits about as long as a start is known to
//! take, from the best source there is:
//!
//! 1. the environment's own last start (`status.startDurationMs`, kept across restarts);
//! 2. what starts of other environments of the same app took in this process;
//! 3. the fastest recent start of any app in this process (the fleet).
//!
//! With none of them, one start (the scout) is followed closely, every eighth of its running
//! time, while other starts with no history wait for what it shows — woken the moment it ends,
//! or polled on their own once they have waited five longest poll intervals. A rollout of many
//! apps then costs about one poll per start instead of one per step of a growing schedule.
//! The scout is polled by a task of its own, not by requeues: in a rollout, a requeued
//! reconcile waits behind every other resource's, and a late poll would teach everyone a
//! start time far longer than the real one.
//!
//! A start is only seen ended at a poll, so what a poll that finds it ended teaches is an upper
//! bound; a poll that finds it still running teaches a lower one. A start still running when
//! its estimate is up is polled again at short steps (a fiftieth of the estimate, doubling), so
//! its end is seen within a step and the estimate it leaves is close to the truth. One whose
//! first poll already finds it ended lowers its environment's estimate a little, so the
//! estimate also comes down to an app that got faster — unless a start of the environment was
//! lately seen running just below it (the estimate is known to be tight), for a few starts.
//! The fleet's estimate is the least upper bound of many starts and is used as it is.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::schedule::PollSchedule;

/// How much a first poll that finds the start ended lowers the environment's own estimate.
const SHORTER: f64 = 0.95;
/// The first step after a start was seen running past its estimate: this part of the estimate.
const STEP_DIVISOR: u32 = 50;
/// The shortest step.
const SHORTEST_STEP: Duration = Duration::from_millis(50);
/// An estimate within this part of a start lately seen running is tight: not lowered.
const TIGHT_DIVISOR: u32 = 40;
/// How many starts a tight estimate is kept before it is probed lower again.
const TIGHT_ROUNDS: u8 = 8;
/// A tight estimate probed lower goes this far below (about one and a half steps), so the
/// start it finds still running ends within a step or two.
const PROBE: f64 = 0.97;
/// Steps after a start was seen running past its estimate that keep the first step's length.
const EVEN_STEPS: u32 = 3;
/// Weight of the newest start in an app's estimate.
const NEWEST_WEIGHT: f64 = 0.25;
/// How many recent starts the fleet estimate is taken from.
const FLEET_WINDOW: usize = 32;
/// How long a start with no history waits for the scout, in longest poll intervals (5 min by
/// default: longer than most starts, short enough that a fast app is not held for long behind
/// a slow scout).
pub const HOLD_LIMIT: u32 = 5;

/// What to do about a start that has not been polled yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstPoll {
    /// Poll it now.
    Now,
    /// Look again after this long, without a request.
    Wait(Duration),
    /// It is the scout now: follow it with a task of its own (see the module documentation),
    /// and look again after this long (the task wakes it when the start ends).
    Scout(Duration),
    /// The scout's task saw it end: this is what the environment's history should say.
    Ended(Duration),
}

/// One start, as its environment's status records it.
#[derive(Clone, Copy, Debug)]
pub struct StartRef<'a> {
    /// Names the environment.
    pub key: &'a str,
    /// The Mendix start job.
    pub job: &'a str,
    pub app: &'a str,
    /// How long the environment's last start took.
    pub own: Option<Duration>,
    /// How long this start has run.
    pub elapsed: Duration,
}

/// Where an estimate came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Own,
    App,
    Fleet,
}

/// What this process knows of start times, and which starts wait on the scout. `W` is what a
/// waiting start is woken by (the environment's object reference).
pub struct StartTimes<W> {
    state: Mutex<State<W>>,
    /// Every environment controller (one per watched namespace) hears every wake-up; each
    /// reconciles those of its own store.
    wake: tokio::sync::broadcast::Sender<W>,
}

/// Wake-ups a controller may fall behind on before it misses some (a missed start polls on its
/// own after five longest poll intervals).
const WAKE_BACKLOG: usize = 4096;

struct State<W> {
    apps: HashMap<String, Duration>,
    fleet: VecDeque<Duration>,
    scout: Option<Scout>,
    waiting: HashMap<String, W>,
    /// Starts the scout's task saw end (key → job, learned duration; `None` when it could not
    /// tell), until their environment reconciles.
    scouted: HashMap<String, (String, Option<Duration>)>,
    /// Per environment: what its recent starts showed of how long they take.
    bounds: HashMap<String, Bounds>,
}

#[derive(Default)]
struct Bounds {
    /// How long its last start that a poll found still running had run then: a lower bound,
    /// trusted for `rounds` more starts.
    running_at: Option<(Duration, u8)>,
    /// First polls in a row that found the start ended: each lowers the estimate further.
    descents: u32,
}

struct Scout {
    key: String,
    job: String,
    /// Its task's last poll: a task that stops polling is replaced.
    last_seen: Instant,
}

impl<W: Clone> Default for StartTimes<W> {
    fn default() -> Self {
        let (wake, _) = tokio::sync::broadcast::channel(WAKE_BACKLOG);
        Self {
            state: Mutex::new(State {
                apps: HashMap::new(),
                fleet: VecDeque::new(),
                scout: None,
                waiting: HashMap::new(),
                scouted: HashMap::new(),
                bounds: HashMap::new(),
            }),
            wake,
        }
    }
}

impl<W: Clone + Send + 'static> StartTimes<W> {
    /// The starts to reconcile again because what they waited for is known now: every caller
    /// (each environment controller) hears every one from the moment it calls.
    pub fn woken(&self) -> impl futures::Stream<Item = W> + Send + 'static {
        futures::stream::unfold(self.wake.subscribe(), |mut wakes| async move {
            loop {
                match wakes.recv().await {
                    Ok(waiter) => return Some((waiter, wakes)),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }

    /// Reconciles `waiter` soon.
    fn wake(&self, waiter: W) {
        // Without a controller listening nobody waits.
        let _ = self.wake.send(waiter);
    }

    /// Reconciles every start that waits on the scout (sending never blocks).
    fn wake_waiting(&self, state: &mut State<W>) {
        for (_, waiter) in state.waiting.drain() {
            self.wake(waiter);
        }
    }

    /// Before the first poll of `start`: poll now, wait, scout it, or take what its scout saw.
    /// `waiter` wakes it when it waits on the scout. `backlog` is how long the requests already
    /// queued under the rate limit will take: a poll that is due waits for them (for at most
    /// half the longest poll interval), because they move deploys forward and the start runs
    /// anyway — and it waits as a requeue, not holding a reconcile slot.
    pub fn first_poll(
        &self,
        start: &StartRef<'_>,
        waiter: W,
        backlog: Duration,
        schedule: &PollSchedule,
    ) -> FirstPoll {
        let Ok(mut state) = self.state.lock() else {
            return FirstPoll::Now;
        };
        let (key, elapsed) = (start.key, start.elapsed);
        if let Some((job, learned)) = state.scouted.remove(key)
            && job == start.job
        {
            // What the task saw, or (it failed to tell) a poll of the start's own.
            return learned.map_or(FirstPoll::Now, FirstPoll::Ended);
        }
        // The shortest wait: a reconcile never comes straight back.
        let soonest = schedule.first.min(Duration::from_secs(1));
        let hold_left = (schedule.max * HOLD_LIMIT).saturating_sub(elapsed);
        if let Some(scout) = state.scout.as_ref().filter(|s| s.key == key) {
            // Followed by its task, which wakes it.
            if scout.job == start.job && !hold_left.is_zero() {
                return FirstPoll::Wait(hold_left.max(soonest));
            }
        }
        if let Some((estimate, _)) = state.estimate(start.app, start.own) {
            state.forget(key);
            let due = estimate.max(soonest);
            if elapsed < due {
                return FirstPoll::Wait(due - elapsed);
            }
            if !backlog.is_zero() && elapsed < due + schedule.max / 2 {
                return FirstPoll::Wait(backlog.max(schedule.follow_up(elapsed)));
            }
            return FirstPoll::Now;
        }
        if hold_left.is_zero() {
            // Waited as long as it may: it is polled on its own from here.
            state.forget(key);
            return FirstPoll::Now;
        }
        let scout_is_gone = state
            .scout
            .as_ref()
            .is_none_or(|s| s.key == key || s.last_seen.elapsed() > schedule.max * 2);
        if scout_is_gone {
            state.waiting.remove(key);
            state.scout = Some(Scout {
                key: key.to_string(),
                job: start.job.to_string(),
                last_seen: Instant::now(),
            });
            return FirstPoll::Scout(hold_left.max(soonest));
        }
        state.waiting.insert(key.to_string(), waiter);
        FirstPoll::Wait(hold_left.max(soonest))
    }

    /// The scout's task is about to poll `key` again; `false` when it is no longer the scout
    /// and should stop.
    pub fn scout_polls(&self, key: &str) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        match state.scout.as_mut().filter(|s| s.key == key) {
            Some(scout) => {
                scout.last_seen = Instant::now();
                true
            }
            None => false,
        }
    }

    /// The scout's task saw the start `start.job` end `elapsed` after it began: everyone
    /// learns it, the starts that waited are woken, and so is the scout's own environment
    /// (`waiter`), which takes the result from [`StartTimes::first_poll`].
    pub fn scout_ended(&self, start: &StartRef<'_>, waiter: W) {
        let learned = self.ended(start.key, start.app, start.own, start.elapsed, None);
        if let Ok(mut state) = self.state.lock() {
            state.scouted.insert(
                start.key.to_string(),
                (start.job.to_string(), Some(learned)),
            );
        }
        self.wake(waiter);
    }

    /// The scout's task could not tell how the start `start.job` ended (the start failed, a
    /// request failed, or it ran longer than anyone waits): its environment polls it itself
    /// and reports what it finds, and another start scouts.
    pub fn scout_failed(&self, start: &StartRef<'_>, waiter: W) {
        self.abandoned(start.key);
        if let Ok(mut state) = self.state.lock() {
            state
                .scouted
                .insert(start.key.to_string(), (start.job.to_string(), None));
        }
        self.wake(waiter);
    }

    /// A poll found the start `key` of `app` still running `elapsed` after it began, at its
    /// `polls`-th poll (0: the first). Returns the wait before the next poll: past the estimate,
    /// short steps that double (the end is near); with no estimate, an eighth of its running
    /// time.
    pub fn still_running(
        &self,
        key: &str,
        app: &str,
        own: Option<Duration>,
        elapsed: Duration,
        polls: u32,
        schedule: &PollSchedule,
    ) -> Duration {
        let coarse = schedule.follow_up(elapsed);
        let Ok(mut state) = self.state.lock() else {
            return coarse;
        };
        let bounds = state.bounds.entry(key.to_string()).or_default();
        bounds.running_at = Some((elapsed, TIGHT_ROUNDS));
        bounds.descents = 0;
        match state.estimate(app, own) {
            Some((estimate, _)) if elapsed >= estimate => {
                let step = (estimate / STEP_DIVISOR).max(SHORTEST_STEP);
                // A few even steps, then doubling: a start much longer than its estimate (an
                // app that got slower) is not polled every step to its end.
                step.saturating_mul(1 << polls.saturating_sub(EVEN_STEPS).min(16))
                    .min(coarse)
            }
            _ => coarse,
        }
    }

    /// The start `key` of `app` was seen ended `elapsed` after it began, by its first poll
    /// (`first_poll_sent`: how long the start had run when that poll was sent) or a later one
    /// (`None`). Returns what the environment's own history should say now, and wakes the
    /// starts that waited for a first estimate.
    pub fn ended(
        &self,
        key: &str,
        app: &str,
        own: Option<Duration>,
        elapsed: Duration,
        first_poll_sent: Option<Duration>,
    ) -> Duration {
        let Ok(mut state) = self.state.lock() else {
            return elapsed;
        };
        // Seen at a first poll, which waited for the estimate: the start took at most that long
        // as far as anyone can tell (a poll that came late says only that it came late).
        let (bound, source, sent) = match (first_poll_sent, state.estimate(app, own)) {
            (Some(sent), Some((estimate, source))) => (estimate.min(elapsed), Some(source), sent),
            _ => (elapsed, None, elapsed),
        };
        // Probe an environment's own estimate lower, unless it is known to be tight (a start
        // was lately seen running just below it); the fleet's is already the least of many.
        let learned = match source {
            Some(Source::Own | Source::App) => {
                let bounds = state.bounds.entry(key.to_string()).or_default();
                match bounds.running_at {
                    Some((running_at, rounds))
                        if rounds > 0
                            && bound.saturating_sub(running_at) <= bound / TIGHT_DIVISOR =>
                    {
                        bounds.running_at = Some((running_at, rounds - 1));
                        bound
                    }
                    Some((_, 0)) => {
                        // Kept long enough: probe just below it, in case the app got faster.
                        bounds.running_at = None;
                        bound.mul_f64(PROBE)
                    }
                    floor => {
                        // Each first poll in a row that finds the start ended lowers the
                        // estimate twice as far as the last (5 %, 10 %, 20 %, 40 %), never
                        // below a start lately seen running. It lowers from when the poll was
                        // sent, what it showed the start ended by: a poll that came late (a
                        // busy operator, a queue of reconciles) would have seen a shorter start
                        // ended too, so it cannot take an estimate already below the truth
                        // further down.
                        bounds.descents += 1;
                        let cut = (1.0 - SHORTER) * f64::from(1u32 << bounds.descents.min(4)) / 2.0;
                        let lowered = bound.min(sent.mul_f64(1.0 - cut));
                        floor.map_or(lowered, |(running_at, _)| lowered.max(running_at))
                    }
                }
            }
            _ => bound,
        };
        let app_estimate = state.apps.entry(app.to_string()).or_insert(learned);
        *app_estimate = app_estimate.mul_f64(1.0 - NEWEST_WEIGHT) + learned.mul_f64(NEWEST_WEIGHT);
        // Only a start seen running at an earlier poll, or one polled with no estimate (the
        // scout), says something new of how long starts take; a first poll that found the
        // start ended says only that the estimate was long enough.
        if source.is_none() {
            if state.fleet.len() == FLEET_WINDOW {
                state.fleet.pop_front();
            }
            state.fleet.push_back(bound);
        }
        state.forget(key);
        self.wake_waiting(&mut state);
        learned
    }

    /// The start `key` ended without a duration to learn (it failed, its resource went away,
    /// or its scout gave up): if it was the scout, the starts waiting on it are woken and one
    /// of them scouts.
    pub fn abandoned(&self, key: &str) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let was_scout = state.scout.as_ref().is_some_and(|s| s.key == key);
        state.forget(key);
        if was_scout {
            self.wake_waiting(&mut state);
        }
    }
}

impl<W> State<W> {
    fn estimate(&self, app: &str, own: Option<Duration>) -> Option<(Duration, Source)> {
        own.map(|d| (d, Source::Own))
            .or_else(|| self.apps.get(app).map(|d| (*d, Source::App)))
            .or_else(|| self.fleet.iter().min().map(|d| (*d, Source::Fleet)))
    }

    fn forget(&mut self, key: &str) {
        self.waiting.remove(key);
        if self.scout.as_ref().is_some_and(|s| s.key == key) {
            self.scout = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn start<'a>(key: &'a str, app: &'a str, own: Option<Duration>, elapsed: u64) -> StartRef<'a> {
        StartRef {
            key,
            job: "job-1",
            app,
            own,
            elapsed: secs(elapsed),
        }
    }

    #[tokio::test]
    async fn one_scout_while_the_others_wait_for_what_it_shows() {
        let times = StartTimes::<&'static str>::default();
        let mut woken = std::pin::pin!(times.woken());
        // A second controller (another watched namespace) hears the same wake-ups.
        let mut also_woken = std::pin::pin!(times.woken());
        let schedule = PollSchedule::default();
        let first = |s: &StartRef<'_>, w| times.first_poll(s, w, Duration::ZERO, &schedule);

        // Nothing known: the first start scouts (its task polls it), for at most 5 minutes.
        assert_eq!(
            first(&start("a", "app-a", None, 0), "a"),
            FirstPoll::Scout(secs(300))
        );
        assert!(times.scout_polls("a"));
        // Its own reconcile leaves it to the task.
        assert_eq!(
            first(&start("a", "app-a", None, 3), "a"),
            FirstPoll::Wait(secs(297))
        );
        // Another app's start waits, without polling, as long.
        assert_eq!(
            first(&start("b", "app-b", None, 1), "b"),
            FirstPoll::Wait(secs(299))
        );
        assert!(!times.scout_polls("b"));

        // The scout's task sees the start end 10 s in: everyone learns it, both are woken.
        times.scout_ended(&start("a", "app-a", None, 10), "a");
        let mut wakes = vec![woken.next().await, woken.next().await];
        wakes.sort();
        assert_eq!(wakes, [Some("a"), Some("b")]);
        let mut wakes = vec![also_woken.next().await, also_woken.next().await];
        wakes.sort();
        assert_eq!(wakes, [Some("a"), Some("b")]);
        // The scout's environment takes the result without a request.
        assert_eq!(
            first(&start("a", "app-a", None, 11), "a"),
            FirstPoll::Ended(secs(10))
        );
        // The other start, 6 s in, is first polled when 10 s have passed.
        assert_eq!(
            first(&start("b", "app-b", None, 6), "b"),
            FirstPoll::Wait(secs(4))
        );
        assert_eq!(first(&start("b", "app-b", None, 11), "b"), FirstPoll::Now);
        // Seen ended at that first poll, a little late: it learns the fleet's 10 s as it is.
        assert_eq!(
            times.ended("b", "app-b", None, secs(11), Some(secs(11))),
            secs(10)
        );
        // Late first polls never make the fleet's estimate looser than what it was.
        for key in ["c", "d", "e"] {
            times.ended(key, "app-new", None, secs(25), Some(secs(25)));
        }
        assert_eq!(
            times.first_poll(
                &start("f", "app-f", None, 0),
                "f",
                Duration::ZERO,
                &schedule
            ),
            FirstPoll::Wait(secs(10))
        );
    }

    #[test]
    fn own_history_first_then_the_app_then_the_fleet() {
        let times = StartTimes::<()>::default();
        let schedule = PollSchedule::default();
        times.ended("x", "big", None, secs(90), None);
        times.ended("y", "small", None, secs(20), None);
        let first = |s: &StartRef<'_>| times.first_poll(s, (), Duration::ZERO, &schedule);
        // The environment's own last start wins.
        assert_eq!(
            first(&start("z", "big", Some(secs(70)), 0)),
            FirstPoll::Wait(secs(70))
        );
        // Else the app's other environments.
        assert_eq!(
            first(&start("z", "big", None, 0)),
            FirstPoll::Wait(secs(90))
        );
        // Else the fastest recent start of any app.
        assert_eq!(
            first(&start("z", "new", None, 0)),
            FirstPoll::Wait(secs(20))
        );
    }

    #[test]
    fn a_due_poll_waits_for_the_backlog_for_a_while() {
        let times = StartTimes::<()>::default();
        let schedule = PollSchedule::default();
        let backlog = Duration::from_millis(300);
        let first = |elapsed, backlog| {
            times.first_poll(
                &start("e", "app", Some(secs(10)), elapsed),
                (),
                backlog,
                &schedule,
            )
        };
        // Not due yet: the backlog changes nothing.
        assert_eq!(first(4, backlog), FirstPoll::Wait(secs(6)));
        // Due while steps queue under the rate limit: look again later, without a request.
        assert_eq!(first(10, backlog), FirstPoll::Wait(secs(2)));
        assert_eq!(first(10, Duration::ZERO), FirstPoll::Now);
        // Not for longer than half the longest interval past its time.
        assert_eq!(first(40, backlog), FirstPoll::Now);
    }

    #[test]
    fn an_own_estimate_is_probed_lower_and_raised_by_a_miss() {
        let times = StartTimes::<()>::default();
        // Seen at the first poll, which came at the own estimate of 40 s: 5 % lower next time.
        assert_eq!(
            times.ended("e", "app", Some(secs(40)), secs(41), Some(secs(40))),
            secs(38)
        );
        // Missed at the first poll and seen 46 s in: that is the new bound.
        assert_eq!(
            times.ended("e", "app", Some(secs(38)), secs(46), None),
            secs(46)
        );
    }

    #[test]
    fn a_late_first_poll_lowers_from_when_it_was_sent() {
        let times = StartTimes::<()>::default();
        let ended = |own, elapsed, sent| {
            times.ended("e", "app", Some(secs(own)), secs(elapsed), Some(secs(sent)))
        };
        // The first in a row to find the start ended, sent 5 s late: 5 % below 45 s is more
        // than the estimate, which stays.
        assert_eq!(ended(40, 46, 45), secs(40));
        // The second, on time: 10 % lower.
        assert_eq!(ended(40, 40, 40), secs(36));
        // The third, sent 9 s late, shows only that the start took at most 45 s: 20 % below
        // that, not 20 % below an estimate that may already be short of the truth.
        assert_eq!(ended(36, 46, 45), secs(36));
        // The fourth, on time: 40 % lower.
        assert_eq!(ended(36, 36, 36), secs(36).mul_f64(0.6));
    }

    /// Starts of one environment, each first polled at its own estimate and then as
    /// `still_running` says, until a poll finds it ended: (when it was seen ended, polls).
    fn rounds(true_duration: Duration, first_estimate: Duration, n: usize) -> Vec<(Duration, u32)> {
        let times = StartTimes::<()>::default();
        let schedule = PollSchedule::default();
        let mut own = first_estimate;
        (0..n)
            .map(|_| {
                let (mut at, mut polls) = (own, 0u32);
                loop {
                    polls += 1;
                    if at >= true_duration {
                        let first_poll_sent = (polls == 1).then_some(at);
                        own = times.ended("e", "app", Some(own), at, first_poll_sent);
                        return (at, polls);
                    }
                    at += times.still_running("e", "app", Some(own), at, polls - 1, &schedule);
                }
            })
            .collect()
    }

    #[test]
    fn estimates_converge_on_the_true_duration_from_above_and_below() {
        for (truth, first) in [
            (10_000, 13_000),
            (10_000, 6_000),
            (4_300, 4_000),
            (45_000, 50_000),
        ] {
            let truth = Duration::from_millis(truth);
            let seen = rounds(truth, Duration::from_millis(first), 30);
            // After a few starts every start is seen ended within 3 % of its end…
            for (at, _) in &seen[10..] {
                assert!(
                    *at <= truth.mul_f64(1.03),
                    "{truth:?} from {first} ms: seen at {at:?} ({seen:?})"
                );
            }
            // …mostly at the first poll: the estimate is probed lower only now and then.
            let polls: u32 = seen[10..].iter().map(|(_, p)| p).sum();
            let average = f64::from(polls) / 20.0;
            assert!(
                average <= 1.25,
                "{truth:?} from {first} ms: {average} polls a start ({seen:?})"
            );
        }
    }

    #[tokio::test]
    async fn a_failed_or_silent_scout_hands_over() {
        let times = StartTimes::<&'static str>::default();
        let mut woken = std::pin::pin!(times.woken());
        let schedule = PollSchedule {
            first: Duration::from_millis(50),
            max: Duration::from_millis(200),
        };
        let first = |s: &StartRef<'_>, w| times.first_poll(s, w, Duration::ZERO, &schedule);
        let at = |key, millis| StartRef {
            key,
            job: "job-1",
            app: "app",
            own: None,
            elapsed: Duration::from_millis(millis),
        };
        assert!(matches!(first(&at("a", 0), "a"), FirstPoll::Scout(_)));
        assert!(matches!(first(&at("b", 0), "b"), FirstPoll::Wait(_)));
        // The scout's start failed: the waiting start is woken and scouts next.
        times.abandoned("a");
        assert_eq!(woken.next().await, Some("b"));
        assert!(matches!(first(&at("b", 10), "b"), FirstPoll::Scout(_)));
        assert!(matches!(first(&at("c", 0), "c"), FirstPoll::Wait(_)));
        // A scout whose task stops polling is replaced after two longest intervals.
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert!(matches!(first(&at("c", 20), "c"), FirstPoll::Scout(_)));
        assert!(!times.scout_polls("b"), "the old task stops");
        // A start that waited five longest intervals is polled on its own.
        assert_eq!(first(&at("d", 1000), "d"), FirstPoll::Now);
    }
}
