//! Operator configuration: flags, each with an environment variable, checked at start so bad
//! configuration fails with a clear message instead of surfacing later as a reconcile error.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings of `mendix-operator run` (and of the operator that `sandbox` starts).
#[derive(Args, Clone, Debug)]
pub struct RunConfig {
    /// Base URL of the Mendix Cloud Build and Deploy API v1.
    #[arg(
        long,
        env = "MENDIX_CLOUD_URL",
        default_value = "https://deploy.mendix.com/api/1"
    )]
    pub mendix_cloud_url: String,
    /// Base URL of the Mendix for Private Cloud Build and Deploy API v4.
    #[arg(
        long,
        env = "MENDIX_PRIVATE_CLOUD_URL",
        default_value = "https://privatecloud.mendixcloud.com/api/v4"
    )]
    pub private_cloud_url: String,
    /// Namespaces to watch, comma-separated; empty watches all namespaces (needs the ClusterRole).
    #[arg(
        long,
        env = "WATCH_NAMESPACES",
        value_delimiter = ',',
        default_value = ""
    )]
    pub namespaces: Vec<String>,
    /// Resources reconciled at the same time, per kind.
    #[arg(long, env = "RECONCILE_CONCURRENCY", default_value_t = 16)]
    pub reconcile_concurrency: u16,
    /// Mendix requests in flight at once, per API host.
    #[arg(long, env = "MENDIX_MAX_IN_FLIGHT", default_value_t = 8)]
    pub mendix_max_in_flight: usize,
    /// Requests to the Kubernetes API server in flight at once (watches and the leader Lease
    /// aside); more wait their turn. Each one in flight needs a connection of its own.
    /// Default: twice --reconcile-concurrency.
    #[arg(long, env = "KUBE_MAX_IN_FLIGHT")]
    pub kube_max_in_flight: Option<usize>,
    /// Mendix requests per second, per API host.
    #[arg(long, env = "MENDIX_REQUESTS_PER_SECOND", default_value_t = 10.0)]
    pub mendix_requests_per_second: f64,
    /// Timeout of one Mendix request.
    #[arg(long, env = "MENDIX_REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub mendix_request_timeout: Duration,
    /// Period of the full resync that detects drift made outside Git.
    #[arg(long, env = "RESYNC_PERIOD", default_value = "10m", value_parser = humantime::parse_duration)]
    pub resync_period: Duration,
    /// First poll interval of a Mendix job whose duration is not known yet (starts of an app the
    /// operator has started before are first polled when such starts ended); it doubles up to
    /// --poll-max.
    #[arg(long, env = "POLL_INITIAL", default_value = "2s", value_parser = humantime::parse_duration)]
    pub poll_initial: Duration,
    /// Longest poll interval of a Mendix job.
    #[arg(long, env = "POLL_MAX", default_value = "60s", value_parser = humantime::parse_duration)]
    pub poll_max: Duration,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Address of the metrics and health endpoint (/metrics, /healthz, /readyz).
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Elect a leader on a Lease so only one replica reconciles.
    #[arg(long, env = "LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Namespace of the leader-election Lease (defaults to the pod's namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "mendix-operator")]
    pub lease_namespace: String,
    /// Name of the leader-election Lease.
    #[arg(long, env = "LEASE_NAME", default_value = "mendix-operator-leader")]
    pub lease_name: String,
    /// This replica's identity in the Lease (defaults to the pod name).
    #[arg(long, env = "POD_NAME", default_value = "")]
    pub identity: String,
    /// How long a Lease stays valid without renewal; a standby takes over after it expires.
    #[arg(long, env = "LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,
    /// Directory for package files fetched from `spec.source.upload.url` before they are
    /// uploaded (the Deployment mounts an emptyDir with a size limit here).
    #[arg(long, env = "DOWNLOAD_DIR", default_value_os_t = std::env::temp_dir())]
    pub download_dir: std::path::PathBuf,
    /// Largest package file fetched from `spec.source.upload.url`, e.g. `1GiB`, `500MiB`.
    #[arg(long, env = "MAX_DOWNLOAD_SIZE", default_value = "1GiB", value_parser = parse_size)]
    pub max_download_size: u64,
    /// Allow `spec.source.upload.url` on loopback, link-local (cloud metadata), private and
    /// in-cluster addresses. Off by default: whoever can create a MendixPackage chooses the URL.
    #[arg(long, env = "ALLOW_PRIVATE_DOWNLOAD_URLS", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_private_download_urls: bool,
    /// How long deleting a resource with `deletionPolicy: Delete` waits while Mendix refuses (a
    /// package an environment uses, a namespace with environments, a cluster with namespaces);
    /// then the remote object is kept in Mendix (with a Warning Event) and the resource is
    /// deleted.
    #[arg(long, env = "DELETE_WAIT_LIMIT", default_value = "1h", value_parser = humantime::parse_duration)]
    pub delete_wait_limit: Duration,
}

