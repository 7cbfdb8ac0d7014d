//! A bisect's report: `bisect.json` ([`BisectDoc`] serialized) and `bisect.md`, rewritten
//! after every probe so an interrupted bisect leaves what it learned, and the terminal
//! summary, rendered from the same document.

use super::{absent_between, BisectResult, Bisector, Direction, Fingerprint, Gap, ProbeResult, Status};
use crate::install::Source;
use crate::report::model::RunReport;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const BISECT_FORMAT_VERSION: u32 = 1;

/// The role a probe played.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    BadEnd,
    GoodEnd,
    Probe,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::BadEnd => "bad end",
            Role::GoodEnd => "good end",
            Role::Probe => "probe",
        }
    }
}

/// One probe: a version, what it concluded and why, how long it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub version: String,
    pub role: Role,
    pub result: ProbeResult,
    pub reason: String,
    /// How its first failing run failed, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// Wall time: waiting for the binary plus the runs.
    pub duration_ms: u64,
    /// Of that, waiting for the binary (near 0 when it was cached or fetched ahead).
    pub install_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Each run, its `dir` relative to the bisect's report dir.
    pub runs: Vec<RunReport>,
}

/// `bisect.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BisectDoc {
    pub format_version: u32,
    pub tool: String,
    pub started_at: String,
    pub finished_at: String,
    /// Stopped by SIGINT/SIGTERM; `resume` says how to go on.
    pub interrupted: bool,
    pub scenario: String,
    pub direction: Direction,
    /// The ends as given.
    pub good: String,
    pub bad: String,
    pub repeat: u32,
    /// The bad end's failure (given with --fingerprint, or learned from the bad end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// The registry's releases from one end to the other, ascending.
    pub candidates: Vec<String>,
    /// Probes needed without skips, the two end confirmations included.
    pub max_probes: usize,
    /// `searching`, `found`, `ambiguous` or `end_not_confirmed`.
    pub status: String,
    /// Why no answer, when an end was not confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Regression search, found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_bad: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_good: Option<String>,
    /// Fixed search, found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_fixed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failing: Option<String>,
    /// The newest known (or claimed) good and oldest known (or claimed) bad release.
    pub known_good: String,
    pub known_bad: String,
    /// Ambiguous: skipped releases between the known good and bad; the change is in one
    /// of them or in the boundary release.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub untested: Vec<String>,
    /// Found or ambiguous: the version numbers the registry lacks around the boundary,
    /// one gap per pair of neighbours from the known good to the known bad release
    /// (through the untested ones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<Gap>,
    pub probes: Vec<ProbeRecord>,
    pub skipped: Vec<String>,
    /// Found: the one command that shows the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproduce: Option<String>,
    /// Not finished: the command that goes on from what was learned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<String>,
    /// Arguments every printed command carries (e.g. `--scenarios DIR`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_args: Vec<String>,
}

/// ceil(log2(n - 1)) + 2: the probes a search of `n` candidates needs without skips.
pub fn max_probes(n: usize) -> usize {
    let interior = n.saturating_sub(1).max(1);
    (usize::BITS - (interior - 1).leading_zeros()) as usize + 2
}

/// `s` quoted for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/+-=:,@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

