//! Large packages are streamed, never held in memory: a 96 MB upload and a 96 MB download over
//! loopback must not grow the process's peak memory by anywhere near the file size. Prints the
//! figures (throughput, peak RSS growth). The only test in this binary, so nothing else moves
//! the peak.

use std::time::Instant;

use axum::extract::{FromRequest, Multipart, Request};
use futures::StreamExt;
use mendix_client::{CloudCredentials, Mendix, MendixConfig, UploadSource};

const SIZE: usize = 96 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// Peak resident set size of this process (Linux `VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

async fn start_server() -> std::net::SocketAddr {
    let app = axum::Router::new()
        // Upload sink: counts the multipart file part chunk by chunk.
        .route(
            "/api/1/apps/{app}/packages/upload",
            axum::routing::post(|request: Request| async move {
                let mut multipart = Multipart::from_request(request, &()).await.unwrap();
                let mut total = 0usize;
                while let Some(mut field) = multipart.next_field().await.unwrap() {
                    while let Some(chunk) = field.chunk().await.unwrap() {
                        total += chunk.len();
                    }
                }
                axum::Json(serde_json::json!({"PackageId": format!("received-{total}")}))
            }),
        )
        // Download source: generated chunks.
        .route(
            "/file.mda",
            axum::routing::get(|| async {
                let chunks = futures::stream::iter(0..SIZE / CHUNK)
                    .map(|n| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![n as u8; CHUNK])));
                axum::body::Body::from_stream(chunks)
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::disable());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn uploads_and_downloads_stream() {
    let addr = start_server().await;
    let mut config = MendixConfig::default().with_urls(
        format!("http://{addr}/api/1").parse().unwrap(),
        format!("http://{addr}/api/v4").parse().unwrap(),
    );
    // This test's file server is on loopback.
    config.download.allow_private_addresses = true;
    let mendix = Mendix::new(config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.mda");
    {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let chunk = vec![7u8; CHUNK];
        for _ in 0..SIZE / CHUNK {
            file.write_all(&chunk).unwrap();
        }
    }
    let mb = SIZE as f64 / (1024.0 * 1024.0);

    let before = peak_rss_kib();
    let started = Instant::now();
    let answer = mendix
        .cloud_build(&CloudCredentials::new("u@example.com", "key-1234"))
        .upload_package("calc", "large.mda", UploadSource::file(&path))
        .await
        .unwrap();
    let upload_secs = started.elapsed().as_secs_f64();
    assert_eq!(answer.as_deref(), Some(format!("received-{SIZE}").as_str()));
    let after_upload = peak_rss_kib();

    let started = Instant::now();
    let downloaded = mendix
        .download(&format!("http://{addr}/file.mda"), dir.path(), None)
        .await
        .unwrap();
    let download_secs = started.elapsed().as_secs_f64();
    assert_eq!(downloaded.size, SIZE as u64);
    let after_download = peak_rss_kib();

    let upload_growth = after_upload.saturating_sub(before) / 1024;
    let download_growth = after_download.saturating_sub(after_upload) / 1024;
    eprintln!(
        "streaming: upload {mb:.0} MB in {upload_secs:.2} s ({:.0} MB/s), peak RSS +{upload_growth} MB; \
         download+SHA-256 {mb:.0} MB in {download_secs:.2} s ({:.0} MB/s), peak RSS +{download_growth} MB",
        mb / upload_secs,
        mb / download_secs,
    );
    // Holding the file would add ~96 MB (plus copies); streaming stays far below.
    assert!(
        upload_growth < 32,
        "upload grew peak RSS by {upload_growth} MB"
    );
    assert!(
        download_growth < 32,
        "download grew peak RSS by {download_growth} MB"
    );
}
