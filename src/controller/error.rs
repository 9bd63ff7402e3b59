//! Errors that end a reconcile early. Problems a person must fix are not errors: they become
//! `Stalled` status. What remains here is retried by the controller with backoff.

use mendix_client::error::MendixError;

use super::secrets::CredentialsError;
use super::status::StatusError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Mendix(#[from] MendixError),
    #[error("{0}")]
    Status(#[from] StatusError),
    #[error("{0}")]
    Credentials(#[from] CredentialsError),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("object has no {0}")]
    MissingObjectKey(&'static str),
    /// The cache's compact form of an object did not decode (see `cache`): a defect.
    #[error("cached object: {0}")]
    Cached(#[source] super::cache::CacheError),
    /// A step would be taken a second time in one reconcile: Mendix did not reach the state
    /// the first one asked for. Retried with the object's backoff, never in a loop.
    #[error("{0}")]
    Unconverged(String),
    /// Deletion waits for remote work; not a failure, the finalizer stays and the resource is
    /// looked at again after this long.
    #[error("deletion waits for remote work; next check in {0:?}")]
    CleanupPending(std::time::Duration),
}

impl Error {
    /// The object changed under this reconcile (a stale cached copy): look again right away.
    pub fn is_conflict(&self) -> bool {
        use kube::runtime::finalizer::Error as F;
        match self {
            Error::Status(e) => e.is_conflict(),
            Error::Kube(kube::Error::Api(status)) => status.code == 409,
            Error::Finalizer(inner) => match inner.as_ref() {
                F::ApplyFailed(e) | F::CleanupFailed(e) => e.is_conflict(),
                F::AddFinalizer(kube::Error::Api(s)) | F::RemoveFinalizer(kube::Error::Api(s)) => {
                    s.code == 409
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// How long a deletion waiting for remote work waits before it looks again.
    pub fn cleanup_pending(&self) -> Option<std::time::Duration> {
        match self {
            Error::CleanupPending(after) => Some(*after),
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::CleanupFailed(Error::CleanupPending(after)) => {
                    Some(*after)
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Short, bounded label for metrics and logs.
    pub fn metric_label(&self) -> String {
        match self {
            Error::Kube(_) => "kube".into(),
            Error::Mendix(e) => format!("mendix_{}", e.metric_label()),
            Error::Status(_) => "status_write".into(),
            Error::Credentials(_) => "credentials".into(),
            Error::Finalizer(_) => "finalizer".into(),
            Error::MissingObjectKey(_) => "missing_object_key".into(),
            Error::Cached(_) => "cached_object".into(),
            Error::CleanupPending(_) => "cleanup_pending".into(),
            Error::Unconverged(_) => "unconverged".into(),
        }
    }
}
