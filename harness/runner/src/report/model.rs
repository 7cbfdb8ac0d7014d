//! The results of a run as data: what `results.json` holds, and what every file reporter
//! renders from. `merge` and `analyze` read it back, so a report can be rebuilt from
//! report directories without re-running anything.

use super::events::{Event, RunHeader};
use super::gate::{self, GateDecision};
use super::interface::InterfaceChanges;
use crate::execute::ScenarioOutcome;
use oc_conform_checks::outcome::{Outcome, RunVerdict};
use oc_conform_checks::{Timeline, Verdict};
use oc_conform_scenario::Expectation;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// 2: the gate decision, `attached_to` and `skipped` are fields of the document (1 had
/// none of them; a version-1 document still loads, its gate decided without `--strict`).
pub const RESULTS_FORMAT_VERSION: u32 = 2;

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
    /// The binary of each version that was a local build, by the version it reports
    /// (absent in documents written before it was kept).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub local_builds: BTreeMap<String, PathBuf>,
    /// The scenarios of the run, in order.
    pub scenarios: Vec<String>,
    pub results: Vec<CellReport>,
    /// The run's one gate decision (none while it runs, or when it was interrupted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateDecision>,
    /// The URL of a server the harness did not start (`run --server-url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_to: Option<String>,
    /// Selected scenarios this run did not play, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedCell>,
    /// What changed in opencode's interface between adjacent versions of the matrix (a
    /// run of more than one version); apart from the cells and the gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_changes: Option<InterfaceChanges>,
}

/// A scenario a run did not play, and why (it needs what the server cannot offer).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SkippedCell {
    pub scenario: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opencode_version: Option<String>,
    pub reason: String,
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
    /// Where this regression came from: `--auto-bisect` bisected the releases between
    /// the newest matrix version it passed on (or `--auto-bisect-from`) and this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_bad: Option<FirstBad>,
    /// Set by `oc-conform rerun`: the cell was not as expected and was played again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun: Option<RerunNote>,
}

/// `--auto-bisect`'s answer for one regression cell.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FirstBad {
    /// `found` (first_bad and last_good are the boundary), `ambiguous` (skipped releases
    /// could not be decided), or why there is no answer (`end_not_confirmed`,
    /// `over_budget`, `no_good_end`, ...).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_bad: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_good: Option<String>,
    /// The releases probed, oldest first, each `version: good|bad|skip`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<String>,
    /// The `oc-conform bisect` command that reproduces (or resumes) the search.
    pub reproduce: String,
    /// The answer in words (`first bad: 1.14.48; last good: 1.14.41`, or why none).
    pub summary: String,
    /// Where the bisect's own report (`bisect.json`, `bisect.md`) is, relative to the
    /// report dir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

/// What `oc-conform rerun` found for a cell that was not as expected.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RerunNote {
    /// The cell's outcome in the first run.
    pub first: Outcome,
    /// The outcome of the re-run alone.
    pub rerun: Outcome,
    /// The re-run was not as expected either: the outcome is real, not a flake.
    pub still_unexpected: bool,
}

impl RerunNote {
    /// `FAIL again: real` / `PASS on re-run: flaky (first FAIL)`.
    pub fn describe(&self) -> String {
        if self.still_unexpected {
            if self.rerun == self.first {
                format!("{} again on re-run: real", self.first.as_str())
            } else {
                format!("{} on re-run (first {}): still not as expected", self.rerun.as_str(), self.first.as_str())
            }
        } else {
            format!("{} on re-run: flaky (first {})", self.rerun.as_str(), self.first.as_str())
        }
    }
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
        let verdict = worst_verdict(&verdicts);
        let failed = failed_union(&verdicts);
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
            rerun: None,
        }
    }

    /// This cell after `oc-conform rerun` played it `again`: the runs of both (the
    /// re-run's artifact dirs under `prefix/`), classified together against the same
    /// expectation (a FAIL that passed on re-run is FLAKY), and the re-run's finding.
    pub fn with_rerun(&self, again: &CellReport, prefix: &str) -> CellReport {
        let mut runs = self.runs.clone();
        runs.extend(again.runs.iter().map(|r| RunReport {
            dir: format!("{prefix}/{}", r.dir),
            ..r.clone()
        }));
        let verdicts: Vec<RunVerdict> = runs.iter().map(RunReport::run_verdict).collect();
        CellReport {
            outcome: oc_conform_checks::outcome::classify(&verdicts, self.expectation.as_ref()),
            verdict: worst_verdict(&verdicts),
            failed_checks: failed_union(&verdicts),
            duration_ms: self.duration_ms + again.duration_ms,
            error: self.error.clone().or_else(|| again.error.clone()),
            rerun: Some(RerunNote {
                first: self.outcome,
                rerun: again.outcome,
                still_unexpected: !again.outcome.is_expected(again.flaky_declared()),
            }),
            runs,
            ..self.clone()
        }
    }

    /// Whether its flakiness was declared in expectations.
    pub fn flaky_declared(&self) -> bool {
        self.expectation
            .as_ref()
            .is_some_and(|e| e.outcome == oc_conform_scenario::ExpectedOutcome::Flaky)
    }
}

