//! The scenario format as plugin authors meet it: every shipped scenario loads, and a
//! malformed file is refused with its path, line, column and what was expected.

use oc_conform_scenario::{load_dir, parse_str, CheckSpec, Condition, ScenarioError, Step};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

const MINIMAL: &str = r#"format_version = 1
name = "tiny"
description = "A tiny scenario."

[[model.turns]]
text = "Hi."

[[steps]]
do = "prompt"
text = "Hello"

[[steps]]
do = "wait"
until = { event = "session.idle" }
timeout_ms = 5000

[[checks]]
check = "status-reaches-idle"
"#;

fn error_of(text: &str) -> String {
    parse_str(text, Path::new("s.toml")).unwrap_err().to_string()
}

#[test]
fn every_shipped_scenario_loads() {
    let all = load_dir(&scenarios_dir()).expect("the shipped scenarios load");
    let names: Vec<&str> = all.iter().map(|(_, s)| s.name.as_str()).collect();
    for required in [
        "abort-http",
        "abort-plugin-client",
        "abort-plugin-serverurl",
        "permission-reply-http",
        "permission-reply-plugin-client",
        "permission-reply-plugin-serverurl",
        "command-hook-throws",
        "command-hook-passes",
        "command-display-only",
        "server-sigterm-during-tool",
        "server-sigkill-during-tool",
        "server-dispose-during-tool",
        "plugin-spawned-server",
        "event-stream-complete",
    ] {
        assert!(names.contains(&required), "missing scenario {required}");
    }
    for (path, s) in &all {
        assert!(!s.checks.is_empty(), "{} judges nothing", path.display());
    }
}

#[test]
fn minimal_scenario_parses_into_the_model() {
    let s = parse_str(MINIMAL, Path::new("tiny.toml")).unwrap();
    assert_eq!(s.name, "tiny");
    assert_eq!(s.deadline_ms, 60_000);
    assert!(matches!(&s.steps[0], Step::Prompt { is_async: true, .. }));
    assert!(matches!(
        &s.steps[1],
        Step::Wait { until: Condition::Event(e), timeout_ms: 5000, .. } if e == "session.idle"
    ));
    assert_eq!(s.checks, vec![CheckSpec::StatusReachesIdle {}]);
    assert!(!s.needs_process_control());
}

#[test]
fn a_syntax_error_points_at_its_line_and_column() {
    let bad = MINIMAL.replace("text = \"Hello\"", "text = \"Hello");
    let e = error_of(&bad);
    assert!(e.starts_with("s.toml:10:"), "{e}");
}

#[test]
fn an_unknown_step_names_the_known_ones() {
    let bad = MINIMAL.replace("do = \"prompt\"", "do = \"promt\"");
    let e = error_of(&bad);
    assert!(e.contains("promt") && e.contains("prompt"), "{e}");
    assert!(e.starts_with("s.toml:9:"), "{e}");
}

#[test]
fn an_unknown_check_is_refused_with_its_location() {
    let bad = MINIMAL.replace("status-reaches-idle", "status-reaches-idel");
    let e = error_of(&bad);
    assert!(e.contains("status-reaches-idel"), "{e}");
    assert!(e.starts_with("s.toml:18:"), "{e}");
}

#[test]
fn a_wait_longer_than_the_deadline_is_refused() {
    let bad = MINIMAL.replace("timeout_ms = 5000", "timeout_ms = 500000");
    let e = error_of(&bad);
    assert!(e.contains("step 2") && e.contains("deadline_ms"), "{e}");
    assert!(e.starts_with("s.toml:12:"), "{e}");
}

#[test]
fn bad_values_name_what_is_allowed() {
    let bad = MINIMAL.replace("{ event = \"session.idle\" }", "{ status = \"sleeping\" }");
    let e = error_of(&bad);
    assert!(e.contains("busy, idle, retry"), "{e}");
    let bad = MINIMAL.replace("format_version = 1", "format_version = 7");
    assert!(error_of(&bad).contains("format_version = 1"));
    let bad = MINIMAL.replace("name = \"tiny\"", "name = \"Tiny Scenario\"");
    assert!(error_of(&bad).starts_with("s.toml:2:"));
}

#[test]
fn a_file_named_differently_from_its_scenario_is_refused() {
    let dir = tempfile_dir();
    let path = dir.join("other.toml");
    std::fs::write(&path, MINIMAL).unwrap();
    let e = oc_conform_scenario::load_file(&path).unwrap_err();
    assert!(matches!(e, ScenarioError::Invalid(_)));
    assert!(e.to_string().contains("other.toml"), "{e}");
}

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("oc-conform-scenario-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Random edits of a valid file never panic, and an error always points inside the file.
    #[test]
    fn mutated_files_never_panic_and_errors_are_located(
        pos in 0usize..MINIMAL.len(),
        len in 0usize..12,
        insert in "[ -~\n]{0,8}",
    ) {
        let mut text = MINIMAL.to_string();
        let start = pos.min(text.len());
        let end = (start + len).min(text.len());
        if text.is_char_boundary(start) && text.is_char_boundary(end) {
            text.replace_range(start..end, &insert);
        }
        if let Err(e) = parse_str(&text, Path::new("m.toml")) {
            let (line, col) = e.location().expect("a parse error has a location");
            prop_assert!(line >= 1 && line <= text.lines().count().max(1) + 1);
            prop_assert!(col >= 1);
            prop_assert!(e.to_string().starts_with("m.toml:"));
        }
    }
}
