//! Typed Mendix errors. Every documented error code maps to a class that tells the caller what
//! to do: retry later (Transient), handle the remote state (StateConflict), or stop and ask a
//! person (Terminal). Messages never carry credentials or signed URLs.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::api::Api;

/// What a caller should do about an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Retry with backoff (5xx, 429, 503 "still being processed", timeouts, connection errors).
    Transient,
    /// The remote state forbids the request now (e.g. `APP_IS_RUNNING`): the caller decides.
    StateConflict,
    /// Retrying will not help: invalid input, not found, no access, failed build.
    Terminal,
}

impl ErrorClass {
    pub fn label(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::StateConflict => "state_conflict",
            ErrorClass::Terminal => "terminal",
        }
    }
}

/// Every error code documented for the Mendix Cloud v1 Build and Deploy APIs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum V1ErrorCode {
    // Invalid input.
    InvalidAppid,
    InvalidParameters,
    InvalidVersion,
    InvalidEnvironment,
    InvalidRuntimeVersion,
    InvalidProjectid,
    ApplicationAlreadyExists,
    ConstantNotFound,
    CustomSettingNotSupported,
    ScheduledEventNotFound,
    InvalidScheduledEventParameter,
    InvalidRequest,
    NotAllowed,
    InvalidPackage,
    PackageParseFailed,
    // Not found / no access.
    AppNotFound,
    PackageNotFound,
    EnvironmentNotFound,
    NoSuchStartjob,
    NotFound,
    NoAccess,
    Forbidden,
    TransportNotAllowed,
    // Failures that need a person (build, start-up, support).
    BuildFailed,
    DbSyncFailed,
    InvalidDbStructure,
    MissingConstant,
    InsecureAdminPassword,
    StartupActionFailed,
    StartFailed,
    EnvironmentCleanFailed,
    // The remote state forbids the request now; the caller handles it.
    AppIsRunning,
    AlreadyStarted,
    AppAlreadyHasAStartingJob,
    AlreadyLocked,
    PackageInUse,
    EnvironmentNotStopped,
    EnvironmentNotDeployed,
    NoMdaHasBeenDeployed,
    NoPackage,
    BuildNotSucceeded,
    // Temporary conditions on Mendix's side.
    ServiceUnavailable,
    StopFailed,
    UploadCopyFailed,
}

