//! The desired state of an environment, resolved from the spec: the package id (through a
//! MendixPackage when `packageRef` is used), constant values (including Secret ones), and the
//! pure merges of that state into what Mendix holds — v1 settings and the v4 manifest — which
//! keep everything the spec does not manage exactly as it was.

use std::fmt;

use crate::crd::environment::{
    CoreResources, DeploymentStrategy, ManifestAnnotation, MendixEnvironmentSpec, RunState,
    RuntimeMetrics,
};
use mendix_client::cloud_v1::types as v1;
use mendix_client::private_cloud_v4::types as v4;

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
    /// Private Cloud manifest fields.
    pub private: PrivateDesired,
}

/// The Private Cloud manifest fields the spec sets (`spec.privateCloud`), resolved.
#[derive(Clone, Default, PartialEq)]
pub struct PrivateDesired {
    pub core_resources: Option<CoreResources>,
    /// (name, value); values may come from Secrets, so Debug never shows them.
    pub environment_variables: Vec<(String, String)>,
    /// (log node, level as the API spells it).
    pub app_log_levels: Vec<(String, String)>,
    pub runtime_metrics: Option<RuntimeMetrics>,
    pub deployment_strategy: Option<DeploymentStrategy>,
    pub annotations: Vec<ManifestAnnotation>,
    /// The admin password, only when it must be sent (its Secret changed since it was last
    /// sent); never in Debug output.
    pub admin_password: Option<AdminPassword>,
}

/// An admin password to send, and the Secret version it came from.
#[derive(Clone, PartialEq)]
pub struct AdminPassword {
    /// Base64, as the API takes it.
    pub encoded: String,
    /// What `status.adminPasswordVersion` records once it was sent.
    pub version: String,
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

impl fmt::Debug for PrivateDesired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateDesired")
            .field("core_resources", &self.core_resources)
            .field(
                "environment_variables",
                &self
                    .environment_variables
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("app_log_levels", &self.app_log_levels)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "<redacted>"),
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
            private: PrivateDesired::default(),
        }
    }
}

/// The production guard refused: Mendix marks the environment as production and the spec does
/// not say `production: true`, so nothing may be written to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProductionNotAllowed;

/// The production guard, the same on both platforms: `remote` is Mendix's production flag
/// (`None` when it does not report one), `spec` is `spec.production`.
pub fn production_guard(remote: Option<bool>, spec: bool) -> Result<(), ProductionNotAllowed> {
    if remote == Some(true) && !spec {
        Err(ProductionNotAllowed)
    } else {
        Ok(())
    }
}

/// What a settings merge found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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

