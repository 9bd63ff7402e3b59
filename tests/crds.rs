//! The CRDs: generated output equals the committed files and is documented; on the real API
//! server they are accepted (structural, every CEL rule within the cost budget), their CEL rules
//! accept and reject what they should, and `kubectl explain` documents every field.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use mendix_operator::crd::{
    self, MendixCluster, MendixEnvironment, MendixNamespace, MendixPackage,
};
use mendix_testkit::Harness;
use serde_json::{Value, json};

fn schema_of(file: &str) -> Value {
    let (_, crd) = crd::all()
        .into_iter()
        .find(|(f, _)| *f == file)
        .expect("known CRD file");
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("schema present");
    serde_json::to_value(schema).expect("schema serializes")
}

#[test]
fn committed_crds_match_generated_output() {
    for (file, crd) in crd::all() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("crds")
            .join(file);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        let generated = crd::to_yaml(&crd).expect("CRD renders");
        assert!(
            committed == generated,
            "crds/{file} is out of date: run `cargo run -- crds` and commit the result (see README)"
        );
    }
}

#[test]
fn crds_command_prints_every_crd() {
    let all = crd::all_yaml().expect("renders");
    let docs: Vec<Value> = all
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_yaml::from_str(d).expect("each document is YAML"))
        .collect();
    let names: Vec<&str> = docs
        .iter()
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "mendixpackages.mendixops.io",
            "mendixenvironments.mendixops.io",
            "mendixclusters.mendixops.io",
            "mendixnamespaces.mendixops.io"
        ]
    );
    for d in &docs {
        assert_eq!(d["spec"]["scope"], "Namespaced");
        assert_eq!(d["spec"]["versions"][0]["name"], "v1alpha1");
        assert_eq!(
            d["spec"]["versions"][0]["subresources"]["status"],
            json!({})
        );
    }
    assert_eq!(docs[0]["spec"]["names"]["shortNames"], json!(["mxpkg"]));
    assert_eq!(docs[1]["spec"]["names"]["shortNames"], json!(["mxenv"]));
}

/// The real API server took both CRDs as they are generated: it refuses a schema that is not
/// structural, and a CEL rule over the cost budget, when the CRD is created.
#[tokio::test]
async fn the_real_api_server_accepts_and_serves_both_crds() {
    let h = Harness::new().await;
    let crds: Api<CustomResourceDefinition> = Api::all(h.client.clone());
    for (file, generated) in crd::all() {
        let name = generated.metadata.name.clone().expect("name");
        let stored = crds.get(&name).await.expect("CRD stored");
        let conditions = stored.status.and_then(|s| s.conditions).unwrap_or_default();
        let status = |type_: &str| {
            conditions
                .iter()
                .find(|c| c.type_ == type_)
                .map(|c| (c.status.clone(), c.message.clone()))
        };
        assert_eq!(
            status("Established").map(|s| s.0).as_deref(),
            Some("True"),
            "{file}: {conditions:?}"
        );
        assert_eq!(
            status("NonStructuralSchema"),
            None,
            "{file}: {conditions:?}"
        );
        // Stored as generated: the server dropped nothing of the schema.
        assert_eq!(
            serde_json::to_value(&stored.spec.versions[0].schema).expect("JSON"),
            serde_json::to_value(&generated.spec.versions[0].schema).expect("JSON"),
            "{file}: the stored schema differs from the generated one"
        );
    }
}

/// Every field of every kind, as `kubectl explain --recursive` lists it from the server's
/// OpenAPI.
#[tokio::test]
async fn kubectl_explain_documents_every_field() {
    let h = Harness::new().await;
    let kubectl = h.kubectl();
    for (file, resource) in [
        ("mendixpackages.yaml", "mendixpackages"),
        ("mendixenvironments.yaml", "mendixenvironments"),
        ("mendixclusters.yaml", "mendixclusters"),
        ("mendixnamespaces.yaml", "mendixnamespaces"),
    ] {
        let out = kubectl.ok(&["explain", resource, "--recursive"]).await;
        let mut fields = Vec::new();
        property_names(&schema_of(file), &mut fields);
        let missing: Vec<&String> = fields
            .iter()
            .filter(|f| !out.lines().any(|l| l.trim_start().starts_with(f.as_str())))
            .collect();
        assert!(
            missing.is_empty(),
            "{resource}: explain lacks {missing:?}:\n{out}"
        );
        // A field's own description, one level down.
        let out = kubectl
            .ok(&["explain", &format!("{resource}.spec.credentialsSecretRef")])
            .await;
        assert!(
            out.contains("DESCRIPTION") || out.contains("FIELDS"),
            "{out}"
        );
    }
}

