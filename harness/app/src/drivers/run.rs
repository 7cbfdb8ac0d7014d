//! `run`: a matrix of scenarios x opencode versions, played on servers the harness
//! starts (each scenario on its own, or on a shared server per version) or on a server
//! someone else started (attach), classified against the expectations and decided by
//! the gate. A version that cannot be installed makes its cells ERROR, with the reason;
//! the other versions run.

use crate::drivers::auto_bisect::{self, AutoBisect};
use crate::drivers::interface_changes::{self, InterfaceOptions};
use crate::interrupt;
use crate::AppError;
use oc_conform_runner::bisect::Fingerprint;
use oc_conform_runner::execute::{AttachTo, Settings};
use oc_conform_runner::install::{Installed, Installer, OpencodeSpec, Source};
use oc_conform_runner::report::gate::{self, ExitMode};
use oc_conform_runner::report::model::SkippedCell;
use oc_conform_runner::report::{json, Bus, CellReport, Event, ResultsDoc, RunHeader};
use oc_conform_runner::server;
use oc_conform_runner::suite::{self, Cell, SuiteOptions};
use oc_conform_runner::probe;
use oc_conform_scenario::{Expectations, Features, Scenario, ServerMode};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

/// Where the scenarios are played.
#[derive(Debug, Clone)]
pub enum ServerSource {
    /// Servers the harness starts: one per scenario, or (`share`) one per version and job
    /// for the scenarios that need no server of their own.
    Start { share: bool },
    /// A server someone else started: only the scenarios that need nothing of the server
    /// beyond HTTP run; the others are skipped with the reason.
    Attach(AttachTarget),
}

#[derive(Debug, Clone)]
pub struct AttachTarget {
    pub url: String,
    pub password: String,
    /// The fake model's loopback port.
    pub model_port: u16,
}

/// Everything a run needs, resolved from the command line.
pub struct RunPlan {
    pub scenarios: Vec<Scenario>,
    /// The versions to test (ignored when attached: the server says its version).
    pub versions: Vec<OpencodeSpec>,
    pub source: ServerSource,
    pub expectations: Expectations,
    pub report_dir: PathBuf,
    pub plugins_dir: PathBuf,
    pub jobs: usize,
    /// Cells that may play at once while a core idles (at least `jobs`).
    pub max_jobs: usize,
    pub repeat: u32,
    pub retry_unexpected: u32,
    pub keep_sandbox: bool,
    pub start_timeout: Duration,
    /// `(k, n)`: only slice k of n of the matrix.
    pub partition: Option<(usize, usize)>,
    pub strict: bool,
    pub exit_mode: ExitMode,
    /// With `ExitMode::Bisect`: only this failure is bad.
    pub fingerprint: Option<Fingerprint>,
    /// Only these `(scenario, version)` cells of the matrix (`rerun`); none: all.
    pub only: Option<BTreeSet<(String, String)>>,
    /// `--auto-bisect`: bisect each regression after the matrix (gate mode only).
    pub auto_bisect: Option<AutoBisect>,
    /// The "Interface changes" section between adjacent versions (a matrix of more than
    /// one version; none: not gathered).
    pub interface: Option<InterfaceOptions>,
}

/// One cell of the matrix before it runs.
enum Planned {
    Play(Cell),
    /// Its version could not be installed.
    Unavailable { scenario: Scenario, version: String, reason: String },
    /// The release lacks what the scenario requires (`[requires]`).
    Skip(SkippedCell),
}

impl Planned {
    /// `(scenario, version)`.
    fn key(&self) -> (String, String) {
        match self {
            Planned::Play(c) => (c.scenario.name.clone(), c.target.version.clone()),
            Planned::Unavailable { scenario, version, .. } => (scenario.name.clone(), version.clone()),
            Planned::Skip(s) => (s.scenario.clone(), s.opencode_version.clone().unwrap_or_default()),
        }
    }
}

/// The cell of `scenario` on `target`, or why it is skipped: the release lacks what the
/// scenario requires (its version, or a feature `probed` on its server).
fn plan_cell(scenario: &Scenario, target: &Installed, probed: Option<&Features>) -> Result<Cell, SkippedCell> {
    let unmet = scenario.requires.unmet_by(&target.version).or_else(|| {
        probed.and_then(|f| scenario.requires.unmet_features(&target.version, f))
    });
    match unmet {
        Some(reason) => Err(SkippedCell {
            scenario: scenario.name.clone(),
            opencode_version: Some(target.version.clone()),
            reason,
        }),
        None => Ok(Cell {
            scenario: scenario.clone(),
            target: target.clone(),
        }),
    }
}

