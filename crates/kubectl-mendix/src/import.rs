//! `kubectl mendix import --secret NAME [--app APP]`: every app and environment the credentials
//! in a Secret can see, printed as resources that adopt them without touching them: a
//! multi-document YAML stream of MendixEnvironments (and on Private Cloud the MendixNamespaces
//! they live in), all with `managementPolicy: Observe`. The resources are the operator's own
//! types, so what is printed is what the CRDs take; nothing is written to Mendix.
//!
//! Mendix does not say which constants are secret. A constant whose name looks sensitive (and
//! whose type is text) is never printed: it is read from a Secret, and the output starts with
//! the `kubectl create secret` commands (keys only) that make those Secrets.

use std::collections::{BTreeMap, BTreeSet};

use mendix_client::client::Mendix;
use mendix_client::cloud_v1::CloudDeploy;
use mendix_client::private_cloud_v4::PcDeploy;
use mendix_client::private_cloud_v4::types as v4;
use mendix_operator::controller::secrets::Credentials;
use mendix_operator::crd::common::{ManagementPolicy, SecretKeySelector};
use mendix_operator::crd::environment::{
    ConstantSetting, ConstantSource, CustomSetting, EnvironmentTarget, LocalReference,
    MendixCloudEnvironment, PrivateCloudEnvironment, RunState, ScheduledEventSetting,
};
use mendix_operator::crd::landscape::{InstallationType, MendixNamespaceSpec};
use mendix_operator::crd::{MendixEnvironment, MendixEnvironmentSpec, MendixNamespace};

use super::PluginError;
use super::apps::credentials;

/// Words that make a constant's name look like it holds a secret (matched case-insensitively
/// anywhere in `Module.Constant`).
const SENSITIVE: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "key",
    "credential",
    "private",
    "cert",
];

/// The CRD's limits on list lengths and values (`crd::environment`).
const MAX_CONSTANTS: usize = 500;
const MAX_EVENTS: usize = 500;
const MAX_CUSTOM_SETTINGS: usize = 200;
const MAX_TAGS: usize = 50;
const MAX_VALUE: usize = 65536;
const MAX_NAME: usize = 63;

/// Whether a constant's name looks like it holds a secret.
pub fn looks_sensitive(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SENSITIVE.iter().any(|word| name.contains(word))
}

/// Whether a Mendix Cloud constant of `data_type` holds text (and so may hold a secret): true
/// for `String` (however spelled) and when Mendix gives no type; `_Boolean`, `DateTime`,
/// `Integer`, `Decimal`, `Long`... never hold one.
pub fn text_typed(data_type: Option<&str>) -> bool {
    data_type.is_none_or(|t| t.trim().is_empty() || t.to_ascii_lowercase().contains("string"))
}

/// What to import and with which credentials; the resources go to `namespace`, where the
/// credentials Secret is.
pub async fn import(
    client: &kube::Client,
    namespace: &str,
    secret: &str,
    app: Option<&str>,
    mendix: &Mendix,
) -> Result<String, PluginError> {
    let mut out = Import::new(namespace, secret);
    match credentials(client, namespace, secret).await? {
        Credentials::Cloud(creds) => {
            let deploy = mendix.cloud_deploy(&creds);
            let apps = deploy
                .list_apps()
                .await
                .map_err(PluginError::mendix("listing Mendix Cloud apps"))?;
            let ids: Vec<String> = apps.iter().map(|a| a.app_id.clone()).collect();
            for index in chosen(&ids, &[], app, secret, "Mendix Cloud")? {
                out.cloud_app(&deploy, &ids[index]).await?;
            }
        }
        Credentials::Private(pat) => {
            let deploy = mendix.pc_deploy(&pat);
            let apps: Vec<v4::AppInfo> = deploy
                .list_apps()
                .await
                .map_err(PluginError::mendix("listing Private Cloud apps"))?
                .into_iter()
                .filter_map(|manifest| manifest.app)
                .collect();
            let ids: Vec<String> = apps.iter().map(|a| a.app_id.clone()).collect();
            let names: Vec<String> = apps
                .iter()
                .map(|a| a.app_name.clone().unwrap_or_default())
                .collect();
            for index in chosen(&ids, &names, app, secret, "Private Cloud")? {
                out.private_app(&deploy, &apps[index]).await?;
            }
        }
    }
    Ok(out.render())
}

