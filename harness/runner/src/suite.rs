//! A matrix of cells (scenario x opencode version), run in parallel up to `jobs` (more
//! while cores idle: `schedule`), each scenario run in its own sandbox and server or on
//! a shared server of its version. A cell runs `repeat` times; an outcome
//! the expectations did not predict is retried `retry_unexpected` times in a fresh
//! server, and outcomes that differ across runs make the cell FLAKY.

use crate::execute::{self, ScenarioOutcome, ServerSource, Settings, Target};
use crate::install::Installed;
use crate::report::{Bus, CellReport, Event};
use crate::schedule::{self, Slots};
use crate::shared_server::SharedServers;
use crate::pace::Pace;
use crate::tree_load::LoadWatch;
use oc_conform_scenario::{Expectations, Scenario, ServerMode};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One scenario on one opencode binary.
#[derive(Clone)]
pub struct Cell {
    pub scenario: Scenario,
    pub target: Installed,
}

#[derive(Clone)]
pub struct SuiteOptions {
    /// Cells that always play at once (the cores by default).
    pub jobs: usize,
    /// Cells that may play at once while a core is idle (their waits leave it so).
    pub max_jobs: usize,
    pub repeat: u32,
    pub retry_unexpected: u32,
    pub settings: Settings,
    pub plugins_dir: PathBuf,
    pub report_dir: PathBuf,
    /// Play the scenarios that need no server of their own on one shared server per
    /// version (see `shared_server`). Retries always get a server of their own.
    pub share_servers: bool,
}

/// What this machine can carry: one scenario per core (a starting server takes one).
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `(jobs, max_jobs)` from what the user asked. Unasked, the cores always and twice as
/// many while cores idle (the scenarios' own waits: a 4-version matrix took 404 s instead
/// of 485 s on 2 cores, every verdict as expected, BENCHMARKS.md). `--jobs N` alone means
/// exactly N at once (N = 1: one scenario at a time); `--max-jobs` raises the ceiling.
pub fn jobs_and_max(jobs: Option<usize>, max_jobs: Option<usize>) -> (usize, usize) {
    let j = jobs.unwrap_or_else(default_jobs).max(1);
    let ceiling = match (jobs, max_jobs) {
        (_, Some(m)) => m,
        (Some(_), None) => j,
        (None, None) => 2 * j,
    };
    (j, ceiling.max(j))
}

/// The cells of partition `k` of `n` (1-based): every n-th cell of the ordered matrix,
/// so each slice gets a similar mix of versions and scenarios, and the slices together
/// are exactly the matrix.
pub fn partition<T>(items: Vec<T>, k: usize, n: usize) -> Vec<T> {
    items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| n > 0 && i % n == k.saturating_sub(1))
        .map(|(_, x)| x)
        .collect()
}

/// Runs every cell; returns the cells' reports in input order. Emits on `bus` as it
/// goes: each run's start and end, and each cell once classified (the partial report of
/// an interrupted run is built from those).
pub async fn run_cells(cells: Vec<Cell>, expectations: &Expectations, opts: &SuiteOptions, bus: &Bus) -> Vec<CellReport> {
    let total = cells.len();
    run_cells_counted(cells, expectations, opts, bus, 0, total).await
}