fn property_names(node: &Value, out: &mut Vec<String>) {
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            out.push(name.clone());
            property_names(child, out);
        }
    }
    if let Some(items) = node.get("items") {
        property_names(items, out);
    }
}

/// Counts (described, total) properties below a schema node.
fn description_coverage(node: &Value, path: &str, missing: &mut Vec<String>) -> (usize, usize) {
    let mut described = 0;
    let mut total = 0;
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            let child_path = format!("{path}.{name}");
            total += 1;
            if child
                .get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| !d.trim().is_empty())
            {
                described += 1;
            } else {
                missing.push(child_path.clone());
            }
            let (d, t) = description_coverage(child, &child_path, missing);
            described += d;
            total += t;
        }
    }
    if let Some(items) = node.get("items") {
        let (d, t) = description_coverage(items, &format!("{path}[]"), missing);
        described += d;
        total += t;
    }
    (described, total)
}

#[test]
fn at_least_95_percent_of_properties_are_documented() {
    for (file, _) in crd::all() {
        let mut missing = Vec::new();
        // apiVersion, kind and metadata are the API server's own and documented by it.
        let schema = schema_of(file);
        let mut counted = (0, 0);
        for top in ["spec", "status"] {
            let (d, t) = description_coverage(&schema["properties"][top], top, &mut missing);
            counted.0 += d;
            counted.1 += t;
        }
        let ratio = counted.0 as f64 / counted.1 as f64;
        println!(
            "{file}: {}/{} properties described ({:.1}%)",
            counted.0,
            counted.1,
            ratio * 100.0
        );
        assert!(
            ratio >= 0.95,
            "{file}: only {:.1}% described; missing: {missing:?}",
            ratio * 100.0
        );
    }
}

#[test]
fn printer_columns_show_ready_status_version_and_age() {
    for (file, crd) in crd::all() {
        let columns = crd.spec.versions[0]
            .additional_printer_columns
            .clone()
            .unwrap_or_default();
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        // A cluster registration has no version; every other kind shows one (the package's,
        // the deployed package's, the Mendix Operator's in a namespace).
        let wanted: &[&str] = if file == "mendixclusters.yaml" {
            &["Ready", "Status", "Age"]
        } else {
            &["Ready", "Status", "Version", "Age"]
        };
        for &wanted in wanted {
            assert!(
                names.contains(&wanted),
                "{file} lacks printer column {wanted}: {names:?}"
            );
        }
        let ready = columns
            .iter()
            .find(|c| c.name == "Ready")
            .expect("ready column");
        assert_eq!(
            ready.json_path,
            r#".status.conditions[?(@.type=="Ready")].status"#
        );
    }
}

/// What the real API server says of `object`: a dry-run create, or, with `old`, `old` created
/// and `object` as a dry-run update of it. Empty when admitted, else its message.
async fn server_errors(h: &Harness, object: &Value, old: Option<&Value>) -> Vec<String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let resource = match object["kind"].as_str() {
        Some("MendixPackage") => ApiResource::erase::<MendixPackage>(&()),
        Some("MendixCluster") => ApiResource::erase::<MendixCluster>(&()),
        Some("MendixNamespace") => ApiResource::erase::<MendixNamespace>(&()),
        _ => ApiResource::erase::<MendixEnvironment>(&()),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(h.client.clone(), &h.ns, &resource);
    let name = format!("x{}", COUNTER.fetch_add(1, Ordering::Relaxed));
    let mut object = object.clone();
    object["metadata"]["name"] = name.clone().into();
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let result = match old {
        None => {
            let object = serde_json::from_value(object).expect("an object");
            api.create(&dry_run, &object).await.map(drop)
        }
        Some(old) => {
            let mut old = old.clone();
            old["metadata"]["name"] = name.clone().into();
            let old = serde_json::from_value(old).expect("an object");
            let created = api
                .create(&PostParams::default(), &old)
                .await
                .expect("the old object is admitted");
            object["metadata"]["resourceVersion"] = created.metadata.resource_version.into();
            let object = serde_json::from_value(object).expect("an object");
            api.replace(&name, &dry_run, &object).await.map(drop)
        }
    };
    match result {
        Ok(()) => Vec::new(),
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "refused as invalid: {status:?}");
            vec![status.message]
        }
        Err(e) => panic!("the API server did not answer: {e}"),
    }
}

fn package(spec: Value) -> Value {
    json!({"apiVersion": "mendixops.io/v1alpha1", "kind": "MendixPackage", "metadata": {"name": "p"}, "spec": spec})
}

fn environment(spec: Value) -> Value {
    json!({"apiVersion": "mendixops.io/v1alpha1", "kind": "MendixEnvironment", "metadata": {"name": "e"}, "spec": spec})
}

