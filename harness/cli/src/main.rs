//! `oc-conform`: the command line. Parses arguments, resolves versions and scenarios,
//! hands them to the runner, and turns outcomes into an exit code a CI can trust.

mod config;
mod exit;
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
            Command::Install { versions } => run::install(versions).await,
            Command::Versions => run::versions().await,
            Command::List { scenarios } => run::list(scenarios),
            Command::Analyze { run_dir } => run::analyze(&run_dir),
        }
    });
    ExitCode::from(code)
}
