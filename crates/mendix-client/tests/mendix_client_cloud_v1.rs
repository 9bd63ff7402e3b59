//! The Mendix Cloud Build and Deploy API v1 clients against the Mendix sandbox over HTTP:
//! every operation, its success and its documented errors.

mod mendix_client_support;

use mendix_client::cloud_v1::types::*;
use mendix_client::{CloudCredentials, ErrorClass, MendixError, UploadSource, V1ErrorCode};
use mendix_client_support::*;
use mendix_sandbox::demo::*;

fn assert_mendix(err: &MendixError, status: u16, code: &str, class: ErrorClass) {
    assert_eq!(err.status().map(|s| s.as_u16()), Some(status), "{err}");
    assert_eq!(err.code(), Some(code), "{err}");
    assert!(err.v1_code().is_some(), "{code} is a documented code");
    assert_eq!(err.class(), class, "{err}");
    assert_no_secrets(err);
}

#[tokio::test]
async fn apps_and_environments() {
    let env = start().await;
    let deploy = env.mendix.cloud_deploy(&cloud());

    let apps = deploy.list_apps().await.unwrap();
    let calc = apps
        .iter()
        .find(|a| a.app_id == CLOUD_APP_ID)
        .expect("demo app listed");
    assert_eq!(calc.name.as_deref(), Some("Calculation App"));
    assert_eq!(
        deploy.get_app(CLOUD_APP_ID).await.unwrap().app_id,
        CLOUD_APP_ID
    );
    let err = deploy.get_app("no-such-app").await.unwrap_err();
    assert_mendix(&err, 404, "APP_NOT_FOUND", ErrorClass::Terminal);
    assert!(err.is_not_found());

    let environments = deploy.list_environments(CLOUD_APP_ID).await.unwrap();
    let modes: Vec<_> = environments.iter().filter_map(|e| e.mode.clone()).collect();
    assert_eq!(modes, ["Test", "Acceptance", "Production"]);
    let production = deploy
        .get_environment(CLOUD_APP_ID, "Production")
        .await
        .unwrap();
    assert_eq!(production.production, Some(true));
    assert_eq!(production.status, EnvironmentStatus::Stopped);
    let err = deploy
        .get_environment(CLOUD_APP_ID, "Nowhere")
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(404), "{err}");
    assert_eq!(err.class(), ErrorClass::Terminal);
}

#[tokio::test]
async fn wrong_credentials_are_terminal_and_never_printed() {
    let env = start().await;
    let wrong = CloudCredentials::new(CLOUD_USERNAME, "wrong-api-key-0000");
    let err = env
        .mendix
        .cloud_deploy(&wrong)
        .list_apps()
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert_eq!(err.class(), ErrorClass::Terminal);
    assert_no_secrets(&err);
    assert_eq!(
        env.attempts("list_apps"),
        1,
        "no retry of an authentication failure"
    );
    let err = env
        .mendix
        .cloud_build(&wrong)
        .list_packages(CLOUD_APP_ID)
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert_no_secrets(&err);
}

async fn wait_for_build(build: &mendix_client::cloud_v1::CloudBuild, id: &str) -> Package {
    eventually("the build to end", || async {
        let package = build.get_package(CLOUD_APP_ID, id, false).await.unwrap();
        matches!(
            package.status,
            PackageStatus::Succeeded | PackageStatus::Failed
        )
        .then_some(package)
    })
    .await
}