/// The indexes of the apps to import: all, or the one `--app` names (by id, or on Private
/// Cloud by name too). No app at all, or none with that id, is an error that says so.
fn chosen(
    ids: &[String],
    names: &[String],
    app: Option<&str>,
    secret: &str,
    platform: &str,
) -> Result<Vec<usize>, PluginError> {
    if ids.is_empty() {
        return Err(PluginError::NotFound(format!(
            "the credentials in Secret {secret} see no apps on {platform}: nothing to import \
             (check the account's or PAT's access to the apps)"
        )));
    }
    let Some(app) = app else {
        return Ok((0..ids.len()).collect());
    };
    let matches: Vec<usize> = (0..ids.len())
        .filter(|&i| ids[i] == app || names.get(i).is_some_and(|n| n == app))
        .collect();
    if matches.is_empty() {
        return Err(PluginError::NotFound(format!(
            "app {app} not found: the credentials in Secret {secret} see no app with that id on \
             {platform}; they see: {}",
            ids.join(", ")
        )));
    }
    Ok(matches)
}

/// One part of the output stream, in order.
enum Part {
    /// A resource as a YAML document (without its `---`).
    Resource(String),
    /// A `#` line: what was left out, and why (names only, never a value).
    Note(String),
}

/// A Private Cloud namespace's place in the output.
#[derive(Clone)]
enum NamespacePlace {
    /// The MendixNamespace printed for it.
    Resource(String),
    /// Printed as no MendixNamespace: environments name it by id.
    Id(String),
}

/// A constant as Mendix holds it.
struct RemoteConstant {
    name: String,
    value: Option<String>,
    /// False for constants whose type cannot hold a secret.
    may_be_secret: bool,
}

/// The output being built.
struct Import {
    namespace: String,
    secret: String,
    /// Every resource name used so far (unique within the output).
    names: BTreeSet<String>,
    /// MendixNamespaces, then environments.
    landscape: Vec<Part>,
    environments: Vec<Part>,
    /// Secret name → keys to create in it.
    secrets: BTreeMap<String, Vec<String>>,
    /// Private Cloud namespaces seen, by (cluster id, namespace id or name).
    namespaces: BTreeMap<(String, String), Option<NamespacePlace>>,
    resources: usize,
}

impl Import {
    fn new(namespace: &str, secret: &str) -> Self {
        Import {
            namespace: namespace.to_string(),
            secret: secret.to_string(),
            names: BTreeSet::new(),
            landscape: Vec::new(),
            environments: Vec::new(),
            secrets: BTreeMap::new(),
            namespaces: BTreeMap::new(),
            resources: 0,
        }
    }

    fn note(&mut self, text: String) {
        self.environments.push(Part::Note(one_line(&text)));
    }

    /// A DNS-1123 name from `words`, unique within the output.
    fn name(&mut self, words: &[&str]) -> String {
        let base = dns_name(words);
        if self.names.insert(base.clone()) {
            return base;
        }
        (2..)
            .map(|n| {
                let suffix = format!("-{n}");
                let stem: String = base.chars().take(MAX_NAME - suffix.len()).collect();
                format!("{}{suffix}", stem.trim_end_matches('-'))
            })
            .find(|candidate| self.names.insert(candidate.clone()))
            .unwrap_or(base)
    }

    fn push_environment(
        &mut self,
        name: &str,
        spec: MendixEnvironmentSpec,
    ) -> Result<(), PluginError> {
        let mut resource = MendixEnvironment::new(name, spec);
        resource.metadata.namespace = Some(self.namespace.clone());
        resource.status = None;
        let yaml = serde_yaml::to_string(&resource).map_err(yaml_failed)?;
        self.environments.push(Part::Resource(yaml));
        self.resources += 1;
        Ok(())
    }

    /// The spec every imported environment shares: observed, not managed. Every field the
    /// import does not set has the CRD's default, as the API server would fill it in.
    fn spec(
        &self,
        target: EnvironmentTarget,
        package_id: String,
        run_state: RunState,
    ) -> Result<MendixEnvironmentSpec, PluginError> {
        let mut spec: MendixEnvironmentSpec = serde_json::from_value(serde_json::json!({
            "target": serde_json::to_value(&target).map_err(json_failed)?,
            "credentialsSecretRef": {"name": self.secret},
        }))
        .map_err(json_failed)?;
        spec.package_id = Some(package_id);
        spec.run_state = run_state;
        spec.management_policy = ManagementPolicy::Observe;
        Ok(spec)
    }