fn build_package_spec() -> Value {
    json!({
        "target": {"mendixCloud": {"appId": "calc"}},
        "credentialsSecretRef": {"name": "creds"},
        "source": {"build": {"branch": "main", "revision": "abc123", "version": "1.2.3"}}
    })
}

fn environment_spec() -> Value {
    json!({
        "target": {"privateCloud": {"appId": "a", "namespaceId": "n", "environmentId": "test"}},
        "credentialsSecretRef": {"name": "creds"},
        "packageRef": {"name": "p"}
    })
}

#[tokio::test]
async fn package_needs_exactly_one_source() {
    let h = Harness::new().await;
    assert_eq!(
        server_errors(&h, &package(build_package_spec()), None).await,
        Vec::<String>::new()
    );
    let mut two = build_package_spec();
    two["source"]["existing"] = json!({"packageId": "b3d14e53-2654-4534-b374-9179a69ef3cf"});
    let errors = server_errors(&h, &package(two), None).await;
    assert!(
        errors
            .iter()
            .any(|e| e.contains("exactly one of source.build")),
        "{errors:?}"
    );
    let mut none = build_package_spec();
    none["source"] = json!({});
    let errors = server_errors(&h, &package(none), None).await;
    assert!(
        errors
            .iter()
            .any(|e| e.contains("exactly one of source.build")),
        "{errors:?}"
    );
}

#[tokio::test]
async fn package_needs_exactly_one_target() {
    let h = Harness::new().await;
    let mut both = build_package_spec();
    both["target"]["privateCloud"] = json!({"appId": "x"});
    let errors = server_errors(&h, &package(both), None).await;
    assert!(
        errors
            .iter()
            .any(|e| e.contains("exactly one of target.mendixCloud")),
        "{errors:?}"
    );
}

