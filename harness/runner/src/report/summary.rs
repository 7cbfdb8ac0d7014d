//! `summary.md`: the run in markdown, ready for a CI job summary (`cat summary.md >>
//! "$GITHUB_STEP_SUMMARY"`, a merge-request note). In order: the gate and the counts;
//! the regressions (FAIL, then ERROR and TIMEOUT, then UNEXPECTED-PASS and FLAKY), each
//! with its failing checks and a short witness; the scenario x version matrix; the
//! expected failures with their issues; in a run of several versions, the interface
//! changes between them ([`super::interface`]). Plain text markers only, no emoji.

use super::common::{self, witness_line};
use super::model::{CellReport, ResultsDoc};
use oc_conform_checks::outcome::Outcome;
use oc_conform_checks::Verdict;
use std::fmt::Write as _;
use std::path::Path;

pub const FILE: &str = "summary.md";

/// Regressions shown in full; the rest get one line each (job summaries are size-capped).
const MAX_DETAILED: usize = 40;
/// Witness lines per failing check.
const MAX_WITNESS: usize = 5;
const MAX_WITNESS_CHARS: usize = 160;
const MAX_MESSAGE_CHARS: usize = 600;

pub fn write(doc: &ResultsDoc, dir: &Path) -> std::io::Result<()> {
    common::write_atomic(dir, FILE, render(doc).as_bytes())
}

/// The order regressions are listed in.
const REGRESSION_ORDER: [Outcome; 5] = [
    Outcome::Fail,
    Outcome::Error,
    Outcome::Timeout,
    Outcome::UnexpectedPass,
    Outcome::Flaky,
];

/// GitHub's job summary takes at most 1 MiB; the summary stays under it with room for a
/// workflow's own lines.
pub const MAX_BYTES: usize = 1_000_000;

pub fn render(doc: &ResultsDoc) -> String {
    let mut md = String::new();
    headline(doc, &mut md);
    regressions(doc, &mut md);
    matrix(doc, &mut md);
    skipped(doc, &mut md);
    expected_failures(doc, &mut md);
    if let Some(interface) = &doc.interface_changes {
        interface.markdown(&mut md);
    }
    fit(md, MAX_BYTES)
}

/// `md` cut at a line boundary to at most `max` bytes, saying so. The regressions come
/// first, so what is cut is the matrix and the expected failures.
fn fit(md: String, max: usize) -> String {
    if md.len() <= max {
        return md;
    }
    let note = "\n\n> **summary.md was cut to fit a CI job summary (1 MiB)**: the whole run is in `index.html` and `results.json`.\n";
    let budget = max.saturating_sub(note.len());
    let mut end = budget.min(md.len());
    while !md.is_char_boundary(end) {
        end -= 1;
    }
    let end = md[..end].rfind('\n').unwrap_or(end);
    let mut out = md[..end].to_string();
    out.push_str(note);
    out
}

