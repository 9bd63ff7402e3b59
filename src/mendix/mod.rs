//! Clients for the four Mendix APIs: Mendix Cloud Build and Deploy API v1, Private Cloud Build and
//! Deploy API v4. They know nothing of Kubernetes.
//!
//! ```text
//! let mendix = Mendix::new(MendixConfig::default())?;
//! let build = mendix.cloud_build(&CloudCredentials::new(user, key));
//! let deploy = mendix.pc_deploy(&Pat::new(token));
//! ```
//! Every call has a timeout, respects the per-host limits and retries transient failures;
//! errors are [`MendixError`]s with a [`ErrorClass`].

pub mod api;
pub mod client;
pub mod cloud_v1;
pub mod config;
pub mod credentials;
pub mod download;
pub mod error;
pub mod limiter;
pub mod observer;
pub mod private_cloud_v4;
pub mod retry;

pub use api::Api;
pub use client::{Mendix, UploadSource, install_crypto_provider};
pub use config::MendixConfig;
pub use credentials::{CloudCredentials, Pat, SignedUrl};
pub use error::{ErrorClass, MendixError};
pub use limiter::HostLimits;
pub use observer::{Outcome, RequestEvent, RequestObserver};
pub use retry::RetryPolicy;