/// `error` when any run reached no verdict, else `fail` when any failed, else `pass`.
fn worst_verdict(verdicts: &[RunVerdict]) -> Verdict {
    if verdicts.iter().any(|v| v.verdict == Verdict::Error) {
        Verdict::Error
    } else if verdicts.iter().any(|v| v.verdict == Verdict::Fail) {
        Verdict::Fail
    } else {
        Verdict::Pass
    }
}

/// The checks any run failed, sorted, each once.
fn failed_union(verdicts: &[RunVerdict]) -> Vec<String> {
    let mut failed: Vec<String> = verdicts.iter().flat_map(|v| v.failed_checks.clone()).collect();
    failed.sort();
    failed.dedup();
    failed
}

impl ResultsDoc {
    /// The cells that were not as expected (FAIL, ERROR, TIMEOUT, UNEXPECTED-PASS, an
    /// undeclared FLAKY): what `oc-conform rerun` plays again.
    pub fn unexpected_cells(&self) -> impl Iterator<Item = &CellReport> {
        self.results.iter().filter(|c| !c.outcome.is_expected(c.flaky_declared()))
    }

    /// An empty document for the run `header` describes.
    pub fn new(header: &RunHeader) -> ResultsDoc {
        ResultsDoc {
            format_version: RESULTS_FORMAT_VERSION,
            tool: header.tool.clone(),
            started_at: header.started_at.clone(),
            finished_at: String::new(),
            interrupted: false,
            partition: header.partition.clone(),
            versions: header.versions.clone(),
            local_builds: header.local_builds.clone(),
            scenarios: header.scenarios.clone(),
            results: vec![],
            gate: None,
            attached_to: header.attached_to.clone(),
            skipped: vec![],
            interface_changes: None,
        }
    }

    /// The gate decision every report renders: the one the run recorded, or (an
    /// interrupted run, a version-1 document) the gate without `--strict`.
    pub fn gate_decision(&self) -> GateDecision {
        self.gate.clone().unwrap_or_else(|| gate::decide(&self.results, false))
    }

    /// Puts the cells in matrix order: by version as given, then by scenario.
    pub fn sort_results(&mut self) {
        let vpos = |v: &str| self.versions.iter().position(|x| x == v).unwrap_or(usize::MAX);
        let spos = |s: &str| self.scenarios.iter().position(|x| x == s).unwrap_or(usize::MAX);
        let mut results = std::mem::take(&mut self.results);
        results.sort_by_key(|c| (vpos(&c.opencode_version), spos(&c.scenario)));
        self.results = results;
    }

