//! Field ownership: server-side apply and the managed-fields bookkeeping of ordinary writes,
//! following kube-apiserver's field manager (structured-merge-diff's `Updater` wrapped in the
//! strip-meta, managed-fields-updater, skip-non-applied and cap-managers layers).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use kube::core::GroupVersionKind;
use serde_json::{Value, json};

use super::conflict::{ApplyError, Conflict};
use super::fieldset::{FieldSet, PathElement, path_string};
use super::last_applied::{self, KUBECTL};
use super::managed::{
    self, APPLY, ManagedFieldsEntry, Recorded, UPDATE, cap_update_managers, remove_managed_fields,
    store, without_managed_fields,
};
use super::schema::{ListTypes, builtin_has_status_subresource, group_kind};
use super::typed::{self, Comparison, ShapeError};

/// Owner of the fields an object had before anyone applied to it.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// Field ownership for one kind: its merge schema and whether it has a `status` subresource
/// (whose fields are then never owned through the main resource, and vice versa for `spec`).
/// Cheap to clone; build one per kind (and CRD version) and keep it.
#[derive(Clone, Debug)]
pub struct FieldManager {
    types: Arc<ListTypes>,
    status_subresource: bool,
}

/// Field managers of the kinds known without a CRD, built once.
static BY_OBJECT_KIND: LazyLock<Mutex<HashMap<(String, String), FieldManager>>> =
    LazyLock::new(Default::default);

impl FieldManager {
    pub fn new(types: impl Into<Arc<ListTypes>>, status_subresource: bool) -> Self {
        FieldManager {
            types: types.into(),
            status_subresource,
        }
    }

    /// For a built-in kind the sandbox serves.
    pub fn for_builtin(gvk: &GroupVersionKind) -> Option<Self> {
        let types = ListTypes::for_builtin(gvk)?;
        Some(Self::new(
            types,
            builtin_has_status_subresource(&gvk.group, &gvk.kind),
        ))
    }

    /// For the custom resources of version `version` of this CustomResourceDefinition.
    pub fn for_crd(crd: &Value, version: &str) -> Option<Self> {
        let types = ListTypes::for_crd(crd, version)?;
        let status = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .and_then(|vs| {
                vs.iter()
                    .find(|v| v.get("name").and_then(Value::as_str) == Some(version))
            })
            .and_then(|v| v.pointer("/subresources/status"))
            .is_some_and(|s| !s.is_null());
        Some(Self::new(types, status))
    }

    /// From the object alone: the built-in table, or the untyped schema without a status
    /// subresource for custom resources (prefer [`FieldManager::for_crd`] for those).
    pub fn for_object(obj: &Value) -> Self {
        let (group, kind) = group_kind(obj);
        let build = || {
            Self::new(
                ListTypes::for_object(obj),
                builtin_has_status_subresource(&group, &kind),
            )
        };
        // A poisoned cache only loses the caching, never the answer.
        match BY_OBJECT_KIND.lock() {
            Ok(mut cache) => cache
                .entry((group.clone(), kind.clone()))
                .or_insert_with(build)
                .clone(),
            Err(_) => build(),
        }
    }

    /// Whether the kind has a `status` subresource (so main-resource writes leave status alone).
    pub fn has_status_subresource(&self) -> bool {
        self.status_subresource
    }

    /// Fields a write through `subresource` never owns: `status` on the main resource of a kind
    /// with a status subresource, `spec` on `/status`.
    fn reset_fields(&self, subresource: Option<&str>) -> FieldSet {
        let mut set = FieldSet::new();
        match subresource {
            Some("status") => set.insert(&[PathElement::field("spec")]),
            None if self.status_subresource => set.insert(&[PathElement::field("status")]),
            _ => {}
        }
        set
    }

    /// Server-side apply of `applied` by `manager` over `live` (`None` creates). Returns the
    /// object to store, with `metadata.managedFields` updated; the caller still applies its
    /// own rules (resourceVersion, status/spec reset of subresources, validation).
    ///
    /// As kube-apiserver does for the manager `kubectl` only: conflicts on fields whose live
    /// value is still what the last client-side `kubectl apply` set are taken over (the
    /// upgrade from client-side to server-side apply), and an existing
    /// `kubectl.kubernetes.io/last-applied-configuration` annotation is kept in sync.
    pub fn apply(
        &self,
        live: Option<&Value>,
        applied: &Value,
        manager: &str,
        force: bool,
        subresource: Option<&str>,
        now: &str,
    ) -> Result<Value, ApplyError> {
        let result = match self.apply_once(live, applied, manager, force, subresource, now) {
            Err(ApplyError::Conflicts(conflicts)) if manager == KUBECTL => {
                match live.and_then(|l| last_applied::allowed_conflicts(l, &self.types.root)) {
                    Some(allowed) if conflicts.iter().all(|c| allowed.contains(&c.path)) => {
                        self.apply_once(live, applied, manager, true, subresource, now)
                    }
                    // Only the conflicts the annotation does not explain are reported.
                    Some(allowed) => Err(ApplyError::Conflicts(
                        conflicts
                            .into_iter()
                            .filter(|c| !allowed.contains(&c.path))
                            .collect(),
                    )),
                    None => Err(ApplyError::Conflicts(conflicts)),
                }
            }
            other => other,
        };
        let mut out = result?;
        if manager == KUBECTL {
            last_applied::sync(&mut out, applied);
        }
        Ok(out)
    }

