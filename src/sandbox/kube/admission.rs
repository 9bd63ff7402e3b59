//! What every write goes through before it is stored: object metadata checks, then the CRD
//! schema (defaulting, pruning of unknown fields, validation including CEL rules).

use serde_json::Value;

use super::resources::ResourceType;
use super::schema::{FieldError, invalid_status_message};
use super::status::{ApiError, Cause};

/// The `fieldValidation` query parameter: what to do with unknown fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(v: Option<&str>) -> Result<Self, ApiError> {
        match v {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }
}

/// RFC 1123 subdomain (most names) or label (namespaces).
fn name_problem(name: &str, label: bool) -> Option<String> {
    let max = if label { 63 } else { 253 };
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (!label && c == '.'));
    let ends_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if name.len() > max {
        return Some(format!("must be no more than {max} characters"));
    }
    if !ok_chars || !ends_ok {
        let what = if label {
            "RFC 1123 label"
        } else {
            "RFC 1123 subdomain"
        };
        return Some(format!(
            "a lowercase {what} must consist of lower case alphanumeric characters, '-'{} and must start and end with an alphanumeric character",
            if label { "" } else { " or '.'" }
        ));
    }
    None
}

/// Metadata checks kube-apiserver applies to every kind.
pub fn check_metadata(rt: &ResourceType, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    if name.is_empty() {
        causes.push(Cause {
            reason: "FieldValueRequired".into(),
            field: "metadata.name".into(),
            message: "Required value: name or generateName is required".into(),
        });
    } else if let Some(problem) = name_problem(name, rt.kind == "Namespace") {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            field: "metadata.name".into(),
            message: format!("Invalid value: {name:?}: {problem}"),
        });
    }
    for field in ["labels", "annotations"] {
        if let Some(map) = obj["metadata"][field].as_object() {
            for (k, v) in map {
                if !v.is_string() {
                    causes.push(Cause {
                        reason: "FieldValueInvalid".into(),
                        field: format!("metadata.{field}.{k}"),
                        message: "Invalid value: must be a string".into(),
                    });
                }
            }
        }
    }
    causes
}

/// Defaults, prunes and validates `obj` against its kind's schema. Returns warnings
/// (unknown fields under `Warn`); unknown fields under `Strict` and invalid values are errors.
pub fn admit(
    rt: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
    validation: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let causes = check_metadata(rt, obj);
    if !causes.is_empty() {
        return Err(ApiError::invalid(&rt.group, &rt.kind, &name, causes));
    }
    let Some(schema) = &rt.compiled else {
        return Ok(Vec::new());
    };
    let mut warnings = Vec::new();
    // kube-apiserver order: prune (reporting unknown fields), default, validate.
    let unknown = schema.prune(obj);
    if !unknown.is_empty() {
        let listed: Vec<String> = unknown
            .iter()
            .map(|f| format!("unknown field {f:?}"))
            .collect();
        match validation {
            FieldValidation::Strict => {
                return Err(ApiError::bad_request(format!(
                    "{} in version {:?} cannot be handled as a {}: strict decoding error: {}",
                    rt.kind,
                    rt.version,
                    rt.kind,
                    listed.join(", ")
                )));
            }
            FieldValidation::Warn => warnings.extend(listed),
            FieldValidation::Ignore => {}
        }
    }
    schema.apply_defaults(obj);
    let errors = schema.validate(obj, old);
    if !errors.is_empty() {
        return Err(invalid(rt, &name, &errors));
    }
    Ok(warnings)
}

/// A 422 Invalid naming every field, worded as kube-apiserver words it.
pub fn invalid(rt: &ResourceType, name: &str, errors: &[FieldError]) -> ApiError {
    let causes = errors
        .iter()
        .map(|e| Cause {
            reason: e.kind.reason().into(),
            field: e.field.clone(),
            message: e.body().into(),
        })
        .collect();
    let mut err = ApiError::invalid(&rt.group, &rt.kind, name, causes);
    err.message = invalid_status_message(&rt.kind, &rt.group, name, errors);
    err
}
