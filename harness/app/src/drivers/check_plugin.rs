//! `check-plugin`: a plugin author's check. The plugin (a file, a package directory or an
//! npm tarball) is loaded, through a generated wrapper that records every hook call, into
//! each core scenario's sandbox next to the fixture plugins; each version also runs the
//! core scenarios once without it (the baseline). Three rounds, each a run on the bus
//! (`without the plugin`, `with the plugin`, `measured again`), then the plugin report:
//! did it load, did the scenarios still pass with it, which hooks it registered and which
//! were called (how often, how long), whether its `event` hook blocked the server,
//! whether the turn got slower, and which processes it left behind.

use super::baseline_cache::BaselineCache;
use crate::workspace::Catalogue;
use crate::{interrupt, AppError};
use oc_conform_checks::outcome::Outcome;
use oc_conform_checks::{Timeline, Verdict};
use oc_conform_runner::execute::Settings;
use oc_conform_runner::install::{Installed, Installer, OpencodeSpec};
use oc_conform_runner::plugin_report::{self, PluginInfo, PluginReport, ScenarioInput, Thresholds};
use oc_conform_runner::plugin_tools::{self, ToolCase, ToolSettings};
use oc_conform_runner::plugin_wrap::{self, StagedPlugin};
use oc_conform_runner::report::gate;
use oc_conform_runner::report::model::Artifacts;
use oc_conform_runner::report::{json, Bus, CellReport, Event, RunHeader};
use oc_conform_runner::server;
use oc_conform_runner::suite::{self, Cell, SuiteOptions};
use oc_conform_scenario::{Expectations, Scenario};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The scenarios every plugin is checked against: a plain turn, an abort, a permission
/// reply, a command with a hook, a dispose during a tool, and a whole turn's events.
pub const CORE: &[&str] = &[
    "plugin-loads",
    "abort-http",
    "permission-reply-http",
    "command-hook-passes",
    "server-dispose-during-tool",
    "event-stream-complete",
];

/// The core scenario whose run with the plugin lists the tools (the plainest one).
const TOOLS_LISTED_BY: &str = "plugin-loads";

pub struct PluginPlan {
    /// The plugin: a .js/.ts file, a package directory or an npm tarball.
    pub path: PathBuf,
    pub versions: Vec<OpencodeSpec>,
    /// The core scenarios to run (with a baseline) and the author's own.
    pub core: Vec<Scenario>,
    pub mine: Vec<Scenario>,
    pub expectations: Expectations,
    pub report_dir: PathBuf,
    pub plugins_dir: PathBuf,
    pub jobs: usize,
    pub no_baseline: bool,
    pub block_ms: u64,
    pub keep_sandbox: bool,
    /// How the plugin's custom tools are called (`None`: they are not).
    pub tools: Option<ToolSettings>,
    /// Where baselines are kept across checks (`None`: always played).
    pub baseline_cache: Option<BaselineCache>,
}