/// What `target` offers, probed on a server started for that alone, when a scenario of
/// the plan requires a feature (and its version range does not already rule it out).
async fn probe_if_needed(plan: &RunPlan, target: &Installed, bus: &Bus) -> Option<Result<Features, String>> {
    let needed: Vec<&str> = plan
        .scenarios
        .iter()
        .filter(|s| s.requires.probes_on(&target.version))
        .map(|s| s.name.as_str())
        .collect();
    if needed.is_empty() {
        return None;
    }
    bus.emit(Event::Note {
        text: format!(
            "probing opencode {} for the features {} require(s)",
            target.version,
            needed.join(", ")
        ),
    });
    let log = plan.report_dir.join(&target.version).join("probe-server").join("server.log");
    Some(probe::probe_release(target, &log, plan.start_timeout).await)
}

/// Plays the plan; returns the run's document (its gate decision says the exit code).
pub async fn run(plan: RunPlan, installer: &Installer, bus: &Bus) -> Result<ResultsDoc, AppError> {
    if plan.repeat == 0 {
        return Err(AppError::usage("--repeat must be at least 1"));
    }
    let left = oc_conform_runner::leftovers::find();
    if !left.is_empty() {
        let pids: Vec<String> = left.iter().map(|l| l.pid.to_string()).collect();
        bus.emit(Event::Note {
            text: format!(
                "warning: {} process(es) left by earlier oc-conform runs are still alive (pids {}); `oc-conform gc` ends them",
                left.len(),
                pids.join(", ")
            ),
        });
    }
    interrupt::on_interrupt(bus.clone(), server::cleanup_all);
    match plan.source.clone() {
        ServerSource::Start { share } => run_started(plan, share, installer, bus).await,
        ServerSource::Attach(target) => run_attached(plan, target, bus).await,
    }
}

fn header(plan: &RunPlan, versions: Vec<String>, scenarios: &[Scenario], cells: usize) -> RunHeader {
    RunHeader {
        tool: json::tool_name(),
        started_at: json::now_rfc3339(),
        partition: plan.partition.map(|(k, n)| format!("{k}/{n}")),
        versions,
        local_builds: Default::default(),
        scenarios: scenarios.iter().map(|s| s.name.clone()).collect(),
        attached_to: None,
        report_dir: plan.report_dir.display().to_string(),
        round: None,
        cells,
    }
}

/// The binaries of the installed versions that were local builds, by the version each
/// reports (canonical paths: the installer resolved them).
fn local_builds(installed: &[Result<Installed, String>]) -> BTreeMap<String, PathBuf> {
    installed
        .iter()
        .flatten()
        .filter(|i| i.source == Source::Local)
        .map(|i| (i.version.clone(), i.binary.clone()))
        .collect()
}

fn suite_options(plan: &RunPlan, share: bool, attach: Option<AttachTo>) -> SuiteOptions {
    SuiteOptions {
        jobs: plan.jobs.max(1),
        max_jobs: plan.max_jobs.max(plan.jobs.max(1)),
        repeat: plan.repeat,
        retry_unexpected: plan.retry_unexpected,
        settings: Settings {
            keep_sandbox: plan.keep_sandbox,
            start_timeout: plan.start_timeout,
            attach,
            ..Settings::default()
        },
        plugins_dir: plan.plugins_dir.clone(),
        report_dir: plan.report_dir.clone(),
        share_servers: share,
    }
}

