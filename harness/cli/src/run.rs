//! `oc-conform run`: its arguments, and the plan they make for the run driver.

use crate::MessageFormatArg;
use clap::{Args, ValueEnum};
use oc_conform_app::drivers::interface_changes::{self, InterfaceOptions};
use oc_conform_app::drivers::run::{self, AttachTarget, RunPlan, ServerSource};
use oc_conform_app::selection::Selection;
use oc_conform_app::{reporters, workspace, AppError, Workspace};
use oc_conform_runner::bisect::Fingerprint;
use oc_conform_runner::report::ExitMode;
use std::path::PathBuf;

/// The fake model's port in attach mode, unless `--model-port` says otherwise.
pub const DEFAULT_MODEL_PORT: u16 = 4599;

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// opencode to test: a version (`1.18.34`), `latest`, or a path to a local binary.
    /// Repeat for a matrix. Default: `default_opencode` in oc-conform.toml.
    #[arg(long = "opencode", value_name = "V")]
    pub opencode: Vec<String>,
    /// Every registry version from FROM to TO (inclusive), e.g. `1.18.30..1.18.34`.
    #[arg(long, value_name = "FROM..TO")]
    pub opencode_range: Option<String>,
    #[command(flatten)]
    pub select: SelectionArgs,
    /// An extra directory (or file) of scenarios: yours. Repeatable.
    #[arg(long = "scenarios", value_name = "DIR")]
    pub scenarios: Vec<PathBuf>,
    /// Where to write the reports. Default: reports/<timestamp>/.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Scenarios run at once. Default: the number of cores.
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Scenarios that may run at once while a core is idle (their waits leave it so):
    /// more than --jobs only while this machine leaves a core unused, and
    /// only scenarios on shared servers. Default: twice the cores, or --jobs when
    /// --jobs is given (--max-jobs N with N = --jobs: never more than --jobs).
    #[arg(long, value_name = "N")]
    pub max_jobs: Option<usize>,
    /// Run each scenario N times (flaky scenarios: FLAKY when outcomes differ).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: u32,
    /// Retry an unexpected outcome up to K times in a fresh server.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub retry_unexpected: u32,
    /// Unexpected passes and undeclared flakes fail the gate too (every report says so).
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
    /// 0 pass, 1 fails, 125 cannot decide, 128 usage error; expectations ignored).
    #[arg(long, value_enum, value_name = "MODE", default_value = "gate")]
    pub exit_code: ExitModeArg,
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
    /// The attached server's OPENCODE_SERVER_PASSWORD (user `opencode`). Prefer the
    /// environment variable OC_CONFORM_SERVER_PASSWORD: a flag's value is visible to every
    /// user of the machine in the process list.
    #[arg(long, value_name = "P", env = "OC_CONFORM_SERVER_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// The fake model's loopback port in attach mode.
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_MODEL_PORT)]
    pub model_port: u16,
    /// Print the opencode.json a server needs to use the fake model on --model-port, and exit.
    #[arg(long)]
    pub print_attach_config: bool,
    /// `human` (default) or `json`: one JSON object per line on stdout, the same events
    /// the reports are built from (schema: reports/README.md).
    #[arg(long, value_enum, value_name = "FMT", default_value = "human")]
    pub message_format: MessageFormatArg,
    /// Play again only what was not as expected in the newest run under reports/ (as
    /// `oc-conform rerun`); --report-dir, --jobs, --strict, --keep-sandbox,
    /// --start-timeout and --scenarios apply.
    #[arg(long, conflicts_with_all = ["opencode", "opencode_range", "scenario", "tag", "server_url", "partition"])]
    pub last_failed: bool,
    #[command(flatten)]
    pub auto: crate::auto_bisect::AutoBisectArgs,
    /// With more than one version: exit 1 when the "Interface changes" section (opencode's
    /// OpenAPI document between adjacent versions, as `api-diff` classifies it) has a
    /// change this severe or worse. Without it the section never changes the exit code.
    #[arg(long, value_enum, value_name = "LEVEL", conflicts_with = "server_url")]
    pub api_fail_on: Option<crate::api_diff::FailOnArg>,
    /// `github`: one `::error` annotation per regression (default when CI=true; `none`
    /// turns it off).
    #[arg(long, value_enum, value_name = "CI")]
    pub annotate: Option<crate::AnnotateArg>,
}

impl RunArgs {
    /// The options `--last-failed` passes on to the re-run.
    pub fn rerun_options(&self) -> crate::rerun::RerunOptions {
        crate::rerun::RerunOptions {
            report_dir: self.report_dir.clone(),
            jobs: self.jobs,
            strict: self.strict,
            keep_sandbox: self.keep_sandbox,
            start_timeout: self.start_timeout,
            scenarios: self.scenarios.clone(),
            message_format: self.message_format,
            annotate: self.annotate,
        }
    }
}

/// Which scenarios: `run`, `list` and `bench` take the same flags.
#[derive(Args, Debug, Clone)]
pub struct SelectionArgs {
    /// Scenario to run: a name or a glob (`abort-*`, quoted for the shell). Repeat for
    /// several. Default: all (those with a --tag, when given).
    #[arg(long = "scenario", value_name = "PATTERN")]
    pub scenario: Vec<String>,
    /// Only scenarios carrying this tag (`tags = [...]` in the file). Repeat: any of them.
    #[arg(long = "tag", value_name = "TAG")]
    pub tag: Vec<String>,
}

