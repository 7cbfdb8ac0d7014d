//! `junit.xml`: the run for CI test-report viewers (GitLab, Jenkins, GitHub test-report
//! actions, Azure). One `<testsuite>` per opencode version (`opencode <version>`), one
//! `<testcase>` per scenario, with its time.
//!
//! A testcase's identity is what CI tools key a test's history on: Jenkins splits
//! `classname` at its last dot into package and class and follows package, class and name
//! from build to build; GitLab keys on classname and name and keeps only the first of two
//! alike. So the classname is `oc-conform.<scenario>` (package `oc-conform`, class the
//! scenario; scenario names have no dots) and never holds the version. The name is the
//! scenario when the run covers one version, so the usual gate, which moves its one pinned
//! version to each new release, keeps one history per scenario; with several versions
//! each cell is a test of its own, named `<scenario> [opencode <version>]`.
//!
//! | outcome | testcase |
//! |---|---|
//! | PASS | passed |
//! | FAIL | `<failure>`: message = the failing checks; text = each check's message and witness; later failing runs as `<rerunFailure>` |
//! | ERROR, TIMEOUT | `<error>` (type `ERROR` / `TIMEOUT`) with why no verdict was reached |
//! | EXPECTED-FAIL | `<skipped type="EXPECTED-FAIL">` naming the known issue (pytest's convention for xfail): not a failure, yet counted apart from the passes so a known bug stays visible |
//! | UNEXPECTED-PASS | passed, with a `<system-out>` note: the known bug may be fixed |
//! | FLAKY | passed, each failing run as a `<flakyFailure>`, with a `<system-out>` note |
//! | (no result in an interrupted run) | `<skipped type="NOT-RUN">` |
//!
//! The document validates against the Jenkins xUnit plugin's `junit-10.xsd` (the schema
//! most JUnit consumers follow) but for one attribute: quick-junit also writes the run's
//! `skipped` count on the root `<testsuites>`, as newer JUnit dialects do. No testcase
//! carries properties or a timestamp.

use super::common::{self, witness_line};
use super::model::{CellReport, ResultsDoc, RunReport};
use oc_conform_checks::outcome::Outcome;
use oc_conform_checks::Verdict;
use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};
use std::path::Path;
use std::time::Duration;

pub const FILE: &str = "junit.xml";

/// Witness lines per failing check in a failure's text.
const MAX_WITNESS: usize = 12;

pub fn write(doc: &ResultsDoc, dir: &Path) -> std::io::Result<()> {
    let xml = render(doc).map_err(std::io::Error::other)?;
    common::write_atomic(dir, FILE, xml.as_bytes())
}

/// The `junit.xml` text of a run.
pub fn render(doc: &ResultsDoc) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new("oc-conform");
    let mut total_ms = 0;
    let started = chrono::DateTime::parse_from_rfc3339(&doc.started_at).ok();
    let versions = common::versions(doc);
    let one_version = versions.len() == 1;
    // The run's one decision: under --strict an unexpected pass or an undeclared flake is
    // a failure here too, as it is for the exit code and every other report.
    let strict = doc.gate_decision().strict;
    for version in versions {
        let mut suite = TestSuite::new(format!("opencode {version}"));
        if let Some(t) = started {
            suite.set_timestamp(t);
        }
        suite.add_property(Property::new("opencode_version", &version));
        suite.add_property(Property::new("tool", &doc.tool));
        if let Some(p) = &doc.partition {
            suite.add_property(Property::new("partition", p));
        }
        if doc.interrupted {
            suite.add_property(Property::new("interrupted", "true"));
        }
        let mut suite_ms = 0;
        for scenario in common::scenarios(doc) {
            let name = if one_version {
                scenario.clone()
            } else {
                format!("{scenario} [opencode {version}]")
            };
            let mut case = match common::cell(doc, &scenario, &version) {
                Some(cell) => {
                    suite_ms += cell.duration_ms;
                    testcase(cell, name, strict)
                }
                // Not played: the release lacks what the scenario requires, or the server
                // cannot offer what it needs.
                None if common::skipped(doc, &scenario, &version).is_some() => {
                    let why = common::skipped(doc, &scenario, &version).map(|s| s.reason.clone()).unwrap_or_default();
                    let mut status = TestCaseStatus::skipped();
                    status.set_type("SKIPPED").set_message(format!("SKIPPED: {why}"));
                    TestCase::new(name, status)
                }
                // Only an interrupted unpartitioned run knows a missing cell should have run.
                None if doc.interrupted && doc.partition.is_none() => {
                    let mut status = TestCaseStatus::skipped();
                    status
                        .set_type("NOT-RUN")
                        .set_message(common::missing_reason(doc));
                    TestCase::new(name, status)
                }
                None => continue,
            };
            case.set_classname(format!("oc-conform.{scenario}"));
            suite.add_test_case(case);
        }
        suite.set_time(Duration::from_millis(suite_ms));
        total_ms += suite_ms;
        report.add_test_suite(suite);
    }
    report.set_time(Duration::from_millis(total_ms));
    report.to_string()
}

