//! The shared HTTP machinery behind all four API handles: one reqwest client, per-host limits,
//! timeouts, retries with backoff, error mapping and the observer hook.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use super::api::Api;
use super::config::MendixConfig;
use super::credentials::{CloudCredentials, Pat};
use super::download_guard::{PublicOnly, forbidden_host};
use super::error::{MendixError, from_error_response};
use super::limiter::{Limiters, RequestKind, host_key};
use super::observer::{AttemptOutcome, NoObserver, RequestEvent, RequestObserver};
use super::retry::parse_retry_after;

/// Entry point: shared HTTP client, limits and policy. Cheap to clone; clones share limits.
#[derive(Clone)]
pub struct Mendix {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    /// For package downloads: follows redirects (no credentials are ever sent with it).
    pub(crate) download_http: reqwest::Client,
    pub(crate) config: MendixConfig,
    pub(crate) limiters: Arc<Limiters>,
    observer: Arc<dyn RequestObserver>,
}

impl std::fmt::Debug for Mendix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mendix")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn client_error(err: reqwest::Error) -> MendixError {
    MendixError::InvalidInput {
        api: Api::Download,
        operation: "configure",
        field: "http client",
        reason: err.to_string(),
    }
}

/// Installs ring as the process-wide rustls provider unless one is installed already.
pub fn install_crypto_provider() {
    // An error only means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Mendix {
    pub fn new(config: MendixConfig) -> Result<Self, MendixError> {
        for (field, url) in [
            ("cloud_v1_url", &config.cloud_v1_url),
            ("private_cloud_v4_url", &config.private_cloud_v4_url),
        ] {
            if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
                return Err(MendixError::InvalidInput {
                    api: Api::Download,
                    operation: "configure",
                    field,
                    reason: format!(
                        "{url} is not an http(s) base URL; fix the operator configuration"
                    ),
                });
            }
        }
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .user_agent(config.user_agent.clone())
            // Redirects would carry credentials to wherever they point; Mendix does not redirect.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(client_error)?;
        let allow_private = config.download.allow_private_addresses;
        let mut download_http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .user_agent(config.user_agent.clone())
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 5 {
                    return attempt.error("more than 5 redirects");
                }
                match forbidden_host(attempt.url()).filter(|_| !allow_private) {
                    Some(reason) => attempt.error(format!("redirected to {reason}")),
                    None => attempt.follow(),
                }
            }));
        if !allow_private {
            download_http = download_http.dns_resolver(Arc::new(PublicOnly));
        }
        let download_http = download_http.build().map_err(client_error)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                download_http,
                limiters: Arc::new(Limiters::new(config.limits.clone())),
                config,
                observer: Arc::new(NoObserver),
            }),
        })
    }

    /// The same client reporting every attempt to `observer`.
    pub fn with_observer(&self, observer: Arc<dyn RequestObserver>) -> Self {
        Self {
            inner: Arc::new(Inner {
                http: self.inner.http.clone(),
                download_http: self.inner.download_http.clone(),
                config: self.inner.config.clone(),
                limiters: self.inner.limiters.clone(),
                observer,
            }),
        }
    }

    pub fn config(&self) -> &MendixConfig {
        &self.inner.config
    }

    /// How long requests already queued for the Mendix Cloud API host will take to be let
    /// through under its rate limit (zero when it does not bind).
    pub fn cloud_backlog(&self) -> Duration {
        self.inner
            .limiters
            .for_host(&host_key(&self.inner.config.cloud_v1_url))
            .backlog()
    }

    pub(crate) fn v1_url(&self, segments: &[&str]) -> Url {
        endpoint(&self.inner.config.cloud_v1_url, segments)
    }

    pub(crate) fn v4_url(&self, segments: &[&str]) -> Url {
        endpoint(&self.inner.config.private_cloud_v4_url, segments)
    }

    /// Runs a call to completion (with retries) and decodes its JSON answer.
    pub(crate) async fn json<T: DeserializeOwned>(&self, call: Call) -> Result<T, MendixError> {
        self.json_sent(call).await.map(|sent| sent.value)
    }

    /// [`Self::json`], with when the answered request was sent.
    pub(crate) async fn json_sent<T: DeserializeOwned>(
        &self,
        call: Call,
    ) -> Result<Sent<T>, MendixError> {
        let (api, operation) = (call.api, call.operation);
        self.execute(call, |reply| decode(api, operation, &reply.body))
            .await
    }

    /// Runs a call to completion (with retries) and returns the raw answer.
    pub(crate) async fn reply(&self, call: Call) -> Result<Reply, MendixError> {
        self.execute(call, |reply| Ok(reply.clone()))
            .await
            .map(|sent| sent.value)
    }

    async fn execute<T>(
        &self,
        call: Call,
        mut parse: impl FnMut(&Reply) -> Result<T, MendixError>,
    ) -> Result<Sent<T>, MendixError> {
        let is_read = call.method == Method::GET;
        if is_read {
            if let Some(reply) = super::reads::replayed(&call.url) {
                let at = Instant::now();
                return parse(&reply).map(|value| Sent { value, at });
            }
        } else {
            super::reads::written();
        }
        let policy = &self.inner.config.retry;
        let limiter = self.inner.limiters.for_host(&host_key(&call.url));
        let secrets = call.auth.secrets();
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let (result, sent_at) = {
                let _slot = limiter.acquire(call.kind).await;
                let sent_at = Instant::now();
                (self.attempt(&call, &secrets).await, sent_at)
            };
            // Decoding is part of the attempt: a garbled answer to a read is worth a retry.
            let result = result.and_then(|reply| {
                parse(&reply)
                    .map(|value| (value, reply))
                    .map_err(|err| scrub_decode_error(err, &secrets))
            });
            let (outcome, error) = match result {
                Ok((value, reply)) => {
                    if is_read {
                        super::reads::record(&call.url, &reply);
                    }
                    let status = reply.status;
                    self.observe(
                        &call,
                        attempt,
                        AttemptOutcome::Status(status.as_u16()),
                        false,
                        started,
                    );
                    return Ok(Sent { value, at: sent_at });
                }
                Err(err) => (outcome_of(&err), err),
            };
            let retryable =
                attempt < policy.max_attempts && error.is_transient() && call.may_retry(&error);
            let delay = if retryable {
                policy.delay(attempt, error.retry_after(), &mut rand::rng())
            } else {
                None
            };
            self.observe(&call, attempt, outcome, delay.is_some(), started);
            match delay {
                Some(delay) => {
                    tracing::debug!(
                        api = call.api.label(),
                        operation = call.operation,
                        attempt,
                        error = %error,
                        ?delay,
                        "transient Mendix error, retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
                None => return Err(error),
            }
        }
    }

    fn observe(
        &self,
        call: &Call,
        attempt: u32,
        outcome: AttemptOutcome,
        will_retry: bool,
        started: Instant,
    ) {
        self.observe_attempt(
            call.api,
            call.operation,
            attempt,
            outcome,
            will_retry,
            started,
        );
    }

    pub(crate) fn observe_attempt(
        &self,
        api: Api,
        operation: &'static str,
        attempt: u32,
        outcome: AttemptOutcome,
        will_retry: bool,
        started: Instant,
    ) {
        tracing::debug!(
            api = api.label(),
            operation,
            attempt,
            outcome = %outcome.label(),
            will_retry,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Mendix API request"
        );
        self.inner.observer.on_attempt(&RequestEvent {
            api,
            operation,
            attempt,
            outcome,
            will_retry,
            elapsed: started.elapsed(),
        });
    }

    /// One attempt: send, read the whole (bounded) answer, map error statuses.
    async fn attempt(&self, call: &Call, secrets: &[&str]) -> Result<Reply, MendixError> {
        let (api, operation) = (call.api, call.operation);
        let timeout = if call.transfer {
            self.inner.config.transfer_timeout
        } else {
            self.inner.config.request_timeout
        };
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .timeout(timeout)
            .header(reqwest::header::ACCEPT, "application/json");
        request = call.auth.apply(request, api, operation)?;
        request = match call.body.for_attempt(api, operation).await? {
            AttemptBody::None => request,
            AttemptBody::Json(bytes) => request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes),
            AttemptBody::Form(form) => request.multipart(form),
        };
        let response = request
            .send()
            .await
            .map_err(|err| transport_error(api, operation, timeout, &err))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_bounded(response, self.inner.config.max_response_bytes)
            .await
            .map_err(|err| match err {
                ReadError::TooLarge => MendixError::Decode {
                    api,
                    operation,
                    detail: format!(
                        "answer larger than {} bytes",
                        self.inner.config.max_response_bytes
                    ),
                },
                ReadError::Http(err) => transport_error(api, operation, timeout, &err),
            })?;
        if status.is_success() || (call.redirect_answers && status.is_redirection()) {
            return Ok(Reply {
                status,
                headers,
                body,
            });
        }
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        Err(from_error_response(
            api,
            operation,
            status,
            retry_after,
            &body,
            secrets,
        ))
    }
}

