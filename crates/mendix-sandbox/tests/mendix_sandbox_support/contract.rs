//! The Private Cloud OpenAPI contracts as JSON Schema validators for responses.
//!
//! The files live in `../shared/mendix-openapi/` beside the repository (override with
//! `MENDIX_OPENAPI_DIR`). They are parsed with serde_yaml into JSON; the deploy file's duplicate
//! operationIds do not matter here because responses are looked up by path and method. A
//! response schema is validated as `{...schema, "components": <the file's components>}`, so the
//! file's internal `#/components/...` references resolve.

use std::path::PathBuf;

use serde_json::Value;

pub struct Contract {
    build: Value,
    deploy: Value,
}

fn load(name: &str) -> Value {
    let dir = std::env::var("MENDIX_OPENAPI_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/mendix-openapi")
        });
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "cannot read the OpenAPI contract {}: {err}; set MENDIX_OPENAPI_DIR to the directory with the Mendix OpenAPI files",
            path.display()
        )
    });
    serde_yaml::from_str(&text)
        .unwrap_or_else(|err| panic!("{} is not YAML: {err}", path.display()))
}

impl Contract {
    pub fn load() -> Self {
        Contract {
            build: load("privatecloud-build-v4.yaml"),
            deploy: load("privatecloud-deploy-v4.yaml"),
        }
    }

    /// The file that defines `template` (`/jobs/{jobId}` is in both; `api` picks one).
    fn spec(&self, template: &str, build_api: bool) -> &Value {
        if template == "/jobs/{jobId}" {
            return if build_api { &self.build } else { &self.deploy };
        }
        if self.build["paths"].get(template).is_some() {
            &self.build
        } else {
            &self.deploy
        }
    }

    /// Every (method, path template, is-build-file) in both files.
    pub fn operations(&self) -> Vec<(String, String, bool)> {
        let mut operations = Vec::new();
        for (spec, build_api) in [(&self.build, true), (&self.deploy, false)] {
            let Some(paths) = spec["paths"].as_object() else {
                continue;
            };
            for (template, item) in paths {
                for method in ["get", "put", "post", "delete", "patch"] {
                    if item.get(method).is_some() {
                        operations.push((method.to_uppercase(), template.clone(), build_api));
                    }
                }
            }
        }
        operations
    }

    /// The documented statuses of an operation.
    pub fn statuses(&self, method: &str, template: &str, build_api: bool) -> Vec<String> {
        let spec = self.spec(template, build_api);
        spec["paths"][template][method.to_lowercase()]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {template} is not in the contract"))
            .keys()
            .cloned()
            .collect()
    }

    /// Resolve a local `$ref` (`#/a/b`) once.
    fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => spec
                .pointer(reference.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling $ref {reference}")),
            None => value,
        }
    }

    /// Check one answer: its status is documented for the operation, a 202 carries a
    /// `Location`, and the body validates against the documented schema.
    pub fn check(
        &self,
        method: &str,
        template: &str,
        build_api: bool,
        status: u16,
        location: Option<&str>,
        body: &Value,
    ) {
        let spec = self.spec(template, build_api);
        let operation = &spec["paths"][template][method.to_lowercase()];
        let documented = operation["responses"]
            .get(status.to_string())
            .unwrap_or_else(|| {
                panic!(
                    "{method} {template} answered {status}, which the contract does not document (documented: {:?}); body {body}",
                    self.statuses(method, template, build_api)
                )
            });
        let response = Self::resolve(spec, documented);
        if status == 202 {
            assert!(
                location.is_some_and(|l| l.contains("/jobs/")),
                "{method} {template}: a 202 needs a Location header pointing at the job"
            );
        }
        let Some(schema) = response.pointer("/content/application~1json/schema") else {
            return;
        };
        let mut document = schema.clone();
        document["components"] = spec["components"].clone();
        let validator = jsonschema::draft4::new(&document)
            .unwrap_or_else(|err| panic!("schema of {method} {template} {status}: {err}"));
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {template} {status} does not match the contract: {errors:?}\nbody: {body}"
        );
    }

    /// Whether `body` would pass for this operation and status (for self-checks).
    pub fn accepts(
        &self,
        method: &str,
        template: &str,
        build_api: bool,
        status: u16,
        body: &Value,
    ) -> bool {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.check(method, template, build_api, status, Some("/jobs/x"), body)
        }))
        .is_ok()
    }
}