#[tokio::test]
async fn build_download_and_delete_a_package() {
    let env = start().await;
    let build = env.mendix.cloud_build(&cloud());
    let request = BuildRequest {
        branch: GOOD_BRANCH.into(),
        revision: GOOD_REVISION.into(),
        version: "2.5.4".into(),
        description: "Add scientific mode".into(),
    };
    let started = build.start_build(CLOUD_APP_ID, &request).await.unwrap();
    let first = build
        .get_package(CLOUD_APP_ID, &started.package_id, false)
        .await
        .unwrap();
    assert!(
        matches!(
            first.status,
            PackageStatus::Queued | PackageStatus::Building | PackageStatus::Succeeded
        ),
        "{:?}",
        first.status
    );
    let package = wait_for_build(&build, &started.package_id).await;
    assert_eq!(package.status, PackageStatus::Succeeded);
    assert!(
        package
            .version
            .as_deref()
            .unwrap_or("")
            .starts_with("2.5.4")
    );
    assert!(package.url.is_none(), "no URL unless asked");

    let listed = build.list_packages(CLOUD_APP_ID).await.unwrap();
    assert!(listed.iter().any(|p| p.package_id == started.package_id));
    assert!(
        listed
            .iter()
            .any(|p| p.package_id == CLOUD_EXISTING_PACKAGE_ID)
    );

    let url = build
        .download_url(CLOUD_APP_ID, &started.package_id)
        .await
        .unwrap();
    assert_eq!(url.ttl, Some(900));
    let dir = tempfile::tempdir().unwrap();
    let downloaded = env
        .mendix
        .download(url.location.expose(), dir.path(), None)
        .await
        .unwrap();
    assert!(downloaded.size > 0);
    assert_eq!(
        std::fs::metadata(&downloaded.path).unwrap().len(),
        downloaded.size
    );
    // The same file again, now held to its hash.
    let again = env
        .mendix
        .download(
            url.location.expose(),
            dir.path(),
            Some(&downloaded.sha256.to_uppercase()),
        )
        .await
        .unwrap();
    assert_eq!(again.sha256, downloaded.sha256);
    let wrong = "0".repeat(64);
    let err = env
        .mendix
        .download(url.location.expose(), dir.path(), Some(&wrong))
        .await
        .unwrap_err();
    assert!(matches!(err, MendixError::ChecksumMismatch { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Terminal);
    drop((downloaded, again));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no file left behind"
    );

    build
        .delete_package(CLOUD_APP_ID, &started.package_id)
        .await
        .unwrap();
    let err = build
        .get_package(CLOUD_APP_ID, &started.package_id, false)
        .await
        .unwrap_err();
    assert_mendix(&err, 404, "PACKAGE_NOT_FOUND", ErrorClass::Terminal);
    let err = build
        .delete_package(CLOUD_APP_ID, &started.package_id)
        .await
        .unwrap_err();
    assert_mendix(&err, 404, "PACKAGE_NOT_FOUND", ErrorClass::Terminal);
}

#[tokio::test]
async fn build_errors() {
    let env = start().await;
    let build = env.mendix.cloud_build(&cloud());
    let request = |revision: &str, version: &str| BuildRequest {
        branch: GOOD_BRANCH.into(),
        revision: revision.into(),
        version: version.into(),
        description: "d".into(),
    };
    let err = build
        .start_build(CLOUD_APP_ID, &request(GOOD_REVISION, "2.5"))
        .await
        .unwrap_err();
    assert_mendix(&err, 400, "INVALID_VERSION", ErrorClass::Terminal);
    let err = build
        .start_build("no-such-app", &request(GOOD_REVISION, "1.0.0"))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Terminal, "{err}");
    assert!(
        err.is_not_found() || err.status().map(|s| s.as_u16()) == Some(400),
        "{err}"
    );

    // A revision that does not compile: the package ends Failed.
    let started = build
        .start_build(CLOUD_APP_ID, &request(FAILING_REVISION, "3.0.0"))
        .await
        .unwrap();
    assert_eq!(
        wait_for_build(&build, &started.package_id).await.status,
        PackageStatus::Failed
    );
    // An unknown revision fails at once.
    let err = build
        .start_build(CLOUD_APP_ID, &request("0000000", "3.0.1"))
        .await
        .unwrap_err();
    assert_mendix(&err, 500, "BUILD_FAILED", ErrorClass::Terminal);
    assert_eq!(
        env.attempts("build_package"),
        4,
        "a non-idempotent build is never retried"
    );
    let err = build
        .get_package(CLOUD_APP_ID, "no-such-package", true)
        .await
        .unwrap_err();
    assert_mendix(&err, 404, "PACKAGE_NOT_FOUND", ErrorClass::Terminal);
}

/// Starts like a zip (local file header), as every .mda does.
fn fake_mda() -> Vec<u8> {
    let mut mda = b"PK\x03\x04".to_vec();
    mda.extend((0..10_000u32).map(|i| (i % 253) as u8));
    mda
}

