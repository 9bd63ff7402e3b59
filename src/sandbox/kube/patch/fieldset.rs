//! Sets of field paths and their `FieldsV1` wire format, as structured-merge-diff keeps them
//! in `metadata.managedFields[].fieldsV1`.
//!
//! A set is a trie: at each level `members` are the paths that end here and `children` the
//! sets one element deeper. On the wire a member with children carries `".": {}`:
//! `{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:status":{"f:conditions":{"k:{\"type\":\"Ready\"}":{".":{},"f:status":{}}}}}`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

/// One step of a field path. The variant order is the order structured-merge-diff sorts by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of an object: `f:name`.
    Field(String),
    /// An item of an associative list, by its key fields sorted by name, each value kept as
    /// compact JSON: `k:{"name":"web","port":80}`.
    Key(Vec<(String, String)>),
    /// An item of a set-list, by its value as compact JSON: `v:"finalizer.example.com"`.
    Value(String),
    /// An item of a list by position: `i:0` (only read from the wire; never produced here).
    Index(usize),
}

impl PathElement {
    pub fn field(name: &str) -> Self {
        PathElement::Field(name.to_string())
    }

    /// The key element of an associative-list item. `None` when a key field is missing or
    /// not a scalar, which makes the item unaddressable.
    pub fn key_of(item: &Value, keys: &[String]) -> Option<Self> {
        Self::key_of_with_defaults(item, keys, &BTreeMap::new())
    }

    /// [`PathElement::key_of`] where a missing key field takes its schema default, as the API
    /// server identifies e.g. a port without `protocol` as `protocol: TCP`.
    pub fn key_of_with_defaults(
        item: &Value,
        keys: &[String],
        defaults: &BTreeMap<String, Value>,
    ) -> Option<Self> {
        let mut fields = Vec::with_capacity(keys.len());
        for key in keys {
            let value = item.get(key).or_else(|| defaults.get(key))?;
            if value.is_object() || value.is_array() || value.is_null() {
                return None;
            }
            fields.push((key.clone(), value.to_string()));
        }
        fields.sort();
        Some(PathElement::Key(fields))
    }

    /// The value element of a set-list item.
    pub fn value_of(item: &Value) -> Self {
        PathElement::Value(item.to_string())
    }

    /// The `FieldsV1` key of this element.
    pub fn to_wire(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(fields) => {
                // The values are already compact JSON, so the object is written by hand to keep
                // the sorted key order whatever serde_json's map ordering is.
                let body: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
                    .collect();
                format!("k:{{{}}}", body.join(","))
            }
            PathElement::Value(json) => format!("v:{json}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `FieldsV1` key (`f:`, `k:`, `v:` or `i:` prefixed).
    pub fn from_wire(key: &str) -> Result<Self, FieldsV1Error> {
        let bad = |why: &str| FieldsV1Error {
            key: key.to_string(),
            reason: why.to_string(),
        };
        let (prefix, rest) = key
            .split_once(':')
            .ok_or_else(|| bad("expected a prefix f:, k:, v: or i:"))?;
        match prefix {
            "f" => Ok(PathElement::Field(rest.to_string())),
            "k" => {
                let parsed: Value =
                    serde_json::from_str(rest).map_err(|e| bad(&format!("bad key JSON: {e}")))?;
                let Value::Object(map) = parsed else {
                    return Err(bad("a k: element must hold a JSON object"));
                };
                let mut fields: Vec<(String, String)> =
                    map.into_iter().map(|(k, v)| (k, v.to_string())).collect();
                fields.sort();
                Ok(PathElement::Key(fields))
            }
            "v" => {
                let parsed: Value =
                    serde_json::from_str(rest).map_err(|e| bad(&format!("bad value JSON: {e}")))?;
                Ok(PathElement::Value(parsed.to_string()))
            }
            "i" => rest
                .parse()
                .map(PathElement::Index)
                .map_err(|_| bad("an i: element must hold a list index")),
            _ => Err(bad("unknown prefix; expected f:, k:, v: or i:")),
        }
    }
}

/// Renders the element as in kube-apiserver messages: `.spec`, `[type="Ready"]`, `[="a"]`, `[0]`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(json) => write!(f, "[={json}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path as kube-apiserver prints it in conflict messages: `.spec.ports[port=80].name`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// A `fieldsV1` document that is not in the wire format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fieldsV1 key {key:?}: {reason}")]
pub struct FieldsV1Error {
    pub key: String,
    pub reason: String,
}

/// A set of field paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds a path. The empty path (the object itself) is never a member.
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn contains(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Whether `element` (one level down) is itself in the set.
    pub fn has_member(&self, element: &PathElement) -> bool {
        self.members.contains(element)
    }

    /// The paths below `element`, if any.
    pub fn child(&self, element: &PathElement) -> Option<&FieldSet> {
        self.children.get(element)
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, mine)| {
                let both = mine.intersection(other.children.get(pe)?);
                (!both.is_empty()).then(|| (pe.clone(), both))
            })
            .collect();
        FieldSet { members, children }
    }

