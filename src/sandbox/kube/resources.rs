//! The resource types the sandbox serves: the built-in kinds and every version a
//! CustomResourceDefinition declares, as discovery and the request router see them.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::core::GroupVersionKind;
use serde_json::Value;

use super::patch::FieldManager;
use super::schema::{CompiledSchema, FieldError};

/// One column of `kubectl get` output (a CRD's `additionalPrinterColumns` entry).
#[derive(Debug, Clone)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

/// Where a CRD's `scale` subresource reads and writes replicas.
#[derive(Debug, Clone)]
pub struct ScaleSpec {
    pub spec_replicas_path: String,
    pub status_replicas_path: String,
    pub label_selector_path: Option<String>,
}

/// One served group/version/resource.
#[derive(Debug, Clone)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    pub status_subresource: bool,
    pub scale: Option<ScaleSpec>,
    pub printer_columns: Vec<PrinterColumn>,
    /// `openAPIV3Schema` of a CRD version; `None` for built-ins.
    pub schema: Option<Value>,
    /// Defined by a CustomResourceDefinition (strategic merge patch is refused for these).
    pub custom: bool,
    /// Storage version of the group/resource (all versions share one store).
    pub storage_version: String,
    /// The compiled schema objects are pruned, defaulted and validated with (CRD kinds).
    pub compiled: Option<Arc<CompiledSchema>>,
    /// Field ownership rules for managedFields and server-side apply.
    pub field_manager: Option<FieldManager>,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The key every version of this resource shares in the store.
    pub fn store_key(&self) -> (String, String) {
        // events.k8s.io Events are stored as core/v1 Events (see `events`).
        if self.group == "events.k8s.io" {
            return (String::new(), self.plural.clone());
        }
        (self.group.clone(), self.plural.clone())
    }

    pub fn verbs(&self) -> Vec<&'static str> {
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }
}

fn builtin(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    short: &[&str],
    namespaced: bool,
    status: bool,
) -> ResourceType {
    ResourceType {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        list_kind: format!("{kind}List"),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: Vec::new(),
        namespaced,
        status_subresource: status,
        scale: None,
        printer_columns: Vec::new(),
        schema: None,
        custom: false,
        storage_version: version.into(),
        compiled: None,
        field_manager: FieldManager::for_builtin(&GroupVersionKind::gvk(group, version, kind)),
    }
}

/// The built-in kinds the operator and its users need.
pub fn builtins() -> Vec<ResourceType> {
    vec![
        builtin("", "v1", "Namespace", "namespaces", &["ns"], false, true),
        builtin("", "v1", "Secret", "secrets", &[], true, false),
        builtin("", "v1", "ConfigMap", "configmaps", &["cm"], true, false),
        builtin("", "v1", "Event", "events", &["ev"], true, false),
        builtin(
            "events.k8s.io",
            "v1",
            "Event",
            "events",
            &["ev"],
            true,
            false,
        ),
        builtin(
            "coordination.k8s.io",
            "v1",
            "Lease",
            "leases",
            &[],
            true,
            false,
        ),
        ResourceType {
            categories: vec!["api-extensions".into()],
            ..builtin(
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                "customresourcedefinitions",
                &["crd", "crds"],
                false,
                true,
            )
        },
    ]
}

/// Every served resource type, keyed by (group, version, plural).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    types: BTreeMap<(String, String, String), Arc<ResourceType>>,
    /// Bumped on every change, so documents derived from the registry can be cached.
    version: u64,
}

impl Registry {
    pub fn with_builtins() -> Self {
        let mut reg = Registry::default();
        for t in builtins() {
            reg.insert(t);
        }
        reg
    }

    /// Changes whenever the served types change.
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn insert(&mut self, t: ResourceType) {
        self.version += 1;
        self.types.insert(
            (t.group.clone(), t.version.clone(), t.plural.clone()),
            Arc::new(t),
        );
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.types.values()
    }

    /// Drops every version a CRD defined for `group`/`plural`.
    pub fn remove_resource(&mut self, group: &str, plural: &str) {
        self.version += 1;
        self.types
            .retain(|(g, _, p), t| !(g == group && p == plural && t.custom));
    }

