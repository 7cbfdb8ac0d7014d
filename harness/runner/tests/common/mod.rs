//! A fixed, synthetic but realistic run for the report tests: two versions, every outcome,
//! timelines from `oc_conform_checks::testing::stories` and one recorded real timeline
//! (`tests/data/`). Deterministic: fixed timestamps, no clock, no randomness.

#![allow(dead_code)]

use oc_conform_checks::outcome::Outcome;
use oc_conform_checks::testing::stories;
use oc_conform_checks::{Observation, Timeline, Verdict};
use oc_conform_runner::report::model::{
    witness, Artifacts, CellReport, CheckReport, ResultsDoc, RunReport, RESULTS_FORMAT_VERSION,
};
use oc_conform_scenario::{Expectation, ExpectedOutcome};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const NEW: &str = "1.18.34";
pub const OLD: &str = "1.15.13";

fn check(name: &str, verdict: Verdict, message: &str) -> CheckReport {
    CheckReport {
        check: name.into(),
        verdict,
        message: message.into(),
        witness: vec![],
    }
}

fn run(verdict: Verdict, failed: &[&str], ms: u64, dir: &str) -> RunReport {
    RunReport {
        verdict,
        failed_checks: failed.iter().map(|s| s.to_string()).collect(),
        duration_ms: ms,
        timed_out: false,
        error: None,
        dir: dir.into(),
    }
}

struct CellSpec<'a> {
    scenario: &'a str,
    version: &'a str,
    outcome: Outcome,
    checks: Vec<CheckReport>,
    runs: Vec<RunReport>,
    expectation: Option<Expectation>,
    error: Option<String>,
}

fn cell(spec: CellSpec) -> CellReport {
    let dir = format!("{}/{}", spec.version, spec.scenario);
    let verdict = if spec.runs.iter().any(|r| r.verdict == Verdict::Error) {
        Verdict::Error
    } else if spec.runs.iter().any(|r| r.verdict == Verdict::Fail) {
        Verdict::Fail
    } else {
        Verdict::Pass
    };
    let mut failed: Vec<String> = spec
        .runs
        .iter()
        .flat_map(|r| r.failed_checks.clone())
        .collect();
    failed.sort();
    failed.dedup();
    CellReport {
        scenario: spec.scenario.into(),
        opencode_version: spec.version.into(),
        outcome: spec.outcome,
        verdict,
        failed_checks: failed,
        duration_ms: spec.runs.iter().map(|r| r.duration_ms).sum(),
        error: spec.error,
        expectation: spec.expectation,
        checks: spec.checks,
        runs: spec.runs,
        artifacts: Artifacts::for_dir(&dir),
        first_bad: None,
        rerun: None,
    }
}

fn expect_fail(scenario: &str, checks: &[&str], issue: &str, reason: &str) -> Expectation {
    Expectation {
        scenario: scenario.into(),
        versions: vec!["*".into()],
        outcome: ExpectedOutcome::Fail,
        failing_checks: checks.iter().map(|s| s.to_string()).collect(),
        issue: Some(issue.into()),
        reason: Some(reason.into()),
    }
}

/// The seq of the first entry after `from` that `pred` accepts.
fn find(tl: &Timeline, from: u64, pred: impl Fn(&Observation) -> bool) -> u64 {
    tl.entries
        .iter()
        .find(|e| e.seq >= from && pred(&e.obs))
        .map(|e| e.seq)
        .expect("the story has it")
}

