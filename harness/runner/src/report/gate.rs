//! The gate: what a whole run means for a CI job, decided once, stored in `results.json`
//! and rendered the same way by every reporter (terminal, summary, HTML, JUnit) and by the
//! exit code. The exit codes are documented in the README; a CI job branches on them.

use super::model::CellReport;
use crate::bisect::{self, Fingerprint, ProbeResult};
use oc_conform_checks::outcome::{gate, Gate, Outcome};
use serde::{Deserialize, Serialize};

/// The exit codes of every command.
pub mod exit {
    /// Every outcome as expected.
    pub const OK: u8 = 0;
    /// A regression: some scenario failed.
    pub const REGRESSION: u8 = 1;
    /// The run could not reach a verdict (install, start, infrastructure).
    pub const INFRA: u8 = 2;
    /// Usage or input error (bad flags, a malformed scenario file, an unknown scenario).
    pub const USAGE: u8 = 64;
    /// Interrupted by SIGINT / SIGTERM (128 + signal).
    pub const SIGINT: u8 = 130;
    pub const SIGTERM: u8 = 143;
    /// `run --exit-code bisect` only: this build cannot be judged (no verdict: install,
    /// start, timeout; or it fails another way than `--fingerprint`). `git bisect run`
    /// skips it.
    pub const BISECT_SKIP: u8 = 125;
    /// `run --exit-code bisect` only: a usage error, the same on every commit; codes of
    /// 128 and above make `git bisect run` stop instead of marking commits bad.
    pub const BISECT_ABORT: u8 = 128;
}

/// What the exit code reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ExitMode {
    /// The CI gate: 0 as expected, 1 regression, 2 no verdict.
    #[default]
    Gate,
    /// For `git bisect run`: 0 pass, 1 fails (the `--fingerprint` way), 125 cannot decide;
    /// expectations ignored.
    Bisect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Every outcome as expected (bisect mode: the build is good).
    Ok,
    /// A regression (bisect mode: the build is bad).
    Regression,
    /// No verdict (bisect mode: skip this build).
    NoVerdict,
}

/// The one decision of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateDecision {
    pub mode: ExitMode,
    /// Unexpected passes and undeclared flakes count as regressions.
    pub strict: bool,
    pub decision: Decision,
    pub exit_code: u8,
    /// What every report puts first: `all as expected`, `REGRESSION`, `NO VERDICT`, with
    /// what made it so under `--strict`.
    pub headline: String,
    /// The cells that decided it (`scenario (version): OUTCOME`), regressions first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub because: Vec<String>,
}

/// Whether `cell` counts against the gate.
pub fn fails_gate(cell: &CellReport, strict: bool) -> bool {
    match cell.outcome {
        Outcome::Fail => true,
        Outcome::UnexpectedPass => strict,
        Outcome::Flaky => strict && !cell.flaky_declared(),
        _ => false,
    }
}

fn label(c: &CellReport) -> String {
    format!("{} ({}): {}", c.scenario, c.opencode_version, c.outcome.as_str())
}

/// The CI gate over `results`.
pub fn decide(results: &[CellReport], strict: bool) -> GateDecision {
    let outcomes: Vec<(Outcome, bool)> = results.iter().map(|c| (c.outcome, c.flaky_declared())).collect();
    let (decision, exit_code) = match gate(&outcomes, strict) {
        Gate::Ok => (Decision::Ok, exit::OK),
        Gate::Regression => (Decision::Regression, exit::REGRESSION),
        Gate::NoVerdict => (Decision::NoVerdict, exit::INFRA),
    };
    let failing: Vec<&CellReport> = results.iter().filter(|c| fails_gate(c, strict)).collect();
    let no_verdict: Vec<&CellReport> = results
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Error | Outcome::Timeout))
        .collect();
    let strict_only = failing.iter().filter(|c| !fails_gate(c, false)).count();
    let headline = match decision {
        Decision::Ok if results.is_empty() => "no results".to_string(),
        Decision::Ok => "all as expected".to_string(),
        Decision::Regression if strict_only == failing.len() => format!(
            "REGRESSION (--strict: {strict_only} unexpected pass{} or undeclared flaky)",
            if strict_only == 1 { "" } else { "es" }
        ),
        Decision::Regression => "REGRESSION".to_string(),
        Decision::NoVerdict => "NO VERDICT".to_string(),
    };
    let because = failing.iter().chain(&no_verdict).map(|c| label(c)).collect();
    GateDecision {
        mode: ExitMode::Gate,
        strict,
        decision,
        exit_code,
        headline,
        because,
    }
}

