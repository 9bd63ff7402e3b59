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
//! With none of them, one start (the scout) is followed closely, every quarter of its running
//! time, while other starts with no history wait for what it shows — woken the moment it ends,
//! or polled on their own once they have waited the longest poll interval. A rollout of many
//! apps then costs about one poll per start instead of one per step of a growing schedule.
//!
//! Learned times are upper bounds (a start is only seen ended at a poll). An environment's own
//! estimate is lowered a little each time its first poll already finds the start ended, so it
//! follows an app that got faster; the fleet's is the least upper bound of many starts and is
//! used as it is.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::backoff::PollSchedule;
use crate::mendix::Priority;

/// How much a first poll that finds the start ended lowers the environment's own estimate.
const SHORTER: f64 = 0.95;
/// Weight of the newest start in an app's estimate.
const NEWEST_WEIGHT: f64 = 0.25;
/// How many recent starts the fleet estimate is taken from.
const FLEET_WINDOW: usize = 32;

/// What to do about a start that has not been polled yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstPoll {
    /// Poll it now, at this priority.
    Now(Priority),
    /// Look again after this long, without a request.
    Wait(Duration),
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
    wake: futures::channel::mpsc::UnboundedSender<W>,
    woken: Mutex<Option<futures::channel::mpsc::UnboundedReceiver<W>>>,
}

struct State<W> {
    apps: HashMap<String, Duration>,
    fleet: VecDeque<Duration>,
    scout: Option<Scout>,
    waiting: HashMap<String, W>,
}

struct Scout {
    key: String,
    /// Its last poll: a scout whose resource went away stops polling, and is replaced.
    last_seen: Instant,
}

impl<W> Default for StartTimes<W> {
    fn default() -> Self {
        let (wake, woken) = futures::channel::mpsc::unbounded();
        Self {
            state: Mutex::new(State {
                apps: HashMap::new(),
                fleet: VecDeque::new(),
                scout: None,
                waiting: HashMap::new(),
            }),
            wake,
            woken: Mutex::new(Some(woken)),
        }
    }
}

impl<W> StartTimes<W> {
    /// The starts to reconcile again because what they waited for is known now. Taken once,
    /// by the controller that follows the starts.
    pub fn woken(&self) -> Option<futures::channel::mpsc::UnboundedReceiver<W>> {
        self.woken.lock().ok()?.take()
    }

    /// Before the first poll of the start `key` (environment `app`, own history `own`), which
    /// has run for `elapsed`: poll now, or how long to wait. `waiter` wakes it when it waits
    /// on the scout.
    pub fn first_poll(
        &self,
        key: &str,
        waiter: W,
        app: &str,
        own: Option<Duration>,
        elapsed: Duration,
        schedule: &PollSchedule,
    ) -> FirstPoll {
        let Ok(mut state) = self.state.lock() else {
            return FirstPoll::Now(Priority::Step);
        };
        // The shortest wait: a reconcile never comes straight back.
        let soonest = schedule.first.min(Duration::from_secs(1));
        if let Some((estimate, _)) = state.estimate(app, own) {
            state.waiting.remove(key);
            return match estimate.max(soonest).checked_sub(elapsed) {
                Some(wait) if !wait.is_zero() => FirstPoll::Wait(wait),
                _ => FirstPoll::Now(Priority::Poll),
            };
        }
        let scout_is_gone = state
            .scout
            .as_ref()
            .is_none_or(|s| s.key == key || s.last_seen.elapsed() > schedule.max * 2);
        if scout_is_gone {
            state.waiting.remove(key);
            state.scout = Some(Scout {
                key: key.to_string(),
                last_seen: Instant::now(),
            });
            // The scout's polls are what everyone waits on: they do not yield.
            return match schedule.first.checked_sub(elapsed) {
                Some(wait) if !wait.is_zero() => FirstPoll::Wait(wait),
                _ => FirstPoll::Now(Priority::Step),
            };
        }
        match schedule.max.checked_sub(elapsed) {
            Some(wait) if !wait.is_zero() => {
                state.waiting.insert(key.to_string(), waiter);
                FirstPoll::Wait(wait.max(soonest))
            }
            // Waited the longest interval: it is polled on its own from here.
            _ => {
                state.waiting.remove(key);
                FirstPoll::Now(Priority::Poll)
            }
        }
    }

    /// Priority of a later poll of `key` (its first found the start still running).
    pub fn follow_up_priority(&self, key: &str) -> Priority {
        let Ok(mut state) = self.state.lock() else {
            return Priority::Step;
        };
        match state.scout.as_mut().filter(|s| s.key == key) {
            Some(scout) => {
                scout.last_seen = Instant::now();
                Priority::Step
            }
            None => Priority::Poll,
        }
    }

    /// The start `key` of `app` was seen ended `elapsed` after it began, by its first poll or
    /// a later one. Returns what the environment's own history should say now, and wakes the
    /// starts that waited for a first estimate.
    pub fn ended(
        &self,
        key: &str,
        app: &str,
        own: Option<Duration>,
        elapsed: Duration,
        at_first_poll: bool,
    ) -> Duration {
        let Ok(mut state) = self.state.lock() else {
            return elapsed;
        };
        let learned = match (at_first_poll, state.estimate(app, own)) {
            // Seen at the first poll, which waited for the estimate: the start took at most
            // that long (a later poll only says the poll came late). Probe an environment's
            // own estimate lower; the fleet's is already the least of many.
            (true, Some((estimate, source))) => {
                let bound = estimate.min(elapsed);
                if source == Source::Fleet {
                    bound
                } else {
                    bound.mul_f64(SHORTER)
                }
            }
            _ => elapsed,
        };
        let app_estimate = state.apps.entry(app.to_string()).or_insert(learned);
        *app_estimate = app_estimate.mul_f64(1.0 - NEWEST_WEIGHT) + learned.mul_f64(NEWEST_WEIGHT);
        if state.fleet.len() == FLEET_WINDOW {
            state.fleet.pop_front();
        }
        state.fleet.push_back(elapsed);
        state.forget(key);
        let waiting: Vec<W> = state.waiting.drain().map(|(_, w)| w).collect();
        drop(state);
        for waiter in waiting {
            // The receiver lives as long as the controller; without it nobody waits.
            let _ = self.wake.unbounded_send(waiter);
        }
        learned
    }

