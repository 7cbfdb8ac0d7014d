//! Properties of the checks over generated timelines:
//! 1. no check panics, whatever the timeline;
//! 2. healthy histories pass every agreement check;
//! 3. a tool process alive past idle + grace always fails `idle-has-no-tool-process`, and the
//!    witness names it;
//! 4. witnesses only name entries that exist.

use oc_conform_checks::checks::{idle_has_no_tool_process, run_all, run_check, EVENT_STREAMS_STAY_OPEN};
use oc_conform_checks::testing::{TimelineBuilder, SERVER_PID, SESSION};
use oc_conform_checks::{
    CheckResult, EventStream, ModelRequestKind, Observation, ProcessChange, ProcessInfo,
    ProcessRole, ServerChange, StepPhase, StreamEndCause, Timeline, Verdict,
};
use oc_conform_scenario::CheckSpec;
use proptest::prelude::*;
use serde_json::{json, Value};

fn all_specs(grace: u64) -> Vec<CheckSpec> {
    vec![
        CheckSpec::StatusReachesIdle {},
        CheckSpec::IdleHasNoToolProcess { grace_ms: grace },
        CheckSpec::IdleEventMatchesStatus { grace_ms: grace },
        CheckSpec::OneIdlePerBusy {},
        CheckSpec::ToolEndsAborted {},
        CheckSpec::QuietAfterIdle { grace_ms: grace },
        CheckSpec::PermissionReplyTakesEffect { grace_ms: grace },
        CheckSpec::ServerTreeGone { grace_ms: grace },
        CheckSpec::ServerStaysUp {},
        CheckSpec::NoModelRequests {},
        CheckSpec::ErrorsAreTyped {},
        CheckSpec::EventStreamsAgree {},
        CheckSpec::SessionCreatedOnBothStreams {},
        CheckSpec::ModelCallsNeverOverlap {},
        CheckSpec::AnswersKeepTheirPrompt {},
        CheckSpec::MessagesInAcceptedOrder { prompts: vec!["x".into()] },
        CheckSpec::ServerUrlAgrees { port: Some(4096) },
        CheckSpec::PluginReported {
            event: "permission-replied".into(),
        },
        CheckSpec::MessagesStored {
            min: 1,
            max: Some(3),
        },
    ]
}

fn assert_witnesses_exist(tl: &Timeline, results: &[CheckResult]) {
    let seqs: std::collections::HashSet<u64> = tl.entries.iter().map(|e| e.seq).collect();
    for r in results {
        assert!(!r.message.is_empty(), "{r:?}");
        for w in &r.witness {
            assert!(
                seqs.contains(w),
                "{} names entry {w}, which does not exist",
                r.check
            );
        }
        if r.verdict == Verdict::Fail {
            assert!(!r.witness.is_empty(), "a failure without a witness: {r:?}");
        }
    }
}

/// Entries sorted by time (stably), with seqs renumbered: lets a test add observations
/// out of order.
fn resequence(mut tl: Timeline) -> Timeline {
    tl.entries.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    for (i, e) in tl.entries.iter_mut().enumerate() {
        e.seq = i as u64;
    }
    tl
}

// --- arbitrary timelines -------------------------------------------------------------------

fn arb_session() -> impl Strategy<Value = &'static str> {
    prop_oneof![4 => Just(SESSION), 1 => Just("ses_other")]
}

fn arb_status() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("busy"), Just("idle"), Just("retry")]
}

fn arb_part_status() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("pending"),
        Just("running"),
        Just("completed"),
        Just("error")
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!(true)),
        Just(json!(false)),
        Just(json!([])),
        Just(json!("Error: x\n    at f (/a/b.js:1:2)")),
        Just(json!({"name": "UnknownError", "data": {"message": "m"}})),
        Just(json!({"name": "Typed", "data": {"message": "m"}})),
        Just(json!({"_tag": "PermissionNotFoundError"})),
        Just(json!([{"info": {"role": "user"}, "parts": []},
                    {"info": {"role": "assistant", "error": {"name": "MessageAbortedError"}},
                     "parts": [{"type": "tool", "state": {"status": "completed", "output": "aborted"}}]}])),
        Just(json!([{"info": 3, "parts": "x"}])),
        any::<i64>().prop_map(|n| json!(n)),
    ]
}

