//! One line of truth per Mendix resource: kind, name, Ready, phase, step, version, message.
//! Shared by `kubectl mendix get` and the live progress of `mendix-operator sandbox`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;

use super::{MendixEnvironment, MendixPackage};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Short kind as kubectl knows it: `mxpkg` or `mxenv`.
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    /// `True`, `False` or `Unknown` (no status yet, or status of an older generation).
    pub ready: String,
    pub phase: String,
    pub step: String,
    pub version: String,
    /// The Stalled message when stalled, else the Reconciling message, else the Ready message.
    pub message: String,
}

impl Summary {
    pub fn is_ready(&self) -> bool {
        self.ready == "True"
    }

    /// `mxenv/calc-acceptance`
    pub fn reference(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

fn enum_label<T: serde::Serialize>(value: Option<&T>) -> String {
    value
        .and_then(|v| serde_json::to_value(v).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn is_true<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// Ready as kstatus reads it: only a status written for the current generation counts.
fn ready(conditions: &[Condition], observed: Option<i64>, generation: Option<i64>) -> String {
    if observed.is_none() || observed != generation {
        return "Unknown".into();
    }
    conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.clone())
        .unwrap_or_else(|| "Unknown".into())
}

fn message(conditions: &[Condition]) -> String {
    is_true(conditions, "Stalled")
        .or_else(|| is_true(conditions, "Reconciling"))
        .or_else(|| conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

pub fn package(p: &MendixPackage) -> Summary {
    let status = p.status.clone().unwrap_or_default();
    Summary {
        kind: "mxpkg",
        namespace: p.namespace().unwrap_or_default(),
        name: p.name_any(),
        ready: ready(
            &status.conditions,
            status.observed_generation,
            p.metadata.generation,
        ),
        phase: enum_label(status.phase.as_ref()),
        step: status
            .operation
            .as_ref()
            .and_then(|o| o.step.clone())
            .unwrap_or_default(),
        version: status.version.clone().unwrap_or_default(),
        message: message(&status.conditions),
    }
}

pub fn environment(e: &MendixEnvironment) -> Summary {
    let status = e.status.clone().unwrap_or_default();
    Summary {
        kind: "mxenv",
        namespace: e.namespace().unwrap_or_default(),
        name: e.name_any(),
        ready: ready(
            &status.conditions,
            status.observed_generation,
            e.metadata.generation,
        ),
        phase: enum_label(status.phase.as_ref()),
        step: status
            .operation
            .as_ref()
            .and_then(|o| o.step.clone())
            .unwrap_or_default(),
        version: status.deployed_version.clone().unwrap_or_default(),
        message: message(&status.conditions),
    }
}

/// A plain-text table with left-aligned columns, like `kubectl get`.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let last = row.len().saturating_sub(1);
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i == last {
                line.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count()) + 3;
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_of_an_older_generation_is_not_ready() {
        let mut e: MendixEnvironment = serde_json::from_value(serde_json::json!({
            "apiVersion": "mendixops.io/v1alpha1", "kind": "MendixEnvironment",
            "metadata": {"name": "a", "namespace": "n", "generation": 2},
            "spec": {"target": {"mendixCloud": {"appId": "calc", "mode": "Test"}},
                     "credentialsSecretRef": {"name": "s"}, "packageId": "p"},
            "status": {"observedGeneration": 1, "phase": "Running", "deployedVersion": "1.0.0",
                       "conditions": [{"type": "Ready", "status": "True", "reason": "Ready",
                                       "message": "running", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        }))
        .expect("valid environment");
        let s = environment(&e);
        assert_eq!(s.ready, "Unknown");
        assert_eq!(s.phase, "Running");
        assert_eq!(s.version, "1.0.0");
        e.metadata.generation = Some(1);
        assert!(environment(&e).is_ready());
        assert_eq!(environment(&e).message, "running");
    }

    #[test]
    fn table_aligns_columns() {
        let t = table(
            &["KIND", "NAME"],
            &[
                vec!["mxenv".into(), "a".into()],
                vec!["x".into(), "bb".into()],
            ],
        );
        assert_eq!(t, "KIND    NAME\nmxenv   a\nx       bb\n");
    }
}