/// A size in bytes: a number, optionally followed by KiB, MiB or GiB.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit `{other}`: write bytes, KiB, MiB or GiB"
            ));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}` is not a positive size such as 1GiB or 500MiB"))
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid configuration: {field}: {problem}")]
pub struct ConfigError {
    pub field: &'static str,
    pub problem: String,
}

fn invalid(field: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        field,
        problem: problem.into(),
    }
}

impl RunConfig {
    /// The limit on API server requests in flight: as set, or twice the reconciles in flight
    /// (each makes one request at a time, and two kinds are often busy at once), so that by
    /// default it bounds the connections without slowing what --reconcile-concurrency allows.
    pub fn kube_max_in_flight(&self) -> usize {
        self.kube_max_in_flight
            .unwrap_or(2 * usize::from(self.reconcile_concurrency))
    }

    /// The namespaces to watch; empty means all.
    pub fn watched_namespaces(&self) -> Vec<&str> {
        self.namespaces
            .iter()
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())
            .collect()
    }

    /// Checks everything that clap's parsers cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, value) in [
            ("--mendix-cloud-url", &self.mendix_cloud_url),
            ("--private-cloud-url", &self.private_cloud_url),
        ] {
            let parsed = url::Url::parse(value)
                .map_err(|e| invalid(field, format!("`{value}` is not a URL ({e})")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(invalid(
                    field,
                    format!("`{value}` must be an http or https URL"),
                ));
            }
        }
        for ns in self.watched_namespaces() {
            let ok = !ns.is_empty()
                && ns.len() <= 63
                && ns
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !ns.starts_with('-')
                && !ns.ends_with('-');
            if !ok {
                return Err(invalid(
                    "--namespaces",
                    format!("`{ns}` is not a valid namespace name"),
                ));
            }
        }
        if self.reconcile_concurrency == 0 {
            return Err(invalid("--reconcile-concurrency", "must be at least 1"));
        }
        if self.mendix_max_in_flight == 0 {
            return Err(invalid("--mendix-max-in-flight", "must be at least 1"));
        }
        if self.kube_max_in_flight == Some(0) {
            return Err(invalid("--kube-max-in-flight", "must be at least 1"));
        }
        if !(self.mendix_requests_per_second.is_finite() && self.mendix_requests_per_second > 0.0) {
            return Err(invalid(
                "--mendix-requests-per-second",
                "must be a positive number",
            ));
        }
        if self.mendix_request_timeout.is_zero() {
            return Err(invalid(
                "--mendix-request-timeout",
                "must be longer than 0s",
            ));
        }
        if self.poll_initial.is_zero() || self.poll_max < self.poll_initial {
            return Err(invalid(
                "--poll-initial/--poll-max",
                "need 0 < poll-initial <= poll-max",
            ));
        }
        if self.resync_period < Duration::from_secs(1) {
            return Err(invalid("--resync-period", "must be at least 1s"));
        }
        if self.lease_duration < Duration::from_secs(2) {
            return Err(invalid("--lease-duration", "must be at least 2s"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        config: RunConfig,
    }

    fn parse(args: &[&str]) -> RunConfig {
        let mut full = vec!["test"];
        full.extend_from_slice(args);
        Wrapper::try_parse_from(full).expect("parses").config
    }

    #[test]
    fn defaults_are_valid_and_point_at_mendix() {
        let c = parse(&[]);
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.mendix_cloud_url, "https://deploy.mendix.com/api/1");
        assert_eq!(
            c.private_cloud_url,
            "https://privatecloud.mendixcloud.com/api/v4"
        );
        assert_eq!(c.resync_period, Duration::from_secs(600));
        assert!(c.namespaces.iter().all(String::is_empty));
    }

    #[test]
    fn bad_values_name_the_flag() {
        let err = parse(&["--mendix-cloud-url", "ftp://x"])
            .validate()
            .expect_err("rejected");
        assert_eq!(err.field, "--mendix-cloud-url");
        let err = parse(&["--namespaces", "Apps,ok"])
            .validate()
            .expect_err("rejected");
        assert_eq!(err.field, "--namespaces");
        let err = parse(&["--poll-initial", "90s"])
            .validate()
            .expect_err("rejected");
        assert_eq!(err.field, "--poll-initial/--poll-max");
        let err = parse(&["--mendix-requests-per-second", "0"])
            .validate()
            .expect_err("rejected");
        assert!(err.to_string().contains("positive"), "{err}");
    }

    #[test]
    fn namespaces_are_a_comma_list() {
        let c = parse(&["--namespaces", "team-a,team-b"]);
        assert_eq!(c.namespaces, ["team-a", "team-b"]);
        assert_eq!(c.validate(), Ok(()));
    }
}
