//! The in-memory object store: every object by group/resource, namespace and name, one global
//! resourceVersion counter, and a bounded history of changes that watches replay from.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;

use super::resources::Registry;

/// `(group, plural)`: all versions of a resource share one store.
pub type StoreKey = (String, String);
/// `(namespace, name)`; the namespace is empty for cluster-scoped objects.
pub type ObjectKey = (String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches see it. (No `Debug`: objects may be Secrets.)
#[derive(Clone)]
pub struct Change {
    pub rv: u64,
    pub event: EventType,
    pub key: StoreKey,
    pub namespace: String,
    pub object: Arc<Value>,
    /// The object before the change, so selector watches can see objects leave the selection.
    pub old: Option<Arc<Value>>,
}

/// The default number of changes kept for watches that resume from a resourceVersion.
pub const DEFAULT_HISTORY: usize = 50_000;

pub struct Store {
    rv: u64,
    objects: HashMap<StoreKey, BTreeMap<ObjectKey, Arc<Value>>>,
    history: VecDeque<Change>,
    history_limit: usize,
    pub registry: Registry,
}

/// Counts only: the objects may be Secrets, which never appear in Debug output.
impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let objects: usize = self.objects.values().map(BTreeMap::len).sum();
        f.debug_struct("Store")
            .field("resource_version", &self.rv)
            .field("objects", &objects)
            .field("history", &self.history.len())
            .finish_non_exhaustive()
    }
}

impl Store {
    pub fn new(history_limit: usize) -> Self {
        Store {
            rv: 1,
            objects: HashMap::new(),
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            registry: Registry::with_builtins(),
        }
    }

