//! The explorer's document (`explore.json`, `explore.md`): the seed, every case played,
//! each distinct fingerprint (new or known) with its original and minimal sequences, the
//! shrink steps and the command that replays it; the rates and where the time went.
//! Written by [`ExploreFiles`] from the `explore-finished` event.

use super::actions::Action;
use super::compile::describe;
use super::fingerprint::Fingerprint;
use super::shrink::ShrinkStep;
use crate::report::{common::write_atomic, Event, Reporter};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How one case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseVerdict {
    Pass,
    /// Failed only in ways expectations.toml knows on this release.
    Known,
    /// A failure nobody listed: a finding.
    New,
    /// No verdict (the server could not be had, a step could not reach its state).
    Error,
}

/// One case played (explored, or a shrink candidate's run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRecord {
    /// The scenario name the case was played as (its artifacts are under it).
    pub name: String,
    /// The seed the case was generated from (none: a shrink candidate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub actions: Vec<Action>,
    pub verdict: CaseVerdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// The known failures the fingerprint was recognised as.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known_as: Vec<String>,
    /// Its checks that only a known failure's consequences explain (none of them fails
    /// it in its own scenario): the known failure showing through checks its scenario
    /// does not run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consequences: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// One distinct fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub fingerprint: Fingerprint,
    /// New (a finding) or known (expectations.toml lists it on this release).
    pub new: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known_as: Vec<String>,
    /// As [`CaseRecord::consequences`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consequences: Vec<String>,
    /// The first case that showed it, its seed and sequence.
    pub first_case: String,
    pub seed: u64,
    pub original: Vec<Action>,
    /// Cases (explored) that showed it.
    pub seen: usize,
    /// Whether it was shrunk (new findings, and known ones with `--shrink-known`).
    pub shrunk: bool,
    pub shrink_steps: Vec<ShrinkStep>,
    /// Candidates played while shrinking, and the shrink's time.
    pub shrink_tried: usize,
    pub shrink_ms: u64,
    /// The shrink stopped at its budget rather than at a minimal case.
    pub shrink_budget_hit: bool,
    pub minimal: Vec<Action>,
    /// The written scenario file, and the command that replays it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// The minimal case's timeline picture (its last reproducing run's artifact dir).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<String>,
    /// Not seen in a case of its own: a shrink candidate of this other fingerprint
    /// failed as this known failure, k runs of k (a case whose known bug an extra action
    /// made look new, as a dispose after a stuck abort).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found_shrinking: Option<Fingerprint>,
}

/// Where the time went, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub generating_ms: u64,
    /// Every run played: the cases and the shrink candidates.
    pub playing_ms: u64,
    /// Shrinking, from each fingerprint's first candidate to its minimal case.
    pub shrinking_ms: u64,
    /// The part of `playing_ms` spent on shrink candidates.
    #[serde(default)]
    pub shrink_playing_ms: u64,
    pub total_ms: u64,
}

impl Timing {
    /// Playing the explored cases: what `--budget` bounds.
    pub fn cases_playing_ms(&self) -> u64 {
        self.playing_ms.saturating_sub(self.shrink_playing_ms)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExploreDoc {
    pub tool: String,
    pub opencode_version: String,
    pub seed: u64,
    pub budget_secs: u64,
    pub shrink_budget_secs: u64,
    pub max_steps: usize,
    pub k: u32,
    pub started_at: String,
    pub finished_at: String,
    /// The cases explored (not the shrink candidates' runs, which are in `shrink_runs`).
    pub cases: Vec<CaseRecord>,
    pub shrink_runs: Vec<CaseRecord>,
    pub findings: Vec<Finding>,
    /// Actions played per minute of playing, shrink runs included.
    pub actions_per_minute: f64,
    pub timing: Timing,
    /// 0 nothing beyond known failures, 1 a new finding, 2 no verdict.
    pub exit_code: u8,
    pub headline: String,
    #[serde(default)]
    pub interrupted: bool,
}

impl Finding {
    /// A finding of the fingerprint `case` failed with, as that case showed it,
    /// not shrunk yet; `seed` is the case's, `artifacts` its run's dir in the report.
    pub fn first_seen(case: &CaseRecord, fingerprint: Fingerprint, seed: u64, artifacts: Option<String>) -> Finding {
        Finding {
            fingerprint,
            new: case.verdict == CaseVerdict::New,
            known_as: case.known_as.clone(),
            consequences: case.consequences.clone(),
            first_case: case.name.clone(),
            seed,
            original: case.actions.clone(),
            seen: 1,
            shrunk: false,
            shrink_steps: vec![],
            shrink_tried: 0,
            shrink_ms: 0,
            shrink_budget_hit: false,
            minimal: case.actions.clone(),
            scenario_file: None,
            replay: None,
            artifacts,
            found_shrinking: None,
        }
    }

    /// `NEW`, or `known (` the known failures `)`, with the checks only their
    /// consequences explain.
    pub fn label(&self) -> String {
        match (self.new, self.consequences.is_empty()) {
            (true, _) => "NEW".to_string(),
            (false, true) => format!("known ({})", self.known_as.join(", ")),
            (false, false) => format!(
                "known ({}; {} as its consequence)",
                self.known_as.join(", "),
                self.consequences.join(", ")
            ),
        }
    }
}

impl ExploreDoc {
    pub fn new_findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.new)
    }
}

