//! The jobs on stored runs, without a server: `analyze` (re-judge stored timelines),
//! `merge` (combine partitioned runs), `diff` (what changed between two runs) and
//! `expectations update` (rewrite expectations from a run). Each prints its answer on
//! stdout and returns its exit code.

use crate::exit;
use oc_conform_checks::outcome::{classify, Outcome};
use oc_conform_checks::{checks, CheckResult, Timeline, Verdict};
use oc_conform_runner::report::{self, gate, json, CellReport, ResultsDoc};
use oc_conform_scenario::{Expectation, ExpectedOutcome, Expectations, Scenario};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Re-runs the checks on every stored timeline of `run_dir` and compares the verdicts
/// with the recorded ones. Exit 0 when they all agree.
pub fn analyze(run_dir: &Path) -> u8 {
    let doc = match ResultsDoc::load(run_dir) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let mut differ = 0;
    let mut runs = 0;
    let mut code = exit::OK;
    for cell in &doc.results {
        for run in &cell.runs {
            runs += 1;
            let dir = run_dir.join(&run.dir);
            let now = match rejudge(&dir, run.error.as_deref()) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("error: {}: {e}", dir.display());
                    code = exit::INFRA;
                    continue;
                }
            };
            let same = now.verdict == run.verdict;
            differ += usize::from(!same);
            println!(
                "{:6} {} ({}) {}{}",
                now.verdict.as_str().to_uppercase(),
                cell.scenario,
                cell.opencode_version,
                run.dir,
                if same { String::new() } else { format!("  [recorded: {}]", run.verdict.as_str()) }
            );
            for c in now.not_passed {
                println!("         {} {}: {}", c.verdict.as_str(), c.check, c.message);
            }
            if let Some(e) = now.error {
                println!("         no verdict: {}", e.lines().next().unwrap_or_default());
            }
        }
    }
    if differ > 0 {
        eprintln!("{differ} of {runs} verdict(s) differ from the recorded run");
        return exit::REGRESSION;
    }
    if code == exit::OK {
        eprintln!("{runs} verdict(s), all as recorded");
    }
    code
}

/// A stored run judged again.
struct Rejudged {
    verdict: Verdict,
    /// The checks that did not pass, with their messages.
    not_passed: Vec<CheckResult>,
    /// Why the run reached no verdict, when it never got to its checks.
    error: Option<String>,
}

fn rejudge(dir: &Path, error: Option<&str>) -> Result<Rejudged, String> {
    if let Some(e) = error {
        // The run never reached its checks; its timeline cannot change that.
        return Ok(Rejudged {
            verdict: Verdict::Error,
            not_passed: vec![],
            error: Some(e.to_string()),
        });
    }
    let read = |name: &str| std::fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"));
    let scenario: Scenario = serde_json::from_slice(&read("scenario.json")?).map_err(|e| format!("scenario.json: {e}"))?;
    let timeline: Timeline = serde_json::from_slice(&read("timeline.json")?).map_err(|e| format!("timeline.json: {e}"))?;
    let mut results = checks::run_all(&scenario.checks, &timeline);
    results.extend(step_results(dir));
    Ok(Rejudged {
        verdict: oc_conform_checks::combine(&results),
        not_passed: results.into_iter().filter(|c| c.verdict != Verdict::Pass).collect(),
        error: None,
    })
}

/// Step expectations (`expect_status`) are not re-playable: carry over recorded ones.
fn step_results(dir: &Path) -> Vec<CheckResult> {
    let Ok(bytes) = std::fs::read(dir.join("steps.json")) else {
        return vec![];
    };
    serde_json::from_slice(&bytes).unwrap_or_default()
}

/// Combines report dirs (e.g. the partitions of one matrix) into `out`, as if one run
/// had produced them all; exits as that run would have.
pub fn merge(dirs: &[PathBuf], out: &Path, strict: bool) -> u8 {
    let mut docs = Vec::new();
    for d in dirs {
        match ResultsDoc::load(d) {
            Ok(doc) => docs.push((d.clone(), doc)),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        }
    }
    let Some((_, first)) = docs.first() else {
        eprintln!("error: merge needs at least one report dir");
        return exit::USAGE;
    };
    let mut merged = ResultsDoc {
        started_at: docs.iter().map(|(_, d)| d.started_at.clone()).min().unwrap_or_default(),
        finished_at: docs.iter().map(|(_, d)| d.finished_at.clone()).max().unwrap_or_default(),
        interrupted: docs.iter().any(|(_, d)| d.interrupted),
        partition: None,
        tool: json::tool_name(),
        format_version: report::model::RESULTS_FORMAT_VERSION,
        results: vec![],
        gate: None,
        ..first.clone()
    };
    for (dir, doc) in &docs {
        for v in &doc.versions {
            if !merged.versions.contains(v) {
                merged.versions.push(v.clone());
            }
        }
        for s in &doc.scenarios {
            if !merged.scenarios.contains(s) {
                merged.scenarios.push(s.clone());
            }
        }
        // Partitions of one run name the same binaries; `rerun` of the merge needs them all.
        merged.local_builds.extend(doc.local_builds.clone());
        for cell in &doc.results {
            if merged.results.iter().any(|c| c.scenario == cell.scenario && c.opencode_version == cell.opencode_version) {
                eprintln!(
                    "error: {} on {} appears in more than one report dir (overlapping partitions?)",
                    cell.scenario, cell.opencode_version
                );
                return exit::USAGE;
            }
            for run in &cell.runs {
                if let Err(e) = copy_dir(&dir.join(&run.dir), &out.join(&run.dir)) {
                    eprintln!("error: copying {}: {e}", dir.join(&run.dir).display());
                    return exit::INFRA;
                }
            }
            merged.results.push(cell.clone());
        }
    }
    // The order one unpartitioned run would have: by version as given, then scenario.
    merged.sort_results();
    let decision = gate::decide(&merged.results, strict);
    let code = decision.exit_code;
    merged.gate = (!merged.interrupted).then_some(decision);
    if let Err(e) = report::write_all(&merged, out) {
        eprintln!("error: cannot write {}: {e}", out.display());
        return exit::INFRA;
    }
    print_matrix(&merged);
    eprintln!("merged {} report dir(s) into {}", docs.len(), out.display());
    eprintln!("oc-conform: {}", merged.gate_decision().headline);
    code
}

