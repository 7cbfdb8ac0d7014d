//! What the reports say is so: every artifact a report links exists, every headline says
//! what the exit code says (with and without `--strict`), a version that cannot be
//! installed does not sink the matrix, and the usage errors of `run --exit-code bisect`
//! stop `git bisect run` instead of marking a commit bad.

use crate::support::{oc_conform, repo_root, run, Run};
use predicates::prelude::*;
use serde_json::Value;
use std::path::Path;

const NEW: &str = "1.18.34";
const OLD: &str = "1.15.13";

/// Every path that `results.json`, `junit.xml` and `index.html` name, relative to the
/// report dir.
fn linked_paths(dir: &Path, results: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    for cell in results["results"].as_array().unwrap() {
        for key in ["dir", "timeline", "server_log", "model_requests"] {
            paths.push(cell["artifacts"][key].as_str().unwrap().to_string());
        }
        for r in cell["runs"].as_array().unwrap() {
            paths.push(r["dir"].as_str().unwrap().to_string());
        }
    }
    let artifact = |word: &str| {
        ["timeline.json", "server.log", "model-requests.jsonl"]
            .iter()
            .any(|f| word.ends_with(f))
    };
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    for word in junit.split(|c: char| c.is_whitespace() || c == '"' || c == ',' || c == '<' || c == '>') {
        // A path (prose may name "its server.log").
        if artifact(word) && word.contains('/') {
            paths.push(word.trim_end_matches(['.', ';', ')']).to_string());
        }
    }
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    for attr in ["href=\"", "src=\""] {
        for piece in html.split(attr).skip(1) {
            let target = piece.split('"').next().unwrap();
            if !target.starts_with('#') && !target.contains("://") && !target.is_empty() {
                paths.push(target.replace("&amp;", "&"));
            }
        }
    }
    paths
}

fn assert_links_resolve(r: &Run) {
    let paths = linked_paths(r.dir.path(), &r.results);
    assert!(paths.len() > 10, "{paths:?}");
    let missing: Vec<&String> = paths.iter().filter(|p| !r.dir.path().join(p).exists()).collect();
    assert!(missing.is_empty(), "linked but missing: {missing:?}\n{}", r.stderr);
    // A cell's server log is that cell's own, and not empty.
    for cell in r.results["results"].as_array().unwrap() {
        let log = r.dir.path().join(cell["artifacts"]["server_log"].as_str().unwrap());
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(!text.trim().is_empty(), "{} is empty", log.display());
    }
}

/// The exit code, `results.json`'s gate, the summary's and the page's headline and the
/// JUnit failures all say the same.
fn assert_headlines_match_the_exit_code(r: &Run) {
    let gate = &r.results["gate"];
    assert_eq!(gate["exit_code"], r.code, "{}", r.stderr);
    let headline = gate["headline"].as_str().unwrap();
    let expected_start = match r.code {
        0 => "all as expected",
        1 => "REGRESSION",
        2 => "NO VERDICT",
        c => panic!("exit code {c}: {}", r.stderr),
    };
    assert!(headline.starts_with(expected_start), "{headline} for exit code {}", r.code);
    let md = std::fs::read_to_string(r.dir.path().join("summary.md")).unwrap();
    assert!(md.starts_with(&format!("## oc-conform: {headline}\n")), "{md}");
    let html = std::fs::read_to_string(r.dir.path().join("index.html")).unwrap();
    assert!(html.contains(&format!(">{headline}<")), "the page's headline is not {headline}");
    for other in ["all as expected", "REGRESSION", "NO VERDICT"].iter().filter(|o| !headline.starts_with(**o)) {
        assert!(!html.contains(&format!(">{other}")), "the page says {other} under {headline}");
    }
    let junit = std::fs::read_to_string(r.dir.path().join("junit.xml")).unwrap();
    let failures = junit.matches("<failure").count();
    assert_eq!(failures > 0, r.code == 1, "JUnit has {failures} failure(s) for exit code {}:\n{junit}", r.code);
    assert!(r.stderr.contains(&format!("oc-conform: {headline}")), "{}", r.stderr);
}

#[test]
fn every_link_resolves_and_every_headline_matches_the_exit_code() {
    let scenarios = [
        "--scenario",
        "abort-http",
        "--scenario",
        "abort-plugin-client",
        "--scenario",
        "server-sigterm-during-tool",
    ];
    let mut args = vec!["--opencode", NEW, "--opencode", OLD];
    args.extend(scenarios);
    let default = run(&args);
    assert_links_resolve(&default);
    assert_headlines_match_the_exit_code(&default);

    // An expectation that abort-http fails on NEW: it passes, an UNEXPECTED-PASS, which
    // --strict makes a regression in every report.
    let shipped = std::fs::read_to_string(repo_root().join("scenarios/expectations.toml")).unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        format!("{shipped}\n[[expect]]\nscenario = \"abort-http\"\nversions = [\"={NEW}\"]\noutcome = \"fail\"\nreason = \"a test's\"\n"),
    )
    .unwrap();
    let mut strict_args = args.clone();
    strict_args.extend(["--strict", "--expectations", file.path().to_str().unwrap()]);
    let strict = run(&strict_args);
    assert_eq!(strict.result("abort-http", NEW)["outcome"], "UNEXPECTED-PASS", "{}", strict.stderr);
    assert_eq!(strict.code, 1, "{}", strict.stderr);
    assert_eq!(strict.results["gate"]["strict"], true);
    assert_links_resolve(&strict);
    assert_headlines_match_the_exit_code(&strict);
}

