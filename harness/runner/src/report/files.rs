//! The reporters that write files: each listens to the event stream and writes its
//! documents when there is something final to write (a run's end, a probe, an interrupt).

use super::events::{Event, Reporter, RunHeader};
use super::model::{CellReport, ResultsBuilder, ResultsDoc};
use super::{json, write_all};
use crate::bisect::report::BisectDoc;
use crate::plugin_report::{self, PluginReport};
use std::io;
use std::path::{Path, PathBuf};

/// `results.json`, `junit.xml`, `summary.md` and `index.html` of each run in the stream,
/// into the report dir its `run-started` names; on an interrupt, what finished, marked
/// interrupted.
#[derive(Default)]
pub struct ResultsFiles {
    builder: ResultsBuilder,
    dir: Option<PathBuf>,
}

impl ResultsFiles {
    pub fn new() -> Self {
        Self::default()
    }

    fn write(&self) -> io::Result<()> {
        match (self.builder.doc(), &self.dir) {
            (Some(doc), Some(dir)) => write_all(&doc, dir).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot write the reports in {}: {e}", dir.display()))
            }),
            _ => Ok(()),
        }
    }
}

impl Reporter for ResultsFiles {
    fn report(&mut self, event: &Event) -> io::Result<()> {
        self.builder.on_event(event);
        match event {
            Event::RunStarted { run } => {
                self.dir = Some(PathBuf::from(&run.report_dir));
                Ok(())
            }
            Event::RunFinished { .. } => {
                let r = self.write();
                // The run is written; a later interrupt belongs to whatever comes next.
                self.dir = None;
                r
            }
            Event::Interrupted { .. } => self.write(),
            _ => Ok(()),
        }
    }
}

/// `bisect.json` and `bisect.md`, rewritten after every probe so an interrupted bisect
/// leaves what it learned, and `probes/results.json` (with its JUnit, markdown and HTML):
/// the probes as a standard run report that `oc-conform analyze` reads.
pub struct BisectFiles {
    dir: PathBuf,
    doc: Option<BisectDoc>,
    probes: Vec<CellReport>,
}

impl BisectFiles {
    pub fn new(report_dir: &Path) -> Self {
        BisectFiles {
            dir: report_dir.to_path_buf(),
            doc: None,
            probes: vec![],
        }
    }

    /// The probes' own report dir.
    pub fn probes_dir(report_dir: &Path) -> PathBuf {
        report_dir.join("probes")
    }

    fn write_probes(&self, doc: &BisectDoc) -> io::Result<()> {
        let dir = Self::probes_dir(&self.dir);
        let header = RunHeader {
            tool: json::tool_name(),
            started_at: doc.started_at.clone(),
            partition: None,
            versions: self.probes.iter().map(|c| c.opencode_version.clone()).collect(),
            local_builds: Default::default(),
            scenarios: vec![doc.scenario.clone()],
            attached_to: None,
            report_dir: dir.display().to_string(),
            round: None,
            cells: self.probes.len(),
        };
        let mut results = ResultsDoc::new(&header);
        results.finished_at = json::now_rfc3339();
        results.results = self.probes.clone();
        results.gate = Some(super::gate::decide(&results.results, false));
        write_all(&results, &dir)
    }
}

impl Reporter for BisectFiles {
    fn report(&mut self, event: &Event) -> io::Result<()> {
        let doc = match event {
            Event::BisectStarted { doc } | Event::BisectFinished { doc } => (**doc).clone(),
            Event::ProbeFinished { cell, doc, .. } => {
                if let Some(c) = cell {
                    self.probes.push((**c).clone());
                    self.write_probes(doc)?;
                }
                (**doc).clone()
            }
            Event::Interrupted { .. } => match &self.doc {
                Some(d) => {
                    let mut d = d.clone();
                    d.mark_interrupted();
                    d
                }
                None => return Ok(()),
            },
            _ => return Ok(()),
        };
        let r = doc.write(&self.dir);
        self.doc = Some(doc);
        r
    }
}

/// `plugin-report.json` and `plugin-report.md`, at the top of check-plugin's report dir.
#[derive(Default)]
pub struct PluginFiles;

impl PluginFiles {
    pub fn write(report: &PluginReport, dir: &Path) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(report).map_err(io::Error::other)?;
        for (name, bytes) in [
            ("plugin-report.json", json),
            ("plugin-report.md", plugin_report::markdown(report).into_bytes()),
        ] {
            std::fs::write(dir.join(name), bytes)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", dir.join(name).display())))?;
        }
        Ok(())
    }
}

impl Reporter for PluginFiles {
    fn report(&mut self, event: &Event) -> io::Result<()> {
        match event {
            Event::PluginCheckFinished { report, report_dir } => Self::write(report, Path::new(report_dir)),
            _ => Ok(()),
        }
    }
}