fn sequence(actions: &[Action]) -> String {
    format!("`{}` ({} actions)", describe(actions), actions.len())
}

/// `explore.md`.
pub fn render_md(doc: &ExploreDoc) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# oc-conform explore: opencode {}\n", doc.opencode_version);
    let _ = writeln!(s, "**{}**\n", doc.headline);
    let _ = writeln!(
        s,
        "Seed {} (replay the same cases: `oc-conform explore --opencode {} --seed {} --max-steps {}`), budget {} s, shrink budget {} s, k = {}.\n",
        doc.seed, doc.opencode_version, doc.seed, doc.max_steps, doc.budget_secs, doc.shrink_budget_secs, doc.k
    );
    let count = |v: CaseVerdict| doc.cases.iter().filter(|c| c.verdict == v).count();
    let _ = writeln!(
        s,
        "Cases: {} played ({} pass, {} known failure, {} new failure, {} no verdict); {} shrink runs. {:.1} actions per minute.\n",
        doc.cases.len(),
        count(CaseVerdict::Pass),
        count(CaseVerdict::Known),
        count(CaseVerdict::New),
        count(CaseVerdict::Error),
        doc.shrink_runs.len(),
        doc.actions_per_minute
    );
    let t = &doc.timing;
    let _ = writeln!(
        s,
        "Time: {} s in all: {} s playing the cases (what `--budget` bounds), {} s shrinking ({} s of it playing candidates), {} ms generating.\n",
        t.total_ms / 1000,
        t.cases_playing_ms() / 1000,
        t.shrinking_ms / 1000,
        t.shrink_playing_ms / 1000,
        t.generating_ms
    );
    let _ = writeln!(s, "## Fingerprints\n");
    if doc.findings.is_empty() {
        let _ = writeln!(s, "No case failed.\n");
    }
    for f in &doc.findings {
        let _ = writeln!(s, "### {}: `{}`\n", f.label(), f.fingerprint);
        match &f.found_shrinking {
            Some(from) => {
                let _ = writeln!(
                    s,
                    "- found while shrinking `{from}` (case seed {}): its candidate `{}` failed this way in every run",
                    f.seed, f.first_case
                );
            }
            None => {
                let _ = writeln!(s, "- seen in {} case(s), first `{}` (seed {})", f.seen, f.first_case, f.seed);
            }
        }
        let _ = writeln!(s, "- original: {}", sequence(&f.original));
        if f.shrunk {
            for (i, st) in f.shrink_steps.iter().enumerate() {
                let _ = writeln!(s, "  - shrink {}: {} -> {}", i + 1, st.how, sequence(&st.actions));
            }
            let stop = if f.shrink_budget_hit { "stopped at the shrink budget" } else { "no smaller case reproduces" };
            let _ = writeln!(
                s,
                "- minimal: {} ({} candidates in {} s; {stop})",
                sequence(&f.minimal),
                f.shrink_tried,
                f.shrink_ms / 1000
            );
        } else {
            let _ = writeln!(s, "- not shrunk (known; `--shrink-known` shrinks it)");
        }
        for g in doc.findings.iter().filter(|g| g.found_shrinking.as_ref() == Some(&f.fingerprint)) {
            let _ = writeln!(s, "- reduces to {}: {} failed as it in every run", g.label(), sequence(&g.original));
        }
        if let Some(file) = &f.scenario_file {
            let _ = writeln!(s, "- scenario: `{file}`");
        }
        if let Some(r) = &f.replay {
            let _ = writeln!(s, "- replay: `{r}`");
        }
        if let Some(a) = &f.artifacts {
            let _ = writeln!(s, "- timeline: `{a}/timeline.json` (the picture: `index.html` of this report)");
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "## Cases\n");
    let _ = writeln!(s, "| case | seed | verdict | fingerprint | actions |\n|---|---|---|---|---|");
    for c in &doc.cases {
        let _ = writeln!(
            s,
            "| {} | {} | {:?} | {} | {} |",
            c.name,
            c.seed.map(|x| x.to_string()).unwrap_or_default(),
            c.verdict,
            c.fingerprint.as_ref().map(|f| f.to_string()).unwrap_or_default(),
            describe(&c.actions)
        );
    }
    s
}

