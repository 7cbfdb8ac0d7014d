//! The I/O of a bisect: asks the [`Bisector`] what to probe, installs it (the likely next
//! candidates are installed in the background while a probe runs), runs the scenario,
//! judges the runs, and keeps `bisect.json` / `bisect.md` and a standard run report of
//! the probes (`probes/results.json`) up to date after every probe.
//!
//! ```text
//! <report>/bisect.json, bisect.md
//! <report>/probes/results.json                    one cell per probe (`oc-conform analyze`)
//! <report>/probes/<version>/<scenario>[.run-N]/   timeline, server log, model requests
//! ```

use super::report::{BisectDoc, ProbeRecord, Role};
use super::{judge, run_fingerprint, Bisector, Fingerprint, ProbeResult};
use crate::execute::{self, Settings, Target};
use crate::install::{CacheState, Installer, OpencodeSpec};
use crate::report::{self, json, CellReport, ResultsDoc};
use crate::suite;
use oc_conform_scenario::Scenario;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::task::JoinHandle;

/// What to bisect, and where the reports go.
#[derive(Clone)]
pub struct Plan {
    pub scenario: Scenario,
    pub settings: Settings,
    /// Where `plugins = [...]` are looked up.
    pub plugins_dir: PathBuf,
    pub report_dir: PathBuf,
    /// Runs per probe (a probe stops early once it is bad).
    pub repeat: u32,
}

/// What happens during a bisect, for a live reporter.
#[derive(Debug)]
pub enum Event<'a> {
    /// A probe starts; `fetching` are versions being installed ahead meanwhile.
    Probing {
        number: usize,
        version: &'a str,
        role: Role,
        fetching: &'a [String],
    },
    /// One run of a probe finished (with `--repeat` there may be more).
    Ran { version: &'a str, run: usize, verdict: &'a str },
    /// A probe concluded.
    Probed { number: usize, probe: &'a ProbeRecord },
}

/// The probes' own report dir: a standard run report (`oc-conform analyze` reads it).
pub fn probes_dir(report_dir: &Path) -> PathBuf {
    report_dir.join("probes")
}

