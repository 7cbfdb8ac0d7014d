//! What a failing case is, independent of the case: its fingerprint (the set of checks
//! that failed), and whether that failure is one `expectations.toml` already knows.
//!
//! The rule (documented in docs/explore.md): a known failure is *contained* in a
//! fingerprint when, of the checks its scenario runs, exactly its failing checks fail.
//! It *explains* its failing checks, and the checks its scenario does not run that a
//! failure of one of its failing checks brings with it ([`consequences`]). A fingerprint
//! is known when every check in it is explained by a known failure contained in it.

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

/// The checks a failure of `check` brings with it when a case runs them: the same
/// misbehaviour seen from another side. A session that never gets back to idle
/// (`status-reaches-idle`) makes a turn whose idles do not pair with its busy, activity
/// after whatever idle was published, a tool that outlives it and is not ended aborted; an
/// idle event the status does not confirm (a phantom idle) is a second idle of its busy
/// and has activity after it; a tool that outlives the idle is activity after it and was
/// not aborted; a permission reply that does not take effect leaves the turn stuck as a
/// session that never gets back to idle does. A duplicate idle (`one-idle-per-busy`), a
/// plugin that did not report, an untyped error explain nothing but themselves.
pub fn consequences(check: &str) -> &'static [&'static str] {
    match check {
        "status-reaches-idle" => &[
            "idle-event-matches-status",
            "one-idle-per-busy",
            "quiet-after-idle",
            "idle-has-no-tool-process",
            "tool-ends-aborted",
        ],
        "permission-reply-takes-effect" => &[
            "status-reaches-idle",
            "idle-event-matches-status",
            "one-idle-per-busy",
            "quiet-after-idle",
        ],
        "idle-event-matches-status" => &["one-idle-per-busy", "quiet-after-idle"],
        "idle-has-no-tool-process" => &["quiet-after-idle", "tool-ends-aborted"],
        _ => &[],
    }
}

impl KnownFailure {
    /// `fp` fails this way, as far as this scenario's checks can tell: of the checks it
    /// runs, exactly its known ones fail.
    pub fn matches(&self, fp: &Fingerprint) -> bool {
        !self.failing.is_empty() && fp.0.intersection(&self.checks).cloned().collect::<BTreeSet<_>>() == self.failing
    }

    /// The checks of `fp` this failure explains, when it is contained in `fp` (none
    /// otherwise): its failing checks, and their consequences its scenario does not run
    /// (one it runs and saw pass cannot be its consequence).
    pub fn explains(&self, fp: &Fingerprint) -> BTreeSet<String> {
        if !self.matches(fp) {
            return BTreeSet::new();
        }
        let brought: BTreeSet<&str> = self.failing.iter().flat_map(|c| consequences(c).iter().copied()).collect();
        fp.0.iter()
            .filter(|c| self.failing.contains(*c) || (brought.contains(c.as_str()) && !self.checks.contains(*c)))
            .cloned()
            .collect()
    }
}

/// A fingerprint made of known failures only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognition<'a> {
    /// The known failures contained in the fingerprint that explain some of it.
    pub known: Vec<&'a KnownFailure>,
    /// The checks explained only as consequences (no contained known failure fails them
    /// itself), for the report: the known failure showing through checks its scenario
    /// does not run.
    pub consequences: BTreeSet<String>,
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

