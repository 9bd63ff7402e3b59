//! The pure decision of a Mendix Cloud deploy: from what one reconcile knows (the spec, what
//! Mendix reports, what status remembers) to the next step, unit- and property-tested without
//! a server.

use crate::controller::environment::desired::{
    Desired, ProductionNotAllowed, SettingsChange, merge_cloud_settings, pending_on_restart,
    production_guard,
};
use crate::crd::environment::RunState;
use mendix_client::cloud_v1::types::{EnvironmentStatus, Settings};

/// One step of a Mendix Cloud deploy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub(crate) enum Step {
    StopForClean,
    Clean,
    StopForDeploy,
    Transport,
    ApplySettings,
    Scale { instances: u32, memory: u32 },
    Start,
    Restart,
    Stop,
    Done,
}

impl Step {
    pub(crate) fn describe(self, version: &str) -> String {
        match self {
            Step::StopForClean => "stopping the app to clean the environment".into(),
            Step::Clean => "removing all data of the environment".into(),
            Step::StopForDeploy => format!("stopping the app to deploy {version}"),
            Step::Transport => format!("transporting {version}"),
            Step::ApplySettings => "applying settings".into(),
            Step::Scale { instances, memory } => format!("scaling to {instances} x {memory} MB"),
            Step::Start => format!("starting {version}"),
            Step::Restart => "stopping the app to restart it".into(),
            Step::Stop => "stopping the app".into(),
            Step::Done => "nothing".into(),
        }
    }
}

/// What one reconcile knows about the environment: read from Mendix once, then kept current
/// by the steps it takes, so a deploy (stop → transport → settings → start) runs in one
/// reconcile without reading Mendix again between its steps.
#[derive(Clone)]
pub(crate) struct Known {
    pub(crate) remote: mendix_client::cloud_v1::types::Environment,
    pub(crate) running: bool,
    pub(crate) deployed: Option<String>,
    /// `None` when the spec manages no settings: they are not read then.
    pub(crate) settings: Option<mendix_client::cloud_v1::types::Settings>,
}

/// What the deploy loop does next, with the settings merge it was decided from (an
/// ApplySettings step writes `merged`).
pub(crate) struct Next {
    pub(crate) step: Step,
    pub(crate) merged: Settings,
    pub(crate) change: SettingsChange,
}

/// The loop's whole decision from what it knows: the production guard, the settings merge,
/// then [`plan`]. Pure, so the properties below test exactly what converge runs.
pub(crate) fn next_step(
    desired: &Desired,
    known: &Known,
    spec_production: bool,
    custom_settings_need_restart: bool,
    restart_requested: bool,
    clean_requested: bool,
) -> Result<Next, ProductionNotAllowed> {
    production_guard(known.remote.production, spec_production)?;
    let (merged, change) = match &known.settings {
        Some(settings) => merge_cloud_settings(settings, desired),
        None => Default::default(),
    };
    // A clean asked for comes first: it removes the package too, which the steps after it
    // deploy and start again.
    if clean_requested {
        let step = if known.running {
            Step::StopForClean
        } else {
            Step::Clean
        };
        return Ok(Next {
            step,
            merged,
            change,
        });
    }
    // Names the deployed model does not know count as settings to apply: that step stalls
    // with UnknownSetting before anything is changed, instead of the app being started
    // without them.
    let settings_to_apply: Vec<String> = change
        .changed
        .iter()
        .chain(&change.unknown_constants)
        .chain(&change.unknown_events)
        .cloned()
        .collect();
    let settings_pending = custom_settings_need_restart
        || known
            .settings
            .as_ref()
            .is_some_and(|s| !pending_on_restart(s, desired).is_empty());
    let step = plan(
        desired,
        &known.remote,
        known.running,
        known.deployed.as_deref() != Some(desired.package_id.as_str()),
        &settings_to_apply,
        settings_pending,
        restart_requested,
    );
    Ok(Next {
        step,
        merged,
        change,
    })
}

