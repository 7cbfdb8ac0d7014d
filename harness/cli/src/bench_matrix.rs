//! `oc-conform bench --matrix V1 V2 ...`: a matrix played as `run` plays it, measured
//! against its CPU floor. The floor is the CPU seconds of the servers (and everything
//! else the harness started: tools, npm) summed over the matrix, divided by the cores;
//! the ratio is the wall time over that floor. While it runs, the harness's process tree
//! is sampled from `/proc` so the wall time above the floor can be split: cores idle
//! because nothing played, because fewer scenarios than jobs played, because every
//! scenario was waiting, or threads runnable but kept off the cores by other load.

use crate::bench::BenchArgs;
use oc_conform_app::drivers::run::{self, RunPlan, ServerSource};
use oc_conform_app::reporters::{self, MessageFormat};
use oc_conform_app::{workspace, AppError, Workspace};
use oc_conform_runner::bench::matrix::{breakdown, playing_s, version_spans, TimedRuns};
use oc_conform_runner::tree_load::{MachineCpu, TreeSampler};
use oc_conform_runner::bench::{cpu_seconds, peak_rss_kib};
use oc_conform_runner::report::ExitMode;
use oc_conform_runner::suite;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub async fn bench_matrix(args: &BenchArgs) -> Result<u8, AppError> {
    let ws = Workspace::load()?;
    let scenarios = args.select.selection().apply(&ws.catalogue(&[])?)?;
    if scenarios.is_empty() {
        return Err(AppError::usage("no scenarios selected for the matrix"));
    }
    let installer = std::sync::Arc::new(workspace::installer()?);
    let versions = ws.versions(&args.matrix, None, &installer).await?;
    let report_dir = ws.report_dir(args.report_dir.as_deref(), "bench-matrix-")?;
    let cores = suite::default_jobs();
    let (jobs, max_jobs) = suite::jobs_and_max(args.jobs.first().copied(), args.max_jobs);
    let plan = RunPlan {
        scenarios,
        versions,
        source: ServerSource::Start { share: !args.fresh_servers },
        expectations: ws.expectations(None)?,
        report_dir: report_dir.clone(),
        plugins_dir: ws.plugins_dir(),
        jobs,
        max_jobs,
        repeat: 1,
        retry_unexpected: 0,
        keep_sandbox: false,
        start_timeout: Duration::from_secs(60),
        partition: None,
        strict: false,
        exit_mode: ExitMode::Gate,
        fingerprint: None,
        only: None,
        auto_bisect: None,
        // The interface section may start a server per uncached version: not the matrix's cost.
        interface: None,
    };
    let bus = reporters::for_run(MessageFormat::Human);
    let origin = Instant::now();
    let timed = TimedRuns::new(origin);
    bus.add(Box::new(timed.clone()));
    let sampler = TreeSampler::start(origin, Duration::from_millis(args.sample_interval_ms.max(10)));
    let cpu_before = cpu_seconds();
    let machine_before = MachineCpu::now();
    let doc = run::run(plan, &installer, &bus).await;
    let wall_s = origin.elapsed().as_secs_f64();
    let cpu_after = cpu_seconds();
    // As wall seconds (core-seconds / cores), like the breakdown's parts.
    let machine = machine_before.zip(MachineCpu::now()).map(|(b, a)| a.split_since(&b, cores));
    let steal_s = machine.and_then(|m| m.steal_s);
    let sampled = sampler.finish();
    let samples = sampled.samples;
    let doc = doc?;

    let (harness_cpu, servers_cpu) = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
    let floor_s = servers_cpu / cores as f64;
    let spans = timed.spans();
    let parts = breakdown(&samples, &spans, cores, jobs);
    let by_version = version_spans(&spans);
    let playing = playing_s(&spans);
    let mut outcomes: BTreeMap<String, BTreeMap<&str, usize>> = BTreeMap::new();
    for c in &doc.results {
        *outcomes.entry(c.opencode_version.clone()).or_default().entry(c.outcome.as_str()).or_default() += 1;
    }
    let bench = json!({
        "versions": doc.versions,
        "scenarios": doc.scenarios.len(),
        "cells": doc.results.len(),
        "cores": cores,
        "jobs": jobs,
        "max_jobs": max_jobs,
        "wall_s": wall_s,
        "hypervisor_steal_s": steal_s,
        "cpu_s": {"servers": servers_cpu, "harness": harness_cpu},
        "floor_s": floor_s,
        "ratio": wall_s / floor_s,
        "ratio_with_harness_cpu": wall_s / ((servers_cpu + harness_cpu) / cores as f64),
        "bench_sampler_cpu_s": sampled.own_cpu_s,
        "machine_s": machine,
        "playing_s": playing,
        "breakdown": parts,
        "by_version": by_version,
        "outcomes": outcomes,
        "load_average_at_end": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        "peak_rss_kib": peak_rss_kib(),
        "runs": spans,
    });
    let path = report_dir.join("bench-matrix.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&bench).unwrap_or_default())
        .map_err(|e| AppError::infra(format!("cannot write {}: {e}", path.display())))?;

    println!(
        "matrix of {} versions x {} scenarios ({} cells) on {cores} cores, --jobs {jobs} --max-jobs {max_jobs}",
        doc.versions.len(),
        doc.scenarios.len(),
        doc.results.len()
    );
    println!(
        "wall {wall_s:.1} s; CPU: servers and their children {servers_cpu:.1} s, harness {harness_cpu:.1} s; \
         floor {floor_s:.1} s; ratio {:.2}",
        wall_s / floor_s
    );
    println!(
        "where the wall time went (s, as core-seconds / cores): used {:.1}, runnable but kept off the cores by \
         other load {:.1}, idle with no scenario playing {:.1}, idle with fewer scenarios than jobs {:.1}, idle \
         with every job's scenario waiting {:.1}, unexplained {:.1}; fewer runnable threads than cores for {:.1} s",
        parts.used_s,
        parts.contended_s,
        parts.idle_no_scenario_s,
        parts.idle_slots_free_s,
        parts.idle_scenarios_waiting_s,
        parts.residual_s,
        parts.starved_wall_s
    );
    if let Some(steal) = steal_s {
        println!("of the time kept off the cores, the hypervisor gave other guests {steal:.1} s (steal in /proc/stat)");
    }
    if let Some(m) = machine {
        println!(
            "the machine's cores (s, from /proc/stat): busy {:.1} (this run's tree {:.1}), niced work {:.1}, idle {:.1}, steal {}",
            m.busy_s,
            (servers_cpu + harness_cpu) / cores as f64,
            m.niced_s,
            m.idle_s,
            m.steal_s.map_or("not counted".to_string(), |s| format!("{s:.1}"))
        );
    }
    println!(
        "of the harness's CPU, the bench's own sampler {:.1} s; cells playing at once (s): {}",
        sampled.own_cpu_s,
        playing.iter().enumerate().skip(1).map(|(n, s)| format!("{n}: {s:.1}")).collect::<Vec<_>>().join(", ")
    );
    for v in &by_version {
        let counts: Vec<String> = outcomes
            .get(&v.version)
            .map(|o| o.iter().map(|(k, n)| format!("{n} {k}")).collect())
            .unwrap_or_default();
        println!(
            "  {}: {} runs from {:.1} s to {:.1} s; {}",
            v.version,
            v.runs,
            v.first_start_s,
            v.last_end_s,
            counts.join(", ")
        );
    }
    println!("written: {}", path.display());
    Ok(doc.gate_decision().exit_code)
}
