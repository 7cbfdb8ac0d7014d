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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{cell, doc, expectation, fail_with_witnesses, run};
    use crate::report::model::SkippedCell;
    use oc_conform_scenario::ExpectedOutcome;

    fn xml(d: &ResultsDoc) -> String {
        render(d).unwrap()
    }

    #[test]
    fn twelve_witness_lines_are_written_and_the_rest_counted() {
        let x = xml(&fail_with_witnesses(&[13, 12]));
        assert!(x.contains("event 11\n  ... 1 more\n\n"), "{x}");
        assert_eq!(x.matches("... ").count(), 1, "twelve lines need no count: {x}");
        assert!(!x.contains("event 12"), "{x}");
    }

    #[test]
    fn a_cell_without_a_verdict_says_why_or_what_no_verdict_means() {
        let d = doc(
            &["1.0.0"],
            &["t", "e"],
            vec![cell("t", "1.0.0", Outcome::Timeout), cell("e", "1.0.0", Outcome::Error)],
        );
        let x = xml(&d);
        assert!(x.contains("<error message=\"TIMEOUT: the scenario&apos;s deadline passed\" type=\"TIMEOUT\">"), "{x}");
        assert!(x.contains("<error message=\"ERROR: no verdict was reached\" type=\"ERROR\">"), "{x}");
    }

    #[test]
    fn later_failing_runs_are_reruns_typed_by_how_they_ended() {
        let mut c = cell("s", "1.0.0", Outcome::Fail);
        let mut errored = run(Verdict::Error, &[], false, "1.0.0/s.run-4");
        errored.error = Some("the server exited".into());
        c.runs = vec![
            run(Verdict::Fail, &["a"], false, "1.0.0/s"),
            run(Verdict::Pass, &[], false, "1.0.0/s.run-2"),
            run(Verdict::Error, &[], true, "1.0.0/s.run-3"),
            errored,
            run(Verdict::Fail, &[], false, "1.0.0/s.run-5"),
        ];
        let x = xml(&doc(&["1.0.0"], &["s"], vec![c]));
        assert_eq!(x.matches("<rerunFailure").count(), 1, "{x}");
        assert_eq!(x.matches("<rerunError").count(), 2, "{x}");
        assert!(x.contains("<rerunError message=\"no check failed\" type=\"TIMEOUT\">"), "{x}");
        assert!(x.contains("<system-out>run 3 of 5: error in 10 ms, artifacts in 1.0.0/s.run-3</system-out>"), "{x}");
        assert!(x.contains("<rerunError message=\"ERROR: the server exited\" type=\"ERROR\">"), "{x}");
        assert!(x.contains("<rerunFailure message=\"no check failed\" type=\"FAIL\">"), "{x}");
        assert!(x.contains("<system-out>run 5 of 5: fail"), "{x}");
        assert!(x.contains("5 runs: fail, pass, error, error, fail (checks and witness above are the first run&apos;s)"), "{x}");
    }

    #[test]
    fn the_failure_message_names_one_check_or_several() {
        assert_eq!(failed_checks_message(&[]), "no check failed");
        assert_eq!(failed_checks_message(&["a".into()]), "failing check: a");
        assert_eq!(failed_checks_message(&["a".into(), "b".into()]), "failing checks: a, b");
    }

    #[test]
    fn a_missing_cell_is_not_run_only_in_an_interrupted_unpartitioned_run() {
        let d = |interrupted: bool, partition: Option<&str>| {
            let mut d = doc(&["1.0.0"], &["s", "t"], vec![cell("s", "1.0.0", Outcome::Pass)]);
            d.interrupted = interrupted;
            d.partition = partition.map(str::to_string);
            xml(&d)
        };
        let x = d(true, None);
        assert!(x.contains("<testcase name=\"t\" classname=\"oc-conform.t\">\n            <skipped message=\"not run: the run was interrupted\" type=\"NOT-RUN\"/>"), "{x}");
        for (interrupted, partition) in [(false, None), (true, Some("1/2")), (false, Some("1/2"))] {
            let x = d(interrupted, partition);
            assert!(!x.contains("name=\"t\""), "{interrupted} {partition:?}: {x}");
        }
        assert!(d(false, Some("1/2")).contains("<property name=\"partition\" value=\"1/2\"/>"));
    }

    #[test]
    fn a_skipped_scenario_is_a_skipped_testcase_with_the_reason() {
        let mut d = doc(&["1.0.0"], &["s"], vec![]);
        d.skipped = vec![SkippedCell { scenario: "s".into(), opencode_version: None, reason: "needs x".into() }];
        let x = xml(&d);
        assert!(x.contains("<skipped message=\"SKIPPED: needs x\" type=\"SKIPPED\"/>"), "{x}");
    }

    #[test]
    fn a_flake_says_whether_it_was_declared_and_what_it_is_known_for() {
        let mut c = cell("s", "1.0.0", Outcome::Flaky);
        c.expectation = Some(expectation("s", ExpectedOutcome::Flaky, Some("issue 7"), None));
        c.failed_checks.clear();
        let x = xml(&doc(&["1.0.0"], &["s"], vec![c]));
        assert!(
            x.contains("FLAKY: passed 1 of 2 runs (declared flaky in expectations.toml); failing checks: none\nknown issue: issue 7\n"),
            "{x}"
        );
    }

    #[test]
    fn under_strict_an_undeclared_flake_is_a_failure() {
        let mut d = doc(&["1.0.0"], &["s"], vec![cell("s", "1.0.0", Outcome::Flaky)]);
        d.gate = Some(crate::report::gate::decide(&d.results, true));
        let x = xml(&d);
        assert!(
            x.contains("<failure message=\"FLAKY: passed and failed across runs, not declared flaky; --strict makes it a regression\" type=\"FLAKY\"/>"),
            "{x}"
        );
    }

    #[test]
    fn a_run_without_a_readable_start_has_no_timestamp_and_suites_add_up_their_cells() {
        let mut d = doc(&["1.0.0"], &["s", "t"], vec![cell("s", "1.0.0", Outcome::Pass), cell("t", "1.0.0", Outcome::Flaky)]);
        d.started_at = "not a time".into();
        let x = xml(&d);
        assert!(!x.contains("timestamp="), "{x}");
        // The run's time on <testsuites> and the suite's, each the sum of its cells.
        assert_eq!(x.matches(" time=\"0.030\">").count(), 2, "{x}");
    }
}