/// Writes `explore.json` and `explore.md` when the exploration ends.
pub struct ExploreFiles {
    dir: PathBuf,
}

impl ExploreFiles {
    pub fn new(dir: &Path) -> ExploreFiles {
        ExploreFiles { dir: dir.to_path_buf() }
    }
}

impl Reporter for ExploreFiles {
    fn report(&mut self, event: &Event) -> std::io::Result<()> {
        let Event::ExploreFinished { doc } = event else {
            return Ok(());
        };
        let json = serde_json::to_vec_pretty(doc).map_err(std::io::Error::other)?;
        write_atomic(&self.dir, "explore.json", &json)?;
        write_atomic(&self.dir, "explore.md", render_md(doc).as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> ExploreDoc {
        ExploreDoc {
            tool: "t".into(),
            opencode_version: "1.15.13".into(),
            seed: 14,
            budget_secs: 600,
            shrink_budget_secs: 180,
            max_steps: 6,
            k: 2,
            started_at: String::new(),
            finished_at: String::new(),
            cases: vec![],
            shrink_runs: vec![],
            findings: vec![],
            actions_per_minute: 27.4,
            timing: Timing::default(),
            exit_code: 0,
            headline: "h".into(),
            interrupted: false,
        }
    }

    #[test]
    fn a_new_finding_names_the_known_failure_it_reduces_to_and_that_one_where_it_came_from() {
        use crate::explore::actions::{Via, LONG_SLEEP_SECS};
        let case = |name: &str, verdict, acts: Vec<Action>| CaseRecord {
            name: name.into(),
            seed: None,
            actions: acts,
            verdict,
            fingerprint: None,
            known_as: if verdict == CaseVerdict::Known { vec!["abort-plugin-client".into()] } else { vec![] },
            consequences: vec![],
            error: None,
            duration_ms: 0,
        };
        let new_fp = Fingerprint::of(&["idle-event-matches-status", "one-idle-per-busy"]);
        let known_fp = Fingerprint::of(&["idle-event-matches-status", "status-reaches-idle", "tool-ends-aborted"]);
        let two = vec![Action::PromptSleep { secs: LONG_SLEEP_SECS }, Action::AbortPlugin { via: Via::Client }];
        let three = [&two[..], &[Action::DisposeInstance]].concat();
        let new = Finding::first_seen(&case("explore-14-case-54", CaseVerdict::New, three), new_fp.clone(), 7, None);
        let mut known = Finding::first_seen(&case("explore-14-case-54-shrink-1-run-1", CaseVerdict::Known, two), known_fp, 7, None);
        known.seen = 0;
        known.found_shrinking = Some(new_fp);
        let mut d = doc();
        d.findings = vec![new, known];
        let md = render_md(&d);
        assert!(
            md.contains("- reduces to known (abort-plugin-client): `prompt-sleep-30, abort-plugin-client` (2 actions) failed as it in every run"),
            "{md}"
        );
        assert!(
            md.contains("- found while shrinking `idle-event-matches-status+one-idle-per-busy` (case seed 7): its candidate `explore-14-case-54-shrink-1-run-1` failed this way in every run"),
            "{md}"
        );
        assert_eq!(md.matches("reduces to").count(), 1, "only the new finding reduces to something: {md}");
    }

    #[test]
    fn the_time_line_splits_playing_into_the_cases_and_the_shrink_candidates() {
        let mut doc = doc();
        doc.timing = Timing {
            generating_ms: 3,
            playing_ms: 1_232_000,
            shrinking_ms: 632_000,
            shrink_playing_ms: 610_000,
            total_ms: 1_234_000,
        };
        let md = render_md(&doc);
        assert!(
            md.contains("Time: 1234 s in all: 622 s playing the cases (what `--budget` bounds), 632 s shrinking (610 s of it playing candidates), 3 ms generating."),
            "{md}"
        );
    }
}
