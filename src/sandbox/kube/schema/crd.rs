//! Checks kube-apiserver makes when a CustomResourceDefinition is created or updated, beyond
//! the built-in CRD schema: names that fit together, one storage version, a structural
//! `openAPIV3Schema` with CEL rules that compile, and printer-column paths that parse.

use super::errors::FieldError;
use super::{CompiledSchema, printer};
use serde_json::Value;

/// Every problem of a CRD (`apiextensions.k8s.io/v1`, as JSON), with API-server field paths
/// such as `spec.versions[0].schema.openAPIV3Schema.properties[spec].type`.
pub fn validate_crd(crd: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();

    if group.is_empty() {
        errors.push(FieldError::required("spec.group", ""));
    } else if !group.contains('.') {
        errors.push(FieldError::invalid(
            "spec.group",
            &spec["group"],
            "should be a domain with at least one dot",
        ));
    }
    for (key, value) in [
        ("plural", plural),
        ("kind", spec["names"]["kind"].as_str().unwrap_or_default()),
    ] {
        if value.is_empty() {
            errors.push(FieldError::required(format!("spec.names.{key}"), ""));
        }
    }
    if !plural.is_empty() && !is_dns_label(plural) {
        errors.push(FieldError::invalid(
            "spec.names.plural",
            &spec["names"]["plural"],
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
        ));
    }
    let expected_name = format!("{plural}.{group}");
    if !plural.is_empty()
        && !group.is_empty()
        && crd["metadata"]["name"].as_str() != Some(&expected_name)
    {
        errors.push(FieldError::invalid(
            "metadata.name",
            &crd["metadata"]["name"],
            &format!(
                "must be spec.names.plural+\".\"+spec.group: {}",
                super::go_quote(&expected_name)
            ),
        ));
    }
    match spec["scope"].as_str() {
        Some("Namespaced" | "Cluster") => {}
        None => errors.push(FieldError::required("spec.scope", "")),
        Some(other) => errors.push(FieldError::not_supported(
            "spec.scope",
            &Value::String(other.to_string()),
            &["Cluster".into(), "Namespaced".into()],
        )),
    }

    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        errors.push(FieldError::required(
            "spec.versions",
            "must have exactly one version marked as storage version",
        ));
    }
    let storage = versions
        .iter()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .count();
    if !versions.is_empty() && storage != 1 {
        errors.push(FieldError::invalid(
            "spec.versions",
            &Value::from(storage),
            "must have exactly one version marked as storage version",
        ));
    }
    for (i, version) in versions.iter().enumerate() {
        let at = format!("spec.versions[{i}]");
        let name = version["name"].as_str().unwrap_or_default();
        if name.is_empty() {
            errors.push(FieldError::required(format!("{at}.name"), ""));
        } else if versions[..i]
            .iter()
            .any(|v| v["name"].as_str() == Some(name))
        {
            errors.push(FieldError::duplicate(
                format!("{at}.name"),
                &version["name"],
            ));
        }
        let schema = &version["schema"]["openAPIV3Schema"];
        if schema.is_null() {
            errors.push(FieldError::required(
                format!("{at}.schema.openAPIV3Schema"),
                "schemas are required",
            ));
        } else if let Err(schema_errors) = CompiledSchema::new(schema) {
            errors.extend(schema_errors.into_iter().map(|e| {
                let field = format!("{at}.schema.{}", e.field);
                FieldError::new(field, e.kind, None, "").with_body_of(&e)
            }));
        }
        let columns = version["additionalPrinterColumns"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for (j, column) in columns.iter().enumerate() {
            let col_at = format!("{at}.additionalPrinterColumns[{j}]");
            if let Some(path) = column["jsonPath"].as_str()
                && let Err(why) = printer::evaluate_all(path, &Value::Null)
            {
                errors.push(FieldError::invalid(
                    format!("{col_at}.jsonPath"),
                    &column["jsonPath"],
                    &why,
                ));
            }
            match column["type"].as_str() {
                Some("integer" | "number" | "string" | "boolean" | "date") => {}
                _ => errors.push(FieldError::not_supported(
                    format!("{col_at}.type"),
                    &column["type"],
                    &[
                        "boolean".into(),
                        "date".into(),
                        "integer".into(),
                        "number".into(),
                        "string".into(),
                    ],
                )),
            }
        }
    }
    errors
}

/// RFC 1123 label: lowercase alphanumerics and '-', alphanumeric at both ends, at most 63.
fn is_dns_label(s: &str) -> bool {
    s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

impl FieldError {
    /// This error re-homed under a new field, keeping `other`'s wording after the field name.
    fn with_body_of(self, other: &FieldError) -> FieldError {
        let message = format!("{}: {}", self.field, other.body());
        FieldError { message, ..self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd_file(file: &str) -> Value {
        let path = format!("{}/crds/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).expect("CRD file");
        serde_yaml::from_str(&text).expect("CRD YAML")
    }

    #[test]
    fn the_real_crds_are_accepted() {
        for file in ["mendixenvironments.yaml", "mendixpackages.yaml"] {
            let errors = validate_crd(&crd_file(file));
            assert!(errors.is_empty(), "{file}: {errors:?}");
        }
    }

    #[test]
    fn broken_crds_are_refused_with_field_paths() {
        let mut crd = crd_file("mendixpackages.yaml");
        crd["metadata"]["name"] = json!("packages.mendixops.io");
        crd["spec"]["scope"] = json!("Global");
        crd["spec"]["versions"][0]["storage"] = json!(false);
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"] =
            json!([{"rule": "self.source ==", "message": "m"}]);
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            ["extra"] = json!({"description": "untyped"});
        crd["spec"]["versions"][0]["additionalPrinterColumns"][0]["jsonPath"] = json!(".status[");
        crd["spec"]["versions"][0]["additionalPrinterColumns"][1]["type"] = json!("text");
        let errors = validate_crd(&crd);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "metadata.name",
                "spec.scope",
                "spec.versions",
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[extra].type",
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule",
                "spec.versions[0].additionalPrinterColumns[0].jsonPath",
                "spec.versions[0].additionalPrinterColumns[1].type",
            ],
            "{errors:#?}"
        );
        assert_eq!(
            errors[0].message,
            r#"metadata.name: Invalid value: "packages.mendixops.io": must be spec.names.plural+"."+spec.group: "mendixpackages.mendixops.io""#
        );
        assert_eq!(
            errors[3].message,
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[extra].type: Required value: must not be empty for specified object fields"
        );
        assert_eq!(errors[1].kind.reason(), "FieldValueNotSupported");

        let errors = validate_crd(&json!({"metadata": {"name": "x"}, "spec": {}}));
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "spec.group",
                "spec.names.plural",
                "spec.names.kind",
                "spec.scope",
                "spec.versions"
            ]
        );
    }
}
