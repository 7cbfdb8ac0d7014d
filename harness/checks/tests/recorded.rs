//! The checks on timelines recorded from real opencode servers (`tests/recorded/`).
//!
//! The files were converted from an exploration harness's recordings of opencode 1.18.34
//! and 1.15.13 (`/global/event` and `/event` frames, `GET /session/status` polled every
//! 50 ms, the process table every 20 ms, the HTTP calls), so they carry real event shapes:
//! - `abort-http-1.18.34`: abort over HTTP during `sleep 100`; it works, and the idle pair
//!   comes twice (#40882);
//! - `abort-plugin-client-1.15.13`: abort through the plugin's `ctx.client`; a phantom idle
//!   on `/global/event` only, while the status stays busy and the sleep lives on;
//! - `command-hook-throws-1.18.34`: a throwing `command.execute.before`: an opaque 500.
//!
//! Recorded by oc-conform itself (`run --opencode 1.14.48`, the run's `timeline.json`):
//! - `event-stream-complete-1.14.48`: the server closes the per-directory `/event` right
//!   after `server.connected` and stays up (health answers 200);
//! - `permission-reply-http-1.14.48`: a permission asked and answered over HTTP, in the
//!   current spelling (`permission.asked`, `permission.replied {requestID, reply}`); the
//!   older spelling (`permission.updated`, `{permissionID, response}`, before 1.0.224, whose
//!   servers the harness cannot start) is tested by rewriting it into that shape.

use oc_conform_checks::checks::{run_all, run_check, EVENT_STREAMS_STAY_OPEN};
use oc_conform_checks::{CheckResult, EventStream, Observation, Timeline, Verdict};
use oc_conform_scenario::CheckSpec;

fn recorded(name: &str) -> Timeline {
    let path = format!("{}/tests/recorded/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn check(tl: &Timeline, spec: CheckSpec) -> CheckResult {
    let r = run_check(&spec, tl);
    for w in &r.witness {
        assert!(tl.entries.iter().any(|e| e.seq == *w), "{r:?}");
    }
    r
}

fn describe(tl: &Timeline, seq: u64) -> String {
    tl.entries
        .iter()
        .find(|e| e.seq == seq)
        .map(|e| e.obs.describe())
        .unwrap_or_default()
}

#[test]
fn a_working_http_abort_passes_the_agreement_checks() {
    let tl = recorded("abort-http-1.18.34");
    for spec in [
        CheckSpec::StatusReachesIdle {},
        CheckSpec::IdleHasNoToolProcess { grace_ms: 3500 },
        CheckSpec::IdleEventMatchesStatus { grace_ms: 1000 },
        CheckSpec::ToolEndsAborted {},
        CheckSpec::QuietAfterIdle { grace_ms: 1000 },
        CheckSpec::EventStreamsAgree {},
        CheckSpec::ErrorsAreTyped {},
        CheckSpec::MessagesStored {
            min: 2,
            max: Some(2),
        },
        CheckSpec::ServerStaysUp {},
    ] {
        let r = check(&tl, spec);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }
}

#[test]
fn the_abort_sends_idle_twice() {
    let tl = recorded("abort-http-1.18.34");
    let r = check(&tl, CheckSpec::OneIdlePerBusy {});
    assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
    assert_eq!(r.witness.len(), 2);
    for w in &r.witness {
        assert_eq!(describe(&tl, *w), "event session.status idle");
    }
}

#[test]
fn the_phantom_idle_of_a_plugin_abort_is_caught() {
    let tl = recorded("abort-plugin-client-1.15.13");
    let r = check(&tl, CheckSpec::IdleEventMatchesStatus { grace_ms: 1000 });
    assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
    let seen: Vec<String> = r.witness.iter().map(|w| describe(&tl, *w)).collect();
    assert_eq!(
        seen,
        ["GET /session/status: busy", "event session.status idle"]
    );

    for spec in [
        CheckSpec::StatusReachesIdle {},
        CheckSpec::ToolEndsAborted {},
        CheckSpec::EventStreamsAgree {},
    ] {
        let r = check(&tl, spec);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
    }
    // GET /session/status never said idle: nothing for the process check to judge.
    let r = check(&tl, CheckSpec::IdleHasNoToolProcess { grace_ms: 3500 });
    assert_eq!(r.verdict, Verdict::Error, "{r:?}");
}

#[test]
fn a_throwing_command_hook_answers_an_opaque_500() {
    let tl = recorded("command-hook-throws-1.18.34");
    let r = check(&tl, CheckSpec::ErrorsAreTyped {});
    assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
    assert_eq!(r.witness.len(), 1);
    assert!(
        describe(&tl, r.witness[0]).ends_with("/command -> 500"),
        "{r:?}"
    );
    assert!(
        r.message.contains("an opaque UnknownError"),
        "{}",
        r.message
    );
}

fn results_of<'a>(results: &'a [CheckResult], check: &str) -> &'a CheckResult {
    results
        .iter()
        .find(|r| r.check == check)
        .unwrap_or_else(|| panic!("no {check} in {results:?}"))
}

