//! Private Cloud Build API v4 and Deploy API v4 (`https://privatecloud.mendixcloud.com/api/v4`),
//! with `Authorization: MxToken <PAT>`. Every write answers 202 with a job, followed with
//! [`PcBuild::job`] / [`PcDeploy::job`].

pub mod types;

use reqwest::Method;
use url::Url;

use super::api::Api;
use super::client::{Auth, Call, Mendix, UploadForm, UploadSource};
use super::credentials::Pat;
use super::error::MendixError;
use types::*;

/// Upper bound of pages fetched by one "list all" call, against servers that ignore `offset`.
const MAX_PAGES: u64 = 200;

impl Mendix {
    /// The Private Cloud Build API v4 with this token.
    pub fn pc_build(&self, pat: &Pat) -> PcBuild {
        PcBuild(V4 {
            mendix: self.clone(),
            auth: Auth::Pat(pat.clone()),
            api: Api::PrivateCloudBuildV4,
        })
    }

    /// The Private Cloud Deploy API v4 with this token.
    pub fn pc_deploy(&self, pat: &Pat) -> PcDeploy {
        PcDeploy(V4 {
            mendix: self.clone(),
            auth: Auth::Pat(pat.clone()),
            api: Api::PrivateCloudDeployV4,
        })
    }
}

/// What both v4 handles share: URLs, auth, jobs, paging.
#[derive(Clone)]
struct V4 {
    mendix: Mendix,
    auth: Auth,
    api: Api,
}

impl V4 {
    fn call(&self, operation: &'static str, method: Method, segments: &[&str]) -> Call {
        Call::new(
            self.api,
            operation,
            method,
            self.mendix.v4_url(segments),
            self.auth.clone(),
        )
    }

    /// Sends a write and returns the job it started (id and `Location`).
    async fn submit(&self, call: Call) -> Result<JobHandle, MendixError> {
        let (api, operation) = (call.api, call.operation);
        let reply = self.mendix.reply(call).await?;
        let job: Job = super::client::decode(api, operation, &reply.body)?;
        Ok(JobHandle {
            id: job.id,
            location: reply.location(),
        })
    }

    /// `GET /jobs/{jobId}`.
    async fn get_job(&self, job_id: &str) -> Result<Job, MendixError> {
        self.mendix
            .json(self.call("get_job", Method::GET, &["jobs", job_id]).poll())
            .await
    }

    /// Follows a job by its `Location` when that points at the configured API host (the PAT is
    /// never sent elsewhere), else by `GET /jobs/{id}`.
    async fn job(&self, handle: &JobHandle) -> Result<Job, MendixError> {
        let base = &self.mendix.config().private_cloud_v4_url;
        match handle
            .location
            .as_deref()
            .and_then(|location| same_origin_location(base, location))
        {
            Some(url) => {
                let call =
                    Call::new(self.api, "get_job", Method::GET, url, self.auth.clone()).poll();
                self.mendix.json(call).await
            }
            None => self.get_job(&handle.id).await,
        }
    }

    /// Fetches pages of `limit` items from offset 0 until a short page.
    async fn all_pages<T, F, Fut>(
        &self,
        operation: &'static str,
        mut page: F,
    ) -> Result<Vec<T>, MendixError>
    where
        F: FnMut(u64, u64) -> Fut,
        Fut: Future<Output = Result<Vec<T>, MendixError>>,
    {
        let limit = u64::from(self.mendix.config().page_size.max(1));
        let mut all = Vec::new();
        for index in 0..MAX_PAGES {
            let items = page(index * limit, limit).await?;
            // A short page ends the list; so does a long one (the server ignored `limit` and
            // sent everything from `offset` on).
            let exactly_full = items.len() as u64 == limit;
            all.extend(items);
            if !exactly_full {
                return Ok(all);
            }
        }
        Err(MendixError::Decode {
            api: self.api,
            operation,
            detail: format!(
                "more than {MAX_PAGES} pages of {limit}: the server seems to ignore `offset`"
            ),
        })
    }
}

/// `location` resolved against `base`, if it has the same scheme, host and port.
fn same_origin_location(base: &Url, location: &str) -> Option<Url> {
    let url = base.join(location).ok()?;
    (url.origin() == base.origin()).then_some(url)
}

/// Private Cloud Build API v4: packages and their jobs.
#[derive(Clone)]
pub struct PcBuild(V4);

