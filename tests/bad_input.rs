//! Bad input, both kinds of it.
//!
//! Part A: invalid manifests applied with the real `kubectl apply -f -` against the real API
//! server with `crds/` applied. Each is refused (non-zero exit), kubectl's message names the
//! offending field, and nothing is stored. The table covers the structural schema (types, enums,
//! patterns, bounds, required fields, list keys) and the CEL rules (exactly one source / target /
//! package, Mendix-Cloud-only fields, constant value/valueFrom, immutable source and target).
//!
//! Part B: semantic errors only the operator (or Mendix) can see, each through the running
//! operator: the resource ends Stalled with a reason and a message that says what to fix, and the
//! Mendix sandbox's counters show no remote write beyond the single refused request where only
//! Mendix can tell.

use futures::StreamExt;
use mendix_operator::crd::{MendixEnvironment, MendixPackage};
use mendix_sandbox::demo;
use mendix_testkit::*;

// ---------------------------------------------------------------------------------------------
// Part A: rejected by the API server
// ---------------------------------------------------------------------------------------------

const UUID: &str = "4ee10492-6cfc-4582-b825-a9040c0988ad";

fn package(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1\nkind: MendixPackage\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

fn environment(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1\nkind: MendixEnvironment\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

const CLOUD_TARGET: &str = "  target:\n    mendixCloud:\n      appId: calc\n";
const PC_TARGET: &str = "  target:\n    privateCloud:\n      appId: orders\n      namespaceId: ns-1\n      environmentId: test\n";
const CREDS: &str = "  credentialsSecretRef:\n    name: creds\n";
const BUILD: &str =
    "  source:\n    build:\n      branch: main\n      revision: 93de884c\n      version: 1.2.3\n";
const CLOUD_ENV_TARGET: &str =
    "  target:\n    mendixCloud:\n      appId: calc\n      mode: Acceptance\n";
const PKG_REF: &str = "  packageRef:\n    name: calc-1\n";

/// A Mendix Cloud build package with `source` replaced.
fn pkg_source(name: &str, source: &str) -> String {
    package(name, &format!("{CLOUD_TARGET}{CREDS}  source:\n{source}"))
}

/// A Mendix Cloud environment with extra spec lines.
fn cloud_env(name: &str, extra: &str) -> String {
    environment(name, &format!("{CLOUD_ENV_TARGET}{CREDS}{PKG_REF}{extra}"))
}

/// A Private Cloud environment with extra spec lines.
fn pc_env(name: &str, extra: &str) -> String {
    environment(name, &format!("{PC_TARGET}{CREDS}{PKG_REF}{extra}"))
}

struct Case {
    what: &'static str,
    manifest: String,
    /// Every one of these must appear in kubectl's message (the field, and for CEL rules the
    /// rule's message).
    expect: Vec<&'static str>,
}

fn case(what: &'static str, manifest: String, expect: &[&'static str]) -> Case {
    Case {
        what,
        manifest,
        expect: expect.to_vec(),
    }
}

fn create_cases() -> Vec<Case> {
    vec![
        // --- MendixPackage: schema
        case(
            "build revision with spaces",
            pkg_source(
                "p-revision",
                "    build:\n      branch: main\n      revision: not a hash\n      version: 1.2.3\n",
            ),
            &["spec.source.build.revision"],
        ),
        case(
            "build revision too long",
            pkg_source(
                "p-revision-long",
                &format!(
                    "    build:\n      branch: main\n      revision: {}\n      version: 1.2.3\n",
                    "a".repeat(51)
                ),
            ),
            &["spec.source.build.revision"],
        ),
        case(
            "version not major.minor.patch",
            pkg_source(
                "p-version",
                "    build:\n      branch: main\n      revision: 93de884c\n      version: v1.2\n",
            ),
            &["spec.source.build.version"],
        ),
        case(
            "empty branch",
            pkg_source(
                "p-branch",
                "    build:\n      branch: \"\"\n      revision: 93de884c\n      version: 1.2.3\n",
            ),
            &["spec.source.build.branch"],
        ),
        case(
            "build without revision",
            pkg_source(
                "p-no-revision",
                "    build:\n      branch: main\n      version: 1.2.3\n",
            ),
            &["spec.source.build.revision", "Required"],
        ),
        case(
            "upload sha256 not lowercase hex",
            pkg_source(
                "p-sha",
                &format!(
                    "    upload:\n      url: https://example.com/a.mda\n      fileName: a.mda\n      sha256: {}\n",
                    "A".repeat(64)
                ),
            ),
            &["spec.source.upload.sha256"],
        ),
        case(
            "upload URL not http(s)",
            pkg_source(
                "p-url",
                "    upload:\n      url: ftp://example.com/a.mda\n      fileName: a.mda\n",
            ),
            &["spec.source.upload.url"],
        ),
        case(
            "upload file name with a slash",
            pkg_source(
                "p-file",
                "    upload:\n      url: https://example.com/a.mda\n      fileName: dir/a.mda\n",
            ),
            &["spec.source.upload.fileName"],
        ),
        case(
            "upload without URL",
            pkg_source("p-no-url", "    upload:\n      fileName: a.mda\n"),
            &["spec.source.upload.url", "Required"],
        ),
        case(
            "existing package id not a UUID",
            pkg_source("p-existing", "    existing:\n      packageId: latest\n"),
            &["spec.source.existing.packageId"],
        ),
        case(
            "deletionPolicy not in the enum",
            package(
                "p-policy",
                &format!("{CLOUD_TARGET}{CREDS}{BUILD}  deletionPolicy: Destroy\n"),
            ),
            &["spec.deletionPolicy", "Unsupported value"],
        ),
        case(
            "Mendix Cloud appId with capitals and underscore",
            package(
                "p-app",
                &format!("  target:\n    mendixCloud:\n      appId: My_App\n{CREDS}{BUILD}"),
            ),
            &["spec.target.mendixCloud.appId"],
        ),
        case(
            "no credentialsSecretRef",
            package("p-no-creds", &format!("{CLOUD_TARGET}{BUILD}")),
            &["spec.credentialsSecretRef", "Required"],
        ),
        case(
            "credentialsSecretRef.name not a string",
            package(
                "p-creds-type",
                &format!("{CLOUD_TARGET}  credentialsSecretRef:\n    name: 42\n{BUILD}"),
            ),
            &["spec.credentialsSecretRef.name"],
        ),
        // --- MendixPackage: CEL
        case(
            "two sources",
            pkg_source(
                "p-two-sources",
                &format!(
                    "    build:\n      branch: main\n      revision: 93de884c\n      version: 1.2.3\n    existing:\n      packageId: {UUID}\n"
                ),
            ),
            &["spec.source", "exactly one of source.build"],
        ),
        case(
            "no source at all",
            package(
                "p-no-source",
                &format!("{CLOUD_TARGET}{CREDS}  source: {{}}\n"),
            ),
            &["spec.source", "exactly one of source.build"],
        ),
        case(
            "both targets",
            package(
                "p-two-targets",
                &format!(
                    "  target:\n    mendixCloud:\n      appId: calc\n    privateCloud:\n      appId: orders\n{CREDS}{BUILD}"
                ),
            ),
            &["spec.target", "exactly one of target.mendixCloud"],
        ),
        // --- MendixEnvironment: schema
        case(
            "runState not in the enum",
            cloud_env("e-runstate", "  runState: Paused\n"),
            &["spec.runState", "Unsupported value"],
        ),
        case(
            "instances above 10",
            cloud_env("e-instances", "  instances: 11\n"),
            &["spec.instances"],
        ),
        case(
            "negative instances",
            pc_env("e-instances-neg", "  instances: -1\n"),
            &["spec.instances"],
        ),
        case(
            "memoryPerInstance below 256",
            cloud_env("e-memory", "  memoryPerInstance: 100\n"),
            &["spec.memoryPerInstance"],
        ),
        case(
            "packageId not a UUID",
            environment(
                "e-package-id",
                &format!("{CLOUD_ENV_TARGET}{CREDS}  packageId: calc-1\n"),
            ),
            &["spec.packageId"],
        ),
        case(
            "constant name without a module",
            cloud_env(
                "e-constant-name",
                "  constants:\n  - name: WelcomeText\n    value: hi\n",
            ),
            &["spec.constants[0].name"],
        ),
        case(
            "the same constant twice",
            cloud_env(
                "e-constant-dup",
                "  constants:\n  - name: M.A\n    value: x\n  - name: M.A\n    value: y\n",
            ),
            &["spec.constants[1]", "Duplicate value"],
        ),
        case(
            "scheduled event enabled not a boolean",
            cloud_env(
                "e-event",
                "  scheduledEvents:\n  - name: M.Nightly\n    enabled: sometimes\n",
            ),
            &["spec.scheduledEvents[0].enabled"],
        ),
        case(
            "production as a string",
            cloud_env("e-production", "  production: \"true\"\n"),
            &["spec.production"],
        ),
        case(
            "Private Cloud target without environmentId",
            environment(
                "e-no-env-id",
                &format!(
                    "  target:\n    privateCloud:\n      appId: orders\n      namespaceId: ns-1\n{CREDS}{PKG_REF}"
                ),
            ),
            &["spec.target.privateCloud.environmentId", "Required"],
        ),
        case(
            "Mendix Cloud mode with a space",
            environment(
                "e-mode",
                &format!(
                    "  target:\n    mendixCloud:\n      appId: calc\n      mode: \"Accept ance\"\n{CREDS}{PKG_REF}"
                ),
            ),
            &["spec.target.mendixCloud.mode"],
        ),
        case(
            "custom setting name with a space",
            cloud_env(
                "e-setting",
                "  customSettings:\n  - name: \"Bad Name\"\n    value: x\n",
            ),
            &["spec.customSettings[0].name"],
        ),
        case(
            "the same tag twice",
            cloud_env("e-tags-dup", "  tags:\n  - a\n  - a\n"),
            &["spec.tags[1]", "Duplicate value"],
        ),
        // --- MendixEnvironment: CEL
        case(
            "packageRef and packageId together",
            cloud_env("e-two-packages", &format!("  packageId: {UUID}\n")),
            &["exactly one of spec.packageRef or spec.packageId"],
        ),
        case(
            "no package",
            environment("e-no-package", &format!("{CLOUD_ENV_TARGET}{CREDS}")),
            &["exactly one of spec.packageRef or spec.packageId"],
        ),
        case(
            "memoryPerInstance on Private Cloud",
            pc_env("e-pc-memory", "  memoryPerInstance: 1024\n"),
            &["spec.memoryPerInstance is only available for Mendix Cloud"],
        ),
        case(
            "tags on Private Cloud",
            pc_env("e-pc-tags", "  tags:\n  - team\n"),
            &["spec.tags are only available for Mendix Cloud"],
        ),
        case(
            "zero instances on Mendix Cloud",
            cloud_env("e-zero", "  instances: 0\n"),
            &["spec.instances must be at least 1 on Mendix Cloud"],
        ),
        case(
            "constant with value and valueFrom",
            cloud_env(
                "e-constant-both",
                "  constants:\n  - name: M.A\n    value: x\n    valueFrom:\n      secretKeyRef:\n        name: s\n        key: k\n",
            ),
            &["spec.constants[0]", "exactly one of value or valueFrom"],
        ),
        case(
            "constant with neither value nor valueFrom",
            cloud_env("e-constant-none", "  constants:\n  - name: M.A\n"),
            &["spec.constants[0]", "exactly one of value or valueFrom"],
        ),
        case(
            "no target",
            environment("e-no-target", &format!("{CREDS}{PKG_REF}")),
            &["spec.target", "Required"],
        ),
        case(
            "environment with both targets",
            environment(
                "e-two-targets",
                &format!(
                    "  target:\n    mendixCloud:\n      appId: calc\n      mode: Test\n    privateCloud:\n      appId: orders\n      namespaceId: ns-1\n      environmentId: test\n{CREDS}{PKG_REF}"
                ),
            ),
            &["spec.target", "exactly one of target.mendixCloud"],
        ),
    ]
}

/// Changes to a stored object that the CEL transition rules refuse: (what, first, second, expect).
fn update_cases() -> Vec<(&'static str, String, String, Vec<&'static str>)> {
    vec![
        (
            "package source changed",
            package("u-source", &format!("{CLOUD_TARGET}{CREDS}{BUILD}")),
            package(
                "u-source",
                &format!(
                    "{CLOUD_TARGET}{CREDS}  source:\n    build:\n      branch: main\n      revision: 0123abcd\n      version: 1.2.4\n"
                ),
            ),
            vec!["spec.source", "source is immutable"],
        ),
        (
            "package target changed",
            package("u-target", &format!("{CLOUD_TARGET}{CREDS}{BUILD}")),
            package(
                "u-target",
                &format!("  target:\n    mendixCloud:\n      appId: other\n{CREDS}{BUILD}"),
            ),
            vec!["spec.target", "target is immutable"],
        ),
        (
            "environment target changed",
            cloud_env("u-env-target", ""),
            environment(
                "u-env-target",
                &format!(
                    "  target:\n    mendixCloud:\n      appId: calc\n      mode: Production\n{CREDS}{PKG_REF}"
                ),
            ),
            vec!["spec.target", "target is immutable"],
        ),
    ]
}

fn kind_and_name(manifest: &str) -> (String, String) {
    let value: serde_yaml::Value = serde_yaml::from_str(manifest).expect("test YAML parses");
    let kind = value["kind"].as_str().expect("kind").to_lowercase();
    let name = value["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    (kind, name)
}

/// `crds/` as a user applies it, under the field manager the harness installed the CRDs with.
async fn apply_crds(env: &Kubectl) {
    env.ok(&[
        "apply",
        "--server-side",
        "--field-manager=mendix-operator-crds",
        "-k",
        &repo_path("crds/"),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_manifests_are_refused_by_kubectl_naming_the_field() {
    let h = Harness::new().await;
    let env = h.kubectl();
    apply_crds(&env).await;
    let cases = create_cases();
    assert!(cases.len() >= 25, "the table has {} cases", cases.len());

    // A few kubectl processes at a time: each case is independent.
    let results: Vec<(Case, mendix_testkit::Run)> = futures::stream::iter(cases)
        .map(|c| {
            let env = &env;
            async move {
                let run = env.run_stdin(&["apply", "-f", "-"], &c.manifest).await;
                (c, run)
            }
        })
        .buffer_unordered(3)
        .collect()
        .await;

    let mut failures = Vec::new();
    for (c, run) in &results {
        if run.ok {
            failures.push(format!("{}: accepted:\n{}", c.what, run.stdout));
            continue;
        }
        let missing: Vec<_> = c
            .expect
            .iter()
            .filter(|e| !run.stderr.contains(**e))
            .collect();
        if !missing.is_empty() {
            failures.push(format!(
                "{}: message lacks {missing:?}:\n{}",
                c.what, run.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    // Nothing of it was stored.
    for (c, _) in &results {
        let (kind, name) = kind_and_name(&c.manifest);
        let get = env.run(&["get", &kind, &name]).await;
        assert!(!get.ok, "{}: {kind}/{name} was stored", c.what);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immutable_fields_are_refused_on_update() {
    let h = Harness::new().await;
    let env = h.kubectl();
    apply_crds(&env).await;
    for (what, first, second, expect) in update_cases() {
        env.ok_stdin(&["apply", "-f", "-"], &first).await;
        let run = env.run_stdin(&["apply", "-f", "-"], &second).await;
        assert!(!run.ok, "{what}: accepted: {}", run.stdout);
        for e in &expect {
            assert!(
                run.stderr.contains(e),
                "{what}: lacks {e:?}: {}",
                run.stderr
            );
        }
        // The stored object is the first one.
        let (kind, name) = kind_and_name(&first);
        let stored = env
            .ok(&[
                "get",
                &kind,
                &name,
                "-o",
                "jsonpath={.spec.target}{.spec.source}",
            ])
            .await;
        let first_value: serde_yaml::Value = serde_yaml::from_str(&first).expect("YAML");
        let app = first_value["spec"]["target"]["mendixCloud"]["appId"]
            .as_str()
            .expect("app");
        assert!(stored.contains(app), "{what}: stored {stored}");
        if let Some(mode) = first_value["spec"]["target"]["mendixCloud"]["mode"].as_str() {
            assert!(stored.contains(mode), "{what}: stored {stored}");
        }
        if first_value["spec"]["source"].is_mapping() {
            assert!(stored.contains("93de884c"), "{what}: stored {stored}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Part B: semantic errors the API server cannot catch, through the running operator
// ---------------------------------------------------------------------------------------------

fn mxpkg(name: &str, platform: &str, app: &str, secret: &str, source: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixPackage
metadata: {{name: {name}}}
spec:
  target: {{{platform}: {{appId: {app}}}}}
  credentialsSecretRef: {{name: {secret}}}
  source: {source}
"
    )
}

/// A build of its own version per package: a package of the same app and version that exists
/// in Mendix is taken as this one's (that is how a lost build answer is found again).
fn cloud_build(name: &str, secret: &str, revision: &str, version: &str) -> String {
    mxpkg(
        name,
        "mendixCloud",
        demo::CLOUD_APP_ID,
        secret,
        &format!("{{build: {{branch: main, revision: {revision}, version: {version}}}}}"),
    )
}

fn mxenv_cloud(name: &str, mode: &str, secret: &str, package: &str, extra: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: {name}}}
spec:
  target: {{mendixCloud: {{appId: {app}, mode: {mode}}}}}
  credentialsSecretRef: {{name: {secret}}}
  {package}
{extra}",
        app = demo::CLOUD_APP_ID
    )
}

fn mxenv_pc(name: &str, environment: &str, package: &str, extra: &str) -> String {
    format!(
        "apiVersion: mendixops.io/v1alpha1
kind: MendixEnvironment
metadata: {{name: {name}}}
spec:
  target: {{privateCloud: {{appId: {app}, namespaceId: {ns}, environmentId: {environment}}}}}
  credentialsSecretRef: {{name: {PC_SECRET}}}
  {package}
{extra}",
        app = demo::PC_APP_ID,
        ns = demo::PC_NAMESPACE_ID
    )
}

/// A loopback URL nothing listens on.
async fn closed_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}/app.mda")
}

fn stalled_condition(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> (String, String) {
    let c = condition(conditions, "Stalled").expect("Stalled condition");
    (c.reason.clone(), c.message.clone())
}

/// Remote writes of both APIs: none may be sent for these resources except where noted.
const WRITES: &[&str] = &[
    "v1_build_package",
    "v1_upload_package",
    "v1_delete_package",
    "v1_transport",
    "v1_start_environment",
    "v1_stop_environment",
    "v1_set_settings",
    "v1_scale",
    "v1_create_tag",
    "v1_delete_tag",
    "v1_clean_environment",
    "build_deployment_package",
    "upload_deployment_package",
    "delete_deployment_package",
    "update_environment_for_namespace",
    "create_environment",
    "delete_environment_for_namespace",
];

fn writes(h: &Harness) -> Vec<(&'static str, u64)> {
    let stats = h.mendix.stats();
    WRITES
        .iter()
        .map(|op| (*op, stats.count(op)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[tokio::test]
async fn semantic_errors_stall_with_a_reason_and_no_remote_write() {
    let h = Harness::started().await;
    h.put_secret("cloud-no-key", &[("username", demo::CLOUD_USERNAME)])
        .await;
    h.put_secret(
        "cloud-wrong-key",
        &[
            ("username", demo::CLOUD_USERNAME),
            ("apiKey", "00000000-0000-4000-8000-0000000000ff"),
        ],
    )
    .await;
    h.put_secret("pc-read-only", &[("pat", demo::PC_PAT_READ_ONLY)])
        .await;
    let served = serve_file(an_mda(10_000)).await;
    let unreachable = closed_url().await;
    let missing_id = "00000000-0000-4000-8000-000000000000";

    // (name, manifest, reason, a hint the message must hold)
    let packages = [
        (
            "no-secret",
            cloud_build("no-secret", "does-not-exist", demo::GOOD_REVISION, "1.0.1"),
            "SecretNotFound",
            "does-not-exist",
        ),
        (
            "no-key",
            cloud_build("no-key", "cloud-no-key", demo::GOOD_REVISION, "1.0.2"),
            "SecretKeyMissing",
            "apiKey",
        ),
        (
            "wrong-key",
            cloud_build("wrong-key", "cloud-wrong-key", demo::GOOD_REVISION, "1.0.3"),
            "InvalidCredentials",
            "apiKey",
        ),
        (
            "no-scope",
            mxpkg(
                "no-scope",
                "privateCloud",
                demo::PC_APP_ID,
                "pc-read-only",
                "{build: {branch: main, revision: 93de884c, version: 1.0.5}}",
            ),
            "AccessDenied",
            "scope",
        ),
        (
            "broken-build",
            cloud_build(
                "broken-build",
                CLOUD_SECRET,
                demo::FAILING_REVISION,
                "1.0.4",
            ),
            "BuildFailed",
            "create a new MendixPackage",
        ),
        (
            "unreachable",
            mxpkg(
                "unreachable",
                "privateCloud",
                demo::PC_APP_ID,
                PC_SECRET,
                &format!("{{upload: {{url: '{unreachable}', fileName: a.mda}}}}"),
            ),
            "UploadSourceUnreachable",
            "spec.source.upload.url",
        ),
        (
            "wrong-sha",
            mxpkg(
                "wrong-sha",
                "mendixCloud",
                demo::CLOUD_APP_ID,
                CLOUD_SECRET,
                &format!(
                    "{{upload: {{url: '{served}', fileName: a.mda, sha256: {}}}}}",
                    "0".repeat(64)
                ),
            ),
            "ChecksumMismatch",
            "spec.source.upload.sha256",
        ),
        (
            "missing-package",
            mxpkg(
                "missing-package",
                "privateCloud",
                demo::PC_APP_ID,
                PC_SECRET,
                &format!("{{existing: {{packageId: {missing_id}}}}}"),
            ),
            "PackageNotFound",
            "spec.source.existing.packageId",
        ),
    ];
    for (_, manifest, _, _) in &packages {
        h.create::<MendixPackage>(manifest).await;
    }
    // A valid package of the Private Cloud app, adopted (no write), for the mismatch case.
    h.create::<MendixPackage>(&mxpkg(
        "pc-adopted",
        "privateCloud",
        demo::PC_APP_ID,
        PC_SECRET,
        &format!(
            "{{existing: {{packageId: {}}}}}",
            demo::PC_EXISTING_PACKAGE_ID
        ),
    ))
    .await;

    let cloud_id = format!("packageId: {}", demo::CLOUD_EXISTING_PACKAGE_ID);
    let pc_id = format!("packageId: {}", demo::PC_EXISTING_PACKAGE_ID);
    let environments = [
        (
            "cloud-prod",
            mxenv_cloud("cloud-prod", "Production", CLOUD_SECRET, &cloud_id, ""),
            "ProductionNotAllowed",
            "spec.production: true",
        ),
        (
            "pc-prod",
            mxenv_pc("pc-prod", demo::PC_ENVIRONMENT_PRODUCTION, &pc_id, ""),
            "ProductionNotAllowed",
            "spec.production: true",
        ),
        (
            "pc-no-env",
            mxenv_pc("pc-no-env", "no-such-env", &pc_id, ""),
            "EnvironmentNotFound",
            "spec.target.privateCloud",
        ),
        (
            "cloud-no-mode",
            mxenv_cloud("cloud-no-mode", "Staging", CLOUD_SECRET, &cloud_id, ""),
            "EnvironmentNotFound",
            "spec.target.mendixCloud",
        ),
        (
            "unknown-constant",
            mxenv_cloud(
                "unknown-constant",
                "Test",
                CLOUD_SECRET,
                &cloud_id,
                "  constants: [{name: MyFirstModule.NoSuchConstant, value: x}]\n",
            ),
            "UnknownSetting",
            "MyFirstModule.NoSuchConstant",
        ),
        (
            "pc-unknown-constant",
            mxenv_pc(
                "pc-unknown-constant",
                demo::PC_ENVIRONMENT_TEST,
                &pc_id,
                "  constants: [{name: MyFirstModule.NoSuchConstant, value: x}]\n",
            ),
            "UnknownSetting",
            "MyFirstModule.NoSuchConstant",
        ),
        (
            "on-broken",
            mxenv_cloud(
                "on-broken",
                "Acceptance",
                CLOUD_SECRET,
                "packageRef: {name: broken-build}",
                "",
            ),
            "PackageFailed",
            "reference another package",
        ),
        (
            "other-app",
            mxenv_cloud(
                "other-app",
                "Acceptance",
                CLOUD_SECRET,
                "packageRef: {name: pc-adopted}",
                "",
            ),
            "PackageTargetMismatch",
            "reference a package of this app",
        ),
        (
            "constant-secret",
            mxenv_cloud(
                "constant-secret",
                "Test",
                CLOUD_SECRET,
                &cloud_id,
                "  constants: [{name: MyFirstModule.ApiUrl, valueFrom: {secretKeyRef: {name: api-url, key: url}}}]\n",
            ),
            "SecretNotFound",
            "api-url",
        ),
        (
            "env-wrong-key",
            mxenv_cloud("env-wrong-key", "Test", "cloud-wrong-key", &cloud_id, ""),
            "InvalidCredentials",
            "apiKey",
        ),
        (
            "env-no-secret",
            mxenv_pc("env-no-secret", demo::PC_ENVIRONMENT_TEST, &pc_id, "")
                .replace(PC_SECRET, "gone"),
            "SecretNotFound",
            "gone",
        ),
    ];
    for (_, manifest, _, _) in &environments {
        h.create::<MendixEnvironment>(manifest).await;
    }

    let mut failures = Vec::new();
    for (name, _, reason, hint) in &packages {
        let p = h.wait_package(name, package_stalled).await;
        let status = p.status.expect("status");
        let (got, message) = stalled_condition(&status.conditions);
        let ready = condition(&status.conditions, "Ready").expect("Ready condition");
        if got != *reason || !message.contains(hint) || ready.status != "False" {
            failures.push(format!(
                "MendixPackage {name}: want {reason} with {hint:?}, got {got}: {message} (Ready {})",
                ready.status
            ));
        }
    }
    for (name, _, reason, hint) in &environments {
        let e = h.wait_environment(name, environment_stalled).await;
        let status = e.status.expect("status");
        let (got, message) = stalled_condition(&status.conditions);
        let ready = condition(&status.conditions, "Ready").expect("Ready condition");
        if got != *reason || !message.contains(hint) || ready.status != "False" {
            failures.push(format!(
                "MendixEnvironment {name}: want {reason} with {hint:?}, got {got}: {message} (Ready {})",
                ready.status
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(packages.len() + environments.len() >= 10);

    // Only two writes reached Mendix: the build that failed (Mendix must try it to know), and
    // the build the read-only PAT was refused (only Mendix knows a token's scopes). Neither is
    // repeated while the resources stay as they are.
    let expected = vec![("v1_build_package", 1), ("build_deployment_package", 1)];
    assert_eq!(writes(&h), expected);
    // Two more resync passes over every resource (3 s here) and the reconciles status writes
    // trigger: still nothing.
    h.wait_package("pc-adopted", package_ready).await;
    let resources = (packages.len() + environments.len() + 1) as u64;
    h.wait_reconciles(h.reconciles().await, 2 * resources).await;
    assert_eq!(writes(&h), expected, "no write after the verdicts");
}

/// The URL of an upload is chosen by whoever creates the MendixPackage: by default the operator
/// refuses addresses inside the cluster or the machine (here: loopback), and files over
/// --max-download-size, before anything is uploaded.
#[tokio::test]
async fn upload_urls_inside_the_cluster_and_oversized_files_are_refused() {
    let served = serve_file(an_mda(10_000)).await;
    for (allow_private, max, expect) in [
        (false, 1u64 << 30, "--allow-private-download-urls"),
        (true, 4096, "--max-download-size"),
    ] {
        let mut h = Harness::new().await;
        let mut config = h.config();
        config.allow_private_download_urls = allow_private;
        config.max_download_size = max;
        h.start_operator_with(config).await;
        h.create::<MendixPackage>(&mxpkg(
            "refused",
            "mendixCloud",
            demo::CLOUD_APP_ID,
            CLOUD_SECRET,
            &format!("{{upload: {{url: '{served}', fileName: app.mda}}}}"),
        ))
        .await;
        let p = h.wait_package("refused", package_stalled).await;
        let (reason, message) = stalled_condition(&p.status.expect("status").conditions);
        assert_eq!(reason, "UploadSourceUnreachable", "{message}");
        assert!(
            message.contains(expect) && message.contains("spec.source.upload.url"),
            "{message}"
        );
        assert_eq!(writes(&h), vec![], "nothing was uploaded");
    }
}
