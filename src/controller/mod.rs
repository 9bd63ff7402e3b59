//! Reconcilers for `MendixPackage` and `MendixEnvironment`.