    /// The constants of environment `resource` (`what` in notes): values as Mendix holds them,
    /// the sensitive-looking ones from the Secret `<resource>-constants`.
    fn constants(
        &mut self,
        resource: &str,
        what: &str,
        remote: Vec<RemoteConstant>,
    ) -> Vec<ConstantSetting> {
        let secret = format!("{resource}-constants");
        let mut seen = BTreeSet::new();
        let mut constants = Vec::new();
        for constant in remote {
            let name = constant.name;
            let valid = qualified_name(&name);
            if !self.admitted(
                what,
                "constant",
                &name,
                valid,
                "a Module.Constant",
                &mut seen,
            ) {
                continue;
            }
            let Some(value) = constant.value else {
                self.note(format!(
                    "{what}: constant {name} left out: Mendix holds no value for it"
                ));
                continue;
            };
            if constant.may_be_secret && looks_sensitive(&name) {
                let keys = self.secrets.entry(secret.clone()).or_default();
                let key = unique_key(keys, &secret_key(&name));
                keys.push(key.clone());
                constants.push(ConstantSetting {
                    name,
                    value: None,
                    value_from: Some(ConstantSource {
                        secret_key_ref: SecretKeySelector {
                            name: secret.clone(),
                            key,
                        },
                    }),
                });
                continue;
            }
            if value.len() > MAX_VALUE {
                self.note(format!(
                    "{what}: constant {name} left out: its value is longer than the CRD takes"
                ));
                continue;
            }
            constants.push(ConstantSetting {
                name,
                value: Some(value),
                value_from: None,
            });
        }
        self.at_most(what, "constants", MAX_CONSTANTS, constants)
    }

    /// Scheduled events: `(name, enabled)`, `None` when Mendix gives no state.
    fn events(
        &mut self,
        what: &str,
        remote: Vec<(String, Option<bool>)>,
    ) -> Vec<ScheduledEventSetting> {
        let mut seen = BTreeSet::new();
        let mut events = Vec::new();
        for (name, enabled) in remote {
            let valid = qualified_name(&name);
            if !self.admitted(
                what,
                "scheduled event",
                &name,
                valid,
                "a Module.Event",
                &mut seen,
            ) {
                continue;
            }
            if let Some(enabled) = enabled {
                events.push(ScheduledEventSetting { name, enabled });
            } else {
                self.note(format!(
                    "{what}: scheduled event {name} left out: Mendix reports no state for it"
                ));
            }
        }
        self.at_most(what, "scheduled events", MAX_EVENTS, events)
    }

    /// Custom runtime settings: `(name, value)`.
    fn custom_settings(
        &mut self,
        what: &str,
        remote: Vec<(String, Option<String>)>,
    ) -> Vec<CustomSetting> {
        let mut seen = BTreeSet::new();
        let mut settings = Vec::new();
        for (name, value) in remote {
            let valid = setting_name(&name);
            if !self.admitted(what, "custom setting", &name, valid, "a setting", &mut seen) {
                continue;
            }
            match value {
                Some(value) if value.len() <= MAX_VALUE => {
                    settings.push(CustomSetting { name, value })
                }
                Some(_) => self.note(format!(
                    "{what}: custom setting {name} left out: its value is longer than the CRD takes"
                )),
                None => self.note(format!(
                    "{what}: custom setting {name} left out: Mendix holds no value for it"
                )),
            }
        }
        self.at_most(what, "custom settings", MAX_CUSTOM_SETTINGS, settings)
    }

    /// Whether the `kind` (e.g. "constant") named `name` goes into the spec: its name is one
    /// the CRD takes (`valid`; `form` says which, e.g. "a Module.Constant") and the first of
    /// that name Mendix lists. A note says why one is left out.
    fn admitted(
        &mut self,
        what: &str,
        kind: &str,
        name: &str,
        valid: bool,
        form: &str,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        if !valid {
            self.note(format!(
                "{what}: {kind} {name} left out: not {form} name the CRD takes"
            ));
            return false;
        }
        if !seen.insert(name.to_string()) {
            self.note(format!(
                "{what}: {kind} {name} is listed twice by Mendix; the first is kept"
            ));
            return false;
        }
        true
    }

