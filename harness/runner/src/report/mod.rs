//! Reporters. The runner never prints: every driver emits [`Event`]s on a [`Bus`] to a
//! set of [`Reporter`]s: the terminal, `--message-format json` ([`events::JsonLines`]),
//! and the file reporters ([`ResultsFiles`]: `results.json`, JUnit, the markdown
//! summary, the HTML page, all rendered from one [`ResultsDoc`]; [`BisectFiles`];
//! [`PluginFiles`]). `merge` and `analyze` rebuild a `ResultsDoc` and render it the same
//! way. To add a report format: a renderer of `ResultsDoc` called from [`write_all`], or
//! a [`Reporter`] added to the drivers' set in `oc-conform-app`.

pub mod annotations;
pub(crate) mod common;
pub mod events;
mod files;
#[cfg(test)]
mod fixtures;
pub mod gate;
pub mod html;
pub mod interface;
pub mod json;
pub mod junit;
pub mod model;
pub mod summary;
pub mod svg;
pub mod terminal;

pub use events::{Bus, Event, Reporter, RunHeader};
pub use files::{BisectFiles, PluginFiles, ResultsFiles};
pub use gate::{exit, ExitMode, GateDecision};
pub use model::{CellReport, ResultsBuilder, ResultsDoc};
pub use terminal::Terminal;
use std::path::Path;

/// Writes every file report of a finished run into `dir`: `results.json` first, then
/// `junit.xml`, `summary.md` and `index.html`. Each is tried even when one before it
/// failed; the first error is returned.
pub fn write_all(doc: &ResultsDoc, dir: &Path) -> std::io::Result<()> {
    doc.write(dir)?;
    let results = [
        junit::write(doc, dir),
        summary::write(doc, dir),
        html::write(doc, dir),
    ];
    results.into_iter().collect()
}
