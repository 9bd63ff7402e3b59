//! Credentials for the two Mendix platforms. Their secret part never appears in Debug or
//! Display output; the only way to read it is [`CloudCredentials::api_key`] / [`Pat::expose`],
//! called where the header is built.

use std::fmt;

/// Mendix Cloud v1 credentials: the account's login name and one of its API keys.
#[derive(Clone, PartialEq, Eq)]
pub struct CloudCredentials {
    username: String,
    api_key: String,
}

impl CloudCredentials {
    pub fn new(username: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            api_key: api_key.into(),
        }
    }

    /// The `Mendix-Username` header value (not secret: an e-mail address).
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The `Mendix-ApiKey` header value. Never log it.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }
}

impl fmt::Debug for CloudCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudCredentials")
            .field("username", &self.username)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for CloudCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (API key redacted)", self.username)
    }
}

/// A Mendix Personal Access Token for the Private Cloud v4 APIs.
#[derive(Clone, PartialEq, Eq)]
pub struct Pat(String);

impl Pat {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The raw token. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Pat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pat(<redacted>)")
    }
}

impl fmt::Display for Pat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted PAT>")
    }
}

/// A URL that grants access by itself (pre-signed package or log download links). Debug and
/// Display show only scheme, host and path; [`SignedUrl::expose`] gives the full URL.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SignedUrl(String);

impl SignedUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The full URL including its signature. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Strips query and fragment (where signatures and tokens live) from a URL for messages.
pub fn redact_url(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let base = &url[..cut];
    // Userinfo (`user:pass@host`) is a secret too.
    match (base.find("://"), base.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}<redacted>@{}", &base[..scheme_end + 3], &base[at + 1..])
        }
        _ => base.to_string(),
    }
}

impl fmt::Debug for SignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignedUrl({}?<redacted>)", redact_url(&self.0))
    }
}

impl fmt::Display for SignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}?<redacted>", redact_url(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let c = CloudCredentials::new("dev@example.com", "key-123-secret");
        assert!(!format!("{c:?}").contains("key-123-secret"));
        assert!(!format!("{c}").contains("key-123-secret"));
        assert!(format!("{c}").contains("dev@example.com"));
        let p = Pat::new("pat-secret-value");
        assert!(!format!("{p:?}").contains("pat-secret-value"));
        assert!(!format!("{p}").contains("pat-secret-value"));
        let u = SignedUrl::new("https://cdn.example.com/p.mda?signature=abc123");
        assert!(!format!("{u:?}").contains("abc123"));
        assert!(!format!("{u}").contains("abc123"));
        assert!(format!("{u}").contains("cdn.example.com/p.mda"));
    }

    #[test]
    fn redact_url_strips_query_and_userinfo() {
        assert_eq!(redact_url("https://h/p?x=1#f"), "https://h/p");
        assert_eq!(redact_url("https://u:pw@h/p"), "https://<redacted>@h/p");
        assert_eq!(redact_url("http://h:8/a/b"), "http://h:8/a/b");
    }
}
