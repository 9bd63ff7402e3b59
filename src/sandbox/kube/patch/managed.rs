//! `metadata.managedFields`: decoding, encoding and the identity of a field manager.

use serde_json::{Map, Value, json};

use super::fieldset::{FieldSet, FieldsV1Error};

pub(crate) const APPLY: &str = "Apply";
pub(crate) const UPDATE: &str = "Update";
/// Bucket the oldest updaters are merged into beyond [`MAX_UPDATE_MANAGERS`].
pub(crate) const ANCIENT_CHANGES: &str = "ancient-changes";
pub(crate) const MAX_UPDATE_MANAGERS: usize = 10;

/// One `metadata.managedFields` entry: who owns which fields, by which operation.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedFieldsEntry {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    pub api_version: String,
    /// RFC 3339, when this manager last changed the object.
    pub time: Option<String>,
    /// `status` (or another subresource) when the writes went there.
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

/// A `metadata.managedFields` list that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManagedFieldsError {
    #[error("metadata.managedFields must be a list")]
    NotAList,
    #[error("metadata.managedFields[{index}]: {reason}")]
    Entry { index: usize, reason: String },
    #[error("metadata.managedFields[{index}].fieldsV1: {source}")]
    Fields {
        index: usize,
        #[source]
        source: FieldsV1Error,
    },
}

impl ManagedFieldsEntry {
    pub fn is_apply(&self) -> bool {
        self.operation == APPLY
    }

    /// Whether `other` is the same manager as kube-apiserver identifies them: name, operation
    /// and subresource, plus the API version for updates (appliers keep one entry whatever
    /// version they apply at).
    pub fn same_manager(&self, other: &ManagedFieldsEntry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.is_apply() || self.api_version == other.api_version)
    }

    /// How kube-apiserver names this manager in conflict messages:
    /// `"kubectl"`, `"ctrl" with subresource "status"`, `"kubectl-edit" using v1`.
    pub fn describe(&self) -> String {
        let mut out = Value::String(self.manager.clone()).to_string();
        if let Some(sub) = &self.subresource {
            out.push_str(&format!(" with subresource {}", Value::String(sub.clone())));
        }
        if !self.is_apply() {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let mut entry = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "fieldsType": "FieldsV1",
            "fieldsV1": self.fields.to_fields_v1(),
        });
        if let Some(time) = &self.time {
            entry["time"] = Value::String(wire_time(time));
        }
        if let Some(sub) = &self.subresource {
            entry["subresource"] = Value::String(sub.clone());
        }
        entry
    }

    fn from_json(index: usize, entry: &Value) -> Result<Self, ManagedFieldsError> {
        let bad = |reason: &str| ManagedFieldsError::Entry {
            index,
            reason: reason.to_string(),
        };
        let Value::Object(map) = entry else {
            return Err(bad("must be an object"));
        };
        let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_string);
        let operation = text("operation").unwrap_or_default();
        if operation != APPLY && operation != UPDATE {
            return Err(bad("operation must be Apply or Update"));
        }
        if text("fieldsType").as_deref() != Some("FieldsV1") {
            return Err(bad("fieldsType must be FieldsV1"));
        }
        let fields = match map.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(doc) => FieldSet::from_fields_v1(doc)
                .map_err(|source| ManagedFieldsError::Fields { index, source })?,
        };
        Ok(ManagedFieldsEntry {
            manager: text("manager").unwrap_or_default(),
            operation,
            api_version: text("apiVersion").unwrap_or_default(),
            time: text("time"),
            subresource: text("subresource").filter(|s| !s.is_empty()),
            fields,
        })
    }
}

/// What an object says about its managed fields.
pub(crate) enum Recorded {
    /// No `managedFields` at all.
    Absent,
    /// `[]` or `[{}]`: the documented way for a client to clear managed fields.
    Reset,
    Entries(Vec<ManagedFieldsEntry>),
}

