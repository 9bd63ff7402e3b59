//! Client configuration. Base URLs come from here only (operator configuration), never from a
//! custom resource.

use std::time::Duration;

use url::Url;

use super::limiter::HostLimits;
use super::retry::RetryPolicy;

pub const DEFAULT_CLOUD_V1_URL: &str = "https://deploy.mendix.com/api/1";
pub const DEFAULT_PRIVATE_CLOUD_V4_URL: &str = "https://privatecloud.mendixcloud.com/api/v4";

#[derive(Clone, Debug)]
pub struct MendixConfig {
    /// Base URL of the Mendix Cloud Build and Deploy API v1.
    pub cloud_v1_url: Url,
    /// Base URL of the Private Cloud Build and Deploy API v4.
    pub private_cloud_v4_url: Url,
    /// Whole-request timeout of ordinary API calls (connect, send, full answer).
    pub request_timeout: Duration,
    /// Timeout to establish a connection.
    pub connect_timeout: Duration,
    /// Whole-request timeout of package uploads and downloads.
    pub transfer_timeout: Duration,
    /// Longest pause while a transfer's body makes no progress.
    pub transfer_read_timeout: Duration,
    /// Per-host concurrency and rate limits.
    pub limits: HostLimits,
    pub retry: RetryPolicy,
    /// Page size for v4 list calls (the Build API allows at most 50).
    pub page_size: u32,
    /// Largest JSON answer accepted, so a broken server cannot exhaust memory.
    pub max_response_bytes: usize,
    pub user_agent: String,
    /// Where package files may be downloaded from, and how large they may be.
    pub download: super::download_guard::DownloadPolicy,
}

impl Default for MendixConfig {
    fn default() -> Self {
        Self {
            cloud_v1_url: parse_default(DEFAULT_CLOUD_V1_URL),
            private_cloud_v4_url: parse_default(DEFAULT_PRIVATE_CLOUD_V4_URL),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            transfer_timeout: Duration::from_secs(30 * 60),
            transfer_read_timeout: Duration::from_secs(60),
            limits: HostLimits::default(),
            retry: RetryPolicy::default(),
            page_size: 50,
            max_response_bytes: 16 * 1024 * 1024,
            user_agent: concat!("mendix-operator/", env!("CARGO_PKG_VERSION")).to_string(),
            download: Default::default(),
        }
    }
}

fn parse_default(url: &str) -> Url {
    match Url::parse(url) {
        Ok(url) => url,
        Err(err) => unreachable!("built-in URL {url} is valid: {err}"),
    }
}

impl MendixConfig {
    /// Both base URLs pointed at one server (e.g. the Mendix sandbox's two prefixes).
    pub fn with_urls(mut self, cloud_v1_url: Url, private_cloud_v4_url: Url) -> Self {
        self.cloud_v1_url = cloud_v1_url;
        self.private_cloud_v4_url = private_cloud_v4_url;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_real_hosts_and_polite_limits() {
        let c = MendixConfig::default();
        assert_eq!(c.cloud_v1_url.as_str(), "https://deploy.mendix.com/api/1");
        assert_eq!(
            c.private_cloud_v4_url.as_str(),
            "https://privatecloud.mendixcloud.com/api/v4"
        );
        assert_eq!(c.limits.max_in_flight, 8);
        assert_eq!(c.limits.requests_per_second, 10.0);
        assert!(c.page_size <= 50);
    }
}