/// `run --exit-code bisect`: what the run's cells mean to `git bisect run`. Ignores the
/// expectations: a known failure is still a failure.
pub fn decide_bisect(results: &[CellReport], fingerprint: Option<&Fingerprint>) -> GateDecision {
    let (decision, exit_code, headline) = match bisect::judge_cells(results, fingerprint) {
        ProbeResult::Good => (Decision::Ok, exit::OK, "GOOD (every scenario passed)"),
        ProbeResult::Bad => (Decision::Regression, exit::REGRESSION, "BAD (fails the bisected way)"),
        ProbeResult::Skip => (Decision::NoVerdict, exit::BISECT_SKIP, "SKIP (cannot decide this build)"),
    };
    GateDecision {
        mode: ExitMode::Bisect,
        strict: false,
        decision,
        exit_code,
        headline: headline.to_string(),
        because: results
            .iter()
            .filter(|c| c.outcome != Outcome::Pass)
            .map(label)
            .collect(),
    }
}

/// The exit code of a run that could not take place: in bisect mode a usage error would
/// be wrong for every commit, so it aborts `git bisect run` (128); anything else cannot
/// decide this build (125); interrupts stay as they are (they abort it too).
pub fn error_exit_code(mode: ExitMode, code: u8) -> u8 {
    match (mode, code) {
        (ExitMode::Gate, c) => c,
        (ExitMode::Bisect, c) if c == exit::USAGE => exit::BISECT_ABORT,
        (ExitMode::Bisect, c) if c == exit::SIGINT || c == exit::SIGTERM => c,
        (ExitMode::Bisect, _) => exit::BISECT_SKIP,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{Artifacts, RunReport};
    use oc_conform_checks::Verdict;
    use oc_conform_scenario::{Expectation, ExpectedOutcome};

    /// A cell of `outcome` with runs that agree with it; `expected`: what expectations.toml
    /// said of it.
    fn cell(scenario: &str, outcome: Outcome, expected: Option<ExpectedOutcome>) -> CellReport {
        let run = |verdict: Verdict, failed: &[&str], timed_out: bool| RunReport {
            verdict,
            failed_checks: failed.iter().map(|s| s.to_string()).collect(),
            duration_ms: 10,
            timed_out,
            error: None,
            dir: format!("1.0.0/{scenario}"),
        };
        let runs = match outcome {
            Outcome::Pass | Outcome::UnexpectedPass => vec![run(Verdict::Pass, &[], false)],
            Outcome::Fail | Outcome::ExpectedFail => vec![run(Verdict::Fail, &["a"], false)],
            Outcome::Flaky => vec![run(Verdict::Pass, &[], false), run(Verdict::Fail, &["a"], false)],
            Outcome::Timeout => vec![run(Verdict::Error, &[], true)],
            Outcome::Error => vec![run(Verdict::Error, &[], false)],
        };
        CellReport {
            scenario: scenario.into(),
            opencode_version: "1.0.0".into(),
            outcome,
            verdict: runs.iter().map(|r| r.verdict).max().unwrap_or(Verdict::Error),
            failed_checks: runs.iter().flat_map(|r| r.failed_checks.clone()).collect(),
            duration_ms: 10,
            error: None,
            expectation: expected.map(|outcome| Expectation {
                scenario: scenario.into(),
                versions: vec!["*".into()],
                outcome,
                failing_checks: vec![],
                issue: None,
                reason: None,
            }),
            checks: vec![],
            runs,
            artifacts: Artifacts::for_dir(&format!("1.0.0/{scenario}")),
            first_bad: None,
            rerun: None,
        }
    }

    #[test]
    fn only_failures_fail_the_gate_and_strict_adds_surprises() {
        use Outcome::*;
        let plain = [Pass, ExpectedFail, Timeout, Error, UnexpectedPass, Flaky];
        for o in plain {
            assert!(!fails_gate(&cell("s", o, None), false), "{o:?} fails the gate without --strict");
        }
        assert!(fails_gate(&cell("s", Fail, None), false));
        assert!(fails_gate(&cell("s", Fail, None), true));
        assert!(fails_gate(&cell("s", UnexpectedPass, Some(ExpectedOutcome::Fail)), true));
        assert!(fails_gate(&cell("s", Flaky, None), true), "an undeclared flake under --strict");
        assert!(!fails_gate(&cell("s", Flaky, Some(ExpectedOutcome::Flaky)), true), "a declared flake");
        for o in [Pass, ExpectedFail, Timeout, Error] {
            assert!(!fails_gate(&cell("s", o, None), true), "{o:?} fails the gate under --strict");
        }
    }

    #[test]
    fn every_decision_has_its_exit_code_headline_and_cells() {
        use Outcome::*;
        let ok = decide(&[cell("a", Pass, None), cell("b", ExpectedFail, Some(ExpectedOutcome::Fail))], false);
        assert_eq!((ok.decision, ok.exit_code, ok.headline.as_str()), (Decision::Ok, exit::OK, "all as expected"));
        assert!(ok.because.is_empty(), "{:?}", ok.because);
        assert_eq!((ok.mode, ok.strict), (ExitMode::Gate, false));

        let empty = decide(&[], true);
        assert_eq!((empty.decision, empty.exit_code, empty.headline.as_str()), (Decision::Ok, exit::OK, "no results"));
        assert!(empty.strict);

        let bad = decide(&[cell("a", Pass, None), cell("b", Error, None), cell("c", Fail, None)], false);
        assert_eq!((bad.decision, bad.exit_code, bad.headline.as_str()), (Decision::Regression, exit::REGRESSION, "REGRESSION"));
        assert_eq!(bad.because, ["c (1.0.0): FAIL", "b (1.0.0): ERROR"], "regressions first, then no verdicts");

        let none = decide(&[cell("a", Pass, None), cell("t", Timeout, None)], false);
        assert_eq!((none.decision, none.exit_code, none.headline.as_str()), (Decision::NoVerdict, exit::INFRA, "NO VERDICT"));
        assert_eq!(none.because, ["t (1.0.0): TIMEOUT"]);
    }

    #[test]
    fn a_strict_regression_says_what_only_strict_counts() {
        use Outcome::*;
        let one = decide(&[cell("x", UnexpectedPass, Some(ExpectedOutcome::Fail))], true);
        assert_eq!((one.decision, one.exit_code), (Decision::Regression, exit::REGRESSION));
        assert_eq!(one.headline, "REGRESSION (--strict: 1 unexpected pass or undeclared flaky)");
        assert_eq!(one.because, ["x (1.0.0): UNEXPECTED-PASS"]);

        let two = decide(&[cell("x", UnexpectedPass, Some(ExpectedOutcome::Fail)), cell("y", Flaky, None)], true);
        assert_eq!(two.headline, "REGRESSION (--strict: 2 unexpected passes or undeclared flaky)");

        let mixed = decide(&[cell("x", UnexpectedPass, Some(ExpectedOutcome::Fail)), cell("f", Fail, None)], true);
        assert_eq!(mixed.headline, "REGRESSION", "a real failure is not a strict-only regression");
        assert_eq!(mixed.because.len(), 2);

        let lenient = decide(&[cell("x", UnexpectedPass, Some(ExpectedOutcome::Fail))], false);
        assert_eq!((lenient.decision, lenient.exit_code), (Decision::Ok, exit::OK));
    }

    #[test]
    fn bisect_mode_ignores_expectations_and_lists_what_did_not_pass() {
        use Outcome::*;
        let good = decide_bisect(&[cell("a", Pass, None)], None);
        assert_eq!((good.mode, good.decision, good.exit_code), (ExitMode::Bisect, Decision::Ok, exit::OK));
        assert!(good.headline.starts_with("GOOD"), "{}", good.headline);
        assert!(good.because.is_empty());

        let known = decide_bisect(&[cell("a", Pass, None), cell("k", ExpectedFail, Some(ExpectedOutcome::Fail))], None);
        assert_eq!((known.decision, known.exit_code), (Decision::Regression, exit::REGRESSION));
        assert!(known.headline.starts_with("BAD"), "{}", known.headline);
        assert_eq!(known.because, ["k (1.0.0): EXPECTED-FAIL"]);

        let skip = decide_bisect(&[cell("a", Pass, None), cell("e", Error, None)], None);
        assert_eq!((skip.decision, skip.exit_code), (Decision::NoVerdict, exit::BISECT_SKIP));
        assert!(skip.headline.starts_with("SKIP"), "{}", skip.headline);
        assert_eq!(skip.because, ["e (1.0.0): ERROR"]);
    }

    #[test]
    fn a_run_that_could_not_happen_tells_git_bisect_to_skip_or_abort() {
        for code in [exit::USAGE, exit::INFRA, exit::SIGINT, exit::SIGTERM, 3] {
            assert_eq!(error_exit_code(ExitMode::Gate, code), code, "the gate keeps {code}");
        }
        assert_eq!(error_exit_code(ExitMode::Bisect, exit::USAGE), exit::BISECT_ABORT);
        assert_eq!(error_exit_code(ExitMode::Bisect, exit::SIGINT), exit::SIGINT);
        assert_eq!(error_exit_code(ExitMode::Bisect, exit::SIGTERM), exit::SIGTERM);
        assert_eq!(error_exit_code(ExitMode::Bisect, exit::INFRA), exit::BISECT_SKIP);
        assert_eq!(error_exit_code(ExitMode::Bisect, 3), exit::BISECT_SKIP);
    }
}
