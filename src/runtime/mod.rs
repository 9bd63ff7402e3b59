//! What `mendix-operator run` is made of besides the reconcilers: configuration, logging,
//! the metrics and health endpoint, and leader election.

pub mod allocator;
pub mod config;
pub mod gauges;
pub mod kube_client;
pub mod operator;
pub mod server;
pub mod telemetry;