fn testcase(cell: &CellReport, name: String, strict: bool) -> TestCase {
    let status = match cell.outcome {
        Outcome::UnexpectedPass | Outcome::Flaky if super::gate::fails_gate(cell, strict) => {
            let kind = cell.outcome.as_str();
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let why = match cell.outcome {
                Outcome::UnexpectedPass => "expected to fail but passed",
                _ => "passed and failed across runs, not declared flaky",
            };
            s.set_type(kind).set_message(format!("{kind}: {why}; --strict makes it a regression"));
            s
        }
        Outcome::Pass => TestCaseStatus::success(),
        Outcome::Fail => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type("FAIL")
                .set_message(failed_checks_message(&cell.failed_checks))
                .set_description(failure_text(cell));
            s.add_reruns(later_runs(cell).map(|r| rerun(r, cell)));
            s
        }
        Outcome::Error | Outcome::Timeout => {
            let kind = cell.outcome.as_str();
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            let why = cell.error.clone().unwrap_or_else(|| match cell.outcome {
                Outcome::Timeout => "the scenario's deadline passed".to_string(),
                _ => "no verdict was reached".to_string(),
            });
            s.set_type(kind)
                .set_message(format!("{kind}: {}", common::truncate(&why, 300)))
                .set_description(failure_text(cell));
            s.add_reruns(later_runs(cell).map(|r| rerun(r, cell)));
            s
        }
        Outcome::ExpectedFail => {
            let mut s = TestCaseStatus::skipped();
            let note = common::expectation_note(cell).unwrap_or_else(|| "known failure".into());
            s.set_type("EXPECTED-FAIL")
                .set_message(format!(
                    "expected failure ({note}); {}",
                    failed_checks_message(&cell.failed_checks)
                ))
                .set_description(failure_text(cell));
            s
        }
        Outcome::UnexpectedPass => TestCaseStatus::success(),
        Outcome::Flaky => {
            let mut s = TestCaseStatus::success();
            if let TestCaseStatus::Success { flaky_runs } = &mut s {
                flaky_runs.extend(
                    cell.runs
                        .iter()
                        .filter(|r| r.verdict != Verdict::Pass)
                        .map(|r| rerun(r, cell)),
                );
            }
            s
        }
    };
    let mut case = TestCase::new(name, status);
    case.set_time(Duration::from_millis(cell.duration_ms));
    if let Some(out) = system_out(cell) {
        case.set_system_out(out);
    }
    case
}

fn failed_checks_message(checks: &[String]) -> String {
    match checks {
        [] => "no check failed".into(),
        [one] => format!("failing check: {one}"),
        many => format!("failing checks: {}", many.join(", ")),
    }
}