    /// The run an event stream describes (its last run, when it holds several), as the
    /// results reporter builds it: `results.json` can be rebuilt from a
    /// `--message-format json` stream.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Option<ResultsDoc> {
        let mut b = ResultsBuilder::default();
        for e in events {
            b.on_event(e);
        }
        b.doc()
    }

    pub fn count(&self, outcome: Outcome) -> usize {
        self.results.iter().filter(|c| c.outcome == outcome).count()
    }

    pub fn load(dir: &Path) -> Result<ResultsDoc, String> {
        let doc = Self::load_any(dir)?;
        if doc.format_version > RESULTS_FORMAT_VERSION {
            return Err(format!(
                "{}: results format {} is newer than this oc-conform reads ({RESULTS_FORMAT_VERSION}); use a newer oc-conform",
                dir.join("results.json").display(),
                doc.format_version
            ));
        }
        Ok(doc)
    }

    fn load_any(dir: &Path) -> Result<ResultsDoc, String> {
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

/// Builds a [`ResultsDoc`] from a run's events: the one way a results document is made,
/// whether by the reporter that writes `results.json`, by `merge`, or from a stored
/// `--message-format json` stream.
#[derive(Default)]
pub struct ResultsBuilder {
    doc: Option<ResultsDoc>,
}

impl ResultsBuilder {
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::RunStarted { run } => self.doc = Some(ResultsDoc::new(run)),
            Event::CellFinished { cell, .. } => {
                if let Some(d) = &mut self.doc {
                    d.results.push((**cell).clone());
                    d.sort_results();
                }
            }
            Event::CellBisected { scenario, version, first_bad } => {
                if let Some(d) = &mut self.doc {
                    if let Some(c) = d.results.iter_mut().find(|c| &c.scenario == scenario && &c.opencode_version == version) {
                        c.first_bad = Some((**first_bad).clone());
                    }
                }
            }
            Event::Skipped { skipped } => {
                if let Some(d) = &mut self.doc {
                    d.skipped.push(skipped.clone());
                }
            }
            Event::InterfaceChanges { changes } => {
                if let Some(d) = &mut self.doc {
                    d.interface_changes = Some((**changes).clone());
                }
            }
            Event::Interrupted { .. } => {
                if let Some(d) = &mut self.doc {
                    d.interrupted = true;
                    d.finished_at = super::json::now_rfc3339();
                }
            }
            Event::RunFinished { finished_at, gate } => {
                if let Some(d) = &mut self.doc {
                    d.finished_at = finished_at.clone();
                    d.gate = Some(gate.clone());
                }
            }
            _ => {}
        }
    }

    /// The document so far (none before a run started).
    pub fn doc(&self) -> Option<ResultsDoc> {
        self.doc.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(outcome: Outcome, runs: &[(Verdict, &[&str])]) -> CellReport {
        let runs: Vec<RunReport> = runs
            .iter()
            .enumerate()
            .map(|(i, (v, failed))| RunReport {
                verdict: *v,
                failed_checks: failed.iter().map(|s| s.to_string()).collect(),
                duration_ms: 100,
                timed_out: false,
                error: None,
                dir: format!("1.18.34/s.run-{}", i + 1),
            })
            .collect();
        let verdicts: Vec<RunVerdict> = runs.iter().map(RunReport::run_verdict).collect();
        CellReport {
            scenario: "s".into(),
            opencode_version: "1.18.34".into(),
            outcome,
            verdict: worst_verdict(&verdicts),
            failed_checks: failed_union(&verdicts),
            duration_ms: 100 * runs.len() as u64,
            error: None,
            expectation: None,
            checks: vec![],
            runs,
            artifacts: Artifacts::for_dir("1.18.34/s"),
            first_bad: None,
            rerun: None,
        }
    }

    #[test]
    fn a_failure_that_passes_on_rerun_is_flaky() {
        let first = cell(Outcome::Fail, &[(Verdict::Fail, &["status-reaches-idle"])]);
        let again = cell(Outcome::Pass, &[(Verdict::Pass, &[])]);
        let combined = first.with_rerun(&again, "rerun");
        assert_eq!(combined.outcome, Outcome::Flaky);
        assert_eq!(combined.runs.len(), 2);
        assert_eq!(combined.runs[1].dir, "rerun/1.18.34/s.run-1");
        assert_eq!(combined.duration_ms, 200);
        let note = combined.rerun.expect("a finding");
        assert!(!note.still_unexpected);
        assert_eq!(note.describe(), "PASS on re-run: flaky (first FAIL)");
    }

    #[test]
    fn a_failure_that_fails_again_is_real() {
        let first = cell(Outcome::Fail, &[(Verdict::Fail, &["a"])]);
        let again = cell(Outcome::Fail, &[(Verdict::Fail, &["a"])]);
        let combined = first.with_rerun(&again, "rerun");
        assert_eq!(combined.outcome, Outcome::Fail);
        assert_eq!(combined.failed_checks, ["a"]);
        assert_eq!(combined.rerun.expect("a finding").describe(), "FAIL again on re-run: real");
    }

    /// `from_runs` is otherwise reached only by the real-server tests (through the suite).
    #[test]
    fn a_cell_from_its_runs_names_its_dirs_relative_to_the_report_dir() {
        let report = Path::new("/r/report");
        let run = |verdict: Verdict, failed: &[&str], dir: PathBuf, error: Option<&str>| ScenarioOutcome {
            scenario: "s".into(),
            opencode_version: "1.18.34".into(),
            verdict,
            checks: failed
                .iter()
                .map(|c| oc_conform_checks::CheckResult {
                    check: c.to_string(),
                    verdict: Verdict::Fail,
                    message: "m".into(),
                    witness: vec![],
                })
                .collect(),
            error: error.map(str::to_string),
            timed_out: false,
            duration_ms: 100,
            timeline: Timeline::new("s", "1.18.34"),
            artifacts_dir: dir,
        };
        let runs = [
            run(Verdict::Fail, &["b", "a"], report.join("1.18.34/s.run-1"), None),
            run(Verdict::Pass, &[], PathBuf::from("/elsewhere/s.run-2"), Some("late")),
        ];
        let c = CellReport::from_runs(&runs, None, report);
        assert_eq!(c.runs[0].dir, "1.18.34/s.run-1");
        // A dir outside the report dir stays whole rather than becoming a wrong relative path.
        assert_eq!(c.runs[1].dir, "/elsewhere/s.run-2");
        assert_eq!(c.artifacts, Artifacts::for_dir("1.18.34/s.run-1"));
        assert_eq!(c.artifacts.timeline, "1.18.34/s.run-1/timeline.json");
        assert_eq!((c.runs[0].verdict, c.runs[0].failed_checks.clone()), (Verdict::Fail, vec!["b".to_string(), "a".into()]));
        assert_eq!((c.outcome, c.verdict), (Outcome::Flaky, Verdict::Fail));
        assert_eq!(c.failed_checks, ["a", "b"]);
        assert_eq!((c.duration_ms, c.error.as_deref()), (200, Some("late")));
        assert_eq!(c.checks.len(), 2, "the first run's checks");
    }

    #[test]
    fn a_rerun_that_reached_no_verdict_makes_the_cell_an_error_with_both_runs_checks() {
        let first = cell(Outcome::Fail, &[(Verdict::Fail, &["a"])]);
        let mut again = cell(Outcome::Error, &[(Verdict::Error, &["b"])]);
        again.error = Some("server exited".into());
        let combined = first.with_rerun(&again, "rerun");
        assert_eq!((combined.outcome, combined.verdict), (Outcome::Error, Verdict::Error));
        assert_eq!(combined.failed_checks, ["a", "b"]);
        assert_eq!(combined.error.as_deref(), Some("server exited"));
        let note = combined.rerun.expect("a finding");
        assert!(note.still_unexpected);
        assert_eq!(note.describe(), "ERROR on re-run (first FAIL): still not as expected");
    }

    #[test]
    fn the_worst_verdict_of_the_runs_is_the_cells() {
        let v = |verdicts: &[Verdict]| {
            let runs: Vec<RunVerdict> = verdicts
                .iter()
                .map(|&verdict| RunVerdict { verdict, failed_checks: vec![], timed_out: false })
                .collect();
            worst_verdict(&runs)
        };
        assert_eq!(v(&[Verdict::Pass, Verdict::Pass]), Verdict::Pass);
        assert_eq!(v(&[Verdict::Fail]), Verdict::Fail);
        assert_eq!(v(&[Verdict::Pass, Verdict::Fail]), Verdict::Fail);
        assert_eq!(v(&[Verdict::Fail, Verdict::Error, Verdict::Pass]), Verdict::Error);
    }

    #[test]
    fn what_rerun_plays_again_is_every_cell_not_as_expected() {
        let mut doc = ResultsDoc::new(&header(BTreeMap::new()));
        let mut declared = cell(Outcome::Flaky, &[(Verdict::Pass, &[]), (Verdict::Fail, &["a"])]);
        declared.expectation = Some(Expectation {
            scenario: "s".into(),
            versions: vec!["*".into()],
            outcome: oc_conform_scenario::ExpectedOutcome::Flaky,
            failing_checks: vec![],
            issue: None,
            reason: None,
        });
        let undeclared = cell(Outcome::Flaky, &[(Verdict::Pass, &[]), (Verdict::Fail, &["a"])]);
        doc.results = vec![
            cell(Outcome::Pass, &[(Verdict::Pass, &[])]),
            cell(Outcome::Fail, &[(Verdict::Fail, &["a"])]),
            declared,
            undeclared,
        ];
        let again: Vec<(Outcome, bool)> = doc.unexpected_cells().map(|c| (c.outcome, c.flaky_declared())).collect();
        assert_eq!(again, [(Outcome::Fail, false), (Outcome::Flaky, false)]);
        assert_eq!((doc.count(Outcome::Flaky), doc.count(Outcome::Error)), (2, 0));
    }

    #[test]
    fn the_builder_files_each_event_into_the_document() {
        let mut b = ResultsBuilder::default();
        let skipped = SkippedCell { scenario: "t".into(), opencode_version: None, reason: "needs /question".into() };
        // Before the run starts there is no document to file anything in.
        b.on_event(&Event::Skipped { skipped: skipped.clone() });
        assert!(b.doc().is_none());
        b.on_event(&Event::RunStarted { run: header(BTreeMap::new()) });
        let mut dev = cell(Outcome::Fail, &[(Verdict::Fail, &["a"])]);
        dev.opencode_version = "0.0.0-dev".into();
        for c in [dev, cell(Outcome::Fail, &[(Verdict::Fail, &["a"])])] {
            b.on_event(&Event::CellFinished { cell: Box::new(c), done: 1, total: 2 });
        }
        let first_bad = FirstBad {
            status: "found".into(),
            first_bad: Some("1.18.30".into()),
            last_good: Some("1.18.29".into()),
            probes: vec![],
            reproduce: "oc-conform bisect".into(),
            summary: "first bad: 1.18.30".into(),
            report: None,
        };
        for (scenario, version) in [("s", "1.18.34"), ("other", "0.0.0-dev"), ("s", "9.9.9")] {
            b.on_event(&Event::CellBisected {
                scenario: scenario.into(),
                version: version.into(),
                first_bad: Box::new(first_bad.clone()),
            });
        }
        b.on_event(&Event::Skipped { skipped: skipped.clone() });
        let changes = InterfaceChanges { fail_on: None, fails: true, pairs: vec![] };
        b.on_event(&Event::InterfaceChanges { changes: Box::new(changes.clone()) });
        let doc = b.doc().expect("a run started");
        let versions: Vec<&str> = doc.results.iter().map(|c| c.opencode_version.as_str()).collect();
        assert_eq!(versions, ["1.18.34", "0.0.0-dev"], "in the header's version order");
        let bisected: Vec<bool> = doc.results.iter().map(|c| c.first_bad.is_some()).collect();
        assert_eq!(bisected, [true, false], "only the cell of that scenario and version");
        assert_eq!(doc.skipped, [skipped]);
        assert_eq!(doc.interface_changes, Some(changes));
        assert!(!doc.interrupted && doc.gate.is_none());
        b.on_event(&Event::Interrupted { signal: "SIGINT".into() });
        let doc = b.doc().unwrap();
        assert!(doc.interrupted && !doc.finished_at.is_empty());
    }

    #[test]
    fn a_results_json_newer_than_this_reader_is_refused_an_older_one_loads() {
        let dir = tempfile::tempdir().unwrap();
        let mut doc = ResultsDoc::new(&header(BTreeMap::new()));
        for (version, loads) in [(1, true), (RESULTS_FORMAT_VERSION, true), (RESULTS_FORMAT_VERSION + 1, false)] {
            doc.format_version = version;
            doc.write(dir.path()).unwrap();
            let loaded = ResultsDoc::load(dir.path());
            assert_eq!(loaded.is_ok(), loads, "format {version}: {loaded:?}");
        }
        let err = ResultsDoc::load(dir.path()).unwrap_err();
        assert!(err.contains("use a newer oc-conform"), "{err}");
    }

    fn header(local_builds: BTreeMap<String, PathBuf>) -> RunHeader {
        RunHeader {
            tool: "oc-conform 0.1.0".into(),
            started_at: "2026-12-01T13:00:00Z".into(),
            partition: None,
            versions: vec!["1.18.34".into(), "0.0.0-dev".into()],
            local_builds,
            scenarios: vec!["s".into()],
            attached_to: None,
            report_dir: "reports/x".into(),
            round: None,
            cells: 2,
        }
    }

    #[test]
    fn a_local_builds_path_goes_from_the_header_through_results_json_and_back() {
        let local = BTreeMap::from([("0.0.0-dev".to_string(), PathBuf::from("/opt/builds/opencode"))]);
        let event = Event::RunStarted { run: header(local.clone()) };
        // The --message-format json line carries it.
        let line = serde_json::to_string(&event).unwrap();
        assert!(line.contains(r#""local_builds":{"0.0.0-dev":"/opt/builds/opencode"}"#), "{line}");
        let Event::RunStarted { run } = serde_json::from_str::<Event>(&line).unwrap() else { panic!("{line}") };
        assert_eq!(run.local_builds, local);
        // results.json, built from the stream, keeps it.
        let doc = ResultsDoc::from_events([&event]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        doc.write(dir.path()).unwrap();
        assert_eq!(ResultsDoc::load(dir.path()).unwrap().local_builds, local);
    }

    #[test]
    fn a_run_of_releases_writes_no_local_builds_and_an_older_results_json_still_loads() {
        let doc = ResultsDoc::new(&header(BTreeMap::new()));
        let text = serde_json::to_string(&doc).unwrap();
        assert!(!text.contains("local_builds"), "{text}");
        // As written before the field existed: no `local_builds` at all.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("results.json"), &text).unwrap();
        assert!(ResultsDoc::load(dir.path()).unwrap().local_builds.is_empty());
    }
}
