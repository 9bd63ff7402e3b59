//! The write verbs: create, update, patch (incl. server-side apply) and delete, all through one
//! pipeline — subresource rules, immutable metadata, generation, admission, managedFields,
//! no-op detection, finalizers — and the cascades of namespace and CRD deletion.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use rand::Rng;
use serde_json::{Value, json};

use super::KubeSandbox;
use super::admission::{self, FieldValidation};
use super::api::{
    Request, Target, check_type, ingest, json_response, now, parse_body, present, respond_object,
};
use super::crds::{check_crd, register_crd, set_crd_status};
use super::patching::{self, PatchType};
use super::reads::Filter;
use super::resources::ResourceType;
use super::scale::{scale_of, with_scale};
use super::status::{ApiError, Cause};
use super::store::{Store, StoreKey};

/// What a write is, for the shared write pipeline.
struct Write<'a> {
    target: &'a Target,
    subresource: Option<&'a str>,
    manager: String,
    dry_run: bool,
    validation: FieldValidation,
    /// `true` when server-side apply already recorded managedFields.
    applied: bool,
}

const NAME_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn generated_name(prefix: &str) -> String {
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| NAME_CHARS[rng.random_range(0..NAME_CHARS.len())] as char)
        .collect();
    format!("{prefix}{suffix}")
}

pub(crate) fn create(
    sandbox: &KubeSandbox,
    req: &Request,
    target: &Target,
    warnings: &mut Vec<String>,
) -> Result<Response, ApiError> {
    let rt = target.rt.clone();
    if rt.namespaced && target.namespace.is_none() {
        return Err(ApiError::bad_request(
            "the namespace of the object must be given in the request path",
        ));
    }
    let mut obj = parse_body(req)?;
    check_type(&rt, &obj)?;
    if let (Some(path_ns), Some(body_ns)) =
        (&target.namespace, obj["metadata"]["namespace"].as_str())
        && !body_ns.is_empty()
        && body_ns != path_ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if name.is_empty()
        && let Some(prefix) = obj["metadata"]["generateName"]
            .as_str()
            .filter(|p| !p.is_empty())
    {
        obj["metadata"]["name"] = json!(generated_name(prefix));
    }
    let write = Write {
        target,
        subresource: None,
        manager: req.manager(),
        dry_run: req.dry_run(),
        validation: FieldValidation::parse(req.param("fieldValidation"))?,
        applied: false,
    };
    let (status, obj, rv) = {
        let mut store = sandbox.lock();
        let out = create_locked(&mut store, &write, obj, warnings)?;
        (StatusCode::CREATED, out, store.rv())
    };
    sandbox.notify(rv);
    Ok(respond_object(req, &rt, status, &obj))
}

fn create_locked(
    store: &mut Store,
    write: &Write,
    mut obj: Value,
    warnings: &mut Vec<String>,
) -> Result<Value, ApiError> {
    let rt = &write.target.rt;
    obj = ingest(rt, obj);
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Some(ns) = &write.target.namespace {
        obj["metadata"]["namespace"] = json!(ns);
        match store.get(&namespace_key(), "", ns) {
            None => return Err(ApiError::not_found("", "namespaces", ns)),
            Some(n) if n["metadata"].get("deletionTimestamp").is_some() => {
                return Err(ApiError::new(
                    403,
                    "Forbidden",
                    format!(
                        "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                        crate::sandbox::kube::status::qualified(&rt.group, &rt.plural)
                    ),
                ));
            }
            Some(_) => {}
        }
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    if store
        .get(&write.target.key(), write.target.ns(), &name)
        .is_some()
    {
        return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
    }
    if let Some(m) = obj["metadata"].as_object_mut() {
        for server_owned in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            m.remove(server_owned);
        }
        m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        m.insert("creationTimestamp".into(), json!(now()));
        m.remove("generation");
        if tracks_generation(rt) {
            m.insert("generation".into(), json!(1));
        }
    }
    if rt.status_subresource
        && let Some(m) = obj.as_object_mut()
    {
        m.remove("status");
    }
    prepare_builtin(rt, &mut obj, None)?;
    warnings.extend(admission::admit(rt, &mut obj, None, write.validation)?);
    if rt.kind == "CustomResourceDefinition" {
        check_crd(&obj)?;
        set_crd_status(&mut obj);
    }
    if !write.applied {
        patching::update_managed_fields(rt, None, &mut obj, &write.manager, None, &now());
    }
    if write.dry_run {
        return Ok(obj);
    }
    let stored = store.put(&write.target.key(), obj);
    if rt.kind == "CustomResourceDefinition" {
        register_crd(store, &stored);
    }
    Ok((*stored).clone())
}

