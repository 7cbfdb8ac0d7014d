//! `oc-conform check-plugin PATH`: a plugin author's check. The plugin (a file, a package
//! directory or an npm tarball) is loaded, through a generated wrapper that records every
//! hook call, into each core scenario's sandbox next to the fixture plugins; each version
//! also runs the core scenarios once without it (the baseline). The report says, per
//! version: did it load, did the scenarios still pass with it, which hooks it registered
//! and which were called (how often, how long), whether its `event` hook blocked the
//! server, whether the turn got slower, and which processes it left behind.
//!
//! Exit codes: 0 the plugin is fine (warnings allowed), 1 a problem was found, 2 no
//! verdict (install, start, a scenario failing without the plugin too), 64 usage.

use crate::{config, exit, run};
use clap::Args;
use oc_conform_checks::Timeline;
use oc_conform_runner::execute::Settings;
use oc_conform_runner::install::Installed;
use oc_conform_runner::plugin_report::{self, PluginInfo, PluginReport, ScenarioInput, Severity, Thresholds};
use oc_conform_runner::plugin_wrap::{self, StagedPlugin};
use oc_conform_runner::report::model::Artifacts;
use oc_conform_runner::report::{self, json, CellReport, Reporter, ResultsDoc, RunEvent};
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

#[derive(Args, Debug, Clone)]
pub struct CheckPluginArgs {
    /// The plugin: a .js/.ts file, a package directory (its package.json `exports`/`main`
    /// names the module), or an npm tarball (.tgz).
    pub path: PathBuf,
    /// opencode to check against: a version, `latest`, or a path to a binary. Repeatable.
    /// Default: `default_opencode` in oc-conform.toml.
    #[arg(long = "opencode", value_name = "V")]
    pub opencode: Vec<String>,
    /// Every registry version from FROM to TO (inclusive).
    #[arg(long, value_name = "FROM..TO")]
    pub opencode_range: Option<String>,
    /// Your own scenarios (a directory or a file), run with the plugin installed too. A
    /// scenario there that lists the plugin file itself gets the wrapped plugin instead.
    #[arg(long = "scenarios", value_name = "DIR")]
    pub scenarios: Vec<PathBuf>,
    /// Only these scenarios (core or yours). Repeatable. Default: all of them.
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenario: Vec<String>,
    /// Where to write the report. Default: reports/check-plugin-<timestamp>/.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Scenarios run at once. Default: the number of cores.
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Skip the runs without the plugin: failures are then judged against the expectations
    /// only, and turn times are not compared.
    #[arg(long)]
    pub no_baseline: bool,
    /// An `event` hook that holds the server longer than this (ms) in one call is a problem.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub block_ms: u64,
    /// Keep each scenario's sandbox on disk for debugging.
    #[arg(long)]
    pub keep_sandbox: bool,
}

pub async fn check_plugin(args: CheckPluginArgs) -> u8 {
    match inner(args).await {
        Ok(code) => code,
        Err((code, msg)) => {
            eprintln!("error: {msg}");
            code
        }
    }
}

