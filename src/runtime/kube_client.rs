//! The operator's client for the API server.
//!
//! kube's client speaks HTTP/1.1, one request per connection at a time, and keeps every
//! connection it opened: with 128 reconciles in flight it held about 160 connections to the
//! API server, each with its TLS state and buffers. [`InFlightLimit`] bounds the requests in
//! flight, and with them the connections. A request holds its place until its response body
//! has been read (the connection is busy until then). Watches, which stay open, and the
//! leader Lease's reads and renewals, which must not wait behind reconciles, do not count.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::FutureExt;
use futures::future::BoxFuture;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};

/// A client that sends at most `max_in_flight` requests to the API server at once, watches
/// and the Lease's requests aside; the rest wait their turn, in order.
pub fn connect(config: kube::Config, max_in_flight: usize) -> Result<kube::Client, kube::Error> {
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&InFlightLimitLayer { max_in_flight })
        .build())
}

struct InFlightLimitLayer {
    max_in_flight: usize,
}

impl<S> Layer<S> for InFlightLimitLayer {
    type Service = InFlightLimit<S>;

    fn layer(&self, inner: S) -> InFlightLimit<S> {
        InFlightLimit {
            inner,
            places: Arc::new(Semaphore::new(self.max_in_flight)),
        }
    }
}

/// Sends each counted request once it has a place, and keeps the place in the response body
/// until that is read or dropped.
pub struct InFlightLimit<S> {
    inner: S,
    /// A fair semaphore: requests get their places in the order they came.
    places: Arc<Semaphore>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for InFlightLimit<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = Response<Placed<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, S::Error>>;

    /// Ready whenever kube's stack is: the wait for a place is in the request's own future, so
    /// a watch or a Lease renewal never queues behind requests waiting for one (kube's client
    /// drives this service from one task).
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let counted = counts(&request);
        let places = self.places.clone();
        // hyper sends the request when this future is first polled, after the place is had.
        let response = self.inner.call(request);
        async move {
            let place = if counted {
                // The semaphore is never closed: this always gives a place.
                places.acquire_owned().await.ok()
            } else {
                None
            };
            let response = response.await?;
            Ok(response.map(|body| Placed { body, place }))
        }
        .boxed()
    }
}

/// Whether a request counts against the limit. A watch stays open for minutes and would hold
/// its place all that time; a Lease renewal that waited behind reconciles could lose the
/// leadership.
fn counts<B>(request: &Request<B>) -> bool {
    let uri = request.uri();
    let watch = uri
        .query()
        .is_some_and(|query| query.split('&').any(|pair| pair == "watch=true"));
    let lease = uri.path().starts_with("/apis/coordination.k8s.io/");
    !(watch || lease)
}

/// A response body holding its request's place until it ends or is dropped.
pub struct Placed<B> {
    body: B,
    place: Option<OwnedSemaphorePermit>,
}

impl<B: Body + Unpin> Body for Placed<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let frame = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(None) = frame {
            self.place = None;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str) -> Request<()> {
        Request::get(uri).body(()).expect("a request")
    }

    #[test]
    fn watches_and_the_lease_do_not_count_against_the_limit() {
        let counted = [
            "/apis/mendixops.io/v1alpha1/namespaces/apps/mendixenvironments?limit=500",
            "/api/v1/namespaces/apps/secrets/mendix-cloud",
            "/apis/mendixops.io/v1alpha1/namespaces/apps/mendixenvironments/calc/status",
            // Only the parameter itself makes a watch.
            "/api/v1/namespaces/apps/configmaps?labelSelector=watch%3Dtrue",
        ];
        for uri in counted {
            assert!(counts(&request(uri)), "{uri}");
        }
        let exempt = [
            "/apis/mendixops.io/v1alpha1/mendixenvironments?allowWatchBookmarks=true&resourceVersion=42&watch=true",
            "/apis/coordination.k8s.io/v1/namespaces/mendix-operator/leases/mendix-operator-leader",
        ];
        for uri in exempt {
            assert!(!counts(&request(uri)), "{uri}");
        }
    }
}
