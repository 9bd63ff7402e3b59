//! Local stand-ins for the remote systems, for tests, benchmarks and the one-command demo:
//! a Mendix API sandbox and a Kubernetes API sandbox. The operator's `run` never needs them.

pub mod demo;
pub mod kube;
pub mod mendix;
