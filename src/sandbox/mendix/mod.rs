//! The Mendix API sandbox: one axum server that speaks the Mendix Cloud Build and Deploy APIs v1
//! (`/api/1/...`) and the Private Cloud Build and Deploy APIs v4 (`/api/v4/...`) with realistic
//! state machines, plus simulator controls under `/_sim/`.
//!
//! Work in progress: the public API below is stable; routes are being filled in.

pub mod demo;
mod faults;
mod server;
mod stats;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub use faults::{Fault, FaultKind};
pub use server::SandboxServer;
pub use stats::Stats;

/// A seed file that cannot be used: the message names the field and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("the seed file is not valid YAML for the sandbox state: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("seed field `{field}`: {problem}")]
    Invalid { field: String, problem: String },
}

/// The shared state of one sandbox; cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct MendixSandbox {
    shared: Arc<Shared>,
}

struct Shared {
    time_scale: Mutex<f64>,
    stats: Mutex<Stats>,
    faults: Mutex<Vec<Fault>>,
}

impl MendixSandbox {
    /// The built-in demo state (see [`demo`]).
    pub fn demo() -> Self {
        Self::new()
    }

    /// State from a seed file (format in the module docs).
    pub fn from_yaml(text: &str) -> Result<Self, SeedError> {
        let _value: serde_yaml::Value = serde_yaml::from_str(text)?;
        Ok(Self::new())
    }

    fn new() -> Self {
        MendixSandbox {
            shared: Arc::new(Shared {
                time_scale: Mutex::new(1.0),
                stats: Mutex::new(Stats::default()),
                faults: Mutex::new(Vec::new()),
            }),
        }
    }

    /// All four APIs and `/_sim/` on one router.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
    }

    /// Serve [`Self::router`] on `addr` (port 0 picks a free port) until the server is dropped.
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<SandboxServer> {
        SandboxServer::start(self.router(), addr).await
    }

    /// Multiply every simulated duration by `scale` (0.01 = everything 100x faster).
    pub fn set_time_scale(&self, scale: f64) {
        if let Ok(mut current) = self.shared.time_scale.lock() {
            *current = scale.max(0.0);
        }
    }

    /// Request counters so far.
    pub fn stats(&self) -> Stats {
        self.shared
            .stats
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// The current remote state as JSON (the same document as `GET /_sim/state`).
    pub fn state_json(&self) -> serde_json::Value {
        serde_json::json!({})
    }

    /// Inject a fault.
    pub fn add_fault(&self, fault: Fault) {
        if let Ok(mut faults) = self.shared.faults.lock() {
            faults.push(fault);
        }
    }

    /// Remove every injected fault.
    pub fn clear_faults(&self) {
        if let Ok(mut faults) = self.shared.faults.lock() {
            faults.clear();
        }
    }
}
