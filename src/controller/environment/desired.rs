//! The desired state of an environment, resolved from the spec: the package id (through a
//! MendixPackage when `packageRef` is used), constant values (including Secret ones), and the
//! pure merges of that state into what Mendix holds — v1 settings and the v4 manifest — which
//! keep everything the spec does not manage exactly as it was.

use std::fmt;

use crate::crd::environment::{MendixEnvironmentSpec, RunState};
use crate::mendix::cloud_v1::types as v1;
use crate::mendix::private_cloud_v4::types as v4;

/// What should run in the environment.
#[derive(Clone, PartialEq)]
pub struct Desired {
    pub package_id: String,
    /// major.minor.patch of the package, when known.
    pub package_version: Option<String>,
    pub run_state: RunState,
    pub instances: Option<i32>,
    pub memory_per_instance: Option<i32>,
    pub auto_sync_db: bool,
    /// (name, value); values may come from Secrets, so Debug never shows them.
    pub constants: Vec<(String, String)>,
    pub scheduled_events: Vec<(String, bool)>,
    pub custom_settings: Vec<(String, String)>,
    pub tags: Option<Vec<String>>,
}

impl fmt::Debug for Desired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Desired")
            .field("package_id", &self.package_id)
            .field("run_state", &self.run_state)
            .field("instances", &self.instances)
            .field(
                "constants",
                &self
                    .constants
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Desired {
    /// Whether the spec sets any constant, scheduled event or custom setting.
    pub fn manages_settings(&self) -> bool {
        !self.constants.is_empty()
            || !self.scheduled_events.is_empty()
            || !self.custom_settings.is_empty()
    }

    /// Everything but the package and constant values, which the caller resolves.
    pub fn from_spec(
        spec: &MendixEnvironmentSpec,
        package_id: String,
        package_version: Option<String>,
        constants: Vec<(String, String)>,
    ) -> Self {
        Desired {
            package_id,
            package_version,
            run_state: spec.run_state,
            instances: spec.instances,
            memory_per_instance: spec.memory_per_instance,
            auto_sync_db: spec.auto_sync_db,
            constants,
            scheduled_events: spec
                .scheduled_events
                .iter()
                .map(|e| (e.name.clone(), e.enabled))
                .collect(),
            custom_settings: spec
                .custom_settings
                .iter()
                .map(|s| (s.name.clone(), s.value.clone()))
                .collect(),
            tags: spec.tags.clone(),
        }
    }
}

/// What a settings merge found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SettingsChange {
    /// Names whose configured value must change (never the values: they may be secret).
    pub changed: Vec<String>,
    /// Constants the spec names that the app does not have.
    pub unknown_constants: Vec<String>,
    pub unknown_events: Vec<String>,
}

fn event_value(enabled: bool) -> &'static str {
    if enabled { "Enabled" } else { "Disabled" }
}

/// Writes the desired values into a v1 settings document (Value only; DeployedValue is what
/// the running app uses) and reports what changed. Settings the spec does not list are kept.
pub fn merge_cloud_settings(
    current: &v1::Settings,
    desired: &Desired,
) -> (v1::Settings, SettingsChange) {
    let mut next = current.clone();
    let mut change = SettingsChange::default();
    for (name, value) in &desired.constants {
        match next.constants.iter_mut().find(|c| &c.name == name) {
            Some(c) if c.value.as_deref() != Some(value.as_str()) => {
                c.value = Some(value.clone());
                change.changed.push(name.clone());
            }
            Some(_) => {}
            None => change.unknown_constants.push(name.clone()),
        }
    }
    for (name, enabled) in &desired.scheduled_events {
        let wanted = event_value(*enabled);
        match next.scheduled_events.iter_mut().find(|e| &e.name == name) {
            Some(e) if e.value.as_deref() != Some(wanted) => {
                e.value = Some(wanted.to_string());
                change.changed.push(name.clone());
            }
            Some(_) => {}
            None => change.unknown_events.push(name.clone()),
        }
    }
    for (name, value) in &desired.custom_settings {
        match next.custom_settings.iter_mut().find(|s| &s.name == name) {
            Some(s) if s.value.as_deref() != Some(value.as_str()) => {
                s.value = Some(value.clone());
                change.changed.push(name.clone());
            }
            Some(_) => {}
            None => {
                next.custom_settings.push(v1::CustomSetting {
                    name: name.clone(),
                    value: Some(value.clone()),
                });
                change.changed.push(name.clone());
            }
        }
    }
    (next, change)
}

