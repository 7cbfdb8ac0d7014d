//! check-plugin's runs without the plugin (the baseline) depend only on the release, the
//! scenario and the harness: a passing one is kept in `<cache>/baseline/<key>/` (its cell
//! report and its artifacts) and reused by the next check of any plugin on that release.
//!
//! The key hashes the release (its version and its binary's size and mtime: a rebuilt
//! local binary is another release), the scenario as parsed (its file's content), the
//! fixture plugins' files, and the harness (its version, the embedded project's hash and
//! its executable's size and mtime: any rebuild invalidates every entry).

use oc_conform_runner::install::Installed;
use oc_conform_runner::plugin_wrap::copy_tree;
use oc_conform_runner::report::CellReport;
use oc_conform_scenario::Scenario;
use sha2::Digest;
use std::path::{Path, PathBuf};

const CELL_FILE: &str = "cell.json";
const ARTIFACTS: &str = "artifacts";

#[derive(Debug, Clone)]
pub struct BaselineCache {
    dir: PathBuf,
    /// The harness and fixtures part of every key.
    base: String,
}

/// A stored baseline cell, copied into a report dir.
pub struct Hit {
    pub cell: CellReport,
}

impl BaselineCache {
    /// The cache under `cache_dir`, for the fixture plugins in `plugins_dir`.
    pub fn new(cache_dir: &Path, plugins_dir: &Path) -> BaselineCache {
        let exe = std::env::current_exe().ok().map(|p| file_identity(&p)).unwrap_or_default();
        let base = format!(
            "harness {} {} {exe}\nfixtures {}",
            env!("CARGO_PKG_VERSION"),
            crate::embedded::content_hash(),
            tree_hash(plugins_dir)
        );
        BaselineCache::with_base(cache_dir, base)
    }

    fn with_base(cache_dir: &Path, base: String) -> BaselineCache {
        BaselineCache {
            dir: cache_dir.join("baseline"),
            base,
        }
    }

    /// The key of `scenario` played on `target`.
    pub fn key(&self, scenario: &Scenario, target: &Installed) -> String {
        let mut h = sha2::Sha256::new();
        h.update(self.base.as_bytes());
        h.update(format!("\nrelease {} {}\nscenario {scenario:?}", target.version, file_identity(&target.binary)));
        h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
    }

    /// The stored cell of `key`, its artifacts copied to `report_dir` (where its
    /// `artifacts` paths point); `None` when absent or unreadable.
    pub fn get(&self, key: &str, report_dir: &Path) -> Option<Hit> {
        let entry = self.dir.join(key);
        let cell: CellReport = serde_json::from_slice(&std::fs::read(entry.join(CELL_FILE)).ok()?).ok()?;
        copy_tree(&entry.join(ARTIFACTS), &report_dir.join(&cell.artifacts.dir), &[]).ok()?;
        Some(Hit { cell })
    }

    /// Keeps `cell` (whose artifacts are under `report_dir`) when it passed as expected:
    /// a failure or no verdict may be the machine's, and is played again next time.
    pub fn put(&self, key: &str, cell: &CellReport, report_dir: &Path) -> std::io::Result<bool> {
        if !cell.outcome.is_expected(cell.flaky_declared()) || cell.error.is_some() {
            return Ok(false);
        }
        let entry = self.dir.join(key);
        if entry.join(CELL_FILE).is_file() {
            return Ok(true);
        }
        std::fs::create_dir_all(&self.dir)?;
        let scratch = tempfile::Builder::new().prefix(".storing-").tempdir_in(&self.dir)?;
        copy_tree(&report_dir.join(&cell.artifacts.dir), &scratch.path().join(ARTIFACTS), &[])?;
        std::fs::write(scratch.path().join(CELL_FILE), serde_json::to_vec_pretty(cell)?)?;
        match std::fs::rename(scratch.path(), &entry) {
            Ok(()) => drop(scratch.keep()),
            // Another check stored the same baseline first.
            Err(_) if entry.join(CELL_FILE).is_file() => {}
            Err(e) => return Err(e),
        }
        Ok(true)
    }
}

