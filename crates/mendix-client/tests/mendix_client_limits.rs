//! The per-host politeness limits, observed by a server on loopback that counts requests in
//! flight: never more than `max_in_flight` at once, never faster than the rate limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mendix_client::{CloudCredentials, HostLimits, Mendix, MendixConfig, RetryPolicy};

#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    peak: AtomicUsize,
    total: AtomicUsize,
}

async fn start_server(gauge: Arc<Gauge>) -> std::net::SocketAddr {
    let app = axum::Router::new().fallback(move || {
        let gauge = gauge.clone();
        async move {
            let now = gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
            gauge.peak.fetch_max(now, Ordering::SeqCst);
            gauge.total.fetch_add(1, Ordering::SeqCst);
            // Hold the request a moment so that concurrent ones overlap.
            tokio::time::sleep(Duration::from_millis(30)).await;
            gauge.now.fetch_sub(1, Ordering::SeqCst);
            axum::Json(serde_json::json!({"AppId": "calc", "Name": "Calculation App"}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn client(addr: std::net::SocketAddr, limits: HostLimits) -> Mendix {
    let config = MendixConfig {
        limits,
        retry: RetryPolicy::none(),
        ..MendixConfig::default()
    }
    .with_urls(
        format!("http://{addr}/api/1").parse().unwrap(),
        format!("http://{addr}/api/v4").parse().unwrap(),
    );
    Mendix::new(config).unwrap()
}

#[tokio::test]
async fn requests_in_flight_per_host_are_limited() {
    let gauge = Arc::new(Gauge::default());
    let addr = start_server(gauge.clone()).await;
    let mendix = client(
        addr,
        HostLimits {
            max_in_flight: 2,
            requests_per_second: 0.0,
            burst: 1,
        },
    );
    let deploy = mendix.cloud_deploy(&CloudCredentials::new("u@example.com", "key-1234"));
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let deploy = deploy.clone();
            tokio::spawn(async move { deploy.get_app("calc").await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(gauge.total.load(Ordering::SeqCst), 12);
    let peak = gauge.peak.load(Ordering::SeqCst);
    assert!((1..=2).contains(&peak), "peak in flight {peak}");
}

#[tokio::test]
async fn the_request_rate_per_host_is_limited() {
    let gauge = Arc::new(Gauge::default());
    let addr = start_server(gauge.clone()).await;
    let mendix = client(
        addr,
        HostLimits {
            max_in_flight: 8,
            requests_per_second: 20.0,
            burst: 2,
        },
    );
    let deploy = mendix.cloud_deploy(&CloudCredentials::new("u@example.com", "key-1234"));
    let started = Instant::now();
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let deploy = deploy.clone();
            tokio::spawn(async move { deploy.get_app("calc").await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    // 2 at once, then 10 more at 20/s: at least 0.5 s (a lower bound only).
    assert!(
        started.elapsed() >= Duration::from_millis(490),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(gauge.total.load(Ordering::SeqCst), 12);
}
