//! Verdicts: what a check concluded and what a whole scenario run concluded.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// No verdict could be reached: install, start or infrastructure failure, a check
    /// without the observations it needs. Never counted as a pass.
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        }
    }
}

/// What one check concluded, with the entries (by `seq`) that show why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckResult {
    pub check: String,
    pub verdict: Verdict,
    pub message: String,
    /// The few timeline entries that show the failure (or that it could not be judged).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witness: Vec<u64>,
}

impl CheckResult {
    pub fn pass(check: &str, message: impl Into<String>) -> Self {
        CheckResult {
            check: check.into(),
            verdict: Verdict::Pass,
            message: message.into(),
            witness: vec![],
        }
    }
    pub fn fail(check: &str, message: impl Into<String>, witness: Vec<u64>) -> Self {
        CheckResult {
            check: check.into(),
            verdict: Verdict::Fail,
            message: message.into(),
            witness,
        }
    }
    pub fn error(check: &str, message: impl Into<String>) -> Self {
        CheckResult {
            check: check.into(),
            verdict: Verdict::Error,
            message: message.into(),
            witness: vec![],
        }
    }
}

/// The scenario's verdict from its checks: any fail -> fail (a check showed a
/// contradiction, with a witness; checks that could not judge are often blinded by that
/// same failure, e.g. no idle to judge because the session stayed busy), else any error
/// -> error, else pass. No checks at all is an error: a scenario that judges nothing
/// must not pass.
pub fn combine(results: &[CheckResult]) -> Verdict {
    if results.is_empty() {
        return Verdict::Error;
    }
    if results.iter().any(|r| r.verdict == Verdict::Fail) {
        Verdict::Fail
    } else if results.iter().any(|r| r.verdict == Verdict::Error) {
        Verdict::Error
    } else {
        Verdict::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_decides_an_error_blocks_a_pass_nothing_is_an_error() {
        let p = CheckResult::pass("a", "");
        let f = CheckResult::fail("b", "", vec![]);
        let e = CheckResult::error("c", "");
        assert_eq!(combine(&[]), Verdict::Error);
        assert_eq!(combine(std::slice::from_ref(&p)), Verdict::Pass);
        assert_eq!(combine(&[p.clone(), e.clone()]), Verdict::Error);
        assert_eq!(combine(&[e, f, p]), Verdict::Fail);
    }

    #[test]
    fn each_verdict_is_spelled_as_results_json_spells_it() {
        for v in [Verdict::Pass, Verdict::Fail, Verdict::Error] {
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str(), "{v:?}");
        }
        assert_eq!(Verdict::Error.as_str(), "error");
    }
}
