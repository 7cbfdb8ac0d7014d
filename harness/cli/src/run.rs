//! The subcommands: resolve what to run, run it, report it, pick the exit code.

use crate::{config, exit, terminal::Terminal};
use clap::Args;
use oc_conform_checks::{checks, Timeline, Verdict};
use oc_conform_runner::execute::{self, ScenarioOutcome, Settings, Target};
use oc_conform_runner::install::{Installer, OpencodeSpec};
use oc_conform_runner::report::{json::JsonReporter, Reporter, RunEvent};
use oc_conform_runner::server;
use oc_conform_scenario::{load_dir, load_file, Scenario};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// opencode to test: a version (`1.18.34`), `latest`, or a path to a local binary.
    /// Repeat for several. Default: `default_opencode` in oc-conform.toml.
    #[arg(long = "opencode", value_name = "V")]
    pub opencode: Vec<String>,
    /// Scenario to run (by name). Repeat for several. Default: all.
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenario: Vec<String>,
    /// An extra directory of scenario files (yours). Repeatable.
    #[arg(long = "scenarios", value_name = "DIR")]
    pub scenarios: Vec<PathBuf>,
    /// Where to write results.json, timelines and server logs. Default: reports/<timestamp>/.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Keep each scenario's sandbox (HOME, project, config) on disk for debugging.
    #[arg(long)]
    pub keep_sandbox: bool,
}

/// Every scenario known: the project's, then the extra directories'.
fn all_scenarios(cfg: &config::Config, extra: &[PathBuf]) -> Result<Vec<(PathBuf, Scenario)>, String> {
    let mut all = load_dir(&cfg.scenarios_dir).map_err(|e| e.to_string())?;
    for dir in extra {
        let more = if dir.is_file() {
            vec![(dir.clone(), load_file(dir).map_err(|e| e.to_string())?)]
        } else {
            load_dir(dir).map_err(|e| e.to_string())?
        };
        for (path, s) in more {
            if let Some((other, _)) = all.iter().find(|(_, o)| o.name == s.name) {
                return Err(format!(
                    "{}: scenario `{}` is also defined in {}; rename one",
                    path.display(),
                    s.name,
                    other.display()
                ));
            }
            all.push((path, s));
        }
    }
    Ok(all)
}