/// The scenarios the run did not play, and why: neither failed nor passed.
fn skipped(doc: &ResultsDoc, md: &mut String) {
    if doc.skipped.is_empty() {
        return;
    }
    let _ = writeln!(md, "### Skipped ({})
", doc.skipped.len());
    for s in &doc.skipped {
        let on = s.opencode_version.as_deref().map(|v| format!(" on {}", md_inline(v))).unwrap_or_default();
        let _ = writeln!(md, "- `{}`{on}: {}", md_code(&s.scenario), md_inline(&s.reason));
    }
    md.push('\n');
}

fn headline(doc: &ResultsDoc, md: &mut String) {
    let gate = doc.gate_decision();
    let _ = writeln!(md, "## oc-conform: {}\n", gate.headline);
    for line in doc.results.iter().filter_map(common::first_bad_headline) {
        let _ = writeln!(md, "**Auto-bisect:** {}  ", md_inline(&line));
    }
    if doc.results.iter().any(|c| c.first_bad.is_some()) {
        md.push('\n');
    }
    let counts: Vec<String> = common::counts(doc)
        .iter()
        .map(|(o, n)| format!("{n} {}", o.as_str()))
        .collect();
    let versions = common::versions(doc);
    let scenarios = common::scenarios(doc);
    let total: u64 = doc.results.iter().map(|c| c.duration_ms).sum();
    let _ = writeln!(
        md,
        "**{}** ({} cells: {} version{} x {} scenario{}, {} of scenario time)\n",
        if counts.is_empty() {
            "no results".to_string()
        } else {
            counts.join(" · ")
        },
        doc.results.len(),
        versions.len(),
        plural(versions.len()),
        scenarios.len(),
        plural(scenarios.len()),
        common::secs(total),
    );
    let mut meta = vec![
        md_inline(&doc.tool),
        format!(
            "{} to {}",
            md_inline(&doc.started_at),
            md_inline(&doc.finished_at)
        ),
    ];
    if let Some(p) = &doc.partition {
        meta.push(format!("partition {}", md_inline(p)));
    }
    let _ = writeln!(md, "{}\n", meta.join(" · "));
    let missing = common::missing_cells(doc);
    if doc.interrupted {
        let _ = writeln!(
            md,
            "> **Interrupted**: the run was stopped; {missing} cell{} of the matrix have no result.\n",
            plural(missing)
        );
    }
    let _ = writeln!(
        md,
        "Timelines, witnesses and server logs: `index.html` in the report directory.\n"
    );
}

fn regressions(doc: &ResultsDoc, md: &mut String) {
    let cells: Vec<&CellReport> = REGRESSION_ORDER
        .iter()
        .flat_map(|o| {
            common::ordered_cells(doc)
                .into_iter()
                .filter(move |c| c.outcome == *o)
        })
        .collect();
    if cells.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "### Needs attention ({}): regressions, no verdict, unexpected passes, flaky\n",
        cells.len()
    );
    for (i, cell) in cells.iter().enumerate() {
        if i < MAX_DETAILED {
            regression(cell, md);
        } else {
            let _ = writeln!(
                md,
                "- {} `{}` on `{}`",
                cell.outcome.as_str(),
                md_code(&cell.scenario),
                md_code(&cell.opencode_version)
            );
        }
    }
    if cells.len() > MAX_DETAILED {
        let _ = writeln!(
            md,
            "\n(the {} above without details: see `results.json`)\n",
            cells.len() - MAX_DETAILED
        );
    }
}

fn regression(cell: &CellReport, md: &mut String) {
    let _ = writeln!(
        md,
        "#### {} `{}` on `{}`\n",
        cell.outcome.as_str(),
        md_code(&cell.scenario),
        md_code(&cell.opencode_version)
    );
    let passed = cell
        .runs
        .iter()
        .filter(|r| r.verdict == Verdict::Pass)
        .count();
    match cell.outcome {
        Outcome::Error | Outcome::Timeout => {
            let why = cell.error.as_deref().unwrap_or(match cell.outcome {
                Outcome::Timeout => "the scenario's deadline passed",
                _ => "no verdict was reached",
            });
            let _ = writeln!(
                md,
                "- **no verdict**: {}",
                md_inline(&common::truncate(why, MAX_MESSAGE_CHARS))
            );
        }
        Outcome::UnexpectedPass => {
            let _ = writeln!(
                md,
                "- expected to fail ({}) but passed {}: the bug may be fixed; update `expectations.toml`",
                expectation_md(cell),
                if cell.runs.len() == 1 { "its run".to_string() } else { format!("all {} runs", cell.runs.len()) }
            );
        }
        Outcome::Flaky => {
            let declared = if cell.flaky_declared() {
                "declared flaky in `expectations.toml`"
            } else {
                "not declared flaky"
            };
            let _ = writeln!(
                md,
                "- passed {passed} of {} runs ({declared})",
                cell.runs.len()
            );
        }
        _ => {}
    }
    if cell.runs.len() > 1 && cell.outcome != Outcome::Flaky {
        let _ = writeln!(
            md,
            "- {} runs, {passed} passed; checks below are the first run's",
            cell.runs.len()
        );
    }
    for c in common::failing_checks(cell) {
        let _ = writeln!(
            md,
            "- **`{}`** ({}): {}",
            md_code(&c.check),
            c.verdict.as_str(),
            md_inline(&common::truncate(&c.message, MAX_MESSAGE_CHARS))
        );
        if !c.witness.is_empty() {
            let mut lines: Vec<String> = c
                .witness
                .iter()
                .take(MAX_WITNESS)
                .map(|w| common::truncate(&witness_line(w), MAX_WITNESS_CHARS))
                .collect();
            if c.witness.len() > MAX_WITNESS {
                lines.push(format!("... {} more", c.witness.len() - MAX_WITNESS));
            }
            code_block(md, "  ", &lines);
        }
    }
    for line in common::cell_findings(cell) {
        let _ = writeln!(md, "- {}", md_inline(&line));
    }
    let _ = writeln!(md, "- artifacts: `{}/`\n", md_code(&cell.artifacts.dir));
}

