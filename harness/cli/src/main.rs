//! `oc-conform`: the command line. Parses arguments, builds a driver's plan, calls the
//! driver (`oc-conform-app`) and maps its one typed error to an exit code.

mod auto_bisect;
mod api_diff;
mod bench;
mod bench_matrix;
mod bisect;
mod check_plugin;
mod explore;
mod install_cmds;
mod new_scenario;
mod rerun;
mod run;

use clap::{Parser, Subcommand, ValueEnum};
use oc_conform_app::drivers::stored;
use oc_conform_app::{exit, reporters::MessageFormat, Workspace};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "oc-conform", version, about = "Conformance and regression harness for the opencode server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How live events are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageFormatArg {
    /// Progress and results for people, on stderr.
    Human,
    /// One JSON object per line on stdout (schema in reports/README.md); people's text
    /// stays on stderr.
    Json,
}

impl From<MessageFormatArg> for MessageFormat {
    fn from(m: MessageFormatArg) -> Self {
        match m {
            MessageFormatArg::Human => MessageFormat::Human,
            MessageFormatArg::Json => MessageFormat::Json,
        }
    }
}

/// `--annotate`: workflow annotations for a CI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnnotateArg {
    /// One `::error` per regression (GitHub Actions).
    Github,
    /// None, even when CI=true.
    None,
}

/// Whether to write GitHub annotations: asked for, or `CI=true` unless `--annotate none`.
pub fn annotate_github(arg: Option<AnnotateArg>) -> bool {
    match arg {
        Some(AnnotateArg::Github) => true,
        Some(AnnotateArg::None) => false,
        None => std::env::var("CI").is_ok_and(|v| v == "true"),
    }
}

