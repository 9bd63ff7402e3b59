//! Argo CD health checks and actions (deploy/argocd/) run in a real Lua interpreter against
//! statuses written the way the controllers write them.

use std::path::{Path, PathBuf};

use k8s_openapi::jiff::Timestamp;
use mendix_operator::crd::MendixEnvironmentStatus;
use mendix_operator::crd::conditions::{Outcome, apply_outcome};
use mlua::{Lua, LuaSerdeExt, Value as LuaValue};
use serde_json::{Value, json};

fn argocd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/argocd")
}

fn lua_source(name: &str) -> String {
    std::fs::read_to_string(argocd_dir().join("lua").join(name)).expect("lua source exists")
}

/// Runs a script with `obj` bound as Argo CD does and returns what it returns, as JSON.
fn run(script: &str, obj: &Value) -> Value {
    let lua = Lua::new();
    let obj = lua.to_value(obj).expect("object converts to Lua");
    lua.globals().set("obj", obj).expect("set obj");
    let result: LuaValue = lua.load(script).eval().expect("script runs");
    lua.from_value(result).expect("result converts to JSON")
}

fn environment(
    generation: i64,
    annotations: Value,
    status: Option<MendixEnvironmentStatus>,
) -> Value {
    let mut obj = json!({
        "apiVersion": "mendixops.io/v1alpha1",
        "kind": "MendixEnvironment",
        "metadata": {"name": "calc-acceptance", "namespace": "apps", "generation": generation, "annotations": annotations},
    });
    if annotations_missing(&obj) {
        // A real object without annotations has no key at all (Lua sees nil, not a null value).
        obj["metadata"]
            .as_object_mut()
            .map(|m| m.remove("annotations"));
    }
    if let Some(status) = status {
        obj["status"] = serde_json::to_value(status).expect("status serializes");
    }
    obj
}

fn annotations_missing(obj: &Value) -> bool {
    obj["metadata"]["annotations"].is_null()
}

fn status_with(outcome: Outcome, observed: i64) -> MendixEnvironmentStatus {
    let mut status = MendixEnvironmentStatus {
        observed_generation: Some(observed),
        ..Default::default()
    };
    let now = Timestamp::from_second(1_763_800_000).expect("valid time");
    apply_outcome(
        &mut status.conditions,
        &Outcome::progressing("Deploying", "1/4: stopping app"),
        Some(observed),
        now,
    );
    apply_outcome(&mut status.conditions, &outcome, Some(observed), now);
    status
}

