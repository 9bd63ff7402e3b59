//! The patch and server-side-apply machinery of the Kubernetes sandbox, driven through its
//! public API with the operator's own CRD (crds/mendixenvironments.yaml): the writes kubectl
//! and the operator make to a MendixEnvironment, in order.

use mendix_operator::sandbox::kube::patch::{
    ApplyError, FieldManager, merge_patch, parse_apply_body, strategic_merge_patch,
};
use serde_json::{Value, json};

fn environment_manager() -> FieldManager {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crds/mendixenvironments.yaml"
    ))
    .expect("crds/mendixenvironments.yaml is checked in");
    let crd: Value = serde_yaml::from_str(&text).expect("the CRD is valid YAML");
    FieldManager::for_crd(&crd, "v1alpha1").expect("the CRD serves v1alpha1")
}

/// What `kubectl apply --server-side -f env.yaml` sends.
const MANIFEST: &str = r#"
apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata:
  name: shop-test
  namespace: shop
  labels:
    app.kubernetes.io/part-of: shop
spec:
  target:
    mendixCloud:
      appId: shop
      mode: Test
  credentialsSecretRef:
    name: mendix-credentials
  packageRef:
    name: shop-main
  instances: 1
  constants:
    - name: Shop.ApiUrl
      value: https://api.example.com
    - name: Shop.Banner
      value: Welcome
  tags: [web, shop]
"#;

fn fields_of(obj: &Value, manager: &str) -> Value {
    obj["metadata"]["managedFields"]
        .as_array()
        .and_then(|entries| entries.iter().find(|e| e["manager"] == manager))
        .map(|e| e["fieldsV1"].clone())
        .unwrap_or(Value::Null)
}

fn entry_of(obj: &Value, manager: &str) -> Value {
    obj["metadata"]["managedFields"]
        .as_array()
        .and_then(|entries| entries.iter().find(|e| e["manager"] == manager))
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn a_mendix_environment_through_kubectl_and_the_operator() {
    let fm = environment_manager();
    let applied = parse_apply_body(MANIFEST.as_bytes()).unwrap();

    // 1. kubectl apply --server-side creates it.
    let live = fm
        .apply(
            None,
            &applied,
            "kubectl",
            false,
            None,
            "2026-11-22T10:00:00Z",
        )
        .unwrap();
    assert_eq!(
        fields_of(&live, "kubectl"),
        json!({
            "f:metadata": {"f:labels": {"f:app.kubernetes.io/part-of": {}}},
            "f:spec": {
                "f:target": {"f:mendixCloud": {"f:appId": {}, "f:mode": {}}},
                "f:credentialsSecretRef": {"f:name": {}},
                "f:packageRef": {"f:name": {}},
                "f:instances": {},
                "f:constants": {
                    "k:{\"name\":\"Shop.ApiUrl\"}": {".": {}, "f:name": {}, "f:value": {}},
                    "k:{\"name\":\"Shop.Banner\"}": {".": {}, "f:name": {}, "f:value": {}}},
                "f:tags": {"v:\"web\"": {}, "v:\"shop\"": {}}}})
    );

    // 2. The operator writes status through /status with its own manager.
    let status = json!({"apiVersion": "mendixops.io/v1alpha1", "kind": "MendixEnvironment",
        "metadata": {"name": "shop-test", "namespace": "shop"},
        "status": {"phase": "Deploying", "conditions": [
            {"type": "Ready", "status": "False", "reason": "Deploying", "message": "3/5: starting app",
             "lastTransitionTime": "2026-11-22T10:00:01Z"},
            {"type": "Reconciling", "status": "True", "reason": "Deploying", "message": "3/5: starting app",
             "lastTransitionTime": "2026-11-22T10:00:01Z"}]}});
    let live = fm
        .apply(
            Some(&live),
            &status,
            "mendix-operator",
            true,
            Some("status"),
            "2026-11-22T10:00:01Z",
        )
        .unwrap();
    let operator = entry_of(&live, "mendix-operator");
    assert_eq!(operator["subresource"], "status");
    assert_eq!(operator["operation"], "Apply");
    assert!(operator["fieldsV1"]["f:status"]["f:conditions"]["k:{\"type\":\"Ready\"}"].is_object());
    assert!(fields_of(&live, "kubectl").get("f:status").is_none());

    // 3. Someone edits instances with `kubectl patch --type merge`.
    let mut edited = merge_patch(&live, br#"{"spec":{"instances":3}}"#).unwrap();
    fm.update(
        Some(&live),
        &mut edited,
        "kubectl-patch",
        "Update",
        None,
        "2026-11-22T10:00:02Z",
    );
    assert_eq!(
        fields_of(&edited, "kubectl-patch"),
        json!({"f:spec": {"f:instances": {}}})
    );
    let live = edited;

    // 4. Re-applying the unchanged manifest conflicts on that field, with the API server's cause.
    let err = fm
        .apply(
            Some(&live),
            &applied,
            "kubectl",
            false,
            None,
            "2026-11-22T10:00:03Z",
        )
        .unwrap_err();
    assert!(matches!(err, ApplyError::Conflicts(_)));
    let body = err.status_body();
    assert_eq!(body["code"], 409);
    assert_eq!(
        body["message"],
        "Apply failed with 1 conflict: conflict with \"kubectl-patch\" using mendixops.io/v1alpha1: .spec.instances"
    );
    assert_eq!(body["details"]["causes"][0]["field"], ".spec.instances");

    // 5. `--force-conflicts` takes it back; dropping a constant from the manifest removes it.
    let mut without_banner = applied.clone();
    without_banner["spec"]["constants"] =
        json!([{"name": "Shop.ApiUrl", "value": "https://api.example.com"}]);
    let live = fm
        .apply(
            Some(&live),
            &without_banner,
            "kubectl",
            true,
            None,
            "2026-11-22T10:00:04Z",
        )
        .unwrap();
    assert_eq!(live["spec"]["instances"], 1);
    assert_eq!(
        live["spec"]["constants"],
        json!([{"name": "Shop.ApiUrl", "value": "https://api.example.com"}])
    );
    assert_eq!(
        fields_of(&live, "kubectl-patch"),
        Value::Null,
        "lost its only field"
    );
    assert_eq!(
        live["status"]["phase"], "Deploying",
        "status is the operator's"
    );

    // 6. The operator's next status apply drops Reconciling: only that condition goes.
    let mut ready = status.clone();
    ready["status"] = json!({"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "reason": "Running", "message": "app is running",
         "lastTransitionTime": "2026-11-22T10:00:05Z"}]});
    let live = fm
        .apply(
            Some(&live),
            &ready,
            "mendix-operator",
            true,
            Some("status"),
            "2026-11-22T10:00:05Z",
        )
        .unwrap();
    let types: Vec<&Value> = live["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["type"])
        .collect();
    assert_eq!(types, vec!["Ready"]);

    // 7. Strategic merge patch is not available for custom resources (kubectl patch's default).
    let gvk = kube::core::GroupVersionKind::gvk("mendixops.io", "v1alpha1", "MendixEnvironment");
    let err = strategic_merge_patch(&live, br#"{"spec":{"instances":2}}"#, &gvk).unwrap_err();
    assert_eq!(err.http_status(), 415);
}