fn matrix(doc: &ResultsDoc, md: &mut String) {
    let versions = common::versions(doc);
    let scenarios = common::scenarios(doc);
    if versions.is_empty() || scenarios.is_empty() {
        return;
    }
    let _ = writeln!(md, "### Matrix\n");
    let _ = write!(md, "| scenario |");
    for v in &versions {
        let _ = write!(md, " {} |", md_cell(v));
    }
    let _ = write!(md, "\n|---|");
    for _ in &versions {
        let _ = write!(md, "---|");
    }
    md.push('\n');
    for s in &scenarios {
        let _ = write!(md, "| {} |", md_cell(s));
        for v in &versions {
            let text = match common::cell(doc, s, v) {
                Some(c) if common::needs_attention(c.outcome) => {
                    format!("**{}**", common::marker(c.outcome))
                }
                Some(c) => common::marker(c.outcome).to_string(),
                None if common::skipped(doc, s, v).is_some() => "skip".to_string(),
                None => "-".to_string(),
            };
            let _ = write!(md, " {text} |");
        }
        md.push('\n');
    }
    let missing = if common::missing_cells(doc) > 0 {
        format!(" · -: {}", common::missing_reason(doc))
    } else {
        String::new()
    };
    let _ = writeln!(
        md,
        "\npass · **FAIL**: regression · xfail: expected failure · **XPASS**: unexpected pass · \
         **flaky** · **TIMEOUT** / **ERROR**: no verdict{missing}\n"
    );
}

fn expected_failures(doc: &ResultsDoc, md: &mut String) {
    // One row per scenario and expectation, listing the versions it covered.
    let mut rows: Vec<(&CellReport, Vec<&str>)> = Vec::new();
    for s in common::scenarios(doc) {
        for v in common::versions(doc) {
            let Some(c) = common::cell(doc, &s, &v) else {
                continue;
            };
            if c.outcome != Outcome::ExpectedFail {
                continue;
            }
            match rows.iter_mut().find(|(r, _)| {
                r.scenario == c.scenario
                    && r.expectation == c.expectation
                    && r.failed_checks == c.failed_checks
            }) {
                Some((_, vs)) => vs.push(&c.opencode_version),
                None => rows.push((c, vec![&c.opencode_version])),
            }
        }
    }
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "### Expected failures ({})\n",
        doc.count(Outcome::ExpectedFail)
    );
    let _ = writeln!(
        md,
        "| scenario | versions | failing checks | known issue |\n|---|---|---|---|"
    );
    for (c, versions) in rows {
        let checks: Vec<String> = c
            .failed_checks
            .iter()
            .map(|x| format!("`{}`", md_code(x)))
            .collect();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            md_cell(&c.scenario),
            md_cell(&versions.join(", ")),
            md_table_safe(&checks.join(", ")),
            md_table_safe(&expectation_md(c)),
        );
    }
    md.push('\n');
}

