//! Download URLs handed out by both APIs (package files, v1 logs). They point back into the
//! sandbox (`/_sim/download/...`, `/_sim/logs/...`), need no credentials, like the real
//! pre-signed URLs, and stop working when their TTL (real seconds) has passed.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use serde::Deserialize;

use super::MendixSandbox;
use super::world::{CloudPackage, PcPackage};

/// Size of the .mda files the sandbox "builds".
pub const BUILT_PACKAGE_SIZE: u64 = 64 * 1024;

pub fn routes() -> Router<MendixSandbox> {
    Router::new()
        .route(
            "/_sim/download/{api}/{app}/{package}",
            get(download_package),
        )
        .route("/_sim/logs/{kind}/{environment}/{date}", get(download_log))
        .route("/_sim/cli/{version}/{os}/{architecture}", get(download_cli))
}

fn expiry(ttl_seconds: u64) -> i64 {
    chrono::Utc::now().timestamp() + i64::try_from(ttl_seconds).unwrap_or(i64::MAX / 2)
}

pub fn package_url(base: &str, api: &str, app: &str, package: &str, ttl_seconds: u64) -> String {
    format!(
        "{base}/_sim/download/{api}/{app}/{package}?expires={}",
        expiry(ttl_seconds)
    )
}

pub fn log_url(base: &str, kind: &str, environment: &str, date: &str, ttl_seconds: u64) -> String {
    format!(
        "{base}/_sim/logs/{kind}/{environment}/{date}?expires={}",
        expiry(ttl_seconds)
    )
}

/// A deployment package is a zip file; this is the check the sandbox makes on uploads.
pub fn looks_like_mda(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// Deterministic stand-in content of `size` bytes for a package that was not uploaded.
fn synthetic_mda(package_id: &str, size: u64) -> Bytes {
    let header = format!("PK\x03\x04mendix-sandbox deployment package {package_id}\n");
    let size = usize::try_from(size)
        .unwrap_or(usize::MAX)
        .clamp(header.len(), 8 * 1024 * 1024);
    let mut bytes = header.into_bytes();
    let filler = b"0123456789abcdef";
    while bytes.len() < size {
        let take = (size - bytes.len()).min(filler.len());
        bytes.extend_from_slice(&filler[..take]);
    }
    Bytes::from(bytes)
}

pub fn cloud_package_bytes(package: &CloudPackage) -> Bytes {
    package
        .content
        .clone()
        .unwrap_or_else(|| synthetic_mda(&package.package_id, package.size))
}

pub fn pc_package_bytes(package: &PcPackage) -> Bytes {
    package
        .content
        .clone()
        .unwrap_or_else(|| synthetic_mda(&package.id, package.file_size))
}

pub fn mda_response(bytes: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
}

#[derive(Deserialize)]
struct Expires {
    expires: Option<i64>,
}

fn expired(query: &Expires) -> bool {
    query
        .expires
        .is_none_or(|at| at < chrono::Utc::now().timestamp())
}

fn gone() -> Response {
    (
        StatusCode::FORBIDDEN,
        "Request has expired or is not signed",
    )
        .into_response()
}

async fn download_package(
    State(sb): State<MendixSandbox>,
    Path((api, app, package)): Path<(String, String, String)>,
    Query(query): Query<Expires>,
) -> Response {
    if expired(&query) {
        return gone();
    }
    let world = sb.world();
    let bytes = match api.as_str() {
        "cloud" => world
            .cloud
            .apps
            .iter()
            .find(|a| a.app_id == app)
            .and_then(|a| a.packages.iter().find(|p| p.package_id == package))
            .map(cloud_package_bytes),
        "private-cloud" => world
            .private_cloud
            .apps
            .iter()
            .find(|a| a.app_id == app)
            .and_then(|a| a.packages.iter().find(|p| p.id == package))
            .map(pc_package_bytes),
        _ => None,
    };
    match bytes {
        Some(bytes) => mda_response(bytes),
        None => (StatusCode::NOT_FOUND, "No such package").into_response(),
    }
}

async fn download_log(
    Path((kind, environment, date)): Path<(String, String, String)>,
    Query(query): Query<Expires>,
) -> Response {
    if expired(&query) {
        return gone();
    }
    let text = if kind == "rtr-logs" {
        format!("{date}T08:00:00Z {environment} session started user=demo\n")
    } else {
        format!("{date}T08:00:00Z INFO - Core: Mendix Runtime started ({environment})\n")
    };
    ([(header::CONTENT_TYPE, "text/plain")], text).into_response()
}

/// The "CDN" behind `POST /cli/{version}`: a stand-in script, not a real mxpc-cli.
async fn download_cli(
    Path((version, os, architecture)): Path<(String, String, String)>,
) -> Response {
    let script = format!(
        "#!/bin/sh\n# mxpc-cli {version} ({os}/{architecture}) stand-in from the Mendix sandbox\necho mxpc-cli {version}\n"
    );
    ([(header::CONTENT_TYPE, "application/octet-stream")], script).into_response()
}
