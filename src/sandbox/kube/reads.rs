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
use super::store::ObjectKey;
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

/// Objects of a list in (namespace, name) order.
type Entries<'a> = Box<dyn Iterator<Item = (&'a ObjectKey, &'a Arc<Value>)> + 'a>;

/// Where a page starts: after `ns/name`, in the snapshot at resourceVersion `rv`.
struct Continue {
    rv: u64,
    after: (String, String),
}

/// Continue tokens: the hex of `rv/namespace/name` — every page of one list reads the same
/// snapshot, as kube-apiserver's do.
fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    hex::encode(format!("{rv}/{ns}/{name}"))
}

fn decode_continue(token: &str) -> Result<Continue, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "continue key is not valid: {token:?}; start the list again without it"
        ))
    };
    let raw = hex::decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '/');
    let (Some(rv), Some(ns), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    Ok(Continue {
        rv: rv.parse().map_err(|_| bad())?,
        after: (ns.to_string(), name.to_string()),
    })
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
    let token = req
        .param("continue")
        .filter(|c| !c.is_empty())
        .map(decode_continue)
        .transpose()?;
    let exact = match (
        req.param("resourceVersionMatch"),
        req.param("resourceVersion"),
    ) {
        (Some("Exact"), Some(rv)) => Some(rv.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("resourceVersion must be a number, got {rv:?}"))
        })?),
        _ => None,
    };
    let (items, rv, next) = {
        let store = sandbox.lock();
        let at = token.as_ref().map(|t| t.rv).or(exact).unwrap_or(store.rv());
        let after = token.as_ref().map(|t| &t.after);
        // The latest state is read in place; an older one is rebuilt from the history.
        let rewound;
        let candidates: Entries = if at >= store.rv() {
            Box::new(store.range(&target.key(), target.namespace.as_deref(), after))
        } else {
            rewound = store.snapshot(&target.key(), at).ok_or_else(|| {
                ApiError::gone(format!(
                    "the resourceVersion {at} of this list is too old; list again from the start"
                ))
            })?;
            let lower = match after {
                Some(k) => std::ops::Bound::Excluded(k.clone()),
                None => std::ops::Bound::Unbounded,
            };
            let ns = target.namespace.clone();
            Box::new(
                rewound
                    .range((lower, std::ops::Bound::Unbounded))
                    .filter(move |((o_ns, _), _)| ns.as_ref().is_none_or(|want| o_ns == want)),
            )
        };
        let mut items: Vec<Arc<Value>> = Vec::new();
        let mut more = false;
        for (_, obj) in candidates {
            if !filter.matches(rt, obj) {
                continue;
            }
            if limit > 0 && items.len() == limit {
                more = true;
                break;
            }
            items.push(obj.clone());
        }
        // The token names the last returned item, so the next page starts after it.
        let next = items.last().filter(|_| more).map(|last| {
            encode_continue(
                at,
                last["metadata"]["namespace"].as_str().unwrap_or_default(),
                last["metadata"]["name"].as_str().unwrap_or_default(),
            )
        });
        (items, at.min(store.rv()), next)
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