fn arb_event() -> impl Strategy<Value = Observation> {
    (
        prop_oneof![Just(EventStream::Global), Just(EventStream::Directory)],
        0usize..12,
        arb_session(),
        arb_status(),
        arb_part_status(),
        0u8..3,
        any::<bool>(),
        arb_json(),
    )
        .prop_map(
            |(stream, kind, sid, status, part_status, n, tagged, junk)| {
                let id = format!("x_{n}");
                let (event_type, properties) = match kind {
                    0 => (
                        "session.status",
                        json!({"sessionID": sid, "status": {"type": status}}),
                    ),
                    1 => ("session.idle", json!({"sessionID": sid})),
                    2 => (
                        "message.updated",
                        json!({"sessionID": sid, "info": {"id": id, "role": "assistant",
                        "error": {"name": "MessageAbortedError"}}}),
                    ),
                    3 => (
                        "message.part.updated",
                        json!({"sessionID": sid, "part": {"id": id, "type": "tool",
                        "tool": "bash", "callID": format!("call_{n}"), "messageID": id,
                        "state": {"status": part_status, "output": "User aborted the command"}}}),
                    ),
                    4 => (
                        "permission.asked",
                        json!({"id": format!("per_{n}"), "sessionID": sid,
                        "tool": {"callID": format!("call_{n}")}}),
                    ),
                    5 => (
                        "permission.replied",
                        json!({"sessionID": sid, "requestID": format!("per_{n}")}),
                    ),
                    6 => (
                        "session.error",
                        json!({"sessionID": sid, "error": {"name": "Typed"}}),
                    ),
                    7 => ("server.connected", json!({})),
                    8 => ("session.status", json!({"sessionID": sid, "status": junk})),
                    9 => ("message.part.updated", json!({"part": junk})),
                    10 => ("message.updated", junk),
                    _ => ("session.status", json!({"sessionID": sid})),
                };
                let session_id = if tagged {
                    oc_conform_checks::checks::view::props_session_id(&properties)
                        .map(str::to_string)
                } else {
                    None
                };
                Observation::Event {
                    stream,
                    event_type: event_type.into(),
                    session_id,
                    properties,
                }
            },
        )
}

fn arb_process() -> impl Strategy<Value = Observation> {
    let pid = prop_oneof![1u32..6, Just(SERVER_PID)];
    (
        0usize..5,
        pid,
        prop_oneof![Just(1u32), Just(SERVER_PID), 2u32..6],
        prop_oneof![
            Just(ProcessRole::Tool),
            Just(ProcessRole::Opencode),
            Just(ProcessRole::Server)
        ],
    )
        .prop_map(|(kind, pid, ppid, role)| {
            Observation::Process(match kind {
                0 => ProcessChange::Appeared(ProcessInfo {
                    pid,
                    ppid,
                    pgid: pid,
                    state: "S".into(),
                    cmdline: format!("sleep {pid}"),
                    role,
                }),
                1 => ProcessChange::Reparented { pid, ppid },
                4 => ProcessChange::Exec {
                    pid,
                    cmdline: format!("sleep {ppid}"),
                    role,
                },
                2 => ProcessChange::Zombie { pid },
                _ => ProcessChange::Exited { pid },
            })
        })
}