/// What known failures `fp` is made of, when every check in it is explained by one (see
/// the module's rule); none: a new finding.
pub fn recognise<'a>(fp: &Fingerprint, known: &'a [KnownFailure]) -> Option<Recognition<'a>> {
    let explaining: Vec<(&KnownFailure, BTreeSet<String>)> =
        known.iter().map(|k| (k, k.explains(fp))).filter(|(_, e)| !e.is_empty()).collect();
    let explained: BTreeSet<&String> = explaining.iter().flat_map(|(_, e)| e.iter()).collect();
    if fp.is_empty() || !fp.0.iter().all(|c| explained.contains(c)) {
        return None;
    }
    let failed_by_one: BTreeSet<&String> = explaining.iter().flat_map(|(k, _)| k.failing.iter()).collect();
    Some(Recognition {
        known: explaining.iter().map(|(k, _)| *k).collect(),
        consequences: fp.0.iter().filter(|c| !failed_by_one.contains(c)).cloned().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &[&str]) -> BTreeSet<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn fp(s: &[&str]) -> Fingerprint {
        Fingerprint(set(s))
    }

    /// The two known `ctx.client` failures of 1.15.13 and the duplicate idle, as
    /// expectations.toml and their scenarios' checks make them.
    fn known_on_1_15_13() -> Vec<KnownFailure> {
        vec![
            known(
                "abort-plugin-client",
                &["idle-event-matches-status", "idle-has-no-tool-process", "quiet-after-idle", "status-reaches-idle", "tool-ends-aborted"],
                &["plugin-reported"],
            ),
            known(
                "permission-reply-plugin-client",
                &["idle-event-matches-status", "permission-reply-takes-effect", "plugin-reported", "status-reaches-idle"],
                &[],
            ),
            known("abort-idle-once", &["one-idle-per-busy"], &[]),
        ]
    }

    fn known(name: &str, failing: &[&str], also_runs: &[&str]) -> KnownFailure {
        let failing = set(failing);
        let mut checks = failing.clone();
        checks.extend(set(also_runs));
        KnownFailure {
            scenario: name.into(),
            issue: None,
            failing,
            checks,
        }
    }

    fn names<'a>(r: &'a Option<Recognition<'a>>) -> Vec<&'a str> {
        r.as_ref().map(|r| r.known.iter().map(|k| k.scenario.as_str()).collect()).unwrap_or_default()
    }

    #[test]
    fn exactly_a_known_failure_is_known() {
        let all = known_on_1_15_13();
        let apc = fp(&["idle-event-matches-status", "idle-has-no-tool-process", "quiet-after-idle", "status-reaches-idle", "tool-ends-aborted"]);
        let r = recognise(&apc, &all);
        assert_eq!(names(&r), ["abort-plugin-client"]);
        assert!(r.unwrap().consequences.is_empty());
        // Two known failures side by side.
        let mut both = apc.clone();
        both.0.insert("one-idle-per-busy".into());
        assert!(recognise(&both, &all).is_some());
        assert_eq!(both.to_string(), "idle-event-matches-status+idle-has-no-tool-process+one-idle-per-busy+quiet-after-idle+status-reaches-idle+tool-ends-aborted");
    }

    #[test]
    fn a_known_failure_explains_its_consequences_its_scenario_does_not_run() {
        let all = known_on_1_15_13();
        // The plugin client's reply that does not take effect, seen also by the duplicate
        // idle and quiet checks its scenario does not run (measured on 1.15.13).
        let prpc = fp(&[
            "idle-event-matches-status",
            "one-idle-per-busy",
            "permission-reply-takes-effect",
            "plugin-reported",
            "quiet-after-idle",
            "status-reaches-idle",
        ]);
        let r = recognise(&prpc, &all).expect("known");
        assert!(names(&Some(r.clone())).contains(&"permission-reply-plugin-client"));
        // one-idle-per-busy is also abort-idle-once's own failing check: only quiet-after-idle
        // is explained by consequence alone.
        assert_eq!(r.consequences, set(&["quiet-after-idle"]));
        // Without the duplicate idle being known, it is a consequence too.
        let r = recognise(&prpc, &all[..2]).expect("known");
        assert_eq!(r.consequences, set(&["one-idle-per-busy", "quiet-after-idle"]));
    }

    #[test]
    fn what_no_contained_known_failure_explains_is_new() {
        let all = known_on_1_15_13();
        let apc = ["idle-event-matches-status", "idle-has-no-tool-process", "quiet-after-idle", "status-reaches-idle", "tool-ends-aborted"];
        // Not a consequence of anything abort-plugin-client fails.
        let typed = fp(&[&apc[..], &["errors-are-typed"]].concat());
        assert!(recognise(&typed, &all).is_none());
        // A check its scenario runs and saw pass: it is not contained.
        let reported = fp(&[&apc[..], &["plugin-reported"]].concat());
        assert!(recognise(&reported, &all).is_none());
        // Part of a known failure only.
        assert!(recognise(&fp(&["status-reaches-idle"]), &all).is_none());
        // A duplicate idle explains nothing but itself: a session stuck busy beside it is new.
        assert!(recognise(&fp(&["one-idle-per-busy", "status-reaches-idle"]), &all).is_none());
        // A consequence the known failure's scenario runs (and saw pass) is not its own.
        let k = [known("k", &["status-reaches-idle"], &["quiet-after-idle"])];
        assert!(recognise(&fp(&["quiet-after-idle", "status-reaches-idle"]), &k).is_none());
        let k = [known("k", &["status-reaches-idle"], &[])];
        assert!(recognise(&fp(&["quiet-after-idle", "status-reaches-idle"]), &k).is_some());
        // Something nobody knows.
        assert!(recognise(&fp(&["errors-are-typed"]), &all).is_none());
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
