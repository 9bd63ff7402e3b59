//! Reconcilers for `MendixPackage` and `MendixEnvironment`, and what they share: the context,
//! credentials, the poll schedule and the status writer.

pub mod backoff;
pub mod context;
pub mod credentials;
pub mod environment;
pub mod error;
pub mod outcome;
pub mod package;
pub mod resync;
pub mod start_times;
pub mod status;
pub mod trigger;

pub use context::{Context, Settings};
pub use error::Error;
