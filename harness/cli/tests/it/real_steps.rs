//! The session and subscriber step kinds (`new-session`, `delete-session`,
//! `open-subscriber`, `close-subscriber`) on a real server: what each did is read back
//! from the run's timeline, not from the steps' own success.

use crate::support::{processes_marked_by, repo_root, run_with_pid};
use serde_json::Value;
use std::collections::BTreeMap;

const V: &str = "1.18.34";
const SCENARIO: &str = "session-and-subscriber-steps";

#[test]
fn sessions_and_subscribers_open_and_close_on_a_real_server() {
    let data = repo_root().join("harness/cli/tests/data/steps");
    let (run, pid) = run_with_pid(&["--opencode", V, "--scenarios", data.to_str().unwrap(), "--scenario", SCENARIO]);
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, run.explain(SCENARIO, V));
    assert_eq!(run.verdicts(V)[SCENARIO], "pass", "{}", run.explain(SCENARIO, V));
    let timeline_path = run.dir.path().join(V).join(SCENARIO).join("timeline.json");
    let timeline: Value = serde_json::from_slice(&std::fs::read(&timeline_path).unwrap()).unwrap();
    let entries = timeline["entries"].as_array().unwrap();
    let own = timeline["session_id"].as_str().unwrap();
    let step_seq = |index: u64, phase: &str| {
        entries
            .iter()
            .find(|e| e["source"] == "step" && e["index"] == index && e["phase"] == phase)
            .unwrap_or_else(|| panic!("no step {index} {phase} in {}", timeline_path.display()))
    };
    let call = |step: u64, method: &str| {
        entries
            .iter()
            .find(|e| e["source"] == "http" && e["step"] == step && e["method"] == method)
            .unwrap_or_else(|| panic!("no {method} of step {step} in {}", timeline_path.display()))
    };

    // new-session (step 2): a session of its own, announced on the project's stream.
    let second = call(1, "POST")["body"]["id"].as_str().unwrap().to_string();
    assert_ne!(second, own);
    let events_of = |stream: &str, before_seq: u64| -> BTreeMap<String, u32> {
        let mut counts = BTreeMap::new();
        for e in entries.iter().filter(|e| {
            e["source"] == "event" && e["stream"] == stream && e["session_id"] == second.as_str() && e["seq"].as_u64().unwrap() < before_seq
        }) {
            *counts.entry(e["type"].as_str().unwrap().to_string()).or_default() += 1;
        }
        counts
    };

    // close-subscriber (step 5): the extra /event client read the second session's turn
    // as the harness's own /event observer saw it, and its stream was still open when it
    // was closed. What it read lies between what the observer had seen when the turn's
    // call answered (published at least the wait's 500 ms of quiet before the close) and
    // all the observer saw before the delete: an event published at the close may be on
    // one side of it for one reader and on the other for the other. (The turn's
    // session.idle is often published after its call answered, up to 765 ms measured:
    // not always before the close.)
    let closed = step_seq(4, "finished");
    let note = closed["note"].as_str().unwrap_or_else(|| panic!("close-subscriber has no note: {closed}"));
    assert!(!note.contains("ended before the close"), "{note}");
    let read = session_counts(note, &second);
    let at_least = events_of("directory", step_seq(3, "started")["seq"].as_u64().unwrap());
    let at_most = events_of("directory", step_seq(5, "started")["seq"].as_u64().unwrap());
    for ty in at_least.keys().chain(at_most.keys()).chain(read.keys()) {
        let n = read.get(ty).copied().unwrap_or(0);
        assert!(
            at_least.get(ty).copied().unwrap_or(0) <= n && n <= at_most.get(ty).copied().unwrap_or(0),
            "{ty}: the extra subscriber read {n} of {second}, the /event observer saw {at_least:?} by the answer, {at_most:?} by the delete; {note}"
        );
    }
    for ty in ["session.created", "session.status", "message.updated"] {
        assert!(read.contains_key(ty), "no {ty} read by the extra subscriber: {note}");
    }

    // delete-session (step 6): DELETE /session/{id} answers 200 `true`, and only then
    // session.deleted comes on both streams.
    let delete = call(5, "DELETE");
    assert_eq!(delete["path"], format!("/session/{second}"));
    assert_eq!((delete["status"].as_u64(), &delete["body"]), (Some(200), &Value::Bool(true)), "{delete}");
    let delete_sent = step_seq(5, "started")["seq"].as_u64().unwrap();
    for stream in ["global", "directory"] {
        let deleted: Vec<u64> = entries
            .iter()
            .filter(|e| e["source"] == "event" && e["stream"] == stream && e["type"] == "session.deleted")
            .map(|e| {
                assert_eq!(e["session_id"], second.as_str(), "{e}");
                e["seq"].as_u64().unwrap()
            })
            .collect();
        assert!(deleted.len() == 1 && deleted[0] > delete_sent, "session.deleted on {stream}: {deleted:?}");
    }

    // The session list read after (step 8): the scenario's own session, not the deleted one.
    let listed: Vec<&str> = call(7, "GET")["body"].as_array().unwrap().iter().filter_map(|s| s["id"].as_str()).collect();
    assert!(listed.contains(&own) && !listed.contains(&second.as_str()), "GET /session: {listed:?}");

    let left = processes_marked_by(&format!("{pid}-"));
    assert!(left.is_empty(), "processes of run {pid} outlived it: {left:?}\n{}", run.stderr);
}

/// The events of `session` in a close-subscriber note
/// (`read 9 events: server.connected 1 | ses_x: message.updated 3, session.idle 1`).
fn session_counts(note: &str, session: &str) -> BTreeMap<String, u32> {
    let group = note
        .split(" | ")
        .find_map(|g| g.strip_prefix(&format!("{session}: ")))
        .unwrap_or_else(|| panic!("no events of {session} in the note: {note}"));
    group
        .split(", ")
        .map(|kv| {
            let (ty, n) = kv.rsplit_once(' ').unwrap();
            (ty.to_string(), n.parse().unwrap())
        })
        .collect()
}