/// The URL `base` extended by path segments (each percent-encoded as needed).
pub(crate) fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

pub(crate) fn outcome_of(err: &MendixError) -> AttemptOutcome {
    match err {
        MendixError::Api { status, .. } => AttemptOutcome::Status(status.as_u16()),
        MendixError::Timeout { .. } => AttemptOutcome::Timeout,
        MendixError::Decode { .. } => AttemptOutcome::Decode,
        _ => AttemptOutcome::Connection,
    }
}

/// Maps a reqwest failure; the URL is stripped because signed URLs carry secrets.
pub(crate) fn transport_error(
    api: Api,
    operation: &'static str,
    timeout: Duration,
    err: &reqwest::Error,
) -> MendixError {
    if err.is_timeout() {
        return MendixError::Timeout {
            api,
            operation,
            timeout,
        };
    }
    let not_sent = err.is_connect();
    let mut detail = if not_sent {
        "could not connect".to_string()
    } else if err.is_body() || err.is_decode() {
        "the answer broke off".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    MendixError::Connection {
        api,
        operation,
        detail: super::credentials::redact_url(&detail),
        not_sent,
    }
}

/// serde quotes the offending value in its message: a server that echoes a credential where
/// another type is expected must not get it into an error (and so into logs or status).
fn scrub_decode_error(err: MendixError, secrets: &[&str]) -> MendixError {
    match err {
        MendixError::Decode {
            api,
            operation,
            detail,
        } => MendixError::Decode {
            api,
            operation,
            detail: super::error::scrub(&detail, secrets),
        },
        other => other,
    }
}

pub(crate) fn decode<T: DeserializeOwned>(
    api: Api,
    operation: &'static str,
    body: &[u8],
) -> Result<T, MendixError> {
    // An empty 2xx body decodes like `null` (e.g. for unit or Option results).
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"null".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|err| MendixError::Decode {
        api,
        operation,
        detail: err.to_string(),
    })
}

