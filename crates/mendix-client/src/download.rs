//! Streaming download of a package file (from a pre-signed Mendix URL or a user's http(s) URL)
//! to a temporary file, hashing while writing; used for `source.upload` and package copies.
//! The file is never held in memory. No Mendix credentials are sent.

use std::path::Path;
use std::time::Instant;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::api::Api;
use super::client::{Mendix, transport_error};
use super::credentials::redact_url;
use super::error::{MendixError, from_error_response};
use super::limiter::host_key;
use super::observer::AttemptOutcome;
use super::retry::parse_retry_after;

const OPERATION: &str = "download";

/// A downloaded file. The temporary file is deleted when this is dropped, unless kept with
/// [`tempfile::TempPath::keep`] or moved with [`tempfile::TempPath::persist`].
#[derive(Debug)]
pub struct Downloaded {
    pub path: tempfile::TempPath,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
    pub size: u64,
}

impl Mendix {
    /// Downloads `url` into a new temporary file in `dir`. With `expected_sha256` (64 hex
    /// digits) the content must match, else the file is removed and
    /// [`MendixError::ChecksumMismatch`] returned. Transient failures restart the download.
    pub async fn download(
        &self,
        url: &str,
        dir: &Path,
        expected_sha256: Option<&str>,
    ) -> Result<Downloaded, MendixError> {
        let invalid = |field: &'static str, reason: String| MendixError::InvalidInput {
            api: Api::Download,
            operation: OPERATION,
            field,
            reason,
        };
        let parsed = url::Url::parse(url)
            .map_err(|err| invalid("url", format!("{}: {err}", redact_url(url))))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid(
                "url",
                format!("{} is not an http(s) URL", redact_url(url)),
            ));
        }
        if !self.inner.config.download.allow_private_addresses
            && let Some(reason) = super::download_guard::forbidden_host(&parsed)
        {
            return Err(invalid(
                "url",
                format!(
                    "{} is refused: {reason}; the operator downloads only from public addresses unless started with --allow-private-download-urls",
                    redact_url(url)
                ),
            ));
        }
        let expected = match expected_sha256 {
            Some(hash) => {
                let hash = hash.trim().to_ascii_lowercase();
                if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(invalid(
                        "sha256",
                        "must be 64 hexadecimal digits (the output of `sha256sum`)".into(),
                    ));
                }
                Some(hash)
            }
            None => None,
        };
        let policy = &self.inner.config.retry;
        let limiter = self.inner.limiters.for_host(&host_key(&parsed));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let result = {
                let _slot = limiter.acquire(super::limiter::RequestKind::Step).await;
                self.download_attempt(&parsed, dir).await
            };
            let error = match result {
                Ok((downloaded, status)) => {
                    self.observe_attempt(
                        Api::Download,
                        OPERATION,
                        attempt,
                        AttemptOutcome::Status(status),
                        false,
                        started,
                    );
                    if let Some(expected) = expected
                        && downloaded.sha256 != expected
                    {
                        return Err(MendixError::ChecksumMismatch {
                            api: Api::Download,
                            expected,
                            actual: downloaded.sha256,
                        });
                    }
                    return Ok(downloaded);
                }
                Err(error) => error,
            };
            let delay = (attempt < policy.max_attempts && error.is_transient())
                .then(|| policy.delay(attempt, error.retry_after(), &mut rand::rng()))
                .flatten();
            self.observe_attempt(
                Api::Download,
                OPERATION,
                attempt,
                super::client::outcome_of(&error),
                delay.is_some(),
                started,
            );
            match delay {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return Err(error),
            }
        }
    }

    async fn download_attempt(
        &self,
        url: &url::Url,
        dir: &Path,
    ) -> Result<(Downloaded, u16), MendixError> {
        let config = &self.inner.config;
        let timeout = config.transfer_timeout;
        let io = |context: String| {
            move |source: std::io::Error| MendixError::Io {
                api: Api::Download,
                operation: OPERATION,
                context,
                source,
            }
        };
        let response = self
            .inner
            .download_http
            .get(url.clone())
            .timeout(timeout)
            .send()
            .await
            .map_err(|err| transport_error(Api::Download, OPERATION, timeout, &err))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
            // Only the start of an error body is of interest.
            let body = response.bytes().await.unwrap_or_default();
            let head = &body[..body.len().min(4096)];
            return Err(from_error_response(
                Api::Download,
                OPERATION,
                status,
                retry_after,
                head,
                &[],
            ));
        }
        let max = config.download.max_bytes;
        let too_large = |size: u64| MendixError::InvalidInput {
            api: Api::Download,
            operation: OPERATION,
            field: "url",
            reason: format!(
                "the file is larger than {max} bytes ({size} or more); raise --max-download-size if it is a real package"
            ),
        };
        if let Some(length) = response.content_length().filter(|l| *l > max) {
            return Err(too_large(length));
        }
        let temp = tempfile::Builder::new()
            .prefix("mendix-package-")
            .suffix(".mda")
            .tempfile_in(dir)
            .map_err(io(format!(
                "cannot create a temporary file in {}",
                dir.display()
            )))?;
        let (std_file, path) = temp.into_parts();
        let mut file = tokio::fs::File::from_std(std_file);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut body = response.bytes_stream();
        loop {
            // A stalled body fails after the read timeout instead of hanging until the
            // (long) transfer timeout.
            let next = tokio::time::timeout(config.transfer_read_timeout, body.next())
                .await
                .map_err(|_| MendixError::Timeout {
                    api: Api::Download,
                    operation: OPERATION,
                    timeout: config.transfer_read_timeout,
                })?;
            let Some(chunk) = next else { break };
            let chunk =
                chunk.map_err(|err| transport_error(Api::Download, OPERATION, timeout, &err))?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            if size > max {
                // The temporary file is removed when `path` is dropped.
                return Err(too_large(size));
            }
            file.write_all(&chunk)
                .await
                .map_err(io(format!("cannot write {}", path.display())))?;
        }
        file.flush()
            .await
            .map_err(io(format!("cannot write {}", path.display())))?;
        file.sync_all()
            .await
            .map_err(io(format!("cannot write {}", path.display())))?;
        Ok((
            Downloaded {
                path,
                sha256: hex::encode(hasher.finalize()),
                size,
            },
            status.as_u16(),
        ))
    }
}
