//! Which resource a command means: `mxpkg/NAME`, `mxenv/NAME` (or the long kind names), or a
//! bare NAME, looked up as a MendixEnvironment first, then as a MendixPackage.

use std::fmt;

use kube::api::{Api, Patch, PatchParams};

use super::PluginError;
use mendix_operator::crd::{MendixEnvironment, MendixPackage};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Package(String),
    Environment(String),
    /// A bare name, not yet looked up.
    Either(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Package(name) => write!(f, "mxpkg/{name}"),
            Target::Environment(name) => write!(f, "mxenv/{name}"),
            Target::Either(name) => write!(f, "{name}"),
        }
    }
}

impl Target {
    pub fn parse(text: &str) -> Result<Self, PluginError> {
        let usage = || {
            PluginError::Usage(format!(
                "`{text}` is not a resource: use mxpkg/NAME, mxenv/NAME or NAME"
            ))
        };
        let (kind, name) = match text.split_once('/') {
            Some((kind, name)) => (Some(kind.to_ascii_lowercase()), name),
            None => (None, text),
        };
        if name.is_empty() || name.contains('/') {
            return Err(usage());
        }
        let name = name.to_string();
        match kind.as_deref() {
            None => Ok(Target::Either(name)),
            Some(
                "mxpkg"
                | "mendixpackage"
                | "mendixpackages"
                | "mendixpackage.mendixops.io"
                | "mendixpackages.mendixops.io",
            ) => Ok(Target::Package(name)),
            Some(
                "mxenv"
                | "mendixenvironment"
                | "mendixenvironments"
                | "mendixenvironment.mendixops.io"
                | "mendixenvironments.mendixops.io",
            ) => Ok(Target::Environment(name)),
            Some(_) => Err(usage()),
        }
    }

    /// Checks that the resource exists; a bare name becomes the kind it was found as.
    pub async fn resolve(self, client: &kube::Client, ns: &str) -> Result<Self, PluginError> {
        let envs: Api<MendixEnvironment> = Api::namespaced(client.clone(), ns);
        let pkgs: Api<MendixPackage> = Api::namespaced(client.clone(), ns);
        let env_exists = |name: String| {
            let envs = envs.clone();
            async move {
                envs.get_opt(&name)
                    .await
                    .map(|o| o.is_some())
                    .map_err(PluginError::kube(format!("cannot read mxenv/{name}")))
            }
        };
        let pkg_exists = |name: String| {
            let pkgs = pkgs.clone();
            async move {
                pkgs.get_opt(&name)
                    .await
                    .map(|o| o.is_some())
                    .map_err(PluginError::kube(format!("cannot read mxpkg/{name}")))
            }
        };
        let missing =
            |what: String| PluginError::NotFound(format!("{what} not found in namespace {ns}"));
        match self {
            Target::Environment(name) => match env_exists(name.clone()).await? {
                true => Ok(Target::Environment(name)),
                false => Err(missing(format!("MendixEnvironment {name}"))),
            },
            Target::Package(name) => match pkg_exists(name.clone()).await? {
                true => Ok(Target::Package(name)),
                false => Err(missing(format!("MendixPackage {name}"))),
            },
            Target::Either(name) => {
                if env_exists(name.clone()).await? {
                    Ok(Target::Environment(name))
                } else if pkg_exists(name.clone()).await? {
                    Ok(Target::Package(name))
                } else {
                    Err(missing(format!(
                        "no MendixEnvironment or MendixPackage named {name}"
                    )))
                }
            }
        }
    }

    /// Sets (or with `None` removes) one annotation with a merge patch, as
    /// `kubectl annotate` does.
    pub async fn annotate(
        &self,
        client: &kube::Client,
        ns: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), PluginError> {
        let patch = serde_json::json!({"metadata": {"annotations": {key: value}}});
        let params = PatchParams::default();
        let what = format!("cannot annotate {self}");
        match self {
            Target::Environment(name) => Api::<MendixEnvironment>::namespaced(client.clone(), ns)
                .patch(name, &params, &Patch::Merge(&patch))
                .await
                .map(drop),
            Target::Package(name) => Api::<MendixPackage>::namespaced(client.clone(), ns)
                .patch(name, &params, &Patch::Merge(&patch))
                .await
                .map(drop),
            Target::Either(name) => {
                return Err(PluginError::Usage(format!(
                    "{name}: resolve the resource before annotating it"
                )));
            }
        }
        .map_err(PluginError::kube(what))
    }
}

/// The MendixEnvironment `name` in `namespace`; a clear error when there is none.
pub async fn read_environment(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<MendixEnvironment, PluginError> {
    Api::<MendixEnvironment>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(PluginError::kube(format!(
            "cannot read MendixEnvironment {name}"
        )))?
        .ok_or_else(|| PluginError::NotFound(format!("MendixEnvironment {namespace}/{name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kinds_and_bare_names() {
        assert_eq!(
            Target::parse("mxpkg/a").ok(),
            Some(Target::Package("a".into()))
        );
        assert_eq!(
            Target::parse("MendixEnvironment/b").ok(),
            Some(Target::Environment("b".into()))
        );
        assert_eq!(Target::parse("c").ok(), Some(Target::Either("c".into())));
        assert!(Target::parse("deployment/x").is_err());
        assert!(Target::parse("mxenv/").is_err());
        assert!(Target::parse("mxenv/a/b").is_err());
    }
}