/// The recorded `plugin-spawned-server` run on 1.18.34 (an orphaned second server).
pub fn real_timeline() -> Timeline {
    let bytes = std::fs::read(data("plugin-spawned-server.timeline.json")).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The run, and the timelines its cells point at (relative path, timeline).
pub fn synthetic() -> (ResultsDoc, Vec<(String, Timeline)>) {
    let healthy = stories::healthy_abort().build();
    let phantom = stories::phantom_idle().build();
    let real = real_timeline();
    let mut timelines = Vec::new();

    // FAIL: the phantom idle on the old version.
    let idle_ev = find(&phantom, 0, |o| {
        matches!(o, Observation::Event { event_type, properties, .. }
            if event_type == "session.status" && properties.pointer("/status/type").and_then(|v| v.as_str()) == Some("idle"))
    });
    let busy = find(
        &phantom,
        0,
        |o| matches!(o, Observation::Status { status, .. } if status == "busy"),
    );
    let sleep = find(&phantom, 0, |o| matches!(o, Observation::Process(_)));
    let mut idle_check = check(
        "idle-event-matches-status",
        Verdict::Fail,
        "the session.status idle event at 1870 ms (/global/event) was not matched by GET /session/status within 1000 ms: it said `busy` until the end of the run (7650 ms) <phantom idle>",
    );
    idle_check.witness = witness(&phantom, &[idle_ev, busy]);
    let mut tool_check = check(
        "idle-has-no-tool-process",
        Verdict::Fail,
        "`sleep 100` (pid 4242) was alive 3500 ms after the idle at 1870 ms",
    );
    tool_check.witness = witness(&phantom, &[idle_ev, sleep]);
    let fail = cell(CellSpec {
        scenario: "abort-plugin-client",
        version: OLD,
        outcome: Outcome::Fail,
        checks: vec![
            idle_check,
            tool_check,
            check(
                "model-script-followed",
                Verdict::Pass,
                "all 2 model request(s) were planned by the script",
            ),
        ],
        runs: vec![run(
            Verdict::Fail,
            &["idle-event-matches-status", "idle-has-no-tool-process"],
            7712,
            "1.15.13/abort-plugin-client",
        )],
        expectation: None,
        error: None,
    });
    timelines.push((fail.artifacts.timeline.clone(), phantom.clone()));

    let pass = |scenario: &str, version: &str, ms: u64| {
        cell(CellSpec {
            scenario,
            version,
            outcome: Outcome::Pass,
            checks: vec![
                check("status-reaches-idle", Verdict::Pass, "GET /session/status said busy at 1100 ms and idle at 1730 ms"),
                check("tool-ends-aborted", Verdict::Pass, "the tool part `bash` (call_1) ended `completed` with an output saying it was aborted"),
            ],
            runs: vec![run(Verdict::Pass, &[], ms, &format!("{version}/{scenario}"))],
            expectation: None,
            error: None,
        })
    };
    let mut cells = vec![
        pass("abort-http", NEW, 6575),
        pass("abort-plugin-client", NEW, 6612),
        pass("abort-http", OLD, 6690),
    ];
    for c in &cells {
        timelines.push((c.artifacts.timeline.clone(), healthy.clone()));
    }
    cells.push(fail);

    // EXPECTED-FAIL on both versions: the real recorded orphan.
    for version in [NEW, OLD] {
        let mut tree = check(
            "server-tree-gone",
            Verdict::Fail,
            "`/tmp/occache/opencode/1.18.34/bin/opencode serve --hostname ...` (pid 17841) was still alive at 4980 ms, 2500 ms after the server exited at 2480 ms (killed by signal 15), re-parented to 1 at 2485 ms (an orphan)",
        );
        tree.witness = witness(&real, &[5, 18, 22]);
        let c = cell(CellSpec {
            scenario: "plugin-spawned-server",
            version,
            outcome: Outcome::ExpectedFail,
            checks: vec![check("plugin-reported", Verdict::Pass, "the plugin reported `server-spawned` at 2374 ms"), tree],
            runs: vec![run(Verdict::Fail, &["server-tree-gone"], 5491, &format!("{version}/plugin-spawned-server"))],
            expectation: Some(expect_fail(
                "plugin-spawned-server",
                &["server-tree-gone"],
                "https://github.com/openai/codex-plugin-cc/issues/108",
                "a detached server a plugin launched outlives the primary server; nothing in opencode stops it",
            )),
            error: None,
        });
        timelines.push((c.artifacts.timeline.clone(), real.clone()));
        cells.push(c);
    }

    // UNEXPECTED-PASS on the old version, FLAKY (3 runs) on the new one.
    let xpass = cell(CellSpec {
        scenario: "abort-idle-once",
        version: OLD,
        outcome: Outcome::UnexpectedPass,
        checks: vec![check(
            "one-idle-per-busy",
            Verdict::Pass,
            "each of 2 busy periods ended in exactly one idle",
        )],
        runs: vec![run(Verdict::Pass, &[], 4790, "1.15.13/abort-idle-once")],
        expectation: Some(expect_fail(
            "abort-idle-once",
            &["one-idle-per-busy"],
            "https://github.com/sst/opencode/issues/40882",
            "after an abort the idle pair is published twice",
        )),
        error: None,
    });
    timelines.push((xpass.artifacts.timeline.clone(), healthy.clone()));
    let mut once = check(
        "one-idle-per-busy",
        Verdict::Fail,
        "the session.status busy event at 1150 ms ended in 2 idles, at 1715 ms, 1716 ms (duplicate idle, #40882)",
    );
    once.witness = witness(
        &healthy,
        &[find(
            &healthy,
            0,
            |o| matches!(o, Observation::Event { event_type, .. } if event_type == "session.idle"),
        )],
    );
    let flaky = cell(CellSpec {
        scenario: "abort-idle-once",
        version: NEW,
        outcome: Outcome::Flaky,
        checks: vec![once],
        runs: vec![
            run(
                Verdict::Fail,
                &["one-idle-per-busy"],
                4811,
                "1.18.34/abort-idle-once",
            ),
            run(Verdict::Pass, &[], 4702, "1.18.34/abort-idle-once/run-2"),
            run(Verdict::Pass, &[], 4650, "1.18.34/abort-idle-once/run-3"),
        ],
        expectation: None,
        error: None,
    });
    timelines.push((flaky.artifacts.timeline.clone(), healthy.clone()));
    cells.push(xpass);
    cells.push(flaky);

    // TIMEOUT (new) and ERROR without any timeline (old).
    let mut timeout_run = run(
        Verdict::Error,
        &[],
        60_000,
        "1.18.34/server-sigterm-during-tool",
    );
    timeout_run.timed_out = true;
    timeout_run.error = Some(
        "the scenario's deadline (60 s) passed during step 3 `wait process_gone=\"sleep\"`".into(),
    );
    let timeout = cell(CellSpec {
        scenario: "server-sigterm-during-tool",
        version: NEW,
        outcome: Outcome::Timeout,
        checks: vec![],
        runs: vec![timeout_run.clone()],
        expectation: None,
        error: timeout_run.error.clone(),
    });
    timelines.push((timeout.artifacts.timeline.clone(), phantom));
    let mut error_run = run(
        Verdict::Error,
        &[],
        2100,
        "1.15.13/server-sigterm-during-tool",
    );
    error_run.error = Some(
        "opencode serve exited before it was healthy: exit code 1 (see server.log) & <stderr>"
            .into(),
    );
    let error = cell(CellSpec {
        scenario: "server-sigterm-during-tool",
        version: OLD,
        outcome: Outcome::Error,
        checks: vec![],
        runs: vec![error_run.clone()],
        expectation: None,
        error: error_run.error.clone(),
    });
    cells.push(timeout);
    cells.push(error);

    let doc = ResultsDoc {
        format_version: RESULTS_FORMAT_VERSION,
        tool: "oc-conform 0.1.0".into(),
        started_at: "2026-11-21T10:55:04Z".into(),
        finished_at: "2026-11-21T10:57:31Z".into(),
        interrupted: false,
        partition: None,
        versions: vec![NEW.into(), OLD.into()],
        local_builds: Default::default(),
        scenarios: vec![
            "abort-http".into(),
            "abort-idle-once".into(),
            "abort-plugin-client".into(),
            "plugin-spawned-server".into(),
            "server-sigterm-during-tool".into(),
        ],
        results: cells,
        gate: None,
        attached_to: None,
        skipped: vec![],
        interface_changes: None,
    };
    (doc, timelines)
}

/// Writes the timelines and server logs the cells point at (not the ERROR cell's: it has
/// none, as when a server never started).
pub fn write_artifacts(dir: &Path, timelines: &[(String, Timeline)]) {
    for (rel, tl) in timelines {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_vec_pretty(tl).unwrap()).unwrap();
        let log = if tl.scenario == "plugin-spawned-server" {
            std::fs::read_to_string(data("plugin-spawned-server.server.log")).unwrap()
        } else {
            "[err] Performing one time database migration, may take a few minutes...\n\
             [out] opencode server listening on http://127.0.0.1:39937\n\
             [err] <b>not markup</b> & an ampersand\n"
                .to_string()
        };
        std::fs::write(path.with_file_name("server.log"), log).unwrap();
    }
}

/// The path of `tool` on PATH, or a panic telling which package provides it.
pub fn require_tool(tool: &str, install: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => p,
        None => panic!(
            "`{tool}` is not installed, and this test needs it (it is not skipped on purpose). \
             Install it with: {install}"
        ),
    }
}

/// Runs `cmd`, panicking with its output when it fails.
pub fn run_ok(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