#[test]
fn a_server_that_closes_event_while_alive_fails_with_the_end_as_witness() {
    let tl = recorded("event-stream-complete-1.14.48");
    let specs = [CheckSpec::EventStreamsAgree {}, CheckSpec::OneIdlePerBusy {}];
    let results = run_all(&specs, &tl);
    let open = results_of(&results, EVENT_STREAMS_STAY_OPEN);
    assert_eq!(open.verdict, Verdict::Fail, "{open:?}");
    let seen: Vec<String> = open.witness.iter().map(|w| describe(&tl, *w)).collect();
    assert_eq!(seen, ["/event stream ended", "GET /global/health -> 200"]);
    assert!(open.message.contains("the server ended the /event stream"), "{}", open.message);
    assert_eq!(results_of(&results, "event-streams-agree").verdict, Verdict::Fail);
    // /global/event stayed whole: the idle check judges it.
    assert_eq!(results_of(&results, "one-idle-per-busy").verdict, Verdict::Pass);
    assert_eq!(oc_conform_checks::combine(&results), Verdict::Fail);
}

fn permission_specs() -> [CheckSpec; 3] {
    [
        CheckSpec::PermissionReplyTakesEffect { grace_ms: 3000 },
        CheckSpec::StatusReachesIdle {},
        CheckSpec::IdleEventMatchesStatus { grace_ms: 2000 },
    ]
}

#[test]
fn an_event_hole_judges_only_the_scenarios_that_read_event() {
    // The same release closes /event here too; this scenario reads only /global/event.
    let tl = recorded("permission-reply-http-1.14.48");
    let results = run_all(&permission_specs(), &tl);
    assert!(results.iter().all(|r| r.check != EVENT_STREAMS_STAY_OPEN), "{results:?}");
    assert_eq!(oc_conform_checks::combine(&results), Verdict::Pass, "{results:?}");
}

#[test]
fn a_global_event_hole_lets_no_event_check_pass() {
    let mut tl = recorded("permission-reply-http-1.14.48");
    for e in &mut tl.entries {
        if let Observation::StreamEnded { stream, .. } = &mut e.obs {
            *stream = EventStream::Global;
        }
    }
    let results = run_all(&permission_specs(), &tl);
    assert_eq!(results_of(&results, EVENT_STREAMS_STAY_OPEN).verdict, Verdict::Fail);
    let r = results_of(&results, "permission-reply-takes-effect");
    assert_eq!(r.verdict, Verdict::Error, "{r:?}");
    assert!(r.message.contains("cannot pass"), "{}", r.message);
    // The status poll is no event stream: its check still judges.
    assert_eq!(results_of(&results, "status-reaches-idle").verdict, Verdict::Pass);
}

/// The recorded permission timeline rewritten into the spelling of releases before
/// 1.0.224: `permission.updated`, and `permission.replied {permissionID, response}`.
fn in_old_spelling(mut tl: Timeline) -> Timeline {
    for e in &mut tl.entries {
        if let Observation::Event {
            event_type,
            properties,
            ..
        } = &mut e.obs
        {
            if event_type == "permission.asked" {
                *event_type = "permission.updated".into();
            }
            if event_type == "permission.replied" {
                let p = properties.as_object_mut().unwrap();
                let id = p.remove("requestID").unwrap();
                let reply = p.remove("reply").unwrap();
                p.insert("permissionID".into(), id);
                p.insert("response".into(), reply);
            }
        }
    }
    tl
}

fn without_replied_events(mut tl: Timeline) -> Timeline {
    tl.entries.retain(|e| {
        !matches!(&e.obs, Observation::Event { event_type, .. } if event_type == "permission.replied")
    });
    tl
}

#[test]
fn both_permission_spellings_are_judged_alike() {
    let new = recorded("permission-reply-http-1.14.48");
    let old = in_old_spelling(new.clone());
    assert_ne!(new, old);
    // A grace the recording covers (it ends 784 ms after the reply).
    let spec = CheckSpec::PermissionReplyTakesEffect { grace_ms: 500 };
    for tl in [&new, &old] {
        let r = check(tl, spec.clone());
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        // Without its replied event, either spelling fails: the event was what passed it.
        let r = check(&without_replied_events(tl.clone()), spec.clone());
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("no permission.replied event"), "{}", r.message);
    }
}
