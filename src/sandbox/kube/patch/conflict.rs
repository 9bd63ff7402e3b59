//! Apply conflicts and the other reasons an apply is refused, worded as kube-apiserver
//! words them.

use serde_json::{Value, json};

use super::fieldset::{FieldSet, PathElement};
use super::managed::ManagedFieldsEntry;

/// One field another manager owns with a different value than the apply wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub subresource: Option<String>,
    /// The field as kube-apiserver prints it: `.spec.replicas`, `.status.conditions[type="Ready"]`.
    pub field: String,
    pub path: Vec<PathElement>,
}

impl Conflict {
    /// The manager as kube-apiserver names it: `"mgr"`, `"mgr" using v1`, ….
    pub fn manager_description(&self) -> String {
        ManagedFieldsEntry {
            manager: self.manager.clone(),
            operation: self.operation.clone(),
            api_version: self.api_version.clone(),
            time: None,
            subresource: self.subresource.clone(),
            fields: FieldSet::new(),
        }
        .describe()
    }

    /// The `message` of this conflict's `Status` cause: `conflict with "mgr" using v1`.
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.manager_description())
    }
}

/// Why an apply was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Other managers own fields the apply would change (409 Conflict). Retry with
    /// `force=true` to take them over, or stop applying those fields.
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The request cannot be an apply (400 BadRequest).
    #[error("{0}")]
    BadRequest(String),
    /// The stored object cannot be addressed by field paths, e.g. an associative list with
    /// duplicate or keyless items (500, as kube-apiserver answers).
    #[error("failed to create typed live object: {0}")]
    LiveObject(String),
}

impl ApplyError {
    pub fn http_status(&self) -> u16 {
        match self {
            ApplyError::Conflicts(_) => 409,
            ApplyError::BadRequest(_) => 400,
            ApplyError::LiveObject(_) => 500,
        }
    }

    /// The `reason` of the `Status` body.
    pub fn status_reason(&self) -> &'static str {
        match self {
            ApplyError::Conflicts(_) => "Conflict",
            ApplyError::BadRequest(_) => "BadRequest",
            ApplyError::LiveObject(_) => "InternalError",
        }
    }

    /// The `Status` body kube-apiserver answers with, causes included.
    pub fn status_body(&self) -> Value {
        let mut body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.to_string(), "reason": self.status_reason(),
            "code": self.http_status()});
        if let ApplyError::Conflicts(_) = self {
            body["details"] = json!({"causes": self.causes()});
        }
        body
    }

    /// `details.causes` of the `Status` body: one `FieldManagerConflict` per conflict (the
    /// cause type is serialized as `reason`, as in `metav1.StatusCause`).
    pub fn causes(&self) -> Vec<Value> {
        match self {
            ApplyError::Conflicts(conflicts) => conflicts
                .iter()
                .map(|c| {
                    json!({"reason": "FieldManagerConflict", "message": c.cause_message(),
                           "field": c.field})
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// kube-apiserver's conflict message, e.g.
/// `Apply failed with 1 conflict: conflict with "mgr" using v1: .spec.x`.
fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager_description(),
            only.field
        );
    }
    let mut managers: Vec<String> = conflicts.iter().map(|c| c.manager_description()).collect();
    managers.sort();
    managers.dedup();
    let mut lines = Vec::new();
    for manager in &managers {
        lines.push(format!("conflicts with {manager}:"));
        for c in conflicts
            .iter()
            .filter(|c| &c.manager_description() == manager)
        {
            lines.push(format!("- {}", c.field));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}
