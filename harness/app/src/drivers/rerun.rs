//! `rerun RUN_DIR` (and `run --last-failed`): plays again only the cells of a stored run
//! that were not as expected, on the same versions, with the scenarios as they were run
//! (each run dir's `scenario.json`) and the expectations that applied, each on a server
//! of its own (as `--retry-unexpected` does). The re-run's own report goes to
//! `OUT/rerun/`; `OUT` gets the first run's report with those cells combined: the runs of
//! both classified together (a FAIL that passes on re-run is FLAKY) and a finding per
//! cell ("FAIL again on re-run: real", "PASS on re-run: flaky"). A version that was a
//! local build (`run --opencode PATH`) is played again on that binary: results.json keeps
//! its path (`local_builds`), as the version it reports would name a release.

use crate::drivers::run::{self, RunPlan, ServerSource};
use crate::drivers::stored::copy_dir;
use crate::AppError;
use oc_conform_runner::install::{Installer, OpencodeSpec};
use oc_conform_runner::report::gate::{self, ExitMode};
use oc_conform_runner::report::{self, Bus, CellReport, Event, ResultsDoc};
use oc_conform_scenario::{Expectations, Scenario};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the re-run's own report goes, under the combined report dir.
pub const RERUN_SUBDIR: &str = "rerun";

pub struct RerunPlan {
    /// The stored run (it holds results.json).
    pub first_dir: PathBuf,
    /// Where the combined report goes (the re-run's own under `rerun/`).
    pub out: PathBuf,
    /// Scenarios by name, for a cell whose run dir lacks `scenario.json`.
    pub catalogue: Vec<Scenario>,
    pub plugins_dir: PathBuf,
    pub jobs: usize,
    pub keep_sandbox: bool,
    pub start_timeout: Duration,
    pub strict: bool,
}

/// The cells to play again, and the combined document once they played.
pub async fn rerun(plan: RerunPlan, installer: &Installer, bus: &Bus) -> Result<ResultsDoc, AppError> {
    let first = ResultsDoc::load(&plan.first_dir).map_err(AppError::usage)?;
    if same_dir(&plan.first_dir, &plan.out) {
        return Err(AppError::usage(format!(
            "the re-run's report dir must not be the stored run's ({}); pass another --report-dir",
            plan.out.display()
        )));
    }
    let todo: Vec<&CellReport> = first.unexpected_cells().collect();
    let mut merged = first.clone();
    if todo.is_empty() {
        bus.emit(Event::Note {
            text: format!("every cell of {} was as expected: nothing to re-run", plan.first_dir.display()),
        });
    } else {
        bus.emit(Event::Note {
            text: format!(
                "re-running {} cell(s) of {} that were not as expected: {}",
                todo.len(),
                plan.first_dir.display(),
                todo.iter().map(|c| format!("{} ({})", c.scenario, c.opencode_version)).collect::<Vec<_>>().join(", ")
            ),
        });
        let again = play(&plan, &first, &todo, installer, bus).await?;
        for cell in &mut merged.results {
            if let Some(a) = again.results.iter().find(|a| a.scenario == cell.scenario && a.opencode_version == cell.opencode_version) {
                *cell = cell.with_rerun(a, RERUN_SUBDIR);
            }
        }
        merged.finished_at = again.finished_at.clone();
    }
    merged.gate = (!merged.interrupted).then(|| gate::decide(&merged.results, plan.strict));
    for cell in &first.results {
        for r in &cell.runs {
            copy_dir(&plan.first_dir.join(&r.dir), &plan.out.join(&r.dir))
                .map_err(|e| AppError::infra(format!("copying {}: {e}", plan.first_dir.join(&r.dir).display())))?;
        }
    }
    report::write_all(&merged, &plan.out).map_err(|e| AppError::infra(format!("cannot write {}: {e}", plan.out.display())))?;
    Ok(merged)
}

