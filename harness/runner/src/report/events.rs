//! The one stream of events every driver emits (run, attach, bisect, check-plugin, and
//! the ones to come), and the [`Bus`] that carries them to a set of [`Reporter`]s.
//!
//! Every reporter is fed the same events: the terminal prints them, `--message-format
//! json` writes each as one JSON line, the results reporter aggregates them into
//! `results.json` (and renders JUnit, markdown and HTML from it), the bisect and plugin
//! reporters write their documents. An interrupt is an event too: the reporters that
//! write files write what they have, marked interrupted. The schema of the JSON lines is
//! documented in `reports/README.md`; [`SCHEMA_VERSION`] changes when a field changes
//! meaning or goes away (new fields and events are additions).

use super::gate::GateDecision;
use super::interface::InterfaceChanges;
use super::model::{CellReport, FirstBad, SkippedCell};
use crate::bisect::report::{BisectDoc, ProbeRecord, Role};
use crate::explore::report::{CaseRecord as ExploreCase, ExploreDoc};
use crate::explore::ShrinkStep;
use crate::plugin_report::{PluginInfo, PluginReport};
use oc_conform_checks::Verdict;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The version of the `--message-format json` schema.
pub const SCHEMA_VERSION: u32 = 1;

/// What a run is, as its first event says: everything `results.json` holds besides its
/// cells and its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    pub tool: String,
    pub started_at: String,
    /// `K/N` when this run is one slice of a partitioned matrix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// The opencode versions, in the order given.
    pub versions: Vec<String>,
    /// The binary of each version that was a local build (`run --opencode PATH`), by the
    /// version it reports: what `rerun` plays again (the label alone would name a release).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub local_builds: BTreeMap<String, PathBuf>,
    /// The scenarios, in order.
    pub scenarios: Vec<String>,
    /// The URL of a server the harness did not start (`run --server-url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_to: Option<String>,
    /// Where this run's reports go.
    pub report_dir: String,
    /// What this run is part of, when it is one round of a bigger job (check-plugin's
    /// `without the plugin` / `with the plugin`; `explore`, whose cells are generated as
    /// it goes, so `cells` is 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<String>,
    /// Cells this run will report.
    pub cells: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The first line of every stream.
    StreamStarted {
        schema_version: u32,
        tool: String,
        command: String,
    },
    /// Something a person should read that is not a result (a warning, a hint).
    Note { text: String },
    RunStarted { run: RunHeader },
    /// A version of the matrix could not be installed; its cells are ERROR.
    VersionUnavailable { version: String, reason: String },
    /// One run of a scenario starts (there may be more: repeats, retries).
    ScenarioStarted { scenario: String, version: String, run: usize },
    /// One run of a scenario finished.
    ScenarioFinished {
        scenario: String,
        version: String,
        run: usize,
        verdict: Verdict,
        failed_checks: Vec<String>,
        duration_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A scenario's cell (all its runs on one version) is classified.
    CellFinished { cell: Box<CellReport>, done: usize, total: usize },
    /// A scenario that this run does not play, and why.
    Skipped { skipped: SkippedCell },
    /// SIGINT or SIGTERM: what finished is all there is.
    Interrupted { signal: String },
    /// What changed in opencode's interface between adjacent versions of the matrix
    /// (before `run-finished`; results.json's `interface_changes`).
    InterfaceChanges { changes: Box<InterfaceChanges> },
    /// The run's end and its one gate decision.
    RunFinished { finished_at: String, gate: GateDecision },

    /// A bisect starts: its candidates and ends are in `doc`.
    BisectStarted { doc: Box<BisectDoc> },
    /// A probe starts; `fetching` are versions being installed ahead meanwhile.
    ProbeStarted {
        number: usize,
        version: String,
        role: Role,
        fetching: Vec<String>,
    },
    /// One run of a probe finished.
    ProbeRan { version: String, run: usize, verdict: Verdict },
    /// A probe concluded; `doc` is the bisect as it stands after it, `cell` the probe's
    /// runs as a results cell (none when the version could not be installed).
    ProbeFinished {
        number: usize,
        probe: Box<ProbeRecord>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cell: Option<Box<CellReport>>,
        doc: Box<BisectDoc>,
    },
    BisectFinished { doc: Box<BisectDoc> },
    /// `--auto-bisect`: a regression cell's bisect concluded (after the matrix, before
    /// `run-finished`); its answer is the cell's `first_bad` in results.json.
    CellBisected {
        scenario: String,
        version: String,
        first_bad: Box<FirstBad>,
    },

    /// check-plugin: the plugin is staged and is checked against these versions.
    PluginCheckStarted { plugin: PluginInfo, versions: Vec<String>, report_dir: String },
    /// check-plugin: a scenario is played again without and with the plugin, one at a
    /// time; `reason` says why (a slower turn, or no verdict with the plugin).
    PluginRemeasure { scenario: String, version: String, reason: String },
    PluginCheckFinished { report: Box<PluginReport>, report_dir: String },

    /// explore: the exploration starts (its cases follow as runs and cells of a run).
    ExploreStarted {
        version: String,
        seed: u64,
        budget_secs: u64,
        max_steps: usize,
        k: u32,
        report_dir: String,
    },
    /// explore: one case (or one run of a shrink candidate) was played and judged.
    ExploreCase {
        case: Box<ExploreCase>,
        /// Played while shrinking this fingerprint (none: an explored case).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shrinking: Option<String>,
    },
    /// explore: a shrink candidate reproduced the fingerprint k of k times and is kept.
    ExploreShrinkStep { fingerprint: String, step: ShrinkStep, tried: usize },
    /// explore: the end; `doc` is explore.json.
    ExploreFinished { doc: Box<ExploreDoc> },
}