/// Runs the bisect to its end. `doc` (shared with an interrupt handler) holds the
/// candidates and ends; it is updated and written to the report dir after every probe.
pub async fn run(
    plan: &Plan,
    installer: Arc<Installer>,
    doc: Arc<Mutex<BisectDoc>>,
    on_event: &mut (dyn FnMut(Event<'_>) + Send),
) -> BisectDoc {
    let (candidates, direction, mut target) = {
        let d = lock(&doc);
        (d.candidates.clone(), d.direction, d.fingerprint.clone())
    };
    let Ok(mut bisector) = Bisector::new(candidates.len(), direction) else {
        let mut d = lock(&doc).clone();
        d.status = "end_not_confirmed".into();
        d.error = Some(format!("a bisect needs two ends; the candidates are {:?}", candidates));
        return d;
    };
    let probes_dir = probes_dir(&plan.report_dir);
    let mut cells: Vec<CellReport> = Vec::new();
    let mut fetches: HashMap<String, JoinHandle<()>> = HashMap::new();
    let mut number = 0;

    while let Some(index) = bisector.next_probe() {
        number += 1;
        let version = candidates[index].clone();
        let role = if index == bisector.bad_end() {
            Role::BadEnd
        } else if index == bisector.good_end() {
            Role::GoodEnd
        } else {
            Role::Probe
        };
        // Fetch ahead: the candidates that come next, whichever way this probe goes.
        let mut fetching = Vec::new();
        for next in bisector.lookahead(index) {
            let v = candidates[next].clone();
            let busy = fetches.get(&v).is_some_and(|h| !h.is_finished());
            if busy || matches!(installer.check_cached(&v), CacheState::Valid(_)) {
                continue;
            }
            let inst = installer.clone();
            let spec = OpencodeSpec::Version(v.clone());
            fetches.insert(v.clone(), tokio::spawn(async move {
                let _ = inst.resolve(&spec).await;
            }));
            fetching.push(v);
        }
        on_event(Event::Probing {
            number,
            version: &version,
            role,
            fetching: &fetching,
        });

        let (probe, cell) = probe(plan, &installer, &version, role, target.as_ref(), on_event).await;
        // The bad end's failure is what every other probe is compared with.
        if role == Role::BadEnd && target.is_none() && probe.result == ProbeResult::Bad {
            target = probe.fingerprint.clone();
        }
        let _ = bisector.record(index, probe.result);
        on_event(Event::Probed { number, probe: &probe });

        if let Some(cell) = cell {
            cells.push(cell);
            write_probes_report(&probes_dir, &lock(&doc), &cells);
        }
        let mut d = lock(&doc);
        d.fingerprint = target.clone();
        d.probes.push(probe);
        d.update(&bisector);
        let _ = d.write(&plan.report_dir);
    }

    // Whatever is still being fetched ahead is no longer needed.
    for (_, h) in fetches {
        h.abort();
    }
    let mut d = lock(&doc);
    d.finished_at = json::now_rfc3339();
    d.update(&bisector);
    let _ = d.write(&plan.report_dir);
    d.clone()
}

fn lock(doc: &Mutex<BisectDoc>) -> std::sync::MutexGuard<'_, BisectDoc> {
    doc.lock().unwrap_or_else(|p| p.into_inner())
}

/// Installs `version` (waiting for a fetch ahead of it, if one is running) and runs the
/// scenario up to `repeat` times; stops early once a run fails the way `target` says.
async fn probe(
    plan: &Plan,
    installer: &Installer,
    version: &str,
    role: Role,
    target: Option<&Fingerprint>,
    on_event: &mut (dyn FnMut(Event<'_>) + Send),
) -> (ProbeRecord, Option<CellReport>) {
    let started = Instant::now();
    let probes_dir = probes_dir(&plan.report_dir);
    let installed = installer.resolve(&OpencodeSpec::Version(version.to_string())).await;
    let install_ms = started.elapsed().as_millis() as u64;
    let installed = match installed {
        Ok(i) => i,
        Err(e) => {
            let probe = ProbeRecord {
                version: version.to_string(),
                role,
                result: ProbeResult::Skip,
                reason: format!("cannot install: {}", e.to_string().lines().next().unwrap_or("")),
                fingerprint: None,
                duration_ms: install_ms,
                install_ms,
                source: None,
                runs: vec![],
            };
            return (probe, None);
        }
    };

    let repeat = plan.repeat.max(1) as usize;
    let mut outcomes = Vec::new();
    let cell = loop {
        let n = outcomes.len() + 1;
        let artifacts_dir = suite::run_dir(&probes_dir, version, &plan.scenario.name, n);
        let _ = std::fs::create_dir_all(&artifacts_dir);
        // Stored with the timeline so `oc-conform analyze` can re-judge it.
        let _ = std::fs::write(
            artifacts_dir.join("scenario.json"),
            serde_json::to_vec_pretty(&plan.scenario).unwrap_or_default(),
        );
        let t = Target {
            binary: &installed.binary,
            version: &installed.version,
            plugins_dir: &plan.plugins_dir,
            artifacts_dir,
        };
        let outcome = execute::run_scenario(&plan.scenario, &t, &plan.settings).await;
        on_event(Event::Ran {
            version,
            run: n,
            verdict: outcome.verdict.as_str(),
        });
        outcomes.push(outcome);
        let c = CellReport::from_runs(&outcomes, None, &probes_dir);
        if n >= repeat || judge(&c.runs, target).result == ProbeResult::Bad {
            break c;
        }
    };
    let judgement = judge(&cell.runs, target);
    let runs: Vec<_> = cell
        .runs
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.dir = format!("probes/{}", r.dir);
            r
        })
        .collect();
    let probe = ProbeRecord {
        version: version.to_string(),
        role,
        result: judgement.result,
        reason: judgement.reason,
        fingerprint: cell.runs.iter().find_map(run_fingerprint),
        duration_ms: started.elapsed().as_millis() as u64,
        install_ms,
        source: Some(installed.source),
        runs,
    };
    (probe, Some(cell))
}

/// `probes/results.json`: the probes as a standard run report.
fn write_probes_report(dir: &Path, doc: &BisectDoc, cells: &[CellReport]) {
    let results = ResultsDoc {
        format_version: report::model::RESULTS_FORMAT_VERSION,
        tool: json::tool_name(),
        started_at: doc.started_at.clone(),
        finished_at: json::now_rfc3339(),
        interrupted: false,
        partition: None,
        versions: cells.iter().map(|c| c.opencode_version.clone()).collect(),
        scenarios: vec![doc.scenario.clone()],
        results: cells.to_vec(),
    };
    let _ = report::write_all(&results, dir);
}
