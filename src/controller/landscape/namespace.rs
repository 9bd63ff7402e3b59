//! `MendixNamespace`: a namespace of a Private Cloud cluster, registered with Mendix. Ready once
//! the Mendix Operator is installed in it (`mxpc-cli installer`, which only a person with access
//! to the cluster can run); until then it waits with reason NotInstalled.

use std::fmt;

use kube::ResourceExt;
use kube::api::Api;

use super::{Landscape, RECHECK, people};
use crate::controller::Context;
use crate::controller::error::Error;
use crate::controller::secrets::secret_value;
use crate::controller::verdict::Verdict;
use crate::crd::conditions::{self, Outcome};
use crate::crd::environment::PlanType;
use crate::crd::landscape::{
    InviteeStatus, LandscapeStatus, MendixCluster, MendixNamespace, PlanStatus,
};
use crate::crd::{DeletionPolicy, ManagementPolicy, SecretReference};
use mendix_client::error::MendixError;
use mendix_client::private_cloud_v4::PcDeploy;
use mendix_client::private_cloud_v4::types::{
    JobHandle, NamespaceInfo, NamespaceManifest, NamespaceMember,
};

/// The manifest version sent with a new namespace (the contract's example).
const MANIFEST_VERSION: &str = "2.0.0";

/// The cluster the namespace is in, and the namespace secret (base64, as the manifest carries
/// it; never in Debug output) when the spec names one.
pub struct NamespaceInputs {
    cluster_id: String,
    secret: Option<String>,
}

impl fmt::Debug for NamespaceInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamespaceInputs")
            .field("cluster_id", &self.cluster_id)
            .finish_non_exhaustive()
    }
}

impl Landscape for MendixNamespace {
    type Manifest = NamespaceManifest;
    type Inputs = NamespaceInputs;

    fn landscape_status(&self) -> Option<&LandscapeStatus> {
        self.status.as_ref()
    }
    fn credentials(&self) -> &SecretReference {
        &self.spec.credentials_secret_ref
    }
    fn deletion_policy(&self) -> DeletionPolicy {
        self.spec.deletion_policy
    }
    fn management_policy(&self) -> ManagementPolicy {
        self.spec.management_policy
    }
    fn describe(&self) -> String {
        format!("namespace {} ({})", self.spec.name, self.spec.namespace_id)
    }

    async fn inputs(
        &self,
        ctx: &Context,
        deleting: bool,
    ) -> Result<Result<NamespaceInputs, Verdict>, Error> {
        let namespace = self
            .namespace()
            .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
        // A delete names the cluster the namespace was seen in, and needs no secret: the
        // MendixCluster and the Secret may be going at the same time.
        let seen_in = self.status.as_ref().and_then(|s| s.cluster_id.clone());
        if deleting && let Some(cluster_id) = self.spec.cluster_id.clone().or(seen_in) {
            return Ok(Ok(NamespaceInputs {
                cluster_id,
                secret: None,
            }));
        }
        let cluster_id = match (&self.spec.cluster_id, &self.spec.cluster_ref) {
            (Some(id), _) => id.clone(),
            (None, Some(reference)) => {
                let api: Api<MendixCluster> = Api::namespaced(ctx.client.clone(), &namespace);
                let wait = |message: String| {
                    Ok(Err(Verdict::new(
                        Outcome::progressing("WaitingForCluster", message),
                        RECHECK,
                    )))
                };
                let Some(cluster) = api.get_opt(&reference.name).await? else {
                    return wait(format!(
                        "waiting for MendixCluster {} to be created",
                        reference.name
                    ));
                };
                let status = cluster.status.clone().unwrap_or_default();
                let ready = conditions::is_true(&status.conditions, conditions::READY)
                    && status.observed_generation == cluster.metadata.generation;
                match status.cluster_id {
                    Some(id) if ready => id,
                    _ => {
                        return wait(format!(
                            "waiting for MendixCluster {} to be Ready",
                            reference.name
                        ));
                    }
                }
            }
            (None, None) => {
                return Ok(Err(Verdict::stalled(
                    "InvalidSpec",
                    "exactly one of spec.clusterId or spec.clusterRef must be set",
                )));
            }
        };
        let Some(selector) = &self.spec.secret_ref else {
            return Ok(Ok(NamespaceInputs {
                cluster_id,
                secret: None,
            }));
        };
        let secret =
            match secret_value(&ctx.client, &namespace, &selector.name, &selector.key).await {
                // The manifest carries it base64-encoded; mxpc-cli takes the value itself.
                Ok((value, _)) => {
                    use base64::Engine as _;
                    Some(base64::engine::general_purpose::STANDARD.encode(value))
                }
                Err(err) => match err.stalled_reason() {
                    Some(reason) => {
                        return Ok(Err(Verdict::stalled(
                            reason,
                            format!("spec.secretRef: {err}"),
                        )));
                    }
                    None => return Err(err.into()),
                },
            };
        Ok(Ok(NamespaceInputs { cluster_id, secret }))
    }

