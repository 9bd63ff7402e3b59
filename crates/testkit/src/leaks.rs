//! Every suite that uses the harness runs with logs at trace level (the operator, kube, reqwest,
//! hyper; not the sandboxes, which hold the credentials by design), scanned for credential
//! values as each line is written. When a harness is dropped, the lines so far and every Event
//! and Mendix resource status in its namespace must be free of them.
//!
//! Watched: the demo credentials, and every value a test puts in a Secret (except usernames and
//! values too short to be a credential), as written and base64-encoded.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};

use base64::Engine;
use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use mendix_operator::crd::{MendixEnvironment, MendixPackage};
use mendix_sandbox::demo;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// (what, value) pairs that must never be seen.
static WATCHED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
/// Leaks found in log lines so far.
static FOUND: Mutex<Vec<String>> = Mutex::new(Vec::new());
static LINES: AtomicU64 = AtomicU64::new(0);
static TRACE_LINES: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

/// Shorter values are not credentials (and would match ordinary text).
const SHORTEST: usize = 8;

/// Installs the process's subscriber: trace to the scanner, RUST_LOG (default info) to stdout.
pub fn install() {
    INSTALL.call_once(|| {
        for (what, value) in [
            ("Mendix Cloud API key", demo::CLOUD_API_KEY),
            ("PAT", demo::PC_PAT),
            ("read-only PAT", demo::PC_PAT_READ_ONLY),
        ] {
            watch(what, value);
        }
        let scanned = tracing_subscriber::fmt::layer()
            .with_writer(Scanner)
            .with_ansi(false)
            .with_filter(EnvFilter::new("trace,mendix_sandbox=off,kube_sandbox=off"));
        let shown = tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()));
        let _ = tracing_subscriber::registry()
            .with(scanned)
            .with(shown)
            .try_init();
    });
}

/// Adds a value that must never be seen (also base64-encoded, as a Secret's data carries it).
pub fn watch(what: &str, value: &str) {
    if value.len() < SHORTEST {
        return;
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(value);
    if let Ok(mut watched) = WATCHED.lock() {
        for (what, value) in [
            (what.to_string(), value.to_string()),
            (format!("{what} (base64)"), encoded),
        ] {
            if !watched.iter().any(|(_, v)| *v == value) {
                watched.push((what, value));
            }
        }
    }
}

/// Log lines scanned so far, and how many of them at trace level (a test can check that trace
/// logging really ran).
pub fn lines_scanned() -> (u64, u64) {
    (
        LINES.load(Ordering::Relaxed),
        TRACE_LINES.load(Ordering::Relaxed),
    )
}

/// Where in `text` a watched value appears, as "what in place: …excerpt…" (values redacted).
pub fn find(place: &str, text: &str) -> Vec<String> {
    let Ok(watched) = WATCHED.lock() else {
        return vec![];
    };
    watched
        .iter()
        .filter_map(|(what, value)| {
            let at = text.find(value.as_str())?;
            let before: String = text[..at]
                .chars()
                .rev()
                .take(160)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            Some(format!("{what} in {place}: …{before}<{what}>…"))
        })
        .collect()
}

/// Every Event (both APIs) and every Mendix resource status of `namespace`, as (place, text).
pub async fn objects(client: &kube::Client, namespace: &str) -> Vec<(String, String)> {
    let params = ListParams::default();
    let mut all = Vec::new();
    if let Ok(list) = Api::<Event>::namespaced(client.clone(), namespace)
        .list(&params)
        .await
    {
        for e in list.items {
            let place = format!("events.k8s.io Event {:?}", e.metadata.name);
            all.push((place, serde_json::to_string(&e).unwrap_or_default()));
        }
    }
    if let Ok(list) = Api::<CoreEvent>::namespaced(client.clone(), namespace)
        .list(&params)
        .await
    {
        for e in list.items {
            let place = format!("v1 Event {:?}", e.metadata.name);
            all.push((place, serde_json::to_string(&e).unwrap_or_default()));
        }
    }
    if let Ok(list) = Api::<MendixPackage>::namespaced(client.clone(), namespace)
        .list(&params)
        .await
    {
        for p in list.items {
            let place = format!("MendixPackage {:?} status", p.metadata.name);
            all.push((place, serde_json::to_string(&p.status).unwrap_or_default()));
        }
    }
    if let Ok(list) = Api::<MendixEnvironment>::namespaced(client.clone(), namespace)
        .list(&params)
        .await
    {
        for e in list.items {
            let place = format!("MendixEnvironment {:?} status", e.metadata.name);
            all.push((place, serde_json::to_string(&e.status).unwrap_or_default()));
        }
    }
    all
}

/// Panics with every leak found in the logs so far, and in `objects` (see [`objects`]).
pub fn assert_clean(objects: &[(String, String)]) {
    let mut leaks = FOUND.lock().map(|f| f.clone()).unwrap_or_default();
    for (place, text) in objects {
        leaks.extend(find(place, text));
    }
    assert!(
        leaks.is_empty(),
        "credential values leaked:\n{}",
        leaks.join("\n")
    );
}

/// A writer that keeps nothing: it only looks for watched values in each line.
struct Scanner;

impl Write for Scanner {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LINES.fetch_add(1, Ordering::Relaxed);
        let line = String::from_utf8_lossy(buf);
        if line.contains(" TRACE ") {
            TRACE_LINES.fetch_add(1, Ordering::Relaxed);
        }
        let found = find("logs", &line);
        if !found.is_empty()
            && let Ok(mut all) = FOUND.lock()
            && all.len() < 20
        {
            all.extend(found);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Scanner {
    type Writer = Scanner;
    fn make_writer(&'a self) -> Self::Writer {
        Scanner
    }
}