#[tokio::test]
async fn package_source_and_target_are_immutable() {
    let h = Harness::new().await;
    let old = package(build_package_spec());
    let mut changed = build_package_spec();
    changed["source"]["build"]["revision"] = json!("def456");
    let errors = server_errors(&h, &package(changed), Some(&old)).await;
    assert!(
        errors.iter().any(|e| e.contains("source is immutable")),
        "{errors:?}"
    );

    let mut retarget = build_package_spec();
    retarget["target"]["mendixCloud"]["appId"] = json!("other");
    let errors = server_errors(&h, &package(retarget), Some(&old)).await;
    assert!(
        errors.iter().any(|e| e.contains("target is immutable")),
        "{errors:?}"
    );

    let mut policy_only = build_package_spec();
    policy_only["deletionPolicy"] = json!("Delete");
    assert_eq!(
        server_errors(&h, &package(policy_only), Some(&old)).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn environment_rules() {
    let h = Harness::new().await;
    let ok = environment(environment_spec());
    assert_eq!(server_errors(&h, &ok, None).await, Vec::<String>::new());

    let mut both_packages = environment_spec();
    both_packages["packageId"] = json!("b3d14e53-2654-4534-b374-9179a69ef3cf");
    let errors = server_errors(&h, &environment(both_packages), None).await;
    assert!(
        errors
            .iter()
            .any(|e| e.contains("exactly one of spec.packageRef")),
        "{errors:?}"
    );

    let mut memory_on_private = environment_spec();
    memory_on_private["memoryPerInstance"] = json!(1024);
    let errors = server_errors(&h, &environment(memory_on_private), None).await;
    assert!(
        errors
            .iter()
            .any(|e| e.contains("memoryPerInstance is only available")),
        "{errors:?}"
    );

    let mut tags_on_private = environment_spec();
    tags_on_private["tags"] = json!(["a"]);
    let errors = server_errors(&h, &environment(tags_on_private), None).await;
    assert!(
        errors.iter().any(|e| e.contains("tags are only available")),
        "{errors:?}"
    );

    let mut zero_on_cloud = environment_spec();
    zero_on_cloud["target"] = json!({"mendixCloud": {"appId": "calc", "mode": "Test"}});
    zero_on_cloud["instances"] = json!(0);
    let errors = server_errors(&h, &environment(zero_on_cloud), None).await;
    assert!(
        errors
            .iter()
            .any(|e| e.contains("at least 1 on Mendix Cloud")),
        "{errors:?}"
    );

    // Mendix Cloud scales instances and memory in one call and reports neither: both or none.
    let mut instances_only = environment_spec();
    instances_only["target"] = json!({"mendixCloud": {"appId": "calc", "mode": "Production"}});
    instances_only["instances"] = json!(3);
    let errors = server_errors(&h, &environment(instances_only.clone()), None).await;
    assert!(
        errors
            .iter()
            .any(|e| e.contains("set spec.instances and spec.memoryPerInstance together")),
        "{errors:?}"
    );
    instances_only["memoryPerInstance"] = json!(2048);
    assert_eq!(
        server_errors(&h, &environment(instances_only.clone()), None).await,
        Vec::<String>::new()
    );
    // Mendix refuses less than 1024 MB per instance: so does the schema.
    instances_only["memoryPerInstance"] = json!(512);
    let errors = server_errors(&h, &environment(instances_only), None).await;
    assert!(
        errors.iter().any(|e| e.contains("spec.memoryPerInstance")),
        "{errors:?}"
    );

    // The Private Cloud Deploy API takes environment ids of at most 32 characters.
    let mut long_id = environment_spec();
    long_id["target"]["privateCloud"]["environmentId"] = json!("e".repeat(33));
    let errors = server_errors(&h, &environment(long_id), None).await;
    assert!(
        errors
            .iter()
            .any(|e| e.contains("spec.target.privateCloud.environmentId")),
        "{errors:?}"
    );

    let mut constant_both = environment_spec();
    constant_both["constants"] = json!([{"name": "M.C", "value": "x", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]);
    let errors = server_errors(&h, &environment(constant_both), None).await;
    assert!(
        errors
            .iter()
            .any(|e| e.contains("exactly one of value or valueFrom")),
        "{errors:?}"
    );

    let mut retarget = environment_spec();
    retarget["target"]["privateCloud"]["environmentId"] = json!("prod");
    let errors = server_errors(&h, &environment(retarget), Some(&ok)).await;
    assert!(
        errors.iter().any(|e| e.contains("target is immutable")),
        "{errors:?}"
    );
}

#[test]
fn schema_bounds_and_patterns_are_declared() {
    let env = schema_of("mendixenvironments.yaml");
    let spec = &env["properties"]["spec"]["properties"];
    assert_eq!(spec["instances"]["minimum"].as_f64(), Some(0.0));
    assert_eq!(spec["instances"]["maximum"].as_f64(), Some(10.0));
    assert_eq!(spec["runState"]["enum"], json!(["Running", "Stopped"]));
    assert_eq!(spec["constants"]["x-kubernetes-list-type"], "map");
    let pkg = schema_of("mendixpackages.yaml");
    let build =
        &pkg["properties"]["spec"]["properties"]["source"]["properties"]["build"]["properties"];
    let version = regex_lite_match(build["version"]["pattern"].as_str().expect("pattern"));
    assert!(version("2.5.4") && !version("2.5") && !version("v2.5.4") && !version("2.5.4.1"));
    let status = &pkg["properties"]["status"]["properties"]["conditions"];
    assert_eq!(status["x-kubernetes-list-type"], "map");
    assert_eq!(status["x-kubernetes-list-map-keys"], json!(["type"]));
}

/// The version pattern is checked by the same JSON Schema engine tests use for contracts.
fn regex_lite_match(pattern: &str) -> impl Fn(&str) -> bool {
    let validator = jsonschema::validator_for(&json!({"type": "string", "pattern": pattern}))
        .expect("valid pattern");
    move |s: &str| validator.is_valid(&json!(s))
}

#[tokio::test]
async fn examples_are_valid_resources() {
    let h = Harness::new().await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples");
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("deploy/examples exists") {
        let path = entry.expect("dir entry").path();
        let text = std::fs::read_to_string(&path).expect("readable example");
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(document).expect("example is YAML");
            let kind = value["kind"].as_str().unwrap_or_default().to_string();
            let typed = match kind.as_str() {
                "MendixPackage" => serde_json::from_value::<MendixPackage>(value.clone()).map(drop),
                "MendixEnvironment" => {
                    serde_json::from_value::<MendixEnvironment>(value.clone()).map(drop)
                }
                "MendixCluster" => serde_json::from_value::<MendixCluster>(value.clone()).map(drop),
                "MendixNamespace" => {
                    serde_json::from_value::<MendixNamespace>(value.clone()).map(drop)
                }
                "Secret" => Ok(()),
                other => panic!("unexpected kind {other} in {path:?}"),
            };
            typed.unwrap_or_else(|e| panic!("{path:?}: not a valid {kind}: {e}"));
            if kind != "Secret" {
                assert_eq!(
                    server_errors(&h, &value, None).await,
                    Vec::<String>::new(),
                    "{path:?}"
                );
            }
            kinds.push(kind);
        }
    }
    kinds.sort();
    assert_eq!(
        kinds.iter().filter(|k| *k == "MendixPackage").count(),
        2,
        "{kinds:?}"
    );
    for (kind, count) in [
        ("MendixEnvironment", 3),
        ("MendixCluster", 1),
        ("MendixNamespace", 1),
        ("Secret", 3),
    ] {
        assert_eq!(
            kinds.iter().filter(|k| *k == kind).count(),
            count,
            "{kind}: {kinds:?}"
        );
    }
}
