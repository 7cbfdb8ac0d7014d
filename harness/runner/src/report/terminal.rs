//! The terminal reporter: progress and results on stderr, one line per finished cell
//! (with `[done/total]` on a TTY) and, for each unexpected outcome, the failing checks
//! with their witnesses; a bisect's probes; a plugin check's rounds and summary. The
//! answers a script may read (a bisect's result) go to stdout, unless stdout carries
//! `--message-format json`.

use super::events::{Event, Reporter};
use super::model::CellReport;
use crate::bisect::report::BisectDoc;
use crate::plugin_report::{PluginReport, ScenarioSummary, Severity};
use oc_conform_checks::outcome::Outcome;
use oc_conform_checks::Verdict;
use std::io::{self, IsTerminal, Write};
use std::time::Instant;

pub struct Terminal {
    tty: bool,
    /// Answers on stdout (off when stdout carries JSON lines).
    answers_to_stdout: bool,
    /// The current run's round (check-plugin's, or explore's), which changes how its
    /// cells are printed.
    round: Option<String>,
    /// The current run's report dir.
    report_dir: Option<String>,
    /// The current run's outcomes so far.
    counts: std::collections::BTreeMap<Outcome, usize>,
    bisect_started: Option<Instant>,
    /// The bisect as the last probe left it.
    bisect: Option<BisectDoc>,
    repeat: u32,
    max_probes: usize,
}

impl Terminal {
    pub fn new(answers_to_stdout: bool) -> Self {
        Terminal {
            tty: io::stderr().is_terminal(),
            answers_to_stdout,
            round: None,
            report_dir: None,
            counts: Default::default(),
            bisect_started: None,
            bisect: None,
            repeat: 1,
            max_probes: 0,
        }
    }

    fn answer(&self, line: &str) -> io::Result<()> {
        if self.answers_to_stdout {
            writeln!(io::stdout().lock(), "{line}")
        } else {
            writeln!(io::stderr().lock(), "{line}")
        }
    }

    fn cell(&self, err: &mut impl Write, c: &CellReport, done: usize, total: usize) -> io::Result<()> {
        if let Some(round) = &self.round {
            let mut line = format!(
                "  {:>15} {} ({}, {round}) {:.1}s",
                c.outcome.as_str(),
                c.scenario,
                c.opencode_version,
                c.duration_ms as f64 / 1000.0
            );
            if !c.failed_checks.is_empty() {
                line.push_str(&format!(": {}", c.failed_checks.join(", ")));
            } else if let Some(e) = &c.error {
                line.push_str(&format!(": {}", e.lines().next().unwrap_or_default()));
            }
            return writeln!(err, "{line}");
        }
        let progress = if self.tty { format!("[{done}/{total}] ") } else { String::new() };
        let runs = if c.runs.len() > 1 { format!(", {} runs", c.runs.len()) } else { String::new() };
        writeln!(
            err,
            "{progress}{:>15} {} ({}) {:.1}s{runs}",
            c.outcome.as_str(),
            c.scenario,
            c.opencode_version,
            c.duration_ms as f64 / 1000.0
        )?;
        if let Some(e) = &c.expectation {
            if c.outcome == Outcome::ExpectedFail {
                if let Some(issue) = &e.issue {
                    writeln!(err, "                 known: {issue}")?;
                }
                return Ok(());
            }
        }
        if let Some(e) = &c.error {
            for line in e.lines() {
                writeln!(err, "                 {line}")?;
            }
        }
        for check in c.checks.iter().filter(|x| x.verdict != Verdict::Pass) {
            writeln!(err, "                 {} {}: {}", check.verdict.as_str(), check.check, check.message)?;
            for w in &check.witness {
                writeln!(err, "                   {:>8.1} ms  {}", w.at_ms, w.what)?;
            }
        }
        Ok(())
    }

