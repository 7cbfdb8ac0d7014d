//! `oc-conform bisect`: which opencode release broke a scenario (or, with `--fixed`,
//! fixed it), by binary search over the registry's releases. Also the exit codes of
//! `oc-conform run --exit-code bisect`, for `git bisect run` on local builds.

use crate::{config, exit, run};
use clap::{Args, ValueEnum};
use oc_conform_runner::bisect::drive::{self, Event, Plan};
use oc_conform_runner::bisect::report::{BisectDoc, Role};
use oc_conform_runner::bisect::{self, candidates, CandidateError, Direction, Fingerprint, ProbeResult};
use oc_conform_runner::execute::Settings;
use oc_conform_runner::report::ResultsDoc;
use oc_conform_runner::server;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Args, Debug, Clone)]
pub struct BisectArgs {
    /// The scenario to bisect (by name).
    #[arg(long, value_name = "NAME")]
    pub scenario: String,
    /// A release where the scenario passes.
    #[arg(long, value_name = "V")]
    pub good: String,
    /// A release where it fails.
    #[arg(long, value_name = "V")]
    pub bad: String,
    /// Search for the fix instead: the first release after --bad (older) where the
    /// failing scenario passes, up to --good (newer).
    #[arg(long)]
    pub fixed: bool,
    /// Runs per probe: bad if any run fails the same way, good only if all pass.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: u32,
    /// The failure to look for (failed checks joined by `+`). Default: how the bad end fails.
    #[arg(long, value_name = "FP")]
    pub fingerprint: Option<String>,
    /// An extra directory (or file) of scenarios. Repeatable.
    #[arg(long = "scenarios", value_name = "DIR")]
    pub scenarios: Vec<PathBuf>,
    /// Where to write bisect.json, bisect.md and the probes' artifacts.
    /// Default: reports/<timestamp>/.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Keep each probe's sandbox on disk for debugging.
    #[arg(long)]
    pub keep_sandbox: bool,
}

/// What `oc-conform run`'s exit code reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExitMode {
    /// The CI gate: 0 as expected, 1 regression, 2 no verdict (see README).
    Gate,
    /// For `git bisect run`: 0 pass, 1 fails (the --fingerprint way), 125 cannot decide.
    Bisect,
}

/// `run --exit-code bisect`: what the run's cells mean to `git bisect run`. Ignores the
/// expectations: a known failure is still a failure.
pub fn run_exit_code(doc: &ResultsDoc, fingerprint: Option<&Fingerprint>) -> u8 {
    match bisect::judge_cells(&doc.results, fingerprint) {
        ProbeResult::Good => exit::OK,
        ProbeResult::Bad => exit::REGRESSION,
        ProbeResult::Skip => exit::BISECT_SKIP,
    }
}

/// `run --exit-code bisect`: a run that could not take place (e.g. the local build is
/// missing) cannot decide (125); a usage error would be wrong for every commit, so it
/// aborts `git bisect run` (128); interrupts stay as they are (they abort it too).
pub fn run_error_code(mode: ExitMode, code: u8) -> u8 {
    match (mode, code) {
        (ExitMode::Gate, c) => c,
        (ExitMode::Bisect, c) if c == exit::USAGE => exit::BISECT_ABORT,
        (ExitMode::Bisect, c) if c == exit::SIGINT || c == exit::SIGTERM => c,
        (ExitMode::Bisect, _) => exit::BISECT_SKIP,
    }
}

/// Parses `--fingerprint` for `run`; only meaningful with `--exit-code bisect`.
pub fn parse_run_fingerprint(mode: ExitMode, fp: Option<&str>) -> Result<Option<Fingerprint>, String> {
    match (mode, fp) {
        (_, None) => Ok(None),
        (ExitMode::Gate, Some(_)) => Err("--fingerprint needs --exit-code bisect".into()),
        (ExitMode::Bisect, Some(s)) => s.parse().map(Some).map_err(|e: bisect::FingerprintError| e.to_string()),
    }
}

