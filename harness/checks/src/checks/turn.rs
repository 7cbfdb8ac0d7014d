//! The turn itself: how it ended, what it stored, what reached the fake model.

use super::session_of;
use super::view::{
    harness_notes, join_problems, message_updates, ms, stored_messages, tool_part_updates,
    witness, StatusHistory,
};
use crate::wire::{self, Message, Part};
use crate::{CheckResult, Entry, EventStream, ModelRequestKind, Observation, StepPhase, Timeline};

pub const TOOL_ENDS_ABORTED: &str = "tool-ends-aborted";
pub const QUIET_AFTER_IDLE: &str = "quiet-after-idle";
pub const NO_MODEL_REQUESTS: &str = "no-model-requests";
pub const MESSAGES_STORED: &str = "messages-stored";
pub const MODEL_SCRIPT_FOLLOWED: &str = "model-script-followed";

const ABORT_ERROR: &str = "MessageAbortedError";

/// How a tool part ended, judged for an abort.
fn judge_tool_part(part: Part) -> Result<String, String> {
    let what = part.describe();
    let status = part.status();
    let aborted = part.mentions_abort();
    match (status, aborted) {
        ("error", true) => Ok(format!("the tool part {what} ended in `error` (aborted)")),
        ("error", false) => Ok(format!("the tool part {what} ended in `error`")),
        // opencode 1.15-1.18 store an aborted bash call as `completed` whose output says
        // "User aborted the command": the call did end by the abort.
        ("completed", true) => Ok(format!(
            "the tool part {what} ended `completed` with an output saying it was aborted"
        )),
        ("completed", false) => Err(format!(
            "the tool part {what} ran to `completed` with no sign of the abort"
        )),
        (s, _) => Err(format!(
            "the tool part {what} was left in state `{s}`: it never ended"
        )),
    }
}

fn judge_message(info: Option<Message>) -> Result<String, String> {
    let Some(info) = info.filter(|i| i.present) else {
        return Err("the assistant message holding the tool part was not found".into());
    };
    match info.error {
        Some(ABORT_ERROR) => Ok(format!("the assistant message carries {ABORT_ERROR}")),
        Some(other) => Err(format!(
            "the assistant message carries `{other}` instead of {ABORT_ERROR}"
        )),
        None => Err("the assistant message carries no error".into()),
    }
}

/// The tool part ends by the abort and the assistant message carries the abort error.
/// The final `GET /session/{id}/message` is the stored truth when recorded; the event
/// stream is the fallback.
pub fn tool_ends_aborted(tl: &Timeline) -> CheckResult {
    let check = TOOL_ENDS_ABORTED;
    let sid = match session_of(check, tl) {
        Ok(s) => s,
        Err(r) => return r,
    };

    if let Some(stored) = stored_messages(tl, sid) {
        if let Some(messages) = &stored.messages {
            let last_tool = messages.iter().rev().find_map(|m| {
                let part = m.parts().rev().find(Part::is_tool)?;
                Some((m.info, part))
            });
            let Some((info, part)) = last_tool else {
                return CheckResult::error(
                    check,
                    format!(
                        "GET /session/{sid}/message at {} holds no tool part: the scenario did not exercise a tool",
                        ms(stored.entry.at_ms)
                    ),
                );
            };
            let source = format!("(GET /session/{sid}/message at {})", ms(stored.entry.at_ms));
            return verdict(
                check,
                judge_tool_part(part),
                judge_message(Some(info)),
                &source,
                vec![stored.entry.seq],
            );
        }
        // A failed read of the stored truth: fall back to the events, and say so.
    }

    let parts = tool_part_updates(tl, sid, EventStream::Global);
    let Some(last) = parts.last() else {
        return CheckResult::error(
            check,
            format!(
                "no tool part for {sid} was observed on /global/event and no final GET /session/{sid}/message was recorded: the scenario did not exercise a tool{}",
                harness_notes(tl)
            ),
        );
    };
    let infos = message_updates(tl, sid, EventStream::Global);
    let msg = infos
        .iter()
        .rev()
        .find(|(_, info)| match last.message_id() {
            Some(id) => info.id == Some(id),
            None => info.role == Some("assistant"),
        });
    let tool = judge_tool_part(last.part);
    if msg.is_none() && tool.is_ok() {
        return CheckResult::error(
            check,
            format!(
                "no message.updated for the assistant message holding the tool part was observed on /global/event{}",
                harness_notes(tl)
            ),
        );
    }
    let mut seqs = vec![last.event.seq()];
    seqs.extend(msg.map(|(e, _)| e.seq()));
    verdict(
        check,
        tool,
        judge_message(msg.map(|(_, info)| *info)),
        "(from /global/event)",
        seqs,
    )
}

