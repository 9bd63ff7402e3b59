//! mendix-operator: a Kubernetes operator that makes Mendix deployments declarative.
//!
//! - [`crd`]: the API types of both kinds, their conditions and a one-line summary of each.
//! - [`controller`]: the reconcilers.
//! - [`runtime`]: configuration, leader election, the metrics and health server, telemetry.
//! - [`metrics`]: the operator's Prometheus metrics.
//! - [`cli`]: the command line.
//!
//! With the `dev` feature (the default; release images are built without it):
//! - [`demo`]: `mendix-operator sandbox`, everything on one machine.
//! - [`bench`]: `mendix-operator bench`, figures for BENCHMARKS.md.
//! - [`dev`]: what those commands and the test kit share.
//!
//! The Mendix API clients are the `mendix-client` crate; the Mendix sandbox, the real
//! control plane and the `kubectl mendix` plugin are crates of their own (`crates/`).

#[cfg(feature = "dev")]
pub mod bench;
pub mod cli;
pub mod controller;
pub mod crd;
#[cfg(feature = "dev")]
pub mod demo;
#[cfg(feature = "dev")]
pub mod dev;
pub mod metrics;
pub mod runtime;
