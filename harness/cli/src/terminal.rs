//! The terminal reporter: one line per scenario, and for each failure the check's message
//! and its witness.

use oc_conform_checks::Verdict;
use oc_conform_runner::report::{json::witness_json, Reporter, RunEvent};
use std::io::Write;

pub struct Terminal;

impl Terminal {
    pub fn new() -> Self {
        Terminal
    }
}

impl Reporter for Terminal {
    fn report(&mut self, event: &RunEvent<'_>) -> std::io::Result<()> {
        let mut err = std::io::stderr().lock();
        match event {
            RunEvent::RunStarted { scenarios, versions } => writeln!(
                err,
                "running {scenarios} scenario(s) on opencode {}",
                versions.join(", ")
            ),
            RunEvent::ScenarioStarted { .. } => Ok(()),
            RunEvent::ScenarioFinished { outcome: o } => {
                let label = match o.verdict {
                    Verdict::Pass => "PASS",
                    Verdict::Fail => "FAIL",
                    Verdict::Error => "ERROR",
                };
                writeln!(
                    err,
                    "{label:>6} {} ({}) {:.1}s",
                    o.scenario,
                    o.opencode_version,
                    o.duration_ms as f64 / 1000.0
                )?;
                if let Some(e) = &o.error {
                    for line in e.lines() {
                        writeln!(err, "         {line}")?;
                    }
                }
                for c in o.checks.iter().filter(|c| c.verdict != Verdict::Pass) {
                    writeln!(err, "         {} {}: {}", c.verdict.as_str(), c.check, c.message)?;
                    for w in witness_json(&o.timeline, &c.witness) {
                        writeln!(err, "           {:>8.1} ms  {}", w["at_ms"].as_f64().unwrap_or(0.0), w["what"].as_str().unwrap_or(""))?;
                    }
                }
                Ok(())
            }
            RunEvent::RunFinished { outcomes, .. } => {
                let count = |v| outcomes.iter().filter(|o| o.verdict == v).count();
                writeln!(
                    err,
                    "{} passed, {} failed, {} errors",
                    count(Verdict::Pass),
                    count(Verdict::Fail),
                    count(Verdict::Error)
                )
            }
        }
    }
}