/// Adds the GitHub annotations to a run's bus when asked for (to stderr when stdout is
/// the JSON stream).
pub fn add_annotations(bus: &oc_conform_runner::report::Bus, arg: Option<AnnotateArg>, format: MessageFormatArg) {
    if annotate_github(arg) {
        bus.add(Box::new(oc_conform_runner::report::annotations::GithubAnnotations::new(
            format == MessageFormatArg::Json,
        )));
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios against one or more opencode versions.
    Run(run::RunArgs),
    /// Play again only the cells of a stored run that were not as expected (same versions,
    /// the scenarios as they ran, the same expectations), each on a server of its own;
    /// say for each whether it still is (real) or not (flaky), in one report combined with
    /// the first run's.
    Rerun(rerun::RerunArgs),
    /// Check a plugin (file, package directory or .tgz) against the core scenarios: does it
    /// load, do they still pass with it, its hooks' calls and timings, what it leaves behind.
    CheckPlugin(check_plugin::CheckPluginArgs),
    /// Write a skeleton: `new scenario NAME [--dir DIR]`.
    New {
        #[command(subcommand)]
        what: new_scenario::NewCommand,
    },
    /// Find the release that broke a scenario (or, with --fixed, fixed it).
    Bisect(bisect::BisectArgs),
    /// Play generated action sequences against a real server; shrink each new failure to
    /// a minimal scenario file (written into the report dir).
    Explore(explore::ExploreArgs),
    /// Download opencode versions into the cache.
    Install {
        /// Versions (`1.18.34`, `latest`).
        #[arg(required = true)]
        versions: Vec<String>,
    },
    /// List the versions the registry has and those in the cache.
    Versions,
    /// List the scenarios, or those a selection would run (the same --scenario, --tag and
    /// --scenarios as `run`), with their tags.
    List(install_cmds::ListArgs),
    /// Re-run the checks on a stored run's timelines, without a server; print each run's
    /// verdict and the checks that did not pass. Exit 1 when a verdict differs from the
    /// recorded one.
    Analyze {
        /// A report directory written by `oc-conform run` (it holds results.json).
        run_dir: PathBuf,
    },
    /// Combine report dirs (e.g. `--partition` slices) into one report and one exit code.
    Merge {
        /// The report directories to combine (each holds results.json); their cells must
        /// not overlap.
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// Where the merged report goes.
        #[arg(long, value_name = "DIR")]
        report_dir: PathBuf,
        /// Unexpected passes and undeclared flakes fail the gate too.
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        auto: auto_bisect::AutoBisectArgs,
        /// `github`: one `::error` annotation per regression (default when CI=true).
        #[arg(long, value_enum, value_name = "CI")]
        annotate: Option<AnnotateArg>,
    },
    /// End the processes earlier runs left behind (a harness that was SIGKILLed).
    /// Only processes carrying an oc-conform run marker are touched.
    Gc,
    /// Measure the harness's overhead over opencode's own costs (see BENCHMARKS.md).
    Bench(bench::BenchArgs),
    /// What regressed and what got fixed between two runs. Exit 1 when something regressed.
    Diff {
        /// The earlier run's report directory (the baseline).
        #[arg(value_name = "RUN_A")]
        run_a: PathBuf,
        /// The later run's report directory, compared with RUN_A.
        #[arg(value_name = "RUN_B")]
        run_b: PathBuf,
    },
    /// What changed in opencode's interface between two releases (the OpenAPI document
    /// at /doc, and with --runs the event payloads seen): breaking, possibly breaking,
    /// additive, per consumer. Exit 1 with --fail-on when a change that severe is found.
    ApiDiff(api_diff::ApiDiffArgs),
    /// Work on the expectations file.
    Expectations {
        #[command(subcommand)]
        command: ExpectationsCommand,
    },
}

#[derive(Subcommand)]
enum ExpectationsCommand {
    /// Rewrite the expectations from a run's outcomes: failures become expected failures
    /// of that version, unexpected passes drop it.
    Update {
        /// The report directory of the run to take the outcomes from.
        #[arg(value_name = "RUN_DIR")]
        run_dir: PathBuf,
        /// The expectations file to rewrite. Default: scenarios/expectations.toml.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

/// A job's exit code: its own, or its error's (said on stderr).
pub fn exit_code(result: Result<u8, oc_conform_app::AppError>) -> u8 {
    result.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        e.exit_code()
    })
}

/// `run --exit-code bisect` was asked for: a usage error must then stop `git bisect run`
/// (128), not mark the commit bad, even when the arguments did not parse.
fn bisect_mode_requested(args: &[String]) -> bool {
    args.get(1).is_some_and(|c| c == "run")
        && args.iter().enumerate().any(|(i, a)| {
            a == "--exit-code=bisect" || (a == "--exit-code" && args.get(i + 1).is_some_and(|m| m == "bisect"))
        })
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            return if !usage {
                ExitCode::SUCCESS
            } else if bisect_mode_requested(&raw) {
                exit::BISECT_ABORT.into()
            } else {
                exit::USAGE.into()
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
            Command::Run(args) if args.last_failed => rerun::last_failed(args.rerun_options()).await,
            Command::Run(args) => run::run(args).await,
            Command::Rerun(args) => rerun::rerun(args).await,
            Command::Bisect(args) => bisect::bisect(args).await,
            Command::Explore(args) => explore::explore(args).await,
            Command::CheckPlugin(args) => check_plugin::check_plugin(args).await,
            Command::New { what } => new_scenario::new(what),
            Command::Install { versions } => install_cmds::install(versions).await,
            Command::Versions => install_cmds::versions().await,
            Command::List(args) => install_cmds::list(args),
            Command::Analyze { run_dir } => stored::analyze(&run_dir),
            Command::Merge { dirs, report_dir, strict, auto, annotate } => {
                let code = stored::merge(&dirs, &report_dir, strict);
                let merged = code != exit::USAGE && report_dir.join("results.json").is_file();
                let code = if auto.auto_bisect && merged {
                    auto_bisect::after_merge(&report_dir, &auto, code).await
                } else {
                    code
                };
                if merged && annotate_github(annotate) {
                    if let Ok(doc) = oc_conform_runner::report::ResultsDoc::load(&report_dir) {
                        for line in oc_conform_runner::report::annotations::github_lines(&doc) {
                            println!("{line}");
                        }
                    }
                }
                code
            }
            Command::Gc => install_cmds::gc(),
            Command::Bench(args) => bench::bench(args).await,
            Command::Diff { run_a, run_b } => stored::diff(&run_a, &run_b),
            Command::ApiDiff(args) => api_diff::api_diff(args).await,
            Command::Expectations {
                command: ExpectationsCommand::Update { run_dir, file },
            } => {
                let file = match file {
                    Some(f) => f,
                    None => match Workspace::load() {
                        Ok(ws) => ws.expectations_path(None),
                        Err(e) => {
                            eprintln!("error: {e}");
                            return e.exit_code();
                        }
                    },
                };
                stored::update_expectations(&run_dir, &file)
            }
        }
    });
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::bisect_mode_requested;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn bisect_mode_is_seen_before_the_arguments_parse() {
        assert!(bisect_mode_requested(&args("oc-conform run --exit-code bisect --bogus")));
        assert!(bisect_mode_requested(&args("oc-conform run --bogus --exit-code=bisect")));
        assert!(!bisect_mode_requested(&args("oc-conform run --bogus")));
        assert!(!bisect_mode_requested(&args("oc-conform run --exit-code gate --bogus")));
        assert!(!bisect_mode_requested(&args("oc-conform bisect --exit-code bisect")));
    }
}