/// Size and modification time: cheap, and changed by any rebuild or reinstall.
fn file_identity(p: &Path) -> String {
    match std::fs::metadata(p) {
        Ok(m) => {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            format!("{} {} {mtime}", p.display(), m.len())
        }
        Err(_) => format!("{} missing", p.display()),
    }
}

/// A hash of every file under `dir` (paths and contents).
fn tree_hash(dir: &Path) -> String {
    fn walk(dir: &Path, root: &Path, h: &mut sha2::Sha256) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, root, h);
            } else if let Ok(bytes) = std::fs::read(&p) {
                h.update(p.strip_prefix(root).unwrap_or(&p).to_string_lossy().as_bytes());
                h.update((bytes.len() as u64).to_le_bytes());
                h.update(&bytes);
            }
        }
    }
    let mut h = sha2::Sha256::new();
    walk(dir, dir, &mut h);
    h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oc_conform_checks::outcome::Outcome;
    use oc_conform_checks::Verdict;
    use oc_conform_runner::install::Source;
    use oc_conform_runner::report::model::Artifacts;

    fn scenario(text: &str) -> Scenario {
        oc_conform_scenario::parse_str(text, std::path::Path::new("s.toml")).unwrap()
    }

    fn cell(outcome: Outcome) -> CellReport {
        CellReport {
            scenario: "s".into(),
            opencode_version: "1.18.34".into(),
            outcome,
            verdict: Verdict::Pass,
            failed_checks: vec![],
            duration_ms: 10,
            error: None,
            expectation: None,
            checks: vec![],
            runs: vec![],
            artifacts: Artifacts::for_dir("1.18.34/s"),
            first_bad: None,
            rerun: None,
        }
    }

    #[test]
    fn the_key_changes_with_the_release_the_scenario_the_fixtures_and_the_harness() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("opencode");
        std::fs::write(&bin, "v1").unwrap();
        let target = |v: &str| Installed {
            version: v.into(),
            binary: bin.clone(),
            source: Source::Local,
        };
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/plugin-loads.toml")).unwrap();
        let s1 = scenario(&text);
        let s2 = scenario(&text.replace("Say hello.", "Say hello again."));
        let plugins = d.path().join("plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        std::fs::write(plugins.join("p.js"), "a").unwrap();
        let c = BaselineCache::new(d.path(), &plugins);
        let k = c.key(&s1, &target("1.18.34"));
        assert_eq!(k, BaselineCache::new(d.path(), &plugins).key(&s1, &target("1.18.34")), "stable");
        assert_ne!(k, c.key(&s2, &target("1.18.34")), "scenario");
        assert_ne!(k, c.key(&s1, &target("1.17.0")), "release");
        std::fs::write(&bin, "v2 rebuilt").unwrap();
        assert_ne!(k, c.key(&s1, &target("1.18.34")), "the release's binary");
        std::fs::write(&bin, "v1").unwrap();
        std::fs::write(plugins.join("p.js"), "b").unwrap();
        let c2 = BaselineCache::new(d.path(), &plugins);
        assert_ne!(c.base, c2.base, "fixtures");
        assert_ne!(
            BaselineCache::with_base(d.path(), "harness 1".into()).key(&s1, &target("1")),
            BaselineCache::with_base(d.path(), "harness 2".into()).key(&s1, &target("1")),
            "harness"
        );
    }

    #[test]
    fn a_passing_cell_is_stored_with_its_artifacts_and_a_failing_one_is_not() {
        let d = tempfile::tempdir().unwrap();
        let c = BaselineCache::with_base(&d.path().join("cache"), "h".into());
        let report = d.path().join("run1");
        std::fs::create_dir_all(report.join("1.18.34/s")).unwrap();
        std::fs::write(report.join("1.18.34/s/timeline.json"), "{}").unwrap();
        assert!(!c.put("k-fail", &cell(Outcome::Fail), &report).unwrap());
        assert!(c.get("k-fail", &d.path().join("x")).is_none());
        assert!(c.put("k", &cell(Outcome::Pass), &report).unwrap());
        let again = d.path().join("run2");
        let hit = c.get("k", &again).expect("stored");
        assert_eq!(hit.cell, cell(Outcome::Pass));
        assert_eq!(std::fs::read_to_string(again.join("1.18.34/s/timeline.json")).unwrap(), "{}");
        assert!(c.get("other", &again).is_none());
    }
}
