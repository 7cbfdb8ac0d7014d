//! Reporters. The runner never prints: it emits [`RunEvent`]s, and every reporter (the
//! terminal, `results.json`, later JUnit and HTML) consumes the same stream.

pub mod json;

use crate::execute::ScenarioOutcome;

/// What happens during a run, in order.
#[derive(Debug, Clone)]
pub enum RunEvent<'a> {
    RunStarted {
        scenarios: usize,
        versions: &'a [String],
    },
    ScenarioStarted {
        scenario: &'a str,
        version: &'a str,
    },
    ScenarioFinished {
        outcome: &'a ScenarioOutcome,
    },
    RunFinished {
        outcomes: &'a [ScenarioOutcome],
        interrupted: bool,
    },
}

pub trait Reporter: Send {
    fn report(&mut self, event: &RunEvent<'_>) -> std::io::Result<()>;
}
