//! The figures of one run, derived from what was measured, and the printed table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::BenchOptions;
use super::process::Usage;
use super::seed::{
    MINIMUM_CALLS, PROMOTION_CHAIN, START_POLL, minimum_calls_per_deploy, wave_size,
    writes_per_deploy,
};

/// What a run measured.
pub struct Inputs<'a> {
    pub n: usize,
    pub options: &'a BenchOptions,
    pub created: Duration,
    pub converged: Duration,
    pub deploy_requests: BTreeMap<String, u64>,
    pub usage_at_start: Usage,
    pub usage_converged: Usage,
    pub usage_end: Usage,
    pub idle_cpu_seconds: f64,
    pub idle_calls: u64,
    pub reactions: Vec<Duration>,
    /// Elapsed time and Mendix requests of the baseline scripts.
    pub baseline: Option<(Duration, u64)>,
    /// The second round: all N upgraded again once the first was Ready (elapsed, requests).
    pub upgrade: (Duration, BTreeMap<String, u64>),
    /// The GitOps wave: every tenth environment changed once all were Ready (elapsed,
    /// requests).
    pub wave: (Duration, BTreeMap<String, u64>),
    /// The promotion wave: one commit changes the Test environment of every app with a
    /// promotion chain; until Production runs it (elapsed, requests).
    pub promotion: (Duration, BTreeMap<String, u64>),
    /// The baseline scripts' promotion wave: per chain, each stage deployed in turn.
    pub promotion_baseline: Option<Duration>,
    /// Both rounds' requests over time (see `probe::ReactionProbe::timeline`).
    pub timelines: [String; 2],
}

/// The figures of one size.
#[derive(Clone, Debug)]
pub struct Figures {
    pub n: usize,
    pub create_seconds: f64,
    pub converged_seconds: f64,
    pub critical_path_seconds: f64,
    /// The larger of: all requests sent at the rate limit; all writes sent, then the last
    /// start's job and its poll.
    pub rate_bound_seconds: f64,
    pub lower_bound_seconds: f64,
    pub convergence_ratio: f64,
    /// Operation → requests per deploy.
    pub requests_per_deploy: BTreeMap<String, f64>,
    pub total_requests_per_deploy: f64,
    pub minimum_requests_per_deploy: u64,
    pub requests_ratio: f64,
    pub baseline_seconds: Option<f64>,
    pub baseline_requests_per_deploy: Option<f64>,
    pub speedup: Option<f64>,
    pub peak_rss_mib: f64,
    pub deploy_cpu_seconds: f64,
    pub total_cpu_seconds: f64,
    pub idle_seconds: f64,
    pub idle_cpu_percent: f64,
    pub idle_calls_per_hour_per_resource: f64,
    pub resync_seconds: f64,
    pub idle_calls_per_hour_per_resource_default_resync: f64,
    pub reaction_count: usize,
    pub reaction_p50_ms: f64,
    pub reaction_p99_ms: f64,
    /// Second round: every environment deploys again, now with its start time known.
    pub upgrade_seconds: f64,
    pub upgrade_ratio: f64,
    pub upgrade_requests_per_deploy: f64,
    pub upgrade_start_polls_per_deploy: f64,
    /// The GitOps wave: how many changed, Ready after, its lower bound, requests per change.
    pub wave_changed: usize,
    pub wave_seconds: f64,
    pub wave_lower_bound_seconds: f64,
    pub wave_requests_per_deploy: f64,
    /// The promotion wave: how many chains, until every Production ran the new package, its
    /// lower bound, requests per deploy (Test, Acceptance and Production each deploy).
    pub promotion_chains: usize,
    pub promotion_seconds: f64,
    pub promotion_lower_bound_seconds: f64,
    pub promotion_requests_per_deploy: f64,
    pub promotion_baseline_seconds: Option<f64>,
    pub promotion_speedup: Option<f64>,
    /// Requests over time, first and second round.
    pub timelines: [String; 2],
}

/// `run`'s default resync period, for the idle figure at default settings.
const DEFAULT_RESYNC_SECONDS: f64 = 600.0;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