#[tokio::test]
async fn upload_then_transport_start_and_stop() {
    let env = start().await;
    let build = env.mendix.cloud_build(&cloud());
    let deploy = env.mendix.cloud_deploy(&cloud());
    let dir = tempfile::tempdir().unwrap();
    let mda = dir.path().join("calc_1.0.0.45.mda");
    std::fs::write(&mda, fake_mda()).unwrap();
    // Slow the sandbox down so that the fresh upload stays "being processed".
    env.sandbox.set_time_scale(1000.0);
    let answered = build
        .upload_package(CLOUD_APP_ID, "calc_1.0.0.45.mda", UploadSource::file(&mda))
        .await
        .unwrap();
    // The docs document no response body, and the sandbox sends none: found by its name.
    assert_eq!(answered, None);
    let package_id = uploaded_id(&build, "calc_1.0.0.45.mda").await;
    env.sandbox.set_time_scale(0.001);
    let uploaded = build
        .get_package(CLOUD_APP_ID, &package_id, false)
        .await
        .unwrap();
    assert_eq!(uploaded.size, Some(fake_mda().len() as i64));

    // Still being processed: 503 says "not done", so it is retried until attempts run out.
    let err = deploy
        .transport(CLOUD_APP_ID, "Test", &package_id)
        .await
        .unwrap_err();
    assert_mendix(&err, 503, "SERVICE UNAVAILABLE", ErrorClass::Transient);
    assert_eq!(env.attempts("transport"), 4);
    env.sandbox.with_world(|world| {
        let app = world
            .cloud
            .apps
            .iter_mut()
            .find(|a| a.app_id == CLOUD_APP_ID)
            .unwrap();
        let package = app
            .packages
            .iter_mut()
            .find(|p| p.package_id == package_id)
            .unwrap();
        package.timer.processing_until = Some(std::time::Instant::now());
    });
    deploy
        .transport(CLOUD_APP_ID, "Test", &package_id)
        .await
        .unwrap();
    let deployed = deploy
        .environment_package(CLOUD_APP_ID, "Test", true)
        .await
        .unwrap();
    assert_eq!(deployed.package_id, package_id);
    assert!(deployed.url.is_some());

    let job = deploy
        .start(CLOUD_APP_ID, "Test", true)
        .await
        .unwrap()
        .value;
    let err = deploy.start(CLOUD_APP_ID, "Test", true).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::StateConflict, "{err}");
    eventually("the app to start", || async {
        match deploy
            .start_status(CLOUD_APP_ID, "Test", &job.job_id)
            .await
            .unwrap()
            .value
        {
            StartJobStatus::Started => Some(()),
            _ => None,
        }
    })
    .await;
    let running = deploy.get_environment(CLOUD_APP_ID, "Test").await.unwrap();
    assert_eq!(running.status, EnvironmentStatus::Running);

    let err = deploy
        .transport(CLOUD_APP_ID, "Test", CLOUD_EXISTING_PACKAGE_ID)
        .await
        .unwrap_err();
    assert_mendix(&err, 403, "APP_IS_RUNNING", ErrorClass::StateConflict);
    assert_eq!(err.v1_code(), Some(V1ErrorCode::AppIsRunning));
    let err = deploy.start(CLOUD_APP_ID, "Test", false).await.unwrap_err();
    assert_mendix(&err, 500, "ALREADY_STARTED", ErrorClass::StateConflict);
    let err = deploy.clean(CLOUD_APP_ID, "Test").await.unwrap_err();
    assert_mendix(
        &err,
        403,
        "ENVIRONMENT_NOT_STOPPED",
        ErrorClass::StateConflict,
    );
    let err = build
        .delete_package(CLOUD_APP_ID, &package_id)
        .await
        .unwrap_err();
    assert_mendix(&err, 409, "PACKAGE_IN_USE", ErrorClass::StateConflict);

    deploy.stop(CLOUD_APP_ID, "Test").await.unwrap();
    assert_eq!(
        deploy
            .get_environment(CLOUD_APP_ID, "Test")
            .await
            .unwrap()
            .status,
        EnvironmentStatus::Stopped
    );
    let err = deploy
        .start_status(CLOUD_APP_ID, "Test", "no-such-job")
        .await
        .unwrap_err();
    assert_mendix(&err, 404, "NO_SUCH_STARTJOB", ErrorClass::Terminal);
    let err = deploy
        .transport(CLOUD_APP_ID, "Test", "no-such-package")
        .await
        .unwrap_err();
    assert_mendix(&err, 404, "PACKAGE_NOT_FOUND", ErrorClass::Terminal);
    deploy.clean(CLOUD_APP_ID, "Test").await.unwrap();
}

