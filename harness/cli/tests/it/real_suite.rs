//! The whole suite (the seeds and the families added since) on real opencode releases. Each scenario must pass or fail for the
//! right reason: on 1.18.34 the plugin-client abort and permission replies work; on
//! 1.15.13 they do not, and the witness shows the disagreement. Afterwards, no process
//! carrying the run's marker may be alive.

use crate::support::{processes_marked_by, run_with_pid, Run};
use std::collections::BTreeMap;

/// Runs the whole suite on `version` through the CLI and returns its results and pid.
fn run_suite(version: &str) -> (Run, u32) {
    run_with_pid(&["--opencode", version])
}

fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(s, v)| (s.to_string(), v.to_string()))
        .collect()
}

/// What every release tried so far does, whatever the plugin client does.
const COMMON: &[(&str, &str)] = &[
    ("abort-http", "pass"),
    ("abort-plugin-serverurl", "pass"),
    ("permission-reply-http", "pass"),
    ("permission-reply-plugin-serverurl", "pass"),
    ("command-hook-passes", "pass"),
    ("server-dispose-during-tool", "pass"),
    ("event-stream-complete", "pass"),
    ("server-requires-auth", "pass"),
    ("plugin-loads", "pass"),
    ("model-http-400", "pass"),
    ("model-http-500-retried", "pass"),
    ("model-cut-mid-stream", "pass"),
    ("model-malformed-sse", "pass"),
    ("model-hang", "pass"),
    // Known upstream bugs, present on every release tried:
    ("abort-idle-once", "fail"),            // #40882 duplicate idle after abort
    ("command-hook-throws", "fail"),        // #32253 opaque 500
    ("command-display-only", "fail"),       // a command always runs a model turn
    ("server-sigterm-during-tool", "fail"), // #20899 orphaned tool child
    ("server-sigkill-during-tool", "fail"),
    ("plugin-spawned-server", "fail"),      // seed 003 orphaned launcher server
    // Issue 13's families, measured on 1.15.13, 1.17.18 and 1.18.34 (see each scenario):
    ("prompt-async-unknown-model", "pass"),
    ("prompt-async-model-401", "fail"),     // the idle pair published twice
    ("permission-abort", "fail"),           // #29422 pending after abort, a late reply runs
    ("question-abort", "fail"),             // #46163 question pending after abort
    ("turn-end-event-order", "pass"),
    ("mcp-server-dispose", "pass"),
    ("mcp-server-sigterm", "fail"),         // #26714 the MCP server's child orphaned
    ("mcp-server-sigkill", "fail"),         // #50363
    ("event-after-config-change", "fail"),  // #36495 /event closed by PATCH /config
    ("prompt-during-tool", "fail"),         // #28202 continuation under the later prompt
    ("port-zero-server-url-busy", "pass"),
    // port-zero-server-url (4096 free): see `judged`.
    ("subagent-abort", "pass"),
    ("question-dispose", "fail"),           // #46163 a dispose drops the question in silence
    ("permission-dispose", "fail"),         // #29422 a dispose rejects the permission in silence
    ("permission-ask-hook", "fail"),        // #46809 the permission.ask hook is never called
];

