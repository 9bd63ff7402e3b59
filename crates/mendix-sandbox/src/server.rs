//! The listener: a plain hyper accept loop (rather than `axum::serve`) so a fault can drop one
//! connection without an answer, and so dropping the handle stops the server.

use std::net::SocketAddr;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Ends one connection without an answer when cancelled (put into each request's extensions).
#[derive(Clone)]
pub(crate) struct ConnectionKill(pub(crate) CancellationToken);

/// A running sandbox; stops serving on drop or [`SandboxServer::shutdown`].
pub struct SandboxServer {
    addr: SocketAddr,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SandboxServer {
    pub(crate) async fn start(router: Router, addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, router, stop.clone()));
        Ok(SandboxServer {
            addr,
            stop,
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL of the Mendix Cloud Build and Deploy APIs v1: `http://ADDR/api/1`.
    pub fn cloud_v1_url(&self) -> String {
        format!("http://{}/api/1", self.addr)
    }

    /// Base URL of the Private Cloud Build and Deploy APIs v4: `http://ADDR/api/v4`.
    pub fn private_cloud_v4_url(&self) -> String {
        format!("http://{}/api/v4", self.addr)
    }

    /// Base URL of the server: `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop accepting, close open connections and wait for the accept loop to end.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SandboxServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn accept_loop(listener: TcpListener, router: Router, stop: CancellationToken) {
    loop {
        let (stream, _peer) = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %err, "mendix sandbox: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let router = router.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let kill = CancellationToken::new();
            let kill_for_requests = kill.clone();
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let mut request = request.map(axum::body::Body::new);
                    request
                        .extensions_mut()
                        .insert(ConnectionKill(kill_for_requests.clone()));
                    router.clone().oneshot(request)
                },
            );
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = kill.cancelled() => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}
