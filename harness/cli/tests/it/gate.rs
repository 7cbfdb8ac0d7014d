//! The CI gate on a real server: expectations decide the exit code, and a partitioned
//! matrix merged back gives what one run gives.

use crate::support::{oc_conform, run};
use serde_json::Value;

const V: &str = "1.18.34";

fn matrix(dir: &std::path::Path) -> Vec<(String, String, String)> {
    let doc: Value = serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["opencode_version"].as_str().unwrap().to_string(),
                r["scenario"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_known_failure_passes_the_gate_until_its_expectation_is_removed() {
    let shipped = run(&["--opencode", V, "--scenario", "abort-idle-once"]);
    assert_eq!(shipped.code, 0, "{}", shipped.stderr);
    assert_eq!(shipped.result("abort-idle-once", V)["outcome"], "EXPECTED-FAIL");

    let none = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(none.path(), "format_version = 1\n").unwrap();
    let path = none.path().to_str().unwrap();
    let without = run(&["--opencode", V, "--scenario", "abort-idle-once", "--expectations", path]);
    assert_eq!(without.code, 1, "{}", without.stderr);
    assert_eq!(without.result("abort-idle-once", V)["outcome"], "FAIL");
}

#[test]
fn two_partitions_merged_equal_one_run() {
    let scenarios = ["--scenario", "abort-http", "--scenario", "command-hook-throws", "--scenario", "event-stream-complete"];
    let args = |extra: &[&'static str]| {
        let mut a = vec!["--opencode", V];
        a.extend(scenarios);
        a.extend(extra);
        a
    };
    let whole = run(&args(&[]));
    let one = run(&args(&["--partition", "1/2"]));
    let two = run(&args(&["--partition", "2/2"]));
    for (name, r) in [("whole", &whole), ("1/2", &one), ("2/2", &two)] {
        assert_eq!(r.code, 0, "run {name}:\n{}", r.stderr);
    }
    // Real verdicts, not three equal errors: the matrix being compared must mean something.
    let want = |s: &str, o: &str| (V.to_string(), s.to_string(), o.to_string());
    let mut cells = matrix(whole.dir.path());
    cells.sort();
    assert_eq!(
        cells,
        [
            want("abort-http", "PASS"),
            want("command-hook-throws", "EXPECTED-FAIL"),
            want("event-stream-complete", "PASS")
        ],
        "{}",
        whole.stderr
    );
    assert_eq!(matrix(one.dir.path()).len() + matrix(two.dir.path()).len(), 3);

    let merged = tempfile::tempdir().unwrap();
    let out = oc_conform()
        .arg("merge")
        .arg(one.dir.path())
        .arg(two.dir.path())
        .arg("--report-dir")
        .arg(merged.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // Same cells in the same order as the whole run.
    assert_eq!(matrix(merged.path()), matrix(whole.dir.path()));
    // The merged report is whole: every run's artifacts came along.
    for (v, s, _) in matrix(merged.path()) {
        assert!(merged.path().join(&v).join(&s).join("timeline.json").exists(), "{v}/{s}");
    }
}
