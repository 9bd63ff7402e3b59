//! Request counts per verb and resource, so tests can check what a controller did (e.g. that
//! it writes status only when something changed): `GET /_sandbox/stats`, or
//! [`super::KubeSandbox::stats`]. Keys read `patch mendixops.io/mendixenvironments/status`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Counts shared by every clone of the sandbox.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl Stats {
    /// Counts one request: `verb` as Kubernetes names it (`get`, `list`, `watch`, `create`,
    /// `update`, `patch`, `delete`, `deletecollection`).
    pub fn count(&self, verb: &str, group: &str, plural: &str, subresource: Option<&str>) {
        let mut key = format!("{verb} ");
        if !group.is_empty() {
            key.push_str(group);
            key.push('/');
        }
        key.push_str(plural);
        if let Some(sub) = subresource {
            key.push('/');
            key.push_str(sub);
        }
        *self.lock().entry(key).or_default() += 1;
    }

    /// Every count so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.lock().clone()
    }

    pub fn reset(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_verb_group_resource_and_subresource() {
        let stats = Stats::default();
        stats.count(
            "patch",
            "mendixops.io",
            "mendixenvironments",
            Some("status"),
        );
        stats.count(
            "patch",
            "mendixops.io",
            "mendixenvironments",
            Some("status"),
        );
        stats.count("get", "", "secrets", None);
        let counts = stats.snapshot();
        assert_eq!(counts["patch mendixops.io/mendixenvironments/status"], 2);
        assert_eq!(counts["get secrets"], 1);
        stats.reset();
        assert!(stats.snapshot().is_empty());
    }
}
