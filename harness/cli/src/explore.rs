//! `oc-conform explore`: its arguments, and the plan they make for the explore driver.

use crate::MessageFormatArg;
use clap::Args;
use oc_conform_app::drivers::explore::{self, ExplorePlan};
use oc_conform_app::{reporters, workspace, AppError, Workspace};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug, Clone)]
pub struct ExploreArgs {
    /// opencode to explore: a version (`1.18.34`), `latest`, or a path to a local binary.
    /// Default: `default_opencode` in oc-conform.toml.
    #[arg(long = "opencode", value_name = "V")]
    pub opencode: Option<String>,
    /// The seed of the cases: the same seed on the same release plays the same actions.
    /// Default: taken from the clock (and reported).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Seconds of generating and playing cases (shrinking has its own budget).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub budget: u64,
    /// At most this many actions a case.
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub max_steps: usize,
    /// Seconds of shrinking for each distinct failure.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub shrink_budget: u64,
    /// A smaller case is kept only when it fails the same way in K of K runs.
    #[arg(short = 'k', value_name = "K", default_value_t = 2)]
    pub k: u32,
    /// Shrink known failures too (they are still reported as known, not as findings).
    #[arg(long)]
    pub shrink_known: bool,
    /// Stop after this many cases (the budget still applies).
    #[arg(long, value_name = "N")]
    pub max_cases: Option<usize>,
    /// The expectations file. Default: scenarios/expectations.toml.
    #[arg(long, value_name = "FILE")]
    pub expectations: Option<PathBuf>,
    /// Where to write the reports. Default: reports/<timestamp>/.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Keep each case's sandbox on disk for debugging.
    #[arg(long)]
    pub keep_sandbox: bool,
    /// Seconds to wait for a server to be ready.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub start_timeout: u64,
    /// `human` (default) or `json`: one JSON object per line on stdout (reports/README.md).
    #[arg(long, value_enum, value_name = "FMT", default_value = "human")]
    pub message_format: MessageFormatArg,
}

pub async fn explore(args: ExploreArgs) -> u8 {
    crate::exit_code(inner(args).await)
}

async fn inner(args: ExploreArgs) -> Result<u8, AppError> {
    let ws = Workspace::load()?;
    let installer = workspace::installer()?;
    let opencode: Vec<String> = args.opencode.iter().cloned().collect();
    let version = ws.versions(&opencode, None, &installer).await?.remove(0);
    let expectations = ws.expectations(args.expectations.as_deref())?;
    let scenario_checks = ws
        .catalogue(&[])?
        .entries
        .iter()
        .map(|(_, s)| (s.name.clone(), s.checks.iter().map(|c| c.name().to_string()).collect()))
        .collect();
    let report_dir = ws.report_dir(args.report_dir.as_deref(), "")?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    let bus = reporters::for_explore(args.message_format.into(), &report_dir);
    let plan = ExplorePlan {
        version,
        seed,
        budget: Duration::from_secs(args.budget),
        max_steps: args.max_steps,
        shrink_budget: Duration::from_secs(args.shrink_budget),
        k: args.k,
        shrink_known: args.shrink_known,
        max_cases: args.max_cases,
        expectations,
        scenario_checks,
        report_dir: report_dir.clone(),
        plugins_dir: ws.plugins_dir(),
        start_timeout: Duration::from_secs(args.start_timeout),
        keep_sandbox: args.keep_sandbox,
    };
    let doc = explore::explore(plan, &installer, &bus).await?;
    eprintln!("report: {}", report_dir.join("explore.md").display());
    Ok(doc.exit_code)
}
