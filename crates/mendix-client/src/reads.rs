//! Answers to reads, kept for one retry of the same piece of work.
//!
//! A caller that must retry work because of something outside Mendix (an operator's status write
//! refused with a conflict) should not read Mendix again for what it learned a moment ago. It
//! runs each attempt inside [`Reads::scope`]: every GET answered there is recorded, and a
//! [`Reads::replaying`] copy answers the same GETs of the next attempt once each, without a
//! request. Any write clears both (reads before a write no longer describe Mendix), so only
//! what was read after the last write is ever replayed.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use url::Url;

use super::client::Reply;

tokio::task_local! {
    static CURRENT: Arc<Reads>;
}

/// The GET answers of one attempt, and those of the previous attempt it may replay.
#[derive(Default)]
pub struct Reads {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    replay: HashMap<Url, Reply>,
    recorded: HashMap<Url, Reply>,
}

impl Reads {
    /// Reads for an attempt that retries `previous`: what it read is answered again.
    pub fn replaying(previous: &Reads) -> Reads {
        let recorded = previous
            .inner
            .lock()
            .map(|inner| inner.recorded.clone())
            .unwrap_or_default();
        Reads {
            inner: Mutex::new(Inner {
                replay: recorded,
                recorded: HashMap::new(),
            }),
        }
    }

    /// How many answers are waiting to be replayed.
    pub fn pending(&self) -> usize {
        self.inner.lock().map(|i| i.replay.len()).unwrap_or(0)
    }

    /// Runs `work` with its Mendix calls recorded in (and answered from) `reads`.
    pub async fn scope<F: Future>(reads: Arc<Reads>, work: F) -> F::Output {
        CURRENT.scope(reads, work).await
    }
}

/// The replayed answer to a GET of `url` in the current scope, taken once.
pub(crate) fn replayed(url: &Url) -> Option<Reply> {
    CURRENT
        .try_with(|reads| reads.inner.lock().ok()?.replay.remove(url))
        .ok()
        .flatten()
}

/// Records the answer to a GET of `url` in the current scope.
pub(crate) fn record(url: &Url, reply: &Reply) {
    let _ = CURRENT.try_with(|reads| {
        if let Ok(mut inner) = reads.inner.lock() {
            inner.recorded.insert(url.clone(), reply.clone());
        }
    });
}

/// A write is about to be sent in the current scope: nothing read before it may be replayed.
pub(crate) fn written() {
    let _ = CURRENT.try_with(|reads| {
        if let Ok(mut inner) = reads.inner.lock() {
            inner.replay.clear();
            inner.recorded.clear();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(body: &'static str) -> Reply {
        Reply {
            status: reqwest::StatusCode::OK,
            headers: Default::default(),
            body: bytes::Bytes::from_static(body.as_bytes()),
        }
    }

    #[tokio::test]
    async fn a_retry_replays_reads_made_after_the_last_write_once_each() {
        let (a, b) = (
            Url::parse("http://mendix/a").expect("url"),
            Url::parse("http://mendix/b").expect("url"),
        );
        let first = Arc::new(Reads::default());
        Reads::scope(first.clone(), async {
            record(&a, &reply("stale"));
            written();
            record(&b, &reply("fresh"));
        })
        .await;
        let retry = Arc::new(Reads::replaying(&first));
        assert_eq!(retry.pending(), 1, "only what was read after the write");
        Reads::scope(retry.clone(), async {
            assert!(replayed(&a).is_none());
            assert_eq!(replayed(&b).map(|r| r.body), Some("fresh".into()));
            assert!(replayed(&b).is_none(), "answered once");
        })
        .await;
        assert!(replayed(&b).is_none(), "nothing outside a scope");
    }
}