fn verdict(
    check: &str,
    tool: Result<String, String>,
    message: Result<String, String>,
    source: &str,
    seqs: Vec<u64>,
) -> CheckResult {
    match (tool, message) {
        (Ok(t), Ok(m)) => CheckResult::pass(check, format!("{t} and {m} {source}")),
        (t, m) => {
            let problems: Vec<String> = [t, m].into_iter().filter_map(Result::err).collect();
            CheckResult::fail(
                check,
                format!("{} {source}", problems.join("; ")),
                witness(seqs),
            )
        }
    }
}

/// After the final idle of the HTTP status (the idle ending its last busy), no turn
/// request reaches the model and no tool part is pending or running, past `grace_ms`.
/// The server's idle event that ended a turn the status poller never saw: a step started
/// a turn (a prompt, a command) after the poll last said idle, and the server announced
/// the session busy after it. A synchronous command can run its whole turn between two
/// polls, its busy and idle events published after its answer (seen on 1.18.34 with
/// `command` after an abort), and then the poll's idle is not the final one. `None` when
/// no such turn; `Err(busy event)` when the server announced busy and no idle after it.
fn missed_turn_end<'a>(tl: &'a Timeline, sid: &str, polled_idle: f64) -> Option<Result<&'a Entry, &'a Entry>> {
    let step_at = tl.entries.iter().filter(|e| e.at_ms > polled_idle).find_map(|e| match &e.obs {
        Observation::Step {
            name,
            phase: StepPhase::Started,
            ..
        } if name == "prompt" || name.starts_with("command ") => Some(e.at_ms),
        _ => None,
    })?;
    let announced: Vec<(&Entry, bool)> = tl
        .entries
        .iter()
        .filter(|e| e.at_ms >= step_at)
        .filter_map(|e| match &e.obs {
            Observation::Event {
                stream: EventStream::Global,
                session_id: Some(s),
                ..
            } if s == sid => wire::event_of(e)?.busy().map(|busy| (e, !busy)),
            _ => None,
        })
        .collect();
    let last_busy = announced.iter().rposition(|(_, idle)| !idle)?;
    Some(announced[last_busy + 1..].last().map(|(e, _)| *e).ok_or(announced[last_busy].0))
}

