//! The Private Cloud Build and Deploy API v4 clients against the Mendix sandbox over HTTP:
//! every operation, its success and its documented errors, jobs followed via `Location`.

mod mendix_client_support;

use mendix_client::private_cloud_v4::types::*;
use mendix_client::private_cloud_v4::{PcBuild, PcDeploy};
use mendix_client::{ErrorClass, MendixConfig, MendixError, Pat, UploadSource};
use mendix_client_support::*;
use mendix_sandbox::MendixSandbox;
use mendix_sandbox::demo::*;

fn assert_status(err: &MendixError, status: u16, class: ErrorClass) {
    assert_eq!(err.status().map(|s| s.as_u16()), Some(status), "{err}");
    assert_eq!(err.class(), class, "{err}");
    assert_eq!(err.code(), None, "v4 errors carry no Mendix code: {err}");
    assert_no_secrets(err);
}

async fn finish(build: &PcBuild, handle: &JobHandle) -> Job {
    eventually("the job to end", || async {
        let job = build.job(handle).await.unwrap();
        job.is_done().then_some(job)
    })
    .await
}

async fn finish_deploy(deploy: &PcDeploy, handle: &JobHandle) -> Job {
    eventually("the job to end", || async {
        let job = deploy.job(handle).await.unwrap();
        job.is_done().then_some(job)
    })
    .await
}

#[tokio::test]
async fn build_follow_the_job_get_and_delete_a_package() {
    let env = start().await;
    let build = env.mendix.pc_build(&pat());
    let handle = build
        .build(
            PC_APP_ID,
            &BuildRequest {
                branch: GOOD_BRANCH.into(),
                revision: GOOD_REVISION.into(),
                version: Some("1.4.0".into()),
                description: Some("from the client test".into()),
            },
        )
        .await
        .unwrap();
    assert!(handle.location.is_some(), "202 answers carry Location");
    let job = finish(&build, &handle).await;
    assert_eq!(job.status, JobStatus::Finished, "{job:?}");
    let package_id = job.package_id.expect("a finished build names its package");
    // The same job by id.
    assert_eq!(
        build.get_job(&handle.id).await.unwrap().status,
        JobStatus::Finished
    );

    let package = build
        .get_package(PC_APP_ID, &package_id, true, true)
        .await
        .unwrap();
    assert_eq!(package.id, package_id);
    assert!(
        package.url.as_ref().is_some_and(|u| u.ttl == Some(900)),
        "{package:?}"
    );
    assert!(package.build_log.is_some());
    let plain = build
        .get_package(PC_APP_ID, &package_id, false, false)
        .await
        .unwrap();
    assert!(plain.url.is_none() && plain.build_log.is_none());
    let dir = tempfile::tempdir().unwrap();
    let url = package.url.unwrap();
    let file = env
        .mendix
        .download(url.location.expose(), dir.path(), None)
        .await
        .unwrap();
    assert_eq!(Some(file.size), plain.file_size);

    let listed = build.list_packages(PC_APP_ID).await.unwrap();
    assert!(listed.iter().any(|p| p.id == package_id));
    assert!(listed.iter().any(|p| p.id == PC_EXISTING_PACKAGE_ID));

    let delete = build.delete_package(PC_APP_ID, &package_id).await.unwrap();
    assert_eq!(finish(&build, &delete).await.status, JobStatus::Finished);
    let err = build
        .get_package(PC_APP_ID, &package_id, false, false)
        .await
        .unwrap_err();
    assert_status(&err, 404, ErrorClass::Terminal);
    assert!(err.is_not_found());
}

#[tokio::test]
async fn a_failing_build_fails_its_job() {
    let env = start().await;
    let build = env.mendix.pc_build(&pat());
    let handle = build
        .build(
            PC_APP_ID,
            &BuildRequest {
                branch: GOOD_BRANCH.into(),
                revision: FAILING_REVISION.into(),
                version: None,
                description: None,
            },
        )
        .await
        .unwrap();
    let job = finish(&build, &handle).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert!(job.failure_message().is_some());
    assert!(job.package_id.is_none());
    let with_log = build.get_job_with_log(&handle.id).await.unwrap();
    assert_eq!(with_log.status, JobStatus::Failed);
    let log = with_log
        .log
        .and_then(|l| l.build)
        .expect("?log=true returns the build log");
    assert!(!log.is_empty());
}