/// Each failing check's message and witness lines, then where the artifacts are.
fn failure_text(cell: &CellReport) -> String {
    let mut out = String::new();
    if let Some(e) = &cell.error {
        out.push_str(&format!("error: {e}\n\n"));
    }
    for c in common::failing_checks(cell) {
        out.push_str(&format!(
            "{} ({}): {}\n",
            c.check,
            c.verdict.as_str(),
            c.message
        ));
        for w in c.witness.iter().take(MAX_WITNESS) {
            out.push_str(&format!("  {}\n", witness_line(w)));
        }
        if c.witness.len() > MAX_WITNESS {
            out.push_str(&format!("  ... {} more\n", c.witness.len() - MAX_WITNESS));
        }
        out.push('\n');
    }
    if cell.runs.len() > 1 {
        out.push_str(&format!("{}\n", runs_line(cell)));
    }
    for line in super::common::cell_findings(cell) {
        out.push_str(&format!("{line}\n"));
    }
    out.push_str(&format!(
        "timeline: {}\nserver log: {}\n",
        cell.artifacts.timeline, cell.artifacts.server_log
    ));
    out
}

fn runs_line(cell: &CellReport) -> String {
    let verdicts: Vec<&str> = cell.runs.iter().map(|r| r.verdict.as_str()).collect();
    format!(
        "{} runs: {} (checks and witness above are the first run's)",
        cell.runs.len(),
        verdicts.join(", ")
    )
}

fn later_runs(cell: &CellReport) -> impl Iterator<Item = &RunReport> {
    cell.runs
        .iter()
        .skip(1)
        .filter(|r| r.verdict != Verdict::Pass)
}

fn rerun(run: &RunReport, cell: &CellReport) -> TestRerun {
    let kind = match run.verdict {
        Verdict::Error => NonSuccessKind::Error,
        _ => NonSuccessKind::Failure,
    };
    let mut r = TestRerun::new(kind);
    let ty = match (run.verdict, run.timed_out) {
        (Verdict::Error, true) => "TIMEOUT",
        (Verdict::Error, false) => "ERROR",
        _ => "FAIL",
    };
    let message = match &run.error {
        Some(e) => format!("{ty}: {}", common::truncate(e, 300)),
        None => failed_checks_message(&run.failed_checks),
    };
    r.set_type(ty).set_message(message);
    r.set_system_out(format!(
        "{} of {}: {} in {} ms, artifacts in {}",
        run_index(cell, run),
        cell.runs.len(),
        run.verdict.as_str(),
        run.duration_ms,
        run.dir
    ));
    r
}

fn run_index(cell: &CellReport, run: &RunReport) -> String {
    let i = cell
        .runs
        .iter()
        .position(|r| std::ptr::eq(r, run))
        .map_or(0, |i| i + 1);
    format!("run {i}")
}

/// The note a passed (or skipped) testcase carries.
fn system_out(cell: &CellReport) -> Option<String> {
    match cell.outcome {
        Outcome::UnexpectedPass => {
            let note = common::expectation_note(cell).unwrap_or_default();
            Some(format!(
                "UNEXPECTED-PASS: expected to fail ({note}) but passed; the bug may be fixed: \
                 update expectations.toml\n"
            ))
        }
        Outcome::Flaky => {
            let passed = cell
                .runs
                .iter()
                .filter(|r| r.verdict == Verdict::Pass)
                .count();
            let declared = if cell.flaky_declared() {
                "declared flaky in expectations.toml"
            } else {
                "not declared flaky"
            };
            let mut s = format!(
                "FLAKY: passed {passed} of {} runs ({declared}); failing checks: {}\n",
                cell.runs.len(),
                if cell.failed_checks.is_empty() {
                    "none".to_string()
                } else {
                    cell.failed_checks.join(", ")
                }
            );
            if let Some(note) = common::expectation_note(cell) {
                s.push_str(&format!("known issue: {note}\n"));
            }
            s.push_str(&failure_text(cell));
            Some(s)
        }
        // EXPECTED-FAIL: its `<skipped>` message names the known issue already.
        _ => None,
    }
}