impl Figures {
    pub fn new(m: Inputs<'_>) -> Self {
        let o = m.options;
        let n = m.n as f64;
        let min_calls = minimum_calls_per_deploy();
        let latency = o.latency.as_secs_f64();
        // One deploy's calls are sequential; the start job runs between start and its poll.
        // The slowest app's start (with --start-spread, apps start in their own time).
        let longest_start = o.start_job.as_secs_f64() * (1.0 + o.start_spread.clamp(0.0, 1.0));
        let critical_path = min_calls as f64 * latency + longest_start;
        // In-flight limits cap the rate as much as the rate limit does.
        let effective_rate = if latency > 0.0 {
            o.rate.min(o.max_in_flight as f64 / latency)
        } else {
            o.rate
        };
        // Every request of every deploy must be sent...
        let rate_bound = |deploys: f64| deploys * min_calls as f64 / effective_rate;
        // ...and the last start cannot leave before every deploy's writes (itself included)
        // have: its job then runs, and one poll finds it ended. Polls can go meanwhile.
        let shortest_start = o.start_job.as_secs_f64() * (1.0 - o.start_spread.clamp(0.0, 1.0));
        let last_start_bound = |deploys: f64| {
            deploys * writes_per_deploy() as f64 / effective_rate + shortest_start + latency
        };
        let lower_bound_of = |deploys: f64| {
            critical_path
                .max(rate_bound(deploys))
                .max(last_start_bound(deploys))
        };
        let lower_bound = lower_bound_of(n);
        // The waves take the same apps: the GitOps wave changes them, and they have the chains.
        let wave_changed = wave_size(m.n);
        let chains = wave_changed;
        let promotion_deploys = (chains * PROMOTION_CHAIN.len()) as f64;
        // A chain's stages deploy one after the other.
        let promotion_lower_bound =
            (PROMOTION_CHAIN.len() as f64 * critical_path).max(lower_bound_of(promotion_deploys));
        let promotion_seconds = m.promotion.0.as_secs_f64();
        let converged = m.converged.as_secs_f64();
        let requests_per_deploy: BTreeMap<String, f64> = m
            .deploy_requests
            .iter()
            .map(|(op, count)| (op.clone(), *count as f64 / n))
            .collect();
        let total: f64 = requests_per_deploy.values().sum();
        let mut reactions = m.reactions.clone();
        reactions.sort();
        let idle = o.idle.as_secs_f64().max(f64::MIN_POSITIVE);
        let idle_calls_per_hour = m.idle_calls as f64 / idle * 3600.0 / n;
        let resync = o.resync.as_secs_f64();
        Figures {
            n: m.n,
            create_seconds: m.created.as_secs_f64(),
            converged_seconds: converged,
            critical_path_seconds: critical_path,
            rate_bound_seconds: rate_bound(n).max(last_start_bound(n)),
            lower_bound_seconds: lower_bound,
            convergence_ratio: converged / lower_bound,
            requests_per_deploy,
            total_requests_per_deploy: total,
            minimum_requests_per_deploy: min_calls,
            requests_ratio: total / min_calls as f64,
            baseline_seconds: m.baseline.map(|(d, _)| d.as_secs_f64()),
            baseline_requests_per_deploy: m.baseline.map(|(_, calls)| calls as f64 / n),
            speedup: m.baseline.map(|(d, _)| d.as_secs_f64() / converged),
            peak_rss_mib: m.usage_end.peak_rss_bytes as f64 / (1024.0 * 1024.0),
            deploy_cpu_seconds: m.usage_converged.cpu_seconds - m.usage_at_start.cpu_seconds,
            total_cpu_seconds: m.usage_end.cpu_seconds,
            idle_seconds: idle,
            idle_cpu_percent: m.idle_cpu_seconds / idle * 100.0,
            idle_calls_per_hour_per_resource: idle_calls_per_hour,
            resync_seconds: resync,
            idle_calls_per_hour_per_resource_default_resync: idle_calls_per_hour * resync
                / DEFAULT_RESYNC_SECONDS,
            reaction_count: reactions.len(),
            reaction_p50_ms: percentile(&reactions, 50.0),
            reaction_p99_ms: percentile(&reactions, 99.0),
            upgrade_seconds: m.upgrade.0.as_secs_f64(),
            upgrade_ratio: m.upgrade.0.as_secs_f64() / lower_bound,
            upgrade_requests_per_deploy: m.upgrade.1.values().sum::<u64>() as f64 / n,
            upgrade_start_polls_per_deploy: m.upgrade.1.get(START_POLL).copied().unwrap_or(0)
                as f64
                / n,
            wave_changed,
            wave_seconds: m.wave.0.as_secs_f64(),
            wave_lower_bound_seconds: lower_bound_of(wave_changed as f64),
            wave_requests_per_deploy: m.wave.1.values().sum::<u64>() as f64
                / wave_changed.max(1) as f64,
            promotion_chains: chains,
            promotion_seconds,
            promotion_lower_bound_seconds: promotion_lower_bound,
            promotion_requests_per_deploy: m.promotion.1.values().sum::<u64>() as f64
                / promotion_deploys.max(1.0),
            promotion_baseline_seconds: m.promotion_baseline.map(|d| d.as_secs_f64()),
            promotion_speedup: m
                .promotion_baseline
                .map(|d| d.as_secs_f64() / promotion_seconds),
            timelines: m.timelines,
        }
    }