/// Each code as the docs spell it (spaces as underscores) and its class.
const V1_CODES: &[(V1ErrorCode, &str, ErrorClass)] = &[
    // Invalid input.
    (
        V1ErrorCode::InvalidAppid,
        "INVALID_APPID",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::InvalidParameters,
        "INVALID_PARAMETERS",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::InvalidVersion,
        "INVALID_VERSION",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::InvalidEnvironment,
        "INVALID_ENVIRONMENT",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::InvalidRuntimeVersion,
        "INVALID_RUNTIME_VERSION",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::InvalidProjectid,
        "INVALID_PROJECTID",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::ApplicationAlreadyExists,
        "APPLICATION_ALREADY_EXISTS",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::ConstantNotFound,
        "CONSTANT_NOT_FOUND",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::CustomSettingNotSupported,
        "CUSTOM_SETTING_NOT_SUPPORTED",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::ScheduledEventNotFound,
        "SCHEDULED_EVENT_NOT_FOUND",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::InvalidScheduledEventParameter,
        "INVALID_SCHEDULED_EVENT_PARAMETER",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::InvalidRequest,
        "INVALID_REQUEST",
        ErrorClass::Terminal,
    ),
    (V1ErrorCode::NotAllowed, "NOT_ALLOWED", ErrorClass::Terminal),
    (
        V1ErrorCode::InvalidPackage,
        "INVALID_PACKAGE",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::PackageParseFailed,
        "PACKAGE_PARSE_FAILED",
        ErrorClass::Terminal,
    ),
    // Not found / no access.
    (
        V1ErrorCode::AppNotFound,
        "APP_NOT_FOUND",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::PackageNotFound,
        "PACKAGE_NOT_FOUND",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::EnvironmentNotFound,
        "ENVIRONMENT_NOT_FOUND",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::NoSuchStartjob,
        "NO_SUCH_STARTJOB",
        ErrorClass::Terminal,
    ),
    (V1ErrorCode::NotFound, "NOT_FOUND", ErrorClass::Terminal),
    (V1ErrorCode::NoAccess, "NO_ACCESS", ErrorClass::Terminal),
    (V1ErrorCode::Forbidden, "FORBIDDEN", ErrorClass::Terminal),
    (
        V1ErrorCode::TransportNotAllowed,
        "TRANSPORT_NOT_ALLOWED",
        ErrorClass::Terminal,
    ),
    // Failures that need a person (build, start-up, support).
    (
        V1ErrorCode::BuildFailed,
        "BUILD_FAILED",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::DbSyncFailed,
        "DB_SYNC_FAILED",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::InvalidDbStructure,
        "INVALID_DB_STRUCTURE",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::MissingConstant,
        "MISSING_CONSTANT",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::InsecureAdminPassword,
        "INSECURE_ADMIN_PASSWORD",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::StartupActionFailed,
        "STARTUP_ACTION_FAILED",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::StartFailed,
        "START_FAILED",
        ErrorClass::Terminal,
    ),
    (
        V1ErrorCode::EnvironmentCleanFailed,
        "ENVIRONMENT_CLEAN_FAILED",
        ErrorClass::Terminal,
    ),
    // The remote state forbids the request now; the caller handles it.
    (
        V1ErrorCode::AppIsRunning,
        "APP_IS_RUNNING",
        ErrorClass::StateConflict,
    ),
    (
        V1ErrorCode::AlreadyStarted,
        "ALREADY_STARTED",
        ErrorClass::StateConflict,
    ),
    (
        V1ErrorCode::AppAlreadyHasAStartingJob,
        "APP_ALREADY_HAS_A_STARTING_JOB",
        ErrorClass::StateConflict,
    ),
    (
        V1ErrorCode::AlreadyLocked,
        "ALREADY_LOCKED",
        ErrorClass::StateConflict,
    ),
    (
        V1ErrorCode::PackageInUse,
        "PACKAGE_IN_USE",
        ErrorClass::StateConflict,
    ),
    (
        V1ErrorCode::EnvironmentNotStopped,
        "ENVIRONMENT_NOT_STOPPED",
        ErrorClass::StateConflict,
    ),
    (
        V1ErrorCode::EnvironmentNotDeployed,
        "ENVIRONMENT_NOT_DEPLOYED",
        ErrorClass::StateConflict,
    ),
    (
        V1ErrorCode::NoMdaHasBeenDeployed,
        "NO_MDA_HAS_BEEN_DEPLOYED",
        ErrorClass::StateConflict,
    ),
    (
        V1ErrorCode::NoPackage,
        "NO_PACKAGE",
        ErrorClass::StateConflict,
    ),
    (
        V1ErrorCode::BuildNotSucceeded,
        "BUILD_NOT_SUCCEEDED",
        ErrorClass::StateConflict,
    ),
    // Temporary conditions on Mendix's side.
    (
        V1ErrorCode::ServiceUnavailable,
        "SERVICE_UNAVAILABLE",
        ErrorClass::Transient,
    ),
    (
        V1ErrorCode::StopFailed,
        "STOP_FAILED",
        ErrorClass::Transient,
    ),
    (
        V1ErrorCode::UploadCopyFailed,
        "UPLOAD_COPY_FAILED",
        ErrorClass::Transient,
    ),
];

impl V1ErrorCode {
    /// The code for Mendix's spelling. Compared after upper-casing and turning spaces into
    /// underscores, because the docs spell some with a space (`NOT ALLOWED`, `NOT FOUND`).
    pub fn parse(code: &str) -> Option<Self> {
        let canonical = code.trim().to_ascii_uppercase().replace([' ', '-'], "_");
        V1_CODES
            .iter()
            .find(|(_, known, _)| *known == canonical)
            .map(|(variant, _, _)| *variant)
    }