    fn apply_once(
        &self,
        live: Option<&Value>,
        applied: &Value,
        manager: &str,
        force: bool,
        subresource: Option<&str>,
        now: &str,
    ) -> Result<Value, ApplyError> {
        check_applied(applied, manager)?;
        if let Some(live) = live {
            let kind = |o: &Value| o.get("kind").and_then(Value::as_str).map(str::to_string);
            if kind(live) != kind(applied) {
                return Err(ApplyError::BadRequest(format!(
                    "invalid object type: {}, Kind={}",
                    applied["apiVersion"].as_str().unwrap_or_default(),
                    applied["kind"].as_str().unwrap_or_default()
                )));
            }
        }
        let shape = &self.types.root;
        let api_version = applied
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let ignored = self.reset_fields(subresource);
        let live_obj = match live {
            Some(obj) => without_managed_fields(obj),
            None => zero_object(applied),
        };
        let live_err = |e: ShapeError| ApplyError::LiveObject(e.to_string());
        // Unreadable managed fields are dropped, as kube-apiserver does.
        let mut managers = live
            .map(|l| managed::decode(l).unwrap_or_default())
            .unwrap_or_default();
        if managers.is_empty()
            && let Some(live) = live
        {
            // An object nobody applied to yet: what it holds belongs to `before-first-apply`,
            // so pruning and conflicts treat those fields as someone else's.
            let api_version = live
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let c = self
                .comparison(&zero_object(live), &live_obj, &ignored)
                .map_err(live_err)?;
            let fields = c
                .added
                .union(&c.modified)
                .recursive_difference(&ignored)
                .difference(&strip_set());
            managers.push(ManagedFieldsEntry {
                manager: BEFORE_FIRST_APPLY.into(),
                operation: UPDATE.into(),
                api_version: api_version.into(),
                time: Some(now.into()),
                subresource: None,
                fields,
            });
        }

        let config_set = typed::to_field_set(applied, shape)
            .map_err(|e| {
                ApplyError::BadRequest(format!("failed to create typed patch object: {e}"))
            })?
            .recursive_difference(&ignored);
        let me = ManagedFieldsEntry {
            manager: manager.into(),
            operation: APPLY.into(),
            api_version: api_version.into(),
            time: None,
            subresource: subresource.map(str::to_string),
            fields: config_set,
        };
        let (last, previous_time) = match managers.iter().position(|e| e.same_manager(&me)) {
            Some(i) => {
                let old = managers.remove(i);
                (old.fields, old.time)
            }
            None => (FieldSet::new(), None),
        };
        let mine = managers.len();
        managers.push(me);

        let merged = typed::merge(&live_obj, applied, shape).map_err(|e| {
            ApplyError::BadRequest(format!("failed to merge the applied object: {e}"))
        })?;
        let merged = self.prune(merged, &managers, &last).map_err(live_err)?;

        let c = self
            .comparison(&live_obj, &merged, &ignored)
            .map_err(live_err)?;
        let changed = c.modified.union(&c.added);
        let mut conflicts = Vec::new();
        for (i, entry) in managers.iter_mut().enumerate() {
            if i == mine {
                continue;
            }
            let taken = entry.fields.intersection(&changed);
            if !taken.is_empty() {
                conflicts.extend(taken.paths().iter().map(|p| Conflict {
                    manager: entry.manager.clone(),
                    operation: entry.operation.clone(),
                    api_version: entry.api_version.clone(),
                    subresource: entry.subresource.clone(),
                    field: path_string(p),
                    path: p.clone(),
                }));
                entry.fields = entry.fields.difference(&taken);
            }
            entry.fields = entry.fields.difference(&c.removed);
        }
        if !force && !conflicts.is_empty() {
            conflicts.sort_by(|a, b| {
                (a.manager_description(), &a.field).cmp(&(b.manager_description(), &b.field))
            });
            return Err(ApplyError::Conflicts(conflicts));
        }

        let object_changed = !typed::compare(&live_obj, &merged, shape)
            .map_err(live_err)?
            .is_same();
        let me = &mut managers[mine];
        // Stripped after pruning: identity fields still count as owned while pruning.
        me.fields = me.fields.difference(&strip_set());
        me.time = if object_changed || previous_time.is_none() {
            Some(now.into())
        } else {
            previous_time
        };
        managers.retain(|e| !e.fields.is_empty());
        let managers = cap_update_managers(managers);
        let mut out = merged;
        store(&mut out, managers);
        Ok(out)
    }

    /// Removes what `manager` applied last time but no longer applies, unless another
    /// manager owns it (structured-merge-diff's prune with its add-back steps).
    fn prune(
        &self,
        merged: Value,
        managers: &[ManagedFieldsEntry],
        last: &FieldSet,
    ) -> Result<Value, ShapeError> {
        if last.is_empty() {
            return Ok(merged);
        }
        let shape = &self.types.root;
        let ensure = |set: &FieldSet| typed::ensure_named_fields(set, shape);
        let owned = ensure(
            &managers
                .iter()
                .fold(FieldSet::new(), |acc, e| acc.union(&e.fields)),
        );
        let last = ensure(last);
        let fields_of = |v: &Value| -> Result<FieldSet, ShapeError> {
            Ok(ensure(&typed::to_live_field_set(v, shape)?))
        };
        let merged_set = fields_of(&merged)?;
        // Everything the manager applied last time goes, then what someone owns comes back,
        // then only the removals of fields that were the manager's are kept.
        let pruned = typed::remove_items(&merged, &last, shape);
        let pruned_set = fields_of(&pruned)?;
        let pruned = typed::remove_items(
            &merged,
            &merged_set.difference(&pruned_set.union(&owned)),
            shape,
        );
        let pruned_set = fields_of(&pruned)?;
        Ok(typed::remove_items(
            &merged,
            &merged_set.difference(&pruned_set).intersection(&last),
            shape,
        ))
    }

    fn comparison(
        &self,
        old: &Value,
        new: &Value,
        ignored: &FieldSet,
    ) -> Result<Comparison, ShapeError> {
        let mut c = typed::compare(old, new, &self.types.root)?;
        c.exclude(ignored);
        Ok(c)
    }

    /// Records an ordinary write (create, update, any non-apply patch) by `manager` in
    /// `new`'s `metadata.managedFields`: the manager takes the fields it added or changed,
    /// and every manager loses the fields it changed or removed. `old` is `None` on create.
    ///
    /// Like kube-apiserver: `managedFields: []` or `[{}]` in `new` clears the record, valid
    /// entries sent on the main resource replace it, and an existing object without managed
    /// fields stays untracked. If the object cannot be addressed by field paths the record
    /// is dropped rather than failing the write.
    pub fn update(
        &self,
        old: Option<&Value>,
        new: &mut Value,
        manager: &str,
        operation: &str,
        subresource: Option<&str>,
        now: &str,
    ) {
        match self.try_update(old, new, manager, operation, subresource, now) {
            Ok(managers) => store(new, managers),
            Err(_) => remove_managed_fields(new),
        }
    }

    fn try_update(
        &self,
        old: Option<&Value>,
        new: &Value,
        manager: &str,
        operation: &str,
        subresource: Option<&str>,
        now: &str,
    ) -> Result<Vec<ManagedFieldsEntry>, ShapeError> {
        let from_old = || {
            old.map(|o| managed::decode(o).unwrap_or_default())
                .unwrap_or_default()
        };
        // A subresource write never sets managed fields: the stored record is used.
        let sent = match subresource {
            None => managed::recorded(new),
            Some(_) => Ok(Recorded::Absent),
        };
        let mut managers = match sent {
            Ok(Recorded::Reset) => Vec::new(),
            Ok(Recorded::Entries(entries)) if !entries.is_empty() => entries,
            _ => from_old(),
        };
        if managers.is_empty() && old.is_some() {
            return Ok(Vec::new());
        }
        let new_obj = without_managed_fields(new);
        let old_obj = match old {
            Some(o) => without_managed_fields(o),
            None => zero_object(new),
        };
        let ignored = self.reset_fields(subresource);
        let c = self.comparison(&old_obj, &new_obj, &ignored)?;
        let changed = c.added.union(&c.modified);
        for entry in &mut managers {
            entry.fields = entry.fields.difference(&changed).difference(&c.removed);
        }
        let taken = changed
            .recursive_difference(&ignored)
            .difference(&strip_set());
        if !taken.is_empty() {
            let me = ManagedFieldsEntry {
                manager: manager.into(),
                operation: operation.into(),
                api_version: new
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .into(),
                time: Some(now.into()),
                subresource: subresource.map(str::to_string),
                fields: taken,
            };
            match managers.iter_mut().find(|e| e.same_manager(&me)) {
                Some(previous) => {
                    previous.fields = previous.fields.union(&me.fields);
                    previous.time = me.time;
                }
                None => managers.push(me),
            }
        }
        managers.retain(|e| !e.fields.is_empty());
        Ok(cap_update_managers(managers))
    }
}

