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
//! # How the sandbox server uses it
//!
//! - On CRD create/update: [`validate_crd`]; on success, [`KindSchema::from_crd`] and one
//!   [`CompiledSchema::new`] per served version, kept (behind an `Arc`) until the CRD changes.
//! - On every write of an object: [`CompiledSchema::admit`] (prune, default, validate — the API
//!   server's order), with the stored object as `old` on update. Errors → a 422 `Invalid` Status:
//!   `message` from [`invalid_status_message`], `details.causes` from [`FieldError::to_cause`].
//!   With `fieldValidation=Strict` the pruned paths are an error instead (400, message
//!   `strict decoding error: unknown field "spec.foo", unknown field "spec.bar"`); with `Warn`
//!   each is a `Warning: 299 - "unknown field \"spec.foo\""` header.
//! - `/openapi/v3` and `/openapi/v3/{api/v1|apis/g/v}`: [`openapi_v3_root`] and
//!   [`openapi_v3_group_version`] over the CRD kinds plus [`builtin_kinds`].
//! - `/openapi/v2`: [`openapi_v2_protobuf`] when the `Accept` header asks for protobuf (every
//!   kubectl does; kubectl 1.27–1.32 will not `explain` without it), as
//!   `application/octet-stream`; [`openapi_v2`] when it asks for JSON.
//! - Tables: [`printer::evaluate`] per `additionalPrinterColumns[].jsonPath`, then
//!   [`printer::cell`] for the column type (`date` cells become ages, as the API server sends them).
//!
//! Known gaps against kube-apiserver: CEL cost budgets, `x-kubernetes-embedded-resource` metadata checks,
//! and `<nil>` is printed as the field of errors about the whole object.

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
mod ratchet;
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
    /// makes transition rules (`oldSelf`) run, and errors about values the update left unchanged
    /// are not reported (validation ratcheting, as kube-apiserver 1.30+ does). Call it on a pruned and defaulted object.
    /// CEL rules are skipped after a type, required, enum or size violation, as the API server
    /// does, with one error saying so. Errors come sorted by field.
    pub fn validate(&self, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errors = Vec::new();
        validate::validate(&self.root, obj, "", &mut errors);
        if let Some(old) = old {
            errors.retain(|e| !ratchet::is_ratcheted(&self.root, e, obj, old));
        }
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

    /// One write as the API server admits it: drops unknown fields, applies defaults, then
    /// validates against `old` (the stored object on update). The object is changed in place.
    pub fn admit(&self, obj: &mut Value, old: Option<&Value>) -> Admission {
        let pruned = self.prune(obj);
        self.apply_defaults(obj);
        let errors = self.validate(obj, old);
        Admission { pruned, errors }
    }

    /// How the value at `path` (`spec.constants`, `spec.constants[0].valueFrom`) merges in
    /// server-side apply and strategic merge: lists by `x-kubernetes-list-type`, objects by
    /// `x-kubernetes-map-type`. `None` when the schema does not describe the path.
    pub fn merge_shape(&self, path: &str) -> Option<MergeShape> {
        let node = self.root.at_path(path)?;
        Some(match node.ty.as_deref() {
            Some("array") => match node.list_type {
                node::ListType::Atomic => MergeShape::AtomicList,
                node::ListType::Set => MergeShape::SetList,
                node::ListType::Map => MergeShape::MapList(node.list_map_keys.clone()),
            },
            Some("object") if node.atomic_map => MergeShape::AtomicObject,
            Some("object") => MergeShape::Object,
            _ => MergeShape::Scalar,
        })
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

/// How a value merges (see [`CompiledSchema::merge_shape`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeShape {
    /// A scalar (or untyped value): replaced as a whole.
    Scalar,
    /// An object merged field by field.
    Object,
    /// An object replaced as a whole (`x-kubernetes-map-type: atomic`).
    AtomicObject,
    /// A list replaced as a whole (the default).
    AtomicList,
    /// A list of unique scalars merged as a set.
    SetList,
    /// A list of objects merged by these key fields.
    MapList(Vec<String>),
}

/// What [`CompiledSchema::admit`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    /// Paths of the unknown fields that were dropped (`spec.foo`), for strict field validation
    /// and warnings.
    pub pruned: Vec<String>,
    /// Violations; the write must be refused when there are any.
    pub errors: Vec<FieldError>,
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
