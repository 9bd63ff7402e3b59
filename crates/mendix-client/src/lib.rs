//! Clients for the four Mendix APIs: Mendix Cloud Build and Deploy API v1, Private Cloud Build and
//! Deploy API v4. They know nothing of Kubernetes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mendix_client::MendixError> {
//! use mendix_client::{CloudCredentials, Mendix, MendixConfig, Pat};
//! let mendix = Mendix::new(MendixConfig::default())?; // one per process; clones share limits
//! let packages = mendix
//!     .cloud_build(&CloudCredentials::new("me@example.com", "api-key"))
//!     .list_packages("calc")
//!     .await?;
//! let manifest = mendix
//!     .pc_deploy(&Pat::new("pat"))
//!     .get_environment("app-id", "namespace-id", "env-id")
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! - [`Mendix`]: shared HTTP client, per-host limits ([`HostLimits`]), timeouts, retries
//!   ([`RetryPolicy`]), the observer hook ([`RequestObserver`]) and [`Mendix::download`].
//! - Handles: [`cloud_v1::CloudBuild`], [`cloud_v1::CloudDeploy`], [`private_cloud_v4::PcBuild`],
//!   [`private_cloud_v4::PcDeploy`]; wire types in `cloud_v1::types` / `private_cloud_v4::types`.
//! - Errors: [`MendixError`] with [`MendixError::class`] ([`ErrorClass`]: Transient,
//!   StateConflict, Terminal), `code()`, `status()`, `retry_after()`, `metric_label()`.
//!
//! Retries: only transient failures, at most `RetryPolicy::max_attempts` per call, and requests
//! that could do work twice (start a build, upload, start an app, create, clean) only when
//! Mendix certainly did not act (429, connection refused). Long jobs are never awaited here:
//! callers record the job id ([`private_cloud_v4::types::JobHandle`], v1 `JobId`) and poll.

pub mod api;
pub mod client;
pub mod cloud_v1;
pub mod config;
pub mod credentials;
pub mod download;
pub mod download_guard;
pub mod error;
pub mod limiter;
pub mod observer;
pub mod private_cloud_v4;
pub mod reads;
pub mod retry;

pub use api::Api;
pub use client::{Mendix, Sent, UploadSource, install_crypto_provider};
pub use config::MendixConfig;
pub use credentials::{CloudCredentials, Pat, SignedUrl};
pub use download::Downloaded;
pub use error::{ErrorClass, MendixError, V1ErrorCode};
pub use limiter::HostLimits;
pub use observer::{AttemptOutcome, RequestEvent, RequestObserver};
pub use reads::Reads;
pub use retry::RetryPolicy;