pub fn quiet_after_idle(tl: &Timeline, grace_ms: u64) -> CheckResult {
    let check = QUIET_AFTER_IDLE;
    let grace = grace_ms as f64;
    let sid = match session_of(check, tl) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let hist = StatusHistory::of(tl, sid);
    let Some((busy, idle)) = hist.final_turn() else {
        return CheckResult::error(
            check,
            format!(
                "GET /session/status never said busy for {sid}: there is no turn to be quiet after{}",
                harness_notes(tl)
            ),
        );
    };
    let Some(idle) = idle else {
        return CheckResult::error(
            check,
            format!(
                "GET /session/status still said {} at the end of the run (since {}): there is no final idle to be quiet after",
                busy.status,
                ms(busy.at())
            ),
        );
    };
    let (t_i, idle_seq, idle_source) = match missed_turn_end(tl, sid, idle.at()) {
        None => (idle.at(), idle.seq(), "GET /session/status"),
        Some(Ok(end)) => (end.at_ms, end.seq, "the server's idle event; the status poll missed that turn"),
        Some(Err(busy)) => {
            return CheckResult::error(
                check,
                format!(
                    "a step started a turn after GET /session/status last said idle at {}, and the server's session.status busy event at {} has no idle after it: there is no final idle to be quiet after",
                    ms(idle.at()),
                    ms(busy.at_ms)
                ),
            )
        }
    };
    let deadline = t_i + grace;
    let end = tl.end_ms();
    if end < deadline {
        return CheckResult::error(
            check,
            format!(
                "the run ended {} after the final idle at {}; the check needs {grace_ms} ms of observation",
                ms(end - t_i),
                ms(t_i)
            ),
        );
    }

    let mut problems = Vec::new();
    let mut seqs = vec![idle_seq];
    for e in tl.entries.iter().filter(|e| e.at_ms > deadline) {
        if let Observation::ModelRequest { index, kind, .. } = &e.obs {
            if matches!(kind, ModelRequestKind::Turn | ModelRequestKind::Unplanned) {
                problems.push(format!(
                    "model request #{index} ({kind:?}) arrived at {}",
                    ms(e.at_ms)
                ));
                seqs.push(e.seq);
            }
        }
    }
    for p in tool_part_updates(tl, sid, EventStream::Global) {
        if p.event.at() > deadline && matches!(p.status(), "pending" | "running") {
            problems.push(format!(
                "the tool part {} was {} at {}",
                p.part.describe(),
                p.status(),
                ms(p.event.at())
            ));
            seqs.push(p.event.seq());
        }
    }
    if problems.is_empty() {
        CheckResult::pass(
            check,
            format!(
                "no turn request and no running tool from {} (final idle at {} + {grace_ms} ms) to the end of the run at {}",
                ms(deadline),
                ms(t_i),
                ms(end)
            ),
        )
    } else {
        CheckResult::fail(
            check,
            format!(
                "after the final idle at {} ({idle_source}): {}",
                ms(t_i),
                join_problems(&problems)
            ),
            witness(seqs),
        )
    }
}

fn model_requests(tl: &Timeline) -> impl Iterator<Item = (&crate::Entry, ModelRequestKind)> {
    tl.entries.iter().filter_map(|e| match &e.obs {
        Observation::ModelRequest { kind, .. } => Some((e, *kind)),
        _ => None,
    })
}

/// No request reached the fake model at all.
pub fn no_model_requests(tl: &Timeline) -> CheckResult {
    let check = NO_MODEL_REQUESTS;
    if tl.entries.is_empty() {
        return CheckResult::error(check, "the timeline is empty: nothing was observed");
    }
    let reqs: Vec<_> = model_requests(tl).collect();
    match reqs.first() {
        None => CheckResult::pass(
            check,
            format!(
                "no request reached the fake model in {} of observation",
                ms(tl.end_ms())
            ),
        ),
        Some((first, _)) => CheckResult::fail(
            check,
            format!(
                "{} request(s) reached the fake model, the first at {} ({})",
                reqs.len(),
                ms(first.at_ms),
                first.obs.describe()
            ),
            witness(reqs.iter().map(|(e, _)| e.seq)),
        ),
    }
}

/// The fake model was never asked for a turn past its script. Always on.
pub fn model_script_followed(tl: &Timeline) -> CheckResult {
    let check = MODEL_SCRIPT_FOLLOWED;
    let unplanned: Vec<_> = model_requests(tl)
        .filter(|(_, k)| *k == ModelRequestKind::Unplanned)
        .collect();
    match unplanned.first() {
        None => CheckResult::pass(
            check,
            format!(
                "all {} model request(s) were planned by the script",
                model_requests(tl).count()
            ),
        ),
        Some((first, _)) => CheckResult::fail(
            check,
            format!(
                "{} turn request(s) came past the end of the model script, the first at {}",
                unplanned.len(),
                ms(first.at_ms)
            ),
            witness(unplanned.iter().map(|(e, _)| e.seq)),
        ),
    }
}