#[tokio::test]
async fn a_bad_upload_cannot_be_transported() {
    let env = start().await;
    let build = env.mendix.cloud_build(&cloud());
    let deploy = env.mendix.cloud_deploy(&cloud());
    // Any AsyncRead works as a one-shot source.
    let not_a_zip: &'static [u8] = b"this is not an mda";
    build
        .upload_package(CLOUD_APP_ID, "broken.mda", UploadSource::reader(not_a_zip))
        .await
        .unwrap();
    let package_id = uploaded_id(&build, "broken.mda").await;
    let err = eventually("processing to end", || async {
        match deploy
            .transport(CLOUD_APP_ID, "Acceptance", &package_id)
            .await
        {
            Err(err) if err.class() == ErrorClass::Transient => None,
            Err(err) => Some(err),
            Ok(()) => panic!("a broken package was transported"),
        }
    })
    .await;
    assert_mendix(&err, 403, "NOT ALLOWED", ErrorClass::Terminal);
}

#[tokio::test]
async fn start_failures_are_terminal() {
    let env = start().await;
    let deploy = env.mendix.cloud_deploy(&cloud());
    assert!(
        env.sandbox
            .fail_next_start(CLOUD_APP_ID, "Acceptance", "DB_SYNC_FAILED")
    );
    let job = deploy
        .start(CLOUD_APP_ID, "Acceptance", true)
        .await
        .unwrap()
        .value;
    let err = eventually("the start to fail", || async {
        match deploy
            .start_status(CLOUD_APP_ID, "Acceptance", &job.job_id)
            .await
            .map(|sent| sent.value)
        {
            Ok(StartJobStatus::Starting) => None,
            Ok(other) => panic!("start should fail, got {other:?}"),
            Err(err) => Some(err),
        }
    })
    .await;
    assert_mendix(&err, 500, "DB_SYNC_FAILED", ErrorClass::Terminal);

    // A constant without a value: MISSING_CONSTANT.
    env.sandbox.with_world(|world| {
        let app = world
            .cloud
            .apps
            .iter_mut()
            .find(|a| a.app_id == CLOUD_APP_ID)
            .unwrap();
        let test = app
            .environments
            .iter_mut()
            .find(|e| e.mode == "Test")
            .unwrap();
        test.constants[0].value = None;
    });
    let job = deploy
        .start(CLOUD_APP_ID, "Test", true)
        .await
        .unwrap()
        .value;
    let err = eventually("the start to fail", || async {
        match deploy
            .start_status(CLOUD_APP_ID, "Test", &job.job_id)
            .await
            .map(|sent| sent.value)
        {
            Ok(StartJobStatus::Starting) => None,
            Ok(other) => panic!("start should fail, got {other:?}"),
            Err(err) => Some(err),
        }
    })
    .await;
    assert_mendix(&err, 500, "MISSING_CONSTANT", ErrorClass::Terminal);
}

