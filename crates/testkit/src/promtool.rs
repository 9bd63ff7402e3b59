//! Prometheus' own `promtool`, built with Go from `crates/testkit/tools/promtool/` (the
//! `github.com/prometheus/prometheus` module at a pinned version) on first use. Used by
//! tests/monitoring.rs to check the alerting rules of `deploy/monitoring/` and run their unit
//! tests.

use std::path::PathBuf;

/// Build tags: `remove_all_sd` leaves out every service-discovery plugin, which rule checks and
/// rule unit tests do not use (a quarter fewer packages to compile).
pub const TAGS: &[&str] = &["remove_all_sd"];

/// The promtool binary, built on first use.
pub fn promtool() -> PathBuf {
    crate::gotool::build(
        &crate::gotool::module("tools/promtool"),
        "github.com/prometheus/prometheus/cmd/promtool",
        TAGS,
        "promtool",
    )
}
