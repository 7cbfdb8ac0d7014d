//! What the people-facing reporters (`junit.xml`, `summary.md`, `index.html`) share: the
//! matrix's order, cell look-up, the failing checks of a cell, short outcome markers and
//! atomic file writes.

use super::model::{CellReport, CheckReport, ResultsDoc, SkippedCell, WitnessEntry};
use oc_conform_checks::outcome::Outcome;
use oc_conform_checks::Verdict;
use std::path::Path;

/// Every outcome, in the order reports list them: regressions first.
pub const OUTCOME_ORDER: [Outcome; 7] = [
    Outcome::Fail,
    Outcome::Error,
    Outcome::Timeout,
    Outcome::UnexpectedPass,
    Outcome::Flaky,
    Outcome::ExpectedFail,
    Outcome::Pass,
];

/// The versions of the run in the order given, then any only the results name.
pub fn versions(doc: &ResultsDoc) -> Vec<String> {
    let mut v = doc.versions.clone();
    for c in &doc.results {
        if !v.contains(&c.opencode_version) {
            v.push(c.opencode_version.clone());
        }
    }
    v
}

/// The scenarios of the run in order, then any only the results name.
pub fn scenarios(doc: &ResultsDoc) -> Vec<String> {
    let mut s = doc.scenarios.clone();
    for c in &doc.results {
        if !s.contains(&c.scenario) {
            s.push(c.scenario.clone());
        }
    }
    s
}

pub fn cell<'a>(doc: &'a ResultsDoc, scenario: &str, version: &str) -> Option<&'a CellReport> {
    doc.results
        .iter()
        .find(|c| c.scenario == scenario && c.opencode_version == version)
}

/// The cells in matrix order: by version as given, then by scenario.
pub fn ordered_cells(doc: &ResultsDoc) -> Vec<&CellReport> {
    let mut out = Vec::new();
    for v in versions(doc) {
        for s in scenarios(doc) {
            if let Some(c) = cell(doc, &s, &v) {
                out.push(c);
            }
        }
    }
    out
}

/// Why a cell of the matrix has no result.
pub fn missing_reason(doc: &ResultsDoc) -> &'static str {
    if doc.interrupted {
        "not run: the run was interrupted"
    } else if doc.partition.is_some() {
        "not in this partition"
    } else {
        "not run"
    }
}

/// The first run's checks that did not pass.
pub fn failing_checks(cell: &CellReport) -> Vec<&CheckReport> {
    cell.checks
        .iter()
        .filter(|c| c.verdict != Verdict::Pass)
        .collect()
}

/// A regression or a no-verdict: what a reader must look at first.
pub fn needs_attention(o: Outcome) -> bool {
    matches!(
        o,
        Outcome::Fail
            | Outcome::Error
            | Outcome::Timeout
            | Outcome::UnexpectedPass
            | Outcome::Flaky
    )
}

/// A short plain-text marker for a matrix cell; regressions in capitals.
pub fn marker(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Fail => "FAIL",
        Outcome::ExpectedFail => "xfail",
        Outcome::UnexpectedPass => "XPASS",
        Outcome::Flaky => "flaky",
        Outcome::Timeout => "TIMEOUT",
        Outcome::Error => "ERROR",
    }
}

/// One witness line: `2366.2 ms  #5  process 17841 appeared ...`.
pub fn witness_line(w: &WitnessEntry) -> String {
    format!("{:>9.1} ms  #{:<4} {}", w.at_ms, w.seq, w.what)
}

/// `s` cut to at most `max` characters, with an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `owner/repo#123` for a GitHub issue or pull-request URL, else the URL itself.
pub fn issue_label(url: &str) -> String {
    let rest = url
        .strip_prefix("https://github.com/")
        .or_else(|| url.strip_prefix("http://github.com/"));
    if let Some(rest) = rest {
        let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        if let [owner, repo, "issues" | "pull", n] = parts.as_slice() {
            if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) {
                return format!("{owner}/{repo}#{n}");
            }
        }
    }
    url.to_string()
}

/// Whether a link to `url` is safe to render (no `javascript:` and the like).
pub fn is_web_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// What the expectation says of a cell, in one line: issue and reason.
pub fn expectation_note(cell: &CellReport) -> Option<String> {
    let e = cell.expectation.as_ref()?;
    let mut parts = Vec::new();
    if let Some(i) = &e.issue {
        parts.push(i.clone());
    }
    if let Some(r) = &e.reason {
        parts.push(r.clone());
    }
    if parts.is_empty() {
        parts.push(format!(
            "expectations.toml: {:?} on {}",
            e.outcome,
            e.versions.join(", ")
        ));
    }
    Some(parts.join(": "))
}