impl std::fmt::Debug for PcBuild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PcBuild")
    }
}

impl PcBuild {
    /// `GET /jobs/{jobId}`
    pub async fn get_job(&self, job_id: &str) -> Result<Job, MendixError> {
        self.0.get_job(job_id).await
    }

    /// The job's current state, via its `Location` or `GET /jobs/{id}`.
    pub async fn job(&self, handle: &JobHandle) -> Result<Job, MendixError> {
        self.0.job(handle).await
    }

    /// `GET /jobs/{jobId}?log=true`: the job with its build log (to explain a failed build).
    pub async fn get_job_with_log(&self, job_id: &str) -> Result<Job, MendixError> {
        let call = self
            .0
            .call("get_job", Method::GET, &["jobs", job_id])
            .query("log", "true");
        self.0.mendix.json(call).await
    }

    /// `GET /apps/{appId}/packages?offset&limit`: one page.
    pub async fn list_packages_page(
        &self,
        app_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<PackagePage, MendixError> {
        let call = self
            .0
            .call(
                "list_deployment_packages",
                Method::GET,
                &["apps", app_id, "packages"],
            )
            .query("offset", &offset.to_string())
            .query("limit", &limit.to_string());
        self.0.mendix.json(call).await
    }

    /// Every package of the app (all pages).
    pub async fn list_packages(&self, app_id: &str) -> Result<Vec<Package>, MendixError> {
        self.0
            .all_pages("list_deployment_packages", |offset, limit| async move {
                Ok(self
                    .list_packages_page(app_id, offset, limit)
                    .await?
                    .packages)
            })
            .await
    }

    /// `GET /apps/{appId}/packages/{packageId}?url&log`
    pub async fn get_package(
        &self,
        app_id: &str,
        package_id: &str,
        with_url: bool,
        with_log: bool,
    ) -> Result<Package, MendixError> {
        let call = self
            .0
            .call(
                "get_deployment_package",
                Method::GET,
                &["apps", app_id, "packages", package_id],
            )
            .query("url", if with_url { "true" } else { "false" })
            .query("log", if with_log { "true" } else { "false" });
        let envelope: PackageEnvelope = self.0.mendix.json(call).await?;
        Ok(envelope.package)
    }

    /// `POST /apps/{appId}/packages/build`: starts a build job (never retried blindly).
    pub async fn build(
        &self,
        app_id: &str,
        request: &BuildRequest,
    ) -> Result<JobHandle, MendixError> {
        let call = self
            .0
            .call(
                "build_deployment_package",
                Method::POST,
                &["apps", app_id, "packages", "build"],
            )
            .json_body(request)?;
        self.0.submit(call).await
    }

    /// `POST /apps/{appId}/packages`: multipart `file` (streamed) and `fileName`.
    pub async fn upload(
        &self,
        app_id: &str,
        file_name: &str,
        source: UploadSource,
    ) -> Result<JobHandle, MendixError> {
        let form = UploadForm::new(source, file_name, vec![("fileName", file_name.to_string())]);
        let call = self
            .0
            .call(
                "upload_deployment_package",
                Method::POST,
                &["apps", app_id, "packages"],
            )
            .upload(form);
        self.0.submit(call).await
    }

    /// `DELETE /apps/{appId}/packages/{packageId}`: starts a delete job.
    pub async fn delete_package(
        &self,
        app_id: &str,
        package_id: &str,
    ) -> Result<JobHandle, MendixError> {
        let call = self.0.call(
            "delete_deployment_package",
            Method::DELETE,
            &["apps", app_id, "packages", package_id],
        );
        self.0.submit(call).await
    }
}

/// Private Cloud Deploy API v4: apps, environments (manifests), clusters, namespaces, jobs.
#[derive(Clone)]
pub struct PcDeploy(V4);

impl std::fmt::Debug for PcDeploy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PcDeploy")
    }
}

impl PcDeploy {
    /// `GET /jobs/{jobId}`
    pub async fn get_job(&self, job_id: &str) -> Result<Job, MendixError> {
        self.0.get_job(job_id).await
    }

    /// The job's current state, via its `Location` or `GET /jobs/{id}`.
    pub async fn job(&self, handle: &JobHandle) -> Result<Job, MendixError> {
        self.0.job(handle).await
    }