/// Settings the spec lists that are configured but not yet used by the running app (they
/// apply on the next start). Others are left out: a value set in the Portal without a restart
/// is for whoever set it to apply, not a reason for the operator to restart the app.
pub fn pending_on_restart(settings: &v1::Settings, desired: &Desired) -> Vec<String> {
    let constants = settings
        .constants
        .iter()
        .filter(|c| c.value != c.deployed_value)
        .filter(|c| desired.constants.iter().any(|(n, _)| n == &c.name))
        .map(|c| c.name.clone());
    let events = settings
        .scheduled_events
        .iter()
        .filter(|e| e.value != e.deployed_value)
        .filter(|e| desired.scheduled_events.iter().any(|(n, _)| n == &e.name))
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

/// Puts `want` into `list`, replacing the item with the same key; items the spec does not name
/// are kept. True when the list changed.
fn upsert<T: PartialEq>(list: &mut Vec<T>, want: T, same_key: impl Fn(&T, &T) -> bool) -> bool {
    match list.iter_mut().find(|item| same_key(item, &want)) {
        Some(item) if *item == want => false,
        Some(item) => {
            *item = want;
            true
        }
        None => {
            list.push(want);
            true
        }
    }
}

/// Upserts each `(label, item)` of `wants` into `list`, naming each change in `changed`.
fn upsert_all<T: PartialEq>(
    list: &mut Vec<T>,
    wants: impl IntoIterator<Item = (String, T)>,
    same_key: impl Fn(&T, &T) -> bool,
    changed: &mut Vec<String>,
) {
    for (label, want) in wants {
        if upsert(list, want, &same_key) {
            changed.push(label);
        }
    }
}

/// Sets `field` to `want` when the spec sets it; true when that changed it.
fn set_if<T: PartialEq>(field: &mut Option<T>, want: Option<T>) -> bool {
    match want {
        Some(want) if field.as_ref() != Some(&want) => {
            *field = Some(want);
            true
        }
        _ => false,
    }
}

/// Whether two of Mendix's decimal amounts ("0.5", "0.50") are the same number, so a value
/// Mendix writes back in another form is not sent again on every reconcile.
fn same_amount(a: &str, b: &str) -> bool {
    a == b || matches!((a.trim().parse::<f64>(), b.trim().parse::<f64>()), (Ok(x), Ok(y)) if x == y)
}

fn resource_amounts(
    current: &v4::CoreResource,
    want: &crate::crd::environment::ResourceAmounts,
) -> Option<v4::CoreResource> {
    let storage_same = match (&current.ephemeral_storage, &want.ephemeral_storage) {
        (_, None) => true,
        (Some(a), Some(b)) => same_amount(a, b),
        (None, Some(_)) => false,
    };
    if same_amount(&current.cpu, &want.cpu)
        && same_amount(&current.memory, &want.memory)
        && storage_same
    {
        return None;
    }
    Some(v4::CoreResource {
        cpu: want.cpu.clone(),
        memory: want.memory.clone(),
        ephemeral_storage: want
            .ephemeral_storage
            .clone()
            .or_else(|| current.ephemeral_storage.clone()),
    })
}

/// Writes the Private Cloud manifest fields of `spec.privateCloud` into `env`.
fn merge_private(env: &mut v4::EnvironmentSpec, want: &PrivateDesired, changed: &mut Vec<String>) {
    if let Some(resources) = &want.core_resources {
        let current = &mut env.container.core_resources;
        let mut touched = false;
        if let Some(next) = resource_amounts(&current.requests, &resources.requests) {
            current.requests = next;
            touched = true;
        }
        if let Some(next) = resource_amounts(&current.limits, &resources.limits) {
            current.limits = next;
            touched = true;
        }
        if touched {
            changed.push("core resources".into());
        }
    }
    if !want.environment_variables.is_empty() || want.admin_password.is_some() {
        let runtime = env.runtime.get_or_insert_with(Default::default);
        if !want.environment_variables.is_empty() {
            upsert_all(
                runtime.environment_variables.get_or_insert_with(Vec::new),
                want.environment_variables.iter().map(|(name, value)| {
                    (
                        format!("environment variable {name}"),
                        v4::NameValue {
                            name: name.clone(),
                            value: Some(value.clone()),
                        },
                    )
                }),
                |a, b| a.name == b.name,
                changed,
            );
        }
        if let Some(password) = &want.admin_password {
            runtime.mx_admin_password = Some(password.encoded.clone());
            changed.push("admin password".into());
        }
    }
    if !want.app_log_levels.is_empty() {
        upsert_all(
            env.deployment.app_log_levels.get_or_insert_with(Vec::new),
            want.app_log_levels.iter().map(|(name, level)| {
                (
                    format!("log level {name}"),
                    v4::AppLogLevel {
                        name: name.clone(),
                        level: level.clone(),
                    },
                )
            }),
            |a, b| a.name == b.name,
            changed,
        );
    }
    if !want.annotations.is_empty() {
        upsert_all(
            env.annotations.get_or_insert_with(Vec::new),
            want.annotations.iter().map(|a| {
                let kind = format!("{:?}", a.r#type);
                (
                    format!("annotation {}", a.key),
                    v4::Annotation {
                        key: a.key.clone(),
                        value: a.value.clone(),
                        annotation_type: Some(kind),
                    },
                )
            }),
            |a, b| a.key == b.key && a.annotation_type == b.annotation_type,
            changed,
        );
    }
    if let Some(metrics) = &want.runtime_metrics {
        let current = env.runtime_metrics_configuration.get_or_insert_with(|| {
            v4::RuntimeMetricsConfiguration {
                mode: None,
                interval: None,
                mx_agent_config: None,
                mx_agent_instrumentation_config: None,
                extra: Default::default(),
            }
        });
        let mode = metrics.mode.map(|m| format!("{m:?}").to_lowercase());
        if set_if(&mut current.mode, mode)
            | set_if(&mut current.interval, metrics.interval.clone())
            | set_if(
                &mut current.mx_agent_config,
                metrics.mx_agent_config.clone(),
            )
            | set_if(
                &mut current.mx_agent_instrumentation_config,
                metrics.mx_agent_instrumentation_config.clone(),
            )
        {
            changed.push("runtime metrics".into());
        }
    }
    if let Some(strategy) = &want.deployment_strategy {
        let current = env
            .deployment_strategy
            .get_or_insert_with(|| v4::DeploymentStrategy {
                runtime_deployment_strategy_type: None,
                switch_over_threshold: None,
                max_surge: None,
                max_unavailable: None,
                pod_disruption_min_available: None,
                pod_disruption_max_unavailable: None,
                extra: Default::default(),
            });
        let percent = |v: Option<i32>| v.map(i64::from);
        if set_if(
            &mut current.switch_over_threshold,
            percent(strategy.switch_over_threshold),
        ) | set_if(&mut current.max_surge, percent(strategy.max_surge))
            | set_if(
                &mut current.max_unavailable,
                percent(strategy.max_unavailable),
            )
            | set_if(
                &mut current.pod_disruption_min_available,
                percent(strategy.pod_disruption_min_available),
            )
            | set_if(
                &mut current.pod_disruption_max_unavailable,
                percent(strategy.pod_disruption_max_unavailable),
            )
        {
            changed.push("deployment strategy".into());
        }
    }
}

/// Writes the desired package, constants, scheduled events, custom runtime settings, the
/// Private Cloud manifest fields and the instance count into a v4 manifest; every other field
/// is kept exactly as it was. Returns the names of what changed.
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
        upsert_all(
            deployment.constants.get_or_insert_with(Vec::new),
            desired.constants.iter().map(|(name, value)| {
                (
                    name.clone(),
                    v4::Constant {
                        name: name.clone(),
                        value: Some(value.clone()),
                    },
                )
            }),
            |a, b| a.name == b.name,
            &mut changed,
        );
    }
    if !desired.scheduled_events.is_empty() {
        upsert_all(
            deployment.scheduled_events.get_or_insert_with(Vec::new),
            desired.scheduled_events.iter().map(|(name, enabled)| {
                (
                    name.clone(),
                    v4::ScheduledEvent {
                        name: name.clone(),
                        enabled: *enabled,
                    },
                )
            }),
            |a, b| a.name == b.name,
            &mut changed,
        );
    }
    if !desired.custom_settings.is_empty() {
        let runtime = next
            .environment
            .runtime
            .get_or_insert_with(Default::default);
        upsert_all(
            runtime.custom_runtime_settings.get_or_insert_with(Vec::new),
            desired.custom_settings.iter().map(|(name, value)| {
                (
                    name.clone(),
                    v4::NameValue {
                        name: name.clone(),
                        value: Some(value.clone()),
                    },
                )
            }),
            |a, b| a.name == b.name,
            &mut changed,
        );
    }
    merge_private(&mut next.environment, &desired.private, &mut changed);
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
            private: PrivateDesired::default(),
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
        assert_eq!(pending_on_restart(&next, &desired()), ["M.A", "M.Job"]);
        let (again, change) = merge_cloud_settings(&next, &desired());
        assert_eq!(again, next);
        assert!(change.changed.is_empty(), "a second merge changes nothing");
    }

    /// Found by `a_converged_input_plans_nothing`: an event the spec does not list, changed in
    /// the Portal and not yet deployed, made a converged running app restart.
    #[test]
    fn a_pending_setting_the_spec_does_not_list_is_not_pending_for_the_operator() {
        let mut current = settings();
        current.constants[1].value = Some("portal".into());
        current.scheduled_events.push(v1::ScheduledEvent {
            name: "M.Other".into(),
            value: None,
            deployed_value: Some("Enabled".into()),
        });
        assert!(pending_on_restart(&current, &desired()).is_empty());
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

    fn private_fields() -> PrivateDesired {
        use crate::crd::environment::{
            AnnotationType, DeploymentStrategy, MetricsMode, ResourceAmounts,
        };
        PrivateDesired {
            core_resources: Some(CoreResources {
                requests: ResourceAmounts {
                    cpu: "0.10".into(),
                    memory: "0.5".into(),
                    ephemeral_storage: None,
                },
                limits: ResourceAmounts {
                    cpu: "2".into(),
                    memory: "1".into(),
                    ephemeral_storage: Some("2".into()),
                },
            }),
            environment_variables: vec![("FEATURE".into(), "on".into())],
            app_log_levels: vec![("ConnectionBus".into(), "INFO".into())],
            runtime_metrics: Some(RuntimeMetrics {
                mode: Some(MetricsMode::Compatibility),
                ..Default::default()
            }),
            deployment_strategy: Some(DeploymentStrategy {
                max_surge: Some(25),
                ..Default::default()
            }),
            annotations: vec![ManifestAnnotation {
                key: "a".into(),
                value: "b".into(),
                r#type: AnnotationType::Service,
            }],
            admin_password: None,
        }
    }

    #[test]
    fn private_fields_merge_names_each_change_keeps_the_rest_and_settles() {
        let current = manifest();
        let mut want = desired();
        want.constants.pop();
        want.private = private_fields();
        let instances = private_instances(&want, &current.environment.container);
        let (next, changed) = merge_manifest(&current, &want, instances);
        for label in [
            "core resources",
            "environment variable FEATURE",
            "log level ConnectionBus",
            "annotation a",
            "runtime metrics",
            "deployment strategy",
        ] {
            assert!(changed.iter().any(|c| c == label), "{label} in {changed:?}");
        }
        let after = serde_json::to_value(&next).expect("serializes");
        let resources = &after["environment"]["container"]["coreResources"];
        assert_eq!(
            resources["requests"]["cpu"], "0.1",
            "a number Mendix holds in another form is kept as Mendix wrote it"
        );
        assert_eq!(resources["limits"]["cpu"], "2");
        assert_eq!(resources["limits"]["ephemeralStorage"], "2");
        assert_eq!(
            after["environment"]["deployment"]["appLogLevels"],
            json!([{"name": "ConnectionBus", "level": "INFO"}]),
            "the level is replaced in place"
        );
        assert_eq!(
            after["environment"]["annotations"],
            json!([{"key": "a", "value": "b", "annotationType": "Service"}])
        );
        assert_eq!(
            after["environment"]["runtimeMetricsConfiguration"],
            json!({"mode": "compatibility"})
        );
        assert_eq!(
            after["environment"]["deploymentStrategy"],
            json!({"maxSurge": 25})
        );
        assert!(
            after["environment"]["runtime"]
                .get("mxAdminPassword")
                .is_none()
        );
        let (_, again) = merge_manifest(&next, &want, instances);
        assert!(
            again.is_empty(),
            "a merged manifest plans nothing: {again:?}"
        );

        // The admin password is sent whenever it is in the desired state (only when its
        // Secret changed: Mendix never shows it back).
        want.private.admin_password = Some(AdminPassword {
            encoded: "c2VjcmV0".into(),
            version: "s/k/1".into(),
        });
        let (with_password, changed) = merge_manifest(&next, &want, instances);
        assert_eq!(changed, ["admin password"]);
        assert_eq!(
            with_password
                .environment
                .runtime
                .as_ref()
                .and_then(|r| r.mx_admin_password.as_deref()),
            Some("c2VjcmV0")
        );
        assert!(!format!("{:?}", want.private).contains("c2VjcmV0"));
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

/// Generators shared by the planner properties here and in `cloud`: small name and value pools,
/// so the spec and what Mendix reports overlap often (equal, different, missing on either side).
#[cfg(test)]
pub(super) mod strategies {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::{select, subsequence};
    use serde_json::{Value, json};

    pub const PACKAGES: &[&str] = &["p1", "p2", "p3"];
    /// Names the spec may list.
    pub const CONSTANTS: &[&str] = &["M.A", "M.B", "M.C"];
    pub const EVENTS: &[&str] = &["M.Job", "M.Nightly"];
    pub const CUSTOM: &[&str] = &["SessionTimeout", "ClusterMode"];
    /// Names Mendix may report: the spec's and some it never lists.
    const REPORTED_CONSTANTS: &[&str] = &["M.A", "M.B", "M.C", "M.Keep", "Other.Url"];
    const REPORTED_EVENTS: &[&str] = &["M.Job", "M.Nightly", "M.KeepJob"];
    const REPORTED_CUSTOM: &[&str] = &["SessionTimeout", "ClusterMode", "LogLevel"];
    const VALUES: &[&str] = &["", "x", "y"];

    pub fn value() -> impl Strategy<Value = String> + Clone {
        select(VALUES).prop_map(str::to_string)
    }

    /// Distinct names from `pool`, in any order, each with a value.
    pub fn named<T: Clone + std::fmt::Debug>(
        pool: &'static [&'static str],
        value: impl Strategy<Value = T> + Clone,
    ) -> impl Strategy<Value = Vec<(String, T)>> {
        subsequence(pool, 0..=pool.len())
            .prop_shuffle()
            .prop_flat_map(move |names| {
                let n = names.len();
                prop::collection::vec(value.clone(), n).prop_map(move |values| {
                    names.iter().map(|n| n.to_string()).zip(values).collect()
                })
            })
    }

    /// A spec as resolved, sizes set independently of each other (the planner must be safe even
    /// where the CRD's rules would refuse the combination).
    pub fn desired() -> impl Strategy<Value = Desired> {
        (
            (
                select(PACKAGES),
                prop_oneof![Just(RunState::Running), Just(RunState::Stopped)],
                prop::option::of(0..=4i32),
                prop::option::of(select(&[1024, 2048, 4096][..])),
                any::<bool>(),
            ),
            (
                named(CONSTANTS, value()),
                named(EVENTS, any::<bool>()),
                named(CUSTOM, value()),
                prop::option::of(subsequence(&["web", "eu"][..], 0..=2)),
            ),
        )
            .prop_map(
                |(
                    (package, run_state, instances, memory, auto_sync_db),
                    (constants, scheduled_events, custom_settings, tags),
                )| Desired {
                    package_id: package.to_string(),
                    package_version: None,
                    run_state,
                    instances,
                    memory_per_instance: memory,
                    auto_sync_db,
                    constants,
                    scheduled_events,
                    custom_settings,
                    tags: tags.map(|t| t.iter().map(|s| s.to_string()).collect()),
                    private: PrivateDesired::default(),
                },
            )
    }

    /// Private Cloud manifest fields: any subset, small pools of names and values.
    pub fn private_desired() -> impl Strategy<Value = PrivateDesired> {
        use crate::crd::environment::{
            AnnotationType, DeploymentStrategy, MetricsMode, ResourceAmounts,
        };
        let amount = || select(&["0.25", "0.5", "1", "1.5", "2"][..]).prop_map(str::to_string);
        let amounts = move || {
            (amount(), amount(), prop::option::of(amount())).prop_map(|(cpu, memory, storage)| {
                ResourceAmounts {
                    cpu,
                    memory,
                    ephemeral_storage: storage,
                }
            })
        };
        (
            prop::option::of(
                (amounts(), amounts())
                    .prop_map(|(requests, limits)| CoreResources { requests, limits }),
            ),
            named(&["A", "B", "MENDIX_OWN"][..], value()),
            named(
                &["Own", "ConnectionBus"][..],
                select(&["INFO", "DEBUG"][..]).prop_map(str::to_string),
            ),
            prop::option::of(select(&[MetricsMode::Native, MetricsMode::Default][..])),
            prop::option::of(0..=100i32),
            prop::option::of((
                select(&["own", "x"][..]),
                value(),
                select(&[AnnotationType::Pod, AnnotationType::Ingress][..]),
            )),
        )
            .prop_map(
                |(
                    core_resources,
                    environment_variables,
                    app_log_levels,
                    mode,
                    surge,
                    annotation,
                )| {
                    PrivateDesired {
                        core_resources,
                        environment_variables,
                        app_log_levels,
                        runtime_metrics: mode.map(|m| RuntimeMetrics {
                            mode: Some(m),
                            ..Default::default()
                        }),
                        deployment_strategy: surge.map(|s| DeploymentStrategy {
                            max_surge: Some(s),
                            ..Default::default()
                        }),
                        annotations: annotation
                            .map(|(key, value, kind)| ManifestAnnotation {
                                key: key.to_string(),
                                value,
                                r#type: kind,
                            })
                            .into_iter()
                            .collect(),
                        admin_password: None,
                    }
                },
            )
    }

    /// Everything in a Desired, values included (they are test values, not secrets).
    pub fn show(d: &Desired) -> String {
        format!(
            "Desired {{ package_id: {:?}, run_state: {:?}, instances: {:?}, memory_per_instance: {:?}, constants: {:?}, scheduled_events: {:?}, custom_settings: {:?}, tags: {:?} }}",
            d.package_id,
            d.run_state,
            d.instances,
            d.memory_per_instance,
            d.constants,
            d.scheduled_events,
            d.custom_settings,
            d.tags
        )
    }

    fn event_value() -> impl Strategy<Value = Option<String>> + Clone {
        prop::option::of(select(&["Enabled", "Disabled"][..]).prop_map(str::to_string))
    }

    /// Mendix Cloud settings: names the spec may list and names it never does, each with any
    /// Value and DeployedValue (equal or pending).
    pub fn cloud_settings() -> impl Strategy<Value = v1::Settings> {
        (
            named(
                REPORTED_CONSTANTS,
                (
                    prop::option::of(value()),
                    prop::option::of(value()),
                    any::<bool>(),
                ),
            ),
            named(REPORTED_EVENTS, (event_value(), event_value())),
            named(REPORTED_CUSTOM, prop::option::of(value())),
        )
            .prop_map(|(constants, events, custom)| v1::Settings {
                constants: constants
                    .into_iter()
                    .map(|(name, (value, deployed_value, typed))| v1::Constant {
                        name,
                        data_type: typed.then(|| "String".to_string()),
                        value,
                        deployed_value,
                    })
                    .collect(),
                custom_settings: custom
                    .into_iter()
                    .map(|(name, value)| v1::CustomSetting { name, value })
                    .collect(),
                scheduled_events: events
                    .into_iter()
                    .map(|(name, (value, deployed_value))| v1::ScheduledEvent {
                        name,
                        value,
                        deployed_value,
                    })
                    .collect(),
            })
    }

    /// An optional list of `{name, <key>: value}` entries; `None` leaves the field out.
    fn entries<T: Clone + std::fmt::Debug + 'static>(
        pool: &'static [&'static str],
        value: impl Strategy<Value = T> + Clone + 'static,
        to_json: fn(String, T) -> Value,
    ) -> impl Strategy<Value = Option<Value>> {
        prop::option::of(named(pool, value).prop_map(move |list| {
            Value::Array(list.into_iter().map(|(n, v)| to_json(n, v)).collect())
        }))
    }

    fn name_value(name: String, value: Option<String>) -> Value {
        match value {
            Some(value) => json!({"name": name, "value": value}),
            None => json!({"name": name}),
        }
    }

    /// Inserts `field: value` into `object` when there is a value.
    fn put(object: &mut Value, field: &str, value: Option<Value>) {
        if let (Some(value), Some(object)) = (value, object.as_object_mut()) {
            object.insert(field.to_string(), value);
        }
    }

    /// A v4 environment manifest as Mendix returns it, with fields the operator does not manage
    /// (documented and not) that a merge must keep.
    pub fn manifest() -> impl Strategy<Value = v4::EnvironmentManifest> {
        let deployment = (
            select(&["p0", "p1", "p2", "p3"][..]),
            entries(REPORTED_CONSTANTS, prop::option::of(value()), name_value),
            entries(
                REPORTED_EVENTS,
                any::<bool>(),
                |name, enabled| json!({"name": name, "enabled": enabled}),
            ),
            prop::option::of(Just(json!([{"name": "ConnectionBus", "level": "Debug"}]))),
        );
        let runtime = prop::option::of((
            prop::option::of(Just(json!("10.6.1"))),
            entries(&["TZ", "JAVA_OPTS"], prop::option::of(value()), name_value),
            entries(REPORTED_CUSTOM, prop::option::of(value()), name_value),
            prop::option::of(Just(json!({"debugger": false}))),
        ));
        let container = (
            0..=4u32,
            prop::option::of(0..=4u32),
            prop::option::of(select(&["Ready", "Processing", "Failed", "Upgrading"][..])),
            prop::option::of(Just(json!({"cpu": "2"}))),
        );
        let environment = (
            any::<bool>(),
            prop::option::of(Just(json!({"mode": "native"}))),
            prop::option::of(Just(json!("future"))),
        );
        (deployment, runtime, container, environment).prop_map(
            |(
                (package, constants, events, log_levels),
                runtime,
                (instances, last_running, state, future_container),
                (production, metrics, future_top),
            )| {
                let mut deployment = json!({"appUrl": "https://app.example.com", "packageId": package});
                put(&mut deployment, "constants", constants);
                put(&mut deployment, "scheduledEvents", events);
                put(&mut deployment, "appLogLevels", log_levels);
                let mut container = json!({
                    "instances": instances,
                    "coreResources": {"limits": {"cpu": "1", "memory": "1"}, "requests": {"cpu": "0.1", "memory": "0.5"}}
                });
                put(&mut container, "lastRunningInstanceCount", last_running.map(Value::from));
                put(&mut container, "state", state.map(Value::from));
                put(&mut container, "futureField", future_container);
                let mut environment = json!({
                    "id": "env",
                    "properties": {"name": "env", "production": production, "defaultStudioTarget": false},
                    "deployment": deployment,
                    "container": container,
                    "provider": {"clusterId": "c", "namespace": "ns"},
                    "services": [{"name": "db", "plan": "OnDemand", "config": "{}"}]
                });
                if let Some((version, variables, custom, extra)) = runtime {
                    let mut runtime = json!({});
                    put(&mut runtime, "runtimeVersion", version);
                    put(&mut runtime, "environmentVariables", variables);
                    put(&mut runtime, "customRuntimeSettings", custom);
                    put(&mut runtime, "extra", extra);
                    put(&mut environment, "runtime", Some(runtime));
                }
                put(&mut environment, "runtimeMetricsConfiguration", metrics);
                let mut manifest = json!({"manifestVersion": "2.0.0", "environment": environment});
                put(&mut manifest, "futureTopLevel", future_top);
                serde_json::from_value(manifest).expect("the generator builds valid manifests")
            },
        )
    }

    pub fn show_manifest(m: &v4::EnvironmentManifest) -> String {
        serde_json::to_string(m).unwrap_or_else(|e| format!("<unserializable: {e}>"))
    }
}

