//! `rerun` and `--auto-bisect` on real servers, kept cheap: `rerun` plays one cell of a
//! two-cell run, and a local build's cell on that build; auto-bisect runs abort-plugin-client on 1.14.41 (passes) and 1.14.48
//! (fails: ctx.client calls an in-process copy of the server), neighbours in the
//! registry, so each bisect confirms its two ends and answers.

use crate::support::{installed_binary, one_real_run_at_a_time, repo_root};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn oc(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(assert_cmd::cargo::cargo_bin("oc-conform"))
        .env("OC_CONFORM_ROOT", repo_root())
        .env_remove("CI")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn cell<'a>(doc: &'a Value, scenario: &str, version: &str) -> &'a Value {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["scenario"] == scenario && c["opencode_version"] == version)
        .unwrap_or_else(|| panic!("no cell {scenario} ({version}) in {doc}"))
}

/// An expectations file that is wrong on purpose: server-requires-auth passes, so its cell
/// is UNEXPECTED-PASS, a cell `rerun` plays again.
fn auth_expected_to_fail(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("expectations.toml");
    std::fs::write(
        &path,
        "format_version = 1\n[[expect]]\nscenario = \"server-requires-auth\"\nversions = [\"*\"]\noutcome = \"fail\"\nreason = \"wrong on purpose\"\n",
    )
    .unwrap();
    path
}

