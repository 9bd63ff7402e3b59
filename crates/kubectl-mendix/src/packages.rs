//! `kubectl mendix packages --secret NAME APP`: the deployment packages of an app, newest first,
//! on Mendix Cloud (Build API v1) or Private Cloud (Build API v4), told apart by the Secret's
//! keys. Nothing is written.

use chrono::{DateTime, SecondsFormat, Utc};
use mendix_client::client::Mendix;
use mendix_operator::controller::secrets::Credentials;
use mendix_operator::crd::summary::table;

use super::PluginError;
use super::apps::{app_failed, credentials, dash};

/// The table of the packages of `app_id` the Secret `name` in `namespace` can see: PACKAGE ID,
/// VERSION, CREATED, SIZE (bytes) and, on Mendix Cloud, the build STATUS.
pub async fn list(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    app_id: &str,
    mendix: &Mendix,
) -> Result<String, PluginError> {
    let listing = "listing the packages of";
    match credentials(client, namespace, name).await? {
        Credentials::Cloud(creds) => {
            let mut packages = mendix
                .cloud_build(&creds)
                .list_packages(app_id)
                .await
                .map_err(app_failed(app_id, name, listing))?;
            packages.sort_by_key(|p| std::cmp::Reverse(p.creation_date));
            let rows: Vec<Vec<String>> = packages
                .into_iter()
                .map(|p| {
                    let created = p
                        .creation_date
                        .and_then(DateTime::<Utc>::from_timestamp_millis)
                        .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true));
                    vec![
                        p.package_id,
                        dash(p.version.unwrap_or_default()),
                        dash(created.unwrap_or_default()),
                        size(p.size.and_then(|s| u64::try_from(s).ok())),
                        format!("{:?}", p.status),
                    ]
                })
                .collect();
            Ok(table(
                &["PACKAGE ID", "VERSION", "CREATED", "SIZE", "STATUS"],
                &rows,
            ))
        }
        Credentials::Private(pat) => {
            let mut packages = mendix
                .pc_build(&pat)
                .list_packages(app_id)
                .await
                .map_err(app_failed(app_id, name, listing))?;
            // Newest first; a package without a readable date last.
            packages.sort_by_key(|p| {
                std::cmp::Reverse(
                    p.created_on
                        .as_deref()
                        .and_then(|at| DateTime::parse_from_rfc3339(at).ok()),
                )
            });
            let rows: Vec<Vec<String>> = packages
                .into_iter()
                .map(|p| {
                    vec![
                        p.id,
                        dash(p.model_version.unwrap_or_default()),
                        dash(p.created_on.unwrap_or_default()),
                        size(p.file_size),
                    ]
                })
                .collect();
            // Private Cloud reports no build status for a package.
            Ok(table(&["PACKAGE ID", "VERSION", "CREATED", "SIZE"], &rows))
        }
    }
}

/// A size in bytes, `-` when Mendix gave none.
fn size(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "-".into(), |b| b.to_string())
}
