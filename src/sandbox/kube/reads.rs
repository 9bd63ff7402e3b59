//! The read verbs: get (with the scale view) and list with selectors, pagination and tables.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::KubeSandbox;
use super::api::{Output, Request, Target, json_response, present, respond_object};
use super::events;
use super::resources::ResourceType;
use super::scale::scale_of;
use super::selectors::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::table;

pub(crate) fn get(
    sandbox: &KubeSandbox,
    req: &Request,
    target: &Target,
    name: &str,
    sub: Option<&str>,
) -> Result<Response, ApiError> {
    let rt = &target.rt;
    let obj = sandbox
        .lock()
        .get(&target.key(), target.ns(), name)
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
    if sub == Some("scale") {
        return Ok(json_response(StatusCode::OK, &scale_of(rt, &obj)));
    }
    Ok(respond_object(req, rt, StatusCode::OK, &obj))
}

/// Continue tokens: the hex of the last returned `namespace/name`.
fn encode_continue(ns: &str, name: &str) -> String {
    hex::encode(format!("{ns}/{name}"))
}

fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "continue key is not valid: {token:?}; start the list again without it"
        ))
    };
    let raw = hex::decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (ns, name) = text.split_once('/').ok_or_else(bad)?;
    Ok((ns.to_string(), name.to_string()))
}

pub(crate) struct Filter {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    pub fn from_request(req: &Request) -> Result<Self, ApiError> {
        Ok(Filter {
            labels: LabelSelector::parse(req.param("labelSelector").unwrap_or_default())?,
            fields: FieldSelector::parse(req.param("fieldSelector").unwrap_or_default())?,
        })
    }

    pub fn matches(&self, rt: &ResourceType, obj: &Value) -> bool {
        if !self.labels.matches(obj) {
            return false;
        }
        if rt.group == "events.k8s.io" {
            return self.fields.matches(&events::from_core(obj));
        }
        self.fields.matches(obj)
    }
}

pub(crate) fn list(
    sandbox: &KubeSandbox,
    req: &Request,
    target: &Target,
) -> Result<Response, ApiError> {
    let rt = &target.rt;
    let filter = Filter::from_request(req)?;
    let limit: usize = match req.param("limit") {
        Some(l) => l.parse().map_err(|_| {
            ApiError::bad_request(format!("limit must be a whole number, got {l:?}"))
        })?,
        None => 0,
    };
    let after = req
        .param("continue")
        .filter(|c| !c.is_empty())
        .map(decode_continue)
        .transpose()?;
    let (items, rv, next) = {
        let store = sandbox.lock();
        let mut items = Vec::new();
        let mut next = None;
        for ((ns, name), obj) in
            store.range(&target.key(), target.namespace.as_deref(), after.as_ref())
        {
            if !filter.matches(rt, obj) {
                continue;
            }
            if limit > 0 && items.len() == limit {
                next = Some(encode_continue(ns, name));
                break;
            }
            items.push(obj.clone());
        }
        // The token names the last returned item, so the next page starts after it.
        if next.is_some()
            && let Some(last) = items.last()
        {
            next = Some(encode_continue(
                last["metadata"]["namespace"].as_str().unwrap_or_default(),
                last["metadata"]["name"].as_str().unwrap_or_default(),
            ));
        }
        (items, store.rv(), next)
    };
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(token) = next {
        metadata["continue"] = json!(token);
    }
    let shown: Vec<Arc<Value>> = items.iter().map(|o| Arc::new(present(rt, o))).collect();
    let body = match req.output() {
        Output::Table(include) => table::table(rt, &shown, include, metadata),
        Output::Metadata => json!({
            "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
            "items": shown.iter().map(|o| table::partial_metadata(o)).collect::<Vec<_>>(),
        }),
        Output::Object => json!({
            "kind": rt.list_kind, "apiVersion": rt.api_version(), "metadata": metadata,
            "items": shown.iter().map(|o| (**o).clone()).collect::<Vec<_>>(),
        }),
    };
    Ok(json_response(StatusCode::OK, &body))
}