/// Where Mendix differs from the spec, one entry per field, for `managementPolicy: Observe`.
/// Setting values are not shown: a constant's may come from a Secret.
pub(crate) fn drift(desired: &Desired, known: &Known) -> Vec<String> {
    let mut drift = Vec::new();
    if known.deployed.as_deref() != Some(desired.package_id.as_str()) {
        drift.push(format!(
            "package: {} runs, the spec says {}",
            known.deployed.as_deref().unwrap_or("none"),
            desired.package_id
        ));
    }
    let wanted = desired.instances.and_then(|n| u32::try_from(n).ok()).zip(
        desired
            .memory_per_instance
            .and_then(|m| u32::try_from(m).ok()),
    );
    if let Some((instances, memory)) = wanted
        && (known.remote.instances, known.remote.memory_per_instance)
            != (Some(instances), Some(memory))
    {
        let shown = |v: Option<u32>| v.map_or("unknown".to_string(), |v| v.to_string());
        drift.push(format!(
            "size: {} x {} MB, the spec says {instances} x {memory} MB",
            shown(known.remote.instances),
            shown(known.remote.memory_per_instance)
        ));
    }
    if known.running != (desired.run_state == RunState::Running) {
        drift.push(format!(
            "run state: {}, the spec says {:?}",
            if known.running { "Running" } else { "Stopped" },
            desired.run_state
        ));
    }
    if let Some(settings) = &known.settings {
        let (_, change) = merge_cloud_settings(settings, desired);
        drift.extend(change.changed.iter().map(|n| format!("{n}: differs")));
        drift.extend(
            change
                .unknown_constants
                .iter()
                .chain(&change.unknown_events)
                .map(|n| format!("{n}: not in the deployed model")),
        );
        drift.extend(
            pending_on_restart(settings, desired)
                .iter()
                .map(|n| format!("{n}: set, not yet deployed (needs a restart)")),
        );
    }
    drift
}

/// The tags differ from the wanted set: what to say, or None when they match (order aside).
pub(crate) fn tags_drift(current: &[String], wanted: &[String]) -> Option<String> {
    let mut have: Vec<&String> = current.iter().collect();
    let mut want: Vec<&String> = wanted.iter().collect();
    have.sort();
    have.dedup();
    want.sort();
    want.dedup();
    (have != want).then(|| format!("tags: {have:?}, the spec says {want:?}"))
}

/// One reconcile's decisions from what it knows to convergence, each step's effect applied as
/// Mendix would then report it: the preview (`kubectl mendix diff`) and the plan an approval
/// names come from it, and the planner's properties run it. Known is what a reconcile read,
/// the flags what status holds.
#[derive(Clone)]
pub(crate) struct Simulation {
    pub(crate) desired: Desired,
    pub(crate) known: Known,
    pub(crate) spec_production: bool,
    /// A restart owed for custom settings written to the running app.
    pub(crate) owed: bool,
    pub(crate) restart_requested: bool,
    pub(crate) clean_requested: bool,
}

/// More steps than any plan takes (the longest: stop for clean, clean, stop, transport,
/// settings, scale, start).
const PLAN_LIMIT: usize = 10;

impl Simulation {
    pub(crate) fn decide(&self) -> Result<Next, ProductionNotAllowed> {
        next_step(
            &self.desired,
            &self.known,
            self.spec_production,
            self.owed,
            self.restart_requested,
            self.clean_requested,
        )
    }