#[test]
fn a_version_that_cannot_be_installed_does_not_sink_the_matrix() {
    let r = run(&["--opencode", "/nonexistent/opencode", "--opencode", NEW, "--scenario", "server-requires-auth"]);
    assert_eq!(r.code, 2, "no regression, one version without a verdict: {}", r.stderr);
    assert_eq!(r.result("server-requires-auth", NEW)["outcome"], "PASS", "{}", r.stderr);
    let bad = r
        .results["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["opencode_version"] != NEW)
        .expect("a cell for the version that could not be installed");
    assert_eq!(bad["outcome"], "ERROR");
    assert!(bad["error"].as_str().unwrap().contains("/nonexistent/opencode"), "{bad}");
    assert!(r.stderr.contains("cannot get opencode /nonexistent/opencode"), "{}", r.stderr);
    assert_links_resolve(&r);
    assert_headlines_match_the_exit_code(&r);

    // `analyze` says why a run has no verdict; `diff` of a run with itself says so.
    let analyze = oc_conform().arg("analyze").arg(r.dir.path()).output().unwrap();
    let out = String::from_utf8_lossy(&analyze.stdout);
    assert!(out.contains("no verdict: ") && out.contains("/nonexistent/opencode"), "{out}");
    let diff = oc_conform().arg("diff").arg(r.dir.path()).arg(r.dir.path()).output().unwrap();
    assert_eq!(diff.status.code(), Some(0));
    let out = String::from_utf8_lossy(&diff.stdout);
    assert!(out.starts_with("no difference: the 2 cell(s)"), "{out}");
}

#[test]
fn analyze_prints_the_checks_that_failed() {
    let r = run(&["--opencode", NEW, "--scenario", "abort-idle-once"]);
    assert_eq!(r.result("abort-idle-once", NEW)["outcome"], "EXPECTED-FAIL", "{}", r.stderr);
    let analyze = oc_conform().arg("analyze").arg(r.dir.path()).output().unwrap();
    let out = String::from_utf8_lossy(&analyze.stdout);
    assert!(out.contains("FAIL   abort-idle-once"), "{out}");
    assert!(out.contains("fail one-idle-per-busy: "), "the failing check and its message: {out}");
}

#[test]
fn a_usage_error_in_bisect_mode_stops_git_bisect() {
    oc_conform().args(["run", "--exit-code", "bisect", "--bogus"]).assert().code(128);
    oc_conform().args(["run", "--bogus", "--exit-code=bisect"]).assert().code(128);
    oc_conform()
        .args(["run", "--exit-code", "bisect", "--scenario", "no-such-scenario"])
        .assert()
        .code(128);
    oc_conform().args(["run", "--bogus"]).assert().code(64);
}

#[test]
fn the_stored_run_commands_explain_their_arguments() {
    for (cmd, words) in [
        (vec!["merge", "--help"], vec!["report directories to combine", "--strict"]),
        (vec!["diff", "--help"], vec!["baseline", "compared with RUN_A"]),
        (vec!["expectations", "update", "--help"], vec!["report directory of the run", "expectations file to rewrite"]),
        (vec!["run", "--help"], vec!["OC_CONFORM_SERVER_PASSWORD", "--message-format"]),
    ] {
        let mut a = oc_conform().args(&cmd).assert().success();
        for w in words {
            a = a.stdout(predicate::str::contains(w));
        }
    }
}

#[test]
fn a_release_that_lacks_what_a_scenario_requires_skips_it() {
    let data = repo_root().join("harness/cli/tests/data/requires");
    let dir = tempfile::tempdir().unwrap();
    let out = oc_conform()
        .args(["run", "--opencode", NEW, "--scenario", "needs-the-future", "--message-format", "json", "--scenarios"])
        .arg(&data)
        .arg("--report-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "a skip is neither a failure nor an error: {stderr}");
    let why = format!("needs opencode >=99.0.0 (a feature from the future); this is {NEW}");
    let results: Value = serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(results["results"].as_array().unwrap().len(), 0, "{results}");
    assert_eq!(results["skipped"][0]["scenario"], "needs-the-future");
    assert_eq!(results["skipped"][0]["opencode_version"], NEW);
    assert_eq!(results["skipped"][0]["reason"], why.as_str());
    let stream = String::from_utf8_lossy(&out.stdout);
    assert!(
        stream.lines().any(|l| l.contains(r#""event":"skipped""#) && l.contains(&why)),
        "the JSON stream: {stream}"
    );
    for file in ["summary.md", "junit.xml", "index.html"] {
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
        assert!(text.contains("99.0.0 (a feature from the future); this is"), "{file} does not say why: {text}");
    }
    assert!(stderr.contains("SKIPPED needs-the-future"), "{stderr}");
    oc_conform()
        .args(["list", "--scenarios"])
        .arg(&data)
        .assert()
        .success()
        .stdout(predicate::str::contains("[requires opencode >=99.0.0 (a feature from the future)]"));
}