    /// The canonical spelling, e.g. `APP_IS_RUNNING`.
    pub fn as_str(self) -> &'static str {
        self.entry().1
    }

    pub fn class(self) -> ErrorClass {
        self.entry().2
    }

    fn entry(self) -> &'static (V1ErrorCode, &'static str, ErrorClass) {
        match V1_CODES.iter().find(|(variant, _, _)| *variant == self) {
            Some(entry) => entry,
            None => unreachable!("V1_CODES lists every variant (checked by a unit test)"),
        }
    }
}

/// The documented v1 code in canonical form (`NOT ALLOWED` → `NOT_ALLOWED`), if documented.
pub fn documented_v1_code(code: &str) -> Option<(&'static str, ErrorClass)> {
    V1ErrorCode::parse(code).map(|c| (c.as_str(), c.class()))
}

/// The class of an HTTP error answer: a documented code decides first (v1 answers 500 for
/// terminal and state errors alike); otherwise the status does.
pub fn classify(status: StatusCode, code: Option<&str>) -> ErrorClass {
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        return ErrorClass::Transient;
    }
    if let Some((_, class)) = code.and_then(documented_v1_code) {
        return class;
    }
    match status.as_u16() {
        408 | 425 | 429 => ErrorClass::Transient,
        409 => ErrorClass::StateConflict,
        500..=599 => ErrorClass::Transient,
        _ => ErrorClass::Terminal,
    }
}