impl SelectionArgs {
    pub fn selection(&self) -> Selection {
        Selection::new(&self.scenario, &self.tag)
    }
}

/// What `oc-conform run`'s exit code reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExitModeArg {
    /// The CI gate: 0 as expected, 1 regression, 2 no verdict (see README).
    Gate,
    /// For `git bisect run`: 0 pass, 1 fails (the --fingerprint way), 125 cannot decide.
    Bisect,
}

impl From<ExitModeArg> for ExitMode {
    fn from(m: ExitModeArg) -> Self {
        match m {
            ExitModeArg::Gate => ExitMode::Gate,
            ExitModeArg::Bisect => ExitMode::Bisect,
        }
    }
}

/// `K/N` with 1 <= K <= N.
pub fn parse_partition(s: &str) -> Result<(usize, usize), AppError> {
    let err = || AppError::usage(format!("--partition {s}: expected K/N with 1 <= K <= N, e.g. 1/2"));
    let (k, n) = s.split_once('/').ok_or_else(err)?;
    let (k, n): (usize, usize) = (k.trim().parse().map_err(|_| err())?, n.trim().parse().map_err(|_| err())?);
    if k == 0 || n == 0 || k > n {
        return Err(err());
    }
    Ok((k, n))
}

/// The opencode.json a server needs to use the fake model on `port`.
fn print_attach_config(port: u16) {
    let config = oc_conform_runner::sandbox::opencode_config(&format!("http://127.0.0.1:{port}/v1"), &Default::default());
    println!("{}", serde_json::to_string_pretty(&config).unwrap_or_default());
    eprintln!(
        "Each attached scenario gets its own project directory with this config, so most servers need nothing.\n\
         If your server's config outranks project configs, start it with this one, e.g.:\n  \
         OPENCODE_CONFIG_CONTENT=\"$(oc-conform run --print-attach-config --model-port {port})\" \\\n    \
         OPENCODE_SERVER_PASSWORD=secret opencode serve --hostname 127.0.0.1 --port 4096\n\
         then: OC_CONFORM_SERVER_PASSWORD=secret oc-conform run --server-url http://127.0.0.1:4096 --model-port {port}"
    );
}

pub async fn run(args: RunArgs) -> u8 {
    let mode: ExitMode = args.exit_code.into();
    if args.print_attach_config {
        print_attach_config(args.model_port);
        return oc_conform_app::exit::OK;
    }
    match run_inner(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            oc_conform_runner::report::gate::error_exit_code(mode, e.exit_code())
        }
    }
}

async fn run_inner(args: RunArgs) -> Result<u8, AppError> {
    let ws = Workspace::load()?;
    let exit_mode: ExitMode = args.exit_code.into();
    let fingerprint: Option<Fingerprint> = match (exit_mode, &args.fingerprint) {
        (_, None) => None,
        (ExitMode::Gate, Some(_)) => return Err(AppError::usage("--fingerprint needs --exit-code bisect")),
        (ExitMode::Bisect, Some(s)) => Some(s.parse().map_err(|e: oc_conform_runner::bisect::FingerprintError| AppError::usage(e.to_string()))?),
    };
    if args.api_fail_on.is_some() && exit_mode == ExitMode::Bisect {
        return Err(AppError::usage("--api-fail-on decides a gate's exit code; it does not go with --exit-code bisect"));
    }
    let scenarios = args.select.selection().apply(&ws.catalogue(&args.scenarios)?)?;
    if scenarios.is_empty() {
        return Err(AppError::usage(format!("no scenarios to run in {}", ws.config.scenarios_dir.display())));
    }
    let partition = args.partition.as_deref().map(parse_partition).transpose()?;
    let expectations = ws.expectations(args.expectations.as_deref())?;
    let report_dir = ws.report_dir(args.report_dir.as_deref(), "")?;
    let installer = std::sync::Arc::new(workspace::installer()?);
    let source = match &args.server_url {
        Some(url) => ServerSource::Attach(AttachTarget {
            url: url.clone(),
            password: args.password.clone().unwrap_or_default(),
            model_port: args.model_port,
        }),
        None => ServerSource::Start {
            share: !args.fresh_servers,
        },
    };
    let versions = match source {
        ServerSource::Attach(_) => vec![],
        ServerSource::Start { .. } => ws.versions(&args.opencode, args.opencode_range.as_deref(), &installer).await?,
    };
    let (jobs, max_jobs) = oc_conform_runner::suite::jobs_and_max(args.jobs, args.max_jobs);
    let plan = RunPlan {
        scenarios,
        versions,
        source,
        expectations,
        report_dir,
        plugins_dir: ws.plugins_dir(),
        jobs,
        max_jobs,
        repeat: args.repeat,
        retry_unexpected: args.retry_unexpected,
        keep_sandbox: args.keep_sandbox,
        start_timeout: std::time::Duration::from_secs(args.start_timeout.max(1)),
        partition,
        strict: args.strict,
        exit_mode,
        fingerprint,
        only: None,
        auto_bisect: args.auto.options(&ws, &installer, args.keep_sandbox)?,
        interface: Some(InterfaceOptions {
            fail_on: args.api_fail_on.map(Into::into),
        }),
    };
    let bus = reporters::for_run(args.message_format.into());
    crate::add_annotations(&bus, args.annotate, args.message_format);
    let doc = run::run(plan, &installer, &bus).await?;
    Ok(interface_changes::exit_code(&doc))
}
