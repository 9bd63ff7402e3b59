//! The OpenAPI documents kubectl reads from an API server, built from the kinds' schemas:
//!
//! - `/openapi/v3` ([`openapi_v3_root`]) lists one document per group-version, each with a
//!   content hash in its URL (kubectl caches documents by that URL);
//! - `/openapi/v3/apis/{group}/{version}` ([`openapi_v3_group_version`]) carries the kinds in
//!   `components.schemas`, tagged with `x-kubernetes-group-version-kind`, which is what
//!   `kubectl explain` (1.27+) looks up; and `paths` whose PATCH operations list the
//!   `fieldValidation` and `dryRun` query parameters, which is how kubectl decides that the server
//!   validates fields itself (`--validate=strict`, the default) instead of validating client-side;
//! - `/openapi/v2` ([`openapi_v2`]) is the same in Swagger 2.0 form, for older code paths.
//!   Note kubectl asks for it in protobuf; this is its JSON form.

use super::builtin::generate;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// One kind as the OpenAPI documents describe it.
///
/// `schema` is the kind's `openAPIV3Schema` (for a CRD version) or a built-in schema from
/// [`super::builtin_schema`]. `subresources` lists the subresources served (`"status"`,
/// `"scale"`), which get their own paths.
#[derive(Clone, Debug, PartialEq)]
pub struct KindSchema {
    /// API group, empty for the core group.
    pub group: String,
    /// Version, e.g. `v1alpha1`.
    pub version: String,
    /// Kind, e.g. `MendixEnvironment`.
    pub kind: String,
    /// Resource name in URLs, e.g. `mendixenvironments`.
    pub plural: String,
    /// Namespaced (true) or cluster-scoped.
    pub namespaced: bool,
    /// The kind's schema.
    pub schema: Value,
    /// Defined by a CRD: like the API server, its PATCH does not offer strategic merge patch,
    /// so kubectl's client-side apply falls back to a JSON merge patch.
    pub custom: bool,
}

impl KindSchema {
    /// Every served version of a CRD (`apiextensions.k8s.io/v1` JSON) that has a schema.
    pub fn from_crd(crd: &Value) -> Vec<KindSchema> {
        let spec = &crd["spec"];
        let group = spec["group"].as_str().unwrap_or_default();
        let kind = spec["names"]["kind"].as_str().unwrap_or_default();
        let plural = spec["names"]["plural"].as_str().unwrap_or_default();
        let namespaced = spec["scope"].as_str() != Some("Cluster");
        let versions = spec["versions"].as_array().cloned().unwrap_or_default();
        versions
            .iter()
            .filter(|v| v["served"].as_bool().unwrap_or(false))
            .filter_map(|v| {
                let schema = v["schema"]["openAPIV3Schema"].clone();
                (!schema.is_null()).then(|| KindSchema {
                    group: group.to_string(),
                    version: v["name"].as_str().unwrap_or_default().to_string(),
                    kind: kind.to_string(),
                    plural: plural.to_string(),
                    namespaced,
                    schema,
                    custom: true,
                })
            })
            .collect()
    }

    /// The definition name kube-apiserver gives the kind: `io.k8s.api.core.v1.Secret` for
    /// built-ins, the reversed group for CRDs (`io.mendixops.v1alpha1.MendixEnvironment`).
    pub fn definition_name(&self) -> String {
        let (group, version, kind) = (&self.group, &self.version, &self.kind);
        if group.is_empty() {
            format!("io.k8s.api.core.{version}.{kind}")
        } else if group == "apiextensions.k8s.io" {
            format!("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{version}.{kind}")
        } else if let Some(short) = group.strip_suffix(".k8s.io") {
            format!("io.k8s.api.{short}.{version}.{kind}")
        } else {
            let reversed: Vec<&str> = group.split('.').rev().collect();
            format!("{}.{version}.{kind}", reversed.join("."))
        }
    }

