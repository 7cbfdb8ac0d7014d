//! `oc-conform api-diff A B`: the arguments, and the plan for the app's driver.

use clap::{Args, ValueEnum};
use oc_conform_apidiff::Severity;
use oc_conform_app::drivers::api_diff::{self, ApiDiffPlan, DiffFormat};
use oc_conform_app::workspace;
use std::path::PathBuf;

#[derive(Args)]
pub struct ApiDiffArgs {
    /// The baseline: a version (`1.17.18`), `latest`, or the path of an opencode binary.
    #[arg(value_name = "A")]
    pub a: String,
    /// Compared with A, in the same forms.
    #[arg(value_name = "B")]
    pub b: String,
    /// Report dirs of earlier runs (`oc-conform run`, check-plugin's): the event payloads
    /// each release was seen to publish there are diffed too, and checked against the
    /// release's own document.
    #[arg(long, value_name = "DIR", num_args = 1..)]
    pub runs: Vec<PathBuf>,
    /// How the report is written on stdout.
    #[arg(long, value_enum, default_value_t = FormatArg::Terminal)]
    pub format: FormatArg,
    /// Exit 1 when a change this severe or worse is found (for CI).
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub fail_on: Option<FailOnArg>,
    /// On the terminal, list the additive changes too (markdown and JSON always do).
    #[arg(long)]
    pub all: bool,
    /// Fetch the documents again, even those in the cache.
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Terminal,
    Markdown,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOnArg {
    Breaking,
    PossiblyBreaking,
}

impl From<FailOnArg> for Severity {
    fn from(f: FailOnArg) -> Severity {
        match f {
            FailOnArg::Breaking => Severity::Breaking,
            FailOnArg::PossiblyBreaking => Severity::PossiblyBreaking,
        }
    }
}

pub async fn api_diff(args: ApiDiffArgs) -> u8 {
    let plan = ApiDiffPlan {
        a: args.a,
        b: args.b,
        runs: args.runs,
        format: match args.format {
            FormatArg::Terminal => DiffFormat::Terminal,
            FormatArg::Markdown => DiffFormat::Markdown,
            FormatArg::Json => DiffFormat::Json,
        },
        fail_on: args.fail_on.map(Into::into),
        all: args.all,
        refresh: args.refresh,
    };
    let result = match workspace::installer() {
        Ok(installer) => api_diff::api_diff(&plan, &installer).await,
        Err(e) => Err(e),
    };
    crate::exit_code(result)
}