#[tokio::test]
async fn upload_and_list_all_pages() {
    let sandbox = MendixSandbox::demo();
    sandbox.set_time_scale(0.001);
    let env = start_with(
        sandbox,
        MendixConfig {
            retry: fast_retry(),
            page_size: 2,
            ..MendixConfig::default()
        },
    )
    .await;
    let build = env.mendix.pc_build(&pat());
    let dir = tempfile::tempdir().unwrap();
    let mut uploaded = Vec::new();
    for n in 0..5u8 {
        let path = dir.path().join(format!("app-{n}.mda"));
        let mut content = b"PK\x03\x04".to_vec();
        content.extend_from_slice(&[n; 18]);
        std::fs::write(&path, &content).unwrap();
        let name = format!("app_1.0.{n}");
        let handle = build
            .upload(PC_APP_ID, &name, UploadSource::file(&path))
            .await
            .unwrap();
        let job = finish(&build, &handle).await;
        assert_eq!(job.status, JobStatus::Finished, "{job:?}");
        let id = job.package_id.expect("an upload job names its package");
        let package = build
            .get_package(PC_APP_ID, &id, false, false)
            .await
            .unwrap();
        assert_eq!(package.file_size, Some(content.len() as u64));
        assert_eq!(
            package.file_name.as_deref(),
            Some(format!("{name}.mda").as_str())
        );
        uploaded.push(id);
    }
    let before = env.attempts("list_deployment_packages");
    let all = build.list_packages(PC_APP_ID).await.unwrap();
    assert_eq!(all.len(), 6, "5 uploads and the demo package");
    for id in &uploaded {
        assert!(all.iter().any(|p| &p.id == id), "{id} listed");
    }
    // 6 packages at 2 per page: 3 full pages and one empty one.
    assert_eq!(env.attempts("list_deployment_packages") - before, 4);
    let page = build.list_packages_page(PC_APP_ID, 4, 2).await.unwrap();
    assert_eq!(page.packages.len(), 2);
    let pagination = page.pagination.expect("pagination");
    assert_eq!(
        (pagination.offset, pagination.limit, pagination.size),
        (4, 2, 2)
    );
}

#[tokio::test]
async fn tokens_without_the_scope_or_wrong_tokens_are_refused() {
    let env = start().await;
    let read_only = env.mendix.pc_build(&Pat::new(PC_PAT_READ_ONLY));
    read_only.list_packages(PC_APP_ID).await.unwrap();
    let err = read_only
        .build(
            PC_APP_ID,
            &BuildRequest {
                branch: GOOD_BRANCH.into(),
                revision: GOOD_REVISION.into(),
                version: None,
                description: None,
            },
        )
        .await
        .unwrap_err();
    assert_status(&err, 403, ErrorClass::Terminal);
    assert!(err.is_unauthorized());
    let err = env
        .mendix
        .pc_deploy(&Pat::new(PC_PAT_READ_ONLY))
        .delete_environment(PC_APP_ID, PC_NAMESPACE_ID, PC_ENVIRONMENT_TEST, false)
        .await
        .unwrap_err();
    assert_status(&err, 403, ErrorClass::Terminal);

    let wrong = Pat::new("wrong-pat-0000");
    let err = env.mendix.pc_deploy(&wrong).list_apps().await.unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert_no_secrets(&err);
    assert_eq!(env.attempts("list_app_manifests"), 1, "no retry");
}

#[tokio::test]
async fn environment_manifest_update_and_restart() {
    let env = start().await;
    let deploy = env.mendix.pc_deploy(&pat());
    let environments = deploy.list_environments(PC_APP_ID).await.unwrap();
    let ids: Vec<_> = environments
        .iter()
        .map(|e| e.environment.id.as_str())
        .collect();
    assert!(
        ids.contains(&PC_ENVIRONMENT_TEST) && ids.contains(&PC_ENVIRONMENT_PRODUCTION),
        "{ids:?}"
    );

    let mut manifest = deploy
        .get_environment(PC_APP_ID, PC_NAMESPACE_ID, PC_ENVIRONMENT_TEST)
        .await
        .unwrap();
    assert_eq!(
        manifest.environment.deployment.package_id,
        PC_EXISTING_PACKAGE_ID
    );
    assert_eq!(manifest.environment.container.instances, 1);

    // Restart, as documented: instances 0, wait, instances N, wait.
    manifest.environment.container.instances = 0;
    let job = deploy
        .update_environment(PC_APP_ID, PC_NAMESPACE_ID, PC_ENVIRONMENT_TEST, &manifest)
        .await
        .unwrap();
    assert_eq!(
        finish_deploy(&deploy, &job).await.status,
        JobStatus::Finished
    );
    let stopped = deploy
        .get_environment(PC_APP_ID, PC_NAMESPACE_ID, PC_ENVIRONMENT_TEST)
        .await
        .unwrap();
    assert_eq!(stopped.environment.container.instances, 0);

    let mut manifest = stopped;
    manifest.environment.container.instances = 2;
    let constants = manifest
        .environment
        .deployment
        .constants
        .get_or_insert_with(Vec::new);
    constants[0].value = Some("https://api2.example.com".into());
    let job = deploy
        .update_environment(PC_APP_ID, PC_NAMESPACE_ID, PC_ENVIRONMENT_TEST, &manifest)
        .await
        .unwrap();
    assert_eq!(
        finish_deploy(&deploy, &job).await.status,
        JobStatus::Finished
    );
    let ready = eventually("the container to be Ready", || async {
        let now = deploy
            .get_environment(PC_APP_ID, PC_NAMESPACE_ID, PC_ENVIRONMENT_TEST)
            .await
            .unwrap();
        (now.environment.container.state() == ContainerState::Ready).then_some(now)
    })
    .await;
    assert_eq!(ready.environment.container.instances, 2);
    assert_eq!(
        ready.environment.deployment.constants.unwrap()[0]
            .value
            .as_deref(),
        Some("https://api2.example.com")
    );

    let err = deploy
        .get_environment(PC_APP_ID, PC_NAMESPACE_ID, "no-such-env")
        .await
        .unwrap_err();
    assert_status(&err, 404, ErrorClass::Terminal);
}

