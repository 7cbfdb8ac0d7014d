//! The command line without a server: usage errors, bad input, exit codes.

use crate::support::oc_conform;
use predicates::prelude::*;

#[test]
fn unknown_flag_is_a_usage_error() {
    oc_conform().args(["run", "--no-such-flag"]).assert().code(64);
}

#[test]
fn unknown_scenario_lists_the_known_ones() {
    oc_conform()
        .args(["run", "--scenario", "no-such-scenario"])
        .assert()
        .code(64)
        .stderr(predicate::str::contains("no scenario named `no-such-scenario`"))
        .stderr(predicate::str::contains("abort-http"));
}

#[test]
fn list_shows_every_seed_scenario() {
    oc_conform()
        .arg("list")
        .assert()
        .success()
        .stdout(predicate::str::contains("abort-http"))
        .stdout(predicate::str::contains("permission-reply-plugin-client"))
        .stdout(predicate::str::contains("plugin-spawned-server"));
}

#[test]
fn a_malformed_scenario_is_refused_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.toml"),
        "format_version = 1\nname = \"broken\"\ndescription = \"x\"\n[[steps]]\ndo = \"wiat\"\n",
    )
    .unwrap();
    oc_conform()
        .args(["run", "--scenarios"])
        .arg(dir.path())
        .assert()
        .code(64)
        .stderr(predicate::str::contains("broken.toml:5:"))
        .stderr(predicate::str::contains("unknown variant `wiat`"));
}

#[test]
fn a_bad_opencode_path_is_refused() {
    // Its cells are ERROR with the reason (a matrix's other versions would run): no verdict.
    let dir = tempfile::tempdir().unwrap();
    oc_conform()
        .args(["run", "--scenario", "abort-http", "--opencode", "/nonexistent/opencode", "--report-dir"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/nonexistent/opencode"));
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(results["results"][0]["outcome"], "ERROR", "{results}");
}

#[test]
fn globs_and_tags_select_what_list_says() {
    let names = |args: &[&str]| -> Vec<String> {
        let out = oc_conform().arg("list").arg("--names").args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().map(String::from).collect()
    };
    let mcp = names(&["--scenario", "mcp-*"]);
    assert_eq!(mcp, ["mcp-server-dispose", "mcp-server-sigkill", "mcp-server-sigterm"]);
    let plugin_aborts = names(&["--tag", "plugin", "--scenario", "abort-*"]);
    assert_eq!(plugin_aborts, ["abort-plugin-client", "abort-plugin-serverurl"]);
    assert!(names(&["--tag", "abort"]).contains(&"permission-abort".to_string()));
    // A run of that selection plays exactly those cells (a server that never listens
    // makes each an ERROR quickly: what counts here is which cells there are).
    let dir = tempfile::tempdir().unwrap();
    let fake = crate::support::repo_root().join("harness/cli/tests/data/fake-opencode-silent.sh");
    oc_conform()
        .args(["run", "--tag", "plugin", "--scenario", "abort-*", "--start-timeout", "1", "--opencode"])
        .arg(&fake)
        .arg("--report-dir")
        .arg(dir.path())
        .assert()
        .code(2);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    let played: Vec<&str> = doc["results"].as_array().unwrap().iter().map(|c| c["scenario"].as_str().unwrap()).collect();
    assert_eq!(played, plugin_aborts);
}

#[test]
fn a_glob_or_tag_that_selects_nothing_names_what_exists() {
    oc_conform()
        .args(["list", "--scenario", "abrt-*"])
        .assert()
        .code(64)
        .stderr(predicate::str::contains("no scenario matches `abrt-*`"))
        .stderr(predicate::str::contains("abort-http"));
    oc_conform()
        .args(["run", "--tag", "no-such-tag"])
        .assert()
        .code(64)
        .stderr(predicate::str::contains("no scenario is tagged `no-such-tag`"))
        .stderr(predicate::str::contains("server-lifecycle ("));
}
