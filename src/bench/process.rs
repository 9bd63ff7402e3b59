//! The operator as a separate process (`mendix-operator run`), and what Linux says about it:
//! peak resident memory (`VmHWM` in /proc/PID/status) and CPU time (/proc/PID/stat).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::BenchError;

/// Clock ticks per second of /proc/PID/stat on Linux (USER_HZ is 100 on every supported
/// architecture).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

pub struct OperatorProcess {
    child: Child,
    pid: u32,
    pub metrics_addr: std::net::SocketAddr,
}

/// What the operator is given; everything else is `run`'s default.
pub struct OperatorSettings<'a> {
    pub binary: &'a Path,
    pub kubeconfig: &'a Path,
    pub log_file: &'a Path,
    pub cloud_url: String,
    pub private_cloud_url: String,
    pub namespace: &'a str,
    pub reconcile_concurrency: u16,
    pub max_in_flight: usize,
    pub requests_per_second: f64,
    pub resync: Duration,
    pub poll_initial: Duration,
    pub poll_max: Duration,
}

impl OperatorProcess {
    pub async fn start(settings: &OperatorSettings<'_>) -> Result<Self, BenchError> {
        let metrics_addr = free_port()?;
        let log = std::fs::File::create(settings.log_file)
            .map_err(|e| BenchError::io(format!("creating {}", settings.log_file.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| BenchError::io("duplicating the log file handle".into(), e))?;
        let child = Command::new(settings.binary)
            .arg("run")
            .args(["--mendix-cloud-url", &settings.cloud_url])
            .args(["--private-cloud-url", &settings.private_cloud_url])
            .args(["--namespaces", settings.namespace])
            .args([
                "--reconcile-concurrency",
                &settings.reconcile_concurrency.to_string(),
            ])
            .args([
                "--mendix-max-in-flight",
                &settings.max_in_flight.to_string(),
            ])
            .args([
                "--mendix-requests-per-second",
                &settings.requests_per_second.to_string(),
            ])
            .args(["--resync-period", &humantime(settings.resync)])
            .args(["--poll-initial", &humantime(settings.poll_initial)])
            .args(["--poll-max", &humantime(settings.poll_max)])
            .args(["--metrics-addr", &metrics_addr.to_string()])
            .args(["--leader-election", "false"])
            .env("KUBECONFIG", settings.kubeconfig)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                BenchError::io(
                    format!(
                        "starting the operator {} (give --operator-bin)",
                        settings.binary.display()
                    ),
                    e,
                )
            })?;
        let pid = child
            .id()
            .ok_or_else(|| BenchError::Operator("the operator exited at once".into()))?;
        Ok(Self {
            child,
            pid,
            metrics_addr,
        })
    }

    /// Waits until `/readyz` answers 200 (controllers started) or the process dies. Some
    /// runs of `run` never report ready although their controllers run (see BENCHMARKS.md), so
    /// after 15 s a live `/healthz` is accepted and the run goes on with a warning.
    pub async fn wait_ready(&mut self, log_file: &Path) -> Result<(), BenchError> {
        let ready = format!("http://{}/readyz", self.metrics_addr);
        let healthy = format!("http://{}/healthz", self.metrics_addr);
        let http = reqwest::Client::new();
        for attempt in 0..600 {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(log_file).unwrap_or_default();
                return Err(BenchError::Operator(format!(
                    "the operator exited with {status} before it was ready; its log:\n{log}"
                )));
            }
            if let Ok(resp) = http.get(&ready).send().await
                && resp.status().is_success()
            {
                return Ok(());
            }
            if attempt >= 150
                && let Ok(resp) = http.get(&healthy).send().await
                && resp.status().is_success()
            {
                println!(
                    "  warning: the operator is alive but /readyz did not report ready in 15 s; continuing"
                );
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = std::fs::read_to_string(log_file).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        Err(BenchError::Operator(format!(
            "the operator was not ready within 60 s; the end of its log:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )))
    }

    pub fn usage(&self) -> Result<Usage, BenchError> {
        Usage::of(self.pid)
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// Peak RSS and CPU seconds so far of one process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub peak_rss_bytes: u64,
    pub cpu_seconds: f64,
}

impl Usage {
    pub fn of(pid: u32) -> Result<Self, BenchError> {
        let status_path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&status_path)
            .map_err(|e| BenchError::io(format!("reading {status_path}"), e))?;
        let stat_path = format!("/proc/{pid}/stat");
        let stat = std::fs::read_to_string(&stat_path)
            .map_err(|e| BenchError::io(format!("reading {stat_path}"), e))?;
        Ok(Self {
            peak_rss_bytes: parse_vm_hwm(&status).unwrap_or(0),
            cpu_seconds: parse_cpu_ticks(&stat).unwrap_or(0) as f64 / CLOCK_TICKS_PER_SECOND,
        })
    }
}

/// `VmHWM:    12345 kB` → bytes.
fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// utime + stime (fields 14 and 15) of /proc/PID/stat; the command name in field 2 may hold
/// spaces, so fields are counted after its closing parenthesis (which starts at field 3).
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn free_port() -> Result<std::net::SocketAddr, BenchError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| BenchError::io("finding a free port for the operator's metrics".into(), e))?;
    listener
        .local_addr()
        .map_err(|e| BenchError::io("finding a free port for the operator's metrics".into(), e))
}

fn humantime(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_parsed() {
        let status =
            "Name:\tmendix-operator\nVmPeak:\t  100 kB\nVmHWM:\t   2048 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(2048 * 1024));
        let stat = "4242 (mendix op) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
    }

    #[test]
    fn this_process_has_usage() {
        let usage = Usage::of(std::process::id()).expect("own /proc entry");
        assert!(usage.peak_rss_bytes > 0);
    }
}
