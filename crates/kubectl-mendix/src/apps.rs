//! `kubectl mendix apps --secret NAME [APP]`: every app and environment the credentials in a
//! Secret can see, or one app's details and environments, on Mendix Cloud (`username` +
//! `apiKey`) or Mendix for Private Cloud (`pat`), read through the Deploy APIs; nothing is
//! written. And `kubectl mendix create-free-app`.

use mendix_client::MendixError;
use mendix_client::client::Mendix;
use mendix_operator::controller::secrets::{self, Credentials, Platform};
use mendix_operator::crd::summary::table;

use super::PluginError;

/// Creates a Mendix Cloud Free App for `project_id` with the credentials in Secret `name`.
pub async fn create_free_app(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    project_id: &str,
    mendix: &Mendix,
) -> Result<mendix_client::cloud_v1::types::App, PluginError> {
    let Credentials::Cloud(creds) = secrets::load(client, namespace, name, Platform::MendixCloud)
        .await
        .map_err(|e| PluginError::Usage(e.to_string()))?
    else {
        return Err(PluginError::Usage(format!(
            "Secret {name} holds Private Cloud credentials; a Free App needs Mendix Cloud's"
        )));
    };
    mendix
        .cloud_deploy(&creds)
        .create_free_app(project_id)
        .await
        .map_err(|e| PluginError::Mendix(format!("creating a Free App for {project_id}: {e}")))
}

