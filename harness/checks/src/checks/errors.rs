//! Failed HTTP answers must say what failed: a typed error, not an opaque `UnknownError`
//! or a leaked stack trace.

use super::view::{join_problems, ms, path_only, session_events, witness};
use crate::wire::{self, ErrorInfo, Event};
use crate::{CheckResult, Entry, EventStream, Observation, Timeline};
use serde_json::Value;

pub const ERRORS_ARE_TYPED: &str = "errors-are-typed";

/// How long after a failed answer a `session.error` naming the failure still explains it.
const SESSION_ERROR_WINDOW_MS: f64 = 1_000.0;

fn string_leaves<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| string_leaves(x, out)),
        Value::Object(o) => o.values().for_each(|x| string_leaves(x, out)),
        _ => {}
    }
}

/// A JavaScript stack frame: an `    at ` line, or a `file.ts:12` location.
fn looks_like_stack(s: &str) -> bool {
    if s.lines().any(|l| l.starts_with("    at ")) {
        return true;
    }
    [".ts:", ".js:", ".mjs:", ".cjs:", ".tsx:"]
        .iter()
        .any(|ext| {
            s.match_indices(ext).any(|(i, m)| {
                s[i + m.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit())
            })
        })
}

/// What is wrong with a failed answer's body, if anything.
fn opaque(body: &Value) -> Option<String> {
    let mut leaves = Vec::new();
    string_leaves(body, &mut leaves);
    if leaves.iter().any(|s| looks_like_stack(s)) {
        return Some("its body leaks a stack trace".into());
    }
    // opencode's errors carry `name`; Effect-style ones (`PermissionNotFoundError`) `_tag`.
    let error = wire::answer_error(body);
    match error.name {
        Some("UnknownError") => Some(
            match error.message {
                Some(m) => format!("an opaque UnknownError ({})", first_line(m)),
                None => "an opaque UnknownError".into(),
            },
        ),
        Some(n) if !n.is_empty() => None,
        _ => Some("its body names no error".into()),
    }
}

fn first_line(s: &str) -> String {
    let l = s.lines().next().unwrap_or("");
    if l.chars().count() > 80 {
        format!("{}...", l.chars().take(80).collect::<String>())
    } else {
        l.to_string()
    }
}

/// A `session.error` for the session near the failed answer that names what failed.
fn explained_by_session_error<'a>(
    tl: &'a Timeline,
    http: &Entry,
    elapsed_ms: f64,
) -> Option<&'a Entry> {
    let sid = tl.session_id.as_deref()?;
    let from = http.at_ms - elapsed_ms.max(0.0) - 50.0;
    let to = http.at_ms + SESSION_ERROR_WINDOW_MS;
    session_events(tl, sid, EventStream::Global)
        .filter(|e| e.at() >= from && e.at() <= to)
        .find(|e| match e.event() {
            Event::SessionError(err) => err.name.is_some_and(|n| !n.is_empty() && n != "UnknownError"),
            _ => false,
        })
        .map(|e| e.entry)
}

