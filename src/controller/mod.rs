//! Reconcilers for `MendixPackage` and `MendixEnvironment`, and what they share: the poll
//! schedule and the status writer.

pub mod backoff;
pub mod status;
