//! The terminal reporter: one line per finished cell (with `[done/total]` on a TTY), and
//! for each unexpected outcome the failing checks with their witnesses.

use oc_conform_checks::outcome::Outcome;
use oc_conform_checks::Verdict;
use oc_conform_runner::report::{Reporter, RunEvent};
use std::io::{IsTerminal, Write};

pub struct Terminal {
    tty: bool,
}

impl Terminal {
    pub fn new() -> Self {
        Terminal {
            tty: std::io::stderr().is_terminal(),
        }
    }
}

impl Reporter for Terminal {
    fn report(&mut self, event: &RunEvent<'_>) -> std::io::Result<()> {
        let mut err = std::io::stderr().lock();
        match event {
            RunEvent::RunStarted { cells, versions } => writeln!(
                err,
                "running {cells} scenario run(s) on opencode {}",
                versions.join(", ")
            ),
            RunEvent::ScenarioStarted { .. } | RunEvent::ScenarioFinished { .. } => Ok(()),
            RunEvent::CellFinished { cell: c, done, total } => {
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
            RunEvent::RunFinished { doc } => {
                let parts: Vec<String> = [
                    Outcome::Pass,
                    Outcome::Fail,
                    Outcome::ExpectedFail,
                    Outcome::UnexpectedPass,
                    Outcome::Flaky,
                    Outcome::Timeout,
                    Outcome::Error,
                ]
                .iter()
                .map(|o| (o, doc.count(*o)))
                .filter(|(_, n)| *n > 0)
                .map(|(o, n)| format!("{n} {}", o.as_str()))
                .collect();
                writeln!(err, "{}", parts.join(", "))
            }
        }
    }
}
