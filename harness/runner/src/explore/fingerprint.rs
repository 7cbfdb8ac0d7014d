//! What a failing case is, independent of the case: its fingerprint (the set of checks
//! that failed), and whether that failure is one `expectations.toml` already knows.

use oc_conform_scenario::{ExpectedOutcome, Expectations};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The checks a failing case failed, sorted; written joined by `+` as `bisect` and
/// `run --fingerprint` write them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Fingerprint(pub BTreeSet<String>);

impl Fingerprint {
    pub fn of<S: AsRef<str>>(failed: &[S]) -> Fingerprint {
        Fingerprint(failed.iter().map(|s| s.as_ref().to_string()).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v: Vec<&str> = self.0.iter().map(String::as_str).collect();
        f.write_str(&v.join("+"))
    }
}

/// A known failure on the explored release: a scenario's expected failing checks, and
/// the checks that scenario runs (what it can tell apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownFailure {
    pub scenario: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<String>,
    pub failing: BTreeSet<String>,
    pub checks: BTreeSet<String>,
}

impl KnownFailure {
    /// `fp` fails this way, as far as this scenario's checks can tell: of the checks it
    /// runs, exactly its known ones fail.
    pub fn matches(&self, fp: &Fingerprint) -> bool {
        !self.failing.is_empty() && fp.0.intersection(&self.checks).cloned().collect::<BTreeSet<_>>() == self.failing
    }
}

/// The expected failures that hold on `version`; `checks_of` names the checks a scenario
/// runs (none: the scenario is not in the catalogue, so only its failing checks count).
pub fn known_failures(
    expectations: &Expectations,
    version: &str,
    checks_of: impl Fn(&str) -> Option<Vec<String>>,
) -> Vec<KnownFailure> {
    expectations
        .entries
        .iter()
        .filter(|e| e.outcome == ExpectedOutcome::Fail && e.matches_version(version) && !e.failing_checks.is_empty())
        .map(|e| {
            let failing: BTreeSet<String> = e.failing_checks.iter().cloned().collect();
            let mut checks: BTreeSet<String> = checks_of(&e.scenario).unwrap_or_default().into_iter().collect();
            checks.extend(failing.iter().cloned());
            KnownFailure {
                scenario: e.scenario.clone(),
                issue: e.issue.clone(),
                failing,
                checks,
            }
        })
        .collect()
}

/// The known failures `fp` is made of, when it is made of known failures only: each
/// matching one (see [`KnownFailure::matches`]) and together covering every failed check.
/// Empty: a new finding.
pub fn recognise<'a>(fp: &Fingerprint, known: &'a [KnownFailure]) -> Vec<&'a KnownFailure> {
    let matching: Vec<&KnownFailure> = known.iter().filter(|k| k.matches(fp)).collect();
    let covered: BTreeSet<&String> = matching.iter().flat_map(|k| k.failing.iter()).collect();
    if !fp.is_empty() && fp.0.iter().all(|c| covered.contains(c)) {
        matching
    } else {
        vec![]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &[&str]) -> BTreeSet<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn known(name: &str, failing: &[&str], checks: &[&str]) -> KnownFailure {
        KnownFailure {
            scenario: name.into(),
            issue: None,
            failing: set(failing),
            checks: set(checks),
        }
    }

    #[test]
    fn a_known_failure_is_recognised_through_the_checks_its_scenario_runs() {
        let apc = known(
            "abort-plugin-client",
            &["idle-event-matches-status", "status-reaches-idle", "tool-ends-aborted"],
            &["plugin-reported", "idle-event-matches-status", "status-reaches-idle", "tool-ends-aborted"],
        );
        let idle_once = known("abort-idle-once", &["one-idle-per-busy"], &["one-idle-per-busy"]);
        let all = [apc.clone(), idle_once];
        // The same failure plus a check the scenario does not run, which another known covers.
        let fp = Fingerprint(set(&["idle-event-matches-status", "one-idle-per-busy", "status-reaches-idle", "tool-ends-aborted"]));
        let r = recognise(&fp, &all);
        assert_eq!(r.len(), 2);
        // Part of it only: another failure.
        let partial = Fingerprint(set(&["status-reaches-idle"]));
        assert!(recognise(&partial, &all).is_empty());
        // A check failing that its scenario runs and expects to pass: another failure.
        let more = Fingerprint(set(&["idle-event-matches-status", "plugin-reported", "status-reaches-idle", "tool-ends-aborted"]));
        assert!(recognise(&more, &all).is_empty());
        // Something nobody knows.
        assert!(recognise(&Fingerprint(set(&["errors-are-typed"])), &all).is_empty());
        assert_eq!(fp.to_string(), "idle-event-matches-status+one-idle-per-busy+status-reaches-idle+tool-ends-aborted");
    }

    #[test]
    fn only_failures_expected_on_the_release_count() {
        let text = r#"format_version = 1
[[expect]]
scenario = "a"
versions = [">=1.14.42, <1.17.7"]
outcome = "fail"
failing_checks = ["x"]
[[expect]]
scenario = "b"
versions = ["*"]
outcome = "flaky"
"#;
        let e = Expectations::parse(text, std::path::Path::new("e.toml")).unwrap();
        assert_eq!(known_failures(&e, "1.15.13", |_| None).len(), 1);
        assert!(known_failures(&e, "1.18.34", |_| None).is_empty());
    }
}