/// Settings configured but not yet used by the running app (they apply on the next start).
pub fn pending_on_restart(settings: &v1::Settings) -> Vec<String> {
    let constants = settings
        .constants
        .iter()
        .filter(|c| c.value != c.deployed_value)
        .map(|c| c.name.clone());
    let events = settings
        .scheduled_events
        .iter()
        .filter(|e| e.value != e.deployed_value)
        .map(|e| e.name.clone());
    constants.chain(events).collect()
}

/// The instance count a Private Cloud environment should have.
pub fn private_instances(desired: &Desired, container: &v4::Container) -> u32 {
    match desired.run_state {
        RunState::Stopped => 0,
        RunState::Running => match desired.instances {
            Some(n) => u32::try_from(n).unwrap_or(1),
            None if container.instances > 0 => container.instances,
            None => container
                .last_running_instance_count
                .filter(|n| *n > 0)
                .unwrap_or(1),
        },
    }
}

/// Writes the desired package, constants, scheduled events, custom runtime settings and
/// instance count into a v4 manifest; every other field is kept exactly as it was. Returns the
/// names of what changed.
/// Constants and scheduled events of the spec that the manifest (the deployed model) does not
/// list.
pub fn unknown_model_names(current: &v4::EnvironmentManifest, desired: &Desired) -> Vec<String> {
    let deployment = &current.environment.deployment;
    let constants = deployment.constants.as_deref().unwrap_or_default();
    let events = deployment.scheduled_events.as_deref().unwrap_or_default();
    let constants = desired
        .constants
        .iter()
        .map(|(name, _)| name)
        .filter(|name| !constants.iter().any(|c| &c.name == *name));
    let events = desired
        .scheduled_events
        .iter()
        .map(|(name, _)| name)
        .filter(|name| !events.iter().any(|e| &e.name == *name));
    constants.chain(events).cloned().collect()
}