    /// The start `key` ended without a duration to learn (it failed, or its resource went
    /// away): if it was the scout, the starts waiting on it are woken and one of them scouts.
    pub fn abandoned(&self, key: &str) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let was_scout = state.scout.as_ref().is_some_and(|s| s.key == key);
        state.forget(key);
        if was_scout {
            let waiting: Vec<W> = state.waiting.drain().map(|(_, w)| w).collect();
            drop(state);
            for waiter in waiting {
                let _ = self.wake.unbounded_send(waiter);
            }
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

    #[tokio::test]
    async fn one_scout_while_the_others_wait_for_what_it_shows() {
        let times = StartTimes::<&'static str>::default();
        let mut woken = times.woken().expect("taken once");
        assert!(times.woken().is_none());
        let schedule = PollSchedule::default();

        // Nothing known: the first start scouts, polled at the schedule's first interval.
        let first = times.first_poll("a", "a", "app-a", None, secs(0), &schedule);
        assert_eq!(first, FirstPoll::Wait(secs(2)));
        assert_eq!(
            times.first_poll("a", "a", "app-a", None, secs(2), &schedule),
            FirstPoll::Now(Priority::Step)
        );
        assert_eq!(times.follow_up_priority("a"), Priority::Step);
        // Another app's start waits, without polling, for at most the longest interval.
        assert_eq!(
            times.first_poll("b", "b", "app-b", None, secs(1), &schedule),
            FirstPoll::Wait(secs(59))
        );
        assert_eq!(times.follow_up_priority("b"), Priority::Poll);

        // The scout ends 10 s in, seen by a later poll: it learns 10 s and wakes the other.
        assert_eq!(times.ended("a", "app-a", None, secs(10), false), secs(10));
        assert_eq!(woken.next().await, Some("b"));
        // The other start, 6 s in, is first polled when 10 s have passed.
        assert_eq!(
            times.first_poll("b", "b", "app-b", None, secs(6), &schedule),
            FirstPoll::Wait(secs(4))
        );
        assert_eq!(
            times.first_poll("b", "b", "app-b", None, secs(11), &schedule),
            FirstPoll::Now(Priority::Poll)
        );
        // Seen ended at that first poll, a little late: it learns the fleet's 10 s as it is.
        assert_eq!(times.ended("b", "app-b", None, secs(11), true), secs(10));
    }

    #[test]
    fn own_history_first_then_the_app_then_the_fleet() {
        let times = StartTimes::<()>::default();
        let schedule = PollSchedule::default();
        times.ended("x", "big", None, secs(90), false);
        times.ended("y", "small", None, secs(20), false);
        // The environment's own last start wins.
        assert_eq!(
            times.first_poll("z", (), "big", Some(secs(70)), secs(0), &schedule),
            FirstPoll::Wait(secs(70))
        );
        // Else the app's other environments.
        assert_eq!(
            times.first_poll("z", (), "big", None, secs(0), &schedule),
            FirstPoll::Wait(secs(90))
        );
        // Else the fastest recent start of any app.
        assert_eq!(
            times.first_poll("z", (), "new", None, secs(0), &schedule),
            FirstPoll::Wait(secs(20))
        );
    }

    #[test]
    fn an_own_estimate_is_probed_lower_and_raised_by_a_miss() {
        let times = StartTimes::<()>::default();
        // Seen at the first poll, which came at the own estimate of 40 s: 5 % lower next time.
        assert_eq!(
            times.ended("e", "app", Some(secs(40)), secs(41), true),
            secs(38)
        );
        // Missed at the first poll and seen 46 s in: that is the new bound.
        assert_eq!(
            times.ended("e", "app", Some(secs(38)), secs(46), false),
            secs(46)
        );
    }

    #[tokio::test]
    async fn a_failed_or_stale_scout_hands_over() {
        let times = StartTimes::<&'static str>::default();
        let mut woken = times.woken().expect("taken once");
        let schedule = PollSchedule {
            first: secs(2),
            max: Duration::from_millis(200),
        };
        times.first_poll("a", "a", "app", None, secs(0), &schedule);
        assert!(matches!(
            times.first_poll("b", "b", "app", None, secs(0), &schedule),
            FirstPoll::Wait(_)
        ));
        times.abandoned("a");
        assert_eq!(woken.next().await, Some("b"));
        // b scouts now; a scout that stops reporting is replaced after the longest interval.
        assert_eq!(
            times.first_poll("b", "b", "app", None, secs(2), &schedule),
            FirstPoll::Now(Priority::Step)
        );
        assert!(matches!(
            times.first_poll("c", "c", "app", None, secs(0), &schedule),
            FirstPoll::Wait(_)
        ));
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert_eq!(
            times.first_poll("c", "c", "app", None, secs(2), &schedule),
            FirstPoll::Now(Priority::Step)
        );
        assert_eq!(times.follow_up_priority("c"), Priority::Step);
    }
}