/// [`run_cells`] as part of a bigger matrix: `done_before` of its `total` cells were
/// reported already (their progress counts go on from there).
///
/// One queue for all versions, longest first; up to `jobs` cells at once, up to
/// `max_jobs` while the machine leaves a core idle; a cell that would share
/// starts only when its version has a shared server free, and a version's shared
/// servers stop once its last sharing cell is done (see `schedule`).
pub async fn run_cells_counted(
    cells: Vec<Cell>,
    expectations: &Expectations,
    opts: &SuiteOptions,
    bus: &Bus,
    done_before: usize,
    total: usize,
) -> Vec<CellReport> {
    let count_here = cells.len();
    // Only a run that starts servers itself has servers to share.
    let own = ServerSource::from_settings(&opts.settings).mode() == ServerMode::Own;
    let slots = Slots {
        jobs: opts.jobs.max(1),
        max_jobs: opts.max_jobs.max(opts.jobs.max(1)),
        cores: default_jobs(),
    };
    let shared = (opts.share_servers && own).then(|| SharedServers::new(slots.jobs));
    let sharing: Vec<bool> = cells.iter().map(|c| shared.is_some() && shares(c)).collect();
    let mut sharing_left: HashMap<PathBuf, usize> = HashMap::new();
    for (cell, _) in cells.iter().zip(&sharing).filter(|(_, s)| **s) {
        *sharing_left.entry(cell.target.binary.clone()).or_default() += 1;
    }
    let mut sharing_now: HashMap<PathBuf, usize> = HashMap::new();
    // The cells tell the loop when they wait quietly (`crate::pace`).
    let pace = Pace::default();
    let mut paced = opts.clone();
    paced.settings.pace = Some(pace.clone());
    let mut queue = schedule::longest_first(&cells.iter().map(|c| c.scenario.deadline_ms).collect::<Vec<_>>());
    // The load is watched only when it can let more cells in.
    let load = (slots.max_jobs > slots.jobs).then(|| LoadWatch::start(Duration::from_millis(100), slots.cores));
    let mut last_extra: Option<Instant> = None;
    let mut tasks = tokio::task::JoinSet::new();
    let mut playing: HashMap<tokio::task::Id, usize> = HashMap::new();
    let mut stopping = tokio::task::JoinSet::new();
    let mut done: Vec<Option<CellReport>> = (0..count_here).map(|_| None).collect();
    let mut count = done_before;
    loop {
        // Enabled before the count is read, so a quiet wait that starts or ends from here
        // on wakes the loop below.
        let quiet_changed = pace.changed();
        tokio::pin!(quiet_changed);
        quiet_changed.as_mut().enable();
        while !queue.is_empty()
            && schedule::may_start(
                tasks.len(),
                pace.quiet_cells(),
                slots,
                load.as_ref().and_then(LoadWatch::busy_cores),
                last_extra.map(|t| t.elapsed()),
            )
        {
            // A cell taking a quiet cell's slot is within `jobs`.
            let beyond_jobs = schedule::working(tasks.len(), pace.quiet_cells()) >= slots.jobs;
            let fits = |i: usize| {
                let playing_shared = sharing_now.get(&cells[i].target.binary).copied().unwrap_or(0);
                schedule::fits(sharing[i], playing_shared, slots.jobs, beyond_jobs)
            };
            let Some(at) = schedule::pick(&queue, fits) else { break };
            let index = queue.remove(at);
            if beyond_jobs {
                last_extra = Some(Instant::now());
            }
            if sharing[index] {
                *sharing_now.entry(cells[index].target.binary.clone()).or_default() += 1;
            }
            let cell = cells[index].clone();
            let expectation = expectations.find(&cell.scenario.name, &cell.target.version).cloned();
            let (opts, shared, bus) = (paced.clone(), shared.clone(), bus.clone());
            let handle = tasks.spawn(async move { run_cell(&cell, expectation.as_ref(), &opts, shared.as_ref(), &bus).await });
            playing.insert(handle.id(), index);
        }
        if tasks.is_empty() {
            break;
        }
        // With room beyond `jobs`, look at the load again shortly: a core may idle.
        let may_grow = !queue.is_empty() && tasks.len() >= slots.jobs && tasks.len() < slots.max_jobs && load.is_some();
        let joined = tokio::select! {
            joined = tasks.join_next_with_id() => joined,
            _ = tokio::time::sleep(Duration::from_millis(200)), if may_grow => continue,
            _ = &mut quiet_changed, if !queue.is_empty() => continue,
        };
        let Some(joined) = joined else { break };
        let (id, report) = match joined {
            Ok((id, report)) => (id, Some(report)),
            // run_cell catches a run's panic; one here is the scheduler's own bug.
            Err(e) => (e.id(), None),
        };
        let Some(index) = playing.remove(&id) else { continue };
        if sharing[index] {
            let binary = &cells[index].target.binary;
            if let Some(n) = sharing_now.get_mut(binary) {
                *n -= 1;
            }
            let left = sharing_left.get_mut(binary).map(|n| {
                *n -= 1;
                *n
            });
            if let (Some(0), Some(shared)) = (left, shared.clone()) {
                let (binary, grace) = (binary.clone(), opts.settings.stop_grace);
                stopping.spawn(async move { shared.stop_binary(&binary, grace).await });
            }
        }
        let Some(cell) = report else { continue };
        count += 1;
        bus.emit(Event::CellFinished {
            cell: Box::new(cell.clone()),
            done: count,
            total,
        });
        done[index] = Some(cell);
    }
    while stopping.join_next().await.is_some() {}
    if let Some(shared) = shared {
        shared.stop_all(opts.settings.stop_grace).await;
    }
    done.into_iter().flatten().collect()
}

/// Whether `cell` may be played on a shared server: it needs nothing that mode lacks.
fn shares(cell: &Cell) -> bool {
    oc_conform_scenario::unmet(ServerMode::Shared, &cell.scenario).is_empty()
}