/// Properties of the pure merges: whatever the spec and Mendix hold, a merge writes only what
/// the spec names, a converged input changes nothing, and one merge converges. Each property's
/// body is a function below its `proptest!` entry, so rustfmt reaches it.
#[cfg(test)]
mod properties {
    use super::strategies::*;
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;
    use proptest::test_runner::TestCaseError;
    use serde_json::Value;

    type Checked = Result<(), TestCaseError>;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// merge_cloud_settings: every value that differs from what Mendix reported belongs to a
        /// name the spec lists and is the spec's value; nothing is removed, reordered or
        /// re-typed, DeployedValue is never touched, and `changed` names exactly what differs.
        #[test]
        fn cloud_settings_merge_changes_only_names_the_spec_lists(
            d in desired(),
            current in cloud_settings(),
        ) {
            cloud_settings_merge(&d, &current)?;
        }

        /// merge_manifest: the manifest minus what the spec manages (package, the spec's
        /// constants, events and custom settings, instance count) is the same JSON before and
        /// after, so every field the operator does not own goes back to Mendix as it came.
        #[test]
        fn manifest_merge_keeps_every_field_the_spec_does_not_manage(
            d in desired(),
            current in manifest(),
        ) {
            manifest_merge_keeps_unmanaged(&d, &current)?;
        }