pub async fn run(args: RunArgs) -> u8 {
    let (_root, cfg) = match config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let all = match all_scenarios(&cfg, &args.scenarios) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let selected: Vec<Scenario> = if args.scenario.is_empty() {
        all.into_iter().map(|(_, s)| s).collect()
    } else {
        let mut out = Vec::new();
        for name in &args.scenario {
            match all.iter().find(|(_, s)| &s.name == name) {
                Some((_, s)) => out.push(s.clone()),
                None => {
                    let names: Vec<&str> = all.iter().map(|(_, s)| s.name.as_str()).collect();
                    eprintln!(
                        "error: no scenario named `{name}`; known scenarios: {}",
                        names.join(", ")
                    );
                    return exit::USAGE;
                }
            }
        }
        out
    };
    if selected.is_empty() {
        eprintln!("error: no scenarios to run in {}", cfg.scenarios_dir.display());
        return exit::USAGE;
    }

    let specs_text = if args.opencode.is_empty() {
        vec![cfg.default_opencode.clone()]
    } else {
        args.opencode.clone()
    };
    let mut specs = Vec::new();
    for s in &specs_text {
        match s.parse::<OpencodeSpec>() {
            Ok(spec) => specs.push(spec),
            Err(e) => {
                eprintln!("error: --opencode {s}: {e}");
                return exit::USAGE;
            }
        }
    }

    let report_dir = args.report_dir.clone().unwrap_or_else(|| {
        let stamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]-[hour][minute][second]"
            ))
            .unwrap_or_else(|_| "run".into());
        _root.join("reports").join(stamp)
    });
    if let Err(e) = std::fs::create_dir_all(&report_dir) {
        eprintln!(
            "error: cannot create the report dir {}: {e}; pass --report-dir with a writable directory",
            report_dir.display()
        );
        return exit::USAGE;
    }

    let mut term = Terminal::new();
    let installer = match installer() {
        Ok(i) => i,
        Err(code) => return code,
    };
    let mut targets = Vec::new();
    for spec in &specs {
        match installer.resolve(spec).await {
            Ok(installed) => targets.push(installed),
            Err(e) => {
                eprintln!("error: cannot get opencode {spec}: {e}");
                return exit::INFRA;
            }
        }
    }
    let versions: Vec<String> = targets.iter().map(|t| t.version.clone()).collect();

    let outcomes: Arc<Mutex<Vec<ScenarioOutcome>>> = Arc::default();
    let mut json = JsonReporter::new(&report_dir);
    spawn_interrupt_handler(outcomes.clone(), report_dir.clone());

    let _ = term.report(&RunEvent::RunStarted {
        scenarios: selected.len(),
        versions: &versions,
    });
    let settings = Settings {
        keep_sandbox: args.keep_sandbox,
        ..Settings::default()
    };
    let plugins_dir = cfg.fixtures_dir.join("plugins");
    for installed in &targets {
        for scenario in &selected {
            let _ = term.report(&RunEvent::ScenarioStarted {
                scenario: &scenario.name,
                version: &installed.version,
            });
            let artifacts_dir = report_dir.join(&installed.version).join(&scenario.name);
            let _ = std::fs::create_dir_all(&artifacts_dir);
            let _ = std::fs::write(
                artifacts_dir.join("scenario.json"),
                serde_json::to_vec_pretty(scenario).unwrap_or_default(),
            );
            let target = Target {
                binary: &installed.binary,
                version: &installed.version,
                plugins_dir: &plugins_dir,
                artifacts_dir,
            };
            let outcome = execute::run_scenario(scenario, &target, &settings).await;
            let _ = term.report(&RunEvent::ScenarioFinished { outcome: &outcome });
            outcomes.lock().unwrap_or_else(|p| p.into_inner()).push(outcome);
        }
    }
    let outcomes = outcomes.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let finished = RunEvent::RunFinished {
        outcomes: &outcomes,
        interrupted: false,
    };
    if let Err(e) = json.report(&finished) {
        eprintln!("error: cannot write {}/results.json: {e}", report_dir.display());
        return exit::INFRA;
    }
    let _ = term.report(&finished);
    eprintln!("report: {}", report_dir.display());
    exit_code(&outcomes)
}

pub fn exit_code(outcomes: &[ScenarioOutcome]) -> u8 {
    if outcomes.iter().any(|o| o.verdict == Verdict::Fail) {
        exit::REGRESSION
    } else if outcomes.iter().any(|o| o.verdict == Verdict::Error) {
        exit::INFRA
    } else {
        exit::OK
    }
}

/// On SIGINT/SIGTERM: kill every server and marked process, write what was finished as an
/// interrupted report, exit 130/143.
fn spawn_interrupt_handler(outcomes: Arc<Mutex<Vec<ScenarioOutcome>>>, report_dir: PathBuf) {
    use tokio::signal::unix::{signal, SignalKind};
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
            return;
        };
        let code = tokio::select! {
            _ = int.recv() => exit::SIGINT,
            _ = term.recv() => exit::SIGTERM,
        };
        eprintln!("\ninterrupted: stopping servers");
        server::cleanup_all();
        let done = outcomes.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut json = JsonReporter::new(&report_dir);
        let _ = json.report(&RunEvent::RunFinished {
            outcomes: &done,
            interrupted: true,
        });
        eprintln!("partial report: {}", report_dir.display());
        std::process::exit(code as i32);
    });
}

fn installer() -> Result<Installer, u8> {
    Installer::from_env().map_err(|e| {
        eprintln!("error: {e}");
        exit::USAGE
    })
}

pub async fn install(versions: Vec<String>) -> u8 {
    let installer = match installer() {
        Ok(i) => i,
        Err(code) => return code,
    };
    let mut code = exit::OK;
    for v in versions {
        let spec = match v.parse::<OpencodeSpec>() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {v}: {e}");
                return exit::USAGE;
            }
        };
        match installer.resolve(&spec).await {
            Ok(i) => println!("{} {}", i.version, i.binary.display()),
            Err(e) => {
                eprintln!("error: {v}: {e}");
                code = exit::INFRA;
            }
        }
    }
    code
}

