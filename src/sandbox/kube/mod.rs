//! The local Kubernetes API sandbox.

pub mod schema;