    /// Groups in discovery order: built-in groups first, then CRD groups by name.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in self.types.values() {
            if t.group.is_empty() {
                continue;
            }
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) => {
                    if !versions.contains(&t.version) {
                        versions.push(t.version.clone());
                    }
                }
                None => out.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        for (_, versions) in out.iter_mut() {
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        out.sort_by_key(|(g, _)| (!is_builtin_group(g), g.clone()));
        out
    }

    /// The preferred (storage) version of a group.
    pub fn preferred_version(&self, group: &str) -> Option<String> {
        let mut versions: Vec<&Arc<ResourceType>> =
            self.types.values().filter(|t| t.group == group).collect();
        versions.sort_by_key(|t| std::cmp::Reverse(version_priority(&t.version)));
        versions.first().map(|t| t.version.clone())
    }

    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a Arc<ResourceType>> + 'a {
        self.types
            .values()
            .filter(move |t| t.group == group && t.version == version)
    }
}

fn is_builtin_group(group: &str) -> bool {
    group.ends_with(".k8s.io")
}

/// Kubernetes version ordering: GA > beta > alpha, then by number (v1 > v1beta2 > v1alpha1).
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let rest = v.strip_prefix('v').unwrap_or(v);
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stage, minor_str) = if let Some(m) = tail.strip_prefix("beta") {
        (1, m)
    } else if let Some(m) = tail.strip_prefix("alpha") {
        (0, m)
    } else if tail.is_empty() {
        (2, "0")
    } else {
        return (0, 0, 0);
    };
    (stage, major, minor_str.parse().unwrap_or(0))
}

/// Compiles every version's schema of a CRD; errors name the field under `spec.versions[i]`.
pub fn compile_crd_schemas(crd: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, v) in crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(schema) = v["schema"].get("openAPIV3Schema")
            && let Err(errs) = CompiledSchema::new(schema)
        {
            errors.extend(errs.into_iter().map(|mut e| {
                e.field = format!("spec.versions[{i}].schema.{}", e.field);
                e
            }));
        }
    }
    errors
}

/// The resource types a CRD object declares (one per served version).
pub fn from_crd(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default().to_string();
    let names = &spec["names"];
    let kind = names["kind"].as_str().unwrap_or_default().to_string();
    let plural = names["plural"].as_str().unwrap_or_default().to_string();
    let singular = names["singular"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let list_kind = names["listKind"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{kind}List"));
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    let storage_version = versions
        .iter()
        .find(|v| v["storage"].as_bool() == Some(true))
        .and_then(|v| v["name"].as_str())
        .unwrap_or_default()
        .to_string();
    versions
        .iter()
        .filter(|v| v["served"].as_bool().unwrap_or(true))
        .map(|v| {
            let printer_columns = v["additionalPrinterColumns"]
                .as_array()
                .map(|cols| {
                    cols.iter()
                        .map(|c| PrinterColumn {
                            name: c["name"].as_str().unwrap_or_default().into(),
                            type_: c["type"].as_str().unwrap_or("string").into(),
                            format: c["format"].as_str().unwrap_or_default().into(),
                            description: c["description"].as_str().unwrap_or_default().into(),
                            priority: c["priority"].as_i64().unwrap_or(0),
                            json_path: c["jsonPath"].as_str().unwrap_or_default().into(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let sub = &v["subresources"];
            let scale = sub
                .get("scale")
                .filter(|s| s.is_object())
                .map(|s| ScaleSpec {
                    spec_replicas_path: s["specReplicasPath"]
                        .as_str()
                        .unwrap_or(".spec.replicas")
                        .into(),
                    status_replicas_path: s["statusReplicasPath"]
                        .as_str()
                        .unwrap_or(".status.replicas")
                        .into(),
                    label_selector_path: s["labelSelectorPath"].as_str().map(str::to_string),
                });
            let version: String = v["name"].as_str().unwrap_or_default().into();
            let schema = v["schema"].get("openAPIV3Schema").cloned();
            ResourceType {
                compiled: schema
                    .as_ref()
                    .and_then(|s| CompiledSchema::new(s).ok())
                    .map(Arc::new),
                field_manager: FieldManager::for_crd(crd, &version),
                group: group.clone(),
                version,
                kind: kind.clone(),
                list_kind: list_kind.clone(),
                plural: plural.clone(),
                singular: singular.clone(),
                short_names: strings(&names["shortNames"]),
                categories: strings(&names["categories"]),
                namespaced,
                status_subresource: sub.get("status").is_some_and(|s| s.is_object()),
                scale,
                printer_columns,
                schema,
                custom: true,
                storage_version: storage_version.clone(),
            }
        })
        .collect()
}