pub(crate) fn recorded(obj: &Value) -> Result<Recorded, ManagedFieldsError> {
    match obj.pointer("/metadata/managedFields") {
        None | Some(Value::Null) => Ok(Recorded::Absent),
        Some(Value::Array(items)) => {
            let reset = match items.as_slice() {
                [] => true,
                [only] => only.as_object().is_some_and(Map::is_empty),
                _ => false,
            };
            if reset {
                return Ok(Recorded::Reset);
            }
            decode_list(items).map(Recorded::Entries)
        }
        Some(_) => Err(ManagedFieldsError::NotAList),
    }
}

/// The managed fields recorded on an object (none when absent).
pub fn decode(obj: &Value) -> Result<Vec<ManagedFieldsEntry>, ManagedFieldsError> {
    match recorded(obj)? {
        Recorded::Entries(entries) => Ok(entries),
        Recorded::Absent | Recorded::Reset => Ok(Vec::new()),
    }
}

fn decode_list(items: &[Value]) -> Result<Vec<ManagedFieldsEntry>, ManagedFieldsError> {
    let mut entries: Vec<ManagedFieldsEntry> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let entry = ManagedFieldsEntry::from_json(index, item)?;
        if entries.iter().any(|e| e.same_manager(&entry)) {
            return Err(ManagedFieldsError::Entry {
                index,
                reason: format!("duplicate entry for manager {}", entry.describe()),
            });
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// A time as `metav1.Time` writes it: RFC 3339 in UTC, whole seconds. Unreadable text is
/// kept as it is.
fn wire_time(time: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(time)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        })
        .unwrap_or_else(|_| time.to_string())
}

/// Seconds since the epoch of an RFC 3339 time (0 when absent or unreadable), for sorting.
fn seconds(time: &Option<String>) -> i64 {
    time.as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// Writes the entries into `obj` in kube-apiserver's order (Apply before Update, then oldest
/// first, then by manager, version, subresource); no entries removes the field.
pub(crate) fn store(obj: &mut Value, mut entries: Vec<ManagedFieldsEntry>) {
    entries.retain(|e| !e.fields.is_empty());
    entries.sort_by(|p, q| {
        p.operation
            .cmp(&q.operation)
            .then_with(|| seconds(&p.time).cmp(&seconds(&q.time)))
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.api_version.cmp(&q.api_version))
            .then_with(|| p.subresource.cmp(&q.subresource))
    });
    let Some(meta) = obj.as_object_mut().map(|o| {
        o.entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()))
    }) else {
        return;
    };
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    if entries.is_empty() {
        meta.remove("managedFields");
    } else {
        let list = entries.iter().map(ManagedFieldsEntry::to_json).collect();
        meta.insert("managedFields".into(), Value::Array(list));
    }
}

/// A copy of `obj` without `metadata.managedFields`: ownership is never computed over itself.
pub(crate) fn without_managed_fields(obj: &Value) -> Value {
    let mut out = obj.clone();
    remove_managed_fields(&mut out);
    out
}

pub(crate) fn remove_managed_fields(obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
}

