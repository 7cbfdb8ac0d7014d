//! `oc-conform bisect`: its arguments, and the plan they make for the bisect driver.

use crate::MessageFormatArg;
use clap::Args;
use oc_conform_app::drivers::bisect::{self, BisectPlan};
use oc_conform_app::{exit, reporters, workspace, AppError, Workspace};
use oc_conform_runner::bisect::{Direction, Fingerprint};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args, Debug, Clone)]
pub struct BisectArgs {
    /// The scenario to bisect (by name).
    #[arg(long, value_name = "NAME")]
    pub scenario: String,
    /// A release where the scenario passes.
    #[arg(long, value_name = "V")]
    pub good: String,
    /// A release where it fails.
    #[arg(long, value_name = "V")]
    pub bad: String,
    /// Search for the fix instead: the first release after --bad (older) where the
    /// failing scenario passes, up to --good (newer).
    #[arg(long)]
    pub fixed: bool,
    /// Runs per probe: bad if any run fails the same way, good only if all pass.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: u32,
    /// The failure to look for (failed checks joined by `+`). Default: how the bad end fails.
    #[arg(long, value_name = "FP")]
    pub fingerprint: Option<String>,
    /// An extra directory (or file) of scenarios. Repeatable.
    #[arg(long = "scenarios", value_name = "DIR")]
    pub scenarios: Vec<PathBuf>,
    /// Where to write bisect.json, bisect.md and the probes' artifacts.
    /// Default: reports/<timestamp>/.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Keep each probe's sandbox on disk for debugging.
    #[arg(long)]
    pub keep_sandbox: bool,
    /// `human` (default) or `json`: one JSON object per line on stdout (reports/README.md).
    #[arg(long, value_enum, value_name = "FMT", default_value = "human")]
    pub message_format: MessageFormatArg,
}

pub async fn bisect(args: BisectArgs) -> u8 {
    crate::exit_code(inner(args).await)
}

async fn inner(args: BisectArgs) -> Result<u8, AppError> {
    let direction = if args.fixed { Direction::Fixed } else { Direction::Regression };
    let ws = Workspace::load()?;
    let scenario = ws
        .catalogue(&args.scenarios)?
        .select(std::slice::from_ref(&args.scenario))?
        .remove(0);
    let fingerprint = args
        .fingerprint
        .as_deref()
        .map(str::parse::<Fingerprint>)
        .transpose()
        .map_err(|e| AppError::usage(e.to_string()))?;
    if args.repeat == 0 {
        return Err(AppError::usage("--repeat must be at least 1"));
    }
    // The ends' syntax and order, before asking the registry anything.
    bisect::check_ends(&args.good, &args.bad, direction)?;
    let installer = Arc::new(workspace::installer()?);
    let report_dir = ws.report_dir(args.report_dir.as_deref(), "")?;
    let mut extra_args = Vec::new();
    for dir in &args.scenarios {
        extra_args.push("--scenarios".to_string());
        extra_args.push(dir.display().to_string());
    }
    let bus = reporters::for_bisect(args.message_format.into(), &report_dir);
    let plan = BisectPlan {
        scenario,
        good: args.good,
        bad: args.bad,
        direction,
        repeat: args.repeat,
        fingerprint,
        report_dir,
        plugins_dir: ws.plugins_dir(),
        keep_sandbox: args.keep_sandbox,
        extra_args,
    };
    let done = bisect::bisect(plan, installer, &bus).await?;
    Ok(if done.status == "found" { exit::OK } else { exit::INFRA })
}
