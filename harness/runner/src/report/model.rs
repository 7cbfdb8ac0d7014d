//! The results of a run as data: what `results.json` holds, and what every file reporter
//! renders from. `merge` and `analyze` read it back, so a report can be rebuilt from
//! report directories without re-running anything.

use crate::execute::ScenarioOutcome;
use oc_conform_checks::outcome::{Outcome, RunVerdict};
use oc_conform_checks::{Timeline, Verdict};
use oc_conform_scenario::Expectation;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const RESULTS_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResultsDoc {
    pub format_version: u32,
    pub tool: String,
    pub started_at: String,
    pub finished_at: String,
    /// The run was stopped by SIGINT/SIGTERM; `results` holds what finished.
    pub interrupted: bool,
    /// `K/N` when this run was one slice of a partitioned matrix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// The opencode versions of the run, in the order given.
    pub versions: Vec<String>,
    /// The scenarios of the run, in order.
    pub scenarios: Vec<String>,
    pub results: Vec<CellReport>,
}

/// One scenario on one version: its outcome over all its runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CellReport {
    pub scenario: String,
    pub opencode_version: String,
    pub outcome: Outcome,
    /// `pass` only when every run passed; `error` when any run reached no verdict.
    pub verdict: Verdict,
    /// Checks that did not pass, over all runs.
    pub failed_checks: Vec<String>,
    /// Total over all runs.
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The expectation that applied, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expectation: Option<Expectation>,
    /// The first run's checks (the one whose artifacts are at `artifacts`).
    pub checks: Vec<CheckReport>,
    pub runs: Vec<RunReport>,
    pub artifacts: Artifacts,
    /// Filled by bisect in a gate run (`--auto-bisect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_bad: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunReport {
    pub verdict: Verdict,
    pub failed_checks: Vec<String>,
    pub duration_ms: u64,
    pub timed_out: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// This run's artifact directory, relative to the report dir.
    pub dir: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckReport {
    pub check: String,
    pub verdict: Verdict,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witness: Vec<WitnessEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WitnessEntry {
    pub seq: u64,
    pub at_ms: f64,
    pub what: String,
}

/// Paths relative to the report dir.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Artifacts {
    pub dir: String,
    pub timeline: String,
    pub server_log: String,
    pub model_requests: String,
}

impl Artifacts {
    pub fn for_dir(dir: &str) -> Artifacts {
        Artifacts {
            dir: dir.to_string(),
            timeline: format!("{dir}/timeline.json"),
            server_log: format!("{dir}/server.log"),
            model_requests: format!("{dir}/model-requests.jsonl"),
        }
    }
}

pub fn witness(t: &Timeline, seqs: &[u64]) -> Vec<WitnessEntry> {
    seqs.iter()
        .filter_map(|s| t.entries.get(*s as usize))
        .map(|e| WitnessEntry {
            seq: e.seq,
            at_ms: (e.at_ms * 10.0).round() / 10.0,
            what: e.obs.describe(),
        })
        .collect()
}

fn relative(path: &Path, report_dir: &Path) -> String {
    path.strip_prefix(report_dir)
        .unwrap_or(path)
        .display()
        .to_string()
}

impl RunReport {
    pub fn from_outcome(o: &ScenarioOutcome, report_dir: &Path) -> RunReport {
        RunReport {
            verdict: o.verdict,
            failed_checks: o.failed_checks(),
            duration_ms: o.duration_ms,
            timed_out: o.timed_out,
            error: o.error.clone(),
            dir: relative(&o.artifacts_dir, report_dir),
        }
    }

    pub fn run_verdict(&self) -> RunVerdict {
        RunVerdict {
            verdict: self.verdict,
            failed_checks: self.failed_checks.clone(),
            timed_out: self.timed_out,
        }
    }
}

impl CellReport {
    /// A cell from its runs (at least one) and the expectation that applies.
    pub fn from_runs(
        runs: &[ScenarioOutcome],
        expectation: Option<&Expectation>,
        report_dir: &Path,
    ) -> CellReport {
        let first = &runs[0];
        let reports: Vec<RunReport> = runs
            .iter()
            .map(|r| RunReport::from_outcome(r, report_dir))
            .collect();
        let verdicts: Vec<RunVerdict> = reports.iter().map(RunReport::run_verdict).collect();
        let outcome = oc_conform_checks::outcome::classify(&verdicts, expectation);
        let verdict = if verdicts.iter().any(|v| v.verdict == Verdict::Error) {
            Verdict::Error
        } else if verdicts.iter().any(|v| v.verdict == Verdict::Fail) {
            Verdict::Fail
        } else {
            Verdict::Pass
        };
        let mut failed: Vec<String> = verdicts.iter().flat_map(|v| v.failed_checks.clone()).collect();
        failed.sort();
        failed.dedup();
        CellReport {
            scenario: first.scenario.clone(),
            opencode_version: first.opencode_version.clone(),
            outcome,
            verdict,
            failed_checks: failed,
            duration_ms: runs.iter().map(|r| r.duration_ms).sum(),
            error: runs.iter().find_map(|r| r.error.clone()),
            expectation: expectation.cloned(),
            checks: first
                .checks
                .iter()
                .map(|c| CheckReport {
                    check: c.check.clone(),
                    verdict: c.verdict,
                    message: c.message.clone(),
                    witness: witness(&first.timeline, &c.witness),
                })
                .collect(),
            runs: reports,
            artifacts: Artifacts::for_dir(&relative(&first.artifacts_dir, report_dir)),
            first_bad: None,
        }
    }

    /// Whether its flakiness was declared in expectations.
    pub fn flaky_declared(&self) -> bool {
        self.expectation
            .as_ref()
            .is_some_and(|e| e.outcome == oc_conform_scenario::ExpectedOutcome::Flaky)
    }
}

impl ResultsDoc {
    pub fn gate(&self, strict: bool) -> oc_conform_checks::outcome::Gate {
        let outcomes: Vec<(Outcome, bool)> = self
            .results
            .iter()
            .map(|c| (c.outcome, c.flaky_declared()))
            .collect();
        oc_conform_checks::outcome::gate(&outcomes, strict)
    }

    pub fn count(&self, outcome: Outcome) -> usize {
        self.results.iter().filter(|c| c.outcome == outcome).count()
    }

    pub fn load(dir: &Path) -> Result<ResultsDoc, String> {
        let path = dir.join("results.json");
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(".results.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).unwrap_or_default())?;
        std::fs::rename(tmp, dir.join("results.json"))
    }
}
