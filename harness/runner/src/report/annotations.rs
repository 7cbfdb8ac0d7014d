//! GitHub Actions annotations: one `::error` workflow command per regression (a cell that
//! fails the gate), so a red job says which scenario on which version, with its failing
//! checks and the auto-bisect's answer, in the run's summary and on the pull request.
//! Written when `CI=true` or `--annotate github`; to stdout, or to stderr when stdout
//! carries `--message-format json` (the runner reads workflow commands from both).

use super::gate::fails_gate;
use super::model::{ResultsBuilder, ResultsDoc};
use super::{Event, Reporter};
use std::io::Write;

/// The workflow commands for `doc`'s regressions, one line each.
pub fn github_lines(doc: &ResultsDoc) -> Vec<String> {
    let strict = doc.gate_decision().strict;
    doc.results
        .iter()
        .filter(|c| fails_gate(c, strict))
        .map(|c| {
            let title = format!("oc-conform {}: {} on opencode {}", c.outcome.as_str(), c.scenario, c.opencode_version);
            let mut message = if c.failed_checks.is_empty() {
                c.error.clone().unwrap_or_else(|| format!("{} is not as expected", c.scenario))
            } else {
                format!("failing checks: {}", c.failed_checks.join(", "))
            };
            for line in super::common::cell_findings(c) {
                message.push('\n');
                message.push_str(&line);
            }
            message.push_str(&format!("\nartifacts: {}/", c.artifacts.dir));
            format!("::error title={}::{}", escape_property(&title), escape_data(&message))
        })
        .collect()
}

/// A workflow command's message: `%`, CR and LF encoded.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A workflow command's property value: also `:` and `,`.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Writes the annotations when the run finishes (after any auto-bisect, so they carry
/// its answers).
pub struct GithubAnnotations {
    builder: ResultsBuilder,
    to_stderr: bool,
}

impl GithubAnnotations {
    pub fn new(to_stderr: bool) -> Self {
        GithubAnnotations {
            builder: ResultsBuilder::default(),
            to_stderr,
        }
    }
}

impl Reporter for GithubAnnotations {
    fn report(&mut self, event: &Event) -> std::io::Result<()> {
        self.builder.on_event(event);
        if !matches!(event, Event::RunFinished { .. }) {
            return Ok(());
        }
        let Some(doc) = self.builder.doc() else { return Ok(()) };
        let lines = github_lines(&doc).join("\n");
        if lines.is_empty() {
            return Ok(());
        }
        if self.to_stderr {
            writeln!(std::io::stderr().lock(), "{lines}")
        } else {
            writeln!(std::io::stdout().lock(), "{lines}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{cell, doc};
    use oc_conform_checks::outcome::Outcome;

    #[test]
    fn each_regression_is_one_error_naming_its_checks_or_why_it_failed() {
        let mut without_checks = cell("e", "1.0.0", Outcome::Fail);
        without_checks.failed_checks.clear();
        without_checks.error = Some("the server exited".into());
        let mut nothing_known = cell("n", "1.0.0", Outcome::Fail);
        nothing_known.failed_checks.clear();
        let mut two = cell("s", "1.0.0", Outcome::Fail);
        two.failed_checks = vec!["a".into(), "b".into()];
        let cells = vec![two, without_checks, nothing_known, cell("p", "1.0.0", Outcome::Pass), cell("x", "1.0.0", Outcome::Error)];
        let lines = github_lines(&doc(&["1.0.0"], &[], cells));
        assert_eq!(
            lines,
            [
                "::error title=oc-conform FAIL%3A s on opencode 1.0.0::failing checks: a, b%0Aartifacts: 1.0.0/s/",
                "::error title=oc-conform FAIL%3A e on opencode 1.0.0::the server exited%0Aartifacts: 1.0.0/e/",
                "::error title=oc-conform FAIL%3A n on opencode 1.0.0::n is not as expected%0Aartifacts: 1.0.0/n/",
            ]
        );
    }

    #[test]
    fn an_annotation_carries_the_cells_findings() {
        let mut c = cell("s", "1.0.0", Outcome::Fail);
        c.rerun = Some(crate::report::model::RerunNote { first: Outcome::Fail, rerun: Outcome::Fail, still_unexpected: true });
        let lines = github_lines(&doc(&["1.0.0"], &["s"], vec![c]));
        assert_eq!(
            lines,
            ["::error title=oc-conform FAIL%3A s on opencode 1.0.0::failing checks: a%0Are-run: FAIL again on re-run: real%0Aartifacts: 1.0.0/s/"]
        );
    }

    #[test]
    fn workflow_command_text_is_escaped() {
        assert_eq!(escape_data("50%\nnext\r"), "50%25%0Anext%0D");
        assert_eq!(escape_property("a: b, c"), "a%3A b%2C c");
    }
}