enum ReadError {
    TooLarge,
    Http(reqwest::Error),
}

async fn read_bounded(mut response: reqwest::Response, limit: usize) -> Result<Bytes, ReadError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Http)? {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// An answer, with when the request that got it was sent.
#[derive(Clone, Debug)]
pub struct Sent<T> {
    pub value: T,
    /// When the answered attempt left for Mendix, after any wait for a slot under the rate
    /// limit: whatever the request set off began no earlier than this, however late its answer
    /// was read.
    pub at: Instant,
}

impl<T> Sent<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Sent<U> {
        Sent {
            value: f(self.value),
            at: self.at,
        }
    }
}

/// A successful answer.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn location(&self) -> Option<String> {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// How a request authenticates.
#[derive(Clone)]
pub(crate) enum Auth {
    Cloud(CloudCredentials),
    Pat(Pat),
}

impl Auth {
    fn secrets(&self) -> Vec<String> {
        match self {
            Auth::Cloud(c) => vec![c.api_key().to_string()],
            Auth::Pat(p) => vec![p.expose().to_string()],
        }
    }

    fn apply(
        &self,
        request: reqwest::RequestBuilder,
        api: Api,
        operation: &'static str,
    ) -> Result<reqwest::RequestBuilder, MendixError> {
        let header = |value: &str, field: &'static str, secret: bool| {
            let mut value =
                HeaderValue::from_str(value).map_err(|_| MendixError::InvalidInput {
                    api,
                    operation,
                    field,
                    reason: "contains characters not allowed in an HTTP header; check the Secret"
                        .into(),
                })?;
            value.set_sensitive(secret);
            Ok::<_, MendixError>(value)
        };
        Ok(match self {
            Auth::Cloud(c) => request
                .header(
                    HeaderName::from_static("mendix-username"),
                    header(c.username(), "username", false)?,
                )
                .header(
                    HeaderName::from_static("mendix-apikey"),
                    header(c.api_key(), "apiKey", true)?,
                ),
            Auth::Pat(p) => request.header(
                AUTHORIZATION,
                header(&format!("MxToken {}", p.expose()), "pat", true)?,
            ),
        })
    }
}

