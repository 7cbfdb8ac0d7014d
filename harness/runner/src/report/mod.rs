//! Reporters. The runner never prints: it emits [`RunEvent`]s for live reporters (the
//! terminal), and the finished run is a [`ResultsDoc`] that every file reporter renders
//! (`results.json`, JUnit, the markdown summary, the HTML page). `merge` and `analyze`
//! rebuild a `ResultsDoc` and render it the same way.

mod common;
pub mod html;
pub mod json;
pub mod junit;
pub mod model;
pub mod summary;
pub mod svg;

use crate::execute::ScenarioOutcome;
pub use model::{CellReport, ResultsDoc};
use std::path::Path;

/// What happens during a run, in order.
#[derive(Debug, Clone)]
pub enum RunEvent<'a> {
    RunStarted {
        cells: usize,
        versions: &'a [String],
    },
    ScenarioStarted {
        scenario: &'a str,
        version: &'a str,
    },
    /// One run of a scenario finished (there may be more: repeats, retries).
    ScenarioFinished {
        outcome: &'a ScenarioOutcome,
    },
    /// A scenario's cell (all its runs on one version) is classified.
    CellFinished {
        cell: &'a CellReport,
        done: usize,
        total: usize,
    },
    RunFinished {
        doc: &'a ResultsDoc,
    },
}

pub trait Reporter: Send {
    fn report(&mut self, event: &RunEvent<'_>) -> std::io::Result<()>;
}

/// Writes every file report of a finished run into `dir`: `results.json` first, then
/// `junit.xml`, `summary.md` and `index.html`. Each is tried even when one before it
/// failed; the first error is returned.
pub fn write_all(doc: &ResultsDoc, dir: &Path) -> std::io::Result<()> {
    doc.write(dir)?;
    let results = [
        json::write_extra(doc, dir),
        junit::write(doc, dir),
        summary::write(doc, dir),
        html::write(doc, dir),
    ];
    results.into_iter().collect()
}