async fn run_cell(
    cell: &Cell,
    expectation: Option<&oc_conform_scenario::Expectation>,
    opts: &SuiteOptions,
    shared: Option<&SharedServers>,
    bus: &Bus,
) -> CellReport {
    let mut runs: Vec<ScenarioOutcome> = Vec::new();
    let planned = opts.repeat.max(1);
    let mut budget = planned + opts.retry_unexpected;
    let mut report = None;
    while budget > 0 {
        budget -= 1;
        let n = runs.len() + 1;
        bus.emit(Event::ScenarioStarted {
            scenario: cell.scenario.name.clone(),
            version: cell.target.version.clone(),
            run: n,
        });
        // A retry (an outcome nobody expected) gets a server of its own.
        let shared = shared.filter(|_| n <= planned as usize && shares(cell));
        let outcome = run_once(cell, n, opts, shared).await;
        bus.emit(Event::ScenarioFinished {
            scenario: outcome.scenario.clone(),
            version: outcome.opencode_version.clone(),
            run: n,
            verdict: outcome.verdict,
            failed_checks: outcome.failed_checks(),
            duration_ms: outcome.duration_ms,
            error: outcome.error.clone(),
        });
        runs.push(outcome);
        if runs.len() < planned as usize {
            continue;
        }
        let r = CellReport::from_runs(&runs, expectation, &opts.report_dir);
        let settled = r.outcome.is_expected(r.flaky_declared())
            || r.outcome == oc_conform_checks::outcome::Outcome::Flaky;
        report = Some(r);
        if settled {
            break;
        }
    }
    report.unwrap_or_else(|| CellReport::from_runs(&runs, expectation, &opts.report_dir))
}

/// The artifact directory of run `n` of a cell.
pub fn run_dir(report_dir: &Path, version: &str, scenario: &str, n: usize) -> PathBuf {
    let name = if n == 1 {
        scenario.to_string()
    } else {
        format!("{scenario}.run-{n}")
    };
    report_dir.join(dir_component(version)).join(dir_component(&name))
}

/// `s` as one safe path component: a version label can be a binary's path (one that could
/// not be installed), which must not become a path of its own.
fn dir_component(s: &str) -> String {
    let safe: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._+-".contains(c) { c } else { '_' })
        .collect();
    if safe.starts_with('.') || safe.is_empty() {
        format!("_{safe}")
    } else {
        safe
    }
}

/// A run that never played (its version could not be installed, no server could be had,
/// the harness failed): ERROR with the reason. Its artifact dir says so in the files every
/// report links (`timeline.json`, `server.log`, `model-requests.jsonl`), so each link
/// resolves and tells the truth.
pub fn unplayed(scenario: &Scenario, version: &str, dir: PathBuf, reason: String) -> ScenarioOutcome {
    let mut outcome = ScenarioOutcome::harness_failure(&scenario.name, version, dir.clone(), reason.clone());
    let written = prepare_run_dir(&dir, scenario).and_then(|_| {
        let timeline = serde_json::to_vec_pretty(&outcome.timeline).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("timeline.json"), timeline)?;
        std::fs::write(dir.join("server.log"), format!("no server was started for this run: {reason}\n"))?;
        std::fs::write(dir.join("model-requests.jsonl"), b"")
    });
    if let Err(e) = written {
        outcome.error = Some(format!("{reason}\n(and its artifacts could not be written in {}: {e})", dir.display()));
    }
    outcome
}

/// Creates a run's artifact dir with `scenario.json`: the scenario as run, stored with the
/// timeline so `oc-conform analyze` can re-judge it without the file.
pub fn prepare_run_dir(dir: &Path, scenario: &Scenario) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_vec_pretty(scenario).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("scenario.json"), json)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot write {}: {e}", dir.join("scenario.json").display())))
}

/// Plays one run of `cell` (run number `n`) on `shared` when given and the scenario may
/// share, else on a server of its own: what the suite does for each run, for drivers
/// that decide run by run (explore).
pub async fn play_run(cell: &Cell, n: usize, opts: &SuiteOptions, shared: Option<&SharedServers>) -> ScenarioOutcome {
    run_once(cell, n, opts, shared.filter(|_| shares(cell))).await
}

/// One run in its own task, so a panic in it (the runner's bug) becomes an ERROR outcome
/// for this cell instead of a cell silently missing from the report. The task's server
/// handle is dropped while unwinding, which kills it.
async fn run_once(cell: &Cell, n: usize, opts: &SuiteOptions, shared: Option<&SharedServers>) -> ScenarioOutcome {
    let dir = run_dir(&opts.report_dir, &cell.target.version, &cell.scenario.name, n);
    let task = {
        let (cell, opts, shared) = (cell.clone(), opts.clone(), shared.cloned());
        tokio::spawn(async move { run_once_inner(&cell, n, &opts, shared.as_ref()).await })
    };
    match task.await {
        Ok(outcome) => outcome,
        Err(e) => {
            let what = if e.is_panic() {
                let payload = e.into_panic();
                let msg = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                format!("the harness panicked while running this scenario: {msg}")
            } else {
                "the harness task running this scenario was cancelled".to_string()
            };
            unplayed(&cell.scenario, &cell.target.version, dir, what)
        }
    }
}

