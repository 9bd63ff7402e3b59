//! The error bodies of both API generations.
//!
//! - v1: `{"errorCode": "APP_NOT_FOUND", "errorMessage": "App not found"}`; codes and messages
//!   are the docs' tables, verbatim (including codes with a space, like `NOT FOUND`).
//! - v4: the OpenAPI `error` schema, `{"error": {"code": 404, "message": "...",
//!   "invalid-params": [{"name": "...", "reason": "..."}]}}` (`invalid-params` as in the
//!   published examples, only when there is something to say).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A Mendix Cloud v1 error answer.
#[derive(Debug, Clone)]
pub struct V1Error {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl V1Error {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        V1Error {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: code.to_string(),
            message: message.into(),
        }
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        let body = json!({"errorCode": self.code, "errorMessage": self.message});
        (self.status, axum::Json(body)).into_response()
    }
}

/// A Private Cloud v4 error answer.
#[derive(Debug, Clone)]
pub struct V4Error {
    pub status: StatusCode,
    pub message: String,
    pub invalid_params: Vec<(String, String)>,
}

impl V4Error {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        V4Error {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message: message.into(),
            invalid_params: Vec::new(),
        }
    }

    pub fn param(mut self, name: &str, reason: impl Into<String>) -> Self {
        self.invalid_params.push((name.to_string(), reason.into()));
        self
    }

    pub fn bad_request(name: &str, reason: impl Into<String>) -> Self {
        Self::new(400, "Request validation errors").param(name, reason)
    }

    pub fn not_found(what: &str, reason: impl Into<String>) -> Self {
        Self::new(404, format!("{what} not found")).param("Validation", reason)
    }
}

impl IntoResponse for V4Error {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.status.as_u16(), "message": self.message});
        if !self.invalid_params.is_empty() {
            error["invalid-params"] = self
                .invalid_params
                .iter()
                .map(|(name, reason)| json!({"name": name, "reason": reason}))
                .collect();
        }
        (self.status, axum::Json(json!({ "error": error }))).into_response()
    }
}

/// The error body of `api` for a status the sandbox was told to fake.
pub fn simulated(path: &str, status: StatusCode, error_code: Option<&str>) -> Response {
    if path.starts_with("/api/1") {
        V1Error {
            status,
            code: error_code.unwrap_or("SIMULATED_FAULT").to_string(),
            message: format!("Simulated fault: {status}"),
        }
        .into_response()
    } else {
        V4Error {
            status,
            message: format!("Simulated fault: {status}"),
            invalid_params: Vec::new(),
        }
        .into_response()
    }
}