/// Counts per outcome, in [`OUTCOME_ORDER`], leaving out zeros.
pub fn counts(doc: &ResultsDoc) -> Vec<(Outcome, usize)> {
    OUTCOME_ORDER
        .iter()
        .map(|o| (*o, doc.count(*o)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Why `scenario` was not played on `version`, when the run skipped it (the release lacks
/// what it requires, or the server cannot offer what it needs).
pub fn skipped<'a>(doc: &'a ResultsDoc, scenario: &str, version: &str) -> Option<&'a SkippedCell> {
    doc.skipped
        .iter()
        .find(|s| s.scenario == scenario && s.opencode_version.as_deref().is_none_or(|v| v == version))
}

/// How many cells the matrix should have had but has no result for (skipped ones apart).
pub fn missing_cells(doc: &ResultsDoc) -> usize {
    let mut n = 0;
    for v in versions(doc) {
        for s in scenarios(doc) {
            if cell(doc, &s, &v).is_none() && skipped(doc, &s, &v).is_none() {
                n += 1;
            }
        }
    }
    n
}

/// Writes `name` in `dir` through a temporary file, so a reader never sees half a report.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, dir.join(name))
}

/// Seconds with one decimal, for durations in prose.
pub fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{doc, expected_fail, failed_check};
    use crate::report::fixtures::cell as a_cell;
    use crate::report::model::{FirstBad, RerunNote};

    #[test]
    fn issue_labels() {
        assert_eq!(
            issue_label("https://github.com/sst/opencode/issues/40882"),
            "sst/opencode#40882"
        );
        assert_eq!(issue_label("https://github.com/a/b/pull/7/"), "a/b#7");
        assert_eq!(
            issue_label("https://example.org/x"),
            "https://example.org/x"
        );
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(truncate("abcd", 4), "abcd", "a text of exactly max characters is kept");
        assert_eq!(issue_label("http://github.com/a/b/issues/12"), "a/b#12");
        assert_eq!(issue_label("https://github.com/a/b/issues/x1"), "https://github.com/a/b/issues/x1");
        assert_eq!(issue_label("https://github.com/a/b/issues/"), "https://github.com/a/b/issues/");
        assert_eq!(issue_label("https://github.com/a/b/wiki/1"), "https://github.com/a/b/wiki/1");
    }

    #[test]
    fn only_http_and_https_links_are_web_links() {
        assert!(is_web_url("https://example.org/a"));
        assert!(is_web_url("http://example.org/a"));
        assert!(!is_web_url("javascript:alert(1)"));
        assert!(!is_web_url("see #12"));
    }

    #[test]
    fn versions_and_scenarios_only_the_results_name_come_after_the_runs_own() {
        let d = doc(
            &["1.2.0"],
            &["b"],
            vec![a_cell("a", "1.0.0", Outcome::Pass), a_cell("b", "1.2.0", Outcome::Pass), a_cell("a", "1.2.0", Outcome::Fail)],
        );
        assert_eq!(versions(&d), ["1.2.0", "1.0.0"]);
        assert_eq!(scenarios(&d), ["b", "a"]);
        let order: Vec<(&str, &str)> = ordered_cells(&d)
            .iter()
            .map(|c| (c.opencode_version.as_str(), c.scenario.as_str()))
            .collect();
        assert_eq!(order, [("1.2.0", "b"), ("1.2.0", "a"), ("1.0.0", "a")]);
        assert_eq!(cell_of(&d, "a", "1.2.0"), Some(Outcome::Fail));
        assert_eq!(cell_of(&d, "b", "1.0.0"), None);
    }

    fn cell_of(d: &ResultsDoc, scenario: &str, version: &str) -> Option<Outcome> {
        cell(d, scenario, version).map(|c| c.outcome)
    }

    #[test]
    fn a_skip_without_a_version_holds_for_every_version() {
        let mut d = doc(&["1.0.0", "1.1.0"], &["a", "b", "c"], vec![a_cell("a", "1.0.0", Outcome::Pass)]);
        d.skipped = vec![
            SkippedCell { scenario: "b".into(), opencode_version: None, reason: "any".into() },
            SkippedCell { scenario: "c".into(), opencode_version: Some("1.1.0".into()), reason: "one".into() },
        ];
        assert!(skipped(&d, "b", "1.1.0").is_some());
        assert!(skipped(&d, "c", "1.1.0").is_some());
        assert!(skipped(&d, "c", "1.0.0").is_none());
        assert!(skipped(&d, "a", "1.0.0").is_none());
        // Missing: a on 1.1.0 and c on 1.0.0; b is skipped on both, a on 1.0.0 played.
        assert_eq!(missing_cells(&d), 2);
        assert_eq!(missing_reason(&d), "not run");
        d.interrupted = true;
        assert_eq!(missing_reason(&d), "not run: the run was interrupted");
    }

    #[test]
    fn failing_checks_are_the_first_runs_checks_that_did_not_pass() {
        let mut c = a_cell("s", "1.0.0", Outcome::Fail);
        let mut passed = failed_check("p", "fine", 0);
        passed.verdict = Verdict::Pass;
        c.checks = vec![passed, failed_check("f", "broken", 0)];
        let names: Vec<&str> = failing_checks(&c).iter().map(|c| c.check.as_str()).collect();
        assert_eq!(names, ["f"]);
    }

    #[test]
    fn the_outcomes_that_need_attention_are_the_regressions_and_no_verdicts() {
        let attention: Vec<Outcome> = OUTCOME_ORDER.into_iter().filter(|o| needs_attention(*o)).collect();
        use Outcome::*;
        assert_eq!(attention, [Fail, Error, Timeout, UnexpectedPass, Flaky]);
    }

    #[test]
    fn an_expectation_note_is_its_issue_and_reason_or_what_it_says() {
        let with = |issue, reason| expectation_note(&expected_fail(issue, reason));
        assert_eq!(with(Some("i"), Some("r")).as_deref(), Some("i: r"));
        assert_eq!(with(None, Some("r")).as_deref(), Some("r"));
        assert_eq!(with(None, None).as_deref(), Some("expectations.toml: Fail on *"));
        assert_eq!(expectation_note(&a_cell("s", "1.0.0", Outcome::Fail)), None);
    }

    fn first_bad(status: &str, first: Option<&str>, last: Option<&str>, probes: &[&str]) -> FirstBad {
        FirstBad {
            status: status.into(),
            first_bad: first.map(str::to_string),
            last_good: last.map(str::to_string),
            probes: probes.iter().map(|s| s.to_string()).collect(),
            reproduce: "oc-conform bisect ...".into(),
            summary: "the answer".into(),
            report: None,
        }
    }

    #[test]
    fn an_auto_bisect_answer_is_a_headline_when_found_and_its_summary_otherwise() {
        let mut c = a_cell("s", "1.2.0", Outcome::Fail);
        assert_eq!(first_bad_headline(&c), None);
        c.first_bad = Some(first_bad("found", Some("1.1.0"), Some("1.0.0"), &["1.1.0: bad"]));
        assert_eq!(first_bad_headline(&c).as_deref(), Some("s: first bad 1.1.0, last good 1.0.0"));
        assert_eq!(
            cell_findings(&c),
            ["auto-bisect: the answer", "auto-bisect probes: 1.1.0: bad", "reproduce: oc-conform bisect ..."]
        );
        c.first_bad = Some(first_bad("ambiguous", Some("1.1.0"), Some("1.0.0"), &[]));
        assert_eq!(first_bad_headline(&c).as_deref(), Some("s (1.2.0): the answer"));
        assert_eq!(cell_findings(&c), ["auto-bisect: the answer", "reproduce: oc-conform bisect ..."]);
    }

    #[test]
    fn a_rerun_finding_comes_first() {
        let mut c = a_cell("s", "1.0.0", Outcome::Fail);
        c.rerun = Some(RerunNote { first: Outcome::Fail, rerun: Outcome::Fail, still_unexpected: true });
        assert_eq!(cell_findings(&c), ["re-run: FAIL again on re-run: real"]);
    }

    #[test]
    fn a_witness_line_aligns_time_and_seq() {
        let w = WitnessEntry { seq: 5, at_ms: 2366.2, what: "x".into() };
        assert_eq!(witness_line(&w), "   2366.2 ms  #5    x");
        assert_eq!(secs(1500), "1.5 s");
    }
}

/// What later jobs learned about a cell, one line each, for every renderer: the re-run's
/// finding (`oc-conform rerun`) and the auto-bisect's answer (`--auto-bisect`).
pub fn cell_findings(cell: &CellReport) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(r) = &cell.rerun {
        out.push(format!("re-run: {}", r.describe()));
    }
    if let Some(b) = &cell.first_bad {
        out.push(format!("auto-bisect: {}", b.summary));
        if !b.probes.is_empty() {
            out.push(format!("auto-bisect probes: {}", b.probes.join(", ")));
        }
        out.push(format!("reproduce: {}", b.reproduce));
    }
    out
}

/// The headline form of an auto-bisect answer: `abort-plugin-client: first bad 1.14.48,
/// last good 1.14.41`.
pub fn first_bad_headline(cell: &CellReport) -> Option<String> {
    let b = cell.first_bad.as_ref()?;
    Some(match (&b.first_bad, &b.last_good) {
        (Some(bad), Some(good)) if b.status == "found" => format!("{}: first bad {bad}, last good {good}", cell.scenario),
        _ => format!("{} ({}): {}", cell.scenario, cell.opencode_version, b.summary),
    })
}