    /// `items`, cut to the CRD's `max` with a note.
    fn at_most<T>(&mut self, what: &str, list: &str, max: usize, mut items: Vec<T>) -> Vec<T> {
        if items.len() > max {
            self.note(format!(
                "{what}: only the first {max} of its {} {list} are listed (the CRD's limit)",
                items.len()
            ));
            items.truncate(max);
        }
        items
    }

    // ------------------------------------------------------------------ Mendix Cloud

    async fn cloud_app(&mut self, deploy: &CloudDeploy, app_id: &str) -> Result<(), PluginError> {
        let environments = deploy
            .list_environments(app_id)
            .await
            .map_err(PluginError::mendix(format!(
                "listing the environments of {app_id}"
            )))?;
        if environments.is_empty() {
            self.note(format!("app {app_id} has no environments"));
        }
        for environment in environments {
            let Some(mode) = environment.mode.clone().filter(|m| !m.trim().is_empty()) else {
                self.note(format!(
                    "app {app_id}: environment {} skipped: Mendix reports no mode for it, and \
                     Mendix Cloud environments are named by mode",
                    environment.environment_id.as_deref().unwrap_or("(no id)")
                ));
                continue;
            };
            self.cloud_environment(deploy, app_id, &mode, &environment)
                .await?;
        }
        Ok(())
    }

    async fn cloud_environment(
        &mut self,
        deploy: &CloudDeploy,
        app_id: &str,
        mode: &str,
        environment: &mendix_client::cloud_v1::types::Environment,
    ) -> Result<(), PluginError> {
        use mendix_client::cloud_v1::types::EnvironmentStatus;
        let what = format!("environment {mode} of app {app_id}");
        if !cloud_app_id(app_id) || !cloud_mode(mode) {
            self.note(format!(
                "{what} skipped: its app id or mode is not one a MendixEnvironment can name"
            ));
            return Ok(());
        }
        let package_id = match deploy.environment_package(app_id, mode, false).await {
            Ok(package) => package.package_id,
            Err(e) if e.is_not_found() => {
                self.note(format!(
                    "{what} skipped: no package is deployed to it, and a MendixEnvironment \
                     names the package that runs (spec.packageId)"
                ));
                return Ok(());
            }
            Err(e) => {
                return Err(PluginError::Mendix(format!(
                    "reading the package deployed to {what}: {e}"
                )));
            }
        };
        if !uuid(&package_id) {
            self.note(format!(
                "{what} skipped: its package id {package_id} is not a UUID, as spec.packageId must be"
            ));
            return Ok(());
        }
        let settings = deploy
            .get_settings(app_id, mode)
            .await
            .map_err(|e| PluginError::Mendix(format!("reading the settings of {what}: {e}")))?;
        let tags = deploy
            .get_tags(app_id, mode)
            .await
            .map_err(|e| PluginError::Mendix(format!("reading the tags of {what}: {e}")))?;

        let name = self.name(&[app_id, mode]);
        let target = EnvironmentTarget {
            mendix_cloud: Some(MendixCloudEnvironment {
                app_id: app_id.to_string(),
                mode: mode.to_string(),
            }),
            private_cloud: None,
        };
        let run_state = if environment.status == EnvironmentStatus::Running {
            RunState::Running
        } else {
            RunState::Stopped
        };
        let mut spec = self.spec(target, package_id, run_state)?;
        // Mendix Cloud scales both in one call: the CRD takes both or neither.
        match (environment.instances, environment.memory_per_instance) {
            (Some(instances), Some(memory))
                if (1..=10).contains(&instances) && (1024..=65536).contains(&memory) =>
            {
                spec.instances = i32::try_from(instances).ok();
                spec.memory_per_instance = i32::try_from(memory).ok();
            }
            (Some(instances), Some(memory)) => self.note(format!(
                "{what}: its size ({instances} x {memory} MB) is outside what the CRD takes; \
                 instances and memoryPerInstance are left out"
            )),
            _ => {}
        }
        spec.constants = self.constants(
            &name,
            &what,
            settings
                .constants
                .into_iter()
                .map(|c| RemoteConstant {
                    may_be_secret: text_typed(c.data_type.as_deref()),
                    name: c.name,
                    value: c.value,
                })
                .collect(),
        );
        spec.scheduled_events = self.events(
            &what,
            settings
                .scheduled_events
                .into_iter()
                .map(|e| {
                    let enabled = e.value.map(|v| v == "Enabled");
                    (e.name, enabled)
                })
                .collect(),
        );
        spec.custom_settings = self.custom_settings(
            &what,
            settings
                .custom_settings
                .into_iter()
                .map(|s| (s.name, s.value))
                .collect(),
        );
        let mut unique_tags = Vec::new();
        for tag in tags {
            if !unique_tags.contains(&tag) {
                unique_tags.push(tag);
            }
        }
        let unique_tags = self.at_most(&what, "tags", MAX_TAGS, unique_tags);
        spec.tags = (!unique_tags.is_empty()).then_some(unique_tags);
        self.push_environment(&name, spec)
    }