pub async fn bisect(args: BisectArgs) -> u8 {
    match bisect_inner(args).await {
        Ok(code) => code,
        Err((code, msg)) => {
            eprintln!("error: {msg}");
            code
        }
    }
}

async fn bisect_inner(args: BisectArgs) -> Result<u8, (u8, String)> {
    let usage = |m: String| (exit::USAGE, m);
    let direction = if args.fixed { Direction::Fixed } else { Direction::Regression };
    let (root, cfg) = config::load().map_err(usage)?;
    let all = run::all_scenarios(&cfg, &args.scenarios).map_err(usage)?;
    let scenario = run::select(all, std::slice::from_ref(&args.scenario))
        .map_err(usage)?
        .remove(0);
    let fingerprint = args
        .fingerprint
        .as_deref()
        .map(str::parse::<Fingerprint>)
        .transpose()
        .map_err(|e| usage(e.to_string()))?;
    if args.repeat == 0 {
        return Err(usage("--repeat must be at least 1".into()));
    }
    // The ends' syntax and order, before asking the registry anything.
    let ends = [args.good.clone(), args.bad.clone()];
    candidates(&ends, direction, &args.good, &args.bad).map_err(|e| usage(e.to_string()))?;

    let installer = Arc::new(run::installer().map_err(|c| (c, "no cache directory".into()))?);
    let registry = installer
        .registry_versions()
        .await
        .map_err(|e| (exit::INFRA, format!("bisect needs the registry's versions: {e}")))?;
    let candidates = candidates(&registry, direction, &args.good, &args.bad).map_err(|e| match e {
        CandidateError::NotInRegistry { .. } => usage(format!("{e} (bisect runs released versions only; for local builds see `git bisect run` in the README)")),
        e => usage(e.to_string()),
    })?;
    let report_dir = args.report_dir.clone().unwrap_or_else(|| run::default_report_dir(&root));
    std::fs::create_dir_all(&report_dir).map_err(|e| {
        usage(format!("cannot create the report dir {}: {e}; pass --report-dir with a writable directory", report_dir.display()))
    })?;

    let mut extra_args = Vec::new();
    for dir in &args.scenarios {
        extra_args.push("--scenarios".to_string());
        extra_args.push(dir.display().to_string());
    }
    let doc = BisectDoc::new(
        &scenario.name,
        direction,
        &args.good,
        &args.bad,
        args.repeat,
        fingerprint,
        candidates.clone(),
        extra_args,
    );
    let max_probes = doc.max_probes;
    let _ = doc.write(&report_dir);
    let doc = Arc::new(Mutex::new(doc));
    spawn_interrupt_handler(doc.clone(), report_dir.clone());

    eprintln!(
        "bisect {} ({}): {} candidate(s) in the registry from {} to {} (the registry holds a subset of releases): {}",
        scenario.name,
        match direction {
            Direction::Regression => "first bad release",
            Direction::Fixed => "first fixed release",
        },
        candidates.len(),
        candidates.first().map(String::as_str).unwrap_or("?"),
        candidates.last().map(String::as_str).unwrap_or("?"),
        candidates.join(", ")
    );
    eprintln!("at most {max_probes} probe(s) without skips, the two ends included");

    let plan = Plan {
        scenario,
        settings: Settings {
            keep_sandbox: args.keep_sandbox,
            ..Settings::default()
        },
        plugins_dir: cfg.fixtures_dir.join("plugins"),
        report_dir: report_dir.clone(),
        repeat: args.repeat,
    };
    let started = Instant::now();
    let repeat = args.repeat;
    let mut on_event = move |e: Event<'_>| print_event(&e, repeat, max_probes);
    let done = drive::run(&plan, installer, doc, &mut on_event).await;
    let elapsed = started.elapsed().as_secs_f64();

    if let Some(fp) = &done.fingerprint {
        eprintln!("fingerprint (the bad end's failed checks): {fp}");
    }
    if let Some(e) = &done.error {
        // The search stops at the end that was not as claimed: the last probe.
        let role = done.probes.last().map_or(Role::BadEnd, |p| p.role);
        let why = done
            .probes
            .last()
            .map(|p| format!(" ({} on {})", p.reason, p.version))
            .unwrap_or_default();
        eprintln!("error: {e}{why}");
        if let Some(hint) = end_hint(&done, role) {
            eprintln!("hint: {hint}");
        }
    }
    for line in done.answer_lines() {
        println!("{line}");
    }
    if let Some(w) = done.window_description() {
        println!("{w}");
    }
    if !done.skipped.is_empty() {
        println!("skipped: {}", done.skipped.join(", "));
    }
    if let Some(c) = &done.reproduce {
        println!("reproduce: {c}");
    }
    println!(
        "{} probe(s) in {:.0} s; report: {}",
        done.probes.len(),
        elapsed,
        report_dir.join("bisect.md").display()
    );
    Ok(if done.status == "found" { exit::OK } else { exit::INFRA })
}

