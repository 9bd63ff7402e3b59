//! Local stand-ins and real stand-ups for tests, benchmarks and the one-command demo: a Mendix
//! API sandbox (the only stand-in the project owns) and a real Kubernetes control plane built
//! from Kubernetes' own modules. The operator's `run` never needs them.

pub mod control_plane;
pub mod demo;
pub mod mendix;