#[test]
fn rerun_plays_only_the_cell_that_was_not_as_expected() {
    let _one = one_real_run_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    // The first run has one UNEXPECTED-PASS next to a plain PASS.
    let expectations = auth_expected_to_fail(tmp.path());
    let first = tmp.path().join("first");
    let (code, _, err) = oc(&[
        "run", "--opencode", "1.18.34", "--scenario", "server-requires-auth", "--scenario", "plugin-loads",
        "--expectations", expectations.to_str().unwrap(), "--report-dir", first.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let doc = json(&first.join("results.json"));
    assert_eq!(cell(&doc, "server-requires-auth", "1.18.34")["outcome"], "UNEXPECTED-PASS", "{doc}");
    assert_eq!(cell(&doc, "plugin-loads", "1.18.34")["outcome"], "PASS", "{doc}");

    let out = tmp.path().join("again");
    let (code, stdout, err) = oc(&["rerun", first.to_str().unwrap(), "--report-dir", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("server-requires-auth (1.18.34): UNEXPECTED-PASS again on re-run: real"), "{stdout}\n{err}");
    // The re-run played that one cell and nothing else.
    let again = json(&out.join("rerun/results.json"));
    let played: Vec<&str> = again["results"].as_array().unwrap().iter().map(|c| c["scenario"].as_str().unwrap()).collect();
    assert_eq!(played, ["server-requires-auth"]);
    // The combined report: the first run's cells, that one with both runs and the finding.
    let combined = json(&out.join("results.json"));
    let auth = cell(&combined, "server-requires-auth", "1.18.34");
    assert_eq!(auth["runs"].as_array().unwrap().len(), 2, "{auth}");
    assert!(auth["runs"][1]["dir"].as_str().unwrap().starts_with("rerun/"), "{auth}");
    assert!(out.join(auth["runs"][1]["dir"].as_str().unwrap()).join("timeline.json").is_file());
    assert!(out.join(auth["runs"][0]["dir"].as_str().unwrap()).join("timeline.json").is_file());
    assert_eq!(auth["rerun"]["still_unexpected"], true, "{auth}");
    let loads = cell(&combined, "plugin-loads", "1.18.34");
    assert_eq!(loads["runs"].as_array().unwrap().len(), 1);
    assert!(loads.get("rerun").is_none(), "{loads}");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("UNEXPECTED-PASS again on re-run: real"), "{summary}");
}

/// How many times the binary at the wrapper was started as a server.
fn serve_starts(log: &Path) -> usize {
    std::fs::read_to_string(log).unwrap_or_default().lines().filter(|l| l.starts_with("serve")).count()
}

#[test]
fn rerun_plays_a_local_build_again_on_its_binary_not_on_the_release_of_its_label() {
    let _one = one_real_run_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    // A local build that reports 1.18.34 (it execs that release), as a build from a
    // checkout of that tag would: the label alone would name the registry's release.
    let starts = tmp.path().join("starts.log");
    let build = tmp.path().join("build");
    std::fs::create_dir(&build).unwrap();
    let wrapper = build.join("opencode");
    let real = installed_binary("1.18.34");
    std::fs::write(&wrapper, format!("#!/bin/sh\necho \"$@\" >> {}\nexec {real} \"$@\"\n", starts.display())).unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let expectations = auth_expected_to_fail(tmp.path());
    let first = tmp.path().join("first");
    let (code, _, err) = oc(&[
        "run", "--opencode", wrapper.to_str().unwrap(), "--scenario", "server-requires-auth",
        "--expectations", expectations.to_str().unwrap(), "--report-dir", first.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let doc = json(&first.join("results.json"));
    assert_eq!(cell(&doc, "server-requires-auth", "1.18.34")["outcome"], "UNEXPECTED-PASS", "{doc}");
    assert_eq!(doc["local_builds"]["1.18.34"], wrapper.to_str().unwrap(), "{doc}");
    let started = serve_starts(&starts);
    assert!(started >= 1, "the first run started the build");

    let again = tmp.path().join("again");
    let (code, stdout, err) = oc(&["rerun", first.to_str().unwrap(), "--report-dir", again.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let said = format!("{stdout}{err}");
    assert!(said.contains(&format!("re-running the local build at {} (it reports 1.18.34)", wrapper.display())), "{said}");
    assert!(serve_starts(&starts) > started, "the re-run started the local build, not the release:\n{said}");
    assert_eq!(json(&again.join("rerun/results.json"))["local_builds"]["1.18.34"], wrapper.to_str().unwrap());
    assert_eq!(json(&again.join("results.json"))["local_builds"]["1.18.34"], wrapper.to_str().unwrap());

    // The build is gone: a usage error naming where it was and what to do.
    std::fs::remove_file(&wrapper).unwrap();
    let (code, _, err) = oc(&["rerun", first.to_str().unwrap(), "--report-dir", tmp.path().join("gone").to_str().unwrap()]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains(&format!("{}, which no longer exists", wrapper.display())), "{err}");
    assert!(err.contains("oc-conform run --opencode NEW_PATH"), "{err}");
}

#[test]
fn auto_bisect_names_the_first_bad_release_bisect_names() {
    let _one = one_real_run_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    let no_expectations = tmp.path().join("none.toml");
    std::fs::write(&no_expectations, "format_version = 1\n").unwrap();
    let report = tmp.path().join("matrix");
    let (code, stdout, err) = oc(&[
        "run", "--opencode", "1.14.41", "--opencode", "1.14.48", "--scenario", "abort-plugin-client",
        "--expectations", no_expectations.to_str().unwrap(), "--report-dir", report.to_str().unwrap(),
        "--auto-bisect", "--annotate", "github",
    ]);
    assert_eq!(code, 1, "a regression: {err}");
    let doc = json(&report.join("results.json"));
    assert_eq!(cell(&doc, "abort-plugin-client", "1.14.41")["outcome"], "PASS", "{doc}");
    let bad = cell(&doc, "abort-plugin-client", "1.14.48");
    assert_eq!(bad["outcome"], "FAIL", "{doc}");
    let found = &bad["first_bad"];
    assert_eq!(found["status"], "found", "{found}");
    assert_eq!(found["last_good"], "1.14.41", "{found}");
    assert!(found["reproduce"].as_str().unwrap().contains("1.14.48"), "{found}");
    assert!(report.join(found["report"].as_str().unwrap()).join("bisect.json").is_file());
    let summary = std::fs::read_to_string(report.join("summary.md")).unwrap();
    let headline = format!("abort-plugin-client: first bad {}, last good 1.14.41", found["first_bad"].as_str().unwrap());
    assert!(summary.contains(&headline), "{summary}");
    assert!(std::fs::read_to_string(report.join("index.html")).unwrap().contains(&headline));
    // One annotation, carrying the answer.
    let annotations: Vec<&str> = stdout.lines().filter(|l| l.starts_with("::error")).collect();
    assert_eq!(annotations.len(), 1, "{stdout}");
    assert!(annotations[0].contains("first bad"), "{}", annotations[0]);

    // `bisect` on the same ends names the same release.
    let bisect_dir = tmp.path().join("bisect");
    let (code, _, err) = oc(&[
        "bisect", "--scenario", "abort-plugin-client", "--good", "1.14.41", "--bad", "1.14.48",
        "--report-dir", bisect_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let bisected = json(&bisect_dir.join("bisect.json"));
    assert_eq!(bisected["status"], "found", "{bisected}");
    assert_eq!(found["first_bad"], bisected["first_bad"], "auto-bisect {found} vs bisect {bisected}");
    assert_eq!(found["last_good"], bisected["last_good"]);
}