/// Server-side defaults and conversions of the built-in kinds.
fn prepare_builtin(
    rt: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Secret") => {
            if obj.get("type").is_none_or(|t| t.is_null() || t == "") {
                obj["type"] = json!("Opaque");
            }
            if let Some(string_data) = obj.get("stringData").and_then(Value::as_object).cloned() {
                use base64::Engine;
                for (k, v) in string_data {
                    let text = v.as_str().unwrap_or_default();
                    obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
                }
            }
            if let Some(m) = obj.as_object_mut() {
                m.remove("stringData");
            }
            if let Some(data) = obj["data"].as_object() {
                use base64::Engine;
                for (k, v) in data {
                    let decodes = v.as_str().is_some_and(|s| {
                        base64::engine::general_purpose::STANDARD.decode(s).is_ok()
                    });
                    if !decodes {
                        let name = obj["metadata"]["name"].as_str().unwrap_or_default();
                        return Err(ApiError::invalid(
                            "",
                            "Secret",
                            name,
                            vec![Cause {
                                reason: "FieldValueInvalid".into(),
                                field: format!("data[{k}]"),
                                message: "Invalid value: the value must be base64-encoded".into(),
                            }],
                        ));
                    }
                }
            }
        }
        ("", "Namespace") => {
            let name = obj["metadata"]["name"].clone();
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
            let phase = old
                .and_then(|o| o["status"]["phase"].as_str())
                .unwrap_or("Active")
                .to_string();
            obj["status"]["phase"] = json!(phase);
        }
        _ => {}
    }
    Ok(())
}

/// Creates a namespace directly (the built-in namespaces of a new sandbox).
pub(crate) fn create_namespace(sandbox: &KubeSandbox, name: &str) -> Result<(), ApiError> {
    let rt = sandbox
        .lock()
        .registry
        .get("", "v1", "namespaces")
        .ok_or_else(|| ApiError::internal("the namespaces resource is not registered"))?;
    let target = Target {
        rt,
        namespace: None,
        name: None,
        subresource: None,
        watch_prefix: false,
    };
    let write = Write {
        target: &target,
        subresource: None,
        manager: "kube-apiserver".into(),
        dry_run: false,
        validation: FieldValidation::Ignore,
        applied: false,
    };
    let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    let mut store = sandbox.lock();
    create_locked(&mut store, &write, obj, &mut Vec::new()).map(|_| ())
}

/// The object without the fields the server owns, to tell real changes from no-ops.
fn comparable(obj: &Value) -> Value {
    let mut c = obj.clone();
    if let Some(m) = c["metadata"].as_object_mut() {
        m.remove("resourceVersion");
        m.remove("managedFields");
        m.remove("generation");
    }
    c
}

/// Custom resources and CRDs count spec changes in `metadata.generation`; the built-in kinds
/// served here (ConfigMap, Secret, Event, Lease, Namespace) have none, as in kube-apiserver.
fn tracks_generation(rt: &ResourceType) -> bool {
    rt.custom || rt.kind == "CustomResourceDefinition"
}

/// managedFields without their timestamps.
fn ownership(obj: &Value) -> Value {
    let mut entries = obj["metadata"]["managedFields"].clone();
    for entry in entries.as_array_mut().into_iter().flatten() {
        if let Some(m) = entry.as_object_mut() {
            m.remove("time");
        }
    }
    entries
}