    // ------------------------------------------------------------------ Private Cloud

    async fn private_app(
        &mut self,
        deploy: &PcDeploy,
        app: &v4::AppInfo,
    ) -> Result<(), PluginError> {
        let app_id = &app.app_id;
        let environments = deploy
            .list_environments(app_id)
            .await
            .map_err(PluginError::mendix(format!(
                "listing the environments of {app_id}"
            )))?;
        if environments.is_empty() {
            self.note(format!("app {app_id} has no environments"));
        }
        let app_name = app
            .app_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(app_id);
        for manifest in environments {
            self.private_environment(deploy, app_id, app_name, &manifest.environment)
                .await?;
        }
        Ok(())
    }

    async fn private_environment(
        &mut self,
        deploy: &PcDeploy,
        app_id: &str,
        app_name: &str,
        env: &v4::EnvironmentSpec,
    ) -> Result<(), PluginError> {
        let what = format!("environment {} of app {app_id}", env.id);
        if env.id.is_empty() || env.id.len() > 32 || app_id.is_empty() || app_id.len() > 64 {
            self.note(format!(
                "{what} skipped: its app or environment id is longer than a MendixEnvironment takes"
            ));
            return Ok(());
        }
        let package_id = env.deployment.package_id.trim().to_string();
        if package_id.is_empty() {
            self.note(format!(
                "{what} skipped: no package is deployed to it, and a MendixEnvironment \
                 names the package that runs (spec.packageId)"
            ));
            return Ok(());
        }
        if !uuid(&package_id) {
            self.note(format!(
                "{what} skipped: its package id {package_id} is not a UUID, as spec.packageId must be"
            ));
            return Ok(());
        }
        let Some(place) = self.private_namespace(deploy, &env.provider).await? else {
            self.note(format!(
                "{what} skipped: the namespace it lives in ({} on cluster {}) could not be found",
                env.provider.namespace, env.provider.cluster_id
            ));
            return Ok(());
        };
        let (namespace_id, namespace_ref) = match place {
            NamespacePlace::Resource(name) => (None, Some(LocalReference { name })),
            NamespacePlace::Id(id) => (Some(id), None),
        };
        let name = self.name(&[app_name, &env.id]);
        let target = EnvironmentTarget {
            mendix_cloud: None,
            private_cloud: Some(PrivateCloudEnvironment {
                app_id: app_id.to_string(),
                namespace_id,
                namespace_ref,
                environment_id: env.id.clone(),
            }),
        };
        let instances = env.container.instances;
        let run_state = if instances > 0 {
            RunState::Running
        } else {
            RunState::Stopped
        };
        let mut spec = self.spec(target, package_id, run_state)?;
        if instances > 10 {
            self.note(format!(
                "{what}: {instances} instances is more than the CRD takes; instances is left out"
            ));
        } else if instances > 0 {
            spec.instances = i32::try_from(instances).ok();
        }
        let deployment = &env.deployment;
        spec.constants = self.constants(
            &name,
            &what,
            deployment
                .constants
                .iter()
                .flatten()
                .map(|c| RemoteConstant {
                    name: c.name.clone(),
                    value: c.value.clone(),
                    may_be_secret: true,
                })
                .collect(),
        );
        spec.scheduled_events = self.events(
            &what,
            deployment
                .scheduled_events
                .iter()
                .flatten()
                .map(|e| (e.name.clone(), Some(e.enabled)))
                .collect(),
        );
        spec.custom_settings = self.custom_settings(
            &what,
            env.runtime
                .as_ref()
                .and_then(|r| r.custom_runtime_settings.as_ref())
                .into_iter()
                .flatten()
                .map(|s| (s.name.clone(), s.value.clone()))
                .collect(),
        );
        self.push_environment(&name, spec)
    }

