//! Cells and documents for the renderers' unit tests (`summary.rs`, `junit.rs`,
//! `common.rs`, `gate.rs`): a cell whose runs agree with its outcome, so a test states
//! only what it is about. The integration tests' fuller run is `tests/common/mod.rs`.

use super::model::{Artifacts, CellReport, CheckReport, ResultsDoc, RunReport, WitnessEntry};
use oc_conform_checks::outcome::Outcome;
use oc_conform_checks::Verdict;
use oc_conform_scenario::{Expectation, ExpectedOutcome};

/// A run of `verdict` that failed `failed`, in the cell's own artifact dir.
pub fn run(verdict: Verdict, failed: &[&str], timed_out: bool, dir: &str) -> RunReport {
    RunReport {
        verdict,
        failed_checks: failed.iter().map(|s| s.to_string()).collect(),
        duration_ms: 10,
        timed_out,
        error: None,
        dir: dir.to_string(),
    }
}

/// `scenario` on `version` with the outcome `outcome` and runs that agree with it (a
/// FLAKY cell passes once and fails check `a` once; a failing one fails check `a`).
pub fn cell(scenario: &str, version: &str, outcome: Outcome) -> CellReport {
    let dir = format!("{version}/{scenario}");
    let runs = match outcome {
        Outcome::Pass | Outcome::UnexpectedPass => vec![run(Verdict::Pass, &[], false, &dir)],
        Outcome::Fail | Outcome::ExpectedFail => vec![run(Verdict::Fail, &["a"], false, &dir)],
        Outcome::Flaky => vec![
            run(Verdict::Pass, &[], false, &dir),
            run(Verdict::Fail, &["a"], false, &dir),
        ],
        Outcome::Timeout => vec![run(Verdict::Error, &[], true, &dir)],
        Outcome::Error => vec![run(Verdict::Error, &[], false, &dir)],
    };
    CellReport {
        scenario: scenario.into(),
        opencode_version: version.into(),
        outcome,
        verdict: runs.iter().map(|r| r.verdict).max().unwrap_or(Verdict::Error),
        failed_checks: runs.iter().flat_map(|r| r.failed_checks.clone()).collect(),
        duration_ms: runs.iter().map(|r| r.duration_ms).sum(),
        error: None,
        expectation: None,
        checks: vec![],
        runs,
        artifacts: Artifacts::for_dir(&dir),
        first_bad: None,
        rerun: None,
    }
}

/// What `expectations.toml` says of `scenario` on every version.
pub fn expectation(scenario: &str, outcome: ExpectedOutcome, issue: Option<&str>, reason: Option<&str>) -> Expectation {
    Expectation {
        scenario: scenario.into(),
        versions: vec!["*".into()],
        outcome,
        failing_checks: vec![],
        issue: issue.map(str::to_string),
        reason: reason.map(str::to_string),
    }
}

/// An EXPECTED-FAIL cell of scenario `s` on 1.0.0 whose expectation names `issue` and
/// `reason`.
pub fn expected_fail(issue: Option<&str>, reason: Option<&str>) -> CellReport {
    let mut c = cell("s", "1.0.0", Outcome::ExpectedFail);
    c.expectation = Some(expectation("s", ExpectedOutcome::Fail, issue, reason));
    c
}

/// A failing check with `witnesses` witness lines, `event 0`, `event 1`, ...
pub fn failed_check(name: &str, message: &str, witnesses: usize) -> CheckReport {
    CheckReport {
        check: name.into(),
        verdict: Verdict::Fail,
        message: message.into(),
        witness: (0..witnesses)
            .map(|i| WitnessEntry {
                seq: i as u64,
                at_ms: i as f64,
                what: format!("event {i}"),
            })
            .collect(),
    }
}

/// The run of one FAIL cell, `s` on 1.0.0, whose first run failed one check per entry of
/// `witness_counts`, each with that many witness lines.
pub fn fail_with_witnesses(witness_counts: &[usize]) -> ResultsDoc {
    let mut c = cell("s", "1.0.0", Outcome::Fail);
    c.checks = witness_counts.iter().map(|&n| failed_check(&format!("w{n}"), "m", n)).collect();
    doc(&["1.0.0"], &["s"], vec![c])
}

/// A finished run of `versions` x `scenarios` holding `results`.
pub fn doc(versions: &[&str], scenarios: &[&str], results: Vec<CellReport>) -> ResultsDoc {
    ResultsDoc {
        format_version: super::model::RESULTS_FORMAT_VERSION,
        tool: "oc-conform 0.1.0".into(),
        started_at: "2026-11-21T10:55:04Z".into(),
        finished_at: "2026-11-21T10:57:31Z".into(),
        interrupted: false,
        partition: None,
        versions: versions.iter().map(|s| s.to_string()).collect(),
        local_builds: Default::default(),
        scenarios: scenarios.iter().map(|s| s.to_string()).collect(),
        results,
        gate: None,
        attached_to: None,
        skipped: vec![],
        interface_changes: None,
    }
}