fn spec_part(rt: &ResourceType, obj: &Value) -> Value {
    let mut c = obj.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("metadata");
        if rt.status_subresource {
            m.remove("status");
        }
    }
    c
}

/// Replaces an existing object with `new` (an update, a patch result or an apply result).
fn update_locked(
    store: &mut Store,
    write: &Write,
    old: &Arc<Value>,
    mut new: Value,
    warnings: &mut Vec<String>,
) -> Result<Value, ApiError> {
    let rt = &write.target.rt;
    let name = old["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    new = ingest(rt, new);
    if !new["metadata"].is_object() {
        new["metadata"] = json!({});
    }
    let given_rv = new["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let old_rv = old["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default();
    if !given_rv.is_empty() && given_rv != old_rv {
        return Err(ApiError::conflict(
            &rt.group,
            &rt.plural,
            &name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    let new_name = new["metadata"]["name"].as_str().unwrap_or_default();
    if !new_name.is_empty() && new_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({new_name}) does not match the name on the URL ({name})"
        )));
    }
    // Which parts of the object this endpoint may change.
    match write.subresource {
        Some("status") => {
            let status = new.get("status").cloned();
            let mut merged = (**old).clone();
            match status {
                Some(s) => merged["status"] = s,
                None => {
                    if let Some(m) = merged.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            if write.applied {
                merged["metadata"]["managedFields"] = new["metadata"]["managedFields"].clone();
            }
            new = merged;
        }
        _ if rt.status_subresource => match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        },
        _ => {}
    }
    for immutable in [
        "uid",
        "creationTimestamp",
        "namespace",
        "name",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        match old["metadata"].get(immutable) {
            Some(v) => new["metadata"][immutable] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(immutable);
                }
            }
        }
    }
    let old_generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
    match new["metadata"].as_object_mut() {
        Some(m) if tracks_generation(rt) => {
            m.insert("generation".into(), json!(old_generation));
        }
        Some(m) => {
            m.remove("generation");
        }
        None => {}
    }
    prepare_builtin(rt, &mut new, Some(old))?;
    if write.subresource.is_none() {
        warnings.extend(admission::admit(rt, &mut new, Some(old), write.validation)?);
    } else {
        // Status writes are validated too, but unknown fields are simply dropped.
        warnings.extend(admission::admit(
            rt,
            &mut new,
            Some(old),
            FieldValidation::Ignore,
        )?);
    }
    if rt.kind == "CustomResourceDefinition" {
        check_crd(&new)?;
        set_crd_status(&mut new);
    }
    if tracks_generation(rt) && spec_part(rt, &new) != spec_part(rt, old) {
        new["metadata"]["generation"] = json!(old_generation + 1);
    }
    if !write.applied {
        patching::update_managed_fields(
            rt,
            Some(old),
            &mut new,
            &write.manager,
            write.subresource,
            &now(),
        );
    }
    // An update that changes nothing is not stored (no new resourceVersion, no watch event);
    // like kube-apiserver, managedFields timestamps alone do not count as a change, so a
    // controller re-applying the same status every reconcile does not wake itself up.
    if comparable(&new) == comparable(old) && (!write.applied || ownership(&new) == ownership(old))
    {
        return Ok((**old).clone());
    }
    if write.dry_run {
        new["metadata"]["resourceVersion"] = json!(old_rv);
        return Ok(new);
    }
    let finalizers_gone = new["metadata"]["finalizers"]
        .as_array()
        .is_none_or(Vec::is_empty);
    if new["metadata"].get("deletionTimestamp").is_some() && finalizers_gone {
        let key = write.target.key();
        store.put(&key, new);
        let gone = remove_locked(store, rt, write.target.ns(), &name);
        return Ok(gone.map(|g| (*g).clone()).unwrap_or_default());
    }
    let stored = store.put(&write.target.key(), new);
    if rt.kind == "CustomResourceDefinition" {
        register_crd(store, &stored);
    }
    Ok((*stored).clone())
}