/// The scenarios to run: the core ones (with a baseline) and the author's.
fn pick(cfg: &config::Config, args: &CheckPluginArgs) -> Result<(Vec<Scenario>, Vec<Scenario>), String> {
    let all = run::all_scenarios(cfg, &args.scenarios)?;
    let core: Vec<Scenario> = CORE
        .iter()
        .map(|name| {
            all.iter()
                .find(|(_, s)| s.name == *name)
                .map(|(_, s)| s.clone())
                .ok_or_else(|| {
                    format!(
                        "the core scenario `{name}` is missing from {}",
                        cfg.scenarios_dir.display()
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    let mine: Vec<Scenario> = all
        .iter()
        .filter(|(p, s)| !p.starts_with(&cfg.scenarios_dir) && !CORE.contains(&s.name.as_str()))
        .map(|(_, s)| s.clone())
        .collect();
    if args.scenario.is_empty() {
        return Ok((core, mine));
    }
    for name in &args.scenario {
        if !core.iter().chain(&mine).any(|s| &s.name == name) {
            let known: Vec<&str> = core.iter().chain(&mine).map(|s| s.name.as_str()).collect();
            return Err(format!(
                "no scenario named `{name}` among check-plugin's: {} (yours come from --scenarios DIR)",
                known.join(", ")
            ));
        }
    }
    let keep = |v: Vec<Scenario>| v.into_iter().filter(|s| args.scenario.contains(&s.name)).collect();
    Ok((keep(core), keep(mine)))
}

/// The scenario with the wrapper added to its plugins (and the author's own file, if the
/// scenario lists it, taken out: the wrapper loads it).
fn with_plugin(s: &Scenario, staged: &StagedPlugin, plugins_dir: &Path) -> Scenario {
    let mut s = s.clone();
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

async fn inner(args: CheckPluginArgs) -> Result<u8, (u8, String)> {
    let usage = |m: String| (exit::USAGE, m);
    let (root, cfg) = config::load().map_err(usage)?;
    let (core, mine) = pick(&cfg, &args).map_err(usage)?;
    if core.is_empty() && mine.is_empty() {
        return Err(usage("no scenarios to run".into()));
    }
    // Before anything slow (npm, installs, servers): a signal from here on is handled.
    let staging_dir: Arc<Mutex<Option<PathBuf>>> = Arc::default();
    install_interrupt_handler(staging_dir.clone());
    let installer = run::installer().map_err(|c| (c, "no cache directory".into()))?;
    let plugins_dir = cfg.fixtures_dir.join("plugins");
    let staged = plugin_wrap::stage(&args.path, Some(&plugins_dir.join("lib")), installer.cache_dir())
        .await
        .map_err(|e| (if e.is_usage() { exit::USAGE } else { exit::INFRA }, e.to_string()))?;
    *staging_dir.lock().unwrap_or_else(|p| p.into_inner()) = Some(staged.root().to_path_buf());
    let expectations =
        Expectations::load(&cfg.scenarios_dir.join("expectations.toml")).map_err(|e| usage(e.to_string()))?;
    let report_dir = args.report_dir.clone().unwrap_or_else(|| {
        let stamp = run::default_report_dir(&root);
        let name = stamp
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        root.join("reports").join(format!("check-plugin-{name}"))
    });
    std::fs::create_dir_all(&report_dir)
        .map_err(|e| usage(format!("cannot create the report dir {}: {e}", report_dir.display())))?;

    let specs = run::resolve_versions(&args.opencode, args.opencode_range.as_deref(), &cfg, &installer).await?;
    let texts: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
    let mut targets: Vec<Installed> = Vec::new();
    for (spec, result) in specs.iter().zip(installer.install_many(&texts).await) {
        targets.push(result.map_err(|e| (exit::INFRA, format!("cannot get opencode {spec}: {e}")))?);
    }
    let versions: Vec<String> = targets.iter().map(|t| t.version.clone()).collect();

    eprintln!(
        "check-plugin {} ({:?}{}) on opencode {}",
        staged.name,
        staged.kind,
        if staged.dependencies.is_empty() {
            String::new()
        } else {
            format!(", dependencies installed: {}", staged.dependencies.join(", "))
        },
        versions.join(", ")
    );
    let opts = |sub: &str| SuiteOptions {
        jobs: args.jobs.unwrap_or_else(suite::default_jobs).max(1),
        repeat: 1,
        retry_unexpected: 0,
        settings: Settings {
            keep_sandbox: args.keep_sandbox,
            ..Settings::default()
        },
        plugins_dir: plugins_dir.clone(),
        report_dir: report_dir.join(sub),
        // With and without the plugin must be played alike: each on a server of its own.
        share_servers: false,
    };
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

    let baseline: Vec<CellReport> = if args.no_baseline || core.is_empty() {
        vec![]
    } else {
        let o = opts("baseline");
        let mut progress = Progress { label: "without" };
        let r = suite::run_cells(
            cells(&core),
            &expectations,
            &o,
            &mut progress,
            Arc::new(Mutex::new(vec![])),
        )
        .await;
        write_results(&o.report_dir, &started_at, &versions, &core, r.clone())?;
        r
    };
    let wrapped: Vec<Scenario> = core
        .iter()
        .chain(&mine)
        .map(|s| with_plugin(s, &staged, &plugins_dir))
        .collect();
    let o = opts("with-plugin");
    let mut progress = Progress { label: "with" };
    let with = suite::run_cells(
        cells(&wrapped),
        &expectations,
        &o,
        &mut progress,
        Arc::new(Mutex::new(vec![])),
    )
    .await;
    write_results(&o.report_dir, &started_at, &versions, &wrapped, with.clone())?;

    let th = Thresholds {
        event_block_ms: args.block_ms as f64,
        ..Thresholds::default()
    };
    let load = |sub: &str, c: &CellReport| -> Option<Timeline> {
        let bytes = std::fs::read(report_dir.join(sub).join(&c.artifacts.timeline)).ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    // Artifact paths relative to the report dir (the suites wrote them relative to theirs).
    let in_sub = |sub: &str, c: &CellReport| CellReport {
        artifacts: Artifacts::for_dir(&format!("{sub}/{}", c.artifacts.dir)),
        ..c.clone()
    };
    // A pair of turns that looks slower is measured once more, baseline then plugin, one
    // at a time, before it becomes a warning (see `ScenarioInput::remeasured_turns`).
    let turn_of = |sub: &str, c: &CellReport| load(sub, c).as_ref().and_then(plugin_report::turn_ms);
    let suspects: Vec<(Scenario, Scenario, Installed)> = with
        .iter()
        .filter_map(|c| {
            let b = baseline
                .iter()
                .find(|b| b.opencode_version == c.opencode_version && b.scenario == c.scenario)?;
            let (t, bt) = (turn_of("with-plugin", c)?, turn_of("baseline", b)?);
            th.is_slower(t, bt).then_some(())?;
            let plain = core.iter().find(|s| s.name == c.scenario)?;
            let wrapped = wrapped.iter().find(|s| s.name == c.scenario)?;
            let target = targets.iter().find(|t| t.version == c.opencode_version)?;
            Some((plain.clone(), wrapped.clone(), target.clone()))
        })
        .collect();
    let mut remeasured: BTreeMap<(String, String), (Option<f64>, Option<f64>)> = BTreeMap::new();
    for (plain, wrapped, target) in suspects {
        eprintln!(
            "  the turn of {} looked slower with the plugin on {}: measuring it again",
            plain.name, target.version
        );
        let key = (target.version.clone(), plain.name.clone());
        let mut turns = [None, None];
        for (k, (sub, scenario)) in [("remeasure/baseline", plain), ("remeasure/with-plugin", wrapped)]
            .into_iter()
            .enumerate()
        {
            let o = SuiteOptions { jobs: 1, ..opts(sub) };
            let cell = Cell { scenario, target: target.clone() };
            let r = suite::run_cells(vec![cell], &expectations, &o, &mut Progress { label: "again" }, Arc::default()).await;
            turns[k] = r.first().and_then(|c| turn_of(sub, c));
        }
        remeasured.insert(key, (turns[1], turns[0]));
    }
    let reports: Vec<_> = versions
        .iter()
        .map(|v| {
            let inputs: Vec<ScenarioInput> = with
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
                })
                .collect();
            plugin_report::analyze_version(v, &inputs, &th)
        })
        .collect();
    let doc = PluginReport {
        format_version: plugin_report::PLUGIN_REPORT_FORMAT_VERSION,
        tool: json::tool_name(),
        started_at,
        finished_at: json::now_rfc3339(),
        plugin: PluginInfo {
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
        },
        verdict: PluginReport::overall(&reports).to_string(),
        thresholds: BTreeMap::from([
            ("event_block_ms".to_string(), th.event_block_ms),
            ("slow_hook_ms".to_string(), th.slow_hook_ms),
            ("slower_factor".to_string(), th.slower_factor),
            ("slower_ms".to_string(), th.slower_ms),
        ]),
        versions: reports,
    };
    let write = |name: &str, bytes: Vec<u8>| {
        std::fs::write(report_dir.join(name), bytes).map_err(|e| {
            (
                exit::INFRA,
                format!("cannot write {}: {e}", report_dir.join(name).display()),
            )
        })
    };
    write(
        "plugin-report.json",
        serde_json::to_vec_pretty(&doc).unwrap_or_default(),
    )?;
    write("plugin-report.md", plugin_report::markdown(&doc).into_bytes())?;
    print_summary(&doc);
    eprintln!("report: {}", report_dir.join("plugin-report.md").display());
    Ok(match doc.verdict.as_str() {
        "ok" => exit::OK,
        "problems" => exit::REGRESSION,
        _ => exit::INFRA,
    })
}

fn write_results(
    dir: &Path,
    started_at: &str,
    versions: &[String],
    scenarios: &[Scenario],
    results: Vec<CellReport>,
) -> Result<(), (u8, String)> {
    let doc = ResultsDoc {
        format_version: report::model::RESULTS_FORMAT_VERSION,
        tool: json::tool_name(),
        started_at: started_at.to_string(),
        finished_at: json::now_rfc3339(),
        interrupted: false,
        partition: None,
        versions: versions.to_vec(),
        scenarios: scenarios.iter().map(|s| s.name.clone()).collect(),
        results,
    };
    report::write_all(&doc, dir).map_err(|e| {
        (
            exit::INFRA,
            format!("cannot write the reports in {}: {e}", dir.display()),
        )
    })
}

/// One line per finished scenario run, tagged with or without the plugin.
struct Progress {
    label: &'static str,
}

impl Reporter for Progress {
    fn report(&mut self, event: &RunEvent<'_>) -> std::io::Result<()> {
        if let RunEvent::CellFinished { cell: c, .. } = event {
            let mut line = format!(
                "  {:>15} {} ({}, {} the plugin) {:.1}s",
                c.outcome.as_str(),
                c.scenario,
                c.opencode_version,
                self.label,
                c.duration_ms as f64 / 1000.0
            );
            if !c.failed_checks.is_empty() {
                line.push_str(&format!(": {}", c.failed_checks.join(", ")));
            } else if let Some(e) = &c.error {
                line.push_str(&format!(": {}", e.lines().next().unwrap_or_default()));
            }
            eprintln!("{line}");
        }
        Ok(())
    }
}

fn print_summary(doc: &PluginReport) {
    for v in &doc.versions {
        eprintln!();
        match &v.load_error {
            Some(e) => eprintln!("opencode {}: NOT LOADED: {e}", v.opencode_version),
            None => eprintln!(
                "opencode {}: loaded; hooks registered: {}",
                v.opencode_version,
                if v.hooks_registered.is_empty() {
                    "none".to_string()
                } else {
                    v.hooks_registered.join(", ")
                }
            ),
        }
        let passed = v.scenarios.iter().filter(|s| !s.plugin_fault).count();
        eprintln!(
            "  scenarios with the plugin: {passed} of {} as without it",
            v.scenarios.len()
        );
        if !v.hooks.is_empty() {
            eprintln!(
                "  {:<28} {:>6} {:>10} {:>10} {:>10} {:>6}",
                "hook", "calls", "max ms", "p95 ms", "sync max", "threw"
            );
            for h in &v.hooks {
                eprintln!(
                    "  {:<28} {:>6} {:>10.1} {:>10.1} {:>10.1} {:>6}",
                    h.hook, h.calls, h.max_ms, h.p95_ms, h.max_sync_ms, h.threw
                );
            }
        }
        for f in &v.findings {
            eprintln!("  {} {}: {}", f.severity.as_str(), f.kind, f.message);
        }
    }
    eprintln!();
    let (p, w) = (doc.count(Severity::Problem), doc.count(Severity::Warning));
    match doc.verdict.as_str() {
        "ok" => eprintln!("result: OK, no problem found ({w} warning(s))"),
        "problems" => eprintln!("result: PROBLEMS FOUND: {p} problem(s), {w} warning(s)"),
        _ => eprintln!(
            "result: NO VERDICT for some scenario ({} no-verdict finding(s), {w} warning(s))",
            doc.count(Severity::Infra)
        ),
    }
}

/// On SIGINT/SIGTERM: kill every server and marked process, drop the staging dir.
fn install_interrupt_handler(staging: Arc<Mutex<Option<PathBuf>>>) {
    crate::interrupt::on_interrupt(move || {
        server::cleanup_all();
        if let Some(dir) = staging.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    });
}
