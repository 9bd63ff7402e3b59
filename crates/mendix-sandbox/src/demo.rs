//! The built-in demo state: used when `mendix-sandbox` runs without `--state`, and by tests
//! everywhere through these constants.
//!
//! - Mendix Cloud: user [`CLOUD_USERNAME`] with API key [`CLOUD_API_KEY`]; app [`CLOUD_APP_ID`]
//!   with environments `Test`, `Acceptance` and `Production` (the last marked production), all
//!   stopped with [`CLOUD_EXISTING_PACKAGE_ID`] deployed; constants `MyFirstModule.BooleanConstant`
//!   and `MyFirstModule.ApiUrl` with values, scheduled event `MyFirstModule.Monitor_Scheduled_event`.
//! - Private Cloud: PATs [`PC_PAT`] (all scopes) and [`PC_PAT_READ_ONLY`] (read scopes only);
//!   app [`PC_APP_ID`] on cluster [`PC_CLUSTER_ID`], namespace [`PC_NAMESPACE_ID`], with
//!   environments [`PC_ENVIRONMENT_TEST`] and [`PC_ENVIRONMENT_PRODUCTION`] (production), running
//!   [`PC_EXISTING_PACKAGE_ID`].
//! - Both apps share the repository: branch [`GOOD_BRANCH`] with revisions [`GOOD_REVISION`]
//!   (builds) and [`FAILING_REVISION`] (fails to build).

pub const CLOUD_USERNAME: &str = "richard.ford51@example.com";
pub const CLOUD_API_KEY: &str = "26587896-1cef-4483-accf-ad304e2673d6";
pub const CLOUD_APP_ID: &str = "calc";

pub const PC_PAT: &str = "sandbox-pat-all-scopes-7f3c9e21b5d84a06";
pub const PC_PAT_READ_ONLY: &str = "sandbox-pat-read-only-2b8e4d17c6a95f30";
pub const PC_APP_ID: &str = "c533ee0b-f7db-4e62-868b-1192d392ccec";
pub const PC_CLUSTER_ID: &str = "1f2d2a1c-4e3b-4b5a-9c8d-7e6f5a4b3c2d";
pub const PC_NAMESPACE_ID: &str = "6b1e0f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b";
pub const PC_ENVIRONMENT_TEST: &str = "calc-test";
pub const PC_ENVIRONMENT_PRODUCTION: &str = "calc-prod";

pub const GOOD_BRANCH: &str = "main";
pub const GOOD_REVISION: &str = "93de884c";
pub const FAILING_REVISION: &str = "badc0ffe";

pub const CLOUD_EXISTING_PACKAGE_ID: &str = "4ee10492-6cfc-4582-b825-a9040c0988ad";
pub const PC_EXISTING_PACKAGE_ID: &str = "905ba2c3-4424-48b8-b4b0-393eedd4cd1e";
