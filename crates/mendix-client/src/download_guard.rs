//! Where package files may be downloaded from. The URL of `spec.source.upload` is chosen by
//! anyone who can create a MendixPackage, and the operator fetches it from inside the cluster:
//! by default it refuses loopback, link-local (cloud metadata among them), private and
//! in-cluster addresses and names, checked before the request, at every DNS answer (so a name
//! cannot be re-pointed between check and connect) and at every redirect.

use std::net::{IpAddr, SocketAddr};

/// What downloads may reach and how much they may bring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadPolicy {
    /// Allow loopback, link-local, private and in-cluster addresses.
    pub allow_private_addresses: bool,
    /// Largest file accepted, in bytes.
    pub max_bytes: u64,
}

impl Default for DownloadPolicy {
    fn default() -> Self {
        Self {
            allow_private_addresses: false,
            max_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// Why an address may not be downloaded from, or `None` when it may.
pub fn forbidden_address(ip: IpAddr) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                Some("a loopback address")
            } else if v4.is_link_local() {
                Some("a link-local address (cloud metadata services live there)")
            } else if v4.is_private() || (a == 100 && (64..128).contains(&b)) {
                Some("a private address")
            } else if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() {
                Some("not a host address")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("a loopback address")
            } else if first & 0xffc0 == 0xfe80 {
                Some("a link-local address (cloud metadata services live there)")
            } else if first & 0xfe00 == 0xfc00 {
                Some("a private address")
            } else if v6.is_unspecified() || v6.is_multicast() {
                Some("not a host address")
            } else {
                None
            }
        }
    }
}

/// Why a host name may not be downloaded from (names only the cluster resolves), or `None`.
pub fn forbidden_name(host: &str) -> Option<&'static str> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let in_cluster = [".svc", ".svc.cluster.local", ".cluster.local", ".internal"]
        .iter()
        .any(|suffix| host.ends_with(suffix));
    if in_cluster || host == "localhost" || host.ends_with(".localhost") || host == "kubernetes" {
        Some("a name inside the cluster or this machine")
    } else {
        None
    }
}

/// Why `url`'s host may not be downloaded from, or `None`.
pub fn forbidden_host(url: &url::Url) -> Option<String> {
    let reason = match url.host()? {
        url::Host::Ipv4(v4) => forbidden_address(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => forbidden_address(IpAddr::V6(v6)),
        url::Host::Domain(name) => forbidden_name(name),
    }?;
    Some(format!(
        "{} is {reason}",
        url.host_str().unwrap_or_default()
    ))
}

/// A resolver that answers only addresses downloads may use.
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| forbidden_address(a.ip()).is_none())
                .collect();
            if allowed.is_empty() || allowed.len() != all.len() {
                let reason = all
                    .iter()
                    .find_map(|a| forbidden_address(a.ip()))
                    .unwrap_or("not resolvable");
                return Err(format!("{host} resolves to {reason}").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names_inside_the_cluster_or_the_machine_are_refused() {
        for bad in [
            "http://127.0.0.1/a.mda",
            "http://[::1]/a.mda",
            "http://169.254.169.254/latest/meta-data",
            "http://[fe80::1]/a.mda",
            "http://10.96.0.1/a.mda",
            "http://192.168.1.5/a.mda",
            "http://172.20.0.3/a.mda",
            "http://100.64.0.1/a.mda",
            "http://[fd00:ec2::254]/a.mda",
            "http://[::ffff:127.0.0.1]/a.mda",
            "http://0.0.0.0/a.mda",
            "http://nexus.tools.svc.cluster.local/a.mda",
            "http://nexus.tools.svc/a.mda",
            "http://metadata.google.internal/a.mda",
            "http://localhost:8080/a.mda",
        ] {
            let url = url::Url::parse(bad).expect("URL");
            assert!(forbidden_host(&url).is_some(), "{bad} allowed");
        }
        for good in [
            "https://artifacts.example.com/a.mda",
            "https://8.8.8.8/a.mda",
            "https://[2001:4860::8888]/a.mda",
        ] {
            let url = url::Url::parse(good).expect("URL");
            assert_eq!(forbidden_host(&url), None, "{good}");
        }
    }
}
