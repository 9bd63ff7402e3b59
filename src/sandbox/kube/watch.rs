//! Watch streams: newline-delimited `{"type": ..., "object": ...}` events, starting from a
//! resourceVersion (410 Gone when the history no longer reaches back that far) or with the
//! current objects as ADDED events, with bookmarks, `timeoutSeconds`, selectors and tables.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::Response;
use rand::Rng;
use serde_json::{Value, json};

use super::KubeSandbox;
use super::api::{Output, Request, Target, body_response, present};
use super::reads::Filter;
use super::status::ApiError;
use super::store::{Change, EventType};
use super::table;

/// How one watch renders events.
struct Renderer {
    target: Target,
    output: Output,
}

impl Renderer {
    fn line(&self, event_type: &str, object: &Value) -> Bytes {
        let rt = &self.target.rt;
        let shown = present(rt, object);
        let object = match self.output {
            Output::Object => shown,
            Output::Metadata => table::partial_metadata(&shown),
            Output::Table(include) => {
                table::table(rt, &[std::sync::Arc::new(shown)], include, json!({}))
            }
        };
        let mut line =
            serde_json::to_vec(&json!({"type": event_type, "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }

    fn bookmark(&self, rv: u64, initial_events_end: bool) -> Bytes {
        let rt = &self.target.rt;
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": metadata});
        let mut line =
            serde_json::to_vec(&json!({"type": "BOOKMARK", "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }

    fn error(&self, err: &ApiError) -> Bytes {
        let mut line = serde_json::to_vec(&json!({"type": "ERROR", "object": err.status_body()}))
            .unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }

    /// The event a change produces for this watch, if any: objects entering the selection are
    /// ADDED, objects leaving it DELETED.
    fn render(&self, change: &Change, filter: &Filter) -> Option<Bytes> {
        if change.key != self.target.key() {
            return None;
        }
        if let Some(ns) = &self.target.namespace
            && &change.namespace != ns
        {
            return None;
        }
        let rt = &self.target.rt;
        let now_matches = change.event != EventType::Deleted && filter.matches(rt, &change.object);
        let was_matching = change.old.as_ref().is_some_and(|o| filter.matches(rt, o));
        let event = match change.event {
            EventType::Deleted if was_matching => "DELETED",
            EventType::Deleted => return None,
            _ if now_matches && was_matching => "MODIFIED",
            _ if now_matches => "ADDED",
            _ if was_matching => "DELETED",
            _ => return None,
        };
        Some(self.line(event, &change.object))
    }
}

/// The changes of the watched resource (and namespace), cloned cheaply out of the history.
fn relevant<'a>(changes: impl Iterator<Item = &'a Change>, target: &Target) -> Vec<Change> {
    let key = target.key();
    changes
        .filter(|c| {
            c.key == key
                && target
                    .namespace
                    .as_ref()
                    .is_none_or(|ns| &c.namespace == ns)
        })
        .cloned()
        .collect()
}

fn too_old(rv: u64) -> ApiError {
    ApiError::gone(format!("too old resource version: {rv}"))
}

/// Starts a watch; the response body streams until timeout, a cut, or the client leaving.
pub(crate) async fn serve(
    sandbox: &KubeSandbox,
    req: &Request,
    target: &Target,
) -> Result<Response, ApiError> {
    let mut filter = Filter::from_request(req)?;
    // The legacy form watches one object by its path.
    if let Some(name) = &target.name {
        filter.fields = filter.fields.and_equals("metadata.name", name);
    }
    let renderer = Renderer {
        target: target.clone(),
        output: req.output(),
    };
    let bookmarks = matches!(req.param("allowWatchBookmarks"), Some("true") | Some("1"));
    let send_initial = matches!(req.param("sendInitialEvents"), Some("true") | Some("1"));
    let timeout = match req.param("timeoutSeconds") {
        Some(t) => Duration::from_secs(t.parse().map_err(|_| {
            ApiError::bad_request(format!("timeoutSeconds must be a whole number, got {t:?}"))
        })?),
        None => Duration::from_secs(rand::rng().random_range(1800..3600)),
    };
    let from: Option<u64> = match req.param("resourceVersion") {
        None | Some("") | Some("0") => None,
        Some(rv) => Some(rv.parse().map_err(|_| {
            ApiError::bad_request(format!("resourceVersion must be a number, got {rv:?}"))
        })?),
    };

    // Subscribing before reading the store means no change after the snapshot goes unnoticed.
    let mut changed = sandbox.subscribe();
    // Under the store lock only Arcs are collected; events are rendered after it is released.
    let (initial, resumed, mut last) = {
        let store = sandbox.lock();
        match from {
            Some(rv) if !send_initial => match store.changes_since(rv) {
                Some(changes) => (Vec::new(), relevant(changes, target), store.rv()),
                None => {
                    let line = renderer.error(&too_old(rv));
                    return Ok(body_response(StatusCode::OK, Body::from(line)));
                }
            },
            _ => {
                let objects = store
                    .range(&target.key(), target.namespace.as_deref(), None)
                    .map(|(_, obj)| obj.clone())
                    .collect();
                (objects, Vec::new(), store.rv())
            }
        }
    };
    let mut first: Vec<Bytes> = initial
        .iter()
        .filter(|obj| filter.matches(&target.rt, obj))
        .map(|obj| renderer.line("ADDED", obj))
        .collect();
    first.extend(resumed.iter().filter_map(|c| renderer.render(c, &filter)));
    if from.is_none() && send_initial && bookmarks {
        first.push(renderer.bookmark(last, true));
    }

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let sandbox = sandbox.clone();
    let mut cut = sandbox.faults().cut_signal();
    let bookmark_every = sandbox.bookmark_interval();
    tokio::spawn(async move {
        for line in first {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(bookmark_every);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = cut.changed() => return,
                _ = tx.closed() => return,
                _ = ticker.tick(), if bookmarks => {
                    if tx.send(renderer.bookmark(last, false)).await.is_err() {
                        return;
                    }
                }
                res = changed.changed() => {
                    if res.is_err() {
                        return;
                    }
                    let (changes, gone) = {
                        let store = sandbox.lock();
                        match store.changes_since(last) {
                            Some(changes) => {
                                let changes = relevant(changes, &renderer.target);
                                last = store.rv();
                                (changes, false)
                            }
                            None => (Vec::new(), true),
                        }
                    };
                    let mut lines: Vec<Bytes> =
                        changes.iter().filter_map(|c| renderer.render(c, &filter)).collect();
                    if gone {
                        lines.push(renderer.error(&too_old(last)));
                    }
                    for line in lines {
                        if tx.send(line).await.is_err() {
                            return;
                        }
                    }
                    if gone {
                        return;
                    }
                }
            }
        }
    });
    let stream = futures::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|o| o.map(Ok::<Bytes, std::convert::Infallible>))
    });
    Ok(body_response(StatusCode::OK, Body::from_stream(stream)))
}
