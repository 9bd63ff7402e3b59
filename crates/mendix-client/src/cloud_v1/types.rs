//! Wire types of the Mendix Cloud Build and Deploy API v1, field names exactly as documented
//! (PascalCase). Answers are read leniently: fields the docs list may be missing or null.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::credentials::SignedUrl;

/// Build status of a package (`Status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PackageStatus {
    Queued,
    Building,
    Uploading,
    Succeeded,
    Failed,
    /// A value the docs do not list.
    #[serde(other)]
    Unknown,
}

/// A deployment package (Retrieve Package(s), Retrieve Environment Package).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Package {
    #[serde(rename = "PackageId")]
    pub package_id: String,
    #[serde(rename = "Name", default)]
    pub name: Option<String>,
    #[serde(rename = "Description", default)]
    pub description: Option<String>,
    #[serde(rename = "Version", default)]
    pub version: Option<String>,
    #[serde(rename = "Creator", default)]
    pub creator: Option<String>,
    /// Milliseconds since the Unix epoch.
    #[serde(rename = "CreationDate", default)]
    pub creation_date: Option<i64>,
    #[serde(rename = "ExpiryDate", default)]
    pub expiry_date: Option<i64>,
    #[serde(rename = "Status", default = "unknown_status")]
    pub status: PackageStatus,
    /// Bytes.
    #[serde(rename = "Size", default)]
    pub size: Option<i64>,
    /// Present with `?url=true`.
    #[serde(rename = "Url", default, skip_serializing_if = "Option::is_none")]
    pub url: Option<PackageUrl>,
}

fn unknown_status() -> PackageStatus {
    PackageStatus::Unknown
}

/// A time-limited download location.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackageUrl {
    #[serde(rename = "Location")]
    pub location: SignedUrl,
    /// Seconds the URL stays valid.
    #[serde(rename = "TTL", default)]
    pub ttl: Option<u64>,
}

/// Start Building Deployment Package payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildRequest {
    /// `trunk`/`main` for the main line or `branches/<name>`.
    #[serde(rename = "Branch")]
    pub branch: String,
    /// SVN revision number or Git commit hash (short or full).
    #[serde(rename = "Revision")]
    pub revision: String,
    /// `major.minor.patch`; also the tag name on the team server.
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "Description")]
    pub description: String,
}

/// Answer of Start Building Deployment Package and Upload Package.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackageRef {
    #[serde(rename = "PackageId")]
    pub package_id: String,
}

/// An app (Retrieve Apps / App).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct App {
    #[serde(rename = "AppId")]
    pub app_id: String,
    #[serde(rename = "Name", default)]
    pub name: Option<String>,
    #[serde(rename = "ProjectId", default)]
    pub project_id: Option<String>,
    #[serde(rename = "Url", default)]
    pub url: Option<String>,
}

/// Run state of an environment (`Status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnvironmentStatus {
    Empty,
    Stopped,
    Running,
    /// A value the docs do not list (e.g. `NotRunning`, `Starting`).
    #[serde(other)]
    Unknown,
}

/// An environment (Retrieve Environment(s); Scale answers with the same shape plus sizes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    #[serde(rename = "Status", default = "unknown_env_status")]
    pub status: EnvironmentStatus,
    #[serde(rename = "EnvironmentId", default)]
    pub environment_id: Option<String>,
    #[serde(rename = "Url", default)]
    pub url: Option<String>,
    /// `Test`, `Acceptance`, `Production` or the name of a flexible environment.
    #[serde(rename = "Mode", default)]
    pub mode: Option<String>,
    #[serde(rename = "ModelVersion", default)]
    pub model_version: Option<String>,
    #[serde(rename = "MendixVersion", default)]
    pub mendix_version: Option<String>,
    #[serde(rename = "Production", default)]
    pub production: Option<bool>,
    #[serde(rename = "Instances", default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<u32>,
    /// MB.
    #[serde(
        rename = "MemoryPerInstance",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub memory_per_instance: Option<u32>,
    /// MB.
    #[serde(
        rename = "TotalMemory",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub total_memory: Option<u32>,
}

fn unknown_env_status() -> EnvironmentStatus {
    EnvironmentStatus::Unknown
}

/// Start Environment payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartRequest {
    #[serde(rename = "AutoSyncDb")]
    pub auto_sync_db: bool,
}

/// Answer of Start Environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartJob {
    #[serde(rename = "JobId")]
    pub job_id: String,
}

/// State of a start job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartJobStatus {
    Starting,
    Started,
    #[serde(other)]
    Unknown,
}

/// Answer of Get Start Environment Status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartJobState {
    #[serde(rename = "Status")]
    pub status: StartJobStatus,
}

/// Transport payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransportRequest {
    #[serde(rename = "PackageId")]
    pub package_id: String,
}

/// Environment settings (Retrieve / Set Environment Settings). Set takes the same document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    #[serde(rename = "Constants", default, deserialize_with = "null_as_empty")]
    pub constants: Vec<Constant>,
    #[serde(rename = "CustomSettings", default, deserialize_with = "null_as_empty")]
    pub custom_settings: Vec<CustomSetting>,
    #[serde(
        rename = "ScheduledEvents",
        default,
        deserialize_with = "null_as_empty"
    )]
    pub scheduled_events: Vec<ScheduledEvent>,
}

/// A model constant: `Value` is the configured value, `DeployedValue` the one the running app
/// uses (they differ until the next restart). Values may be secrets: `Debug` never shows them.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Constant {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "DataType", default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
    #[serde(rename = "Value", default)]
    pub value: Option<String>,
    #[serde(rename = "DeployedValue", default)]
    pub deployed_value: Option<String>,
}