/// The run's verdicts, with port-zero-server-url's checked apart: it can only pass, or
/// (when a process outside the run holds port 4096, as on a shared machine) be ERROR for
/// that reason; its ERROR is then also the only thing allowed to turn the gate.
fn judged(run: &Run, v: &str) -> (BTreeMap<String, String>, bool) {
    let mut verdicts = run.verdicts(v);
    let free = verdicts.remove("port-zero-server-url");
    let taken = free.as_deref() == Some("error");
    if taken {
        let cell = run.result("port-zero-server-url", v).to_string();
        assert!(cell.contains("port 4096 is taken by something outside this run"), "{cell}");
    } else {
        assert_eq!(free.as_deref(), Some("pass"), "{}", run.stderr);
    }
    // #28202 is a race between a fresh server's first two prompts: it failed in every
    // run measured (2 each on 1.14.48 .. 1.18.34) and passed once in the full suite on
    // 1.18.34 (2026-12-01). When it fails, it fails for its reason.
    let raced = verdicts.remove("prompt-back-to-back-first");
    match raced.as_deref() {
        Some("pass" | "flaky") => {}
        Some("fail") => assert_eq!(
            failed_checks(run, "prompt-back-to-back-first", v),
            ["answers-keep-their-prompt", "messages-in-accepted-order"],
            "{}",
            run.stderr
        ),
        other => panic!("prompt-back-to-back-first: {other:?}\n{}", run.stderr),
    }
    (verdicts, taken)
}