/// The session stored between `min` and `max` messages at the end.
pub fn messages_stored(tl: &Timeline, min: u32, max: Option<u32>) -> CheckResult {
    let check = MESSAGES_STORED;
    let sid = match session_of(check, tl) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(stored) = stored_messages(tl, sid) else {
        return CheckResult::error(
            check,
            format!(
                "no final GET /session/{sid}/message was recorded{}",
                harness_notes(tl)
            ),
        );
    };
    let Some(messages) = stored.messages else {
        let mut r = CheckResult::error(
            check,
            format!(
                "GET /session/{sid}/message at {} answered {} without a message list",
                ms(stored.entry.at_ms),
                stored.status
            ),
        );
        r.witness = vec![stored.entry.seq];
        return r;
    };
    let n = messages.len() as u64;
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m.info.role.unwrap_or("?"))
        .collect();
    let expected = match max {
        Some(max) => format!("at least {min} and at most {max}"),
        None => format!("at least {min}"),
    };
    let stated = format!(
        "the session stored {n} message(s) ({}) at {}; expected {expected}",
        roles.join(", "),
        ms(stored.entry.at_ms)
    );
    if n < u64::from(min) || max.is_some_and(|m| n > u64::from(m)) {
        CheckResult::fail(check, stated, vec![stored.entry.seq])
    } else {
        CheckResult::pass(check, stated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{stories, TimelineBuilder, SESSION};
    use crate::Verdict;
    use serde_json::json;

    #[test]
    fn tool_ends_aborted_passes_on_the_healthy_abort() {
        let tl = stories::healthy_abort().build();
        let r = tool_ends_aborted(&tl);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert!(
            r.message
                .contains("GET /session/ses_test/message at 6000 ms"),
            "{}",
            r.message
        );
    }

    #[test]
    fn tool_ends_aborted_fails_when_the_abort_did_nothing() {
        let tl = stories::phantom_idle().build();
        let stored = tl
            .entries
            .iter()
            .find(|e| e.obs.describe() == format!("GET /session/{SESSION}/message -> 200"))
            .unwrap()
            .seq;
        let r = tool_ends_aborted(&tl);
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.witness, vec![stored]);
        assert!(
            r.message.contains("the tool part `bash` (call_1) was left in state `running`: it never ended; the assistant message carries no error"),
            "{}",
            r.message
        );
    }

    /// Events only: a bash call of `msg_a` running, ended in `error` by the abort, and
    /// its message carrying the abort error.
    fn aborted_bash_call() -> TimelineBuilder {
        let mut b = TimelineBuilder::new();
        b.at(100.0).tool_part("prt_1", "call_1", "running");
        b.at(200.0).tool_part_with(json!({"id": "prt_1", "messageID": "msg_a", "type": "tool",
            "tool": "bash", "callID": "call_1", "state": {"status": "error", "error": "Tool execution aborted"}}));
        b.at(210.0).assistant_message("msg_a", Some("MessageAbortedError"));
        b
    }

    #[test]
    fn tool_ends_aborted_falls_back_to_events() {
        let b = aborted_bash_call();
        let r = tool_ends_aborted(&b.build());
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert!(
            r.message.contains("ended in `error` (aborted)"),
            "{}",
            r.message
        );

        // Ran to completion: the abort came too late or never landed.
        let mut b = TimelineBuilder::new();
        b.at(100.0).tool_part("prt_1", "call_1", "completed");
        b.at(210.0).assistant_message("msg_a", None);
        let r = tool_ends_aborted(&b.build());
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.witness, vec![0, 1]);
        assert!(
            r.message
                .contains("ran to `completed` with no sign of the abort"),
            "{}",
            r.message
        );
    }

    #[test]
    fn tool_ends_aborted_judges_the_message_that_holds_the_tool_part() {
        // A later message (the next prompt) does not stand in for the aborted one.
        let mut b = aborted_bash_call();
        b.at(300.0).user_message("msg_b");
        let r = tool_ends_aborted(&b.build());
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert!(r.message.contains("the assistant message carries MessageAbortedError"), "{}", r.message);

        // The same message without the abort error fails, and the witness is that message.
        let mut b = TimelineBuilder::new();
        b.at(100.0).tool_part("prt_1", "call_1", "completed");
        b.at(210.0).assistant_message("msg_a", None);
        let message = b.last();
        b.at(300.0).assistant_message("msg_b", Some("MessageAbortedError"));
        let r = tool_ends_aborted(&b.build());
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert_eq!(r.witness, vec![0, message]);

        // A tool part that names no message is held by the last assistant message, not
        // by the user message after it.
        let mut b = TimelineBuilder::new();
        b.at(200.0).tool_part_with(json!({"id": "prt_1", "type": "tool", "tool": "bash",
            "callID": "call_1", "state": {"status": "error", "error": "Tool execution aborted"}}));
        b.at(210.0).assistant_message("msg_a", Some("MessageAbortedError"));
        b.at(300.0).user_message("msg_b");
        let r = tool_ends_aborted(&b.build());
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }

    #[test]
    fn tool_ends_aborted_needs_a_tool() {
        let r = tool_ends_aborted(
            &TimelineBuilder::new()
                .assistant_message("msg_a", None)
                .build(),
        );
        assert_eq!(r.verdict, Verdict::Error);
        assert!(
            r.message.contains("did not exercise a tool"),
            "{}",
            r.message
        );
        let r = tool_ends_aborted(&TimelineBuilder::new().stored_messages(json!([])).build());
        assert_eq!(r.verdict, Verdict::Error);
        let r = tool_ends_aborted(&TimelineBuilder::new().tool_part("p", "c", "error").build());
        assert_eq!(r.verdict, Verdict::Error, "{r:?}");
        assert!(r.message.contains("assistant message"), "{}", r.message);
    }

    #[test]
    fn quiet_after_idle_passes_on_the_healthy_abort() {
        let r = quiet_after_idle(&stories::healthy_abort().build(), 1000);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }

    #[test]
    fn quiet_after_idle_fails_on_a_late_turn_or_tool() {
        let mut b = TimelineBuilder::new();
        b.at(100.0).status("busy");
        b.at(500.0).status("idle");
        let idle = b.last();
        // Past the grace (idle at 500 + 1000 ms), so judged: titles are fine.
        b.at(1550.0).model_request(ModelRequestKind::Title);
        b.at(1600.0).model_request(ModelRequestKind::Turn);
        let turn = b.last();
        b.at(1700.0).tool_part("prt_1", "call_1", "running");
        let part = b.last();
        b.at(3000.0).harness("end");
        let r = quiet_after_idle(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.witness, vec![idle, turn, part]);
        assert_eq!(
            r.message,
            "after the final idle at 500 ms (GET /session/status): model request #1 (Turn) arrived at 1600 ms; the tool part `bash` (call_1) was running at 1700 ms"
        );
    }

    /// A command's whole turn between two polls (its busy and idle events after its
    /// answer, as on 1.18.34): its model request is not "after the final idle".
    #[test]
    fn a_turn_the_poller_missed_ends_at_the_servers_idle_event() {
        let turn_the_poll_missed = |with_step: bool| {
            let mut b = TimelineBuilder::new();
            b.at(100.0).status("busy").at(500.0).status("idle");
            if with_step {
                b.at(2000.0).step("command x", StepPhase::Started);
            }
            b.at(2030.0).model_request(ModelRequestKind::Turn);
            let request = b.last();
            b.at(2050.0).event_status("busy").event_status("idle").event_idle();
            let idle_event = b.last();
            (b, request, idle_event)
        };
        let (mut b, _, idle_event) = turn_the_poll_missed(true);
        let r = quiet_after_idle(&b.at(4000.0).harness("end").build(), 1000);
        assert_eq!(r.verdict, Verdict::Pass, "{}", r.message);
        // Then something late after the server's idle is judged from that idle.
        b.at(3100.0).model_request(ModelRequestKind::Turn);
        let late = b.last();
        let r = quiet_after_idle(&b.at(4000.0).harness("end").build(), 1000);
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.witness, vec![idle_event, late]);
        assert!(r.message.starts_with("after the final idle at 2050 ms (the server's idle event;"), "{}", r.message);
        // With no step of the harness's starting it, the turn is the server's own doing.
        let (mut b, request, _) = turn_the_poll_missed(false);
        let r = quiet_after_idle(&b.at(4000.0).harness("end").build(), 1000);
        assert_eq!((r.verdict, r.witness.last()), (Verdict::Fail, Some(&request)), "{}", r.message);
        // Busy announced after the step and never idle: no final idle.
        let mut b = TimelineBuilder::new();
        b.at(100.0).status("busy").at(500.0).status("idle");
        b.at(2000.0).step("prompt", StepPhase::Started).at(2050.0).event_status("busy");
        let r = quiet_after_idle(&b.at(4000.0).harness("end").build(), 1000);
        assert_eq!(r.verdict, Verdict::Error);
        assert!(r.message.contains("busy event at 2050 ms has no idle after it"), "{}", r.message);
    }

    #[test]
    fn quiet_after_idle_allows_what_happens_exactly_at_grace() {
        // Idle at 500 ms, grace 1000 ms: a turn request and a running tool part at
        // 1500 ms are within grace, and a run that ends at 1500 ms was observed long
        // enough to be judged.
        let mut b = TimelineBuilder::new();
        b.at(100.0).status("busy");
        b.at(500.0).status("idle");
        b.at(1500.0).model_request(ModelRequestKind::Turn);
        b.tool_part("prt_1", "call_1", "running");
        let r = quiet_after_idle(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert_eq!(
            r.message,
            "no turn request and no running tool from 1500 ms (final idle at 500 ms + 1000 ms) to the end of the run at 1500 ms"
        );
    }

    #[test]
    fn quiet_after_idle_needs_a_final_idle_and_time() {
        let r = quiet_after_idle(&stories::phantom_idle().build(), 1000);
        assert_eq!(r.verdict, Verdict::Error);
        assert!(r.message.contains("no final idle"), "{}", r.message);
        let mut b = TimelineBuilder::new();
        b.at(100.0)
            .status("busy")
            .at(500.0)
            .status("idle")
            .at(900.0)
            .harness("end");
        let r = quiet_after_idle(&b.build(), 1000);
        assert_eq!(r.verdict, Verdict::Error);
        assert!(
            r.message
                .contains("the run ended 400 ms after the final idle at 500 ms"),
            "{}",
            r.message
        );
    }

    #[test]
    fn no_model_requests_counts_every_request() {
        let r = no_model_requests(&TimelineBuilder::new().status("idle").build());
        assert_eq!(r.verdict, Verdict::Pass);
        let mut b = TimelineBuilder::new();
        b.status("idle")
            .at(10.0)
            .model_request(ModelRequestKind::Title);
        let r = no_model_requests(&b.build());
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.witness, vec![1]);
        let r = no_model_requests(&crate::Timeline::default());
        assert_eq!(r.verdict, Verdict::Error);
    }

    #[test]
    fn model_script_followed_flags_unplanned_turns() {
        let mut b = TimelineBuilder::new();
        b.model_request(ModelRequestKind::Turn);
        assert_eq!(model_script_followed(&b.build()).verdict, Verdict::Pass);
        b.at(50.0).model_request(ModelRequestKind::Unplanned);
        let r = model_script_followed(&b.build());
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.witness, vec![1]);
    }

    #[test]
    fn messages_stored_counts_the_stored_truth() {
        let tl = stories::healthy_abort().build();
        let r = messages_stored(&tl, 2, Some(2));
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert!(
            r.message.contains("2 message(s) (user, assistant)"),
            "{}",
            r.message
        );
        let r = messages_stored(&tl, 3, None);
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.witness.len(), 1);
        let r = messages_stored(&tl, 0, Some(1));
        assert_eq!(r.verdict, Verdict::Fail);

        let r = messages_stored(&TimelineBuilder::new().status("idle").build(), 0, None);
        assert_eq!(r.verdict, Verdict::Error);
        let mut b = TimelineBuilder::new();
        b.http(
            "GET",
            &format!("/session/{SESSION}/message"),
            500,
            json!({"name": "UnknownError"}),
        );
        let r = messages_stored(&b.build(), 0, None);
        assert_eq!(r.verdict, Verdict::Error);
        assert_eq!(r.witness, vec![0]);
    }
}