fn arb_observation() -> impl Strategy<Value = Observation> {
    let path = prop_oneof![
        Just("/permission/per_1/reply".to_string()),
        Just(format!("/session/{SESSION}/permissions/per_2")),
        Just(format!("/session/{SESSION}/message")),
        Just(format!("/session/{SESSION}/command?x=1")),
        Just("/session".to_string()),
        Just("/".to_string()),
        Just("/global/health".to_string()),
    ];
    prop_oneof![
        6 => arb_event(),
        3 => (arb_session(), arb_status()).prop_map(|(s, st)| Observation::Status {
            session_id: s.into(),
            status: st.into(),
        }),
        1 => proptest::collection::vec(prop_oneof![Just("per_1"), Just("per_2")], 0..3)
            .prop_map(|ids| Observation::PendingPermissions {
                ids: ids.into_iter().map(String::from).collect(),
            }),
        2 => (prop_oneof![Just("GET"), Just("POST")], path, prop_oneof![Just(0u16), Just(200), Just(404), Just(500)], arb_json(), any::<bool>())
            .prop_map(|(m, p, status, body, err)| Observation::Http {
                method: m.into(),
                path: p,
                step: None,
                status,
                body,
                elapsed_ms: 3.0,
                error: (err && status == 0).then(|| "timeout".into()),
            }),
        3 => arb_process(),
        1 => (0u32..5, prop_oneof![Just(ModelRequestKind::Title), Just(ModelRequestKind::Turn), Just(ModelRequestKind::Unplanned)])
            .prop_map(|(index, kind)| Observation::ModelRequest {
                index,
                kind,
                turn: None,
                has_tool_result: false,
                summary: String::new(),
            }),
        1 => prop_oneof![
            Just(json!({"event": "permission-replied", "requestID": "per_1"})),
            Just(json!({"event": "permission-replied", "status": 404, "error": "no"})),
            Just(json!({"permissionID": "per_2", "url": "http://h:1/session/s/permissions/per_2"})),
            Just(json!({"url": 5})),
            Just(json!("not an object")),
        ].prop_map(|record| Observation::Plugin { record }),
        1 => (prop_oneof![Just("teardown"), Just("abort")], prop_oneof![Just(StepPhase::Started), Just(StepPhase::Finished)])
            .prop_map(|(name, phase)| Observation::Step { index: 0, name: name.into(), phase, note: None }),
        1 => prop_oneof![
            Just(ServerChange::Spawned { pid: SERVER_PID }),
            Just(ServerChange::Healthy { version: "x".into() }),
            Just(ServerChange::Exited { code: Some(0), signal: None }),
            Just(ServerChange::Exited { code: None, signal: Some(9) }),
        ].prop_map(Observation::Server),
        1 => prop_oneof![Just("stream ended"), Just("status poll failed: timeout"), Just("status poll answered again")]
            .prop_map(|m| Observation::Harness { message: m.into() }),
        1 => (
            prop_oneof![Just(EventStream::Global), Just(EventStream::Directory)],
            prop_oneof![
                3 => Just(StreamEndCause::Ended),
                1 => Just(StreamEndCause::Broke { error: "reset".into() }),
            ],
            any::<bool>(),
        )
            .prop_map(|(stream, cause, expected)| Observation::StreamEnded { stream, cause, expected }),
    ]
}

fn arb_timeline() -> impl Strategy<Value = Timeline> {
    (
        proptest::collection::vec((0.0f64..2_000.0, arb_observation()), 0..60),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(obs, has_session, has_pid)| {
            let mut tl = Timeline::new("arbitrary", "0");
            tl.session_id = has_session.then(|| SESSION.into());
            tl.server_pid = has_pid.then_some(SERVER_PID);
            let mut t = 0.0;
            for (dt, o) in obs {
                t += dt;
                tl.push(t, o);
            }
            tl
        })
}

// --- healthy histories -----------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Turn {
    gap: f64,
    status_lag: f64,
    event_lag: f64,
    tool_delay: f64,
    tool_ms: f64,
    idle_delay: f64,
    idle_status_lag: f64,
    spurious_busy: bool,
    /// Another session of the server turns busy during the turn and again after its idle.
    other_session: bool,
}

