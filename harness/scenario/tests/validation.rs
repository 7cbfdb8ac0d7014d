//! Each rule a scenario file must follow, at its edges: the last value allowed passes and
//! the first one past it is refused, with a message naming the rule.

use oc_conform_scenario::{parse_str, CheckSpec, Scenario, Step};
use std::path::Path;

/// A valid scenario whose first turn, first step and first check are the given TOML
/// tables' bodies.
fn scenario(turn: &str, step: &str, check: &str) -> String {
    format!(
        "format_version = 1\nname = \"edge\"\ndescription = \"d\"\ndeadline_ms = 20000\n\n\
         [[model.turns]]\n{turn}\n\n[[steps]]\n{step}\n\n[[checks]]\n{check}\n"
    )
}

const TURN: &str = "text = \"Hi.\"";
const STEP: &str = "do = \"prompt\"\ntext = \"Hello\"";
const CHECK: &str = "check = \"status-reaches-idle\"";

fn parse(text: &str) -> Result<Scenario, String> {
    parse_str(text, Path::new("e.toml")).map_err(|e| e.to_string())
}

fn ok(text: &str) -> Scenario {
    parse(text).unwrap_or_else(|e| panic!("refused: {e}\n{text}"))
}

/// Refused, pointing at `line`, with a message containing `says`.
fn refused(text: &str, line: usize, says: &str) {
    let e = parse(text).expect_err(text);
    assert!(e.starts_with(&format!("e.toml:{line}:")), "want line {line}: {e}");
    assert!(e.contains(says), "want `{says}`: {e}");
}

fn step(body: &str) -> String {
    scenario(TURN, body, CHECK)
}

const TURN_LINE: usize = 6;
const STEP_LINE: usize = 9;
/// With `STEP`, two lines long.
const CHECK_LINE: usize = 13;

#[test]
fn the_base_scenario_is_valid() {
    let s = ok(&scenario(TURN, STEP, CHECK));
    assert_eq!(s.deadline_ms, 20_000);
    assert_eq!(parse(&scenario(TURN, STEP, CHECK)).unwrap().name, "edge");
}

#[test]
fn a_turn_needs_something_to_answer() {
    refused(&scenario("delay_ms = 1", STEP, CHECK), TURN_LINE, "model turn 1: a turn needs");
    for body in [
        "text = \"x\"",
        "tool_calls = [{ name = \"bash\", arguments = { command = \"true\" } }]",
        "http_error = { status = 500 }",
        "fault = \"hang\"",
    ] {
        ok(&scenario(body, STEP, CHECK));
    }
}

#[test]
fn http_error_status_is_an_error_status() {
    for status in [400, 599] {
        ok(&scenario(&format!("http_error = {{ status = {status} }}"), STEP, CHECK));
    }
    for status in [399, 600] {
        refused(
            &scenario(&format!("http_error = {{ status = {status} }}"), STEP, CHECK),
            TURN_LINE,
            &format!("http_error.status {status} is not an HTTP error status"),
        );
    }
}

#[test]
fn tool_call_arguments_are_a_table() {
    refused(
        &scenario("tool_calls = [{ name = \"bash\", arguments = \"sleep 1\" }]", STEP, CHECK),
        TURN_LINE,
        "tool call `bash`: arguments must be a table",
    );
}

#[test]
fn a_wait_lasts_between_1_ms_and_the_deadline() {
    let wait = |ms: u64| step(&format!("do = \"wait\"\nuntil = {{ status = \"idle\" }}\ntimeout_ms = {ms}"));
    ok(&wait(1));
    ok(&wait(20_000));
    refused(&wait(0), STEP_LINE, "timeout_ms 0 must be between 1 and the scenario's deadline_ms (20000)");
    refused(&wait(20_001), STEP_LINE, "timeout_ms 20001 must be");
}

#[test]
fn wait_conditions_name_known_states() {
    let until = |c: &str| step(&format!("do = \"wait\"\nuntil = {{ {c} }}\ntimeout_ms = 5000"));
    for s in ["busy", "idle", "retry"] {
        ok(&until(&format!("status = \"{s}\"")));
    }
    for s in ["pending", "running", "completed", "error"] {
        ok(&until(&format!("tool_state = \"{s}\"")));
    }
    refused(&until("status = \"done\""), STEP_LINE, "status `done` is not one of: busy, idle, retry");
    refused(
        &until("tool_state = \"done\""),
        STEP_LINE,
        "tool_state `done` is not one of: pending, running, completed, error",
    );
}

#[test]
fn quiet_must_fit_in_the_wait() {
    let quiet = |q: u64| step(&format!("do = \"wait\"\nuntil = {{ quiet_ms = {q} }}\ntimeout_ms = 5000"));
    ok(&quiet(4_999));
    refused(&quiet(5_000), STEP_LINE, "quiet_ms 5000 can never be reached within timeout_ms 5000");
}