    /// `GET /apps` (all pages).
    pub async fn list_apps(&self) -> Result<Vec<AppManifest>, MendixError> {
        self.0
            .all_pages("list_app_manifests", |offset, limit| async move {
                let call = self
                    .0
                    .call("list_app_manifests", Method::GET, &["apps"])
                    .query("offset", &offset.to_string())
                    .query("limit", &limit.to_string());
                let page: AppsPage = self.0.mendix.json(call).await?;
                Ok(page.apps)
            })
            .await
    }

    /// `GET /apps/{appId}`
    pub async fn get_app(&self, app_id: &str) -> Result<AppManifest, MendixError> {
        self.0
            .mendix
            .json(
                self.0
                    .call("get_app_manifest", Method::GET, &["apps", app_id]),
            )
            .await
    }

    /// `GET /apps/{appId}/environments` (all pages).
    pub async fn list_environments(
        &self,
        app_id: &str,
    ) -> Result<Vec<EnvironmentManifest>, MendixError> {
        self.0
            .all_pages("list_environments_manifests", |offset, limit| async move {
                let call = self
                    .0
                    .call(
                        "list_environments_manifests",
                        Method::GET,
                        &["apps", app_id, "environments"],
                    )
                    .query("offset", &offset.to_string())
                    .query("limit", &limit.to_string());
                let page: EnvironmentsPage = self.0.mendix.json(call).await?;
                Ok(page.environments)
            })
            .await
    }

    fn environment_call(
        &self,
        operation: &'static str,
        method: Method,
        app_id: &str,
        namespace_id: &str,
        environment_id: &str,
    ) -> Call {
        self.0.call(
            operation,
            method,
            &[
                "apps",
                app_id,
                "namespaces",
                namespace_id,
                "environments",
                environment_id,
            ],
        )
    }

    /// `GET /apps/{appId}/namespaces/{namespaceId}/environments/{environmentId}`
    pub async fn get_environment(
        &self,
        app_id: &str,
        namespace_id: &str,
        environment_id: &str,
    ) -> Result<EnvironmentManifest, MendixError> {
        let call = self.environment_call(
            "get_environment_manifest_for_namespace",
            Method::GET,
            app_id,
            namespace_id,
            environment_id,
        );
        self.0.mendix.json(call).await
    }

    /// `PUT .../environments/{environmentId}` with the whole manifest (deploy a package, set
    /// constants, scheduled events, `container.instances`...). Starts a job.
    ///
    /// Repeating it is allowed, and the client does after a timeout or a 5xx: it carries the
    /// whole desired manifest, so a second job applies the same state again and nothing
    /// accumulates. The controller follows the job of the answer it received; a PUT whose answer
    /// it never saw is waited for by its own step (`controller::environment::private`), never
    /// followed by a different manifest until that step is seen applied.
    pub async fn update_environment(
        &self,
        app_id: &str,
        namespace_id: &str,
        environment_id: &str,
        manifest: &EnvironmentManifest,
    ) -> Result<JobHandle, MendixError> {
        let call = self
            .environment_call(
                "update_environment_for_namespace",
                Method::PUT,
                app_id,
                namespace_id,
                environment_id,
            )
            .json_body(manifest)?;
        self.0.submit(call).await
    }

    /// `POST /apps/{appId}/environments`: creates an environment with the caller's id.
    pub async fn create_environment(
        &self,
        app_id: &str,
        manifest: &EnvironmentManifest,
    ) -> Result<JobHandle, MendixError> {
        let call = self
            .0
            .call(
                "create_environment",
                Method::POST,
                &["apps", app_id, "environments"],
            )
            .json_body(manifest)?;
        self.0.submit(call).await
    }

    /// `DELETE .../environments/{environmentId}[?force=true]`: starts a delete job.
    pub async fn delete_environment(
        &self,
        app_id: &str,
        namespace_id: &str,
        environment_id: &str,
        force: bool,
    ) -> Result<JobHandle, MendixError> {
        let mut call = self.environment_call(
            "delete_environment_for_namespace",
            Method::DELETE,
            app_id,
            namespace_id,
            environment_id,
        );
        if force {
            call = call.query("force", "true");
        }
        self.0.submit(call).await
    }

