//! Pending requests (the question tool's questions, permissions): once something ends
//! the wait (an abort, a dispose), a client must learn of it from an event and find the
//! request gone from `GET /question` (or `/permission`); and a request a plugin decided
//! is never left for the user at all.

use super::session_of;
use super::view::{harness_notes, join_problems, ms, witness};
use crate::wire::{self, RequestStep};
use crate::{CheckResult, Entry, EventStream, Observation, Timeline};
use oc_conform_scenario::RequestKind;

pub const REQUEST_RESOLVED: &str = "request-resolved";
pub const REQUEST_NOT_PENDING: &str = "request-not-pending";
pub const REQUEST_NEVER_ASKED: &str = "request-never-asked";

/// What the global event stream said of the session's requests of `kind`, in order.
fn request_steps<'a>(tl: &'a Timeline, sid: &str, kind: RequestKind) -> Vec<(&'a Entry, RequestStep<'a>)> {
    tl.events(EventStream::Global)
        .filter(|(_, _, p)| wire::session_of(p).is_none_or(|s| s == sid))
        .filter_map(|(e, ty, p)| wire::decode(ty, p).request_step(kind).map(|r| (e, r)))
        .collect()
}

/// The first ask of each request, in order.
fn asked<'a>(steps: &[(&'a Entry, RequestStep<'a>)]) -> Vec<(&'a Entry, &'a str)> {
    let mut out: Vec<(&Entry, &str)> = Vec::new();
    for (e, s) in steps {
        if let RequestStep::Asked(id) = s {
            if !out.iter().any(|(_, seen)| seen == id) {
                out.push((e, id));
            }
        }
    }
    out
}

/// The pending lists of `kind` the timeline recorded: answers to `GET /question` (or
/// `/permission`) from steps, and for permissions the harness's own poll.
fn listings(tl: &Timeline, kind: RequestKind) -> Vec<(&Entry, Vec<String>)> {
    let route = format!("/{}", kind.name());
    tl.entries
        .iter()
        .filter_map(|e| match &e.obs {
            Observation::Http {
                method,
                path,
                status: 200,
                body,
                ..
            } if method.eq_ignore_ascii_case("GET") && path.split('?').next() == Some(route.as_str()) => {
                Some((e, wire::pending_request_ids(body)))
            }
            Observation::PendingPermissions { ids } if kind == RequestKind::Permission => Some((e, ids.clone())),
            _ => None,
        })
        .collect()
}

/// The session's request events of `kind`, or the Error of a check with nothing to
/// judge (no session, or nothing asked).
fn steps_of_asked<'a>(check: &str, tl: &'a Timeline, kind: RequestKind) -> Result<Vec<(&'a Entry, RequestStep<'a>)>, CheckResult> {
    let sid = session_of(check, tl)?;
    let steps = request_steps(tl, sid, kind);
    if asked(&steps).is_empty() {
        return Err(CheckResult::error(
            check,
            format!("no {} was asked for {sid}: nothing to judge{}", kind.name(), harness_notes(tl)),
        ));
    }
    Ok(steps)
}

/// Every request of `kind` asked for the session was resolved by an event a client sees.
pub fn request_resolved(tl: &Timeline, kind: RequestKind) -> CheckResult {
    let check = REQUEST_RESOLVED;
    let steps = match steps_of_asked(check, tl, kind) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let asked = asked(&steps);
    let k = kind.name();
    let resolution = |id: &str, after: u64| {
        steps
            .iter()
            .find(|(e, s)| e.seq > after && *s == RequestStep::Resolved(id))
            .map(|(e, _)| *e)
    };
    let mut problems = Vec::new();
    let mut seqs = Vec::new();
    let mut resolved = Vec::new();
    for (e, id) in &asked {
        match resolution(id, e.seq) {
            Some(r) => resolved.push(format!("{id} at {}", ms(r.at_ms))),
            None => {
                problems.push(format!(
                    "{k} {id} asked at {} was never resolved by an event (no {}) by the end of the run at {}",
                    ms(e.at_ms),
                    resolution_names(kind),
                    ms(tl.end_ms())
                ));
                seqs.extend(last_step_before_end(tl).into_iter().chain([e.seq]));
            }
        }
    }
    if problems.is_empty() {
        CheckResult::pass(check, format!("every {k} asked was resolved by an event: {}", resolved.join(", ")))
    } else {
        CheckResult::fail(check, join_problems(&problems), witness(seqs))
    }
}

fn resolution_names(kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::Question => "question.replied or question.rejected for it",
        RequestKind::Permission => "permission.replied for it",
    }
}