    /// The namespace an environment lives in: its MendixNamespace (printed the first time it
    /// is met), or its id when it cannot be printed as one; `None` when Mendix does not know it.
    async fn private_namespace(
        &mut self,
        deploy: &PcDeploy,
        provider: &v4::Provider,
    ) -> Result<Option<NamespacePlace>, PluginError> {
        let cluster_id = provider.cluster_id.clone();
        let key = (
            cluster_id.clone(),
            provider
                .namespace_id
                .clone()
                .unwrap_or_else(|| provider.namespace.clone()),
        );
        if let Some(place) = self.namespaces.get(&key) {
            return Ok(place.clone());
        }
        let what = format!("namespace {} of cluster {cluster_id}", provider.namespace);
        let manifest = match &provider.namespace_id {
            Some(namespace_id) => {
                match deploy.get_namespace(&cluster_id, namespace_id, false).await {
                    Ok(manifest) => Some(manifest),
                    Err(e) if e.is_not_found() => None,
                    // App developers may see environments in namespaces they cannot read.
                    Err(e) if e.is_unauthorized() => {
                        self.landscape.push(Part::Note(one_line(&format!(
                            "{what} ({namespace_id}): no MendixNamespace, the PAT may not read                              it ({e}); its environments name it by namespaceId"
                        ))));
                        let place = Some(NamespacePlace::Id(namespace_id.clone()));
                        self.namespaces.insert(key, place.clone());
                        return Ok(place);
                    }
                    Err(e) => {
                        return Err(PluginError::Mendix(format!("reading {what}: {e}")));
                    }
                }
            }
            None => deploy
                .list_namespaces(&cluster_id, false)
                .await
                .map_err(|e| {
                    PluginError::Mendix(format!(
                        "listing the namespaces of cluster {cluster_id}: {e}"
                    ))
                })?
                .into_iter()
                .find(|m| m.namespace.name.as_deref() == Some(provider.namespace.as_str())),
        };
        let place = match manifest {
            None => None,
            Some(manifest) => self.namespace_resource(&manifest.namespace, &cluster_id)?,
        };
        self.namespaces.insert(key, place.clone());
        Ok(place)
    }

    /// Prints the MendixNamespace of `ns` (never its installer secret).
    fn namespace_resource(
        &mut self,
        ns: &v4::NamespaceInfo,
        cluster_id: &str,
    ) -> Result<Option<NamespacePlace>, PluginError> {
        let namespace_name = ns.name.clone().unwrap_or_default();
        let what = format!("namespace {namespace_name} ({})", ns.namespace_id);
        if !uuid(&ns.namespace_id) {
            self.landscape.push(Part::Note(one_line(&format!(
                "{what}: its id is not a UUID; no MendixNamespace, and its environments are skipped"
            ))));
            return Ok(None);
        }
        let installation_type = match ns.installation_type.as_deref() {
            Some(t) if t.eq_ignore_ascii_case("Connected") => Some(InstallationType::Connected),
            Some(t) if t.eq_ignore_ascii_case("Standalone") => Some(InstallationType::Standalone),
            _ => None,
        };
        let (Some(installation_type), true, true) = (
            installation_type,
            uuid(cluster_id),
            dns_label(&namespace_name),
        ) else {
            self.landscape.push(Part::Note(one_line(&format!(
                "{what}: no MendixNamespace (its cluster id, name or installation type is not \
                 one the CRD takes); its environments name it by namespaceId"
            ))));
            return Ok(Some(NamespacePlace::Id(ns.namespace_id.clone())));
        };
        let name = self.name(&[&namespace_name]);
        // No secretRef: an observer never writes the installer secret (nor reads it here).
        let mut spec: MendixNamespaceSpec = serde_json::from_value(serde_json::json!({
            "credentialsSecretRef": {"name": self.secret},
            "clusterId": cluster_id,
            "namespaceId": ns.namespace_id,
            "name": namespace_name,
            "installationType": serde_json::to_value(installation_type).map_err(json_failed)?,
        }))
        .map_err(json_failed)?;
        spec.management_policy = ManagementPolicy::Observe;
        let mut resource = MendixNamespace::new(&name, spec);
        resource.metadata.namespace = Some(self.namespace.clone());
        resource.status = None;
        let yaml = serde_yaml::to_string(&resource).map_err(yaml_failed)?;
        self.landscape.push(Part::Resource(yaml));
        self.resources += 1;
        Ok(Some(NamespacePlace::Resource(name)))
    }

