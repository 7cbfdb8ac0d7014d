//! A hermetic place for one server: fresh HOME and XDG dirs, a project directory with an
//! `opencode.json` that points at the fake model, fixture plugins, the plugin-dependency
//! lockfile pre-seeded, a scrubbed environment with a random password and a run marker.
//! The user's real HOME and opencode config are never read or written.

use rand::distributions::{Alphanumeric, DistString};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The environment variable every process the run starts inherits (tool children
/// included), so the process observer and the cleanup can find them in `/proc`.
pub const RUN_MARKER_VAR: &str = "OC_CONFORM_RUN";
/// Where fixture plugins append their JSON-lines records.
pub const PLUGIN_LOG_VAR: &str = "OC_CONFORM_PLUGIN_LOG";

/// Variables passed through from the harness's own environment; everything else is
/// dropped, so no credential (`*_API_KEY`, tokens, cloud config) reaches the server.
const PASSED_THROUGH: &[&str] = &["PATH", "LANG", "LC_ALL", "TZ"];

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot create the sandbox under {dir}: {source}")]
    Create {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("fixture plugin {path} cannot be read: {source}; plugins are looked up under fixtures/plugins/ or given as absolute paths")]
    Plugin {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a sandbox is built from.
#[derive(Debug, Clone, Default)]
pub struct SandboxSpec {
    /// The fake model's base URL (`http://127.0.0.1:PORT/v1`).
    pub model_base_url: String,
    /// Plugin files to copy into the project's `.opencode/plugin/`.
    pub plugins: Vec<PathBuf>,
    /// Files the fixture plugins import (`fixtures/plugins/lib/`), copied to the project's
    /// `.opencode/oc-conform-lib/` where plugins import them as `../oc-conform-lib/x.js`.
    pub plugin_lib: Option<PathBuf>,
    /// Merged over the generated `opencode.json`.
    pub opencode_config: Map<String, Value>,
    /// Extra environment for the server.
    pub env: BTreeMap<String, String>,
    /// Written to `.opencode/oc-conform-params.json` for the fixture library's `param()`.
    pub plugin_params: BTreeMap<String, String>,
    /// A label for the marker (the scenario name), to make `ps` output readable.
    pub label: String,
}

pub struct Sandbox {
    root: tempfile::TempDir,
    pub home: PathBuf,
    pub project: PathBuf,
    pub plugin_log: PathBuf,
    pub password: String,
    pub run_marker: String,
    env: Vec<(String, String)>,
}

impl Sandbox {
    pub fn create(spec: &SandboxSpec) -> Result<Sandbox, SandboxError> {
        let root = tempfile::Builder::new()
            .prefix("oc-conform-")
            .tempdir()
            .map_err(|source| SandboxError::Create {
                dir: std::env::temp_dir(),
                source,
            })?;
        let r = root.path().to_path_buf();
        let create = |p: &Path| {
            std::fs::create_dir_all(p).map_err(|source| SandboxError::Create {
                dir: p.to_path_buf(),
                source,
            })
        };
        let write = |p: &Path, text: &str| {
            std::fs::write(p, text).map_err(|source| SandboxError::Create {
                dir: p.to_path_buf(),
                source,
            })
        };
        let home = r.join("home");
        let xdg = |name: &str| r.join("xdg").join(name);
        let project = r.join("project");
        let tmp = r.join("tmp");
        for d in [
            &home,
            &xdg("config"),
            &xdg("data"),
            &xdg("state"),
            &xdg("cache"),
            &project,
            &tmp,
        ] {
            create(d)?;
        }

        // opencode npm-installs @opencode-ai/plugin into each config dir at start unless
        // the lockfile already lists it; that install blocks the first request for
        // seconds (or ~70 s without a registry). Pre-seed both config dirs.
        for dir in [xdg("config").join("opencode"), project.join(".opencode")] {
            create(&dir.join("node_modules"))?;
            write(
                &dir.join("package-lock.json"),
                r#"{"packages":{"":{"dependencies":{"@opencode-ai/plugin":"0.0.0"}}}}"#,
            )?;
            write(
                &dir.join("package.json"),
                r#"{"dependencies":{"@opencode-ai/plugin":"0.0.0"}}"#,
            )?;
        }

        write(
            &project.join(".opencode").join("oc-conform-params.json"),
            &serde_json::to_string_pretty(&spec.plugin_params).unwrap_or_default(),
        )?;

        let plugin_dir = project.join(".opencode").join("plugin");
        create(&plugin_dir)?;
        for plugin in &spec.plugins {
            let name = plugin.file_name().unwrap_or_default();
            std::fs::copy(plugin, plugin_dir.join(name)).map_err(|source| {
                SandboxError::Plugin {
                    path: plugin.clone(),
                    source,
                }
            })?;
        }

        if let Some(lib) = spec.plugin_lib.as_deref().filter(|l| l.is_dir()) {
            let dest = project.join(".opencode").join("oc-conform-lib");
            create(&dest)?;
            for entry in std::fs::read_dir(lib).into_iter().flatten().flatten() {
                let from = entry.path();
                if from.is_file() {
                    std::fs::copy(&from, dest.join(entry.file_name())).map_err(|source| {
                        SandboxError::Plugin { path: from.clone(), source }
                    })?;
                }
            }
        }

        let config = opencode_config(&spec.model_base_url, &spec.opencode_config);
        write(
            &project.join("opencode.json"),
            &serde_json::to_string_pretty(&config).unwrap_or_default(),
        )?;

        let password = random_token(32);
        let run_marker = format!(
            "{}-{}-{}",
            std::process::id(),
            spec.label,
            random_token(8).to_lowercase()
        );
        let plugin_log = r.join("plugin-records.jsonl");
        write(&plugin_log, "")?;

        let mut env: Vec<(String, String)> = PASSED_THROUGH
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
            .collect();
        let path = |p: &Path| p.display().to_string();
        env.extend(
            [
                ("HOME", path(&home)),
                ("USER", "oc-conform".into()),
                ("TMPDIR", path(&tmp)),
                ("SHELL", shell()),
                ("XDG_CONFIG_HOME", path(&xdg("config"))),
                ("XDG_DATA_HOME", path(&xdg("data"))),
                ("XDG_STATE_HOME", path(&xdg("state"))),
                ("XDG_CACHE_HOME", path(&xdg("cache"))),
                ("OPENCODE_TEST_HOME", path(&home)),
                ("OPENCODE_DISABLE_MODELS_FETCH", "1".into()),
                ("OPENCODE_DISABLE_AUTOUPDATE", "1".into()),
                ("OPENCODE_DISABLE_AUTOCOMPACT", "1".into()),
                ("OPENCODE_AUTH_CONTENT", "{}".into()),
                ("OPENCODE_SERVER_USERNAME", "opencode".into()),
                ("OPENCODE_SERVER_PASSWORD", password.clone()),
                (RUN_MARKER_VAR, run_marker.clone()),
                (PLUGIN_LOG_VAR, path(&plugin_log)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v)),
        );
        env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));

        Ok(Sandbox {
            home,
            project,
            plugin_log,
            password,
            run_marker,
            env,
            root,
        })
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The complete environment of the server: nothing else is inherited.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Keeps the sandbox on disk after the run (for debugging); returns its path.
    pub fn keep(self) -> PathBuf {
        self.root.keep()
    }
}

/// The generated config: a custom OpenAI-compatible provider pointing at the fake model,
/// everything that would reach the network switched off, then the scenario's additions.
pub fn opencode_config(model_base_url: &str, extra: &Map<String, Value>) -> Value {
    let mut config = json!({
        "$schema": "https://opencode.ai/config.json",
        "model": "fake/fake-model",
        "small_model": "fake/fake-model",
        "share": "disabled",
        "autoupdate": false,
        "formatter": false,
        "lsp": false,
        // Filesystem snapshots run `git` in the project on every step: CPU and child
        // processes that no scenario is about. A scenario can turn them back on.
        "snapshot": false,
        "provider": {
            "fake": {
                "name": "Fake",
                "npm": "@ai-sdk/openai-compatible",
                "env": [],
                "options": { "apiKey": "oc-conform-fake-key", "baseURL": model_base_url },
                "models": {
                    "fake-model": {
                        "name": "Fake",
                        "tool_call": true,
                        "limit": { "context": 100000, "output": 10000 }
                    }
                }
            }
        }
    });
    merge(&mut config, &Value::Object(extra.clone()));
    config
}

/// Deep merge: tables merge key by key, anything else replaces.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn shell() -> String {
    ["/bin/bash", "/bin/sh"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("/bin/sh")
        .to_string()
}

pub fn random_token(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_config_merges_over_the_generated_one() {
        let extra: Map<String, Value> = serde_json::from_value(json!({
            "permission": {"bash": "ask"},
            "provider": {"fake": {"options": {"timeout": 5}}}
        }))
        .unwrap();
        let c = opencode_config("http://127.0.0.1:1/v1", &extra);
        assert_eq!(c["permission"]["bash"], "ask");
        assert_eq!(c["provider"]["fake"]["options"]["timeout"], 5);
        assert_eq!(
            c["provider"]["fake"]["options"]["baseURL"],
            "http://127.0.0.1:1/v1"
        );
    }

    #[test]
    fn environment_holds_no_credential_from_the_users() {
        std::env::set_var("OC_CONFORM_TEST_FAKE_API_KEY", "secret");
        let sb = Sandbox::create(&SandboxSpec {
            label: "t".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(sb.env().iter().all(|(k, v)| !k.ends_with("_API_KEY") && v != "secret"));
        let home = sb.env().iter().find(|(k, _)| k == "HOME").unwrap();
        assert!(home.1.starts_with(&sb.root().display().to_string()));
        assert_eq!(sb.password.len(), 32);
        assert!(sb
            .project
            .join(".opencode/package-lock.json")
            .exists());
    }
}
