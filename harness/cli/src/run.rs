//! `oc-conform run`: resolve the matrix (scenarios x versions), run it, report it, and
//! turn the outcomes into an exit code a CI can trust.

use crate::{config, exit, terminal::Terminal};
use clap::Args;
use oc_conform_checks::outcome::Gate;
use oc_conform_runner::execute::Settings;
use oc_conform_runner::install::{Installed, Installer, OpencodeSpec};
use oc_conform_runner::report::{self, json, CellReport, Reporter, ResultsDoc, RunEvent};
use oc_conform_runner::server;
use oc_conform_runner::suite::{self, Cell, SuiteOptions};
use oc_conform_scenario::{load_dir, load_file, Expectations, Scenario};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// opencode to test: a version (`1.18.34`), `latest`, or a path to a local binary.
    /// Repeat for a matrix. Default: `default_opencode` in oc-conform.toml.
    #[arg(long = "opencode", value_name = "V")]
    pub opencode: Vec<String>,
    /// Every registry version from FROM to TO (inclusive), e.g. `1.18.30..1.18.34`.
    #[arg(long, value_name = "FROM..TO")]
    pub opencode_range: Option<String>,
    /// Scenario to run (by name). Repeat for several. Default: all.
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenario: Vec<String>,
    /// An extra directory (or file) of scenarios: yours. Repeatable.
    #[arg(long = "scenarios", value_name = "DIR")]
    pub scenarios: Vec<PathBuf>,
    /// Where to write the reports. Default: reports/<timestamp>/.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Scenarios run at once. Default: the number of cores.
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Run each scenario N times (flaky scenarios: FLAKY when outcomes differ).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: u32,
    /// Retry an unexpected outcome up to K times in a fresh server.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub retry_unexpected: u32,
    /// Unexpected passes and undeclared flakes fail the gate too.
    #[arg(long)]
    pub strict: bool,
    /// Run only slice K of N of the matrix (for N CI jobs; combine with `merge`).
    #[arg(long, value_name = "K/N")]
    pub partition: Option<String>,
    /// The expectations file. Default: scenarios/expectations.toml.
    #[arg(long, value_name = "FILE")]
    pub expectations: Option<PathBuf>,
    /// Keep each scenario's sandbox (HOME, project, config) on disk for debugging.
    #[arg(long)]
    pub keep_sandbox: bool,
    /// Give every scenario a server of its own. By default the scenarios that need no
    /// process control, plugins or environment share one server per version (each in its
    /// own project directory), which saves a server start each.
    #[arg(long)]
    pub fresh_servers: bool,
    /// What the exit code reports: `gate` (the CI gate) or `bisect` (for `git bisect run`:
    /// 0 pass, 1 fails, 125 cannot decide; expectations ignored).
    #[arg(long, value_enum, value_name = "MODE", default_value = "gate")]
    pub exit_code: crate::bisect_cmd::ExitMode,
    /// With `--exit-code bisect`: only this failure is bad (failed checks joined by `+`);
    /// another failure exits 125.
    #[arg(long, value_name = "FP")]
    pub fingerprint: Option<String>,
    /// How long a server may take to print its listening line and answer health.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub start_timeout: u64,
    /// Run against a server you started instead of one per scenario. Only scenarios that
    /// need no process control run; the others are SKIPPED with the reason. The harness
    /// never signals, stops or kills that server.
    #[arg(long, value_name = "URL", conflicts_with_all = ["opencode", "opencode_range", "partition"])]
    pub server_url: Option<String>,
    /// The attached server's OPENCODE_SERVER_PASSWORD (user `opencode`).
    #[arg(long, value_name = "P", requires = "server_url")]
    pub password: Option<String>,
    /// The fake model's loopback port in attach mode.
    #[arg(long, value_name = "PORT", default_value_t = crate::attach::DEFAULT_MODEL_PORT)]
    pub model_port: u16,
    /// Print the opencode.json a server needs to use the fake model on --model-port, and exit.
    #[arg(long)]
    pub print_attach_config: bool,
}

/// Every scenario known: the project's, then the extra directories'.
pub fn all_scenarios(cfg: &config::Config, extra: &[PathBuf]) -> Result<Vec<(PathBuf, Scenario)>, String> {
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
    for (path, s) in &mut all {
        resolve_plugins_next_to(path, s);
    }
    Ok(all)
}

/// A plugin named relative to the scenario's own file (`plugins = ["my-plugin.js"]` next
/// to `my-scenario.toml`) becomes an absolute path; other names are looked up in
/// `fixtures/plugins/` when the scenario runs.
fn resolve_plugins_next_to(file: &std::path::Path, s: &mut Scenario) {
    let Some(dir) = file.parent() else { return };
    for p in &mut s.plugins {
        let next_to = dir.join(&*p);
        if !std::path::Path::new(p.as_str()).is_absolute() && next_to.is_file() {
            if let Ok(abs) = next_to.canonicalize() {
                *p = abs.display().to_string();
            }
        }
    }
}

