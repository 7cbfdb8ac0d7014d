//! Helpers that make the tests read as sentences: run the CLI, read its results,
//! prove that nothing it started is still alive.

use assert_cmd::Command;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub fn oc_conform() -> Command {
    let mut c = Command::cargo_bin("oc-conform").unwrap();
    c.env("OC_CONFORM_ROOT", repo_root());
    c
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

pub struct Run {
    pub code: i32,
    pub stderr: String,
    pub dir: tempfile::TempDir,
    pub results: Value,
}

impl Run {
    /// scenario -> verdict for one version.
    pub fn verdicts(&self, version: &str) -> BTreeMap<String, String> {
        self.results["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["opencode_version"] == version)
            .map(|r| {
                (
                    r["scenario"].as_str().unwrap().to_string(),
                    r["verdict"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    pub fn result(&self, scenario: &str, version: &str) -> &Value {
        self.results["results"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["scenario"] == scenario && r["opencode_version"] == version)
            .unwrap_or_else(|| panic!("no result for {scenario} on {version}\n{}", self.stderr))
    }

    /// Every message and witness of a scenario's checks, for assertion failures.
    pub fn explain(&self, scenario: &str, version: &str) -> String {
        serde_json::to_string_pretty(self.result(scenario, version)).unwrap()
    }
}

/// Real-server runs take the machine's cores (`--jobs` defaults to them); running two at
/// once would measure the machine's overload, not opencode. One at a time.
static REAL_SERVERS: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn one_real_run_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    REAL_SERVERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `oc-conform run` with `args` and a fresh report dir; returns what it wrote.
pub fn run(args: &[&str]) -> Run {
    run_with_pid(args).0
}

/// `run`, also returning the harness's pid (the prefix of its processes' run markers).
pub fn run_with_pid(args: &[&str]) -> (Run, u32) {
    let _one = one_real_run_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let (out, pid) = output_with_pid(&[&["run"], args, &["--report-dir", dir_arg]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let results = std::fs::read(dir.path().join("results.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stderr,
        dir,
        results,
    };
    (run, pid)
}

/// `oc-conform ARGS`' output, and its pid (the prefix of its processes' run markers).
pub fn output_with_pid(args: &[&str]) -> (std::process::Output, u32) {
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("oc-conform"))
        .env("OC_CONFORM_ROOT", repo_root())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    (child.wait_with_output().unwrap(), pid)
}

/// Processes whose environment carries a run marker of a harness that ran as `pid`.
/// Markers are `<harness pid>-<scenario>-<random>`.
pub fn processes_marked_by(pid_prefix: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let marked = env
            .split(|b| *b == 0)
            .any(|kv| kv.starts_with(format!("OC_CONFORM_RUN={pid_prefix}").as_bytes()));
        if marked {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            found.push((pid, String::from_utf8_lossy(&cmd).replace('\0', " ")));
        }
    }
    found
}

/// The cache the real-server tests install opencode into (the user's, unless
/// `OC_CONFORM_CACHE` says another).
pub fn real_cache() -> PathBuf {
    if let Ok(c) = std::env::var("OC_CONFORM_CACHE") {
        return c.into();
    }
    let base = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
    base.join("oc-conform")
}

/// The path of opencode `version`'s binary, installed into the tests' cache if needed.
pub fn installed_binary(version: &str) -> String {
    let out = oc_conform()
        .env("OC_CONFORM_CACHE", real_cache())
        .args(["install", version])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).split_whitespace().nth(1).unwrap().to_string()
}