/// An error from a Mendix API call.
#[derive(Debug, thiserror::Error)]
pub enum MendixError {
    /// Mendix answered with an error status.
    #[error("{api} {operation}: HTTP {status}{}: {message}", code.as_ref().map(|c| format!(" {c}")).unwrap_or_default())]
    Api {
        api: Api,
        operation: &'static str,
        status: StatusCode,
        /// Mendix's error code (v1 `errorCode`); v4 answers carry only the HTTP status.
        code: Option<String>,
        message: String,
        class: ErrorClass,
        retry_after: Option<Duration>,
    },
    /// No answer within the configured timeout.
    #[error("{api} {operation}: no answer within {timeout:?}; the request will be retried later")]
    Timeout {
        api: Api,
        operation: &'static str,
        timeout: Duration,
    },
    /// The connection failed or broke (refused, reset, TLS, DNS).
    #[error("{api} {operation}: connection failed: {detail}")]
    Connection {
        api: Api,
        operation: &'static str,
        detail: String,
        /// No connection was established, so Mendix cannot have seen the request.
        not_sent: bool,
    },
    /// Mendix answered 2xx with a body that does not match the documented shape.
    #[error("{api} {operation}: unexpected response body: {detail}")]
    Decode {
        api: Api,
        operation: &'static str,
        detail: String,
    },
    /// The request could not be built from the given input (caller's mistake).
    #[error("{api} {operation}: invalid {field}: {reason}")]
    InvalidInput {
        api: Api,
        operation: &'static str,
        field: &'static str,
        reason: String,
    },
    /// A downloaded file does not have the expected SHA-256.
    #[error(
        "{api}: SHA-256 of the downloaded file is {actual}, expected {expected}; check `sha256` or the file at the URL"
    )]
    ChecksumMismatch {
        api: Api,
        expected: String,
        actual: String,
    },
    /// Reading or writing a local file failed.
    #[error("{api} {operation}: {context}: {source}")]
    Io {
        api: Api,
        operation: &'static str,
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl MendixError {
    pub fn class(&self) -> ErrorClass {
        match self {
            MendixError::Api { class, .. } => *class,
            MendixError::Timeout { .. }
            | MendixError::Connection { .. }
            | MendixError::Decode { .. }
            | MendixError::Io { .. } => ErrorClass::Transient,
            MendixError::InvalidInput { .. } | MendixError::ChecksumMismatch { .. } => {
                ErrorClass::Terminal
            }
        }
    }

    /// Mendix's error code, e.g. `APP_IS_RUNNING`.
    pub fn code(&self) -> Option<&str> {
        match self {
            MendixError::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Mendix's code as a [`V1ErrorCode`], when it is a documented one.
    pub fn v1_code(&self) -> Option<V1ErrorCode> {
        self.code().and_then(V1ErrorCode::parse)
    }

    /// The HTTP status of an error answer.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            MendixError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// How long Mendix asked to wait (`Retry-After`), when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            MendixError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn api(&self) -> Api {
        match self {
            MendixError::Api { api, .. }
            | MendixError::Timeout { api, .. }
            | MendixError::Connection { api, .. }
            | MendixError::Decode { api, .. }
            | MendixError::InvalidInput { api, .. }
            | MendixError::ChecksumMismatch { api, .. }
            | MendixError::Io { api, .. } => *api,
        }
    }

    pub fn is_transient(&self) -> bool {
        self.class() == ErrorClass::Transient
    }

    /// Whether Mendix may have carried out the request although it failed: a timeout, a
    /// connection broken after sending, an unreadable 2xx answer, or an unexplained 5xx from
    /// a gateway. Before repeating a write that must not happen twice (a build, an upload, a
    /// start), the caller should look at the remote state first.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            MendixError::Timeout { .. } | MendixError::Decode { .. } => true,
            MendixError::Connection { not_sent, .. } => !not_sent,
            MendixError::Api { status, code, .. } => {
                status.is_server_error()
                    && *status != StatusCode::SERVICE_UNAVAILABLE
                    && code.as_deref().and_then(V1ErrorCode::parse).is_none()
            }
            MendixError::InvalidInput { .. }
            | MendixError::ChecksumMismatch { .. }
            | MendixError::Io { .. } => false,
        }
    }

    /// 404: the app, environment, package or job does not exist (any more).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// 401/403 without a documented state code: the credentials are wrong or lack a permission.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self.status(), Some(s) if s == StatusCode::UNAUTHORIZED || s == StatusCode::FORBIDDEN)
            && self.class() == ErrorClass::Terminal
            && !matches!(
                self.code().and_then(documented_v1_code),
                Some(("NOT_ALLOWED", _))
            )
    }

    /// Short, bounded label for metrics and logs: the documented code in lower case, else
    /// `http_<status>` or the failure kind.
    pub fn metric_label(&self) -> String {
        match self {
            MendixError::Api { status, code, .. } => {
                match code.as_deref().and_then(documented_v1_code) {
                    Some((known, _)) => known.to_ascii_lowercase(),
                    None => format!("http_{}", status.as_u16()),
                }
            }
            MendixError::Timeout { .. } => "timeout".into(),
            MendixError::Connection { .. } => "connection".into(),
            MendixError::Decode { .. } => "decode".into(),
            MendixError::InvalidInput { .. } => "invalid_input".into(),
            MendixError::ChecksumMismatch { .. } => "checksum_mismatch".into(),
            MendixError::Io { .. } => "io".into(),
        }
    }
}

/// Longest server message kept in an error (error bodies can be whole HTML pages).
const MAX_MESSAGE: usize = 500;

/// Mendix error body fields, read leniently: v1 answers `{"errorCode", "errorMessage"}`
/// (spelling varies), v4 answers `{"error": {"code": <status>, "message", "invalid-params"}}`.
#[derive(Debug, Default, PartialEq)]
pub struct ErrorBody {
    pub code: Option<String>,
    pub message: Option<String>,
}