    /// The per-size block printed as each run ends.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "  all {} Ready after {:.2} s (creating them took {:.2} s); lower bound {:.2} s (critical path {:.2} s, rate bound {:.2} s): ratio {:.2}",
            self.n,
            self.converged_seconds,
            self.create_seconds,
            self.lower_bound_seconds,
            self.critical_path_seconds,
            self.rate_bound_seconds,
            self.convergence_ratio
        );
        let _ = writeln!(
            s,
            "  Mendix requests per deploy: {:.2} (minimum {}, ratio {:.2})",
            self.total_requests_per_deploy, self.minimum_requests_per_deploy, self.requests_ratio
        );
        for (op, per) in &self.requests_per_deploy {
            let min = MINIMUM_CALLS
                .iter()
                .find(|(o, _)| o == op)
                .map_or(0, |(_, n)| *n);
            let _ = writeln!(s, "    {op:<28} {per:>7.2}  (minimum {min})");
        }
        for (op, min) in MINIMUM_CALLS {
            if !self.requests_per_deploy.contains_key(*op) {
                let _ = writeln!(s, "    {op:<28} {:>7.2}  (minimum {min})", 0.0);
            }
        }
        let _ = writeln!(
            s,
            "  second deploy of all {} (start times known): Ready after {:.2} s, ratio {:.2}; {:.2} requests per deploy (ratio {:.2}), {:.2} of them start polls",
            self.n,
            self.upgrade_seconds,
            self.upgrade_ratio,
            self.upgrade_requests_per_deploy,
            self.upgrade_requests_per_deploy / self.minimum_requests_per_deploy as f64,
            self.upgrade_start_polls_per_deploy
        );
        let _ = writeln!(
            s,
            "  GitOps wave (all Ready, one commit changes {} of them): Ready after {:.2} s, lower bound {:.2} s, ratio {:.2}; {:.2} requests per changed environment (ratio {:.2})",
            self.wave_changed,
            self.wave_seconds,
            self.wave_lower_bound_seconds,
            self.wave_seconds / self.wave_lower_bound_seconds,
            self.wave_requests_per_deploy,
            self.wave_requests_per_deploy / self.minimum_requests_per_deploy as f64
        );
        let _ = writeln!(
            s,
            "  promotion wave (one commit changes {} Test environments; Acceptance, then Production follow): all Production Ready after {:.2} s, lower bound {:.2} s, ratio {:.2}; {:.2} requests per deploy over {} deploys (ratio {:.2})",
            self.promotion_chains,
            self.promotion_seconds,
            self.promotion_lower_bound_seconds,
            self.promotion_seconds / self.promotion_lower_bound_seconds,
            self.promotion_requests_per_deploy,
            self.promotion_chains * PROMOTION_CHAIN.len(),
            self.promotion_requests_per_deploy / self.minimum_requests_per_deploy as f64
        );
        for (round, timeline) in ["first", "second"].iter().zip(&self.timelines) {
            let _ = writeln!(s, "  {round} round, Mendix requests over time: {timeline}");
        }
        match (
            self.baseline_seconds,
            self.baseline_requests_per_deploy,
            self.speedup,
        ) {
            (Some(secs), Some(reqs), Some(speedup)) => {
                let _ = writeln!(
                    s,
                    "  baseline (sequential scripts, fixed polling): {secs:.2} s, {reqs:.2} requests per deploy; operator speedup {speedup:.2}x"
                );
            }
            _ => {
                let _ = writeln!(s, "  baseline: skipped");
            }
        }
        if let (Some(secs), Some(speedup)) =
            (self.promotion_baseline_seconds, self.promotion_speedup)
        {
            let _ = writeln!(
                s,
                "  baseline promotion (one script per chain: Test, Acceptance, Production in turn): {secs:.2} s; operator speedup {speedup:.2}x"
            );
        }
        let _ = writeln!(
            s,
            "  operator: peak RSS {:.1} MiB, CPU {:.2} s for the deploys, {:.2} s in total",
            self.peak_rss_mib, self.deploy_cpu_seconds, self.total_cpu_seconds
        );
        let _ = writeln!(
            s,
            "  steady state over {:.0} s: CPU {:.3} %, {:.1} Mendix calls per hour per resource at a {:.0} s resync ({:.1} at the default 10 min)",
            self.idle_seconds,
            self.idle_cpu_percent,
            self.idle_calls_per_hour_per_resource,
            self.resync_seconds,
            self.idle_calls_per_hour_per_resource_default_resync
        );
        let _ = write!(
            s,
            "  reaction (spec change to first Mendix request) over {} changes: p50 {:.1} ms, p99 {:.1} ms",
            self.reaction_count, self.reaction_p50_ms, self.reaction_p99_ms
        );
        s
    }
}

