//! The Mendix side of the benchmark: N Mendix Cloud apps, each with one `Test` environment that
//! runs an old package while a new one waits, so every MendixEnvironment needs a full deploy
//! (stop → transport → start, then the start job), and a third package for a second round of
//! deploys. Every tenth app also has `Acceptance` and `Production` (marked production) for the
//! promotion wave, and a fourth package to promote. Also the minimum a deploy costs, which the
//! measured figures are compared with.

use serde_json::{Value, json};

use mendix_sandbox::demo;

/// The environment every benchmark app deploys to.
pub const MODE: &str = "Test";

/// A promotion chain, in the order a release goes through it; the last is Mendix production.
pub const PROMOTION_CHAIN: [&str; 3] = [MODE, "Acceptance", PRODUCTION_MODE];

/// The chain's production environment.
pub const PRODUCTION_MODE: &str = "Production";

/// Whether the waves take app `index` (every `WAVE_EVERY`th): the GitOps wave changes its
/// environment, and it has a promotion chain.
pub fn in_wave(index: usize) -> bool {
    index.is_multiple_of(super::WAVE_EVERY)
}

/// How many of `apps` apps the waves take.
pub fn wave_size(apps: usize) -> usize {
    (0..apps).filter(|i| in_wave(*i)).count()
}

/// The stage `mode` takes its package from; `None` for the first, which names its own.
pub fn promoted_from(mode: &str) -> Option<&'static str> {
    let at = PROMOTION_CHAIN.iter().position(|m| *m == mode)?;
    at.checked_sub(1).map(|before| PROMOTION_CHAIN[before])
}

/// The Mendix Cloud calls one deploy cannot do without: stop, transport, start, and one poll of
/// the start job that finds it `Started` (a perfect poller) — what the scripts send. Settings
/// are not read: the benchmark sets none. The operator reads the environment and its package
/// once when it first sees an environment (the production guard, and no restart of an app that
/// already runs the package); after that it trusts what it recorded (see BENCHMARKS.md).
pub const MINIMUM_CALLS: &[(&str, u64)] = &[
    ("v1_stop_environment", 1),
    ("v1_transport", 1),
    ("v1_start_environment", 1),
    (START_POLL, 1),
];

/// The poll among [`MINIMUM_CALLS`]; the others are writes.
pub const START_POLL: &str = "v1_get_start_status";

pub fn minimum_calls_per_deploy() -> u64 {
    MINIMUM_CALLS.iter().map(|(_, n)| n).sum()
}

/// Stop, transport and start: what must be sent before a deploy's start job runs.
pub fn writes_per_deploy() -> u64 {
    MINIMUM_CALLS
        .iter()
        .filter(|(op, _)| *op != START_POLL)
        .map(|(_, n)| n)
        .sum()
}

pub fn app_id(index: usize) -> String {
    format!("bench-{index:05}")
}

/// The package every environment runs before the benchmark.
pub fn old_package_id(index: usize) -> String {
    format!("00000000-0000-4000-8000-{index:012}")
}

/// The package every environment must run after it.
pub fn new_package_id(index: usize) -> String {
    format!("11111111-0000-4000-8000-{index:012}")
}

/// The package every environment is upgraded to in the second round.
pub fn upgrade_package_id(index: usize) -> String {
    format!("22222222-0000-4000-8000-{index:012}")
}

/// The package the promotion wave takes through Test, Acceptance and Production.
pub fn promotion_package_id(index: usize) -> String {
    format!("33333333-0000-4000-8000-{index:012}")
}

/// How long app `index`'s starts run: `start_ms` times a factor in [1 - spread, 1 + spread],
/// spread evenly over the apps by a fixed permutation (the same for every run and N).
pub fn app_start_ms(index: usize, start_ms: u64, spread: f64) -> u64 {
    let spread = spread.clamp(0.0, 1.0);
    // Knuth's multiplicative hash: consecutive apps land far apart in [0, 1).
    let u = (index as u64).wrapping_mul(2_654_435_761) % 1_000_003;
    let u = u as f64 / 1_000_003.0;
    (start_ms as f64 * (1.0 - spread + 2.0 * spread * u)).round() as u64
}