    /// The paths of `self` that are not in `other`. A member of `other` does not remove the
    /// paths below it (that is [`FieldSet::recursive_difference`]).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, mine)| {
                let rest = match other.children.get(pe) {
                    Some(theirs) => mine.difference(theirs),
                    None => mine.clone(),
                };
                (!rest.is_empty()).then(|| (pe.clone(), rest))
            })
            .collect();
        FieldSet { members, children }
    }

    /// The paths of `self` that are neither in `other` nor below a member of `other`.
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, mine)| {
                if other.members.contains(pe) {
                    return None;
                }
                let rest = match other.children.get(pe) {
                    Some(theirs) => mine.recursive_difference(theirs),
                    None => mine.clone(),
                };
                (!rest.is_empty()).then(|| (pe.clone(), rest))
            })
            .collect();
        FieldSet { members, children }
    }

    /// Every path in the set, parents before children.
    pub fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        // Members and children interleaved in element order, so a parent precedes its subtree.
        let elements: BTreeSet<&PathElement> =
            self.members.iter().chain(self.children.keys()).collect();
        for pe in elements {
            prefix.push(pe.clone());
            if self.members.contains(pe) {
                out.push(prefix.clone());
            }
            if let Some(child) = self.children.get(pe) {
                child.collect_paths(prefix, out);
            }
            prefix.pop();
        }
    }

    /// Adds `element` as a member at this level (used by the typed walkers that build sets).
    pub(crate) fn insert_member(&mut self, element: PathElement) {
        self.members.insert(element);
    }

    /// The subtree for `element`, created if missing.
    pub(crate) fn child_mut(&mut self, element: PathElement) -> &mut FieldSet {
        self.children.entry(element).or_default()
    }

    /// Drops empty subtrees left behind by walkers that create children eagerly.
    pub(crate) fn prune_empty(&mut self) {
        self.children.retain(|_, child| {
            child.prune_empty();
            !child.is_empty()
        });
    }

    pub(crate) fn child_entries(&self) -> impl Iterator<Item = (&PathElement, &FieldSet)> {
        self.children.iter()
    }

    pub(crate) fn members(&self) -> impl Iterator<Item = &PathElement> {
        self.members.iter()
    }

    /// The `FieldsV1` JSON of this set.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        for pe in &self.members {
            if !self.children.contains_key(pe) {
                map.insert(pe.to_wire(), Value::Object(Map::new()));
            }
        }
        for (pe, child) in &self.children {
            let mut node = match child.to_fields_v1() {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            if self.members.contains(pe) {
                node.insert(".".into(), Value::Object(Map::new()));
            }
            map.insert(pe.to_wire(), Value::Object(node));
        }
        Value::Object(map)
    }

    /// Parses a `FieldsV1` document.
    pub fn from_fields_v1(doc: &Value) -> Result<FieldSet, FieldsV1Error> {
        let Value::Object(map) = doc else {
            return Err(FieldsV1Error {
                key: String::new(),
                reason: "fieldsV1 must be a JSON object".into(),
            });
        };
        let mut set = FieldSet::new();
        for (key, node) in map {
            if key == "." {
                continue;
            }
            let pe = PathElement::from_wire(key)?;
            let Value::Object(inner) = node else {
                return Err(FieldsV1Error {
                    key: key.clone(),
                    reason: "each entry must be a JSON object".into(),
                });
            };
            // A leaf (`{}`) or an explicit `"."` makes the element itself a member.
            if inner.is_empty() || inner.contains_key(".") {
                set.members.insert(pe.clone());
            }
            let child = FieldSet::from_fields_v1(node)?;
            if !child.is_empty() {
                set.children.insert(pe, child);
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> PathElement {
        PathElement::field(name)
    }

    fn set_of(paths: &[&[PathElement]]) -> FieldSet {
        let mut s = FieldSet::new();
        for p in paths {
            s.insert(p);
        }
        s
    }

    /// managedFields of a Deployment as kube-apiserver 1.33 writes them for
    /// `kubectl apply --server-side` (manager `kubectl`, operation Apply).
    fn apiserver_apply_sample() -> Value {
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                        ".": {}, "f:image": {}, "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                            ".": {}, "f:containerPort": {}}}}}}
                }
            }
        })
    }

    #[test]
    fn fields_v1_round_trips_real_apiserver_samples() {
        let samples = [
            apiserver_apply_sample(),
            // kube-controller-manager's status Update of a Deployment.
            json!({"f:metadata": {"f:annotations": {".": {},
                        "f:deployment.kubernetes.io/revision": {}}},
                   "f:status": {"f:conditions": {".": {},
                        "k:{\"type\":\"Available\"}": {".": {}, "f:lastTransitionTime": {},
                            "f:message": {}, "f:reason": {}, "f:status": {}, "f:type": {}}},
                        "f:observedGeneration": {}, "f:replicas": {}}}),
            // finalizers are a set-list: items are `v:` elements.
            json!({"f:metadata": {"f:finalizers": {".": {}, "v:\"kubernetes\"": {}}}}),
        ];
        for sample in samples {
            let set = FieldSet::from_fields_v1(&sample).unwrap();
            assert_eq!(set.to_fields_v1(), sample);
        }
    }

    #[test]
    fn parsed_sample_holds_the_expected_paths() {
        let set = FieldSet::from_fields_v1(&apiserver_apply_sample()).unwrap();
        let nginx = PathElement::Key(vec![("name".into(), "\"nginx\"".into())]);
        let containers = [f("spec"), f("template"), f("spec"), f("containers")];
        let item: Vec<PathElement> = containers.iter().cloned().chain([nginx.clone()]).collect();
        assert!(
            set.contains(&item),
            "the list item itself is a member (\".\")"
        );
        let image: Vec<PathElement> = item.iter().cloned().chain([f("image")]).collect();
        assert!(set.contains(&image));
        assert!(
            !set.contains(&containers),
            "the list is not a member, only its items"
        );
        assert!(!set.contains(&[f("metadata")]));
        assert!(set.contains(&[f("spec"), f("selector")]));
        assert_eq!(
            path_string(&image),
            ".spec.template.spec.containers[name=\"nginx\"].image"
        );
    }

    #[test]
    fn key_elements_sort_fields_and_keep_json_values() {
        let item = json!({"protocol": "TCP", "containerPort": 80, "name": "web"});
        let keys = vec!["protocol".to_string(), "containerPort".to_string()];
        let pe = PathElement::key_of(&item, &keys).unwrap();
        assert_eq!(pe.to_wire(), r#"k:{"containerPort":80,"protocol":"TCP"}"#);
        assert_eq!(PathElement::from_wire(&pe.to_wire()).unwrap(), pe);
        assert_eq!(pe.to_string(), r#"[containerPort=80,protocol="TCP"]"#);
        assert!(PathElement::key_of(&json!({"protocol": "TCP"}), &keys).is_none());
        let defaults = BTreeMap::from([("protocol".to_string(), json!("TCP"))]);
        let defaulted =
            PathElement::key_of_with_defaults(&json!({"containerPort": 80}), &keys, &defaults);
        assert_eq!(defaulted, Some(pe.clone()));
        assert!(PathElement::key_of(&json!({"protocol": {}, "containerPort": 1}), &keys).is_none());
    }

    #[test]
    fn value_and_index_elements() {
        let v = PathElement::value_of(&json!("a.example.com/x"));
        assert_eq!(v.to_wire(), r#"v:"a.example.com/x""#);
        assert_eq!(v.to_string(), r#"[="a.example.com/x"]"#);
        assert_eq!(
            PathElement::from_wire("i:3").unwrap(),
            PathElement::Index(3)
        );
        assert_eq!(PathElement::Index(3).to_string(), "[3]");
    }

    #[test]
    fn malformed_fields_v1_names_the_key() {
        for (doc, key) in [
            (json!({"x:spec": {}}), "x:spec"),
            (json!({"spec": {}}), "spec"),
            (json!({"k:{bad": {}}), "k:{bad"),
            (json!({"k:[1]": {}}), "k:[1]"),
            (json!({"i:x": {}}), "i:x"),
            (json!({"f:spec": 1}), "f:spec"),
        ] {
            let err = FieldSet::from_fields_v1(&doc).unwrap_err();
            assert_eq!(err.key, key, "{err}");
        }
        assert!(FieldSet::from_fields_v1(&json!([])).is_err());
    }

    #[test]
    fn set_algebra() {
        let a = set_of(&[&[f("spec"), f("a")], &[f("spec"), f("b")], &[f("spec")]]);
        let b = set_of(&[&[f("spec"), f("b")], &[f("spec"), f("c")]]);
        assert_eq!(
            a.union(&b),
            set_of(&[
                &[f("spec")],
                &[f("spec"), f("a")],
                &[f("spec"), f("b")],
                &[f("spec"), f("c")]
            ])
        );
        assert_eq!(a.intersection(&b), set_of(&[&[f("spec"), f("b")]]));
        assert_eq!(
            a.difference(&b),
            set_of(&[&[f("spec")], &[f("spec"), f("a")]])
        );
        // A member removes only itself with difference, its whole subtree with recursive_difference.
        let spec_only = set_of(&[&[f("spec")]]);
        assert_eq!(
            a.difference(&spec_only),
            set_of(&[&[f("spec"), f("a")], &[f("spec"), f("b")]])
        );
        assert!(a.recursive_difference(&spec_only).is_empty());
        assert!(a.intersection(&FieldSet::new()).is_empty());
        assert_eq!(
            a.paths(),
            vec![
                vec![f("spec")],
                vec![f("spec"), f("a")],
                vec![f("spec"), f("b")]
            ]
        );
    }
}