/// The scenarios named (all when none), or a usage error naming the known ones.
pub fn select(all: Vec<(PathBuf, Scenario)>, names: &[String]) -> Result<Vec<Scenario>, String> {
    if names.is_empty() {
        return Ok(all.into_iter().map(|(_, s)| s).collect());
    }
    names
        .iter()
        .map(|name| {
            all.iter()
                .find(|(_, s)| &s.name == name)
                .map(|(_, s)| s.clone())
                .ok_or_else(|| {
                    let known: Vec<&str> = all.iter().map(|(_, s)| s.name.as_str()).collect();
                    format!("no scenario named `{name}`; known scenarios: {}", known.join(", "))
                })
        })
        .collect()
}

pub fn installer() -> Result<Installer, u8> {
    Installer::from_env().map_err(|e| {
        eprintln!("error: {e}");
        exit::USAGE
    })
}

/// `K/N` with 1 <= K <= N.
pub fn parse_partition(s: &str) -> Result<(usize, usize), String> {
    let err = || format!("--partition {s}: expected K/N with 1 <= K <= N, e.g. 1/2");
    let (k, n) = s.split_once('/').ok_or_else(err)?;
    let (k, n): (usize, usize) = (k.trim().parse().map_err(|_| err())?, n.trim().parse().map_err(|_| err())?);
    if k == 0 || n == 0 || k > n {
        return Err(err());
    }
    Ok((k, n))
}

/// The versions to test, in order: `--opencode` values, then the range's.
async fn versions_to_test(args: &RunArgs, cfg: &config::Config, installer: &Installer) -> Result<Vec<OpencodeSpec>, (u8, String)> {
    resolve_versions(&args.opencode, args.opencode_range.as_deref(), cfg, installer).await
}

/// `--opencode` values, then `--opencode-range`'s registry versions; the default version
/// when there are none.
pub async fn resolve_versions(
    opencode: &[String],
    opencode_range: Option<&str>,
    cfg: &config::Config,
    installer: &Installer,
) -> Result<Vec<OpencodeSpec>, (u8, String)> {
    let mut texts = opencode.to_vec();
    if let Some(range) = opencode_range {
        let (from, to) = range
            .split_once("..")
            .ok_or_else(|| (exit::USAGE, format!("--opencode-range {range}: expected FROM..TO, e.g. 1.18.30..1.18.34")))?;
        let all = installer
            .registry_versions()
            .await
            .map_err(|e| (exit::INFRA, format!("--opencode-range needs the registry's versions: {e}")))?;
        let parse = |v: &str| semver::Version::parse(v.trim()).map_err(|e| (exit::USAGE, format!("--opencode-range: `{v}` is not a version: {e}")));
        let (lo, hi) = (parse(from)?, parse(to)?);
        texts.extend(
            all.iter()
                .filter(|v| semver::Version::parse(v).is_ok_and(|v| v >= lo && v <= hi))
                .cloned(),
        );
    }
    if texts.is_empty() {
        texts.push(cfg.default_opencode.clone());
    }
    texts.dedup();
    texts
        .iter()
        .map(|t| t.parse::<OpencodeSpec>().map_err(|e| (exit::USAGE, format!("--opencode {t}: {e}"))))
        .collect()
}

pub fn default_report_dir(root: &std::path::Path) -> PathBuf {
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!("[year][month][day]-[hour][minute][second]"))
        .unwrap_or_else(|_| "run".into());
    root.join("reports").join(stamp)
}

pub async fn run(args: RunArgs) -> u8 {
    let mode = args.exit_code;
    match run_inner(args).await {
        Ok(code) => code,
        Err((code, msg)) => {
            eprintln!("error: {msg}");
            crate::bisect_cmd::run_error_code(mode, code)
        }
    }
}