/// The last action step played (what ended the wait: an abort, a dispose), as a witness.
fn last_step_before_end(tl: &Timeline) -> Option<u64> {
    tl.entries
        .iter()
        .filter(|e| matches!(&e.obs, Observation::Step { name, .. } if name == "abort" || name == "dispose"))
        .map(|e| e.seq)
        .next_back()
}

/// The last pending list recorded after the request was asked does not list it.
pub fn request_not_pending(tl: &Timeline, kind: RequestKind) -> CheckResult {
    let check = REQUEST_NOT_PENDING;
    let steps = match steps_of_asked(check, tl, kind) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let k = kind.name();
    let asked = asked(&steps);
    let Some((first, _)) = asked.first() else {
        return CheckResult::error(check, format!("no {k} was asked"));
    };
    let Some((list, ids)) = listings(tl, kind).into_iter().rev().find(|(e, _)| e.seq > first.seq) else {
        return CheckResult::error(
            check,
            format!(
                "no GET /{k} answer was recorded after the {k} was asked at {}: add an `http` step `GET /{k}` after the abort or dispose",
                ms(first.at_ms)
            ),
        );
    };
    let still: Vec<&(&Entry, &str)> = asked.iter().filter(|(_, id)| ids.iter().any(|x| x == id)).collect();
    if still.is_empty() {
        return CheckResult::pass(
            check,
            format!(
                "GET /{k} at {} no longer listed {}",
                ms(list.at_ms),
                asked.iter().map(|(_, id)| *id).collect::<Vec<_>>().join(", ")
            ),
        );
    }
    let problems: Vec<String> = still
        .iter()
        .map(|(e, id)| format!("GET /{k} at {} still listed {id} (asked at {})", ms(list.at_ms), ms(e.at_ms)))
        .collect();
    CheckResult::fail(
        check,
        join_problems(&problems),
        witness(still.iter().map(|(e, _)| e.seq).chain([list.seq])),
    )
}

