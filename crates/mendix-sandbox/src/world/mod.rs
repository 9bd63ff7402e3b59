//! The remote state the sandbox simulates, and how it moves with time.
//!
//! The same types are the seed file format (YAML, camelCase; see `demo.yaml` for a complete
//! example) and the `/_sim/state` document. Fields marked `skip` are runtime-only. Time moves
//! lazily: every request first calls [`World::advance`], which applies every transition whose
//! deadline has passed, in order. No background task is needed, so a sandbox is deterministic.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::SeedError;

mod cloud;
mod private_cloud;

pub use cloud::*;
pub use private_cloud::*;

/// Simulated durations in milliseconds; multiplied by the time scale.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Timings {
    /// v1 build: `Queued` for this long…
    pub build_queued_ms: u64,
    /// …then `Building` for this long, then `Succeeded` or `Failed`.
    pub build_ms: u64,
    /// A package that just became `Succeeded` (built or uploaded) answers transport with 503
    /// ("still being processed") for this long.
    pub mda_processing_ms: u64,
    /// v1 start job: `Starting` for this long, then `Started` or a start failure.
    pub start_ms: u64,
    /// Private Cloud jobs: `created` for this long…
    pub job_created_ms: u64,
    /// …then `running` for this long, then `finished` or `failed`.
    pub job_running_ms: u64,
    /// Private Cloud build jobs run this long instead of `jobRunningMs`.
    pub pc_build_ms: u64,
    /// After a manifest change is applied, `container.state` is `Processing` for this long.
    pub container_processing_ms: u64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            build_queued_ms: 2_000,
            build_ms: 20_000,
            mda_processing_ms: 3_000,
            start_ms: 10_000,
            job_created_ms: 500,
            job_running_ms: 3_000,
            pc_build_ms: 20_000,
            container_processing_ms: 5_000,
        }
    }
}

/// Everything remote.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct World {
    pub timings: Timings,
    /// Multiplies every simulated duration (0.01 = 100x faster). Seedable; 1.0 by default.
    #[serde(default = "one")]
    pub time_scale: f64,
    pub cloud: CloudState,
    pub private_cloud: PrivateCloudState,
    /// Simulated time skipped by [`super::MendixSandbox::advance_time`].
    #[serde(skip)]
    pub clock_offset: Duration,
}

fn one() -> f64 {
    1.0
}

impl World {
    /// Parse and check a seed file.
    pub fn from_yaml(text: &str) -> Result<Self, SeedError> {
        let mut world: World = serde_yaml::from_str(text)?;
        world.check()?;
        world.fill_defaults();
        Ok(world)
    }