    /// The environment as Mendix would report it after `step` (the loop's state after it).
    /// `Err` is a step that ends in a stall before any write.
    pub(crate) fn apply(&mut self, next: Next) -> Result<(), String> {
        let known = &mut self.known;
        match next.step {
            Step::StopForDeploy | Step::StopForClean | Step::Stop | Step::Restart => {
                known.running = false;
                known.remote.status = EnvironmentStatus::Stopped;
            }
            Step::Clean => {
                // All data goes, and the package with it.
                known.deployed = None;
                known.remote.status = EnvironmentStatus::Empty;
                self.clean_requested = false;
            }
            Step::Transport => known.deployed = Some(self.desired.package_id.clone()),
            Step::ApplySettings => {
                let unknown: Vec<String> = next
                    .change
                    .unknown_constants
                    .iter()
                    .chain(&next.change.unknown_events)
                    .cloned()
                    .collect();
                if !unknown.is_empty() {
                    return Err(format!("UnknownSetting {unknown:?}"));
                }
                // As the loop does: custom settings written to a running app owe a restart.
                self.owed |=
                    known.running
                        && next.change.changed.iter().any(|name| {
                            self.desired.custom_settings.iter().any(|(n, _)| n == name)
                        });
                known.settings = Some(next.merged);
            }
            Step::Scale { instances, memory } => {
                known.remote.instances = Some(instances);
                known.remote.memory_per_instance = Some(memory);
            }
            Step::Start => {
                known.running = true;
                known.remote.status = EnvironmentStatus::Running;
                // A start deploys every configured value and satisfies any restart.
                if let Some(settings) = known.settings.as_mut() {
                    for c in &mut settings.constants {
                        c.deployed_value = c.value.clone();
                    }
                    for e in &mut settings.scheduled_events {
                        e.deployed_value = e.value.clone();
                    }
                }
                self.owed = false;
                self.restart_requested = false;
            }
            Step::Done => {}
        }
        Ok(())
    }

    /// Every step from now until Done, with the settings change each was decided from; a
    /// step that would stall (settings the model lacks) ends the list with its reason.
    pub(crate) fn steps(mut self) -> Result<(Vec<Next>, Option<String>), ProductionNotAllowed> {
        let mut steps = Vec::new();
        while steps.len() < PLAN_LIMIT {
            let next = self.decide()?;
            if next.step == Step::Done {
                return Ok((steps, None));
            }
            let taken = Next {
                step: next.step,
                merged: next.merged.clone(),
                change: next.change.clone(),
            };
            if let Err(stall) = self.apply(next) {
                steps.push(taken);
                return Ok((steps, Some(stall)));
            }
            steps.push(taken);
        }
        Ok((steps, Some("no end in sight".into())))
    }
}