#[test]
fn condition_text_is_not_empty() {
    for c in ["event", "process", "process_gone", "plugin"] {
        let text = step(&format!("do = \"wait\"\nuntil = {{ {c} = \"\" }}"));
        refused(&text, STEP_LINE, "the condition's text must not be empty");
        ok(&step(&format!("do = \"wait\"\nuntil = {{ {c} = \"x\" }}")));
    }
}

#[test]
fn replies_methods_and_paths_are_checked() {
    for r in ["once", "always", "reject"] {
        ok(&step(&format!("do = \"permission-reply\"\nreply = \"{r}\"")));
    }
    refused(
        &step("do = \"permission-reply\"\nreply = \"never\""),
        STEP_LINE,
        "reply `never` is not one of: once, always, reject",
    );
    for m in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        ok(&step(&format!("do = \"http\"\nmethod = \"{m}\"\npath = \"/x\"")));
    }
    refused(
        &step("do = \"http\"\nmethod = \"get\"\npath = \"/x\""),
        STEP_LINE,
        "method `get` is not one of: GET, POST, PUT, PATCH, DELETE",
    );
    refused(
        &step("do = \"http\"\nmethod = \"GET\"\npath = \"x\""),
        STEP_LINE,
        "path `x` must start with `/`",
    );
    refused(&step("do = \"command\"\nname = \"\""), STEP_LINE, "command name must not be empty");
    ok(&step("do = \"command\"\nname = \"c\""));
}

#[test]
fn check_parameters_are_checked() {
    let check = |body: &str| scenario(TURN, STEP, body);
    refused(
        &check("check = \"plugin-reported\"\nevent = \"\""),
        CHECK_LINE,
        "check 1: event must not be empty",
    );
    ok(&check("check = \"plugin-reported\"\nevent = \"e\""));
    refused(
        &check("check = \"messages-stored\"\nmin = 3\nmax = 2"),
        CHECK_LINE,
        "check 1: max 2 is less than min 3",
    );
    let s = ok(&check("check = \"messages-stored\"\nmin = 3\nmax = 3"));
    assert_eq!(s.checks, vec![CheckSpec::MessagesStored { min: 3, max: Some(3) }]);
}

#[test]
fn names_and_versions_at_the_top() {
    let base = scenario(TURN, STEP, CHECK);
    for good in ["a", "a-1", "0"] {
        ok(&base.replace("name = \"edge\"", &format!("name = \"{good}\"")));
    }
    for bad in ["", "A", "a_b", "a b", "é"] {
        refused(
            &base.replace("name = \"edge\"", &format!("name = \"{bad}\"")),
            2,
            "must be lower-case letters, digits and dashes",
        );
    }
    refused(&base.replace("deadline_ms = 20000", "deadline_ms = 0"), 4, "deadline_ms must be more than 0");
    refused(&base.replace("format_version = 1", "format_version = 2"), 1, "format_version 2 is not understood");
    refused(&base.replace("format_version = 1", "format_version = 0"), 1, "format_version 0 is not understood");
}

#[test]
fn process_control_follows_the_steps_unless_said() {
    let signal = step("do = \"signal\"\nsignal = \"TERM\"");
    assert!(ok(&signal).needs_process_control());
    assert!(ok(&step("do = \"stop-server\"")).needs_process_control());
    // `dispose` is POST /global/dispose: every instance of the server, not the scenario's.
    assert!(ok(&step("do = \"dispose\"")).needs_process_control());
    assert!(!ok(&step("do = \"http\"\nmethod = \"GET\"\npath = \"/session/status\"")).needs_process_control());
    let said = signal.replace("deadline_ms = 20000", "deadline_ms = 20000\nneeds_process_control = false");
    assert!(!ok(&said).needs_process_control());
    let said = scenario(TURN, STEP, CHECK).replace("deadline_ms = 20000", "deadline_ms = 20000\nneeds_process_control = true");
    assert!(ok(&said).needs_process_control());
}

#[test]
fn defaults_are_the_documented_ones() {
    let s = ok(&step("do = \"wait\"\nuntil = { status = \"idle\" }"));
    assert!(matches!(s.steps[0], Step::Wait { timeout_ms: 10_000, .. }));
    let s = ok(&step("do = \"permission-reply\""));
    assert!(matches!(&s.steps[0], Step::PermissionReply { reply } if reply == "once"));
    let s = ok(&step("do = \"http\"\nmethod = \"GET\"\npath = \"/x\""));
    assert!(matches!(s.steps[0], Step::Http { auth: true, .. }));
    let s = ok(&scenario(TURN, STEP, CHECK).replace("deadline_ms = 20000\n", ""));
    assert_eq!(s.deadline_ms, 60_000);
}