/// The settings line printed first.
pub fn settings(o: &BenchOptions) -> String {
    format!(
        "mendix-operator bench: Mendix latency {} per request, start job {}, operator rate limit {} req/s and {} in flight, {} reconciles in flight, polls {}..{}, resync {}; baseline polls every {}",
        humantime::format_duration(o.latency),
        humantime::format_duration(o.start_job),
        o.rate,
        o.max_in_flight,
        o.reconcile_concurrency,
        humantime::format_duration(o.poll_initial),
        humantime::format_duration(o.poll_max),
        humantime::format_duration(o.resync),
        humantime::format_duration(o.baseline_poll),
    )
}

fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
}

/// One row per size (Markdown, so it can go into BENCHMARKS.md as printed).
pub fn table(all: &[Figures]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| N | Ready after (s) | lower bound (s) | ratio | req/deploy (min) | 2nd deploy (s) | ratio | req/deploy | baseline (s) | speedup | peak RSS (MiB) | CPU deploy (s) | idle CPU (%) | idle calls/h/resource (10 min resync) | reaction p50 / p99 (ms) |"
    );
    let _ = writeln!(
        s,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for f in all {
        let _ = writeln!(
            s,
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} ({}) | {:.2} | {:.2} | {:.2} | {} | {} | {:.1} | {:.2} | {:.3} | {:.1} ({:.1}) | {:.1} / {:.1} |",
            f.n,
            f.converged_seconds,
            f.lower_bound_seconds,
            f.convergence_ratio,
            f.total_requests_per_deploy,
            f.minimum_requests_per_deploy,
            f.upgrade_seconds,
            f.upgrade_ratio,
            f.upgrade_requests_per_deploy,
            opt(f.baseline_seconds, 2),
            opt(f.speedup, 2),
            f.peak_rss_mib,
            f.deploy_cpu_seconds,
            f.idle_cpu_percent,
            f.idle_calls_per_hour_per_resource,
            f.idle_calls_per_hour_per_resource_default_resync,
            f.reaction_p50_ms,
            f.reaction_p99_ms
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&d, 50.0), 50.0);
        assert_eq!(percentile(&d, 99.0), 99.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