async fn run_once_inner(cell: &Cell, n: usize, opts: &SuiteOptions, shared: Option<&SharedServers>) -> ScenarioOutcome {
    let artifacts_dir = run_dir(&opts.report_dir, &cell.target.version, &cell.scenario.name, n);
    let lease = match shared {
        Some(s) => {
            let log_dir = opts.report_dir.join(&cell.target.version).join("shared-server");
            match s.lease(&cell.target, &log_dir, opts.settings.start_timeout).await {
                Ok(lease) => Some(lease),
                Err(e) => {
                    let outcome = unplayed(&cell.scenario, &cell.target.version, artifacts_dir.clone(), e.message);
                    // The failed start is this cell's part of that server's log.
                    if let Some(log) = &e.log {
                        if let Err(err) = std::fs::copy(log, artifacts_dir.join("server.log")) {
                            let mut outcome = outcome;
                            outcome.error = outcome.error.map(|m| format!("{m}\n(its server's log could not be copied: {err})"));
                            return outcome;
                        }
                    }
                    return outcome;
                }
            }
        }
        None => None,
    };
    let source = match lease.as_ref().map(|l| l.info()) {
        Some(Some(info)) => ServerSource::Shared(info),
        Some(None) => {
            let e = "the shared server was gone before the scenario began".to_string();
            return ScenarioOutcome::harness_failure(&cell.scenario.name, &cell.target.version, artifacts_dir, e);
        }
        None => ServerSource::from_settings(&opts.settings),
    };
    if let Err(e) = prepare_run_dir(&artifacts_dir, &cell.scenario) {
        if let Some(lease) = lease {
            lease.release();
        }
        return ScenarioOutcome::harness_failure(&cell.scenario.name, &cell.target.version, artifacts_dir, e.to_string());
    }
    let target = Target {
        binary: &cell.target.binary,
        version: &cell.target.version,
        plugins_dir: &opts.plugins_dir,
        artifacts_dir,
    };
    let outcome = execute::run_scenario_on(&cell.scenario, &target, &opts.settings, &source).await;
    if let Some(lease) = lease {
        lease.release();
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cell(name: &str, shareable: bool) -> Cell {
        let env = if shareable { "" } else { "env = { A = \"1\" }\n" };
        let text = format!(
            "format_version = 1\nname = \"{name}\"\ndescription = \"d\"\ndeadline_ms = 1000\n{env}\
             [[model.turns]]\ntext = \"hi\"\n[[steps]]\ndo = \"prompt\"\ntext = \"hi\"\n\
             [[checks]]\ncheck = \"status-reaches-idle\"\n"
        );
        let scenario = oc_conform_scenario::parse_str(&text, Path::new(&format!("{name}.toml"))).unwrap();
        Cell {
            scenario,
            target: Installed {
                version: "1.0.0".into(),
                binary: PathBuf::from("/bin/false"),
                source: crate::install::Source::Local,
            },
        }
    }

    #[test]
    fn more_cells_than_cores_only_when_nobody_fixed_the_jobs() {
        let cores = default_jobs();
        assert_eq!(jobs_and_max(None, None), (cores, 2 * cores));
        assert_eq!(jobs_and_max(Some(1), None), (1, 1));
        assert_eq!(jobs_and_max(Some(3), Some(5)), (3, 5));
        assert_eq!(jobs_and_max(None, Some(cores)), (cores, cores));
        // A ceiling below the jobs is the jobs; no jobs is one.
        assert_eq!(jobs_and_max(Some(4), Some(2)), (4, 4));
        assert_eq!(jobs_and_max(Some(0), None), (1, 1));
    }

    #[test]
    fn a_scenario_that_sets_the_servers_environment_does_not_share() {
        assert!(shares(&cell("a", true)));
        assert!(!shares(&cell("d", false)));
    }

    #[test]
    fn run_dirs_stay_inside_the_report_dir() {
        let r = Path::new("/r");
        assert_eq!(run_dir(r, "1.18.34", "abort-http", 1), Path::new("/r/1.18.34/abort-http"));
        assert_eq!(run_dir(r, "1.18.34", "abort-http", 2), Path::new("/r/1.18.34/abort-http.run-2"));
        assert_eq!(run_dir(r, "/nonexistent/opencode", "x", 1), Path::new("/r/_nonexistent_opencode/x"));
        assert_eq!(run_dir(r, "..", "x", 1), Path::new("/r/_../x"));
    }

    proptest! {
        /// The slices of a partition are disjoint and together are the whole, in order.
        #[test]
        fn partitions_cover_the_matrix_exactly(len in 0usize..60, n in 1usize..8) {
            let items: Vec<usize> = (0..len).collect();
            let mut all: Vec<usize> = (1..=n).flat_map(|k| partition(items.clone(), k, n)).collect();
            all.sort();
            prop_assert_eq!(all, items);
        }
    }
}
