//! `oc-conform bench`: what the harness costs over what opencode itself costs.
//!
//! Measured in one run on one machine: (1) the floor: `opencode serve` spawned bare in a
//! sandbox to its first healthy answer, and each scenario's inherent time (that floor
//! plus the span of its steps: opencode's own work and the observation windows its checks
//! need); (2) the harness: each scenario's wall time, and the suite's wall time at
//! `--jobs 1` and at the default jobs; (3) detection latency: process exit to the
//! sampler's record, a record to a waiting step waking, an idle event to the status poll
//! agreeing; (4) the harness's peak memory. Ratios go to the terminal and `bench.json`.

use clap::Args;
use oc_conform_app::{exit, workspace, Workspace};
use oc_conform_checks::{wire, EventStream, Observation, StepPhase, Timeline};
use oc_conform_runner::bench::{cpu_seconds, percentile, peak_rss_kib, process_exit_latency, server_start_floor, wake_latency};
use oc_conform_runner::execute::Settings;
use oc_conform_runner::install::OpencodeSpec;
use oc_conform_runner::report::Bus;
use oc_conform_runner::suite::{self, Cell, SuiteOptions};
use oc_conform_scenario::Expectations;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The opencode to measure (default: `default_opencode`).
    #[arg(long, value_name = "V")]
    pub opencode: Option<String>,
    #[command(flatten)]
    pub select: crate::run::SelectionArgs,
    /// Bare server starts to measure the floor over.
    #[arg(long, default_value_t = 5)]
    pub floor_runs: usize,
    /// Status poll interval to measure with (default: the runner's).
    #[arg(long, value_name = "MS")]
    pub status_interval_ms: Option<u64>,
    /// Process sampling interval to measure with (default: the runner's).
    #[arg(long, value_name = "MS")]
    pub process_interval_ms: Option<u64>,
    /// Only the suite at these --jobs values (default: 1 and the number of cores).
    #[arg(long, value_name = "N")]
    pub jobs: Vec<usize>,
    /// Every scenario on a server of its own (as `run --fresh-servers`).
    #[arg(long)]
    pub fresh_servers: bool,
    /// Where bench.json and the runs' reports go (default: reports/bench-<timestamp>).
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Instead: play this matrix of versions as `run` does (at the first --jobs, default
    /// the cores) and measure its wall time against its CPU floor (bench-matrix.json).
    #[arg(long, value_name = "V", num_args = 1.., conflicts_with = "opencode")]
    pub matrix: Vec<String>,
    /// With --matrix: cells that may play at once while a core idles (default as
    /// `run`'s: twice the cores, or --jobs when given).
    #[arg(long, value_name = "N")]
    pub max_jobs: Option<usize>,
    /// With --matrix: how often the harness's process tree is sampled.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub sample_interval_ms: u64,
}

fn stats(v: &[f64]) -> serde_json::Value {
    json!({"n": v.len(), "p50": percentile(v, 50.0), "p90": percentile(v, 90.0), "p99": percentile(v, 99.0), "max": percentile(v, 100.0)})
}

/// Spawn -> healthy, plus first step started -> last step finished.
/// The floor (a server start, for a scenario that started its own) plus the span of its
/// steps.
fn inherent_ms(t: &Timeline, floor_ms: f64) -> Option<f64> {
    let steps: Vec<(f64, &StepPhase)> = t
        .entries
        .iter()
        .filter_map(|e| match &e.obs {
            Observation::Step { name, phase, .. } if name != "teardown" => Some((e.at_ms, phase)),
            _ => None,
        })
        .collect();
    let first = steps.first()?.0;
    let last = steps.iter().rev().find(|(_, p)| **p != StepPhase::Started)?.0;
    // A scenario played on the run's shared server paid no server start.
    let started_own = !t.entries.iter().any(|e| {
        matches!(&e.obs, Observation::Harness { message } if message.starts_with("played on the run's shared"))
    });
    Some(if started_own { floor_ms } else { 0.0 } + (last - first))
}

