//! `api-diff` on real servers: two releases' binaries given by path (so their documents
//! are fetched from servers started for it, never from the cache), the change between
//! them found and classified, `--fail-on` deciding the exit code, and no server left.

use crate::support::{oc_conform, one_real_run_at_a_time, output_with_pid, processes_marked_by};
use serde_json::Value;
use std::time::Instant;

const OLD: &str = "1.17.11";
const NEW: &str = "1.17.18";

/// The binaries of `versions`, installed through the harness (`install` prints
/// `VERSION PATH` per line).
fn binaries(versions: &[&str]) -> Vec<String> {
    let out = oc_conform().arg("install").args(versions).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    versions
        .iter()
        .map(|v| {
            let line = text.lines().find(|l| l.starts_with(&format!("{v} "))).expect("a line per version");
            line.split_once(' ').unwrap().1.trim().to_string()
        })
        .collect()
}

#[test]
fn api_diff_of_two_real_servers_finds_the_breaking_change_and_fails_on_it() {
    let _one = one_real_run_at_a_time();
    let paths = binaries(&[OLD, NEW]);
    let started = Instant::now();
    let (out, pid) = output_with_pid(&["api-diff", &paths[0], &paths[1], "--format", "json", "--fail-on", "breaking"]);
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "--fail-on breaking with a breaking change; stderr: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("the JSON report on stdout");
    assert_eq!(report["format_version"], 1);
    assert_eq!(report["a"]["version"], OLD);
    assert_eq!(report["b"]["version"], NEW);
    assert_eq!(report["documents_compared"], true);
    assert!(report["a"]["operations"].as_u64().unwrap() >= 150, "{}", report["a"]);
    let changes = report["changes"].as_array().unwrap();
    let mime = changes
        .iter()
        .find(|c| c["path"] == ".mime" && c["location"].as_str().unwrap().contains("PromptInputFileAttachment"))
        .unwrap_or_else(|| panic!("the prompt attachment's `mime` dropped: {changes:#?}"));
    assert_eq!(mime["severity"], "breaking");
    assert_eq!(mime["consumers"], serde_json::json!(["http-client", "plugin-author"]));
    let added = changes
        .iter()
        .find(|c| c["location"] == "POST /api/session/{sessionID}/interrupt")
        .expect("a new operation");
    assert_eq!(added["severity"], "additive");
    assert!(processes_marked_by(&format!("{pid}-")).is_empty(), "servers left behind");
    eprintln!("api-diff of two uncached binaries took {took:?}");

    // By version, without --fail-on: the report is all there is, exit 0. The first
    // call caches both documents (if no earlier one did); the second reads them only.
    let by_version = || {
        let started = Instant::now();
        let out = oc_conform().args(["api-diff", OLD, NEW]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8_lossy(&out.stdout).to_string(), started.elapsed())
    };
    let (text, _) = by_version();
    assert!(text.contains("1 breaking"), "{text}");
    let (again, cached) = by_version();
    assert_eq!(again, text);
    assert!(cached.as_secs_f64() < 5.0, "two cached documents took {cached:?}");
}

#[test]
fn api_diff_with_runs_that_are_not_a_report_dir_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = oc_conform()
        .args(["api-diff", OLD, NEW, "--runs"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no timeline.json"));
}
