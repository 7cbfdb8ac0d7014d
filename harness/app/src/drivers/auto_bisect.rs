//! `--auto-bisect` (on `run` and `merge`): after the matrix, each regression cell (FAIL,
//! not expected) is bisected between the newest matrix version older than it on which the
//! scenario passed (or `--auto-bisect-from V`) and its own version, looking for the cell's
//! own failure (its fingerprint). The bisect is the `bisect` driver's, with its reports
//! under `<report dir>/auto-bisect/<version>/<scenario>/`; its answer becomes the cell's
//! `first_bad` through a [`Event::CellBisected`] on the run's bus.

use crate::drivers::bisect::{self, BisectPlan};
use crate::{reporters, AppError};
use oc_conform_checks::outcome::Outcome;
use oc_conform_checks::Verdict;
use oc_conform_runner::bisect::report::BisectDoc;
use oc_conform_runner::bisect::{run_fingerprint, Direction};
use oc_conform_runner::install::Installer;
use oc_conform_runner::report::model::FirstBad;
use oc_conform_runner::report::{Bus, CellReport, Event};
use oc_conform_scenario::Scenario;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the auto-bisects' reports go, under the run's report dir.
pub const SUBDIR: &str = "auto-bisect";

/// `--auto-bisect` and its options.
#[derive(Clone)]
pub struct AutoBisect {
    /// `--auto-bisect-from V`: the good end when no older matrix version passed.
    pub from: Option<String>,
    /// `--auto-bisect-budget SECS`: no bisect starts past it, and one running at it is
    /// stopped (its servers ended) and reported with what it learned.
    pub budget: Option<Duration>,
    pub installer: Arc<Installer>,
    pub plugins_dir: PathBuf,
    pub keep_sandbox: bool,
}

/// The good end for a regression `cell`: the newest version older than the cell's on
/// which the same scenario passed, else `from` when it is older, else why there is none.
pub fn good_end(cells: &[CellReport], cell: &CellReport, from: Option<&str>) -> Result<String, String> {
    let bad = semver::Version::parse(&cell.opencode_version)
        .map_err(|_| format!("{} is not a release number: a local build cannot be bisected", cell.opencode_version))?;
    let passed = cells
        .iter()
        .filter(|c| c.scenario == cell.scenario && c.verdict == Verdict::Pass)
        .filter_map(|c| semver::Version::parse(&c.opencode_version).ok().map(|v| (v, c)))
        .filter(|(v, _)| *v < bad)
        .max_by(|a, b| a.0.cmp(&b.0));
    if let Some((_, c)) = passed {
        return Ok(c.opencode_version.clone());
    }
    match from {
        Some(v) if semver::Version::parse(v).is_ok_and(|g| g < bad) => Ok(v.to_string()),
        Some(v) => Err(format!("--auto-bisect-from {v} is not a release older than {}", cell.opencode_version)),
        None => Err(format!(
            "no matrix version older than {} passed; name a good release with --auto-bisect-from V",
            cell.opencode_version
        )),
    }
}

/// The cells `--auto-bisect` looks at: the regressions.
pub fn regressions(cells: &[CellReport]) -> impl Iterator<Item = &CellReport> {
    cells.iter().filter(|c| c.outcome == Outcome::Fail)
}

