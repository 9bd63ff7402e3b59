//! What kube-apiserver's apiextensions controllers do for a CustomResourceDefinition: the
//! structural and schema checks on create/update, the Established status, and serving its kinds.

use serde_json::{Value, json};

use super::api::now;
use super::resources;
use super::status::{ApiError, Cause};
use super::store::Store;

/// Structural checks of a CRD before it is stored.
pub(crate) fn check_crd(crd: &Value) -> Result<(), ApiError> {
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    let mut causes = Vec::new();
    let mut require = |ok: bool, field: &str, message: String| {
        if !ok {
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                field: field.into(),
                message,
            });
        }
    };
    require(!group.is_empty(), "spec.group", "Required value".into());
    require(
        !plural.is_empty(),
        "spec.names.plural",
        "Required value".into(),
    );
    require(
        spec["names"]["kind"]
            .as_str()
            .is_some_and(|k| !k.is_empty()),
        "spec.names.kind",
        "Required value".into(),
    );
    require(
        name == format!("{plural}.{group}"),
        "metadata.name",
        format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
    );
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    require(
        !versions.is_empty(),
        "spec.versions",
        "Invalid value: must have exactly one version marked as storage version".into(),
    );
    let storage = versions
        .iter()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .count();
    require(
        storage == 1,
        "spec.versions",
        format!(
            "Invalid value: must have exactly one version marked as storage version, found {storage}"
        ),
    );
    for e in resources::compile_crd_schemas(crd) {
        causes.push(Cause {
            reason: e.kind.reason().into(),
            field: e.field.clone(),
            message: e.body().into(),
        });
    }
    for (i, v) in versions.iter().enumerate() {
        let Some(schema) = v["schema"].get("openAPIV3Schema") else {
            continue;
        };
        for violation in crate::crd::structural::violations(schema) {
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                field: format!("spec.versions[{i}].schema.openAPIV3Schema"),
                message: format!("Invalid value: the schema is not structural: {violation}"),
            });
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            name,
            causes,
        ))
    }
}

/// The status the CRD controllers of kube-apiserver would write: names accepted, established.
pub(crate) fn set_crd_status(crd: &mut Value) {
    let t = now();
    let condition = |type_: &str, reason: &str, message: &str| json!({"type": type_, "status": "True", "lastTransitionTime": t, "reason": reason, "message": message});
    let mut names = crd["spec"]["names"].clone();
    if names.get("singular").is_none() {
        names["singular"] = json!(names["kind"].as_str().unwrap_or_default().to_lowercase());
    }
    if names.get("listKind").is_none() {
        names["listKind"] = json!(format!(
            "{}List",
            names["kind"].as_str().unwrap_or_default()
        ));
    }
    let stored: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .map(|v| v["name"].clone())
        .collect();
    crd["status"] = json!({
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": names,
        "storedVersions": stored,
    });
}

/// Serves the kinds a stored CRD declares (replacing what an older version of it declared).
pub(crate) fn register_crd(store: &mut Store, crd: &Value) {
    let group = crd["spec"]["group"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let plural = crd["spec"]["names"]["plural"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    store.registry.remove_resource(&group, &plural);
    for t in resources::from_crd(crd) {
        store.registry.insert(t);
    }
}
