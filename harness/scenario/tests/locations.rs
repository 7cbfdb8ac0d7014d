//! Errors point at the place in the file the parser read, never at text that merely looks
//! like it (a comment, a string), and a misspelt name is answered with the nearest real one.

use oc_conform_scenario::parse_str;
use std::path::Path;

fn error_of(text: &str) -> String {
    parse_str(text, Path::new("s.toml")).unwrap_err().to_string()
}

/// The description's lines look like keys and the comments spell every table header;
/// the real keys and tables follow them.
const COMMENTED: &str = r#"format_version = 1
description = """A tiny scenario.
name = "not the key"
deadline_ms = 0 is not the key either"""
name = "tiny"
# A scenario is [[model.turns]], then [[steps]], then [[checks]] tables.
# [[steps]] [[checks]] [[model.turns]]

[[model.turns]]
text = "Hi."

[[model.turns]]
text = "Again."

[[steps]]
do = "prompt"
text = "Hello"

[[steps]]
do = "wait"
until = { event = "session.idle" }
timeout_ms = 5000

[[checks]]
check = "status-reaches-idle"

[[checks]]
check = "messages-stored"
min = 1
max = 4
"#;

fn line_of(text: &str, needle: &str, nth: usize) -> usize {
    let offset = text
        .match_indices(needle)
        .filter(|(i, _)| {
            let line_start = text[..*i].rfind('\n').map_or(0, |n| n + 1);
            !text[line_start..*i].contains('#')
        })
        .nth(nth)
        .unwrap_or_else(|| panic!("no {needle} #{nth}"))
        .0;
    text[..offset].matches('\n').count() + 1
}

fn assert_at(e: &str, line: usize) {
    assert!(e.starts_with(&format!("s.toml:{line}:")), "want line {line}: {e}");
}

#[test]
fn the_file_parses_as_written() {
    parse_str(COMMENTED, Path::new("s.toml")).unwrap();
}

#[test]
fn a_bad_step_points_at_its_table_not_at_a_comment() {
    let bad = COMMENTED.replace("timeout_ms = 5000", "timeout_ms = 500000");
    let e = error_of(&bad);
    assert!(e.contains("step 2"), "{e}");
    assert_at(&e, line_of(&bad, "[[steps]]", 1));
    let bad = COMMENTED.replace(
        "do = \"prompt\"\ntext = \"Hello\"",
        "do = \"http\"\nmethod = \"GET\"\npath = \"x\"",
    );
    let e = error_of(&bad);
    assert!(e.contains("step 1") && e.contains("must start with `/`"), "{e}");
    assert_at(&e, line_of(&bad, "[[steps]]", 0));
}

#[test]
fn a_bad_check_points_at_its_table_not_at_a_comment() {
    let bad = COMMENTED.replace("max = 4", "max = 0");
    let e = error_of(&bad);
    assert!(e.contains("check 2"), "{e}");
    assert_at(&e, line_of(&bad, "[[checks]]", 1));
}

#[test]
fn a_bad_turn_points_at_its_table_not_at_a_comment() {
    let bad = COMMENTED.replace("text = \"Again.\"", "delay_ms = 5");
    let e = error_of(&bad);
    assert!(e.contains("model turn 2"), "{e}");
    assert_at(&e, line_of(&bad, "[[model.turns]]", 1));
}

#[test]
fn a_bad_top_level_value_points_at_its_key_not_into_a_string() {
    let bad = COMMENTED.replace("name = \"tiny\"", "name = \"tiny\"\ndeadline_ms = 0");
    let e = error_of(&bad);
    assert!(e.contains("deadline_ms must be more than 0"), "{e}");
    assert_eq!(bad.lines().nth(5), Some("deadline_ms = 0"));
    assert!(e.starts_with("s.toml:6:1:"), "{e}");

    let bad = COMMENTED.replace("name = \"tiny\"", "name = \"Tiny\"");
    let e = error_of(&bad);
    assert!(e.starts_with("s.toml:5:1:"), "{e}");
}

#[test]
fn a_file_without_steps_points_at_the_top() {
    let text = "format_version = 1\nname = \"tiny\"\ndescription = \"d\"\n";
    let e = error_of(text);
    assert!(e.contains("no steps"), "{e}");
    assert!(e.starts_with("s.toml:2:1:"), "{e}");
}

#[test]
fn a_misspelt_step_gets_a_suggestion() {
    let bad = COMMENTED.replace("do = \"prompt\"", "do = \"promt\"");
    let e = error_of(&bad);
    assert!(e.contains("did you mean `prompt`?"), "{e}");
    assert_at(&e, line_of(&bad, "do = \"promt\"", 0));
}

#[test]
fn a_misspelt_check_gets_a_suggestion() {
    let bad = COMMENTED.replace("\"status-reaches-idle\"", "\"status-reach-idle\"");
    let e = error_of(&bad);
    assert!(e.contains("did you mean `status-reaches-idle`?"), "{e}");
    assert_at(&e, line_of(&bad, "status-reach-idle", 0));
}

#[test]
fn an_unknown_key_in_a_step_points_at_the_key_with_a_suggestion() {
    let bad = COMMENTED.replace("timeout_ms = 5000", "timeout = 5000");
    let e = error_of(&bad);
    assert!(e.contains("`timeout`") && e.contains("did you mean `timeout_ms`?"), "{e}");
    let line = line_of(&bad, "timeout = 5000", 0);
    assert!(e.starts_with(&format!("s.toml:{line}:1:")), "want line {line}: {e}");
}

#[test]
fn an_unknown_key_in_a_check_points_at_the_key_with_a_suggestion() {
    let bad = COMMENTED.replace("max = 4", "maximum = 4");
    let e = error_of(&bad);
    assert!(e.contains("did you mean `max`?"), "{e}");
    let line = line_of(&bad, "maximum = 4", 0);
    assert!(e.starts_with(&format!("s.toml:{line}:1:")), "want line {line}: {e}");
}

#[test]
fn an_unknown_top_level_key_gets_a_suggestion() {
    let bad = COMMENTED.replace("name = \"tiny\"", "name = \"tiny\"\ndeadline = 5");
    let e = error_of(&bad);
    assert!(e.contains("did you mean `deadline_ms`?"), "{e}");
    assert!(e.starts_with("s.toml:6:1:"), "{e}");
}

#[test]
fn a_name_far_from_every_known_one_gets_no_suggestion() {
    let bad = COMMENTED.replace("do = \"prompt\"", "do = \"xyzzy-frobnicate\"");
    let e = error_of(&bad);
    assert!(!e.contains("did you mean"), "{e}");
    assert!(e.contains("prompt"), "{e}");
}

/// Two steps with the same unknown key: the error is the first step's, and so is its place.
#[test]
fn an_unknown_key_points_at_the_first_of_its_name_after_the_table() {
    let bad = COMMENTED
        .replace("text = \"Hello\"", "text = \"Hello\"\ntimeout = 1")
        .replace("timeout_ms = 5000", "timeout = 5000");
    let e = error_of(&bad);
    let line = line_of(&bad, "timeout = 1", 0);
    assert!(e.starts_with(&format!("s.toml:{line}:1:")), "want line {line}: {e}");
}