/// Whether a request may be sent again after a transient failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Repeating it has the same effect as sending it once (GET, PUT, DELETE, stop, transport).
    Idempotent,
    /// Repeating it could do the work twice (start a second build or upload): retried only
    /// when Mendix certainly did not act on it (429, refused connection).
    Unsafe,
}

/// One API request, before it is sent.
pub(crate) struct Call {
    pub api: Api,
    pub operation: &'static str,
    pub method: Method,
    pub url: Url,
    pub auth: Auth,
    pub retry: Retry,
    pub body: CallBody,
    /// Uses the (longer) transfer timeout.
    pub transfer: bool,
    /// Step or poll, for the limiter's backlog.
    pub kind: RequestKind,
    /// A redirect is the answer (its `Location`), not a failure: the client follows none.
    pub redirect_answers: bool,
}

impl Call {
    pub fn new(api: Api, operation: &'static str, method: Method, url: Url, auth: Auth) -> Self {
        let retry = if method == Method::POST {
            Retry::Unsafe
        } else {
            Retry::Idempotent
        };
        Self {
            api,
            operation,
            method,
            url,
            auth,
            retry,
            body: CallBody::None,
            transfer: false,
            redirect_answers: false,
            kind: RequestKind::Step,
        }
    }

    /// Its answer is a redirect, read through [`Reply::location`].
    pub fn redirect_answers(mut self) -> Self {
        self.redirect_answers = true;
        self
    }

    /// It asks how a job is doing (see [`RequestKind::Poll`]).
    pub fn poll(mut self) -> Self {
        self.kind = RequestKind::Poll;
        self
    }

    pub fn idempotent(mut self) -> Self {
        self.retry = Retry::Idempotent;
        self
    }

    pub fn query(mut self, key: &str, value: &str) -> Self {
        self.url.query_pairs_mut().append_pair(key, value);
        self
    }

    pub fn json_body<B: serde::Serialize>(mut self, body: &B) -> Result<Self, MendixError> {
        let bytes = serde_json::to_vec(body).map_err(|err| MendixError::InvalidInput {
            api: self.api,
            operation: self.operation,
            field: "body",
            reason: err.to_string(),
        })?;
        self.body = CallBody::Json(Bytes::from(bytes));
        Ok(self)
    }

    pub fn upload(mut self, upload: UploadForm) -> Self {
        self.body = CallBody::Upload(upload);
        self.transfer = true;
        self
    }

