//! `mendix-operator bench` at a tiny size: the whole pipeline runs (both sandboxes, the operator
//! as its own process, the baseline scripts) and every figure is printed. No timing assertions:
//! the figures themselves belong in BENCHMARKS.md.

use std::process::Command;

#[test]
fn bench_at_three_environments_prints_every_figure() {
    let output = Command::new(env!("CARGO_BIN_EXE_mendix-operator"))
        .args([
            "bench",
            "--sizes",
            "3",
            "--latency",
            "5ms",
            "--start-job",
            "300ms",
            "--poll-initial",
            "100ms",
            "--poll-max",
            "400ms",
            "--resync",
            "1s",
            "--idle",
            "2s",
            "--reactions",
            "3",
            "--baseline-poll",
            "200ms",
            "--timeout",
            "120s",
        ])
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for figure in [
        "all 3 Ready after",
        "lower bound",
        "Mendix requests per deploy",
        "second deploy of all 3 (start times known): Ready after",
        "GitOps wave (all Ready, one commit changes 1 of them): Ready after",
        "v1_transport",
        "v1_get_start_status",
        "baseline (sequential scripts, fixed polling)",
        "speedup",
        "peak RSS",
        "steady state over",
        "calls per hour per resource",
        "reaction (spec change to first Mendix request) over 3 changes: p50",
        "| N | Ready after (s) |",
        "| 3 |",
    ] {
        assert!(stdout.contains(figure), "missing `{figure}` in:\n{stdout}");
    }
    // Every deploy happened: at least one transport per environment, counted by the sandbox.
    let transports = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("v1_transport"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .expect("a v1_transport line");
    assert!(transports >= 1.0, "{stdout}");
    assert!(!stdout.contains("NaN"), "{stdout}");
}