    fn bisect_finished(&self, d: &BisectDoc) -> io::Result<()> {
        if let Some(fp) = &d.fingerprint {
            eprintln!("fingerprint (the bad end's failed checks): {fp}");
        }
        for line in d.answer_lines() {
            self.answer(&line)?;
        }
        if let Some(w) = d.window_description() {
            self.answer(&w)?;
        }
        if !d.skipped.is_empty() {
            self.answer(&format!("skipped: {}", d.skipped.join(", ")))?;
        }
        if let Some(c) = &d.reproduce {
            self.answer(&format!("reproduce: {c}"))?;
        }
        let elapsed = self.bisect_started.map_or(0.0, |t| t.elapsed().as_secs_f64());
        self.answer(&format!("{} probe(s) in {elapsed:.0} s", d.probes.len()))
    }
}

impl Reporter for Terminal {
    fn report(&mut self, event: &Event) -> io::Result<()> {
        let mut err = io::stderr().lock();
        match event {
            Event::StreamStarted { .. } | Event::ScenarioStarted { .. } | Event::ScenarioFinished { .. } => Ok(()),
            Event::Note { text } => writeln!(err, "{text}"),
            Event::RunStarted { run } => {
                self.round = run.round.clone();
                self.report_dir = Some(run.report_dir.clone());
                self.counts.clear();
                if self.round.is_some() {
                    return Ok(());
                }
                if let Some(url) = &run.attached_to {
                    writeln!(err, "attached to {url}")?;
                }
                writeln!(
                    err,
                    "running {} scenario run(s) on opencode {}",
                    run.cells,
                    run.versions.join(", ")
                )
            }
            Event::VersionUnavailable { version, reason } => {
                writeln!(err, "error: cannot get opencode {version}: {reason}; its cells are ERROR")
            }
            Event::CellFinished { cell, done, total } => {
                *self.counts.entry(cell.outcome).or_default() += 1;
                self.cell(&mut err, cell, *done, *total)
            }
            Event::Skipped { skipped } => writeln!(err, "        SKIPPED {}: {}", skipped.scenario, skipped.reason),
            Event::Interrupted { signal } => {
                writeln!(err, "\ninterrupted ({signal})")?;
                if let Some(d) = &self.bisect {
                    writeln!(err, "learned so far: known good {}, known bad {}", d.known_good, d.known_bad)?;
                    if let Some(resume) = &d.resume {
                        writeln!(err, "resume with: {resume}")?;
                    }
                }
                match &self.report_dir {
                    Some(dir) => writeln!(err, "partial report: {dir}"),
                    None => Ok(()),
                }
            }
            Event::InterfaceChanges { changes } => {
                for line in changes.terminal_lines() {
                    writeln!(err, "{line}")?;
                }
                Ok(())
            }
            Event::RunFinished { gate, .. } => {
                if self.round.is_some() {
                    return Ok(());
                }
                let counts: Vec<String> = super::common::OUTCOME_ORDER
                    .iter()
                    .filter_map(|o| self.counts.get(o).map(|n| format!("{n} {}", o.as_str())))
                    .collect();
                writeln!(err, "{}", counts.join(", "))?;
                writeln!(err, "oc-conform: {}", gate.headline)?;
                match self.report_dir.take() {
                    Some(dir) => writeln!(err, "report: {dir}"),
                    None => Ok(()),
                }
            }
            Event::BisectStarted { doc } => {
                self.bisect_started = Some(Instant::now());
                self.bisect = Some((**doc).clone());
                self.repeat = doc.repeat;
                self.max_probes = doc.max_probes;
                writeln!(
                    err,
                    "bisect {} ({}): {} candidate(s) in the registry from {} to {} (the registry holds a subset of releases): {}",
                    doc.scenario,
                    doc.direction.as_str(),
                    doc.candidates.len(),
                    doc.candidates.first().map(String::as_str).unwrap_or("?"),
                    doc.candidates.last().map(String::as_str).unwrap_or("?"),
                    doc.candidates.join(", ")
                )?;
                writeln!(err, "at most {} probe(s) without skips, the two ends included", doc.max_probes)
            }
            Event::ProbeStarted {
                number,
                version,
                role,
                fetching,
            } => {
                let ahead = if fetching.is_empty() {
                    String::new()
                } else {
                    format!("; fetching ahead: {}", fetching.join(", "))
                };
                let count = if *number <= self.max_probes {
                    format!("{number}/<={}", self.max_probes)
                } else {
                    format!("{number}, skips cost extra")
                };
                writeln!(err, "[{count}] probing {version} ({}){ahead}", role.as_str())
            }
            Event::ProbeRan { version, run, verdict } => {
                if self.repeat > 1 {
                    writeln!(err, "      {version} run {run}/{}: {}", self.repeat, verdict.as_str())?;
                }
                Ok(())
            }
            Event::ProbeFinished { probe, doc, .. } => {
                self.bisect = Some((**doc).clone());
                let install = if probe.install_ms >= 500 {
                    format!(" (+{:.1} s install)", probe.install_ms as f64 / 1000.0)
                } else {
                    String::new()
                };
                writeln!(
                    err,
                    "      {:<9} {:<4} {:>5.1} s{install}  {}",
                    probe.version,
                    probe.result.as_str(),
                    probe.duration_ms.saturating_sub(probe.install_ms) as f64 / 1000.0,
                    probe.reason
                )
            }
            Event::CellBisected { scenario, version, first_bad } => {
                writeln!(err, "auto-bisect {scenario} ({version}): {}", first_bad.summary)?;
                writeln!(err, "  reproduce: {}", first_bad.reproduce)
            }
            Event::BisectFinished { doc } => {
                drop(err);
                self.bisect_finished(doc)
            }
            Event::PluginCheckStarted { plugin, versions, .. } => writeln!(
                err,
                "check-plugin {} ({:?}{}) on opencode {}",
                plugin.name,
                plugin.kind,
                if plugin.dependencies.is_empty() {
                    String::new()
                } else {
                    format!(", dependencies installed: {}", plugin.dependencies.join(", "))
                },
                versions.join(", ")
            )
            .and_then(|()| {
                plugin
                    .install_deviations
                    .iter()
                    .try_for_each(|d| writeln!(err, "  installed as opencode would, not as npm strictly would: {d}"))
            }),
            Event::PluginRemeasure { scenario, version, reason } => {
                writeln!(err, "  {scenario} on {version}: {reason}: playing it again, one at a time")
            }
            Event::PluginCheckFinished { report, .. } => plugin_summary(&mut err, report),
            Event::ExploreStarted { version, seed, budget_secs, max_steps, k, .. } => writeln!(
                err,
                "exploring opencode {version}: seed {seed}, budget {budget_secs} s, up to {max_steps} actions a case, shrinking k = {k}"
            ),
            Event::ExploreCase { case, shrinking } => {
                let what = match shrinking {
                    Some(_) => "  shrink run",
                    None => "case",
                };
                let fp = case.fingerprint.as_ref().map(|f| format!(" {f}")).unwrap_or_default();
                writeln!(
                    err,
                    "{what} {} {:?}{fp} [{}] {:.1}s",
                    case.name,
                    case.verdict,
                    crate::explore::describe(&case.actions),
                    case.duration_ms as f64 / 1000.0
                )
            }
            Event::ExploreShrinkStep { step, tried, .. } => writeln!(
                err,
                "  shrunk ({tried} tried): {} -> [{}]",
                step.how,
                crate::explore::describe(&step.actions)
            ),
            Event::ExploreFinished { doc } => {
                for f in &doc.findings {
                    writeln!(err, "{} {} minimal [{}]", f.label(), f.fingerprint, crate::explore::describe(&f.minimal))?;
                    if let Some(r) = &f.replay {
                        writeln!(err, "  replay: {r}")?;
                    }
                }
                writeln!(err, "explore: {}", doc.headline)?;
                // The explorer's runs are a round: the run's own end line is not printed.
                match self.report_dir.take() {
                    Some(dir) => writeln!(err, "report: {dir}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// How the scenarios played with the plugin compare with the runs without it. Only those
/// with such a run are counted against it: the custom tools' round and the author's own
/// scenarios have none.
fn compared_with_baseline(scenarios: &[ScenarioSummary]) -> String {
    let compared: Vec<_> = scenarios.iter().filter(|s| s.baseline_outcome.is_some()).collect();
    let same = compared.iter().filter(|s| !s.plugin_fault).count();
    let mut line = format!("scenarios with the plugin: {same} of {} as without it", compared.len());
    let alone = scenarios.len() - compared.len();
    if alone > 0 {
        line.push_str(&format!("; {alone} with no run without it (the custom tools' calls, your own scenarios)"));
    }
    line
}

fn plugin_summary(err: &mut impl Write, doc: &PluginReport) -> io::Result<()> {
    for v in &doc.versions {
        writeln!(err)?;
        match &v.load_error {
            Some(e) => writeln!(err, "opencode {}: NOT LOADED: {e}", v.opencode_version)?,
            None => writeln!(
                err,
                "opencode {}: loaded; hooks registered: {}",
                v.opencode_version,
                if v.hooks_registered.is_empty() {
                    "none".to_string()
                } else {
                    v.hooks_registered.join(", ")
                }
            )?,
        }
        writeln!(err, "  {}", compared_with_baseline(&v.scenarios))?;
        if !v.hooks.is_empty() {
            writeln!(
                err,
                "  {:<28} {:>6} {:>10} {:>10} {:>10} {:>6}",
                "hook", "calls", "max ms", "p95 ms", "sync max", "threw"
            )?;
            for h in &v.hooks {
                writeln!(
                    err,
                    "  {:<28} {:>6} {:>10.1} {:>10.1} {:>10.1} {:>6}",
                    h.hook, h.calls, h.max_ms, h.p95_ms, h.max_sync_ms, h.threw
                )?;
            }
        }
        for c in v.coverage.iter().filter(|c| c.calls == 0) {
            writeln!(err, "  {:<28} {}", c.hook, c.status)?;
        }
        let mut tools: Vec<&str> = v.tool_calls.iter().map(|c| c.tool.as_str()).collect();
        tools.dedup();
        for tool in tools {
            let mut counts: Vec<(&str, usize)> = Vec::new();
            for c in v.tool_calls.iter().filter(|c| c.tool == tool) {
                match counts.iter_mut().find(|(o, _)| *o == c.outcome.as_str()) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((c.outcome.as_str(), 1)),
                }
            }
            let said: Vec<String> = counts.iter().map(|(o, n)| format!("{n} {o}")).collect();
            writeln!(err, "  tool {tool} called with generated arguments: {}", said.join(", "))?;
        }
        for f in &v.findings {
            writeln!(err, "  {} {}: {}", f.severity.as_str(), f.kind, f.message)?;
        }
    }
    writeln!(err)?;
    let (p, w) = (doc.count(Severity::Problem), doc.count(Severity::Warning));
    match doc.verdict.as_str() {
        "ok" => writeln!(err, "result: OK, no problem found ({w} warning(s))"),
        "problems" => writeln!(err, "result: PROBLEMS FOUND: {p} problem(s), {w} warning(s)"),
        _ => writeln!(
            err,
            "result: NO VERDICT for some scenario ({} no-verdict finding(s), {w} warning(s))",
            doc.count(Severity::Infra)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(scenario: &str, baseline: Option<&str>, plugin_fault: bool) -> ScenarioSummary {
        ScenarioSummary {
            scenario: scenario.into(),
            core: baseline.is_some(),
            outcome: "PASS".into(),
            baseline_outcome: baseline.map(str::to_string),
            baseline_cached: false,
            failed_checks: vec![],
            error: None,
            turn_ms: None,
            baseline_turn_ms: None,
            plugin_fault,
            artifacts: String::new(),
        }
    }

    #[test]
    fn only_scenarios_with_a_run_without_the_plugin_are_compared_with_it() {
        let scenarios = [
            summary("abort-http", Some("PASS"), false),
            summary("plugin-loads", Some("PASS"), true),
            summary("plugin-tools", None, false),
        ];
        assert_eq!(
            compared_with_baseline(&scenarios),
            "scenarios with the plugin: 1 of 2 as without it; 1 with no run without it (the custom tools' calls, your own scenarios)"
        );
        assert_eq!(compared_with_baseline(&scenarios[..1]), "scenarios with the plugin: 1 of 1 as without it");
    }
}
