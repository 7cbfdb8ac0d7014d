//! `check-plugin` on real servers: the well-behaved fixture passes every core scenario and
//! only earns a warning (a hook opencode never calls); each bad fixture is caught with
//! its reason named (a load error, a process left behind, an `event` hook that blocks);
//! an npm tarball is unpacked and checked like a file. Nothing of a run outlives it.

use crate::support::{one_real_run_at_a_time, processes_marked_by, repo_root};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

struct Checked {
    code: i32,
    stderr: String,
    report: Value,
    dir: tempfile::TempDir,
}

impl Checked {
    fn version(&self) -> &Value {
        &self.report["versions"][0]
    }

    fn findings(&self) -> Vec<(String, String, String)> {
        self.version()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["severity"].as_str().unwrap().to_string(),
                    f["kind"].as_str().unwrap().to_string(),
                    f["message"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn finding(&self, kind: &str) -> (String, String) {
        self.findings()
            .into_iter()
            .find(|(_, k, _)| k == kind)
            .map(|(s, _, m)| (s, m))
            .unwrap_or_else(|| panic!("no `{kind}` finding in {:?}\n{}", self.findings(), self.stderr))
    }

    fn hook(&self, name: &str) -> Value {
        self.version()["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["hook"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no calls of `{name}` recorded\n{}", self.stderr))
    }
}

/// Runs `check-plugin PLUGIN ARGS...` from the repository root; asserts that nothing
/// carrying the run's marker is alive afterwards.
fn check_plugin(plugin: &Path, args: &[&str]) -> Checked {
    let _one = one_real_run_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(assert_cmd::cargo::cargo_bin("oc-conform"))
        .env("OC_CONFORM_ROOT", repo_root())
        .current_dir(repo_root())
        .arg("check-plugin")
        .arg(plugin)
        .args(args)
        .arg("--report-dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let left = processes_marked_by(&format!("{pid}-"));
    assert!(
        left.is_empty(),
        "processes of check-plugin {pid} outlived it: {left:?}\n{stderr}"
    );
    let report = std::fs::read(dir.path().join("plugin-report.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    assert!(
        dir.path().join("plugin-report.md").is_file(),
        "no plugin-report.md\n{stderr}"
    );
    Checked {
        code: out.status.code().unwrap_or(-1),
        stderr,
        report,
        dir,
    }
}

fn fixture(name: &str) -> std::path::PathBuf {
    repo_root().join("fixtures/plugins").join(name)
}

#[test]
fn a_good_citizen_passes_every_core_scenario() {
    let c = check_plugin(&fixture("good-citizen.js"), &["--opencode", "1.18.34"]);
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert_eq!(c.report["verdict"], "ok");
    let v = c.version();
    assert_eq!(v["loaded"], true, "{}", c.stderr);
    let registered: Vec<&str> = v["hooks_registered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(
        registered,
        [
            "chat.params",
            "event",
            "permission.ask",
            "tool.execute.after",
            "tool.execute.before"
        ]
    );

    // Every core scenario ran with the plugin and without it, and passed both ways.
    let scenarios = v["scenarios"].as_array().unwrap();
    let names: Vec<&str> = scenarios.iter().map(|s| s["scenario"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "plugin-loads",
            "abort-http",
            "permission-reply-http",
            "command-hook-passes",
            "server-dispose-during-tool",
            "event-stream-complete"
        ]
    );
    for s in scenarios {
        assert_eq!(
            (&s["outcome"], &s["baseline_outcome"]),
            (&"PASS".into(), &"PASS".into()),
            "{s}\n{}",
            c.stderr
        );
        assert!(c
            .dir
            .path()
            .join(s["artifacts"].as_str().unwrap())
            .join("timeline.json")
            .is_file());
    }
    assert!(c.dir.path().join("baseline/results.json").is_file());
    assert!(c.dir.path().join("with-plugin/results.json").is_file());

    // Its hooks were called, and never held the server.
    let event = c.hook("event");
    assert!(event["calls"].as_u64().unwrap() > 20, "{event}");
    assert!(event["max_sync_ms"].as_f64().unwrap() < 100.0, "{event}");
    assert_eq!(event["threw"], 0);
    assert!(c.hook("tool.execute.before")["calls"].as_u64().unwrap() >= 1);
    assert!(c.hook("chat.params")["calls"].as_u64().unwrap() >= 1);

    // One warning: opencode never calls `permission.ask`.
    assert_eq!(v["never_called"], serde_json::json!(["permission.ask"]));
    let kinds: Vec<(String, String)> = c.findings().into_iter().map(|(s, k, _)| (s, k)).collect();
    assert_eq!(
        kinds,
        [("warning".to_string(), "hook-never-called".to_string())],
        "{}",
        c.stderr
    );
    assert!(c.stderr.contains("result: OK, no problem found"), "{}", c.stderr);
    let md = std::fs::read_to_string(c.dir.path().join("plugin-report.md")).unwrap();
    assert!(md.contains("**OK**") && md.contains("| `event` |"), "{md}");
}

#[test]
fn bad_plugins_are_caught_with_the_reason_named() {
    let only = ["--opencode", "1.18.34", "--scenario", "plugin-loads"];

    // Throws while loading: not loaded, and the error is quoted.
    let c = check_plugin(&fixture("bad-throws-on-load.js"), &only);
    assert_eq!(c.code, 1, "{}", c.stderr);
    assert_eq!(c.report["verdict"], "problems");
    assert_eq!(c.version()["loaded"], false);
    let (severity, message) = c.finding("load-error");
    assert_eq!(severity, "problem");
    assert!(
        message.contains("the plugin function threw (export `ThrowsOnLoad`)")
            && message.contains("cannot read ~/.my-plugin.json"),
        "{message}"
    );
    assert!(c.stderr.contains("NOT LOADED"), "{}", c.stderr);

    // Leaves `sleep 300` behind: named, with the scenario it came from.
    let c = check_plugin(&fixture("bad-leaks-child.js"), &only);
    assert_eq!(c.code, 1, "{}", c.stderr);
    let (severity, message) = c.finding("leaked-process");
    assert_eq!(severity, "problem");
    assert!(message.contains("`sleep 300` in plugin-loads"), "{message}");
    assert_eq!(c.version()["leaks"][0]["cmdline"], "sleep 300");

    // Busy-waits in its event hook: the blocking is measured and named.
    let c = check_plugin(&fixture("bad-blocks-event.js"), &only);
    assert_eq!(c.code, 1, "{}", c.stderr);
    let (severity, message) = c.finding("event-hook-blocks");
    assert_eq!(severity, "problem");
    assert!(
        message.contains("the `event` hook blocked the server for up to"),
        "{message}"
    );
    assert!(c.hook("event")["max_sync_ms"].as_f64().unwrap() >= 400.0);
    // And the turn it stalls fails only with the plugin installed.
    let (_, message) = c.finding("scenario-fails");
    // (ERROR or TIMEOUT: which deadline the stalled server hits first varies.)
    assert!(
        message.starts_with("plugin-loads is ") && message.contains(" with the plugin installed and PASS without it"),
        "{message}"
    );
}

#[test]
fn an_npm_tarball_is_unpacked_and_checked() {
    let pkg = tempfile::tempdir().unwrap();
    std::fs::create_dir(pkg.path().join("src")).unwrap();
    std::fs::copy(fixture("good-citizen.js"), pkg.path().join("src/index.js")).unwrap();
    std::fs::write(
        pkg.path().join("package.json"),
        r#"{"name": "good-citizen-pkg", "version": "1.2.3", "type": "module", "exports": {".": {"import": "./src/index.js"}}}"#,
    )
    .unwrap();
    let out = Command::new("npm")
        .args(["pack", "--silent", "--pack-destination"])
        .arg(pkg.path())
        .current_dir(pkg.path())
        .output()
        .expect("npm runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tgz = pkg.path().join("good-citizen-pkg-1.2.3.tgz");
    assert!(tgz.is_file());

    let c = check_plugin(
        &tgz,
        &["--opencode", "1.18.34", "--scenario", "plugin-loads", "--no-baseline"],
    );
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert_eq!(c.report["plugin"]["kind"], "tarball");
    assert_eq!(c.report["plugin"]["name"], "good-citizen-pkg");
    assert_eq!(c.report["plugin"]["entry"], "pkg/src/index.js");
    assert_eq!(c.version()["loaded"], true);
    assert!(c.hook("event")["calls"].as_u64().unwrap() > 0);
}

/// What npm's strict install refuses, check-plugin installs as opencode would load it, and
/// the report says how: a pinned `@opencode-ai/plugin` the registry does not serve is
/// replaced (the plugin then imports the replacement at load), a conflicting optional
/// peer is resolved leniently. One scenario each, no baseline: a load and a turn.
#[test]
fn packages_npm_refuses_are_installed_as_opencode_would_and_the_report_says_so() {
    let packages = repo_root().join("fixtures/plugin-packages");
    for (package, deviation) in [
        ("pins-unavailable-plugin", "`@opencode-ai/plugin@1.0.85` (pinned in dependencies) is not served by the registry: replaced by `@opencode-ai/plugin@1.18.33`"),
        ("conflicting-peer", "peer dependencies resolved leniently (npm --legacy-peer-deps)"),
    ] {
        let c = check_plugin(
            &packages.join(package),
            &["--opencode", "1.18.34", "--scenario", "plugin-loads", "--no-baseline"],
        );
        assert_eq!(c.code, 0, "{package}: {}", c.stderr);
        assert_eq!(c.version()["loaded"], true, "{package}: {}", c.stderr);
        let deviations = c.report["plugin"]["install_deviations"].to_string();
        assert!(deviations.contains(deviation), "{package}: {deviations}\n{}", c.stderr);
        let md = std::fs::read_to_string(c.dir.path().join("plugin-report.md")).unwrap();
        assert!(md.contains("installed unlike npm's strict defaults"), "{md}");
    }
}

/// The plugin's custom tools are listed with their schemas by the server and called by the
/// fake model with generated arguments: a schema tool answers every call (each with
/// arguments its schema accepts), a throwing tool is a `tool-threw` warning with the error,
/// a hanging tool a `tool-hangs` problem, aborted at its deadline, the session idle after.
#[test]
fn custom_tools_are_called_with_generated_arguments_and_throws_and_hangs_are_findings() {
    let packages = repo_root().join("fixtures/plugin-packages");
    let quick = ["--opencode", "1.18.34", "--scenario", "plugin-loads", "--no-baseline"];
    let calls = |c: &Checked, tool: &str| -> Vec<Value> {
        c.version()["tool_calls"]
            .as_array()
            .unwrap_or_else(|| panic!("no tool calls\n{}", c.stderr))
            .iter()
            .filter(|t| t["tool"] == tool)
            .cloned()
            .collect()
    };

    let c = check_plugin(&packages.join("tool-schema"), &quick);
    assert_eq!((c.code, c.report["verdict"].as_str()), (0, Some("ok")), "{}", c.stderr);
    let notes = calls(&c, "schema_note");
    assert_eq!(notes.len(), 8, "{notes:?}");
    for call in notes.iter().chain(&calls(&c, "schema_scale")) {
        assert_eq!((&call["outcome"], &call["back_to_idle"]), (&"answered".into(), &true.into()), "{call}\n{}", c.stderr);
        // The tool answers with what it received: the generated arguments reached it.
        let detail = call["detail"].as_str().unwrap();
        assert!(detail.contains(" received {"), "{call}");
    }
    for call in &notes {
        let a = &call["arguments"];
        let priority = a["priority"].as_i64().unwrap();
        assert!((1..=5).contains(&priority) && ["draft", "final"].contains(&a["mode"].as_str().unwrap()), "{a}");
    }
    let cases: Vec<&str> = notes.iter().map(|n| n["case"].as_str().unwrap()).collect();
    assert!(cases.contains(&"required fields only") && cases.contains(&"unicode strings"), "{cases:?}");
    let coverage = c.version()["coverage"].to_string();
    assert!(coverage.contains("\"hook\":\"tool:schema_note\"") && coverage.contains("plugin-custom-tools"), "{coverage}");
    let md = std::fs::read_to_string(c.dir.path().join("plugin-report.md")).unwrap();
    assert!(md.contains("### Hook coverage") && md.contains("### Custom tools called with generated arguments"), "{md}");

    let c = check_plugin(&packages.join("tool-throws"), &[&quick[..], &["--tool-cases", "2"]].concat());
    let (severity, message) = c.finding("tool-threw");
    assert_eq!(severity, "warning");
    assert!(message.contains("`throwing_tool` threw") && message.contains("throwing_tool refuses"), "{message}");
    assert!(calls(&c, "throwing_tool").iter().all(|t| t["outcome"] == "threw" && t["back_to_idle"] == true), "{}", c.stderr);
    assert!(c.stderr.contains("tool throwing_tool called with generated arguments: 2 threw"), "{}", c.stderr);

    let c = check_plugin(
        &packages.join("tool-hangs"),
        &[&quick[..], &["--tool-cases", "2", "--tool-deadline-ms", "5000"]].concat(),
    );
    assert_eq!(c.code, 1, "{}", c.stderr);
    let (severity, message) = c.finding("tool-hangs");
    assert_eq!(severity, "problem");
    assert!(message.contains("`hanging_tool` was still running 5.0 s after it started"), "{message}");
    let hung = calls(&c, "hanging_tool");
    assert_eq!(hung.len(), 2);
    for call in &hung {
        assert_eq!((&call["outcome"], &call["back_to_idle"]), (&"hung".into(), &true.into()), "{call}");
    }
    assert!(c.findings().iter().all(|(_, k, _)| k != "tool-breaks-session"), "{:?}", c.findings());
}