    fn may_retry(&self, err: &MendixError) -> bool {
        if !self.body.replayable() {
            return false;
        }
        match self.retry {
            Retry::Idempotent => true,
            // 429 and 503 say the request was not processed ("come back later"), so even a
            // request that could do work twice may be sent again.
            Retry::Unsafe => match err {
                MendixError::Api { status, .. } => {
                    *status == StatusCode::TOO_MANY_REQUESTS
                        || *status == StatusCode::SERVICE_UNAVAILABLE
                }
                MendixError::Connection { not_sent, .. } => *not_sent,
                _ => false,
            },
        }
    }
}

pub(crate) enum CallBody {
    None,
    Json(Bytes),
    Upload(UploadForm),
}

enum AttemptBody {
    None,
    Json(Bytes),
    Form(Form),
}

impl CallBody {
    fn replayable(&self) -> bool {
        match self {
            CallBody::Upload(form) => form.replayable(),
            _ => true,
        }
    }

    async fn for_attempt(
        &self,
        api: Api,
        operation: &'static str,
    ) -> Result<AttemptBody, MendixError> {
        Ok(match self {
            CallBody::None => AttemptBody::None,
            CallBody::Json(bytes) => AttemptBody::Json(bytes.clone()),
            CallBody::Upload(form) => AttemptBody::Form(form.build(api, operation).await?),
        })
    }
}

/// Where an uploaded `.mda` comes from. It is streamed, never held in memory.
pub enum UploadSource {
    /// A local file: reopened for each attempt, so the upload can be retried.
    File(PathBuf),
    /// A one-shot stream (e.g. an HTTP body being relayed): sent once, never retried.
    Stream {
        reader: Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>,
        /// Byte length when known (sent as the part's length).
        length: Option<u64>,
    },
}

impl std::fmt::Debug for UploadSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UploadSource::File(path) => f.debug_tuple("File").field(path).finish(),
            UploadSource::Stream { length, .. } => {
                f.debug_struct("Stream").field("length", length).finish()
            }
        }
    }
}

impl UploadSource {
    pub fn file(path: impl Into<PathBuf>) -> Self {
        UploadSource::File(path.into())
    }

    pub fn reader(reader: impl tokio::io::AsyncRead + Send + Sync + Unpin + 'static) -> Self {
        UploadSource::Stream {
            reader: Box::new(reader),
            length: None,
        }
    }

    /// A one-shot reader whose byte length is known (sent as the part's length).
    pub fn reader_with_length(
        reader: impl tokio::io::AsyncRead + Send + Sync + Unpin + 'static,
        length: u64,
    ) -> Self {
        UploadSource::Stream {
            reader: Box::new(reader),
            length: Some(length),
        }
    }

    /// A one-shot stream of chunks, e.g. an HTTP download being relayed.
    pub fn stream<S>(stream: S) -> Self
    where
        S: futures::Stream<Item = std::io::Result<Bytes>> + Send + Sync + Unpin + 'static,
    {
        Self::reader(tokio_util::io::StreamReader::new(stream))
    }

    fn replayable(&self) -> bool {
        matches!(self, UploadSource::File(_))
    }
}