/// Every 5xx answer the harness got is a typed error (or is explained by a typed
/// `session.error` for the session).
pub fn errors_are_typed(tl: &Timeline) -> CheckResult {
    let check = ERRORS_ARE_TYPED;
    let mut answered = 0usize;
    let mut failed = 0usize;
    let mut problems = Vec::new();
    let mut seqs = Vec::new();
    for e in &tl.entries {
        let Observation::Http {
            method,
            path,
            status,
            body,
            elapsed_ms,
            ..
        } = &e.obs
        else {
            continue;
        };
        if *status == 0 {
            continue;
        }
        answered += 1;
        if *status < 500 {
            continue;
        }
        failed += 1;
        let Some(why) = opaque(body) else { continue };
        if explained_by_session_error(tl, e, *elapsed_ms).is_some() {
            continue;
        }
        problems.push(format!(
            "{method} {} answered {status} at {}: {why}",
            path_only(path),
            ms(e.at_ms)
        ));
        seqs.push(e.seq);
    }
    if answered == 0 {
        return CheckResult::error(
            check,
            "no answered HTTP request was recorded: nothing to judge",
        );
    }
    if problems.is_empty() {
        CheckResult::pass(
            check,
            format!("{failed} of {answered} HTTP answer(s) were 5xx, all typed"),
        )
    } else {
        CheckResult::fail(
            check,
            format!(
                "{}; no session.error for the session named the failure",
                join_problems(&problems)
            ),
            witness(seqs),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TimelineBuilder, SESSION};
    use crate::Verdict;
    use serde_json::json;

    fn command_path() -> String {
        format!("/session/{SESSION}/command")
    }

    #[test]
    fn passes_on_typed_errors_and_no_errors() {
        let mut b = TimelineBuilder::new();
        b.http("POST", "/session", 200, json!({"id": SESSION}));
        assert_eq!(errors_are_typed(&b.build()).verdict, Verdict::Pass);
        b.at(10.0).http(
            "POST",
            &command_path(),
            500,
            json!({"name": "ProviderAuthError", "data": {"message": "no key"}}),
        );
        let r = errors_are_typed(&b.build());
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert_eq!(r.message, "1 of 2 HTTP answer(s) were 5xx, all typed");
    }

    #[test]
    fn fails_on_unknown_error() {
        // Seed 002: a thrown command.execute.before.
        let mut b = TimelineBuilder::new();
        b.at(850.0).http("POST", &command_path(), 500, json!({"name": "UnknownError",
            "data": {"message": "Unexpected server error. Check server logs for details.", "ref": "err_3d01af9c"}}));
        let r = errors_are_typed(&b.build());
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.witness, vec![0]);
        assert!(r.message.starts_with(
            "POST /session/ses_test/command answered 500 at 850 ms: an opaque UnknownError (Unexpected server error."),
            "{}", r.message);
    }

    #[test]
    fn fails_on_a_leaked_stack_trace() {
        let mut b = TimelineBuilder::new();
        b.http("POST", &command_path(), 500,
            json!("Error: boom from hook\n    at command.execute.before (/p/.opencode/plugin/cmd.js:12:59)"));
        let r = errors_are_typed(&b.build());
        assert_eq!(r.verdict, Verdict::Fail);
        assert!(r.message.contains("leaks a stack trace"), "{}", r.message);
        // Even under a typed name.
        let mut b = TimelineBuilder::new();
        b.http(
            "POST",
            &command_path(),
            502,
            json!({"name": "HookError", "data": {"message": "boom at cmd.ts:12"}}),
        );
        assert_eq!(errors_are_typed(&b.build()).verdict, Verdict::Fail);
        // And an empty body names nothing.
        let mut b = TimelineBuilder::new();
        b.http("GET", "/x", 503, json!(""));
        assert_eq!(errors_are_typed(&b.build()).verdict, Verdict::Fail);
    }

    #[test]
    fn a_stack_in_a_list_and_an_empty_name_fail() {
        // A frame inside an array of the body is as leaked as one in a string field.
        let mut b = TimelineBuilder::new();
        b.http("POST", &command_path(), 500,
            json!({"name": "HookError", "data": {"causes": ["boom", "    at run (/p/plugin/cmd.js:3:7)"]}}));
        let r = errors_are_typed(&b.build());
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("leaks a stack trace"), "{}", r.message);
        // An empty name types nothing.
        let mut b = TimelineBuilder::new();
        b.http("POST", &command_path(), 500, json!({"name": "", "data": {"message": "x"}}));
        let r = errors_are_typed(&b.build());
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("500 at 0 ms: its body names no error"), "{}", r.message);
    }

    #[test]
    fn an_unknown_errors_message_is_quoted_by_its_first_line_up_to_80_characters() {
        let said = |message: &str| {
            let mut b = TimelineBuilder::new();
            b.http("POST", &command_path(), 500, json!({"name": "UnknownError", "data": {"message": message}}));
            errors_are_typed(&b.build()).message
        };
        let eighty = "é".repeat(80);
        let m = said(&format!("{eighty}\nmore"));
        assert!(m.contains(&format!("an opaque UnknownError ({eighty});")), "{m}");
        let m = said(&format!("{eighty}x"));
        assert!(m.contains(&format!("an opaque UnknownError ({eighty}...);")), "{m}");
        assert!(said("short").contains("an opaque UnknownError (short);"));
    }

    /// The session.error may come while the request was still waiting for its answer, from
    /// 50 ms before the request was sent.
    #[test]
    fn a_session_error_explains_from_just_before_the_request_was_sent() {
        let verdict = |error_at: f64| {
            let mut b = TimelineBuilder::new();
            b.at(error_at).session_error("ProviderModelNotFoundError");
            // Sent at 500, answered at 1000.
            b.at(1000.0).push(Observation::Http {
                method: "POST".into(),
                path: command_path(),
                step: None,
                status: 500,
                body: json!({"name": "UnknownError"}),
                elapsed_ms: 500.0,
                error: None,
            });
            errors_are_typed(&b.build()).verdict
        };
        assert_eq!(verdict(460.0), Verdict::Pass);
        assert_eq!(verdict(440.0), Verdict::Fail);
    }

    #[test]
    fn a_typed_session_error_explains_the_failure() {
        let mut b = TimelineBuilder::new();
        b.at(100.0).http(
            "POST",
            &command_path(),
            500,
            json!({"name": "UnknownError"}),
        );
        b.at(300.0).session_error("ProviderModelNotFoundError");
        assert_eq!(errors_are_typed(&b.build()).verdict, Verdict::Pass);
        // Too late, or untyped itself: no explanation.
        let mut b = TimelineBuilder::new();
        b.at(100.0).http(
            "POST",
            &command_path(),
            500,
            json!({"name": "UnknownError"}),
        );
        b.at(300.0).session_error("UnknownError");
        b.at(5000.0).session_error("ProviderModelNotFoundError");
        assert_eq!(errors_are_typed(&b.build()).verdict, Verdict::Fail);
    }

    #[test]
    fn needs_an_answered_request() {
        let r = errors_are_typed(&TimelineBuilder::new().status("idle").build());
        assert_eq!(r.verdict, Verdict::Error);
    }
}

