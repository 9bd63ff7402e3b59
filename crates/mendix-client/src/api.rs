//! Which remote API a request belongs to: used in errors, metrics and the limiter.

use std::fmt;

/// One of the four Mendix APIs (plus plain downloads of package files).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    CloudBuildV1,
    CloudDeployV1,
    PrivateCloudBuildV4,
    PrivateCloudDeployV4,
    /// A download from a pre-signed or user-given URL (no Mendix credentials sent).
    Download,
}

impl Api {
    /// Short, stable label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Api::CloudBuildV1 => "cloud_build_v1",
            Api::CloudDeployV1 => "cloud_deploy_v1",
            Api::PrivateCloudBuildV4 => "pc_build_v4",
            Api::PrivateCloudDeployV4 => "pc_deploy_v4",
            Api::Download => "download",
        }
    }

    /// Whether error bodies follow the v1 shape (`errorCode`) rather than v4 (`error.code`).
    pub(crate) fn is_v1(self) -> bool {
        matches!(self, Api::CloudBuildV1 | Api::CloudDeployV1)
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Api::CloudBuildV1 => "Mendix Cloud Build API v1",
            Api::CloudDeployV1 => "Mendix Cloud Deploy API v1",
            Api::PrivateCloudBuildV4 => "Private Cloud Build API v4",
            Api::PrivateCloudDeployV4 => "Private Cloud Deploy API v4",
            Api::Download => "package download",
        })
    }
}
