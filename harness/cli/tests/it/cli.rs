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