/// The next step, from what Mendix reports: pure, so the order is unit-tested.
pub(crate) fn plan(
    desired: &Desired,
    remote: &mendix_client::cloud_v1::types::Environment,
    running: bool,
    needs_transport: bool,
    changed_settings: &[String],
    settings_pending: bool,
    restart_requested: bool,
) -> Step {
    if needs_transport {
        return if running {
            Step::StopForDeploy
        } else {
            Step::Transport
        };
    }
    if !changed_settings.is_empty() {
        return Step::ApplySettings;
    }
    // Mendix Cloud's scale call sets instances and memory together and GET environment reports
    // neither, so a scale is planned only when the spec names both (the CRD requires that):
    // never a value nobody asked for.
    let wanted = desired.instances.and_then(|n| u32::try_from(n).ok()).zip(
        desired
            .memory_per_instance
            .and_then(|m| u32::try_from(m).ok()),
    );
    if let Some((instances, memory)) = wanted
        && (remote.instances != Some(instances) || remote.memory_per_instance != Some(memory))
    {
        return Step::Scale { instances, memory };
    }
    match (desired.run_state, running) {
        (RunState::Running, false) => Step::Start,
        (RunState::Running, true) if settings_pending || restart_requested => Step::Restart,
        (RunState::Stopped, true) => Step::Stop,
        _ => Step::Done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mendix_client::cloud_v1::types::Environment;

    fn remote(instances: Option<u32>, memory: Option<u32>) -> Environment {
        serde_json::from_value(serde_json::json!({"Status": "Running", "Mode": "Test", "Instances": instances, "MemoryPerInstance": memory}))
            .expect("valid environment")
    }

    fn desired(run: RunState) -> Desired {
        Desired {
            package_id: "p".into(),
            package_version: Some("1.0.0".into()),
            run_state: run,
            instances: Some(2),
            memory_per_instance: Some(2048),
            auto_sync_db: true,
            constants: vec![],
            scheduled_events: vec![],
            custom_settings: vec![],
            tags: None,
            private: Default::default(),
        }
    }

    #[test]
    fn a_new_package_stops_then_transports_then_applies_settings_then_starts() {
        let d = desired(RunState::Running);
        let r = remote(Some(2), Some(2048));
        assert_eq!(
            plan(&d, &r, true, true, &["M.A".into()], false, false),
            Step::StopForDeploy
        );
        assert_eq!(
            plan(&d, &r, false, true, &["M.A".into()], false, false),
            Step::Transport
        );
        assert_eq!(
            plan(&d, &r, false, false, &["M.A".into()], false, false),
            Step::ApplySettings
        );
        // Settings applied while stopped are pending, but the start applies them: no restart.
        assert_eq!(plan(&d, &r, false, false, &[], true, false), Step::Start);
        assert_eq!(plan(&d, &r, true, false, &[], false, false), Step::Done);
    }

    #[test]
    fn settings_alone_restart_only_a_running_app() {
        let r = remote(Some(2), Some(2048));
        assert_eq!(
            plan(
                &desired(RunState::Running),
                &r,
                true,
                false,
                &[],
                true,
                false
            ),
            Step::Restart
        );
        assert_eq!(
            plan(
                &desired(RunState::Stopped),
                &r,
                false,
                false,
                &[],
                true,
                false
            ),
            Step::Done
        );
    }

    /// Production ran 2 x 2048 MB; a spec of only `instances: 3` once scaled it to 3 x 1024 MB.
    #[test]
    fn a_scale_never_sends_a_size_the_spec_did_not_set() {
        let mut d = desired(RunState::Running);
        d.instances = Some(3);
        d.memory_per_instance = None;
        for r in [
            remote(None, None),
            remote(Some(2), None),
            remote(Some(2), Some(2048)),
        ] {
            assert_eq!(plan(&d, &r, true, false, &[], false, false), Step::Done);
        }
        d.instances = None;
        d.memory_per_instance = Some(4096);
        assert_eq!(
            plan(&d, &remote(None, None), true, false, &[], false, false),
            Step::Done
        );
        // Both set and nothing known: exactly what the spec says.
        d.instances = Some(3);
        assert_eq!(
            plan(&d, &remote(None, None), true, false, &[], false, false),
            Step::Scale {
                instances: 3,
                memory: 4096
            }
        );
    }

    #[test]
    fn scale_restart_and_stop() {
        let d = desired(RunState::Running);
        assert_eq!(
            plan(
                &d,
                &remote(Some(1), Some(2048)),
                true,
                false,
                &[],
                false,
                false
            ),
            Step::Scale {
                instances: 2,
                memory: 2048
            }
        );
        assert_eq!(
            plan(
                &d,
                &remote(Some(2), Some(2048)),
                true,
                false,
                &[],
                false,
                true
            ),
            Step::Restart
        );
        assert_eq!(
            plan(
                &desired(RunState::Stopped),
                &remote(Some(2), Some(2048)),
                true,
                false,
                &[],
                false,
                false
            ),
            Step::Stop
        );
    }
}

/// Properties of the whole pure decision of the deploy loop ([`next_step`]) over what the spec
/// asks, what Mendix reports and what status remembers.
#[cfg(test)]
mod properties {
    use super::*;
    use crate::controller::environment::desired::strategies::{
        PACKAGES, cloud_settings, desired, show,
    };
    use mendix_client::cloud_v1::types::{Environment, EnvironmentStatus};
    use proptest::prelude::*;
    use proptest::sample::select;
    use proptest::test_runner::TestCaseError;

    /// One decision's input, as the preview simulates it.
    type Input = Simulation;

    impl std::fmt::Debug for Input {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(
                f,
                "{}\nremote: {:?}\nrunning: {}, deployed: {:?}\nsettings: {:?}\nspec.production: {}, restart owed: {}, restart requested: {}, clean requested: {}",
                show(&self.desired),
                self.known.remote,
                self.known.running,
                self.known.deployed,
                self.known.settings,
                self.spec_production,
                self.owed,
                self.restart_requested,
                self.clean_requested
            )
        }
    }

    impl Input {
        fn refused(&self) -> bool {
            self.known.remote.production == Some(true) && !self.spec_production
        }

        fn wanted_sizes(&self) -> Option<(u32, u32)> {
            let d = &self.desired;
            d.instances
                .and_then(|n| u32::try_from(n).ok())
                .zip(d.memory_per_instance.and_then(|m| u32::try_from(m).ok()))
        }

        /// What is left to do by the spec's measure, `None` when Mendix matches it.
        fn unconverged(&self) -> Option<String> {
            let (d, known) = (&self.desired, &self.known);
            if known.deployed.as_deref() != Some(d.package_id.as_str()) {
                return Some("package not deployed".into());
            }
            if known.running != (d.run_state == RunState::Running) {
                return Some("not in the desired run state".into());
            }
            if let Some((instances, memory)) = self.wanted_sizes()
                && (known.remote.instances, known.remote.memory_per_instance)
                    != (Some(instances), Some(memory))
            {
                return Some("sizes differ".into());
            }
            if let Some(settings) = &known.settings {
                let (_, change) = merge_cloud_settings(settings, d);
                if !change.changed.is_empty() {
                    return Some(format!("settings differ: {:?}", change.changed));
                }
                // Pending values of settings the spec does not list are not the operator's.
                let pending: Vec<String> = settings
                    .constants
                    .iter()
                    .filter(|c| c.value != c.deployed_value)
                    .map(|c| &c.name)
                    .chain(
                        settings
                            .scheduled_events
                            .iter()
                            .filter(|e| e.value != e.deployed_value)
                            .map(|e| &e.name),
                    )
                    .filter(|name| {
                        d.constants.iter().any(|(n, _)| n == *name)
                            || d.scheduled_events.iter().any(|(n, _)| n == *name)
                    })
                    .cloned()
                    .collect();
                if known.running && !pending.is_empty() {
                    return Some(format!("spec settings not deployed: {pending:?}"));
                }
            }
            if known.running && (self.owed || self.restart_requested) {
                return Some("a restart is due".into());
            }
            if self.clean_requested {
                return Some("a clean is due".into());
            }
            None
        }
    }

    fn environment() -> impl Strategy<Value = Environment> {
        (
            select(
                &[
                    EnvironmentStatus::Running,
                    EnvironmentStatus::Stopped,
                    EnvironmentStatus::Empty,
                ][..],
            ),
            prop::option::of(any::<bool>()),
            prop::option::of(0..=4u32),
            prop::option::of(select(&[1024, 2048, 4096][..])),
        )
            .prop_map(|(status, production, instances, memory)| Environment {
                status,
                environment_id: None,
                url: None,
                mode: Some("Test".into()),
                model_version: None,
                mendix_version: None,
                production,
                instances,
                memory_per_instance: memory,
                total_memory: None,
            })
    }

    fn input() -> impl Strategy<Value = Input> {
        (
            desired(),
            environment(),
            prop::option::of(select(PACKAGES)),
            cloud_settings(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            // A clean is asked for rarely, as in life.
            prop::bool::weighted(0.1),
        )
            .prop_map(
                |(
                    desired,
                    remote,
                    deployed,
                    settings,
                    spec_production,
                    owed,
                    restart_requested,
                    clean_requested,
                )| {
                    let running = remote.status == EnvironmentStatus::Running;
                    // As observe(): settings are read only when the spec manages some.
                    let settings = desired.manages_settings().then_some(settings);
                    Input {
                        desired,
                        known: Known {
                            remote,
                            running,
                            deployed: deployed.map(str::to_string),
                            settings,
                        },
                        spec_production,
                        owed,
                        restart_requested,
                        clean_requested,
                    }
                },
            )
    }

    /// Mendix holding exactly what the spec asks (settings it does not list anything, pending
    /// or not), with nothing owed or requested and the guard passing.
    fn converged() -> impl Strategy<Value = Input> {
        input().prop_map(|mut i| {
            let d = i.desired.clone();
            let known = &mut i.known;
            known.deployed = Some(d.package_id.clone());
            known.running = d.run_state == RunState::Running;
            known.remote.status = if known.running {
                EnvironmentStatus::Running
            } else {
                EnvironmentStatus::Stopped
            };
            if let Some((instances, memory)) = i.wanted_sizes() {
                i.known.remote.instances = Some(instances);
                i.known.remote.memory_per_instance = Some(memory);
            }
            if let Some(settings) = i.known.settings.as_mut() {
                for (name, value) in &d.constants {
                    let value = Some(value.clone());
                    match settings.constants.iter_mut().find(|c| &c.name == name) {
                        Some(c) => (c.value, c.deployed_value) = (value.clone(), value),
                        None => settings
                            .constants
                            .push(mendix_client::cloud_v1::types::Constant {
                                name: name.clone(),
                                data_type: None,
                                value: value.clone(),
                                deployed_value: value,
                            }),
                    }
                }
                for (name, enabled) in &d.scheduled_events {
                    let value = Some(if *enabled { "Enabled" } else { "Disabled" }.to_string());
                    match settings
                        .scheduled_events
                        .iter_mut()
                        .find(|e| &e.name == name)
                    {
                        Some(e) => (e.value, e.deployed_value) = (value.clone(), value),
                        None => settings.scheduled_events.push(
                            mendix_client::cloud_v1::types::ScheduledEvent {
                                name: name.clone(),
                                value: value.clone(),
                                deployed_value: value,
                            },
                        ),
                    }
                }
                for (name, value) in &d.custom_settings {
                    let value = Some(value.clone());
                    match settings
                        .custom_settings
                        .iter_mut()
                        .find(|s| &s.name == name)
                    {
                        Some(s) => s.value = value,
                        None => settings.custom_settings.push(
                            mendix_client::cloud_v1::types::CustomSetting {
                                name: name.clone(),
                                value,
                            },
                        ),
                    }
                }
            }
            // The guard stalls even a converged production environment without the flag.
            i.spec_production |= i.refused();
            i.owed = false;
            i.restart_requested = false;
            i.clean_requested = false;
            i
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// A production environment (as Mendix reports it) without `spec.production: true`
        /// gets no step at all, a transport included; with the guard passing, the decision is
        /// made from merge_cloud_settings as before.
        #[test]
        fn production_without_spec_production_plans_no_step(i in input()) {
            production_guarded(&i)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// A scale is planned only when the spec sets both instances and memoryPerInstance, and
        /// then with exactly those values: never a size nobody asked for.
        #[test]
        fn scale_sends_only_sizes_the_spec_sets(i in input()) {
            scale_sizes(&i)?;
        }

        /// Every step answers a difference between Mendix and something the spec sets: the
        /// package, a listed setting, the sizes, the run state, or a restart (asked for, or
        /// owed for settings the app does not run yet).
        #[test]
        fn each_step_answers_a_difference_the_spec_names(i in input()) {
            step_has_a_reason(&i)?;
        }

        /// Mendix already holding what the spec asks plans nothing.
        #[test]
        fn a_converged_input_plans_nothing(i in converged()) {
            converged_plans_nothing(&i)?;
        }

        /// Applying each planned step to what Mendix reports and deciding again reaches Done
        /// within MAX_STEPS steps (two more with a clean), never takes a step twice (the loop
        /// refuses that as Unconverged), and Done means converged. The one way out is
        /// UnknownSetting, a stall before any write.
        #[test]
        fn applying_each_step_converges_within_five_steps(i in input()) {
            prop_assume!(!i.refused());
            steps_converge(i)?;
        }
    }

    type Checked = Result<(), TestCaseError>;

    /// The longest deploy: stop, transport, settings, scale, start.
    const MAX_STEPS: usize = 5;
    /// A clean adds its own stop and the clean itself before the deploy.
    const CLEAN_STEPS: usize = 2;

    fn production_guarded(i: &Input) -> Checked {
        match i.decide() {
            Err(ProductionNotAllowed) => {
                prop_assert!(i.refused(), "refused a writable environment\n{:?}", i);
            }
            Ok(next) => {
                prop_assert!(
                    !i.refused(),
                    "planned {:?} for production without spec.production\n{:?}",
                    next.step,
                    i
                );
                let (_, change) = i
                    .known
                    .settings
                    .as_ref()
                    .map(|s| merge_cloud_settings(s, &i.desired))
                    .unwrap_or_default();
                prop_assert!(
                    next.change == change,
                    "the decision's merge is not merge_cloud_settings\n{:?}",
                    i
                );
            }
        }
        Ok(())
    }

    fn scale_sizes(i: &Input) -> Checked {
        if let Ok(Next {
            step: Step::Scale { instances, memory },
            ..
        }) = i.decide()
        {
            prop_assert_eq!(
                i.wanted_sizes(),
                Some((instances, memory)),
                "scaled to {} x {} MB\n{:?}",
                instances,
                memory,
                i
            );
            let reported = (i.known.remote.instances, i.known.remote.memory_per_instance);
            prop_assert!(
                reported != (Some(instances), Some(memory)),
                "scaled to the sizes Mendix already reports\n{:?}",
                i
            );
        }
        Ok(())
    }

    fn step_has_a_reason(i: &Input) -> Checked {
        let Ok(next) = i.decide() else {
            return Ok(());
        };
        let (d, known) = (&i.desired, &i.known);
        let new_package = known.deployed.as_deref() != Some(d.package_id.as_str());
        let pending = known
            .settings
            .as_ref()
            .is_some_and(|s| !pending_on_restart(s, d).is_empty());
        let change = &next.change;
        let lists = |name: &String| {
            d.constants.iter().any(|(n, _)| n == name)
                || d.scheduled_events.iter().any(|(n, _)| n == name)
                || d.custom_settings.iter().any(|(n, _)| n == name)
        };
        let why = match next.step {
            Step::StopForClean => i.clean_requested && known.running,
            Step::Clean => i.clean_requested && !known.running,
            Step::StopForDeploy => new_package && known.running,
            Step::Transport => new_package && !known.running,
            Step::ApplySettings => change
                .changed
                .iter()
                .chain(&change.unknown_constants)
                .chain(&change.unknown_events)
                .any(lists),
            Step::Scale { .. } => i.wanted_sizes().is_some(),
            Step::Start => d.run_state == RunState::Running && !known.running,
            Step::Restart => {
                d.run_state == RunState::Running
                    && known.running
                    && (pending || i.owed || i.restart_requested)
            }
            Step::Stop => d.run_state == RunState::Stopped && known.running,
            Step::Done => true,
        };
        prop_assert!(
            why,
            "planned {:?} without a reason in the spec\n{:?}",
            next.step,
            i
        );
        for name in &change.changed {
            prop_assert!(
                lists(name),
                "changed {} that the spec does not list\n{:?}",
                name,
                i
            );
        }
        Ok(())
    }

    fn converged_plans_nothing(i: &Input) -> Checked {
        prop_assert!(
            i.unconverged().is_none(),
            "the generator's input is not converged: {:?}\n{:?}",
            i.unconverged(),
            i
        );
        let step = i.decide().map(|n| n.step);
        prop_assert!(
            step == Ok(Step::Done),
            "planned {:?} for a converged input\n{:?}",
            step,
            i
        );
        Ok(())
    }

    fn steps_converge(mut i: Input) -> Checked {
        let start = format!("{i:?}");
        let bound = MAX_STEPS + if i.clean_requested { CLEAN_STEPS } else { 0 };
        let mut taken = Vec::new();
        loop {
            let Ok(next) = i.decide() else {
                return Err(TestCaseError::fail(format!(
                    "the guard refused after {taken:?}\nstart:\n{start}"
                )));
            };
            let step = next.step;
            if step == Step::Done {
                prop_assert!(
                    i.unconverged().is_none(),
                    "Done after {:?}, but {:?}\nstart:\n{}\nend:\n{:?}",
                    taken,
                    i.unconverged(),
                    start,
                    i
                );
                return Ok(());
            }
            prop_assert!(
                !taken.contains(&step),
                "{:?} twice: {:?}\nstart:\n{}",
                step,
                taken,
                start
            );
            taken.push(step);
            prop_assert!(
                taken.len() <= bound,
                "no Done after {} steps: {:?}\nstart:\n{}",
                bound,
                taken,
                start
            );
            if let Err(stall) = i.apply(next) {
                prop_assert!(
                    step == Step::ApplySettings,
                    "{} at {:?}\nstart:\n{}",
                    stall,
                    step,
                    start
                );
                return Ok(());
            }
        }
    }
}

/// The planner from `plan_fixtures.yaml`: each case as a user and Mendix would write it.
#[cfg(test)]
mod fixtures {
    use super::*;
    use crate::crd::environment::MendixEnvironmentSpec;
    use mendix_client::cloud_v1::types::{Environment, EnvironmentStatus};
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Case {
        name: String,
        spec: serde_json::Value,
        mendix: Reported,
        #[serde(default)]
        status: Remembered,
        next: serde_json::Value,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Reported {
        environment: Environment,
        deployed_package: Option<String>,
        settings: Option<Settings>,
    }

    #[derive(Default, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Remembered {
        #[serde(default)]
        restart_owed: bool,
        #[serde(default)]
        restart_requested: bool,
        #[serde(default)]
        clean_requested: bool,
    }

    /// A spec as a user writes it; the target and credentials every spec needs are filled in.
    fn spec(fields: &serde_json::Value) -> MendixEnvironmentSpec {
        let mut spec = serde_json::json!({
            "target": {"mendixCloud": {"appId": "calc", "mode": "Test"}},
            "credentialsSecretRef": {"name": "mendix-cloud"},
        });
        for (key, value) in fields.as_object().into_iter().flatten() {
            spec[key] = value.clone();
        }
        serde_json::from_value(spec).expect("a valid spec")
    }

    #[test]
    fn each_fixture_plans_its_step() {
        let cases: Vec<Case> =
            serde_yaml::from_str(include_str!("plan_fixtures.yaml")).expect("fixtures parse");
        assert!(cases.len() >= 16, "{} cases", cases.len());
        for case in cases {
            let spec = spec(&case.spec);
            let constants = spec
                .constants
                .iter()
                .filter_map(|c| Some((c.name.clone(), c.value.clone()?)))
                .collect();
            let package = spec.package_id.clone().expect("fixtures name a packageId");
            let desired = Desired::from_spec(&spec, package, None, constants);
            let known = Known {
                running: case.mendix.environment.status == EnvironmentStatus::Running,
                remote: case.mendix.environment,
                deployed: case.mendix.deployed_package,
                settings: case.mendix.settings,
            };
            let got = match next_step(
                &desired,
                &known,
                spec.production,
                case.status.restart_owed,
                case.status.restart_requested,
                case.status.clean_requested,
            ) {
                Ok(next) => serde_json::to_value(next.step).expect("a step encodes"),
                Err(ProductionNotAllowed) => serde_json::json!("ProductionNotAllowed"),
            };
            assert_eq!(got, case.next, "{}", case.name);
        }
    }
}