/// Keeps at most [`MAX_UPDATE_MANAGERS`] updaters: the oldest are merged, per API version,
/// into an `ancient-changes` entry.
pub(crate) fn cap_update_managers(
    mut managers: Vec<ManagedFieldsEntry>,
) -> Vec<ManagedFieldsEntry> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// managedFields of a ConfigMap created by `kubectl create` and then applied server-side
    /// by `kubectl`, as kube-apiserver 1.33 returns them.
    fn sample() -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "managedFields": [
            {"apiVersion": "v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:data": {"f:b": {}}}, "manager": "kubectl",
             "operation": "Apply", "time": "2026-11-22T10:00:05Z"},
            {"apiVersion": "v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:data": {".": {}, "f:a": {}}}, "manager": "kubectl-create",
             "operation": "Update", "time": "2026-11-22T10:00:00Z"},
            {"apiVersion": "v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:status": {"f:phase": {}}}, "manager": "ctrl",
             "operation": "Update", "subresource": "status", "time": "2026-11-22T10:00:09Z"}]}})
    }

    #[test]
    fn decode_and_store_round_trip_in_apiserver_order() {
        let obj = sample();
        let entries = decode(&obj).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[2].subresource.as_deref(), Some("status"));
        let mut out = obj.clone();
        let mut shuffled = entries.clone();
        shuffled.reverse();
        store(&mut out, shuffled);
        assert_eq!(out, obj);
    }

    #[test]
    fn manager_identity_and_description() {
        let entries = decode(&sample()).unwrap();
        assert_eq!(entries[0].describe(), "\"kubectl\"");
        assert_eq!(entries[1].describe(), "\"kubectl-create\" using v1");
        assert_eq!(
            entries[2].describe(),
            "\"ctrl\" with subresource \"status\" using v1"
        );
        let mut other_version = entries[0].clone();
        other_version.api_version = "v2".into();
        assert!(
            entries[0].same_manager(&other_version),
            "appliers ignore the version"
        );
        let mut update_v2 = entries[1].clone();
        update_v2.api_version = "v2".into();
        assert!(
            !entries[1].same_manager(&update_v2),
            "updaters are per version"
        );
        assert!(!entries[2].same_manager(&ManagedFieldsEntry {
            subresource: None,
            ..entries[2].clone()
        }));
    }

    #[test]
    fn reset_forms_and_absence() {
        let with = |mf: Value| json!({"metadata": {"managedFields": mf}});
        assert!(matches!(recorded(&with(json!([]))), Ok(Recorded::Reset)));
        assert!(matches!(recorded(&with(json!([{}]))), Ok(Recorded::Reset)));
        assert!(matches!(
            recorded(&json!({"metadata": {}})),
            Ok(Recorded::Absent)
        ));
        assert!(matches!(recorded(&with(Value::Null)), Ok(Recorded::Absent)));
        assert_eq!(
            recorded(&with(json!({}))).err(),
            Some(ManagedFieldsError::NotAList)
        );
    }

    #[test]
    fn invalid_entries_are_named() {
        let with = |mf: Value| json!({"metadata": {"managedFields": mf}});
        let err = decode(&with(
            json!([{"manager": "m", "operation": "Patch", "fieldsType": "FieldsV1"}]),
        ));
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("managedFields[0]: operation")
        );
        let err = decode(&with(
            json!([{"manager": "m", "operation": "Apply", "fieldsType": "FieldsV2"}]),
        ));
        assert!(err.unwrap_err().to_string().contains("fieldsType"));
        let err = decode(&with(
            json!([{"manager": "m", "operation": "Apply", "fieldsType": "FieldsV1",
                                        "fieldsV1": {"x:y": {}}}]),
        ));
        assert!(matches!(
            err,
            Err(ManagedFieldsError::Fields { index: 0, .. })
        ));
        let dup = json!({"manager": "m", "operation": "Apply", "fieldsType": "FieldsV1", "apiVersion": "v1"});
        let err = decode(&with(json!([dup.clone(), dup])));
        assert!(err.unwrap_err().to_string().contains("duplicate"));
    }

    #[test]
    fn times_are_written_in_whole_utc_seconds() {
        assert_eq!(
            wire_time("2026-11-22T10:00:05.123456Z"),
            "2026-11-22T10:00:05Z"
        );
        assert_eq!(
            wire_time("2026-11-22T11:00:05+01:00"),
            "2026-11-22T10:00:05Z"
        );
        assert_eq!(wire_time("not a time"), "not a time");
    }

    #[test]
    fn storing_nothing_removes_the_field() {
        let mut obj = sample();
        store(&mut obj, Vec::new());
        assert_eq!(
            obj,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
        );
    }
}
