//! Mendix credentials, read from the Secret a resource names. Missing Secrets and keys become
//! errors that say which Secret and key to create; values never reach logs or status.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use crate::crd::{SECRET_KEY_API_KEY, SECRET_KEY_PAT, SECRET_KEY_USERNAME};
use mendix_client::credentials::{CloudCredentials, Pat};

/// Which Mendix platform a resource targets; decides the Secret keys and the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    MendixCloud,
    PrivateCloud,
}

impl Platform {
    pub fn label(self) -> &'static str {
        match self {
            Platform::MendixCloud => "Mendix Cloud",
            Platform::PrivateCloud => "Private Cloud",
        }
    }
}

pub enum Credentials {
    Cloud(CloudCredentials),
    Private(Pat),
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "Secret {namespace}/{name} not found: create it with the {platform} credentials (see deploy/examples/)"
    )]
    SecretNotFound {
        namespace: String,
        name: String,
        platform: &'static str,
    },
    #[error("Secret {namespace}/{name} has no key `{key}`: add it ({platform} needs {needed})")]
    KeyMissing {
        namespace: String,
        name: String,
        key: String,
        platform: &'static str,
        needed: &'static str,
    },
    #[error(
        "Secret {namespace}/{name} key `{key}` is empty or not UTF-8 text: put the {platform} value there"
    )]
    KeyUnreadable {
        namespace: String,
        name: String,
        key: String,
        platform: &'static str,
    },
    #[error("reading Secret {namespace}/{name}: {source}")]
    Kube {
        namespace: String,
        name: String,
        source: kube::Error,
    },
}

impl CredentialsError {
    /// The condition reason for a person to act on, or None for a transient read failure.
    pub fn stalled_reason(&self) -> Option<&'static str> {
        match self {
            CredentialsError::SecretNotFound { .. } => Some("SecretNotFound"),
            CredentialsError::KeyMissing { .. } => Some("SecretKeyMissing"),
            CredentialsError::KeyUnreadable { .. } => Some("SecretKeyInvalid"),
            CredentialsError::Kube { .. } => None,
        }
    }
}

/// Reads one text value from a Secret's `data`.
fn text_value(secret: &Secret, key: &str) -> Option<Result<String, ()>> {
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|s| s.clone().into_bytes())
        })?;
    Some(
        String::from_utf8(bytes)
            .map(|s| s.trim().to_string())
            .map_err(|_| ())
            .and_then(|s| if s.is_empty() { Err(()) } else { Ok(s) }),
    )
}

/// Reads a Secret in `namespace`, or None when it does not exist.
pub async fn read_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Secret>, kube::Error> {
    Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
}

/// Loads the credentials for `platform` from Secret `name` in `namespace`.
pub async fn load(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    platform: Platform,
) -> Result<Credentials, CredentialsError> {
    let secret = read_secret(client, namespace, name)
        .await
        .map_err(|source| CredentialsError::Kube {
            namespace: namespace.into(),
            name: name.into(),
            source,
        })?
        .ok_or_else(|| CredentialsError::SecretNotFound {
            namespace: namespace.into(),
            name: name.into(),
            platform: platform.label(),
        })?;
    let needed = match platform {
        Platform::MendixCloud => "keys `username` and `apiKey`",
        Platform::PrivateCloud => "key `pat` (a Personal Access Token)",
    };
    let get = |key: &'static str| match text_value(&secret, key) {
        None => Err(CredentialsError::KeyMissing {
            namespace: namespace.into(),
            name: name.into(),
            key: key.into(),
            platform: platform.label(),
            needed,
        }),
        Some(Err(())) => Err(CredentialsError::KeyUnreadable {
            namespace: namespace.into(),
            name: name.into(),
            key: key.into(),
            platform: platform.label(),
        }),
        Some(Ok(value)) => Ok(value),
    };
    Ok(match platform {
        Platform::MendixCloud => Credentials::Cloud(CloudCredentials::new(
            get(SECRET_KEY_USERNAME)?,
            get(SECRET_KEY_API_KEY)?,
        )),
        Platform::PrivateCloud => Credentials::Private(Pat::new(get(SECRET_KEY_PAT)?)),
    })
}

/// Reads one key of a Secret (a constant, environment variable or password taken from a
/// Secret), with the Secret's resourceVersion.
pub async fn secret_value(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<(String, String), CredentialsError> {
    let secret = read_secret(client, namespace, name)
        .await
        .map_err(|source| CredentialsError::Kube {
            namespace: namespace.into(),
            name: name.into(),
            source,
        })?
        .ok_or_else(|| CredentialsError::SecretNotFound {
            namespace: namespace.into(),
            name: name.into(),
            platform: "constant",
        })?;
    let version = secret.metadata.resource_version.clone().unwrap_or_default();
    match text_value(&secret, key) {
        Some(Ok(v)) => Ok((v, version)),
        None => Err(CredentialsError::KeyMissing {
            namespace: namespace.into(),
            name: name.into(),
            key: key.into(),
            platform: "the referenced value",
            needed: "the key named in the reference",
        }),
        Some(Err(())) => Err(CredentialsError::KeyUnreadable {
            namespace: namespace.into(),
            name: name.into(),
            key: key.into(),
            platform: "constant",
        }),
    }
}