    /// The stream: the header (with the Secrets to create), then the MendixNamespaces, then
    /// the environments, with a `#` line for whatever was left out.
    fn render(self) -> String {
        let mut out = format!(
            "# kubectl mendix import --secret {}: {} resource(s) adopting what these credentials\n\
             # see in Mendix, all with managementPolicy: Observe: the operator only reads Mendix and\n\
             # reports differences in condition Drifted; it never writes. Values are as Mendix holds\n\
             # them now. Review, commit, then `kubectl apply -f`.\n",
            self.secret, self.resources
        );
        if !self.secrets.is_empty() {
            out.push_str(
                "#\n\
                 # Constants whose names look sensitive are not printed: they are read from these\n\
                 # Secrets, which must exist first (put in the values Mendix holds):\n",
            );
            for (secret, keys) in &self.secrets {
                let literals: Vec<String> = keys
                    .iter()
                    .map(|key| format!("--from-literal={key}=..."))
                    .collect();
                out.push_str(&format!(
                    "#   kubectl create secret generic {secret} -n {} {}\n",
                    self.namespace,
                    literals.join(" ")
                ));
            }
        }
        for part in self.landscape.into_iter().chain(self.environments) {
            match part {
                Part::Resource(yaml) => {
                    out.push_str("---\n");
                    out.push_str(&yaml);
                }
                Part::Note(text) => {
                    out.push_str("# ");
                    out.push_str(&text);
                    out.push('\n');
                }
            }
        }
        out
    }
}

fn json_failed(e: serde_json::Error) -> PluginError {
    PluginError::Output(format!("cannot build a resource: {e}"))
}

fn yaml_failed(e: serde_yaml::Error) -> PluginError {
    PluginError::Output(format!("cannot write a resource as YAML: {e}"))
}

/// A note on one line.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// A DNS-1123 label from `words`: lowercase letters, digits and `-`, at most 63 characters.
pub fn dns_name(words: &[&str]) -> String {
    let joined = words.join("-").to_lowercase();
    let mut name = String::new();
    for c in joined.chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if c == '-' && (name.is_empty() || name.ends_with('-')) {
            continue;
        }
        name.push(c);
    }
    let name: String = name.chars().take(MAX_NAME).collect();
    let name = name.trim_end_matches('-');
    if name.is_empty() {
        "mendix".to_string()
    } else {
        name.to_string()
    }
}

/// A Secret key for constant `name`: letters, digits, `-`, `_` and `.` (a `Module.Constant`
/// name already is one).
pub fn secret_key(name: &str) -> String {
    let key: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(240)
        .collect();
    match key.as_str() {
        "" | "." | ".." => "value".to_string(),
        _ => key,
    }
}

/// `key`, or `key-2`, `key-3`... when `keys` already holds it.
fn unique_key(keys: &[String], key: &str) -> String {
    if !keys.iter().any(|k| k == key) {
        return key.to_string();
    }
    (2..)
        .map(|n| format!("{key}-{n}"))
        .find(|candidate| !keys.contains(candidate))
        .unwrap_or_else(|| key.to_string())
}