/// Plays `todo` (cells of `first`) into `OUT/rerun/`.
async fn play(
    plan: &RerunPlan,
    first: &ResultsDoc,
    todo: &[&CellReport],
    installer: &Installer,
    bus: &Bus,
) -> Result<ResultsDoc, AppError> {
    let mut scenarios: Vec<Scenario> = Vec::new();
    // Each version as the first run labelled it, and what to install for it.
    let mut versions: Vec<(String, OpencodeSpec)> = Vec::new();
    for cell in todo {
        if !scenarios.iter().any(|s| s.name == cell.scenario) {
            scenarios.push(scenario_as_run(plan, cell)?);
        }
        if !versions.iter().any(|(label, _)| *label == cell.opencode_version) {
            let spec = spec_of(first, &cell.opencode_version)?;
            if let OpencodeSpec::Local(path) = &spec {
                same_build(installer, path, &cell.opencode_version).await?;
                bus.emit(Event::Note {
                    text: format!("re-running the local build at {} (it reports {})", path.display(), cell.opencode_version),
                });
            }
            versions.push((cell.opencode_version.clone(), spec));
        }
    }
    // Matrix order: the first run's.
    versions.sort_by_key(|(label, _)| first.versions.iter().position(|x| x == label));
    let versions: Vec<OpencodeSpec> = versions.into_iter().map(|(_, spec)| spec).collect();
    let spos = |s: &Scenario| first.scenarios.iter().position(|x| *x == s.name);
    scenarios.sort_by_key(spos);
    let expectations = Expectations {
        format_version: 1,
        entries: todo.iter().filter_map(|c| c.expectation.clone()).collect(),
    };
    let only: BTreeSet<(String, String)> = todo.iter().map(|c| (c.scenario.clone(), c.opencode_version.clone())).collect();
    let report_dir = plan.out.join(RERUN_SUBDIR);
    std::fs::create_dir_all(&report_dir)
        .map_err(|e| AppError::usage(format!("cannot create {}: {e}; pass --report-dir with a writable directory", report_dir.display())))?;
    let run_plan = RunPlan {
        scenarios,
        versions,
        // A server of its own per cell: a re-run must not inherit another scenario's state.
        source: ServerSource::Start { share: false },
        expectations,
        report_dir,
        plugins_dir: plan.plugins_dir.clone(),
        jobs: plan.jobs,
        // Whether a failure is still there is judged as the first run played it, at
        // most `jobs` at once.
        max_jobs: plan.jobs,
        repeat: 1,
        retry_unexpected: 0,
        keep_sandbox: plan.keep_sandbox,
        start_timeout: plan.start_timeout,
        partition: None,
        strict: plan.strict,
        exit_mode: ExitMode::Gate,
        fingerprint: None,
        only: Some(only),
        auto_bisect: None,
        // A re-run plays a few cells again; the first run has the interface section.
        interface: None,
    };
    run::run(run_plan, installer, bus).await
}

/// The scenario as the first run played it (its run dir's `scenario.json`), else the
/// catalogue's.
fn scenario_as_run(plan: &RerunPlan, cell: &CellReport) -> Result<Scenario, AppError> {
    let stored = plan.first_dir.join(&cell.artifacts.dir).join("scenario.json");
    if let Ok(bytes) = std::fs::read(&stored) {
        return serde_json::from_slice(&bytes).map_err(|e| AppError::usage(format!("{}: {e}", stored.display())));
    }
    plan.catalogue.iter().find(|s| s.name == cell.scenario).cloned().ok_or_else(|| {
        AppError::usage(format!(
            "{} has no scenario.json and no scenario `{}` is known; pass its directory with --scenarios",
            stored.display(),
            cell.scenario
        ))
    })
}

