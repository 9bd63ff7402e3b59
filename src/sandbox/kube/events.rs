//! Events are stored once, as core/v1 Events, and served through both APIs: kube-rs's
//! Recorder writes `events.k8s.io/v1`, while `kubectl describe` reads core/v1 — as in
//! kube-apiserver, where both are views of the same objects.

use serde_json::{Map, Value};

/// (events.k8s.io/v1 field, core/v1 field) pairs that differ only in name.
const RENAMED: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedCount", "count"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedSource", "source"),
    ("reportingController", "reportingComponent"),
];

fn rename(obj: &Value, forward: bool, api_version: &str) -> Value {
    let Some(map) = obj.as_object() else {
        return obj.clone();
    };
    let mut out = Map::new();
    for (k, v) in map {
        let renamed = RENAMED.iter().find_map(|(new, old)| {
            let (from, to) = if forward { (new, old) } else { (old, new) };
            (k == from).then_some(*to)
        });
        out.insert(renamed.unwrap_or(k).to_string(), v.clone());
    }
    out.insert("apiVersion".into(), Value::String(api_version.into()));
    out.insert("kind".into(), Value::String("Event".into()));
    Value::Object(out)
}

/// An `events.k8s.io/v1` Event as the core/v1 Event it is stored as.
pub fn to_core(event: &Value) -> Value {
    rename(event, true, "v1")
}

/// A stored core/v1 Event as an `events.k8s.io/v1` Event.
pub fn from_core(event: &Value) -> Value {
    rename(event, false, "events.k8s.io/v1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_keeps_every_field() {
        let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e"}, "regarding": {"name": "x"}, "note": "hi",
            "reason": "Started", "reportingController": "op", "eventTime": "2026-01-01T00:00:00.000000Z"});
        let core = to_core(&ev);
        assert_eq!(core["involvedObject"]["name"], "x");
        assert_eq!(core["message"], "hi");
        assert_eq!(core["reportingComponent"], "op");
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(from_core(&core), ev);
    }
}
