//! Subagents: the child sessions the `task` tool starts, and the model requests they
//! leave open. Once the parent session has ended (an abort, say), its children must end
//! too: idle on `GET /session/status` and on the event stream, their model requests closed.

use super::session_of;
use super::view::{harness_notes, join_problems, ms, signals, stream_events, teardown_started, witness, Phase, StatusHistory};
use crate::wire::Event;
use crate::{CheckResult, EventStream, ModelAnswerEnd, Observation, Timeline};

pub const SUBAGENTS_END_IDLE: &str = "subagents-end-idle";
pub const MODEL_REQUESTS_CLOSED: &str = "model-requests-closed";

/// A child session of `sid`: its id and the `session.created` entry that announced it.
fn children<'a>(tl: &'a Timeline, sid: &str) -> Vec<(&'a str, u64)> {
    let mut out: Vec<(&str, u64)> = Vec::new();
    for ev in stream_events(tl, EventStream::Global) {
        if let Event::SessionCreated { id: Some(id), parent: Some(parent) } = ev.event() {
            if parent == sid && !out.iter().any(|(c, _)| *c == id) {
                out.push((id, ev.seq()));
            }
        }
    }
    out
}

/// When the parent's turn ended for good: its final idle on `GET /session/status`, and
/// the entry that shows it. None while it never ended idle.
fn parent_final_idle<'a>(tl: &'a Timeline, sid: &str) -> Option<(f64, u64)> {
    let (_, idle) = StatusHistory::of(tl, sid).final_turn()?;
    idle.map(|p| (p.at(), p.seq()))
}

/// Every child session of the scenario's session is idle `grace_ms` after the parent's
/// final idle (or, when the parent never ended idle, at the teardown), on the HTTP
/// status and on the event stream, and turns busy no more.
pub fn subagents_end_idle(tl: &Timeline, grace_ms: u64) -> CheckResult {
    let check = SUBAGENTS_END_IDLE;
    let sid = match session_of(check, tl) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let kids = children(tl, sid);
    if kids.is_empty() {
        return CheckResult::error(
            check,
            format!(
                "no child session of {sid} was announced (no session.created with parentID {sid} on /global/event): the task tool started no subagent{}",
                harness_notes(tl)
            ),
        );
    }
    let (from, from_what, mut seqs) = match parent_final_idle(tl, sid) {
        Some((at, seq)) => (at, format!("the parent's final idle at {}", ms(at)), vec![seq]),
        None => match teardown_started(tl) {
            Some(e) => (e.at_ms, format!("the teardown at {} (the parent never ended idle)", ms(e.at_ms)), vec![e.seq]),
            None => (tl.end_ms(), "the end of the run (the parent never ended idle)".to_string(), vec![]),
        },
    };
    let by = from + grace_ms as f64;
    let mut problems = Vec::new();
    for (child, created) in &kids {
        let hist = StatusHistory::of(tl, child);
        let sigs = signals(tl, child, EventStream::Global);
        if hist.is_empty() && sigs.is_empty() {
            problems.push(format!("nothing was observed of child {child}'s status (no GET /session/status entry, no status event)"));
            seqs.push(*created);
            continue;
        }
        if let Some(p) = hist.at(by).filter(|p| p.is_busy()) {
            problems.push(format!(
                "child {child} was still {} on GET /session/status {grace_ms} ms after {from_what} (since {})",
                p.status,
                ms(p.at())
            ));
            seqs.extend([*created, p.seq()]);
        }
        if let Some(p) = hist.next_after(by, |p| p.is_busy()) {
            problems.push(format!("child {child} turned {} again on GET /session/status at {}", p.status, ms(p.at())));
            seqs.extend([*created, p.seq()]);
        }
        if let Some(last) = sigs.last().filter(|s| s.phase == Phase::Busy) {
            problems.push(format!("the last status event of child {child} was busy ({})", last.describe()));
            seqs.extend(std::iter::once(*created).chain(last.seqs()));
        } else if let Some(late) = sigs.iter().find(|s| s.phase == Phase::Busy && s.at() > by) {
            problems.push(format!("child {child} was announced busy again after {from_what} ({})", late.describe()));
            seqs.extend(std::iter::once(*created).chain(late.seqs()));
        }
    }
    let names: Vec<&str> = kids.iter().map(|(c, _)| *c).collect();
    if problems.is_empty() {
        CheckResult::pass(
            check,
            format!(
                "{} child session(s) of {sid} ({}) were idle {grace_ms} ms after {from_what} and stayed idle",
                kids.len(),
                names.join(", ")
            ),
        )
    } else {
        CheckResult::fail(check, join_problems(&problems), witness(seqs))
    }
}