pub async fn versions() -> u8 {
    let installer = match installer() {
        Ok(i) => i,
        Err(code) => return code,
    };
    let cached = installer.cached_versions();
    match installer.registry_versions().await {
        Ok(all) => {
            for v in &all {
                let mark = if cached.contains(v) { "  (cached)" } else { "" };
                println!("{v}{mark}");
            }
            for v in cached.iter().filter(|c| !all.contains(c)) {
                println!("{v}  (cached, not in the registry)");
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("warning: cannot list the registry's versions: {e}");
            for v in &cached {
                println!("{v}  (cached)");
            }
            exit::INFRA
        }
    }
}

pub fn list(dir: Option<PathBuf>) -> u8 {
    let (_root, cfg) = match config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    match all_scenarios(&cfg, &dir.into_iter().collect::<Vec<_>>()) {
        Ok(all) => {
            for (_, s) in all {
                let first = s.description.lines().next().unwrap_or_default();
                println!("{:32} {first}", s.name);
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::USAGE
        }
    }
}

/// Re-runs the checks on every stored timeline under `run_dir` and compares with the
/// verdicts the run recorded.
pub fn analyze(run_dir: &Path) -> u8 {
    let results: serde_json::Value = match std::fs::read(run_dir.join("results.json"))
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {}/results.json: {e}", run_dir.display());
            return exit::USAGE;
        }
    };
    let mut code = exit::OK;
    let mut differ = 0;
    for r in results["results"].as_array().into_iter().flatten() {
        let (Some(name), Some(version), Some(recorded)) = (
            r["scenario"].as_str(),
            r["opencode_version"].as_str(),
            r["verdict"].as_str(),
        ) else {
            continue;
        };
        let dir = run_dir.join(version).join(name);
        let load = || -> Result<(Scenario, Timeline), String> {
            let s = std::fs::read(dir.join("scenario.json")).map_err(|e| e.to_string())?;
            let t = std::fs::read(dir.join("timeline.json")).map_err(|e| e.to_string())?;
            Ok((
                serde_json::from_slice(&s).map_err(|e| format!("scenario.json: {e}"))?,
                serde_json::from_slice(&t).map_err(|e| format!("timeline.json: {e}"))?,
            ))
        };
        let (scenario, timeline) = match load() {
            Ok(x) => x,
            Err(e) => {
                eprintln!("error: {}: {e}", dir.display());
                code = exit::INFRA;
                continue;
            }
        };
        let now = if r["error"].is_string() {
            // The run never reached its checks; the stored timeline cannot change that.
            Verdict::Error
        } else {
            let mut res = checks::run_all(&scenario.checks, &timeline);
            res.extend(step_results(r));
            oc_conform_checks::combine(&res)
        };
        let same = now.as_str() == recorded;
        if !same {
            differ += 1;
        }
        println!(
            "{:6} {name} ({version}){}",
            now.as_str().to_uppercase(),
            if same { String::new() } else { format!("  [recorded: {recorded}]") }
        );
    }
    if differ > 0 {
        eprintln!("{differ} verdict(s) differ from the recorded run");
        code = code.max(exit::REGRESSION);
    }
    code
}

/// Step expectations are not re-playable; carry the recorded ones over.
fn step_results(r: &serde_json::Value) -> Vec<oc_conform_checks::CheckResult> {
    r["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["check"].as_str().is_some_and(|n| n.starts_with("step-")))
        .filter_map(|c| {
            let name = c["check"].as_str()?;
            let msg = c["message"].as_str().unwrap_or_default();
            Some(match c["verdict"].as_str()? {
                "pass" => oc_conform_checks::CheckResult::pass(name, msg),
                "fail" => oc_conform_checks::CheckResult::fail(name, msg, vec![]),
                _ => oc_conform_checks::CheckResult::error(name, msg),
            })
        })
        .collect()
}
