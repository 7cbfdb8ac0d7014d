//! Bisecting opencode releases: which release broke a scenario (or fixed it).
//!
//! The pieces, pure first:
//! - [`search`]: the [`Bisector`] state machine over an ordered candidate list, and
//!   [`candidates`] (the registry's versions in the window, from [`crate::releases`]); no I/O.
//! - this module: the [`Fingerprint`] of a failure, [`judge`] (runs -> good/bad/skip) and
//!   [`absent_between`] (which version numbers the registry lacks between two releases).
//! - [`drive`]: the I/O: installs (fetching ahead), probes, artifacts.
//! - [`report`]: `bisect.json` and `bisect.md`.
//!
//! A probe is *bad* only when it fails the same way as the bad end: its failed checks are
//! exactly the bad end's. A probe that fails another way, or reaches no verdict, is
//! *skipped*: reported, not counted, and the search goes on around it.

pub mod drive;
pub mod report;
pub mod search;

pub use search::{BisectResult, Bisector, Direction, EndError, ProbeResult, RecordError, Status};

use crate::report::model::RunReport;
use crate::report::CellReport;
use oc_conform_checks::Verdict;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

// ---------------------------------------------------------------------------------------
// Fingerprint

/// How a scenario failed: the sorted set of its failed checks. Its text form joins them
/// with `+`, e.g. `status-reaches-idle+tool-ends-aborted`, and parses back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Fingerprint(BTreeSet<String>);