/// A multipart upload: the `.mda` in part `file`, plus text fields (v4 adds `fileName`).
pub(crate) struct UploadForm {
    source: Mutex<Option<UploadSource>>,
    file_name: String,
    text_fields: Vec<(&'static str, String)>,
}

impl UploadForm {
    pub fn new(
        source: UploadSource,
        file_name: &str,
        text_fields: Vec<(&'static str, String)>,
    ) -> Self {
        Self {
            source: Mutex::new(Some(source)),
            file_name: file_name.to_string(),
            text_fields,
        }
    }

    fn replayable(&self) -> bool {
        match self.source.lock() {
            Ok(guard) => guard.as_ref().is_some_and(UploadSource::replayable),
            Err(_) => false,
        }
    }

    async fn build(&self, api: Api, operation: &'static str) -> Result<Form, MendixError> {
        let taken = {
            let mut guard = match self.source.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            match guard.as_ref() {
                Some(UploadSource::File(path)) => Some(UploadSource::File(path.clone())),
                _ => guard.take(),
            }
        };
        let io = |context: String| {
            move |source: std::io::Error| MendixError::Io {
                api,
                operation,
                context,
                source,
            }
        };
        let part = match taken {
            Some(UploadSource::File(path)) => {
                let file = tokio::fs::File::open(&path)
                    .await
                    .map_err(io(format!("cannot open {}", path.display())))?;
                let length = file
                    .metadata()
                    .await
                    .map_err(io(format!("cannot read the size of {}", path.display())))?
                    .len();
                let stream = tokio_util::io::ReaderStream::new(file);
                Part::stream_with_length(reqwest::Body::wrap_stream(stream), length)
            }
            Some(UploadSource::Stream { reader, length }) => {
                let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(reader));
                match length {
                    Some(length) => Part::stream_with_length(body, length),
                    None => Part::stream(body),
                }
            }
            None => {
                return Err(MendixError::InvalidInput {
                    api,
                    operation,
                    field: "file",
                    reason: "the upload stream was already consumed by an earlier attempt".into(),
                });
            }
        };
        let part = part
            .file_name(self.file_name.clone())
            .mime_str("application/octet-stream")
            .map_err(|err| MendixError::InvalidInput {
                api,
                operation,
                field: "file",
                reason: err.to_string(),
            })?;
        let mut form = Form::new().part("file", part);
        for (name, value) in &self.text_fields {
            form = form.text(*name, value.clone());
        }
        Ok(form)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_append_encoded_segments() {
        let base = Url::parse("https://deploy.mendix.com/api/1").unwrap();
        assert_eq!(
            endpoint(&base, &["apps", "calc", "environments", "My Flex Env"]).as_str(),
            "https://deploy.mendix.com/api/1/apps/calc/environments/My%20Flex%20Env"
        );
        let slash = Url::parse("http://127.0.0.1:9/api/v4/").unwrap();
        assert_eq!(
            endpoint(&slash, &["jobs", "a/b"]).as_str(),
            "http://127.0.0.1:9/api/v4/jobs/a%2Fb"
        );
    }

    #[test]
    fn only_safe_failures_of_unsafe_calls_are_retried() {
        let url = Url::parse("http://127.0.0.1:9/").unwrap();
        let call = Call::new(
            Api::CloudBuildV1,
            "build",
            Method::POST,
            url.clone(),
            Auth::Pat(Pat::new("t")),
        );
        let api_err = |status: u16| MendixError::Api {
            api: Api::CloudBuildV1,
            operation: "build",
            status: StatusCode::from_u16(status).unwrap(),
            code: None,
            message: String::new(),
            class: super::super::error::ErrorClass::Transient,
            retry_after: None,
        };
        assert!(call.may_retry(&api_err(429)));
        assert!(!call.may_retry(&api_err(502)));
        let connection = |not_sent| MendixError::Connection {
            api: Api::CloudBuildV1,
            operation: "build",
            detail: String::new(),
            not_sent,
        };
        assert!(
            call.may_retry(&connection(true)),
            "refused: nothing was sent"
        );
        assert!(
            !call.may_retry(&connection(false)),
            "broken mid-request: maybe acted on"
        );
        let get = Call::new(
            Api::CloudBuildV1,
            "get",
            Method::GET,
            url,
            Auth::Pat(Pat::new("t")),
        );
        assert!(get.may_retry(&api_err(502)));
        assert!(call.idempotent().may_retry(&api_err(502)));
    }

    #[tokio::test]
    async fn construction_rejects_non_http_base_urls() {
        let config = MendixConfig {
            cloud_v1_url: Url::parse("ftp://example.com/api/1").unwrap(),
            ..MendixConfig::default()
        };
        let err = Mendix::new(config).unwrap_err();
        assert!(err.to_string().contains("cloud_v1_url"), "{err}");
    }
}