    /// `GET /cli`: the versions of mxpc-cli, the Private Cloud configuration tool.
    pub async fn list_cli_versions(&self) -> Result<Vec<CliVersion>, MendixError> {
        let call = self.0.call("list_cli_versions", Method::GET, &["cli"]);
        let list: CliVersionList = self.0.mendix.json(call).await?;
        Ok(list.cli_version_list)
    }

    /// `POST /cli/{version}?os=&architecture=`: where to download that build of mxpc-cli
    /// (Mendix answers 303 with the CDN's address; nothing is changed).
    pub async fn cli_download_url(
        &self,
        version: &str,
        os: &str,
        architecture: &str,
    ) -> Result<String, MendixError> {
        let call = self
            .0
            .call("get_cli", Method::POST, &["cli", version])
            .query("os", os)
            .query("architecture", architecture)
            .idempotent()
            .redirect_answers();
        let reply = self.0.mendix.reply(call).await?;
        reply.location().ok_or_else(|| MendixError::Decode {
            api: Api::PrivateCloudDeployV4,
            operation: "get_cli",
            detail: "the answer names no Location".into(),
        })
    }

    /// `GET /clusters` (all pages).
    pub async fn list_clusters(&self) -> Result<Vec<ClusterManifest>, MendixError> {
        self.0
            .all_pages("list_cluster_manifests", |offset, limit| async move {
                let call = self
                    .0
                    .call("list_cluster_manifests", Method::GET, &["clusters"])
                    .query("offset", &offset.to_string())
                    .query("limit", &limit.to_string());
                let page: ClustersPage = self.0.mendix.json(call).await?;
                Ok(page.clusters)
            })
            .await
    }

    /// `GET /clusters/{clusterId}`
    pub async fn get_cluster(&self, cluster_id: &str) -> Result<ClusterManifest, MendixError> {
        self.0
            .mendix
            .json(self.0.call(
                "get_cluster_manifest",
                Method::GET,
                &["clusters", cluster_id],
            ))
            .await
    }

    /// `GET /clusters/{clusterId}/namespaces` (all pages).
    pub async fn list_namespaces(
        &self,
        cluster_id: &str,
        retrieve_environments: bool,
    ) -> Result<Vec<NamespaceManifest>, MendixError> {
        self.0
            .all_pages("list_namespace_manifests", |offset, limit| async move {
                let call = self
                    .0
                    .call(
                        "list_namespace_manifests",
                        Method::GET,
                        &["clusters", cluster_id, "namespaces"],
                    )
                    .query("offset", &offset.to_string())
                    .query("limit", &limit.to_string())
                    .query("retrieveEnvironments", bool_str(retrieve_environments));
                let page: NamespacesPage = self.0.mendix.json(call).await?;
                Ok(page.namespaces)
            })
            .await
    }

    /// `GET /clusters/{clusterId}/namespaces/{namespaceId}`
    pub async fn get_namespace(
        &self,
        cluster_id: &str,
        namespace_id: &str,
        retrieve_environments: bool,
    ) -> Result<NamespaceManifest, MendixError> {
        let call = self
            .0
            .call(
                "get_namespace_manifest",
                Method::GET,
                &["clusters", cluster_id, "namespaces", namespace_id],
            )
            .query("retrieveEnvironments", bool_str(retrieve_environments));
        self.0.mendix.json(call).await
    }

    /// `POST /clusters`: creates a cluster with the caller's `clusterId`. Starts a job, which
    /// fails when the id is taken.
    pub async fn create_cluster(
        &self,
        manifest: &ClusterManifest,
    ) -> Result<JobHandle, MendixError> {
        let call = self
            .0
            .call("create_cluster", Method::POST, &["clusters"])
            .json_body(manifest)?;
        self.0.submit(call).await
    }

    /// `PUT /clusters/{clusterId}` with the whole manifest (name, type, description, managers:
    /// a manager list replaces the cluster's). Starts a job.
    pub async fn update_cluster(
        &self,
        cluster_id: &str,
        manifest: &ClusterManifest,
    ) -> Result<JobHandle, MendixError> {
        let call = self
            .0
            .call("update_cluster", Method::PUT, &["clusters", cluster_id])
            .json_body(manifest)?;
        self.0.submit(call).await
    }

    /// `DELETE /clusters/{clusterId}`: starts a delete job (it fails while the cluster has
    /// namespaces).
    pub async fn delete_cluster(&self, cluster_id: &str) -> Result<JobHandle, MendixError> {
        let call = self
            .0
            .call("delete_cluster", Method::DELETE, &["clusters", cluster_id]);
        self.0.submit(call).await
    }