impl std::fmt::Debug for Constant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Constant")
            .field("name", &self.name)
            .field("data_type", &self.data_type)
            .field("value", &self.value.as_ref().map(|_| "<redacted>"))
            .field(
                "deployed_value",
                &self.deployed_value.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomSetting {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Value", default)]
    pub value: Option<String>,
}

/// A scheduled event: `Value` is `Enabled` or `Disabled`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduledEvent {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Value", default)]
    pub value: Option<String>,
    #[serde(rename = "DeployedValue", default)]
    pub deployed_value: Option<String>,
}

/// Scale payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScaleRequest {
    #[serde(rename = "Instances")]
    pub instances: u32,
    /// MB per instance (at least 1024).
    #[serde(rename = "MemoryPerInstance")]
    pub memory_per_instance: u32,
}

/// Create / Delete Environment Tag payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TagRequest {
    #[serde(rename = "Tag")]
    pub tag: String,
}

/// Answer of the log download calls. `DownloadUrl` is pre-signed: a secret for its lifetime.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogDownload {
    #[serde(rename = "Environment", default)]
    pub environment: Option<String>,
    /// Milliseconds since the Unix epoch.
    #[serde(rename = "Date", default)]
    pub date: Option<i64>,
    #[serde(rename = "DownloadUrl")]
    pub download_url: SignedUrl,
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// Environment tags. The docs show `{"Tag": "A"}` for one tag, and a list (`[]`) elsewhere; all
/// shapes seen are accepted: a list of strings, a list of `{"Tag"}`, one `{"Tag"}`, or `{"Tags"}`.
pub fn parse_tags(value: &Value) -> Option<Vec<String>> {
    fn one(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Object(map) => map.get("Tag").and_then(Value::as_str).map(str::to_string),
            _ => None,
        }
    }
    match value {
        Value::Null => Some(Vec::new()),
        Value::Array(items) => items.iter().map(one).collect(),
        Value::Object(map) => match map.get("Tags") {
            Some(tags) => parse_tags(tags),
            None => one(value).map(|t| vec![t]),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn package_reads_the_documented_example() {
        let p: Package = serde_json::from_value(json!({
            "Name": "Main line-2.5.4.63.mda", "Status": "Succeeded", "Description": "Add scientific mode",
            "Creator": "Richard Ford", "CreationDate": 1404990271835u64, "Version": "2.5.4.63",
            "PackageId": "b3d14e53-2654-4534-b374-9179a69ef3cf", "Size": 15342295,
            "Url": {"Location": "https://url/to/download/the/package/file", "TTL": 900}
        }))
        .unwrap();
        assert_eq!(p.status, PackageStatus::Succeeded);
        assert_eq!(p.size, Some(15342295));
        let url = p.url.unwrap();
        assert_eq!(url.ttl, Some(900));
        assert_eq!(
            url.location.expose(),
            "https://url/to/download/the/package/file"
        );
        let odd: Package =
            serde_json::from_value(json!({"PackageId": "x", "Status": "Archived"})).unwrap();
        assert_eq!(odd.status, PackageStatus::Unknown);
    }

    #[test]
    fn requests_use_documented_field_names() {
        let body = serde_json::to_value(BuildRequest {
            branch: "branches/feature".into(),
            revision: "63".into(),
            version: "2.5.4".into(),
            description: "Add scientific mode".into(),
        })
        .unwrap();
        assert_eq!(
            body,
            json!({"Branch": "branches/feature", "Revision": "63", "Version": "2.5.4", "Description": "Add scientific mode"})
        );
        assert_eq!(
            serde_json::to_value(ScaleRequest {
                instances: 2,
                memory_per_instance: 2048
            })
            .unwrap(),
            json!({"Instances": 2, "MemoryPerInstance": 2048})
        );
        assert_eq!(
            serde_json::to_value(StartRequest { auto_sync_db: true }).unwrap(),
            json!({"AutoSyncDb": true})
        );
        assert_eq!(
            serde_json::to_value(TransportRequest {
                package_id: "p".into()
            })
            .unwrap(),
            json!({"PackageId": "p"})
        );
        assert_eq!(
            serde_json::to_value(TagRequest {
                tag: "europe".into()
            })
            .unwrap(),
            json!({"Tag": "europe"})
        );
    }

    #[test]
    fn settings_round_trip_the_documented_example() {
        let doc = json!({
            "Constants": [{"Name": "MyFirstModule.BooleanConstant", "DataType": "_Boolean", "Value": "false", "DeployedValue": "false"}],
            "CustomSettings": [],
            "ScheduledEvents": [{"Name": "MyFirstModule.Monitor_Scheduled_event", "DeployedValue": "Disabled", "Value": "Disabled"}]
        });
        let settings: Settings = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(serde_json::to_value(&settings).unwrap(), doc);
        let nulls: Settings = serde_json::from_value(json!({"Constants": null})).unwrap();
        assert!(nulls.constants.is_empty());
    }

    #[test]
    fn tags_in_every_shape() {
        assert_eq!(
            parse_tags(&json!({"Tag": "A"})),
            Some(vec!["A".to_string()])
        );
        assert_eq!(parse_tags(&json!([])), Some(vec![]));
        assert_eq!(
            parse_tags(&json!(["a", {"Tag": "b"}])),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(parse_tags(&json!({"Tags": ["x"]})), Some(vec!["x".into()]));
        assert_eq!(parse_tags(&json!(5)), None);
    }
}
