//! The project's settings file (`oc-conform.toml` at the repository root).

use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const FILE: &str = "oc-conform.toml";

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

/// The project root and its settings. Looked up from `OC_CONFORM_ROOT`, then upwards from
/// the working directory, then the source tree this binary was built from.
pub fn load() -> Result<(PathBuf, Config), String> {
    let root = find_root().ok_or_else(|| {
        format!("cannot find {FILE}: run oc-conform inside its repository or set OC_CONFORM_ROOT")
    })?;
    let path = root.join(FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut config: Config = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start].matches('\n').count() + 1)
            .unwrap_or(1);
        format!("{}:{line}: {}", path.display(), e.message())
    })?;
    config.scenarios_dir = root.join(&config.scenarios_dir);
    config.fixtures_dir = root.join(&config.fixtures_dir);
    Ok((root, config))
}

fn find_root() -> Option<PathBuf> {
    if let Ok(r) = std::env::var("OC_CONFORM_ROOT") {
        return Some(PathBuf::from(r));
    }
    let up = |start: &Path| {
        start
            .ancestors()
            .find(|d| d.join(FILE).is_file())
            .map(Path::to_path_buf)
    };
    std::env::current_dir()
        .ok()
        .and_then(|d| up(&d))
        .or_else(|| up(Path::new(env!("CARGO_MANIFEST_DIR"))))
}
