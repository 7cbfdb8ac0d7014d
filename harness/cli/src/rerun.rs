//! `oc-conform rerun RUN_DIR` and `run --last-failed`: the plan for the rerun driver.

use crate::MessageFormatArg;
use clap::Args;
use oc_conform_app::drivers::rerun::{self, RerunPlan};
use oc_conform_app::{reporters, workspace, AppError, Workspace};
use std::path::{Path, PathBuf};

#[derive(Args, Debug, Clone)]
pub struct RerunArgs {
    /// A report directory written by `oc-conform run` (it holds results.json).
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,
    #[command(flatten)]
    pub options: RerunOptions,
}

/// What `rerun` and `run --last-failed` share.
#[derive(Args, Debug, Clone)]
pub struct RerunOptions {
    /// Where the combined report goes (the re-run's own in its `rerun/`). Default:
    /// reports/rerun-<timestamp>/.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Cells played at once. Default: the number of cores.
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Unexpected passes and undeclared flakes fail the gate too.
    #[arg(long)]
    pub strict: bool,
    /// Keep each scenario's sandbox on disk for debugging.
    #[arg(long)]
    pub keep_sandbox: bool,
    /// How long a server may take to print its listening line and answer health.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub start_timeout: u64,
    /// A directory of scenario files, for a cell whose run dir lacks scenario.json.
    #[arg(long = "scenarios", value_name = "DIR")]
    pub scenarios: Vec<PathBuf>,
    /// `human` (default) or `json`: one JSON object per line on stdout.
    #[arg(long, value_enum, value_name = "FMT", default_value = "human")]
    pub message_format: MessageFormatArg,
    /// `github`: one `::error` annotation per regression left (default when CI=true).
    #[arg(long, value_enum, value_name = "CI")]
    pub annotate: Option<crate::AnnotateArg>,
}

pub async fn rerun(args: RerunArgs) -> u8 {
    crate::exit_code(inner(&args.run_dir, args.options).await)
}

/// `run --last-failed`: the newest stored run under reports/.
pub async fn last_failed(options: RerunOptions) -> u8 {
    let dir = Workspace::load().and_then(|ws| rerun::last_run(&ws.root.join("reports")));
    match dir {
        Ok(dir) => {
            eprintln!("re-running what was not as expected in {}", dir.display());
            crate::exit_code(inner(&dir, options).await)
        }
        Err(e) => crate::exit_code(Err(e)),
    }
}

async fn inner(run_dir: &Path, o: RerunOptions) -> Result<u8, AppError> {
    let ws = Workspace::load()?;
    // The stored run first: a wrong path leaves no empty report dir behind.
    oc_conform_runner::report::ResultsDoc::load(run_dir).map_err(AppError::usage)?;
    let catalogue = ws.catalogue(&o.scenarios)?.entries.into_iter().map(|(_, s)| s).collect();
    let out = ws.report_dir(o.report_dir.as_deref(), "rerun-")?;
    let installer = workspace::installer()?;
    let plan = RerunPlan {
        first_dir: run_dir.to_path_buf(),
        out,
        catalogue,
        plugins_dir: ws.plugins_dir(),
        jobs: o.jobs.unwrap_or_else(oc_conform_runner::suite::default_jobs),
        keep_sandbox: o.keep_sandbox,
        start_timeout: std::time::Duration::from_secs(o.start_timeout.max(1)),
        strict: o.strict,
    };
    let bus = reporters::for_run(o.message_format.into());
    let out = plan.out.clone();
    let doc = rerun::rerun(plan, &installer, &bus).await?;
    // Answers on stdout, unless stdout is the JSON stream.
    let say = |line: String| {
        if o.message_format == MessageFormatArg::Json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    for c in doc.results.iter().filter(|c| c.rerun.is_some()) {
        let note = c.rerun.as_ref().map(|r| r.describe()).unwrap_or_default();
        say(format!("{:16} {} ({}): {note}", c.outcome.as_str(), c.scenario, c.opencode_version));
    }
    if crate::annotate_github(o.annotate) {
        // The combined report's regressions, not the re-run's alone.
        for line in oc_conform_runner::report::annotations::github_lines(&doc) {
            say(line);
        }
    }
    let gate = doc.gate_decision();
    eprintln!("combined report: {}", out.display());
    eprintln!("oc-conform: {}", gate.headline);
    Ok(gate.exit_code)
}