async fn run_inner(args: RunArgs) -> Result<u8, (u8, String)> {
    let usage = |m: String| (exit::USAGE, m);
    let (root, cfg) = config::load().map_err(usage)?;
    if args.server_url.is_some() || args.print_attach_config {
        return crate::attach::run(&args, &cfg, &root).await;
    }
    let fingerprint = crate::bisect_cmd::parse_run_fingerprint(args.exit_code, args.fingerprint.as_deref()).map_err(usage)?;
    let all = all_scenarios(&cfg, &args.scenarios).map_err(usage)?;
    let selected = select(all, &args.scenario).map_err(usage)?;
    if selected.is_empty() {
        return Err(usage(format!("no scenarios to run in {}", cfg.scenarios_dir.display())));
    }
    let partition = args.partition.as_deref().map(parse_partition).transpose().map_err(usage)?;
    let expectations_path = args.expectations.clone().unwrap_or_else(|| cfg.scenarios_dir.join("expectations.toml"));
    let expectations = Expectations::load(&expectations_path).map_err(|e| usage(e.to_string()))?;
    let report_dir = args.report_dir.clone().unwrap_or_else(|| default_report_dir(&root));
    std::fs::create_dir_all(&report_dir).map_err(|e| {
        usage(format!("cannot create the report dir {}: {e}; pass --report-dir with a writable directory", report_dir.display()))
    })?;
    let partial = Arc::new(Mutex::new(ResultsDoc {
        format_version: report::model::RESULTS_FORMAT_VERSION,
        tool: json::tool_name(),
        started_at: json::now_rfc3339(),
        finished_at: String::new(),
        interrupted: true,
        partition: args.partition.clone(),
        versions: vec![],
        scenarios: selected.iter().map(|s| s.name.clone()).collect(),
        results: vec![],
    }));
    let finished: Arc<Mutex<Vec<CellReport>>> = Arc::default();
    install_interrupt_handler(partial.clone(), finished.clone(), report_dir.clone());
    if args.repeat == 0 {
        return Err(usage("--repeat must be at least 1".into()));
    }

    let left = oc_conform_runner::leftovers::find();
    if !left.is_empty() {
        let pids: Vec<String> = left.iter().map(|l| l.pid.to_string()).collect();
        eprintln!(
            "warning: {} process(es) left by earlier oc-conform runs are still alive (pids {}); `oc-conform gc` ends them",
            left.len(),
            pids.join(", ")
        );
    }
    let installer = installer().map_err(|c| (c, "no cache directory".into()))?;
    let specs = versions_to_test(&args, &cfg, &installer).await?;
    let texts: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
    let mut targets: Vec<Installed> = Vec::new();
    for (spec, result) in specs.iter().zip(installer.install_many(&texts).await) {
        match result {
            Ok(i) => targets.push(i),
            Err(e) => return Err((exit::INFRA, format!("cannot get opencode {spec}: {e}"))),
        }
    }
    let versions: Vec<String> = targets.iter().map(|t| t.version.clone()).collect();

    let mut cells: Vec<Cell> = targets
        .iter()
        .flat_map(|t| {
            selected.iter().map(move |s| Cell {
                scenario: s.clone(),
                target: t.clone(),
            })
        })
        .collect();
    if let Some((k, n)) = partition {
        cells = suite::partition(cells, k, n);
    }

    let started_at = json::now_rfc3339();
    let skeleton = ResultsDoc {
        format_version: report::model::RESULTS_FORMAT_VERSION,
        tool: json::tool_name(),
        started_at,
        finished_at: String::new(),
        interrupted: false,
        partition: args.partition.clone(),
        versions: versions.clone(),
        scenarios: selected.iter().map(|s| s.name.clone()).collect(),
        results: vec![],
    };
    *partial.lock().unwrap_or_else(|p| p.into_inner()) = skeleton.clone();

    let mut term = Terminal::new();
    let _ = term.report(&RunEvent::RunStarted {
        cells: cells.len(),
        versions: &versions,
    });
    let opts = SuiteOptions {
        jobs: args.jobs.unwrap_or_else(suite::default_jobs).max(1),
        repeat: args.repeat,
        retry_unexpected: args.retry_unexpected,
        settings: Settings {
            keep_sandbox: args.keep_sandbox,
            start_timeout: std::time::Duration::from_secs(args.start_timeout.max(1)),
            ..Settings::default()
        },
        plugins_dir: cfg.fixtures_dir.join("plugins"),
        report_dir: report_dir.clone(),
        share_servers: !args.fresh_servers,
    };
    let results = suite::run_cells(cells, &expectations, &opts, &mut term, finished).await;
    let doc = ResultsDoc {
        finished_at: json::now_rfc3339(),
        results,
        ..skeleton
    };
    report::write_all(&doc, &report_dir)
        .map_err(|e| (exit::INFRA, format!("cannot write the reports in {}: {e}", report_dir.display())))?;
    let _ = term.report(&RunEvent::RunFinished { doc: &doc });
    eprintln!("report: {}", report_dir.display());
    Ok(match args.exit_code {
        crate::bisect_cmd::ExitMode::Gate => gate_code(&doc, args.strict),
        crate::bisect_cmd::ExitMode::Bisect => crate::bisect_cmd::run_exit_code(&doc, fingerprint.as_ref()),
    })
}

pub fn gate_code(doc: &ResultsDoc, strict: bool) -> u8 {
    match doc.gate(strict) {
        Gate::Ok => exit::OK,
        Gate::Regression => exit::REGRESSION,
        Gate::NoVerdict => exit::INFRA,
    }
}

/// On SIGINT/SIGTERM: kill every server and marked process, write what finished as an
/// interrupted report.
fn install_interrupt_handler(partial: Arc<Mutex<ResultsDoc>>, finished: Arc<Mutex<Vec<CellReport>>>, report_dir: PathBuf) {
    crate::interrupt::on_interrupt(move || {
        server::cleanup_all();
        let doc = ResultsDoc {
            finished_at: json::now_rfc3339(),
            interrupted: true,
            results: finished.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            ..partial.lock().unwrap_or_else(|p| p.into_inner()).clone()
        };
        let _ = report::write_all(&doc, &report_dir);
        eprintln!("partial report: {}", report_dir.display());
    });
}