/// Parses an `application/apply-patch+yaml` body (YAML, or JSON which is YAML too) into the
/// applied configuration. A body that is not one object is a 400, as in kube-apiserver.
pub fn parse_apply_body(body: &[u8]) -> Result<Value, ApplyError> {
    let applied: Value = serde_yaml::from_slice(body)
        .map_err(|e| ApplyError::BadRequest(format!("error decoding YAML: {e}")))?;
    if !applied.is_object() {
        return Err(ApplyError::BadRequest(
            "the applied configuration must be an object".into(),
        ));
    }
    Ok(applied)
}

/// Server-side apply with the schema and subresources known from the object itself
/// ([`FieldManager::for_object`]); see [`FieldManager::apply`].
pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    subresource: Option<&str>,
    now: &str,
) -> Result<Value, ApplyError> {
    FieldManager::for_object(applied).apply(live, applied, manager, force, subresource, now)
}

/// Managed-fields bookkeeping of an ordinary write with the schema known from the object
/// itself ([`FieldManager::for_object`]); see [`FieldManager::update`].
pub fn update_managed_fields(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    operation: &str,
    subresource: Option<&str>,
    now: &str,
) {
    FieldManager::for_object(new).update(old, new, manager, operation, subresource, now);
}

/// The checks kube-apiserver makes before applying.
fn check_applied(applied: &Value, manager: &str) -> Result<(), ApplyError> {
    if manager.is_empty() {
        return Err(ApplyError::BadRequest(
            "fieldManager is required for apply requests".into(),
        ));
    }
    if !applied.is_object() {
        return Err(ApplyError::BadRequest(
            "the applied configuration must be an object".into(),
        ));
    }
    for field in ["apiVersion", "kind"] {
        if applied
            .get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(ApplyError::BadRequest(format!(
                "{field} must be set in the applied configuration"
            )));
        }
    }
    if applied
        .pointer("/metadata/managedFields")
        .is_some_and(|m| !m.is_null())
    {
        return Err(ApplyError::BadRequest(
            "metadata.managedFields must be nil".into(),
        ));
    }
    Ok(())
}

/// Fields nobody owns: identity and server-set metadata.
fn strip_set() -> FieldSet {
    let mut set = FieldSet::new();
    set.insert(&[PathElement::field("apiVersion")]);
    set.insert(&[PathElement::field("kind")]);
    set.insert(&[PathElement::field("metadata")]);
    for field in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set.insert(&[PathElement::field("metadata"), PathElement::field(field)]);
    }
    set
}

/// The object a create starts from: what the API server's empty object of the kind holds
/// (for built-in kinds the structs Go always serializes), so ownership of a create matches.
fn zero_object(obj: &Value) -> Value {
    let mut zero = json!({"metadata": {}});
    for field in ["apiVersion", "kind"] {
        if let Some(v) = obj.get(field) {
            zero[field] = v.clone();
        }
    }
    let structs: &[&str] = match group_kind(obj) {
        (g, k) if g.is_empty() && k == "Namespace" => &["spec", "status"],
        (g, k) if g.is_empty() && k == "Event" => &["involvedObject", "source"],
        (g, k) if g == "events.k8s.io" && k == "Event" => &["regarding", "deprecatedSource"],
        (g, k) if g == "coordination.k8s.io" && k == "Lease" => &["spec"],
        (g, k) if g == "apiextensions.k8s.io" && k == "CustomResourceDefinition" => {
            zero["spec"] = json!({"names": {}});
            zero["status"] = json!({"acceptedNames": {}});
            &[]
        }
        _ => &[],
    };
    for field in structs {
        zero[*field] = json!({});
    }
    zero
}

#[cfg(test)]
mod tests {
    use super::super::last_applied::{ANNOTATIONS_SIZE_LIMIT, LAST_APPLIED};
    use super::super::managed::{ANCIENT_CHANGES, MAX_UPDATE_MANAGERS};
    use super::*;

    const T0: &str = "2026-11-22T10:00:00Z";
    const T1: &str = "2026-11-22T10:00:01Z";
    const T2: &str = "2026-11-22T10:00:02Z";

