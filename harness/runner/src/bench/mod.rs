//! Measuring the harness against the floor opencode sets. Pure measurements live here
//! (server start with no harness around it, the observers' detection latency); the
//! `oc-conform bench` command runs them next to real suite runs and writes the ratios.
//! `bench --matrix` samples the harness's process tree (`crate::tree_load`) while a
//! matrix runs and splits its wall time against the CPU floor (`matrix`).

pub mod matrix;

use crate::observe::procs::ProcessSampler;
use crate::record::Recorder;
use crate::sandbox::{Sandbox, SandboxSpec, RUN_MARKER_VAR};
use oc_conform_checks::{Observation, ProcessChange};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

/// Spawns `opencode serve` in a fresh sandbox, as bare as it gets: no observers, health
/// polled in a tight loop after the listening line. Returns spawn -> first healthy answer.
pub async fn server_start_floor(binary: &Path) -> Result<Duration, String> {
    let sandbox = Sandbox::create(&SandboxSpec {
        model_base_url: "http://127.0.0.1:9/v1".into(),
        label: "bench-floor".into(),
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .args(["serve", "--hostname", "127.0.0.1", "--port", "0"])
        .current_dir(&sandbox.project)
        .env_clear()
        .envs(sandbox.env().iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    let pid = child.id().unwrap_or(0) as i32;
    let result = async {
        let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let url = loop {
            match lines.next_line().await {
                Ok(Some(l)) => {
                    if let Some(i) = l.find("listening on ") {
                        break l[i + "listening on ".len()..].trim().to_string();
                    }
                }
                _ => return Err("no listening line".to_string()),
            }
        };
        let client = reqwest::Client::new();
        loop {
            let r = client
                .get(format!("{url}/global/health"))
                .basic_auth("opencode", Some(&sandbox.password))
                .send()
                .await;
            if r.is_ok_and(|r| r.status().is_success()) {
                return Ok(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let out = tokio::time::timeout(Duration::from_secs(60), result)
        .await
        .unwrap_or_else(|_| Err("no healthy answer within 60 s".into()));
    crate::observe::procs::send_signal(-pid, libc::SIGKILL);
    let _ = child.wait().await;
    crate::observe::procs::kill_marked(&sandbox.run_marker, Duration::from_secs(2));
    out
}

/// How long after a marked process exits the process sampler records it, over `n`
/// processes, with the sampler at `interval`. Milliseconds, sorted.
pub async fn process_exit_latency(n: usize, interval: Duration) -> Vec<f64> {
    let marker = format!("{}-bench-{}", std::process::id(), crate::sandbox::random_token(6));
    let rec = Recorder::new("bench", "none");
    let cancel = CancellationToken::new();
    let sampler = ProcessSampler::new(0, &marker);
    let task = tokio::spawn(sampler.run(rec.clone(), interval, cancel.clone()));
    let mut out = Vec::new();
    for _ in 0..n {
        let mut child = match tokio::process::Command::new("sleep")
            .arg("30")
            .env(RUN_MARKER_VAR, &marker)
            .spawn()
        {
            Ok(c) => c,
            Err(_) => continue,
        };
        let pid = child.id().unwrap_or(0);
        let appeared = crate::execute::wait::wait_until(&rec, Duration::from_secs(5), |t| {
            t.entries.iter().any(|e| matches!(&e.obs, Observation::Process(ProcessChange::Appeared(p)) if p.pid == pid))
        })
        .await;
        if !appeared {
            let _ = child.kill().await;
            continue;
        }
        let t0 = rec.now_ms();
        let _ = child.kill().await;
        let _ = child.wait().await;
        let seen = crate::execute::wait::wait_until(&rec, Duration::from_secs(5), |t| {
            t.entries.iter().any(|e| matches!(&e.obs, Observation::Process(ProcessChange::Exited { pid: p }) if *p == pid))
        })
        .await;
        if seen {
            let at = rec.with(|t| {
                t.entries
                    .iter()
                    .find(|e| matches!(&e.obs, Observation::Process(ProcessChange::Exited { pid: p }) if *p == pid))
                    .map(|e| e.at_ms)
            });
            if let Some(at) = at {
                out.push(at - t0);
            }
        }
    }
    cancel.cancel();
    let _ = task.await;
    out.sort_by(f64::total_cmp);
    out
}

/// How long after an observation is recorded a waiting step wakes up and acts, over `n`
/// observations. Milliseconds, sorted.
pub async fn wake_latency(n: usize) -> Vec<f64> {
    let rec = Recorder::new("bench", "none");
    let mut out = Vec::new();
    for i in 0..n {
        let marker = format!("bench-{i}");
        let r = rec.clone();
        let m = marker.clone();
        let waiter = tokio::spawn(async move {
            crate::execute::wait::wait_until(&r, Duration::from_secs(5), |t| {
                t.entries.iter().any(|e| matches!(&e.obs, Observation::Harness { message } if *message == m))
            })
            .await;
            r.now_ms()
        });
        tokio::task::yield_now().await;
        let t0 = rec.now_ms();
        rec.record(Observation::Harness { message: marker });
        if let Ok(woke) = waiter.await {
            out.push(woke - t0);
        }
    }
    out.sort_by(f64::total_cmp);
    out
}

/// The `p`-th percentile (0-100) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// CPU seconds used by this process (the harness) and by its reaped children (the
/// servers), so far.
pub fn cpu_seconds() -> (f64, f64) {
    use nix::sys::resource::{getrusage, UsageWho};
    let secs = |who| {
        getrusage(who)
            .map(|u| {
                let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
                t(u.user_time()) + t(u.system_time())
            })
            .unwrap_or(f64::NAN)
    };
    (secs(UsageWho::RUSAGE_SELF), secs(UsageWho::RUSAGE_CHILDREN))
}

/// Peak resident memory of this process (VmHWM), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 51.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[tokio::test]
    async fn the_sampler_sees_an_exit_within_a_few_intervals() {
        let lat = process_exit_latency(5, Duration::from_millis(10)).await;
        assert_eq!(lat.len(), 5);
        assert!(percentile(&lat, 100.0) < 500.0, "{lat:?}");
    }
}
