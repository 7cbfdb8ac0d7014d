//! `bisect`: which opencode release broke a scenario (or, with `--fixed`, fixed it), by
//! binary search over the registry's releases. The search is the runner's
//! ([`oc_conform_runner::bisect`]); this driver checks the ends, asks the registry for the
//! candidates and says what to try when an end is not as claimed.

use crate::{interrupt, AppError};
use oc_conform_runner::bisect::drive::{self, Plan};
use oc_conform_runner::bisect::report::{BisectDoc, Role};
use oc_conform_runner::bisect::{candidates, CandidateError, Direction, Fingerprint};
use oc_conform_runner::execute::Settings;
use oc_conform_runner::install::Installer;
use oc_conform_runner::report::{Bus, Event};
use oc_conform_runner::server;
use oc_conform_scenario::Scenario;
use std::path::PathBuf;
use std::sync::Arc;

pub struct BisectPlan {
    pub scenario: Scenario,
    pub good: String,
    pub bad: String,
    pub direction: Direction,
    /// Runs per probe: bad if any run fails the same way, good only if all pass.
    pub repeat: u32,
    /// The failure to look for; default: how the bad end fails.
    pub fingerprint: Option<Fingerprint>,
    pub report_dir: PathBuf,
    pub plugins_dir: PathBuf,
    pub keep_sandbox: bool,
    /// Arguments the reproduce and resume commands repeat (`--scenarios DIR`).
    pub extra_args: Vec<String>,
}

/// Checks the ends before asking the registry anything.
pub fn check_ends(good: &str, bad: &str, direction: Direction) -> Result<(), AppError> {
    let ends = [good.to_string(), bad.to_string()];
    candidates(&ends, direction, good, bad).map(|_| ()).map_err(|e| AppError::usage(e.to_string()))
}

pub async fn bisect(plan: BisectPlan, installer: Arc<Installer>, bus: &Bus) -> Result<BisectDoc, AppError> {
    if plan.repeat == 0 {
        return Err(AppError::usage("--repeat must be at least 1"));
    }
    check_ends(&plan.good, &plan.bad, plan.direction)?;
    let registry = installer
        .registry_versions()
        .await
        .map_err(|e| AppError::infra(format!("bisect needs the registry's versions: {e}")))?;
    let candidates = candidates(&registry, plan.direction, &plan.good, &plan.bad).map_err(|e| match e {
        CandidateError::NotInRegistry { .. } => AppError::usage(format!(
            "{e} (bisect runs released versions only; for local builds see `git bisect run` in the README)"
        )),
        e => AppError::usage(e.to_string()),
    })?;
    let doc = BisectDoc::new(
        &plan.scenario.name,
        plan.direction,
        &plan.good,
        &plan.bad,
        plan.repeat,
        plan.fingerprint.clone(),
        candidates,
        plan.extra_args.clone(),
    );
    interrupt::on_interrupt(bus.clone(), server::cleanup_all);
    let run = Plan {
        scenario: plan.scenario.clone(),
        settings: Settings {
            keep_sandbox: plan.keep_sandbox,
            ..Settings::default()
        },
        plugins_dir: plan.plugins_dir.clone(),
        report_dir: plan.report_dir.clone(),
        repeat: plan.repeat,
    };
    let done = drive::run(&run, installer, doc, bus).await;
    if let Some(e) = &done.error {
        // The search stops at the end that was not as claimed: the last probe.
        let role = done.probes.last().map_or(Role::BadEnd, |p| p.role);
        let why = done
            .probes
            .last()
            .map(|p| format!(" ({} on {})", p.reason, p.version))
            .unwrap_or_default();
        bus.emit(Event::Note {
            text: format!("error: {e}{why}"),
        });
        if let Some(hint) = end_hint(&done, role) {
            bus.emit(Event::Note { text: format!("hint: {hint}") });
        }
    }
    bus.emit(Event::Note {
        text: format!("report: {}", plan.report_dir.join("bisect.md").display()),
    });
    crate::error::reports_written(bus)?;
    Ok(done)
}

/// What to try when an end was not confirmed.
fn end_hint(doc: &BisectDoc, role: Role) -> Option<String> {
    let n = doc.candidates.len();
    // The next candidate inward from that end.
    let inward = |from_old: bool| {
        if n > 2 {
            Some(if from_old { &doc.candidates[1] } else { &doc.candidates[n - 2] })
        } else {
            None
        }
    };
    let good_is_old = doc.direction == Direction::Regression;
    match role {
        Role::GoodEnd => inward(good_is_old).map(|v| {
            format!("the good end must pass; try a release nearer the bad end that passes, e.g. --good {v}, or `oc-conform run --opencode {} --scenario {}` to see why", doc.good, doc.scenario)
        }),
        Role::BadEnd => Some(format!(
            "the bad end must fail with a verdict; see `oc-conform run --opencode {} --scenario {}`",
            doc.bad, doc.scenario
        )),
        Role::Probe => None,
    }
}
