//! `kubectl mendix apps --secret NAME`: every app and environment the credentials in a Secret
//! can see, on Mendix Cloud (`username` + `apiKey`) or Mendix for Private Cloud (`pat`), read
//! through the Deploy APIs; nothing is written. And `kubectl mendix create-free-app`.

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

/// The table of apps and environments the Secret `name` in `namespace` can see.
pub async fn list(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    mendix: &Mendix,
) -> Result<String, PluginError> {
    let secret = secrets::read_secret(client, namespace, name)
        .await
        .map_err(PluginError::kube(format!("cannot read Secret {name}")))?
        .ok_or_else(|| PluginError::Usage(format!("Secret {namespace}/{name} not found")))?;
    // The keys say the platform: a PAT is Private Cloud's, a username and API key Mendix Cloud's.
    let platform = match secret.data.as_ref().is_some_and(|d| d.contains_key("pat")) {
        true => Platform::PrivateCloud,
        false => Platform::MendixCloud,
    };
    let credentials = secrets::load(client, namespace, name, platform)
        .await
        .map_err(|e| PluginError::Usage(e.to_string()))?;
    let failed = |what: &str| {
        let what = what.to_string();
        move |e: mendix_client::MendixError| PluginError::Mendix(format!("{what}: {e}"))
    };
    let mut rows = Vec::new();
    match credentials {
        Credentials::Cloud(creds) => {
            let deploy = mendix.cloud_deploy(&creds);
            for app in deploy
                .list_apps()
                .await
                .map_err(failed("listing Mendix Cloud apps"))?
            {
                let environments =
                    deploy
                        .list_environments(&app.app_id)
                        .await
                        .map_err(failed(&format!(
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
                .map_err(failed("listing Private Cloud apps"))?
            {
                let Some(app) = app.app else { continue };
                let environments =
                    deploy
                        .list_environments(&app.app_id)
                        .await
                        .map_err(failed(&format!(
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
