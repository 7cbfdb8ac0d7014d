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

use oc_conform_checks::checks::run_check;
use oc_conform_checks::{CheckResult, Timeline, Verdict};
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
