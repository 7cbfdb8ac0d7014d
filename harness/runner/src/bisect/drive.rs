//! The I/O of a bisect: asks the [`Bisector`] what to probe, installs it (the likely next
//! candidates are installed in the background while a probe runs), runs the scenario,
//! judges the runs, and emits each step on the event bus. The bisect reporter
//! ([`crate::report::BisectFiles`]) keeps `bisect.json` / `bisect.md` and a standard run
//! report of the probes (`probes/results.json`) up to date after every probe.
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
use crate::report::{json, BisectFiles, Bus, CellReport, Event};
use crate::suite;
use oc_conform_scenario::Scenario;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
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

/// Runs the bisect to its end. `doc` holds the candidates and ends; it is updated after
/// every probe and emitted with it.
pub async fn run(plan: &Plan, installer: Arc<Installer>, mut doc: BisectDoc, bus: &Bus) -> BisectDoc {
    bus.emit(Event::BisectStarted { doc: Box::new(doc.clone()) });
    let (candidates, direction, mut target) = (doc.candidates.clone(), doc.direction, doc.fingerprint.clone());
    let Ok(mut bisector) = Bisector::new(candidates.len(), direction) else {
        doc.status = "end_not_confirmed".into();
        doc.error = Some(format!("a bisect needs two ends; the candidates are {:?}", candidates));
        bus.emit(Event::BisectFinished { doc: Box::new(doc.clone()) });
        return doc;
    };
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
        bus.emit(Event::ProbeStarted {
            number,
            version: version.clone(),
            role,
            fetching,
        });

        let (probe, cell) = probe(plan, &installer, &version, role, target.as_ref(), bus).await;
        // The bad end's failure is what every other probe is compared with.
        if role == Role::BadEnd && target.is_none() && probe.result == ProbeResult::Bad {
            target = probe.fingerprint.clone();
        }
        let _ = bisector.record(index, probe.result);
        doc.fingerprint = target.clone();
        doc.probes.push(probe.clone());
        doc.update(&bisector);
        bus.emit(Event::ProbeFinished {
            number,
            probe: Box::new(probe),
            cell: cell.map(Box::new),
            doc: Box::new(doc.clone()),
        });
    }

    // Whatever is still being fetched ahead is no longer needed.
    for (_, h) in fetches {
        h.abort();
    }
    doc.finished_at = json::now_rfc3339();
    doc.update(&bisector);
    bus.emit(Event::BisectFinished { doc: Box::new(doc.clone()) });
    doc
}

/// Installs `version` (waiting for a fetch ahead of it, if one is running) and runs the
/// scenario up to `repeat` times; stops early once a run fails the way `target` says.
async fn probe(
    plan: &Plan,
    installer: &Installer,
    version: &str,
    role: Role,
    target: Option<&Fingerprint>,
    bus: &Bus,
) -> (ProbeRecord, Option<CellReport>) {
    let started = Instant::now();
    let probes_dir = BisectFiles::probes_dir(&plan.report_dir);
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
        if let Err(e) = suite::prepare_run_dir(&artifacts_dir, &plan.scenario) {
            outcomes.push(suite::unplayed(&plan.scenario, version, artifacts_dir, e.to_string()));
            break CellReport::from_runs(&outcomes, None, &probes_dir);
        }
        let t = Target {
            binary: &installed.binary,
            version: &installed.version,
            plugins_dir: &plan.plugins_dir,
            artifacts_dir,
        };
        let outcome = execute::run_scenario(&plan.scenario, &t, &plan.settings).await;
        bus.emit(Event::ProbeRan {
            version: version.to_string(),
            run: n,
            verdict: outcome.verdict,
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