pub(crate) fn update(
    sandbox: &KubeSandbox,
    req: &Request,
    target: &Target,
    name: &str,
    sub: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Response, ApiError> {
    let rt = target.rt.clone();
    let mut body = parse_body(req)?;
    // Custom resources allow no unconditional update (apiextensions-apiserver).
    let unconditional = body["metadata"]["resourceVersion"]
        .as_str()
        .is_none_or(str::is_empty);
    if rt.custom && unconditional && sub != Some("scale") {
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            name,
            vec![Cause {
                reason: "FieldValueInvalid".into(),
                field: "metadata.resourceVersion".into(),
                message: "Invalid value: 0x0: must be specified for an update".into(),
            }],
        ));
    }
    let write = Write {
        target,
        subresource: sub,
        manager: req.manager(),
        dry_run: req.dry_run(),
        validation: FieldValidation::parse(req.param("fieldValidation"))?,
        applied: false,
    };
    let (obj, rv) = {
        let mut store = sandbox.lock();
        let old = store
            .get(&target.key(), target.ns(), name)
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        if sub == Some("scale") {
            body = with_scale(&rt, &old, &body)?;
        } else {
            check_type(&rt, &body)?;
        }
        let sub = sub.filter(|s| *s != "scale");
        let write = Write {
            subresource: sub,
            ..write
        };
        let out = update_locked(&mut store, &write, &old, body, warnings)?;
        (out, store.rv())
    };
    sandbox.notify(rv);
    if target.subresource.as_deref() == Some("scale") {
        return Ok(json_response(StatusCode::OK, &scale_of(&rt, &obj)));
    }
    Ok(respond_object(req, &rt, StatusCode::OK, &obj))
}

pub(crate) fn patch(
    sandbox: &KubeSandbox,
    req: &Request,
    target: &Target,
    name: &str,
    sub: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Response, ApiError> {
    let rt = target.rt.clone();
    let kind = PatchType::from_content_type(req.content_type())?;
    let manager = req.manager();
    let force = req.flag("force");
    if kind == PatchType::Apply && req.param("fieldManager").is_none_or(str::is_empty) {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "PatchOptions",
            "",
            vec![Cause {
                reason: "FieldValueRequired".into(),
                field: "fieldManager".into(),
                message: "Required value: is required for apply patch".into(),
            }],
        ));
    }
    if kind != PatchType::Apply && force {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "PatchOptions",
            "",
            vec![Cause {
                reason: "FieldValueForbidden".into(),
                field: "force".into(),
                message: "Forbidden: may not be specified for non-apply patch".into(),
            }],
        ));
    }
    let validation = FieldValidation::parse(req.param("fieldValidation"))?;
    let dry_run = req.dry_run();
    let (status, obj, rv) = {
        let mut store = sandbox.lock();
        let old = store.get(&target.key(), target.ns(), name);
        let scale_sub = sub == Some("scale");
        let sub = sub.filter(|s| *s != "scale");
        let write = Write {
            target,
            subresource: sub,
            manager: manager.clone(),
            dry_run,
            validation,
            applied: kind == PatchType::Apply,
        };
        let (status, out) = match (kind, old) {
            (PatchType::Apply, old) => {
                let applied: Value = serde_yaml::from_slice(&req.body).map_err(|e| {
                    ApiError::bad_request(format!("the apply body is not valid YAML or JSON: {e}"))
                })?;
                if !scale_sub {
                    check_type(&rt, &applied)?;
                }
                let applied = ingest(&rt, applied);
                let live = old
                    .as_deref()
                    .map(|o| present(&rt, o))
                    .map(|o| ingest(&rt, o));
                let merged = patching::server_side_apply(
                    &rt,
                    live.as_ref(),
                    &applied,
                    &manager,
                    force,
                    sub,
                    &now(),
                )?;
                match old {
                    Some(old) => (
                        StatusCode::OK,
                        update_locked(&mut store, &write, &old, merged, warnings)?,
                    ),
                    None => {
                        let mut merged = merged;
                        merged["metadata"]["name"] = json!(name);
                        (
                            StatusCode::CREATED,
                            create_locked(&mut store, &write, merged, warnings)?,
                        )
                    }
                }
            }
            (_, None) => return Err(ApiError::not_found(&rt.group, &rt.plural, name)),
            (kind, Some(old)) => {
                let shown = if scale_sub {
                    scale_of(&rt, &old)
                } else {
                    present(&rt, &old)
                };
                let patched = patching::patch(&rt, kind, &shown, &req.body)?;
                let patched = if scale_sub {
                    with_scale(&rt, &old, &patched)?
                } else {
                    patched
                };
                (
                    StatusCode::OK,
                    update_locked(&mut store, &write, &old, patched, warnings)?,
                )
            }
        };
        (status, out, store.rv())
    };
    sandbox.notify(rv);
    if sub == Some("scale") {
        return Ok(json_response(status, &scale_of(&rt, &obj)));
    }
    Ok(respond_object(req, &rt, status, &obj))
}