/// For each idle event, how much later the status poll first said idle.
fn status_lag_ms(t: &Timeline) -> Vec<f64> {
    let Some(sid) = t.session_id.as_deref() else { return vec![] };
    let mut out = Vec::new();
    for (e, ty, p) in t.events(EventStream::Global) {
        if !matches!(wire::decode(ty, p), wire::Event::SessionStatus { status: Some("idle") }) {
            continue;
        }
        let agree = t.entries.iter().skip(e.seq as usize).find_map(|x| match &x.obs {
            Observation::Status { session_id, status } if session_id == sid && status == "idle" => Some(x.at_ms),
            _ => None,
        });
        // A status already idle before the event is agreement at once.
        let already = t.entries[..e.seq as usize].iter().rev().find_map(|x| match &x.obs {
            Observation::Status { session_id, status } if session_id == sid => Some(status == "idle"),
            _ => None,
        });
        match (already, agree) {
            (Some(true), _) => out.push(0.0),
            (_, Some(at)) => out.push(at - e.at_ms),
            _ => {}
        }
    }
    out
}

pub async fn bench(args: BenchArgs) -> u8 {
    if !args.matrix.is_empty() {
        return crate::bench_matrix::bench_matrix(&args).await.unwrap_or_else(|e| {
            eprintln!("error: {e}");
            e.exit_code()
        });
    }
    let ws = match Workspace::load() {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    let cfg = &ws.config;
    let selected = match ws.catalogue(&[]).and_then(|c| args.select.selection().apply(&c)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    let installer = match workspace::installer() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    let spec: OpencodeSpec = match args.opencode.clone().unwrap_or(cfg.default_opencode.clone()).parse() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let target = match installer.resolve(&spec).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INFRA;
        }
    };
    let dir = match ws.report_dir(args.report_dir.as_deref(), "bench-") {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };

    eprintln!("floor: {} bare starts of opencode {}", args.floor_runs, target.version);
    let mut floor = Vec::new();
    for _ in 0..args.floor_runs {
        match server_start_floor(&target.binary).await {
            Ok(d) => floor.push(d.as_secs_f64() * 1000.0),
            Err(e) => {
                eprintln!("error: the bare server did not start: {e}");
                return exit::INFRA;
            }
        }
    }
    floor.sort_by(f64::total_cmp);
    let floor_ms = percentile(&floor, 50.0);

    let mut settings = Settings::default();
    if let Some(ms) = args.status_interval_ms {
        settings.status_interval = std::time::Duration::from_millis(ms.max(1));
    }
    if let Some(ms) = args.process_interval_ms {
        settings.process_interval = std::time::Duration::from_millis(ms.max(1));
    }
    eprintln!("detection latency: process exits and waiter wake-ups");
    let exits = process_exit_latency(100, settings.process_interval).await;
    let wakes = wake_latency(200).await;

    let cells: Vec<Cell> = selected.iter().map(|s| Cell { scenario: s.clone(), target: target.clone() }).collect();
    let expectations = Expectations::load(&cfg.scenarios_dir.join("expectations.toml")).unwrap_or_default();
    let mut suites = Vec::new();
    let mut per_scenario = Vec::new();
    let mut status_lags = Vec::new();
    let jobs_list = if args.jobs.is_empty() { vec![1, suite::default_jobs()] } else { args.jobs.clone() };
    // Per-scenario overhead is measured against the floor, which includes a server start:
    // on servers of their own, one at a time. The suites then run as `run` would.
    let mut plan: Vec<(usize, bool)> = Vec::new();
    if !args.fresh_servers {
        plan.push((1, false));
    }
    plan.extend(jobs_list.iter().map(|&j| (j, !args.fresh_servers)));
    for (jobs, share) in plan {
        let servers = if share { "shared" } else { "fresh" };
        eprintln!("suite: {} scenarios at --jobs {jobs}, {servers} servers", cells.len());
        let opts = SuiteOptions {
            jobs,
            max_jobs: jobs,
            repeat: 1,
            retry_unexpected: 0,
            settings: settings.clone(),
            plugins_dir: cfg.fixtures_dir.join("plugins"),
            report_dir: dir.join(format!("jobs-{jobs}-{servers}")),
            share_servers: share,
        };
        let started = Instant::now();
        let cpu_before = cpu_seconds();
        let results = suite::run_cells(cells.clone(), &expectations, &opts, &Bus::default()).await;
        let wall = started.elapsed().as_secs_f64() * 1000.0;
        let cpu_after = cpu_seconds();
        let (harness_cpu, servers_cpu) = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
        let mut inherent_total = 0.0;
        for cell in &results {
            let Ok(bytes) = std::fs::read(opts.report_dir.join(&cell.artifacts.timeline)) else { continue };
            let Ok(t) = serde_json::from_slice::<Timeline>(&bytes) else { continue };
            let Some(inherent) = inherent_ms(&t, floor_ms) else { continue };
            inherent_total += inherent;
            if per_scenario.len() < cells.len() {
                status_lags.extend(status_lag_ms(&t));
                per_scenario.push(json!({
                    "scenario": cell.scenario,
                    "outcome": cell.outcome.as_str(),
                    "wall_ms": cell.duration_ms,
                    "inherent_ms": inherent.round(),
                    "overhead_ms": (cell.duration_ms as f64 - inherent).round(),
                    "ratio": cell.duration_ms as f64 / inherent,
                }));
            }
        }
        let mut outcomes: std::collections::BTreeMap<&str, usize> = Default::default();
        for c in &results {
            *outcomes.entry(c.outcome.as_str()).or_default() += 1;
        }
        suites.push(json!({
            "jobs": jobs,
            "servers": servers,
            "outcomes": outcomes,
            "wall_ms": wall.round(),
            "inherent_sum_ms": inherent_total.round(),
            "ratio_to_inherent_sum": wall / inherent_total,
            "cpu_s": {"harness": (harness_cpu * 100.0).round() / 100.0, "servers": (servers_cpu * 100.0).round() / 100.0},
        }));
    }
    status_lags.sort_by(f64::total_cmp);
    let overhead: Vec<f64> = per_scenario.iter().filter_map(|s| s["ratio"].as_f64()).collect();
    let doc = json!({
        "opencode_version": target.version,
        "machine_cores": suite::default_jobs(),
        "floor_server_start_ms": stats(&floor),
        "scenarios": per_scenario,
        "scenario_ratio_mean": overhead.iter().sum::<f64>() / overhead.len().max(1) as f64,
        "suites": suites,
        "detection_latency_ms": {
            "process_exit": stats(&exits),
            "waiter_wake": stats(&wakes),
            "status_agrees_with_idle_event": stats(&status_lags),
        },
        "settings": {
            "status_poll_ms": settings.status_interval.as_millis() as u64,
            "process_sample_ms": settings.process_interval.as_millis() as u64,
        },
        "peak_rss_kib": peak_rss_kib(),
    });
    let _ = std::fs::write(dir.join("bench.json"), serde_json::to_vec_pretty(&doc).unwrap_or_default());

    println!("opencode {} on {} cores", target.version, suite::default_jobs());
    println!("floor: server start p50 {:.0} ms (n={})", floor_ms, floor.len());
    println!("{:36} {:>9} {:>11} {:>10} {:>7}", "scenario", "wall ms", "inherent ms", "overhead", "ratio");
    for s in &per_scenario {
        println!(
            "{:36} {:>9} {:>11} {:>10} {:>7.3}",
            s["scenario"].as_str().unwrap_or(""),
            s["wall_ms"],
            s["inherent_ms"],
            s["overhead_ms"],
            s["ratio"].as_f64().unwrap_or(f64::NAN)
        );
    }
    for s in &suites {
        println!(
            "suite --jobs {}, {} servers: {} ms wall ({:.3} of the scenarios' inherent sum); CPU: harness {} s, servers {} s; outcomes {}",
            s["jobs"],
            s["servers"].as_str().unwrap_or(""),
            s["wall_ms"],
            s["ratio_to_inherent_sum"].as_f64().unwrap_or(f64::NAN),
            s["cpu_s"]["harness"],
            s["cpu_s"]["servers"],
            s["outcomes"]
        );
    }
    println!(
        "detection p50/p99: process exit {:.1}/{:.1} ms, waiter wake {:.2}/{:.2} ms, status after idle event {:.1}/{:.1} ms",
        percentile(&exits, 50.0), percentile(&exits, 99.0),
        percentile(&wakes, 50.0), percentile(&wakes, 99.0),
        percentile(&status_lags, 50.0), percentile(&status_lags, 99.0),
    );
    println!("peak memory: {} KiB", peak_rss_kib().unwrap_or(0));
    println!("written: {}", dir.join("bench.json").display());
    exit::OK
}