/// `^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_.]*$`, 3..=255 characters: a constant's or
/// scheduled event's name as the CRD takes it.
fn qualified_name(name: &str) -> bool {
    let Some((module, rest)) = name.split_once('.') else {
        return false;
    };
    let starts = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
    };
    (3..=255).contains(&name.len())
        && starts(module)
        && module
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && starts(rest)
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// `^[A-Za-z_][A-Za-z0-9_.]*$`, 1..=255 characters: a custom setting's name.
fn setting_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// `^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`, at most 63 characters.
fn dns_label(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A Mendix Cloud app id as `target.mendixCloud.appId` takes it.
fn cloud_app_id(app_id: &str) -> bool {
    dns_label(app_id)
}

/// `^[A-Za-z0-9][A-Za-z0-9_-]*$`, at most 63 characters: a Mendix Cloud mode.
fn cloud_mode(mode: &str) -> bool {
    (1..=63).contains(&mode.len())
        && mode
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && mode
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A UUID in the 8-4-4-4-12 hex form the CRD's patterns take.
fn uuid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_names_are_recognised_case_insensitively() {
        for name in [
            "Mod.AdminPassword",
            "Mod.DB_PASSWD",
            "Mod.UserPwd",
            "Mod.ClientSecret",
            "Mod.AccessToken",
            "Mod.ApiKey",
            "Mod.API_KEY",
            "Mod.SigningKey",
            "Mod.Credentials",
            "Mod.PrivateData",
            "Mod.ClientCert",
        ] {
            assert!(looks_sensitive(name), "{name}");
        }
        for name in ["MyFirstModule.ApiUrl", "Mod.BooleanConstant", "Mod.Timeout"] {
            assert!(!looks_sensitive(name), "{name}");
        }
    }

    #[test]
    fn only_text_constants_may_be_secret() {
        for t in [None, Some("String"), Some("_String"), Some("")] {
            assert!(text_typed(t), "{t:?}");
        }
        for t in ["_Boolean", "DateTime", "Integer", "Decimal", "Long"] {
            assert!(!text_typed(Some(t)), "{t}");
        }
    }

    #[test]
    fn names_are_dns_labels() {
        assert_eq!(dns_name(&["calc", "Test"]), "calc-test");
        assert_eq!(dns_name(&["My App", "Flex_Env"]), "my-app-flex-env");
        assert_eq!(dns_name(&["--", "__"]), "mendix");
        let long = "a".repeat(100);
        let name = dns_name(&[&long, "x"]);
        assert_eq!(name.len(), 63);
        assert!(dns_label(&name));
        assert!(dns_label(&dns_name(&["x-", &"b".repeat(61), "-y"])));
        let mut out = Import::new("ns", "s");
        let first = out.name(&[&long]);
        let second = out.name(&[&long]);
        assert_ne!(first, second);
        assert!(dns_label(&second) && second.ends_with("-2"), "{second}");
    }

    #[test]
    fn the_crds_patterns() {
        assert!(qualified_name("MyFirstModule.ApiUrl"));
        assert!(qualified_name("_M.a.b"));
        assert!(!qualified_name("NoModule"));
        assert!(!qualified_name("1M.a"));
        assert!(!qualified_name("M.a-b"));
        assert!(setting_name("SessionTimeout") && setting_name("com.mendix.x"));
        assert!(!setting_name("a b"));
        assert!(cloud_mode("Test") && cloud_mode("flex_1-a") && !cloud_mode("-x"));
        assert!(uuid("4ee10492-6cfc-4582-b825-a9040c0988ad"));
        assert!(!uuid("4ee10492-6cfc-4582-b825-a9040c0988a"));
        assert_eq!(secret_key("MyFirstModule.ApiKey"), "MyFirstModule.ApiKey");
        assert_eq!(secret_key("a b/c"), "a_b_c");
        assert_eq!(unique_key(&["k".into(), "k-2".into()], "k"), "k-3");
    }

    #[test]
    fn sensitive_constants_go_to_a_secret_and_are_listed_in_the_header() {
        let mut out = Import::new("team", "creds");
        let constants = out.constants(
            "calc-test",
            "environment Test of app calc",
            vec![
                RemoteConstant {
                    name: "M.ApiKey".into(),
                    value: Some("hunter2-very-secret".into()),
                    may_be_secret: true,
                },
                RemoteConstant {
                    name: "M.UseToken".into(),
                    value: Some("true".into()),
                    may_be_secret: false,
                },
                RemoteConstant {
                    name: "M.Url".into(),
                    value: Some("https://x".into()),
                    may_be_secret: true,
                },
            ],
        );
        assert_eq!(constants.len(), 3);
        assert_eq!(
            constants[0].value_from.as_ref().map(|s| &s.secret_key_ref),
            Some(&SecretKeySelector {
                name: "calc-test-constants".into(),
                key: "M.ApiKey".into()
            })
        );
        assert_eq!(constants[0].value, None);
        assert_eq!(constants[1].value.as_deref(), Some("true"));
        assert_eq!(constants[2].value.as_deref(), Some("https://x"));
        let text = out.render();
        assert!(text.starts_with('#'), "{text}");
        assert!(
            text.contains(
                "kubectl create secret generic calc-test-constants -n team --from-literal=M.ApiKey=..."
            ),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }
}
