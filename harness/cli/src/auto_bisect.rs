//! `--auto-bisect` on `run` and `merge`: its flags, and the bisects after a merge.

use clap::Args;
use oc_conform_app::drivers::auto_bisect::{self, AutoBisect};
use oc_conform_app::{exit, reporters, workspace, AppError, Workspace};
use oc_conform_runner::install::Installer;
use oc_conform_runner::report::{self, ResultsDoc};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug, Clone)]
pub struct AutoBisectArgs {
    /// After the matrix, bisect each regression (FAIL, not expected) between the newest
    /// matrix version older than it on which the scenario passed and its own version;
    /// the answer goes into every report (`first_bad`).
    #[arg(long)]
    pub auto_bisect: bool,
    /// The good end when no older matrix version passed.
    #[arg(long, value_name = "V", requires = "auto_bisect")]
    pub auto_bisect_from: Option<String>,
    /// No bisect starts after this many seconds of auto-bisecting; one running then is
    /// stopped and reported with what it learned.
    #[arg(long, value_name = "SECS", requires = "auto_bisect")]
    pub auto_bisect_budget: Option<u64>,
}

impl AutoBisectArgs {
    pub fn options(&self, ws: &Workspace, installer: &Arc<Installer>, keep_sandbox: bool) -> Result<Option<AutoBisect>, AppError> {
        if !self.auto_bisect {
            return Ok(None);
        }
        if let Some(v) = &self.auto_bisect_from {
            if semver_like(v).is_none() {
                return Err(AppError::usage(format!("--auto-bisect-from {v}: expected a release number, e.g. 1.14.41")));
            }
        }
        Ok(Some(AutoBisect {
            from: self.auto_bisect_from.clone(),
            budget: self.auto_bisect_budget.map(Duration::from_secs),
            installer: installer.clone(),
            plugins_dir: ws.plugins_dir(),
            keep_sandbox,
        }))
    }
}

fn semver_like(v: &str) -> Option<()> {
    let parts: Vec<&str> = v.split('.').collect();
    (parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))).then_some(())
}

/// `merge --auto-bisect`: bisects the merged report's regressions and writes the report
/// again with their answers; the exit code stays the merge's.
pub async fn after_merge(out: &Path, args: &AutoBisectArgs, merge_code: u8) -> u8 {
    match bisect_stored(out, args).await {
        Ok(()) => merge_code,
        Err(e) => {
            eprintln!("error: {e}");
            if merge_code == exit::OK { e.exit_code() } else { merge_code }
        }
    }
}

async fn bisect_stored(out: &Path, args: &AutoBisectArgs) -> Result<(), AppError> {
    let ws = Workspace::load()?;
    let installer = Arc::new(workspace::installer()?);
    let Some(opts) = args.options(&ws, &installer, false)? else { return Ok(()) };
    let mut doc = ResultsDoc::load(out).map_err(AppError::usage)?;
    let scenarios = auto_bisect::stored_scenarios(out, &doc.results)?;
    let bus = reporters::for_run(reporters::MessageFormat::Human);
    doc.results = auto_bisect::run(&doc.results, &scenarios, &opts, out, &bus).await;
    report::write_all(&doc, out).map_err(|e| AppError::infra(format!("cannot write {}: {e}", out.display())))
}
