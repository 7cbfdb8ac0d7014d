//! What every driver starts from: the project's settings (`oc-conform.toml`), its
//! scenario catalogue, the expectations, the installer and the report dir.

use crate::AppError;
use oc_conform_runner::install::{Installer, OpencodeSpec};
use oc_conform_runner::releases;
use oc_conform_scenario::{load_dir, load_file, Expectations, Scenario};
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "oc-conform.toml";

/// `oc-conform.toml`, resolved: every directory absolute.
#[derive(Debug)]
pub struct Config {
    pub default_opencode: String,
    pub scenarios_dir: PathBuf,
    pub fixtures_dir: PathBuf,
}

/// `oc-conform.toml` as written. A key left out takes the embedded project's value (the
/// directories: `scenarios`/`fixtures` next to the file when they exist), so a plugin's
/// repository may hold a one-line `oc-conform.toml` that only pins `default_opencode`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    default_opencode: Option<String>,
    scenarios_dir: Option<PathBuf>,
    fixtures_dir: Option<PathBuf>,
}

/// Where the scenarios and fixtures came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A directory with an `oc-conform.toml` (a source checkout, or the user's project).
    Project,
    /// None found: the copy compiled into the binary, extracted into the cache.
    Embedded,
}

/// The project: its root and settings (directories made absolute).
#[derive(Debug)]
pub struct Workspace {
    /// The project's directory; the working directory when there is none (reports go there).
    pub root: PathBuf,
    pub config: Config,
    pub origin: Origin,
}

impl Workspace {
    /// `oc-conform.toml` looked up from `OC_CONFORM_ROOT`, then upwards from the working
    /// directory; what it leaves out (or everything, without one) comes from the project
    /// embedded in the binary (`embedded.rs`), extracted into the cache.
    pub fn load() -> Result<Workspace, AppError> {
        let cwd = std::env::current_dir().map_err(|e| AppError::usage(format!("the working directory: {e}")))?;
        let embedded = || -> Result<PathBuf, AppError> {
            let cache = Installer::default_cache_dir().map_err(|e| AppError::usage(e.to_string()))?;
            crate::embedded::extract(&cache).map_err(|e| AppError::infra(e.to_string()))
        };
        Workspace::resolve(find_root(&cwd), &cwd, embedded)
    }