pub fn merge_manifest(
    current: &v4::EnvironmentManifest,
    desired: &Desired,
    instances: u32,
) -> (v4::EnvironmentManifest, Vec<String>) {
    let mut next = current.clone();
    let mut changed = Vec::new();
    let deployment = &mut next.environment.deployment;
    if deployment.package_id != desired.package_id {
        deployment.package_id = desired.package_id.clone();
        changed.push("package".to_string());
    }
    if !desired.constants.is_empty() {
        let constants = deployment.constants.get_or_insert_with(Vec::new);
        for (name, value) in &desired.constants {
            match constants.iter_mut().find(|c| &c.name == name) {
                Some(c) if c.value.as_deref() != Some(value.as_str()) => {
                    c.value = Some(value.clone());
                    changed.push(name.clone());
                }
                Some(_) => {}
                None => {
                    constants.push(v4::Constant {
                        name: name.clone(),
                        value: Some(value.clone()),
                    });
                    changed.push(name.clone());
                }
            }
        }
    }
    if !desired.scheduled_events.is_empty() {
        let events = deployment.scheduled_events.get_or_insert_with(Vec::new);
        for (name, enabled) in &desired.scheduled_events {
            match events.iter_mut().find(|e| &e.name == name) {
                Some(e) if e.enabled != *enabled => {
                    e.enabled = *enabled;
                    changed.push(name.clone());
                }
                Some(_) => {}
                None => {
                    events.push(v4::ScheduledEvent {
                        name: name.clone(),
                        enabled: *enabled,
                    });
                    changed.push(name.clone());
                }
            }
        }
    }
    if !desired.custom_settings.is_empty() {
        let runtime = next.environment.runtime.get_or_insert_with(|| v4::Runtime {
            runtime_version: None,
            environment_variables: None,
            custom_runtime_settings: None,
            extra: Default::default(),
        });
        let settings = runtime.custom_runtime_settings.get_or_insert_with(Vec::new);
        for (name, value) in &desired.custom_settings {
            match settings.iter_mut().find(|s| &s.name == name) {
                Some(s) if s.value.as_deref() != Some(value.as_str()) => {
                    s.value = Some(value.clone());
                    changed.push(name.clone());
                }
                Some(_) => {}
                None => {
                    settings.push(v4::NameValue {
                        name: name.clone(),
                        value: Some(value.clone()),
                    });
                    changed.push(name.clone());
                }
            }
        }
    }
    if next.environment.container.instances != instances {
        next.environment.container.instances = instances;
        changed.push("instances".to_string());
    }
    (next, changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn desired() -> Desired {
        Desired {
            package_id: "p2".into(),
            package_version: Some("2.0.0".into()),
            run_state: RunState::Running,
            instances: Some(2),
            memory_per_instance: None,
            auto_sync_db: true,
            constants: vec![
                ("M.A".into(), "new".into()),
                ("M.Missing".into(), "x".into()),
            ],
            scheduled_events: vec![("M.Job".into(), true)],
            custom_settings: vec![("SessionTimeout".into(), "600000".into())],
            tags: None,
        }
    }

    fn settings() -> v1::Settings {
        serde_json::from_value(json!({
            "Constants": [
                {"Name": "M.A", "DataType": "String", "Value": "old", "DeployedValue": "old"},
                {"Name": "M.Keep", "DataType": "String", "Value": "k", "DeployedValue": "k"}
            ],
            "CustomSettings": [],
            "ScheduledEvents": [{"Name": "M.Job", "Value": "Disabled", "DeployedValue": "Disabled"}]
        }))
        .expect("valid settings")
    }

    #[test]
    fn cloud_settings_merge_changes_only_what_the_spec_names() {
        let (next, change) = merge_cloud_settings(&settings(), &desired());
        assert_eq!(change.changed, ["M.A", "M.Job", "SessionTimeout"]);
        assert_eq!(change.unknown_constants, ["M.Missing"]);
        assert_eq!(next.constants[0].value.as_deref(), Some("new"));
        assert_eq!(
            next.constants[0].deployed_value.as_deref(),
            Some("old"),
            "DeployedValue is Mendix's"
        );
        assert_eq!(
            next.constants[1],
            settings().constants[1],
            "unmanaged constants are kept"
        );
        assert_eq!(pending_on_restart(&next), ["M.A", "M.Job"]);
        let (again, change) = merge_cloud_settings(&next, &desired());
        assert_eq!(again, next);
        assert!(change.changed.is_empty(), "a second merge changes nothing");
    }

    fn manifest() -> v4::EnvironmentManifest {
        serde_json::from_value(json!({
            "manifestVersion": "2.0.0",
            "environment": {
                "id": "test",
                "properties": {"name": "test", "production": false, "defaultStudioTarget": false, "secretsStoreEnabled": false},
                "deployment": {"appUrl": "https://x", "packageId": "p1",
                    "constants": [{"name": "M.A", "value": "old"}, {"name": "M.Keep", "value": "k"}],
                    "scheduledEvents": [{"name": "M.Job", "enabled": false}],
                    "appLogLevels": [{"name": "ConnectionBus", "level": "Debug"}]},
                "container": {"state": "Ready", "instances": 1, "coreResources": {"limits": {"cpu": "1", "memory": "1"}, "requests": {"cpu": "0.1", "memory": "0.5"}}},
                "provider": {"clusterId": "c", "namespace": "ns"},
                "services": [],
                "runtimeMetricsConfiguration": {"mode": "native"}
            }
        }))
        .expect("valid manifest")
    }

    #[test]
    fn manifest_merge_keeps_every_unmanaged_field() {
        let current = manifest();
        let mut want = desired();
        want.constants.pop();
        let instances = private_instances(&want, &current.environment.container);
        let (next, changed) = merge_manifest(&current, &want, instances);
        assert_eq!(
            changed,
            ["package", "M.A", "M.Job", "SessionTimeout", "instances"]
        );
        let before = serde_json::to_value(&current).expect("serializes");
        let after = serde_json::to_value(&next).expect("serializes");
        assert_eq!(
            after["environment"]["deployment"]["appLogLevels"],
            before["environment"]["deployment"]["appLogLevels"]
        );
        assert_eq!(
            after["environment"]["runtimeMetricsConfiguration"],
            json!({"mode": "native"})
        );
        assert_eq!(
            after["environment"]["deployment"]["constants"][1],
            json!({"name": "M.Keep", "value": "k"})
        );
        assert_eq!(after["environment"]["container"]["instances"], 2);
        assert_eq!(
            after["environment"]["container"]["coreResources"],
            before["environment"]["container"]["coreResources"]
        );
        let (_, again) = merge_manifest(&next, &want, instances);
        assert!(again.is_empty());
    }

    #[test]
    fn stopped_means_zero_instances_and_running_restores_the_last_count() {
        let mut container = manifest().environment.container;
        let mut want = desired();
        want.run_state = RunState::Stopped;
        assert_eq!(private_instances(&want, &container), 0);
        want.run_state = RunState::Running;
        want.instances = None;
        container.instances = 0;
        container.last_running_instance_count = Some(3);
        assert_eq!(private_instances(&want, &container), 3);
        container.last_running_instance_count = None;
        assert_eq!(private_instances(&want, &container), 1);
    }

    #[test]
    fn debug_never_shows_constant_values() {
        let text = format!("{:?}", desired());
        assert!(text.contains("M.A") && !text.contains("new"), "{text}");
    }
}