/// Bisects each regression of `cells`, emits a [`Event::CellBisected`] for each on `bus`
/// and returns the cells with their `first_bad` filled.
pub async fn run(
    cells: &[CellReport],
    scenarios: &[Scenario],
    opts: &AutoBisect,
    report_dir: &Path,
    bus: &Bus,
) -> Vec<CellReport> {
    let started = Instant::now();
    let mut out = cells.to_vec();
    let todo: Vec<CellReport> = regressions(cells).cloned().collect();
    if !todo.is_empty() {
        bus.emit(Event::Note {
            text: format!("auto-bisect: {} regression(s) to bisect", todo.len()),
        });
    }
    for cell in todo {
        let rel = format!("{SUBDIR}/{}/{}", cell.opencode_version, cell.scenario);
        let dir = report_dir.join(&rel);
        let fingerprint = cell.runs.iter().find_map(run_fingerprint);
        let command = |good: &str| {
            let mut c = format!("oc-conform bisect --scenario {} --good {good} --bad {}", cell.scenario, cell.opencode_version);
            if let Some(fp) = &fingerprint {
                c.push_str(&format!(" --fingerprint {fp}"));
            }
            c
        };
        let answer = match (good_end(cells, &cell, opts.from.as_deref()), scenarios.iter().find(|s| s.name == cell.scenario)) {
            (Err(why), _) => unanswered("no_good_end", why, format!("oc-conform bisect --scenario {} --good V --bad {}", cell.scenario, cell.opencode_version)),
            (Ok(good), None) => unanswered("error", format!("the scenario `{}` is not known to this run", cell.scenario), command(&good)),
            (Ok(good), Some(_)) if opts.budget.is_some_and(|b| started.elapsed() >= b) => {
                unanswered("over_budget", "not bisected: --auto-bisect-budget was spent".into(), command(&good))
            }
            (Ok(good), Some(scenario)) => {
                let plan = BisectPlan {
                    scenario: scenario.clone(),
                    good: good.clone(),
                    bad: cell.opencode_version.clone(),
                    direction: Direction::Regression,
                    repeat: 1,
                    fingerprint: fingerprint.clone(),
                    report_dir: dir.clone(),
                    plugins_dir: opts.plugins_dir.clone(),
                    keep_sandbox: opts.keep_sandbox,
                    extra_args: vec![],
                };
                let probe_bus = reporters::for_auto_bisect(bus, &dir);
                let search = bisect::bisect(plan, opts.installer.clone(), &probe_bus);
                let result = match opts.budget.map(|b| b.saturating_sub(started.elapsed())) {
                    Some(left) => tokio::time::timeout(left, search).await.map_err(|_| ()),
                    None => Ok(search.await),
                };
                match result {
                    Ok(Ok(doc)) => doc.as_first_bad(Some(rel.clone())),
                    Ok(Err(e)) => unanswered("error", e.to_string(), command(&good)),
                    // Dropping the search ended its servers; what it learned is on disk.
                    Err(()) => match BisectDoc::load(&dir) {
                        Ok(doc) => {
                            let mut b = doc.as_first_bad(Some(rel.clone()));
                            b.status = "over_budget".into();
                            b.summary = format!("stopped at --auto-bisect-budget: {}", b.summary);
                            b.reproduce = doc.resume_command();
                            b
                        }
                        Err(_) => unanswered("over_budget", "stopped at --auto-bisect-budget before its first probe".into(), command(&good)),
                    },
                }
            }
        };
        bus.emit(Event::CellBisected {
            scenario: cell.scenario.clone(),
            version: cell.opencode_version.clone(),
            first_bad: Box::new(answer.clone()),
        });
        if let Some(c) = out.iter_mut().find(|c| c.scenario == cell.scenario && c.opencode_version == cell.opencode_version) {
            c.first_bad = Some(answer);
        }
    }
    out
}

fn unanswered(status: &str, why: String, reproduce: String) -> FirstBad {
    FirstBad {
        status: status.into(),
        first_bad: None,
        last_good: None,
        probes: vec![],
        reproduce,
        summary: why,
        report: None,
    }
}

/// The scenarios a stored run played, as it played them (each cell's `scenario.json`).
pub fn stored_scenarios(run_dir: &Path, cells: &[CellReport]) -> Result<Vec<Scenario>, AppError> {
    let mut out: Vec<Scenario> = Vec::new();
    for c in regressions(cells) {
        if out.iter().any(|s| s.name == c.scenario) {
            continue;
        }
        let path = run_dir.join(&c.artifacts.dir).join("scenario.json");
        let bytes = std::fs::read(&path).map_err(|e| AppError::usage(format!("{}: {e}", path.display())))?;
        out.push(serde_json::from_slice(&bytes).map_err(|e| AppError::usage(format!("{}: {e}", path.display())))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oc_conform_runner::report::model::{Artifacts, RunReport};

    fn cell(scenario: &str, version: &str, verdict: Verdict) -> CellReport {
        CellReport {
            scenario: scenario.into(),
            opencode_version: version.into(),
            outcome: if verdict == Verdict::Pass { Outcome::Pass } else { Outcome::Fail },
            verdict,
            failed_checks: vec![],
            duration_ms: 1,
            error: None,
            expectation: None,
            checks: vec![],
            runs: vec![RunReport {
                verdict,
                failed_checks: vec![],
                duration_ms: 1,
                timed_out: false,
                error: None,
                dir: format!("{version}/{scenario}"),
            }],
            artifacts: Artifacts::for_dir(&format!("{version}/{scenario}")),
            first_bad: None,
            rerun: None,
        }
    }

    #[test]
    fn the_good_end_is_the_newest_older_version_that_passed() {
        let cells = vec![
            cell("s", "1.18.34", Verdict::Fail),
            cell("s", "1.14.41", Verdict::Pass),
            cell("s", "1.15.13", Verdict::Pass),
            cell("s", "1.17.0", Verdict::Fail),
            cell("t", "1.17.18", Verdict::Pass),
        ];
        assert_eq!(good_end(&cells, &cells[0], None), Ok("1.15.13".into()));
        assert_eq!(good_end(&cells, &cells[3], Some("1.0.0")), Ok("1.15.13".into()));
    }

    #[test]
    fn without_a_passing_older_version_from_names_the_good_end() {
        let cells = vec![cell("s", "1.14.48", Verdict::Fail), cell("s", "1.18.34", Verdict::Pass)];
        assert!(good_end(&cells, &cells[0], None).unwrap_err().contains("--auto-bisect-from"));
        assert_eq!(good_end(&cells, &cells[0], Some("1.14.41")), Ok("1.14.41".into()));
        assert!(good_end(&cells, &cells[0], Some("1.15.0")).unwrap_err().contains("not a release older"));
    }
}