    /// A CRD-like schema in the shape of the operator's kinds: a spec with scalars, a free-form
    /// map, an atomic list and a keyed list, and a status with conditions keyed by type.
    fn widget_manager() -> FieldManager {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "replicas": {"type": "integer"},
                "image": {"type": "string"},
                "args": {"type": "array", "items": {"type": "string"}},
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "properties": {
                              "name": {"type": "string"}, "port": {"type": "integer"}}}}}},
            "status": {"type": "object", "properties": {
                "phase": {"type": "string"},
                "conditions": {"type": "array", "x-kubernetes-list-type": "map",
                               "x-kubernetes-list-map-keys": ["type"],
                               "items": {"type": "object", "properties": {
                                   "type": {"type": "string"}, "status": {"type": "string"},
                                   "reason": {"type": "string"}}}}}}}});
        FieldManager::new(ListTypes::from_openapi_v3(&schema), true)
    }

    fn widget(spec: Value) -> Value {
        json!({"apiVersion": "example.com/v1", "kind": "Widget",
               "metadata": {"name": "w", "namespace": "default"}, "spec": spec})
    }

    fn entries(obj: &Value) -> Vec<ManagedFieldsEntry> {
        managed::decode(obj).unwrap()
    }

    fn fields_of(obj: &Value, manager: &str) -> Value {
        entries(obj)
            .into_iter()
            .find(|e| e.manager == manager)
            .map(|e| e.fields.to_fields_v1())
            .unwrap_or(Value::Null)
    }

    #[test]
    fn apply_creates_with_one_apply_entry() {
        let fm = widget_manager();
        let applied = widget(
            json!({"replicas": 2, "env": {"A": "1"}, "ports": [{"name": "http", "port": 80}]}),
        );
        let out = fm
            .apply(None, &applied, "kubectl", false, None, T0)
            .unwrap();
        assert_eq!(out["spec"], applied["spec"]);
        let mf = &out["metadata"]["managedFields"];
        assert_eq!(mf.as_array().map(Vec::len), Some(1));
        assert_eq!(mf[0]["manager"], "kubectl");
        assert_eq!(mf[0]["operation"], "Apply");
        assert_eq!(mf[0]["apiVersion"], "example.com/v1");
        assert_eq!(mf[0]["time"], T0);
        assert_eq!(mf[0]["fieldsType"], "FieldsV1");
        assert!(mf[0].get("subresource").is_none());
        // Identity and server-set metadata are never owned.
        assert_eq!(
            mf[0]["fieldsV1"],
            json!({"f:spec": {"f:replicas": {}, "f:env": {"f:A": {}},
            "f:ports": {"k:{\"name\":\"http\"}": {".": {}, "f:name": {}, "f:port": {}}}}})
        );
    }

    /// The example of the Kubernetes documentation (Server-Side Apply, "Field management").
    #[test]
    fn apply_matches_the_documented_configmap_example() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "test-cm", "namespace": "default", "labels": {"test-label": "test"}},
            "data": {"key": "some value"}});
        let out = server_side_apply(None, &cm, "kubectl", false, None, T0).unwrap();
        assert_eq!(
            out["metadata"]["managedFields"],
            json!([{
            "manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {"f:test-label": {}}}, "f:data": {"f:key": {}}}}])
        );
    }

    #[test]
    fn reapply_without_a_field_removes_it() {
        let fm = widget_manager();
        let first = widget(
            json!({"replicas": 2, "image": "a", "env": {"A": "1", "B": "2"},
                                   "ports": [{"name": "http", "port": 80}, {"name": "metrics", "port": 9090}]}),
        );
        let live = fm.apply(None, &first, "kubectl", false, None, T0).unwrap();
        let second = widget(
            json!({"replicas": 2, "env": {"A": "1"}, "ports": [{"name": "http", "port": 80}]}),
        );
        let out = fm
            .apply(Some(&live), &second, "kubectl", false, None, T1)
            .unwrap();
        assert_eq!(
            out["spec"],
            json!({"replicas": 2, "env": {"A": "1"}, "ports": [{"name": "http", "port": 80}]})
        );
        assert_eq!(
            fields_of(&out, "kubectl"),
            json!({"f:spec": {"f:replicas": {}, "f:env": {"f:A": {}},
            "f:ports": {"k:{\"name\":\"http\"}": {".": {}, "f:name": {}, "f:port": {}}}}})
        );
        assert_eq!(out["metadata"]["managedFields"][0]["time"], T1);
        // Applying nothing in spec any more removes the whole spec it owned.
        let empty =
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}});
        let out = fm
            .apply(Some(&out), &empty, "kubectl", false, None, T2)
            .unwrap();
        assert!(out.get("spec").is_none(), "{out}");
        assert!(out["metadata"].get("managedFields").is_none());
    }

    #[test]
    fn reapply_keeps_fields_another_manager_owns() {
        let fm = widget_manager();
        let live = fm
            .apply(
                None,
                &widget(json!({"replicas": 2, "image": "a"})),
                "alice",
                false,
                None,
                T0,
            )
            .unwrap();
        let live = fm
            .apply(
                Some(&live),
                &widget(json!({"image": "a"})),
                "bob",
                false,
                None,
                T1,
            )
            .unwrap();
        assert_eq!(fields_of(&live, "bob"), json!({"f:spec": {"f:image": {}}}));
        let out = fm
            .apply(
                Some(&live),
                &widget(json!({"replicas": 2})),
                "alice",
                false,
                None,
                T2,
            )
            .unwrap();
        assert_eq!(
            out["spec"],
            json!({"replicas": 2, "image": "a"}),
            "bob still owns image"
        );
        assert_eq!(
            fields_of(&out, "alice"),
            json!({"f:spec": {"f:replicas": {}}})
        );
    }

    #[test]
    fn reapply_keeps_fields_set_by_updates() {
        let fm = widget_manager();
        let live = fm
            .apply(
                None,
                &widget(json!({"replicas": 2})),
                "alice",
                false,
                None,
                T0,
            )
            .unwrap();
        let mut edited = live.clone();
        edited["spec"]["image"] = json!("edited");
        fm.update(Some(&live), &mut edited, "kubectl-edit", "Update", None, T1);
        let out = fm
            .apply(
                Some(&edited),
                &widget(json!({"replicas": 3})),
                "alice",
                false,
                None,
                T2,
            )
            .unwrap();
        assert_eq!(out["spec"], json!({"replicas": 3, "image": "edited"}));
        assert_eq!(
            fields_of(&out, "kubectl-edit"),
            json!({"f:spec": {"f:image": {}}})
        );
    }

    #[test]
    fn two_appliers_conflict_on_a_different_value() {
        let fm = widget_manager();
        let live = fm
            .apply(
                None,
                &widget(json!({"replicas": 2, "image": "a"})),
                "alice",
                false,
                None,
                T0,
            )
            .unwrap();
        let err = fm
            .apply(
                Some(&live),
                &widget(json!({"replicas": 5, "image": "a"})),
                "bob",
                false,
                None,
                T1,
            )
            .unwrap_err();
        assert_eq!(err.http_status(), 409);
        assert_eq!(err.status_reason(), "Conflict");
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas"
        );
        assert_eq!(
            err.causes(),
            vec![json!({"reason": "FieldManagerConflict",
            "message": "conflict with \"alice\"", "field": ".spec.replicas"})]
        );
    }

    #[test]
    fn the_same_value_is_shared_ownership_not_a_conflict() {
        let fm = widget_manager();
        let live = fm
            .apply(
                None,
                &widget(json!({"replicas": 2})),
                "alice",
                false,
                None,
                T0,
            )
            .unwrap();
        let out = fm
            .apply(
                Some(&live),
                &widget(json!({"replicas": 2})),
                "bob",
                false,
                None,
                T1,
            )
            .unwrap();
        assert_eq!(
            fields_of(&out, "alice"),
            json!({"f:spec": {"f:replicas": {}}})
        );
        assert_eq!(
            fields_of(&out, "bob"),
            json!({"f:spec": {"f:replicas": {}}})
        );
        // Now neither can change it alone.
        let err = fm
            .apply(
                Some(&out),
                &widget(json!({"replicas": 3})),
                "alice",
                false,
                None,
                T2,
            )
            .unwrap_err();
        assert!(matches!(&err, ApplyError::Conflicts(c) if c.len() == 1 && c[0].manager == "bob"));
    }

    #[test]
    fn force_takes_ownership() {
        let fm = widget_manager();
        let live = fm
            .apply(
                None,
                &widget(json!({"replicas": 2, "image": "a"})),
                "alice",
                false,
                None,
                T0,
            )
            .unwrap();
        let out = fm
            .apply(
                Some(&live),
                &widget(json!({"replicas": 5})),
                "bob",
                true,
                None,
                T1,
            )
            .unwrap();
        assert_eq!(out["spec"], json!({"replicas": 5, "image": "a"}));
        assert_eq!(fields_of(&out, "alice"), json!({"f:spec": {"f:image": {}}}));
        assert_eq!(
            fields_of(&out, "bob"),
            json!({"f:spec": {"f:replicas": {}}})
        );
        // alice no longer owns replicas: dropping it from her apply leaves bob's value.
        let out = fm
            .apply(
                Some(&out),
                &widget(json!({"image": "a"})),
                "alice",
                false,
                None,
                T2,
            )
            .unwrap();
        assert_eq!(out["spec"]["replicas"], 5);
    }

    #[test]
    fn conflicts_with_updaters_name_their_version_and_list_every_field() {
        let fm = widget_manager();
        let mut live = widget(json!({"replicas": 1, "image": "a"}));
        fm.update(None, &mut live, "kubectl-create", "Update", None, T0);
        assert_eq!(
            fields_of(&live, "kubectl-create"),
            json!({"f:spec": {".": {}, "f:replicas": {}, "f:image": {}}})
        );
        let err = fm
            .apply(
                Some(&live),
                &widget(json!({"replicas": 2, "image": "b"})),
                "kubectl",
                false,
                None,
                T1,
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 2 conflicts: conflicts with \"kubectl-create\" using example.com/v1:\n- .spec.image\n- .spec.replicas"
        );
        let causes = err.causes();
        assert_eq!(causes.len(), 2);
        assert_eq!(
            causes[0]["message"],
            "conflict with \"kubectl-create\" using example.com/v1"
        );
        // Applying the values the updater set takes shared ownership without conflict.
        let out = fm
            .apply(
                Some(&live),
                &widget(json!({"replicas": 1})),
                "kubectl",
                false,
                None,
                T1,
            )
            .unwrap();
        assert_eq!(
            fields_of(&out, "kubectl"),
            json!({"f:spec": {"f:replicas": {}}})
        );
    }

    #[test]
    fn objects_without_managed_fields_belong_to_before_first_apply() {
        let fm = widget_manager();
        let mut live = widget(json!({"replicas": 1}));
        live["metadata"]["uid"] = json!("u-1");
        let err = fm
            .apply(
                Some(&live),
                &widget(json!({"replicas": 2})),
                "kubectl",
                false,
                None,
                T1,
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"before-first-apply\" using example.com/v1: .spec.replicas"
        );
        let out = fm
            .apply(
                Some(&live),
                &widget(json!({"image": "x"})),
                "kubectl",
                false,
                None,
                T1,
            )
            .unwrap();
        assert_eq!(out["spec"], json!({"replicas": 1, "image": "x"}));
        assert_eq!(
            fields_of(&out, "before-first-apply"),
            json!({"f:spec": {".": {}, "f:replicas": {}}})
        );
    }

    #[test]
    fn status_subresource_applies_own_only_status() {
        let fm = widget_manager();
        let live = fm
            .apply(
                None,
                &widget(json!({"replicas": 1})),
                "kubectl",
                false,
                None,
                T0,
            )
            .unwrap();
        let status = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"replicas": 9},
            "status": {"phase": "Ready", "conditions": [{"type": "Ready", "status": "True"}]}});
        let out = fm
            .apply(Some(&live), &status, "ctrl", false, Some("status"), T1)
            .unwrap();
        let ctrl = entries(&out)
            .into_iter()
            .find(|e| e.manager == "ctrl")
            .unwrap();
        assert_eq!(ctrl.subresource.as_deref(), Some("status"));
        assert_eq!(
            ctrl.fields.to_fields_v1(),
            json!({"f:status": {"f:phase": {},
            "f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:type": {}, "f:status": {}}}}})
        );
        // spec sent to /status is not owned and does not conflict with kubectl's spec.
        assert_eq!(
            fields_of(&out, "kubectl"),
            json!({"f:spec": {"f:replicas": {}}})
        );
        // Status applied to the main resource is not owned by the main-resource manager.
        let out = fm
            .apply(Some(&out), &status, "kubectl", true, None, T2)
            .unwrap();
        assert_eq!(
            fields_of(&out, "kubectl"),
            json!({"f:spec": {"f:replicas": {}}})
        );
    }

    #[test]
    fn conditions_are_owned_per_type() {
        let fm = widget_manager();
        let base = fm
            .apply(
                None,
                &widget(json!({"replicas": 1})),
                "kubectl",
                false,
                None,
                T0,
            )
            .unwrap();
        let cond = |items: Value| {
            json!({"apiVersion": "example.com/v1", "kind": "Widget",
                                         "metadata": {"name": "w"}, "status": {"conditions": items}})
        };
        let live = fm
            .apply(
                Some(&base),
                &cond(json!([{"type": "Ready", "status": "False"}])),
                "ctrl",
                false,
                Some("status"),
                T0,
            )
            .unwrap();
        let live = fm
            .apply(
                Some(&live),
                &cond(json!([{"type": "Scaled", "status": "True"}])),
                "scaler",
                false,
                Some("status"),
                T1,
            )
            .unwrap();
        assert_eq!(
            live["status"]["conditions"],
            json!([{"type": "Ready", "status": "False"}, {"type": "Scaled", "status": "True"}])
        );
        let err = fm
            .apply(
                Some(&live),
                &cond(json!([{"type": "Ready", "status": "True"}])),
                "scaler",
                false,
                Some("status"),
                T2,
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"ctrl\" with subresource \"status\": .status.conditions[type=\"Ready\"].status"
        );
        // ctrl drops its condition: only that item goes.
        let out = fm
            .apply(
                Some(&live),
                &cond(json!([])),
                "ctrl",
                false,
                Some("status"),
                T2,
            )
            .unwrap();
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type": "Scaled", "status": "True"}])
        );
    }

    #[test]
    fn set_items_are_owned_one_by_one_and_atomic_lists_whole() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "args": {"type": "array", "items": {"type": "string"}}}}}});
        let fm = FieldManager::new(ListTypes::from_openapi_v3(&schema), false);
        let spec = |v: Value| widget(v);
        let live = fm
            .apply(
                None,
                &spec(json!({"tags": ["a"], "args": ["x"]})),
                "alice",
                false,
                None,
                T0,
            )
            .unwrap();
        let live = fm
            .apply(
                Some(&live),
                &spec(json!({"tags": ["b"]})),
                "bob",
                false,
                None,
                T1,
            )
            .unwrap();
        assert_eq!(live["spec"]["tags"], json!(["a", "b"]));
        assert_eq!(
            fields_of(&live, "bob"),
            json!({"f:spec": {"f:tags": {"v:\"b\"": {}}}})
        );
        // An atomic list is one field: another value is a conflict, not a merge.
        let err = fm
            .apply(
                Some(&live),
                &spec(json!({"args": ["y"]})),
                "bob",
                false,
                None,
                T1,
            )
            .unwrap_err();
        assert!(err.to_string().ends_with(".spec.args"), "{err}");
        let out = fm
            .apply(
                Some(&live),
                &spec(json!({"args": ["x"]})),
                "bob",
                false,
                None,
                T1,
            )
            .unwrap();
        assert_eq!(out["spec"]["args"], json!(["x"]));
        // alice stops applying her tag: only hers goes.
        let out = fm
            .apply(
                Some(&live),
                &spec(json!({"args": ["x"]})),
                "alice",
                false,
                None,
                T2,
            )
            .unwrap();
        assert_eq!(out["spec"]["tags"], json!(["b"]));
    }

    #[test]
    fn noop_apply_keeps_the_time() {
        let fm = widget_manager();
        let applied = widget(json!({"replicas": 1}));
        let live = fm
            .apply(None, &applied, "kubectl", false, None, T0)
            .unwrap();
        let out = fm
            .apply(Some(&live), &applied, "kubectl", false, None, T2)
            .unwrap();
        assert_eq!(out, live);
    }

    #[test]
    fn bad_apply_requests() {
        let fm = widget_manager();
        let ok = widget(json!({"replicas": 1}));
        let mut with_mf = ok.clone();
        with_mf["metadata"]["managedFields"] = json!([]);
        let no_kind = json!({"apiVersion": "example.com/v1", "metadata": {"name": "w"}});
        let bad_list = widget(json!({"ports": [{"port": 1}]}));
        for (applied, manager, needle) in [
            (&with_mf, "m", "metadata.managedFields must be nil"),
            (&no_kind, "m", "kind must be set"),
            (&ok, "", "fieldManager is required"),
            (&bad_list, "m", ".spec.ports"),
        ] {
            let err = fm
                .apply(None, applied, manager, false, None, T0)
                .unwrap_err();
            assert_eq!(err.http_status(), 400, "{err}");
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    fn apply_bodies_are_yaml_or_json() {
        let yaml = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: v\n";
        let json_body =
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"v"}}"#;
        assert_eq!(
            parse_apply_body(yaml).unwrap(),
            parse_apply_body(json_body).unwrap()
        );
        for bad in [&b"- a\n- b\n"[..], b"key: [unclosed", b"just a string"] {
            assert_eq!(parse_apply_body(bad).unwrap_err().http_status(), 400);
        }
    }

    #[test]
    fn applying_another_kind_over_an_object_is_refused() {
        let fm = widget_manager();
        let live = fm
            .apply(None, &widget(json!({"replicas": 1})), "m", false, None, T0)
            .unwrap();
        let mut other = widget(json!({"replicas": 1}));
        other["kind"] = json!("Gadget");
        let err = fm
            .apply(Some(&live), &other, "m", false, None, T1)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid object type: example.com/v1, Kind=Gadget"
        );
    }

    #[test]
    fn unaddressable_live_objects_are_server_errors() {
        let fm = widget_manager();
        let mut live = widget(json!({"ports": [{"port": 1}]}));
        live["metadata"]["managedFields"] = json!([{"manager": "x", "operation": "Update",
            "apiVersion": "example.com/v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]);
        let err = fm
            .apply(
                Some(&live),
                &widget(json!({"image": "a"})),
                "m",
                false,
                None,
                T0,
            )
            .unwrap_err();
        assert_eq!(err.http_status(), 500);
    }

    /// The managedFields kube-apiserver wrote for a cert-manager Certificate, replayed write by
    /// write: create by ingress-shim, status updates by three controllers, then a client-side
    /// `kubectl apply` adding its annotation.
    #[test]
    fn updates_reproduce_a_real_apiserver_record() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "dnsNames": {"type": "array", "items": {"type": "string"}},
                "issuerRef": {"type": "object", "properties": {
                    "group": {"type": "string"}, "kind": {"type": "string"}, "name": {"type": "string"}}},
                "secretName": {"type": "string"},
                "usages": {"type": "array", "items": {"type": "string"}}}},
            "status": {"type": "object", "properties": {
                "nextPrivateKeySecretName": {"type": "string"},
                "conditions": {"type": "array", "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["type"], "items": {"type": "object"}}}}}});
        let fm = FieldManager::new(ListTypes::from_openapi_v3(&schema), true);
        let t = "2022-05-10T13:02:45Z";
        let mut cert = json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "iab", "namespace": "default",
                "ownerReferences": [{"apiVersion": "networking.k8s.io/v1", "blockOwnerDeletion": true,
                    "controller": true, "kind": "Ingress", "name": "iab",
                    "uid": "1f74d220-0d1c-4904-83a0-4a8e26867c34"}]},
            "spec": {"dnsNames": ["iab.steercampaign.com"],
                "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "letsencrypt-prod-ingress"},
                "secretName": "iab", "usages": ["digital signature", "key encipherment"]}});
        fm.update(
            None,
            &mut cert,
            "cert-manager-ingress-shim",
            "Update",
            None,
            t,
        );
        let condition = |ty: &str, status: &str| {
            json!({"lastTransitionTime": t,
            "message": "Issuing certificate as Secret does not exist", "observedGeneration": 1,
            "reason": "DoesNotExist", "status": status, "type": ty})
        };
        let mut next = cert.clone();
        next["status"] = json!({"conditions": [condition("Issuing", "True")]});
        fm.update(
            Some(&cert),
            &mut next,
            "cert-manager-certificates-trigger",
            "Update",
            Some("status"),
            t,
        );
        let cert = next;
        let mut next = cert.clone();
        next["status"]["conditions"]
            .as_array_mut()
            .unwrap()
            .push(condition("Ready", "False"));
        fm.update(
            Some(&cert),
            &mut next,
            "cert-manager-certificates-readiness",
            "Update",
            Some("status"),
            t,
        );
        let cert = next;
        let mut next = cert.clone();
        next["status"]["nextPrivateKeySecretName"] = json!("iab-mf9rc");
        fm.update(
            Some(&cert),
            &mut next,
            "cert-manager-certificates-key-manager",
            "Update",
            Some("status"),
            "2022-05-10T13:02:46Z",
        );
        let cert = next;
        let mut next = cert.clone();
        next["metadata"]["annotations"] =
            json!({"kubectl.kubernetes.io/last-applied-configuration": "{}"});
        fm.update(
            Some(&cert),
            &mut next,
            "kubectl-client-side-apply",
            "Update",
            None,
            "2022-05-10T13:04:02Z",
        );

        let recorded: Value = serde_json::from_str(r#"[{"apiVersion":"cert-manager.io/v1","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:conditions":{"k:{\"type\":\"Ready\"}":{".":{},"f:lastTransitionTime":{},"f:message":{},"f:observedGeneration":{},"f:reason":{},"f:status":{},"f:type":{}}}}},"manager":"cert-manager-certificates-readiness","operation":"Update","subresource":"status","time":"2022-05-10T13:02:45Z"},{"apiVersion":"cert-manager.io/v1","fieldsType":"FieldsV1","fieldsV1":{"f:status":{".":{},"f:conditions":{".":{},"k:{\"type\":\"Issuing\"}":{".":{},"f:lastTransitionTime":{},"f:message":{},"f:observedGeneration":{},"f:reason":{},"f:status":{},"f:type":{}}}}},"manager":"cert-manager-certificates-trigger","operation":"Update","subresource":"status","time":"2022-05-10T13:02:45Z"},{"apiVersion":"cert-manager.io/v1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:ownerReferences":{".":{},"k:{\"uid\":\"1f74d220-0d1c-4904-83a0-4a8e26867c34\"}":{}}},"f:spec":{".":{},"f:dnsNames":{},"f:issuerRef":{".":{},"f:group":{},"f:kind":{},"f:name":{}},"f:secretName":{},"f:usages":{}}},"manager":"cert-manager-ingress-shim","operation":"Update","time":"2022-05-10T13:02:45Z"},{"apiVersion":"cert-manager.io/v1","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:nextPrivateKeySecretName":{}}},"manager":"cert-manager-certificates-key-manager","operation":"Update","subresource":"status","time":"2022-05-10T13:02:46Z"},{"apiVersion":"cert-manager.io/v1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}}}},"manager":"kubectl-client-side-apply","operation":"Update","time":"2022-05-10T13:04:02Z"}]"#).unwrap();
        assert_eq!(next["metadata"]["managedFields"], recorded);
    }

    /// A Pod created by `kubectl run`, then applied server-side by kubectl with the manifest
    /// kept in its last-applied annotation: the Apply entry kube-apiserver 1.28 recorded.
    #[test]
    fn apply_reproduces_a_real_pod_record() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "containers": {"type": "array", "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"], "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "image": {"type": "string"},
                        "imagePullPolicy": {"type": "string"},
                        "resources": {"type": "object", "properties": {
                            "limits": {"type": "object", "additionalProperties": {"type": "string"}}}}}}},
                "dnsPolicy": {"type": "string"}, "restartPolicy": {"type": "string"}}},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}});
        let fm = FieldManager::new(ListTypes::from_openapi_v3(&schema), true);
        let manifest = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"creationTimestamp": null, "labels": {"run": "nginx"}, "name": "nginx",
                         "namespace": "default"},
            "spec": {"containers": [{"image": "nginx", "name": "nginx", "resources": {}}],
                     "dnsPolicy": "ClusterFirst", "restartPolicy": "Never"},
            "status": {}});
        let mut live = manifest.clone();
        live["metadata"]["creationTimestamp"] = json!("2023-10-26T03:22:48Z");
        live["spec"]["containers"][0]["imagePullPolicy"] = json!("Always");
        fm.update(
            None,
            &mut live,
            "kubectl-run",
            "Update",
            None,
            "2023-10-26T03:22:48Z",
        );
        let out = fm
            .apply(
                Some(&live),
                &manifest,
                "kubectl",
                false,
                None,
                "2023-10-26T03:24:46Z",
            )
            .unwrap();
        let recorded: Value = serde_json::from_str(r#"{"f:metadata":{"f:labels":{"f:run":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{},"f:resources":{}}},"f:dnsPolicy":{},"f:restartPolicy":{}}}"#).unwrap();
        assert_eq!(fields_of(&out, "kubectl"), recorded);
        assert_eq!(
            out["spec"]["containers"][0]["imagePullPolicy"], "Always",
            "kept: kubectl-run owns it"
        );
    }

    /// A controller's server-side apply of a Deployment: ownerReferences items are atomic,
    /// label selectors are atomic maps, nested metadata is not stripped. The Apply entry
    /// kube-apiserver recorded for it.
    #[test]
    fn apply_reproduces_a_real_controller_record() {
        let container = json!({"type": "object", "properties": {
            "name": {"type": "string"}, "image": {"type": "string"},
            "imagePullPolicy": {"type": "string"},
            "command": {"type": "array", "items": {"type": "string"}},
            "resources": {"type": "object"},
            "securityContext": {"type": "object", "properties": {
                "allowPrivilegeEscalation": {"type": "boolean"},
                "runAsNonRoot": {"type": "boolean"}, "runAsUser": {"type": "integer"},
                "capabilities": {"type": "object", "properties": {
                    "drop": {"type": "array", "items": {"type": "string"}}}}}}}});
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "replicas": {"type": "integer"},
            "selector": {"type": "object", "x-kubernetes-map-type": "atomic"},
            "strategy": {"type": "object", "properties": {"type": {"type": "string"}}},
            "template": {"type": "object", "properties": {
                "metadata": {"type": "object", "properties": {
                    "creationTimestamp": {"type": "string"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
                "spec": {"type": "object", "properties": {
                    "containers": {"type": "array", "x-kubernetes-list-type": "map",
                                   "x-kubernetes-list-map-keys": ["name"], "items": container},
                    "securityContext": {"type": "object", "properties": {
                        "runAsNonRoot": {"type": "boolean"},
                        "seccompProfile": {"type": "object", "properties": {
                            "type": {"type": "string"}}}}}}}}}}}}});
        let fm = FieldManager::new(ListTypes::from_openapi_v3(&schema), true);
        let applied = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "reconciler-sample", "namespace": "default",
                "ownerReferences": [{"apiVersion": "test.example.com/v1alpha1", "kind": "Reconciler",
                    "name": "reconciler-sample", "uid": "c8f0aab2-b8bd-438f-ad50-043e65017963",
                    "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"selector": {"matchLabels": {"app": "netshoot"}}, "strategy": {},
                "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "netshoot"}},
                    "spec": {"containers": [{"name": "netshoot", "image": "nicolaka/netshoot",
                        "command": ["sleep", "infinity"], "imagePullPolicy": "IfNotPresent",
                        "resources": {}, "securityContext": {"allowPrivilegeEscalation": false,
                            "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": true, "runAsUser": 1000}}],
                        "securityContext": {"runAsNonRoot": true,
                                            "seccompProfile": {"type": "RuntimeDefault"}}}}}});
        let out = fm
            .apply(
                None,
                &applied,
                "reconciler-controller",
                true,
                None,
                "2025-09-02T12:04:06Z",
            )
            .unwrap();
        let recorded: Value = serde_json::from_str(r#"{"f:metadata":{"f:ownerReferences":{"k:{\"uid\":\"c8f0aab2-b8bd-438f-ad50-043e65017963\"}":{}}},"f:spec":{"f:selector":{},"f:strategy":{},"f:template":{"f:metadata":{"f:creationTimestamp":{},"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"netshoot\"}":{".":{},"f:command":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:resources":{},"f:securityContext":{"f:allowPrivilegeEscalation":{},"f:capabilities":{"f:drop":{}},"f:runAsNonRoot":{},"f:runAsUser":{}}}},"f:securityContext":{"f:runAsNonRoot":{},"f:seccompProfile":{"f:type":{}}}}}}}"#).unwrap();
        assert_eq!(fields_of(&out, "reconciler-controller"), recorded);
        // `kubectl scale`-style apply of replicas alone sits beside it without conflict.
        let scale = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                           "metadata": {"name": "reconciler-sample"}, "spec": {"replicas": 3}});
        let out = fm
            .apply(
                Some(&out),
                &scale,
                "kubectl",
                false,
                None,
                "2025-09-02T13:48:02Z",
            )
            .unwrap();
        assert_eq!(
            fields_of(&out, "kubectl"),
            json!({"f:spec": {"f:replicas": {}}})
        );
        assert_eq!(fields_of(&out, "reconciler-controller"), recorded);
    }

    #[test]
    fn updates_move_ownership_and_drop_removed_fields() {
        let fm = widget_manager();
        let mut live = widget(json!({"replicas": 1, "image": "a", "env": {"A": "1"}}));
        fm.update(None, &mut live, "creator", "Update", None, T0);
        let mut next = live.clone();
        next["spec"]["replicas"] = json!(3);
        next["spec"]["env"] = json!({"B": "2"});
        fm.update(Some(&live), &mut next, "editor", "Update", None, T1);
        assert_eq!(
            fields_of(&next, "creator"),
            json!({"f:spec": {".": {}, "f:image": {}, "f:env": {}}})
        );
        assert_eq!(
            fields_of(&next, "editor"),
            json!({"f:spec": {"f:replicas": {}, "f:env": {"f:B": {}}}})
        );
        // A write that changes nothing leaves the record (and its times) alone.
        let mut same = next.clone();
        fm.update(Some(&next), &mut same, "someone", "Update", None, T2);
        assert_eq!(same, next);
    }

    #[test]
    fn update_managed_fields_resets_keeps_and_ignores_client_records() {
        let fm = widget_manager();
        let mut live = widget(json!({"replicas": 1}));
        fm.update(None, &mut live, "creator", "Update", None, T0);
        // `managedFields: [{}]` (or `[]`) clears the record, and the object stays untracked.
        for reset in [json!([{}]), json!([])] {
            let mut next = live.clone();
            next["metadata"]["managedFields"] = reset;
            next["spec"]["replicas"] = json!(2);
            fm.update(Some(&live), &mut next, "editor", "Update", None, T1);
            assert!(next["metadata"].get("managedFields").is_none(), "{next}");
            let mut later = next.clone();
            later["spec"]["replicas"] = json!(3);
            fm.update(Some(&next), &mut later, "editor", "Update", None, T2);
            assert!(later["metadata"].get("managedFields").is_none());
        }
        // A valid record sent on the main resource replaces the stored one.
        let mut next = live.clone();
        next["metadata"]["managedFields"] = json!([{"manager": "imported", "operation": "Apply",
            "apiVersion": "example.com/v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]);
        fm.update(Some(&live), &mut next, "editor", "Update", None, T1);
        assert_eq!(
            fields_of(&next, "imported"),
            json!({"f:spec": {"f:replicas": {}}})
        );
        assert_eq!(fields_of(&next, "creator"), Value::Null);
        // On a subresource, the record sent is ignored, a reset included.
        let mut reset_on_status = live.clone();
        reset_on_status["metadata"]["managedFields"] = json!([]);
        reset_on_status["status"] = json!({"phase": "Ready"});
        fm.update(
            Some(&live),
            &mut reset_on_status,
            "ctrl",
            "Update",
            Some("status"),
            T1,
        );
        assert_eq!(
            fields_of(&reset_on_status, "creator"),
            json!({"f:spec": {".": {}, "f:replicas": {}}})
        );
        let mut next = live.clone();
        next["metadata"]["managedFields"] = json!([{"manager": "imported", "operation": "Apply",
            "apiVersion": "example.com/v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]);
        next["status"] = json!({"phase": "Ready"});
        fm.update(Some(&live), &mut next, "ctrl", "Update", Some("status"), T1);
        assert_eq!(fields_of(&next, "imported"), Value::Null);
        assert_eq!(
            fields_of(&next, "creator"),
            json!({"f:spec": {".": {}, "f:replicas": {}}})
        );
        assert_eq!(
            fields_of(&next, "ctrl"),
            json!({"f:status": {".": {}, "f:phase": {}}})
        );
    }

    #[test]
    fn updates_through_the_main_resource_never_own_status() {
        let fm = widget_manager();
        let mut live = widget(json!({"replicas": 1}));
        live["status"] = json!({"phase": "x"});
        fm.update(None, &mut live, "creator", "Update", None, T0);
        assert_eq!(
            fields_of(&live, "creator"),
            json!({"f:spec": {".": {}, "f:replicas": {}}})
        );
    }

    #[test]
    fn unaddressable_objects_drop_the_record_instead_of_failing() {
        let fm = widget_manager();
        let mut live = widget(json!({"replicas": 1}));
        fm.update(None, &mut live, "creator", "Update", None, T0);
        let mut next = live.clone();
        next["spec"]["ports"] = json!([{"port": 1}]);
        fm.update(Some(&live), &mut next, "editor", "Update", None, T1);
        assert!(next["metadata"].get("managedFields").is_none());
    }

    #[test]
    fn more_than_ten_updaters_are_bucketed_into_ancient_changes() {
        let fm = widget_manager();
        let mut live = widget(json!({}));
        fm.update(
            None,
            &mut live,
            "creator",
            "Update",
            None,
            "2026-11-22T10:00:00Z",
        );
        for i in 0..11 {
            let mut next = live.clone();
            next["spec"]["env"] = {
                let mut env = live["spec"]["env"].as_object().cloned().unwrap_or_default();
                env.insert(format!("K{i}"), json!("v"));
                Value::Object(env)
            };
            let now = format!("2026-11-22T10:00:{:02}Z", i + 1);
            fm.update(
                Some(&live),
                &mut next,
                &format!("m{i:02}"),
                "Update",
                None,
                &now,
            );
            live = next;
        }
        let all = entries(&live);
        assert_eq!(all.len(), MAX_UPDATE_MANAGERS);
        let ancient = all.iter().find(|e| e.manager == ANCIENT_CHANGES).unwrap();
        assert!(!all.iter().any(|e| e.manager == "m00" || e.manager == "m01"));
        // The bucket holds the oldest managers' fields.
        assert!(ancient.fields.contains(&[
            PathElement::field("spec"),
            PathElement::field("env"),
            PathElement::field("K0")
        ]));
    }

    /// `kubectl apply` (client-side) then `kubectl apply --server-side` with a changed value:
    /// the fields client-side apply set are taken over without a conflict, and the
    /// last-applied annotation follows the new configuration.
    #[test]
    fn kubectl_upgrades_from_client_side_apply() {
        let fm = widget_manager();
        let v1 = widget(json!({"replicas": 1, "image": "a"}));
        let mut live = v1.clone();
        live["metadata"]["annotations"] = json!({LAST_APPLIED: format!("{v1}\n")});
        fm.update(
            None,
            &mut live,
            "kubectl-client-side-apply",
            "Update",
            None,
            T0,
        );
        let v2 = widget(json!({"replicas": 2, "image": "a"}));
        let out = fm
            .apply(Some(&live), &v2, "kubectl", false, None, T1)
            .unwrap();
        assert_eq!(out["spec"]["replicas"], 2);
        let annotation = out["metadata"]["annotations"][LAST_APPLIED]
            .as_str()
            .unwrap();
        assert_eq!(serde_json::from_str::<Value>(annotation).unwrap(), v2);
        // A manifest too large to copy into the annotation drops it.
        let mut big = v2.clone();
        big["spec"]["env"] = json!({"BLOB": "x".repeat(ANNOTATIONS_SIZE_LIMIT)});
        let out = fm
            .apply(Some(&out), &big, "kubectl", false, None, T2)
            .unwrap();
        assert!(out["metadata"]["annotations"].get(LAST_APPLIED).is_none());
        // Another manager, or a field someone changed since, still conflicts.
        assert!(
            fm.apply(Some(&live), &v2, "other", false, None, T1)
                .is_err()
        );
        let mut v3 = v2.clone();
        v3["spec"]["image"] = json!("b");
        let mut drifted = live.clone();
        drifted["spec"]["replicas"] = json!(7);
        fm.update(
            Some(&live),
            &mut drifted,
            "kubectl-client-side-apply",
            "Update",
            None,
            T1,
        );
        let err = fm
            .apply(Some(&drifted), &v3, "kubectl", false, None, T2)
            .unwrap_err();
        assert_eq!(err.http_status(), 409);
        // Only the drifted field is reported; image still holds what client-side apply set.
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using example.com/v1: .spec.replicas"
        );
    }

    #[test]
    fn builtin_kinds_get_their_schema_and_subresources() {
        let ns = FieldManager::for_builtin(&GroupVersionKind::gvk("", "v1", "Namespace")).unwrap();
        assert!(ns.has_status_subresource());
        let cm = FieldManager::for_builtin(&GroupVersionKind::gvk("", "v1", "ConfigMap")).unwrap();
        assert!(!cm.status_subresource);
        let crd = json!({"spec": {"versions": [{"name": "v1", "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": {"type": "object"}}}]}});
        assert!(
            FieldManager::for_crd(&crd, "v1")
                .unwrap()
                .status_subresource
        );
        // Create of a ConfigMap by kubectl: data is new, so the map itself is owned too.
        let mut cm_obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                                "data": {"key": "v"}});
        update_managed_fields(None, &mut cm_obj, "kubectl-create", "Update", None, T0);
        assert_eq!(
            fields_of(&cm_obj, "kubectl-create"),
            json!({"f:data": {".": {}, "f:key": {}}})
        );
        // Finalizers are a set: each one owned on its own.
        let mut with_finalizer = cm_obj.clone();
        with_finalizer["metadata"]["finalizers"] = json!(["example.com/cleanup"]);
        update_managed_fields(
            Some(&cm_obj),
            &mut with_finalizer,
            "ctrl",
            "Update",
            None,
            T1,
        );
        assert_eq!(
            fields_of(&with_finalizer, "ctrl"),
            json!({"f:metadata": {"f:finalizers": {
            ".": {}, "v:\"example.com/cleanup\"": {}}}})
        );
    }
}