/// The expectation's issue as a link, and its reason.
fn expectation_md(cell: &CellReport) -> String {
    let Some(e) = &cell.expectation else {
        return "no expectation".into();
    };
    let mut parts = Vec::new();
    if let Some(url) = &e.issue {
        if common::is_web_url(url) {
            parts.push(format!(
                "[{}]({})",
                md_inline(&common::issue_label(url)),
                md_url(url)
            ));
        } else {
            parts.push(md_inline(url));
        }
    }
    if let Some(r) = &e.reason {
        parts.push(md_inline(&common::truncate(r, 200)));
    }
    if parts.is_empty() {
        "known failure".into()
    } else {
        parts.join(": ")
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A fenced code block, indented by `indent`, with a fence longer than any backtick run.
fn code_block(md: &mut String, indent: &str, lines: &[String]) {
    let longest = lines
        .iter()
        .flat_map(|l| l.split(|c| c != '`'))
        .map(str::len)
        .max()
        .unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    let _ = writeln!(md, "{indent}{fence}text");
    for l in lines {
        let _ = writeln!(md, "{indent}{}", l.replace(['\n', '\r'], " "));
    }
    let _ = writeln!(md, "{indent}{fence}");
}

/// Text for a markdown line: backtick code spans kept (messages quote names and commands
/// that way), everything else escaped so it renders as written.
pub fn md_inline(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    let balanced = s.matches('`').count() & 1 == 0;
    let mut out = String::with_capacity(s.len());
    let mut in_code = false;
    for ch in s.chars() {
        if ch == '`' && balanced {
            in_code = !in_code;
            out.push(ch);
        } else if in_code {
            out.push(ch);
        } else if "\\`*_[]<>|~&".contains(ch) {
            out.push('\\');
            out.push(ch);
        } else {
            out.push(ch);
        }
    }
    out
}

/// Text inside a code span we open ourselves: no backticks, no line breaks.
fn md_code(s: &str) -> String {
    s.replace(['`', '\n', '\r'], "'")
}

/// Text for a table cell: escaped, and `|` escaped even in code spans.
pub(crate) fn md_cell(s: &str) -> String {
    md_table_safe(&md_inline(s))
}

/// Escapes the `|` a table cell may still hold (GFM reads `\|` inside code spans too).
fn md_table_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev = ' ';
    for ch in s.chars() {
        if ch == '|' && prev != '\\' {
            out.push('\\');
        }
        out.push(ch);
        prev = ch;
    }
    out
}

/// A URL for a markdown link destination.
fn md_url(url: &str) -> String {
    url.replace(' ', "%20")
        .replace('(', "%28")
        .replace(')', "%29")
        .replace('<', "%3C")
        .replace('>', "%3E")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{cell, doc, expectation, expected_fail, fail_with_witnesses};
    use crate::report::model::SkippedCell;
    use oc_conform_scenario::ExpectedOutcome;

    #[test]
    fn a_summary_without_a_newline_is_cut_inside_the_budget_at_a_character() {
        // No line to cut at: the cut falls at a character boundary at or before the budget.
        let md = "é".repeat(500);
        for max in [300, 301] {
            let cut = fit(md.clone(), max);
            assert!(cut.len() <= max, "{} bytes for a budget of {max}", cut.len());
            assert!(cut.ends_with("`results.json`.\n"), "{cut}");
        }
    }

    #[test]
    fn skipped_scenarios_are_listed_with_their_version_and_reason() {
        let mut d = doc(&["1.0.0"], &["a", "b"], vec![cell("a", "1.0.0", Outcome::Pass)]);
        d.skipped = vec![
            SkippedCell { scenario: "b".into(), opencode_version: Some("1.0.0".into()), reason: "needs a_b".into() },
            SkippedCell { scenario: "c".into(), opencode_version: None, reason: "no server".into() },
        ];
        let md = render(&d);
        assert!(md.contains("### Skipped (2)\n\n- `b` on 1.0.0: needs a\\_b\n- `c`: no server\n"), "{md}");
        assert!(md.contains("| b | skip |"), "{md}");
    }

    #[test]
    fn forty_regressions_are_detailed_and_the_rest_get_one_line() {
        let names: Vec<String> = (0..41).map(|i| format!("s{i:02}")).collect();
        let cells = |n: usize| names[..n].iter().map(|s| cell(s, "1.0.0", Outcome::Fail)).collect();
        let md = render(&doc(&["1.0.0"], &[], cells(41)));
        assert_eq!(md.matches("#### FAIL").count(), 40, "{md}");
        assert!(md.contains("- FAIL `s40` on `1.0.0`\n"), "{md}");
        assert!(md.contains("(the 1 above without details: see `results.json`)"), "{md}");
        let md = render(&doc(&["1.0.0"], &[], cells(40)));
        assert_eq!(md.matches("#### FAIL").count(), 40, "{md}");
        assert!(!md.contains("without details"), "{md}");
    }

    #[test]
    fn a_cell_without_a_verdict_says_why_or_what_no_verdict_means() {
        let mut with_error = cell("e", "1.0.0", Outcome::Error);
        with_error.error = Some("the server exited".into());
        let cells = vec![
            cell("t", "1.0.0", Outcome::Timeout),
            cell("n", "1.0.0", Outcome::Error),
            with_error,
        ];
        let md = render(&doc(&["1.0.0"], &["t", "n", "e"], cells));
        assert!(md.contains("#### TIMEOUT `t` on `1.0.0`\n\n- **no verdict**: the scenario's deadline passed\n"), "{md}");
        assert!(md.contains("#### ERROR `n` on `1.0.0`\n\n- **no verdict**: no verdict was reached\n"), "{md}");
        assert!(md.contains("- **no verdict**: the server exited\n"), "{md}");
    }

    #[test]
    fn a_regression_of_several_runs_counts_them_and_a_flake_says_if_it_was_declared() {
        let mut twice = cell("f", "1.0.0", Outcome::Fail);
        twice.runs.push(twice.runs[0].clone());
        let mut declared = cell("d", "1.0.0", Outcome::Flaky);
        declared.expectation = Some(expectation("d", ExpectedOutcome::Flaky, None, None));
        let md = render(&doc(&["1.0.0"], &["f", "d"], vec![twice, declared]));
        assert!(md.contains("- 2 runs, 0 passed; checks below are the first run's\n"), "{md}");
        assert!(md.contains("- passed 1 of 2 runs (declared flaky in `expectations.toml`)\n"), "{md}");
        assert_eq!(md.matches(" runs, ").count(), 1, "a flake's runs are counted once: {md}");
    }

    #[test]
    fn an_unexpected_pass_of_several_runs_says_all_passed() {
        let mut c = cell("u", "1.0.0", Outcome::UnexpectedPass);
        c.runs.push(c.runs[0].clone());
        let md = render(&doc(&["1.0.0"], &["u"], vec![c]));
        assert!(md.contains("- expected to fail (no expectation) but passed all 2 runs: "), "{md}");
    }

    #[test]
    fn five_witness_lines_are_shown_and_the_rest_counted() {
        let md = render(&fail_with_witnesses(&[6, 5]));
        assert!(md.contains("event 4\n  ... 1 more\n  ```\n"), "{md}");
        assert_eq!(md.matches("... ").count(), 1, "five lines need no count: {md}");
        assert!(!md.contains("event 5"), "{md}");
    }

    #[test]
    fn a_code_block_fence_is_longer_than_any_backtick_run_inside() {
        let mut md = String::new();
        code_block(&mut md, "  ", &["a ```` b".into(), "c\nd".into()]);
        assert_eq!(md, "  `````text\n  a ```` b\n  c d\n  `````\n");
        let mut md = String::new();
        code_block(&mut md, "", &["plain".into()]);
        assert_eq!(md, "```text\nplain\n```\n");
    }

    #[test]
    fn an_expected_failure_names_its_issue_and_reason_in_whatever_form_they_have() {
        let with = |issue, reason| expectation_md(&expected_fail(issue, reason));
        assert_eq!(
            with(Some("https://github.com/o/r/issues/7"), Some("a_b")),
            "[o/r#7](https://github.com/o/r/issues/7): a\\_b"
        );
        assert_eq!(with(Some("see the (old) <notes>"), None), "see the (old) \\<notes\\>");
        assert_eq!(with(None, None), "known failure");
        assert_eq!(expectation_md(&cell("s", "1.0.0", Outcome::ExpectedFail)), "no expectation");
        assert_eq!(md_url("https://x.org/a b(c)<d>"), "https://x.org/a%20b%28c%29%3Cd%3E");
    }

    #[test]
    fn expected_failures_alike_share_a_row_listing_their_versions() {
        let mut cells = Vec::new();
        for v in ["1.0.0", "1.1.0", "1.2.0"] {
            let mut c = cell("s", v, Outcome::ExpectedFail);
            c.expectation = Some(expectation("s", ExpectedOutcome::Fail, None, Some("known")));
            cells.push(c);
        }
        cells[2].failed_checks = vec!["other".into()];
        cells.push(cell("p", "1.0.0", Outcome::Pass));
        let md = render(&doc(&["1.0.0", "1.1.0", "1.2.0"], &["s", "p"], cells));
        assert!(md.contains("### Expected failures (3)\n"), "{md}");
        assert!(md.contains("| s | 1.0.0, 1.1.0 | `a` | known |\n| s | 1.2.0 | `other` | known |\n\n"), "{md}");
    }

    #[test]
    fn the_headline_counts_cells_versions_and_scenarios_in_words() {
        let one = render(&doc(&["1.0.0"], &["s"], vec![cell("s", "1.0.0", Outcome::Pass)]));
        assert!(one.contains("**1 PASS** (1 cells: 1 version x 1 scenario, 0.0 s of scenario time)"), "{one}");
        let none = render(&doc(&[], &[], vec![]));
        assert!(none.contains("**no results** (0 cells: 0 versions x 0 scenarios"), "{none}");
        assert!(!none.contains("### Matrix"), "{none}");
        for (versions, scenarios) in [(&[][..], &["s"][..]), (&["1.0.0"][..], &[][..])] {
            let md = render(&doc(versions, scenarios, vec![]));
            assert!(!md.contains("### Matrix"), "a matrix needs a version and a scenario: {md}");
        }
        let mut part = doc(&["1.0.0"], &["s", "t"], vec![cell("s", "1.0.0", Outcome::Pass)]);
        part.partition = Some("1/2".into());
        let md = render(&part);
        assert!(md.contains(" · partition 1/2\n"), "{md}");
        assert!(md.contains("| t | - |"), "{md}");
        assert!(md.contains("no verdict · -: not in this partition\n"), "{md}");
    }

    #[test]
    fn an_interrupted_run_counts_its_missing_cells_in_words() {
        let mut d = doc(&["1.0.0"], &["s", "t"], vec![cell("s", "1.0.0", Outcome::Pass)]);
        d.interrupted = true;
        assert!(render(&d).contains("the run was stopped; 1 cell of the matrix have no result."));
        d.scenarios.push("u".into());
        assert!(render(&d).contains("the run was stopped; 2 cells of the matrix have no result."));
    }

    #[test]
    fn an_oversized_summary_is_cut_at_a_line_and_says_so() {
        let md: String = (0..100).map(|i| format!("line {i} é\n")).collect();
        let cut = fit(md.clone(), 200);
        assert!(cut.len() <= 200, "{}", cut.len());
        assert!(cut.starts_with("line 0 é\n"));
        assert!(cut.contains("was cut to fit"));
        assert_eq!(fit(md.clone(), md.len()), md);
    }

    #[test]
    fn inline_escaping_keeps_code_spans() {
        assert_eq!(md_inline("a_b `x_y` <c>"), "a\\_b `x_y` \\<c\\>");
        assert_eq!(md_inline("odd ` tick"), "odd \\` tick");
        assert_eq!(md_cell("a|b"), "a\\|b");
        assert_eq!(md_table_safe("`a|b`"), "`a\\|b`");
    }
}