    /// The current (latest) resourceVersion.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    pub fn set_rv(&mut self, rv: u64) {
        self.rv = self.rv.max(rv);
    }

    /// The oldest resourceVersion a watch can still start from.
    pub fn oldest_watchable(&self) -> u64 {
        match self.history.front() {
            Some(c) if self.history.len() >= self.history_limit => c.rv,
            _ => 0,
        }
    }

    pub fn get(&self, key: &StoreKey, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.objects
            .get(key)?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Objects of one resource, in (namespace, name) order, from `start` (exclusive) onwards.
    pub fn range<'a>(
        &'a self,
        key: &StoreKey,
        namespace: Option<&'a str>,
        after: Option<&ObjectKey>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<Value>)> + 'a {
        use std::ops::Bound;
        let lower = match after {
            Some(k) => Bound::Excluded(k.clone()),
            None => Bound::Unbounded,
        };
        self.objects
            .get(key)
            .into_iter()
            .flat_map(move |m| m.range((lower.clone(), Bound::Unbounded)))
            .filter(move |((ns, _), _)| namespace.is_none_or(|want| ns == want))
    }

    pub fn count(&self, key: &StoreKey) -> usize {
        self.objects.get(key).map_or(0, BTreeMap::len)
    }

    /// Stores `object` (its metadata already complete except resourceVersion) and records the
    /// change. Returns the stored object.
    pub fn put(&mut self, key: &StoreKey, mut object: Value) -> Arc<Value> {
        self.rv += 1;
        let rv = self.rv;
        object["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let object = Arc::new(object);
        let old = self
            .objects
            .entry(key.clone())
            .or_default()
            .insert((ns.clone(), name), object.clone());
        let event = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(Change {
            rv,
            event,
            key: key.clone(),
            namespace: ns,
            object: object.clone(),
            old,
        });
        object
    }

    /// Removes an object; the DELETED event carries a fresh resourceVersion.
    pub fn remove(&mut self, key: &StoreKey, ns: &str, name: &str) -> Option<Arc<Value>> {
        let old = self
            .objects
            .get_mut(key)?
            .remove(&(ns.to_string(), name.to_string()))?;
        self.rv += 1;
        let mut gone = (*old).clone();
        gone["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        let gone = Arc::new(gone);
        self.record(Change {
            rv: self.rv,
            event: EventType::Deleted,
            key: key.clone(),
            namespace: ns.to_string(),
            object: gone.clone(),
            old: Some(old),
        });
        Some(gone)
    }

    fn record(&mut self, change: Change) {
        if self.history.len() >= self.history_limit {
            self.history.pop_front();
        }
        self.history.push_back(change);
    }

    /// Changes after `rv` (exclusive), oldest first; `None` when `rv` is older than the history.
    pub fn changes_since(&self, rv: u64) -> Option<impl Iterator<Item = &Change>> {
        if rv < self.oldest_watchable().saturating_sub(1) {
            return None;
        }
        let start = self.history.partition_point(|c| c.rv <= rv);
        Some(self.history.range(start..))
    }

    /// Every stored object, for saving state.
    pub fn all_objects(&self) -> impl Iterator<Item = (&StoreKey, &Arc<Value>)> {
        self.objects
            .iter()
            .flat_map(|(k, m)| m.values().map(move |o| (k, o)))
    }

    /// Loads an object as it was saved, without recording a change.
    pub fn restore(&mut self, key: StoreKey, object: Value) {
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(rv) = object["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse().ok())
        {
            self.rv = self.rv.max(rv);
        }
        self.objects
            .entry(key)
            .or_default()
            .insert((ns, name), Arc::new(object));
    }

    /// Drops every object of a resource (its CRD was deleted), recording DELETED changes.
    pub fn drop_resource(&mut self, key: &StoreKey) {
        let names: Vec<ObjectKey> = self
            .objects
            .get(key)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        for (ns, name) in names {
            self.remove(key, &ns, &name);
        }
    }

    /// The objects of one resource as they were at resourceVersion `at` (rewinding the history
    /// from the current state), for consistent pages and `resourceVersionMatch=Exact`;
    /// `None` when the history no longer reaches back that far.
    pub fn snapshot(&self, key: &StoreKey, at: u64) -> Option<BTreeMap<ObjectKey, Arc<Value>>> {
        let mut objects = self.objects.get(key).cloned().unwrap_or_default();
        if at >= self.rv {
            return Some(objects);
        }
        let changes: Vec<&Change> = self.changes_since(at)?.collect();
        for change in changes.into_iter().rev().filter(|c| &c.key == key) {
            let name = change.object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let object_key = (change.namespace.clone(), name);
            match (&change.event, &change.old) {
                (EventType::Added, _) => {
                    objects.remove(&object_key);
                }
                (_, Some(old)) => {
                    objects.insert(object_key, old.clone());
                }
                (_, None) => {}
            }
        }
        Some(objects)
    }

    /// Objects whose `metadata.ownerReferences` name `uid`, for garbage collection.
    pub fn dependents_of(&self, uid: &str) -> Vec<(StoreKey, ObjectKey)> {
        let mut out = Vec::new();
        for (key, m) in &self.objects {
            for (object_key, obj) in m {
                let owned = obj["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid));
                if owned {
                    out.push((key.clone(), object_key.clone()));
                }
            }
        }
        out
    }

    /// Namespaced objects of every resource in `ns`, for namespace deletion.
    pub fn keys_in_namespace(&self, ns: &str) -> Vec<(StoreKey, String)> {
        let mut out = Vec::new();
        for (key, m) in &self.objects {
            for (o_ns, name) in m.keys() {
                if o_ns == ns {
                    out.push((key.clone(), name.clone()));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> StoreKey {
        ("".into(), "configmaps".into())
    }

    fn cm(name: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "ns"}})
    }

    #[test]
    fn every_change_gets_the_next_resource_version_and_is_replayable() {
        let mut store = Store::new(100);
        let start = store.rv();
        let a = store.put(&key(), cm("a"));
        store.put(&key(), cm("a"));
        let gone = store.remove(&key(), "ns", "a").unwrap();
        assert_eq!(a["metadata"]["resourceVersion"], (start + 1).to_string());
        assert_eq!(gone["metadata"]["resourceVersion"], (start + 3).to_string());
        let events: Vec<EventType> = store
            .changes_since(start)
            .unwrap()
            .map(|c| c.event)
            .collect();
        assert_eq!(
            events,
            [EventType::Added, EventType::Modified, EventType::Deleted]
        );
        assert_eq!(store.changes_since(start + 2).unwrap().count(), 1);
    }

    #[test]
    fn resource_versions_older_than_the_history_are_gone() {
        let mut store = Store::new(3);
        let start = store.rv();
        for i in 0..5 {
            store.put(&key(), cm(&format!("o{i}")));
        }
        assert!(store.changes_since(start).is_none(), "410 Gone");
        // The last three changes are still there.
        assert_eq!(store.changes_since(start + 2).map(Iterator::count), Some(3));
    }

    #[test]
    fn range_pages_in_name_order_within_a_namespace() {
        let mut store = Store::new(10);
        for name in ["c", "a", "b"] {
            store.put(&key(), cm(name));
        }
        store.put(
            &key(),
            json!({"metadata": {"name": "z", "namespace": "other"}}),
        );
        let after = ("ns".to_string(), "a".to_string());
        let names: Vec<&str> = store
            .range(&key(), Some("ns"), Some(&after))
            .map(|((_, n), _)| n.as_str())
            .collect();
        assert_eq!(names, ["b", "c"]);
        assert_eq!(store.range(&key(), None, None).count(), 4);
    }
}
