//! What every driver starts from: the project's settings (`oc-conform.toml`), its
//! scenario catalogue, the expectations, the installer and the report dir.

use crate::AppError;
use oc_conform_runner::install::{Installer, OpencodeSpec};
use oc_conform_runner::releases;
use oc_conform_scenario::{load_dir, load_file, Expectations, Scenario};
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "oc-conform.toml";

/// `oc-conform.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub default_opencode: String,
    #[serde(default = "default_scenarios")]
    pub scenarios_dir: PathBuf,
    #[serde(default = "default_fixtures")]
    pub fixtures_dir: PathBuf,
}

fn default_scenarios() -> PathBuf {
    "scenarios".into()
}
fn default_fixtures() -> PathBuf {
    "fixtures".into()
}

/// The project: its root and settings (directories made absolute).
#[derive(Debug)]
pub struct Workspace {
    pub root: PathBuf,
    pub config: Config,
}

impl Workspace {
    /// Looked up from `OC_CONFORM_ROOT`, then upwards from the working directory, then the
    /// source tree this binary was built from.
    pub fn load() -> Result<Workspace, AppError> {
        let root = find_root().ok_or_else(|| {
            AppError::usage(format!(
                "cannot find {CONFIG_FILE}: run oc-conform inside its repository or set OC_CONFORM_ROOT"
            ))
        })?;
        let path = root.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| AppError::usage(format!("{}: {e}", path.display())))?;
        let mut config: Config = toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1).unwrap_or(1);
            AppError::usage(format!("{}:{line}: {}", path.display(), e.message()))
        })?;
        config.scenarios_dir = root.join(&config.scenarios_dir);
        config.fixtures_dir = root.join(&config.fixtures_dir);
        Ok(Workspace { root, config })
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

fn find_root() -> Option<PathBuf> {
    if let Ok(r) = std::env::var("OC_CONFORM_ROOT") {
        return Some(PathBuf::from(r));
    }
    let up = |start: &Path| start.ancestors().find(|d| d.join(CONFIG_FILE).is_file()).map(Path::to_path_buf);
    std::env::current_dir()
        .ok()
        .and_then(|d| up(&d))
        .or_else(|| up(Path::new(env!("CARGO_MANIFEST_DIR"))))
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
