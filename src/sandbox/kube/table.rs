//! Server-side `kubectl get` tables (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`):
//! the CRD's additionalPrinterColumns, or kube-apiserver's columns for the built-in kinds.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::resources::{PrinterColumn, ResourceType};
use super::schema::printer;

/// What each row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(v: Option<&str>) -> Self {
        match v {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

fn col(name: &str, type_: &str, format: &str, description: &str) -> PrinterColumn {
    PrinterColumn {
        name: name.into(),
        type_: type_.into(),
        format: format.into(),
        description: description.into(),
        priority: 0,
        json_path: String::new(),
    }
}

/// The columns after Name, with how each cell is computed.
fn columns(rt: &ResourceType) -> Vec<PrinterColumn> {
    if rt.custom {
        if rt.printer_columns.is_empty() {
            return vec![age_column()];
        }
        return rt.printer_columns.clone();
    }
    let c = |name: &str, path: &str| PrinterColumn {
        json_path: path.into(),
        ..col(name, "string", "", "")
    };
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => vec![c("Status", ".status.phase"), age_column()],
        ("", "ConfigMap") => vec![c("Data", "#data"), age_column()],
        ("", "Secret") => vec![c("Type", ".type"), c("Data", "#data"), age_column()],
        ("coordination.k8s.io", "Lease") => vec![c("Holder", ".spec.holderIdentity"), age_column()],
        ("apiextensions.k8s.io", _) => vec![PrinterColumn {
            json_path: ".metadata.creationTimestamp".into(),
            ..col("Created At", "date", "", "")
        }],
        _ => vec![age_column()],
    }
}

fn age_column() -> PrinterColumn {
    PrinterColumn {
        json_path: ".metadata.creationTimestamp".into(),
        ..col(
            "Age",
            "date",
            "",
            "CreationTimestamp is a timestamp representing the server time when this object was created.",
        )
    }
}

/// Event tables lead with Last Seen/Type/Reason/Object/Message instead of Name.
fn is_event(rt: &ResourceType) -> bool {
    rt.kind == "Event"
}

fn event_cells(obj: &Value) -> Vec<Value> {
    let last = ["lastTimestamp", "eventTime", "deprecatedLastTimestamp"]
        .iter()
        .find_map(|k| obj.get(*k).and_then(Value::as_str))
        .or_else(|| obj["metadata"]["creationTimestamp"].as_str());
    let regarding = if obj.get("involvedObject").is_some() {
        &obj["involvedObject"]
    } else {
        &obj["regarding"]
    };
    let object = format!(
        "{}/{}",
        regarding["kind"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase(),
        regarding["name"].as_str().unwrap_or_default()
    );
    let message = obj
        .get("message")
        .or_else(|| obj.get("note"))
        .cloned()
        .unwrap_or(Value::Null);
    vec![
        json!(last.map(human_age).unwrap_or_else(|| "<unknown>".into())),
        obj.get("type").cloned().unwrap_or(Value::Null),
        obj.get("reason").cloned().unwrap_or(Value::Null),
        json!(object),
        message,
    ]
}

fn cell(column: &PrinterColumn, obj: &Value) -> Value {
    if column.json_path == "#data" {
        let n = obj["data"].as_object().map_or(0, |m| m.len())
            + obj["binaryData"].as_object().map_or(0, |m| m.len());
        return json!(n);
    }
    // The built-in CRD table prints its creation time as a timestamp, not an age.
    if column.name == "Created At" {
        return obj["metadata"]["creationTimestamp"].clone();
    }
    let value = printer::evaluate(&column.json_path, obj);
    printer::cell(&column.type_, value.as_ref(), Utc::now())
}

/// A Table of `objects` of one resource type.
pub fn table(
    rt: &ResourceType,
    objects: &[Arc<Value>],
    include: IncludeObject,
    list_metadata: Value,
) -> Value {
    let cols = columns(rt);
    let mut definitions = Vec::new();
    if is_event(rt) {
        for name in ["Last Seen", "Type", "Reason", "Object", "Message"] {
            definitions.push(json!({"name": name, "type": "string", "format": "", "description": "", "priority": 0}));
        }
    } else {
        definitions.push(json!({"name": "Name", "type": "string", "format": "name",
            "description": "Name must be unique within a namespace.", "priority": 0}));
        for c in &cols {
            definitions.push(json!({"name": c.name, "type": c.type_, "format": c.format,
                "description": c.description, "priority": c.priority}));
        }
    }
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let cells: Vec<Value> = if is_event(rt) {
                event_cells(obj)
            } else {
                std::iter::once(obj["metadata"]["name"].clone())
                    .chain(cols.iter().map(|c| cell(c, obj)))
                    .collect()
            };
            let mut row = json!({"cells": cells});
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => row["object"] = partial_metadata(obj),
                IncludeObject::Object => row["object"] = (**obj).clone(),
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

/// The object reduced to `PartialObjectMetadata`.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"].clone(),
    })
}

/// kube-apiserver's short human durations (`45s`, `3m10s`, `5h`, `12d`) since `timestamp`.
pub fn human_age(timestamp: &str) -> String {
    match DateTime::parse_from_rfc3339(timestamp) {
        Ok(then) => printer::human_duration(Utc::now() - then.with_timezone(&Utc)),
        Err(_) => "<invalid>".into(),
    }
}
