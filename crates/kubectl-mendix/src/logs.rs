//! `kubectl mendix logs ENV [--access]`: the app log (or the access log) of a Mendix Cloud
//! environment for one day, through the Deploy API v1 (`GET .../logs/<date>` or
//! `.../access-logs/<date>` gives a pre-signed URL, which is then downloaded), with the
//! credentials of the Secret the environment names.

use std::io::Write;

use chrono::NaiveDate;
use kube::api::Api;

use super::PluginError;
use mendix_client::client::Mendix;
use mendix_operator::controller::secrets::{self, Credentials, Platform};
use mendix_operator::crd::MendixEnvironment;

/// Which log of the day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKind {
    /// What the app wrote.
    App,
    /// The requests it served.
    Access,
}

impl LogKind {
    fn label(self) -> &'static str {
        match self {
            LogKind::App => "app log",
            LogKind::Access => "access log",
        }
    }
}

pub async fn print_log(
    client: &kube::Client,
    ns: &str,
    name: &str,
    kind: LogKind,
    date: NaiveDate,
    mendix: &Mendix,
    out: &mut impl Write,
) -> Result<(), PluginError> {
    let env = Api::<MendixEnvironment>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .map_err(PluginError::kube(format!("cannot read mxenv/{name}")))?;
    let Some(cloud) = env.spec.target.mendix_cloud.as_ref() else {
        return Err(PluginError::Mendix(format!(
            "mxenv/{name} runs on Mendix for Private Cloud, whose app logs are not available \
             through the Mendix API: read them with `kubectl logs` in the cluster that runs the \
             app (or in the Private Cloud Portal)"
        )));
    };
    let secret_name = &env.spec.credentials_secret_ref.name;
    let credentials = match secrets::load(client, ns, secret_name, Platform::MendixCloud).await {
        Ok(Credentials::Cloud(credentials)) => credentials,
        Ok(Credentials::Private(_)) => {
            return Err(PluginError::Mendix(format!(
                "Secret {secret_name} holds Private Cloud credentials"
            )));
        }
        Err(e) => {
            return Err(PluginError::Mendix(format!(
                "{e} (spec.credentialsSecretRef of mxenv/{name})"
            )));
        }
    };
    let deploy = mendix.cloud_deploy(&credentials);
    let link = match kind {
        LogKind::App => deploy.app_log_url(&cloud.app_id, &cloud.mode, date).await,
        LogKind::Access => {
            deploy
                .access_log_url(&cloud.app_id, &cloud.mode, date)
                .await
        }
    }
    .map_err(|e| {
        PluginError::Mendix(format!(
            "cannot get the {} of {} {} for {date}: {e}",
            kind.label(),
            cloud.app_id,
            cloud.mode
        ))
    })?;
    let dir = tempfile::tempdir()
        .map_err(|e| PluginError::Mendix(format!("cannot create a temporary directory: {e}")))?;
    let file = mendix
        .download(link.download_url.expose(), dir.path(), None)
        .await
        .map_err(|e| PluginError::Mendix(format!("cannot download the {}: {e}", kind.label())))?;
    let mut reader = std::fs::File::open(&file.path)
        .map_err(|e| PluginError::Mendix(format!("cannot read the downloaded log: {e}")))?;
    std::io::copy(&mut reader, out)
        .and_then(|_| out.flush())
        .map_err(|e| PluginError::Mendix(format!("cannot write the log: {e}")))?;
    Ok(())
}
