//! Mendix Cloud Build API v1 and Deploy API v1 (`https://deploy.mendix.com/api/1`), with
//! `Mendix-Username` / `Mendix-ApiKey` authentication.

pub mod types;

use chrono::NaiveDate;
use reqwest::Method;
use serde_json::Value;

use super::api::Api;
use super::client::{Auth, Call, Mendix, Sent, UploadForm, UploadSource};
use super::credentials::CloudCredentials;
use super::error::MendixError;
use types::*;

impl Mendix {
    /// The Mendix Cloud Build API v1 acting as `credentials`' user.
    pub fn cloud_build(&self, credentials: &CloudCredentials) -> CloudBuild {
        CloudBuild {
            mendix: self.clone(),
            auth: Auth::Cloud(credentials.clone()),
        }
    }

    /// The Mendix Cloud Deploy API v1 acting as `credentials`' user.
    pub fn cloud_deploy(&self, credentials: &CloudCredentials) -> CloudDeploy {
        CloudDeploy {
            mendix: self.clone(),
            auth: Auth::Cloud(credentials.clone()),
        }
    }
}

/// Packages: list, get (with a download URL), build, upload, delete.
#[derive(Clone)]
pub struct CloudBuild {
    mendix: Mendix,
    auth: Auth,
}

impl std::fmt::Debug for CloudBuild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CloudBuild")
    }
}

impl CloudBuild {
    fn call(&self, operation: &'static str, method: Method, segments: &[&str]) -> Call {
        Call::new(
            Api::CloudBuildV1,
            operation,
            method,
            self.mendix.v1_url(segments),
            self.auth.clone(),
        )
    }

    /// `GET /apps/<AppId>/packages`
    pub async fn list_packages(&self, app_id: &str) -> Result<Vec<Package>, MendixError> {
        let call = self.call("list_packages", Method::GET, &["apps", app_id, "packages"]);
        self.mendix.json(call).await
    }

    /// `GET /apps/<AppId>/packages/<PackageId>?url=<with_url>`
    pub async fn get_package(
        &self,
        app_id: &str,
        package_id: &str,
        with_url: bool,
    ) -> Result<Package, MendixError> {
        let call = self
            .call(
                "get_package",
                Method::GET,
                &["apps", app_id, "packages", package_id],
            )
            .query("url", if with_url { "true" } else { "false" });
        self.mendix.json(call).await
    }

    /// A fresh, time-limited download URL of a package (`?url=true`).
    pub async fn download_url(
        &self,
        app_id: &str,
        package_id: &str,
    ) -> Result<PackageUrl, MendixError> {
        self.get_package(app_id, package_id, true)
            .await?
            .url
            .ok_or(MendixError::Decode {
                api: Api::CloudBuildV1,
                operation: "get_package",
                detail: "the answer to `?url=true` has no `Url`".into(),
            })
    }

    /// `DELETE /apps/<AppId>/packages/<PackageId>`
    pub async fn delete_package(&self, app_id: &str, package_id: &str) -> Result<(), MendixError> {
        let call = self.call(
            "delete_package",
            Method::DELETE,
            &["apps", app_id, "packages", package_id],
        );
        self.mendix.reply(call).await.map(drop)
    }

    /// `POST /apps/<AppId>/packages`: starts a build; poll [`Self::get_package`]'s `Status`.
    /// Not retried on ambiguous failures (a retry could start a second build).
    pub async fn start_build(
        &self,
        app_id: &str,
        request: &BuildRequest,
    ) -> Result<PackageRef, MendixError> {
        let call = self
            .call("build_package", Method::POST, &["apps", app_id, "packages"])
            .json_body(request)?;
        self.mendix.json(call).await
    }

    /// `POST /apps/<AppId>/packages/upload?name=<PackageName>` with the `.mda` streamed as
    /// multipart part `file`. Returns the new package id when Mendix reports one.
    pub async fn upload_package(
        &self,
        app_id: &str,
        package_name: &str,
        source: UploadSource,
    ) -> Result<Option<String>, MendixError> {
        let call = self
            .call(
                "upload_package",
                Method::POST,
                &["apps", app_id, "packages", "upload"],
            )
            .query("name", package_name)
            .upload(UploadForm::new(source, package_name, Vec::new()));
        // The docs document no response body: a package id is used when one comes back, and
        // otherwise the caller finds the package by its name.
        let reply = self.mendix.reply(call).await?;
        Ok(serde_json::from_slice::<Value>(&reply.body)
            .ok()
            .as_ref()
            .and_then(|answer| answer.get("PackageId"))
            .and_then(Value::as_str)
            .map(str::to_string))
    }
}

/// Apps and environments: state, start/stop, transport, settings, scale, tags, logs.
#[derive(Clone)]
pub struct CloudDeploy {
    mendix: Mendix,
    auth: Auth,
}

