//! `oc-conform bisect` and `run --exit-code bisect`. The real bisect is short on purpose:
//! abort-plugin-client fails on 1.17.0 (ctx.client calls an in-process copy of the
//! server) and passes from the upstream fix in 1.17.7 on; the registry has 1.17.0,
//! 1.17.9, 1.17.11 and 1.17.18, so the first fixed release it holds is 1.17.9, found in
//! three probes (the two ends, then 1.17.9).

use crate::support::{oc_conform, one_real_run_at_a_time, processes_marked_by, repo_root};
use predicates::prelude::*;
use serde_json::Value;
use std::process::{Command, Stdio};

const SCENARIO: &str = "abort-plugin-client";

/// How abort-plugin-client fails where ctx.client misses the listening server.
const FINGERPRINT: &str = "idle-event-matches-status+idle-has-no-tool-process+quiet-after-idle+status-reaches-idle+tool-ends-aborted";

#[test]
fn a_good_end_newer_than_the_bad_end_points_at_fixed() {
    oc_conform()
        .args(["bisect", "--scenario", SCENARIO, "--good", "1.18.34", "--bad", "1.15.13"])
        .assert()
        .code(64)
        .stderr(predicate::str::contains("add --fixed"));
}

#[test]
fn bisect_usage_errors() {
    oc_conform()
        .args(["bisect", "--scenario", "no-such-scenario", "--good", "1.15.13", "--bad", "1.18.34"])
        .assert()
        .code(64)
        .stderr(predicate::str::contains("no scenario named `no-such-scenario`"));
    oc_conform()
        .args(["bisect", "--scenario", SCENARIO, "--good", "1.15.13", "--bad", "1.15.13"])
        .assert()
        .code(64)
        .stderr(predicate::str::contains("nothing to bisect"));
    oc_conform()
        .args(["bisect", "--scenario", SCENARIO, "--good", "1.15.13", "--bad", "1.18.34", "--fingerprint", "a++b"])
        .assert()
        .code(64)
        .stderr(predicate::str::contains("invalid fingerprint"));
}

#[test]
fn run_exit_code_bisect_without_a_binary_cannot_decide() {
    // A commit whose build produced no binary is skipped by `git bisect run`.
    oc_conform()
        .args(["run", "--scenario", SCENARIO, "--opencode", "/nonexistent/opencode", "--exit-code", "bisect"])
        .assert()
        .code(125);
    // A usage error would be wrong on every commit: it stops `git bisect run`.
    oc_conform()
        .args(["run", "--scenario", "no-such-scenario", "--exit-code", "bisect"])
        .assert()
        .code(128);
    oc_conform()
        .args(["run", "--scenario", SCENARIO, "--fingerprint", "a+b"])
        .assert()
        .code(64)
        .stderr(predicate::str::contains("--fingerprint needs --exit-code bisect"));
}

#[test]
fn run_exit_code_bisect_on_a_real_failure() {
    // One real-server run at a time across the whole test binary (the shared lock, not one
    // of this module's own): an overlapping run would make the machine's load, not the
    // bisect, decide the probes. Nothing below calls `support::run`, which takes it too.
    let _one = one_real_run_at_a_time();
    // 1.15.13 fails the known way: 1 with no fingerprint and with the matching one
    // (expectations do not turn it into a pass), 125 when another failure is asked for.
    let dir = tempfile::tempdir().unwrap();
    let run = |fp: Option<&str>| {
        let mut c = oc_conform();
        c.args(["run", "--opencode", "1.15.13", "--scenario", SCENARIO, "--exit-code", "bisect", "--report-dir"])
            .arg(dir.path());
        if let Some(fp) = fp {
            c.args(["--fingerprint", fp]);
        }
        let out = c.output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (code, err) = run(None);
    assert_eq!(code, Some(1), "{err}");
    let (code, err) = run(Some(FINGERPRINT));
    assert_eq!(code, Some(1), "{err}");
    let (code, err) = run(Some("tool-ends-aborted"));
    assert_eq!(code, Some(125), "{err}");
}

#[test]
fn fixed_bisect_names_the_first_fixed_release() {
    // The shared lock, as above (no `support::run` below, which would take it again).
    let _one = one_real_run_at_a_time();
    let mut dir = tempfile::tempdir().unwrap();
    let child = Command::new(assert_cmd::cargo::cargo_bin("oc-conform"))
        .env("OC_CONFORM_ROOT", repo_root())
        .args(["bisect", "--fixed", "--scenario", SCENARIO, "--bad", "1.17.0", "--good", "1.17.18", "--report-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // A failing run keeps its report for a look at the probes' artifacts.
    dir.disable_cleanup(out.status.code() != Some(0));
    let all = format!("{stdout}\n{stderr}\nreport: {}", dir.path().display());
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(stdout.contains("first fixed: 1.17.9\n"), "{all}");
    assert!(stdout.contains("last failing: 1.17.0\n"), "{all}");
    assert!(stdout.contains("reproduce: oc-conform run --opencode 1.17.0 --scenario abort-plugin-client"), "{all}");
    // Honest about the window: the registry lacks 1.17.1 to 1.17.8.
    assert!(stdout.contains("1.17.1 to 1.17.8 (8 versions)"), "{all}");
    assert!(stderr.contains("candidate(s) in the registry from 1.17.0 to 1.17.18"), "{all}");

    let doc: Value = serde_json::from_slice(&std::fs::read(dir.path().join("bisect.json")).unwrap()).unwrap();
    assert_eq!(doc["status"], "found");
    assert_eq!(doc["direction"], "fixed");
    assert_eq!(doc["first_fixed"], "1.17.9");
    assert_eq!(doc["last_failing"], "1.17.0");
    assert_eq!(doc["fingerprint"], FINGERPRINT, "{doc:#}");
    let probes: Vec<(String, String, String)> = doc["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["version"].as_str().unwrap().into(),
                p["role"].as_str().unwrap().into(),
                p["result"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = |v: &str, r: &str, x: &str| (v.to_string(), r.to_string(), x.to_string());
    assert_eq!(
        probes,
        [
            want("1.17.0", "bad_end", "bad"),
            want("1.17.18", "good_end", "good"),
            want("1.17.9", "probe", "good")
        ],
        "{doc:#}"
    );
    assert!(doc.get("resume").is_none());

    // Each probe left standard artifacts, and `probes/` is a run report `analyze` reads.
    for v in ["1.17.0", "1.17.9", "1.17.18"] {
        assert!(dir.path().join("probes").join(v).join(SCENARIO).join("timeline.json").is_file(), "{v}");
    }
    let md = std::fs::read_to_string(dir.path().join("bisect.md")).unwrap();
    assert!(md.contains("**first fixed: 1.17.9**"), "{md}");
    oc_conform().arg("analyze").arg(dir.path().join("probes")).assert().success();

    let left = processes_marked_by(&format!("{pid}-"));
    assert!(left.is_empty(), "processes of bisect {pid} outlived it: {left:?}\n{all}");
}