impl BisectDoc {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        scenario: &str,
        direction: Direction,
        good: &str,
        bad: &str,
        repeat: u32,
        fingerprint: Option<Fingerprint>,
        candidates: Vec<String>,
        extra_args: Vec<String>,
    ) -> BisectDoc {
        let n = candidates.len();
        let (known_good, known_bad) = match direction {
            Direction::Regression => (candidates.first(), candidates.last()),
            Direction::Fixed => (candidates.last(), candidates.first()),
        };
        BisectDoc {
            format_version: BISECT_FORMAT_VERSION,
            tool: crate::report::json::tool_name(),
            started_at: crate::report::json::now_rfc3339(),
            finished_at: String::new(),
            interrupted: false,
            scenario: scenario.to_string(),
            direction,
            good: good.to_string(),
            bad: bad.to_string(),
            repeat,
            fingerprint,
            known_good: known_good.cloned().unwrap_or_else(|| good.to_string()),
            known_bad: known_bad.cloned().unwrap_or_else(|| bad.to_string()),
            candidates,
            max_probes: max_probes(n),
            status: Status::Searching.as_str().into(),
            error: None,
            first_bad: None,
            last_good: None,
            first_fixed: None,
            last_failing: None,
            untested: vec![],
            gaps: vec![],
            probes: vec![],
            skipped: vec![],
            reproduce: None,
            resume: None,
            extra_args,
        }
    }

    /// Refreshes everything derived from the search's state.
    pub fn update(&mut self, b: &Bisector) {
        let r: BisectResult = b.result();
        let v = |i: usize| self.candidates.get(i).cloned().unwrap_or_default();
        self.status = r.status.as_str().into();
        self.error = match r.status {
            Status::EndNotConfirmed(e) => Some(e.to_string()),
            _ => None,
        };
        self.first_bad = r.first_bad().map(v);
        self.last_good = r.last_good().map(v);
        self.first_fixed = r.first_fixed().map(v);
        self.last_failing = r.last_failing().map(v);
        let (g, bad) = r.known_good_bad();
        self.known_good = v(g);
        self.known_bad = v(bad);
        self.untested = r.untested.iter().map(|&i| v(i)).collect();
        self.skipped = r.skipped.iter().map(|&i| v(i)).collect();
        self.gaps = if matches!(r.status, Status::Found | Status::Ambiguous) {
            let chain: Vec<usize> = std::iter::once(r.last_old)
                .chain(r.untested.iter().copied())
                .chain(std::iter::once(r.first_new))
                .collect();
            chain.windows(2).map(|w| absent_between(&v(w[0]), &v(w[1]))).collect()
        } else {
            Vec::new()
        };
        self.reproduce = (r.status == Status::Found).then(|| {
            // The release that shows the failure: the first bad, or the last failing one.
            let failing = match self.direction {
                Direction::Regression => r.first_new,
                Direction::Fixed => r.last_old,
            };
            self.command(&["run", "--opencode", &v(failing), "--scenario", &self.scenario])
        });
        self.resume = (r.status == Status::Searching).then(|| self.resume_command());
    }

    /// `oc-conform ARGS... EXTRA...`, quoted.
    fn command(&self, args: &[&str]) -> String {
        let mut words = vec!["oc-conform".to_string()];
        words.extend(args.iter().map(|a| shell_quote(a)));
        words.extend(self.extra_args.iter().map(|a| shell_quote(a)));
        words.join(" ")
    }

    /// The bisect that goes on from the newest known good and oldest known bad release.
    pub fn resume_command(&self) -> String {
        let mut args = vec!["bisect", "--scenario", &self.scenario];
        if self.direction == Direction::Fixed {
            args.extend(["--fixed", "--bad", &self.known_bad, "--good", &self.known_good]);
        } else {
            args.extend(["--good", &self.known_good, "--bad", &self.known_bad]);
        }
        let repeat = self.repeat.to_string();
        if self.repeat > 1 {
            args.extend(["--repeat", &repeat]);
        }
        let fp = self.fingerprint.as_ref().map(ToString::to_string);
        if let Some(fp) = &fp {
            args.extend(["--fingerprint", fp]);
        }
        self.command(&args)
    }

    /// The answer as a results cell carries it (`--auto-bisect`); `report` is where this
    /// bisect's own report is, relative to the run's report dir.
    pub fn as_first_bad(&self, report: Option<String>) -> crate::report::model::FirstBad {
        let mut probes: Vec<&ProbeRecord> = self.probes.iter().collect();
        let pos = |v: &str| self.candidates.iter().position(|c| c == v).unwrap_or(usize::MAX);
        probes.sort_by_key(|p| pos(&p.version));
        probes.dedup_by(|a, b| a.version == b.version);
        crate::report::model::FirstBad {
            status: self.status.clone(),
            first_bad: self.first_bad.clone(),
            last_good: self.last_good.clone(),
            probes: probes.iter().map(|p| format!("{}: {}", p.version, p.result.as_str())).collect(),
            reproduce: self.reproduce.clone().unwrap_or_else(|| self.resume_command()),
            summary: self.answer_lines().join("; "),
            report,
        }
    }

    /// Marks the bisect interrupted: the resume command is what to run next.
    pub fn mark_interrupted(&mut self) {
        self.interrupted = true;
        self.finished_at = crate::report::json::now_rfc3339();
        if self.status == Status::Searching.as_str() {
            self.resume = Some(self.resume_command());
        }
    }

    /// The answer in one or two lines (`first bad: V` / `last good: V`, or the fixed
    /// variants, or why there is none).
    pub fn answer_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.status.as_str() {
            "found" => match self.direction {
                Direction::Regression => {
                    out.push(format!("first bad: {}", self.first_bad.as_deref().unwrap_or("?")));
                    out.push(format!("last good: {}", self.last_good.as_deref().unwrap_or("?")));
                }
                Direction::Fixed => {
                    out.push(format!("first fixed: {}", self.first_fixed.as_deref().unwrap_or("?")));
                    out.push(format!("last failing: {}", self.last_failing.as_deref().unwrap_or("?")));
                }
            },
            "ambiguous" => {
                let (first, last) = match self.direction {
                    Direction::Regression => ("first bad", "last good"),
                    Direction::Fixed => ("first fixed", "last failing"),
                };
                let boundary = match self.direction {
                    Direction::Regression => &self.known_bad,
                    Direction::Fixed => &self.known_good,
                };
                let before = match self.direction {
                    Direction::Regression => &self.known_good,
                    Direction::Fixed => &self.known_bad,
                };
                out.push(format!(
                    "{first}: one of {}, {boundary} (skipped releases could not be decided)",
                    self.untested.join(", ")
                ));
                out.push(format!("{last}: {before}"));
            }
            "end_not_confirmed" => {
                out.push(format!("no answer: {}", self.error.as_deref().unwrap_or("an end was not confirmed")));
            }
            _ => {
                out.push(format!(
                    "unfinished: known good {}, known bad {}",
                    self.known_good, self.known_bad
                ));
            }
        }
        out
    }

    /// What the window around the boundary holds beyond what was probed: the version
    /// numbers the registry lacks, and (ambiguous) the releases that could not be decided.
    pub fn window_description(&self) -> Option<String> {
        match self.gaps.as_slice() {
            [] => None,
            [gap] => Some(gap.describe()),
            gaps => {
                let absent: Vec<String> = gaps.iter().flat_map(Gap::absent_parts).collect();
                let first = &gaps[0].from;
                let last = &gaps[gaps.len() - 1].to;
                let mut s = format!(
                    "between {first} and {last} the registry has only releases that could not be decided ({})",
                    self.untested.join(", ")
                );
                if !absent.is_empty() {
                    s.push_str(&format!("; absent from it there: {}", absent.join(", ")));
                }
                Some(s)
            }
        }
    }

    /// `bisect.md`.
    pub fn markdown(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "# Bisect: `{}` ({})\n", self.scenario, self.direction.as_str());
        for line in self.answer_lines() {
            let _ = writeln!(s, "**{line}**  ");
        }
        let _ = writeln!(s);
        if self.interrupted {
            let _ = writeln!(s, "Interrupted.\n");
        }
        if let Some(w) = self.window_description() {
            let _ = writeln!(s, "{w}.\n");
        }
        if let Some(fp) = &self.fingerprint {
            let _ = writeln!(s, "Fingerprint (the bad end's failed checks): `{fp}`\n");
        }
        if let Some(c) = &self.reproduce {
            let _ = writeln!(s, "Reproduce:\n\n```sh\n{c}\n```\n");
        }
        if let Some(c) = &self.resume {
            let _ = writeln!(s, "Resume:\n\n```sh\n{c}\n```\n");
        }
        let _ = writeln!(
            s,
            "{} candidates in the registry from {} to {} (the registry holds a subset of releases); at most {} probes without skips.\n",
            self.candidates.len(),
            self.candidates.first().map(String::as_str).unwrap_or("?"),
            self.candidates.last().map(String::as_str).unwrap_or("?"),
            self.max_probes
        );
        let _ = writeln!(s, "| # | version | role | verdict | reason | time | install |");
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for (i, p) in self.probes.iter().enumerate() {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {:.1} s | {:.1} s |",
                i + 1,
                p.version,
                p.role.as_str(),
                p.result.as_str(),
                p.reason.replace('|', "\\|"),
                p.duration_ms as f64 / 1000.0,
                p.install_ms as f64 / 1000.0
            );
        }
        let _ = writeln!(s, "\nCandidates: {}", self.candidates.join(", "));
        let _ = writeln!(s, "\nEach probe's artifacts: `probes/<version>/{}/` (`oc-conform analyze probes`).", self.scenario);
        s
    }

    /// Writes `bisect.json` and `bisect.md` into `dir`, each replaced in one step.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        for (name, bytes) in [("bisect.json", json), ("bisect.md", self.markdown().into_bytes())] {
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(tmp, dir.join(name))?;
        }
        Ok(())
    }

    pub fn load(dir: &Path) -> Result<BisectDoc, String> {
        let path = dir.join("bisect.json");
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_found_regression_names_first_bad_and_the_gap() {
        let c = versions(&["1.3.2", "1.14.48", "1.15.0", "1.15.4", "1.15.13"]);
        let mut doc = BisectDoc::new("s", Direction::Regression, "1.3.2", "1.15.13", 1, None, c, vec![]);
        let mut b = Bisector::new(5, Direction::Regression).unwrap();
        for (i, r) in [(4, ProbeResult::Bad), (0, ProbeResult::Good), (2, ProbeResult::Good), (3, ProbeResult::Bad)] {
            b.record(i, r).unwrap();
        }
        doc.update(&b);
        assert_eq!(doc.answer_lines(), ["first bad: 1.15.4", "last good: 1.15.0"]);
        assert_eq!(doc.reproduce.as_deref(), Some("oc-conform run --opencode 1.15.4 --scenario s"));
        assert_eq!(doc.gaps.len(), 1);
        assert_eq!(doc.gaps[0].absent, versions(&["1.15.1", "1.15.2", "1.15.3"]));
        assert_eq!(doc.resume, None);
        let md = doc.markdown();
        assert!(md.contains("**first bad: 1.15.4**"), "{md}");
        let back: BisectDoc = serde_json::from_slice(&serde_json::to_vec(&doc).unwrap()).unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn an_interrupted_bisect_resumes_from_what_it_learned() {
        let c = versions(&["1.17.0", "1.17.9", "1.17.11", "1.17.18", "1.18.3"]);
        let fp: Fingerprint = "a+b".parse().unwrap();
        let mut doc = BisectDoc::new("my scenario", Direction::Fixed, "1.18.3", "1.17.0", 3, Some(fp), c, versions(&["--scenarios", "/x y"]));
        let mut b = Bisector::new(5, Direction::Fixed).unwrap();
        b.record(0, ProbeResult::Bad).unwrap();
        b.record(4, ProbeResult::Good).unwrap();
        b.record(2, ProbeResult::Good).unwrap();
        doc.update(&b);
        doc.mark_interrupted();
        assert_eq!(
            doc.resume.as_deref(),
            Some("oc-conform bisect --scenario 'my scenario' --fixed --bad 1.17.0 --good 1.17.11 --repeat 3 --fingerprint a+b --scenarios '/x y'")
        );
        assert_eq!(doc.answer_lines(), ["unfinished: known good 1.17.11, known bad 1.17.0"]);
    }

    #[test]
    fn an_ambiguous_window_names_the_undecided_and_the_absent() {
        let c = versions(&["1.14.34", "1.14.41", "1.14.48", "1.15.0", "1.15.3", "1.15.4", "1.15.13"]);
        let mut doc = BisectDoc::new("s", Direction::Regression, "1.14.34", "1.15.13", 1, None, c, vec![]);
        let mut b = Bisector::new(7, Direction::Regression).unwrap();
        for (i, r) in [
            (6, ProbeResult::Bad),
            (0, ProbeResult::Good),
            (3, ProbeResult::Skip),
            (2, ProbeResult::Skip),
            (4, ProbeResult::Bad),
            (1, ProbeResult::Good),
        ] {
            b.record(i, r).unwrap();
        }
        doc.update(&b);
        assert_eq!(doc.status, "ambiguous");
        assert_eq!(
            doc.answer_lines(),
            ["first bad: one of 1.14.48, 1.15.0, 1.15.3 (skipped releases could not be decided)", "last good: 1.14.41"]
        );
        assert_eq!(
            doc.window_description().unwrap(),
            "between 1.14.41 and 1.15.3 the registry has only releases that could not be decided (1.14.48, 1.15.0); \
             absent from it there: 1.14.42 to 1.14.47 (6 versions), any 1.14.x after 1.14.48, 1.15.1, 1.15.2"
        );
        assert_eq!(doc.reproduce, None);
    }

    #[test]
    fn max_probes_counts_the_ends() {
        assert_eq!(max_probes(2), 2);
        assert_eq!(max_probes(3), 3);
        assert_eq!(max_probes(4), 4);
        assert_eq!(max_probes(5), 4);
        assert_eq!(max_probes(8), 5);
    }
}
