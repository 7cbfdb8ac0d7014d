//! `api-diff` on real servers: two releases' binaries given by path (so their documents
//! are fetched from servers started for it, never from the cache), the change between
//! them found and classified, `--fail-on` deciding the exit code, and no server left.

use crate::support::{oc_conform, one_real_run_at_a_time, output_with_pid, processes_marked_by, run};
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

/// `run` over two releases: the "Interface changes" section between them, with the
/// counts `api-diff` gives (measured: 1 breaking, 8 possibly breaking, 8 additive from
/// 1.17.18 to 1.18.34), in results.json, summary.md and on the terminal; the exit code
/// is the gate's unless `--api-fail-on` asks. The first run has no cached document
/// (they are removed), so it fetches both while the matrix plays and caches them.
#[test]
fn run_over_two_releases_reports_their_interface_changes_apart_from_the_gate() {
    const FROM: &str = "1.17.18";
    const TO: &str = "1.18.34";
    let cache = oc_conform_runner::install::Installer::default_cache_dir().expect("a cache dir");
    for v in [FROM, TO] {
        let _ = std::fs::remove_file(cache.join("api-docs").join(format!("{v}.json")));
    }
    // Given newest first: the pair is still oldest -> newest.
    let args = ["--opencode", TO, "--opencode", FROM, "--scenario", "server-requires-auth"];
    let plain = run(&args);
    assert_eq!(plain.code, 0, "a breaking interface change does not move the gate:\n{}", plain.stderr);
    assert_eq!(plain.results["gate"]["decision"], "ok");
    let section = &plain.results["interface_changes"];
    let pairs = section["pairs"].as_array().expect("interface_changes.pairs");
    assert_eq!(pairs.len(), 1, "{section:#}");
    let p = &pairs[0];
    assert_eq!((p["from"].as_str(), p["to"].as_str(), p["status"].as_str()), (Some(FROM), Some(TO), Some("compared")), "{p:#}");
    assert_eq!((p["breaking"].as_u64(), p["possibly_breaking"].as_u64(), p["additive"].as_u64()), (Some(1), Some(8), Some(8)));
    assert_eq!(section["fails"], false);
    assert!(
        plain.stderr.contains(&format!("interface {FROM} -> {TO}: 1 breaking, 8 possibly breaking, 8 additive")),
        "{}",
        plain.stderr
    );
    let md = std::fs::read_to_string(plain.dir.path().join("summary.md")).unwrap();
    assert!(md.contains("### Interface changes"), "{md}");
    for v in [FROM, TO] {
        assert!(cache.join("api-docs").join(format!("{v}.json")).is_file(), "{v}'s document cached by the run");
    }

    let asked = run(&[&args[..], &["--api-fail-on", "breaking"]].concat());
    assert_eq!(asked.code, 1, "--api-fail-on breaking with a breaking change:\n{}", asked.stderr);
    assert_eq!(asked.results["gate"]["decision"], "ok", "the gate itself is unchanged");
    assert_eq!(asked.results["interface_changes"]["fails"], true);
    assert!(asked.stderr.contains("a change at --api-fail-on breaking or worse: the run exits 1"), "{}", asked.stderr);
}

/// Releases before `/global/health` (1.0.185): their server is ready when `GET /path`
/// answers, so their document is fetched (before, the start failed after its whole
/// timeout: that path goes to the offline web-app proxy).
#[test]
fn api_diff_reaches_a_release_without_global_health() {
    let _one = one_real_run_at_a_time();
    let out = oc_conform()
        .args(["api-diff", "1.0.185", "1.14.48", "--refresh", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("the JSON report on stdout");
    assert_eq!(report["a"]["version"], "1.0.185");
    assert_eq!(report["documents_compared"], true);
    assert!(report["a"]["operations"].as_u64().unwrap() >= 80, "{}", report["a"]);
}