    /// The workspace of the project at `root` (if any), the rest from the embedded project
    /// (asked for only when needed).
    pub fn resolve(
        root: Option<PathBuf>,
        cwd: &Path,
        embedded: impl FnOnce() -> Result<PathBuf, AppError>,
    ) -> Result<Workspace, AppError> {
        let mut extract = Some(embedded);
        let mut extracted: Option<PathBuf> = None;
        let mut embedded_root = move || -> Result<PathBuf, AppError> {
            if let Some(f) = extract.take() {
                extracted = Some(f()?);
            }
            Ok(extracted.clone().unwrap_or_default())
        };
        let (root, file, origin) = match root {
            Some(root) => {
                let path = root.join(CONFIG_FILE);
                let text =
                    std::fs::read_to_string(&path).map_err(|e| AppError::usage(format!("{}: {e}", path.display())))?;
                let file: ConfigFile = toml::from_str(&text).map_err(|e| {
                    let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1).unwrap_or(1);
                    AppError::usage(format!("{}:{line}: {}", path.display(), e.message()))
                })?;
                (root, file, Origin::Project)
            }
            None => (cwd.to_path_buf(), ConfigFile::default(), Origin::Embedded),
        };
        let mut dir = |given: Option<PathBuf>, default: &str| -> Result<PathBuf, AppError> {
            match given {
                Some(d) => Ok(root.join(d)),
                None if origin == Origin::Project && root.join(default).is_dir() => Ok(root.join(default)),
                None => Ok(embedded_root()?.join(default)),
            }
        };
        let scenarios_dir = dir(file.scenarios_dir, "scenarios")?;
        let fixtures_dir = dir(file.fixtures_dir, "fixtures")?;
        let default_opencode = match file.default_opencode {
            Some(v) => v,
            None => embedded_default_opencode()?,
        };
        Ok(Workspace {
            root,
            config: Config {
                default_opencode,
                scenarios_dir,
                fixtures_dir,
            },
            origin,
        })
    }

    /// Where `plugins = [...]` of scenarios are looked up.
    pub fn plugins_dir(&self) -> PathBuf {
        self.config.fixtures_dir.join("plugins")
    }

    /// Every scenario known: the project's, then the extra directories' (or files).
    pub fn catalogue(&self, extra: &[PathBuf]) -> Result<Catalogue, AppError> {
        let usage = |e: &dyn std::fmt::Display| AppError::usage(e.to_string());
        let mut all = load_dir(&self.config.scenarios_dir).map_err(|e| usage(&e))?;
        for dir in extra {
            let more = if dir.is_file() {
                vec![(dir.clone(), load_file(dir).map_err(|e| usage(&e))?)]
            } else {
                load_dir(dir).map_err(|e| usage(&e))?
            };
            for (path, s) in more {
                if let Some((other, _)) = all.iter().find(|(_, o)| o.name == s.name) {
                    return Err(AppError::usage(format!(
                        "{}: scenario `{}` is also defined in {}; rename one",
                        path.display(),
                        s.name,
                        other.display()
                    )));
                }
                all.push((path, s));
            }
        }
        for (path, s) in &mut all {
            resolve_plugins_next_to(path, s);
        }
        Ok(Catalogue {
            entries: all,
            project_dir: self.config.scenarios_dir.clone(),
        })
    }

    /// The expectations file given, or the project's `scenarios/expectations.toml`.
    pub fn expectations_path(&self, given: Option<&Path>) -> PathBuf {
        given.map_or_else(|| self.config.scenarios_dir.join("expectations.toml"), Path::to_path_buf)
    }

    pub fn expectations(&self, given: Option<&Path>) -> Result<Expectations, AppError> {
        Expectations::load(&self.expectations_path(given)).map_err(|e| AppError::usage(e.to_string()))
    }

    /// The report dir given, or `reports/<prefix><timestamp>/`; created.
    pub fn report_dir(&self, given: Option<&Path>, prefix: &str) -> Result<PathBuf, AppError> {
        let dir = match given {
            Some(d) => d.to_path_buf(),
            None => self.root.join("reports").join(format!("{prefix}{}", timestamp())),
        };
        std::fs::create_dir_all(&dir).map_err(|e| {
            AppError::usage(format!(
                "cannot create the report dir {}: {e}; pass --report-dir with a writable directory",
                dir.display()
            ))
        })?;
        Ok(dir)
    }

    /// `--opencode` values, then `--opencode-range`'s registry versions; the default
    /// version when there are none.
    pub async fn versions(
        &self,
        opencode: &[String],
        opencode_range: Option<&str>,
        installer: &Installer,
    ) -> Result<Vec<OpencodeSpec>, AppError> {
        let mut texts = opencode.to_vec();
        if let Some(range) = opencode_range {
            // The range's syntax before asking the registry anything.
            let range: releases::Range = range.parse().map_err(|e: releases::RangeError| AppError::usage(e.to_string()))?;
            let all = installer
                .registry_versions()
                .await
                .map_err(|e| AppError::infra(format!("--opencode-range needs the registry's versions: {e}")))?;
            texts.extend(range.select(&all));
        }
        if texts.is_empty() {
            texts.push(self.config.default_opencode.clone());
        }
        texts.dedup();
        texts
            .iter()
            .map(|t| t.parse::<OpencodeSpec>().map_err(|e| AppError::usage(format!("--opencode {t}: {e}"))))
            .collect()
    }
}

/// The opencode installer, with its cache from the environment.
pub fn installer() -> Result<Installer, AppError> {
    Installer::from_env().map_err(|e| AppError::usage(e.to_string()))
}

fn timestamp() -> String {
    time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!("[year][month][day]-[hour][minute][second]"))
        .unwrap_or_else(|_| "run".into())
}

fn find_root(cwd: &Path) -> Option<PathBuf> {
    if let Ok(r) = std::env::var("OC_CONFORM_ROOT") {
        return Some(PathBuf::from(r));
    }
    cwd.ancestors().find(|d| d.join(CONFIG_FILE).is_file()).map(Path::to_path_buf)
}

/// `default_opencode` of the embedded `oc-conform.toml`.
fn embedded_default_opencode() -> Result<String, AppError> {
    let text = crate::embedded::file(CONFIG_FILE).map(String::from_utf8_lossy).unwrap_or_default();
    toml::from_str::<ConfigFile>(&text)
        .ok()
        .and_then(|f| f.default_opencode)
        .ok_or_else(|| AppError::usage(format!("the embedded {CONFIG_FILE} names no default_opencode: pass --opencode")))
}

/// A plugin named relative to the scenario's own file (`plugins = ["my-plugin.js"]` next
/// to `my-scenario.toml`) becomes an absolute path; other names are looked up in
/// `fixtures/plugins/` when the scenario runs.
fn resolve_plugins_next_to(file: &Path, s: &mut Scenario) {
    let Some(dir) = file.parent() else { return };
    for p in &mut s.plugins {
        let next_to = dir.join(&*p);
        if !Path::new(p.as_str()).is_absolute() && next_to.is_file() {
            if let Ok(abs) = next_to.canonicalize() {
                *p = abs.display().to_string();
            }
        }
    }
}

