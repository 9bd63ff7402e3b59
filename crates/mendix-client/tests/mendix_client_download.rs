//! The streaming download helper: hashes while writing to a temporary file, verifies the
//! expected SHA-256, and reports bad or expired URLs without printing their signatures.

mod mendix_client_support;

use mendix_client::private_cloud_v4::types::JobStatus;
use mendix_client::{ErrorClass, MendixError, UploadSource};
use mendix_client_support::*;
use mendix_sandbox::demo::*;
use sha2::{Digest, Sha256};

#[tokio::test]
async fn an_uploaded_package_downloads_byte_for_byte() {
    let env = start().await;
    let build = env.mendix.pc_build(&pat());
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("big.mda");
    // 3 MB: many chunks each way, and beyond axum's default 2 MB body limit.
    let mut content = b"PK\x03\x04".to_vec();
    content.extend((0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    std::fs::write(&source, &content).unwrap();
    let expected = hex::encode(Sha256::digest(&content));

    let handle = build
        .upload(PC_APP_ID, "big", UploadSource::file(&source))
        .await
        .unwrap();
    let job = eventually("the upload job to end", || async {
        let job = build.job(&handle).await.unwrap();
        job.is_done().then_some(job)
    })
    .await;
    assert_eq!(job.status, JobStatus::Finished);
    let package = build
        .get_package(PC_APP_ID, &job.package_id.unwrap(), true, false)
        .await
        .unwrap();
    let url = package.url.expect("url=true gives a URL");

    let target = tempfile::tempdir().unwrap();
    let downloaded = env
        .mendix
        .download(url.location.expose(), target.path(), Some(&expected))
        .await
        .unwrap();
    assert_eq!(downloaded.sha256, expected);
    assert_eq!(downloaded.size, content.len() as u64);
    assert_eq!(std::fs::read(&downloaded.path).unwrap(), content);
    // The caller keeps the file by persisting it; otherwise it goes with the handle.
    let kept = target.path().join("kept.mda");
    downloaded.path.persist(&kept).unwrap();
    assert!(kept.exists());
}

#[tokio::test]
async fn bad_expired_and_unknown_urls() {
    let env = start().await;
    let dir = tempfile::tempdir().unwrap();

    let err = env
        .mendix
        .download("ftp://example.com/p.mda", dir.path(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, MendixError::InvalidInput { field: "url", .. }),
        "{err}"
    );
    assert_eq!(err.class(), ErrorClass::Terminal);
    let err = env
        .mendix
        .download("https://example.com/p.mda", dir.path(), Some("abc"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MendixError::InvalidInput {
                field: "sha256",
                ..
            }
        ),
        "{err}"
    );

    let url = env
        .mendix
        .cloud_build(&cloud())
        .download_url(CLOUD_APP_ID, CLOUD_EXISTING_PACKAGE_ID)
        .await
        .unwrap();
    let location = url.location.expose();
    let (base, _signature) = location.split_once('?').expect("a signed URL has a query");
    let expired = format!("{base}?expires=1");
    let err = env
        .mendix
        .download(&expired, dir.path(), None)
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(403), "{err}");
    assert_eq!(
        err.class(),
        ErrorClass::Terminal,
        "an expired URL needs a new one"
    );
    assert!(!err.to_string().contains("expires=1"), "{err}");
    let unknown = location.replace(CLOUD_EXISTING_PACKAGE_ID, "no-such-package");
    let err = env
        .mendix
        .download(&unknown, dir.path(), None)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no partial files"
    );
}

#[tokio::test]
async fn a_streamed_upload_arrives_intact() {
    let env = start().await;
    let build = env.mendix.cloud_build(&cloud());
    let chunks: Vec<std::io::Result<bytes::Bytes>> = (0..40u8)
        .map(|n| {
            let mut chunk = if n == 0 {
                b"PK\x03\x04".to_vec()
            } else {
                Vec::new()
            };
            chunk.extend(std::iter::repeat_n(n, 10_000));
            Ok(bytes::Bytes::from(chunk))
        })
        .collect();
    let expected: Vec<u8> = chunks
        .iter()
        .flat_map(|c| c.as_ref().unwrap().to_vec())
        .collect();
    let source = UploadSource::stream(futures::stream::iter(chunks));
    build
        .upload_package(CLOUD_APP_ID, "streamed.mda", source)
        .await
        .unwrap();
    let package_id = uploaded_id(&build, "streamed.mda").await;
    let url = build.download_url(CLOUD_APP_ID, &package_id).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sha = hex::encode(Sha256::digest(&expected));
    let downloaded = env
        .mendix
        .download(url.location.expose(), dir.path(), Some(&sha))
        .await
        .unwrap();
    assert_eq!(downloaded.size, expected.len() as u64);
}