fn arb_turn() -> impl Strategy<Value = Turn> {
    (
        50.0f64..6_000.0,
        0.0f64..40.0,
        0.0f64..40.0,
        20.0f64..120.0,
        10.0f64..500.0,
        10.0f64..100.0,
        -5.0f64..40.0,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                gap,
                status_lag,
                event_lag,
                tool_delay,
                tool_ms,
                idle_delay,
                idle_status_lag,
                spurious_busy,
                other_session,
            )| Turn {
                gap,
                status_lag,
                event_lag,
                tool_delay,
                tool_ms,
                idle_delay,
                idle_status_lag,
                spurious_busy,
                other_session,
            },
        )
}

/// A healthy run: each turn goes busy, runs a tool that exits, goes idle once on both
/// streams and on the status; the run stays quiet for `tail` ms after the last idle.
/// Returns the builder (entries possibly out of time order) and the final status idle.
fn healthy(turns: &[Turn], tail: f64) -> (TimelineBuilder, f64, f64) {
    let mut b = TimelineBuilder::new();
    b.mirror(true);
    b.at(0.0).server_started().status("idle");
    b.at(1.0)
        .http("POST", "/session", 200, json!({"id": SESSION}));
    let mut t = 10.0;
    let mut last_idle_status = 0.0;
    let mut last_turn_start = 0.0;
    for (k, turn) in turns.iter().enumerate() {
        let start = t + turn.gap;
        last_turn_start = start;
        let (part, call) = (format!("prt_{k}"), format!("call_{k}"));
        b.at(start).user_message(&format!("msg_u{k}"));
        b.at(start + turn.status_lag).status("busy");
        b.at(start + turn.event_lag).event_status("busy");
        b.at(start + 45.0)
            .assistant_message(&format!("msg_a{k}"), None);
        if k == 0 {
            b.at(start + 50.0).model_request(ModelRequestKind::Title);
        }
        b.at(start + 50.0).model_request(ModelRequestKind::Turn);
        b.at(start + 60.0)
            .tool_part(&part, &call, "pending")
            .tool_part(&part, &call, "running");
        let pid = 1000 + k as u32;
        let appear = start + 60.0 + turn.tool_delay;
        let exit = appear + turn.tool_ms;
        b.at(appear).tool_appears(pid, "sleep 0.1");
        b.at(exit).exits(pid);
        b.at(exit + 5.0).tool_part(&part, &call, "completed");
        if turn.spurious_busy {
            b.at(exit + 6.0).event_status("busy");
        }
        let idle = exit + 10.0 + turn.idle_delay;
        b.at(idle).idle_events();
        last_idle_status = idle + turn.idle_status_lag;
        b.at(last_idle_status).status("idle");
        if turn.other_session {
            for (at, status) in [(start + 20.0, "busy"), (exit, "idle"), (last_idle_status + 1.0, "busy")] {
                b.at(at).push(Observation::Status {
                    session_id: "ses_other".into(),
                    status: status.into(),
                });
            }
        }
        t = idle;
    }
    let end = t + tail;
    b.at(end - 3.0)
        .stored_messages(json!([{"info": {"role": "user"}, "parts": []}]));
    b.at(end - 2.0).step("teardown", StepPhase::Started);
    b.at(end).server_exited(None, Some(15));
    (b, last_idle_status, last_turn_start)
}

fn agreement_specs() -> Vec<CheckSpec> {
    vec![
        CheckSpec::StatusReachesIdle {},
        CheckSpec::IdleHasNoToolProcess { grace_ms: 3500 },
        CheckSpec::IdleEventMatchesStatus { grace_ms: 1000 },
        CheckSpec::OneIdlePerBusy {},
        CheckSpec::QuietAfterIdle { grace_ms: 1000 },
        CheckSpec::EventStreamsAgree {},
        CheckSpec::ServerStaysUp {},
        CheckSpec::ErrorsAreTyped {},
        CheckSpec::MessagesStored { min: 1, max: None },
    ]
}

