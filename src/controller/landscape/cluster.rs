//! `MendixCluster`: a Private Cloud cluster registered with Mendix.

use super::{Landscape, people};
use crate::controller::Context;
use crate::controller::error::Error;
use crate::controller::verdict::Verdict;
use crate::crd::conditions::Outcome;
use crate::crd::landscape::{InviteeStatus, LandscapeStatus, MendixCluster};
use crate::crd::{DeletionPolicy, ManagementPolicy, SecretReference};
use mendix_client::error::MendixError;
use mendix_client::private_cloud_v4::PcDeploy;
use mendix_client::private_cloud_v4::types::{
    ClusterInfo, ClusterManager, ClusterManifest, JobHandle,
};

/// The manifest version sent with a new cluster (the contract's example).
const MANIFEST_VERSION: &str = "2.0.0";

impl Landscape for MendixCluster {
    type Manifest = ClusterManifest;
    type Inputs = ();

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
        format!("cluster {} ({})", self.spec.name, self.spec.cluster_id)
    }

    async fn inputs(&self, _ctx: &Context, _deleting: bool) -> Result<Result<(), Verdict>, Error> {
        Ok(Ok(()))
    }

    async fn read(&self, api: &PcDeploy, _: &()) -> Result<Option<ClusterManifest>, MendixError> {
        match api.get_cluster(&self.spec.cluster_id).await {
            Ok(manifest) => Ok(Some(manifest)),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn new_manifest(&self, _: &()) -> Result<ClusterManifest, Verdict> {
        Ok(ClusterManifest {
            manifest_version: Some(MANIFEST_VERSION.into()),
            cluster: Some(ClusterInfo {
                cluster_id: self.spec.cluster_id.clone(),
                name: Some(self.spec.name.clone()),
                cluster_type: Some(self.spec.r#type.as_str().into()),
                operator_type: None,
                description: self.spec.description.clone(),
                cluster_managers: None,
                extra: Default::default(),
            }),
        })
    }

    fn merge(
        &self,
        _: &(),
        current: &ClusterManifest,
    ) -> Result<(ClusterManifest, Vec<String>), Verdict> {
        let mut next = current.clone();
        let mut changed = Vec::new();
        let cluster = next.cluster.get_or_insert_with(|| ClusterInfo {
            cluster_id: self.spec.cluster_id.clone(),
            name: None,
            cluster_type: None,
            operator_type: None,
            description: None,
            cluster_managers: None,
            extra: Default::default(),
        });
        if cluster.name.as_deref() != Some(self.spec.name.as_str()) {
            cluster.name = Some(self.spec.name.clone());
            changed.push("name".into());
        }
        let kind = self.spec.r#type.as_str();
        if cluster.cluster_type.as_deref() != Some(kind) {
            cluster.cluster_type = Some(kind.into());
            changed.push("type".into());
        }
        if let Some(description) = &self.spec.description
            && cluster.description.as_ref() != Some(description)
        {
            cluster.description = Some(description.clone());
            changed.push("description".into());
        }
        if let Some(managers) = &self.spec.managers {
            let current = cluster.cluster_managers.take().unwrap_or_default();
            let (list, differs) = people::match_exactly(
                current,
                managers
                    .iter()
                    .map(|m| (m.email.as_str(), m.auto_accept_invite)),
                |m: &ClusterManager| &m.email,
                |m, _| m,
                |email, auto_accept| ClusterManager {
                    email: email.into(),
                    status: None,
                    display_name: None,
                    auto_accept_invite: auto_accept.then_some(true),
                    extra: Default::default(),
                },
            );
            if differs {
                changed.push("managers".into());
            }
            cluster.cluster_managers = Some(list);
        }
        Ok((next, changed))
    }

    fn observe(&self, current: &ClusterManifest, _: &(), status: &mut LandscapeStatus) {
        status.cluster_id = Some(self.spec.cluster_id.clone());
        status.members = current
            .cluster
            .as_ref()
            .and_then(|c| c.cluster_managers.as_ref())
            .map(|managers| {
                managers
                    .iter()
                    .map(|m| InviteeStatus {
                        email: m.email.clone(),
                        role: None,
                        status: m.status.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
    }

    fn settled(&self, _: &ClusterManifest, _: &()) -> Verdict {
        Verdict::new(
            Outcome::ready(
                "Registered",
                format!(
                    "{} is registered with Mendix as the spec says",
                    self.describe()
                ),
            ),
            std::time::Duration::ZERO,
        )
    }

    async fn write(
        &self,
        api: &PcDeploy,
        _: &(),
        create: bool,
        manifest: &ClusterManifest,
    ) -> Result<JobHandle, MendixError> {
        if create {
            api.create_cluster(manifest).await
        } else {
            api.update_cluster(&self.spec.cluster_id, manifest).await
        }
    }

    async fn delete(&self, api: &PcDeploy, _: &()) -> Result<JobHandle, MendixError> {
        api.delete_cluster(&self.spec.cluster_id).await
    }
}
