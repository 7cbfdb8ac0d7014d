//! What a plugin author meets before any server runs: the tutorial's files are the ones
//! the README prints, `new scenario` validates and never overwrites, `check-plugin` and
//! attach mode refuse bad input with a reason.

use crate::support::{oc_conform, repo_root};
use predicates::prelude::*;

#[test]
fn the_tutorial_prints_its_example_files_verbatim() {
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("scenarios/README.md")).unwrap();
    for (file, fence) in [
        ("fixtures/tutorial/guard-env.js", "```js\n"),
        ("fixtures/tutorial/guard-env-blocks-dotenv.toml", "```toml\n"),
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let block = format!("{fence}{text}```\n");
        assert!(
            readme.contains(&block),
            "scenarios/README.md does not print {file} verbatim"
        );
    }
}

#[test]
fn new_scenario_writes_a_skeleton_once() {
    let dir = tempfile::tempdir().unwrap();
    oc_conform()
        .args(["new", "scenario", "my-first-check", "--dir"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("my-first-check.toml"));
    let path = dir.path().join("my-first-check.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("name = \"my-first-check\""), "{text}");
    oc_conform_scenario::load_file(&path).unwrap();
    // `list` sees it with --scenarios.
    oc_conform()
        .args(["list", "--scenarios"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("my-first-check"));

    std::fs::write(&path, "mine").unwrap();
    oc_conform()
        .args(["new", "scenario", "my-first-check", "--dir"])
        .arg(dir.path())
        .assert()
        .code(64)
        .stderr(predicate::str::contains("already exists; not overwriting it"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine");
}

#[test]
fn new_scenario_refuses_bad_and_taken_names() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["My_Scenario", "x-", "a--b", "../escape"] {
        oc_conform()
            .args(["new", "scenario", bad, "--dir"])
            .arg(dir.path())
            .assert()
            .code(64)
            .stderr(predicate::str::contains("not a scenario name"));
    }
    oc_conform()
        .args(["new", "scenario", "abort-http", "--dir"])
        .arg(dir.path())
        .assert()
        .code(64)
        .stderr(predicate::str::contains("a scenario named `abort-http` already exists"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn check_plugin_refuses_what_is_not_a_plugin() {
    oc_conform()
        .args(["check-plugin", "/nonexistent/plugin.js"])
        .assert()
        .code(64)
        .stderr(predicate::str::contains("/nonexistent/plugin.js: no such file"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "").unwrap();
    oc_conform()
        .arg("check-plugin")
        .arg(dir.path().join("notes.txt"))
        .assert()
        .code(64)
        .stderr(predicate::str::contains("not a plugin"));
    oc_conform()
        .arg("check-plugin")
        .arg(dir.path())
        .assert()
        .code(64)
        .stderr(predicate::str::contains("no package.json"));
    oc_conform()
        .args([
            "check-plugin",
            "fixtures/plugins/good-citizen.js",
            "--scenario",
            "no-such",
        ])
        .current_dir(repo_root())
        .assert()
        .code(64)
        .stderr(predicate::str::contains("no scenario named `no-such`"))
        .stderr(predicate::str::contains("plugin-loads"));
}

#[test]
fn attach_config_points_at_the_model_port() {
    let out = oc_conform()
        .args(["run", "--print-attach-config", "--model-port", "4712"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        config["provider"]["fake"]["options"]["baseURL"],
        "http://127.0.0.1:4712/v1"
    );
    assert_eq!(config["model"], "fake/fake-model");
}

#[test]
fn attach_refuses_flags_that_need_its_own_server_and_unreachable_urls() {
    oc_conform()
        .args(["run", "--server-url", "http://127.0.0.1:9", "--opencode", "1.18.34"])
        .assert()
        .code(64)
        .stderr(predicate::str::contains("cannot be used with"));
    oc_conform()
        .args([
            "run",
            "--server-url",
            "http://127.0.0.1:9",
            "--scenario",
            "server-requires-auth",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--server-url http://127.0.0.1:9"))
        .stderr(predicate::str::contains("is the server running"));
    // Nothing selected can run attached: a usage error, each with its reason.
    oc_conform()
        .args([
            "run",
            "--server-url",
            "http://127.0.0.1:9",
            "--scenario",
            "server-sigterm-during-tool",
        ])
        .assert()
        .code(64)
        .stderr(predicate::str::contains("SKIPPED server-sigterm-during-tool: "))
        .stderr(predicate::str::contains("signals the server process"));
}