/// 512 cases by default; `PROPTEST_CASES` lowers it where the test runs many times over, as
/// in a mutation run (docs/mutation-testing.md), where the other tests pin the details.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// (1) and (4): any timeline, any grace.
    #[test]
    fn checks_never_panic_and_witnesses_exist(tl in arb_timeline(), grace in 0u64..5_000) {
        let results = run_all(&all_specs(grace), &tl);
        // Every check once, the script check, and event-streams-stay-open only over a hole.
        let judged: Vec<&CheckResult> = results.iter().filter(|r| r.check != EVENT_STREAMS_STAY_OPEN).collect();
        prop_assert_eq!(judged.len(), all_specs(grace).len() + 1);
        let holes = oc_conform_checks::checks::view::stream_holes(&tl);
        if holes.is_empty() {
            prop_assert_eq!(results.len(), judged.len());
        } else {
            // all_specs reads both streams: every hole counts, and fails the run.
            let open = results.iter().find(|r| r.check == EVENT_STREAMS_STAY_OPEN);
            prop_assert_eq!(open.map(|r| r.verdict), Some(Verdict::Fail));
        }
        assert_witnesses_exist(&tl, &results);
    }

    /// (2): healthy histories pass every agreement check.
    #[test]
    fn healthy_histories_pass(turns in proptest::collection::vec(arb_turn(), 1..4), tail in 1_100.0f64..8_000.0) {
        let (b, _, _) = healthy(&turns, tail);
        let tl = resequence(b.build());
        for spec in agreement_specs() {
            let r = run_check(&spec, &tl);
            prop_assert_eq!(r.verdict, Verdict::Pass, "{:?}", r);
        }
        let results = run_all(&agreement_specs(), &tl);
        prop_assert_eq!(results.last().map(|r| r.verdict), Some(Verdict::Pass));
        assert_witnesses_exist(&tl, &results);
    }

    /// (3): a tool alive at the final idle + grace always fails, naming that process.
    #[test]
    fn a_live_tool_past_idle_plus_grace_fails(
        turns in proptest::collection::vec(arb_turn(), 1..4),
        tail in 3_600.0f64..8_000.0,
        appear_frac in 0.0f64..=1.0,
        exit_frac in proptest::option::of(0.0f64..=1.0),
        via_exec in any::<bool>(),
    ) {
        let grace = 3_500.0;
        let (mut b, idle, turn_start) = healthy(&turns, tail);
        let deadline = idle + grace;
        let end = b.build().entries.iter().map(|e| e.at_ms).fold(0.0, f64::max);
        let appear = turn_start + appear_frac * (deadline - turn_start);
        if via_exec {
            // A fork of the server, seen before it becomes the tool.
            b.at(appear).process_appears(9999, SERVER_PID, ProcessRole::Opencode, "opencode serve");
            b.exec(9999, "sleep 100", ProcessRole::Tool);
        } else {
            b.at(appear).tool_appears(9999, "sleep 100");
        }
        if let Some(f) = exit_frac {
            b.at(deadline + 1.0 + f * (end - deadline - 1.0)).exits(9999);
        }
        let tl = resequence(b.build());
        // The entry where it became the tool: its appearance, or its exec.
        let appeared = tl.entries.iter().rev().find(|e| matches!(&e.obs,
            Observation::Process(ProcessChange::Appeared(ProcessInfo { pid: 9999, .. }))
            | Observation::Process(ProcessChange::Exec { pid: 9999, .. }))).unwrap().seq;
        let r = idle_has_no_tool_process(&tl, grace as u64);
        prop_assert_eq!(r.verdict, Verdict::Fail, "{:?}", r);
        prop_assert!(r.witness.contains(&appeared), "{:?}", r);
        assert_witnesses_exist(&tl, &[r]);
    }
}