    /// `api/v1` or `apis/{group}/{version}`: the key in the `/openapi/v3` root.
    pub fn group_version_path(&self) -> String {
        group_version_path(&self.group, &self.version)
    }

    fn gvk(&self) -> Value {
        json!({"group": self.group, "version": self.version, "kind": self.kind})
    }
}

/// `api/v1` for the core group, `apis/{group}/{version}` otherwise.
pub fn group_version_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// The flavour of document being written: where definitions live and how parameters look.
#[derive(Clone, Copy, PartialEq)]
enum Flavour {
    V2,
    V3,
}

impl Flavour {
    fn ref_to(self, name: &str) -> Value {
        match self {
            Flavour::V2 => json!({"$ref": format!("#/definitions/{name}")}),
            Flavour::V3 => json!({"$ref": format!("#/components/schemas/{name}")}),
        }
    }

    fn settings(self) -> SchemaSettings {
        let mut settings = SchemaSettings::openapi3();
        settings.meta_schema = None;
        if self == Flavour::V2 {
            settings.definitions_path = "/definitions".into();
        }
        settings
    }
}

/// `/openapi/v2`: a Swagger 2.0 document with every kind's definition and paths.
pub fn openapi_v2(kinds: &[KindSchema]) -> Value {
    let flavour = Flavour::V2;
    let mut definitions = meta_definitions(flavour);
    let mut paths = Map::new();
    for k in kinds {
        add_kind(k, flavour, &mut definitions, &mut paths);
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "definitions": definitions,
    })
}

/// `/openapi/v2` for a client that asks for protobuf (every kubectl does, with
/// `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, and kubectl 1.27–1.32
/// refuse to run `explain` when that request fails): a gnostic `openapi_v2.Document` holding
/// the Swagger version and `info` only. kubectl takes kind schemas from OpenAPI v3; the v2
/// definitions are in the JSON form ([`openapi_v2`]). Serve it as `application/octet-stream`:
/// Go's MIME parser rejects the `@` of the protobuf media type in a `Content-Type`.
pub fn openapi_v2_protobuf() -> Vec<u8> {
    fn field(out: &mut Vec<u8>, number: u8, bytes: &[u8]) {
        out.push((number << 3) | 2); // length-delimited
        let mut len = bytes.len();
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(bytes);
    }
    let mut info = Vec::new();
    field(&mut info, 1, b"Kubernetes"); // Info.title
    field(&mut info, 2, b"v1.33.0"); // Info.version
    let mut document = Vec::new();
    field(&mut document, 1, b"2.0"); // Document.swagger
    field(&mut document, 2, &info); // Document.info
    document
}