/// The Private Cloud PAT in Secret `name`.
pub async fn private_cloud_pat(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<mendix_client::Pat, PluginError> {
    match secrets::load(client, namespace, name, Platform::PrivateCloud).await {
        Ok(Credentials::Private(pat)) => Ok(pat),
        Ok(Credentials::Cloud(_)) => Err(PluginError::Usage(format!(
            "Secret {name} holds Mendix Cloud credentials; this needs a Private Cloud `pat`"
        ))),
        Err(e) => Err(PluginError::Usage(e.to_string())),
    }
}

/// The credentials in Secret `name` in `namespace`, on the platform its keys say: a `pat` is
/// Private Cloud's, otherwise a `username` and `apiKey` are Mendix Cloud's. What every verb
/// that works on either platform starts from.
pub async fn credentials(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Credentials, PluginError> {
    let secret = secrets::read_secret(client, namespace, name)
        .await
        .map_err(PluginError::kube(format!("cannot read Secret {name}")))?
        .ok_or_else(|| PluginError::Usage(format!("Secret {namespace}/{name} not found")))?;
    let platform = match secret.data.as_ref().is_some_and(|d| d.contains_key("pat")) {
        true => Platform::PrivateCloud,
        false => Platform::MendixCloud,
    };
    secrets::load(client, namespace, name, platform)
        .await
        .map_err(|e| PluginError::Usage(e.to_string()))
}

/// The error of a call about app `app_id` made with Secret `secret`: an app Mendix does not
/// know (or does not show these credentials) is named as such, anything else with `doing`.
pub(crate) fn app_failed(
    app_id: &str,
    secret: &str,
    doing: &str,
) -> impl FnOnce(MendixError) -> PluginError {
    let (app_id, secret, doing) = (app_id.to_string(), secret.to_string(), doing.to_string());
    move |e| {
        // Mendix Cloud answers an unknown app with 404 APP_NOT_FOUND, or on some calls 400
        // INVALID_APPID; Private Cloud with 404.
        if e.is_not_found() || e.code() == Some("INVALID_APPID") {
            PluginError::NotFound(format!(
                "app {app_id} not found: the credentials in Secret {secret} see no app with that id ({e})"
            ))
        } else {
            PluginError::Mendix(format!("{doing} app {app_id}: {e}"))
        }
    }
}

/// The table of apps and environments the Secret `name` in `namespace` can see.
pub async fn list(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    mendix: &Mendix,
) -> Result<String, PluginError> {
    let credentials = credentials(client, namespace, name).await?;
    let mut rows = Vec::new();
    match credentials {
        Credentials::Cloud(creds) => {
            let deploy = mendix.cloud_deploy(&creds);
            for app in deploy
                .list_apps()
                .await
                .map_err(PluginError::mendix("listing Mendix Cloud apps"))?
            {
                let environments =
                    deploy
                        .list_environments(&app.app_id)
                        .await
                        .map_err(PluginError::mendix(&format!(
                            "listing the environments of {}",
                            app.app_id
                        )))?;
                if environments.is_empty() {
                    rows.push(without_environments("Mendix Cloud", &app.app_id));
                }
                for env in environments {
                    rows.push(vec![
                        "Mendix Cloud".into(),
                        app.app_id.clone(),
                        env.mode.unwrap_or_default(),
                        format!("{:?}", env.status),
                        env.url.unwrap_or_default(),
                    ]);
                }
            }
        }
        Credentials::Private(pat) => {
            let deploy = mendix.pc_deploy(&pat);
            for app in deploy
                .list_apps()
                .await
                .map_err(PluginError::mendix("listing Private Cloud apps"))?
            {
                let Some(app) = app.app else { continue };
                let environments =
                    deploy
                        .list_environments(&app.app_id)
                        .await
                        .map_err(PluginError::mendix(&format!(
                            "listing the environments of {}",
                            app.app_id
                        )))?;
                if environments.is_empty() {
                    rows.push(without_environments("Private Cloud", &app.app_id));
                }
                for manifest in environments {
                    let env = &manifest.environment;
                    rows.push(vec![
                        "Private Cloud".into(),
                        app.app_id.clone(),
                        env.id.clone(),
                        format!("{:?}", env.container.state()),
                        env.deployment.app_url.clone(),
                    ]);
                }
            }
        }
    }
    Ok(table(
        &["PLATFORM", "APP", "ENVIRONMENT", "STATUS", "URL"],
        &rows,
    ))
}

/// The row of an app that has no environment yet (a new Free App, say).
fn without_environments(platform: &str, app_id: &str) -> Vec<String> {
    vec![
        platform.into(),
        app_id.into(),
        "-".into(),
        "-".into(),
        String::new(),
    ]
}

/// One app's details and its environments, as the Secret `name` in `namespace` sees them.
pub async fn show(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    app_id: &str,
    mendix: &Mendix,
) -> Result<String, PluginError> {
    let credentials = credentials(client, namespace, name).await?;
    let (facts, environments) = match credentials {
        Credentials::Cloud(creds) => {
            let deploy = mendix.cloud_deploy(&creds);
            let app = deploy
                .get_app(app_id)
                .await
                .map_err(app_failed(app_id, name, "reading"))?;
            let environments = deploy.list_environments(app_id).await.map_err(app_failed(
                app_id,
                name,
                "listing the environments of",
            ))?;
            let facts = vec![
                ("Platform", "Mendix Cloud".to_string()),
                ("App", app.app_id),
                ("Name", app.name.unwrap_or_default()),
                ("Project", app.project_id.unwrap_or_default()),
                ("URL", app.url.unwrap_or_default()),
            ];
            let rows: Vec<Vec<String>> = environments
                .into_iter()
                .map(|env| {
                    vec![
                        dash(env.mode.unwrap_or_default()),
                        dash(env.environment_id.unwrap_or_default()),
                        format!("{:?}", env.status),
                        dash(env.model_version.unwrap_or_default()),
                        dash(env.mendix_version.unwrap_or_default()),
                        env.url.unwrap_or_default(),
                    ]
                })
                .collect();
            let headers = [
                "ENVIRONMENT",
                "ENVIRONMENT ID",
                "STATUS",
                "MODEL VERSION",
                "MENDIX VERSION",
                "URL",
            ];
            (facts, (!rows.is_empty()).then(|| table(&headers, &rows)))
        }
        Credentials::Private(pat) => {
            let deploy = mendix.pc_deploy(&pat);
            let manifest = deploy
                .get_app(app_id)
                .await
                .map_err(app_failed(app_id, name, "reading"))?;
            let environments = deploy.list_environments(app_id).await.map_err(app_failed(
                app_id,
                name,
                "listing the environments of",
            ))?;
            let (id, app_name) = match manifest.app {
                Some(app) => (app.app_id, app.app_name.unwrap_or_default()),
                None => (app_id.to_string(), String::new()),
            };
            let facts = vec![
                ("Platform", "Private Cloud".to_string()),
                ("App", id),
                ("Name", app_name),
            ];
            let rows: Vec<Vec<String>> = environments
                .iter()
                .map(|manifest| {
                    let env = &manifest.environment;
                    vec![
                        env.id.clone(),
                        dash(env.properties.name.clone()),
                        env.provider.cluster_id.clone(),
                        env.provider.namespace.clone(),
                        format!("{:?}", env.container.state()),
                        env.container.instances.to_string(),
                        dash(env.deployment.package_id.clone()),
                        env.deployment.app_url.clone(),
                    ]
                })
                .collect();
            let headers = [
                "ENVIRONMENT",
                "NAME",
                "CLUSTER ID",
                "NAMESPACE",
                "STATUS",
                "INSTANCES",
                "PACKAGE ID",
                "URL",
            ];
            (facts, (!rows.is_empty()).then(|| table(&headers, &rows)))
        }
    };
    let width = facts
        .iter()
        .map(|(key, _)| key.len() + 1)
        .max()
        .unwrap_or(0);
    let mut out: String = facts
        .into_iter()
        .map(|(key, value)| format!("{:<width$}   {}\n", format!("{key}:"), dash(value)))
        .collect();
    out.push('\n');
    out.push_str(&environments.unwrap_or_else(|| "No environments.\n".to_string()));
    Ok(out)
}

/// `-` for a value Mendix did not give.
pub(crate) fn dash(value: String) -> String {
    if value.trim().is_empty() {
        "-".into()
    } else {
        value
    }
}