    /// `POST /clusters/{clusterId}/namespaces`: registers a namespace with the caller's
    /// `namespaceId`. Starts a job. The namespace is usable only after `mxpc-cli installer` ran
    /// in it ([`NamespaceInfo::operator_version`] tells).
    pub async fn create_namespace(
        &self,
        cluster_id: &str,
        manifest: &NamespaceManifest,
    ) -> Result<JobHandle, MendixError> {
        let call = self
            .0
            .call(
                "create_namespace",
                Method::POST,
                &["clusters", cluster_id, "namespaces"],
            )
            .json_body(manifest)?;
        self.0.submit(call).await
    }

    /// `PUT /clusters/{clusterId}/namespaces/{namespaceId}` with the whole manifest (secret
    /// included). Not for the `main` namespace of a global operator. Starts a job.
    pub async fn update_namespace(
        &self,
        cluster_id: &str,
        namespace_id: &str,
        manifest: &NamespaceManifest,
    ) -> Result<JobHandle, MendixError> {
        let call = self
            .0
            .call(
                "update_namespace_manifest",
                Method::PUT,
                &["clusters", cluster_id, "namespaces", namespace_id],
            )
            .json_body(manifest)?;
        self.0.submit(call).await
    }

    /// `DELETE /clusters/{clusterId}/namespaces/{namespaceId}`: starts a delete job (it fails
    /// while the namespace has environments).
    pub async fn delete_namespace(
        &self,
        cluster_id: &str,
        namespace_id: &str,
    ) -> Result<JobHandle, MendixError> {
        let call = self.0.call(
            "delete_namespace",
            Method::DELETE,
            &["clusters", cluster_id, "namespaces", namespace_id],
        );
        self.0.submit(call).await
    }
}

fn bool_str(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MendixConfig;

    fn v4(page_size: u32) -> V4 {
        let config = MendixConfig {
            page_size,
            ..MendixConfig::default()
        };
        V4 {
            mendix: Mendix::new(config).unwrap(),
            auth: Auth::Pat(Pat::new("t")),
            api: Api::PrivateCloudBuildV4,
        }
    }

    #[tokio::test]
    async fn paging_collects_every_page_and_stops_safely() {
        let items: Vec<u64> = (0..7).collect();
        let offsets = std::sync::Mutex::new(Vec::new());
        let all = v4(3)
            .all_pages("list", |offset, limit| {
                offsets.lock().unwrap().push(offset);
                let page: Vec<u64> = items
                    .iter()
                    .copied()
                    .skip(offset as usize)
                    .take(limit as usize)
                    .collect();
                async move { Ok(page) }
            })
            .await
            .unwrap();
        assert_eq!(all, items);
        assert_eq!(*offsets.lock().unwrap(), [0, 3, 6]);

        // A server that ignores `limit`: the long first page is the whole list.
        let all = v4(3)
            .all_pages("list", |_, _| async { Ok((0..10).collect::<Vec<u64>>()) })
            .await
            .unwrap();
        assert_eq!(all.len(), 10);

        // A server that ignores `offset` would page forever: stopped with an error.
        let err = v4(2)
            .all_pages("list", |_, _| async { Ok(vec![1u64, 2]) })
            .await
            .unwrap_err();
        assert!(matches!(err, MendixError::Decode { .. }), "{err}");
    }

    #[test]
    fn locations_are_followed_only_on_the_api_host() {
        let base = Url::parse("https://privatecloud.mendixcloud.com/api/v4").unwrap();
        assert_eq!(
            same_origin_location(&base, "https://privatecloud.mendixcloud.com/api/v3/jobs/1")
                .unwrap()
                .as_str(),
            "https://privatecloud.mendixcloud.com/api/v3/jobs/1"
        );
        assert_eq!(
            same_origin_location(&base, "/api/v4/jobs/2")
                .unwrap()
                .as_str(),
            "https://privatecloud.mendixcloud.com/api/v4/jobs/2"
        );
        assert!(same_origin_location(&base, "https://evil.example.com/api/v4/jobs/1").is_none());
        assert!(
            same_origin_location(&base, "http://privatecloud.mendixcloud.com/api/v4/jobs/1")
                .is_none()
        );
    }
}
