//! The table of what every step kind and every check kind requires, and the rule that
//! follows from it: what needs process control never plays on a server the scenario
//! does not own. The kinds are enumerated from the types' own serde spelling, so a new
//! kind without a row here fails the test.

use super::*;
use crate::parse_str;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use Capability::*;

/// The variant names serde knows for `T`, read from its "unknown variant" error.
fn variants<T: DeserializeOwned + std::fmt::Debug>(unknown: Value) -> BTreeSet<String> {
    let e = serde_json::from_value::<T>(unknown).unwrap_err().to_string();
    let expected = e.split("expected").nth(1).unwrap_or_else(|| panic!("{e}"));
    expected.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

fn step(v: Value) -> Step {
    serde_json::from_value(v).unwrap()
}

fn check(v: Value) -> CheckSpec {
    serde_json::from_value(v).unwrap()
}

/// One row per step kind (a `wait` per condition, an `http` per route that matters).
fn step_table() -> Vec<(Step, Vec<Capability>)> {
    let wait = |until: Value| step(json!({"do": "wait", "until": until}));
    vec![
        (step(json!({"do": "prompt", "text": "hi"})), vec![]),
        (wait(json!({"event": "session.idle"})), vec![]),
        (wait(json!({"status": "idle"})), vec![]),
        (wait(json!({"process": "sleep 100"})), vec![ToolProcesses]),
        (wait(json!({"process_gone": "sleep 100"})), vec![ToolProcesses]),
        (wait(json!({"tool_state": "running"})), vec![]),
        (wait(json!({"model_requests": 1})), vec![]),
        (wait(json!({"model_turns": 2})), vec![]),
        (wait(json!({"plugin": "loaded"})), vec![PluginLog]),
        (wait(json!({"server_exited": true})), vec![ServerExit]),
        (wait(json!({"quiet_ms": 100})), vec![]),
        (step(json!({"do": "abort"})), vec![]),
        (step(json!({"do": "http", "method": "GET", "path": "/session/status"})), vec![]),
        (step(json!({"do": "http", "method": "POST", "path": "/global/dispose"})), vec![GlobalDispose]),
        (step(json!({"do": "http", "method": "POST", "path": "/instance/dispose?directory=x"})), vec![InstanceDispose]),
        (step(json!({"do": "permission-reply"})), vec![]),
        (step(json!({"do": "command", "name": "c"})), vec![]),
        (step(json!({"do": "signal", "signal": "TERM"})), vec![Signal]),
        (step(json!({"do": "dispose"})), vec![GlobalDispose]),
        (step(json!({"do": "stop-server"})), vec![Stop]),
        (step(json!({"do": "sample-resources"})), vec![ProcessTree]),
        (step(json!({"do": "turns-in-new-directories", "count": 3, "text": "hi"})), vec![]),
        (step(json!({"do": "new-session", "name": "second"})), vec![]),
        (step(json!({"do": "delete-session", "name": "second"})), vec![]),
        (step(json!({"do": "open-subscriber", "name": "extra", "global": true})), vec![]),
        (step(json!({"do": "close-subscriber", "name": "extra"})), vec![]),
    ]
}

fn check_table() -> Vec<(CheckSpec, Vec<Capability>)> {
    let c = |name: &str| check(json!({"check": name}));
    vec![
        (c("status-reaches-idle"), vec![]),
        (c("idle-has-no-tool-process"), vec![ToolProcesses]),
        (c("idle-event-matches-status"), vec![]),
        (c("one-idle-per-busy"), vec![]),
        (c("tool-ends-aborted"), vec![]),
        (c("quiet-after-idle"), vec![]),
        (c("permission-reply-takes-effect"), vec![]),
        (c("server-tree-gone"), vec![ProcessTree]),
        (c("server-stays-up"), vec![]),
        (c("no-model-requests"), vec![]),
        (c("errors-are-typed"), vec![]),
        (c("event-streams-agree"), vec![]),
        (check(json!({"check": "plugin-reported", "event": "e"})), vec![PluginLog]),
        (c("session-error-reported"), vec![]),
        (c("messages-stored"), vec![]),
        (c("session-created-on-both-streams"), vec![]),
        (c("model-calls-never-overlap"), vec![]),
        (c("answers-keep-their-prompt"), vec![]),
        (check(json!({"check": "messages-in-accepted-order", "prompts": ["a"]})), vec![]),
        (check(json!({"check": "server-url-agrees", "port": 4096})), vec![ProcessTree, PluginLog]),
        (c("subagents-end-idle"), vec![]),
        (c("model-requests-closed"), vec![]),
        (
            check(json!({"check": "resource-growth-per-directory", "max_threads_per_directory": 0.2,
                "max_fds_per_directory": 0.5, "max_rss_mb_per_directory": 8.0})),
            vec![ProcessTree],
        ),
        (check(json!({"check": "request-resolved", "kind": "question"})), vec![]),
        (check(json!({"check": "request-not-pending", "kind": "permission"})), vec![]),
        (check(json!({"check": "request-never-asked", "kind": "permission"})), vec![]),
        (check(json!({"check": "process-never-seen", "command": "sleep 7.78"})), vec![ToolProcesses]),
    ]
}

fn caps(rs: Vec<Requirement>) -> Vec<Capability> {
    rs.into_iter().map(|r| r.capability).collect()
}

#[test]
fn every_step_kind_states_what_it_requires() {
    let table = step_table();
    let kinds: BTreeSet<String> = table
        .iter()
        .map(|(s, _)| serde_json::to_value(s).unwrap()["do"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, variants::<Step>(json!({"do": "no-such-step"})), "a step kind without a row");
    let conditions: BTreeSet<String> = table
        .iter()
        .filter_map(|(s, _)| match s {
            Step::Wait { until, .. } => {
                serde_json::to_value(until).unwrap().as_object().unwrap().keys().next().cloned()
            }
            _ => None,
        })
        .collect();
    assert_eq!(conditions, variants::<Condition>(json!({"no_such_condition": 1})), "a condition without a row");
    for (s, want) in table {
        assert_eq!(caps(required_by_step(&s)), want, "{s:?}");
    }
}

#[test]
fn every_check_kind_states_what_it_requires() {
    let table = check_table();
    let kinds: BTreeSet<String> = table.iter().map(|(c, _)| c.name().to_string()).collect();
    assert_eq!(kinds, variants::<CheckSpec>(json!({"check": "no-such-check"})), "a check kind without a row");
    for (c, want) in table {
        assert_eq!(caps(required_by_check(&c)), want, "{c:?}");
    }
}

#[test]
fn what_each_mode_offers() {
    let offered = |m: ServerMode| -> Vec<Capability> { Capability::ALL.into_iter().filter(|c| m.offers(*c)).collect() };
    assert_eq!(offered(ServerMode::Own), Capability::ALL);
    assert_eq!(offered(ServerMode::Shared), [Plugins, PluginLog, InstanceDispose, ToolProcesses]);
    assert_eq!(offered(ServerMode::Attached), [InstanceDispose]);
    let control: Vec<Capability> = Capability::ALL.into_iter().filter(|c| c.is_process_control()).collect();
    assert_eq!(control, [Signal, Stop, GlobalDispose]);
}

fn scenario_with(steps: Vec<Step>, checks: Vec<CheckSpec>) -> Scenario {
    let mut s: Scenario = serde_json::from_value(json!({"format_version": 1, "name": "x", "description": "x"})).unwrap();
    s.steps = steps;
    s.checks = checks;
    s
}

/// A scenario plays on a mode exactly when the mode offers all it needs; and what
/// controls the server process (or watches all of it) never plays where the scenario
/// does not own the server.
#[test]
fn a_scenario_plays_only_where_its_needs_are_offered() {
    let rows: Vec<(Scenario, Vec<Capability>)> = step_table()
        .into_iter()
        .map(|(st, c)| (scenario_with(vec![st], vec![]), c))
        .chain(check_table().into_iter().map(|(ch, c)| (scenario_with(vec![], vec![ch]), c)))
        .collect();
    for (s, needs) in &rows {
        for mode in ServerMode::ALL {
            let plays = needs.iter().all(|c| mode.offers(*c));
            assert_eq!(unmet(mode, s).is_empty(), plays, "{mode:?} {:?} {:?}", s.steps, s.checks);
        }
        assert!(unmet(ServerMode::Own, s).is_empty());
        let owns_the_process = needs
            .iter()
            .any(|c| c.is_process_control() || matches!(c, ServerExit | ProcessTree | Environment));
        if owns_the_process || s.needs_process_control() {
            for mode in [ServerMode::Shared, ServerMode::Attached] {
                assert!(!unmet(mode, s).is_empty(), "{mode:?} would play {:?} {:?}", s.steps, s.checks);
            }
        }
    }
    let declared = Scenario {
        needs_process_control: Some(true),
        ..scenario_with(vec![], vec![])
    };
    assert!(declared.needs_process_control());
    assert_eq!(unmet(ServerMode::Shared, &declared), ["it declares needs_process_control = true"]);
    assert!(unmet(ServerMode::Own, &declared).is_empty());
}

#[test]
fn reasons_name_the_step_and_keep_their_words() {
    let s = parse_str(
        r#"format_version = 1
name = "x"
description = "x"
plugins = ["a.js"]
env = { A = "1", B = "2" }
[[steps]]
do = "wait"
until = { process = "sleep 100" }
[[steps]]
do = "dispose"
[[steps]]
do = "stop-server"
[[steps]]
do = "wait"
until = { server_exited = true }
[[checks]]
check = "server-tree-gone"
[[checks]]
check = "idle-has-no-tool-process"
"#,
        Path::new("x.toml"),
    )
    .unwrap();
    assert_eq!(
        unmet(ServerMode::Shared, &s),
        [
            "it sets the server's environment (A, B)",
            "step 2 disposes every instance of the server (POST /global/dispose)",
            "step 3 stops the server",
            "step 4 waits on the server's processes (server_exited = true)",
            "check `server-tree-gone` needs the server's process tree",
        ]
    );
    let attached = unmet(ServerMode::Attached, &s);
    assert_eq!(attached.len(), 8, "{attached:?}");
    assert!(attached[0].starts_with("it loads plugins (a.js)"));
    assert_eq!(attached[2], "step 1 waits on the server's processes (process = \"sleep 100\")");
    assert!(attached[7].starts_with("check `idle-has-no-tool-process` needs the server's process tree"));
}

/// What `run --server-url` says of a scenario it skips, and what it plays.
#[test]
fn an_attached_server_skips_signals_and_plays_plain_http() {
    let parse = |text: &str| parse_str(text, Path::new("x.toml")).unwrap();
    let signals = parse(
        "format_version = 1\nname = \"x\"\ndescription = \"x\"\n[[steps]]\ndo = \"signal\"\nsignal = \"TERM\"\n",
    );
    assert!(unmet(ServerMode::Attached, &signals).join("; ").contains("step 1 signals"));
    let http = parse(
        "format_version = 1\nname = \"x\"\ndescription = \"x\"\n[[steps]]\ndo = \"http\"\nmethod = \"GET\"\n\
         path = \"/session/status\"\nauth = false\nexpect_status = 401\n[[checks]]\ncheck = \"server-stays-up\"\n",
    );
    assert!(unmet(ServerMode::Attached, &http).is_empty());
}
