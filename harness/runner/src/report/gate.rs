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