/// The core scenarios and the author's, restricted to `names` when given.
pub fn pick(catalogue: &Catalogue, names: &[String]) -> Result<(Vec<Scenario>, Vec<Scenario>), AppError> {
    let core: Vec<Scenario> = CORE
        .iter()
        .map(|name| {
            catalogue.find(name).cloned().ok_or_else(|| {
                AppError::usage(format!(
                    "the core scenario `{name}` is missing from {}",
                    catalogue.project_dir.display()
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    let mine: Vec<Scenario> = catalogue
        .users()
        .filter(|s| !CORE.contains(&s.name.as_str()))
        .cloned()
        .collect();
    if names.is_empty() {
        return Ok((core, mine));
    }
    for name in names {
        if !core.iter().chain(&mine).any(|s| &s.name == name) {
            let known: Vec<&str> = core.iter().chain(&mine).map(|s| s.name.as_str()).collect();
            return Err(AppError::usage(format!(
                "no scenario named `{name}` among check-plugin's: {} (yours come from --scenarios DIR)",
                known.join(", ")
            )));
        }
    }
    let keep = |v: Vec<Scenario>| v.into_iter().filter(|s| names.contains(&s.name)).collect();
    Ok((keep(core), keep(mine)))
}

/// The scenario with the wrapper added to its plugins (and the author's own file, if the
/// scenario lists it, taken out: the wrapper loads it). `plugin-loads` also asks the
/// server, before its turn, for the tools it offers with their schemas: the plugin's
/// custom tools are then called with arguments generated from those.
fn with_plugin(s: &Scenario, staged: &StagedPlugin, plugins_dir: &Path) -> Scenario {
    let mut s = s.clone();
    if s.name == TOOLS_LISTED_BY {
        s.steps.insert(
            0,
            oc_conform_scenario::Step::Http {
                method: "GET".into(),
                path: plugin_tools::TOOL_LIST_PATH.into(),
                body: None,
                expect_status: None,
                auth: true,
            },
        );
    }
    s.plugins.retain(|p| {
        let path = Path::new(p);
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            plugins_dir.join(path)
        };
        !staged.is_same_file(&path)
    });
    s.plugins.push(staged.wrapper.display().to_string());
    s
}

/// One round: a run of `scenarios` on `targets` into `report_dir`, on the bus.
struct Round<'a> {
    plan: &'a PluginPlan,
    bus: &'a Bus,
}

impl Round<'_> {
    async fn play(&self, label: &str, sub: &str, cells: Vec<Cell>, jobs: usize) -> Result<Vec<CellReport>, AppError> {
        let dir = self.plan.report_dir.join(sub);
        let mut versions: Vec<String> = Vec::new();
        let mut scenarios: Vec<String> = Vec::new();
        for c in &cells {
            if !versions.contains(&c.target.version) {
                versions.push(c.target.version.clone());
            }
            if !scenarios.contains(&c.scenario.name) {
                scenarios.push(c.scenario.name.clone());
            }
        }
        self.bus.emit(Event::RunStarted {
            run: RunHeader {
                tool: json::tool_name(),
                started_at: json::now_rfc3339(),
                partition: None,
                versions,
                local_builds: Default::default(),
                scenarios,
                attached_to: None,
                report_dir: dir.display().to_string(),
                round: Some(label.to_string()),
                cells: cells.len(),
            },
        });
        let opts = SuiteOptions {
            jobs,
            // With and without the plugin are compared by their timing: no extra load.
            max_jobs: jobs,
            repeat: 1,
            retry_unexpected: 0,
            settings: Settings {
                keep_sandbox: self.plan.keep_sandbox,
                ..Settings::default()
            },
            plugins_dir: self.plan.plugins_dir.clone(),
            report_dir: dir,
            // With and without the plugin must be played alike: each on a server of its own.
            share_servers: false,
        };
        let results = suite::run_cells(cells, &self.plan.expectations, &opts, self.bus).await;
        self.bus.emit(Event::RunFinished {
            finished_at: json::now_rfc3339(),
            gate: gate::decide(&results, false),
        });
        crate::error::reports_written(self.bus)?;
        Ok(results)
    }
}

impl Round<'_> {
    /// The runs without the plugin: those in the baseline cache copied from it, the others
    /// played (and kept when they pass). Returns every cell and the (version, scenario) of
    /// those that came from the cache.
    async fn baseline(&self, cells: Vec<Cell>, jobs: usize) -> Result<(Vec<CellReport>, Vec<(String, String)>), AppError> {
        const SUB: &str = "baseline";
        let dir = self.plan.report_dir.join(SUB);
        let mut reports: Vec<CellReport> = Vec::new();
        let mut to_play: Vec<(Cell, Option<String>)> = Vec::new();
        for cell in cells {
            let key = self.plan.baseline_cache.as_ref().map(|c| c.key(&cell.scenario, &cell.target));
            match self.plan.baseline_cache.as_ref().zip(key.as_deref()).and_then(|(c, k)| c.get(k, &dir)) {
                Some(hit) => reports.push(hit.cell),
                None => to_play.push((cell, key)),
            }
        }
        let cached: Vec<(String, String)> = reports
            .iter()
            .map(|c| (c.opencode_version.clone(), c.scenario.clone()))
            .collect();
        if !cached.is_empty() {
            self.bus.emit(Event::Note {
                text: format!(
                    "without the plugin: {} of {} runs taken from the baseline cache (same release, scenario, fixtures and harness; --no-baseline-cache plays them again)",
                    cached.len(),
                    cached.len() + to_play.len()
                ),
            });
        }
        if to_play.is_empty() {
            return Ok((reports, cached));
        }
        let keys: Vec<((String, String), Option<String>)> = to_play
            .iter()
            .map(|(c, k)| ((c.target.version.clone(), c.scenario.name.clone()), k.clone()))
            .collect();
        let played = self
            .play("without the plugin", SUB, to_play.into_iter().map(|(c, _)| c).collect(), jobs)
            .await?;
        if let Some(cache) = &self.plan.baseline_cache {
            for c in &played {
                let of_cell = |(id, _): &&((String, String), Option<String>)| id.0 == c.opencode_version && id.1 == c.scenario;
                if let Some((_, Some(key))) = keys.iter().find(of_cell) {
                    // A cache that cannot be written only costs the next check its time.
                    let _ = cache.put(key, c, &dir);
                }
            }
        }
        reports.extend(played);
        Ok((reports, cached))
    }
}

pub async fn check_plugin(plan: PluginPlan, installer: &Installer, bus: &Bus) -> Result<PluginReport, AppError> {
    if plan.core.is_empty() && plan.mine.is_empty() {
        return Err(AppError::usage("no scenarios to run"));
    }
    // Before anything slow (npm, installs, servers): a signal from here on is handled.
    let staging_dir: Arc<Mutex<Option<PathBuf>>> = Arc::default();
    {
        let staging = staging_dir.clone();
        interrupt::on_interrupt(bus.clone(), move || {
            server::cleanup_all();
            if let Some(dir) = staging.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = std::fs::remove_dir_all(dir);
            }
        });
    }
    let plugins_dir = plan.plugins_dir.clone();
    // An unavailable pinned `@opencode-ai/*` dependency is replaced by the first release's.
    let release = plan.versions.first().map(|v| v.to_string());
    let staged = plugin_wrap::stage_for(
        &plan.path,
        Some(&plugins_dir.join("lib")),
        installer.cache_dir(),
        installer.npm(),
        release.as_deref(),
    )
    .await
        .map_err(|e| if e.is_usage() { AppError::usage(e.to_string()) } else { AppError::infra(e.to_string()) })?;
    *staging_dir.lock().unwrap_or_else(|p| p.into_inner()) = Some(staged.root().to_path_buf());

    let texts: Vec<String> = plan.versions.iter().map(|s| s.to_string()).collect();
    let mut targets: Vec<Installed> = Vec::new();
    for (spec, result) in plan.versions.iter().zip(installer.install_many(&texts).await) {
        targets.push(result.map_err(|e| AppError::infra(format!("cannot get opencode {spec}: {e}")))?);
    }
    let versions: Vec<String> = targets.iter().map(|t| t.version.clone()).collect();
    let info = PluginInfo {
        source: staged.source.display().to_string(),
        kind: staged.kind,
        name: staged.name.clone(),
        entry: staged
            .entry
            .strip_prefix(staged.root())
            .unwrap_or(&staged.entry)
            .display()
            .to_string(),
        dependencies: staged.dependencies.clone(),
        install_deviations: staged.deviations.clone(),
    };
    bus.emit(Event::PluginCheckStarted {
        plugin: info.clone(),
        versions: versions.clone(),
        report_dir: plan.report_dir.display().to_string(),
    });
    let jobs = plan.jobs.max(1);
    let cells = |scenarios: &[Scenario]| -> Vec<Cell> {
        targets
            .iter()
            .flat_map(|t| {
                scenarios.iter().map(move |s| Cell {
                    scenario: s.clone(),
                    target: t.clone(),
                })
            })
            .collect()
    };
    let started_at = json::now_rfc3339();
    let round = Round { plan: &plan, bus };
    let (baseline, baseline_cached): (Vec<CellReport>, Vec<(String, String)>) = if plan.no_baseline || plan.core.is_empty() {
        (vec![], vec![])
    } else {
        round.baseline(cells(&plan.core), jobs).await?
    };
    let wrapped: Vec<Scenario> = plan
        .core
        .iter()
        .chain(&plan.mine)
        .map(|s| with_plugin(s, &staged, &plugins_dir))
        .collect();
    let with = round.play("with the plugin", "with-plugin", cells(&wrapped), jobs).await?;
    let exercised = match &plan.tools {
        Some(settings) => exercise_tools(&round, &with, &targets, &staged, settings, jobs).await?,
        None => vec![],
    };

    let th = Thresholds {
        event_block_ms: plan.block_ms as f64,
        ..Thresholds::default()
    };
    let load = |sub: &str, c: &CellReport| -> Option<Timeline> {
        let bytes = std::fs::read(plan.report_dir.join(sub).join(&c.artifacts.timeline)).ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    // Artifact paths relative to the report dir (the rounds wrote them relative to theirs).
    let in_sub = |sub: &str, c: &CellReport| CellReport {
        artifacts: Artifacts::for_dir(&format!("{sub}/{}", c.artifacts.dir)),
        ..c.clone()
    };
    // A pair of turns that looks slower is measured once more, baseline then plugin, one
    // at a time, before it becomes a warning (see `ScenarioInput::remeasured_turns`); so is
    // a scenario that reached no verdict with the plugin where it passed without it
    // (`ScenarioInput::replayed`): a timeout has no witness to blame the plugin with.
    let turn_of = |sub: &str, c: &CellReport| load(sub, c).as_ref().and_then(plugin_report::turn_ms);
    let suspects: Vec<(Scenario, Scenario, Installed, String)> = with
        .iter()
        .filter_map(|c| {
            let b = baseline
                .iter()
                .find(|b| b.opencode_version == c.opencode_version && b.scenario == c.scenario)?;
            let no_verdict = c.verdict == Verdict::Error && plugin_report::expected(b);
            let slower = || Some(th.is_slower(turn_of("with-plugin", c)?, turn_of("baseline", b)?));
            let reason = if no_verdict {
                format!("{} with the plugin and {} without it", c.outcome.as_str(), b.outcome.as_str())
            } else if slower() == Some(true) {
                "the turn looked slower with the plugin".to_string()
            } else {
                return None;
            };
            let plain = plan.core.iter().find(|s| s.name == c.scenario)?;
            let wrapped = wrapped.iter().find(|s| s.name == c.scenario)?;
            let target = targets.iter().find(|t| t.version == c.opencode_version)?;
            Some((plain.clone(), wrapped.clone(), target.clone(), reason))
        })
        .collect();
    let mut remeasured: BTreeMap<(String, String), (Option<f64>, Option<f64>)> = BTreeMap::new();
    let mut replayed: BTreeMap<(String, String), (Outcome, Outcome)> = BTreeMap::new();
    for (plain, wrapped, target, reason) in suspects {
        bus.emit(Event::PluginRemeasure {
            scenario: plain.name.clone(),
            version: target.version.clone(),
            reason,
        });
        let key = (target.version.clone(), plain.name.clone());
        let mut turns = [None, None];
        let mut outcomes = [None, None];
        for (k, (sub, label, scenario)) in [
            ("remeasure/baseline", "again, without the plugin", plain),
            ("remeasure/with-plugin", "again, with the plugin", wrapped),
        ]
        .into_iter()
        .enumerate()
        {
            let cell = Cell {
                scenario,
                target: target.clone(),
            };
            let r = round.play(label, sub, vec![cell], 1).await?;
            turns[k] = r.first().and_then(|c| turn_of(sub, c));
            outcomes[k] = r.first().map(|c| c.outcome);
        }
        if let [Some(without), Some(with)] = outcomes {
            replayed.insert(key.clone(), (with, without));
        }
        remeasured.insert(key, (turns[1], turns[0]));
    }
    let reports: Vec<_> = versions
        .iter()
        .map(|v| {
            let mut inputs: Vec<ScenarioInput> = with
                .iter()
                .filter(|c| &c.opencode_version == v)
                .map(|c| ScenarioInput {
                    scenario: c.scenario.clone(),
                    core: CORE.contains(&c.scenario.as_str()),
                    with_plugin: (in_sub("with-plugin", c), load("with-plugin", c)),
                    baseline: baseline
                        .iter()
                        .find(|b| b.opencode_version == *v && b.scenario == c.scenario)
                        .map(|b| (in_sub("baseline", b), load("baseline", b))),
                    remeasured_turns: remeasured.get(&(v.clone(), c.scenario.clone())).copied(),
                    replayed: replayed.get(&(v.clone(), c.scenario.clone())).copied(),
                    baseline_cached: baseline_cached.contains(&(v.clone(), c.scenario.clone())),
                })
                .collect();
            let tools = exercised.iter().find(|e| &e.cell.opencode_version == v);
            if let Some(e) = tools {
                inputs.push(ScenarioInput {
                    scenario: e.cell.scenario.clone(),
                    core: false,
                    with_plugin: (in_sub(TOOLS_SUB, &e.cell), load(TOOLS_SUB, &e.cell)),
                    baseline: None,
                    remeasured_turns: None,
                    replayed: None,
                    baseline_cached: false,
                });
            }
            let mut report = plugin_report::analyze_version(v, &inputs, &th);
            if let (Some(e), Some(settings)) = (tools, &plan.tools) {
                let calls = load(TOOLS_SUB, &e.cell)
                    .map(|t| plugin_tools::outcomes(&e.cases, &t))
                    .unwrap_or_default();
                let artifacts = in_sub(TOOLS_SUB, &e.cell).artifacts.dir;
                plugin_report::add_tool_calls(&mut report, calls, settings.deadline_ms, &artifacts);
            }
            report
        })
        .collect();
    let report = PluginReport {
        format_version: plugin_report::PLUGIN_REPORT_FORMAT_VERSION,
        tool: json::tool_name(),
        started_at,
        finished_at: json::now_rfc3339(),
        plugin: info,
        verdict: PluginReport::overall(&reports).to_string(),
        thresholds: BTreeMap::from([
            ("event_block_ms".to_string(), th.event_block_ms),
            ("slow_hook_ms".to_string(), th.slow_hook_ms),
            ("slower_factor".to_string(), th.slower_factor),
            ("slower_ms".to_string(), th.slower_ms),
        ]),
        versions: reports,
    };
    bus.emit(Event::PluginCheckFinished {
        report: Box::new(report.clone()),
        report_dir: plan.report_dir.display().to_string(),
    });
    bus.emit(Event::Note {
        text: format!("report: {}", plan.report_dir.join("plugin-report.md").display()),
    });
    crate::error::reports_written(bus)?;
    Ok(report)
}

/// Where the custom tools' runs are written, under the report dir.
const TOOLS_SUB: &str = "tools";

/// One version's run of the custom-tools scenario and the calls it made.
struct Exercised {
    cell: CellReport,
    cases: Vec<ToolCase>,
}

/// The custom tools the plugin registered, as each version's `plugin-loads` run listed
/// them, each called with its generated argument cases: one run per version that has any.
async fn exercise_tools(
    round: &Round<'_>,
    with: &[CellReport],
    targets: &[Installed],
    staged: &StagedPlugin,
    settings: &ToolSettings,
    jobs: usize,
) -> Result<Vec<Exercised>, AppError> {
    let plan = round.plan;
    let mut cells: Vec<Cell> = Vec::new();
    let mut cases_of: Vec<(String, Vec<ToolCase>)> = Vec::new();
    for target in targets {
        let Some(listed_by) = with
            .iter()
            .find(|c| c.opencode_version == target.version && c.scenario == TOOLS_LISTED_BY)
        else {
            continue;
        };
        let timeline: Option<Timeline> = std::fs::read(plan.report_dir.join("with-plugin").join(&listed_by.artifacts.timeline))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let Some(timeline) = timeline else { continue };
        let listed = plugin_report::listed_tools(&timeline);
        let registered = plugin_report::registered_hooks(&timeline);
        if !registered.iter().any(|h| h.starts_with("tool:")) {
            continue;
        }
        let Some(listed) = listed else {
            round.bus.emit(Event::Note {
                text: format!(
                    "opencode {}: the plugin registers custom tools, but GET {} gave no tool list: they are not called",
                    target.version,
                    plugin_tools::TOOL_LIST_PATH
                ),
            });
            continue;
        };
        let cases = plugin_tools::plan(&listed, &registered, settings);
        if cases.is_empty() {
            continue;
        }
        let scenario = with_plugin(&plugin_tools::compile(&cases, settings.deadline_ms), staged, &plan.plugins_dir);
        cells.push(Cell {
            scenario,
            target: target.clone(),
        });
        cases_of.push((target.version.clone(), cases));
    }
    if cells.is_empty() {
        return Ok(vec![]);
    }
    let played = round.play("calling the custom tools", TOOLS_SUB, cells, jobs).await?;
    Ok(played
        .into_iter()
        .filter_map(|cell| {
            let cases = cases_of.iter().find(|(v, _)| *v == cell.opencode_version)?.1.clone();
            Some(Exercised { cell, cases })
        })
        .collect())
}

/// The exit code of a plugin check: 0 fine (warnings allowed), 1 a problem, 2 no verdict.
pub fn exit_code(report: &PluginReport) -> u8 {
    match report.verdict.as_str() {
        "ok" => crate::exit::OK,
        "problems" => crate::exit::REGRESSION,
        _ => crate::exit::INFRA,
    }
}