impl Fingerprint {
    pub fn new<I, S>(checks: I) -> Fingerprint
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Fingerprint(checks.into_iter().map(Into::into).collect())
    }

    pub fn checks(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<&str> = self.checks().collect();
        f.write_str(&parts.join("+"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fingerprint `{0}`: expected check names joined by `+`, e.g. status-reaches-idle+tool-ends-aborted")]
pub struct FingerprintError(pub String);

impl FromStr for Fingerprint {
    type Err = FingerprintError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('+').map(str::trim).collect();
        if parts.iter().any(|p| p.is_empty() || p.contains(char::is_whitespace)) {
            return Err(FingerprintError(s.to_string()));
        }
        Ok(Fingerprint::new(parts))
    }
}

impl From<Fingerprint> for String {
    fn from(f: Fingerprint) -> String {
        f.to_string()
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = FingerprintError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// The fingerprint of one run, when it failed with a verdict.
pub fn run_fingerprint(run: &RunReport) -> Option<Fingerprint> {
    (run.verdict == Verdict::Fail).then(|| Fingerprint::new(run.failed_checks.iter().cloned()))
}

// ---------------------------------------------------------------------------------------
// Judging a probe

/// A probe's result with the reason, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judgement {
    pub result: ProbeResult,
    pub reason: String,
}

/// Judges a probe's runs against the bad end's fingerprint (`None`: any failure is
/// bad). Bad when any run fails that way; good only when every run passed; otherwise
/// (a failure of another kind, no verdict, a timeout, no runs) skipped.
pub fn judge(runs: &[RunReport], target: Option<&Fingerprint>) -> Judgement {
    let total = runs.len();
    let of = |k: usize| if total > 1 { format!(" in {k} of {total} runs") } else { String::new() };
    if total == 0 {
        return Judgement {
            result: ProbeResult::Skip,
            reason: "no run".into(),
        };
    }
    let fingerprints: Vec<Option<Fingerprint>> = runs.iter().map(run_fingerprint).collect();
    let same = fingerprints
        .iter()
        .flatten()
        .filter(|f| match target {
            Some(t) => t == *f,
            None => true,
        })
        .count();
    if same > 0 {
        let how = match target {
            Some(_) => "failed the same way".to_string(),
            None => format!("failed: {}", fingerprints.iter().flatten().next().map(ToString::to_string).unwrap_or_default()),
        };
        return Judgement {
            result: ProbeResult::Bad,
            reason: format!("{how}{}", of(same)),
        };
    }
    let passes = runs.iter().filter(|r| r.verdict == Verdict::Pass).count();
    if passes == total {
        return Judgement {
            result: ProbeResult::Good,
            reason: if total > 1 { format!("passed all {total} runs") } else { "passed".into() },
        };
    }
    let mut why: Vec<String> = Vec::new();
    let mut others: Vec<String> = fingerprints.iter().flatten().map(ToString::to_string).collect();
    others.sort();
    others.dedup();
    if !others.is_empty() {
        why.push(format!("failed differently: {}", others.join(", ")));
    }
    for r in runs.iter().filter(|r| r.verdict == Verdict::Error) {
        let what = if r.timed_out {
            "timeout".to_string()
        } else {
            let detail = r
                .error
                .as_deref()
                .or_else(|| (!r.failed_checks.is_empty()).then_some("checks could not judge"))
                .unwrap_or("error");
            let line = detail.lines().next().unwrap_or(detail);
            let checks = if r.error.is_none() && !r.failed_checks.is_empty() {
                format!(" ({})", r.failed_checks.join(", "))
            } else {
                String::new()
            };
            format!("no verdict: {}{checks}", truncate(line, 160))
        };
        if !why.contains(&what) {
            why.push(what);
        }
    }
    if passes > 0 {
        why.push(format!("passed {passes} of {total} runs"));
    }
    Judgement {
        result: ProbeResult::Skip,
        reason: why.join("; "),
    }
}

/// What a whole run (every cell) means to `git bisect run`: bad when any cell fails the
/// way `target` says (any failure when `None`), else skip when any cell reached no
/// verdict or failed another way, else good. No cells at all cannot decide.
pub fn judge_cells(cells: &[CellReport], target: Option<&Fingerprint>) -> ProbeResult {
    let results: Vec<ProbeResult> = cells.iter().map(|c| judge(&c.runs, target).result).collect();
    if results.contains(&ProbeResult::Bad) {
        ProbeResult::Bad
    } else if results.is_empty() || results.contains(&ProbeResult::Skip) {
        ProbeResult::Skip
    } else {
        ProbeResult::Good
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(max).collect::<String>())
    }
}

// ---------------------------------------------------------------------------------------
// Candidates

pub use search::{candidates, CandidateError};

// ---------------------------------------------------------------------------------------
// What the registry lacks between two releases

/// The version numbers between two releases that are absent from the candidate list.
/// Within one minor line they can be counted (`1.15.5` to `1.15.12`); across minor or
/// major lines how many releases there were is not knowable from here, so those parts
/// are described (`1.14.x after 1.14.48`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub from: String,
    pub to: String,
    /// The two are consecutive patch releases of one line: nothing in between.
    pub adjacent: bool,
    /// Absent version numbers that can be listed exactly.
    pub absent: Vec<String>,
    /// Absent stretches whose size is unknown, described.
    pub open_ended: Vec<String>,
}

impl Gap {
    /// The absent version numbers, in words: `1.15.5 to 1.15.12 (8 versions)`,
    /// `any 1.14.x after 1.14.48`.
    pub fn absent_parts(&self) -> Vec<String> {
        let mut parts = self.open_ended.clone();
        match self.absent.len() {
            0 => {}
            k if k <= 3 => parts.extend(self.absent.iter().cloned()),
            k => parts.push(format!("{} to {} ({k} versions)", self.absent[0], self.absent[k - 1])),
        }
        parts
    }

    /// One sentence for the terminal and markdown, when `from` and `to` are the last good
    /// and first bad release (or the other way round).
    pub fn describe(&self) -> String {
        if self.adjacent {
            return format!("{} and {} are consecutive releases: the change is exactly between them", self.from, self.to);
        }
        format!(
            "not adjacent: the registry has no release between {} and {}; absent from it there: {}. The change is in one of those or in {}",
            self.from,
            self.to,
            self.absent_parts().join(", "),
            self.to
        )
    }
}

/// What lies between `from` and `to` (`from` < `to`, both releases).
pub fn absent_between(from: &str, to: &str) -> Gap {
    let mut gap = Gap {
        from: from.to_string(),
        to: to.to_string(),
        adjacent: false,
        absent: Vec::new(),
        open_ended: Vec::new(),
    };
    let (Ok(a), Ok(b)) = (semver::Version::parse(from), semver::Version::parse(to)) else {
        gap.open_ended.push(format!("unknown (not semver: {from}, {to})"));
        return gap;
    };
    let listed = |major: u64, minor: u64, lo: u64, hi: u64| -> Vec<String> {
        (lo..hi).map(|p| format!("{major}.{minor}.{p}")).collect()
    };
    if !a.pre.is_empty() || !b.pre.is_empty() || a >= b {
        gap.open_ended.push(format!("pre-releases or builds between {from} and {to}"));
        return gap;
    }
    if (a.major, a.minor) == (b.major, b.minor) {
        gap.absent = listed(a.major, a.minor, a.patch + 1, b.patch);
        gap.adjacent = gap.absent.is_empty();
        return gap;
    }
    gap.open_ended.push(format!("any {}.{}.x after {}", a.major, a.minor, a));
    if a.major == b.major {
        for m in a.minor + 1..b.minor {
            gap.open_ended.push(format!("any {}.{m}.x", a.major));
        }
    } else {
        gap.open_ended.push(format!("any later {}.x and any {}.x before {}.{}", a.major, b.major, b.major, b.minor));
    }
    gap.absent = listed(b.major, b.minor, 0, b.patch);
    gap
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(verdict: Verdict, failed: &[&str]) -> RunReport {
        RunReport {
            verdict,
            failed_checks: failed.iter().map(|s| s.to_string()).collect(),
            duration_ms: 1,
            timed_out: false,
            error: None,
            dir: "d".into(),
        }
    }

    #[test]
    fn fingerprints_are_sorted_sets_with_a_stable_text_form() {
        let f = Fingerprint::new(["tool-ends-aborted", "status-reaches-idle", "tool-ends-aborted"]);
        assert_eq!(f.to_string(), "status-reaches-idle+tool-ends-aborted");
        assert_eq!("tool-ends-aborted + status-reaches-idle".parse::<Fingerprint>().unwrap(), f);
        assert_eq!(serde_json::to_string(&f).unwrap(), "\"status-reaches-idle+tool-ends-aborted\"");
        assert!("".parse::<Fingerprint>().is_err());
        assert!("a++b".parse::<Fingerprint>().is_err());
    }

    #[test]
    fn a_probe_is_bad_only_when_it_fails_the_same_way() {
        let fp = Fingerprint::new(["a", "b"]);
        let same = run(Verdict::Fail, &["b", "a"]);
        let other = run(Verdict::Fail, &["a"]);
        let pass = run(Verdict::Pass, &[]);
        let mut error = run(Verdict::Error, &[]);
        error.error = Some("cannot start the server: exit 1\nmore".into());
        let mut timeout = run(Verdict::Error, &[]);
        timeout.timed_out = true;

        assert_eq!(judge(std::slice::from_ref(&same), Some(&fp)).result, ProbeResult::Bad);
        assert_eq!(judge(std::slice::from_ref(&pass), Some(&fp)).result, ProbeResult::Good);
        let j = judge(std::slice::from_ref(&other), Some(&fp));
        assert_eq!(j, Judgement { result: ProbeResult::Skip, reason: "failed differently: a".into() });
        let j = judge(std::slice::from_ref(&error), Some(&fp));
        assert_eq!(j.result, ProbeResult::Skip);
        assert_eq!(j.reason, "no verdict: cannot start the server: exit 1");
        assert_eq!(judge(std::slice::from_ref(&timeout), Some(&fp)).reason, "timeout");
        // Without a fingerprint any failure is bad.
        assert_eq!(judge(std::slice::from_ref(&other), None).result, ProbeResult::Bad);
        assert_eq!(judge(std::slice::from_ref(&other), None).reason, "failed: a");
        // --repeat: bad when any run fails the same way; good only when all pass.
        let j = judge(&[pass.clone(), same.clone(), error.clone()], Some(&fp));
        assert_eq!((j.result, j.reason.as_str()), (ProbeResult::Bad, "failed the same way in 1 of 3 runs"));
        assert_eq!(judge(&[pass.clone(), pass.clone()], Some(&fp)).result, ProbeResult::Good);
        let j = judge(&[pass.clone(), timeout], Some(&fp));
        assert_eq!((j.result, j.reason.as_str()), (ProbeResult::Skip, "timeout; passed 1 of 2 runs"));
        assert_eq!(judge(&[], None).result, ProbeResult::Skip);
    }

    #[test]
    fn gaps_name_what_the_registry_lacks() {
        let g = absent_between("1.15.4", "1.15.13");
        assert!(!g.adjacent);
        assert_eq!(g.absent.first().map(String::as_str), Some("1.15.5"));
        assert_eq!(g.absent.last().map(String::as_str), Some("1.15.12"));
        assert!(g.describe().contains("1.15.5 to 1.15.12 (8 versions)"), "{}", g.describe());
        assert_eq!(absent_between("1.15.0", "1.15.3").absent_parts(), ["1.15.1", "1.15.2"]);
        assert!(absent_between("1.18.33", "1.18.34").adjacent);
        let g = absent_between("1.14.48", "1.15.0");
        assert!(!g.adjacent);
        assert_eq!(g.open_ended, ["any 1.14.x after 1.14.48"]);
        assert!(g.absent.is_empty());
        let g = absent_between("1.3.2", "1.14.34");
        assert_eq!(g.open_ended.len(), 1 + 10);
        assert_eq!(g.absent.len(), 34);
    }

    proptest! {
        /// The text form parses back to the same fingerprint.
        #[test]
        fn fingerprint_text_round_trips(checks in proptest::collection::btree_set("[a-z][a-z0-9-]{0,20}", 1..6)) {
            let f = Fingerprint::new(checks);
            prop_assert_eq!(f.to_string().parse::<Fingerprint>().unwrap(), f);
        }
    }
}
