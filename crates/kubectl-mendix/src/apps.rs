//! `kubectl mendix apps --secret NAME`: every app and environment the credentials in a Secret
//! can see, on Mendix Cloud (`username` + `apiKey`) or Mendix for Private Cloud (`pat`), read
//! through the Deploy APIs. Nothing is written.

use mendix_client::client::Mendix;
use mendix_operator::controller::secrets::{self, Credentials, Platform};
use mendix_operator::crd::summary::table;

use super::PluginError;

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