impl std::fmt::Debug for CloudDeploy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CloudDeploy")
    }
}

impl CloudDeploy {
    fn call(&self, operation: &'static str, method: Method, segments: &[&str]) -> Call {
        Call::new(
            Api::CloudDeployV1,
            operation,
            method,
            self.mendix.v1_url(segments),
            self.auth.clone(),
        )
    }

    fn env_call(
        &self,
        operation: &'static str,
        method: Method,
        app_id: &str,
        mode: &str,
        rest: &[&str],
    ) -> Call {
        let mut segments = vec!["apps", app_id, "environments", mode];
        segments.extend_from_slice(rest);
        self.call(operation, method, &segments)
    }

    /// `GET /apps`
    pub async fn list_apps(&self) -> Result<Vec<App>, MendixError> {
        self.mendix
            .json(self.call("list_apps", Method::GET, &["apps"]))
            .await
    }

    /// `POST /apps`: creates a Free App for the Developer Portal project `project_id`. Not
    /// repeated after an unclear failure (a second one would answer APPLICATION_ALREADY_EXISTS).
    pub async fn create_free_app(&self, project_id: &str) -> Result<App, MendixError> {
        let call = self
            .call("create_free_app", Method::POST, &["apps"])
            .json_body(&serde_json::json!({ "ProjectId": project_id }))?;
        self.mendix.json(call).await
    }

    /// `GET /apps/<AppId>`
    pub async fn get_app(&self, app_id: &str) -> Result<App, MendixError> {
        self.mendix
            .json(self.call("get_app", Method::GET, &["apps", app_id]))
            .await
    }

    /// `GET /apps/<AppId>/environments`
    pub async fn list_environments(&self, app_id: &str) -> Result<Vec<Environment>, MendixError> {
        let call = self.call(
            "list_environments",
            Method::GET,
            &["apps", app_id, "environments"],
        );
        self.mendix.json(call).await
    }

    /// `GET /apps/<AppId>/environments/<Mode>`
    pub async fn get_environment(
        &self,
        app_id: &str,
        mode: &str,
    ) -> Result<Environment, MendixError> {
        let call = self.env_call("get_environment", Method::GET, app_id, mode, &[]);
        self.mendix.json(call).await
    }

    /// `POST .../start` with `AutoSyncDb`; poll the job with [`Self::start_status`]. The job
    /// runs from no earlier than [`Sent::at`].
    pub async fn start(
        &self,
        app_id: &str,
        mode: &str,
        auto_sync_db: bool,
    ) -> Result<Sent<StartJob>, MendixError> {
        let call = self
            .env_call("start_environment", Method::POST, app_id, mode, &["start"])
            .json_body(&StartRequest { auto_sync_db })?;
        self.mendix.json_sent(call).await
    }

    /// How long requests already queued for this API will take to be let through.
    pub fn backlog(&self) -> std::time::Duration {
        self.mendix.cloud_backlog()
    }

    /// `GET .../start/<JobId>`: `Starting` or `Started`; start failures come back as errors
    /// (`MISSING_CONSTANT`, `DB_SYNC_FAILED`, ...). A start found running was running at
    /// [`Sent::at`].
    pub async fn start_status(
        &self,
        app_id: &str,
        mode: &str,
        job_id: &str,
    ) -> Result<Sent<StartJobStatus>, MendixError> {
        let call = self
            .env_call(
                "get_start_status",
                Method::GET,
                app_id,
                mode,
                &["start", job_id],
            )
            .poll();
        let state: Sent<StartJobState> = self.mendix.json_sent(call).await?;
        Ok(state.map(|state| state.status))
    }

    /// `POST .../stop` (stopping a stopped app changes nothing, so it is retried).
    pub async fn stop(&self, app_id: &str, mode: &str) -> Result<(), MendixError> {
        let call = self
            .env_call("stop_environment", Method::POST, app_id, mode, &["stop"])
            .idempotent();
        self.mendix.reply(call).await.map(drop)
    }

    /// `GET .../package?url=<with_url>`: the package deployed to the environment.
    pub async fn environment_package(
        &self,
        app_id: &str,
        mode: &str,
        with_url: bool,
    ) -> Result<Package, MendixError> {
        let call = self
            .env_call(
                "get_environment_package",
                Method::GET,
                app_id,
                mode,
                &["package"],
            )
            .query("url", if with_url { "true" } else { "false" });
        self.mendix.json(call).await
    }

