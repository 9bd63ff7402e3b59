//! The `kubectl-mendix` plugin (`kubectl mendix ...` when installed beside kubectl).

pub mod summary;