/// Every check's `check = "..."` spelling, and the name reports give it, are one.
#[test]
fn each_check_is_named_as_it_is_written() {
    let names = [
        "status-reaches-idle",
        "idle-has-no-tool-process",
        "idle-event-matches-status",
        "one-idle-per-busy",
        "tool-ends-aborted",
        "quiet-after-idle",
        "permission-reply-takes-effect",
        "server-tree-gone",
        "server-stays-up",
        "no-model-requests",
        "errors-are-typed",
        "event-streams-agree",
        "plugin-reported",
        "session-error-reported",
        "messages-stored",
    ];
    for name in names {
        let extra = if name == "plugin-reported" { "\nevent = \"e\"" } else { "" };
        let s = ok(&scenario(TURN, STEP, &format!("check = \"{name}\"{extra}")));
        assert_eq!(s.checks[0].name(), name);
    }
}

/// The grace periods a check waits by default (opencode's bash tool: SIGTERM, then
/// SIGKILL 3 s later; status polling can lag events by up to 2 s on a loaded machine).
#[test]
fn check_grace_periods_default_as_documented() {
    let grace = |name: &str| -> u64 {
        let s = ok(&scenario(TURN, STEP, &format!("check = \"{name}\"")));
        match s.checks[0] {
            CheckSpec::IdleHasNoToolProcess { grace_ms }
            | CheckSpec::IdleEventMatchesStatus { grace_ms }
            | CheckSpec::QuietAfterIdle { grace_ms }
            | CheckSpec::PermissionReplyTakesEffect { grace_ms }
            | CheckSpec::ServerTreeGone { grace_ms } => grace_ms,
            ref other => panic!("{other:?} has no grace period"),
        }
    };
    assert_eq!(grace("idle-has-no-tool-process"), 3_500);
    assert_eq!(grace("server-tree-gone"), 3_500);
    assert_eq!(grace("idle-event-matches-status"), 2_000);
    assert_eq!(grace("quiet-after-idle"), 1_000);
    assert_eq!(grace("permission-reply-takes-effect"), 3_000);
}

#[test]
fn an_error_tells_its_place_and_a_read_error_has_none() {
    let e = parse_str(
        &step("do = \"http\"\nmethod = \"GET\"\npath = \"x\""),
        Path::new("e.toml"),
    )
    .unwrap_err();
    assert_eq!(e.location(), Some((STEP_LINE, 1)));
    let missing = oc_conform_scenario::load_file(Path::new("/nonexistent/x.toml")).unwrap_err();
    assert!(matches!(missing, oc_conform_scenario::ScenarioError::Io { .. }));
    assert_eq!(missing.location(), None);
}

/// Two steps: `first`, then `second` (with a two-line `first`, the second's table is on
/// line `STEP_LINE + 4`).
fn two_steps(first: &str, second: &str) -> String {
    step(&format!("{first}\n\n[[steps]]\n{second}"))
}

#[test]
fn sessions_and_subscribers_are_named_before_they_are_used() {
    let made = ok(&two_steps("do = \"new-session\"\nname = \"s2\"", "do = \"delete-session\"\nname = \"s2\""));
    assert_eq!(made.steps[0], Step::NewSession { name: "s2".into() });
    ok(&two_steps(
        "do = \"new-session\"\nname = \"s2\"",
        "do = \"http\"\nmethod = \"POST\"\npath = \"/session/{session:s2}/message\"\nbody = { parts = [] }",
    ));
    let second = STEP_LINE + 4;
    refused(&two_steps(STEP, "do = \"delete-session\"\nname = \"s2\""), second, "step 2: no session `s2` is open here");
    refused(
        &two_steps(STEP, "do = \"http\"\nmethod = \"GET\"\npath = \"/session/{session:s9}\""),
        second,
        "{session:s9} names no open session",
    );
    refused(
        &two_steps("do = \"new-session\"\nname = \"s2\"", "do = \"new-session\"\nname = \"s2\""),
        second,
        "session `s2` is already open",
    );
    refused(&step("do = \"new-session\"\nname = \"a b\""), STEP_LINE, "must be letters, digits");
    let sub = ok(&two_steps("do = \"open-subscriber\"\nname = \"x\"\nglobal = true", "do = \"close-subscriber\"\nname = \"x\""));
    assert_eq!(sub.steps[0], Step::OpenSubscriber { name: "x".into(), global: true });
    refused(&two_steps(STEP, "do = \"close-subscriber\"\nname = \"x\""), second, "no subscriber `x` is open here");
}