impl Event {
    /// The stream's first event.
    pub fn stream_started(command: &str) -> Event {
        Event::StreamStarted {
            schema_version: SCHEMA_VERSION,
            tool: super::json::tool_name(),
            command: command.to_string(),
        }
    }
}

/// Receives every event of a stream, in order.
pub trait Reporter: Send {
    fn report(&mut self, event: &Event) -> std::io::Result<()>;
}

/// Carries each event to every reporter. Cloned into the tasks that emit; the order of
/// events is the order of `emit` calls. A reporter's error does not stop the others: it
/// is kept, and the driver says it at the end (a report that could not be written is a
/// failure of the run, not a silence).
#[derive(Clone, Default)]
pub struct Bus {
    inner: Arc<Mutex<BusInner>>,
}

#[derive(Default)]
struct BusInner {
    reporters: Vec<Box<dyn Reporter>>,
    errors: Vec<String>,
}

impl Bus {
    pub fn new(reporters: Vec<Box<dyn Reporter>>) -> Bus {
        Bus {
            inner: Arc::new(Mutex::new(BusInner {
                reporters,
                errors: vec![],
            })),
        }
    }

    pub fn add(&self, reporter: Box<dyn Reporter>) {
        self.lock().reporters.push(reporter);
    }

    pub fn emit(&self, event: Event) {
        let mut inner = self.lock();
        let BusInner { reporters, errors } = &mut *inner;
        for r in reporters.iter_mut() {
            if let Err(e) = r.report(&event) {
                errors.push(e.to_string());
            }
        }
    }

    /// What reporters failed to do so far (each failure once).
    pub fn errors(&self) -> Vec<String> {
        let mut e = self.lock().errors.clone();
        e.dedup();
        e
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BusInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A reporter that keeps every event (tests, and drivers that need the stream back).
#[derive(Clone, Default)]
pub struct Recording(pub Arc<Mutex<Vec<Event>>>);

impl Recording {
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Reporter for Recording {
    fn report(&mut self, event: &Event) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(event.clone());
        Ok(())
    }
}

/// `--message-format json`: each event as one line of JSON on `out`.
pub struct JsonLines<W: std::io::Write + Send> {
    out: W,
}

impl<W: std::io::Write + Send> JsonLines<W> {
    pub fn new(out: W) -> Self {
        JsonLines { out }
    }
}

impl<W: std::io::Write + Send> Reporter for JsonLines<W> {
    fn report(&mut self, event: &Event) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, event).map_err(std::io::Error::other)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}