        /// merge_manifest: every managed value ends as the spec says, and `changed` names
        /// exactly the values that were different.
        #[test]
        fn manifest_merge_writes_the_spec_values_and_names_each_change(
            d in desired(),
            current in manifest(),
        ) {
            manifest_merge_writes_the_spec(&d, &current)?;
        }

        /// private_instances: a run state of Stopped is 0, a count the spec sets is that count,
        /// and a count it leaves unset keeps what runs (a stopped app comes back at its last
        /// running count, never at 0).
        #[test]
        fn instances_the_spec_leaves_unset_keep_what_runs(d in desired(), current in manifest()) {
            instances_keep_what_runs(&d, &current)?;
        }

        /// A manifest that already holds every value of the spec (placed anywhere among the
        /// ones it does not manage) plans no PUT.
        #[test]
        fn a_converged_manifest_plans_no_put(
            d in desired(),
            current in manifest(),
            places in prop::collection::vec(any::<Index>(), 8),
        ) {
            converged_manifest(&d, &current, &places)?;
        }

        /// One PUT converges: Mendix holding the merged manifest, merging again changes nothing.
        #[test]
        fn one_put_converges_the_manifest(d in desired(), current in manifest()) {
            one_put_converges(&d, &current)?;
        }

        /// The Private Cloud manifest fields: one PUT converges (merging what Mendix then holds
        /// changes nothing, also when Mendix writes an amount in another form, "0.50" for
        /// "0.5"), and every variable, log level and annotation the spec does not name is kept.
        #[test]
        fn private_fields_converge_in_one_put_and_keep_what_the_spec_does_not_name(
            p in private_desired(),
            current in manifest(),
            reformat in any::<bool>(),
        ) {
            private_fields_converge(p, &current, reformat)?;
        }

