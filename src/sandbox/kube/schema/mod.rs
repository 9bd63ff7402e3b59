//! Schema machinery of the Kubernetes API sandbox, as pure functions over JSON:
//!
//! - [`CompiledSchema`]: one `openAPIV3Schema` of a CRD version (or a built-in kind), compiled
//!   once, then used to [`validate`](CompiledSchema::validate) objects (schema rules and CEL
//!   `x-kubernetes-validations`, transition rules included), [`prune`](CompiledSchema::prune)
//!   unknown fields and [`apply_defaults`](CompiledSchema::apply_defaults), the way
//!   apiextensions-apiserver does. Violations are [`FieldError`]s worded as kube-apiserver words them.
//! - [`builtin_schema`]: schemas of the built-in kinds the sandbox serves, generated from
//!   k8s-openapi's schemars support.
//! - [`KindSchema`] and [`openapi_v2`], [`openapi_v3_root`], [`openapi_v3_group_version`]: the
//!   OpenAPI documents kubectl reads for `explain`, `apply` and field validation.
//! - [`validate_crd`]: the checks a CRD itself must pass on create and update.
//! - [`printer`]: the JSONPath subset of `additionalPrinterColumns` and Table cells.
//!
//! The order the API server applies them in on a write: prune, default, validate.

mod builtin;
mod cel;
mod crd;
mod defaults;
mod errors;
mod formats;
mod node;
mod openapi;
pub mod printer;
mod prune;
mod validate;

pub use builtin::{builtin_kinds, builtin_schema};
pub use crd::validate_crd;
pub use errors::{FieldError, FieldErrorKind, go_quote, go_value, invalid_status_message};
pub use openapi::{
    KindSchema, group_version_path, openapi_v2, openapi_v2_protobuf, openapi_v3_group_version,
    openapi_v3_root,
};

use serde_json::Value;

/// A compiled `openAPIV3Schema`: structural part, patterns and CEL programs ready to run.
/// Cheap to share behind an `Arc`; `Send + Sync`.
#[derive(Debug)]
pub struct CompiledSchema {
    root: node::Node,
    rules: cel::CelRules,
}

impl CompiledSchema {
    /// Compiles a schema. Errors name the place in the schema, relative to `openAPIV3Schema`
    /// (e.g. `openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule`), so a CRD
    /// create can report them under `spec.versions[i].schema.`.
    pub fn new(schema: &Value) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let path = "openAPIV3Schema";
        let root = node::Node::build(schema, path, &mut errors);
        if schema.is_object() && root.ty.as_deref() != Some("object") {
            errors.push(FieldError::invalid(
                format!("{path}.type"),
                &Value::String(root.ty.clone().unwrap_or_default()),
                "must be object at the root",
            ));
        }
        let rules = cel::CelRules::compile(schema, path, &mut errors);
        if errors.is_empty() {
            Ok(CompiledSchema { root, rules })
        } else {
            Err(errors)
        }
    }

    /// Every violation of `obj`, kube-apiserver style. `old` is the stored object on update: it
    /// makes transition rules (`oldSelf`) run. Call it on a pruned and defaulted object.
    /// CEL rules are skipped after a type, required, enum or size violation, as the API server
    /// does, with one error saying so. Errors come sorted by field.
    pub fn validate(&self, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errors = Vec::new();
        validate::validate(&self.root, obj, "", &mut errors);
        // Both kube-openapi and the CEL walk follow Go map order; sort for a stable answer.
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        if errors.iter().any(|e| blocks_cel(e.kind)) {
            errors.push(FieldError::invalid(
                "",
                &Value::Null,
                "some validation rules were not checked because the object was invalid; \
                 correct the existing errors to complete validation",
            ));
        } else {
            let mut rule_errors = Vec::new();
            self.rules.validate(&self.root, obj, old, &mut rule_errors);
            rule_errors.sort_by(|a, b| a.field.cmp(&b.field));
            errors.extend(rule_errors);
        }
        errors
    }

    /// Drops the fields the schema does not declare and returns their paths, e.g. `spec.foo`.
    pub fn prune(&self, obj: &mut Value) -> Vec<String> {
        let mut pruned = Vec::new();
        prune::prune(&self.root, obj, "", &mut pruned);
        pruned
    }

    /// Fills in `default`s of missing fields (and replaces `null` in non-nullable fields).
    pub fn apply_defaults(&self, obj: &mut Value) {
        defaults::apply(&self.root, obj);
    }
}

/// Schema errors after which the API server does not run CEL rules: the object does not have
/// the shape the rules were written for (apiextensions-apiserver's `hasBlockingErr`).
fn blocks_cel(kind: FieldErrorKind) -> bool {
    matches!(
        kind,
        FieldErrorKind::NotSupported
            | FieldErrorKind::Required
            | FieldErrorKind::TooLong
            | FieldErrorKind::TooMany
            | FieldErrorKind::TypeInvalid
    )
}

#[cfg(test)]
mod tests;
