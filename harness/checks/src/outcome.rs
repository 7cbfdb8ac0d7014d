//! Outcomes: a scenario's verdicts on one version (one run, or several with `--repeat`
//! and retries) compared with what `expectations.toml` says of it. This is what a CI
//! gate decides on.

use crate::Verdict;
use oc_conform_scenario::{Expectation, ExpectedOutcome};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
pub enum Outcome {
    /// Passed, as expected.
    Pass,
    /// Failed, and no expectation covers it: a regression.
    Fail,
    /// Failed the known way (expectations.toml).
    ExpectedFail,
    /// Expected to fail, passed: the bug may be fixed (fails the gate only with --strict).
    UnexpectedPass,
    /// Passed and failed across runs.
    Flaky,
    /// The scenario's deadline passed: no verdict.
    Timeout,
    /// No verdict: install, start, infrastructure, or checks that could not judge.
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::ExpectedFail => "EXPECTED-FAIL",
            Outcome::UnexpectedPass => "UNEXPECTED-PASS",
            Outcome::Flaky => "FLAKY",
            Outcome::Timeout => "TIMEOUT",
            Outcome::Error => "ERROR",
        }
    }

    /// Whether this outcome, as classified, is what the expectations said.
    pub fn is_expected(self, flaky_declared: bool) -> bool {
        match self {
            Outcome::Pass | Outcome::ExpectedFail => true,
            Outcome::Flaky => flaky_declared,
            _ => false,
        }
    }
}

/// What one run of a scenario concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunVerdict {
    pub verdict: Verdict,
    pub failed_checks: Vec<String>,
    pub timed_out: bool,
}

/// Classifies the runs of one scenario on one version. Any run without a verdict makes
/// the whole ERROR (or TIMEOUT): a verdict that could not be reached is never hidden
/// behind another run's pass.
pub fn classify(runs: &[RunVerdict], expectation: Option<&Expectation>) -> Outcome {
    if runs.is_empty() {
        return Outcome::Error;
    }
    if runs.iter().any(|r| r.verdict == Verdict::Error) {
        return if runs.iter().any(|r| r.timed_out) {
            Outcome::Timeout
        } else {
            Outcome::Error
        };
    }
    let passes = runs.iter().filter(|r| r.verdict == Verdict::Pass).count();
    if passes > 0 && passes < runs.len() {
        return Outcome::Flaky;
    }
    let expected = expectation.map(|e| e.outcome);
    if passes == runs.len() {
        return match expected {
            Some(ExpectedOutcome::Fail) => Outcome::UnexpectedPass,
            _ => Outcome::Pass,
        };
    }
    match expectation {
        Some(e) if e.outcome == ExpectedOutcome::Flaky => Outcome::Flaky,
        Some(e) if fails_the_known_way(runs, e) => Outcome::ExpectedFail,
        _ => Outcome::Fail,
    }
}

/// Every failed check of every run is one the expectation names (or it names none).
fn fails_the_known_way(runs: &[RunVerdict], e: &Expectation) -> bool {
    e.failing_checks.is_empty()
        || runs
            .iter()
            .flat_map(|r| &r.failed_checks)
            .all(|c| e.failing_checks.contains(c))
}

/// What a whole run means for a CI gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Every outcome as expected.
    Ok,
    /// An unexpected failure (or, with `strict`, an unexpected pass or undeclared flake).
    Regression,
    /// Some scenario reached no verdict (and nothing regressed).
    NoVerdict,
}