#[tokio::test]
async fn create_and_delete_an_environment() {
    let env = start().await;
    let deploy = env.mendix.pc_deploy(&pat());
    let mut manifest = deploy
        .get_environment(PC_APP_ID, PC_NAMESPACE_ID, PC_ENVIRONMENT_TEST)
        .await
        .unwrap();
    manifest.environment.id = "calc-new".into();
    manifest.environment.properties.name = "calc-new".into();
    manifest.environment.container.state = None;
    manifest.environment.container.last_running_instance_count = None;
    let job = deploy
        .create_environment(PC_APP_ID, &manifest)
        .await
        .unwrap();
    assert_eq!(
        finish_deploy(&deploy, &job).await.status,
        JobStatus::Finished
    );
    let created = deploy
        .get_environment(PC_APP_ID, PC_NAMESPACE_ID, "calc-new")
        .await
        .unwrap();
    assert_eq!(created.environment.properties.name, "calc-new");

    // Ids are the caller's: a second create with the same id fails in its job.
    let job = deploy
        .create_environment(PC_APP_ID, &manifest)
        .await
        .unwrap();
    let failed = finish_deploy(&deploy, &job).await;
    assert_eq!(failed.status, JobStatus::Failed, "{failed:?}");

    let job = deploy
        .delete_environment(PC_APP_ID, PC_NAMESPACE_ID, "calc-new", true)
        .await
        .unwrap();
    assert_eq!(
        finish_deploy(&deploy, &job).await.status,
        JobStatus::Finished
    );
    let err = deploy
        .get_environment(PC_APP_ID, PC_NAMESPACE_ID, "calc-new")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn apps_clusters_namespaces_and_jobs() {
    let env = start().await;
    let deploy = env.mendix.pc_deploy(&pat());
    let apps = deploy.list_apps().await.unwrap();
    assert!(
        apps.iter()
            .any(|a| a.app.as_ref().is_some_and(|a| a.app_id == PC_APP_ID))
    );
    let app = deploy.get_app(PC_APP_ID).await.unwrap();
    assert_eq!(app.app.unwrap().app_name.as_deref(), Some("calc-private"));
    let err = deploy
        .get_app("00000000-0000-4000-8000-000000000000")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");

    let clusters = deploy.list_clusters().await.unwrap();
    let cluster = clusters[0].cluster.clone().unwrap();
    assert_eq!(cluster.cluster_id, PC_CLUSTER_ID);
    assert_eq!(
        deploy
            .get_cluster(PC_CLUSTER_ID)
            .await
            .unwrap()
            .cluster
            .unwrap()
            .name
            .as_deref(),
        Some("sandbox-cluster")
    );
    let namespaces = deploy.list_namespaces(PC_CLUSTER_ID, true).await.unwrap();
    assert_eq!(namespaces[0].namespace.namespace_id, PC_NAMESPACE_ID);
    let namespace = deploy
        .get_namespace(PC_CLUSTER_ID, PC_NAMESPACE_ID, true)
        .await
        .unwrap();
    let environments = namespace.namespace.environments.unwrap_or_default();
    assert!(
        environments
            .iter()
            .any(|e| e.environment_id.as_deref() == Some(PC_ENVIRONMENT_TEST))
    );
    let err = deploy
        .get_cluster("00000000-0000-4000-8000-000000000000")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");

    let err = deploy
        .get_job("00000000-0000-4000-8000-000000000000")
        .await
        .unwrap_err();
    assert_status(&err, 404, ErrorClass::Terminal);
}