    /// `POST .../transport` with `PackageId`. Needs a stopped environment (`APP_IS_RUNNING`);
    /// a package still being processed answers 503, which is retried. A transport whose answer
    /// was lost is not sent again blindly (it would deploy twice): the caller re-reads the
    /// environment's package instead.
    pub async fn transport(
        &self,
        app_id: &str,
        mode: &str,
        package_id: &str,
    ) -> Result<(), MendixError> {
        let call = self
            .env_call("transport", Method::POST, app_id, mode, &["transport"])
            .json_body(&TransportRequest {
                package_id: package_id.to_string(),
            })?;
        self.mendix.reply(call).await.map(drop)
    }

    /// `POST .../clean`: removes all data of a stopped environment. Never retried blindly.
    pub async fn clean(&self, app_id: &str, mode: &str) -> Result<(), MendixError> {
        let call = self.env_call("clean_environment", Method::POST, app_id, mode, &["clean"]);
        self.mendix.reply(call).await.map(drop)
    }

    /// `GET .../settings`
    pub async fn get_settings(&self, app_id: &str, mode: &str) -> Result<Settings, MendixError> {
        let call = self.env_call("get_settings", Method::GET, app_id, mode, &["settings"]);
        self.mendix.json(call).await
    }

    /// `POST .../settings`: new values apply after the next restart (`Value` vs
    /// `DeployedValue`). Setting the same values twice is harmless, so it is retried.
    pub async fn set_settings(
        &self,
        app_id: &str,
        mode: &str,
        settings: &Settings,
    ) -> Result<Settings, MendixError> {
        let call = self
            .env_call("set_settings", Method::POST, app_id, mode, &["settings"])
            .idempotent()
            .json_body(settings)?;
        let reply = self.mendix.reply(call).await?;
        // The docs show the updated document; tolerate an empty answer.
        if reply.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(settings.clone());
        }
        super::client::decode(Api::CloudDeployV1, "set_settings", &reply.body)
    }

    /// `POST .../scale` with `Instances` and `MemoryPerInstance` (MB).
    pub async fn scale(
        &self,
        app_id: &str,
        mode: &str,
        instances: u32,
        memory_per_instance: u32,
    ) -> Result<Option<Environment>, MendixError> {
        let call = self
            .env_call("scale", Method::POST, app_id, mode, &["scale"])
            .idempotent()
            .json_body(&ScaleRequest {
                instances,
                memory_per_instance,
            })?;
        let reply = self.mendix.reply(call).await?;
        if reply.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        super::client::decode(Api::CloudDeployV1, "scale", &reply.body).map(Some)
    }

    /// `GET .../tags`
    pub async fn get_tags(&self, app_id: &str, mode: &str) -> Result<Vec<String>, MendixError> {
        let call = self.env_call("get_tags", Method::GET, app_id, mode, &["tags"]);
        let value: Value = self.mendix.json(call).await?;
        parse_tags(&value).ok_or(MendixError::Decode {
            api: Api::CloudDeployV1,
            operation: "get_tags",
            detail: "tags are neither a list nor a `Tag` object".into(),
        })
    }

    /// `POST .../tags` with `Tag` (adding a present tag changes nothing: retried).
    pub async fn create_tag(&self, app_id: &str, mode: &str, tag: &str) -> Result<(), MendixError> {
        let call = self
            .env_call("create_tag", Method::POST, app_id, mode, &["tags"])
            .idempotent()
            .json_body(&TagRequest { tag: tag.into() })?;
        self.mendix.reply(call).await.map(drop)
    }

    /// `DELETE .../tags` with `Tag` in the body (204 also when the tag did not exist).
    pub async fn delete_tag(&self, app_id: &str, mode: &str, tag: &str) -> Result<(), MendixError> {
        let call = self
            .env_call("delete_tag", Method::DELETE, app_id, mode, &["tags"])
            .json_body(&TagRequest { tag: tag.into() })?;
        self.mendix.reply(call).await.map(drop)
    }

    /// `GET .../logs/<YYYY-MM-DD>`: a pre-signed download URL of the app log of that day.
    pub async fn app_log_url(
        &self,
        app_id: &str,
        mode: &str,
        date: NaiveDate,
    ) -> Result<LogDownload, MendixError> {
        let day = date.format("%Y-%m-%d").to_string();
        let call = self.env_call("app_logs", Method::GET, app_id, mode, &["logs", &day]);
        self.mendix.json(call).await
    }

    /// `GET .../access-logs/<YYYY-MM-DD>`: a pre-signed download URL of the access log.
    pub async fn access_log_url(
        &self,
        app_id: &str,
        mode: &str,
        date: NaiveDate,
    ) -> Result<LogDownload, MendixError> {
        let day = date.format("%Y-%m-%d").to_string();
        let call = self.env_call(
            "access_logs",
            Method::GET,
            app_id,
            mode,
            &["access-logs", &day],
        );
        self.mendix.json(call).await
    }
}
