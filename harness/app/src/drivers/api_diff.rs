//! `api-diff A B`: what changed in opencode's interface between two releases. For each
//! side (a version, `latest`, or a binary), the OpenAPI document its server publishes at
//! `GET /doc`, fetched from a server started in a sandbox (both sides at once) and kept
//! in the cache per version (`<cache>/api-docs/<version>.json`; a binary given by path is
//! asked every time). With `--runs DIR...`, the event payloads each release was seen to
//! publish in those runs' timelines too. The diff and its classification are
//! `oc-conform-apidiff`'s; this only gathers. Prints the report on stdout.

use crate::{exit, AppError};
use oc_conform_apidiff::{compare, Observed, Severity, Side, Surface};
use oc_conform_checks::Timeline;
use oc_conform_runner::api_doc;
use oc_conform_runner::install::{Installed, Installer, OpencodeSpec, Source};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The server's start, as for a scenario.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How deep under a `--runs` dir timelines are looked for (`<version>/<scenario>/`, and
/// check-plugin's `baseline/<version>/<scenario>/`).
const RUNS_DEPTH: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffFormat {
    Terminal,
    Markdown,
    Json,
}

pub struct ApiDiffPlan {
    pub a: String,
    pub b: String,
    pub runs: Vec<PathBuf>,
    pub format: DiffFormat,
    /// Exit 1 when a change this severe or worse is found.
    pub fail_on: Option<Severity>,
    /// List additive changes on the terminal too.
    pub all: bool,
    /// Fetch the documents again even when cached.
    pub refresh: bool,
}

/// Runs the job; returns its exit code (0, or 1 when `--fail-on` fails).
pub async fn api_diff(plan: &ApiDiffPlan, installer: &Installer) -> Result<u8, AppError> {
    let spec = |t: &str| t.parse::<OpencodeSpec>().map_err(|e| AppError::usage(format!("{t}: {e}")));
    let (spec_a, spec_b) = (spec(&plan.a)?, spec(&plan.b)?);
    let mut observed = read_runs(&plan.runs)?;
    let (a, b) = tokio::join!(
        document(installer, &spec_a, plan.refresh),
        document(installer, &spec_b, plan.refresh)
    );
    let ((installed_a, doc_a), (installed_b, doc_b)) = (a?, b?);
    let mut side = |label: &str, installed: Installed, document: Surface| {
        let seen = observed.remove(&installed.version);
        if !plan.runs.is_empty() && seen.is_none() {
            eprintln!("note: no timeline of opencode {} in the runs given", installed.version);
        }
        Side {
            label: label.to_string(),
            version: installed.version,
            document: Some(document),
            observed: seen,
        }
    };
    let side_a = side(&plan.a, installed_a, doc_a);
    let side_b = side(&plan.b, installed_b, doc_b);
    let report = compare(&side_a, &side_b);
    let text = match plan.format {
        DiffFormat::Terminal => report.render_terminal(plan.all),
        DiffFormat::Markdown => report.render_markdown(),
        DiffFormat::Json => report.render_json(),
    };
    println!("{}", text.trim_end());
    Ok(match plan.fail_on {
        Some(level) if report.fails(level) => {
            eprintln!("api-diff: a change at --fail-on {} or worse", level.as_str());
            exit::REGRESSION
        }
        _ => exit::OK,
    })
}

/// Where a version's document is kept.
pub fn cached_doc_path(cache_dir: &Path, version: &str) -> PathBuf {
    cache_dir.join("api-docs").join(format!("{version}.json"))
}

/// A side's binary and its document.
async fn document(installer: &Installer, spec: &OpencodeSpec, refresh: bool) -> Result<(Installed, Surface), AppError> {
    let installed = installer
        .resolve(spec)
        .await
        .map_err(|e| AppError::infra(format!("cannot install opencode {spec}: {e}")))?;
    let log = installer
        .cache_dir()
        .join("api-docs")
        .join("logs")
        .join(format!("{}-server.log", installed.version));
    let surface = surface_of(&installed, installer.cache_dir(), &log, refresh).await.map_err(AppError::infra)?;
    Ok((installed, surface))
}

/// The document of `installed`: from the cache in `cache_dir`, or fetched from a server
/// started for it (its output to `log`) and then cached, unless the binary was given by
/// path (a local build can differ under the same version). `run` over a matrix asks here
/// too. The error says what failed, for a person.
pub(crate) async fn surface_of(installed: &Installed, cache_dir: &Path, log: &Path, refresh: bool) -> Result<Surface, String> {
    let cached = cached_doc_path(cache_dir, &installed.version);
    let cacheable = installed.source != Source::Local;
    if cacheable && !refresh {
        if let Some(surface) = std::fs::read_to_string(&cached).ok().and_then(|t| Surface::from_json(&t).ok()) {
            return Ok(surface);
        }
    }
    let text = api_doc::fetch_doc(installed, log, START_TIMEOUT)
        .await
        .map_err(|e| format!("{e} (server log: {})", log.display()))?;
    let surface = Surface::from_json(&text).map_err(|e| format!("opencode {}'s /doc: {e}", installed.version))?;
    if cacheable {
        write_atomically(&cached, &text).map_err(|e| format!("cannot cache {}: {e}", cached.display()))?;
    }
    Ok(surface)
}

/// Written beside, then renamed: a reader never sees half a document.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// The event payloads seen in the runs' timelines, per opencode version.
fn read_runs(dirs: &[PathBuf]) -> Result<BTreeMap<String, Observed>, AppError> {
    let mut by_version: BTreeMap<String, Observed> = BTreeMap::new();
    for dir in dirs {
        if !dir.is_dir() {
            return Err(AppError::usage(format!("--runs {}: not a directory", dir.display())));
        }
        let mut files = Vec::new();
        timelines_under(dir, RUNS_DEPTH, &mut files);
        if files.is_empty() {
            return Err(AppError::usage(format!(
                "--runs {}: no timeline.json under it (a report dir of `oc-conform run`)",
                dir.display()
            )));
        }
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| AppError::infra(format!("{}: {e}", file.display())))?;
            match serde_json::from_str::<Timeline>(&text) {
                Ok(t) => by_version.entry(t.opencode_version.clone()).or_default().add_timeline(&t),
                Err(e) => eprintln!("note: {} skipped: {e}", file.display()),
            }
        }
    }
    Ok(by_version)
}

fn timelines_under(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() && depth > 0 {
            timelines_under(&p, depth - 1, out);
        } else if p.file_name().is_some_and(|n| n == "timeline.json") {
            out.push(p);
        }
    }
}