/// The seed (JSON is YAML) for [`mendix_sandbox::MendixSandbox::from_yaml`].
pub fn world(apps: usize, start_ms: u64, spread: f64) -> String {
    let apps: Vec<Value> = (0..apps)
        .map(|i| {
            // Only the apps with a chain have more than Test; all start on the old package.
            let modes = if in_wave(i) {
                &PROMOTION_CHAIN[..]
            } else {
                &PROMOTION_CHAIN[..1]
            };
            let environments: Vec<Value> = modes
                .iter()
                .map(|mode| {
                    json!({
                        "mode": mode,
                        "production": *mode == PRODUCTION_MODE,
                        "status": "Running",
                        "packageId": old_package_id(i),
                    })
                })
                .collect();
            json!({
                "startMs": app_start_ms(i, start_ms, spread),
                "appId": app_id(i),
                "name": format!("Benchmark app {i}"),
                "packages": [
                    {"packageId": old_package_id(i), "version": "1.0.0.1"},
                    {"packageId": new_package_id(i), "version": "2.0.0.2"},
                    {"packageId": upgrade_package_id(i), "version": "3.0.0.3"},
                    {"packageId": promotion_package_id(i), "version": "4.0.0.4"},
                ],
                "environments": environments,
            })
        })
        .collect();
    json!({
        "timings": {"startMs": start_ms},
        "timeScale": 1.0,
        "cloud": {
            "users": [{"username": demo::CLOUD_USERNAME, "apiKey": demo::CLOUD_API_KEY}],
            "apps": apps,
        },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mendix_sandbox::MendixSandbox;

    #[test]
    fn the_seed_is_accepted_and_every_environment_runs_the_old_package() {
        let sandbox = MendixSandbox::from_yaml(&world(3, 1000, 0.0)).expect("seed accepted");
        let state = sandbox.state_json();
        let apps = state["cloud"]["apps"].as_array().expect("apps");
        assert_eq!(apps.len(), 3);
        assert_eq!(apps[2]["environments"][0]["packageId"], old_package_id(2));
        assert_eq!(minimum_calls_per_deploy(), 4);
        assert_eq!(writes_per_deploy(), 3);
        assert_eq!(apps[0]["startMs"], 1000);
    }

    #[test]
    fn every_tenth_app_has_a_promotion_chain_ending_in_production() {
        let sandbox = MendixSandbox::from_yaml(&world(12, 1000, 0.0)).expect("seed accepted");
        let state = sandbox.state_json();
        let apps = state["cloud"]["apps"].as_array().expect("apps");
        assert_eq!(wave_size(12), 2);
        for (i, app) in apps.iter().enumerate() {
            let envs = app["environments"].as_array().expect("environments");
            let modes: Vec<&str> = envs.iter().filter_map(|e| e["mode"].as_str()).collect();
            let production: Vec<bool> = envs
                .iter()
                .filter_map(|e| e["production"].as_bool())
                .collect();
            if i == 0 || i == 10 {
                assert_eq!(modes, PROMOTION_CHAIN, "app {i}");
                assert_eq!(production, [false, false, true], "app {i}");
            } else {
                assert_eq!(modes, [MODE], "app {i}");
                assert_eq!(production, [false], "app {i}");
            }
            assert!(
                envs.iter().all(|e| e["packageId"] == old_package_id(i)),
                "app {i}"
            );
        }
        assert_eq!(promoted_from(MODE), None);
        assert_eq!(promoted_from("Acceptance"), Some(MODE));
        assert_eq!(promoted_from(PRODUCTION_MODE), Some("Acceptance"));
    }

    #[test]
    fn start_times_spread_evenly_over_the_apps() {
        let times: Vec<u64> = (0..1000).map(|i| app_start_ms(i, 10_000, 0.5)).collect();
        assert!(times.iter().all(|t| (5_000..=15_000).contains(t)));
        let below = times.iter().filter(|t| **t < 10_000).count();
        assert!(
            (400..600).contains(&below),
            "about half below the middle: {below}"
        );
        assert_eq!(app_start_ms(7, 10_000, 0.0), 10_000);
    }
}