        /// The names refused before a PUT are exactly the spec's constants and events the
        /// deployed model does not list, in spec order.
        #[test]
        fn unknown_model_names_are_the_spec_names_the_model_lacks(
            d in desired(),
            current in manifest(),
        ) {
            unknown_names(&d, &current)?;
        }
    }

    fn spec_value<'a, T>(list: &'a [(String, T)], name: &str) -> Option<&'a T> {
        list.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    fn names<T>(list: &[(String, T)]) -> Vec<String> {
        list.iter().map(|(n, _)| n.clone()).collect()
    }

    fn cloud_settings_merge(d: &Desired, current: &v1::Settings) -> Checked {
        let (next, change) = merge_cloud_settings(current, d);
        let input = format!(
            "{}\nMendix: {current:?}\nmerged: {next:?}\nchange: {change:?}",
            show(d)
        );
        let mut differ = Vec::new();
        prop_assert_eq!(
            next.constants.len(),
            current.constants.len(),
            "a constant was added or removed\n{}",
            input
        );
        for (before, after) in current.constants.iter().zip(&next.constants) {
            prop_assert!(
                before.name == after.name
                    && before.data_type == after.data_type
                    && before.deployed_value == after.deployed_value,
                "constant {} changed more than its Value\n{}",
                before.name,
                input
            );
            let wanted = spec_value(&d.constants, &before.name).cloned();
            prop_assert_eq!(
                after.value.clone(),
                wanted.or(before.value.clone()),
                "constant {} is not the spec's value (or kept)\n{}",
                &before.name,
                input
            );
            if before.value != after.value {
                differ.push(before.name.clone());
            }
        }
        prop_assert_eq!(
            next.scheduled_events.len(),
            current.scheduled_events.len(),
            "an event was added or removed\n{}",
            input
        );
        for (before, after) in current.scheduled_events.iter().zip(&next.scheduled_events) {
            prop_assert!(
                before.name == after.name && before.deployed_value == after.deployed_value,
                "event {} changed more than its Value\n{}",
                before.name,
                input
            );
            let wanted =
                spec_value(&d.scheduled_events, &before.name).map(|e| event_value(*e).to_string());
            prop_assert_eq!(
                after.value.clone(),
                wanted.or(before.value.clone()),
                "event {} is not the spec's value (or kept)\n{}",
                &before.name,
                input
            );
            if before.value != after.value {
                differ.push(before.name.clone());
            }
        }
        prop_assert!(
            next.custom_settings.len() >= current.custom_settings.len(),
            "a custom setting was removed\n{}",
            input
        );
        for (before, after) in current.custom_settings.iter().zip(&next.custom_settings) {
            prop_assert_eq!(
                &before.name,
                &after.name,
                "custom settings reordered\n{}",
                input
            );
            let wanted = spec_value(&d.custom_settings, &before.name).cloned();
            prop_assert_eq!(
                after.value.clone(),
                wanted.or(before.value.clone()),
                "custom setting {} is not the spec's value (or kept)\n{}",
                &before.name,
                input
            );
            if before.value != after.value {
                differ.push(before.name.clone());
            }
        }
        // Appended: exactly the spec's custom settings Mendix did not have, with its values.
        let missing: Vec<(String, Option<String>)> = d
            .custom_settings
            .iter()
            .filter(|(n, _)| !current.custom_settings.iter().any(|s| &s.name == n))
            .map(|(n, v)| (n.clone(), Some(v.clone())))
            .collect();
        let appended: Vec<(String, Option<String>)> = next.custom_settings
            [current.custom_settings.len()..]
            .iter()
            .map(|s| (s.name.clone(), s.value.clone()))
            .collect();
        prop_assert_eq!(&appended, &missing, "appended custom settings\n{}", input);
        differ.extend(missing.into_iter().map(|(n, _)| n));
        let mut reported = change.changed.clone();
        reported.sort();
        differ.sort();
        prop_assert_eq!(
            reported,
            differ,
            "`changed` must name exactly what differs\n{}",
            input
        );
        let unknown: Vec<String> = names(&d.constants)
            .into_iter()
            .filter(|n| !current.constants.iter().any(|c| &c.name == n))
            .collect();
        prop_assert_eq!(
            &change.unknown_constants,
            &unknown,
            "unknown constants\n{}",
            input
        );
        let unknown: Vec<String> = names(&d.scheduled_events)
            .into_iter()
            .filter(|n| !current.scheduled_events.iter().any(|e| &e.name == n))
            .collect();
        prop_assert_eq!(
            &change.unknown_events,
            &unknown,
            "unknown events\n{}",
            input
        );
        Ok(())
    }

    fn manifest_merge_keeps_unmanaged(d: &Desired, current: &v4::EnvironmentManifest) -> Checked {
        let instances = private_instances(d, &current.environment.container);
        let (next, _) = merge_manifest(current, d, instances);
        let before = unmanaged(current, d, current);
        let after = unmanaged(&next, d, current);
        prop_assert!(
            before == after,
            "an unmanaged field changed\n{}\ninstances: {instances}\nbefore: {}\nafter:  {}",
            show(d),
            show_manifest(current),
            show_manifest(&next)
        );
        Ok(())
    }

    /// Whether `list` holds `name` exactly once, with a value `is` accepts.
    fn once<T>(list: &[T], name: impl Fn(&T) -> bool, is: impl Fn(&T) -> bool) -> bool {
        let found: Vec<&T> = list.iter().filter(|e| name(e)).collect();
        found.len() == 1 && found.iter().all(|e| is(e))
    }

    fn manifest_merge_writes_the_spec(d: &Desired, current: &v4::EnvironmentManifest) -> Checked {
        let instances = private_instances(d, &current.environment.container);
        let (next, changed) = merge_manifest(current, d, instances);
        let input = format!(
            "{}\ninstances: {instances}\nbefore: {}\nafter:  {}\nchanged: {changed:?}",
            show(d),
            show_manifest(current),
            show_manifest(&next)
        );
        let (was, now) = (&current.environment, &next.environment);
        let mut differ = Vec::new();
        prop_assert_eq!(
            &now.deployment.package_id,
            &d.package_id,
            "package\n{}",
            input
        );
        if was.deployment.package_id != d.package_id {
            differ.push("package".to_string());
        }
        let constants =
            |e: &v4::EnvironmentSpec| e.deployment.constants.clone().unwrap_or_default();
        for (name, value) in &d.constants {
            let is = |c: &v4::Constant| c.value.as_deref() == Some(value.as_str());
            prop_assert!(
                once(&constants(now), |c| &c.name == name, is),
                "constant {} is not once with the spec's value\n{}",
                name,
                input
            );
            if !constants(was).iter().any(|c| &c.name == name && is(c)) {
                differ.push(name.clone());
            }
        }
        let events =
            |e: &v4::EnvironmentSpec| e.deployment.scheduled_events.clone().unwrap_or_default();
        for (name, enabled) in &d.scheduled_events {
            let is = |e: &v4::ScheduledEvent| e.enabled == *enabled;
            prop_assert!(
                once(&events(now), |e| &e.name == name, is),
                "event {} is not once with the spec's value\n{}",
                name,
                input
            );
            if !events(was).iter().any(|e| &e.name == name && is(e)) {
                differ.push(name.clone());
            }
        }
        let custom = |e: &v4::EnvironmentSpec| {
            e.runtime
                .as_ref()
                .and_then(|r| r.custom_runtime_settings.clone())
                .unwrap_or_default()
        };
        for (name, value) in &d.custom_settings {
            let is = |s: &v4::NameValue| s.value.as_deref() == Some(value.as_str());
            prop_assert!(
                once(&custom(now), |s| &s.name == name, is),
                "custom setting {} is not once with the spec's value\n{}",
                name,
                input
            );
            if !custom(was).iter().any(|s| &s.name == name && is(s)) {
                differ.push(name.clone());
            }
        }
        prop_assert_eq!(now.container.instances, instances, "instances\n{}", input);
        if was.container.instances != instances {
            differ.push("instances".to_string());
        }
        let mut reported = changed.clone();
        reported.sort();
        differ.sort();
        prop_assert_eq!(
            reported,
            differ,
            "`changed` must name exactly what differs\n{}",
            input
        );
        Ok(())
    }

    fn instances_keep_what_runs(d: &Desired, current: &v4::EnvironmentManifest) -> Checked {
        let container = &current.environment.container;
        let n = private_instances(d, container);
        let input = format!("{}\ncontainer: {container:?} -> {n}", show(d));
        let wanted = match (d.run_state, d.instances) {
            (RunState::Stopped, _) => 0,
            (RunState::Running, Some(wanted)) => u32::try_from(wanted).unwrap_or(u32::MAX),
            (RunState::Running, None) if container.instances > 0 => container.instances,
            (RunState::Running, None) => container
                .last_running_instance_count
                .filter(|c| *c > 0)
                .unwrap_or(1),
        };
        prop_assert_eq!(n, wanted, "{}", input);
        Ok(())
    }

    fn converged_manifest(
        d: &Desired,
        current: &v4::EnvironmentManifest,
        places: &[Index],
    ) -> Checked {
        let converged = converge_by_hand(current, d, places);
        let instances = private_instances(d, &converged.environment.container);
        let (next, changed) = merge_manifest(&converged, d, instances);
        prop_assert!(
            changed.is_empty() && next == converged,
            "a converged manifest planned a change: {changed:?}\n{}\nmanifest: {}\nmerged:   {}",
            show(d),
            show_manifest(&converged),
            show_manifest(&next)
        );
        Ok(())
    }

    fn private_fields_converge(
        p: PrivateDesired,
        current: &v4::EnvironmentManifest,
        reformat: bool,
    ) -> Checked {
        let mut current = current.clone();
        // Mendix already holds some variables, log levels and annotations of its own.
        let runtime = current
            .environment
            .runtime
            .get_or_insert_with(Default::default);
        runtime.environment_variables = Some(vec![v4::NameValue {
            name: "MENDIX_OWN".into(),
            value: Some("x".into()),
        }]);
        current.environment.deployment.app_log_levels = Some(vec![v4::AppLogLevel {
            name: "Own".into(),
            level: "TRACE".into(),
        }]);
        current.environment.annotations = Some(vec![v4::Annotation {
            key: "own".into(),
            value: "1".into(),
            annotation_type: Some("Ingress".into()),
        }]);
        let mut d = desired_with(p);
        d.private.admin_password = None;
        let instances = private_instances(&d, &current.environment.container);
        let (mut next, _) = merge_manifest(&current, &d, instances);
        let input = format!("{:?}\nmerged: {next:?}", d.private);
        if reformat {
            // Mendix writes the amounts back with a trailing zero.
            let resources = &mut next.environment.container.core_resources;
            for amount in [&mut resources.requests.cpu, &mut resources.limits.memory] {
                if amount.contains('.') {
                    amount.push('0');
                }
            }
        }
        let (_, again) = merge_manifest(&next, &d, instances);
        prop_assert!(
            again.is_empty(),
            "merging again changed {:?}\n{}",
            again,
            input
        );
        let after = serde_json::to_value(&next).expect("serializes");
        let env = &after["environment"];
        prop_assert!(
            env["runtime"]["environmentVariables"]
                .to_string()
                .contains("MENDIX_OWN"),
            "{}",
            input
        );
        prop_assert!(
            env["deployment"]["appLogLevels"]
                .to_string()
                .contains("\"Own\""),
            "{}",
            input
        );
        prop_assert!(
            env["annotations"].to_string().contains("\"own\""),
            "{}",
            input
        );
        for (name, value) in &d.private.environment_variables {
            let vars = next
                .environment
                .runtime
                .as_ref()
                .and_then(|r| r.environment_variables.as_ref());
            prop_assert!(
                vars.is_some_and(|vs| vs
                    .iter()
                    .any(|v| &v.name == name && v.value.as_ref() == Some(value))),
                "{} = {} not set\n{}",
                name,
                value,
                input
            );
        }
        Ok(())
    }

    fn desired_with(private: PrivateDesired) -> Desired {
        Desired {
            package_id: "p1".into(),
            package_version: None,
            run_state: RunState::Running,
            instances: Some(1),
            memory_per_instance: None,
            auto_sync_db: true,
            constants: vec![],
            scheduled_events: vec![],
            custom_settings: vec![],
            tags: None,
            private,
        }
    }

    fn one_put_converges(d: &Desired, current: &v4::EnvironmentManifest) -> Checked {
        let instances = private_instances(d, &current.environment.container);
        let (next, _) = merge_manifest(current, d, instances);
        let instances = private_instances(d, &next.environment.container);
        let (again, changed) = merge_manifest(&next, d, instances);
        prop_assert!(
            changed.is_empty() && again == next,
            "a second merge changed {changed:?}\n{}\nMendix: {}\nafter one PUT: {}\nafter two: {}",
            show(d),
            show_manifest(current),
            show_manifest(&next),
            show_manifest(&again)
        );
        Ok(())
    }

    fn unknown_names(d: &Desired, current: &v4::EnvironmentManifest) -> Checked {
        let deployment = &current.environment.deployment;
        let constants = deployment.constants.clone().unwrap_or_default();
        let events = deployment.scheduled_events.clone().unwrap_or_default();
        let wanted: Vec<String> = names(&d.constants)
            .into_iter()
            .filter(|n| !constants.iter().any(|c| &c.name == n))
            .chain(
                names(&d.scheduled_events)
                    .into_iter()
                    .filter(|n| !events.iter().any(|e| &e.name == n)),
            )
            .collect();
        prop_assert_eq!(
            unknown_model_names(current, d),
            wanted,
            "{}\nmanifest: {}",
            show(d),
            show_manifest(current)
        );
        Ok(())
    }

    /// The production guard refuses exactly a production environment (as Mendix reports it)
    /// whose spec lacks `production: true`; every input is listed, so this is exhaustive.
    #[test]
    fn production_guard_refuses_exactly_production_without_the_flag() {
        for remote in [None, Some(false), Some(true)] {
            for spec in [false, true] {
                assert_eq!(
                    production_guard(remote, spec).is_err(),
                    remote == Some(true) && !spec,
                    "remote production {remote:?}, spec.production {spec}"
                );
            }
        }
    }

    /// The manifest's JSON without what `d` manages. A managed list (or runtime) that `current`
    /// lacked and the merge created is dropped once emptied of the spec's names.
    fn unmanaged(
        m: &v4::EnvironmentManifest,
        d: &Desired,
        current: &v4::EnvironmentManifest,
    ) -> Value {
        let mut v = serde_json::to_value(m).unwrap_or_default();
        let had = serde_json::to_value(current).unwrap_or_default();
        let lists: [(&str, &str, Vec<String>); 3] = [
            ("/environment/deployment", "constants", names(&d.constants)),
            (
                "/environment/deployment",
                "scheduledEvents",
                names(&d.scheduled_events),
            ),
            (
                "/environment/runtime",
                "customRuntimeSettings",
                names(&d.custom_settings),
            ),
        ];
        for (parent, field, names) in lists {
            let absent = had.pointer(&format!("{parent}/{field}")).is_none();
            if let Some(object) = v.pointer_mut(parent).and_then(Value::as_object_mut)
                && let Some(Value::Array(list)) = object.get_mut(field)
            {
                list.retain(|e| {
                    !names
                        .iter()
                        .any(|n| e.get("name") == Some(&Value::from(n.as_str())))
                });
                if list.is_empty() && absent {
                    object.remove(field);
                }
            }
        }
        if let Some(environment) = v.get_mut("environment").and_then(Value::as_object_mut)
            && had.pointer("/environment/runtime").is_none()
            && environment.get("runtime") == Some(&Value::Object(Default::default()))
        {
            environment.remove("runtime");
        }
        if let Some(deployment) = v
            .pointer_mut("/environment/deployment")
            .and_then(Value::as_object_mut)
        {
            deployment.remove("packageId");
        }
        if let Some(container) = v
            .pointer_mut("/environment/container")
            .and_then(Value::as_object_mut)
        {
            container.remove("instances");
        }
        v
    }

    /// `current` made to hold the spec's values without merge_manifest: a value set in place,
    /// or the entry inserted at a position `places` picks.
    fn converge_by_hand(
        current: &v4::EnvironmentManifest,
        d: &Desired,
        places: &[Index],
    ) -> v4::EnvironmentManifest {
        let mut m = current.clone();
        let mut place = places.iter().cycle();
        let mut insert_at = |len: usize| place.next().map_or(len, |i| i.index(len + 1));
        let env = &mut m.environment;
        env.deployment.package_id = d.package_id.clone();
        for (name, value) in &d.constants {
            let list = env.deployment.constants.get_or_insert_with(Vec::new);
            match list.iter_mut().find(|c| &c.name == name) {
                Some(c) => c.value = Some(value.clone()),
                None => {
                    let at = insert_at(list.len());
                    list.insert(
                        at,
                        v4::Constant {
                            name: name.clone(),
                            value: Some(value.clone()),
                        },
                    );
                }
            }
        }
        for (name, enabled) in &d.scheduled_events {
            let list = env.deployment.scheduled_events.get_or_insert_with(Vec::new);
            match list.iter_mut().find(|e| &e.name == name) {
                Some(e) => e.enabled = *enabled,
                None => {
                    let at = insert_at(list.len());
                    list.insert(
                        at,
                        v4::ScheduledEvent {
                            name: name.clone(),
                            enabled: *enabled,
                        },
                    );
                }
            }
        }
        for (name, value) in &d.custom_settings {
            let runtime = env.runtime.get_or_insert_with(Default::default);
            let list = runtime.custom_runtime_settings.get_or_insert_with(Vec::new);
            match list.iter_mut().find(|s| &s.name == name) {
                Some(s) => s.value = Some(value.clone()),
                None => {
                    let at = insert_at(list.len());
                    list.insert(
                        at,
                        v4::NameValue {
                            name: name.clone(),
                            value: Some(value.clone()),
                        },
                    );
                }
            }
        }
        env.container.instances = private_instances(d, &env.container);
        m
    }
}
