//! The kubeconfig written for kubectl and kube-rs (plain HTTP on loopback, no credentials),
//! and a kube-rs client configured the same way.

use std::path::Path;
use std::time::Duration;

/// Writes a kubeconfig with one cluster, user and context, all named `sandbox`.
pub fn write(path: &Path, server_url: &str) -> std::io::Result<()> {
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": {"server": server_url}}],
        "users": [{"name": "sandbox", "user": {}}],
        "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "sandbox", "namespace": "default"}}],
        "current-context": "sandbox",
        "preferences": {},
    });
    let yaml = serde_yaml::to_string(&doc).map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, yaml)
}

/// A kube-rs client for the sandbox at `server_url`, with timeouts so no call hangs forever.
pub fn client(server_url: &str) -> kube::Client {
    // The URL is produced by the server from its bound socket address, so it always parses.
    let uri = server_url
        .parse()
        .unwrap_or_else(|_| axum::http::Uri::from_static("http://127.0.0.1:6443"));
    let mut config = kube::Config::new(uri);
    config.default_namespace = "default".into();
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(300));
    config.write_timeout = Some(Duration::from_secs(30));
    // Building a client from a plain-HTTP config does not touch TLS and cannot fail.
    kube::Client::try_from(config).unwrap_or_else(|e| panic!("kube client for {server_url}: {e}"))
}
