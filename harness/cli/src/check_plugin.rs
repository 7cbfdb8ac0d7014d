//! `oc-conform check-plugin PATH`: its arguments, and the plan they make for the
//! check-plugin driver.
//!
//! Exit codes: 0 the plugin is fine (warnings allowed), 1 a problem was found, 2 no
//! verdict (install, start, a scenario failing without the plugin too), 64 usage.

use crate::MessageFormatArg;
use clap::Args;
use oc_conform_app::drivers::baseline_cache::BaselineCache;
use oc_conform_app::drivers::check_plugin::{self, PluginPlan};
use oc_conform_app::{reporters, workspace, AppError, Workspace};
use std::path::PathBuf;
use oc_conform_runner::plugin_tools::ToolSettings;

#[derive(Args, Debug, Clone)]
pub struct CheckPluginArgs {
    /// The plugin: a .js/.ts file, a package directory (its package.json `exports`/`main`
    /// names the module), an npm tarball (.tgz), or a published package `NAME[@VERSION]`
    /// (fetched with your npm configuration).
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
    /// Play the runs without the plugin even when the baseline cache has them (the cache
    /// keeps passing baselines by release, scenario, fixtures and harness build).
    #[arg(long)]
    pub no_baseline_cache: bool,
    /// An `event` hook that holds the server longer than this (ms) in one call is a problem.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub block_ms: u64,
    /// Keep each scenario's sandbox on disk for debugging.
    #[arg(long)]
    pub keep_sandbox: bool,
    /// Do not call the plugin's custom tools (they are called with arguments generated
    /// from their schemas, in a scenario of their own).
    #[arg(long)]
    pub no_tools: bool,
    /// Argument cases per custom tool, at most (valid cases and edge cases).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub tool_cases: usize,
    /// A custom tool's call still running this long (ms) after it started is a hang.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub tool_deadline_ms: u64,
    /// The seed of the generated arguments (the same seed gives the same calls).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub tool_seed: u64,
    /// `human` (default) or `json`: one JSON object per line on stdout (reports/README.md).
    #[arg(long, value_enum, value_name = "FMT", default_value = "human")]
    pub message_format: MessageFormatArg,
}

pub async fn check_plugin(args: CheckPluginArgs) -> u8 {
    crate::exit_code(inner(args).await)
}

async fn inner(args: CheckPluginArgs) -> Result<u8, AppError> {
    let ws = Workspace::load()?;
    let (core, mine) = check_plugin::pick(&ws.catalogue(&args.scenarios)?, &args.scenario)?;
    if core.is_empty() && mine.is_empty() {
        return Err(AppError::usage("no scenarios to run"));
    }
    let installer = workspace::installer()?;
    let expectations = ws.expectations(None)?;
    let report_dir = ws.report_dir(args.report_dir.as_deref(), "check-plugin-")?;
    let versions = ws.versions(&args.opencode, args.opencode_range.as_deref(), &installer).await?;
    let plan = PluginPlan {
        path: args.path,
        versions,
        core,
        mine,
        expectations,
        report_dir,
        plugins_dir: ws.plugins_dir(),
        jobs: args.jobs.unwrap_or_else(oc_conform_runner::suite::default_jobs),
        no_baseline: args.no_baseline,
        block_ms: args.block_ms,
        keep_sandbox: args.keep_sandbox,
        tools: (!args.no_tools && args.tool_cases > 0).then_some(ToolSettings {
            seed: args.tool_seed,
            cases_per_tool: args.tool_cases,
            deadline_ms: args.tool_deadline_ms,
        }),
        baseline_cache: (!args.no_baseline_cache).then(|| BaselineCache::new(installer.cache_dir(), &ws.plugins_dir())),
    };
    let bus = reporters::for_check_plugin(args.message_format.into());
    let report = check_plugin::check_plugin(plan, &installer, &bus).await?;
    Ok(check_plugin::exit_code(&report))
}