fn health(obj: &Value) -> (String, String) {
    let hs = run(&lua_source("health.lua"), obj);
    (
        hs["status"].as_str().unwrap_or_default().to_string(),
        hs["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn health_follows_the_kstatus_conditions() {
    let ready = environment(
        3,
        json!({}),
        Some(status_with(
            Outcome::ready("Running", "2.5.4 running with 2 instances"),
            3,
        )),
    );
    assert_eq!(
        health(&ready),
        ("Healthy".into(), "2.5.4 running with 2 instances".into())
    );

    let stalled = environment(
        3,
        json!({}),
        Some(status_with(
            Outcome::stalled(
                "ProductionNotAllowed",
                "set spec.production: true to change it",
            ),
            3,
        )),
    );
    assert_eq!(
        health(&stalled),
        (
            "Degraded".into(),
            "ProductionNotAllowed: set spec.production: true to change it".into()
        )
    );

    let working = environment(
        3,
        json!({}),
        Some(status_with(
            Outcome::progressing("Deploying", "2/4: transporting 2.5.4"),
            3,
        )),
    );
    assert_eq!(
        health(&working),
        ("Progressing".into(), "2/4: transporting 2.5.4".into())
    );
}

#[test]
fn ready_for_an_older_generation_is_still_progressing() {
    let stale = environment(
        4,
        json!({}),
        Some(status_with(Outcome::ready("Running", "ok"), 3)),
    );
    let (status, message) = health(&stale);
    assert_eq!(status, "Progressing");
    assert!(message.contains("generation 4"), "{message}");
    let fresh = environment(1, json!({}), None);
    assert_eq!(health(&fresh).0, "Progressing");
}

#[test]
fn paused_is_suspended_whatever_the_conditions() {
    let paused = environment(
        3,
        json!({"mendixops.io/paused": "true"}),
        Some(status_with(
            Outcome::stalled("InvalidCredentials", "fix the Secret"),
            3,
        )),
    );
    assert_eq!(health(&paused).0, "Suspended");
}

#[test]
fn actions_set_the_annotations_the_operator_reads() {
    let obj = environment(1, Value::Null, None);
    let restarted = run(&lua_source("restart.lua"), &obj);
    let stamp = restarted["metadata"]["annotations"]["mendixops.io/restartedAt"]
        .as_str()
        .expect("restart stamp")
        .to_string();
    assert!(
        stamp.parse::<Timestamp>().is_ok(),
        "restartedAt is RFC 3339: {stamp}"
    );

    let reconciled = run(&lua_source("reconcile.lua"), &obj);
    assert!(reconciled["metadata"]["annotations"]["mendixops.io/reconcileRequestedAt"].is_string());

    let paused = run(&lua_source("pause.lua"), &obj);
    assert_eq!(
        paused["metadata"]["annotations"]["mendixops.io/paused"],
        "true"
    );
    let resumed = run(&lua_source("resume.lua"), &paused);
    assert!(
        resumed["metadata"]["annotations"]
            .get("mendixops.io/paused")
            .is_none_or(Value::is_null)
    );
}

#[test]
fn discovery_offers_pause_or_resume_by_state() {
    let running = environment(1, json!({}), None);
    let actions = run(&lua_source("discovery-environment.lua"), &running);
    assert_eq!(actions["pause"]["disabled"], false);
    assert_eq!(actions["resume"]["disabled"], true);
    assert!(actions.get("restart").is_some() && actions.get("reconcile").is_some());
    let paused = environment(1, json!({"mendixops.io/paused": "true"}), None);
    let actions = run(&lua_source("discovery-package.lua"), &paused);
    assert_eq!(actions["pause"]["disabled"], true);
    assert_eq!(actions["resume"]["disabled"], false);
    assert!(
        actions.get("restart").is_none(),
        "packages cannot be restarted"
    );
}

#[test]
fn argocd_cm_embeds_exactly_the_lua_sources() {
    let text =
        std::fs::read_to_string(argocd_dir().join("argocd-cm.yaml")).expect("argocd-cm.yaml");
    let cm: Value = serde_yaml::from_str(&text).expect("argocd-cm.yaml parses");
    let data = &cm["data"];
    let check = "run `python3 generate.py` in deploy/argocd";
    for (kind, discovery, actions) in [
        (
            "MendixPackage",
            "discovery-package.lua",
            vec!["reconcile", "pause", "resume"],
        ),
        (
            "MendixEnvironment",
            "discovery-environment.lua",
            vec!["restart", "reconcile", "pause", "resume"],
        ),
    ] {
        let health = data[format!("resource.customizations.health.mendixops.io_{kind}")]
            .as_str()
            .expect("health key");
        assert_eq!(
            health,
            lua_source("health.lua"),
            "{kind} health differs: {check}"
        );
        let actions_doc: Value = serde_yaml::from_str(
            data[format!("resource.customizations.actions.mendixops.io_{kind}")]
                .as_str()
                .expect("actions key"),
        )
        .expect("actions document parses");
        assert_eq!(
            actions_doc["discovery.lua"].as_str(),
            Some(lua_source(discovery).as_str()),
            "{kind}: {check}"
        );
        let defined: Vec<&str> = actions_doc["definitions"]
            .as_array()
            .expect("definitions")
            .iter()
            .filter_map(|d| d["name"].as_str())
            .collect();
        assert_eq!(defined, actions, "{kind}");
        for definition in actions_doc["definitions"].as_array().expect("definitions") {
            let name = definition["name"].as_str().expect("name");
            assert_eq!(
                definition["action.lua"].as_str(),
                Some(lua_source(&format!("{name}.lua")).as_str()),
                "{kind}/{name}: {check}"
            );
        }
    }
}