async fn run_started(plan: RunPlan, share: bool, installer: &Installer, bus: &Bus) -> Result<ResultsDoc, AppError> {
    let texts: Vec<String> = plan.versions.iter().map(|s| s.to_string()).collect();
    let mut installed: Vec<Result<Installed, String>> = Vec::new();
    for (spec, result) in plan.versions.iter().zip(installer.install_many(&texts).await) {
        installed.push(result.map_err(|e| {
            let reason = e.to_string();
            bus.emit(Event::VersionUnavailable {
                version: spec.to_string(),
                reason: reason.clone(),
            });
            reason
        }));
    }
    let versions: Vec<String> = plan
        .versions
        .iter()
        .zip(&installed)
        .map(|(spec, i)| i.as_ref().map_or_else(|_| spec.to_string(), |i| i.version.clone()))
        .collect();
    // Every version's probe at once: each is a server start on one core, and none needs
    // another's answer.
    let probes = futures::future::join_all(installed.iter().map(|target| async {
        match target {
            Ok(t) => probe_if_needed(&plan, t, bus).await,
            Err(_) => None,
        }
    }))
    .await;
    let mut cells: Vec<Planned> = Vec::new();
    for ((version, target), probed) in versions.iter().zip(&installed).zip(probes) {
        for s in &plan.scenarios {
            cells.push(match (target, &probed) {
                (Ok(t), Some(Err(why))) if s.requires.probes_on(&t.version) => {
                    Planned::Unavailable {
                        scenario: s.clone(),
                        version: version.clone(),
                        reason: format!("the features it requires could not be probed on opencode {version}: {why}"),
                    }
                }
                (Ok(t), probed) => plan_cell(s, t, probed.as_ref().and_then(|p| p.as_ref().ok()))
                    .map_or_else(Planned::Skip, Planned::Play),
                (Err(reason), _) => Planned::Unavailable {
                    scenario: s.clone(),
                    version: version.clone(),
                    reason: format!("opencode {version} could not be installed: {reason}"),
                },
            });
        }
    }
    if let Some(only) = &plan.only {
        cells.retain(|c| only.contains(&c.key()));
    }
    if let Some((k, n)) = plan.partition {
        cells = suite::partition(cells, k, n);
    }
    let mut skipped = Vec::new();
    cells.retain(|c| match c {
        Planned::Skip(s) => {
            skipped.push(s.clone());
            false
        }
        _ => true,
    });
    let total = cells.len();
    let mut head = header(&plan, versions.clone(), &plan.scenarios, total);
    head.local_builds = local_builds(&installed);
    bus.emit(Event::RunStarted { run: head.clone() });
    for s in &skipped {
        bus.emit(Event::Skipped { skipped: s.clone() });
    }

    let (play, unavailable): (Vec<Planned>, Vec<Planned>) = cells.into_iter().partition(|c| matches!(c, Planned::Play(_)));
    let mut results = Vec::new();
    // Cells that cannot play are reported first: they are known at once.
    for (done, c) in unavailable.into_iter().enumerate() {
        let Planned::Unavailable { scenario, version, reason } = c else { continue };
        let dir = suite::run_dir(&plan.report_dir, &version, &scenario.name, 1);
        let outcome = suite::unplayed(&scenario, &version, dir, reason);
        let cell = CellReport::from_runs(&[outcome], plan.expectations.find(&scenario.name, &version), &plan.report_dir);
        bus.emit(Event::CellFinished {
            cell: Box::new(cell.clone()),
            done: done + 1,
            total,
        });
        results.push(cell);
    }
    let play: Vec<Cell> = play
        .into_iter()
        .filter_map(|c| match c {
            Planned::Play(cell) => Some(cell),
            Planned::Unavailable { .. } | Planned::Skip(_) => None,
        })
        .collect();
    let opts = suite_options(&plan, share, None);
    // The documents are had while the matrix plays.
    let with_docs: Vec<(String, Result<Installed, String>)> = match plan.interface {
        Some(_) => versions.iter().cloned().zip(installed).collect(),
        None => vec![],
    };
    let (played, docs) = tokio::join!(
        suite::run_cells_counted(play, &plan.expectations, &opts, bus, results.len(), total),
        interface_changes::documents(&with_docs, installer.cache_dir(), &plan.report_dir)
    );
    results.extend(played);
    if let (Some(ab), ExitMode::Gate) = (&plan.auto_bisect, plan.exit_mode) {
        results = auto_bisect::run(&results, &plan.scenarios, ab, &plan.report_dir, bus).await;
    }
    let interface = plan.interface.and_then(|o| interface_changes::section(&docs, o));
    if let Some(changes) = &interface {
        bus.emit(Event::InterfaceChanges { changes: Box::new(changes.clone()) });
    }
    let mut doc = finish(&plan, head, results, skipped, bus)?;
    // As the reporters have it from the event: the exit code reads it here.
    doc.interface_changes = interface;
    Ok(doc)
}