pub fn parse_error_body(body: &[u8]) -> ErrorBody {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body).trim().to_string();
        return ErrorBody {
            code: None,
            message: (!text.is_empty()).then_some(text),
        };
    };
    let object = match &value {
        Value::Object(map) => match map.get("error") {
            Some(inner @ Value::Object(_)) => inner,
            _ => &value,
        },
        _ => &value,
    };
    let field = |names: &[&str]| -> Option<&Value> {
        let map = object.as_object()?;
        map.iter()
            .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
            .map(|(_, v)| v)
    };
    // Only a string is a Mendix code: v4's numeric `code` repeats the HTTP status.
    let code = field(&["errorCode", "error_code", "code"])
        .and_then(Value::as_str)
        .map(str::to_string)
        .filter(|c| !c.is_empty());
    let mut message = field(&["errorMessage", "error_message", "message", "detail"])
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(Value::Array(params)) = field(&["invalid-params", "invalidParams"]) {
        let reasons: Vec<String> = params
            .iter()
            .filter_map(|p| {
                let name = p.get("name").and_then(Value::as_str).unwrap_or("");
                let reason = p.get("reason").and_then(Value::as_str)?;
                Some(if name.is_empty() {
                    reason.to_string()
                } else {
                    format!("{name}: {reason}")
                })
            })
            .collect();
        if !reasons.is_empty() {
            let joined = reasons.join("; ");
            message = Some(match message {
                Some(m) => format!("{m} ({joined})"),
                None => joined,
            });
        }
    }
    if message.is_none() && code.is_none() {
        message = Some(String::from_utf8_lossy(body).trim().to_string());
    }
    ErrorBody { code, message }
}

/// Removes every secret from a server-supplied text and bounds its length.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "<redacted>");
    }
    if out.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// Builds the typed error for an HTTP error answer.
