//! The operator's client of the Kubernetes API server: kube's own layers (base URI,
//! credentials, extra headers, retry of 429/503/504) over a connection that speaks HTTP/2 when
//! the API server offers it, as client-go does.
//!
//! kube's default client speaks HTTP/1.1 only, so every request in flight holds its own TLS
//! connection: at 128 reconciles that is over a hundred connections and their buffers. Over
//! HTTP/2 the requests and watches share one. The operator makes no upgrade (websocket) calls,
//! the one kind of request kube cannot yet carry over HTTP/2.

use std::time::Duration;

use hyper_rustls::FixedServerNameResolver;
use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::retry::RetryPolicy;
use kube::client::{ConfigExt, RustlsTlsError};
use tower::{BoxError, ServiceBuilder, retry::RetryLayer};

/// How often an HTTP/2 connection is pinged, and how long a ping may go unanswered before
/// the connection counts as dead and its requests fail (client-go's ReadIdleTimeout and
/// PingTimeout). Without them a silently dropped connection would hang every watch on it.
const PING_INTERVAL: Duration = Duration::from_secs(30);
const PING_TIMEOUT: Duration = Duration::from_secs(15);

/// What the API server may send on the shared connection before the operator reads it: room
/// for eight streams' full windows (2 MiB each, hyper's default), so a watch whose reader
/// lags fills its own window and never stalls the requests next to it (client-go, too, keeps
/// the connection's window far above a stream's).
const CONNECTION_WINDOW: u32 = 16 << 20;

/// A client for `config` that multiplexes its requests over HTTP/2 when the API server
/// negotiates it (ALPN), and falls back to HTTP/1.1 otherwise.
pub fn connect(config: kube::Config) -> Result<kube::Client, kube::Error> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    // Many small frames share the connection: Nagle's algorithm would hold each behind the
    // last unacknowledged one (tens of milliseconds), as Go's client, too, avoids.
    http.set_nodelay(true);
    let mut tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config.rustls_client_config()?)
        .https_or_http();
    if let Some(name) = &config.tls_server_name {
        let name = name
            .clone()
            .try_into()
            .map_err(|e| kube::Error::RustlsTls(RustlsTlsError::InvalidServerName(e)))?;
        tls = tls.with_server_name_resolver(FixedServerNameResolver::new(name));
    }
    // The timeouts kube's own client sets on a connection.
    let mut connector = TimeoutConnector::new(tls.enable_all_versions().wrap_connector(http));
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let hyper = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .http2_keep_alive_interval(PING_INTERVAL)
        .http2_keep_alive_timeout(PING_TIMEOUT)
        .http2_keep_alive_while_idle(true)
        .http2_initial_connection_window_size(CONNECTION_WINDOW)
        .build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(
            config
                .default_retry
                .then(|| RetryLayer::new(RetryPolicy::server_retry())),
        )
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(hyper);
    Ok(kube::Client::new(service, config.default_namespace))
}
