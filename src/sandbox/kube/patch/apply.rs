//! Field ownership: server-side apply and the managed-fields bookkeeping of ordinary writes,
//! following kube-apiserver's field manager (structured-merge-diff's `Updater` wrapped in the
//! strip-meta, managed-fields-updater, skip-non-applied and cap-managers layers).

use kube::core::GroupVersionKind;
use serde_json::{Value, json};

use super::fieldset::{FieldSet, PathElement, path_string};
use super::managed::{
    self, APPLY, ManagedFieldsEntry, Recorded, UPDATE, remove_managed_fields, store,
    without_managed_fields,
};
use super::schema::{ListTypes, builtin_has_status_subresource, group_kind};
use super::typed::{self, Comparison, ShapeError};

/// Owner of the fields an object had before anyone applied to it.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";
/// Bucket the oldest updaters are merged into beyond [`MAX_UPDATE_MANAGERS`].
const ANCIENT_CHANGES: &str = "ancient-changes";
const MAX_UPDATE_MANAGERS: usize = 10;

/// One field another manager owns with a different value than the apply wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub subresource: Option<String>,
    /// The field as kube-apiserver prints it: `.spec.replicas`, `.status.conditions[type="Ready"]`.
    pub field: String,
}

impl Conflict {
    /// The manager as kube-apiserver names it: `"mgr"`, `"mgr" using v1`, ….
    pub fn manager_description(&self) -> String {
        ManagedFieldsEntry {
            manager: self.manager.clone(),
            operation: self.operation.clone(),
            api_version: self.api_version.clone(),
            time: None,
            subresource: self.subresource.clone(),
            fields: FieldSet::new(),
        }
        .describe()
    }

    /// The `message` of this conflict's `Status` cause: `conflict with "mgr" using v1`.
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.manager_description())
    }
}

/// Why an apply was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Other managers own fields the apply would change (409 Conflict). Retry with
    /// `force=true` to take them over, or stop applying those fields.
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The request cannot be an apply (400 BadRequest).
    #[error("{0}")]
    BadRequest(String),
    /// The stored object cannot be addressed by field paths, e.g. an associative list with
    /// duplicate or keyless items (500, as kube-apiserver answers).
    #[error("failed to create typed live object: {0}")]
    LiveObject(String),
}

impl ApplyError {
    pub fn http_status(&self) -> u16 {
        match self {
            ApplyError::Conflicts(_) => 409,
            ApplyError::BadRequest(_) => 400,
            ApplyError::LiveObject(_) => 500,
        }
    }

    /// The `reason` of the `Status` body.
    pub fn status_reason(&self) -> &'static str {
        match self {
            ApplyError::Conflicts(_) => "Conflict",
            ApplyError::BadRequest(_) => "BadRequest",
            ApplyError::LiveObject(_) => "InternalError",
        }
    }

    /// `details.causes` of the `Status` body: one `FieldManagerConflict` per conflict.
    pub fn causes(&self) -> Vec<Value> {
        match self {
            ApplyError::Conflicts(conflicts) => conflicts
                .iter()
                .map(|c| {
                    json!({"type": "FieldManagerConflict", "message": c.cause_message(),
                           "field": c.field})
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// kube-apiserver's conflict message, e.g.
/// `Apply failed with 1 conflict: conflict with "mgr" using v1: .spec.x`.
fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager_description(),
            only.field
        );
    }
    let mut managers: Vec<String> = conflicts.iter().map(|c| c.manager_description()).collect();
    managers.sort();
    managers.dedup();
    let mut lines = Vec::new();
    for manager in &managers {
        lines.push(format!("conflicts with {manager}:"));
        for c in conflicts
            .iter()
            .filter(|c| &c.manager_description() == manager)
        {
            lines.push(format!("- {}", c.field));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Field ownership for one kind: its merge schema and whether it has a `status` subresource
/// (whose fields are then never owned through the main resource, and vice versa for `spec`).
#[derive(Clone, Debug)]
pub struct FieldManager {
    types: ListTypes,
    status_subresource: bool,
}

impl FieldManager {
    pub fn new(types: ListTypes, status_subresource: bool) -> Self {
        FieldManager {
            types,
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
        Self::new(
            ListTypes::for_object(obj),
            builtin_has_status_subresource(&group, &kind),
        )
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
    pub fn apply(
        &self,
        live: Option<&Value>,
        applied: &Value,
        manager: &str,
        force: bool,
        subresource: Option<&str>,
        now: &str,
    ) -> Result<Value, ApplyError> {
        check_applied(applied, manager)?;
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
        me.fields = me.fields.difference(&strip_set());
        me.time = if object_changed || previous_time.is_none() {
            Some(now.into())
        } else {
            previous_time
        };
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
            Ok(ensure(&typed::to_field_set(v, shape)?))
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
        let mut managers = match managed::recorded(new) {
            Ok(Recorded::Reset) => Vec::new(),
            Ok(Recorded::Entries(entries)) if subresource.is_none() && !entries.is_empty() => {
                entries
            }
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

/// Keeps at most [`MAX_UPDATE_MANAGERS`] updaters: the oldest are merged, per API version,
/// into an `ancient-changes` entry.
fn cap_update_managers(mut managers: Vec<ManagedFieldsEntry>) -> Vec<ManagedFieldsEntry> {
    let updaters = managers.iter().filter(|e| !e.is_apply()).count();
    if updaters <= MAX_UPDATE_MANAGERS {
        return managers;
    }
    let seconds = |e: &ManagedFieldsEntry| {
        e.time
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp())
    };
    let mut oldest: Vec<usize> = (0..managers.len())
        .filter(|&i| !managers[i].is_apply())
        .collect();
    oldest.sort_by_key(|&i| seconds(&managers[i]));
    let mut length = updaters;
    let mut first_of_version: Vec<(String, usize)> = Vec::new();
    let mut drop = Vec::new();
    for i in oldest {
        if length <= MAX_UPDATE_MANAGERS {
            break;
        }
        let version = managers[i].api_version.clone();
        match first_of_version.iter().find(|(v, _)| *v == version) {
            Some(&(_, first)) => {
                // An existing bucket of this version takes the merge; otherwise the first
                // (oldest) updater of the version becomes the bucket.
                let bucket = managers
                    .iter()
                    .position(|e| {
                        e.manager == ANCIENT_CHANGES
                            && !e.is_apply()
                            && e.subresource.is_none()
                            && e.api_version == version
                    })
                    .unwrap_or(first);
                if bucket == i {
                    continue;
                }
                let entry = managers[i].clone();
                let target = &mut managers[bucket];
                target.manager = ANCIENT_CHANGES.into();
                target.subresource = None;
                target.fields = target.fields.union(&entry.fields);
                // The bucket keeps the most recent time of what it holds.
                target.time = entry.time;
                drop.push(i);
                length -= 1;
            }
            None => first_of_version.push((version, i)),
        }
    }
    let mut index = 0;
    managers.retain(|_| {
        let keep = !drop.contains(&index);
        index += 1;
        keep
    });
    managers
}