pub const SESSION_ERROR_REPORTED: &str = "session-error-reported";

/// A `session.error` for the session on the event stream (named `name`, when given): how a
/// client learns a turn failed (a provider error, an abort).
pub fn session_error_reported(tl: &Timeline, name: Option<&str>) -> CheckResult {
    let check = SESSION_ERROR_REPORTED;
    let sid = match super::session_of(check, tl) {
        Ok(s) => s,
        Err(e) => return e,
    };
    // A `session.error` may name no session (a plugin that failed to load): it counts.
    let errors: Vec<(&Entry, ErrorInfo)> = tl
        .events(EventStream::Global)
        .filter(|(_, _, p)| wire::session_of(p).is_none_or(|s| s == sid))
        .filter_map(|(e, ty, p)| match wire::decode(ty, p) {
            Event::SessionError(err) => Some((e, err)),
            _ => None,
        })
        .collect();
    let named = |p: &ErrorInfo| p.name.unwrap_or("(unnamed)").to_string();
    let describe = |p: &ErrorInfo| {
        let msg = p.message.unwrap_or("");
        format!("{} ({})", named(p), first_line(msg))
    };
    match errors.iter().find(|(_, p)| name.is_none_or(|n| named(p) == n)) {
        Some((e, p)) => CheckResult::pass(check, format!("session.error {} at {}", describe(p), ms(e.at_ms))),
        None if !errors.is_empty() => CheckResult::fail(
            check,
            format!(
                "session.error came, but not {}: {}",
                name.unwrap_or("any"),
                errors.iter().map(|(_, p)| describe(p)).collect::<Vec<_>>().join(", ")
            ),
            errors.iter().map(|(e, _)| e.seq).collect(),
        ),
        None if tl.events(EventStream::Global).next().is_none() => CheckResult::error(
            check,
            "no event at all was observed on /global/event: the stream may be blind",
        ),
        None => CheckResult::fail(
            check,
            format!("no session.error for {sid} was published: the client is not told the turn failed"),
            vec![],
        ),
    }
}

#[cfg(test)]
mod session_error_tests {
    use super::*;
    use crate::testing::TimelineBuilder;
    use crate::Verdict;

    #[test]
    fn a_named_session_error_passes_another_fails_none_fails() {
        let mut b = TimelineBuilder::new();
        b.at(10.0).event_status("busy").at(20.0).session_error("APIError");
        let tl = b.build();
        assert_eq!(session_error_reported(&tl, None).verdict, Verdict::Pass);
        assert_eq!(session_error_reported(&tl, Some("APIError")).verdict, Verdict::Pass);
        let other = session_error_reported(&tl, Some("MessageAbortedError"));
        assert_eq!(other.verdict, Verdict::Fail);
        assert_eq!(other.witness.len(), 1);

        let mut quiet = TimelineBuilder::new();
        quiet.at(10.0).event_status("busy").at(20.0).event_status("idle");
        assert_eq!(session_error_reported(&quiet.build(), None).verdict, Verdict::Fail);
        assert_eq!(session_error_reported(&TimelineBuilder::new().build(), None).verdict, Verdict::Error);
    }
}