/// Removes an object, cascading for namespaces and CRDs, and finishing terminating namespaces.
fn remove_locked(store: &mut Store, rt: &ResourceType, ns: &str, name: &str) -> Option<Arc<Value>> {
    let gone = store.remove(&rt.store_key(), ns, name)?;
    match rt.kind.as_str() {
        "CustomResourceDefinition" => {
            let group = gone["spec"]["group"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let plural = gone["spec"]["names"]["plural"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            store.drop_resource(&(group.clone(), plural.clone()));
            store.registry.remove_resource(&group, &plural);
        }
        "Namespace" => {}
        _ if !ns.is_empty() => finish_namespace_if_empty(store, ns),
        _ => {}
    }
    collect_garbage(store, &gone);
    Some(gone)
}

/// `propagationPolicy: Orphan`: dependents lose their owner reference instead of going too.
fn orphan_dependents(store: &mut Store, owner: &Value) {
    let Some(uid) = owner["metadata"]["uid"].as_str() else {
        return;
    };
    for (key, (ns, name)) in store.dependents_of(uid) {
        let Some(dependent) = store.get(&key, &ns, &name) else {
            continue;
        };
        let mut orphaned = (*dependent).clone();
        if let Some(refs) = orphaned["metadata"]["ownerReferences"].as_array_mut() {
            refs.retain(|r| r["uid"] != uid);
        }
        store.put(&key, orphaned);
    }
}

/// The garbage collector's background propagation, done at once: objects owned by a removed
/// object (`ownerReferences[].uid`) are deleted too (their finalizers still hold them).
fn collect_garbage(store: &mut Store, owner: &Value) {
    let Some(uid) = owner["metadata"]["uid"].as_str() else {
        return;
    };
    for (key, (ns, name)) in store.dependents_of(uid) {
        let Some(rt) = store.registry.all().find(|t| t.store_key() == key).cloned() else {
            continue;
        };
        let _ = delete_locked(store, &rt, &ns, &name, false);
    }
}

fn namespace_key() -> StoreKey {
    ("".into(), "namespaces".into())
}

fn finish_namespace_if_empty(store: &mut Store, ns: &str) {
    let terminating = store
        .get(&namespace_key(), "", ns)
        .is_some_and(|n| n["metadata"].get("deletionTimestamp").is_some());
    if terminating && store.keys_in_namespace(ns).is_empty() {
        store.remove(&namespace_key(), "", ns);
    }
}

/// Marks an object for deletion or removes it; returns the object as the response shows it.
fn delete_locked(
    store: &mut Store,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let key = rt.store_key();
    let old = store
        .get(&key, ns, name)
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
    let has_finalizers = old["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if dry_run {
        return Ok((*old).clone());
    }
    if rt.kind == "Namespace" {
        let mut marked = (*old).clone();
        if marked["metadata"].get("deletionTimestamp").is_none() {
            marked["metadata"]["deletionTimestamp"] = json!(now());
            marked["status"]["phase"] = json!("Terminating");
            store.put(&key, marked);
        }
        for (k, obj_name) in store.keys_in_namespace(name) {
            let Some(obj_rt) = store.registry.all().find(|t| t.store_key() == k).cloned() else {
                continue;
            };
            let _ = delete_locked(store, &obj_rt, name, &obj_name, false);
        }
        finish_namespace_if_empty(store, name);
        return Ok(store
            .get(&key, ns, name)
            .map(|o| (*o).clone())
            .unwrap_or_else(|| (*old).clone()));
    }
    if has_finalizers {
        if old["metadata"].get("deletionTimestamp").is_some() {
            return Ok((*old).clone());
        }
        let mut marked = (*old).clone();
        marked["metadata"]["deletionTimestamp"] = json!(now());
        marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        return Ok((*store.put(&key, marked)).clone());
    }
    Ok(remove_locked(store, rt, ns, name)
        .map(|g| (*g).clone())
        .unwrap_or_default())
}

fn check_preconditions(
    req: &Request,
    rt: &ResourceType,
    old: &Value,
    name: &str,
) -> Result<(), ApiError> {
    let Ok(options) = serde_json::from_slice::<Value>(&req.body) else {
        return Ok(());
    };
    let pre = &options["preconditions"];
    for (field, meta) in [("uid", "uid"), ("resourceVersion", "resourceVersion")] {
        if let Some(want) = pre[field].as_str()
            && old["metadata"][meta].as_str() != Some(want)
        {
            return Err(ApiError::conflict(
                &rt.group,
                &rt.plural,
                name,
                &format!(
                    "Precondition failed: {field}: {want}, {field} in object meta: {}",
                    old["metadata"][meta].as_str().unwrap_or_default()
                ),
            ));
        }
    }
    Ok(())
}

pub(crate) fn delete(
    sandbox: &KubeSandbox,
    req: &Request,
    target: &Target,
    name: &str,
) -> Result<Response, ApiError> {
    let rt = target.rt.clone();
    // DeleteOptions come as a body or as query parameters; grace periods are accepted and
    // deletion is immediate.
    let options = serde_json::from_slice::<Value>(&req.body).unwrap_or(Value::Null);
    let dry_run = req.dry_run() || options["dryRun"].as_array().is_some_and(|d| !d.is_empty());
    let orphan = options["propagationPolicy"] == "Orphan"
        || options["orphanDependents"] == true
        || req.param("propagationPolicy") == Some("Orphan");
    let (obj, rv) = {
        let mut store = sandbox.lock();
        if let Some(old) = store.get(&target.key(), target.ns(), name) {
            check_preconditions(req, &rt, &old, name)?;
            if orphan && !dry_run {
                orphan_dependents(&mut store, &old);
            }
        }
        let out = delete_locked(&mut store, &rt, target.ns(), name, dry_run)?;
        (out, store.rv())
    };
    sandbox.notify(rv);
    Ok(respond_object(req, &rt, StatusCode::OK, &obj))
}

pub(crate) fn delete_collection(
    sandbox: &KubeSandbox,
    req: &Request,
    target: &Target,
) -> Result<Response, ApiError> {
    let rt = target.rt.clone();
    let filter = Filter::from_request(req)?;
    let dry_run = req.dry_run();
    let (items, rv) = {
        let mut store = sandbox.lock();
        let names: Vec<(String, String)> = store
            .range(&target.key(), target.namespace.as_deref(), None)
            .filter(|(_, o)| filter.matches(&rt, o))
            .map(|(k, _)| k.clone())
            .collect();
        let mut items = Vec::new();
        for (ns, name) in names {
            if let Ok(o) = delete_locked(&mut store, &rt, &ns, &name, dry_run) {
                items.push(present(&rt, &o));
            }
        }
        (items, store.rv())
    };
    sandbox.notify(rv);
    let body = json!({"kind": rt.list_kind, "apiVersion": rt.api_version(),
        "metadata": {"resourceVersion": rv.to_string()}, "items": items});
    Ok(json_response(StatusCode::OK, &body))
}