/// No request of `kind` was asked for the session: no asked event, and every recorded
/// pending list (at least one) is empty.
pub fn request_never_asked(tl: &Timeline, kind: RequestKind) -> CheckResult {
    let check = REQUEST_NEVER_ASKED;
    let sid = match session_of(check, tl) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let k = kind.name();
    if let Some((e, id)) = asked(&request_steps(tl, sid, kind)).first() {
        return CheckResult::fail(
            check,
            format!("{k} {id} was asked of the user at {}", ms(e.at_ms)),
            vec![e.seq],
        );
    }
    let lists = listings(tl, kind);
    if let Some((e, ids)) = lists.iter().find(|(_, ids)| !ids.is_empty()) {
        return CheckResult::fail(
            check,
            format!("GET /{k} listed {} at {} (no asked event was seen)", ids.join(", "), ms(e.at_ms)),
            vec![e.seq],
        );
    }
    if lists.is_empty() {
        return CheckResult::error(
            check,
            format!("no GET /{k} answer was recorded: cannot tell that nothing was pending{}", harness_notes(tl)),
        );
    }
    CheckResult::pass(
        check,
        format!("no {k} was asked, and {} recorded GET /{k} answer(s) listed none", lists.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TimelineBuilder, SESSION};
    use crate::{StepPhase, Verdict};
    use serde_json::json;

    fn asked_question(b: &mut TimelineBuilder, id: &str) {
        b.event("question.asked", json!({"id": id, "sessionID": SESSION}));
    }

    #[test]
    fn a_question_dropped_by_a_dispose_is_not_resolved() {
        let mut b = TimelineBuilder::new();
        asked_question(&mut b, "que_1");
        b.at(500.0).step("dispose", StepPhase::Started);
        b.at(3000.0).http("GET", "/question", 200, json!([]));
        let tl = b.build();
        let r = request_resolved(&tl, RequestKind::Question);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("question que_1 asked at"), "{}", r.message);
        assert_eq!(r.witness.len(), 2, "the ask and the dispose: {r:?}");
        // Gone from the list, all the same.
        assert_eq!(request_not_pending(&tl, RequestKind::Question).verdict, Verdict::Pass);
    }

    #[test]
    fn a_rejection_resolves_a_question_and_a_reply_a_permission() {
        let mut b = TimelineBuilder::new();
        asked_question(&mut b, "que_1");
        b.at(400.0)
            .event("question.rejected", json!({"requestID": "que_1", "sessionID": SESSION}));
        assert_eq!(request_resolved(&b.build(), RequestKind::Question).verdict, Verdict::Pass);

        let mut b = TimelineBuilder::new();
        b.event("permission.asked", json!({"id": "per_1", "sessionID": SESSION}));
        b.at(400.0).event(
            "permission.replied",
            json!({"requestID": "per_1", "reply": "reject", "sessionID": SESSION}),
        );
        let tl = b.build();
        assert_eq!(request_resolved(&tl, RequestKind::Permission).verdict, Verdict::Pass);
        // A question check finds nothing asked in a permission story: no verdict.
        assert_eq!(request_resolved(&tl, RequestKind::Question).verdict, Verdict::Error);
    }

    /// que_1 asked at 0 ms, que_2 at 100 ms.
    fn two_questions_asked() -> TimelineBuilder {
        let mut b = TimelineBuilder::new();
        asked_question(&mut b, "que_1");
        b.at(100.0);
        asked_question(&mut b, "que_2");
        b
    }

    #[test]
    fn each_request_is_judged_once_however_often_it_was_asked() {
        let mut b = two_questions_asked();
        b.at(150.0);
        asked_question(&mut b, "que_1");
        b.at(400.0).event("question.replied", json!({"requestID": "que_1", "sessionID": SESSION}));
        b.at(450.0).event("question.rejected", json!({"requestID": "que_2", "sessionID": SESSION}));
        let r = request_resolved(&b.build(), RequestKind::Question);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert_eq!(r.message, "every question asked was resolved by an event: que_1 at 400 ms, que_2 at 450 ms");
    }

    #[test]
    fn only_the_requests_own_resolution_resolves_it() {
        // que_2 is answered after que_1 was asked; que_1 never is, though the run aborts.
        let mut b = two_questions_asked();
        b.at(300.0).step("abort", StepPhase::Started);
        let abort = b.last();
        b.at(400.0).event("question.replied", json!({"requestID": "que_2", "sessionID": SESSION}));
        let r = request_resolved(&b.build(), RequestKind::Question);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert_eq!(
            r.message,
            "question que_1 asked at 0 ms was never resolved by an event (no question.replied or question.rejected for it) by the end of the run at 400 ms"
        );
        assert_eq!(r.witness, vec![0, abort], "the ask and the abort that ended the wait");
        let mut b = TimelineBuilder::new();
        b.event("permission.asked", json!({"id": "per_1", "sessionID": SESSION}));
        let r = request_resolved(&b.build(), RequestKind::Permission);
        assert!(r.message.contains("(no permission.replied for it)"), "{}", r.message);
    }

    /// A pending list is an answered `GET /question` (query allowed) or `GET /permission`,
    /// or for permissions the harness's own poll; no other request tells what is pending.
    #[test]
    fn only_a_get_of_the_kinds_route_is_a_pending_list() {
        let mut b = TimelineBuilder::new();
        b.http("GET", "/session", 200, json!([]));
        b.http("POST", "/question", 200, json!([]));
        b.pending(&[]);
        let r = request_never_asked(&b.build(), RequestKind::Question);
        assert_eq!(r.verdict, Verdict::Error, "{r:?}");
        b.http("get", "/question?directory=/w", 200, json!([]));
        let r = request_never_asked(&b.build(), RequestKind::Question);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert!(r.message.ends_with("1 recorded GET /question answer(s) listed none"), "{}", r.message);
    }

    #[test]
    fn a_request_still_listed_after_the_abort_is_pending() {
        let mut b = TimelineBuilder::new();
        b.pending(&[]);
        b.at(100.0)
            .event("permission.asked", json!({"id": "per_1", "sessionID": SESSION}));
        b.at(150.0).pending(&["per_1"]);
        let tl = b.build();
        let r = request_not_pending(&tl, RequestKind::Permission);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("still listed per_1"), "{}", r.message);
        // Without a listing after the ask there is no verdict.
        let mut b = TimelineBuilder::new();
        asked_question(&mut b, "que_1");
        assert_eq!(request_not_pending(&b.build(), RequestKind::Question).verdict, Verdict::Error);
    }

    #[test]
    fn a_request_never_asked_needs_a_listing_and_no_ask() {
        let mut b = TimelineBuilder::new();
        b.pending(&[]);
        assert_eq!(request_never_asked(&b.build(), RequestKind::Permission).verdict, Verdict::Pass);
        // The old releases' name for the ask counts.
        b.at(200.0)
            .event("permission.updated", json!({"id": "per_9", "sessionID": SESSION}));
        let r = request_never_asked(&b.build(), RequestKind::Permission);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("per_9"), "{}", r.message);
        // Nothing recorded at all: no verdict, never a pass.
        let b = TimelineBuilder::new();
        assert_eq!(request_never_asked(&b.build(), RequestKind::Permission).verdict, Verdict::Error);
    }
}
