//! `oc-conform`: the command line. Parses arguments, resolves versions and scenarios,
//! hands them to the runner, and turns outcomes into an exit code a CI can trust.

mod attach;
mod bench;
mod bisect_cmd;
mod check_plugin;
mod config;
mod exit;
mod install_cmds;
mod interrupt;
mod new_scenario;
mod results_cmds;
mod run;
mod terminal;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "oc-conform", version, about = "Conformance and regression harness for the opencode server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios against one or more opencode versions.
    Run(run::RunArgs),
    /// Check a plugin (file, package directory or .tgz) against the core scenarios: does it
    /// load, do they still pass with it, its hooks' calls and timings, what it leaves behind.
    CheckPlugin(check_plugin::CheckPluginArgs),
    /// Write a skeleton: `new scenario NAME [--dir DIR]`.
    New {
        #[command(subcommand)]
        what: new_scenario::NewCommand,
    },
    /// Find the release that broke a scenario (or, with --fixed, fixed it).
    Bisect(bisect_cmd::BisectArgs),
    /// Download opencode versions into the cache.
    Install {
        /// Versions (`1.18.34`, `latest`).
        #[arg(required = true)]
        versions: Vec<String>,
    },
    /// List the versions the registry has and those in the cache.
    Versions,
    /// List the scenarios.
    List {
        /// A directory of scenario files (default: the project's `scenarios/`).
        #[arg(long)]
        scenarios: Option<PathBuf>,
    },
    /// Re-run the checks on a stored run's timelines, without a server.
    Analyze {
        /// A report directory written by `oc-conform run`.
        run_dir: PathBuf,
    },
    /// Combine report dirs (e.g. `--partition` slices) into one report and one exit code.
    Merge {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where the merged report goes.
        #[arg(long, value_name = "DIR")]
        report_dir: PathBuf,
        #[arg(long)]
        strict: bool,
    },
    /// End the processes earlier runs left behind (a harness that was SIGKILLed).
    /// Only processes carrying an oc-conform run marker are touched.
    Gc,
    /// Measure the harness's overhead over opencode's own costs (see BENCHMARKS.md).
    Bench(bench::BenchArgs),
    /// What regressed and what got fixed between two runs.
    Diff { run_a: PathBuf, run_b: PathBuf },
    /// Work on the expectations file.
    Expectations {
        #[command(subcommand)]
        command: ExpectationsCommand,
    },
}

#[derive(Subcommand)]
enum ExpectationsCommand {
    /// Rewrite the expectations from a run's outcomes.
    Update {
        run_dir: PathBuf,
        /// Default: scenarios/expectations.toml.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            return if usage {
                exit::USAGE.into()
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::INFRA.into();
        }
    };
    let code = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Bisect(args) => bisect_cmd::bisect(args).await,
            Command::CheckPlugin(args) => check_plugin::check_plugin(args).await,
            Command::New { what } => new_scenario::new(what),
            Command::Install { versions } => install_cmds::install(versions).await,
            Command::Versions => install_cmds::versions().await,
            Command::List { scenarios } => install_cmds::list(scenarios),
            Command::Analyze { run_dir } => results_cmds::analyze(&run_dir),
            Command::Merge { dirs, report_dir, strict } => results_cmds::merge(&dirs, &report_dir, strict),
            Command::Gc => install_cmds::gc(),
            Command::Bench(args) => bench::bench(args).await,
            Command::Diff { run_a, run_b } => results_cmds::diff(&run_a, &run_b),
            Command::Expectations {
                command: ExpectationsCommand::Update { run_dir, file },
            } => {
                let file = match file {
                    Some(f) => f,
                    None => match config::load() {
                        Ok((_, cfg)) => cfg.scenarios_dir.join("expectations.toml"),
                        Err(e) => {
                            eprintln!("error: {e}");
                            return exit::USAGE;
                        }
                    },
                };
                results_cmds::update_expectations(&run_dir, &file)
            }
        }
    });
    ExitCode::from(code)
}