/// What to try when an end was not confirmed.
fn end_hint(doc: &BisectDoc, role: Role) -> Option<String> {
    let n = doc.candidates.len();
    // The next candidate inward from that end.
    let inward = |from_old: bool| {
        if n > 2 {
            Some(if from_old { &doc.candidates[1] } else { &doc.candidates[n - 2] })
        } else {
            None
        }
    };
    let good_is_old = doc.direction == Direction::Regression;
    match role {
        Role::GoodEnd => inward(good_is_old).map(|v| {
            format!("the good end must pass; try a release nearer the bad end that passes, e.g. --good {v}, or `oc-conform run --opencode {} --scenario {}` to see why", doc.good, doc.scenario)
        }),
        Role::BadEnd => Some(format!(
            "the bad end must fail with a verdict; see `oc-conform run --opencode {} --scenario {}`",
            doc.bad, doc.scenario
        )),
        Role::Probe => None,
    }
}

fn print_event(e: &Event<'_>, repeat: u32, max_probes: usize) {
    match e {
        Event::Probing {
            number,
            version,
            role,
            fetching,
        } => {
            let ahead = if fetching.is_empty() {
                String::new()
            } else {
                format!("; fetching ahead: {}", fetching.join(", "))
            };
            let count = if *number <= max_probes {
                format!("{number}/<={max_probes}")
            } else {
                format!("{number}, skips cost extra")
            };
            eprintln!("[{count}] probing {version} ({}){ahead}", role.as_str());
        }
        Event::Ran { version, run, verdict } => {
            if repeat > 1 {
                eprintln!("      {version} run {run}/{repeat}: {verdict}");
            }
        }
        Event::Probed { probe, .. } => {
            let install = if probe.install_ms >= 500 {
                format!(" (+{:.1} s install)", probe.install_ms as f64 / 1000.0)
            } else {
                String::new()
            };
            eprintln!(
                "      {:<9} {:<4} {:>5.1} s{install}  {}",
                probe.version,
                probe.result.as_str(),
                probe.duration_ms.saturating_sub(probe.install_ms) as f64 / 1000.0,
                probe.reason
            );
        }
    }
}

/// On SIGINT/SIGTERM: kill every server, write what was learned, print the command that
/// resumes from it.
fn spawn_interrupt_handler(doc: Arc<Mutex<BisectDoc>>, report_dir: PathBuf) {
    crate::interrupt::on_interrupt(move || {
        server::cleanup_all();
        let mut d = doc.lock().unwrap_or_else(|p| p.into_inner()).clone();
        d.mark_interrupted();
        let _ = d.write(&report_dir);
        eprintln!("learned so far: known good {}, known bad {}", d.known_good, d.known_bad);
        if let Some(resume) = &d.resume {
            eprintln!("resume with: {resume}");
        }
        eprintln!("report: {}", report_dir.join("bisect.md").display());
    });
}