    async fn read(
        &self,
        api: &PcDeploy,
        inputs: &NamespaceInputs,
    ) -> Result<Option<NamespaceManifest>, MendixError> {
        match api
            .get_namespace(&inputs.cluster_id, &self.spec.namespace_id, false)
            .await
        {
            Ok(manifest) => Ok(Some(manifest)),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn new_manifest(&self, inputs: &NamespaceInputs) -> Result<NamespaceManifest, Verdict> {
        if inputs.secret.is_none() {
            return Err(Verdict::stalled(
                "InvalidSpec",
                format!(
                    "{} does not exist in Mendix: set spec.secretRef (the secret mxpc-cli installer is run with) to create it",
                    self.describe()
                ),
            ));
        }
        Ok(NamespaceManifest {
            manifest_version: Some(MANIFEST_VERSION.into()),
            namespace: NamespaceInfo {
                namespace_id: self.spec.namespace_id.clone(),
                name: Some(self.spec.name.clone()),
                namespace_type: self
                    .spec
                    .namespace_type
                    .map(|t| format!("{t:?}").to_lowercase()),
                installation_type: Some(format!("{:?}", self.spec.installation_type)),
                secret: inputs.secret.clone(),
                product_type_pclm: None,
                plans: None,
                enable_development_mode: None,
                enable_external_secrets_store: None,
                membership: None,
                environments: None,
                extra: Default::default(),
            },
        })
    }

    fn merge(
        &self,
        inputs: &NamespaceInputs,
        current: &NamespaceManifest,
    ) -> Result<(NamespaceManifest, Vec<String>), Verdict> {
        let spec = &self.spec;
        let mut next = current.clone();
        let mut changed = Vec::new();
        let ns = &mut next.namespace;
        // Read-only in a write.
        ns.environments = None;
        // Mendix needs the secret on every write; a different one in the spec is sent.
        if let Some(secret) = &inputs.secret
            && ns.secret.as_ref() != Some(secret)
        {
            if ns.secret.is_some() {
                changed.push("secret".into());
            }
            ns.secret = Some(secret.clone());
        }
        if !spec.plans.is_empty() {
            let plans = ns.plans.get_or_insert_with(Vec::new);
            for want in &spec.plans {
                let Some(plan) = plans
                    .iter_mut()
                    .find(|p| p.plan_name.as_deref() == Some(want.name.as_str()))
                else {
                    let known: Vec<&str> = plans
                        .iter()
                        .filter_map(|p| p.plan_name.as_deref())
                        .collect();
                    return Err(Verdict::stalled(
                        "UnknownPlan",
                        format!(
                            "spec.plans: namespace {} has no plan {}; its plans are: {}. Configure the plan with mxpc-cli or name one of these",
                            spec.name,
                            want.name,
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ));
                };
                if plan.activate.unwrap_or(false) != want.active {
                    plan.activate = Some(want.active);
                    changed.push(format!("plan {}", want.name));
                }
            }
        }
        for (field, want, label) in [
            (
                &mut ns.enable_development_mode,
                spec.development_mode,
                "development mode",
            ),
            (
                &mut ns.enable_external_secrets_store,
                spec.external_secrets_store,
                "external secrets store",
            ),
        ] {
            if let Some(want) = want
                && field.unwrap_or(false) != want
            {
                *field = Some(want);
                changed.push(label.into());
            }
        }
        if let Some(members) = &spec.members {
            let current = ns.membership.take().unwrap_or_default();
            let (list, differs) = people::match_exactly(
                current,
                members
                    .iter()
                    .map(|m| (m.email.as_str(), (m.role.as_str(), m.auto_accept_invite))),
                |m: &NamespaceMember| &m.email,
                |mut m, (role, _)| {
                    m.role = role.into();
                    m
                },
                |email, (role, auto_accept)| NamespaceMember {
                    email: email.into(),
                    role: role.into(),
                    status: None,
                    display_name: None,
                    auto_accept_invite: auto_accept.then_some(true),
                    permissions: None,
                    extra: Default::default(),
                },
            );
            if differs {
                changed.push("members".into());
            }
            ns.membership = Some(list);
        }
        Ok((next, changed))
    }

    fn observe(
        &self,
        current: &NamespaceManifest,
        inputs: &NamespaceInputs,
        status: &mut LandscapeStatus,
    ) {
        let ns = &current.namespace;
        status.cluster_id = Some(inputs.cluster_id.clone());
        status.namespace_id = Some(ns.namespace_id.clone());
        status.name = ns.name.clone().or_else(|| Some(self.spec.name.clone()));
        status.operator_version = ns.operator_version().map(str::to_string);
        status.members = ns
            .membership
            .iter()
            .flatten()
            .map(|m| InviteeStatus {
                email: m.email.clone(),
                role: Some(m.role.clone()),
                status: m.status.clone(),
            })
            .collect();
        status.plans = ns
            .plans
            .iter()
            .flatten()
            .filter_map(|p| {
                Some(PlanStatus {
                    name: p.plan_name.clone()?,
                    r#type: match p.plan_type.as_deref() {
                        Some("OnDemand") => Some(PlanType::OnDemand),
                        Some("Dedicated") => Some(PlanType::Dedicated),
                        _ => None,
                    },
                    active: p.activate.unwrap_or(false),
                })
            })
            .collect();
    }

    fn settled(&self, current: &NamespaceManifest, _: &NamespaceInputs) -> Verdict {
        match current.namespace.operator_version() {
            Some(version) => Verdict::new(
                Outcome::ready(
                    "Installed",
                    format!(
                        "{} is registered and runs Mendix Operator {version}",
                        self.describe()
                    ),
                ),
                std::time::Duration::ZERO,
            ),
            None => Verdict::new(
                Outcome::progressing(
                    "NotInstalled",
                    format!(
                        "{} is registered with Mendix, but the Mendix Operator is not installed in it: run `mxpc-cli installer -n {} -i {} -s <{}>` in the cluster (`kubectl mendix mxpc-cli` downloads mxpc-cli)",
                        self.describe(),
                        self.spec.name,
                        self.spec.namespace_id,
                        match &self.spec.secret_ref {
                            Some(s) => format!("the value of Secret {} key {}", s.name, s.key),
                            None => "the namespace's installer secret".to_string(),
                        }
                    ),
                ),
                RECHECK,
            ),
        }
    }

    async fn write(
        &self,
        api: &PcDeploy,
        inputs: &NamespaceInputs,
        create: bool,
        manifest: &NamespaceManifest,
    ) -> Result<JobHandle, MendixError> {
        if create {
            api.create_namespace(&inputs.cluster_id, manifest).await
        } else {
            api.update_namespace(&inputs.cluster_id, &self.spec.namespace_id, manifest)
                .await
        }
    }

    async fn delete(
        &self,
        api: &PcDeploy,
        inputs: &NamespaceInputs,
    ) -> Result<JobHandle, MendixError> {
        api.delete_namespace(&inputs.cluster_id, &self.spec.namespace_id)
            .await
    }
}