    fn check(&self) -> Result<(), SeedError> {
        let invalid = |field: String, problem: &str| SeedError::Invalid {
            field,
            problem: problem.to_string(),
        };
        if !(self.time_scale.is_finite() && self.time_scale >= 0.0) {
            return Err(invalid(
                "timeScale".into(),
                "must be a number >= 0 (e.g. 0.01 for 100x faster)",
            ));
        }
        for (i, user) in self.cloud.users.iter().enumerate() {
            if user.username.is_empty() || user.api_key.is_empty() {
                return Err(invalid(
                    format!("cloud.users[{i}]"),
                    "needs a non-empty username and apiKey",
                ));
            }
        }
        let duplicate = |ids: Vec<&str>| {
            let mut seen = std::collections::BTreeSet::new();
            ids.into_iter().position(|id| !seen.insert(id))
        };
        if let Some(i) = duplicate(self.cloud.apps.iter().map(|a| a.app_id.as_str()).collect()) {
            return Err(invalid(format!("cloud.apps[{i}].appId"), "is used twice"));
        }
        if let Some(i) = duplicate(
            self.private_cloud
                .apps
                .iter()
                .map(|a| a.app_id.as_str())
                .collect(),
        ) {
            return Err(invalid(
                format!("privateCloud.apps[{i}].appId"),
                "is used twice",
            ));
        }
        for (i, app) in self.cloud.apps.iter().enumerate() {
            if let Some(j) = duplicate(app.environments.iter().map(|e| e.mode.as_str()).collect()) {
                return Err(invalid(
                    format!("cloud.apps[{i}].environments[{j}].mode"),
                    "is used twice in this app",
                ));
            }
            if let Some(j) = duplicate(app.packages.iter().map(|p| p.package_id.as_str()).collect())
            {
                return Err(invalid(
                    format!("cloud.apps[{i}].packages[{j}].packageId"),
                    "is used twice in this app",
                ));
            }
            for (j, env) in app.environments.iter().enumerate() {
                if let Some(package) = &env.package_id
                    && !app.packages.iter().any(|p| &p.package_id == package)
                {
                    return Err(invalid(
                        format!("cloud.apps[{i}].environments[{j}].packageId"),
                        "names no package of this app; add it under the app's packages",
                    ));
                }
            }
        }
        for (i, pat) in self.private_cloud.pats.iter().enumerate() {
            if pat.token.is_empty() {
                return Err(invalid(
                    format!("privateCloud.pats[{i}].token"),
                    "must not be empty",
                ));
            }
        }
        self.check_clusters()?;
        for (i, app) in self.private_cloud.apps.iter().enumerate() {
            for (j, env) in app.environments.iter().enumerate() {
                if !self.namespace_exists(&env.namespace_id) {
                    return Err(invalid(
                        format!("privateCloud.apps[{i}].environments[{j}].namespaceId"),
                        "names no namespace of any cluster; add it under privateCloud.clusters",
                    ));
                }
                if !env
                    .package_id()
                    .is_some_and(|id| app.packages.iter().any(|p| p.id == id))
                {
                    return Err(invalid(
                        format!("privateCloud.apps[{i}].environments[{j}].packageId"),
                        "names no package of this app; add it under the app's packages",
                    ));
                }
                if env.id.len() > 32 {
                    return Err(invalid(
                        format!("privateCloud.apps[{i}].environments[{j}].id"),
                        "must be at most 32 characters",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Seeded clusters and namespaces use the contract's values.
    fn check_clusters(&self) -> Result<(), SeedError> {
        let invalid = |field: String, allowed: &[&str]| SeedError::Invalid {
            field,
            problem: format!("must be one of {}", allowed.join(", ")),
        };
        let check = |value: &str, allowed: &[&str], field: String| {
            if allowed.contains(&value) {
                Ok(())
            } else {
                Err(invalid(field, allowed))
            }
        };
        for (i, cluster) in self.private_cloud.clusters.iter().enumerate() {
            let at = format!("privateCloud.clusters[{i}]");
            check(
                &cluster.operator_type,
                OPERATOR_TYPES,
                format!("{at}.operatorType"),
            )?;
            for (j, manager) in cluster.cluster_managers.iter().enumerate() {
                check(
                    &manager.status,
                    INVITATION_STATUSES,
                    format!("{at}.clusterManagers[{j}].status"),
                )?;
            }
            for (j, namespace) in cluster.namespaces.iter().enumerate() {
                let at = format!("{at}.namespaces[{j}]");
                let types: &[&str] = if cluster.operator_type == "global_operator" {
                    NAMESPACE_TYPES
                } else {
                    &["standard"]
                };
                check(
                    &namespace.namespace_type,
                    types,
                    format!("{at}.namespaceType"),
                )?;
                check(
                    &namespace.installation_type,
                    INSTALLATION_TYPES,
                    format!("{at}.installationType"),
                )?;
                for (k, plan) in namespace.plans.iter().enumerate() {
                    check(
                        &plan.plan_type,
                        PLAN_TYPES,
                        format!("{at}.plans[{k}].planType"),
                    )?;
                }
                for (k, member) in namespace.membership.iter().enumerate() {
                    check(
                        &member.status,
                        INVITATION_STATUSES,
                        format!("{at}.membership[{k}].status"),
                    )?;
                }
            }
        }
        Ok(())
    }

    fn fill_defaults(&mut self) {
        for app in &mut self.cloud.apps {
            if app.url.is_empty() {
                app.url = format!("https://{}.mendixcloud.com", app.app_id);
            }
            for package in &mut app.packages {
                if package.name.is_empty() {
                    package.name = format!("Main line-{}.mda", package.version);
                }
            }
            for env in &mut app.environments {
                if env.url.is_empty() {
                    env.url = if env.production {
                        app.url.clone()
                    } else {
                        format!(
                            "https://{}-{}.mendixcloud.com",
                            app.app_id,
                            env.mode.to_lowercase()
                        )
                    };
                }
                if env.package_id.is_none() {
                    env.status = Some(EnvironmentStatus::Empty);
                } else if env.status.is_none() || env.status == Some(EnvironmentStatus::Empty) {
                    env.status = Some(EnvironmentStatus::Stopped);
                }
            }
        }
        for app in &mut self.private_cloud.apps {
            for package in &mut app.packages {
                if package.file_name.is_empty() {
                    package.file_name = format!("MainLine-{}.mda", package.model_version);
                }
            }
        }
    }

    pub fn namespace_exists(&self, namespace_id: &str) -> bool {
        self.private_cloud
            .clusters
            .iter()
            .any(|c| c.namespaces.iter().any(|n| n.namespace_id == namespace_id))
    }

    /// The cluster holding a namespace, and the namespace.
    pub fn find_namespace(&self, namespace_id: &str) -> Option<(&Cluster, &Namespace)> {
        self.private_cloud.clusters.iter().find_map(|c| {
            c.namespaces
                .iter()
                .find(|n| n.namespace_id == namespace_id)
                .map(|n| (c, n))
        })
    }

    /// A namespace of a cluster, to change.
    pub fn namespace_mut(
        &mut self,
        cluster_id: &str,
        namespace_id: &str,
    ) -> Option<&mut Namespace> {
        self.private_cloud
            .clusters
            .iter_mut()
            .filter(|c| c.cluster_id == cluster_id)
            .flat_map(|c| c.namespaces.iter_mut())
            .find(|n| n.namespace_id == namespace_id)
    }

    /// What `mxpc-cli installer -i {namespaceId}` does: the operator runs in the namespace from
    /// now on. False when no cluster has that namespace.
    pub fn install_namespace(&mut self, namespace_id: &str) -> bool {
        let namespace = self
            .private_cloud
            .clusters
            .iter_mut()
            .flat_map(|c| c.namespaces.iter_mut())
            .find(|n| n.namespace_id == namespace_id);
        match namespace {
            Some(namespace) => {
                namespace.installed = true;
                true
            }
            None => false,
        }
    }

    /// The sandbox clock: real time plus any time skipped by a test.
    pub fn now(&self) -> Instant {
        Instant::now() + self.clock_offset
    }

    /// `from` + a simulated duration, scaled.
    pub fn after(&self, from: Instant, simulated_ms: u64) -> Instant {
        let seconds = simulated_ms as f64 / 1000.0 * self.time_scale;
        from + Duration::from_secs_f64(seconds.clamp(0.0, 1.0e9))
    }

    /// Apply every transition whose time has come.
    pub fn advance(&mut self, now: Instant) {
        self.advance_cloud_packages(now);
        self.advance_start_jobs(now);
        self.advance_pc_jobs(now);
        for app in &mut self.private_cloud.apps {
            for env in &mut app.environments {
                if let Some(until) = env.unknown_until
                    && until <= now
                {
                    env.unknown_until = None;
                    if env.container_state == "Unknown" {
                        env.container_state = "Processing".to_string();
                    }
                }
                if let Some(until) = env.processing_until
                    && until <= now
                {
                    env.unknown_until = None;
                    env.processing_until = None;
                    if std::mem::take(&mut env.fail_next_rollout) {
                        env.container_state = "Failed".to_string();
                        continue;
                    }
                    env.container_state = "Ready".to_string();
                    let instances = env.instances();
                    if instances > 0 {
                        env.last_running_instance_count = instances;
                    }
                }
            }
        }
    }

    fn advance_cloud_packages(&mut self, now: Instant) {
        let timings = self.timings.clone();
        let scale = self.time_scale;
        let after = |from: Instant, ms: u64| {
            from + Duration::from_secs_f64((ms as f64 / 1000.0 * scale).clamp(0.0, 1.0e9))
        };
        for app in &mut self.cloud.apps {
            for package in &mut app.packages {
                while let Some(until) = package.timer.phase_until {
                    if until > now {
                        break;
                    }
                    match package.status {
                        PackageStatus::Queued => {
                            package.status = PackageStatus::Building;
                            package.timer.phase_until = Some(after(until, timings.build_ms));
                        }
                        PackageStatus::Building | PackageStatus::Uploading => {
                            package.timer.phase_until = None;
                            if package.timer.outcome == Some(BuildOutcome::Fails) {
                                package.status = PackageStatus::Failed;
                            } else {
                                package.status = PackageStatus::Succeeded;
                                package.timer.processing_until =
                                    Some(after(until, timings.mda_processing_ms));
                            }
                        }
                        PackageStatus::Succeeded | PackageStatus::Failed => {
                            package.timer.phase_until = None;
                        }
                    }
                }
                if let Some(until) = package.timer.processing_until
                    && until <= now
                {
                    package.timer.processing_until = None;
                }
                package.processing = package.timer.processing_until.is_some();
            }
        }
    }

    fn advance_start_jobs(&mut self, now: Instant) {
        for app in &mut self.cloud.apps {
            for env in &mut app.environments {
                let Some(job_id) = env.starting_job.clone() else {
                    continue;
                };
                let due = env
                    .start_jobs
                    .get(&job_id)
                    .and_then(|job| job.done_at)
                    .is_some_and(|at| at <= now);
                if !due {
                    continue;
                }
                let auto_sync_db = env
                    .start_jobs
                    .get(&job_id)
                    .is_some_and(|job| job.auto_sync_db);
                let failure = start_failure(env, auto_sync_db);
                env.starting_job = None;
                if let Some(job) = env.start_jobs.get_mut(&job_id) {
                    job.done_at = None;
                    match failure {
                        Some((code, message)) => {
                            job.status = "Failed".to_string();
                            job.error_code = Some(code);
                            job.error_message = Some(message);
                        }
                        None => job.status = "Started".to_string(),
                    }
                }
                if env
                    .start_jobs
                    .get(&job_id)
                    .is_some_and(|j| j.status == "Started")
                {
                    env.status = Some(EnvironmentStatus::Running);
                    env.db_out_of_sync = false;
                    env.starts += 1;
                    for constant in &mut env.constants {
                        constant.deployed_value = constant.value.clone();
                    }
                    for setting in env
                        .custom_settings
                        .iter_mut()
                        .chain(env.scheduled_events.iter_mut())
                    {
                        setting.deployed_value = setting.value.clone();
                    }
                }
            }
        }
    }

    fn advance_pc_jobs(&mut self, now: Instant) {
        let mut due: Vec<(Instant, usize, String)> = self
            .private_cloud
            .jobs
            .values_mut()
            .filter_map(|job| {
                if job.status == "created" && job.running_at.is_some_and(|at| at <= now) {
                    job.status = "running".to_string();
                }
                match job.done_at {
                    Some(at) if job.status == "running" && at <= now => {
                        Some((at, job.sequence, job.id.clone()))
                    }
                    _ => None,
                }
            })
            .collect();
        due.sort();
        for (_, _, job_id) in due {
            let Some(job) = self.private_cloud.jobs.get_mut(&job_id) else {
                continue;
            };
            let effect = job.effect.take();
            let added_package = match &effect {
                Some(JobEffect::AddPackage(package)) => Some(package.id.clone()),
                _ => None,
            };
            let app_id = job.app_id.clone();
            let done_at = job.done_at.unwrap_or(now);
            let result = match effect {
                Some(effect) => self.apply_job_effect(&app_id, effect, done_at),
                None => Ok(()),
            };
            if let Some(job) = self.private_cloud.jobs.get_mut(&job_id) {
                job.done_at = None;
                match result {
                    Ok(()) => {
                        job.status = "finished".to_string();
                        job.package_id = added_package;
                    }
                    Err((code, message)) => {
                        job.status = "failed".to_string();
                        job.error_code = Some(code);
                        job.error_message = Some(message);
                    }
                }
            }
        }
    }

    fn apply_job_effect(
        &mut self,
        app_id: &str,
        effect: JobEffect,
        at: Instant,
    ) -> Result<(), (u16, String)> {
        let effect = match self.apply_cluster_effect(effect) {
            Ok(result) => return result,
            Err(effect) => effect,
        };
        let processing_until = self.after(at, self.timings.container_processing_ms);
        // The docs do not say when the new state is first reported: the first half of a
        // rollout reads `Unknown`, the second `Processing`.
        let unknown_until = self.after(at, self.timings.container_processing_ms / 2);
        let Some(app) = self
            .private_cloud
            .apps
            .iter_mut()
            .find(|a| a.app_id == app_id)
        else {
            return Err((404, format!("App {app_id} could not be found")));
        };
        match effect {
            JobEffect::Fail { code, message } => Err((code, message)),
            JobEffect::AddPackage(package) => {
                app.packages.push(*package);
                Ok(())
            }
            JobEffect::DeletePackage { package_id } => {
                if let Some(env) = app
                    .environments
                    .iter()
                    .find(|e| e.package_id() == Some(package_id.as_str()))
                {
                    return Err((
                        400,
                        format!(
                            "Deployment package {package_id} is in use by environment {}",
                            env.id
                        ),
                    ));
                }
                app.packages.retain(|p| p.id != package_id);
                Ok(())
            }
            JobEffect::ApplyManifest {
                environment_id,
                environment,
            } => {
                let Some(env) = app.environments.iter_mut().find(|e| e.id == environment_id) else {
                    return Err((404, format!("Environment {environment_id} not found")));
                };
                env.environment = environment;
                env.updates += 1;
                env.container_state = "Unknown".to_string();
                env.processing_until = Some(processing_until);
                env.unknown_until = Some(unknown_until);
                Ok(())
            }
            JobEffect::CreateEnvironment(env) => {
                if app.environments.iter().any(|e| e.id == env.id) {
                    return Err((
                        400,
                        format!("Environment with id {} already exists", env.id),
                    ));
                }
                let mut env = *env;
                env.container_state = "Unknown".to_string();
                env.processing_until = Some(processing_until);
                env.unknown_until = Some(unknown_until);
                app.environments.push(env);
                Ok(())
            }
            JobEffect::DeleteEnvironment { environment_id } => {
                app.environments.retain(|e| e.id != environment_id);
                Ok(())
            }
            other => Err((500, format!("job effect {other:?} is not an app effect"))),
        }
    }

    /// Cluster and namespace effects; any other effect is handed back.
    fn apply_cluster_effect(
        &mut self,
        effect: JobEffect,
    ) -> Result<Result<(), (u16, String)>, JobEffect> {
        let in_use = |world: &World, namespace_ids: &[String]| {
            world
                .private_cloud
                .apps
                .iter()
                .flat_map(|a| a.environments.iter())
                .find(|e| namespace_ids.contains(&e.namespace_id))
                .map(|e| e.id.clone())
        };
        let clusters = &self.private_cloud.clusters;
        let result = match effect {
            JobEffect::CreateCluster(cluster) => {
                if clusters.iter().any(|c| c.cluster_id == cluster.cluster_id) {
                    Err((
                        400,
                        format!("Cluster with id {} already exists", cluster.cluster_id),
                    ))
                } else {
                    self.private_cloud.clusters.push(*cluster);
                    Ok(())
                }
            }
            JobEffect::UpdateCluster { cluster_id, update } => match self
                .private_cloud
                .clusters
                .iter_mut()
                .find(|c| c.cluster_id == cluster_id)
            {
                Some(cluster) => {
                    cluster.name = update.name;
                    cluster.cluster_type = update.cluster_type;
                    cluster.description = update.description;
                    let managers = update
                        .managers
                        .into_iter()
                        .map(|invite| {
                            let status =
                                invitation_status(&cluster.cluster_managers, &invite, |m| {
                                    (&m.email, &m.status)
                                });
                            ClusterManager {
                                email: invite.email,
                                status,
                            }
                        })
                        .collect();
                    cluster.cluster_managers = managers;
                    Ok(())
                }
                None => Err((404, format!("Cluster {cluster_id} could not be found"))),
            },
            JobEffect::DeleteCluster { cluster_id } => {
                let namespaces: Vec<String> = clusters
                    .iter()
                    .filter(|c| c.cluster_id == cluster_id)
                    .flat_map(|c| c.namespaces.iter().map(|n| n.namespace_id.clone()))
                    .collect();
                if namespaces.is_empty() {
                    self.private_cloud
                        .clusters
                        .retain(|c| c.cluster_id != cluster_id);
                    Ok(())
                } else {
                    Err((
                        400,
                        format!("Cluster {cluster_id} still has namespaces; delete them first"),
                    ))
                }
            }
            JobEffect::CreateNamespace {
                cluster_id,
                namespace,
            } => {
                let exists = clusters
                    .iter()
                    .flat_map(|c| c.namespaces.iter())
                    .any(|n| n.namespace_id == namespace.namespace_id);
                match self
                    .private_cloud
                    .clusters
                    .iter_mut()
                    .find(|c| c.cluster_id == cluster_id)
                {
                    _ if exists => Err((
                        400,
                        format!(
                            "Namespace with id {} already exists",
                            namespace.namespace_id
                        ),
                    )),
                    Some(cluster)
                        if cluster.namespaces.iter().any(|n| n.name == namespace.name) =>
                    {
                        Err((
                            400,
                            format!(
                                "Cluster {cluster_id} already has a namespace named {}",
                                namespace.name
                            ),
                        ))
                    }
                    Some(cluster)
                        if namespace.namespace_type == "main"
                            && cluster
                                .namespaces
                                .iter()
                                .any(|n| n.namespace_type == "main") =>
                    {
                        Err((
                            400,
                            format!("Cluster {cluster_id} already has a Main namespace"),
                        ))
                    }
                    Some(cluster) => {
                        cluster.namespaces.push(*namespace);
                        Ok(())
                    }
                    None => Err((404, format!("Cluster {cluster_id} could not be found"))),
                }
            }
            JobEffect::UpdateNamespace {
                cluster_id,
                namespace_id,
                update,
            } => match self.namespace_mut(&cluster_id, &namespace_id) {
                Some(namespace) => {
                    namespace.apply(*update);
                    Ok(())
                }
                None => Err((404, format!("Namespace {namespace_id} could not be found"))),
            },
            JobEffect::DeleteNamespace {
                cluster_id,
                namespace_id,
            } => match in_use(self, std::slice::from_ref(&namespace_id)) {
                Some(environment) => Err((
                    400,
                    format!(
                        "Namespace {namespace_id} still has environment {environment}; delete it first"
                    ),
                )),
                None => {
                    for cluster in self
                        .private_cloud
                        .clusters
                        .iter_mut()
                        .filter(|c| c.cluster_id == cluster_id)
                    {
                        cluster
                            .namespaces
                            .retain(|n| n.namespace_id != namespace_id);
                    }
                    Ok(())
                }
            },
            other => return Err(other),
        };
        Ok(result)
    }
}

/// The next build number: one more than the highest last version component so far, so that
/// versions never repeat (also after deletions).
pub fn next_build_number<'a>(versions: impl Iterator<Item = &'a str>) -> u64 {
    versions
        .filter_map(|v| v.rsplit('.').next()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
        + 1
}

/// Why a start job fails, decided when it ends (documented v1 start failures).
fn start_failure(env: &mut CloudEnvironment, auto_sync_db: bool) -> Option<(String, String)> {
    if let Some(code) = env.next_start_failure.take() {
        let message = match code.as_str() {
            "DB_SYNC_FAILED" => "Cannot start app. Synchronization of database failed.",
            "INSECURE_ADMIN_PASSWORD" => {
                "Cannot start app. There is a user with administrator role with password '1'. This is not allowed."
            }
            "STARTUP_ACTION_FAILED" => "Cannot start app. Startup action failed.",
            "ALREADY_LOCKED" => "Cannot start app. There is already a lock on this environment.",
            _ => "Cannot start app: simulated failure",
        };
        return Some((code, message.to_string()));
    }
    if env.package_id.is_none() {
        return Some((
            "NO_PACKAGE".to_string(),
            "Cannot start app. There should be a package configured for this environment."
                .to_string(),
        ));
    }
    if env.constants.iter().any(|c| c.value.is_none()) {
        return Some((
            "MISSING_CONSTANT".to_string(),
            "Cannot start app. Missing one or more constant values.".to_string(),
        ));
    }
    if env.db_out_of_sync && !auto_sync_db {
        return Some((
            "INVALID_DB_STRUCTURE".to_string(),
            "Cannot start app. The database is out-of-sync with the model. Please set AutoSyncDb parameter to true to synchronize the database automatically on startup.".to_string(),
        ));
    }
    None
}

/// The status of a member after a write: an existing member (same e-mail) keeps its status;
/// a new one is `Invitation_Sent`, or `Accepted` with `autoAcceptInvite`.
fn invitation_status<M>(
    current: &[M],
    invite: &Invite,
    key: impl Fn(&M) -> (&String, &String),
) -> String {
    current
        .iter()
        .map(key)
        .find(|(email, _)| **email == invite.email)
        .map(|(_, status)| status.clone())
        .unwrap_or_else(|| {
            if invite.auto_accept {
                ACCEPTED.to_string()
            } else {
                INVITATION_SENT.to_string()
            }
        })
}

impl Namespace {
    /// Apply an accepted update.
    fn apply(&mut self, update: NamespaceUpdate) {
        self.secret = update.secret;
        self.product_type_pclm = update.product_type_pclm;
        for (name, activate) in update.plans {
            if let Some(plan) = self.plans.iter_mut().find(|p| p.plan_name == name) {
                plan.activate = activate;
            }
        }
        self.enable_development_mode = update.enable_development_mode;
        self.enable_external_secrets_store = update.enable_external_secrets_store;
        let membership = update
            .membership
            .into_iter()
            .map(|invite| {
                let status =
                    invitation_status(&self.membership, &invite, |m| (&m.email, &m.status));
                NamespaceMember {
                    email: invite.email,
                    role: invite.role.unwrap_or_default(),
                    status,
                }
            })
            .collect();
        self.membership = membership;
        self.operational_links = update.operational_links;
    }
}