pub fn from_error_response(
    api: Api,
    operation: &'static str,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    secrets: &[&str],
) -> MendixError {
    let parsed = parse_error_body(body);
    let code = if api.is_v1() {
        parsed.code.map(|c| scrub(&c, secrets))
    } else {
        None
    };
    let message = parsed
        .message
        .filter(|m| !m.is_empty())
        .map(|m| scrub(&m, secrets))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    MendixError::Api {
        api,
        operation,
        status,
        class: classify(status, code.as_deref()),
        code,
        message,
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(status: u16, body: &str) -> MendixError {
        from_error_response(
            Api::CloudDeployV1,
            "transport",
            StatusCode::from_u16(status).unwrap(),
            None,
            body.as_bytes(),
            &["sekret-api-key"],
        )
    }

    #[test]
    fn every_documented_v1_code_has_its_class() {
        let cases = [
            (403, "APP_IS_RUNNING", ErrorClass::StateConflict),
            (500, "ALREADY_STARTED", ErrorClass::StateConflict),
            (
                500,
                "APP_ALREADY_HAS_A_STARTING_JOB",
                ErrorClass::StateConflict,
            ),
            (409, "PACKAGE_IN_USE", ErrorClass::StateConflict),
            (403, "ENVIRONMENT_NOT_STOPPED", ErrorClass::StateConflict),
            (422, "ENVIRONMENT_NOT_DEPLOYED", ErrorClass::StateConflict),
            (500, "BUILD_FAILED", ErrorClass::Terminal),
            (500, "MISSING_CONSTANT", ErrorClass::Terminal),
            (500, "DB_SYNC_FAILED", ErrorClass::Terminal),
            (400, "INVALID_VERSION", ErrorClass::Terminal),
            (404, "PACKAGE_NOT_FOUND", ErrorClass::Terminal),
            (403, "NOT ALLOWED", ErrorClass::Terminal),
            (404, "NOT FOUND", ErrorClass::Terminal),
            (503, "SERVICE UNAVAILABLE", ErrorClass::Transient),
            (500, "STOP_FAILED", ErrorClass::Transient),
        ];
        for (status, code, class) in cases {
            let body = format!(r#"{{"errorCode":"{code}","errorMessage":"m"}}"#);
            let err = v1(status, &body);
            assert_eq!(err.class(), class, "{code}");
            assert_eq!(err.code(), Some(code));
            assert_eq!(err.status().map(|s| s.as_u16()), Some(status));
        }
    }

    #[test]
    fn the_code_table_is_consistent() {
        for (variant, code, class) in V1_CODES {
            assert_eq!(V1ErrorCode::parse(code), Some(*variant));
            assert_eq!(variant.as_str(), *code);
            assert_eq!(variant.class(), *class);
        }
        let unique: std::collections::HashSet<_> = V1_CODES.iter().map(|(v, _, _)| v).collect();
        assert_eq!(unique.len(), V1_CODES.len(), "each variant once");
        assert_eq!(
            V1ErrorCode::parse("not allowed"),
            Some(V1ErrorCode::NotAllowed)
        );
        assert_eq!(V1ErrorCode::parse("SOMETHING_ELSE"), None);
    }

    #[test]
    fn status_decides_without_a_documented_code() {
        assert_eq!(v1(500, "oops").class(), ErrorClass::Transient);
        assert_eq!(v1(502, "").class(), ErrorClass::Transient);
        assert_eq!(v1(429, "{}").class(), ErrorClass::Transient);
        assert_eq!(v1(400, "{}").class(), ErrorClass::Terminal);
        assert_eq!(v1(401, "{}").class(), ErrorClass::Terminal);
        assert_eq!(v1(409, "{}").class(), ErrorClass::StateConflict);
        // 503 is transient even with a code that is otherwise terminal.
        assert_eq!(
            v1(503, r#"{"errorCode":"BUILD_FAILED"}"#).class(),
            ErrorClass::Transient
        );
    }

    #[test]
    fn ambiguous_failures_are_flagged() {
        assert!(v1(502, "").outcome_unknown());
        assert!(v1(500, r#"{"errorCode":"SOMETHING_NEW"}"#).outcome_unknown());
        assert!(!v1(500, r#"{"errorCode":"BUILD_FAILED"}"#).outcome_unknown());
        assert!(!v1(503, "").outcome_unknown(), "503: not processed");
        assert!(!v1(429, "").outcome_unknown());
        assert!(!v1(400, "").outcome_unknown());
        let timeout = MendixError::Timeout {
            api: Api::CloudBuildV1,
            operation: "build_package",
            timeout: Duration::from_secs(1),
        };
        assert!(timeout.outcome_unknown());
        let refused = MendixError::Connection {
            api: Api::CloudBuildV1,
            operation: "build_package",
            detail: String::new(),
            not_sent: true,
        };
        assert!(!refused.outcome_unknown());
    }

    #[test]
    fn metric_labels_are_bounded() {
        assert_eq!(
            v1(403, r#"{"errorCode":"APP_IS_RUNNING"}"#).metric_label(),
            "app_is_running"
        );
        assert_eq!(
            v1(403, r#"{"errorCode":"NOT ALLOWED"}"#).metric_label(),
            "not_allowed"
        );
        assert_eq!(
            v1(418, r#"{"errorCode":"SOMETHING_NEW_12345"}"#).metric_label(),
            "http_418"
        );
    }

    #[test]
    fn v4_error_bodies_are_read_leniently() {
        let body = r#"{"error":{"code":404,"message":"App not found","invalid-params":[{"name":"Validation","reason":"App x could not be found"}]}}"#;
        let err = from_error_response(
            Api::PrivateCloudBuildV4,
            "get_package",
            StatusCode::NOT_FOUND,
            None,
            body.as_bytes(),
            &[],
        );
        assert_eq!(err.code(), None);
        assert!(err.is_not_found());
        let text = err.to_string();
        assert!(text.contains("App not found"), "{text}");
        assert!(
            text.contains("Validation: App x could not be found"),
            "{text}"
        );
    }

    #[test]
    fn secrets_in_server_messages_are_scrubbed() {
        let err = v1(
            401,
            r#"{"errorCode":"UNAUTHORIZED","errorMessage":"bad key sekret-api-key"}"#,
        );
        assert!(!err.to_string().contains("sekret-api-key"));
        assert!(!format!("{err:?}").contains("sekret-api-key"));
        assert!(err.is_unauthorized());
    }

    #[test]
    fn long_html_bodies_are_truncated() {
        let html = format!("<html>{}</html>", "x".repeat(5000));
        let err = v1(502, &html);
        assert!(err.to_string().len() < 700);
    }
}