/// The gate decision and the run's end: what the results reporter wrote.
fn finish(
    plan: &RunPlan,
    head: RunHeader,
    results: Vec<CellReport>,
    skipped: Vec<SkippedCell>,
    bus: &Bus,
) -> Result<ResultsDoc, AppError> {
    let decision = match plan.exit_mode {
        ExitMode::Gate => gate::decide(&results, plan.strict),
        ExitMode::Bisect => gate::decide_bisect(&results, plan.fingerprint.as_ref()),
    };
    let finished_at = json::now_rfc3339();
    bus.emit(Event::RunFinished {
        finished_at: finished_at.clone(),
        gate: decision.clone(),
    });
    crate::error::reports_written(bus)?;
    let mut doc = ResultsDoc::new(&head);
    doc.results = results;
    doc.sort_results();
    doc.skipped = skipped;
    doc.gate = Some(decision);
    doc.finished_at = finished_at;
    Ok(doc)
}

async fn run_attached(plan: RunPlan, target: AttachTarget, bus: &Bus) -> Result<ResultsDoc, AppError> {
    let mut runnable = Vec::new();
    let mut skipped = Vec::new();
    for s in &plan.scenarios {
        let why = oc_conform_scenario::unmet(ServerMode::Attached, s);
        if why.is_empty() {
            runnable.push(s.clone());
        } else {
            skipped.push(SkippedCell {
                scenario: s.name.clone(),
                opencode_version: None,
                reason: why.join("; "),
            });
        }
    }
    if runnable.is_empty() {
        for s in &skipped {
            bus.emit(Event::Skipped { skipped: s.clone() });
        }
        return Err(AppError::usage(
            "none of the selected scenarios can run against a server the harness did not start (see SKIPPED above)",
        ));
    }
    let version = server::probe_health(&target.url, &target.password, Duration::from_secs(10))
        .await
        .map_err(|e| AppError::infra(format!("--server-url {}: {e}", target.url)))?;
    // The fake model listens on this port for every scenario in turn.
    std::net::TcpListener::bind(("127.0.0.1", target.model_port)).map_err(|e| {
        AppError::infra(format!(
            "the fake model's port 127.0.0.1:{} cannot be bound ({e}); pass another --model-port",
            target.model_port
        ))
    })?;
    let installed = Installed {
        version: version.clone(),
        binary: PathBuf::new(),
        source: Source::Local,
    };
    let probed = if runnable.iter().any(|s| s.requires.needs_probe()) {
        let dir = std::env::temp_dir().display().to_string();
        Some(probe::probe_api(&oc_conform_runner::observe::http::Api::new(&target.url, &target.password, &dir)).await)
    } else {
        None
    };
    let mut cells: Vec<Cell> = Vec::new();
    for s in &runnable {
        match plan_cell(s, &installed, probed.as_ref()) {
            Ok(cell) => cells.push(cell),
            Err(skip) => skipped.push(skip),
        }
    }
    runnable.retain(|s| cells.iter().any(|c| c.scenario.name == s.name));
    let mut head = header(&plan, vec![version], &runnable, cells.len());
    head.attached_to = Some(target.url.clone());
    bus.emit(Event::Note {
        text: format!(
            "attached to {} (opencode {}); the fake model is on 127.0.0.1:{}",
            target.url, head.versions[0], target.model_port
        ),
    });
    bus.emit(Event::RunStarted { run: head.clone() });
    for s in &skipped {
        bus.emit(Event::Skipped { skipped: s.clone() });
    }
    let attach = AttachTo {
        url: target.url.clone(),
        password: target.password.clone(),
        model_port: target.model_port,
    };
    // One server, one fake-model port: one scenario at a time.
    let opts = SuiteOptions {
        jobs: 1,
        max_jobs: 1,
        ..suite_options(&plan, false, Some(attach))
    };
    let results = suite::run_cells(cells, &plan.expectations, &opts, bus).await;
    if !skipped.is_empty() {
        bus.emit(Event::Note {
            text: format!(
                "{} scenario(s) SKIPPED: they need a server the harness starts itself; the attached server is left as it was",
                skipped.len()
            ),
        });
    }
    finish(&plan, head, results, skipped, bus)
}