#[tokio::test]
async fn settings_scale_and_tags() {
    let env = start().await;
    let deploy = env.mendix.cloud_deploy(&cloud());
    let mut settings = deploy.get_settings(CLOUD_APP_ID, "Test").await.unwrap();
    let constant = settings
        .constants
        .iter_mut()
        .find(|c| c.name == "MyFirstModule.ApiUrl")
        .expect("demo constant");
    constant.value = Some("https://api2.example.com".into());
    let event = settings
        .scheduled_events
        .iter_mut()
        .find(|e| e.name == "MyFirstModule.Monitor_Scheduled_event")
        .expect("demo event");
    event.value = Some("Enabled".into());
    deploy
        .set_settings(CLOUD_APP_ID, "Test", &settings)
        .await
        .unwrap();
    let now = deploy.get_settings(CLOUD_APP_ID, "Test").await.unwrap();
    let constant = now
        .constants
        .iter()
        .find(|c| c.name == "MyFirstModule.ApiUrl")
        .unwrap();
    assert_eq!(constant.value.as_deref(), Some("https://api2.example.com"));
    assert_eq!(
        constant.deployed_value.as_deref(),
        Some("https://api.example.com"),
        "applies only after a restart"
    );
    let event = &now.scheduled_events[0];
    assert_eq!(event.value.as_deref(), Some("Enabled"));

    let unknown = Settings {
        constants: vec![Constant {
            name: "MyFirstModule.Nope".into(),
            data_type: None,
            value: Some("1".into()),
            deployed_value: None,
        }],
        ..Settings::default()
    };
    let err = deploy
        .set_settings(CLOUD_APP_ID, "Test", &unknown)
        .await
        .unwrap_err();
    assert_mendix(&err, 400, "CONSTANT_NOT_FOUND", ErrorClass::Terminal);
    let bad_event = Settings {
        scheduled_events: vec![ScheduledEvent {
            name: "MyFirstModule.Monitor_Scheduled_event".into(),
            value: Some("Sometimes".into()),
            deployed_value: None,
        }],
        ..Settings::default()
    };
    let err = deploy
        .set_settings(CLOUD_APP_ID, "Test", &bad_event)
        .await
        .unwrap_err();
    assert_mendix(
        &err,
        500,
        "INVALID_SCHEDULED_EVENT_PARAMETER",
        ErrorClass::Terminal,
    );
    assert_eq!(
        env.attempts("set_settings"),
        3,
        "terminal errors are not retried"
    );

    let scaled = deploy
        .scale(CLOUD_APP_ID, "Acceptance", 2, 1024)
        .await
        .unwrap()
        .expect("the scale answer describes the environment");
    assert_eq!(scaled.instances, Some(2));
    assert_eq!(scaled.memory_per_instance, Some(1024));
    let err = deploy
        .scale(CLOUD_APP_ID, "Acceptance", 1, 512)
        .await
        .unwrap_err();
    assert_mendix(&err, 400, "INVALID_REQUEST", ErrorClass::Terminal);

    deploy
        .create_tag(CLOUD_APP_ID, "Test", "europe")
        .await
        .unwrap();
    deploy
        .create_tag(CLOUD_APP_ID, "Test", "team-a")
        .await
        .unwrap();
    let tags = deploy.get_tags(CLOUD_APP_ID, "Test").await.unwrap();
    assert!(
        tags.contains(&"europe".to_string()) && tags.contains(&"team-a".to_string()),
        "{tags:?}"
    );
    deploy
        .delete_tag(CLOUD_APP_ID, "Test", "europe")
        .await
        .unwrap();
    assert_eq!(
        deploy.get_tags(CLOUD_APP_ID, "Test").await.unwrap(),
        ["team-a"]
    );
    let err = deploy.get_tags(CLOUD_APP_ID, "Nowhere").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn log_download_urls() {
    let env = start().await;
    let deploy = env.mendix.cloud_deploy(&cloud());
    let date = chrono::NaiveDate::from_ymd_opt(2024, 3, 7).unwrap();
    let app_log = deploy
        .app_log_url(CLOUD_APP_ID, "Test", date)
        .await
        .unwrap();
    assert!(
        app_log
            .download_url
            .expose()
            .starts_with("http://127.0.0.1")
    );
    let shown = format!("{app_log:?}");
    assert!(
        !shown.contains(app_log.download_url.expose()),
        "signed URL hidden: {shown}"
    );
    let access = deploy
        .access_log_url(CLOUD_APP_ID, "Test", date)
        .await
        .unwrap();
    assert_ne!(access.download_url.expose(), app_log.download_url.expose());
    let dir = tempfile::tempdir().unwrap();
    env.mendix
        .download(app_log.download_url.expose(), dir.path(), None)
        .await
        .unwrap();
    let err = deploy
        .app_log_url(CLOUD_APP_ID, "Nowhere", date)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}