/// What to install for a cell's `version`: the local build the first run played (its
/// header keeps the binary's path by the version it reports), else the release.
fn spec_of(first: &ResultsDoc, version: &str) -> Result<OpencodeSpec, AppError> {
    if let Some(path) = first.local_builds.get(version) {
        if !path.is_file() {
            return Err(AppError::usage(format!(
                "the local build that reported {version} was at {}, which no longer exists: put the binary back there, or run it again with `oc-conform run --opencode NEW_PATH --scenario NAME`",
                path.display()
            )));
        }
        return Ok(OpencodeSpec::Local(path.clone()));
    }
    if semver::Version::parse(version).is_err() {
        // A results.json written before the header kept local builds' paths.
        return Err(AppError::usage(format!(
            "{version} is not a release number and the stored run names no binary for it (a local build from an older oc-conform?): run it again with `oc-conform run --opencode PATH --scenario NAME`"
        )));
    }
    Ok(OpencodeSpec::Version(version.to_string()))
}

/// The binary at `path` must still be the build the first run played: one rebuilt since
/// reports another version, and its cells (keyed by the old one) would not play at all.
async fn same_build(installer: &Installer, path: &Path, version: &str) -> Result<(), AppError> {
    let now = installer
        .resolve(&OpencodeSpec::Local(path.to_path_buf()))
        .await
        .map_err(|e| AppError::usage(format!("the local build at {}: {e}", path.display())))?;
    if now.version != version {
        return Err(AppError::usage(format!(
            "the binary at {} now reports {}, not {version} as when the stored run played it (rebuilt?): run it again with `oc-conform run --opencode {} --scenario NAME`",
            path.display(),
            now.version,
            path.display()
        )));
    }
    Ok(())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// The newest report dir under `reports_root` (by its results.json's start time): what
/// `run --last-failed` re-runs.
pub fn last_run(reports_root: &Path) -> Result<PathBuf, AppError> {
    let entries = std::fs::read_dir(reports_root)
        .map_err(|e| AppError::usage(format!("--last-failed: no stored runs in {} ({e})", reports_root.display())))?;
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter_map(|dir| ResultsDoc::load(&dir).ok().map(|doc| (doc.started_at, dir)))
        .max()
        .map(|(_, dir)| dir)
        .ok_or_else(|| AppError::usage(format!("--last-failed: no stored run (results.json) under {}", reports_root.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    /// A stored run of a local build (or none) and the release 1.14.48, as results.json has it.
    fn first_run(local_builds: BTreeMap<String, PathBuf>) -> ResultsDoc {
        serde_json::from_value(json!({
            "format_version": 2, "tool": "oc-conform 0.1.0", "interrupted": false,
            "started_at": "2026-12-01T13:00:00Z", "finished_at": "2026-12-01T13:01:00Z",
            "versions": local_builds.keys().chain(["1.14.48".to_string()].iter()).collect::<Vec<_>>(),
            "local_builds": local_builds, "scenarios": ["s"], "results": [],
        }))
        .unwrap()
    }

    #[test]
    fn a_local_build_is_played_again_on_its_binary_even_when_it_reports_a_release_number() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("opencode");
        std::fs::write(&bin, "").unwrap();
        let first = first_run(BTreeMap::from([("1.18.34".to_string(), bin.clone())]));
        assert_eq!(spec_of(&first, "1.18.34").unwrap(), OpencodeSpec::Local(bin));
        // The other version of the same run was a release.
        assert_eq!(spec_of(&first, "1.14.48").unwrap(), OpencodeSpec::Version("1.14.48".into()));
    }

    #[test]
    fn a_local_build_whose_binary_is_gone_is_refused_naming_the_path_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("opencode");
        let first = first_run(BTreeMap::from([("0.0.0-dev".to_string(), gone.clone())]));
        let e = spec_of(&first, "0.0.0-dev").unwrap_err();
        assert!(matches!(e, AppError::Usage(_)), "{e:?}");
        let text = e.to_string();
        assert!(text.contains(&gone.display().to_string()) && text.contains("no longer exists"), "{text}");
        assert!(text.contains("oc-conform run --opencode NEW_PATH"), "{text}");
    }

    #[test]
    fn a_label_that_is_no_release_and_has_no_stored_path_is_refused() {
        // The version a build reports need not be semver (`0.0.0-dev` is).
        let e = spec_of(&first_run(BTreeMap::new()), "local").unwrap_err();
        assert!(e.to_string().contains("names no binary for it"), "{e}");
    }
}
