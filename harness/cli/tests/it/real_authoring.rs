//! What a scenario author writes runs as written: `new scenario`'s skeleton passes as it
//! is, and the tutorial's example (fixtures/tutorial, printed verbatim in
//! scenarios/README.md) passes, its plugin found next to the scenario file.

use crate::support::{oc_conform, run};

#[test]
fn a_new_scenario_skeleton_passes_as_written() {
    let dir = tempfile::tempdir().unwrap();
    oc_conform()
        .args(["new", "scenario", "my-first-check", "--dir"])
        .arg(dir.path())
        .assert()
        .success();
    let scenarios = dir.path().display().to_string();
    let r = run(&[
        "--opencode",
        "1.18.34",
        "--scenarios",
        &scenarios,
        "--scenario",
        "my-first-check",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.result("my-first-check", "1.18.34")["verdict"],
        "pass",
        "{}",
        r.explain("my-first-check", "1.18.34")
    );
}

#[test]
fn the_tutorial_example_passes_as_printed() {
    let tutorial = crate::support::repo_root()
        .join("fixtures/tutorial")
        .display()
        .to_string();
    let r = run(&[
        "--opencode",
        "1.18.34",
        "--scenarios",
        &tutorial,
        "--scenario",
        "guard-env-blocks-dotenv",
    ]);
    let v = "1.18.34";
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.result("guard-env-blocks-dotenv", v)["verdict"],
        "pass",
        "{}",
        r.explain("guard-env-blocks-dotenv", v)
    );
    // The plugin's own record is what the check judged.
    let checks = r.result("guard-env-blocks-dotenv", v)["checks"]
        .as_array()
        .unwrap()
        .clone();
    let reported = checks.iter().find(|c| c["check"] == "plugin-reported").unwrap();
    assert_eq!(reported["verdict"], "pass", "{reported}");
}

/// Step 5 of the tutorial: `check-plugin` runs the author's own scenarios (`--scenarios`)
/// with the wrapped plugin in place of the one the scenario lists, and they must pass.
#[test]
fn check_plugin_runs_the_authors_scenarios_with_the_wrapped_plugin() {
    let _one = crate::support::one_real_run_at_a_time();
    let root = crate::support::repo_root();
    let dir = tempfile::tempdir().unwrap();
    let out = oc_conform()
        .current_dir(&root)
        .args([
            "check-plugin",
            "fixtures/tutorial/guard-env.js",
            "--scenarios",
            "fixtures/tutorial",
        ])
        .args([
            "--opencode",
            "1.18.34",
            "--scenario",
            "guard-env-blocks-dotenv",
            "--report-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("plugin-report.json")).unwrap()).unwrap();
    let v = &report["versions"][0];
    assert_eq!(v["scenarios"][0]["scenario"], "guard-env-blocks-dotenv");
    assert_eq!(v["scenarios"][0]["core"], false);
    assert_eq!(v["scenarios"][0]["outcome"], "PASS", "{stderr}");
    // Loaded once, through the wrapper: the hook's one call threw, on purpose.
    let scenario: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            dir.path()
                .join("with-plugin/1.18.34/guard-env-blocks-dotenv/scenario.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let plugins = scenario["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), 1, "{plugins:?}");
    assert!(plugins[0].as_str().unwrap().ends_with("oc-conform-check-plugin.js"));
    assert_eq!(v["hooks"][0]["hook"], "tool.execute.before");
    assert_eq!(v["hooks"][0]["calls"], 1);
    assert_eq!(v["findings"][0]["kind"], "hook-threw", "{}", v["findings"]);
}