/// `outcomes`: each outcome with whether its flakiness was declared.
pub fn gate(outcomes: &[(Outcome, bool)], strict: bool) -> Gate {
    let regression = outcomes.iter().any(|(o, declared)| match o {
        Outcome::Fail => true,
        Outcome::UnexpectedPass => strict,
        Outcome::Flaky => strict && !declared,
        _ => false,
    });
    if regression {
        Gate::Regression
    } else if outcomes
        .iter()
        .any(|(o, _)| matches!(o, Outcome::Error | Outcome::Timeout))
    {
        Gate::NoVerdict
    } else {
        Gate::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(v: Verdict, failed: &[&str]) -> RunVerdict {
        RunVerdict {
            verdict: v,
            failed_checks: failed.iter().map(|s| s.to_string()).collect(),
            timed_out: false,
        }
    }

    fn expect(outcome: ExpectedOutcome, checks: &[&str]) -> Expectation {
        Expectation {
            scenario: "s".into(),
            versions: vec!["*".into()],
            outcome,
            failing_checks: checks.iter().map(|s| s.to_string()).collect(),
            issue: None,
            reason: None,
        }
    }

    #[test]
    fn known_failures_unexpected_passes_and_new_failures() {
        let known = expect(ExpectedOutcome::Fail, &["a"]);
        let pass = run(Verdict::Pass, &[]);
        let fail_a = run(Verdict::Fail, &["a"]);
        let fail_b = run(Verdict::Fail, &["a", "b"]);
        assert_eq!(classify(std::slice::from_ref(&pass), None), Outcome::Pass);
        assert_eq!(classify(std::slice::from_ref(&fail_a), None), Outcome::Fail);
        assert_eq!(classify(std::slice::from_ref(&fail_a), Some(&known)), Outcome::ExpectedFail);
        assert_eq!(classify(&[fail_b], Some(&known)), Outcome::Fail, "another check failing is a regression");
        assert_eq!(classify(std::slice::from_ref(&pass), Some(&known)), Outcome::UnexpectedPass);
        assert_eq!(classify(&[pass, fail_a], Some(&known)), Outcome::Flaky);
    }

    #[test]
    fn a_declared_flake_that_failed_every_run_is_flaky() {
        let flaky = expect(ExpectedOutcome::Flaky, &[]);
        let runs = [run(Verdict::Fail, &["a"]), run(Verdict::Fail, &["a"])];
        assert_eq!(classify(&runs, Some(&flaky)), Outcome::Flaky);
        assert_eq!(classify(&runs[..1], Some(&flaky)), Outcome::Flaky);
    }

    #[test]
    fn no_verdict_is_never_hidden() {
        let mut t = run(Verdict::Error, &[]);
        assert_eq!(classify(&[run(Verdict::Pass, &[]), t.clone()], None), Outcome::Error);
        t.timed_out = true;
        assert_eq!(classify(&[t], None), Outcome::Timeout);
        assert_eq!(classify(&[], None), Outcome::Error);
    }

    #[test]
    fn the_gate() {
        use Outcome::*;
        assert_eq!(gate(&[(Pass, false), (ExpectedFail, false)], false), Gate::Ok);
        assert_eq!(gate(&[(Pass, false), (Fail, false), (Error, false)], false), Gate::Regression);
        assert_eq!(gate(&[(Pass, false), (Timeout, false)], false), Gate::NoVerdict);
        assert_eq!(gate(&[(UnexpectedPass, false)], false), Gate::Ok);
        assert_eq!(gate(&[(UnexpectedPass, false)], true), Gate::Regression);
        assert_eq!(gate(&[(Flaky, false)], true), Gate::Regression);
        assert_eq!(gate(&[(Flaky, true)], true), Gate::Ok);
    }

    const ALL: [Outcome; 7] = [
        Outcome::Pass,
        Outcome::Fail,
        Outcome::ExpectedFail,
        Outcome::UnexpectedPass,
        Outcome::Flaky,
        Outcome::Timeout,
        Outcome::Error,
    ];

    #[test]
    fn each_outcome_is_spelled_as_results_json_spells_it() {
        for o in ALL {
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str(), "{o:?}");
        }
        assert_eq!(Outcome::UnexpectedPass.as_str(), "UNEXPECTED-PASS");
    }

    #[test]
    fn expected_outcomes_are_pass_known_failures_and_declared_flakes() {
        use Outcome::*;
        for o in ALL {
            for declared in [false, true] {
                let want = match o {
                    Pass | ExpectedFail => true,
                    Flaky => declared,
                    Fail | UnexpectedPass | Timeout | Error => false,
                };
                assert_eq!(o.is_expected(declared), want, "{o:?}, flaky declared: {declared}");
            }
        }
    }

    fn verdict() -> impl Strategy<Value = Verdict> {
        prop_oneof![Just(Verdict::Pass), Just(Verdict::Fail), Just(Verdict::Error)]
    }

    proptest! {
        /// A PASS outcome needs every run to pass; an ERROR in any run is never PASS.
        #[test]
        fn pass_needs_every_run_to_pass(vs in proptest::collection::vec(verdict(), 1..6), known in any::<bool>()) {
            let runs: Vec<RunVerdict> = vs.iter().map(|v| run(*v, &["a"])).collect();
            let e = expect(ExpectedOutcome::Fail, &[]);
            let o = classify(&runs, known.then_some(&e));
            if o == Outcome::Pass || o == Outcome::UnexpectedPass {
                prop_assert!(vs.iter().all(|v| *v == Verdict::Pass));
            }
            if vs.contains(&Verdict::Error) {
                prop_assert!(matches!(o, Outcome::Error | Outcome::Timeout));
            }
        }
    }
}