/// No answer of the fake model is still open `grace_ms` after the session's final idle.
pub fn model_requests_closed(tl: &Timeline, grace_ms: u64) -> CheckResult {
    let check = MODEL_REQUESTS_CLOSED;
    let sid = match session_of(check, tl) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some((idle_at, idle_seq)) = parent_final_idle(tl, sid) else {
        return CheckResult::error(
            check,
            format!("{sid} never ended idle on GET /session/status: there is no moment by which its requests had to be closed (status-reaches-idle judges that)"),
        );
    };
    let by = idle_at + grace_ms as f64;
    let mut requests: Vec<(u32, &crate::Entry)> = Vec::new();
    let mut ends: std::collections::BTreeMap<u32, (ModelAnswerEnd, &crate::Entry)> = Default::default();
    for e in &tl.entries {
        match &e.obs {
            Observation::ModelRequest { index, .. } => requests.push((*index, e)),
            Observation::ModelAnswerEnded { index, end } => {
                ends.entry(*index).or_insert((*end, e));
            }
            _ => {}
        }
    }
    if requests.is_empty() {
        return CheckResult::error(check, "no request reached the fake model: nothing to judge");
    }
    if ends.is_empty() {
        return CheckResult::error(
            check,
            "the timeline records no model answer's end (recorded by a harness that did not note them): open requests cannot be told from closed ones",
        );
    }
    let mut problems = Vec::new();
    let mut seqs = vec![idle_seq];
    let mut closed_near_idle = Vec::new();
    for (index, req) in &requests {
        if req.at_ms > by {
            continue;
        }
        match ends.get(index) {
            Some((ModelAnswerEnd::OpenAtShutdown, end)) => {
                problems.push(format!(
                    "model request #{index} (from {}) was still open when the fake model shut down at {}, {} after the final idle at {}",
                    ms(req.at_ms),
                    ms(end.at_ms),
                    ms(end.at_ms - idle_at),
                    ms(idle_at)
                ));
                seqs.extend([req.seq, end.seq]);
            }
            Some((how, end)) if end.at_ms > by => {
                problems.push(format!(
                    "model request #{index} (from {}) was {} only at {}, {} after the final idle at {}",
                    ms(req.at_ms),
                    how.as_str(),
                    ms(end.at_ms),
                    ms(end.at_ms - idle_at),
                    ms(idle_at)
                ));
                seqs.extend([req.seq, end.seq]);
            }
            Some((how, end)) => {
                if end.at_ms > idle_at - 1000.0 && *how == ModelAnswerEnd::ClosedByClient {
                    closed_near_idle.push(format!("#{index} closed by the client at {}", ms(end.at_ms)));
                }
            }
            None => {
                problems.push(format!(
                    "model request #{index} (from {}) has no recorded end: it was open when the run ended",
                    ms(req.at_ms)
                ));
                seqs.push(req.seq);
            }
        }
    }
    if problems.is_empty() {
        let around = if closed_near_idle.is_empty() {
            String::new()
        } else {
            format!(" ({})", closed_near_idle.join(", "))
        };
        CheckResult::pass(
            check,
            format!(
                "every model request had ended within {grace_ms} ms of the final idle at {}{around}",
                ms(idle_at)
            ),
        )
    } else {
        CheckResult::fail(check, join_problems(&problems), witness(seqs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TimelineBuilder, SESSION};
    use crate::{ModelRequestKind, Verdict};
    use serde_json::json;

    const CHILD: &str = "ses_child";

    fn child_status(b: &mut TimelineBuilder, status: &str) {
        b.push(Observation::Status {
            session_id: CHILD.into(),
            status: status.into(),
        });
    }

    fn child_event(b: &mut TimelineBuilder, status: &str) {
        b.event("session.status", json!({"sessionID": CHILD, "status": {"type": status}}));
    }

    /// The parent calls the task tool, the child starts and goes busy, the client aborts
    /// the parent at 2000 ms and the parent is idle at 2050 ms.
    fn parent_with_child() -> TimelineBuilder {
        let mut b = TimelineBuilder::new();
        b.at(100.0).status("busy").event_status("busy");
        b.at(500.0)
            .event("session.created", json!({"info": {"id": CHILD, "parentID": SESSION, "title": "x"}}));
        b.at(600.0);
        child_status(&mut b, "busy");
        child_event(&mut b, "busy");
        b.at(2050.0).idle_events().status("idle");
        b
    }

    #[test]
    fn a_child_that_ends_with_its_parent_passes() {
        let mut b = parent_with_child();
        // A second announcement of the same child does not make two.
        b.at(700.0)
            .event("session.created", json!({"info": {"id": CHILD, "parentID": SESSION, "title": "x"}}));
        b.at(2080.0);
        child_event(&mut b, "idle");
        child_status(&mut b, "idle");
        let r = subagents_end_idle(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert!(r.message.starts_with("1 child session(s) of ses_test (ses_child) were idle"), "{}", r.message);
    }

    #[test]
    fn a_child_left_busy_fails_on_both_observers() {
        let tl = parent_with_child().build();
        let r = subagents_end_idle(&tl, 3500);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("still busy on GET /session/status"), "{}", r.message);
        assert!(r.message.contains("last status event of child"), "{}", r.message);
        // The witness holds the child's creation and its busy.
        let created = tl.entries.iter().find(|e| matches!(&e.obs, Observation::Event { event_type, .. } if event_type == "session.created")).unwrap();
        assert!(r.witness.contains(&created.seq), "{:?}", r.witness);
    }

    #[test]
    fn a_child_idle_only_after_the_grace_fails() {
        let mut b = parent_with_child();
        b.at(9000.0);
        child_event(&mut b, "idle");
        child_status(&mut b, "idle");
        let r = subagents_end_idle(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("3500 ms after the parent's final idle at 2050 ms"), "{}", r.message);
    }

    #[test]
    fn a_child_that_wakes_again_fails() {
        let mut b = parent_with_child();
        b.at(2080.0);
        child_event(&mut b, "idle");
        child_status(&mut b, "idle");
        b.at(7000.0);
        child_status(&mut b, "busy");
        b.at(7100.0);
        child_status(&mut b, "idle");
        let r = subagents_end_idle(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("turned busy again"), "{}", r.message);
    }

    /// A child whose status only the event stream showed is judged by its events.
    #[test]
    fn a_child_seen_only_on_the_event_stream_is_judged_by_it() {
        let judged = |child_events: &[(f64, &str)]| {
            let mut b = TimelineBuilder::new();
            b.at(100.0).status("busy").event_status("busy");
            b.at(500.0)
                .event("session.created", json!({"info": {"id": CHILD, "parentID": SESSION, "title": "x"}}));
            b.at(2050.0).idle_events().status("idle");
            for &(at, status) in child_events {
                b.at(at);
                child_event(&mut b, status);
            }
            subagents_end_idle(&b.build(), 3500)
        };
        // Idle by 5550 ms; a repeated idle after it changes nothing.
        let r = judged(&[(600.0, "busy"), (2080.0, "idle"), (6000.0, "idle")]);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        let r = judged(&[(600.0, "busy"), (2080.0, "idle"), (7000.0, "busy"), (7100.0, "idle")]);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("was announced busy again after the parent's final idle"), "{}", r.message);
        // "After" is strictly after 5550 ms (final idle + grace).
        let r = judged(&[(600.0, "busy"), (2080.0, "idle"), (5550.0, "busy"), (5600.0, "idle")]);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }

    #[test]
    fn no_child_or_another_sessions_child_is_no_verdict() {
        let mut b = TimelineBuilder::new();
        b.at(100.0).status("busy").at(900.0).status("idle");
        b.event("session.created", json!({"info": {"id": CHILD, "parentID": "ses_other"}}));
        b.event("session.created", json!({"info": {"id": "ses_top"}}));
        let r = subagents_end_idle(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Error, "{r:?}");
    }

    fn with_requests(b: &mut TimelineBuilder) {
        // #0 the parent's turn (sent), #1 the title (sent), #2 the child's hung request.
        b.at(50.0).model_request(ModelRequestKind::Turn);
        b.at(60.0).push(Observation::ModelAnswerEnded { index: 0, end: ModelAnswerEnd::Sent });
        b.at(70.0).model_request(ModelRequestKind::Title);
        b.at(80.0).push(Observation::ModelAnswerEnded { index: 1, end: ModelAnswerEnd::Sent });
        b.at(550.0).model_request(ModelRequestKind::Turn);
    }

    #[test]
    fn a_request_closed_with_the_abort_passes() {
        let mut b = TimelineBuilder::new();
        with_requests(&mut b);
        b.at(100.0).status("busy");
        b.at(2040.0).push(Observation::ModelAnswerEnded { index: 2, end: ModelAnswerEnd::ClosedByClient });
        b.at(2050.0).status("idle");
        let r = model_requests_closed(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert!(r.message.contains("#2 closed by the client at 2040 ms"), "{}", r.message);
    }

    #[test]
    fn a_request_held_open_past_the_idle_fails_with_its_witness() {
        let mut b = TimelineBuilder::new();
        with_requests(&mut b);
        b.at(100.0).status("busy");
        b.at(2050.0).status("idle");
        b.at(30_000.0).push(Observation::ModelAnswerEnded { index: 2, end: ModelAnswerEnd::OpenAtShutdown });
        let tl = b.build();
        let r = model_requests_closed(&tl, 3500);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("#2") && r.message.contains("still open when the fake model shut down"), "{}", r.message);
        let last = tl.entries.last().unwrap().seq;
        assert!(r.witness.contains(&last), "{:?}", r.witness);

        // Closed by the client, but long after the idle: also a failure.
        let mut b = TimelineBuilder::new();
        with_requests(&mut b);
        b.at(100.0).status("busy").at(2050.0).status("idle");
        b.at(12_000.0).push(Observation::ModelAnswerEnded { index: 2, end: ModelAnswerEnd::ClosedByClient });
        let r = model_requests_closed(&b.build(), 3500);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("closed by the client only at 12000 ms"), "{}", r.message);
    }

    /// Requests up to the final idle + grace (2050 + 3500 = 5550 ms) must have ended by
    /// then; a client close is named in the pass only from 1000 ms before the idle.
    #[test]
    fn requests_are_judged_up_to_idle_plus_grace() {
        let judged = |more: &dyn Fn(&mut TimelineBuilder)| {
            let mut b = TimelineBuilder::new();
            with_requests(&mut b);
            b.at(100.0).status("busy");
            b.at(2050.0).status("idle");
            more(&mut b);
            model_requests_closed(&b.build(), 3500)
        };
        let end = |b: &mut TimelineBuilder, at: f64, index: u32, end: ModelAnswerEnd| {
            b.at(at).push(Observation::ModelAnswerEnded { index, end });
        };
        let all_ended = "every model request had ended within 3500 ms of the final idle at 2050 ms";
        // #2 closed by the client exactly 1000 ms before the idle; a request after 5550 ms is not judged.
        let r = judged(&|b| {
            end(b, 1050.0, 2, ModelAnswerEnd::ClosedByClient);
            b.at(6000.0).model_request(ModelRequestKind::Turn);
        });
        assert_eq!(r.message, all_ended, "{r:?}");
        // Sent (not closed) near the idle; a request that ended exactly at 5550 ms.
        let r = judged(&|b| {
            end(b, 2040.0, 2, ModelAnswerEnd::Sent);
            b.at(3000.0).model_request(ModelRequestKind::Turn);
            end(b, 5550.0, 3, ModelAnswerEnd::Sent);
        });
        assert_eq!(r.message, all_ended, "{r:?}");
        // A request from exactly 5550 ms with no end is judged.
        let r = judged(&|b| {
            end(b, 2040.0, 2, ModelAnswerEnd::Sent);
            b.at(5550.0).model_request(ModelRequestKind::Turn);
        });
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("model request #3 (from 5550 ms) has no recorded end"), "{}", r.message);
    }

    #[test]
    fn without_answer_ends_or_an_idle_there_is_no_verdict() {
        let mut b = TimelineBuilder::new();
        b.at(50.0).model_request(ModelRequestKind::Turn);
        b.at(100.0).status("busy").at(2050.0).status("idle");
        assert_eq!(model_requests_closed(&b.build(), 3500).verdict, Verdict::Error);

        let mut b = TimelineBuilder::new();
        with_requests(&mut b);
        b.at(100.0).status("busy");
        assert_eq!(model_requests_closed(&b.build(), 3500).verdict, Verdict::Error);
    }
}
