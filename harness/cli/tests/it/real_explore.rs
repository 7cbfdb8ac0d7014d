//! `explore` on a real server with a small budget: the cases it plays are the seed's,
//! each is an ordinary stored run that `analyze` re-checks, and a release whose known
//! failures are all in expectations.toml gives no finding.

use crate::support::{oc_conform, one_real_run_at_a_time, repo_root};
use oc_conform_runner::explore::{case_seed, generate, Action};
use serde_json::Value;

#[test]
fn a_small_exploration_plays_the_seeds_cases_and_stores_each_as_a_run() {
    let _one = one_real_run_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let (seed, max_steps) = (5u64, 2usize);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("oc-conform"))
        .env("OC_CONFORM_ROOT", repo_root())
        .args(["explore", "--opencode", "1.18.34", "--seed", "5", "--max-steps", "2", "--max-cases", "2"])
        .args(["--budget", "45", "--shrink-budget", "20", "--message-format", "json", "--report-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 0, "exit {code} on 1.18.34 (0: nothing beyond the known failures)\n{stderr}");

    let doc: Value = serde_json::from_slice(&std::fs::read(dir.path().join("explore.json")).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(!cases.is_empty(), "{stderr}");
    // The same seed plays the same actions: case i is the generator's case i.
    for (i, c) in cases.iter().enumerate() {
        let played: Vec<Action> = serde_json::from_value(c["actions"].clone()).unwrap();
        assert_eq!(played, generate(case_seed(seed, i as u64), max_steps), "case {}", i + 1);
        assert_ne!(c["verdict"], "error", "{c}\n{stderr}");
    }
    assert_eq!(doc["exit_code"], 0);
    assert!(std::fs::read_to_string(dir.path().join("explore.md")).unwrap().contains("Seed 5"));

    // The event stream: one explore-case event per case, the document at the end.
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let played = events.iter().filter(|e| e["event"] == "explore-case").count();
    assert_eq!(played, cases.len() + doc["shrink_runs"].as_array().unwrap().len());
    assert_eq!(events.last().unwrap()["event"], "explore-finished");

    // Every case is a stored run: analyze re-judges each the same way.
    oc_conform().arg("analyze").arg(dir.path()).assert().success();
}

#[test]
fn explore_rejects_k_zero_as_usage() {
    let dir = tempfile::tempdir().unwrap();
    oc_conform()
        .args(["explore", "--opencode", "1.18.34", "-k", "0", "--report-dir"])
        .arg(dir.path())
        .assert()
        .code(64);
}