/// `/openapi/v3`: `{"paths": {"apis/g/v": {"serverRelativeURL": "/openapi/v3/apis/g/v?hash=.."}}}`
/// for every group-version among `kinds`; the hash changes whenever that document changes.
pub fn openapi_v3_root(kinds: &[KindSchema]) -> Value {
    let mut by_gv: BTreeMap<String, Vec<KindSchema>> = BTreeMap::new();
    for k in kinds {
        by_gv
            .entry(k.group_version_path())
            .or_default()
            .push(k.clone());
    }
    let mut paths = Map::new();
    for (gv, gv_kinds) in by_gv {
        let doc = openapi_v3_group_version(&gv_kinds);
        let hash = hex::encode_upper(Sha256::digest(doc.to_string().as_bytes()));
        paths.insert(
            gv.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

/// `/openapi/v3/apis/{group}/{version}`: an OpenAPI 3.0 document for the kinds of one
/// group-version (pass only those).
pub fn openapi_v3_group_version(kinds: &[KindSchema]) -> Value {
    let flavour = Flavour::V3;
    let mut schemas = meta_definitions(flavour);
    let mut paths = Map::new();
    for k in kinds {
        add_kind(k, flavour, &mut schemas, &mut paths);
    }
    let title = kinds
        .first()
        .map(|k| format!("Kubernetes {}", k.group_version_path()))
        .unwrap_or_else(|| "Kubernetes".to_string());
    json!({
        "openapi": "3.0.0",
        "info": {"title": title, "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// ObjectMeta, ListMeta and everything they refer to, from k8s-openapi (generated once).
fn meta_definitions(flavour: Flavour) -> Map<String, Value> {
    static V2: OnceLock<Map<String, Value>> = OnceLock::new();
    static V3: OnceLock<Map<String, Value>> = OnceLock::new();
    let cell = match flavour {
        Flavour::V2 => &V2,
        Flavour::V3 => &V3,
    };
    cell.get_or_init(|| {
        let (object_meta, mut definitions) = generate::<ObjectMeta>(flavour.settings());
        definitions.insert(OBJECT_META.to_string(), object_meta);
        let (list_meta, list_definitions) = generate::<ListMeta>(flavour.settings());
        definitions.insert(LIST_META.to_string(), list_meta);
        definitions.extend(list_definitions);
        definitions
    })
    .clone()
}

/// Adds the kind's definition, its list's definition and its paths.
fn add_kind(
    k: &KindSchema,
    flavour: Flavour,
    definitions: &mut Map<String, Value>,
    paths: &mut Map<String, Value>,
) {
    let name = k.definition_name();
    let list_name = format!("{name}List");
    definitions.insert(name.clone(), kind_definition(k, flavour));
    definitions.insert(
        list_name.clone(),
        json!({
            "description": format!("{}List is a list of {}", k.kind, k.kind),
            "type": "object",
            "required": ["items"],
            "properties": {
                "apiVersion": api_version_property(),
                "kind": kind_property(),
                "items": {"type": "array", "items": flavour.ref_to(&name),
                          "description": format!("List of {}.", k.plural)},
                "metadata": with_description(flavour.ref_to(LIST_META), flavour,
                    "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"),
            },
            "x-kubernetes-group-version-kind": [
                {"group": k.group, "version": k.version, "kind": format!("{}List", k.kind)}
            ],
        }),
    );
    for (path, item) in kind_paths(k, flavour, &name, &list_name) {
        paths.insert(path, item);
    }
}

/// The kind's schema with `apiVersion`, `kind` and `metadata` (a reference to ObjectMeta) as the
/// API server publishes them, and its group-version-kind.
fn kind_definition(k: &KindSchema, flavour: Flavour) -> Value {
    let mut schema = k.schema.clone();
    let Some(map) = schema.as_object_mut() else {
        return schema;
    };
    map.remove("$schema");
    let properties = map
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(props) = properties.as_object_mut() {
        props.insert("apiVersion".into(), api_version_property());
        props.insert("kind".into(), kind_property());
        props.insert(
            "metadata".into(),
            with_description(
                flavour.ref_to(OBJECT_META),
                flavour,
                "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
            ),
        );
    }
    map.insert(
        "x-kubernetes-group-version-kind".into(),
        Value::Array(vec![k.gvk()]),
    );
    schema
}

/// A reference with a description beside it: OpenAPI 3.0 ignores siblings of `$ref`, so the
/// API server wraps the reference in `allOf`; Swagger 2.0 keeps it bare.
fn with_description(reference: Value, flavour: Flavour, description: &str) -> Value {
    match flavour {
        Flavour::V3 => json!({"description": description, "allOf": [reference]}),
        Flavour::V2 => {
            let mut r = reference;
            if let Some(m) = r.as_object_mut() {
                m.insert("description".into(), Value::String(description.into()));
            }
            r
        }
    }
}

fn api_version_property() -> Value {
    json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"})
}

fn kind_property() -> Value {
    json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"})
}

/// Paths of the kind: the collection, the item and the `status` subresource (when the schema
/// has a `status` property, as for every kind served here).
fn kind_paths(
    k: &KindSchema,
    flavour: Flavour,
    name: &str,
    list_name: &str,
) -> Vec<(String, Value)> {
    let prefix = format!("/{}", k.group_version_path());
    let scope = if k.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", k.plural)
    } else {
        format!("{prefix}/{}", k.plural)
    };
    let op_id = |verb: &str, suffix: &str| {
        let scope_word = if k.namespaced { "Namespaced" } else { "" };
        let gv: String = k
            .group
            .split('.')
            .next()
            .unwrap_or_default()
            .chars()
            .chain(k.version.chars())
            .collect();
        format!("{verb}{}{scope_word}{}{suffix}", capitalize(&gv), k.kind)
    };
    let gvk = k.gvk();
    let operation = |verb: &str, action: &str, suffix: &str, response: &str, write: bool| {
        let mut params = Vec::new();
        if write {
            params.push(query_param(flavour, "dryRun", "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed"));
            params.push(query_param(flavour, "fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."));
            params.push(query_param(flavour, "fieldValidation", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict"));
        }
        if action == "patch" {
            params.push(bool_query_param(
                flavour,
                "force",
                "Force is going to \"force\" Apply requests.",
            ));
        }
        let body_schema = if action == "patch" {
            json!({"type": "object"})
        } else {
            flavour.ref_to(name)
        };
        let mut op = json!({
            "operationId": op_id(verb, suffix),
            "tags": [k.group_version_path()],
            "description": format!("{action} the specified {}", k.kind),
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
        });
        let response_schema = flavour.ref_to(response);
        let content_types: &[&str] = if action == "patch" && k.custom {
            &[
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml",
            ]
        } else if action == "patch" {
            &[
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
                "application/apply-patch+yaml",
            ]
        } else {
            &["application/json"]
        };
        match flavour {
            Flavour::V3 => {
                if matches!(action, "post" | "put" | "patch") {
                    let content: Map<String, Value> = content_types
                        .iter()
                        .map(|c| (c.to_string(), json!({"schema": body_schema})))
                        .collect();
                    op["requestBody"] = json!({"required": true, "content": content});
                }
                op["responses"] = json!({
                    "200": {"description": "OK", "content": {"application/json": {"schema": response_schema}}},
                    "401": {"description": "Unauthorized"},
                });
            }
            Flavour::V2 => {
                if matches!(action, "post" | "put" | "patch") {
                    params.push(json!({"name": "body", "in": "body", "required": true, "schema": body_schema}));
                }
                op["consumes"] = json!(content_types);
                op["produces"] = json!(["application/json", "application/yaml"]);
                op["responses"] = json!({
                    "200": {"description": "OK", "schema": response_schema},
                    "401": {"description": "Unauthorized"},
                });
            }
        }
        op["parameters"] = Value::Array(params);
        op
    };

    let mut path_params = vec![];
    if k.namespaced {
        path_params.push(path_param(
            flavour,
            "namespace",
            "object name and auth scope, such as for teams and projects",
        ));
    }
    let collection_params = Value::Array(path_params.clone());
    let mut item_params = path_params;
    item_params.insert(
        0,
        path_param(flavour, "name", &format!("name of the {}", k.kind)),
    );
    let item_params = Value::Array(item_params);

    let mut out = vec![
        (
            scope.clone(),
            json!({
                "get": operation("list", "list", "", list_name, false),
                "post": operation("create", "post", "", name, true),
                "parameters": collection_params,
            }),
        ),
        (
            format!("{scope}/{{name}}"),
            json!({
                "get": operation("read", "get", "", name, false),
                "put": operation("replace", "put", "", name, true),
                "patch": operation("patch", "patch", "", name, true),
                "delete": operation("delete", "delete", "", name, false),
                "parameters": item_params.clone(),
            }),
        ),
    ];
    if k.schema.pointer("/properties/status").is_some() {
        out.push((
            format!("{scope}/{{name}}/status"),
            json!({
                "get": operation("read", "get", "Status", name, false),
                "put": operation("replace", "put", "Status", name, true),
                "patch": operation("patch", "patch", "Status", name, true),
                "parameters": item_params,
            }),
        ));
    }
    out
}

fn query_param(flavour: Flavour, name: &str, description: &str) -> Value {
    match flavour {
        Flavour::V3 => json!({"name": name, "in": "query", "description": description,
            "schema": {"type": "string", "uniqueItems": true}}),
        Flavour::V2 => json!({"name": name, "in": "query", "description": description,
            "type": "string", "uniqueItems": true}),
    }
}

fn bool_query_param(flavour: Flavour, name: &str, description: &str) -> Value {
    match flavour {
        Flavour::V3 => json!({"name": name, "in": "query", "description": description,
            "schema": {"type": "boolean", "uniqueItems": true}}),
        Flavour::V2 => json!({"name": name, "in": "query", "description": description,
            "type": "boolean", "uniqueItems": true}),
    }
}

fn path_param(flavour: Flavour, name: &str, description: &str) -> Value {
    match flavour {
        Flavour::V3 => {
            json!({"name": name, "in": "path", "required": true, "description": description,
            "schema": {"type": "string", "uniqueItems": true}})
        }
        Flavour::V2 => {
            json!({"name": name, "in": "path", "required": true, "description": description,
            "type": "string", "uniqueItems": true})
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::kube::schema::builtin_kinds;

    fn environment_kind() -> KindSchema {
        let path = format!(
            "{}/crds/mendixenvironments.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(path).expect("CRD file");
        let crd: Value = serde_yaml::from_str(&text).expect("CRD YAML");
        KindSchema::from_crd(&crd).remove(0)
    }

    /// Every `$ref` in `doc` names something that exists in it.
    fn assert_refs_resolve(doc: &Value, value: &Value) {
        match value {
            Value::Object(map) => {
                if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                    let pointer = reference.trim_start_matches('#');
                    assert!(doc.pointer(pointer).is_some(), "dangling {reference}");
                }
                map.values().for_each(|v| assert_refs_resolve(doc, v));
            }
            Value::Array(items) => items.iter().for_each(|v| assert_refs_resolve(doc, v)),
            _ => {}
        }
    }

    #[test]
    fn v3_group_version_document_serves_explain_and_field_validation() {
        let doc = openapi_v3_group_version(&[environment_kind()]);
        assert_eq!(doc["openapi"], "3.0.0");
        assert_refs_resolve(&doc, &doc);
        let schemas = &doc["components"]["schemas"];
        let kind = &schemas["io.mendixops.v1alpha1.MendixEnvironment"];
        assert_eq!(
            kind["x-kubernetes-group-version-kind"],
            json!([{"group": "mendixops.io", "version": "v1alpha1", "kind": "MendixEnvironment"}])
        );
        assert_eq!(
            kind["properties"]["metadata"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert_eq!(
            kind["properties"]["spec"]["description"],
            "Desired state of one Mendix environment."
        );
        assert!(schemas[OBJECT_META]["properties"]["name"].is_object());
        assert!(schemas["io.mendixops.v1alpha1.MendixEnvironmentList"].is_object());

        let item = &doc["paths"]["/apis/mendixops.io/v1alpha1/namespaces/{namespace}/mendixenvironments/{name}"];
        let patch = &item["patch"];
        assert_eq!(patch["x-kubernetes-action"], "patch");
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "MendixEnvironment"
        );
        let params: Vec<&str> = patch["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        for p in ["dryRun", "fieldManager", "fieldValidation", "force"] {
            assert!(params.contains(&p), "{p} missing from {params:?}");
        }
        assert!(patch["requestBody"]["content"]["application/apply-patch+yaml"].is_object());
        assert!(
            doc["paths"]["/apis/mendixops.io/v1alpha1/namespaces/{namespace}/mendixenvironments/{name}/status"]["patch"]
                .is_object()
        );
        assert!(doc["paths"]["/apis/mendixops.io/v1alpha1/namespaces/{namespace}/mendixenvironments"]["post"].is_object());
    }

    #[test]
    fn v3_root_hashes_follow_the_content() {
        let mut kinds = vec![environment_kind()];
        kinds.extend(builtin_kinds());
        let root = openapi_v3_root(&kinds);
        let paths = root["paths"].as_object().expect("paths");
        for gv in [
            "api/v1",
            "apis/mendixops.io/v1alpha1",
            "apis/coordination.k8s.io/v1",
            "apis/events.k8s.io/v1",
            "apis/apiextensions.k8s.io/v1",
        ] {
            let url = paths[gv]["serverRelativeURL"].as_str().expect("url");
            assert!(url.starts_with(&format!("/openapi/v3/{gv}?hash=")), "{url}");
        }
        assert_eq!(openapi_v3_root(&kinds), root, "same content, same hashes");

        let mut changed = kinds.clone();
        changed[0].schema["properties"]["spec"]["description"] = json!("changed");
        let root2 = openapi_v3_root(&changed);
        assert_ne!(
            root2["paths"]["apis/mendixops.io/v1alpha1"],
            root["paths"]["apis/mendixops.io/v1alpha1"]
        );
        assert_eq!(root2["paths"]["api/v1"], root["paths"]["api/v1"]);
    }

    #[test]
    fn builtin_kinds_get_their_api_server_names_and_paths() {
        let kinds = builtin_kinds();
        let core: Vec<KindSchema> = kinds
            .iter()
            .filter(|k| k.group.is_empty())
            .cloned()
            .collect();
        let doc = openapi_v3_group_version(&core);
        assert_refs_resolve(&doc, &doc);
        let schemas = &doc["components"]["schemas"];
        for name in [
            "io.k8s.api.core.v1.Secret",
            "io.k8s.api.core.v1.ConfigMap",
            "io.k8s.api.core.v1.Namespace",
            "io.k8s.api.core.v1.Event",
        ] {
            assert!(
                schemas[name]["x-kubernetes-group-version-kind"].is_array(),
                "{name}"
            );
        }
        assert!(doc["paths"]["/api/v1/namespaces/{name}"]["patch"].is_object());
        assert!(doc["paths"]["/api/v1/namespaces/{namespace}/secrets/{name}"]["patch"].is_object());

        let lease = kinds.iter().find(|k| k.kind == "Lease").expect("lease");
        assert_eq!(lease.definition_name(), "io.k8s.api.coordination.v1.Lease");
        let crd = kinds
            .iter()
            .find(|k| k.kind == "CustomResourceDefinition")
            .expect("crd");
        assert_eq!(
            crd.definition_name(),
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
        );
        assert!(!crd.namespaced);
    }

    #[test]
    fn v2_document_is_swagger_with_resolvable_definitions() {
        let mut kinds = vec![environment_kind()];
        kinds.extend(builtin_kinds());
        let doc = openapi_v2(&kinds);
        assert_eq!(doc["swagger"], "2.0");
        assert_refs_resolve(&doc, &doc);
        let kind = &doc["definitions"]["io.mendixops.v1alpha1.MendixEnvironment"];
        assert_eq!(
            kind["properties"]["metadata"]["$ref"],
            "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        let patch = &doc["paths"]["/apis/mendixops.io/v1alpha1/namespaces/{namespace}/mendixenvironments/{name}"]
            ["patch"];
        let names: Vec<&str> = patch["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(
            names.contains(&"fieldValidation") && names.contains(&"body"),
            "{names:?}"
        );
    }

    #[test]
    fn v2_protobuf_is_a_swagger_document_header() {
        let bytes = openapi_v2_protobuf();
        // Document{swagger: "2.0", info: Info{title: "Kubernetes", version: "v1.33.0"}}
        let mut expected = vec![0x0a, 3];
        expected.extend_from_slice(b"2.0");
        expected.extend_from_slice(&[0x12, 21, 0x0a, 10]);
        expected.extend_from_slice(b"Kubernetes");
        expected.extend_from_slice(&[0x12, 7]);
        expected.extend_from_slice(b"v1.33.0");
        assert_eq!(bytes, expected);
    }
}
