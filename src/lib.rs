//! mendix-operator: a Kubernetes operator that makes Mendix deployments declarative.
//!
//! - [`crd`]: the API types of both kinds and their conditions.
//! - [`mendix`]: clients for the Mendix Build and Deploy APIs.
//! - [`controller`]: the reconcilers.
//! - [`sandbox`]: local Mendix and Kubernetes API servers for tests and demos.
//! - [`bench`]: `mendix-operator bench`, figures for BENCHMARKS.md.
//! - [`cli`]: the command line.

pub mod bench;
pub mod cli;
pub mod controller;
pub mod crd;
pub mod mendix;
pub mod metrics;
pub mod plugin;
pub mod runtime;
pub mod sandbox;
