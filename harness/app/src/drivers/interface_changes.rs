//! `run` over several opencode versions: the "Interface changes" section. Each version's
//! OpenAPI document is had as `api-diff` has it (its cache, `<cache>/api-docs/`, or a
//! server started for it alone while the matrix plays), adjacent versions (by semver)
//! are compared with `oc-conform-apidiff`, and the section is one event
//! (`interface-changes`) that every report renders. It is kept apart from the cells:
//! a document that cannot be had is said so in the section, never an error of the run,
//! and the exit code changes only with `--api-fail-on` ([`exit_code`]).
//!
//! Why a server of its own rather than the run's: the run's servers are started and
//! stopped inside the suite per scenario (or per shared group) with no hook between
//! start and first scenario; the document is cached per version, so a matrix pays that
//! start once per release ever.

use crate::drivers::api_diff::surface_of;
use oc_conform_apidiff::{compare, Severity, Side, Surface};
use oc_conform_runner::install::Installed;
use oc_conform_runner::report::interface::{InterfaceChange, InterfaceChanges, InterfacePair, PairStatus};
use oc_conform_runner::report::{exit, ResultsDoc};
use std::path::{Path, PathBuf};

/// What `run` does about the interface.
#[derive(Debug, Clone, Copy, Default)]
pub struct InterfaceOptions {
    /// `--api-fail-on`: exit 1 when a change this severe or worse is found.
    pub fail_on: Option<Severity>,
}

/// One version of the matrix and its document, or why there is none.
pub struct VersionDoc {
    pub version: String,
    pub document: Result<Surface, String>,
}

/// The versions in the order they are compared: by semver (oldest first), those that
/// are not semver after them in matrix order; each once.
pub fn compared_order<T>(versions: &[(String, T)]) -> Vec<&(String, T)> {
    let mut order: Vec<(usize, &(String, T))> = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        if !order.iter().any(|(_, o)| o.0 == v.0) {
            order.push((i, v));
        }
    }
    order.sort_by_key(|(i, (version, _))| {
        let parsed = semver::Version::parse(version).ok();
        (parsed.is_none(), parsed, *i)
    });
    order.into_iter().map(|(_, v)| v).collect()
}

/// Every version's document, fetched at once (cache first); none when the matrix has
/// fewer than two versions. A server started here writes its output to
/// `<report_dir>/<version>/api-doc-server/server.log`.
pub async fn documents(versions: &[(String, Result<Installed, String>)], cache_dir: &Path, report_dir: &Path) -> Vec<VersionDoc> {
    let order = compared_order(versions);
    if order.len() < 2 {
        return vec![];
    }
    let tasks: Vec<(String, tokio::task::JoinHandle<Result<Surface, String>>)> = order
        .into_iter()
        .map(|(version, installed)| {
            let installed = installed.clone();
            let cache_dir = cache_dir.to_path_buf();
            let log: PathBuf = report_dir.join(version).join("api-doc-server").join("server.log");
            let task = tokio::spawn(async move {
                match installed {
                    Ok(installed) => surface_of(&installed, &cache_dir, &log, false).await,
                    Err(why) => Err(format!("not installed: {why}")),
                }
            });
            (version.clone(), task)
        })
        .collect();
    let mut docs = Vec::new();
    for (version, task) in tasks {
        let document = task.await.unwrap_or_else(|e| Err(format!("the fetch failed: {e}")));
        docs.push(VersionDoc { version, document });
    }
    docs
}

/// The section for `docs` (in compared order), or none for fewer than two versions.
pub fn section(docs: &[VersionDoc], options: InterfaceOptions) -> Option<InterfaceChanges> {
    if docs.len() < 2 {
        return None;
    }
    let mut fails = false;
    let pairs = docs
        .windows(2)
        .map(|w| {
            let (pair, worst) = pair(&w[0], &w[1]);
            fails |= options.fail_on.is_some_and(|level| worst.is_some_and(|w| w >= level));
            pair
        })
        .collect();
    Some(InterfaceChanges {
        fail_on: options.fail_on.map(|l| l.as_str().to_string()),
        fails,
        pairs,
    })
}

/// One pair, and its most severe change.
fn pair(a: &VersionDoc, b: &VersionDoc) -> (InterfacePair, Option<Severity>) {
    let mut pair = InterfacePair {
        from: a.version.clone(),
        to: b.version.clone(),
        status: PairStatus::Unavailable,
        breaking: 0,
        possibly_breaking: 0,
        additive: 0,
        notes: vec![],
        changes: vec![],
    };
    let (da, db) = match (&a.document, &b.document) {
        (Ok(da), Ok(db)) => (da, db),
        _ => {
            for side in [a, b] {
                if let Err(why) = &side.document {
                    pair.notes.push(format!("opencode {}'s document could not be had: {why}", side.version));
                }
            }
            return (pair, None);
        }
    };
    let side = |version: &str, document: &Surface| Side {
        label: version.to_string(),
        version: version.to_string(),
        document: Some(document.clone()),
        observed: None,
    };
    let report = compare(&side(&a.version, da), &side(&b.version, db));
    pair.status = if report.documents_compared { PairStatus::Compared } else { PairStatus::Stub };
    pair.notes = report.notes.clone();
    pair.breaking = report.count(Severity::Breaking);
    pair.possibly_breaking = report.count(Severity::PossiblyBreaking);
    pair.additive = report.count(Severity::Additive);
    let mut changes = report.changes.clone();
    changes.sort_by(|x, y| y.severity.cmp(&x.severity));
    pair.changes = changes
        .iter()
        .map(|c| InterfaceChange {
            severity: c.severity.as_str().to_string(),
            place: c.place(),
            detail: format!("{}{}", c.detail, c.via()),
        })
        .collect();
    (pair, report.worst())
}

/// The run's exit code: the gate's, or 1 when the gate is ok and `--api-fail-on` found
/// its change (a regression or no verdict says more, and keeps its own code).
pub fn exit_code(doc: &ResultsDoc) -> u8 {
    let gate = doc.gate_decision().exit_code;
    match &doc.interface_changes {
        Some(i) if i.fails && gate == exit::OK => exit::REGRESSION,
        _ => gate,
    }
}