/// The scenarios known to a run, each with the file it came from.
pub struct Catalogue {
    pub entries: Vec<(PathBuf, Scenario)>,
    /// The project's own scenarios directory (the others are the user's).
    pub project_dir: PathBuf,
}

impl Catalogue {
    /// The scenarios named (all when none), or a usage error naming the known ones.
    pub fn select(&self, names: &[String]) -> Result<Vec<Scenario>, AppError> {
        if names.is_empty() {
            return Ok(self.entries.iter().map(|(_, s)| s.clone()).collect());
        }
        names
            .iter()
            .map(|name| {
                self.find(name).cloned().ok_or_else(|| {
                    AppError::usage(format!("no scenario named `{name}`; known scenarios: {}", self.names().join(", ")))
                })
            })
            .collect()
    }

    pub fn find(&self, name: &str) -> Option<&Scenario> {
        self.entries.iter().find(|(_, s)| s.name == name).map(|(_, s)| s)
    }

    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|(_, s)| s.name.as_str()).collect()
    }

    /// The user's scenarios (from `--scenarios`), not the project's.
    pub fn users(&self) -> impl Iterator<Item = &Scenario> {
        self.entries
            .iter()
            .filter(|(p, _)| !p.starts_with(&self.project_dir))
            .map(|(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An "embedded project" for the tests: its own scenarios and fixtures dirs.
    fn fake_embedded() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("scenarios")).unwrap();
        std::fs::create_dir_all(d.path().join("fixtures")).unwrap();
        d
    }

    #[test]
    fn without_a_project_everything_is_embedded_and_reports_go_to_the_working_directory() {
        let emb = fake_embedded();
        let cwd = tempfile::tempdir().unwrap();
        let ws = Workspace::resolve(None, cwd.path(), || Ok(emb.path().to_path_buf())).unwrap();
        assert_eq!(ws.origin, Origin::Embedded);
        assert_eq!(ws.config.scenarios_dir, emb.path().join("scenarios"));
        assert_eq!(ws.config.fixtures_dir, emb.path().join("fixtures"));
        assert_eq!(ws.config.default_opencode, embedded_default_opencode().unwrap());
        assert_eq!(ws.root, cwd.path());
    }

    #[test]
    fn a_users_config_takes_precedence_key_by_key() {
        let emb = fake_embedded();
        let user = tempfile::tempdir().unwrap();
        std::fs::write(user.path().join(CONFIG_FILE), "default_opencode = \"1.17.0\"\n").unwrap();
        // Only the version pinned: the scenarios and fixtures are the embedded ones.
        let ws = Workspace::resolve(Some(user.path().to_path_buf()), user.path(), || Ok(emb.path().to_path_buf())).unwrap();
        assert_eq!((ws.origin, ws.config.default_opencode.as_str()), (Origin::Project, "1.17.0"));
        assert_eq!(ws.config.scenarios_dir, emb.path().join("scenarios"));
        // A scenarios dir of its own (named, or the default name present) wins.
        std::fs::create_dir(user.path().join("fixtures")).unwrap();
        std::fs::write(user.path().join(CONFIG_FILE), "scenarios_dir = \"mine\"\n").unwrap();
        let ws = Workspace::resolve(Some(user.path().to_path_buf()), user.path(), || Ok(emb.path().to_path_buf())).unwrap();
        assert_eq!(ws.config.scenarios_dir, user.path().join("mine"));
        assert_eq!(ws.config.fixtures_dir, user.path().join("fixtures"));
        assert_eq!(ws.config.default_opencode, embedded_default_opencode().unwrap());
    }

    #[test]
    fn a_complete_project_never_extracts_the_embedded_one() {
        let proj = fake_embedded();
        std::fs::write(proj.path().join(CONFIG_FILE), "default_opencode = \"1.18.34\"\n").unwrap();
        let ws = Workspace::resolve(Some(proj.path().to_path_buf()), proj.path(), || {
            panic!("the embedded project was extracted for a complete one")
        })
        .unwrap();
        assert_eq!(ws.config.scenarios_dir, proj.path().join("scenarios"));
    }

    #[test]
    fn an_unknown_key_is_a_usage_error_with_its_line() {
        let proj = fake_embedded();
        std::fs::write(proj.path().join(CONFIG_FILE), "default_opencode = \"1\"\nscenario_dir = \"x\"\n").unwrap();
        let e = Workspace::resolve(Some(proj.path().to_path_buf()), proj.path(), || unreachable!()).unwrap_err();
        assert!(e.to_string().contains(":2:"), "{e}");
    }
}