pub(crate) fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), dest)?;
        }
    }
    Ok(())
}

/// One line per cell: the outcome matrix.
pub fn print_matrix(doc: &ResultsDoc) {
    for c in &doc.results {
        println!("{:16} {} ({})", c.outcome.as_str(), c.scenario, c.opencode_version);
    }
}

/// What regressed and what got fixed from run A to run B. Cells match by scenario and
/// version; when the runs share no version (two versions compared), by scenario.
pub fn diff(a: &Path, b: &Path) -> u8 {
    let (da, db) = match (ResultsDoc::load(a), ResultsDoc::load(b)) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let shared = da.versions.iter().any(|v| db.versions.contains(v));
    let key = |c: &CellReport| {
        if shared {
            format!("{} ({})", c.scenario, c.opencode_version)
        } else {
            c.scenario.clone()
        }
    };
    let ma: BTreeMap<String, &CellReport> = da.results.iter().map(|c| (key(c), c)).collect();
    let mb: BTreeMap<String, &CellReport> = db.results.iter().map(|c| (key(c), c)).collect();
    let mut regressed = 0;
    let mut lines = 0;
    for (k, cb) in &mb {
        let Some(ca) = ma.get(k) else {
            println!("new        {k}: {}", cb.verdict.as_str());
            lines += 1;
            continue;
        };
        let line = match (ca.verdict, cb.verdict) {
            (Verdict::Pass, Verdict::Fail) => {
                regressed += 1;
                format!("regressed  {k}: pass -> fail ({})", cb.failed_checks.join(", "))
            }
            (Verdict::Fail, Verdict::Pass) => format!("fixed      {k}: fail -> pass"),
            (Verdict::Fail, Verdict::Fail) if ca.failed_checks != cb.failed_checks => format!(
                "changed    {k}: fails differently ({} -> {})",
                ca.failed_checks.join(", "),
                cb.failed_checks.join(", ")
            ),
            (x, y) if x != y => format!("changed    {k}: {} -> {}", x.as_str(), y.as_str()),
            _ => continue,
        };
        println!("{line}");
        lines += 1;
    }
    for k in ma.keys().filter(|k| !mb.contains_key(*k)) {
        println!("gone       {k}");
        lines += 1;
    }
    if lines == 0 {
        println!(
            "no difference: the {} cell(s) of {} have the same verdicts and failing checks in {}",
            mb.len(),
            a.display(),
            b.display()
        );
    }
    if regressed > 0 {
        exit::REGRESSION
    } else {
        exit::OK
    }
}

/// Rewrites the expectations file so that the run's outcomes are the expected ones:
/// failures become `fail` expectations for that version (with their failing checks),
/// flakes `flaky`; an unexpected pass drops the version from its expectation.
pub fn update_expectations(run_dir: &Path, file: &Path) -> u8 {
    let doc = match ResultsDoc::load(run_dir) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let mut exp = match Expectations::load(file) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let mut changes = 0;
    for cell in &doc.results {
        let want = match cell.outcome {
            Outcome::Fail => Some(ExpectedOutcome::Fail),
            Outcome::Flaky if !cell.flaky_declared() => Some(ExpectedOutcome::Flaky),
            Outcome::UnexpectedPass => {
                let exact = format!("={}", cell.opencode_version);
                for e in exp.entries.iter_mut().filter(|e| e.scenario == cell.scenario) {
                    let before = e.versions.len();
                    e.versions.retain(|v| v != &exact);
                    changes += before - e.versions.len();
                }
                exp.entries.retain(|e| !e.versions.is_empty());
                None
            }
            _ => None,
        };
        let Some(outcome) = want else { continue };
        changes += 1;
        let version = format!("={}", cell.opencode_version);
        match exp
            .entries
            .iter_mut()
            .find(|e| e.scenario == cell.scenario && e.outcome == outcome && e.failing_checks == cell.failed_checks)
        {
            Some(e) => e.versions.push(version),
            None => exp.entries.push(Expectation {
                scenario: cell.scenario.clone(),
                versions: vec![version],
                outcome,
                failing_checks: if outcome == ExpectedOutcome::Fail { cell.failed_checks.clone() } else { vec![] },
                issue: None,
                reason: Some(format!("recorded from {}", run_dir.display())),
            }),
        }
    }
    if let Err(e) = std::fs::write(file, exp.to_toml()) {
        eprintln!("error: cannot write {}: {e}", file.display());
        return exit::INFRA;
    }
    eprintln!("{changes} change(s) written to {}", file.display());
    // Keep `classify` honest: every cell of the run is now as expected.
    let still = doc.results.iter().filter(|c| {
        let runs: Vec<_> = c.runs.iter().map(|r| r.run_verdict()).collect();
        !classify(&runs, exp.find(&c.scenario, &c.opencode_version)).is_expected(true)
    });
    for c in still {
        eprintln!("note: {} ({}) is {} and stays unexpected", c.scenario, c.opencode_version, c.outcome.as_str());
    }
    exit::OK
}