fn failed_checks(run: &Run, scenario: &str, version: &str) -> Vec<String> {
    run.result(scenario, version)["failed_checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

fn witness_text(run: &Run, scenario: &str, version: &str, check: &str) -> Vec<String> {
    run.result(scenario, version)["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == check)
        .flat_map(|c| c["witness"].as_array().cloned().unwrap_or_default())
        .map(|w| w["what"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// `oc-conform analyze` re-judges the stored timelines to the same verdicts.
fn assert_analyze_agrees(run: &Run) {
    let out = crate::support::oc_conform()
        .arg("analyze")
        .arg(run.dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn assert_nothing_left(pid: u32, run: &Run) {
    let left = processes_marked_by(&format!("{pid}-"));
    assert!(
        left.is_empty(),
        "processes of run {pid} outlived it: {left:?}\n{}",
        run.stderr
    );
}

/// The scenarios that need no server of their own (see `oc_conform_scenario::unmet(ServerMode::Shared, ..)`).
const SHARED: &[&str] = &[
    "abort-http",
    "abort-idle-once",
    "abort-plugin-client",
    "abort-plugin-serverurl",
    "command-display-only",
    "command-hook-passes",
    "command-hook-throws",
    "event-stream-complete",
    "model-cut-mid-stream",
    "model-hang",
    "model-http-400",
    "model-http-500-retried",
    "model-malformed-sse",
    "permission-reply-http",
    "permission-reply-plugin-client",
    "permission-reply-plugin-serverurl",
    "plugin-loads",
    "server-requires-auth",
    "permission-abort",
    "prompt-async-model-401",
    "prompt-async-unknown-model",
    "question-abort",
    "turn-end-event-order",
    "event-after-config-change",
    "prompt-during-tool",
    "subagent-abort",
    "permission-ask-hook",
];

/// Shared scenarios one of whose checks opencode itself decides by a race, so a second
/// run may judge that check differently whatever the server: `permission-abort`'s stale
/// reply starts the aborted command in about 13 of 15 runs (see the scenario).
const RACY_CHECKS: &[(&str, &str)] = &[("permission-abort", "idle-has-no-tool-process")];

fn played_on_shared_server(run: &Run, scenario: &str, version: &str) -> bool {
    let path = run.dir.path().join(version).join(scenario).join("timeline.json");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .contains("played on the run's shared opencode server")
}

fn check_verdicts(run: &Run, scenario: &str, version: &str) -> Vec<(String, String)> {
    run.result(scenario, version)["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["check"].as_str().unwrap().to_string(), c["verdict"].as_str().unwrap().to_string()))
        .collect()
}

/// Sharing a server is an optimisation, not a change of judgement: exactly the shareable
/// scenarios shared one, and each check reaches the same verdict on a server of its own.
fn assert_sharing_is_faithful(run: &Run, version: &str) {
    for s in run.verdicts(version).keys() {
        assert_eq!(
            played_on_shared_server(run, s, version),
            SHARED.contains(&s.as_str()),
            "{s}: shared or not, against the rule"
        );
    }
    let mut args = vec!["--opencode", version, "--fresh-servers"];
    for s in SHARED {
        args.extend(["--scenario", s]);
    }
    let fresh = crate::support::run(&args);
    let steady = |s: &str, verdicts: Vec<(String, String)>| -> Vec<(String, String)> {
        verdicts.into_iter().filter(|(c, _)| !RACY_CHECKS.contains(&(s, c.as_str()))).collect()
    };
    for s in SHARED {
        assert!(!played_on_shared_server(&fresh, s, version));
        assert_eq!(
            steady(s, check_verdicts(&fresh, s, version)),
            steady(s, check_verdicts(run, s, version)),
            "{s}: a server of its own judged it differently"
        );
    }
}

#[test]
fn seed_suite_on_1_18_34() {
    let v = "1.18.34";
    let (run, pid) = run_suite(v);
    assert_nothing_left(pid, &run);
    let mut want = expected(COMMON);
    want.extend(expected(&[
        ("abort-plugin-client", "pass"),
        ("permission-reply-plugin-client", "pass"),
        ("subagent-background-abort", "pass"),
        // #33720: three threads, three fds and 20-50 MB kept per directory.
        ("instance-growth-per-directory", "fail"),
    ]));
    let (verdicts, port_taken) = judged(&run, v);
    assert_eq!(verdicts, want, "{}", run.stderr);
    // The shipped expectations name every known failure: the gate is green.
    assert!(run.code == 0 || port_taken, "{}", run.stderr);
    assert_analyze_agrees(&run);
    assert_sharing_is_faithful(&run, v);

    // Each known failure fails for its reason.
    assert_eq!(failed_checks(&run, "abort-idle-once", v), ["one-idle-per-busy"]);
    assert_eq!(failed_checks(&run, "command-hook-throws", v), ["errors-are-typed"]);
    assert_eq!(failed_checks(&run, "command-display-only", v), ["no-model-requests"]);
    assert_eq!(failed_checks(&run, "instance-growth-per-directory", v), ["resource-growth-per-directory"]);
    for s in ["server-sigterm-during-tool", "server-sigkill-during-tool", "plugin-spawned-server"] {
        assert_eq!(failed_checks(&run, s, v), ["server-tree-gone"], "{}", run.explain(s, v));
    }
    // Issue 13's dispose and hook families fail for their reasons, and only those.
    assert_eq!(failed_checks(&run, "question-dispose", v), ["request-resolved"]);
    assert_eq!(failed_checks(&run, "permission-dispose", v), ["request-resolved"]);
    assert_eq!(failed_checks(&run, "permission-ask-hook", v), ["plugin-reported", "request-never-asked"]);
    let asked = witness_text(&run, "permission-ask-hook", v, "request-never-asked");
    assert!(asked.iter().any(|w| w.contains("permission.asked")), "{asked:?}");
    let orphan = witness_text(&run, "server-sigterm-during-tool", v, "server-tree-gone");
    assert!(
        orphan.iter().any(|w| w.contains("sleep 100")) && orphan.iter().any(|w| w.contains("re-parented to 1")),
        "{orphan:?}"
    );
}

#[test]
fn seed_suite_on_1_15_13() {
    let v = "1.15.13";
    let (run, pid) = run_suite(v);
    assert_nothing_left(pid, &run);
    let mut want = expected(COMMON);
    want.extend(expected(&[
        ("abort-plugin-client", "fail"),
        ("permission-reply-plugin-client", "fail"),
        // #37314: the background subagent outlives its aborted parent.
        ("subagent-background-abort", "fail"),
        ("instance-growth-per-directory", "pass"),
    ]));
    let (verdicts, port_taken) = judged(&run, v);
    assert_eq!(verdicts, want, "{}", run.stderr);
    assert!(run.code == 0 || port_taken, "{}", run.stderr);
    assert_eq!(run.result("abort-plugin-client", v)["outcome"], "EXPECTED-FAIL");
    assert_eq!(
        failed_checks(&run, "subagent-background-abort", v),
        ["model-requests-closed", "subagents-end-idle"],
        "{}",
        run.explain("subagent-background-abort", v)
    );

    // The plugin's abort is a no-op: a phantom idle event while GET /session/status says
    // busy and the sleep lives on.
    let failed = failed_checks(&run, "abort-plugin-client", v);
    for check in ["status-reaches-idle", "idle-event-matches-status", "tool-ends-aborted"] {
        assert!(failed.contains(&check.to_string()), "{check} not in {failed:?}");
    }
    let w = witness_text(&run, "abort-plugin-client", v, "idle-event-matches-status");
    assert!(
        w.iter().any(|x| x.contains("event session.status idle"))
            && w.iter().any(|x| x.contains("GET /session/status: busy")),
        "{w:?}"
    );

    // The plugin's permission reply is refused (PermissionNotFoundError) and the turn
    // stays busy.
    let failed = failed_checks(&run, "permission-reply-plugin-client", v);
    for check in ["plugin-reported", "permission-reply-takes-effect", "status-reaches-idle"] {
        assert!(failed.contains(&check.to_string()), "{check} not in {failed:?}");
    }
    let msg = run.explain("permission-reply-plugin-client", v);
    assert!(msg.contains("PermissionNotFoundError"), "{msg}");
}

/// A shared cell's `server.log` is its own part of the shared server's log: it exists
/// where the reports link it, holds opencode's own log lines about the cell's project,
/// and no line of another cell's. Its timeline says truly whose server it was.
#[test]
fn each_shared_cell_keeps_its_own_part_of_the_server_log() {
    let v = "1.18.34";
    let names = ["server-requires-auth", "model-http-400", "abort-http"];
    let mut args = vec!["--opencode", v, "--jobs", "1"];
    for s in names {
        args.extend(["--scenario", s]);
    }
    let run = crate::support::run(&args);
    let read = |rel: &str| {
        let path = run.dir.path().join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), run.stderr))
    };
    let whole = read(&format!("{v}/shared-server/server.log"));
    let mut cells: Vec<(String, String)> = Vec::new();
    for s in names {
        assert!(played_on_shared_server(&run, s, v), "{s} did not share\n{}", run.stderr);
        let timeline: serde_json::Value =
            serde_json::from_str(&read(run.result(s, v)["artifacts"]["timeline"].as_str().unwrap())).unwrap();
        let directory = timeline["directory"].as_str().unwrap().to_string();
        let log = read(run.result(s, v)["artifacts"]["server_log"].as_str().unwrap());
        assert!(log.contains(&format!("directory={directory}")), "{s}: its project is not in its log:\n{log}");
        assert!(log.contains("level=INFO"), "{s}: opencode's own log is missing:\n{log}");
        assert!(log.lines().all(|l| whole.contains(l)), "{s}: a line not in the server's log:\n{log}");

        let pid = timeline["server_pid"].as_u64().unwrap_or_else(|| panic!("{s}: no server_pid"));
        let notes: Vec<&str> = timeline["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["message"].as_str())
            .collect();
        assert!(
            notes.iter().any(|m| m.starts_with(&format!("played on the run's shared opencode server (pid {pid},"))
                && m.contains("started by the harness")),
            "{s}: {notes:?}"
        );
        assert!(!notes.iter().any(|m| m.contains("not started by the harness")), "{s}: {notes:?}");
        cells.push((directory, log));
    }
    for (i, (_, log)) in cells.iter().enumerate() {
        for (j, (other, other_log)) in cells.iter().enumerate().filter(|(j, _)| *j != i) {
            assert!(!log.contains(other.as_str()), "{}'s log names {}'s project:\n{log}", names[i], names[j]);
            assert!(log.lines().all(|l| !other_log.contains(l)), "{} and {} share a line", names[i], names[j]);
        }
    }
}
